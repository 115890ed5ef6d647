/* pubsub-disco.c: service discovery of the service and its nodes
 * (XEP-0060 5.1-5.5, XEP-0030): the service's identity and the features
 * it has, its nodes, a node's identity and metadata form, a node's items.
 *
 * The feature list is the single place that says what this service does;
 * a feature goes in when its use case works and is tested.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "pubsub-form.h"
#include "pubsub.h"
#include "stanza.h"

static const char *const pubsub_disco_features[] = {
	"access-authorize",
	"access-open",
	"access-presence",
	"access-roster",
	"access-whitelist",
	"auto-create",
	"config-node",
	"config-node-max",
	"create-and-configure",
	"create-nodes",
	"delete-items",
	"delete-nodes",
	"instant-nodes",
	"item-ids",
	"last-published",
	"manage-subscriptions",
	"member-affiliation",
	"meta-data",
	"modify-affiliations",
	"multi-items",
	"outcast-affiliation",
	"persistent-items",
	"publish",
	"publish-only-affiliation",
	"publish-options",
	"publisher-affiliation",
	"purge-nodes",
	"retract-items",
	"retrieve-affiliations",
	"retrieve-default",
	"retrieve-default-sub",
	"retrieve-items",
	"retrieve-subscriptions",
	"rsm",
	"subscribe",
	"subscription-notifications",
	"subscription-options",
	NULL,
};

static void pubsub_disco_feature(struct stanza *q, const char *var)
{
	stanza_set_attr(stanza_add_child(q, "feature", NULL), "var", var);
}

static void pubsub_disco_identity(struct stanza *q, const char *type, const char *name)
{
	struct stanza *id = stanza_add_child(q, "identity", NULL);

	stanza_set_attr(id, "category", "pubsub");
	stanza_set_attr(id, "type", type);
	if (name != NULL && *name != '\0')
		stanza_set_attr(id, "name", name);
}

/* The jid-multi field var listing every JID with affiliation aff. */
static void pubsub_disco_affiliated(struct pubsub_req *req, const struct pubsub_node *node,
				    struct stanza *x, const char *var, enum pubsub_affiliation aff)
{
	struct pubsub_affiliation_row *rows;
	size_t n;
	struct stanza *f = pubsub_form_field(x, var, NULL, NULL, NULL);

	if (pubsub_store_affiliations(req->ps->store, pubsub_service(req->ps),
				      node->id, NULL, &rows, &n) != PUBSUB_STORE_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].affiliation == aff)
			pubsub_form_value(f, rows[i].jid);
	}
	pubsub_store_affiliations_free(rows, n);
}

static void pubsub_disco_node_info(struct pubsub_req *req, const struct stanza *query,
				   struct stanza *q)
{
	struct pubsub_node node;
	struct pubsub_subscription *subs;
	size_t n_subs = 0;
	char when[32], count[24];
	time_t created;

	if (pubsub_req_node(req, query, &node) < 0)
		return;
	if (pubsub_req_affiliation(req, &node) == PUBSUB_AFF_OUTCAST) {
		pubsub_error(req, "auth", "forbidden", NULL, NULL);
		pubsub_node_clear(&node);
		return;
	}
	stanza_set_attr(q, "node", node.name);
	pubsub_disco_identity(q, "leaf", node.config.title);
	pubsub_disco_feature(q, PUBSUB_NS);

	struct stanza *x = pubsub_form_add(q, "result", PUBSUB_NS_META_DATA);
	pubsub_node_config_add_fields(&node.config, x, false);
	pubsub_form_field(x, "pubsub#creator", NULL, NULL, node.creator);
	created = (time_t)node.created;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&created));
	pubsub_form_field(x, "pubsub#creation_date", NULL, NULL, when);
	pubsub_disco_affiliated(req, &node, x, "pubsub#owner", PUBSUB_AFF_OWNER);
	pubsub_disco_affiliated(req, &node, x, "pubsub#publisher", PUBSUB_AFF_PUBLISHER);
	if (pubsub_store_subscriptions(req->ps->store, pubsub_service(req->ps),
				       node.id, NULL, &subs, &n_subs) ==
	    PUBSUB_STORE_OK)
		pubsub_store_subscriptions_free(subs, n_subs);
	snprintf(count, sizeof(count), "%zu", n_subs);
	pubsub_form_field(x, "pubsub#num_subscribers", NULL, NULL, count);

	struct stanza *r = pubsub_result(req);
	stanza_append_copy(r, q);
	pubsub_send(req->ps, r);
	stanza_unref(&r);
	pubsub_node_clear(&node);
}

void pubsub_disco_info(struct pubsub_req *req, const struct stanza *query)
{
	struct stanza *q = stanza_new("query", PUBSUB_NS_DISCO_INFO);

	if (stanza_get_attr(query, "node") != NULL) {
		pubsub_disco_node_info(req, query, q);
		stanza_unref(&q);
		return;
	}
	pubsub_disco_identity(q, "service", "Junction publish-subscribe");
	pubsub_disco_feature(q, PUBSUB_NS_DISCO_INFO);
	pubsub_disco_feature(q, PUBSUB_NS_DISCO_ITEMS);
	pubsub_disco_feature(q, PUBSUB_NS);
	for (size_t i = 0; pubsub_disco_features[i] != NULL; i++) {
		struct buf var = {0};
		buf_printf(&var, "%s#%s", PUBSUB_NS, pubsub_disco_features[i]);
		pubsub_disco_feature(q, var.data);
		buf_free(&var);
	}
	struct stanza *r = pubsub_result(req);
	stanza_append_copy(r, q);
	pubsub_send(req->ps, r);
	stanza_unref(&r);
	stanza_unref(&q);
}

static void pubsub_disco_item(struct stanza *q, const char *jid, const char *node,
			      const char *name)
{
	struct stanza *it = stanza_add_child(q, "item", NULL);

	stanza_set_attr(it, "jid", jid);
	if (node != NULL)
		stanza_set_attr(it, "node", node);
	if (name != NULL && *name != '\0')
		stanza_set_attr(it, "name", name);
}

/* A node's items: their ids, for those who may retrieve them. */
static void pubsub_disco_node_items(struct pubsub_req *req, const struct stanza *query,
				    struct stanza *q)
{
	struct pubsub_item_query all = {.limit = -1};
	struct pubsub_node node;
	struct pubsub_item *items;
	size_t n;

	if (pubsub_req_node(req, query, &node) < 0)
		return;
	if (pubsub_access_retrieve(req, &node, pubsub_req_affiliation(req, &node)) < 0) {
		pubsub_node_clear(&node);
		return;
	}
	if (pubsub_store_items(req->ps->store, node.id, &all, &items, &n, NULL, NULL) !=
	    PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "listing items");
		pubsub_node_clear(&node);
		return;
	}
	stanza_set_attr(q, "node", node.name);
	for (size_t i = 0; i < n; i++)
		pubsub_disco_item(q, pubsub_self(req->ps), NULL, items[i].id);
	pubsub_store_items_free(items, n);
	pubsub_node_clear(&node);

	struct stanza *r = pubsub_result(req);
	stanza_append_copy(r, q);
	pubsub_send(req->ps, r);
	stanza_unref(&r);
}

void pubsub_disco_items(struct pubsub_req *req, const struct stanza *query)
{
	struct stanza *q = stanza_new("query", PUBSUB_NS_DISCO_ITEMS);
	char **names;
	size_t n;

	if (stanza_get_attr(query, "node") != NULL) {
		pubsub_disco_node_items(req, query, q);
		stanza_unref(&q);
		return;
	}
	if (req->ps->service != NULL) {
		pubsub_pep_disco_items(req);
		stanza_unref(&q);
		return;
	}
	if (pubsub_store_node_names(req->ps->store, pubsub_service(req->ps),
				    &names, &n) != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "listing nodes");
		stanza_unref(&q);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct pubsub_node node;
		if (pubsub_store_node_get(req->ps->store, pubsub_service(req->ps),
					  names[i], &node) != PUBSUB_STORE_OK)
			continue;
		pubsub_disco_item(q, req->ps->domain, node.name, node.config.title);
		pubsub_node_clear(&node);
	}
	pubsub_store_names_free(names, n);

	struct stanza *r = pubsub_result(req);
	stanza_append_copy(r, q);
	pubsub_send(req->ps, r);
	stanza_unref(&r);
	stanza_unref(&q);
}
