/* fuzz/fuzz-xml-parser.c: libFuzzer target for common/xml-parser.c and
 * common/stanza.c.
 *
 * The input (after its first two bytes) is parsed three ways: whole in HEAD
 * mode, in two chunks split at a point chosen by the first byte in TREE mode
 * (releasing the parser's expat at the split when it is idle there), and with
 * small limits chosen by the second byte. The first two must log the
 * same events, and what passes whole must pass split (a split parse may fail
 * with another error, or lag behind: end with OK where the whole one failed,
 * because it held back an unfinished token). Every tree is serialized and
 * parsed again, which must succeed and give an equal tree. The input is also
 * given to stanza_parse(). A broken invariant calls abort(), which libFuzzer
 * reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "stanza.h"
#include "xml-parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_run {
	struct buf log;
	char *default_ns;
};

static void fuzz_fail(const char *what, const struct buf *detail)
{
	fprintf(stderr, "fuzz-xml-parser: %s\n%s\n", what, detail != NULL ? detail->data : "");
	abort();
}

static void fuzz_log_str(struct buf *b, const char *v)
{
	buf_append_str(b, v != NULL ? v : "(null)");
	buf_append_char(b, '|');
}

/* Serialize a tree, parse it back: must be equal. */
static void fuzz_round_trip(const struct stanza *tree, const char *default_ns)
{
	struct buf out = {0};
	struct stanza *again = NULL;

	stanza_serialize(tree, default_ns, &out);
	int r = stanza_parse(out.data, out.len, default_ns, &again);
	if (r != 0)
		fuzz_fail("re-parsing a serialized stanza failed", &out);
	if (!stanza_equal(tree, again))
		fuzz_fail("re-parsed stanza differs", &out);
	stanza_unref(&again);
	buf_free(&out);
}

static int fuzz_on_open(void *ctx, const struct xml_parser_stream_open *o)
{
	struct fuzz_run *run = ctx;
	buf_append_str(&run->log, "open|");
	fuzz_log_str(&run->log, o->name);
	fuzz_log_str(&run->log, o->ns);
	fuzz_log_str(&run->log, o->default_ns);
	buf_printf(&run->log, "%d|%zu\n", o->extra_prefixes, o->n_attrs);
	free(run->default_ns);
	run->default_ns = o->default_ns != NULL ? xstrdup(o->default_ns) : NULL;
	return 0;
}

static int fuzz_on_stanza(void *ctx, const struct xml_parser_stanza *s)
{
	struct fuzz_run *run = ctx;
	if (s->raw_len < 3 || s->raw[0] != '<' || s->raw[s->raw_len - 1] != '>')
		fuzz_fail("raw bytes are not an element", NULL);
	buf_append_str(&run->log, "stanza|");
	fuzz_log_str(&run->log, s->name);
	fuzz_log_str(&run->log, s->ns);
	fuzz_log_str(&run->log, s->to);
	fuzz_log_str(&run->log, s->from);
	fuzz_log_str(&run->log, s->type);
	fuzz_log_str(&run->log, s->id);
	buf_append(&run->log, s->raw, s->raw_len);
	buf_append_char(&run->log, '\n');
	if (s->tree != NULL) {
		if (strcmp(s->tree->name, s->name) != 0 || strcmp(s->tree->ns, s->ns) != 0)
			fuzz_fail("tree and event disagree", &run->log);
		fuzz_round_trip(s->tree, run->default_ns);
	}
	return 0;
}

static int fuzz_on_close(void *ctx)
{
	struct fuzz_run *run = ctx;
	buf_append_str(&run->log, "close\n");
	return 0;
}

static const struct xml_parser_callbacks fuzz_callbacks = {
	.stream_open = fuzz_on_open,
	.stanza = fuzz_on_stanza,
	.stream_close = fuzz_on_close,
};

/* Parse in as one stream cut at split (split == len: whole). */
static int fuzz_parse(const char *in, size_t len, size_t split, enum xml_parser_mode mode,
		      const struct xml_parser_limits *limits, struct fuzz_run *run)
{
	struct xml_parser *p = xml_parser_new(limits, mode, &fuzz_callbacks, run);
	int r = xml_parser_feed(p, in, split);
	/* Release expat at the cut whenever it allows that: going on with a
	 * new one must not change a single event. */
	if (r == 0 && split < len)
		xml_parser_release_idle(p);
	if (r == 0)
		r = xml_parser_feed(p, in + split, len - split);
	if (r != 0 &&
	    (xml_parser_error_condition(r) == NULL || xml_parser_error_text(p)[0] == '\0'))
		fuzz_fail("an error without condition or text", NULL);
	xml_parser_free(&p);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const char *in = (const char *)data + 2;
	size_t len = size - 2;
	size_t split = len * data[0] / 255;

	struct fuzz_run whole = {0}, cut = {0}, small = {0};
	int r_whole = fuzz_parse(in, len, len, XML_PARSER_MODE_HEAD, NULL, &whole);
	int r_cut = fuzz_parse(in, len, split, XML_PARSER_MODE_TREE, NULL, &cut);
	if (strcmp(whole.log.data != NULL ? whole.log.data : "",
		   cut.log.data != NULL ? cut.log.data : "") != 0) {
		buf_append_str(&whole.log, "---\n");
		buf_append(&whole.log, cut.log.data, cut.log.len);
		fuzz_fail("whole and split parses differ", &whole.log);
	}
	/* Expat itself may name a different first error depending on the
	 * split (text followed by "]]>" is one invalid token when seen whole,
	 * but text then an error when cut), and a split parse may lag behind
	 * (see the top of the file); but what passes whole must pass split. */
	if (r_whole == XML_PARSER_OK && r_cut != XML_PARSER_OK) {
		buf_printf(&whole.log, "whole %d, split %d\n", r_whole, r_cut);
		fuzz_fail("whole and split parses end differently", &whole.log);
	}

	/* Small limits reach the size, depth and attribute checks. */
	struct xml_parser_limits limits = {
		.max_stanza_bytes = 16 + (size_t)(data[1] & 0x3f) * 8,
		.max_depth = 1 + (data[1] >> 6),
		.max_attrs = 1 + (data[1] & 3),
	};
	fuzz_parse(in, len, split, XML_PARSER_MODE_TREE, &limits, &small);

	struct stanza *st = NULL;
	if (stanza_parse(in, len, "jabber:client", &st) == 0) {
		fuzz_round_trip(st, "jabber:client");
		fuzz_round_trip(st, NULL);
		stanza_unref(&st);
	}

	buf_free(&whole.log);
	buf_free(&cut.log);
	buf_free(&small.log);
	free(whole.default_ns);
	free(cut.default_ns);
	free(small.default_ns);
	return 0;
}
