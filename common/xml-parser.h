/* xml-parser.h: the streaming XMPP XML parser, a push parser on expat.
 *
 * Feed it arbitrary chunks of a stream as they arrive from the network; it
 * calls back once for the stream header, once per complete top-level element
 * (a stanza, or <handshake/>, <stream:error/>, ...) and once for the stream
 * close. It enforces RFC 6120 section 11 restricted XML (no DTD, entity
 * declaration, comment or processing instruction: XML_PARSER_ERR_RESTRICTED),
 * well-formedness and UTF-8 (XML_PARSER_ERR_NOT_WELL_FORMED) and the limits
 * in struct xml_parser_limits (XML_PARSER_ERR_POLICY). The parser never sees
 * a socket.
 *
 * Every stanza event carries the stanza's original bytes (raw/raw_len), so the
 * router forwards them without re-serialising. In XML_PARSER_MODE_TREE the
 * event also carries a struct stanza tree; in XML_PARSER_MODE_HEAD it only
 * carries the top-level element's name and to/from/type/id (the router's hot
 * path). Everything an event points to is borrowed: valid only during the
 * callback; take a stanza_ref() to keep the tree.
 *
 * Callbacks run inside xml_parser_feed(). A callback returns 0 to go on or
 * non-zero to stop: xml_parser_feed() then returns XML_PARSER_STOPPED and
 * ignores the rest of the chunk. Never free the parser inside a callback.
 *
 *   struct xml_parser *p = xml_parser_new(&limits, XML_PARSER_MODE_HEAD, &cbs, ctx);
 *   r = xml_parser_feed(p, data, len);   // on each read
 *   if (r < 0 && r != XML_PARSER_STOPPED)
 *           send_stream_error(xml_parser_error_condition(r), xml_parser_error_text(p));
 *   xml_parser_reset(p);                  // stream restart (after STARTTLS/SASL)
 *   xml_parser_free(&p);
 */
#ifndef JUNCTION_XML_PARSER_H
#define JUNCTION_XML_PARSER_H

#include <stdbool.h>
#include <stddef.h>

struct stanza;

/* The namespace of stream-level elements (stream:stream, stream:error,
 * stream:features). */
#define XML_NS_STREAM "http://etherx.jabber.org/streams"

enum xml_parser_mode {
	XML_PARSER_MODE_HEAD, /* name + to/from/type/id + raw bytes only */
	XML_PARSER_MODE_TREE, /* also a struct stanza tree */
};

struct xml_parser_limits {
	size_t max_stanza_bytes; /* bytes of one top-level element; default 256 KiB */
	unsigned max_depth;      /* element nesting inside a stanza; default 64 */
	unsigned max_attrs;      /* attributes on one element; default 64 */
};
#define XML_PARSER_DEFAULT_MAX_STANZA_BYTES (256 * 1024)
#define XML_PARSER_DEFAULT_MAX_DEPTH 64
#define XML_PARSER_DEFAULT_MAX_ATTRS 64

enum xml_parser_result {
	XML_PARSER_OK = 0,
	XML_PARSER_STOPPED = -1,            /* a callback asked to stop */
	XML_PARSER_ERR_NOT_WELL_FORMED = -2, /* stream error not-well-formed */
	XML_PARSER_ERR_RESTRICTED = -3,     /* stream error restricted-xml */
	XML_PARSER_ERR_POLICY = -4,         /* a limit was exceeded: policy-violation */
	XML_PARSER_ERR_BAD_FORMAT = -5,     /* e.g. text at stream level: bad-format */
	XML_PARSER_ERR_CLOSED = -6,         /* data after </stream:stream> */
	XML_PARSER_ERR_ENCODING = -7,       /* XML declaration names a non-UTF-8 encoding */
};

/* One attribute: name is "local" or, for namespaced attributes,
 * "namespace-uri local" (e.g. "http://www.w3.org/XML/1998/namespace lang"
 * for xml:lang). */
struct xml_parser_attr {
	const char *name;
	const char *value;
};

struct xml_parser_stream_open {
	const char *name; /* local name, e.g. "stream" */
	const char *ns;   /* its namespace, e.g. XML_NS_STREAM */
	const char *default_ns; /* the default namespace declared on it, or NULL */
	const char *to, *from, *id, *version, *lang; /* NULL when absent */
	const struct xml_parser_attr *attrs; /* all attributes */
	size_t n_attrs;
	/* True when the header declared a namespace prefix other than the
	 * stream prefix: stanzas may then use it, and their raw bytes do not
	 * stand alone (re-serialise them from the tree instead). */
	bool extra_prefixes;
};

struct xml_parser_stanza {
	const char *name; /* local name, e.g. "message" */
	const char *ns;   /* namespace URI ("" when none) */
	const char *to, *from, *type, *id; /* NULL when absent */
	const char *raw;  /* the element's original bytes */
	size_t raw_len;
	struct stanza *tree; /* XML_PARSER_MODE_TREE only, else NULL */
};

struct xml_parser_callbacks {
	int (*stream_open)(void *ctx, const struct xml_parser_stream_open *open);
	int (*stanza)(void *ctx, const struct xml_parser_stanza *stanza);
	int (*stream_close)(void *ctx);
};

struct xml_parser;

/* limits may be NULL for the defaults; any field left 0 takes its default. */
struct xml_parser *xml_parser_new(const struct xml_parser_limits *limits, enum xml_parser_mode mode,
				  const struct xml_parser_callbacks *callbacks, void *ctx);
void xml_parser_free(struct xml_parser **parser);
/* Switch mode; takes effect from the next top-level element. */
void xml_parser_set_mode(struct xml_parser *parser, enum xml_parser_mode mode);
/* Feed the next chunk. Returns XML_PARSER_OK, XML_PARSER_STOPPED or an
 * error; after an error (or a stop) the parser refuses further input, returning
 * the same result, until reset. After the stream close, whitespace is ignored
 * and anything else is XML_PARSER_ERR_CLOSED. Not to be called from a callback. */
int xml_parser_feed(struct xml_parser *parser, const char *data, size_t len);
/* Free the expat parser (about 10 kB) if nothing is in progress: between
 * top-level elements with every byte seen reported, before the first byte,
 * or once the stream is over (closed, failed or stopped). The next feed makes
 * a new one that goes on with the same stream exactly where the old one was
 * (same namespace prefixes, limits, offsets and error positions). Returns
 * true when the parser holds no expat parser now. Cheap to call often, e.g.
 * on a timer for streams that have been quiet for a while; not from a
 * callback. */
bool xml_parser_release_idle(struct xml_parser *parser);
/* Forget the current stream and expect a new stream header (the mode stays).
 * Not from inside a callback: to restart from one (e.g. after SASL success),
 * return non-zero there, then reset once xml_parser_feed() has returned. */
void xml_parser_reset(struct xml_parser *parser);
/* The RFC 6120 stream error condition for a result, e.g. "not-well-formed";
 * NULL for XML_PARSER_OK and XML_PARSER_STOPPED. */
const char *xml_parser_error_condition(int result);
/* A human-readable description of the last error (expat's, or which limit). */
const char *xml_parser_error_text(const struct xml_parser *parser);

#endif
