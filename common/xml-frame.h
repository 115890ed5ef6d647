/* xml-frame.h: cutting a stream that was already checked into its top-level
 * elements, without parsing them.
 *
 * For a component's link from the router (common/component.c): the router
 * parsed every byte it forwards (and serialises whatever it writes itself), so
 * what arrives is well-formed and each stanza's bytes stand alone. Parsing it
 * all again costs the receiver as much as it cost the router; xml_frame only
 * finds where each element ends (xml-tag.h) and reads its head: the same
 * events as xml-parser's XML_PARSER_MODE_HEAD (name, namespace, to/from/type/
 * id, raw bytes; tree always NULL), then the stream close. It checks nothing
 * an XML parser would: never use it on bytes from anyone but the router.
 *
 *   struct xml_frame *f = xml_frame_new(&callbacks, ctx, "jabber:component:accept", max);
 *   r = xml_frame_feed(f, data, len);   // like xml_parser_feed()
 *   xml_frame_free(&f);
 */
#ifndef JUNCTION_XML_FRAME_H
#define JUNCTION_XML_FRAME_H

#include <stddef.h>

#include "xml-parser.h"

struct xml_frame;

/* default_ns: the stream header's default namespace (copied); elements with
 * the "stream" prefix are in XML_NS_STREAM. max_bytes: the longest element
 * (0: XML_PARSER_DEFAULT_MAX_STANZA_BYTES). Only the stanza and stream_close
 * callbacks are used. */
struct xml_frame *xml_frame_new(const struct xml_parser_callbacks *callbacks, void *ctx,
				const char *default_ns, size_t max_bytes);
void xml_frame_free(struct xml_frame **frame);
/* Feed the next chunk: XML_PARSER_OK, XML_PARSER_STOPPED (a callback returned
 * non-zero; the rest of the chunk is dropped), XML_PARSER_ERR_BAD_FORMAT (text
 * between elements, or an element whose head cannot be read: an unknown
 * prefix or reference), XML_PARSER_ERR_POLICY (an element over max_bytes) or
 * XML_PARSER_ERR_CLOSED (after the stream close). Sticky, like the parser's. */
int xml_frame_feed(struct xml_frame *frame, const char *data, size_t len);

#endif
