/* pubsub-access.c: who may do what (XEP-0060 4.1 affiliations, 4.5 access
 * models, the publish model, and [pubsub] create_nodes).
 *
 * Affiliations first: an outcast may do nothing, an owner or publisher may
 * always retrieve, publish-only may never subscribe or retrieve. Then the
 * access model: open lets anyone in; authorize needs the owner's approval
 * (a pending subscription) and retrieval needs a subscription; whitelist
 * lets in members, publishers and owners only. presence and roster are not
 * offered yet (they need sm's answers, docs/pubsub.md), so no node has them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jid.h"
#include "pubsub.h"
#include "stanza.h"

static bool pubsub_access_whitelisted(enum pubsub_affiliation aff)
{
	return aff == PUBSUB_AFF_OWNER || aff == PUBSUB_AFF_PUBLISHER || aff == PUBSUB_AFF_MEMBER;
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
		if (pubsub_store_subscriptions(req->ps->store, node->id, req->bare, &subs, &n) !=
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
