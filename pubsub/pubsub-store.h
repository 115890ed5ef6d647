/* pubsub-store.h: pubsub's storage, SQLite through common/db.h, in
 * DATA_DIR/pubsub.db (no other process opens it).
 *
 * Nodes (with their configuration as one row per field), affiliations
 * (bare JID -> affiliation), subscriptions (the subscribed JID, bare or
 * full, with its subid and state) and items, numbered in publish order
 * (seq) so that retrieval and paging follow the order of publication.
 * Each call is one statement or one transaction, synchronous on the
 * caller's loop. Returns PUBSUB_STORE_OK (0) or a negative
 * PUBSUB_STORE_ERR_*; pubsub_store_error() says why for ERR.
 * Arrays returned (*_r with a count) are owned by the caller and freed
 * with the matching *_free().
 *
 *   struct pubsub_store *s;
 *   pubsub_store_open(path, &s, err, sizeof(err));
 *   pubsub_store_node_get(s, "princely_musings", &node);
 *   pubsub_store_close(&s);
 */
#ifndef JUNCTION_PUBSUB_STORE_H
#define JUNCTION_PUBSUB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pubsub-node-config.h"

enum pubsub_store_result {
	PUBSUB_STORE_OK = 0,
	PUBSUB_STORE_ERR = -1,
	PUBSUB_STORE_NOT_FOUND = -2,
	PUBSUB_STORE_CONFLICT = -3,
};

enum pubsub_affiliation {
	PUBSUB_AFF_NONE,
	PUBSUB_AFF_OWNER,
	PUBSUB_AFF_PUBLISHER,
	PUBSUB_AFF_PUBLISH_ONLY,
	PUBSUB_AFF_MEMBER,
	PUBSUB_AFF_OUTCAST,
};

enum pubsub_sub_state {
	PUBSUB_SUB_NONE,
	PUBSUB_SUB_PENDING,
	PUBSUB_SUB_UNCONFIGURED,
	PUBSUB_SUB_SUBSCRIBED,
};

struct pubsub_node {
	int64_t id;
	char *service; /* "" for the pubsub domain, else the PEP account's bare JID */
	char *name;
	char *creator;
	int64_t created; /* unix time */
	struct pubsub_node_config config;
};

struct pubsub_affiliation_row {
	char *node;
	char *jid;
	enum pubsub_affiliation affiliation;
};

struct pubsub_subscription {
	char *node;  /* filled by lists */
	char *jid;   /* as subscribed: bare or full */
	char *subid;
	enum pubsub_sub_state state;
	bool deliver; /* subscription option pubsub#deliver */
};

struct pubsub_item {
	int64_t seq;
	char *id;
	char *publisher;
	char *payload; /* serialized payload element, NULL for none */
};

/* Which items pubsub_store_items() returns, in publish order: those with
 * after < seq < before (0: no bound), at most limit (-1: all) of them,
 * taken from the newest end when from_end. */
struct pubsub_item_query {
	int64_t after, before;
	int64_t limit;
	bool from_end;
};

struct pubsub_store;

int pubsub_store_open(const char *path, bool fsync_every_commit, struct pubsub_store **store_r,
		      char *err, size_t errlen);
void pubsub_store_close(struct pubsub_store **store);
const char *pubsub_store_error(const struct pubsub_store *store);

/* Nodes. create makes owner the node's owner in the same transaction. */
/* Node names are per service: "" is the pubsub domain, a bare JID that
 * account's PEP service (XEP-0163). */
int pubsub_store_node_get(struct pubsub_store *s, const char *service, const char *name,
			  struct pubsub_node *node_r);
int pubsub_store_node_create(struct pubsub_store *s, const char *service, const char *name,
			     const char *owner, const struct pubsub_node_config *config);
int pubsub_store_node_configure(struct pubsub_store *s, int64_t id,
				const struct pubsub_node_config *config);
int pubsub_store_node_delete(struct pubsub_store *s, int64_t id);
/* Every node's name of a service, in creation order. */
int pubsub_store_node_names(struct pubsub_store *s, const char *service, char ***names_r,
			    size_t *n_r);
/* Delete every node of a service (an account's PEP nodes when it goes). */
int pubsub_store_service_delete(struct pubsub_store *s, const char *service);
void pubsub_node_clear(struct pubsub_node *node);
void pubsub_store_names_free(char **names, size_t n);

/* Affiliations; setting PUBSUB_AFF_NONE removes the row. */
int pubsub_store_affiliation_get(struct pubsub_store *s, int64_t node, const char *bare,
				 enum pubsub_affiliation *aff_r);
int pubsub_store_affiliation_set(struct pubsub_store *s, int64_t node, const char *bare,
				 enum pubsub_affiliation aff);
/* node 0: every node of service; bare NULL: every JID. */
int pubsub_store_affiliations(struct pubsub_store *s, const char *service, int64_t node,
			      const char *bare, struct pubsub_affiliation_row **rows_r, size_t *n_r);
void pubsub_store_affiliations_free(struct pubsub_affiliation_row *rows, size_t n);

/* Subscriptions, one per (node, jid). put inserts or replaces. */
int pubsub_store_subscription_get(struct pubsub_store *s, int64_t node, const char *jid,
				  struct pubsub_subscription *sub_r);
int pubsub_store_subscription_put(struct pubsub_store *s, int64_t node,
				  const struct pubsub_subscription *sub);
int pubsub_store_subscription_delete(struct pubsub_store *s, int64_t node, const char *jid);
/* node 0: every node of service; bare NULL: every subscriber (else its
 * bare and full JIDs). In subscription order. */
int pubsub_store_subscriptions(struct pubsub_store *s, const char *service, int64_t node,
			       const char *bare, struct pubsub_subscription **subs_r, size_t *n_r);
void pubsub_subscription_clear(struct pubsub_subscription *sub);
void pubsub_store_subscriptions_free(struct pubsub_subscription *subs, size_t n);

/* Items. publish replaces an item with the same id (it becomes the
 * newest) and keeps only the newest max_items. */
int pubsub_store_item_publish(struct pubsub_store *s, int64_t node, const struct pubsub_item *item,
			      int64_t max_items);
int pubsub_store_item_get(struct pubsub_store *s, int64_t node, const char *id,
			  struct pubsub_item *item_r);
int pubsub_store_item_delete(struct pubsub_store *s, int64_t node, const char *id);
int pubsub_store_items_purge(struct pubsub_store *s, int64_t node);
int pubsub_store_items_trim(struct pubsub_store *s, int64_t node, int64_t max_items);
/* Items per q in publish order; *total_r the node's item count, *before_r
 * how many items precede the first one returned (either may be NULL). */
int pubsub_store_items(struct pubsub_store *s, int64_t node, const struct pubsub_item_query *q,
		       struct pubsub_item **items_r, size_t *n_r, int64_t *total_r,
		       int64_t *before_r);
void pubsub_item_clear(struct pubsub_item *item);
void pubsub_store_items_free(struct pubsub_item *items, size_t n);

const char *pubsub_affiliation_name(enum pubsub_affiliation aff);
/* -1 for an unknown name. */
int pubsub_affiliation_parse(const char *name);
const char *pubsub_sub_state_name(enum pubsub_sub_state state);
int pubsub_sub_state_parse(const char *name);

#endif
