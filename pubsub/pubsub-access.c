/* pubsub-access.c: who may do what (XEP-0060 4.1 affiliations, 4.5 access
 * models, the publish model, and [pubsub] create_nodes).
 *
 * Affiliations first: an outcast may do nothing, an owner or publisher may
 * always retrieve, publish-only may never subscribe or retrieve. Then the
 * access model: open lets anyone in; authorize needs the owner's approval
 * (a pending subscription) and retrieval needs a subscription; whitelist
 * lets in members, publishers and owners only; presence lets in whoever
 * may see the owner's presence (roster subscription from or both) and
 * roster whoever is in one of the owner's roster groups the node allows:
 * the owner's sm says (pubsub-relation.c), and a request waiting for its
 * answer is handled again when the answer comes. On a PEP service
 * (pubsub-pep.c) only the account creates nodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "buf.h"
#include "jid.h"
#include "log.h"
#include "pubsub.h"
#include "stanza.h"

static bool pubsub_access_whitelisted(enum pubsub_affiliation aff)
{
	return aff == PUBSUB_AFF_OWNER || aff == PUBSUB_AFF_PUBLISHER || aff == PUBSUB_AFF_MEMBER;
}

char *pubsub_access_model_owner(struct pubsub *ps, const struct pubsub_node *node)
{
	struct pubsub_affiliation_row *rows;
	char *owner = NULL;
	size_t n;

	if (pubsub_store_affiliations(ps->store, pubsub_service(ps),
				      node->id, NULL, &rows, &n) != PUBSUB_STORE_OK) {
		JLOG_ERROR(0, "owners of %s: %s", node->name, pubsub_store_error(ps->store));
		return NULL;
	}
	for (size_t i = 0; i < n && owner == NULL; i++) {
		const char *at = strchr(rows[i].jid, '@');
		if (rows[i].affiliation == PUBSUB_AFF_OWNER && at != NULL &&
		    config_is_user_domain(ps->config, at + 1, strlen(at + 1)))
			owner = xstrdup(rows[i].jid);
	}
	pubsub_store_affiliations_free(rows, n);
	return owner;
}

int pubsub_access_check_config_model(struct pubsub_req *req, const struct pubsub_node_config *c)
{
	if ((c->access_model == PUBSUB_ACCESS_PRESENCE || c->access_model == PUBSUB_ACCESS_ROSTER) &&
	    !req->user) {
		pubsub_error_text(req, "modify", "not-acceptable", "unsupported-access-model",
				  "the presence and roster access models need an owner with an "
				  "account on this server, whose roster can be asked");
		return -1;
	}
	return 0;
}

/* The presence and roster models: 0 when the requester is let in, -1
 * after refusing, -2 after parking the request until sm answers. */
static int pubsub_access_relation(struct pubsub_req *req, const struct pubsub_node *node)
{
	bool presence = node->config.access_model == PUBSUB_ACCESS_PRESENCE;
	const char *app = presence ? "presence-subscription-required" : "not-in-roster-group";
	char *owner = pubsub_access_model_owner(req->ps, node);
	const struct pubsub_relation *rel;
	int r = 0;

	if (owner == NULL) {
		pubsub_error_text(req, "auth", "not-authorized", app,
				  "no owner of this node has an account on this server");
		return -1;
	}
	rel = pubsub_relation_get(req->ps, owner, req->bare);
	if (rel == NULL) {
		pubsub_relation_park(req->ps, owner, req->bare, req->iq);
		r = -2;
	} else if (!pubsub_relation_allows(&node->config, rel)) {
		pubsub_error(req, "auth", "not-authorized", app, NULL);
		r = -1;
	}
	free(owner);
	return r;
}

int pubsub_access_subscribe(struct pubsub_req *req, const struct pubsub_node *node,
			    enum pubsub_affiliation aff)
{
	if (aff == PUBSUB_AFF_OUTCAST || aff == PUBSUB_AFF_PUBLISH_ONLY) {
		pubsub_error(req, "auth", "forbidden", NULL, NULL);
		return -1;
	}
	if (node->config.access_model == PUBSUB_ACCESS_WHITELIST && !pubsub_access_whitelisted(aff)) {
		pubsub_error(req, "cancel", "not-allowed", "closed-node", NULL);
		return -1;
	}
	if ((node->config.access_model == PUBSUB_ACCESS_PRESENCE ||
	     node->config.access_model == PUBSUB_ACCESS_ROSTER) &&
	    !pubsub_access_whitelisted(aff))
		return pubsub_access_relation(req, node);
	return 0;
}

int pubsub_access_retrieve(struct pubsub_req *req, const struct pubsub_node *node,
			   enum pubsub_affiliation aff)
{
	struct pubsub_subscription sub;
	bool subscribed = false;

	if (aff == PUBSUB_AFF_OUTCAST || aff == PUBSUB_AFF_PUBLISH_ONLY) {
		pubsub_error(req, "auth", "forbidden", NULL, NULL);
		return -1;
	}
	if (pubsub_access_whitelisted(aff) || node->config.access_model == PUBSUB_ACCESS_OPEN)
		return 0;
	if (node->config.access_model == PUBSUB_ACCESS_WHITELIST) {
		pubsub_error(req, "cancel", "not-allowed", "closed-node", NULL);
		return -1;
	}
	if (node->config.access_model == PUBSUB_ACCESS_PRESENCE ||
	    node->config.access_model == PUBSUB_ACCESS_ROSTER)
		return pubsub_access_relation(req, node);
	/* authorize: an approved subscription of the requester's bare or
	 * full JID. */
	if (pubsub_store_subscription_get(req->ps->store, node->id, req->bare, &sub) ==
	    PUBSUB_STORE_OK) {
		subscribed = sub.state == PUBSUB_SUB_SUBSCRIBED;
		pubsub_subscription_clear(&sub);
	}
	if (!subscribed && pubsub_store_subscription_get(req->ps->store, node->id, req->from, &sub) ==
				   PUBSUB_STORE_OK) {
		subscribed = sub.state == PUBSUB_SUB_SUBSCRIBED;
		pubsub_subscription_clear(&sub);
	}
	if (!subscribed) {
		pubsub_error(req, "auth", "not-authorized", "not-subscribed", NULL);
		return -1;
	}
	return 0;
}

bool pubsub_access_may_publish(struct pubsub_req *req, const struct pubsub_node *node,
			       enum pubsub_affiliation aff)
{
	struct pubsub_subscription *subs;
	size_t n;
	bool ok = false;

	if (aff == PUBSUB_AFF_OUTCAST)
		return false;
	if (aff == PUBSUB_AFF_OWNER || aff == PUBSUB_AFF_PUBLISHER || aff == PUBSUB_AFF_PUBLISH_ONLY)
		return true;
	switch (node->config.publish_model) {
	case PUBSUB_PUBLISH_OPEN:
		return true;
	case PUBSUB_PUBLISH_PUBLISHERS:
		return false;
	case PUBSUB_PUBLISH_SUBSCRIBERS:
		if (pubsub_store_subscriptions(req->ps->store, pubsub_service(req->ps),
					       node->id, req->bare, &subs, &n) !=
		    PUBSUB_STORE_OK)
			return false;
		for (size_t i = 0; i < n; i++)
			ok = ok || subs[i].state == PUBSUB_SUB_SUBSCRIBED;
		pubsub_store_subscriptions_free(subs, n);
		return ok;
	}
	return false;
}

bool pubsub_access_entitled(const struct pubsub_node *node, enum pubsub_affiliation aff,
			    const struct pubsub_subscription *sub)
{
	if (sub->state != PUBSUB_SUB_SUBSCRIBED || !sub->deliver)
		return false;
	if (aff == PUBSUB_AFF_OUTCAST || aff == PUBSUB_AFF_PUBLISH_ONLY)
		return false;
	if (node->config.access_model == PUBSUB_ACCESS_WHITELIST)
		return pubsub_access_whitelisted(aff);
	return true;
}

/* create_nodes items: "users" (accounts of [junction] domains), "anyone",
 * a bare JID, or a domain (every JID at it). */
bool pubsub_access_may_create(struct pubsub_req *req)
{
	if (req->ps->service != NULL) /* PEP: the account itself only */
		return strcmp(req->bare, req->ps->service) == 0;
	for (size_t i = 0; i < req->ps->n_create_nodes; i++) {
		const char *who = req->ps->create_nodes[i];
		if (strcmp(who, "anyone") == 0)
			return true;
		if (strcmp(who, "users") == 0) {
			if (req->user)
				return true;
			continue;
		}
		char *bare = pubsub_bare_jid(who);
		bool match = bare != NULL && (strcmp(bare, req->bare) == 0 ||
					      (strchr(bare, '@') == NULL && strcmp(bare, req->domain) == 0));
		free(bare);
		if (match)
			return true;
	}
	return false;
}

int pubsub_access_check_config(struct pubsub *ps, char *err, size_t errlen)
{
	for (size_t i = 0; i < ps->n_create_nodes; i++) {
		const char *who = ps->create_nodes[i];
		struct jid jid;
		if (strcmp(who, "anyone") == 0 || strcmp(who, "users") == 0)
			continue;
		if (jid_parse(who, -1, &jid) != JID_OK || jid.resource != NULL) {
			jid_clear(&jid);
			snprintf(err, errlen,
				 "%s: [pubsub] create_nodes: \"%s\" is not users, anyone, a bare JID or a "
				 "domain",
				 config_path(ps->config), who);
			return -1;
		}
		jid_clear(&jid);
	}
	return 0;
}
