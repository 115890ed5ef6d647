/* sm-roster.c: roster management (RFC 6121 section 2).
 *
 * A user's own sessions get, set and remove roster items with
 * jabber:iq:roster; every change is pushed to each of the user's sessions
 * that asked for the roster ("interested resources"). Subscription states
 * are never set by the client: they change only through presence
 * subscription handling (sm-presence.c), which pushes through here too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jid.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

static const char *const sm_roster_sub_names[] = {"none", "to", "from", "both"};

static void sm_roster_item_xml(struct stanza *query, const struct store_roster_item *item,
			       bool removed)
{
	struct stanza *it = stanza_add_child(query, "item", NULL);

	stanza_set_attr(it, "jid", item->jid);
	if (removed) {
		stanza_set_attr(it, "subscription", "remove");
		return;
	}
	if (item->name != NULL)
		stanza_set_attr(it, "name", item->name);
	stanza_set_attr(it, "subscription", sm_roster_sub_names[item->subscription & 3]);
	if (item->ask)
		stanza_set_attr(it, "ask", "subscribe");
	if (item->approved)
		stanza_set_attr(it, "approved", "true");
	for (size_t g = 0; g < item->n_groups; g++) {
		struct stanza *group = stanza_add_child(it, "group", NULL);
		stanza_add_text(group, item->groups[g], strlen(item->groups[g]));
	}
}

void sm_roster_push(struct sm *sm, const char *bare, const struct store_roster_item *item,
		    bool removed, uint64_t version)
{
	char ver[24];
	struct stanza *q = stanza_new("query", SM_NS_ROSTER);

	snprintf(ver, sizeof(ver), "%llu", (unsigned long long)version);
	stanza_set_attr(q, "ver", ver);
	sm_roster_item_xml(q, item, removed);
	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (s->interested && strcmp(s->bare, bare) == 0)
			sm_session_push(sm, s, q);
	}
	stanza_unref(&q);
}

/* The result to a session's roster request: no 'from', it is the
 * server answering for the user's own account. */
static struct stanza *sm_roster_result_new(const struct sm_session *session,
					   const struct stanza *iq)
{
	struct stanza *res = stanza_new("iq", STREAM_NS_COMPONENT);

	stanza_set_attr(res, "type", "result");
	stanza_set_attr(res, "id", stanza_get_attr(iq, "id"));
	stanza_set_attr(res, "to", session->full);
	return res;
}

static void sm_roster_get(struct sm *sm, struct sm_session *session, struct stanza *iq,
			  const struct stanza *query)
{
	struct store_roster roster = {0};
	const char *client_ver = stanza_get_attr(query, "ver");
	uint64_t version;
	char ver[24];

	/* Roster versioning (RFC 6121 2.6): the client's copy is current, so
	 * an empty result; later changes come as pushes. */
	if (client_ver != NULL &&
	    store_roster_version(sm->store, session->bare, &version) == STORE_OK) {
		snprintf(ver, sizeof(ver), "%llu", (unsigned long long)version);
		if (strcmp(ver, client_ver) == 0) {
			session->interested = true;
			struct stanza *res = sm_roster_result_new(session, iq);
			sm_session_deliver(sm, session, res);
			stanza_unref(&res);
			return;
		}
	}
	if (store_roster_get(sm->store, session->bare, &roster) != STORE_OK) {
		sm_bounce(sm, iq, "wait", "internal-server-error");
		return;
	}
	session->interested = true;
	struct stanza *res = sm_roster_result_new(session, iq);
	struct stanza *q = stanza_add_child(res, "query", SM_NS_ROSTER);
	snprintf(ver, sizeof(ver), "%llu", (unsigned long long)roster.version);
	stanza_set_attr(q, "ver", ver);
	for (size_t i = 0; i < roster.n_items; i++)
		sm_roster_item_xml(q, &roster.items[i], false);
	sm_session_deliver(sm, session, res);
	stanza_unref(&res);
	store_roster_clear(&roster);
}

/* The contact's bare JID from an item's jid attribute, or NULL. */
static char *sm_roster_contact(const char *s)
{
	struct jid jid;
	char *bare = NULL;

	if (s != NULL && jid_parse(s, -1, &jid) == JID_OK) {
		if (jid.resource == NULL)
			bare = jid_bare_string(&jid);
		jid_clear(&jid);
	}
	return bare;
}

static void sm_roster_set(struct sm *sm, struct sm_session *session, struct stanza *iq,
			  struct stanza *query)
{
	struct stanza *item = stanza_child_element(query, 0);
	struct store_roster_item old = {0}, new_item = {0};
	uint64_t version = 0;
	char *contact = NULL;
	int have = STORE_ERR_NOT_FOUND;

	if (item == NULL || stanza_count_child_elements(query) != 1 ||
	    strcmp(item->name, "item") != 0 ||
	    (contact = sm_roster_contact(stanza_get_attr(item, "jid"))) == NULL ||
	    strcmp(contact, session->bare) == 0) {
		sm_bounce(sm, iq, "modify", "bad-request");
		goto out;
	}
	const char *sub = stanza_get_attr(item, "subscription");
	have = store_roster_get_item(sm->store, session->bare, contact, &old);
	if (sub != NULL && strcmp(sub, "remove") == 0) {
		if (have != STORE_OK) {
			sm_bounce(sm, iq, "cancel", "item-not-found");
			goto out;
		}
		/* RFC 6121 2.5.2: cancel the subscriptions both ways. */
		if (old.subscription & STORE_SUB_TO || old.ask)
			sm_presence_send_type(sm, session->bare, contact, "unsubscribe");
		if (old.subscription & STORE_SUB_FROM)
			sm_presence_send_type(sm, session->bare, contact, "unsubscribed");
		store_roster_delete_item(sm->store, session->bare, contact, &version);
		sm_roster_result(sm, session, iq);
		sm_roster_push(sm, session->bare, &old, true, version);
		goto out;
	}
	/* Name and groups from the client; subscription state stays ours. */
	new_item.jid = contact;
	new_item.name = (char *)stanza_get_attr(item, "name");
	if (have == STORE_OK) {
		new_item.subscription = old.subscription;
		new_item.ask = old.ask;
		new_item.approved = old.approved;
	}
	size_t n = stanza_count_child_elements(item);
	char **groups = xcalloc(n + 1, sizeof(*groups));
	for (size_t i = 0; i < n; i++) {
		struct stanza *g = stanza_child_element(item, i);
		if (strcmp(g->name, "group") == 0)
			groups[new_item.n_groups++] = stanza_text(g);
	}
	new_item.groups = groups;
	int r = store_roster_set_item(sm->store, session->bare, &new_item, &version);
	if (r == STORE_OK) {
		sm_roster_result(sm, session, iq);
		sm_roster_push(sm, session->bare, &new_item, false, version);
	} else {
		sm_bounce(sm, iq, "wait", "internal-server-error");
	}
	for (size_t i = 0; i < new_item.n_groups; i++)
		free(groups[i]);
	free(groups);
out:
	if (have == STORE_OK)
		store_roster_item_clear(&old);
	free(contact);
}

void sm_roster_result(struct sm *sm, struct sm_session *session, const struct stanza *iq)
{
	struct stanza *res = sm_roster_result_new(session, iq);

	sm_session_deliver(sm, session, res);
	stanza_unref(&res);
}

void sm_roster_iq(struct sm *sm, struct stanza *iq, struct stanza *query)
{
	const char *from = stanza_get_attr(iq, "from");
	const char *type = stanza_get_attr(iq, "type");
	struct sm_session *session = from != NULL ? sm_session_find(sm, from) : NULL;
	const char *to = stanza_get_attr(iq, "to");

	/* Only the user's own sessions see or change the roster. */
	if (session == NULL || to == NULL || strcmp(to, session->bare) != 0) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
		return;
	}
	if (strcmp(type, "get") == 0)
		sm_roster_get(sm, session, iq, query);
	else
		sm_roster_set(sm, session, iq, query);
}
