/* pubsub-form.c: building and reading XEP-0004 data forms (pubsub-form.h). */
#include "pubsub-form.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "stanza.h"

struct stanza *pubsub_form_add(struct stanza *parent, const char *type, const char *form_type)
{
	struct stanza *x = stanza_add_child(parent, "x", PUBSUB_NS_DATA);

	stanza_set_attr(x, "type", type);
	if (form_type != NULL)
		pubsub_form_field(x, "FORM_TYPE", "hidden", NULL, form_type);
	return x;
}

void pubsub_form_value(struct stanza *field, const char *value)
{
	stanza_add_text(stanza_add_child(field, "value", NULL), value, strlen(value));
}

struct stanza *pubsub_form_field(struct stanza *x, const char *var, const char *type,
				 const char *label, const char *value)
{
	struct stanza *f = stanza_add_child(x, "field", NULL);

	stanza_set_attr(f, "var", var);
	if (type != NULL)
		stanza_set_attr(f, "type", type);
	if (label != NULL)
		stanza_set_attr(f, "label", label);
	if (value != NULL)
		pubsub_form_value(f, value);
	return f;
}

void pubsub_form_option(struct stanza *field, const char *value)
{
	struct stanza *o = stanza_add_child(field, "option", NULL);
	pubsub_form_value(o, value);
}

const char *pubsub_form_kind(const struct stanza *x)
{
	return stanza_get_attr(x, "type");
}

static const struct stanza *pubsub_form_find(const struct stanza *x, const char *var)
{
	for (size_t i = 0; i < x->n_children; i++) {
		const struct stanza *f = x->children[i].element;
		const char *v;
		if (f == NULL || strcmp(f->name, "field") != 0 || strcmp(f->ns, PUBSUB_NS_DATA) != 0)
			continue;
		v = stanza_get_attr(f, "var");
		if (v != NULL && strcmp(v, var) == 0)
			return f;
	}
	return NULL;
}

char *pubsub_form_get(const struct stanza *x, const char *var)
{
	const struct stanza *f = pubsub_form_find(x, var);
	struct stanza *v = f != NULL ? stanza_find_child(f, "value", PUBSUB_NS_DATA) : NULL;

	return v != NULL ? stanza_text(v) : NULL;
}

char *pubsub_form_type(const struct stanza *x)
{
	return pubsub_form_get(x, "FORM_TYPE");
}

char **pubsub_form_values(const struct stanza *field, size_t *n_r)
{
	size_t n = 0;
	char **out = xcalloc(field->n_children + 1, sizeof(*out));

	for (size_t i = 0; i < field->n_children; i++) {
		const struct stanza *v = field->children[i].element;
		if (v != NULL && strcmp(v->name, "value") == 0 && strcmp(v->ns, PUBSUB_NS_DATA) == 0)
			out[n++] = stanza_text(v);
	}
	*n_r = n;
	return out;
}

void pubsub_form_values_free(char **values)
{
	if (values == NULL)
		return;
	for (size_t i = 0; values[i] != NULL; i++)
		free(values[i]);
	free(values);
}

bool pubsub_form_parse_bool(const char *s, bool *b_r)
{
	if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0) {
		*b_r = true;
		return true;
	}
	if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0) {
		*b_r = false;
		return true;
	}
	return false;
}
