/* pubsub-node-config.h: a node's configuration (XEP-0060 section 8.2) and
 * the one table of its fields.
 *
 * Every field has a var (pubsub#access_model, ...), a form type and a text
 * form. The same text form serves the configuration form an owner fills
 * in, the node metadata of disco#info, publish-options preconditions and
 * the rows pubsub-store.c keeps in node_config, so a field is defined
 * once, here. A struct pubsub_node_config owns its strings: clear it with
 * pubsub_node_config_clear(), copy it with pubsub_node_config_copy().
 *
 *   struct pubsub_node_config c;
 *   pubsub_node_config_default(&c);
 *   if (pubsub_node_config_set(&c, "pubsub#max_items", values, 1) < 0) ...
 *   pubsub_node_config_clear(&c);
 */
#ifndef JUNCTION_PUBSUB_NODE_CONFIG_H
#define JUNCTION_PUBSUB_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct stanza;

enum pubsub_access_model {
	PUBSUB_ACCESS_OPEN,
	PUBSUB_ACCESS_PRESENCE,
	PUBSUB_ACCESS_ROSTER,
	PUBSUB_ACCESS_AUTHORIZE,
	PUBSUB_ACCESS_WHITELIST,
};

enum pubsub_publish_model {
	PUBSUB_PUBLISH_PUBLISHERS,
	PUBSUB_PUBLISH_SUBSCRIBERS,
	PUBSUB_PUBLISH_OPEN,
};

enum pubsub_send_last {
	PUBSUB_SEND_LAST_NEVER,
	PUBSUB_SEND_LAST_ON_SUB,
};

/* max_items = "max": no limit. */
#define PUBSUB_MAX_ITEMS_UNLIMITED INT64_MAX
/* The largest number accepted for max_items, and what "max" stands for
 * where a number is shown. */
#define PUBSUB_MAX_ITEMS_LIMIT 100000

struct pubsub_node_config {
	enum pubsub_access_model access_model;
	enum pubsub_publish_model publish_model;
	int64_t max_items;
	bool persist_items;
	bool deliver_payloads;
	bool deliver_notifications;
	bool notify_config;
	bool notify_delete;
	bool notify_retract;
	enum pubsub_send_last send_last_published_item;
	char *title; /* "" when unset, never NULL */
	char *type;  /* the payload namespace, "" when unset */
	/* pubsub#roster_groups_allowed: the groups, each followed by '\n'
	 * ("" for none), never NULL. */
	char *roster_groups;
};

/* Result of pubsub_node_config_set(). */
enum pubsub_node_config_result {
	PUBSUB_NODE_CONFIG_OK = 0,
	PUBSUB_NODE_CONFIG_UNKNOWN = -1,     /* no such field */
	PUBSUB_NODE_CONFIG_BAD_VALUE = -2,   /* a value the field does not take */
	PUBSUB_NODE_CONFIG_UNSUPPORTED_ACCESS = -3, /* a known access model we do not offer */
};

/* The service's defaults (docs/pubsub.md lists them). */
void pubsub_node_config_default(struct pubsub_node_config *c);
void pubsub_node_config_copy(struct pubsub_node_config *dst, const struct pubsub_node_config *src);
void pubsub_node_config_clear(struct pubsub_node_config *c);

/* Set the field var from its values (one for every field we have). */
int pubsub_node_config_set(struct pubsub_node_config *c, const char *var, const char *const *values,
			   size_t n_values);
/* The field's value as text, appended to out; false for an unknown var. */
bool pubsub_node_config_get(const struct pubsub_node_config *c, const char *var, struct buf *out);

/* The i-th field's var, NULL past the end (for storing every field). */
const char *pubsub_node_config_var(size_t i);

/* Apply a submitted jabber:x:data form (FORM_TYPE pubsub#node_config,
 * pubsub#publish-options or none) to c. On failure c may be half changed: work on a copy. */
int pubsub_node_config_apply_form(struct pubsub_node_config *c, const struct stanza *x);
/* Is every field of form (publish-options) equal to the configuration?
 * Unknown fields never match. */
bool pubsub_node_config_matches(const struct pubsub_node_config *c, const struct stanza *x);
/* Append to x the fields of the configuration, with labels and options
 * when with_options (a form to fill in) or bare values (a result). */
void pubsub_node_config_add_fields(const struct pubsub_node_config *c, struct stanza *x,
				   bool with_options);

const char *pubsub_access_model_name(enum pubsub_access_model m);
/* Is group one of roster_groups_allowed? */
bool pubsub_node_config_group_allowed(const struct pubsub_node_config *c, const char *group);

#endif
