/* common/buf.c: the growable byte buffer and the aborting allocation helpers.
 *
 * Growth doubles the capacity so that a sequence of appends costs amortised
 * O(1) per byte; every module builds its output here, so that matters.
 */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Out-of-memory is fatal in Junction (see buf.h): report and abort so the
 * supervisor restarts the process rather than limping on. */
static void buf_oom(size_t n)
{
	fprintf(stderr, "junction: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		buf_oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		buf_oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		buf_oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = xmalloc(len + 1);
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* Make room for extra more bytes plus the terminating NUL. */
void buf_reserve(struct buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len - 1)
		buf_oom(SIZE_MAX);
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_append_char(struct buf *b, char c)
{
	buf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	/* Try in the space we have; only when it does not fit, grow to the
	 * exact size and format again. */
	buf_reserve(b, 0);
	size_t room = b->cap - b->len;
	int n = vsnprintf(b->data + b->len, room, fmt, ap);
	if (n < 0) {
		/* Only an invalid format gets here: keep the buffer unchanged. */
		b->data[b->len] = '\0';
		va_end(ap2);
		return;
	}
	if ((size_t)n >= room) {
		buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	}
	va_end(ap2);
	b->len += (size_t)n;
}

/* Escapes go beyond the three (or five) mandatory characters for CR in text
 * and TAB/LF/CR in attributes: a parser normalises those when they appear
 * literally, so only a character reference brings them back unchanged. */
void buf_append_xml_escaped(struct buf *b, const char *s, size_t len, bool attr)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		const char *rep;
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '\r':
			rep = "&#13;";
			break;
		case '\'':
			rep = attr ? "&apos;" : NULL;
			break;
		case '"':
			rep = attr ? "&quot;" : NULL;
			break;
		case '\t':
			rep = attr ? "&#9;" : NULL;
			break;
		case '\n':
			rep = attr ? "&#10;" : NULL;
			break;
		default:
			rep = NULL;
			break;
		}
		if (rep == NULL)
			continue;
		buf_append(b, s + start, i - start);
		buf_append_str(b, rep);
		start = i + 1;
	}
	buf_append(b, s + start, len - start);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n == 0)
		return;
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

char *buf_steal(struct buf *b)
{
	char *data = b->data != NULL ? b->data : xstrdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return data;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
