/* sm-presence.c: presence subscriptions and broadcast (RFC 6121 sections
 * 3 and 4).
 *
 * Outbound (a user's session sends subscribe/subscribed/unsubscribe/
 * unsubscribed to a contact): update the user's roster item, push it, and
 * forward the stanza from the user's bare JID. Inbound (the same types
 * addressed to a user): update the roster and tell the user's available
 * sessions; a subscription request that finds no available session waits
 * in offline storage. Available and unavailable presence without 'to' is
 * broadcast to contacts subscribed to the user and to the user's own
 * sessions; initial presence also probes the contacts the user is
 * subscribed to, and probes are answered with each session's last
 * presence.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jid.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

void sm_presence_send_type(struct sm *sm, const char *from, const char *to, const char *type)
{
	struct stanza *p = stanza_new("presence", STREAM_NS_COMPONENT);

	stanza_set_attr(p, "from", from);
	stanza_set_attr(p, "to", to);
	if (type != NULL)
		stanza_set_attr(p, "type", type);
	sm_send(sm, p);
	stanza_unref(&p);
}

/* Apply a subscription change to user's item for contact, creating the
 * item when asked to, and push it. Returns the subscription before the
 * change, or -1 when there was no item and none was created. */
static int sm_presence_update(struct sm *sm, const char *user, const char *contact, bool create,
			      void (*change)(struct store_roster_item *item))
{
	struct store_roster_item item = {0};
	uint64_t version;
	int have = store_roster_get_item(sm->store, user, contact, &item);
	int before;

	if (have != STORE_OK) {
		if (!create)
			return -1;
		item.jid = xstrdup(contact);
	}
	before = (int)item.subscription | (item.ask ? 4 : 0) | (item.approved ? 8 : 0);
	change(&item);
	int after = (int)item.subscription | (item.ask ? 4 : 0) | (item.approved ? 8 : 0);
	if (after != before || have != STORE_OK) {
		if (store_roster_set_item(sm->store, user, &item, &version) == STORE_OK)
			sm_roster_push(sm, user, &item, false, version);
	}
	store_roster_item_clear(&item);
	return before;
}

static void sm_change_ask(struct store_roster_item *item)
{
	if (!(item->subscription & STORE_SUB_TO))
		item->ask = true;
}

static void sm_change_approve(struct store_roster_item *item)
{
	item->subscription |= STORE_SUB_FROM;
	item->approved = false;
}

static void sm_change_preapprove(struct store_roster_item *item)
{
	if (!(item->subscription & STORE_SUB_FROM))
		item->approved = true;
}

static void sm_change_unsubscribe(struct store_roster_item *item)
{
	item->subscription &= ~STORE_SUB_TO;
	item->ask = false;
}

static void sm_change_unsubscribed(struct store_roster_item *item)
{
	item->subscription &= ~STORE_SUB_FROM;
	item->approved = false;
}

static void sm_change_subscribed_in(struct store_roster_item *item)
{
	if (item->ask) {
		item->subscription |= STORE_SUB_TO;
		item->ask = false;
	}
}

/* Send each available session's presence of user to one contact. */
static void sm_presence_current_to(struct sm *sm, const char *user, const char *to)
{
	bool any = false;

	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (strcmp(s->bare, user) != 0 || !s->available || s->presence == NULL)
			continue;
		struct stanza *p = stanza_copy(s->presence);
		stanza_set_attr(p, "from", s->full);
		stanza_set_attr(p, "to", to);
		sm_send(sm, p);
		stanza_unref(&p);
		any = true;
	}
	if (!any)
		sm_presence_send_type(sm, user, to, "unavailable");
}

static bool sm_is_type(const struct stanza *st, const char *type)
{
	const char *t = stanza_get_attr(st, "type");
	return t != NULL && strcmp(t, type) == 0;
}

/* ---- directed presence (RFC 6121 4.6) ---- */

void sm_presence_directed_free(struct sm_session *session)
{
	while (session->directed != NULL) {
		struct sm_directed *d = session->directed;
		session->directed = d->next;
		free(d->jid);
		free(d);
	}
	session->n_directed = 0;
}

/* Remove jid from the session's list; true when it was there. */
static bool sm_directed_remove(struct sm_session *session, const char *jid)
{
	for (struct sm_directed **p = &session->directed; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->jid, jid) == 0) {
			struct sm_directed *d = *p;
			*p = d->next;
			free(d->jid);
			free(d);
			session->n_directed--;
			return true;
		}
	}
	return false;
}

/* Directed available presence to `to` (a JID string as normalised by
 * jid_parse): remember it unless the contact hears the user's broadcasts
 * anyway (a subscription from the user). */
static void sm_directed_add(struct sm *sm, struct sm_session *session, const char *to,
			    const char *contact)
{
	struct store_roster_item item = {0};

	if (store_roster_get_item(sm->store, session->bare, contact, &item) == STORE_OK) {
		bool subscribed = (item.subscription & STORE_SUB_FROM) != 0;
		store_roster_item_clear(&item);
		if (subscribed)
			return;
	}
	if (strcmp(contact, session->bare) == 0 || session->n_directed >= SM_DIRECTED_MAX)
		return;
	sm_directed_remove(session, to);
	struct sm_directed *d = xcalloc(1, sizeof(*d));
	d->jid = xstrdup(to);
	d->next = session->directed;
	session->directed = d;
	session->n_directed++;
}

/* The session becomes unavailable: everyone it sent directed presence to
 * hears it, then the list is forgotten. */
static void sm_directed_unavailable(struct sm *sm, struct sm_session *session,
				    const struct stanza *st)
{
	for (struct sm_directed *d = session->directed; d != NULL; d = d->next) {
		struct stanza *p = stanza_copy(st);
		stanza_set_attr(p, "from", session->full);
		stanza_set_attr(p, "to", d->jid);
		sm_send(sm, p);
		stanza_unref(&p);
	}
	sm_presence_directed_free(session);
}

void sm_presence_outbound(struct sm *sm, struct sm_session *session, struct stanza *st)
{
	const char *to = stanza_get_attr(st, "to");
	struct jid jid;

	if (jid_parse(to, -1, &jid) != JID_OK) {
		sm_bounce(sm, st, "modify", "jid-malformed");
		return;
	}
	char *contact = jid_bare_string(&jid);
	if (sm_blocking_blocks(sm, session->bare, to)) {
		sm_blocking_refuse(sm, session, st); /* XEP-0191 3.6 */
		goto out;
	}
	if (sm_is_type(st, "subscribe")) {
		sm_presence_update(sm, session->bare, contact, true, sm_change_ask);
	} else if (sm_is_type(st, "subscribed")) {
		/* Approve a pending request, or pre-approve (RFC 6121 3.4). */
		int before = sm_presence_update(sm, session->bare, contact, true,
						sm_change_preapprove);
		if (before >= 0 && (before & 8) == 0 && !(before & STORE_SUB_FROM)) {
			sm_presence_update(sm, session->bare, contact, false, sm_change_approve);
			sm_presence_send_type(sm, session->bare, contact, "subscribed");
			sm_presence_current_to(sm, session->bare, contact);
		}
		goto out;
	} else if (sm_is_type(st, "unsubscribe")) {
		sm_presence_update(sm, session->bare, contact, false, sm_change_unsubscribe);
	} else if (sm_is_type(st, "unsubscribed")) {
		sm_presence_update(sm, session->bare, contact, false, sm_change_unsubscribed);
		sm_presence_send_type(sm, session->bare, contact, "unsubscribed");
		sm_presence_send_type(sm, session->bare, contact, "unavailable");
		goto out;
	} else {
		/* Directed presence (available, unavailable, probe is not the
		 * client's to send): forwarded as it is, from the full JID, and
		 * remembered so that unavailable follows it (RFC 6121 4.6). */
		char *full = jid_full_string(&jid);
		if (sm_is_type(st, "unavailable"))
			sm_directed_remove(session, full);
		else if (stanza_get_attr(st, "type") == NULL && session->available)
			sm_directed_add(sm, session, full, contact);
		free(full);
		if (!sm_is_type(st, "probe"))
			sm_send(sm, st);
		goto out;
	}
	stanza_set_attr(st, "from", session->bare);
	stanza_set_attr(st, "to", contact);
	sm_send(sm, st);
out:
	jid_clear(&jid);
	free(contact);
}

void sm_presence_inbound(struct sm *sm, const char *user, struct stanza *st)
{
	const char *from_attr = stanza_get_attr(st, "from");
	struct jid jid;

	if (from_attr == NULL || jid_parse(from_attr, -1, &jid) != JID_OK)
		return;
	/* A copy: the attribute is replaced by the bare JID just below. */
	char *from = xstrdup(from_attr);
	char *contact = jid_bare_string(&jid);
	jid_clear(&jid);
	sm_wrap_forget(sm, st);
	stanza_set_attr(st, "from", contact);
	if (sm_is_type(st, "probe")) {
		struct store_roster_item item = {0};
		if (store_roster_get_item(sm->store, user, contact, &item) == STORE_OK) {
			if (item.subscription & STORE_SUB_FROM)
				sm_presence_current_to(sm, user, from);
			store_roster_item_clear(&item);
		}
	} else if (sm_is_type(st, "subscribe")) {
		struct store_roster_item item = {0};
		bool have = store_roster_get_item(sm->store, user, contact, &item) == STORE_OK;
		if (have && (item.subscription & STORE_SUB_FROM)) {
			sm_presence_send_type(sm, user, contact, "subscribed");
		} else if (have && item.approved) {
			sm_presence_update(sm, user, contact, false, sm_change_approve);
			sm_presence_send_type(sm, user, contact, "subscribed");
			sm_presence_current_to(sm, user, contact);
		} else if (sm_deliver_to_available(sm, user, st) == 0) {
			sm_store_offline(sm, user, st); /* asked again at next login */
		}
		if (have)
			store_roster_item_clear(&item);
	} else if (sm_is_type(st, "subscribed")) {
		if (sm_presence_update(sm, user, contact, false, sm_change_subscribed_in) >= 0)
			sm_deliver_to_available(sm, user, st);
	} else if (sm_is_type(st, "unsubscribe")) {
		if (sm_presence_update(sm, user, contact, false, sm_change_unsubscribed) >= 0)
			sm_deliver_to_available(sm, user, st);
	} else if (sm_is_type(st, "unsubscribed")) {
		if (sm_presence_update(sm, user, contact, false, sm_change_unsubscribe) >= 0)
			sm_deliver_to_available(sm, user, st);
	}
	free(contact);
	free(from);
}

/* Send st, from a session, to every contact with a subscription from the
 * user, and to the user's other available sessions (and to the sending one
 * itself when include_self). With probe, also probe the contacts the user
 * is subscribed to. */
static void sm_presence_to_subscribers(struct sm *sm, struct sm_session *session,
				       const struct stanza *st, bool probe, bool include_self)
{
	struct store_roster roster = {0};

	if (store_roster_get(sm->store, session->bare, &roster) == STORE_OK) {
		bool blocks = sm_blocking_any(sm, session->bare); /* one query, not one per item */
		for (size_t i = 0; i < roster.n_items; i++) {
			const struct store_roster_item *it = &roster.items[i];
			if (blocks && sm_blocking_blocks(sm, session->bare, it->jid))
				continue; /* XEP-0191: nothing to or from the blocked */
			if (it->subscription & STORE_SUB_FROM) {
				struct stanza *p = stanza_copy(st);
				stanza_set_attr(p, "from", session->full);
				stanza_set_attr(p, "to", it->jid);
				sm_send(sm, p);
				stanza_unref(&p);
			}
			if (probe && (it->subscription & STORE_SUB_TO))
				sm_presence_send_type(sm, session->bare, it->jid, "probe");
		}
		store_roster_clear(&roster);
	}
	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (strcmp(s->bare, session->bare) == 0 &&
		    (s == session ? include_self : s->available)) {
			struct stanza *p = stanza_copy(st);
			stanza_set_attr(p, "from", session->full);
			stanza_set_attr(p, "to", s->full);
			sm_session_deliver(sm, s, p);
			stanza_unref(&p);
		}
	}
}

void sm_presence_broadcast(struct sm *sm, struct sm_session *session, struct stanza *st)
{
	bool unavailable = sm_is_type(st, "unavailable");
	bool initial = !unavailable && !session->available;

	if (unavailable) {
		if (!session->available)
			return;
		session->available = false;
		stanza_unref(&session->presence);
		sm_info_logout(sm, session, st);
	} else {
		sm_vcard_presence(sm, session->bare, st);
		struct stanza *p = stanza_find_child(st, "priority", NULL);
		char *text = p != NULL ? stanza_text(p) : NULL;
		session->priority = text != NULL ? atoi(text) : 0;
		free(text);
		session->available = true;
		stanza_unref(&session->presence);
		session->presence = stanza_copy(st);
		stanza_set_attr(session->presence, "from", NULL);
		stanza_set_attr(session->presence, "to", NULL);
	}
	sm_presence_to_subscribers(sm, session, st, initial, true);
	sm_pep_presence(sm, session->bare, session->full, st);
	if (unavailable)
		sm_directed_unavailable(sm, session, st);
	if (initial && session->priority >= 0)
		sm_flush_offline(sm, session);
}

void sm_presence_session_gone(struct sm *sm, struct sm_session *session)
{
	if (!session->available)
		return;
	struct stanza *p = stanza_new("presence", STREAM_NS_COMPONENT);
	stanza_set_attr(p, "type", "unavailable");
	session->available = false;
	sm_info_logout(sm, session, NULL);
	/* Its own connection is gone: only contacts and other sessions. */
	sm_presence_to_subscribers(sm, session, p, false, false);
	sm_pep_presence(sm, session->bare, session->full, p);
	sm_directed_unavailable(sm, session, p);
	stanza_unref(&p);
}
