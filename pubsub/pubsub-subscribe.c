/* pubsub-subscribe.c: the subscriber's use cases (XEP-0060 6.1-6.4):
 * subscribe (with a subid; pending for nodes with the authorize access
 * model, the owners then get an approval form by message and their
 * answer takes effect), unsubscribe, subscription options (one option,
 * pubsub#deliver) and the default options.
 *
 * One subscription per JID and node: subscribing again returns the
 * subscription there is. The JID may be the requester's bare or full JID;
 * notifications go to exactly that JID.
 */
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "log.h"
#include "pubsub-form.h"
#include "pubsub.h"
#include "stanza.h"
#include "stream.h"

/* The 'jid' attribute, normalised (the caller frees it) and checked
 * against the requester (owners may act for others where allow_owner).
 * Returns NULL after answering. */
static char *pubsub_subscribe_jid(struct pubsub_req *req, const struct stanza *el,
				  const struct pubsub_node *node, const char *mismatch_type,
				  const char *mismatch, const char *mismatch_app, bool allow_owner)
{
	const char *attr = stanza_get_attr(el, "jid");
	struct jid jid;
	char *bare, *full;
	bool same;

	if (attr == NULL) {
		pubsub_error(req, "modify", "bad-request", "jid-required", NULL);
		return NULL;
	}
	if (jid_parse(attr, -1, &jid) != JID_OK) {
		pubsub_error(req, "modify", "bad-request", "invalid-jid", NULL);
		return NULL;
	}
	bare = jid_bare_string(&jid);
	full = jid_full_string(&jid);
	jid_clear(&jid);
	same = strcmp(bare, req->bare) == 0;
	free(bare);
	if (!same && !(allow_owner && pubsub_req_affiliation(req, node) == PUBSUB_AFF_OWNER)) {
		pubsub_error(req, mismatch_type, mismatch, mismatch_app, NULL);
		free(full);
		return NULL;
	}
	return full;
}

/* Subscription options from a submitted form: 0, or -1 when a field is
 * unknown or a value invalid. */
static int pubsub_subscribe_parse_options(const struct stanza *x, bool *deliver)
{
	char *type = pubsub_form_type(x);
	bool ok = type == NULL || strcmp(type, PUBSUB_NS_SUB_OPTIONS) == 0;

	free(type);
	for (size_t i = 0; ok && i < x->n_children; i++) {
		const struct stanza *f = x->children[i].element;
		const char *var;
		char **values;
		size_t n;
		if (f == NULL || strcmp(f->name, "field") != 0)
			continue;
		var = stanza_get_attr(f, "var");
		if (var != NULL && strcmp(var, "FORM_TYPE") == 0)
			continue;
		values = pubsub_form_values(f, &n);
		ok = var != NULL && strcmp(var, "pubsub#deliver") == 0 && n == 1 &&
		     pubsub_form_parse_bool(values[0], deliver);
		pubsub_form_values_free(values);
	}
	return ok ? 0 : -1;
}

static void pubsub_subscribe_options_form(struct stanza *parent, bool deliver)
{
	struct stanza *x = pubsub_form_add(parent, "form", PUBSUB_NS_SUB_OPTIONS);

	pubsub_form_field(x, "pubsub#deliver", "boolean", "Enable delivery?", deliver ? "1" : "0");
}

static void pubsub_subscribe_result(struct pubsub_req *req, const char *node,
				    const struct pubsub_subscription *sub)
{
	struct stanza *res = pubsub_result(req);
	struct stanza *s = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS),
					    "subscription", NULL);

	stanza_set_attr(s, "node", node);
	stanza_set_attr(s, "jid", sub->jid);
	stanza_set_attr(s, "subid", sub->subid);
	stanza_set_attr(s, "subscription", pubsub_sub_state_name(sub->state));
	pubsub_send(req->ps, res);
	stanza_unref(&res);
}

/* XEP-0060 8.6: every owner gets the approval form. */
static void pubsub_subscribe_ask_owners(struct pubsub *ps, const struct pubsub_node *node,
					const struct pubsub_subscription *sub)
{
	struct pubsub_affiliation_row *rows;
	size_t n;

	if (pubsub_store_affiliations(ps->store, pubsub_service(ps),
				      node->id, NULL, &rows, &n) != PUBSUB_STORE_OK) {
		JLOG_ERROR(0, "owners of %s: %s", node->name, pubsub_store_error(ps->store));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (rows[i].affiliation != PUBSUB_AFF_OWNER)
			continue;
		struct stanza *m = stanza_new("message", STREAM_NS_COMPONENT);
		char id[2 * PUBSUB_ID_BYTES + 1];
		pubsub_new_id(id);
		stanza_set_attr(m, "from", ps->domain);
		stanza_set_attr(m, "to", rows[i].jid);
		stanza_set_attr(m, "id", id);
		struct stanza *x = pubsub_form_add(m, "form", PUBSUB_NS_SUB_AUTH);
		stanza_add_text(stanza_add_child(x, "title", NULL), "PubSub subscriber request",
				strlen("PubSub subscriber request"));
		pubsub_form_field(x, "pubsub#subid", "hidden", NULL, sub->subid);
		pubsub_form_field(x, "pubsub#node", "text-single", "Node ID", node->name);
		pubsub_form_field(x, "pubsub#subscriber_jid", "jid-single", "Subscriber Address",
				  sub->jid);
		pubsub_form_field(x, "pubsub#allow", "boolean",
				  "Allow this JID to subscribe to this pubsub node?", "false");
		pubsub_send(ps, m);
		stanza_unref(&m);
	}
	pubsub_store_affiliations_free(rows, n);
}

void pubsub_subscribe(struct pubsub_req *req, const struct stanza *el, const struct stanza *options)
{
	struct pubsub_node node;
	struct pubsub_subscription sub;
	enum pubsub_affiliation aff;
	const struct stanza *x = options != NULL ? stanza_find_child(options, "x", PUBSUB_NS_DATA)
						 : NULL;
	char *jid = NULL;
	char subid[2 * PUBSUB_ID_BYTES + 1];
	bool deliver = true;
	int r;

	if (pubsub_req_node(req, el, &node) < 0)
		return;
	jid = pubsub_subscribe_jid(req, el, &node, "modify", "bad-request", "invalid-jid", false);
	if (jid == NULL)
		goto out;
	aff = pubsub_req_affiliation(req, &node);
	if (pubsub_access_subscribe(req, &node, aff) < 0)
		goto out;
	r = pubsub_store_subscription_get(req->ps->store, node.id, jid, &sub);
	if (r == PUBSUB_STORE_OK) {
		if (sub.state == PUBSUB_SUB_PENDING)
			pubsub_error(req, "auth", "not-authorized", "pending-subscription", NULL);
		else
			pubsub_subscribe_result(req, node.name, &sub);
		pubsub_subscription_clear(&sub);
		goto out;
	}
	if (r != PUBSUB_STORE_NOT_FOUND) {
		pubsub_store_failed(req, "reading a subscription");
		goto out;
	}
	if (x != NULL && pubsub_subscribe_parse_options(x, &deliver) < 0) {
		pubsub_error(req, "modify", "bad-request", "invalid-options", NULL);
		goto out;
	}
	pubsub_new_id(subid);
	sub.jid = jid;
	sub.subid = subid;
	sub.deliver = deliver;
	sub.state = node.config.access_model == PUBSUB_ACCESS_AUTHORIZE && aff != PUBSUB_AFF_OWNER &&
				    aff != PUBSUB_AFF_PUBLISHER && aff != PUBSUB_AFF_MEMBER
			    ? PUBSUB_SUB_PENDING
			    : PUBSUB_SUB_SUBSCRIBED;
	if (pubsub_store_subscription_put(req->ps->store, node.id, &sub) != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "storing a subscription");
		goto out;
	}
	pubsub_subscribe_result(req, node.name, &sub);
	if (sub.state == PUBSUB_SUB_PENDING)
		pubsub_subscribe_ask_owners(req->ps, &node, &sub);
	else if (node.config.send_last_published_item == PUBSUB_SEND_LAST_ON_SUB && deliver)
		pubsub_publish_send_last(req->ps, &node, jid);
out:
	free(jid);
	pubsub_node_clear(&node);
}

/* The subscription el names (jid, subid) for unsubscribe and options:
 * 0, or -1 after answering. */
static int pubsub_subscribe_find(struct pubsub_req *req, const struct stanza *el,
				 const struct pubsub_node *node, const char *missing_type,
				 struct pubsub_subscription *sub_r)
{
	char *jid = pubsub_subscribe_jid(req, el, node, "auth", "forbidden", NULL, true);
	const char *subid = stanza_get_attr(el, "subid");
	int r;

	if (jid == NULL)
		return -1;
	r = pubsub_store_subscription_get(req->ps->store, node->id, jid, sub_r);
	free(jid);
	if (r == PUBSUB_STORE_NOT_FOUND) {
		pubsub_error(req, missing_type, "unexpected-request", "not-subscribed", NULL);
		return -1;
	}
	if (r != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "reading a subscription");
		return -1;
	}
	if (subid != NULL && strcmp(subid, sub_r->subid) != 0) {
		pubsub_error(req, "modify", "not-acceptable", "invalid-subid", NULL);
		pubsub_subscription_clear(sub_r);
		return -1;
	}
	return 0;
}

void pubsub_unsubscribe(struct pubsub_req *req, const struct stanza *el)
{
	struct pubsub_node node;
	struct pubsub_subscription sub;

	if (pubsub_req_node(req, el, &node) < 0)
		return;
	if (pubsub_subscribe_find(req, el, &node, "cancel", &sub) == 0) {
		if (pubsub_store_subscription_delete(req->ps->store, node.id, sub.jid) != PUBSUB_STORE_OK)
			pubsub_store_failed(req, "deleting a subscription");
		else
			pubsub_reply_empty(req);
		pubsub_subscription_clear(&sub);
	}
	pubsub_node_clear(&node);
}

void pubsub_subscribe_options(struct pubsub_req *req, const struct stanza *el, bool set)
{
	struct pubsub_node node;
	struct pubsub_subscription sub;
	const struct stanza *x = stanza_find_child(el, "x", PUBSUB_NS_DATA);

	if (pubsub_req_node(req, el, &node) < 0)
		return;
	if (pubsub_subscribe_find(req, el, &node, "modify", &sub) < 0) {
		pubsub_node_clear(&node);
		return;
	}
	if (!set) {
		struct stanza *res = pubsub_result(req);
		struct stanza *o = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS),
						    "options", NULL);
		stanza_set_attr(o, "node", node.name);
		stanza_set_attr(o, "jid", sub.jid);
		stanza_set_attr(o, "subid", sub.subid);
		pubsub_subscribe_options_form(o, sub.deliver);
		pubsub_send(req->ps, res);
		stanza_unref(&res);
	} else if (x == NULL || pubsub_subscribe_parse_options(x, &sub.deliver) < 0) {
		pubsub_error(req, "modify", "bad-request", "invalid-options", NULL);
	} else if (pubsub_store_subscription_put(req->ps->store, node.id, &sub) != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "storing subscription options");
	} else {
		pubsub_reply_empty(req);
	}
	pubsub_subscription_clear(&sub);
	pubsub_node_clear(&node);
}

void pubsub_subscribe_default(struct pubsub_req *req)
{
	struct stanza *res = pubsub_result(req);
	struct stanza *d = stanza_add_child(stanza_add_child(res, "pubsub", PUBSUB_NS), "default",
					    NULL);

	pubsub_subscribe_options_form(d, true);
	pubsub_send(req->ps, res);
	stanza_unref(&res);
}

/* An owner's submitted approval form (XEP-0060 8.6). Anything else sent
 * to the service as a message is ignored. */
void pubsub_subscribe_message(struct pubsub *ps, struct stanza *msg)
{
	const struct stanza *x = stanza_find_child(msg, "x", PUBSUB_NS_DATA);
	char *type = x != NULL ? pubsub_form_type(x) : NULL;
	char *name = NULL, *jid = NULL, *subid = NULL, *allow_s = NULL;
	char *owner = pubsub_bare_jid(stanza_get_attr(msg, "from"));
	const char *kind = x != NULL ? pubsub_form_kind(x) : NULL;
	struct pubsub_node node = {0};
	struct pubsub_subscription sub = {0};
	enum pubsub_affiliation aff = PUBSUB_AFF_NONE;
	bool allow;

	if (type == NULL || strcmp(type, PUBSUB_NS_SUB_AUTH) != 0 || owner == NULL || kind == NULL ||
	    strcmp(kind, "submit") != 0)
		goto out;
	name = pubsub_form_get(x, "pubsub#node");
	jid = pubsub_form_get(x, "pubsub#subscriber_jid");
	subid = pubsub_form_get(x, "pubsub#subid");
	allow_s = pubsub_form_get(x, "pubsub#allow");
	if (name == NULL || jid == NULL || allow_s == NULL || !pubsub_form_parse_bool(allow_s, &allow) ||
	    pubsub_store_node_get(ps->store, pubsub_service(ps), name, &node) != PUBSUB_STORE_OK)
		goto out;
	if (pubsub_store_affiliation_get(ps->store, node.id, owner, &aff) != PUBSUB_STORE_OK ||
	    aff != PUBSUB_AFF_OWNER) {
		JLOG_INFO(0, "authorization form for %s from %s, not an owner: ignored", name, owner);
		goto out;
	}
	if (pubsub_store_subscription_get(ps->store, node.id, jid, &sub) != PUBSUB_STORE_OK ||
	    sub.state != PUBSUB_SUB_PENDING || (subid != NULL && strcmp(subid, sub.subid) != 0))
		goto out; /* decided already, or cancelled */
	if (allow) {
		sub.state = PUBSUB_SUB_SUBSCRIBED;
		if (pubsub_store_subscription_put(ps->store, node.id, &sub) != PUBSUB_STORE_OK)
			goto failed;
		pubsub_notify_subscription(ps, node.name, sub.jid, sub.subid, sub.state);
		if (node.config.send_last_published_item == PUBSUB_SEND_LAST_ON_SUB && sub.deliver)
			pubsub_publish_send_last(ps, &node, sub.jid);
	} else {
		if (pubsub_store_subscription_delete(ps->store, node.id, sub.jid) != PUBSUB_STORE_OK)
			goto failed;
		pubsub_notify_subscription(ps, node.name, sub.jid, NULL, PUBSUB_SUB_NONE);
	}
	goto out;
failed:
	JLOG_ERROR(0, "authorization for %s on %s: %s", jid, name, pubsub_store_error(ps->store));
out:
	pubsub_subscription_clear(&sub);
	pubsub_node_clear(&node);
	free(type);
	free(owner);
	free(name);
	free(jid);
	free(subid);
	free(allow_s);
}
