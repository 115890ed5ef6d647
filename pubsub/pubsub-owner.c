/* pubsub-owner.c: the owner's use cases that act on a node as a whole
 * (XEP-0060 8.1-8.5): create (named or instant, with a configuration
 * form), configure, the default configuration, delete (subscribers told,
 * with an optional redirect) and purge.
 */
#include <stdlib.h>
#include <string.h>

#include "pubsub-form.h"
#include "pubsub.h"
#include "stanza.h"

/* The error for a configuration form that does not apply. */
static void pubsub_owner_form_error(struct pubsub_req *req, int r)
{
	if (r == PUBSUB_NODE_CONFIG_UNSUPPORTED_ACCESS)
		pubsub_error(req, "modify", "not-acceptable", "unsupported-access-model", NULL);
	else
		pubsub_error(req, "modify", "not-acceptable", NULL, NULL);
}

int pubsub_owner_create_node(struct pubsub_req *req, const char *name,
			     const struct pubsub_node_config *config)
{
	int r;

	if (!pubsub_access_may_create(req)) {
		pubsub_error(req, "auth", "forbidden", NULL, NULL);
		return -1;
	}
	if (pubsub_access_check_config_model(req, config) < 0)
		return -1;
	r = pubsub_store_node_create(req->ps->store, pubsub_service(req->ps),
				     name, req->bare, config);
	if (r == PUBSUB_STORE_CONFLICT) {
		pubsub_error(req, "cancel", "conflict", NULL, NULL);
		return -1;
	}
	if (r != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "creating a node");
		return -1;
	}
	return 0;
}

void pubsub_owner_create(struct pubsub_req *req, const struct stanza *create,
			 const struct stanza *configure)
{
	const char *name = stanza_get_attr(create, "node");
	const struct stanza *x = configure != NULL ? stanza_find_child(configure, "x", PUBSUB_NS_DATA)
						   : NULL;
	struct pubsub_node_config config;
	char instant[2 * PUBSUB_ID_BYTES + 1];
	int r = 0;

	pubsub_config_default(req->ps, &config);
	if (x != NULL && (pubsub_form_kind(x) == NULL || strcmp(pubsub_form_kind(x), "submit") == 0))
		r = pubsub_node_config_apply_form(&config, x);
	if (r != 0) {
		pubsub_owner_form_error(req, r);
		pubsub_node_config_clear(&config);
		return;
	}
	if (name == NULL || *name == '\0') {
		pubsub_new_id(instant);
		name = instant;
	}
	if (pubsub_owner_create_node(req, name, &config) == 0) {
		struct stanza *res = pubsub_result(req);
		struct stanza *c = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS), "create",
						    NULL);
		stanza_set_attr(c, "node", name);
		pubsub_send(req->ps, res);
		stanza_unref(&res);
	}
	pubsub_node_config_clear(&config);
}

/* Load the node el names, for its owner only. */
static int pubsub_owner_node(struct pubsub_req *req, const struct stanza *el,
			     struct pubsub_node *node_r)
{
	if (pubsub_req_node(req, el, node_r) < 0)
		return -1;
	if (pubsub_req_affiliation(req, node_r) != PUBSUB_AFF_OWNER) {
		pubsub_error(req, "auth", "forbidden", NULL, NULL);
		pubsub_node_clear(node_r);
		return -1;
	}
	return 0;
}

static void pubsub_owner_config_changed(struct pubsub *ps, const struct pubsub_node *node)
{
	struct stanza *ev;
	struct stanza *c;

	if (!node->config.notify_config || !node->config.deliver_notifications)
		return;
	ev = stanza_new("event", PUBSUB_NS_EVENT);
	c = stanza_add_child(ev, "configuration", NULL);
	stanza_set_attr(c, "node", node->name);
	if (node->config.deliver_payloads)
		pubsub_node_config_add_fields(&node->config,
					      pubsub_form_add(c, "result", PUBSUB_NS_NODE_CONFIG), false);
	pubsub_notify(ps, node, ev);
	stanza_unref(&ev);
}

void pubsub_owner_configure(struct pubsub_req *req, const struct stanza *configure, bool set)
{
	struct pubsub_node node;
	struct pubsub_node_config config;
	const struct stanza *x = stanza_find_child(configure, "x", PUBSUB_NS_DATA);
	const char *kind = x != NULL ? pubsub_form_kind(x) : NULL;
	int r;

	if (pubsub_owner_node(req, configure, &node) < 0)
		return;
	if (!set) {
		struct stanza *res = pubsub_result(req);
		struct stanza *c = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS_OWNER),
						    "configure", NULL);
		stanza_set_attr(c, "node", node.name);
		pubsub_node_config_add_fields(&node.config,
					      pubsub_form_add(c, "form", PUBSUB_NS_NODE_CONFIG), true);
		pubsub_send(req->ps, res);
		stanza_unref(&res);
		pubsub_node_clear(&node);
		return;
	}
	if (x == NULL || kind == NULL || (strcmp(kind, "submit") != 0 && strcmp(kind, "cancel") != 0)) {
		pubsub_error(req, "modify", "bad-request", NULL, NULL);
		pubsub_node_clear(&node);
		return;
	}
	if (strcmp(kind, "cancel") == 0) {
		pubsub_reply_empty(req);
		pubsub_node_clear(&node);
		return;
	}
	pubsub_node_config_copy(&config, &node.config);
	r = pubsub_node_config_apply_form(&config, x);
	if (r != 0) {
		pubsub_owner_form_error(req, r);
	} else if (pubsub_access_check_config_model(req, &config) < 0) {
		/* answered */
	} else if (pubsub_store_node_configure(req->ps->store, node.id, &config) != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "configuring a node");
	} else {
		pubsub_node_config_clear(&node.config);
		pubsub_node_config_copy(&node.config, &config);
		pubsub_reply_empty(req);
		pubsub_owner_config_changed(req->ps, &node);
	}
	pubsub_node_config_clear(&config);
	pubsub_node_clear(&node);
}

void pubsub_owner_default(struct pubsub_req *req)
{
	struct pubsub_node_config config;
	struct stanza *res = pubsub_result(req);
	struct stanza *d = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS_OWNER),
					    "default", NULL);

	pubsub_config_default(req->ps, &config);
	pubsub_node_config_add_fields(&config, pubsub_form_add(d, "form", PUBSUB_NS_NODE_CONFIG),
				      true);
	pubsub_send(req->ps, res);
	stanza_unref(&res);
	pubsub_node_config_clear(&config);
}

void pubsub_owner_delete(struct pubsub_req *req, const struct stanza *del)
{
	const struct stanza *redirect = stanza_find_child(del, "redirect", PUBSUB_NS_OWNER);
	const char *uri = redirect != NULL ? stanza_get_attr(redirect, "uri") : NULL;
	struct pubsub_node node;
	struct stanza *ev = NULL;

	if (pubsub_owner_node(req, del, &node) < 0)
		return;
	/* Built before the node and its subscriptions go. */
	if (node.config.notify_delete) {
		struct stanza *d;
		ev = stanza_new("event", PUBSUB_NS_EVENT);
		d = stanza_add_child(ev, "delete", NULL);
		stanza_set_attr(d, "node", node.name);
		if (uri != NULL)
			stanza_set_attr(stanza_add_child(d, "redirect", NULL), "uri", uri);
	}
	struct pubsub_subscription *subs = NULL;
	size_t n = 0;
	if (ev != NULL &&
	    pubsub_store_subscriptions(req->ps->store, pubsub_service(req->ps),
				       node.id, NULL, &subs, &n) != PUBSUB_STORE_OK)
		n = 0;
	if (pubsub_store_node_delete(req->ps->store, node.id) != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "deleting a node");
	} else {
		pubsub_reply_empty(req);
		for (size_t i = 0; i < n; i++) {
			if (subs[i].state == PUBSUB_SUB_SUBSCRIBED)
				pubsub_notify_one(req->ps, subs[i].jid, ev);
		}
	}
	pubsub_store_subscriptions_free(subs, n);
	if (ev != NULL)
		stanza_unref(&ev);
	pubsub_node_clear(&node);
}

void pubsub_owner_purge(struct pubsub_req *req, const struct stanza *purge)
{
	struct pubsub_node node;
	enum pubsub_affiliation aff;

	if (pubsub_req_node(req, purge, &node) < 0)
		return;
	aff = pubsub_req_affiliation(req, &node);
	if (aff != PUBSUB_AFF_OWNER && aff != PUBSUB_AFF_PUBLISHER) {
		pubsub_error(req, "auth", "forbidden", NULL, NULL);
	} else if (!node.config.persist_items) {
		pubsub_error(req, "cancel", "feature-not-implemented", "unsupported", "persistent-items");
	} else if (pubsub_store_items_purge(req->ps->store, node.id) != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "purging a node");
	} else {
		pubsub_reply_empty(req);
		if (node.config.notify_retract && node.config.deliver_notifications) {
			struct stanza *ev = stanza_new("event", PUBSUB_NS_EVENT);
			stanza_set_attr(stanza_add_child(ev, "purge", NULL), "node", node.name);
			pubsub_notify(req->ps, &node, ev);
			stanza_unref(&ev);
		}
	}
	pubsub_node_clear(&node);
}
