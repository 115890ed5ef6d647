/* common/xml-tag.c: reading tags in already-parsed bytes (see xml-tag.h).
 *
 * The bytes are well-formed XML, so inside a tag only a quoted value can hold
 * a '>' or a '/', text never holds a '<', and a '<' in a CDATA section ends
 * at "]]>". Every scan is bounded by len.
 */
#include "xml-tag.h"

#include <string.h>

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
