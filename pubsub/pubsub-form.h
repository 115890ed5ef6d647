/* pubsub-form.h: the few XEP-0004 data form operations pubsub needs.
 *
 * Forms are stanza trees (<x xmlns='jabber:x:data'>). Builders append to a
 * parent the caller owns and return the new element, which belongs to that
 * parent. Readers return newly allocated strings the caller frees.
 *
 *   struct stanza *x = pubsub_form_add(parent, "form", PUBSUB_NS_NODE_CONFIG);
 *   pubsub_form_field(x, "pubsub#title", "text-single", "A title", "");
 *   char *v = pubsub_form_get(x, "pubsub#title");
 */
#ifndef JUNCTION_PUBSUB_FORM_H
#define JUNCTION_PUBSUB_FORM_H

#include <stdbool.h>
#include <stddef.h>

struct stanza;

#define PUBSUB_NS_DATA "jabber:x:data"

/* <x xmlns='jabber:x:data' type=TYPE> with a hidden FORM_TYPE field (none
 * when form_type is NULL), appended to parent. */
struct stanza *pubsub_form_add(struct stanza *parent, const char *type, const char *form_type);
/* <field var type label><value>value</value></field>; type, label and
 * value may be NULL (left out). */
struct stanza *pubsub_form_field(struct stanza *x, const char *var, const char *type,
				 const char *label, const char *value);
void pubsub_form_value(struct stanza *field, const char *value);
void pubsub_form_option(struct stanza *field, const char *value);

/* The form's type attribute ("submit", "cancel", ...), NULL when absent. */
const char *pubsub_form_kind(const struct stanza *x);
/* The value of the hidden FORM_TYPE field, NULL when there is none. */
char *pubsub_form_type(const struct stanza *x);
/* The first value of field var, NULL when the field or value is absent. */
char *pubsub_form_get(const struct stanza *x, const char *var);
/* The values of one <field/>, as a NULL-terminated array; *n_r gets the
 * count. Free with pubsub_form_values_free(). */
char **pubsub_form_values(const struct stanza *field, size_t *n_r);
void pubsub_form_values_free(char **values);
/* XEP-0004 boolean: 1/true or 0/false. */
bool pubsub_form_parse_bool(const char *s, bool *b_r);

#endif
