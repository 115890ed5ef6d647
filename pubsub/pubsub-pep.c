/* pubsub-pep.c: every account's personal eventing service (XEP-0163),
 * served by junction-pubsub through the account's sm.
 *
 * pubsub cannot send from user@domain (the router's from-check: sm binds
 * the users' domains), so sm and pubsub talk in the envelope of
 * docs/components.md section 8 (urn:junction:pep:1): sm hands over iq
 * stanzas addressed to an account's bare JID in the pubsub namespaces,
 * the answers to pubsub's own caps questions, contacts' presence notices
 * and account deletions; pubsub answers and notifies in the same
 * envelope, and sm sends the inner stanza from the bare JID. While one
 * envelope is handled ps->service names the account, so the rest of the
 * service (store, access, notifications) acts for its nodes.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jid.h"
#include "log.h"
#include "pubsub.h"
#include "stanza.h"
#include "stream.h"

#define PUBSUB_NS_PEP "urn:junction:pep:1"

void pubsub_pep_send(struct pubsub *ps, const char *service, const struct stanza *st)
{
	struct stanza *m = stanza_new("message", STREAM_NS_COMPONENT);
	struct stanza *inner = stanza_copy(st);

	stanza_set_attr(inner, "from", service);
	stanza_set_attr(m, "from", ps->domain);
	stanza_set_attr(m, "to", service);
	stanza_append_copy(stanza_add_child(m, "pep", PUBSUB_NS_PEP), inner);
	pubsub_send_direct(ps, m);
	stanza_unref(&inner);
	stanza_unref(&m);
}

/* The envelope's service, when its sender may speak for it: the envelope
 * comes from a users' domain itself (only Junction's trusted streams may
 * send from one, docs/components.md section 2 rule 6) and names an
 * account of that domain. Caller frees. */
static char *pubsub_pep_service(struct pubsub *ps, const struct stanza *msg,
				const struct stanza *pep)
{
	const char *from = stanza_get_attr(msg, "from");
	const char *named = stanza_get_attr(pep, "service");
	struct jid sender, account;
	char *service = NULL;

	if (from == NULL || named == NULL || jid_parse(from, -1, &sender) != JID_OK)
		return NULL;
	if (sender.node == NULL && sender.resource == NULL &&
	    config_is_user_domain(ps->config, sender.domain, strlen(sender.domain)) &&
	    jid_parse(named, -1, &account) == JID_OK) {
		if (account.node != NULL && strcmp(account.domain, sender.domain) == 0)
			service = jid_bare_string(&account);
		jid_clear(&account);
	}
	jid_clear(&sender);
	return service;
}

/* The account is gone (issue 8's account removal calls sm's hook, which
 * sends this): its nodes, items, subscriptions and caps state go. */
static void pubsub_pep_delete_service(struct pubsub *ps, const char *service)
{
	if (pubsub_store_service_delete(ps->store, service) != PUBSUB_STORE_OK)
		JLOG_ERROR(0, "deleting the PEP nodes of %s: %s", service,
			   pubsub_store_error(ps->store));
	else
		JLOG_INFO(0, "deleted the PEP nodes of %s", service);
	pubsub_caps_forget_service(ps, service);
}

bool pubsub_pep_message(struct pubsub *ps, struct stanza *msg)
{
	struct stanza *pep = stanza_find_child(msg, "pep", PUBSUB_NS_PEP);
	struct stanza *inner = pep != NULL ? stanza_child_element(pep, 0) : NULL;
	char *service;

	if (pep == NULL)
		return false;
	service = pubsub_pep_service(ps, msg, pep);
	if (service == NULL || inner == NULL) {
		JLOG_INFO(0, "PEP envelope from %s refused",
			  stanza_get_attr(msg, "from") ? stanza_get_attr(msg, "from") : "?");
		free(service);
		return true;
	}
	ps->service = service;
	if (strcmp(inner->name, "iq") == 0) {
		const char *type = stanza_get_attr(inner, "type");
		if (type != NULL && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0))
			pubsub_iq_handle(ps, inner);
		else
			(void)pubsub_caps_answer(ps, service, inner);
	} else if (strcmp(inner->name, "presence") == 0 && strcmp(inner->ns, PUBSUB_NS_PEP) == 0) {
		pubsub_caps_presence(ps, service, inner);
	} else if (strcmp(inner->name, "delete") == 0 && strcmp(inner->ns, PUBSUB_NS_PEP) == 0) {
		pubsub_pep_delete_service(ps, service);
	}
	ps->service = NULL;
	free(service);
	return true;
}

/* May the requester see node listed? rel: the account's relation to it. */
static bool pubsub_pep_visible(struct pubsub_req *req, const struct pubsub_node *node,
			       const struct pubsub_relation *rel)
{
	enum pubsub_affiliation aff = pubsub_req_affiliation(req, node);

	if (aff == PUBSUB_AFF_OWNER || aff == PUBSUB_AFF_PUBLISHER || aff == PUBSUB_AFF_MEMBER)
		return true;
	if (aff == PUBSUB_AFF_OUTCAST)
		return false;
	switch (node->config.access_model) {
	case PUBSUB_ACCESS_OPEN:
	case PUBSUB_ACCESS_AUTHORIZE:
		return true;
	case PUBSUB_ACCESS_WHITELIST:
		return false;
	case PUBSUB_ACCESS_PRESENCE:
	case PUBSUB_ACCESS_ROSTER:
		return rel != NULL && pubsub_relation_allows(&node->config, rel);
	}
	return false;
}

void pubsub_pep_disco_items(struct pubsub_req *req)
{
	struct pubsub *ps = req->ps;
	const struct pubsub_relation *rel = NULL;
	struct stanza *res, *q;
	char **names;
	size_t n;

	/* Every node of the service has the account as owner, so one
	 * answer from sm decides for all of them. */
	if (strcmp(req->bare, ps->service) != 0) {
		rel = pubsub_relation_get(ps, ps->service, req->bare);
		if (rel == NULL) {
			pubsub_relation_park(ps, ps->service, req->bare, req->iq);
			return;
		}
	}
	if (pubsub_store_node_names(ps->store, ps->service, &names, &n) != PUBSUB_STORE_OK) {
		pubsub_store_failed(req, "listing PEP nodes");
		return;
	}
	res = pubsub_result(req);
	q = stanza_add_child(res, "query", PUBSUB_NS_DISCO_ITEMS);
	/* sm put the account's available resources in the request. */
	const struct stanza *asked = stanza_child_element(req->iq, 0);
	for (size_t i = 0; i < asked->n_children; i++) {
		const struct stanza *it = asked->children[i].element;
		if (it != NULL && strcmp(it->name, "item") == 0)
			stanza_append_copy(q, it);
	}
	for (size_t i = 0; i < n; i++) {
		struct pubsub_node node;
		if (pubsub_store_node_get(ps->store, ps->service, names[i], &node) != PUBSUB_STORE_OK)
			continue;
		if (pubsub_pep_visible(req, &node, rel)) {
			struct stanza *it = stanza_add_child(q, "item", NULL);
			stanza_set_attr(it, "jid", ps->service);
			stanza_set_attr(it, "node", node.name);
		}
		pubsub_node_clear(&node);
	}
	pubsub_store_names_free(names, n);
	pubsub_send(ps, res);
	stanza_unref(&res);
}
