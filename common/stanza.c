/* common/stanza.c: the stanza element tree, its serializer, stanza_parse()
 * (which reuses xml-parser so there is exactly one XML reader) and the
 * RFC 6120 error reply builder.
 */
#include "stanza.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xml-parser.h"

#define STANZA_NS_XML	"http://www.w3.org/XML/1998/namespace"
#define STANZA_NS_XMLNS "http://www.w3.org/2000/xmlns/"

struct stanza *stanza_new(const char *name, const char *ns)
{
	struct stanza *st = xcalloc(1, sizeof(*st));
	st->refs = 1;
	st->name = xstrdup(name);
	st->ns = xstrdup(ns != NULL ? ns : "");
	return st;
}

struct stanza *stanza_ref(struct stanza *st)
{
	/* Only roots are counted: a child lives exactly as long as its root. */
	assert(st->parent == NULL);
	assert(st->refs > 0);
	st->refs++;
	return st;
}

/* Free an element and its subtree, whatever its reference count. */
static void stanza_destroy(struct stanza *st)
{
	for (size_t i = 0; i < st->n_children; i++) {
		if (st->children[i].element != NULL)
			stanza_destroy(st->children[i].element);
		free(st->children[i].text);
	}
	free(st->children);
	for (size_t i = 0; i < st->n_attrs; i++) {
		free(st->attrs[i].name);
		free(st->attrs[i].value);
	}
	free(st->attrs);
	free(st->name);
	free(st->ns);
	free(st);
}

void stanza_unref(struct stanza **stp)
{
	struct stanza *st = *stp;
	if (st == NULL)
		return;
	*stp = NULL;
	assert(st->parent == NULL);
	assert(st->refs > 0);
	if (--st->refs == 0)
		stanza_destroy(st);
}

/* Append a node slot to st and return it, zeroed. */
static struct stanza_node *stanza_new_node(struct stanza *st)
{
	if (st->n_children == st->cap_children) {
		st->cap_children = st->cap_children ? st->cap_children * 2 : 4;
		st->children = xrealloc(st->children, st->cap_children * sizeof(*st->children));
	}
	struct stanza_node *node = &st->children[st->n_children++];
	memset(node, 0, sizeof(*node));
	return node;
}

/* Copy src's attributes and children (not its name) into dst. */
static void stanza_copy_contents(struct stanza *dst, const struct stanza *src)
{
	for (size_t i = 0; i < src->n_attrs; i++)
		stanza_set_attr(dst, src->attrs[i].name, src->attrs[i].value);
	for (size_t i = 0; i < src->n_children; i++) {
		const struct stanza_node *node = &src->children[i];
		if (node->element != NULL)
			stanza_append_copy(dst, node->element);
		else
			stanza_add_text(dst, node->text, node->text_len);
	}
}

struct stanza *stanza_copy(const struct stanza *st)
{
	struct stanza *copy = stanza_new(st->name, st->ns);
	stanza_copy_contents(copy, st);
	return copy;
}

const char *stanza_get_attr(const struct stanza *st, const char *name)
{
	for (size_t i = 0; i < st->n_attrs; i++) {
		if (strcmp(st->attrs[i].name, name) == 0)
			return st->attrs[i].value;
	}
	return NULL;
}

void stanza_set_attr(struct stanza *st, const char *name, const char *value)
{
	for (size_t i = 0; i < st->n_attrs; i++) {
		if (strcmp(st->attrs[i].name, name) != 0)
			continue;
		if (value == NULL) {
			free(st->attrs[i].name);
			free(st->attrs[i].value);
			/* Keep the order of the rest: it is the order we serialize in. */
			memmove(&st->attrs[i], &st->attrs[i + 1],
				(st->n_attrs - i - 1) * sizeof(*st->attrs));
			st->n_attrs--;
		} else {
			char *copy = xstrdup(value);
			free(st->attrs[i].value);
			st->attrs[i].value = copy;
		}
		return;
	}
	if (value == NULL)
		return;
	if (st->n_attrs == st->cap_attrs) {
		st->cap_attrs = st->cap_attrs ? st->cap_attrs * 2 : 4;
		st->attrs = xrealloc(st->attrs, st->cap_attrs * sizeof(*st->attrs));
	}
	st->attrs[st->n_attrs].name = xstrdup(name);
	st->attrs[st->n_attrs].value = xstrdup(value);
	st->n_attrs++;
}

struct stanza *stanza_add_child(struct stanza *st, const char *name, const char *ns)
{
	struct stanza *child = stanza_new(name, ns != NULL ? ns : st->ns);
	child->refs = 0;
	child->parent = st;
	stanza_new_node(st)->element = child;
	return child;
}

void stanza_append_copy(struct stanza *st, const struct stanza *child)
{
	struct stanza *copy = stanza_add_child(st, child->name, child->ns);
	stanza_copy_contents(copy, child);
}

/* Adjacent text is merged into one node, so a tree never holds two text
 * nodes in a row: comparing trees and reading text stays simple. */
void stanza_add_text(struct stanza *st, const char *text, size_t len)
{
	if (len == 0)
		return;
	struct stanza_node *last = st->n_children ? &st->children[st->n_children - 1] : NULL;
	if (last != NULL && last->element == NULL) {
		last->text = xrealloc(last->text, last->text_len + len + 1);
		memcpy(last->text + last->text_len, text, len);
		last->text_len += len;
		last->text[last->text_len] = '\0';
		return;
	}
	struct stanza_node *node = stanza_new_node(st);
	node->text = xmalloc(len + 1);
	memcpy(node->text, text, len);
	node->text[len] = '\0';
	node->text_len = len;
}

struct stanza *stanza_find_child(const struct stanza *st, const char *name, const char *ns)
{
	for (size_t i = 0; i < st->n_children; i++) {
		struct stanza *el = st->children[i].element;
		if (el != NULL && strcmp(el->name, name) == 0 &&
		    (ns == NULL || strcmp(el->ns, ns) == 0))
			return el;
	}
	return NULL;
}

void stanza_remove_child(struct stanza *st, struct stanza *child)
{
	for (size_t i = 0; i < st->n_children; i++) {
		if (st->children[i].element != child)
			continue;
		stanza_destroy(child);
		memmove(&st->children[i], &st->children[i + 1],
			(st->n_children - i - 1) * sizeof(st->children[0]));
		st->n_children--;
		return;
	}
	assert(!"stanza_remove_child: not a child");
}

struct stanza *stanza_child_element(const struct stanza *st, size_t n)
{
	for (size_t i = 0; i < st->n_children; i++) {
		struct stanza *el = st->children[i].element;
		if (el != NULL && n-- == 0)
			return el;
	}
	return NULL;
}

size_t stanza_count_child_elements(const struct stanza *st)
{
	size_t n = 0;
	for (size_t i = 0; i < st->n_children; i++)
		n += st->children[i].element != NULL;
	return n;
}

char *stanza_text(const struct stanza *st)
{
	struct buf b = {0};
	for (size_t i = 0; i < st->n_children; i++) {
		if (st->children[i].element == NULL)
			buf_append(&b, st->children[i].text, st->children[i].text_len);
	}
	return buf_steal(&b);
}

bool stanza_equal(const struct stanza *a, const struct stanza *b)
{
	if (strcmp(a->name, b->name) != 0 || strcmp(a->ns, b->ns) != 0)
		return false;
	if (a->n_attrs != b->n_attrs || a->n_children != b->n_children)
		return false;
	/* Names are unique within an element, so equal counts plus "each of
	 * a's is in b with the same value" means equal sets. */
	for (size_t i = 0; i < a->n_attrs; i++) {
		const char *v = stanza_get_attr(b, a->attrs[i].name);
		if (v == NULL || strcmp(v, a->attrs[i].value) != 0)
			return false;
	}
	for (size_t i = 0; i < a->n_children; i++) {
		const struct stanza_node *x = &a->children[i], *y = &b->children[i];
		if ((x->element == NULL) != (y->element == NULL))
			return false;
		if (x->element != NULL) {
			if (!stanza_equal(x->element, y->element))
				return false;
		} else if (x->text_len != y->text_len ||
			   memcmp(x->text, y->text, x->text_len) != 0) {
			return false;
		}
	}
	return true;
}

/* The prefix an element is written with: the stream prefix is declared by
 * the stream header, and the xml prefix is bound by XML itself (it may not
 * be declared as a default namespace), so neither gets an xmlns. */
static const char *stanza_element_prefix(const struct stanza *st)
{
	if (strcmp(st->ns, XML_NS_STREAM) == 0)
		return "stream:";
	if (strcmp(st->ns, STANZA_NS_XML) == 0)
		return "xml:";
	return NULL;
}

static void stanza_serialize_attr(struct buf *out, const char *prefix, size_t prefix_len,
				  const char *local, const char *value)
{
	buf_append_char(out, ' ');
	buf_append(out, prefix, prefix_len);
	buf_append_str(out, local);
	buf_append_str(out, "='");
	buf_append_xml_escaped(out, value, strlen(value), true);
	buf_append_char(out, '\'');
}

/* Write the attributes of st. Namespaced ones (other than xml:) get
 * prefixes ns1, ns2, ... declared on this very element, so the output never
 * depends on declarations made elsewhere. */
static void stanza_serialize_attrs(const struct stanza *st, struct buf *out)
{
	const char **uris = NULL; /* uris[k] is bound to prefix ns<k+1> */
	size_t *uri_lens = NULL, n_uris = 0;
	char prefix[32];

	for (size_t i = 0; i < st->n_attrs; i++) {
		const char *name = st->attrs[i].name, *value = st->attrs[i].value;
		const char *sp = strrchr(name, ' ');
		if (sp == NULL) {
			/* The namespace is the element's ns field, never an attribute. */
			if (strcmp(name, "xmlns") == 0 || strncmp(name, "xmlns:", 6) == 0)
				continue;
			stanza_serialize_attr(out, "", 0, name, value);
			continue;
		}
		size_t uri_len = (size_t)(sp - name);
		if (uri_len == strlen(STANZA_NS_XML) && memcmp(name, STANZA_NS_XML, uri_len) == 0) {
			stanza_serialize_attr(out, "xml:", 4, sp + 1, value);
			continue;
		}
		if (uri_len == strlen(STANZA_NS_XMLNS) &&
		    memcmp(name, STANZA_NS_XMLNS, uri_len) == 0)
			continue;
		size_t k;
		for (k = 0; k < n_uris; k++) {
			if (uri_lens[k] == uri_len && memcmp(uris[k], name, uri_len) == 0)
				break;
		}
		if (k == n_uris) {
			if (uris == NULL) {
				uris = xmalloc(st->n_attrs * sizeof(*uris));
				uri_lens = xmalloc(st->n_attrs * sizeof(*uri_lens));
			}
			uris[n_uris] = name;
			uri_lens[n_uris] = uri_len;
			n_uris++;
			buf_printf(out, " xmlns:ns%zu='", k + 1);
			buf_append_xml_escaped(out, name, uri_len, true);
			buf_append_char(out, '\'');
		}
		int plen = snprintf(prefix, sizeof(prefix), "ns%zu:", k + 1);
		stanza_serialize_attr(out, prefix, (size_t)plen, sp + 1, value);
	}
	free(uris);
	free(uri_lens);
}

/* default_ns is the default namespace in scope where st is written. */
static void stanza_serialize_element(const struct stanza *st, const char *default_ns,
				     struct buf *out)
{
	const char *prefix = stanza_element_prefix(st);
	const char *child_default = default_ns;

	buf_append_char(out, '<');
	if (prefix != NULL)
		buf_append_str(out, prefix);
	buf_append_str(out, st->name);
	if (prefix == NULL && strcmp(st->ns, default_ns) != 0) {
		/* Also covers st->ns == "": xmlns='' undeclares the default. */
		buf_append_str(out, " xmlns='");
		buf_append_xml_escaped(out, st->ns, strlen(st->ns), true);
		buf_append_char(out, '\'');
		child_default = st->ns;
	}
	stanza_serialize_attrs(st, out);
	if (st->n_children == 0) {
		buf_append_str(out, "/>");
		return;
	}
	buf_append_char(out, '>');
	for (size_t i = 0; i < st->n_children; i++) {
		const struct stanza_node *node = &st->children[i];
		if (node->element != NULL)
			stanza_serialize_element(node->element, child_default, out);
		else
			buf_append_xml_escaped(out, node->text, node->text_len, false);
	}
	buf_append_str(out, "</");
	if (prefix != NULL)
		buf_append_str(out, prefix);
	buf_append_str(out, st->name);
	buf_append_char(out, '>');
}

void stanza_serialize(const struct stanza *st, const char *default_ns, struct buf *out)
{
	stanza_serialize_element(st, default_ns != NULL ? default_ns : "", out);
}

/* State of one stanza_parse() run. */
struct stanza_parse_ctx {
	struct stanza *st;
	size_t n_elements;
	bool closed;
};

static int stanza_parse_on_stanza(void *ctx, const struct xml_parser_stanza *ev)
{
	struct stanza_parse_ctx *pc = ctx;
	if (++pc->n_elements > 1)
		return 1; /* more than one element: stop, reported as bad-format */
	pc->st = stanza_ref(ev->tree);
	return 0;
}

static int stanza_parse_on_close(void *ctx)
{
	struct stanza_parse_ctx *pc = ctx;
	pc->closed = true;
	return 0;
}

int stanza_parse(const char *xml, size_t len, const char *default_ns, struct stanza **st_r)
{
	static const char close_tag[] = "</stream:stream>";
	struct stanza_parse_ctx pc = {0};
	struct xml_parser_callbacks cbs = {
		.stanza = stanza_parse_on_stanza,
		.stream_close = stanza_parse_on_close,
	};
	struct buf header = {0};
	struct xml_parser *parser = NULL;
	int r;

	*st_r = NULL;
	buf_append_str(&header, "<stream:stream");
	if (default_ns != NULL && default_ns[0] != '\0') {
		buf_append_str(&header, " xmlns='");
		buf_append_xml_escaped(&header, default_ns, strlen(default_ns), true);
		buf_append_char(&header, '\'');
	}
	buf_append_str(&header, " xmlns:stream='" XML_NS_STREAM "'>");

	/* The input is already in memory, so the byte limit only needs to let
	 * it through; depth and attribute limits stay at their defaults. */
	struct xml_parser_limits limits = {
		.max_stanza_bytes =
			len > SIZE_MAX - header.len - 64 ? SIZE_MAX : len + header.len + 64,
	};
	parser = xml_parser_new(&limits, XML_PARSER_MODE_TREE, &cbs, &pc);

	r = xml_parser_feed(parser, header.data, header.len);
	if (r < 0)
		goto out;
	r = xml_parser_feed(parser, xml, len);
	if (r == 0 && pc.closed)
		r = XML_PARSER_ERR_NOT_WELL_FORMED; /* the input closed our wrapper */
	if (r < 0)
		goto out;
	r = xml_parser_feed(parser, close_tag, sizeof(close_tag) - 1);
	if (r < 0)
		goto out;
	if (!pc.closed)
		r = XML_PARSER_ERR_NOT_WELL_FORMED;
	else if (pc.n_elements != 1)
		r = XML_PARSER_ERR_BAD_FORMAT;
out:
	if (r == XML_PARSER_STOPPED)
		r = XML_PARSER_ERR_BAD_FORMAT;
	if (r == 0)
		*st_r = pc.st;
	else
		stanza_unref(&pc.st);
	xml_parser_free(&parser);
	buf_free(&header);
	return r;
}

struct stanza *stanza_error_reply(const struct stanza *st, const char *type, const char *condition,
				  const char *text)
{
	const char *to = stanza_get_attr(st, "to");
	const char *from = stanza_get_attr(st, "from");
	const char *id = stanza_get_attr(st, "id");
	struct stanza *reply = stanza_new(st->name, st->ns);

	if (from != NULL)
		stanza_set_attr(reply, "to", from);
	if (to != NULL)
		stanza_set_attr(reply, "from", to);
	if (id != NULL)
		stanza_set_attr(reply, "id", id);
	stanza_set_attr(reply, "type", "error");
	for (size_t i = 0; i < st->n_children; i++) {
		const struct stanza_node *node = &st->children[i];
		if (node->element != NULL)
			stanza_append_copy(reply, node->element);
		else
			stanza_add_text(reply, node->text, node->text_len);
	}

	struct stanza *error = stanza_add_child(reply, "error", NULL);
	stanza_set_attr(error, "type", type);
	stanza_add_child(error, condition, STANZA_NS_STANZAS);
	if (text != NULL) {
		struct stanza *t = stanza_add_child(error, "text", STANZA_NS_STANZAS);
		stanza_add_text(t, text, strlen(text));
	}
	return reply;
}

void stanza_rename_ns(struct stanza *st, const char *from, const char *to)
{
	if (strcmp(st->ns, from) == 0) {
		free(st->ns);
		st->ns = xstrdup(to);
	}
	for (size_t i = 0; i < st->n_children; i++) {
		if (st->children[i].element != NULL)
			stanza_rename_ns(st->children[i].element, from, to);
	}
}
