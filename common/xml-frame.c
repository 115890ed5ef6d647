/* common/xml-frame.c: top-level elements of an already-checked stream
 * (see xml-frame.h).
 *
 * Bytes of an element not yet complete wait in `in`; a chunk that holds only
 * complete elements is handled where it lies, without a copy. An unfinished
 * element is scanned again from its start on every chunk, which is cheap for
 * the router's large writes; max_bytes bounds it.
 */
#include "xml-frame.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xml-tag.h"

enum xml_frame_head {
	XML_FRAME_NAME,
	XML_FRAME_NS,
	XML_FRAME_TO,
	XML_FRAME_FROM,
	XML_FRAME_TYPE,
	XML_FRAME_ID,
	XML_FRAME_N,
};

static const char *const xml_frame_attrs[XML_FRAME_N] = {NULL, NULL, "to", "from", "type", "id"};

struct xml_frame {
	struct xml_parser_callbacks cbs;
	void *ctx;
	char *default_ns;
	size_t max_bytes;
	struct buf in;	 /* the unfinished element */
	struct buf head; /* the current element's head, NUL-separated */
	int result;
	bool closed;
};

struct xml_frame *xml_frame_new(const struct xml_parser_callbacks *callbacks, void *ctx,
				const char *default_ns, size_t max_bytes)
{
	struct xml_frame *f = xcalloc(1, sizeof(*f));

	f->cbs = *callbacks;
	f->ctx = ctx;
	f->default_ns = xstrdup(default_ns != NULL ? default_ns : "");
	f->max_bytes = max_bytes != 0 ? max_bytes : XML_PARSER_DEFAULT_MAX_STANZA_BYTES;
	return f;
}

void xml_frame_free(struct xml_frame **framep)
{
	struct xml_frame *f = *framep;

	if (f == NULL)
		return;
	*framep = NULL;
	free(f->default_ns);
	buf_free(&f->in);
	buf_free(&f->head);
	free(f);
}

static bool xml_frame_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Read the head of the element [p, p + len) into ev (pointers into f->head
 * and p). False when it cannot be read. */
static bool xml_frame_head(struct xml_frame *f, const char *p, size_t len,
			   struct xml_parser_stanza *ev)
{
	size_t off[XML_FRAME_N];
	bool empty;
	size_t tag = xml_tag_end(p, len, &empty);
	size_t name_len = xml_tag_name_len(p, tag);
	const char *name = p + 1, *colon = memchr(name, ':', name_len);
	const char *v;
	size_t vlen;

	buf_reset(&f->head);
	for (int i = 0; i < XML_FRAME_N; i++)
		off[i] = SIZE_MAX;
	off[XML_FRAME_NAME] = 0;
	if (colon != NULL) {
		/* Only the stream prefix is bound (the caller made sure). */
		if ((size_t)(colon - name) != 6 || memcmp(name, "stream", 6) != 0)
			return false;
		buf_append(&f->head, colon + 1, name_len - 7);
		buf_append_char(&f->head, '\0');
		off[XML_FRAME_NS] = f->head.len;
		buf_append_str(&f->head, XML_NS_STREAM);
	} else {
		buf_append(&f->head, name, name_len);
		buf_append_char(&f->head, '\0');
		off[XML_FRAME_NS] = f->head.len;
		if (xml_tag_attr(p, tag, "xmlns", &v, &vlen)) {
			if (!xml_tag_unescape(v, vlen, &f->head))
				return false;
		} else {
			buf_append_str(&f->head, f->default_ns);
		}
	}
	buf_append_char(&f->head, '\0');
	for (int i = XML_FRAME_TO; i < XML_FRAME_N; i++) {
		if (!xml_tag_attr(p, tag, xml_frame_attrs[i], &v, &vlen))
			continue;
		off[i] = f->head.len;
		if (!xml_tag_unescape(v, vlen, &f->head))
			return false;
		buf_append_char(&f->head, '\0');
	}
	const char **fields[XML_FRAME_N] = {&ev->name, &ev->ns,	  &ev->to,
					    &ev->from, &ev->type, &ev->id};
	for (int i = 0; i < XML_FRAME_N; i++)
		*fields[i] = off[i] == SIZE_MAX ? NULL : f->head.data + off[i];
	ev->raw = p;
	ev->raw_len = len;
	ev->tree = NULL;
	return true;
}

/* The complete elements in [p, p + len): returns how many bytes were used
 * (the rest is an unfinished element), or sets f->result. */
static size_t xml_frame_run(struct xml_frame *f, const char *p, size_t len)
{
	size_t off = 0;

	while (f->result == 0) {
		while (off < len && xml_frame_is_space(p[off]))
			off++;
		if (off == len)
			break;
		if (f->closed) {
			f->result = XML_PARSER_ERR_CLOSED;
			break;
		}
		if (p[off] != '<') {
			f->result = XML_PARSER_ERR_BAD_FORMAT;
			break;
		}
		if (len - off < 2)
			break;
		if (p[off + 1] == '/') {
			/* Between elements, only the stream's end tag. */
			const char *gt = memchr(p + off, '>', len - off);
			if (gt == NULL)
				break;
			off = (size_t)(gt - p) + 1;
			f->closed = true;
			if (f->cbs.stream_close != NULL && f->cbs.stream_close(f->ctx) != 0)
				f->result = XML_PARSER_STOPPED;
			continue;
		}
		size_t n = xml_tag_element_end(p + off, len - off);
		if (n == 0 || n > f->max_bytes) {
			if (n > f->max_bytes || len - off > f->max_bytes)
				f->result = XML_PARSER_ERR_POLICY;
			break;
		}
		struct xml_parser_stanza ev;
		if (!xml_frame_head(f, p + off, n, &ev)) {
			f->result = XML_PARSER_ERR_BAD_FORMAT;
			break;
		}
		off += n;
		if (f->cbs.stanza != NULL && f->cbs.stanza(f->ctx, &ev) != 0)
			f->result = XML_PARSER_STOPPED;
	}
	return off;
}

int xml_frame_feed(struct xml_frame *f, const char *data, size_t len)
{
	if (f->result != 0)
		return f->result;
	if (f->in.len == 0) {
		size_t used = xml_frame_run(f, data, len);
		if (f->result == 0)
			buf_append(&f->in, data + used, len - used);
	} else {
		buf_append(&f->in, data, len);
		size_t used = xml_frame_run(f, f->in.data, f->in.len);
		if (f->result == 0)
			buf_consume(&f->in, used);
	}
	if (f->in.len == 0 && f->in.cap > 64 * 1024)
		buf_free(&f->in);
	return f->result;
}
