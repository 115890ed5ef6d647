/* common/test-xml-parser.c: unit tests for the streaming XML parser.
 *
 * Every event is written to a text log; feeding the same input whole, byte by
 * byte, at every single split point and at random splits (fixed seed) must
 * produce the same log, also when the parser is released (its expat parser
 * freed) between feeds wherever it allows that. Each chunk is copied into its own allocation and freed
 * right after the feed, so under ASan a raw pointer kept past its chunk is
 * caught.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "stanza.h"
#include "test.h"
#include "xml-parser.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
/* From the ASan runtime; gcc does not always ship the header declaring it. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define STREAM_NS "xmlns:stream='http://etherx.jabber.org/streams'"
#define C2S_HEADER                                                                                 \
	"<stream:stream xmlns='jabber:client' " STREAM_NS " to='example.com' version='1.0'>"

/* ---- the event recorder ------------------------------------------------ */

struct rec {
	struct buf log;
	struct buf raws[32]; /* raw bytes of each stanza, in order */
	size_t n_stanzas, n_opens, n_closes;
	int stop_at_stanza; /* return non-zero from this stanza (1-based); 0: never */
	bool stop_at_open;
	struct xml_parser *parser; /* for set_mode from a callback */
	int switch_mode_at;	   /* after this stanza, switch to TREE */
	const char *chunk;	   /* the chunk being fed, to check zero-copy */
	size_t chunk_len;
	size_t n_zero_copy;
	/* Latency check, for byte-by-byte feeds: every event must come on the
	 * feed of its last byte, i.e. nothing complete is ever held back. */
	bool check_latency;
	const char *input;
	size_t fed_end; /* input offset where the current chunk ends */
	bool late;
};

/* The event whose bytes end with input[fed_end - 1] happens now? */
static void rec_check_latency(struct rec *r, const char *raw, size_t raw_len)
{
	if (!r->check_latency)
		return;
	if (r->fed_end < raw_len || memcmp(r->input + r->fed_end - raw_len, raw, raw_len) != 0) {
		printf("  event at input offset %zu is late or misplaced\n", r->fed_end);
		r->late = true;
	}
}

static void rec_str(struct buf *b, const char *key, const char *v)
{
	buf_printf(b, " %s=%s", key, v != NULL ? v : "(null)");
}

static int rec_open(void *ctx, const struct xml_parser_stream_open *o)
{
	struct rec *r = ctx;
	r->n_opens++;
	rec_check_latency(r, ">", 1);
	buf_printf(&r->log, "open {%s}%s", o->ns, o->name);
	rec_str(&r->log, "default_ns", o->default_ns);
	rec_str(&r->log, "to", o->to);
	rec_str(&r->log, "from", o->from);
	rec_str(&r->log, "id", o->id);
	rec_str(&r->log, "version", o->version);
	rec_str(&r->log, "lang", o->lang);
	buf_printf(&r->log, " extra=%d attrs=", o->extra_prefixes);
	for (size_t i = 0; i < o->n_attrs; i++)
		buf_printf(&r->log, "[%s=%s]", o->attrs[i].name, o->attrs[i].value);
	buf_append_char(&r->log, '\n');
	return r->stop_at_open ? 1 : 0;
}

static int rec_stanza(void *ctx, const struct xml_parser_stanza *s)
{
	struct rec *r = ctx;
	rec_check_latency(r, s->raw, s->raw_len);
	if (r->n_stanzas < sizeof(r->raws) / sizeof(r->raws[0]))
		buf_append(&r->raws[r->n_stanzas], s->raw, s->raw_len);
	r->n_stanzas++;
	if (r->chunk != NULL && s->raw >= r->chunk &&
	    s->raw + s->raw_len <= r->chunk + r->chunk_len)
		r->n_zero_copy++;
	buf_printf(&r->log, "stanza {%s}%s", s->ns, s->name);
	rec_str(&r->log, "to", s->to);
	rec_str(&r->log, "from", s->from);
	rec_str(&r->log, "type", s->type);
	rec_str(&r->log, "id", s->id);
	buf_printf(&r->log, " raw[%zu]=", s->raw_len);
	buf_append(&r->log, s->raw, s->raw_len);
	if (s->tree != NULL) {
		buf_append_str(&r->log, " tree=");
		stanza_serialize(s->tree, NULL, &r->log);
	}
	buf_append_char(&r->log, '\n');
	if (r->switch_mode_at != 0 && (int)r->n_stanzas == r->switch_mode_at)
		xml_parser_set_mode(r->parser, XML_PARSER_MODE_TREE);
	return r->stop_at_stanza != 0 && (int)r->n_stanzas == r->stop_at_stanza;
}

static int rec_close(void *ctx)
{
	struct rec *r = ctx;
	r->n_closes++;
	rec_check_latency(r, ">", 1);
	buf_append_str(&r->log, "close\n");
	return 0;
}

static const struct xml_parser_callbacks rec_callbacks = {
	.stream_open = rec_open,
	.stanza = rec_stanza,
	.stream_close = rec_close,
};

static void rec_free(struct rec *r)
{
	buf_free(&r->log);
	for (size_t i = 0; i < sizeof(r->raws) / sizeof(r->raws[0]); i++)
		buf_free(&r->raws[i]);
}

/* Feed one chunk from its own allocation (see the top of the file). */
static int feed_copy(struct xml_parser *p, struct rec *r, const char *data, size_t len)
{
	char *chunk = xmalloc(len);
	memcpy(chunk, data, len);
	r->chunk = chunk;
	r->chunk_len = len;
	int res = xml_parser_feed(p, chunk, len);
	r->chunk = NULL;
	free(chunk);
	return res;
}

/* When set, run_cuts() calls xml_parser_release_idle() after every feed and
 * counts in release_count how often the parser was idle mid-stream. */
static bool release_between_feeds;
static size_t release_count;

/* Feed in[0..len) cut at the ascending offsets cuts[0..n_cuts) (repeats give
 * empty chunks); log the result and return it. */
static int run_cuts(const char *in, size_t len, const size_t *cuts, size_t n_cuts,
		    enum xml_parser_mode mode, const struct xml_parser_limits *limits,
		    struct rec *r)
{
	struct xml_parser *p = xml_parser_new(limits, mode, &rec_callbacks, r);
	size_t prev = 0;
	int res = 0;

	r->parser = p;
	r->input = in;
	for (size_t i = 0; i <= n_cuts && res == 0; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;
		r->fed_end = end;
		res = feed_copy(p, r, in + prev, end - prev);
		prev = end;
		if (release_between_feeds && res == 0 && r->n_opens > 0 &&
		    xml_parser_release_idle(p))
			release_count++;
	}
	buf_printf(&r->log, "result %d\n", res);
	if (res < 0 && res != XML_PARSER_STOPPED)
		buf_printf(&r->log, "condition %s: %s\n", xml_parser_error_condition(res),
			   xml_parser_error_text(p));
	r->parser = NULL;
	xml_parser_free(&p);
	return res;
}

static int run_whole(const char *in, size_t len, enum xml_parser_mode mode,
		     const struct xml_parser_limits *limits, struct rec *r)
{
	return run_cuts(in, len, NULL, 0, mode, limits, r);
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* xorshift64: deterministic across platforms, unlike rand(). */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* Check that byte by byte, every single split and 200 random partitions all
 * log exactly what the whole feed logs. Returns the whole feed's result and
 * leaves its recording in *whole. */
static int check_split_invariance_once(const char *in, size_t len, enum xml_parser_mode mode,
				       const struct xml_parser_limits *limits, struct rec *whole);

/* The same, once as is and once releasing the parser between feeds. */
static int check_split_invariance(const char *in, size_t len, enum xml_parser_mode mode,
				  const struct xml_parser_limits *limits, struct rec *whole)
{
	int res = check_split_invariance_once(in, len, mode, limits, whole);
	struct rec again = {0};

	release_between_feeds = true;
	int res2 = check_split_invariance_once(in, len, mode, limits, &again);
	release_between_feeds = false;
	CHECK(res2 == res);
	CHECK_STR(again.log.data, whole->log.data);
	rec_free(&again);
	return res;
}

static int check_split_invariance_once(const char *in, size_t len, enum xml_parser_mode mode,
				       const struct xml_parser_limits *limits, struct rec *whole)
{
	int res = run_whole(in, len, mode, limits, whole);
	size_t *cuts = xmalloc((len + 1) * sizeof(*cuts));
	bool ok = true;

	/* byte by byte */
	for (size_t i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	{
		struct rec r = {.check_latency = true};
		run_cuts(in, len, cuts, len ? len - 1 : 0, mode, limits, &r);
		if (strcmp(r.log.data, whole->log.data) != 0) {
			printf("  byte-by-byte log differs:\n%s---\n%s", r.log.data,
			       whole->log.data);
			ok = false;
		}
		if (r.late)
			ok = false;
		rec_free(&r);
	}
	/* every single split point, including the empty first/last chunk */
	for (size_t c = 0; c <= len && ok; c++) {
		struct rec r = {0};
		cuts[0] = c;
		run_cuts(in, len, cuts, 1, mode, limits, &r);
		if (strcmp(r.log.data, whole->log.data) != 0) {
			printf("  split at %zu: log differs:\n%s---\n%s", c, r.log.data,
			       whole->log.data);
			ok = false;
		}
		rec_free(&r);
	}
	/* random partitions */
	rng_state = 0x9e3779b97f4a7c15ull;
	for (int iter = 0; iter < 200 && ok; iter++) {
		size_t n = 1 + rng_next() % (len < 40 ? len + 1 : 40);
		for (size_t i = 0; i < n; i++)
			cuts[i] = rng_next() % (len + 1);
		qsort(cuts, n, sizeof(*cuts), cmp_size);
		struct rec r = {0};
		run_cuts(in, len, cuts, n, mode, limits, &r);
		if (strcmp(r.log.data, whole->log.data) != 0) {
			printf("  random partition %d: log differs:\n%s---\n%s", iter, r.log.data,
			       whole->log.data);
			ok = false;
		}
		rec_free(&r);
	}
	free(cuts);
	CHECK(ok);
	return res;
}

/* ---- split invariance and raw bytes on realistic streams ---------------- */

enum piece_kind { P_END, P_OTHER, P_STANZA };

struct piece {
	enum piece_kind kind;
	const char *text;
};

struct doc {
	const char *name;
	struct piece pieces[24];
	int expect_result;
	size_t expect_closes;
};

static const struct doc docs[] = {
	{"c2s",
	 {
		 {P_OTHER, "<?xml version='1.0'?>"},
		 {P_OTHER, "<stream:stream xmlns='jabber:client' " STREAM_NS
			   " to='example.com' version='1.0' xml:lang='en'>"},
		 {P_STANZA,
		  "<message to='juliet@example.com/balcony' from='romeo@example.net/orchard'"
		  " type='chat' id='m1' xml:lang='en'><body>Wherefore &amp; &lt;Romeo&gt;"
		  " &#x263A; &#9731; &quot;x&apos;</body><thread>t1</thread></message>"},
		 {P_OTHER, "\n  \t"},
		 {P_STANZA, "<presence/>"},
		 {P_STANZA,
		  "<iq type=\"get\" id='i&apos;1'><query xmlns='jabber:iq:roster'/></iq>"},
		 {P_STANZA, "<message><body>caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80"
			    "</body></message>"},
		 {P_STANZA,
		  "<message to='\xc3\xa9@x'><body><![CDATA[<not a tag> & ]]]]><![CDATA[>]]>"
		  "</body></message>"},
		 {P_OTHER, " "},
		 {P_STANZA, "<x:y xmlns:x='urn:x' x:a='1' b=\"2\"><z  /><x:w>  </x:w></x:y   >"},
		 {P_STANZA,
		  "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
		  "</stream:error>"},
		 {P_OTHER, "\r\n"},
		 {P_OTHER, "</stream:stream>"},
		 {P_OTHER, "\n"},
	 },
	 XML_PARSER_OK,
	 1},
	{"component with extra prefix, no declaration",
	 {
		 {P_OTHER, "<stream:stream xmlns='jabber:server' " STREAM_NS
			   " xmlns:db='jabber:server:dialback' from='a.example' id='s1'>"},
		 {P_STANZA, "<db:result to='b.example' from='a.example'>k\xc3\xa9y</db:result>"},
		 {P_STANZA, "<message xmlns='jabber:client' to='x@b.example'><body a='&#10;'>\r\nhi"
			    "\r</body></message>"},
		 {P_STANZA, "<a><b><c><d><e/></d></c></b></a>"},
	 },
	 XML_PARSER_OK,
	 0},
	{"error after two stanzas",
	 {
		 {P_OTHER, C2S_HEADER},
		 {P_STANZA, "<presence/>"},
		 {P_STANZA, "<presence type='unavailable'></presence>"},
		 {P_OTHER, "<message><body>&nbsp;</body></message>"},
	 },
	 XML_PARSER_ERR_NOT_WELL_FORMED,
	 0},
};

static void doc_build(const struct doc *d, struct buf *in)
{
	for (const struct piece *pc = d->pieces; pc->kind != P_END; pc++)
		buf_append_str(in, pc->text);
}

static void check_doc(const struct doc *d, enum xml_parser_mode mode)
{
	struct buf in = {0};
	struct rec whole = {0};
	size_t n_expected = 0;

	doc_build(d, &in);
	int res = check_split_invariance(in.data, in.len, mode, NULL, &whole);
	CHECK(res == d->expect_result);
	CHECK(whole.n_opens == 1);
	CHECK(whole.n_closes == d->expect_closes);
	for (const struct piece *pc = d->pieces; pc->kind != P_END; pc++) {
		if (pc->kind != P_STANZA)
			continue;
		if (n_expected < whole.n_stanzas)
			CHECK_STR(whole.raws[n_expected].data, pc->text);
		n_expected++;
	}
	CHECK(whole.n_stanzas == n_expected);
	if (test_failed_current)
		printf("  doc \"%s\" mode %d:\n%s", d->name, mode, whole.log.data);
	rec_free(&whole);
	buf_free(&in);
}

static void test_split_invariance_head(void)
{
	release_count = 0;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		check_doc(&docs[i], XML_PARSER_MODE_HEAD);
	/* The runs with releases did release, many times. */
	CHECK(release_count > 1000);
}

static void test_split_invariance_tree(void)
{
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		check_doc(&docs[i], XML_PARSER_MODE_TREE);
}

/* The exact log of the first doc: names, namespaces, attributes, raw bytes
 * (multi-byte UTF-8 and CDATA untouched) and trees (text unescaped). */
static void test_events_exact(void)
{
	struct buf in = {0};
	struct rec r = {0};
	doc_build(&docs[0], &in);
	run_whole(in.data, in.len, XML_PARSER_MODE_TREE, NULL, &r);
	const char *log = r.log.data;
	CHECK(strstr(log, "open {http://etherx.jabber.org/streams}stream default_ns=jabber:client "
			  "to=example.com from=(null) id=(null) version=1.0 lang=en extra=0 "
			  "attrs=[to=example.com][version=1.0]"
			  "[http://www.w3.org/XML/1998/namespace lang=en]\n") == log);
	CHECK(strstr(log, "stanza {jabber:client}message to=juliet@example.com/balcony "
			  "from=romeo@example.net/orchard type=chat id=m1 raw[") != NULL);
	CHECK(strstr(log,
		     "tree=<message xmlns='jabber:client' to='juliet@example.com/balcony' "
		     "from='romeo@example.net/orchard' type='chat' id='m1' xml:lang='en'>"
		     "<body>Wherefore &amp; &lt;Romeo&gt; \xe2\x98\xba \xe2\x98\x83 \"x'</body>"
		     "<thread>t1</thread></message>\n") != NULL);
	CHECK(strstr(log,
		     "stanza {jabber:client}presence to=(null) from=(null) type=(null) "
		     "id=(null) raw[11]=<presence/> tree=<presence xmlns='jabber:client'/>\n") !=
	      NULL);
	CHECK(strstr(log, "id=i'1 raw[") != NULL);
	CHECK(strstr(log, "<query xmlns='jabber:iq:roster'/></iq>\n") != NULL);
	CHECK(strstr(log, "<body>&lt;not a tag&gt; &amp; ]]&gt;</body></message>\n") != NULL);
	CHECK(strstr(log, "stanza {urn:x}y ") != NULL);
	CHECK(strstr(log, "tree=<y xmlns='urn:x' xmlns:ns1='urn:x' ns1:a='1' b='2'>"
			  "<z xmlns='jabber:client'/><w>  </w></y>\n") != NULL);
	CHECK(strstr(log, "stanza {http://etherx.jabber.org/streams}error ") != NULL);
	CHECK(strstr(log, "close\nresult 0\n") != NULL);
	if (test_failed_current)
		printf("%s", log);
	rec_free(&r);
	buf_free(&in);
}

/* A stanza wholly inside one chunk is handed over without a copy. */
static void test_raw_zero_copy(void)
{
	static const char in[] = C2S_HEADER "<presence/><message><body>x</body></message>";
	struct rec r = {0};
	run_whole(in, sizeof(in) - 1, XML_PARSER_MODE_HEAD, NULL, &r);
	CHECK(r.n_stanzas == 2);
	CHECK(r.n_zero_copy == 2);
	rec_free(&r);
}

/* A start tag that began in an earlier chunk is reported later: its bytes
 * must still be there, including whitespace-free adjacency to the previous
 * stanza. */
static void test_raw_start_tag_across_chunks(void)
{
	static const char *chunks[] = {
		C2S_HEADER "<presence/><mess", "age to='a'>", "<body>\xc3",
		"\xa9</body></mess",	       "age><iq/>",
	};
	struct rec r = {0};
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, &rec_callbacks, &r);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		CHECK(feed_copy(p, &r, chunks[i], strlen(chunks[i])) == XML_PARSER_OK);
	CHECK(r.n_stanzas == 3);
	CHECK_STR(r.raws[0].data, "<presence/>");
	CHECK_STR(r.raws[1].data, "<message to='a'><body>\xc3\xa9</body></message>");
	CHECK_STR(r.raws[2].data, "<iq/>");
	CHECK(r.n_zero_copy == 2); /* presence and iq */
	xml_parser_free(&p);
	rec_free(&r);
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
	struct buf b = {0};
	buf_append_str(&b, prefix);
	for (size_t i = 0; i < n; i++)
		buf_append_str(&b, unit);
	buf_append_str(&b, suffix);
	return buf_steal(&b);
}

/* Tokens longer than the hold-back threshold (a long stream header, start
 * tags with '>' and quotes inside values, long names, long CDATA): still
 * split invariant, and (checked byte by byte) never reported late. */
static void test_split_invariance_long_tokens(void)
{
	char *header =
		repeat("<stream:stream xmlns='jabber:client' " STREAM_NS " id='", "i", 600, "'>");
	char *attrs = repeat("<message to='", "a>b\"c", 120, "' x=\"");
	char *st_a0 = repeat(attrs, "'>", 300, "\"><body>");
	char *st_a = repeat(st_a0, "x", 1500, "</body></message>");
	char *name = repeat("", "n", 600, "");
	struct buf st_b = {0};
	buf_printf(&st_b, "<%s a='1'><%s/></%s   >", name, name, name);
	char *st_c = repeat("<m><![CDATA[", "]>", 400, "]]></m>");
	char *st_d = repeat("<m>&amp;&lt;", "&#x41;", 150, "</m>");
	struct doc d = {"long tokens",
			{
				{P_OTHER, header},
				{P_STANZA, st_a},
				{P_OTHER, "\n"},
				{P_STANZA, st_b.data},
				{P_STANZA, st_c},
				{P_STANZA, st_d},
				{P_OTHER, "</stream:stream>"},
			},
			XML_PARSER_OK,
			1};
	check_doc(&d, XML_PARSER_MODE_HEAD);
	check_doc(&d, XML_PARSER_MODE_TREE);
	free(header);
	free(attrs);
	free(st_a0);
	free(st_a);
	free(name);
	buf_free(&st_b);
	free(st_c);
	free(st_d);
}

/* A peer dripping one long token a byte at a time must cost linear time
 * (expat alone re-tokenizes the whole token on each byte: quadratic, tens of
 * seconds for 256 KiB), and still end with the right result. */
static void test_drip_long_tokens(void)
{
	static const struct {
		const char *name;
		bool header; /* feed C2S_HEADER first */
		const char *prefix, *fill;
		int result;
	} cases[] = {
		{"attribute value", true, "<message to='", "a>\"", XML_PARSER_ERR_POLICY},
		{"balanced attributes", true, "<message", " a='>'", XML_PARSER_ERR_POLICY},
		{"element name", true, "<", "n", XML_PARSER_ERR_POLICY},
		{"end tag name", true, "<m></", "n", XML_PARSER_ERR_POLICY},
		{"comment", true, "<m><!--", "a>", XML_PARSER_ERR_POLICY},
		{"comment with dashes", true, "<m><!--", "a--b", XML_PARSER_ERR_NOT_WELL_FORMED},
		{"processing instruction", true, "<m><?pi ", "a>", XML_PARSER_ERR_POLICY},
		{"entity name", true, "<m>&", "a", XML_PARSER_ERR_POLICY},
		{"text", true, "<m>", "t>", XML_PARSER_ERR_POLICY},
		{"whitespace between stanzas", true, "<presence/>", " \n", XML_PARSER_OK},
		{"stream header attribute", false, "<stream:stream " STREAM_NS " a='", "x>",
		 XML_PARSER_ERR_POLICY},
		{"doctype name", false, "<!DOCTYPE ", "a", XML_PARSER_ERR_POLICY},
		{"doctype literal", false, "<!DOCTYPE a SYSTEM '", "x>[", XML_PARSER_ERR_POLICY},
		{"xml declaration", false, "<?xml version='1.0' encoding='", "u>",
		 XML_PARSER_ERR_POLICY},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_TREE, NULL, NULL);
		double t0 = now_seconds();
		int res = 0;
		if (cases[i].header)
			res = xml_parser_feed(p, C2S_HEADER, strlen(C2S_HEADER));
		res = res ? res : xml_parser_feed(p, cases[i].prefix, strlen(cases[i].prefix));
		size_t fill_len = strlen(cases[i].fill), n = 0;
		while (res == 0 && n < 300 * 1024) {
			res = xml_parser_feed(p, cases[i].fill + n % fill_len, 1);
			n++;
		}
		double dt = now_seconds() - t0;
		if (res != cases[i].result || dt > 2.0) {
			printf("  drip \"%s\": result %d after %zu bytes, %.2fs: %s\n",
			       cases[i].name, res, n, dt, xml_parser_error_text(p));
			CHECK(0);
		}
		xml_parser_free(&p);
	}
}

/* ---- restricted XML, well-formedness, UTF-8 ----------------------------- */

static const struct {
	const char *name;
	const char *input;
	int result;
} error_cases[] = {
	{"doctype", "<?xml version='1.0'?><!DOCTYPE stream:stream>" C2S_HEADER,
	 XML_PARSER_ERR_RESTRICTED},
	{"doctype external", "<!DOCTYPE s SYSTEM 'http://example.com/x.dtd'><s/>",
	 XML_PARSER_ERR_RESTRICTED},
	{"internal entity decl", "<!DOCTYPE s [<!ENTITY e 'x'>]><s>&e;</s>",
	 XML_PARSER_ERR_RESTRICTED},
	{"billion laughs",
	 "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
	 "<!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
	 "<!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>"
	 "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
	 "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"
	 "<!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>"
	 "<!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>"
	 "<!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>"
	 "<!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>"
	 "<!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>"
	 "]>" C2S_HEADER "<message><body>&lol9;</body></message>",
	 XML_PARSER_ERR_RESTRICTED},
	{"comment before header", "<!-- hi -->" C2S_HEADER, XML_PARSER_ERR_RESTRICTED},
	{"comment at stream level", C2S_HEADER "<presence/><!-- x --><presence/>",
	 XML_PARSER_ERR_RESTRICTED},
	{"comment in stanza", C2S_HEADER "<message><body>a<!-- x -->b</body></message>",
	 XML_PARSER_ERR_RESTRICTED},
	{"pi in stanza", C2S_HEADER "<message><?foo bar?></message>", XML_PARSER_ERR_RESTRICTED},
	{"pi before header", "<?xml version='1.0'?><?xml-stylesheet href='a'?>" C2S_HEADER,
	 XML_PARSER_ERR_RESTRICTED},
	{"undefined entity in text", C2S_HEADER "<message><body>&foo;</body></message>",
	 XML_PARSER_ERR_NOT_WELL_FORMED},
	{"undefined entity in attr", C2S_HEADER "<message to='&foo;'/>",
	 XML_PARSER_ERR_NOT_WELL_FORMED},
	{"mismatched tag", C2S_HEADER "<message><body></message>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"duplicate attribute", C2S_HEADER "<message to='a' to='b'/>",
	 XML_PARSER_ERR_NOT_WELL_FORMED},
	{"unbound prefix", C2S_HEADER "<foo:bar/>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"xml decl not at start", " <?xml version='1.0'?>" C2S_HEADER,
	 XML_PARSER_ERR_NOT_WELL_FORMED},
	{"xml decl inside stream", C2S_HEADER "<?xml version='1.0'?>",
	 XML_PARSER_ERR_NOT_WELL_FORMED},
	{"char ref to control char", C2S_HEADER "<m>&#1;</m>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"nul byte", C2S_HEADER "<m>a\0b</m>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"utf8 overlong 2 bytes", C2S_HEADER "<m>\xc0\xaf</m>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"utf8 overlong 3 bytes", C2S_HEADER "<m>\xe0\x80\xaf</m>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"utf8 truncated sequence", C2S_HEADER "<m>\xe4\xb8</m>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"utf8 invalid byte ff", C2S_HEADER "<m>\xff</m>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"utf8 surrogate", C2S_HEADER "<m>\xed\xa0\x80</m>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"utf8 beyond U+10FFFF", C2S_HEADER "<m>\xf4\x90\x80\x80</m>",
	 XML_PARSER_ERR_NOT_WELL_FORMED},
	{"utf8 in attribute", C2S_HEADER "<m to='\xc3('/>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"utf16le bom", "\xff\xfe<\0s\0/\0>\0", XML_PARSER_ERR_ENCODING},
	{"utf16be bom", "\xfe\xff\0<\0s\0/\0>", XML_PARSER_ERR_ENCODING},
	{"bad first byte, ff second", "\xfa\xff<s/>", XML_PARSER_ERR_ENCODING},
	{"bad first byte", "\xfa<s/>", XML_PARSER_ERR_NOT_WELL_FORMED},
	{"utf16le no bom", "<\0s\0/\0>\0", XML_PARSER_ERR_ENCODING},
	{"utf16be no bom", "\0<\0s\0/\0>", XML_PARSER_ERR_ENCODING},
	{"encoding latin1", "<?xml version='1.0' encoding='ISO-8859-1'?>" C2S_HEADER,
	 XML_PARSER_ERR_ENCODING},
	{"encoding utf-8 lowercase", "<?xml version='1.0' encoding='utf-8'?>" C2S_HEADER,
	 XML_PARSER_OK},
	{"utf8 bom", "\xef\xbb\xbf" C2S_HEADER "<presence/>", XML_PARSER_OK},
	{"text at stream level", C2S_HEADER "<presence/>hello<presence/>",
	 XML_PARSER_ERR_BAD_FORMAT},
	{"entity text at stream level", C2S_HEADER "&amp;", XML_PARSER_ERR_BAD_FORMAT},
	{"cdata text at stream level", C2S_HEADER "<![CDATA[x]]>", XML_PARSER_ERR_BAD_FORMAT},
	{"whitespace at stream level", C2S_HEADER " \t\r\n<presence/>\n", XML_PARSER_OK},
	{"data after close", C2S_HEADER "<presence/></stream:stream><presence/>",
	 XML_PARSER_ERR_CLOSED},
	{"text after close", C2S_HEADER "</stream:stream>x", XML_PARSER_ERR_CLOSED},
	{"whitespace after close", C2S_HEADER "</stream:stream> \r\n\t", XML_PARSER_OK},
	{"empty stream element", "<stream:stream " STREAM_NS "/>", XML_PARSER_OK},
	{"second root", "<stream:stream " STREAM_NS "/><stream:stream " STREAM_NS ">",
	 XML_PARSER_ERR_CLOSED},
};

static void test_error_cases(void)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const char *in = error_cases[i].input;
		/* The utf16 and nul cases contain NULs: measure them by hand. */
		size_t len = strlen(in);
		if (strncmp(error_cases[i].name, "utf16", 5) == 0)
			len = strstr(error_cases[i].name, "no bom") ? 8 : 10;
		else if (strcmp(error_cases[i].name, "nul byte") == 0)
			len = strlen(in) + 2;
		struct rec r = {0};
		int failed_before = test_failed_current;
		test_failed_current = 0;
		int res = check_split_invariance(in, len, XML_PARSER_MODE_TREE, NULL, &r);
		CHECK(res == error_cases[i].result);
		if (test_failed_current)
			printf("  case \"%s\": got %d\n%s", error_cases[i].name, res, r.log.data);
		test_failed_current |= failed_before;
		rec_free(&r);
	}
}

/* The DOCTYPE alone is refused: nothing after its name is needed, so no
 * entity of a bomb is ever declared, let alone expanded. */
static void test_doctype_fails_at_once(void)
{
	static const char in[] = "<?xml version='1.0'?><!DOCTYPE lolz [";
	struct rec r = {0};
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_TREE, &rec_callbacks, &r);
	CHECK(xml_parser_feed(p, in, sizeof(in) - 1) == XML_PARSER_ERR_RESTRICTED);
	CHECK(strstr(xml_parser_error_text(p), "DOCTYPE") != NULL);
	CHECK(r.n_opens == 0);
	/* Refuses further input until reset. */
	CHECK(xml_parser_feed(p, "<!ENTITY a 'b'>", 15) == XML_PARSER_ERR_RESTRICTED);
	xml_parser_free(&p);
	rec_free(&r);
}

static void test_error_text(void)
{
	static const char in[] = C2S_HEADER "\n<message><body></message>";
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, NULL, NULL);
	CHECK_STR(xml_parser_error_text(p), "no error");
	CHECK(xml_parser_feed(p, in, sizeof(in) - 1) == XML_PARSER_ERR_NOT_WELL_FORMED);
	const char *t = xml_parser_error_text(p);
	CHECK(strstr(t, "mismatched tag") != NULL);
	CHECK(strstr(t, "line 2") != NULL);
	CHECK(strstr(t, "column") != NULL);
	xml_parser_free(&p);
	CHECK(p == NULL);
	xml_parser_free(&p); /* NULL is fine */
}

static void test_error_condition(void)
{
	CHECK(xml_parser_error_condition(XML_PARSER_OK) == NULL);
	CHECK(xml_parser_error_condition(XML_PARSER_STOPPED) == NULL);
	CHECK_STR(xml_parser_error_condition(XML_PARSER_ERR_NOT_WELL_FORMED), "not-well-formed");
	CHECK_STR(xml_parser_error_condition(XML_PARSER_ERR_RESTRICTED), "restricted-xml");
	CHECK_STR(xml_parser_error_condition(XML_PARSER_ERR_POLICY), "policy-violation");
	CHECK_STR(xml_parser_error_condition(XML_PARSER_ERR_BAD_FORMAT), "bad-format");
	CHECK_STR(xml_parser_error_condition(XML_PARSER_ERR_CLOSED), "not-well-formed");
	CHECK_STR(xml_parser_error_condition(XML_PARSER_ERR_ENCODING), "unsupported-encoding");
}

/* ---- limits -------------------------------------------------------------- */

static void test_deep_nesting(void)
{
	struct buf in = {0};
	buf_append_str(&in, C2S_HEADER);
	for (int i = 0; i < 10000; i++)
		buf_append_str(&in, "<a>");
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_TREE, NULL, NULL);
	double t0 = now_seconds();
	CHECK(xml_parser_feed(p, in.data, in.len) == XML_PARSER_ERR_POLICY);
	CHECK(now_seconds() - t0 < 1.0);
	CHECK(strstr(xml_parser_error_text(p), "max_depth") != NULL);
	xml_parser_free(&p);

	/* The same byte by byte: stops at the first byte past the limit. */
	p = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, NULL, NULL);
	size_t i;
	int res = 0;
	for (i = 0; i < in.len && res == 0; i++)
		res = xml_parser_feed(p, in.data + i, 1);
	CHECK(res == XML_PARSER_ERR_POLICY);
	CHECK(i == strlen(C2S_HEADER) + 3 * 65);
	xml_parser_free(&p);
	buf_free(&in);
}

/* Nesting exactly at the limit passes, one more fails; table of limits. */
static void test_depth_limit_exact(void)
{
	static const unsigned depths[] = {1, 2, 5, 64};
	for (size_t k = 0; k < sizeof(depths) / sizeof(depths[0]); k++) {
		for (unsigned extra = 0; extra < 2; extra++) {
			unsigned d = depths[k] + extra;
			struct xml_parser_limits lim = {.max_depth =
								depths[k] == 64 ? 0 : depths[k]};
			struct buf in = {0};
			buf_append_str(&in, C2S_HEADER);
			for (unsigned i = 0; i < d; i++)
				buf_append_str(&in, "<a>");
			for (unsigned i = 0; i < d; i++)
				buf_append_str(&in, "</a>");
			struct rec r = {0};
			int res = run_whole(in.data, in.len, XML_PARSER_MODE_TREE, &lim, &r);
			CHECK(res == (extra ? XML_PARSER_ERR_POLICY : XML_PARSER_OK));
			CHECK(r.n_stanzas == (extra ? 0u : 1u));
			rec_free(&r);
			buf_free(&in);
		}
	}
}

static void test_attr_limit(void)
{
	for (unsigned n = 63; n <= 65; n++) {
		struct buf in = {0};
		buf_append_str(&in, C2S_HEADER "<message");
		for (unsigned i = 0; i < n; i++)
			buf_printf(&in, " a%u='%u'", i, i);
		buf_append_str(&in, "/>");
		struct rec r = {0};
		int res = check_split_invariance(in.data, in.len, XML_PARSER_MODE_HEAD, NULL, &r);
		CHECK(res == (n <= 64 ? XML_PARSER_OK : XML_PARSER_ERR_POLICY));
		rec_free(&r);
		buf_free(&in);
	}
	struct xml_parser_limits lim = {.max_attrs = 2};
	struct xml_parser *p = xml_parser_new(&lim, XML_PARSER_MODE_HEAD, NULL, NULL);
	static const char in[] = C2S_HEADER "<m a='1' b='2'><x c='1' d='2' e='3'/></m>";
	CHECK(xml_parser_feed(p, in, sizeof(in) - 1) == XML_PARSER_ERR_POLICY);
	CHECK(strstr(xml_parser_error_text(p), "max_attrs") != NULL);
	xml_parser_free(&p);
	/* The stream header is held to the same limit (it has 3). */
	lim.max_attrs = 1;
	p = xml_parser_new(&lim, XML_PARSER_MODE_HEAD, NULL, NULL);
	CHECK(xml_parser_feed(p, C2S_HEADER, strlen(C2S_HEADER)) == XML_PARSER_ERR_POLICY);
	xml_parser_free(&p);
}

/* A stanza of exactly max_stanza_bytes passes, one byte more fails, however
 * the input is split; whether the bytes are text or one long start tag. */
static void test_stanza_size_exact(void)
{
	static const char header[] = "<stream:stream " STREAM_NS ">"; /* 64 bytes */
	static const struct {
		const char *open, *close;
	} shapes[] = {
		{"<message><body>", "</body></message>"},
		{"<message to='", "'/>"},
	};
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		for (size_t extra = 0; extra < 2; extra++) {
			struct buf in = {0}, st = {0};
			buf_append_str(&st, shapes[k].open);
			while (st.len + strlen(shapes[k].close) < 100 + extra)
				buf_append_char(&st, 'x');
			buf_append_str(&st, shapes[k].close);
			CHECK(st.len == 100 + extra);
			buf_append_str(&in, header);
			buf_append_str(&in, " <presence/>\n");
			buf_append(&in, st.data, st.len);
			buf_append_str(&in, "  <presence/>");
			struct xml_parser_limits lim = {.max_stanza_bytes = 100};
			struct rec r = {0};
			int res = check_split_invariance(in.data, in.len, XML_PARSER_MODE_HEAD,
							 &lim, &r);
			CHECK(res == (extra ? XML_PARSER_ERR_POLICY : XML_PARSER_OK));
			CHECK(r.n_stanzas == (extra ? 1u : 3u));
			if (!extra)
				CHECK_STR(r.raws[1].data, st.data);
			if (test_failed_current)
				printf("  shape %zu extra %zu:\n%s", k, extra, r.log.data);
			rec_free(&r);
			buf_free(&st);
			buf_free(&in);
		}
	}
}

/* max_stanza_bytes also bounds the stream header. */
static void test_header_size_limit(void)
{
	struct xml_parser_limits lim = {.max_stanza_bytes = 64};
	struct xml_parser *p = xml_parser_new(&lim, XML_PARSER_MODE_HEAD, NULL, NULL);
	CHECK(xml_parser_feed(p, C2S_HEADER, strlen(C2S_HEADER)) == XML_PARSER_ERR_POLICY);
	CHECK(strstr(xml_parser_error_text(p), "stream header") != NULL);
	CHECK(strstr(xml_parser_error_text(p), "max_stanza_bytes") != NULL);
	xml_parser_free(&p);
}

static size_t heap_in_use(void)
{
#ifdef TEST_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#endif
}

/* A 10 MB stanza in 64 KiB chunks: refused once it passes 256 KiB, long
 * before the end, and never buffered. head: what opens the stanza. */
static void check_huge_stanza(const char *head, char fill)
{
	enum { CHUNK = 64 * 1024, TOTAL = 10 * 1024 * 1024 };
	char *chunk = xmalloc(CHUNK);
	size_t fed = 0, peak = 0;
	int res = 0;
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_TREE, NULL, NULL);
	size_t base = heap_in_use();

	res = xml_parser_feed(p, C2S_HEADER, strlen(C2S_HEADER));
	res = res ? res : xml_parser_feed(p, head, strlen(head));
	memset(chunk, fill, CHUNK);
	while (res == 0 && fed < TOTAL) {
		res = xml_parser_feed(p, chunk, CHUNK);
		fed += CHUNK;
		size_t use = heap_in_use();
		if (use > peak)
			peak = use;
	}
	CHECK(res == XML_PARSER_ERR_POLICY);
	CHECK(fed <= XML_PARSER_DEFAULT_MAX_STANZA_BYTES + CHUNK);
	CHECK(strstr(xml_parser_error_text(p), "max_stanza_bytes") != NULL);
	/* Our window, expat's copy of it and the tree's text: a few times
	 * 256 KiB, nowhere near 10 MB. */
	CHECK(peak - base < 2u * 1024 * 1024);
	if (test_failed_current)
		printf("  head %s: fed %zu, peak %zu bytes over base\n", head, fed, peak - base);
	xml_parser_free(&p);
	free(chunk);
}

static void test_huge_stanza_text(void)
{
	check_huge_stanza("<message><body>", 'a');
}

static void test_huge_stanza_attribute(void)
{
	check_huge_stanza("<message to='", 'b');
}

static void test_huge_stanza_children(void)
{
	/* Many small complete children: expat reports them as it goes, yet
	 * the stanza still grows past the limit. */
	enum { CHUNK = 64 * 1024 };
	char *chunk = xmalloc(CHUNK);
	for (size_t i = 0; i < CHUNK; i += 4)
		memcpy(chunk + i, "<a/>", 4);
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, NULL, NULL);
	int res = xml_parser_feed(p, C2S_HEADER "<message>", strlen(C2S_HEADER "<message>"));
	size_t n = 0;
	while (res == 0 && n < 160) {
		res = xml_parser_feed(p, chunk, CHUNK);
		n++;
	}
	CHECK(res == XML_PARSER_ERR_POLICY);
	CHECK(n <= 5);
	xml_parser_free(&p);
	free(chunk);
}

/* Whitespace keepalives between stanzas never accumulate: megabytes of them
 * pass under a small limit, in big chunks or one byte at a time. */
static void test_whitespace_not_accumulated(void)
{
	struct xml_parser_limits lim = {.max_stanza_bytes = 512};
	struct rec r = {0};
	struct xml_parser *p = xml_parser_new(&lim, XML_PARSER_MODE_HEAD, &rec_callbacks, &r);
	char spaces[4096];
	memset(spaces, ' ', sizeof(spaces));
	int res = xml_parser_feed(p, "<stream:stream " STREAM_NS ">",
				  strlen("<stream:stream " STREAM_NS ">"));
	for (int i = 0; i < 256 && res == 0; i++)
		res = xml_parser_feed(p, spaces, sizeof(spaces));
	for (int i = 0; i < 4096 && res == 0; i++)
		res = xml_parser_feed(p, "\n", 1);
	res = res ? res : xml_parser_feed(p, "<presence/>", 11);
	CHECK(res == XML_PARSER_OK);
	CHECK(r.n_stanzas == 1);
	CHECK_STR(r.raws[0].data, "<presence/>");
	xml_parser_free(&p);
	rec_free(&r);
}

/* ---- releasing expat while idle -------------------------------------------- */

/* The stanza callback's tree, serialised with namespaces spelled out. */
static int tree_log(void *ctx, const struct xml_parser_stanza *s)
{
	struct buf *b = ctx;
	buf_printf(b, "{%s}%s", s->ns, s->name);
	for (size_t i = 0; i < s->tree->n_children; i++) {
		const struct stanza *c = s->tree->children[i].element;
		if (c != NULL)
			buf_printf(b, "/{%s}%s", c->ns, c->name);
	}
	buf_printf(b, " raw=%.*s\n", (int)s->raw_len, s->raw);
	return 0;
}

static int tree_close(void *ctx)
{
	buf_append_str(ctx, "close\n");
	return 0;
}

static const struct xml_parser_callbacks tree_callbacks = {
	.stanza = tree_log,
	.stream_close = tree_close,
};

/* Released while idle and re-created by the next feed, a parser goes on with
 * the same stream: prefixes declared on the header (a stream prefix other
 * than "stream", an extra one, one whose URI needs escaping) still resolve,
 * raw bytes are exact, and the end tag must still match the header's name. */
static void test_release_idle_resume(void)
{
	static const char header[] =
		"<?xml version='1.0'?>\n<s:stream xmlns:s='http://etherx.jabber.org/streams'"
		" xmlns='jabber:client' xmlns:db='jabber:server:dialback'"
		" xmlns:e=\"urn:a&amp;b&#9;c&lt;'\" to='example.com' version='1.0'>";
	struct buf log = {0};
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_TREE, &tree_callbacks, &log);

	CHECK(xml_parser_feed(p, header, strlen(header)) == XML_PARSER_OK);
	CHECK(xml_parser_feed(p, "<presence/>\n ", 13) == XML_PARSER_OK);
	size_t before = heap_in_use();
	CHECK(xml_parser_release_idle(p));
	/* expat's pools, tables and buffers: several kB */
	CHECK(before - heap_in_use() > 4000);
	CHECK(xml_parser_release_idle(p)); /* already released: still true */
	static const char s1[] = "<db:result to='a'>k</db:result>";
	CHECK(xml_parser_feed(p, s1, strlen(s1)) == XML_PARSER_OK);
	CHECK(xml_parser_release_idle(p));
	/* Half a stanza: not idle. */
	static const char s2[] = "<message><body>hi</body><e:x/></message>";
	CHECK(xml_parser_feed(p, s2, 12) == XML_PARSER_OK);
	CHECK(!xml_parser_release_idle(p));
	CHECK(xml_parser_feed(p, s2 + 12, strlen(s2) - 12) == XML_PARSER_OK);
	CHECK(xml_parser_release_idle(p));
	CHECK(xml_parser_feed(p, "</s:stream>", 11) == XML_PARSER_OK);
	CHECK_STR(log.data, "{jabber:client}presence raw=<presence/>\n"
			    "{jabber:server:dialback}result raw=<db:result to='a'>k</db:result>\n"
			    "{jabber:client}message/{jabber:client}body/{urn:a&b\tc<'}x raw="
			    "<message><body>hi</body><e:x/></message>\n"
			    "close\n");
	/* Closed: released for good; whitespace only from now on. */
	CHECK(xml_parser_release_idle(p));
	CHECK(xml_parser_feed(p, "\n", 1) == XML_PARSER_OK);
	CHECK(xml_parser_feed(p, "<a/>", 4) == XML_PARSER_ERR_CLOSED);
	xml_parser_free(&p);

	/* A header too long to replay cheaply: expat is kept, all goes on. */
	struct buf big = {0};
	buf_append_str(&big, "<stream:stream " STREAM_NS " xmlns:x='urn:");
	for (int i = 0; i < 1100; i++)
		buf_append_char(&big, 'x');
	buf_append_str(&big, "'>");
	buf_reset(&log);
	p = xml_parser_new(NULL, XML_PARSER_MODE_TREE, &tree_callbacks, &log);
	CHECK(xml_parser_feed(p, big.data, big.len) == XML_PARSER_OK);
	CHECK(!xml_parser_release_idle(p));
	CHECK(xml_parser_feed(p, "<x:a/>", 6) == XML_PARSER_OK);
	CHECK(!xml_parser_release_idle(p));
	CHECK(strstr(log.data, "}a raw=<x:a/>") != NULL);
	xml_parser_free(&p);
	buf_free(&big);

	/* The end tag is checked against the header's own name. */
	buf_reset(&log);
	p = xml_parser_new(NULL, XML_PARSER_MODE_TREE, &tree_callbacks, &log);
	CHECK(xml_parser_feed(p, header, strlen(header)) == XML_PARSER_OK);
	CHECK(xml_parser_release_idle(p));
	CHECK(xml_parser_feed(p, "</stream:stream>", 16) == XML_PARSER_ERR_NOT_WELL_FORMED);
	xml_parser_free(&p);
	buf_free(&log);
}

/* Limits and errors after a release: depth and attribute limits hold, and
 * an error's line and column are those of the stream, not of the new parser. */
static void test_release_idle_errors(void)
{
	static const char in[] = C2S_HEADER "\n<presence/>\n  <iq/>  <message><body></message>";
	size_t cut = strlen(C2S_HEADER) + 13, cut2 = cut + 7;
	struct xml_parser *a = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, NULL, NULL);
	struct xml_parser *b = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, NULL, NULL);

	CHECK(xml_parser_feed(a, in, sizeof(in) - 1) == XML_PARSER_ERR_NOT_WELL_FORMED);
	CHECK(xml_parser_feed(b, in, cut) == XML_PARSER_OK);
	CHECK(xml_parser_release_idle(b));
	CHECK(xml_parser_feed(b, in + cut, cut2 - cut) == XML_PARSER_OK);
	CHECK(xml_parser_release_idle(b));
	CHECK(xml_parser_feed(b, in + cut2, sizeof(in) - 1 - cut2) ==
	      XML_PARSER_ERR_NOT_WELL_FORMED);
	CHECK(strstr(xml_parser_error_text(a), "line 3, column 27") != NULL);
	CHECK_STR(xml_parser_error_text(b), xml_parser_error_text(a));
	/* Released after an error too; the error stays. */
	CHECK(xml_parser_release_idle(b));
	CHECK(xml_parser_feed(b, "<a/>", 4) == XML_PARSER_ERR_NOT_WELL_FORMED);
	xml_parser_free(&a);
	xml_parser_free(&b);

	struct xml_parser_limits lim = {.max_depth = 2, .max_attrs = 2};
	struct xml_parser *p = xml_parser_new(&lim, XML_PARSER_MODE_TREE, NULL, NULL);
	CHECK(xml_parser_feed(p, C2S_HEADER, strlen(C2S_HEADER)) == XML_PARSER_OK);
	CHECK(xml_parser_release_idle(p));
	CHECK(xml_parser_feed(p, "<a x='1' y='2'><b/></a>", 23) == XML_PARSER_OK);
	CHECK(xml_parser_release_idle(p));
	CHECK(xml_parser_feed(p, "<a><b><c/></b></a>", 18) == XML_PARSER_ERR_POLICY);
	CHECK(strstr(xml_parser_error_text(p), "max_depth") != NULL);
	xml_parser_reset(p);
	CHECK(xml_parser_feed(p, C2S_HEADER, strlen(C2S_HEADER)) == XML_PARSER_OK);
	CHECK(xml_parser_release_idle(p));
	CHECK(xml_parser_feed(p, "<a x='1' y='2' z='3'/>", 22) == XML_PARSER_ERR_POLICY);
	CHECK(strstr(xml_parser_error_text(p), "max_attrs") != NULL);
	xml_parser_free(&p);
}

/* Before the first byte and across a reset: a released parser starts the
 * next stream from scratch, XML declaration and byte order checks included. */
static void test_release_idle_fresh_and_reset(void)
{
	struct rec r = {.stop_at_stanza = 1};
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_TREE, &rec_callbacks, &r);
	CHECK(xml_parser_release_idle(p));
	CHECK(xml_parser_feed(p, "<?xml version='1.0'?>" C2S_HEADER "<auth/>",
			      strlen("<?xml version='1.0'?>" C2S_HEADER "<auth/>")) ==
	      XML_PARSER_STOPPED);
	CHECK(xml_parser_release_idle(p)); /* stopped: over until the reset */
	xml_parser_reset(p);
	r.stop_at_stanza = 0;
	CHECK(xml_parser_feed(p, C2S_HEADER "<iq id='2'/>", strlen(C2S_HEADER "<iq id='2'/>")) ==
	      XML_PARSER_OK);
	CHECK(r.n_opens == 2 && r.n_stanzas == 2);
	CHECK_STR(r.raws[1].data, "<iq id='2'/>");
	CHECK(xml_parser_release_idle(p));
	xml_parser_reset(p);
	CHECK(xml_parser_feed(p, "\xff\xfe", 2) == XML_PARSER_ERR_ENCODING);
	xml_parser_free(&p);
	rec_free(&r);
}

/* ---- callbacks, stop, reset, mode ------------------------------------------ */

static void test_stop_from_stanza(void)
{
	static const char in[] = C2S_HEADER "<presence/><message/><iq/>";
	struct rec r = {.stop_at_stanza = 1};
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, &rec_callbacks, &r);
	CHECK(xml_parser_feed(p, in, sizeof(in) - 1) == XML_PARSER_STOPPED);
	CHECK(r.n_stanzas == 1);
	CHECK(xml_parser_error_condition(XML_PARSER_STOPPED) == NULL);
	/* The rest of the chunk is ignored and the parser stays stopped. */
	CHECK(xml_parser_feed(p, "<iq/>", 5) == XML_PARSER_STOPPED);
	CHECK(r.n_stanzas == 1);
	xml_parser_free(&p);
	rec_free(&r);
}

static void test_stop_from_open(void)
{
	struct rec r = {.stop_at_open = true};
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, &rec_callbacks, &r);
	CHECK(xml_parser_feed(p, C2S_HEADER "<presence/>", strlen(C2S_HEADER "<presence/>")) ==
	      XML_PARSER_STOPPED);
	CHECK(r.n_opens == 1 && r.n_stanzas == 0);
	xml_parser_free(&p);
	rec_free(&r);
}

static int close_stops(void *ctx)
{
	(*(int *)ctx)++;
	return 1;
}

static void test_stream_close(void)
{
	struct rec r = {0};
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, &rec_callbacks, &r);
	CHECK(xml_parser_feed(p, C2S_HEADER "<presence/></stream:str", strlen(C2S_HEADER) + 23) ==
	      XML_PARSER_OK);
	CHECK(r.n_closes == 0);
	CHECK(xml_parser_feed(p, "eam>\n", 5) == XML_PARSER_OK);
	CHECK(r.n_closes == 1);
	CHECK(xml_parser_feed(p, "  ", 2) == XML_PARSER_OK);
	CHECK(xml_parser_feed(p, "<presence/>", 11) == XML_PARSER_ERR_CLOSED);
	CHECK(strstr(xml_parser_error_text(p), "closed") != NULL);
	CHECK(xml_parser_feed(p, " ", 1) == XML_PARSER_ERR_CLOSED);
	CHECK(r.n_stanzas == 1 && r.n_closes == 1);
	xml_parser_free(&p);
	rec_free(&r);

	/* A stream_close callback may stop too. */
	int calls = 0;
	struct xml_parser_callbacks cbs = {.stream_close = close_stops};
	p = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, &cbs, &calls);
	CHECK(xml_parser_feed(p, C2S_HEADER "</stream:stream>", strlen(C2S_HEADER) + 16) ==
	      XML_PARSER_STOPPED);
	CHECK(calls == 1);
	xml_parser_free(&p);
}

/* A stream restart: stop at <auth/>, reset, and a new stream (with its own
 * XML declaration and header) parses from scratch. Also reset after an error. */
static void test_reset(void)
{
	static const char s1[] = "<?xml version='1.0'?>" C2S_HEADER "<auth/><ignored/>";
	static const char s2[] =
		"<?xml version='1.0'?><stream:stream xmlns='jabber:client' " STREAM_NS
		" id='two'><iq id='x'/>";
	struct rec r = {.stop_at_stanza = 1};
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_TREE, &rec_callbacks, &r);
	CHECK(xml_parser_feed(p, s1, sizeof(s1) - 1) == XML_PARSER_STOPPED);
	CHECK(r.n_stanzas == 1);
	xml_parser_reset(p);
	CHECK_STR(xml_parser_error_text(p), "no error");
	r.stop_at_stanza = 0;
	CHECK(xml_parser_feed(p, s2, sizeof(s2) - 1) == XML_PARSER_OK);
	CHECK(r.n_opens == 2 && r.n_stanzas == 2);
	CHECK_STR(r.raws[1].data, "<iq id='x'/>");
	CHECK(strstr(r.log.data, "id=two") != NULL);
	CHECK(strstr(r.log.data, "tree=<iq xmlns='jabber:client' id='x'/>") != NULL);

	/* After an error, and in the middle of a stanza. */
	CHECK(xml_parser_feed(p, "<message><body>&bad;", 20) == XML_PARSER_ERR_NOT_WELL_FORMED);
	xml_parser_reset(p);
	CHECK(xml_parser_feed(p, C2S_HEADER "<message><bo", strlen(C2S_HEADER) + 12) ==
	      XML_PARSER_OK);
	xml_parser_reset(p);
	CHECK(xml_parser_feed(p, s2, sizeof(s2) - 1) == XML_PARSER_OK);
	CHECK(r.n_opens == 4 && r.n_stanzas == 3);
	CHECK_STR(r.raws[2].data, "<iq id='x'/>");
	xml_parser_free(&p);
	rec_free(&r);
}

static void test_set_mode(void)
{
	/* HEAD until the first stanza's callback switches to TREE; the switch
	 * applies from the next top-level element, even mid-chunk. */
	static const char in[] = C2S_HEADER "<presence/><message><body>x</body></message>";
	struct rec r = {.switch_mode_at = 1};
	run_whole(in, sizeof(in) - 1, XML_PARSER_MODE_HEAD, NULL, &r);
	CHECK(strstr(r.log.data, "raw[11]=<presence/>\n") != NULL);
	CHECK(strstr(r.log.data,
		     "tree=<message xmlns='jabber:client'><body>x</body></message>\n") != NULL);
	rec_free(&r);

	/* Switched while a stanza is half fed: that stanza stays HEAD. */
	struct rec r2 = {0};
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_HEAD, &rec_callbacks, &r2);
	CHECK(xml_parser_feed(p, C2S_HEADER "<message><bo", strlen(C2S_HEADER) + 12) == 0);
	xml_parser_set_mode(p, XML_PARSER_MODE_TREE);
	CHECK(xml_parser_feed(p, "dy/></message><iq/>", 19) == 0);
	CHECK(strstr(r2.log.data, "raw[26]=<message><body/></message>\n") != NULL);
	CHECK(strstr(r2.log.data, "raw[5]=<iq/> tree=<iq xmlns='jabber:client'/>\n") != NULL);
	xml_parser_free(&p);
	rec_free(&r2);
}

static void test_head_mode_attrs(void)
{
	static const char in[] = C2S_HEADER "<iq xmlns:x='urn:x' x:to='no' to='a@b/c' from='d@e'"
					    " type='set' id='&lt;1&gt;' other='1'><x:q/></iq>";
	struct rec r = {0};
	run_whole(in, sizeof(in) - 1, XML_PARSER_MODE_HEAD, NULL, &r);
	CHECK(strstr(r.log.data,
		     "stanza {jabber:client}iq to=a@b/c from=d@e type=set id=<1> raw[") != NULL);
	rec_free(&r);
}

/* Stream header fields: default namespace and foreign prefixes. */
static void test_stream_open_fields(void)
{
	static const struct {
		const char *header;
		const char *expect;
	} cases[] = {
		{"<stream:stream xmlns='jabber:client' " STREAM_NS ">",
		 "open {http://etherx.jabber.org/streams}stream default_ns=jabber:client "},
		{"<stream:stream " STREAM_NS ">", "default_ns=(null) "},
		{"<stream:stream xmlns='jabber:server' " STREAM_NS
		 " xmlns:db='jabber:server:dialback'>",
		 " extra=1 "},
		{"<stream:stream xmlns='jabber:server' " STREAM_NS ">", " extra=0 "},
		{"<stream:stream " STREAM_NS " xmlns:s='http://etherx.jabber.org/streams'>",
		 " extra=1 "},
		{"<stream xmlns='http://etherx.jabber.org/streams' from='x' id='i1'>",
		 "open {http://etherx.jabber.org/streams}stream "
		 "default_ns=http://etherx.jabber.org/streams to=(null) from=x id=i1 "},
		{"<s:stream xmlns:s='http://etherx.jabber.org/streams' xml:lang='fr'>",
		 " lang=fr extra=0 attrs=[http://www.w3.org/XML/1998/namespace lang=fr]"},
		{"<stream:stream xmlns='' " STREAM_NS ">", "default_ns=(null) "},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rec r = {0};
		CHECK(run_whole(cases[i].header, strlen(cases[i].header), XML_PARSER_MODE_HEAD,
				NULL, &r) == XML_PARSER_OK);
		if (strstr(r.log.data, cases[i].expect) == NULL) {
			printf("  header %s:\n%s", cases[i].header, r.log.data);
			CHECK(0);
		}
		rec_free(&r);
	}
}

/* TREE mode builds the right tree: namespaces, text, attributes. */
static void test_tree_content(void)
{
	static const char in[] =
		C2S_HEADER "<message xmlns:e='urn:e' e:x='1' xml:lang='de' to='a'>"
			   "a&amp;b<![CDATA[<c>]]>d<e:sub>t</e:sub><plain xmlns=''/>tail</message>";
	struct rec r = {0};
	run_whole(in, sizeof(in) - 1, XML_PARSER_MODE_TREE, NULL, &r);
	CHECK(r.n_stanzas == 1);
	rec_free(&r);

	struct stanza *st = NULL;
	/* Through stanza_parse, which runs the same TREE mode. */
	CHECK(stanza_parse(in + strlen(C2S_HEADER), sizeof(in) - 1 - strlen(C2S_HEADER),
			   "jabber:client", &st) == 0);
	if (st == NULL)
		return;
	CHECK_STR(st->name, "message");
	CHECK_STR(st->ns, "jabber:client");
	CHECK_STR(stanza_get_attr(st, "urn:e x"), "1");
	CHECK_STR(stanza_get_attr(st, STANZA_ATTR_XML_LANG), "de");
	CHECK_STR(stanza_get_attr(st, "to"), "a");
	CHECK(st->n_children == 4);
	CHECK(st->children[0].element == NULL);
	CHECK_STR(st->children[0].text, "a&b<c>d");
	CHECK(st->children[1].element != NULL);
	CHECK_STR(st->children[1].element->ns, "urn:e");
	CHECK_STR(st->children[1].element->name, "sub");
	CHECK(st->children[1].element->parent == st);
	CHECK_STR(st->children[2].element->ns, "");
	CHECK_STR(st->children[3].text, "tail");
	stanza_unref(&st);
}

/* A stanza kept by reference outlives its callback and the parser. */
static int keep_tree(void *ctx, const struct xml_parser_stanza *s)
{
	*(struct stanza **)ctx = stanza_ref(s->tree);
	return 0;
}

static void test_keep_tree_ref(void)
{
	struct stanza *kept = NULL;
	struct xml_parser_callbacks cbs = {.stanza = keep_tree};
	struct xml_parser *p = xml_parser_new(NULL, XML_PARSER_MODE_TREE, &cbs, &kept);
	CHECK(xml_parser_feed(p, C2S_HEADER "<iq id='1'><q/></iq>", strlen(C2S_HEADER) + 20) == 0);
	xml_parser_free(&p);
	CHECK(kept != NULL && kept->refs == 1);
	if (kept != NULL)
		CHECK_STR(stanza_get_attr(kept, "id"), "1");
	stanza_unref(&kept);
}

static const struct test tests[] = {
	TEST(test_split_invariance_head),
	TEST(test_split_invariance_tree),
	TEST(test_split_invariance_long_tokens),
	TEST(test_drip_long_tokens),
	TEST(test_events_exact),
	TEST(test_raw_zero_copy),
	TEST(test_raw_start_tag_across_chunks),
	TEST(test_error_cases),
	TEST(test_doctype_fails_at_once),
	TEST(test_error_text),
	TEST(test_error_condition),
	TEST(test_deep_nesting),
	TEST(test_depth_limit_exact),
	TEST(test_attr_limit),
	TEST(test_stanza_size_exact),
	TEST(test_header_size_limit),
	TEST(test_huge_stanza_text),
	TEST(test_huge_stanza_attribute),
	TEST(test_huge_stanza_children),
	TEST(test_whitespace_not_accumulated),
	TEST(test_stop_from_stanza),
	TEST(test_stop_from_open),
	TEST(test_stream_close),
	TEST(test_reset),
	TEST(test_set_mode),
	TEST(test_head_mode_attrs),
	TEST(test_stream_open_fields),
	TEST(test_tree_content),
	TEST(test_keep_tree_ref),
	TEST(test_release_idle_resume),
	TEST(test_release_idle_errors),
	TEST(test_release_idle_fresh_and_reset),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
