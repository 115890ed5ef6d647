/* buf.h: a growable byte buffer, the one string builder every module uses.
 *
 * A struct buf is a plain value: zero-initialise it (struct buf b = {0};),
 * append to it, read b.data/b.len, and buf_free() it. data is always
 * NUL-terminated after any append (the NUL is not counted in len), so text
 * built here can be passed to printf-style functions directly.
 * Allocation failure aborts the process: Junction treats out-of-memory as
 * fatal, like most servers, rather than threading ENOMEM through every path.
 *
 *   struct buf b = {0};
 *   buf_append_str(&b, "<message to='");
 *   buf_append_xml_escaped(&b, to, strlen(to), true);
 *   ...
 *   conn_send(c, b.data, b.len);
 *   buf_free(&b);
 */
#ifndef JUNCTION_BUF_H
#define JUNCTION_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Escape XML text (&, <, >) or, when attr is true, an attribute value
 * quoted with ' (also ' and "). CR in text, and TAB, LF, CR in attributes,
 * become character references so that a parser reads them back unchanged. */
void buf_append_xml_escaped(struct buf *b, const char *s, size_t len, bool attr);
/* Drop the first n bytes (n <= len), keeping the rest. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Hand the storage to the caller (who free()s it) and reset b. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

/* Like malloc/calloc/strdup/realloc but abort on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
