/* common/xml-parser.c: the streaming XMPP parser on expat (the only file that
 * includes expat.h).
 *
 * Positions are stream offsets, the byte indices expat reports. keep_from is
 * the first byte that may still belong to an event not yet delivered (the end
 * of the last delivered event, or the start of the top-level element in
 * progress); the bytes from there to the end of the last chunk are kept in
 * `pending`, so a stanza's raw bytes can be handed over whole even when it
 * arrived in pieces. The same window bounds memory: no more than
 * max_stanza_bytes beyond keep_from is ever given to expat or kept.
 *
 * Expat re-tokenizes an unfinished token from its start on every call, so a
 * peer dripping a huge start tag a byte at a time costs quadratic time. Once
 * the unfinished token is long (XML_PARSER_HOLD_MIN), a small scanner follows
 * it and new bytes are held back until they may complete it ('>' outside
 * quotes, "?>", ';' ...): linear work, and a complete element is never held.
 *
 * An expat parser costs about 10 kB however little it is used, and most
 * streams idle between stanzas most of the time. xml_parser_release_idle()
 * frees it when nothing is in progress (between top-level elements, with every
 * byte reported). The next byte makes a new one, which is first fed `resume`:
 * a start tag with the stream element's qualified name and exactly the
 * namespace declarations of the stream header, recorded when it was parsed.
 * That restores what expat knows at stream level (prefix bindings, default
 * namespace, the open element its end tag must match) and nothing else: those
 * bytes are not part of the stream, raise no events (`replaying`), and the
 * offsets and line numbers expat reports are mapped back to the stream's
 * (`shift`, `line_base`...), so every check, limit and raw byte is as if the
 * parser had never been away. A header too big to replay cheaply
 * (XML_PARSER_RESUME_MAX) leaves resume empty, and expat is then kept.
 */
#include "xml-parser.h"

#include <assert.h>
#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "stanza.h"

/* Expat joins namespace URI and local name with this; it matches the
 * "uri local" attribute naming of xml-parser.h and stanza.h. */
#define XML_PARSER_NS_SEP ' '
/* XML_Parse() takes an int length. */
#define XML_PARSER_MAX_SLICE (1u << 30)
/* Unreported bytes from which on new input is held back (see above): the
 * worst case cost of re-tokenizing is about this many steps per byte. */
#define XML_PARSER_HOLD_MIN 512
/* Scratch buffers larger than this are released once idle, so one big
 * stanza does not pin memory for the rest of a long-lived connection. */
#define XML_PARSER_IDLE_CAP (16 * 1024)
/* Room for xml_parser_error_text(), made on the first error. */
#define XML_PARSER_ERROR_TEXT 256
/* A stream whose header needs a longer resume (a real one needs about 150
 * bytes) keeps its expat parser: re-parsing a huge one on every wake would
 * let a peer buy much work with little input. */
#define XML_PARSER_RESUME_MAX 1024
#define XML_PARSER_ABSENT   SIZE_MAX

/* Reparse deferral came with expat 2.6.0, but distributions backport it to
 * older versions (Debian 12's 2.5.0-1+deb12u5 has it while its header still
 * says 2.5), so XML_MINOR_VERSION cannot tell. A weak reference is NULL when
 * the library lacks the function. */
XMLPARSEAPI(XML_Bool)
XML_SetReparseDeferralEnabled(XML_Parser parser, XML_Bool enabled) __attribute__((weak));

/* What the bytes after the last event look like, for holding back input. */
enum xml_parser_scan {
	XML_PARSER_SCAN_SPACE,	   /* only whitespace so far */
	XML_PARSER_SCAN_LT,	   /* "<" */
	XML_PARSER_SCAN_TAG,	   /* start tag, outside attribute values */
	XML_PARSER_SCAN_SQUOTE,	   /* in a '...' value */
	XML_PARSER_SCAN_DQUOTE,	   /* in a "..." value */
	XML_PARSER_SCAN_END_TAG,   /* "</" */
	XML_PARSER_SCAN_BANG,	   /* "<!" */
	XML_PARSER_SCAN_BANG_DASH, /* "<!-" */
	XML_PARSER_SCAN_DECL,	   /* "<!D...": a DOCTYPE, outside literals */
	XML_PARSER_SCAN_DECL_SQUOTE,
	XML_PARSER_SCAN_DECL_DQUOTE,
	XML_PARSER_SCAN_COMMENT,      /* "<!--" */
	XML_PARSER_SCAN_COMMENT_DASH, /* "<!--...-" */
	XML_PARSER_SCAN_PI,	      /* "<?" */
	XML_PARSER_SCAN_PI_QUEST,     /* "<?...?" */
	XML_PARSER_SCAN_REF,	      /* "&" */
	XML_PARSER_SCAN_MAY_END,      /* the token may be complete: feed it */
};

enum xml_parser_head_field {
	XML_PARSER_HEAD_TO,
	XML_PARSER_HEAD_FROM,
	XML_PARSER_HEAD_TYPE,
	XML_PARSER_HEAD_ID,
	XML_PARSER_HEAD_N,
};

static const char *const xml_parser_head_names[XML_PARSER_HEAD_N] = {"to", "from", "type", "id"};

struct xml_parser {
	XML_Parser expat; /* NULL while released (see the top of the file) */
	struct xml_parser_limits limits;
	enum xml_parser_mode mode; /* for the next top-level element */
	struct xml_parser_callbacks cbs;
	void *ctx;

	uint64_t received;	 /* bytes of this stream fed to us */
	uint64_t fed;		 /* bytes handed to expat; the rest is held back */
	uint64_t keep_from;	 /* see the top of the file */
	uint64_t last_event_end; /* end of the last event expat reported */
	uint64_t chunk_base;	 /* offset of chunk[0], during xml_parser_feed() */
	const char *chunk;
	struct buf pending; /* bytes [pending_base, chunk_base) */
	uint64_t pending_base;

	/* The hold-back scanner: state after bytes [scan_start, scan_pos). */
	bool scan_active;
	enum xml_parser_scan scan_state;
	uint64_t scan_start, scan_pos;

	unsigned depth; /* open elements, the stream element included */
	int result;	/* first error or XML_PARSER_STOPPED; sticky */
	bool closed;	/* the stream element has ended */
	uint64_t close_end;
	bool in_callback;
	char *error_text; /* XML_PARSER_ERROR_TEXT bytes once something failed */

	/* Releasing expat while idle (see the top of the file). */
	struct buf resume;  /* "<qname xmlns...='...'>" of the stream header, or empty */
	bool replaying;	    /* feeding resume to a new expat: no events */
	int64_t shift;	    /* stream offset = expat's byte index + shift */
	uint64_t line_base; /* stream line of expat's line 1 */
	uint64_t col_base;  /* stream column of the first byte after resume */
	uint64_t col_skip;  /* expat's column there */

	/* Namespace declarations of the stream header, seen before its start. */
	char *default_ns;
	unsigned n_stream_prefixes;
	bool other_prefix;
	struct xml_parser_attr *open_attrs;
	size_t cap_open_attrs;

	/* The top-level element in progress. */
	enum xml_parser_mode stanza_mode;
	uint64_t stanza_start;
	struct buf head; /* HEAD mode: name, ns and the wanted attributes, NUL-separated */
	size_t head_name, head_ns, head_attr[XML_PARSER_HEAD_N];
	struct stanza *tree, *cur; /* TREE mode */
	struct buf text;	   /* TREE mode: text not yet attached to cur */
	struct buf scratch;
};

/* Record the first error (later ones are consequences of it). */
static void xml_parser_fail(struct xml_parser *p, int result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void xml_parser_fail(struct xml_parser *p, int result, const char *fmt, ...)
{
	if (p->result != 0)
		return;
	p->result = result;
	if (p->error_text == NULL)
		p->error_text = xmalloc(XML_PARSER_ERROR_TEXT);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->error_text, XML_PARSER_ERROR_TEXT, fmt, ap);
	va_end(ap);
}

/* From inside a handler: fail and make expat return at once. */
#define xml_parser_abort(p, result, ...)                                                           \
	do {                                                                                       \
		xml_parser_fail((p), (result), __VA_ARGS__);                                       \
		XML_StopParser((p)->expat, XML_FALSE);                                             \
	} while (0)

/* Handlers bail out once the parse is over: expat may still call, e.g., the
 * end handler of an empty element after XML_StopParser(). */
static bool xml_parser_done(const struct xml_parser *p)
{
	return p->result != 0 || p->closed;
}

static bool xml_parser_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Split an expat name "uri local" (or "local") into its parts; the URI is
 * the text before the last separator, as local names cannot contain one. */
static const char *xml_parser_split(const char *name, size_t *ns_len_r)
{
	const char *sep = strrchr(name, XML_PARSER_NS_SEP);
	if (sep == NULL) {
		*ns_len_r = 0;
		return name;
	}
	*ns_len_r = (size_t)(sep - name);
	return sep + 1;
}

static uint64_t xml_parser_event_start(const struct xml_parser *p)
{
	return (uint64_t)((int64_t)XML_GetCurrentByteIndex(p->expat) + p->shift);
}

static uint64_t xml_parser_event_end(const struct xml_parser *p)
{
	return xml_parser_event_start(p) + (uint64_t)XML_GetCurrentByteCount(p->expat);
}

/* Every handler of a successful event calls this: the hold-back scanner
 * starts where expat's unfinished token starts. */
static void xml_parser_saw_event(struct xml_parser *p)
{
	uint64_t end = xml_parser_event_end(p);
	if (end > p->last_event_end)
		p->last_event_end = end;
}

/* The original bytes [start, end) of the stream, contiguous. Zero-copy when
 * they lie in the current chunk; otherwise the chunk's part is appended to
 * pending, which the caller truncates back after the callback. */
static const char *xml_parser_raw(struct xml_parser *p, uint64_t start, uint64_t end)
{
	if (start >= p->chunk_base)
		return p->chunk + (start - p->chunk_base);
	assert(start >= p->pending_base);
	assert(p->pending_base + p->pending.len == p->chunk_base);
	if (end > p->chunk_base)
		buf_append(&p->pending, p->chunk, (size_t)(end - p->chunk_base));
	return p->pending.data + (start - p->pending_base);
}

static int xml_parser_call_open(struct xml_parser *p, const struct xml_parser_stream_open *ev)
{
	if (p->cbs.stream_open == NULL)
		return 0;
	p->in_callback = true;
	int r = p->cbs.stream_open(p->ctx, ev);
	p->in_callback = false;
	return r;
}

/* The byte at stream offset pos, which is in pending or in the chunk. */
static unsigned char xml_parser_byte_at(const struct xml_parser *p, uint64_t pos)
{
	if (pos >= p->chunk_base)
		return (unsigned char)p->chunk[pos - p->chunk_base];
	return (unsigned char)p->pending.data[pos - p->pending_base];
}

/* From the stream header's start event: resume holds its namespace
 * declarations (xml_parser_on_ns_decl); put "<qname" before them and ">"
 * after. The qualified name is read from the original bytes, as expat only
 * reports the namespace URI, and the end tag must match the prefix too. */
static void xml_parser_record_resume(struct xml_parser *p)
{
	struct buf b = {0};
	uint64_t pos = xml_parser_event_start(p) + 1, end = xml_parser_event_end(p);

	buf_append_char(&b, '<');
	for (; pos < end; pos++) {
		unsigned char c = xml_parser_byte_at(p, pos);
		if (xml_parser_is_space((char)c) || c == '/' || c == '>')
			break;
		buf_append_char(&b, (char)c);
	}
	buf_append(&b, p->resume.data, p->resume.len);
	buf_append_char(&b, '>');
	buf_free(&p->resume);
	if (b.len <= XML_PARSER_RESUME_MAX)
		p->resume = b;
	else
		buf_free(&b);
}

static void xml_parser_stream_start(struct xml_parser *p, const char *name, const char **atts,
				    size_t n_atts)
{
	struct xml_parser_stream_open ev = {0};
	size_t ns_len;

	ev.name = xml_parser_split(name, &ns_len);
	buf_reset(&p->scratch);
	buf_append(&p->scratch, name, ns_len);
	ev.ns = p->scratch.data;
	ev.default_ns = p->default_ns;
	if (n_atts > p->cap_open_attrs) {
		p->cap_open_attrs = n_atts;
		p->open_attrs = xrealloc(p->open_attrs, n_atts * sizeof(*p->open_attrs));
	}
	for (size_t i = 0; i < n_atts; i++) {
		const char *an = atts[2 * i], *av = atts[2 * i + 1];
		p->open_attrs[i].name = an;
		p->open_attrs[i].value = av;
		if (strcmp(an, "to") == 0)
			ev.to = av;
		else if (strcmp(an, "from") == 0)
			ev.from = av;
		else if (strcmp(an, "id") == 0)
			ev.id = av;
		else if (strcmp(an, "version") == 0)
			ev.version = av;
		else if (strcmp(an, STANZA_ATTR_XML_LANG) == 0)
			ev.lang = av;
	}
	ev.attrs = p->open_attrs;
	ev.n_attrs = n_atts;
	xml_parser_record_resume(p);
	/* Two prefixes bound to the stream namespace also count: a stanza may
	 * use the one that is not "the" stream prefix. */
	ev.extra_prefixes = p->other_prefix || p->n_stream_prefixes > 1;
	p->keep_from = xml_parser_event_end(p);
	if (xml_parser_call_open(p, &ev) != 0)
		xml_parser_abort(p, XML_PARSER_STOPPED, "stopped by the stream_open callback");
}

static size_t xml_parser_head_add(struct xml_parser *p, const char *s, size_t len)
{
	size_t off = p->head.len;
	buf_append(&p->head, s, len);
	buf_append_char(&p->head, '\0');
	return off;
}

static void xml_parser_flush_text(struct xml_parser *p)
{
	if (p->text.len == 0)
		return;
	stanza_add_text(p->cur, p->text.data, p->text.len);
	buf_reset(&p->text);
}

/* A top-level element begins: remember where, and what the event needs. */
static void xml_parser_stanza_start(struct xml_parser *p, const char *name, const char **atts)
{
	size_t ns_len;
	const char *local = xml_parser_split(name, &ns_len);

	p->stanza_start = xml_parser_event_start(p);
	p->keep_from = p->stanza_start;
	p->stanza_mode = p->mode;
	if (p->stanza_mode == XML_PARSER_MODE_HEAD) {
		/* Offsets, not pointers: head may move while it grows. */
		buf_reset(&p->head);
		p->head_name = xml_parser_head_add(p, local, strlen(local));
		p->head_ns = xml_parser_head_add(p, name, ns_len);
		for (int f = 0; f < XML_PARSER_HEAD_N; f++)
			p->head_attr[f] = XML_PARSER_ABSENT;
		for (size_t i = 0; atts[i] != NULL; i += 2) {
			for (int f = 0; f < XML_PARSER_HEAD_N; f++) {
				if (strcmp(atts[i], xml_parser_head_names[f]) == 0) {
					p->head_attr[f] = xml_parser_head_add(p, atts[i + 1],
									      strlen(atts[i + 1]));
					break;
				}
			}
		}
		return;
	}
	buf_reset(&p->scratch);
	buf_append(&p->scratch, name, ns_len);
	p->tree = stanza_new(local, p->scratch.data);
	for (size_t i = 0; atts[i] != NULL; i += 2)
		stanza_set_attr(p->tree, atts[i], atts[i + 1]);
	p->cur = p->tree;
}

static void xml_parser_child_start(struct xml_parser *p, const char *name, const char **atts)
{
	size_t ns_len;
	const char *local = xml_parser_split(name, &ns_len);

	xml_parser_flush_text(p);
	buf_reset(&p->scratch);
	buf_append(&p->scratch, name, ns_len);
	p->cur = stanza_add_child(p->cur, local, p->scratch.data);
	for (size_t i = 0; atts[i] != NULL; i += 2)
		stanza_set_attr(p->cur, atts[i], atts[i + 1]);
}

static void XMLCALL xml_parser_on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct xml_parser *p = ud;
	size_t n_atts = 0;

	if (xml_parser_done(p) || p->replaying)
		return;
	xml_parser_saw_event(p);
	while (atts[2 * n_atts] != NULL)
		n_atts++;
	if (n_atts > p->limits.max_attrs) {
		xml_parser_abort(p, XML_PARSER_ERR_POLICY,
				 "element with %zu attributes, more than %u (max_attrs)", n_atts,
				 p->limits.max_attrs);
		return;
	}
	if (p->depth == 0) {
		p->depth++;
		xml_parser_stream_start(p, name, atts, n_atts);
		return;
	}
	/* The new element sits at depth p->depth counted inside the stanza. */
	if (p->depth > p->limits.max_depth) {
		xml_parser_abort(p, XML_PARSER_ERR_POLICY,
				 "elements nested deeper than %u (max_depth)", p->limits.max_depth);
		return;
	}
	p->depth++;
	if (p->depth == 2)
		xml_parser_stanza_start(p, name, atts);
	else if (p->stanza_mode == XML_PARSER_MODE_TREE)
		xml_parser_child_start(p, name, atts);
}

static const char *xml_parser_head_get(const struct xml_parser *p, size_t off)
{
	return off == XML_PARSER_ABSENT ? NULL : p->head.data + off;
}

static void xml_parser_stanza_end(struct xml_parser *p)
{
	struct xml_parser_stanza ev = {0};
	uint64_t end = xml_parser_event_end(p);
	size_t pending_len = p->pending.len;

	if (p->stanza_mode == XML_PARSER_MODE_TREE) {
		xml_parser_flush_text(p);
		ev.tree = p->tree;
		ev.name = p->tree->name;
		ev.ns = p->tree->ns;
		ev.to = stanza_get_attr(p->tree, "to");
		ev.from = stanza_get_attr(p->tree, "from");
		ev.type = stanza_get_attr(p->tree, "type");
		ev.id = stanza_get_attr(p->tree, "id");
	} else {
		ev.name = xml_parser_head_get(p, p->head_name);
		ev.ns = xml_parser_head_get(p, p->head_ns);
		ev.to = xml_parser_head_get(p, p->head_attr[XML_PARSER_HEAD_TO]);
		ev.from = xml_parser_head_get(p, p->head_attr[XML_PARSER_HEAD_FROM]);
		ev.type = xml_parser_head_get(p, p->head_attr[XML_PARSER_HEAD_TYPE]);
		ev.id = xml_parser_head_get(p, p->head_attr[XML_PARSER_HEAD_ID]);
	}
	ev.raw = xml_parser_raw(p, p->stanza_start, end);
	ev.raw_len = (size_t)(end - p->stanza_start);
	p->keep_from = end;

	int r = 0;
	if (p->cbs.stanza != NULL) {
		p->in_callback = true;
		r = p->cbs.stanza(p->ctx, &ev);
		p->in_callback = false;
	}
	p->pending.len = pending_len;
	if (p->pending.data != NULL)
		p->pending.data[pending_len] = '\0';
	stanza_unref(&p->tree);
	p->cur = NULL;
	if (p->head.cap > XML_PARSER_IDLE_CAP)
		buf_free(&p->head);
	if (p->text.cap > XML_PARSER_IDLE_CAP)
		buf_free(&p->text);
	if (r != 0)
		xml_parser_abort(p, XML_PARSER_STOPPED, "stopped by the stanza callback");
}

static void XMLCALL xml_parser_on_end(void *ud, const XML_Char *name)
{
	struct xml_parser *p = ud;

	if (xml_parser_done(p))
		return;
	xml_parser_saw_event(p);
	p->depth--;
	if (p->depth == 1) {
		xml_parser_stanza_end(p);
	} else if (p->depth == 0) {
		p->closed = true;
		p->close_end = xml_parser_event_end(p);
		p->keep_from = p->close_end;
		int r = 0;
		if (p->cbs.stream_close != NULL) {
			p->in_callback = true;
			r = p->cbs.stream_close(p->ctx);
			p->in_callback = false;
		}
		if (r != 0)
			xml_parser_fail(p, XML_PARSER_STOPPED,
					"stopped by the stream_close callback");
		/* What follows is checked by xml_parser_feed(), not by expat. */
		XML_StopParser(p->expat, XML_FALSE);
	} else if (p->stanza_mode == XML_PARSER_MODE_TREE) {
		xml_parser_flush_text(p);
		p->cur = p->cur->parent;
	}
}

static void XMLCALL xml_parser_on_text(void *ud, const XML_Char *s, int len)
{
	struct xml_parser *p = ud;

	if (xml_parser_done(p))
		return;
	xml_parser_saw_event(p);
	if (p->depth == 1) {
		for (int i = 0; i < len; i++) {
			if (!xml_parser_is_space(s[i])) {
				xml_parser_abort(p, XML_PARSER_ERR_BAD_FORMAT,
						 "text at stream level (between stanzas)");
				return;
			}
		}
		/* Whitespace (keepalives) is dropped at once, never accumulated. */
		uint64_t end = xml_parser_event_end(p);
		if (end > p->keep_from)
			p->keep_from = end;
	} else if (p->depth >= 2 && p->stanza_mode == XML_PARSER_MODE_TREE) {
		buf_append(&p->text, s, (size_t)len);
	}
}

static void XMLCALL xml_parser_on_ns_decl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
	struct xml_parser *p = ud;

	/* Only the stream header's declarations matter (depth 0 = before its
	 * start event); those inside stanzas travel with the stanza's bytes. */
	if (xml_parser_done(p) || p->depth != 0 || p->replaying)
		return;
	/* For resume: the same declaration, re-escaped from its value (no
	 * more once too long to be used). */
	if (p->resume.len <= XML_PARSER_RESUME_MAX) {
		buf_append_str(&p->resume, " xmlns");
		if (prefix != NULL) {
			buf_append_char(&p->resume, ':');
			buf_append_str(&p->resume, prefix);
		}
		buf_append_str(&p->resume, "='");
		if (uri != NULL)
			buf_append_xml_escaped(&p->resume, uri, strlen(uri), true);
		buf_append_char(&p->resume, '\'');
	}
	if (prefix == NULL) {
		free(p->default_ns);
		p->default_ns = uri != NULL && uri[0] != '\0' ? xstrdup(uri) : NULL;
	} else if (uri != NULL && strcmp(uri, XML_NS_STREAM) == 0) {
		p->n_stream_prefixes++;
	} else {
		p->other_prefix = true;
	}
}

/* RFC 6120 section 11.1: no DTD, comment, PI or entity declaration. The
 * DOCTYPE handler fires before any of its internal subset is read, so an
 * entity bomb fails before a single entity is declared. */
static void XMLCALL xml_parser_on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
					  const XML_Char *pubid, int has_internal_subset)
{
	xml_parser_abort((struct xml_parser *)ud, XML_PARSER_ERR_RESTRICTED,
			 "DOCTYPE (DTD) not allowed in XMPP (restricted XML)");
}

static void XMLCALL xml_parser_on_entity_decl(void *ud, const XML_Char *name, int is_param,
					      const XML_Char *value, int value_len,
					      const XML_Char *base, const XML_Char *sysid,
					      const XML_Char *pubid, const XML_Char *notation)
{
	xml_parser_abort((struct xml_parser *)ud, XML_PARSER_ERR_RESTRICTED,
			 "entity declaration not allowed in XMPP (restricted XML)");
}

static void XMLCALL xml_parser_on_comment(void *ud, const XML_Char *data)
{
	xml_parser_abort((struct xml_parser *)ud, XML_PARSER_ERR_RESTRICTED,
			 "comment not allowed in XMPP (restricted XML)");
}

static void XMLCALL xml_parser_on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	xml_parser_abort((struct xml_parser *)ud, XML_PARSER_ERR_RESTRICTED,
			 "processing instruction not allowed in XMPP (restricted XML)");
}

/* The parser was created for UTF-8, which overrides whatever the document
 * declares; a declaration naming something else would then be misread, so
 * it is refused instead. */
static void XMLCALL xml_parser_on_xml_decl(void *ud, const XML_Char *version,
					   const XML_Char *encoding, int standalone)
{
	struct xml_parser *p = ud;
	if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0)
		xml_parser_abort(p, XML_PARSER_ERR_ENCODING,
				 "XML declaration names encoding '%.64s'; only UTF-8 is supported",
				 encoding);
	else
		xml_parser_saw_event(p);
}

/* CDATA markers carry no data but are tokens expat consumed. */
static void XMLCALL xml_parser_on_cdata(void *ud)
{
	struct xml_parser *p = ud;
	if (!xml_parser_done(p))
		xml_parser_saw_event(p);
}

/* Install handlers; needed again after XML_ParserReset(), which clears them. */
static void xml_parser_setup(struct xml_parser *p)
{
	XML_SetUserData(p->expat, p);
	XML_SetElementHandler(p->expat, xml_parser_on_start, xml_parser_on_end);
	XML_SetCharacterDataHandler(p->expat, xml_parser_on_text);
	XML_SetNamespaceDeclHandler(p->expat, xml_parser_on_ns_decl, NULL);
	XML_SetStartDoctypeDeclHandler(p->expat, xml_parser_on_doctype);
	XML_SetEntityDeclHandler(p->expat, xml_parser_on_entity_decl);
	XML_SetCommentHandler(p->expat, xml_parser_on_comment);
	XML_SetProcessingInstructionHandler(p->expat, xml_parser_on_pi);
	XML_SetXmlDeclHandler(p->expat, xml_parser_on_xml_decl);
	XML_SetCdataSectionHandler(p->expat, xml_parser_on_cdata, xml_parser_on_cdata);
	XML_SetParamEntityParsing(p->expat, XML_PARAM_ENTITY_PARSING_NEVER);
	/* Reparse deferral holds back an unfinished token until much more input
	 * arrives, so a stream header or stanza that came in pieces may not be
	 * reported at all while the peer waits for our answer. It must be off;
	 * see the declaration above for why this is not a version check. */
	if (XML_SetReparseDeferralEnabled != NULL)
		XML_SetReparseDeferralEnabled(p->expat, XML_FALSE);
}

/* Forget everything about the current stream (not limits, mode, callbacks). */
static void xml_parser_clear(struct xml_parser *p)
{
	p->received = 0;
	p->fed = 0;
	p->keep_from = 0;
	p->last_event_end = 0;
	p->scan_active = false;
	p->chunk_base = 0;
	p->chunk = NULL;
	buf_free(&p->pending);
	p->pending_base = 0;
	p->depth = 0;
	p->result = 0;
	p->closed = false;
	p->close_end = 0;
	free(p->error_text);
	p->error_text = NULL;
	buf_free(&p->resume);
	p->shift = 0;
	p->line_base = 1;
	p->col_base = 0;
	p->col_skip = 0;
	free(p->default_ns);
	p->default_ns = NULL;
	p->n_stream_prefixes = 0;
	p->other_prefix = false;
	stanza_unref(&p->tree);
	p->cur = NULL;
	buf_reset(&p->text);
	buf_reset(&p->head);
}

/* A new expat parser with our handlers. */
static void xml_parser_create_expat(struct xml_parser *p)
{
	static const XML_Char sep = XML_PARSER_NS_SEP;

	p->expat = XML_ParserCreateNS("UTF-8", sep);
	if (p->expat == NULL) {
		fprintf(stderr, "junction: out of memory creating an XML parser\n");
		abort();
	}
	xml_parser_setup(p);
}

struct xml_parser *xml_parser_new(const struct xml_parser_limits *limits, enum xml_parser_mode mode,
				  const struct xml_parser_callbacks *callbacks, void *ctx)
{
	struct xml_parser *p = xcalloc(1, sizeof(*p));

	xml_parser_create_expat(p);
	p->line_base = 1;
	if (limits != NULL)
		p->limits = *limits;
	if (p->limits.max_stanza_bytes == 0)
		p->limits.max_stanza_bytes = XML_PARSER_DEFAULT_MAX_STANZA_BYTES;
	if (p->limits.max_depth == 0)
		p->limits.max_depth = XML_PARSER_DEFAULT_MAX_DEPTH;
	if (p->limits.max_attrs == 0)
		p->limits.max_attrs = XML_PARSER_DEFAULT_MAX_ATTRS;
	p->mode = mode;
	if (callbacks != NULL)
		p->cbs = *callbacks;
	p->ctx = ctx;
	return p;
}

void xml_parser_free(struct xml_parser **parserp)
{
	struct xml_parser *p = *parserp;
	if (p == NULL)
		return;
	assert(!p->in_callback);
	*parserp = NULL;
	xml_parser_clear(p);
	XML_ParserFree(p->expat);
	free(p->open_attrs);
	buf_free(&p->head);
	buf_free(&p->text);
	buf_free(&p->scratch);
	free(p);
}

void xml_parser_set_mode(struct xml_parser *parser, enum xml_parser_mode mode)
{
	parser->mode = mode;
}

void xml_parser_reset(struct xml_parser *p)
{
	assert(!p->in_callback);
	/* A released parser stays released: a new stream starts from nothing,
	 * so the next feed only has to create one. */
	if (p->expat != NULL) {
		XML_ParserReset(p->expat, "UTF-8");
		xml_parser_setup(p);
	}
	xml_parser_clear(p);
}

/* Where expat is now, as a line (1-based) and column (0-based) of the stream:
 * expat's first line began with resume, which is not part of the stream. */
static void xml_parser_position(const struct xml_parser *p, uint64_t *line_r, uint64_t *col_r)
{
	uint64_t line = (uint64_t)XML_GetCurrentLineNumber(p->expat);
	uint64_t col = (uint64_t)XML_GetCurrentColumnNumber(p->expat);

	if (line <= 1) {
		*line_r = p->line_base;
		*col_r = p->col_base + (col >= p->col_skip ? col - p->col_skip : 0);
	} else {
		*line_r = p->line_base + line - 1;
		*col_r = col;
	}
}

static void xml_parser_expat_error(struct xml_parser *p)
{
	enum XML_Error code = XML_GetErrorCode(p->expat);
	int result = code == XML_ERROR_NO_MEMORY ? XML_PARSER_ERR_POLICY
						 : XML_PARSER_ERR_NOT_WELL_FORMED;
	uint64_t line, col;

	xml_parser_position(p, &line, &col);
	xml_parser_fail(p, result, "%s at line %llu, column %llu", XML_ErrorString(code),
			(unsigned long long)line, (unsigned long long)col + 1);
}

bool xml_parser_release_idle(struct xml_parser *p)
{
	assert(!p->in_callback);
	if (p->expat == NULL)
		return true;
	/* After an error, a stop or the stream close, expat is never fed again
	 * (until a reset); before the first byte it knows nothing yet. */
	bool over = p->result != 0 || p->closed;
	bool fresh = p->received == 0;
	bool between = p->depth == 1 && p->resume.len > 0 && p->fed == p->received &&
		       p->last_event_end == p->received && p->keep_from == p->received;
	if (!over && !fresh && !between)
		return false;
	if (between)
		xml_parser_position(p, &p->line_base, &p->col_base);
	XML_ParserFree(p->expat);
	p->expat = NULL;
	buf_free(&p->pending);
	p->pending_base = p->keep_from;
	buf_free(&p->head);
	buf_free(&p->text);
	buf_free(&p->scratch);
	free(p->open_attrs);
	p->open_attrs = NULL;
	p->cap_open_attrs = 0;
	return true;
}

/* Before feeding expat: make it again if it was released, and bring it to
 * where the stream is (see the top of the file). */
static void xml_parser_wake(struct xml_parser *p)
{
	xml_parser_create_expat(p);
	p->shift = (int64_t)p->fed;
	p->col_skip = 0;
	if (p->depth == 0)
		return; /* nothing parsed yet: a fresh start */
	p->replaying = true;
	enum XML_Status st =
		XML_Parse(p->expat, p->resume.data, (int)p->resume.len, XML_FALSE);
	p->replaying = false;
	if (st != XML_STATUS_OK) {
		/* It was accepted once, so this cannot happen; refuse rather
		 * than go on with a parser in an unknown state. */
		xml_parser_fail(p, XML_PARSER_ERR_POLICY, "cannot resume the stream: %s",
				XML_ErrorString(XML_GetErrorCode(p->expat)));
		return;
	}
	p->shift -= (int64_t)p->resume.len;
	p->col_skip = (uint64_t)XML_GetCurrentColumnNumber(p->expat);
}

/* After the stream close only whitespace may follow. */
static void xml_parser_check_after_close(struct xml_parser *p, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!xml_parser_is_space(data[i])) {
			xml_parser_fail(p, XML_PARSER_ERR_CLOSED,
					"data after the stream was closed");
			return;
		}
	}
}

/* Keep the bytes [keep_from, end of this chunk) for the next feed. */
static void xml_parser_keep(struct xml_parser *p, const char *data, size_t len)
{
	if (p->keep_from >= p->chunk_base) {
		buf_reset(&p->pending);
		if (p->pending.cap > XML_PARSER_IDLE_CAP)
			buf_free(&p->pending);
		buf_append(&p->pending, data + (p->keep_from - p->chunk_base),
			   len - (size_t)(p->keep_from - p->chunk_base));
	} else {
		assert(p->keep_from >= p->pending_base);
		buf_consume(&p->pending, (size_t)(p->keep_from - p->pending_base));
		buf_append(&p->pending, data, len);
	}
	p->pending_base = p->keep_from;
}

static enum xml_parser_scan xml_parser_scan_step(enum xml_parser_scan st, unsigned char c)
{
	switch (st) {
	case XML_PARSER_SCAN_SPACE:
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			return st;
		return c == '<'	  ? XML_PARSER_SCAN_LT
		       : c == '&' ? XML_PARSER_SCAN_REF
				  : XML_PARSER_SCAN_MAY_END;
	case XML_PARSER_SCAN_LT:
		if (c == '/')
			return XML_PARSER_SCAN_END_TAG;
		if (c == '!')
			return XML_PARSER_SCAN_BANG;
		if (c == '?')
			return XML_PARSER_SCAN_PI;
		if (c == '>' || c == '<' || c == '\'' || c == '"')
			return XML_PARSER_SCAN_MAY_END;
		return XML_PARSER_SCAN_TAG;
	case XML_PARSER_SCAN_TAG:
		if (c == '\'')
			return XML_PARSER_SCAN_SQUOTE;
		if (c == '"')
			return XML_PARSER_SCAN_DQUOTE;
		return c == '>' || c == '<' ? XML_PARSER_SCAN_MAY_END : st;
	case XML_PARSER_SCAN_SQUOTE:
		/* '<' cannot be in a value: expat will fail, so let it. */
		return c == '\'' ? XML_PARSER_SCAN_TAG : c == '<' ? XML_PARSER_SCAN_MAY_END : st;
	case XML_PARSER_SCAN_DQUOTE:
		return c == '"' ? XML_PARSER_SCAN_TAG : c == '<' ? XML_PARSER_SCAN_MAY_END : st;
	case XML_PARSER_SCAN_END_TAG:
		return c == '>' || c == '<' ? XML_PARSER_SCAN_MAY_END : st;
	case XML_PARSER_SCAN_BANG:
		/* "<![CDATA[" is short; a DOCTYPE is reported (and refused)
		 * at its '[' or '>', its name and literals are not events. */
		if (c == '-')
			return XML_PARSER_SCAN_BANG_DASH;
		return c == 'D' ? XML_PARSER_SCAN_DECL : XML_PARSER_SCAN_MAY_END;
	case XML_PARSER_SCAN_DECL:
		if (c == '\'')
			return XML_PARSER_SCAN_DECL_SQUOTE;
		if (c == '"')
			return XML_PARSER_SCAN_DECL_DQUOTE;
		return c == '>' || c == '[' || c == '<' ? XML_PARSER_SCAN_MAY_END : st;
	case XML_PARSER_SCAN_DECL_SQUOTE:
		return c == '\'' ? XML_PARSER_SCAN_DECL : st;
	case XML_PARSER_SCAN_DECL_DQUOTE:
		return c == '"' ? XML_PARSER_SCAN_DECL : st;
	case XML_PARSER_SCAN_BANG_DASH:
		return c == '-' ? XML_PARSER_SCAN_COMMENT : XML_PARSER_SCAN_MAY_END;
	case XML_PARSER_SCAN_COMMENT:
		return c == '-' ? XML_PARSER_SCAN_COMMENT_DASH : st;
	case XML_PARSER_SCAN_COMMENT_DASH:
		/* "--" ends the comment or makes it malformed: either way, feed. */
		return c == '-' ? XML_PARSER_SCAN_MAY_END : XML_PARSER_SCAN_COMMENT;
	case XML_PARSER_SCAN_PI:
		return c == '?' ? XML_PARSER_SCAN_PI_QUEST : st;
	case XML_PARSER_SCAN_PI_QUEST:
		return c == '>' ? XML_PARSER_SCAN_MAY_END : c == '?' ? st : XML_PARSER_SCAN_PI;
	case XML_PARSER_SCAN_REF:
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.' || c == ':' || c == '#' || c >= 0x80)
			return st;
		return XML_PARSER_SCAN_MAY_END;
	case XML_PARSER_SCAN_MAY_END:
		break;
	}
	return XML_PARSER_SCAN_MAY_END;
}

/* True when the bytes not yet given to expat cannot complete the token it
 * is stuck in, and that token is long enough for re-tokenizing to matter. */
static bool xml_parser_can_hold(struct xml_parser *p)
{
	if (p->fed - p->last_event_end < XML_PARSER_HOLD_MIN) {
		p->scan_active = false;
		return false;
	}
	if (!p->scan_active || p->scan_start != p->last_event_end) {
		p->scan_active = true;
		p->scan_state = XML_PARSER_SCAN_SPACE;
		p->scan_start = p->scan_pos = p->last_event_end;
	}
	while (p->scan_pos < p->received && p->scan_state != XML_PARSER_SCAN_MAY_END)
		p->scan_state =
			xml_parser_scan_step(p->scan_state, xml_parser_byte_at(p, p->scan_pos++));
	return p->scan_state != XML_PARSER_SCAN_MAY_END;
}

static void xml_parser_fail_size(struct xml_parser *p)
{
	xml_parser_fail(p, XML_PARSER_ERR_POLICY, "%s larger than %zu bytes (max_stanza_bytes)",
			p->depth == 0 ? "stream header" : "stanza", p->limits.max_stanza_bytes);
}

/* Hand expat the bytes [fed, received) that it may have now. */
static void xml_parser_run(struct xml_parser *p)
{
	if (p->fed == 0) {
		/* Expat switches to UTF-16 when the stream starts with a byte
		 * order mark or a NUL byte, whatever encoding it was created
		 * with. None of these can start UTF-8 XML: refusing them keeps
		 * raw bytes and strings UTF-8. The two bytes are judged together,
		 * so the result does not depend on how they arrived. */
		if (p->received < 2)
			return;
		for (uint64_t i = 0; i < 2; i++) {
			unsigned char c = xml_parser_byte_at(p, i);
			if (c == 0x00 || c == 0xFE || c == 0xFF) {
				xml_parser_fail(p, XML_PARSER_ERR_ENCODING,
						"stream is not UTF-8 (it starts like UTF-16)");
				return;
			}
		}
	}
	while (p->fed < p->received && p->result == 0 && !p->closed) {
		if (xml_parser_can_hold(p)) {
			/* The element in progress goes on past what we have. */
			if (p->received - p->keep_from > p->limits.max_stanza_bytes)
				xml_parser_fail_size(p);
			return;
		}
		/* Give expat no more than fits in the window: an element that
		 * would outgrow max_stanza_bytes fails as soon as it does, and
		 * never gets buffered (by expat or by us) beyond that. */
		uint64_t used = p->fed - p->keep_from;
		if (used >= p->limits.max_stanza_bytes) {
			xml_parser_fail_size(p);
			return;
		}
		uint64_t n = p->received - p->fed;
		const char *src;
		if (p->fed < p->chunk_base) {
			/* Held back earlier: it is in pending. */
			src = p->pending.data + (p->fed - p->pending_base);
			if (n > p->chunk_base - p->fed)
				n = p->chunk_base - p->fed;
		} else {
			src = p->chunk + (p->fed - p->chunk_base);
		}
		if (n > p->limits.max_stanza_bytes - used)
			n = p->limits.max_stanza_bytes - used;
		if (n > XML_PARSER_MAX_SLICE)
			n = XML_PARSER_MAX_SLICE;
		if (p->expat == NULL) {
			xml_parser_wake(p);
			if (p->result != 0)
				return;
		}
		p->fed += n;
		if (XML_Parse(p->expat, src, (int)n, XML_FALSE) != XML_STATUS_OK) {
			if (p->result == 0 && !p->closed)
				xml_parser_expat_error(p);
			return;
		}
	}
}

int xml_parser_feed(struct xml_parser *p, const char *data, size_t len)
{
	assert(!p->in_callback);
	if (p->result != 0)
		return p->result;
	if (p->closed) {
		xml_parser_check_after_close(p, data, len);
		return p->result;
	}
	if (len == 0)
		return 0;
	p->chunk = data;
	p->chunk_base = p->received;
	p->received += len;
	xml_parser_run(p);
	if (p->result == 0 && p->closed) {
		/* Normally the close tag ends in this chunk; should expat ever
		 * report it late, the kept bytes after it are checked too. */
		if (p->close_end < p->chunk_base) {
			size_t from = (size_t)(p->close_end - p->pending_base);
			xml_parser_check_after_close(p, p->pending.data + from,
						     p->pending.len - from);
		}
		size_t tail =
			p->close_end > p->chunk_base ? (size_t)(p->close_end - p->chunk_base) : 0;
		xml_parser_check_after_close(p, data + tail, len - tail);
	} else if (p->result == 0) {
		xml_parser_keep(p, data, len);
	}
	p->chunk = NULL;
	return p->result;
}

const char *xml_parser_error_condition(int result)
{
	switch (result) {
	case XML_PARSER_ERR_NOT_WELL_FORMED:
	case XML_PARSER_ERR_CLOSED:
		return "not-well-formed";
	case XML_PARSER_ERR_RESTRICTED:
		return "restricted-xml";
	case XML_PARSER_ERR_POLICY:
		return "policy-violation";
	case XML_PARSER_ERR_BAD_FORMAT:
		return "bad-format";
	case XML_PARSER_ERR_ENCODING:
		return "unsupported-encoding";
	default:
		return NULL;
	}
}

const char *xml_parser_error_text(const struct xml_parser *parser)
{
	return parser->error_text != NULL && parser->error_text[0] != '\0' ? parser->error_text
									    : "no error";
}
