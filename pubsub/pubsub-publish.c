/* pubsub-publish.c: the publisher's use cases (XEP-0060 7.1, 7.2):
 * publish one or more items (ids generated when absent; publish-options
 * as preconditions; a missing node created on the fly for whoever may
 * create nodes) and retract items, with notifications to subscribers.
 *
 * Items are stored (when the node persists them) before notifications go
 * out, and a publish request is handled completely before the next
 * stanza, so subscribers see items in publish order.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pubsub-form.h"
#include "pubsub.h"
#include "stanza.h"

/* Check every <item/> of el against the node's configuration and count
 * them: 0, or -1 after answering the error. */
static int pubsub_publish_check_items(struct pubsub_req *req, const struct pubsub_node *node,
				      const struct stanza *el, size_t *n_r)
{
	const struct pubsub_node_config *c = &node->config;
	bool payload_needed = c->persist_items || c->deliver_payloads;
	size_t n = 0;

	for (size_t i = 0; i < el->n_children; i++) {
		const struct stanza *it = el->children[i].element;
		size_t payloads;
		if (it == NULL || strcmp(it->name, "item") != 0 || strcmp(it->ns, PUBSUB_NS) != 0)
			continue;
		n++;
		payloads = stanza_count_child_elements(it);
		if (payloads > 1) {
			pubsub_error(req, "modify", "bad-request", "invalid-payload", NULL);
			return -1;
		}
		if (payload_needed && payloads == 0) {
			pubsub_error(req, "modify", "bad-request", "payload-required", NULL);
			return -1;
		}
		if (!payload_needed && payloads > 0) {
			pubsub_error(req, "modify", "bad-request", "item-forbidden", NULL);
			return -1;
		}
	}
	if (n == 0 && payload_needed) {
		pubsub_error(req, "modify", "bad-request", "item-required", NULL);
		return -1;
	}
	*n_r = n;
	return 0;
}

/* The node for a publish: loaded, or created from the default
 * configuration and the publish-options when it does not exist and the
 * requester may create nodes (auto-create). */
static int pubsub_publish_node(struct pubsub_req *req, const struct stanza *el,
			       const struct stanza *options_x, struct pubsub_node *node_r)
{
	const char *name = stanza_get_attr(el, "node");
	struct pubsub_node_config config;
	int r;

	if (name == NULL || *name == '\0') {
		pubsub_error(req, "modify", "bad-request", "nodeid-required", NULL);
		return -1;
	}
	r = pubsub_store_node_get(req->ps->store, pubsub_service(req->ps), name, node_r);
	if (r == PUBSUB_STORE_OK)
		return 0;
	if (r != PUBSUB_STORE_NOT_FOUND) {
		pubsub_store_failed(req, "loading a node");
		return -1;
	}
	if (!pubsub_access_may_create(req)) {
		/* Only the account itself creates its PEP nodes. */
		if (req->ps->service != NULL)
			pubsub_error(req, "auth", "forbidden", NULL, NULL);
		else
			pubsub_error(req, "cancel", "item-not-found", NULL, NULL);
		return -1;
	}
	pubsub_config_default(req->ps, &config);
	r = options_x != NULL ? pubsub_node_config_apply_form(&config, options_x) : 0;
	if (r != 0) {
		pubsub_error(req, "cancel", "conflict", "precondition-not-met", NULL);
		pubsub_node_config_clear(&config);
		return -1;
	}
	r = pubsub_owner_create_node(req, name, &config);
	pubsub_node_config_clear(&config);
	if (r < 0)
		return -1;
	if (pubsub_store_node_get(req->ps->store, pubsub_service(req->ps),
				  name, node_r) != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "loading a new node");
		return -1;
	}
	return 0;
}

/* Store (when the node persists items) and list one item; it NULL is an
 * item without id or payload (a notification-only node). 0, or -1 after
 * answering. */
static int pubsub_publish_item(struct pubsub_req *req, const struct pubsub_node *node,
			       const struct stanza *it, struct stanza *res_pub,
			       struct stanza *ev_items)
{
	const struct stanza *payload = it != NULL ? stanza_child_element(it, 0) : NULL;
	struct pubsub_item item = {.publisher = req->bare};
	char gen[2 * PUBSUB_ID_BYTES + 1];
	struct buf xml = {0};
	int r = 0;

	item.id = it != NULL ? (char *)stanza_get_attr(it, "id") : NULL;
	if (item.id == NULL || *item.id == '\0') {
		pubsub_new_id(gen);
		item.id = gen;
	}
	if (payload != NULL) {
		stanza_serialize(payload, NULL, &xml);
		buf_append_char(&xml, '\0');
		item.payload = xml.data;
	}
	if (node->config.persist_items &&
	    pubsub_store_item_publish(req->ps->store, node->id, &item, node->config.max_items) !=
		    PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "storing an item");
		r = -1;
	} else {
		stanza_set_attr(stanza_add_child(res_pub, "item", NULL), "id", item.id);
		pubsub_notify_add_item(ev_items, &item, node->config.deliver_payloads);
	}
	buf_free(&xml);
	return r;
}

void pubsub_publish(struct pubsub_req *req, const struct stanza *el,
		    const struct stanza *publish_options)
{
	const struct stanza *options_x =
		publish_options != NULL ? stanza_find_child(publish_options, "x", PUBSUB_NS_DATA) : NULL;
	struct pubsub_node node;
	struct stanza *res = NULL, *ev = NULL, *ev_items, *res_pub;
	size_t n_items;
	int r = 0;

	if (pubsub_publish_node(req, el, options_x, &node) < 0)
		return;
	if (!pubsub_access_may_publish(req, &node, pubsub_req_affiliation(req, &node))) {
		pubsub_error(req, "auth", "forbidden", NULL, NULL);
		goto out;
	}
	if (options_x != NULL && !pubsub_node_config_matches(&node.config, options_x)) {
		pubsub_error(req, "cancel", "conflict", "precondition-not-met", NULL);
		goto out;
	}
	if (pubsub_publish_check_items(req, &node, el, &n_items) < 0)
		goto out;

	res = pubsub_result(req);
	res_pub = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS), "publish", NULL);
	stanza_set_attr(res_pub, "node", node.name);
	ev = pubsub_notify_items_event(node.name, &ev_items);
	if (n_items == 0)
		r = pubsub_publish_item(req, &node, NULL, res_pub, ev_items);
	for (size_t i = 0; r == 0 && i < el->n_children; i++) {
		const struct stanza *it = el->children[i].element;
		if (it != NULL && strcmp(it->name, "item") == 0 && strcmp(it->ns, PUBSUB_NS) == 0)
			r = pubsub_publish_item(req, &node, it, res_pub, ev_items);
	}
	/* Items stored before a failure stay: they are notified too. */
	if (r == 0)
		pubsub_send(req->ps, res);
	stanza_unref(&res);
	if (node.config.deliver_notifications && stanza_count_child_elements(ev_items) > 0)
		pubsub_notify(req->ps, &node, ev);
out:
	if (ev != NULL)
		stanza_unref(&ev);
	pubsub_node_clear(&node);
}

void pubsub_retract(struct pubsub_req *req, const struct stanza *el)
{
	const char *notify_s = stanza_get_attr(el, "notify");
	struct pubsub_node node;
	enum pubsub_affiliation aff;
	struct stanza *ev = NULL, *ev_items;
	size_t n = 0;
	bool notify;

	if (pubsub_req_node(req, el, &node) < 0)
		return;
	notify = notify_s != NULL ? (strcmp(notify_s, "true") == 0 || strcmp(notify_s, "1") == 0)
				  : node.config.notify_retract;
	aff = pubsub_req_affiliation(req, &node);
	if (aff != PUBSUB_AFF_OWNER && aff != PUBSUB_AFF_PUBLISHER && aff != PUBSUB_AFF_PUBLISH_ONLY) {
		pubsub_error(req, "auth", "forbidden", NULL, NULL);
		goto out;
	}
	if (!node.config.persist_items) {
		pubsub_error(req, "cancel", "feature-not-implemented", "unsupported", "persistent-items");
		goto out;
	}
	/* Check every item first: all are retracted, or none. */
	for (size_t i = 0; i < el->n_children; i++) {
		const struct stanza *it = el->children[i].element;
		const char *id = it != NULL ? stanza_get_attr(it, "id") : NULL;
		struct pubsub_item item;
		int r;
		if (it == NULL || strcmp(it->name, "item") != 0)
			continue;
		if (id == NULL) {
			pubsub_error(req, "modify", "bad-request", "item-required", NULL);
			goto out;
		}
		r = pubsub_store_item_get(req->ps->store, node.id, id, &item);
		if (r == PUBSUB_STORE_NOT_FOUND) {
			pubsub_error(req, "cancel", "item-not-found", NULL, NULL);
			goto out;
		}
		if (r != PUBSUB_STORE_OK) {
			pubsub_store_failed(req, "reading an item");
			goto out;
		}
		/* publish-only removes only what it published itself. */
		bool mine = strcmp(item.publisher, req->bare) == 0;
		pubsub_item_clear(&item);
		if (aff == PUBSUB_AFF_PUBLISH_ONLY && !mine) {
			pubsub_error(req, "auth", "forbidden", NULL, NULL);
			goto out;
		}
		n++;
	}
	if (n == 0) {
		pubsub_error(req, "modify", "bad-request", "item-required", NULL);
		goto out;
	}
	ev = pubsub_notify_items_event(node.name, &ev_items);
	for (size_t i = 0; i < el->n_children; i++) {
		const struct stanza *it = el->children[i].element;
		if (it == NULL || strcmp(it->name, "item") != 0)
			continue;
		const char *id = stanza_get_attr(it, "id");
		int r = pubsub_store_item_delete(req->ps->store, node.id, id);
		if (r != PUBSUB_STORE_OK && r != PUBSUB_STORE_NOT_FOUND) {
			pubsub_store_failed(req, "retracting an item");
			goto out;
		}
		stanza_set_attr(stanza_add_child(ev_items, "retract", NULL), "id", id);
	}
	pubsub_reply_empty(req);
	if (notify && node.config.deliver_notifications)
		pubsub_notify(req->ps, &node, ev);
out:
	if (ev != NULL)
		stanza_unref(&ev);
	pubsub_node_clear(&node);
}

struct stanza *pubsub_publish_last_event(struct pubsub *ps, const struct pubsub_node *node)
{
	struct pubsub_item_query last = {.limit = 1, .from_end = true};
	struct pubsub_item *items;
	struct stanza *ev = NULL, *ev_items;
	size_t n;

	if (pubsub_store_items(ps->store, node->id, &last, &items, &n, NULL, NULL) != PUBSUB_STORE_OK) {
		JLOG_ERROR(0, "last item of %s: %s", node->name, pubsub_store_error(ps->store));
		return NULL;
	}
	if (n > 0) {
		ev = pubsub_notify_items_event(node->name, &ev_items);
		pubsub_notify_add_item(ev_items, &items[0], node->config.deliver_payloads);
	}
	pubsub_store_items_free(items, n);
	return ev;
}

void pubsub_publish_send_last(struct pubsub *ps, const struct pubsub_node *node, const char *to)
{
	struct stanza *ev = pubsub_publish_last_event(ps, node);

	if (ev != NULL) {
		pubsub_notify_one(ps, to, ev);
		stanza_unref(&ev);
	}
}
