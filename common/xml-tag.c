/* common/xml-tag.c: reading tags in already-parsed bytes (see xml-tag.h).
 *
 * The bytes are well-formed XML, so inside a tag only a quoted value can hold
 * a '>' or a '/', text never holds a '<', and a '<' in a CDATA section ends
 * at "]]>". Every scan is bounded by len.
 */
#include "xml-tag.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static bool xml_tag_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t xml_tag_end(const char *p, size_t len, bool *empty_r)
{
	char quote = 0;

	*empty_r = false;
	if (len < 3 || p[0] != '<' || p[1] == '/' || p[1] == '!' || p[1] == '?')
		return 0;
	for (size_t i = 1; i < len; i++) {
		char c = p[i];
		if (quote != 0) {
			if (c == quote)
				quote = 0;
		} else if (c == '\'' || c == '"') {
			quote = c;
		} else if (c == '>') {
			*empty_r = p[i - 1] == '/';
			return i + 1;
		}
	}
	return 0;
}

size_t xml_tag_name_len(const char *p, size_t len)
{
	size_t i = 1;

	while (i < len && !xml_tag_is_space(p[i]) && p[i] != '/' && p[i] != '>')
		i++;
	return i - 1;
}

bool xml_tag_attr(const char *p, size_t tag_len, const char *name, const char **value_r,
		  size_t *value_len_r)
{
	size_t name_len = strlen(name);
	size_t i = 1 + xml_tag_name_len(p, tag_len);

	for (;;) {
		while (i < tag_len && xml_tag_is_space(p[i]))
			i++;
		if (i >= tag_len || p[i] == '/' || p[i] == '>')
			return false;
		size_t an = i;
		while (i < tag_len && p[i] != '=' && !xml_tag_is_space(p[i]))
			i++;
		size_t an_len = i - an;
		while (i < tag_len && p[i] != '\'' && p[i] != '"')
			i++;
		if (i >= tag_len)
			return false;
		char quote = p[i++];
		const char *q = memchr(p + i, quote, tag_len - i);
		if (q == NULL)
			return false;
		if (an_len == name_len && memcmp(p + an, name, name_len) == 0) {
			*value_r = p + i;
			*value_len_r = (size_t)(q - (p + i));
			return true;
		}
		i = (size_t)(q - p) + 1;
	}
}

/* The offset just past the first occurrence of end in p[from, len), or 0. */
static size_t xml_tag_skip_to(const char *p, size_t len, size_t from, const char *end)
{
	size_t n = strlen(end);

	while (from < len) {
		const char *c = memchr(p + from, end[0], len - from);
		if (c == NULL)
			return 0;
		from = (size_t)(c - p);
		if (len - from >= n && memcmp(c, end, n) == 0)
			return from + n;
		from++;
	}
	return 0;
}

size_t xml_tag_element_end(const char *p, size_t len)
{
	bool empty;
	size_t i = xml_tag_end(p, len, &empty);
	unsigned depth = 1;

	if (i == 0 || empty)
		return i;
	while (i < len) {
		const char *lt = memchr(p + i, '<', len - i);
		if (lt == NULL)
			return 0;
		i = (size_t)(lt - p);
		if (i + 1 >= len)
			return 0;
		size_t next;
		if (p[i + 1] == '/') {
			next = xml_tag_skip_to(p, len, i, ">");
			if (next != 0 && --depth == 0)
				return next;
		} else if (p[i + 1] == '!') {
			bool cdata = len - i >= 9 && memcmp(p + i, "<![CDATA[", 9) == 0;
			next = xml_tag_skip_to(p, len, i + 2, cdata ? "]]>" : "-->");
		} else if (p[i + 1] == '?') {
			next = xml_tag_skip_to(p, len, i + 2, "?>");
		} else {
			size_t t = xml_tag_end(p + i, len - i, &empty);
			next = t != 0 ? i + t : 0;
			if (t != 0 && !empty)
				depth++;
		}
		if (next == 0)
			return 0;
		i = next;
	}
	return 0;
}

bool xml_tag_contains(const char *p, size_t len, const char *s)
{
	return xml_tag_skip_to(p, len, 0, s) != 0;
}

/* A character reference's code point ("#65", "#x41"; ref without '&' and
 * ';'), or UINT32_MAX. */
static uint32_t xml_tag_char_ref(const char *ref, size_t len)
{
	int base = 10;
	uint32_t cp = 0;
	size_t i = 1;

	if (len >= 2 && ref[1] == 'x') {
		base = 16;
		i = 2;
	}
	if (i == len || len - i > 8)
		return UINT32_MAX;
	for (; i < len; i++) {
		char c = ref[i];
		int d = c >= '0' && c <= '9'		    ? c - '0'
			: base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10
			: base == 16 && c >= 'A' && c <= 'F' ? c - 'A' + 10
							     : -1;
		if (d < 0)
			return UINT32_MAX;
		cp = cp * (uint32_t)base + (uint32_t)d;
	}
	return cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? UINT32_MAX : cp;
}

static void xml_tag_put_utf8(struct buf *out, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	buf_append(out, u, n);
}

bool xml_tag_unescape(const char *v, size_t len, struct buf *out)
{
	static const struct {
		const char *name;
		char c;
	} entities[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};

	buf_reserve(out, len);
	while (len > 0) {
		const char *amp = memchr(v, '&', len);
		size_t plain = amp != NULL ? (size_t)(amp - v) : len;
		buf_append(out, v, plain);
		v += plain;
		len -= plain;
		if (len == 0)
			break;
		const char *semi = memchr(v, ';', len);
		if (semi == NULL)
			return false;
		const char *ref = v + 1;
		size_t ref_len = (size_t)(semi - ref);
		bool done = false;
		if (ref_len > 0 && ref[0] == '#') {
			uint32_t cp = xml_tag_char_ref(ref, ref_len);
			if (cp == UINT32_MAX)
				return false;
			xml_tag_put_utf8(out, cp);
			done = true;
		}
		for (size_t i = 0; !done && i < sizeof(entities) / sizeof(entities[0]); i++) {
			if (strlen(entities[i].name) == ref_len &&
			    memcmp(entities[i].name, ref, ref_len) == 0) {
				buf_append_char(out, entities[i].c);
				done = true;
			}
		}
		if (!done)
			return false;
		len -= (size_t)(semi + 1 - v);
		v = semi + 1;
	}
	return true;
}
