/* stanza.h: an XML element tree for stanzas, and its serializer.
 *
 * A struct stanza is one element: local name, namespace URI, attributes and
 * an ordered list of children, each a child element or a text node. Trees are
 * reference counted at the root: stanza_ref()/stanza_unref() on the element
 * you were handed; child elements belong to their parent and must not be
 * unref'd on their own. Callbacks borrow stanzas; to keep one, take a ref.
 *
 * Attribute names are "local", or "namespace-uri local" for namespaced ones;
 * STANZA_ATTR_XML_LANG names xml:lang. Text is stored unescaped (as parsed);
 * the serializer escapes it. Serialization declares xmlns only where an
 * element's namespace differs from its parent's (for the top element: from
 * the stream's default namespace passed in), and writes elements in the
 * stream namespace with the "stream:" prefix.
 *
 *   struct stanza *m = stanza_new("message", NULL);
 *   stanza_set_attr(m, "to", "juliet@example.com");
 *   stanza_add_text(stanza_add_child(m, "body", NULL), "hi", 2);
 *   struct buf out = {0};
 *   stanza_serialize(m, "jabber:client", &out);
 *   stanza_unref(&m);
 */
#ifndef JUNCTION_STANZA_H
#define JUNCTION_STANZA_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

#define STANZA_ATTR_XML_LANG "http://www.w3.org/XML/1998/namespace lang"
#define STANZA_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define STANZA_NS_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"

struct stanza_attr {
	char *name;
	char *value;
};

struct stanza_node {
	struct stanza *element; /* exactly one of element/text is set */
	char *text;
	size_t text_len;
};

struct stanza {
	unsigned refs; /* only meaningful on a root */
	char *name;
	char *ns; /* never NULL: "" when the element has no namespace */
	struct stanza *parent;
	struct stanza_attr *attrs;
	size_t n_attrs, cap_attrs;
	struct stanza_node *children;
	size_t n_children, cap_children;
};

/* ns NULL means "" (inherit nothing). */
struct stanza *stanza_new(const char *name, const char *ns);
struct stanza *stanza_ref(struct stanza *st);
/* Drop a reference on a root and set *st to NULL. */
void stanza_unref(struct stanza **st);
/* A deep copy, as a new root with one reference. */
struct stanza *stanza_copy(const struct stanza *st);

/* Returns NULL when absent. The pointer lives until the attribute changes. */
const char *stanza_get_attr(const struct stanza *st, const char *name);
/* Set (or replace) an attribute; value NULL removes it. */
void stanza_set_attr(struct stanza *st, const char *name, const char *value);

/* Append a new child element (ns NULL: same namespace as st) and return it;
 * it belongs to st. */
struct stanza *stanza_add_child(struct stanza *st, const char *name, const char *ns);
/* Append a copy of child (a root) as the last child of st. */
void stanza_append_copy(struct stanza *st, const struct stanza *child);
void stanza_add_text(struct stanza *st, const char *text, size_t len);
/* First child element with this name (and namespace, unless ns is NULL). */
struct stanza *stanza_find_child(const struct stanza *st, const char *name, const char *ns);
/* Remove and free child, a child element of st (pointers into it die). */
void stanza_remove_child(struct stanza *st, struct stanza *child);
/* The n-th child element (text skipped), or NULL. */
struct stanza *stanza_child_element(const struct stanza *st, size_t n);
size_t stanza_count_child_elements(const struct stanza *st);
/* Move st and every descendant whose namespace is from into namespace to
 * (e.g. a stanza unwrapped from another stream's namespace). */
void stanza_rename_ns(struct stanza *st, const char *from, const char *to);
/* The concatenated direct text children, newly allocated (caller frees). */
char *stanza_text(const struct stanza *st);
/* True when a and b have the same name, namespace, attribute set (in any
 * order) and children in the same order. Compares subtrees; refs ignored. */
bool stanza_equal(const struct stanza *a, const struct stanza *b);

/* Serialize st (and its subtree) appending to out. default_ns is the
 * namespace in scope where it will be written (e.g. "jabber:client"); NULL
 * means none. Namespaced attributes other than xml: get prefixes ns1, ns2...
 * declared on their own element; attributes named xmlns or xmlns:* are not
 * written (an element's namespace is its ns field). */
void stanza_serialize(const struct stanza *st, const char *default_ns, struct buf *out);

/* Parse one standalone element (e.g. raw bytes of a stanza) whose unprefixed
 * names are in default_ns. Returns 0 and a new root in *st_r, or a negative
 * xml_parser_result (XML_PARSER_ERR_BAD_FORMAT when xml is not exactly one
 * element, whitespace around it aside). The "stream:" prefix is bound to
 * XML_NS_STREAM; depth and attribute limits are xml-parser's defaults. */
int stanza_parse(const char *xml, size_t len, const char *default_ns, struct stanza **st_r);

/* Build the error reply to st (RFC 6120 8.3): same element name and id,
 * to/from swapped, type="error", st's children copied, then
 * <error type=TYPE><CONDITION xmlns=STANZA_NS_STANZAS/><text>TEXT</text></error>.
 * type is "cancel", "modify", "auth", "wait" or "continue"; text may be NULL.
 * The caller must not call this for a stanza whose type is already "error". */
struct stanza *stanza_error_reply(const struct stanza *st, const char *type, const char *condition,
				  const char *text);

#endif
