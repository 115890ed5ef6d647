/* pubsub-node-config.c: node configuration fields, defaults, forms and
 * preconditions (see pubsub-node-config.h). */
#include "pubsub-node-config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pubsub-form.h"
#include "stanza.h"

#define PUBSUB_NS_NODE_CONFIG "http://jabber.org/protocol/pubsub#node_config"
#define PUBSUB_NS_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"

enum pubsub_field_kind {
	PUBSUB_FIELD_BOOL,
	PUBSUB_FIELD_TEXT,
	PUBSUB_FIELD_LIST,
	PUBSUB_FIELD_MAX_ITEMS,
	PUBSUB_FIELD_GROUPS, /* list-multi of roster group names */
};

struct pubsub_field {
	const char *var;
	enum pubsub_field_kind kind;
	const char *label;
	const char *const *options; /* PUBSUB_FIELD_LIST: NULL-terminated, index = enum value */
};

static const char *const pubsub_access_names[] = {"open", "presence", "roster", "authorize",
						   "whitelist", NULL};
/* Offered in forms: every model (presence and roster ask sm, pubsub-relation.c). */
static const char *const pubsub_access_offered[] = {"open", "presence", "roster", "authorize",
						     "whitelist", NULL};
static const char *const pubsub_publish_names[] = {"publishers", "subscribers", "open", NULL};
static const char *const pubsub_send_last_names[] = {"never", "on_sub", NULL};
static const char *const pubsub_node_type_names[] = {"leaf", NULL};

static const struct pubsub_field pubsub_fields[] = {
	{"pubsub#title", PUBSUB_FIELD_TEXT, "A friendly name for the node", NULL},
	{"pubsub#type", PUBSUB_FIELD_TEXT, "The type of node data, usually a namespace", NULL},
	{"pubsub#node_type", PUBSUB_FIELD_LIST, "Node type", pubsub_node_type_names},
	{"pubsub#access_model", PUBSUB_FIELD_LIST, "Who may subscribe and retrieve items",
	 pubsub_access_names},
	{"pubsub#roster_groups_allowed", PUBSUB_FIELD_GROUPS,
	 "Roster groups allowed to subscribe (roster access model)", NULL},
	{"pubsub#publish_model", PUBSUB_FIELD_LIST, "Who may publish items", pubsub_publish_names},
	{"pubsub#max_items", PUBSUB_FIELD_MAX_ITEMS, "Max number of items to persist (or max)", NULL},
	{"pubsub#persist_items", PUBSUB_FIELD_BOOL, "Persist items to storage", NULL},
	{"pubsub#deliver_payloads", PUBSUB_FIELD_BOOL, "Deliver payloads with event notifications",
	 NULL},
	{"pubsub#deliver_notifications", PUBSUB_FIELD_BOOL, "Deliver event notifications", NULL},
	{"pubsub#notify_config", PUBSUB_FIELD_BOOL,
	 "Notify subscribers when the node configuration changes", NULL},
	{"pubsub#notify_delete", PUBSUB_FIELD_BOOL, "Notify subscribers when the node is deleted",
	 NULL},
	{"pubsub#notify_retract", PUBSUB_FIELD_BOOL,
	 "Notify subscribers when items are removed from the node", NULL},
	{"pubsub#send_last_published_item", PUBSUB_FIELD_LIST,
	 "When to send the last published item", pubsub_send_last_names},
	{NULL, 0, NULL, NULL},
};

const char *pubsub_access_model_name(enum pubsub_access_model m)
{
	return pubsub_access_names[m];
}

const char *pubsub_node_config_var(size_t i)
{
	return i < sizeof(pubsub_fields) / sizeof(pubsub_fields[0]) ? pubsub_fields[i].var : NULL;
}

void pubsub_node_config_default(struct pubsub_node_config *c)
{
	c->access_model = PUBSUB_ACCESS_OPEN;
	c->publish_model = PUBSUB_PUBLISH_PUBLISHERS;
	c->max_items = 10;
	c->persist_items = true;
	c->deliver_payloads = true;
	c->deliver_notifications = true;
	c->notify_config = false;
	c->notify_delete = true;
	c->notify_retract = true;
	c->send_last_published_item = PUBSUB_SEND_LAST_NEVER;
	c->title = xstrdup("");
	c->type = xstrdup("");
	c->roster_groups = xstrdup("");
}

void pubsub_node_config_copy(struct pubsub_node_config *dst, const struct pubsub_node_config *src)
{
	*dst = *src;
	dst->title = xstrdup(src->title);
	dst->type = xstrdup(src->type);
	dst->roster_groups = xstrdup(src->roster_groups);
}

void pubsub_node_config_clear(struct pubsub_node_config *c)
{
	free(c->title);
	free(c->type);
	free(c->roster_groups);
	c->title = c->type = c->roster_groups = NULL;
}

bool pubsub_node_config_group_allowed(const struct pubsub_node_config *c, const char *group)
{
	size_t len = strlen(group);

	for (const char *p = c->roster_groups; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		if ((size_t)(nl - p) == len && memcmp(p, group, len) == 0)
			return true;
		p = nl + 1;
	}
	return false;
}

/* Groups: every value followed by '\n'. One stored value holds them all
 * already, so it splits again on '\n'; empty names are left out. */
static int pubsub_set_groups(struct pubsub_node_config *c, const char *const *values,
			     size_t n_values)
{
	struct buf b = {0};

	for (size_t i = 0; i < n_values; i++) {
		for (const char *p = values[i]; *p != '\0';) {
			size_t len = strcspn(p, "\n");
			if (len > 0) {
				buf_append(&b, p, len);
				buf_append_char(&b, '\n');
			}
			p += len + (p[len] == '\n');
		}
	}
	buf_append_char(&b, '\0');
	free(c->roster_groups);
	c->roster_groups = buf_steal(&b);
	return PUBSUB_NODE_CONFIG_OK;
}

static const struct pubsub_field *pubsub_field_find(const char *var)
{
	for (const struct pubsub_field *f = pubsub_fields; f->var != NULL; f++) {
		if (strcmp(f->var, var) == 0)
			return f;
	}
	return NULL;
}

static bool *pubsub_field_bool(struct pubsub_node_config *c, const char *var)
{
	if (strcmp(var, "pubsub#persist_items") == 0)
		return &c->persist_items;
	if (strcmp(var, "pubsub#deliver_payloads") == 0)
		return &c->deliver_payloads;
	if (strcmp(var, "pubsub#deliver_notifications") == 0)
		return &c->deliver_notifications;
	if (strcmp(var, "pubsub#notify_config") == 0)
		return &c->notify_config;
	if (strcmp(var, "pubsub#notify_delete") == 0)
		return &c->notify_delete;
	if (strcmp(var, "pubsub#notify_retract") == 0)
		return &c->notify_retract;
	return NULL;
}

static int pubsub_list_index(const char *const *options, const char *value)
{
	for (int i = 0; options[i] != NULL; i++) {
		if (strcmp(options[i], value) == 0)
			return i;
	}
	return -1;
}

static int pubsub_parse_max_items(const char *s, int64_t *n_r)
{
	char *end;
	long long n;

	if (strcmp(s, "max") == 0) {
		*n_r = PUBSUB_MAX_ITEMS_UNLIMITED;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > PUBSUB_MAX_ITEMS_LIMIT)
		return -1;
	*n_r = n;
	return 0;
}

int pubsub_node_config_set(struct pubsub_node_config *c, const char *var, const char *const *values,
			   size_t n_values)
{
	const struct pubsub_field *f = pubsub_field_find(var);
	const char *v = n_values > 0 ? values[0] : "";
	int i;

	if (f == NULL)
		return PUBSUB_NODE_CONFIG_UNKNOWN;
	if (f->kind == PUBSUB_FIELD_GROUPS)
		return pubsub_set_groups(c, values, n_values);
	if (n_values > 1)
		return PUBSUB_NODE_CONFIG_BAD_VALUE;
	switch (f->kind) {
	case PUBSUB_FIELD_BOOL:
		return pubsub_form_parse_bool(v, pubsub_field_bool(c, var)) ? PUBSUB_NODE_CONFIG_OK
									  : PUBSUB_NODE_CONFIG_BAD_VALUE;
	case PUBSUB_FIELD_TEXT: {
		char **p = strcmp(var, "pubsub#title") == 0 ? &c->title : &c->type;
		free(*p);
		*p = xstrdup(v);
		return PUBSUB_NODE_CONFIG_OK;
	}
	case PUBSUB_FIELD_MAX_ITEMS:
		return pubsub_parse_max_items(v, &c->max_items) == 0 ? PUBSUB_NODE_CONFIG_OK
								     : PUBSUB_NODE_CONFIG_BAD_VALUE;
	case PUBSUB_FIELD_GROUPS:
		break;
	case PUBSUB_FIELD_LIST:
		i = pubsub_list_index(f->options, v);
		if (i < 0)
			return PUBSUB_NODE_CONFIG_BAD_VALUE;
		if (f->options == pubsub_access_names) {
			if (pubsub_list_index(pubsub_access_offered, v) < 0)
				return PUBSUB_NODE_CONFIG_UNSUPPORTED_ACCESS;
			c->access_model = (enum pubsub_access_model)i;
		} else if (f->options == pubsub_publish_names) {
			c->publish_model = (enum pubsub_publish_model)i;
		} else if (f->options == pubsub_send_last_names) {
			c->send_last_published_item = (enum pubsub_send_last)i;
		}
		return PUBSUB_NODE_CONFIG_OK;
	}
	return PUBSUB_NODE_CONFIG_UNKNOWN;
}

bool pubsub_node_config_get(const struct pubsub_node_config *c, const char *var, struct buf *out)
{
	const struct pubsub_field *f = pubsub_field_find(var);

	if (f == NULL)
		return false;
	switch (f->kind) {
	case PUBSUB_FIELD_BOOL:
		buf_append_str(out, *pubsub_field_bool((struct pubsub_node_config *)c, var) ? "1" : "0");
		break;
	case PUBSUB_FIELD_TEXT:
		buf_append_str(out, strcmp(var, "pubsub#title") == 0 ? c->title : c->type);
		break;
	case PUBSUB_FIELD_MAX_ITEMS:
		if (c->max_items == PUBSUB_MAX_ITEMS_UNLIMITED)
			buf_append_str(out, "max");
		else
			buf_printf(out, "%" PRId64, c->max_items);
		break;
	case PUBSUB_FIELD_GROUPS:
		buf_append_str(out, c->roster_groups);
		break;
	case PUBSUB_FIELD_LIST:
		if (f->options == pubsub_access_names)
			buf_append_str(out, pubsub_access_names[c->access_model]);
		else if (f->options == pubsub_publish_names)
			buf_append_str(out, pubsub_publish_names[c->publish_model]);
		else if (f->options == pubsub_send_last_names)
			buf_append_str(out, pubsub_send_last_names[c->send_last_published_item]);
		else
			buf_append_str(out, f->options[0]);
		break;
	}
	return true;
}

/* Calls fn for each field of x but FORM_TYPE; stops at the first non-zero
 * return and returns it. */
static int pubsub_form_each(const struct stanza *x,
			    int (*fn)(const char *var, char **values, size_t n, void *ctx), void *ctx)
{
	for (size_t i = 0; i < x->n_children; i++) {
		const struct stanza *f = x->children[i].element;
		const char *var;
		size_t n;
		int r;

		if (f == NULL || strcmp(f->name, "field") != 0 || strcmp(f->ns, PUBSUB_NS_DATA) != 0)
			continue;
		var = stanza_get_attr(f, "var");
		if (var == NULL)
			return PUBSUB_NODE_CONFIG_UNKNOWN;
		if (strcmp(var, "FORM_TYPE") == 0)
			continue;
		char **values = pubsub_form_values(f, &n);
		r = fn(var, values, n, ctx);
		pubsub_form_values_free(values);
		if (r != 0)
			return r;
	}
	return 0;
}

static int pubsub_apply_one(const char *var, char **values, size_t n, void *ctx)
{
	return pubsub_node_config_set(ctx, var, (const char *const *)values, n);
}

int pubsub_node_config_apply_form(struct pubsub_node_config *c, const struct stanza *x)
{
	char *type = pubsub_form_type(x);
	/* publish-options carry node configuration fields (XEP-0060 7.1.5). */
	bool ok = type == NULL || strcmp(type, PUBSUB_NS_NODE_CONFIG) == 0 ||
		  strcmp(type, PUBSUB_NS_PUBLISH_OPTIONS) == 0;

	free(type);
	if (!ok)
		return PUBSUB_NODE_CONFIG_BAD_VALUE;
	return pubsub_form_each(x, pubsub_apply_one, c);
}

/* A precondition holds when setting the value on a copy changes nothing. */
static int pubsub_match_one(const char *var, char **values, size_t n, void *ctx)
{
	const struct pubsub_node_config *c = ctx;
	struct pubsub_node_config probe;
	struct buf want = {0}, have = {0};
	int r;

	pubsub_node_config_copy(&probe, c);
	r = pubsub_node_config_set(&probe, var, (const char *const *)values, n);
	if (r == PUBSUB_NODE_CONFIG_OK) {
		pubsub_node_config_get(&probe, var, &want);
		pubsub_node_config_get(c, var, &have);
		buf_append_char(&want, '\0');
		buf_append_char(&have, '\0');
		r = strcmp(want.data, have.data) == 0 ? 0 : 1;
	}
	buf_free(&want);
	buf_free(&have);
	pubsub_node_config_clear(&probe);
	return r;
}

bool pubsub_node_config_matches(const struct pubsub_node_config *c, const struct stanza *x)
{
	return pubsub_form_each(x, pubsub_match_one, (void *)c) == 0;
}

void pubsub_node_config_add_fields(const struct pubsub_node_config *c, struct stanza *x,
				   bool with_options)
{
	struct buf v = {0};

	for (const struct pubsub_field *f = pubsub_fields; f->var != NULL; f++) {
		static const char *const types[] = {"boolean", "text-single", "list-single",
						    "text-single", "list-multi"};
		struct stanza *field;

		buf_reset(&v);
		pubsub_node_config_get(c, f->var, &v);
		buf_append_char(&v, '\0');
		field = pubsub_form_field(x, f->var, with_options ? types[f->kind] : NULL,
					  with_options ? f->label : NULL,
					  f->kind == PUBSUB_FIELD_GROUPS ? NULL : v.data);
		for (const char *p = c->roster_groups; f->kind == PUBSUB_FIELD_GROUPS && *p != '\0';) {
			size_t len = strcspn(p, "\n");
			char *g = xstrndup(p, len);
			pubsub_form_value(field, g);
			free(g);
			p += len + 1;
		}
		if (with_options && f->kind == PUBSUB_FIELD_LIST) {
			const char *const *opts =
				f->options == pubsub_access_names ? pubsub_access_offered : f->options;
			for (size_t i = 0; opts[i] != NULL; i++)
				pubsub_form_option(field, opts[i]);
		}
	}
	buf_free(&v);
}
