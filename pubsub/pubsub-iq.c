/* pubsub-iq.c: iq requests to the service, their results and errors.
 *
 * One request is one iq get/set with one child: disco#info/#items, or a
 * <pubsub/> (entity, subscriber and publisher use cases) or <pubsub
 * xmlns='...#owner'/> (owner use cases) whose first child names the
 * operation. Anything else is service-unavailable (RFC 6120 8.3.3.19); an
 * operation we do not have is feature-not-implemented with the
 * pubsub#errors <unsupported feature='...'/> XEP-0060 names for it.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "component.h"
#include "config.h"
#include "digest.h"
#include "jid.h"
#include "log.h"
#include "pubsub.h"
#include "stanza.h"
#include "stream.h"

void pubsub_send(struct pubsub *ps, const struct stanza *st)
{
	if (ps->service != NULL)
		pubsub_pep_send(ps, ps->service, st);
	else
		pubsub_send_direct(ps, st);
}

const char *pubsub_self(const struct pubsub *ps)
{
	return ps->service != NULL ? ps->service : ps->domain;
}

void pubsub_config_default(const struct pubsub *ps, struct pubsub_node_config *c)
{
	pubsub_node_config_default(c);
	if (ps->service != NULL) {
		/* XEP-0163 section 4.3: PEP nodes default to the presence access
		 * model; one item is what PEP payloads (tune, avatar metadata,
		 * device lists) need. */
		c->access_model = PUBSUB_ACCESS_PRESENCE;
		c->max_items = 1;
	}
}

void pubsub_send_direct(struct pubsub *ps, const struct stanza *st)
{
	if (component_send(ps->component, st) < 0)
		JLOG_WARN(0, "router unreachable and queue full: dropped a %s to %s", st->name,
			  stanza_get_attr(st, "to") ? stanza_get_attr(st, "to") : "?");
}

void pubsub_new_id(char out[2 * PUBSUB_ID_BYTES + 1])
{
	digest_random_hex(out, PUBSUB_ID_BYTES);
}

char *pubsub_bare_jid(const char *s)
{
	struct jid jid;
	char *bare;

	if (s == NULL || jid_parse(s, -1, &jid) != JID_OK)
		return NULL;
	bare = jid_bare_string(&jid);
	jid_clear(&jid);
	return bare;
}

char *pubsub_full_jid(const char *s)
{
	struct jid jid;
	char *full;

	if (s == NULL || jid_parse(s, -1, &jid) != JID_OK)
		return NULL;
	full = jid_full_string(&jid);
	jid_clear(&jid);
	return full;
}

struct stanza *pubsub_result(const struct pubsub_req *req)
{
	struct stanza *r = stanza_new("iq", STREAM_NS_COMPONENT);

	stanza_set_attr(r, "type", "result");
	stanza_set_attr(r, "id", stanza_get_attr(req->iq, "id"));
	stanza_set_attr(r, "from", pubsub_self(req->ps));
	stanza_set_attr(r, "to", req->from);
	return r;
}

void pubsub_reply_empty(struct pubsub_req *req)
{
	struct stanza *r = pubsub_result(req);
	pubsub_send(req->ps, r);
	stanza_unref(&r);
}

void pubsub_error(struct pubsub_req *req, const char *type, const char *condition,
		  const char *app, const char *feature)
{
	struct stanza *r = stanza_error_reply(req->iq, type, condition, NULL);

	if (app != NULL) {
		struct stanza *err = stanza_find_child(r, "error", NULL);
		struct stanza *a = stanza_add_child(err, app, PUBSUB_NS_ERRORS);
		if (feature != NULL)
			stanza_set_attr(a, "feature", feature);
	}
	pubsub_send(req->ps, r);
	stanza_unref(&r);
}

void pubsub_error_text(struct pubsub_req *req, const char *type, const char *condition,
		       const char *app, const char *text)
{
	struct stanza *r = stanza_error_reply(req->iq, type, condition, text);

	if (app != NULL)
		stanza_add_child(stanza_find_child(r, "error", NULL), app, PUBSUB_NS_ERRORS);
	pubsub_send(req->ps, r);
	stanza_unref(&r);
}

void pubsub_store_failed(struct pubsub_req *req, const char *what)
{
	JLOG_ERROR(0, "%s: %s", what, pubsub_store_error(req->ps->store));
	pubsub_error(req, "wait", "internal-server-error", NULL, NULL);
}

int pubsub_req_node(struct pubsub_req *req, const struct stanza *el, struct pubsub_node *node_r)
{
	const char *name = stanza_get_attr(el, "node");
	int r;

	memset(node_r, 0, sizeof(*node_r));
	if (name == NULL || *name == '\0') {
		pubsub_error(req, "modify", "bad-request", "nodeid-required", NULL);
		return -1;
	}
	r = pubsub_store_node_get(req->ps->store, pubsub_service(req->ps), name, node_r);
	if (r == PUBSUB_STORE_NOT_FOUND) {
		pubsub_error(req, "cancel", "item-not-found", NULL, NULL);
		return -1;
	}
	if (r != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "loading a node");
		return -1;
	}
	return 0;
}

enum pubsub_affiliation pubsub_req_affiliation(struct pubsub_req *req, const struct pubsub_node *node)
{
	enum pubsub_affiliation aff = PUBSUB_AFF_NONE;

	if (pubsub_store_affiliation_get(req->ps->store, node->id, req->bare, &aff) != PUBSUB_STORE_OK)
		JLOG_ERROR(0, "affiliation of %s: %s", req->bare, pubsub_store_error(req->ps->store));
	return aff;
}

static bool pubsub_is(const struct stanza *el, const char *name)
{
	return el != NULL && strcmp(el->name, name) == 0;
}

/* <pubsub xmlns='http://jabber.org/protocol/pubsub'>: the operation is
 * its first child; publish-options, options and RSM <set/> go with it. */
static void pubsub_iq_pubsub(struct pubsub_req *req, const struct stanza *p, bool set)
{
	const struct stanza *op = stanza_child_element(p, 0);
	const struct stanza *second = stanza_child_element(p, 1);

	if (op == NULL || strcmp(op->ns, PUBSUB_NS) != 0) {
		pubsub_error(req, "modify", "bad-request", NULL, NULL);
	} else if (set && pubsub_is(op, "create")) {
		pubsub_owner_create(req, op, pubsub_is(second, "configure") ? second : NULL);
	} else if (set && pubsub_is(op, "publish")) {
		pubsub_publish(req, op, pubsub_is(second, "publish-options") ? second : NULL);
	} else if (set && pubsub_is(op, "retract")) {
		pubsub_retract(req, op);
	} else if (set && pubsub_is(op, "subscribe")) {
		pubsub_subscribe(req, op, pubsub_is(second, "options") ? second : NULL);
	} else if (set && pubsub_is(op, "unsubscribe")) {
		pubsub_unsubscribe(req, op);
	} else if (pubsub_is(op, "options")) {
		pubsub_subscribe_options(req, op, set);
	} else if (!set && pubsub_is(op, "items")) {
		const struct stanza *rsm = stanza_find_child(p, "set", PUBSUB_NS_RSM);
		pubsub_items(req, op, rsm);
	} else if (!set && pubsub_is(op, "subscriptions")) {
		pubsub_manage_own_subscriptions(req, op);
	} else if (!set && pubsub_is(op, "affiliations")) {
		pubsub_manage_own_affiliations(req, op);
	} else if (!set && pubsub_is(op, "default")) {
		pubsub_subscribe_default(req);
	} else {
		pubsub_error(req, "modify", "bad-request", NULL, NULL);
	}
}

static void pubsub_iq_owner(struct pubsub_req *req, const struct stanza *p, bool set)
{
	const struct stanza *op = stanza_child_element(p, 0);

	if (op == NULL || strcmp(op->ns, PUBSUB_NS_OWNER) != 0) {
		pubsub_error(req, "modify", "bad-request", NULL, NULL);
	} else if (pubsub_is(op, "configure")) {
		pubsub_owner_configure(req, op, set);
	} else if (!set && pubsub_is(op, "default")) {
		pubsub_owner_default(req);
	} else if (set && pubsub_is(op, "delete")) {
		pubsub_owner_delete(req, op);
	} else if (set && pubsub_is(op, "purge")) {
		pubsub_owner_purge(req, op);
	} else if (pubsub_is(op, "subscriptions")) {
		pubsub_manage_subscriptions(req, op, set);
	} else if (pubsub_is(op, "affiliations")) {
		pubsub_manage_affiliations(req, op, set);
	} else {
		pubsub_error(req, "modify", "bad-request", NULL, NULL);
	}
}

void pubsub_iq_handle(struct pubsub *ps, struct stanza *iq)
{
	const char *type = stanza_get_attr(iq, "type");
	const struct stanza *q = stanza_child_element(iq, 0);
	struct pubsub_req req = {.ps = ps, .iq = iq, .from = stanza_get_attr(iq, "from")};
	struct jid jid;
	bool set;

	if (type == NULL || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)) {
		/* Results and errors: answers to our roster questions, or
		 * nothing we asked. */
		(void)pubsub_relation_answer(ps, iq);
		return;
	}
	set = strcmp(type, "set") == 0;
	if (req.from == NULL || jid_parse(req.from, -1, &jid) != JID_OK) {
		/* The router checks 'from'; this is a defect upstream. */
		JLOG_INFO(0, "iq without a valid from ignored");
		return;
	}
	req.bare = jid_bare_string(&jid);
	req.domain = xstrdup(jid.domain);
	req.user = jid.node != NULL && config_is_user_domain(ps->config, jid.domain, strlen(jid.domain));
	jid_clear(&jid);

	if (q == NULL || stanza_count_child_elements(iq) != 1) {
		pubsub_error(&req, "modify", "bad-request", NULL, NULL);
	} else if (!set && strcmp(q->ns, PUBSUB_NS_DISCO_INFO) == 0 && pubsub_is(q, "query")) {
		pubsub_disco_info(&req, q);
	} else if (!set && strcmp(q->ns, PUBSUB_NS_DISCO_ITEMS) == 0 && pubsub_is(q, "query")) {
		pubsub_disco_items(&req, q);
	} else if (strcmp(q->ns, PUBSUB_NS) == 0 && pubsub_is(q, "pubsub")) {
		pubsub_iq_pubsub(&req, q, set);
	} else if (strcmp(q->ns, PUBSUB_NS_OWNER) == 0 && pubsub_is(q, "pubsub")) {
		pubsub_iq_owner(&req, q, set);
	} else {
		pubsub_error(&req, "cancel", "service-unavailable", NULL, NULL);
	}
	free(req.bare);
	free(req.domain);
}
