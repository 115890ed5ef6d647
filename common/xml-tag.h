/* xml-tag.h: reading tags in bytes that a parser has already checked.
 *
 * For hot paths that handle a stanza as the bytes xml-parser reported for it
 * (raw/raw_len, well-formed and namespace-valid) instead of as a tree: find
 * where a start tag or an element ends and read an attribute's value as
 * written (still escaped). Nothing here validates XML: given bytes that are
 * not well-formed, the answers are merely "not found" or wrong, never a read
 * outside [p, p + len).
 *
 *   size_t tag = xml_tag_end(raw, raw_len, &empty);      // 0: not a start tag
 *   if (xml_tag_attr(raw, tag, "sid", &v, &vlen)) ...     // v is escaped text
 *   size_t el = xml_tag_element_end(raw, raw_len);       // first element's length
 */
#ifndef JUNCTION_XML_TAG_H
#define JUNCTION_XML_TAG_H

#include <stdbool.h>
#include <stddef.h>

/* p starts with a start tag ("<name ...>" or "<name .../>"): its length, up to
 * and including the '>', with *empty_r true for "/>". 0 when p does not start
 * with a start tag or it does not end within len. */
size_t xml_tag_end(const char *p, size_t len, bool *empty_r);
/* The length of the tag's name (p[1] on), up to whitespace, '/' or '>'. */
size_t xml_tag_name_len(const char *p, size_t len);
/* In the start tag [p, p + tag_len), the value of the attribute written
 * exactly as name (qualified names compare as written): *value_r points into
 * p, *value_len_r bytes, still escaped. False when absent. */
bool xml_tag_attr(const char *p, size_t tag_len, const char *name, const char **value_r,
		  size_t *value_len_r);
/* p starts with an element: its length, from its start tag to the end of
 * its end tag (text, CDATA sections and child elements included). 0 when p
 * does not start with a start tag or the element does not end within len. */
size_t xml_tag_element_end(const char *p, size_t len);
/* Append the text of an attribute value or text as written (v, len) to out,
 * references resolved (the five predefined entities and character
 * references, as UTF-8). False, with out partly written, on a reference it
 * cannot resolve. */
struct buf;
bool xml_tag_unescape(const char *v, size_t len, struct buf *out);
/* Whether s occurs in [p, p + len). */
bool xml_tag_contains(const char *p, size_t len, const char *s);

#endif
