/* pubsub-manage.c: subscriptions and affiliations as lists: an entity's
 * own across the service (XEP-0060 5.6, 5.7) and an owner's management of
 * a node's (8.8, 8.9). An owner's change is checked whole before any of
 * it is applied: one bad entry and nothing changes (not-acceptable, with
 * the entries that failed). Making a JID an outcast ends its
 * subscriptions; a node always keeps at least one owner.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pubsub.h"
#include "stanza.h"

static void pubsub_manage_sub_element(struct stanza *parent, const struct pubsub_subscription *sub,
				      bool with_node)
{
	struct stanza *s = stanza_add_child(parent, "subscription", NULL);

	if (with_node)
		stanza_set_attr(s, "node", sub->node);
	stanza_set_attr(s, "jid", sub->jid);
	stanza_set_attr(s, "subscription", pubsub_sub_state_name(sub->state));
	stanza_set_attr(s, "subid", sub->subid);
}

/* The node named by el, when it names one: 0 (id 0 when none is named),
 * or -1 after item-not-found. */
static int pubsub_manage_optional_node(struct pubsub_req *req, const struct stanza *el,
				       struct pubsub_node *node_r)
{
	memset(node_r, 0, sizeof(*node_r));
	if (stanza_get_attr(el, "node") == NULL)
		return 0;
	return pubsub_req_node(req, el, node_r);
}

void pubsub_manage_own_subscriptions(struct pubsub_req *req, const struct stanza *el)
{
	struct pubsub_node node;
	struct pubsub_subscription *subs;
	size_t n;

	if (pubsub_manage_optional_node(req, el, &node) < 0)
		return;
	if (pubsub_store_subscriptions(req->ps->store, pubsub_service(req->ps),
				       node.id, req->bare, &subs, &n) !=
	    PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "listing subscriptions");
		pubsub_node_clear(&node);
		return;
	}
	struct stanza *res = pubsub_result(req);
	struct stanza *list = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS),
					       "subscriptions", NULL);
	if (node.name != NULL)
		stanza_set_attr(list, "node", node.name);
	for (size_t i = 0; i < n; i++)
		pubsub_manage_sub_element(list, &subs[i], true);
	pubsub_send(req->ps, res);
	stanza_unref(&res);
	pubsub_store_subscriptions_free(subs, n);
	pubsub_node_clear(&node);
}

void pubsub_manage_own_affiliations(struct pubsub_req *req, const struct stanza *el)
{
	struct pubsub_node node;
	struct pubsub_affiliation_row *rows;
	size_t n;

	if (pubsub_manage_optional_node(req, el, &node) < 0)
		return;
	if (pubsub_store_affiliations(req->ps->store, pubsub_service(req->ps),
				      node.id, req->bare, &rows, &n) !=
	    PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "listing affiliations");
		pubsub_node_clear(&node);
		return;
	}
	struct stanza *res = pubsub_result(req);
	struct stanza *list = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS),
					       "affiliations", NULL);
	if (node.name != NULL)
		stanza_set_attr(list, "node", node.name);
	for (size_t i = 0; i < n; i++) {
		struct stanza *a = stanza_add_child(list, "affiliation", NULL);
		stanza_set_attr(a, "node", rows[i].node);
		stanza_set_attr(a, "affiliation", pubsub_affiliation_name(rows[i].affiliation));
	}
	pubsub_send(req->ps, res);
	stanza_unref(&res);
	pubsub_store_affiliations_free(rows, n);
	pubsub_node_clear(&node);
}

static int pubsub_manage_owner_node(struct pubsub_req *req, const struct stanza *el,
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

/* A reply listing the entries that could not be applied (not the whole
 * request): the error reply to a copy of the iq carrying only those. */
static void pubsub_manage_rejected(struct pubsub_req *req, const struct stanza *el,
				   const struct stanza *bad)
{
	struct stanza *shown = stanza_new("iq", req->iq->ns);
	static const char *const attrs[] = {"id", "type", "from", "to"};
	struct stanza *list;

	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		stanza_set_attr(shown, attrs[i], stanza_get_attr(req->iq, attrs[i]));
	list = stanza_add_child(stanza_add_child(shown, "pubsub", PUBSUB_NS_OWNER), el->name, NULL);
	stanza_set_attr(list, "node", stanza_get_attr(el, "node"));
	for (size_t i = 0; i < bad->n_children; i++) {
		if (bad->children[i].element != NULL)
			stanza_append_copy(list, bad->children[i].element);
	}
	struct stanza *r = stanza_error_reply(shown, "modify", "not-acceptable", NULL);
	pubsub_send(req->ps, r);
	stanza_unref(&r);
	stanza_unref(&shown);
}

static void pubsub_manage_subscriptions_get(struct pubsub_req *req, const struct pubsub_node *node)
{
	struct pubsub_subscription *subs;
	size_t n;

	if (pubsub_store_subscriptions(req->ps->store, pubsub_service(req->ps),
				       node->id, NULL, &subs, &n) != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "listing subscriptions");
		return;
	}
	struct stanza *res = pubsub_result(req);
	struct stanza *list = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS_OWNER),
					       "subscriptions", NULL);
	stanza_set_attr(list, "node", node->name);
	for (size_t i = 0; i < n; i++)
		pubsub_manage_sub_element(list, &subs[i], false);
	pubsub_send(req->ps, res);
	stanza_unref(&res);
	pubsub_store_subscriptions_free(subs, n);
}

void pubsub_manage_subscriptions(struct pubsub_req *req, const struct stanza *el, bool set)
{
	struct pubsub_node node;
	struct stanza *bad = NULL;
	size_t i;

	if (pubsub_manage_owner_node(req, el, &node) < 0)
		return;
	if (!set) {
		pubsub_manage_subscriptions_get(req, &node);
		pubsub_node_clear(&node);
		return;
	}
	bad = stanza_new("subscriptions", PUBSUB_NS_OWNER);
	for (i = 0; i < el->n_children; i++) {
		const struct stanza *s = el->children[i].element;
		char *bare;
		if (s == NULL)
			continue;
		bare = pubsub_bare_jid(stanza_get_attr(s, "jid"));
		if (strcmp(s->name, "subscription") != 0 || bare == NULL ||
		    pubsub_sub_state_parse(stanza_get_attr(s, "subscription")) < 0)
			stanza_append_copy(bad, s);
		free(bare);
	}
	if (stanza_count_child_elements(bad) > 0) {
		pubsub_manage_rejected(req, el, bad);
		goto out;
	}
	for (i = 0; i < el->n_children; i++) {
		const struct stanza *s = el->children[i].element;
		const char *subid;
		char *jid;
		enum pubsub_sub_state state;
		struct pubsub_subscription cur;
		int r;
		if (s == NULL)
			continue;
		jid = pubsub_full_jid(stanza_get_attr(s, "jid"));
		subid = stanza_get_attr(s, "subid");
		state = (enum pubsub_sub_state)pubsub_sub_state_parse(stanza_get_attr(s, "subscription"));
		r = pubsub_store_subscription_get(req->ps->store, node.id, jid, &cur);
		if (r == PUBSUB_STORE_NOT_FOUND) {
			char id[2 * PUBSUB_ID_BYTES + 1];
			pubsub_new_id(id);
			cur.jid = xstrdup(jid);
			cur.subid = xstrdup(subid != NULL ? subid : id);
			cur.deliver = true;
			cur.state = PUBSUB_SUB_NONE;
		} else if (r != PUBSUB_STORE_OK) {
			free(jid);
			pubsub_store_failed(req, "reading a subscription");
			goto out;
		}
		if (cur.state != state) {
			cur.state = state;
			r = state == PUBSUB_SUB_NONE
				    ? pubsub_store_subscription_delete(req->ps->store, node.id, jid)
				    : pubsub_store_subscription_put(req->ps->store, node.id, &cur);
			if (r != PUBSUB_STORE_OK) {
				free(jid);
				pubsub_subscription_clear(&cur);
				pubsub_store_failed(req, "changing a subscription");
				goto out;
			}
			pubsub_notify_subscription(req->ps, node.name, jid, cur.subid, state);
		}
		free(jid);
		pubsub_subscription_clear(&cur);
	}
	pubsub_reply_empty(req);
out:
	stanza_unref(&bad);
	pubsub_node_clear(&node);
}

static void pubsub_manage_affiliations_get(struct pubsub_req *req, const struct pubsub_node *node)
{
	struct pubsub_affiliation_row *rows;
	size_t n;

	if (pubsub_store_affiliations(req->ps->store, pubsub_service(req->ps),
				      node->id, NULL, &rows, &n) != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "listing affiliations");
		return;
	}
	struct stanza *res = pubsub_result(req);
	struct stanza *list = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS_OWNER),
					       "affiliations", NULL);
	stanza_set_attr(list, "node", node->name);
	for (size_t i = 0; i < n; i++) {
		struct stanza *a = stanza_add_child(list, "affiliation", NULL);
		stanza_set_attr(a, "jid", rows[i].jid);
		stanza_set_attr(a, "affiliation", pubsub_affiliation_name(rows[i].affiliation));
	}
	pubsub_send(req->ps, res);
	stanza_unref(&res);
	pubsub_store_affiliations_free(rows, n);
}

/* Would the node still have an owner after the changes in el? */
static bool pubsub_manage_keeps_owner(struct pubsub_req *req, const struct pubsub_node *node,
				      const struct stanza *el)
{
	struct pubsub_affiliation_row *rows;
	size_t n;
	bool owner = false;

	for (size_t i = 0; i < el->n_children && !owner; i++) {
		const struct stanza *a = el->children[i].element;
		owner = a != NULL && pubsub_affiliation_parse(stanza_get_attr(a, "affiliation")) ==
					     PUBSUB_AFF_OWNER;
	}
	if (owner || pubsub_store_affiliations(req->ps->store, pubsub_service(req->ps),
					       node->id, NULL, &rows, &n) !=
			     PUBSUB_STORE_OK)
		return owner;
	for (size_t i = 0; i < n && !owner; i++) {
		bool changed = false;
		if (rows[i].affiliation != PUBSUB_AFF_OWNER)
			continue;
		for (size_t j = 0; j < el->n_children; j++) {
			const struct stanza *a = el->children[j].element;
			char *bare = a != NULL ? pubsub_bare_jid(stanza_get_attr(a, "jid")) : NULL;
			changed = changed || (bare != NULL && strcmp(bare, rows[i].jid) == 0);
			free(bare);
		}
		owner = !changed;
	}
	pubsub_store_affiliations_free(rows, n);
	return owner;
}

/* An outcast loses every subscription of its bare JID to the node. */
static int pubsub_manage_cast_out(struct pubsub_req *req, const struct pubsub_node *node,
				  const char *bare)
{
	struct pubsub_subscription *subs;
	size_t n;

	if (pubsub_store_subscriptions(req->ps->store, pubsub_service(req->ps),
				       node->id, bare, &subs, &n) != PUBSUB_STORE_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (pubsub_store_subscription_delete(req->ps->store, node->id, subs[i].jid) ==
		    PUBSUB_STORE_OK)
			pubsub_notify_subscription(req->ps, node->name, subs[i].jid, NULL,
						   PUBSUB_SUB_NONE);
	}
	pubsub_store_subscriptions_free(subs, n);
	return 0;
}

void pubsub_manage_affiliations(struct pubsub_req *req, const struct stanza *el, bool set)
{
	struct pubsub_node node;
	struct stanza *bad;
	size_t i;

	if (pubsub_manage_owner_node(req, el, &node) < 0)
		return;
	if (!set) {
		pubsub_manage_affiliations_get(req, &node);
		pubsub_node_clear(&node);
		return;
	}
	bad = stanza_new("affiliations", PUBSUB_NS_OWNER);
	for (i = 0; i < el->n_children; i++) {
		const struct stanza *a = el->children[i].element;
		char *bare;
		if (a == NULL)
			continue;
		bare = pubsub_bare_jid(stanza_get_attr(a, "jid"));
		if (strcmp(a->name, "affiliation") != 0 || bare == NULL ||
		    pubsub_affiliation_parse(stanza_get_attr(a, "affiliation")) < 0)
			stanza_append_copy(bad, a);
		free(bare);
	}
	if (stanza_count_child_elements(bad) > 0) {
		pubsub_manage_rejected(req, el, bad);
		goto out;
	}
	if (!pubsub_manage_keeps_owner(req, &node, el)) {
		pubsub_error(req, "modify", "not-acceptable", NULL, NULL);
		goto out;
	}
	for (i = 0; i < el->n_children; i++) {
		const struct stanza *a = el->children[i].element;
		if (a == NULL)
			continue;
		char *bare = pubsub_bare_jid(stanza_get_attr(a, "jid"));
		enum pubsub_affiliation aff =
			(enum pubsub_affiliation)pubsub_affiliation_parse(stanza_get_attr(a, "affiliation"));
		int r = pubsub_store_affiliation_set(req->ps->store, node.id, bare, aff);
		if (r == PUBSUB_STORE_OK && aff == PUBSUB_AFF_OUTCAST)
			r = pubsub_manage_cast_out(req, &node, bare) == 0 ? PUBSUB_STORE_OK
									  : PUBSUB_STORE_ERR;
		free(bare);
		if (r != PUBSUB_STORE_OK) {
			pubsub_store_failed(req, "changing an affiliation");
			goto out;
		}
	}
	pubsub_reply_empty(req);
out:
	stanza_unref(&bad);
	pubsub_node_clear(&node);
}
