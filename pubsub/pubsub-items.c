/* pubsub-items.c: item retrieval (XEP-0060 6.5): all items, the newest
 * max_items, particular items by id, and pages of them (XEP-0059 result
 * set management: max, after, before, with first/last/count in reply).
 * Items come in publish order, oldest first; ids that do not exist are
 * left out (an empty <items/> when none does).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pubsub.h"
#include "stanza.h"

/* A non-negative decimal up to PUBSUB_MAX_ITEMS_LIMIT, else -1. */
static int64_t pubsub_items_number(const char *s)
{
	char *end;
	long long n;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || n > PUBSUB_MAX_ITEMS_LIMIT)
		return -1;
	return n;
}

/* The subid, when given, must be one of the requester's subscriptions. */
static bool pubsub_items_subid_ok(struct pubsub_req *req, const struct pubsub_node *node,
				  const char *subid)
{
	struct pubsub_subscription *subs;
	size_t n;
	bool ok = false;

	if (subid == NULL)
		return true;
	if (pubsub_store_subscriptions(req->ps->store, pubsub_service(req->ps),
				       node->id, req->bare, &subs, &n) !=
	    PUBSUB_STORE_OK)
		return false;
	for (size_t i = 0; i < n; i++)
		ok = ok || strcmp(subs[i].subid, subid) == 0;
	pubsub_store_subscriptions_free(subs, n);
	return ok;
}

/* The seq of item id, or -1 after item-not-found. */
static int64_t pubsub_items_seq(struct pubsub_req *req, const struct pubsub_node *node,
				const char *id)
{
	struct pubsub_item item;
	int64_t seq;

	if (pubsub_store_item_get(req->ps->store, node->id, id, &item) != PUBSUB_STORE_OK) {
		pubsub_error(req, "cancel", "item-not-found", NULL, NULL);
		return -1;
	}
	seq = item.seq;
	pubsub_item_clear(&item);
	return seq;
}

/* Items by id, in the order asked for. */
static struct stanza *pubsub_items_by_id(struct pubsub_req *req, const struct pubsub_node *node,
					 const struct stanza *el)
{
	struct stanza *res = pubsub_result(req);
	struct stanza *list = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS), "items",
					       NULL);

	stanza_set_attr(list, "node", node->name);
	for (size_t i = 0; i < el->n_children; i++) {
		const struct stanza *it = el->children[i].element;
		const char *id = it != NULL ? stanza_get_attr(it, "id") : NULL;
		struct pubsub_item item;
		if (id == NULL || strcmp(it->name, "item") != 0)
			continue;
		if (pubsub_store_item_get(req->ps->store, node->id, id, &item) == PUBSUB_STORE_OK) {
			pubsub_notify_add_item(list, &item, true);
			pubsub_item_clear(&item);
		}
	}
	return res;
}

void pubsub_items(struct pubsub_req *req, const struct stanza *el, const struct stanza *rsm)
{
	struct pubsub_item_query q = {.limit = -1};
	struct pubsub_node node;
	struct pubsub_item *items = NULL;
	size_t n = 0;
	int64_t total = 0, before = 0;
	const char *max_items = stanza_get_attr(el, "max_items");
	struct stanza *res = NULL;

	if (pubsub_req_node(req, el, &node) < 0)
		return;
	if (pubsub_access_retrieve(req, &node, pubsub_req_affiliation(req, &node)) < 0)
		goto out;
	if (!node.config.persist_items) {
		pubsub_error(req, "cancel", "feature-not-implemented", "unsupported", "persistent-items");
		goto out;
	}
	if (!pubsub_items_subid_ok(req, &node, stanza_get_attr(el, "subid"))) {
		pubsub_error(req, "modify", "not-acceptable", "invalid-subid", NULL);
		goto out;
	}
	if (stanza_find_child(el, "item", PUBSUB_NS) != NULL) {
		res = pubsub_items_by_id(req, &node, el);
		pubsub_send(req->ps, res);
		goto out;
	}
	if (max_items != NULL) {
		q.limit = pubsub_items_number(max_items);
		q.from_end = true;
		if (q.limit < 1) {
			pubsub_error(req, "modify", "bad-request", NULL, NULL);
			goto out;
		}
	}
	if (rsm != NULL) {
		struct stanza *max = stanza_find_child(rsm, "max", PUBSUB_NS_RSM);
		struct stanza *after = stanza_find_child(rsm, "after", PUBSUB_NS_RSM);
		struct stanza *bef = stanza_find_child(rsm, "before", PUBSUB_NS_RSM);
		char *text;
		if (max != NULL) {
			text = stanza_text(max);
			int64_t m = pubsub_items_number(text);
			free(text);
			if (m < 0) {
				pubsub_error(req, "modify", "bad-request", NULL, NULL);
				goto out;
			}
			q.limit = q.limit < 0 || m < q.limit ? m : q.limit;
		}
		if (after != NULL) {
			text = stanza_text(after);
			q.after = pubsub_items_seq(req, &node, text);
			free(text);
			if (q.after < 0)
				goto out;
		}
		if (bef != NULL) {
			/* <before/> empty: the last page. */
			text = stanza_text(bef);
			q.from_end = true;
			q.before = *text != '\0' ? pubsub_items_seq(req, &node, text) : 0;
			free(text);
			if (q.before < 0)
				goto out;
		}
	}
	if (pubsub_store_items(req->ps->store, node.id, &q, &items, &n, &total, &before) !=
	    PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "reading items");
		goto out;
	}
	res = pubsub_result(req);
	struct stanza *p = stanza_add_child(res, "pubsub", PUBSUB_NS);
	struct stanza *list = stanza_add_child(p, "items", NULL);
	stanza_set_attr(list, "node", node.name);
	for (size_t i = 0; i < n; i++)
		pubsub_notify_add_item(list, &items[i], true);
	if (rsm != NULL) {
		struct stanza *set = stanza_add_child(p, "set", PUBSUB_NS_RSM);
		char num[24];
		if (n > 0) {
			struct stanza *first = stanza_add_child(set, "first", NULL);
			snprintf(num, sizeof(num), "%" PRId64, before);
			stanza_set_attr(first, "index", num);
			stanza_add_text(first, items[0].id, strlen(items[0].id));
			stanza_add_text(stanza_add_child(set, "last", NULL), items[n - 1].id,
					strlen(items[n - 1].id));
		}
		snprintf(num, sizeof(num), "%" PRId64, total);
		stanza_add_text(stanza_add_child(set, "count", NULL), num, strlen(num));
	}
	pubsub_send(req->ps, res);
out:
	if (res != NULL)
		stanza_unref(&res);
	pubsub_store_items_free(items, n);
	pubsub_node_clear(&node);
}
