/* sm-blocking.c: XEP-0191 blocking command and its effects on delivery.
 *
 * A user's own sessions get the blocklist, block and unblock JIDs
 * (urn:xmpp:blocking); the list lives in the store (store_block_*), so it
 * survives any restart. Each change is pushed to every session of the user
 * that asked for the list. Items match a JID by XEP-0016's rules: the full
 * JID, the bare JID, domain/resource or the domain.
 *
 * Effects (XEP-0191 section 3.5 and 3.6, RFC 6121): sm_blocking_check(),
 * called by sm_deliver() for every stanza, drops presence from a blocked
 * JID, answers its message and iq get/set with service-unavailable, and
 * refuses a user's message or iq to a JID the user blocked with
 * not-acceptable + <blocked xmlns='urn:xmpp:blocking:errors'/>. Presence
 * broadcast skips blocked contacts (sm-presence.c asks
 * sm_blocking_blocks()); a block sends the newly blocked contacts
 * unavailable presence from each available resource, an unblock sends them
 * the current presence again.
 *
 * c2s sends a user's messages and iqs to other servers straight to the
 * router, where sm never sees them; so sm tells c2s, in the session start
 * result and with action='update' after each change, whether the account
 * blocks anyone, and while it does c2s sends them through sm
 * (sm_blocking_outbound()). Users who block no one pay nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

#define SM_NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define SM_BLOCKING_BUCKETS 4096

/* The accounts whose blocklist may be non-empty, in memory, so that the
 * common case (a stanza between accounts that block no one) costs no
 * database query. A superset of the truth: filled from the store at the
 * first use, an account joins when it blocks and leaves when its list is
 * emptied; a stale member only costs a query. */
struct sm_blocking_member {
	char *jid;
	struct sm_blocking_member *next;
};

struct sm_blocking_set {
	struct sm_blocking_member *buckets[SM_BLOCKING_BUCKETS];
};

static struct sm_blocking_member **sm_blocking_slot(struct sm_blocking_set *set, const char *jid)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *p = jid; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	struct sm_blocking_member **m = &set->buckets[h % SM_BLOCKING_BUCKETS];
	while (*m != NULL && strcmp((*m)->jid, jid) != 0)
		m = &(*m)->next;
	return m;
}

static void sm_blocking_set_add(struct sm_blocking_set *set, const char *jid)
{
	struct sm_blocking_member **m = sm_blocking_slot(set, jid);

	if (*m == NULL) {
		*m = xcalloc(1, sizeof(**m));
		(*m)->jid = xstrdup(jid);
	}
}

static void sm_blocking_set_remove(struct sm_blocking_set *set, const char *jid)
{
	struct sm_blocking_member **m = sm_blocking_slot(set, jid);
	struct sm_blocking_member *gone = *m;

	if (gone != NULL) {
		*m = gone->next;
		free(gone->jid);
		free(gone);
	}
}

void sm_blocking_free(struct sm *sm)
{
	for (size_t i = 0; sm->blocking != NULL && i < SM_BLOCKING_BUCKETS; i++) {
		while (sm->blocking->buckets[i] != NULL) {
			struct sm_blocking_member *m = sm->blocking->buckets[i];
			sm->blocking->buckets[i] = m->next;
			free(m->jid);
			free(m);
		}
	}
	free(sm->blocking);
	sm->blocking = NULL;
}

/* The set, loaded from the store on first use. */
static struct sm_blocking_set *sm_blocking_set(struct sm *sm)
{
	char **jids = NULL;
	size_t n = 0;

	if (sm->blocking != NULL)
		return sm->blocking;
	sm->blocking = xcalloc(1, sizeof(*sm->blocking));
	if (store_block_accounts(sm->store, &jids, &n) != STORE_OK)
		JLOG_ERROR(0, "blocklists: %s (not applied until they change)", store_error(sm->store));
	for (size_t i = 0; i < n; i++)
		sm_blocking_set_add(sm->blocking, jids[i]);
	store_strings_free(&jids, n);
	return sm->blocking;
}

static bool sm_blocking_maybe(struct sm *sm, const char *user)
{
	return *sm_blocking_slot(sm_blocking_set(sm), user) != NULL;
}

bool sm_blocking_any(struct sm *sm, const char *user)
{
	char **items = NULL;
	size_t n = 0;

	if (!sm_blocking_maybe(sm, user) ||
	    store_block_list(sm->store, user, &items, &n) != STORE_OK)
		return false;
	store_strings_free(&items, n);
	if (n == 0)
		sm_blocking_set_remove(sm->blocking, user);
	return n > 0;
}

bool sm_blocking_blocks(struct sm *sm, const char *user, const char *jid_s)
{
	struct jid jid;
	struct buf dr = {0};
	const char *c[4];
	size_t n = 0;

	if (!sm_blocking_maybe(sm, user) || jid_s == NULL || jid_parse(jid_s, -1, &jid) != JID_OK)
		return false;
	char *full = jid_full_string(&jid);
	char *bare = jid_bare_string(&jid);
	c[n++] = full;
	if (jid.resource != NULL) {
		c[n++] = bare;
		buf_printf(&dr, "%s/%s", jid.domain, jid.resource);
		c[n++] = dr.data;
	}
	if (jid.node != NULL || jid.resource != NULL)
		c[n++] = jid.domain;
	bool blocked = store_block_match(sm->store, user, c, n) == STORE_OK;
	free(full);
	free(bare);
	buf_free(&dr);
	jid_clear(&jid);
	return blocked;
}

void sm_blocking_refuse(struct sm *sm, struct sm_session *session, const struct stanza *st)
{
	const char *t = stanza_get_attr(st, "type");

	if (t != NULL && (strcmp(t, "error") == 0 || strcmp(t, "result") == 0))
		return;
	struct stanza *reply = stanza_error_reply(st, "cancel", "not-acceptable", NULL);
	struct stanza *e = stanza_find_child(reply, "error", NULL);
	if (e != NULL)
		stanza_add_child(e, "blocked", SM_NS_BLOCKING_ERRORS);
	/* Straight to the session: through the router it would come back
	 * from the blocked JID and be dropped. */
	if (session == NULL)
		session = sm_session_find(sm, stanza_get_attr(st, "from"));
	if (session != NULL)
		sm_session_deliver(sm, session, reply);
	else
		sm_send(sm, reply);
	stanza_unref(&reply);
}

/* What blocking does to a stanza (name, type, from, to) for to_bare:
 * nothing, refuse it to its local sender, or drop it (bouncing some). */
enum sm_blocking_verdict {
	SM_BLOCKING_PASS,
	SM_BLOCKING_REFUSE,
	SM_BLOCKING_INBOUND,
};

static bool sm_blocking_type_is(const char *t, const char *type)
{
	return type == NULL ? t == NULL : t != NULL && strcmp(t, type) == 0;
}

static enum sm_blocking_verdict sm_blocking_judge(struct sm *sm, const char *name, const char *type,
						  const char *from, const char *to,
						  const char *to_bare, bool to_account)
{
	struct jid fj;
	enum sm_blocking_verdict v = SM_BLOCKING_PASS;

	if (from == NULL || jid_parse(from, -1, &fj) != JID_OK)
		return SM_BLOCKING_PASS;
	char *from_bare = jid_bare_string(&fj);
	bool local = fj.node != NULL && config_is_user_domain(sm->config, fj.domain,
							       strlen(fj.domain));
	/* Junction's own services (c2s, pubsub) are never blocked. */
	bool service = fj.node == NULL && peers_holds(&sm->peers, fj.domain);
	jid_clear(&fj);
	if (service || strcmp(from_bare, to_bare) == 0)
		goto out;
	/* Outbound: a user's message or iq to a JID the user blocked
	 * (errors are answers, and may go back; the server itself is never
	 * blocked). */
	if (local && to_account && strcmp(name, "presence") != 0 &&
	    !sm_blocking_type_is(type, "error") && sm_blocking_blocks(sm, from_bare, to)) {
		v = SM_BLOCKING_REFUSE;
		goto out;
	}
	/* Inbound: anything from a JID the addressee blocked. */
	if (to_account && sm_blocking_blocks(sm, to_bare, from))
		v = SM_BLOCKING_INBOUND;
out:
	free(from_bare);
	return v;
}

bool sm_blocking_check(struct sm *sm, struct stanza *st, const char *to_bare, bool to_account)
{
	const char *type = stanza_get_attr(st, "type");

	switch (sm_blocking_judge(sm, st->name, type, stanza_get_attr(st, "from"),
				  stanza_get_attr(st, "to"), to_bare, to_account)) {
	case SM_BLOCKING_PASS:
		return false;
	case SM_BLOCKING_REFUSE:
		sm_blocking_refuse(sm, NULL, st);
		return true;
	case SM_BLOCKING_INBOUND:
		if (strcmp(st->name, "message") == 0 ||
		    (strcmp(st->name, "iq") == 0 &&
		     (sm_blocking_type_is(type, "get") || sm_blocking_type_is(type, "set"))))
			sm_bounce(sm, st, "cancel", "service-unavailable");
		return true;
	}
	return false;
}

bool sm_blocking_passes(struct sm *sm, const char *name, const char *type, const char *from,
			const char *to, const char *to_bare)
{
	return sm_blocking_judge(sm, name, type, from, to, to_bare, true) == SM_BLOCKING_PASS;
}

void sm_blocking_session_result(struct sm *sm, const struct stanza *iq, const char *bare)
{
	struct stanza *res = sm_iq_result(iq);

	if (sm_blocking_any(sm, bare))
		stanza_set_attr(stanza_add_child(res, "session", SM_NS_SESSION), "blocking", "true");
	sm_send(sm, res);
	stanza_unref(&res);
}

/* Tell the c2s of each of user's sessions whether the account blocks
 * anyone now (docs/components.md section 6, action='update'). */
static void sm_blocking_tell_c2s(struct sm *sm, const char *user)
{
	static unsigned long next_id;
	bool any = sm_blocking_any(sm, user);
	char id[32];

	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (strcmp(s->bare, user) != 0)
			continue;
		struct stanza *iq = stanza_new("iq", STREAM_NS_COMPONENT);
		snprintf(id, sizeof(id), "sm-update-%lu", ++next_id);
		stanza_set_attr(iq, "type", "set");
		stanza_set_attr(iq, "id", id);
		stanza_set_attr(iq, "from", sm->name);
		stanza_set_attr(iq, "to", s->c2s);
		struct stanza *u = stanza_add_child(iq, "session", SM_NS_SESSION);
		stanza_set_attr(u, "action", "update");
		stanza_set_attr(u, "sid", s->sid);
		stanza_set_attr(u, "blocking", any ? "true" : "false");
		sm_send(sm, iq);
		stanza_unref(&iq);
	}
}

bool sm_blocking_outbound(struct sm *sm, struct sm_session *session, struct stanza *st)
{
	const char *to = stanza_get_attr(st, "to");
	struct jid jid;

	if (jid_parse(to, -1, &jid) != JID_OK)
		return false; /* sm_deliver() answers jid-malformed */
	bool ours = config_is_user_domain(sm->config, jid.domain, strlen(jid.domain));
	jid_clear(&jid);
	if (ours)
		return false;
	if (sm_blocking_blocks(sm, session->bare, to))
		sm_blocking_refuse(sm, session, st);
	else
		sm_send(sm, st);
	return true;
}

/* Each available session's presence (or unavailable) of user to one JID. */
static void sm_blocking_presence_to(struct sm *sm, const char *user, const char *to,
				    bool unavailable)
{
	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (strcmp(s->bare, user) != 0 || !s->available || s->presence == NULL)
			continue;
		struct stanza *p = unavailable ? stanza_new("presence", STREAM_NS_COMPONENT)
					       : stanza_copy(s->presence);
		if (unavailable)
			stanza_set_attr(p, "type", "unavailable");
		stanza_set_attr(p, "from", s->full);
		stanza_set_attr(p, "to", to);
		sm_send(sm, p);
		stanza_unref(&p);
	}
}

/* Contacts with a subscription from the user that the list blocks now,
 * as a NULL-terminated array of bare JIDs. */
static char **sm_blocking_blocked_contacts(struct sm *sm, const char *user)
{
	struct store_roster roster = {0};
	char **v = NULL;
	size_t n = 0;

	if (store_roster_get(sm->store, user, &roster) != STORE_OK)
		return xcalloc(1, sizeof(*v));
	v = xcalloc(roster.n_items + 1, sizeof(*v));
	for (size_t i = 0; i < roster.n_items; i++) {
		const struct store_roster_item *it = &roster.items[i];
		if ((it->subscription & STORE_SUB_FROM) && sm_blocking_blocks(sm, user, it->jid))
			v[n++] = xstrdup(it->jid);
	}
	store_roster_clear(&roster);
	return v;
}

static void sm_blocking_strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static bool sm_blocking_strv_has(char *const *v, const char *s)
{
	for (size_t i = 0; v[i] != NULL; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* The change to every session that asked for the list. */
static void sm_blocking_push(struct sm *sm, const char *user, const struct stanza *change)
{
	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (s->blocklist && strcmp(s->bare, user) == 0)
			sm_session_push(sm, s, change);
	}
}

static void sm_blocking_get(struct sm *sm, struct sm_session *session, struct stanza *iq)
{
	char **items = NULL;
	size_t n = 0;

	if (store_block_list(sm->store, session->bare, &items, &n) != STORE_OK) {
		JLOG_ERROR(0, "blocklist of %s: %s", session->bare, store_error(sm->store));
		sm_bounce(sm, iq, "wait", "internal-server-error");
		return;
	}
	session->blocklist = true;
	struct stanza *res = stanza_new("iq", STREAM_NS_COMPONENT);
	stanza_set_attr(res, "type", "result");
	stanza_set_attr(res, "id", stanza_get_attr(iq, "id"));
	stanza_set_attr(res, "to", session->full);
	struct stanza *list = stanza_add_child(res, "blocklist", SM_NS_BLOCKING);
	for (size_t i = 0; i < n; i++)
		stanza_set_attr(stanza_add_child(list, "item", NULL), "jid", items[i]);
	sm_session_deliver(sm, session, res);
	stanza_unref(&res);
	store_strings_free(&items, n);
}

/* The items of a block or unblock, normalised, into *items_r (the caller
 * frees each and the array). -1 when one is missing or malformed. */
static int sm_blocking_items(const struct stanza *q, char ***items_r, size_t *n_r)
{
	size_t count = stanza_count_child_elements(q);
	char **items = xcalloc(count + 1, sizeof(*items));
	size_t n = 0;

	for (size_t i = 0; i < count; i++) {
		struct stanza *it = stanza_child_element(q, i);
		const char *jid_s = stanza_get_attr(it, "jid");
		struct jid jid;
		if (strcmp(it->name, "item") != 0)
			continue;
		if (jid_s == NULL || jid_parse(jid_s, -1, &jid) != JID_OK) {
			sm_blocking_strv_free(items);
			return -1;
		}
		items[n++] = jid_full_string(&jid);
		jid_clear(&jid);
	}
	*items_r = items;
	*n_r = n;
	return 0;
}

static void sm_blocking_change(struct sm *sm, struct sm_session *session, struct stanza *iq,
			       struct stanza *q)
{
	bool block = strcmp(q->name, "block") == 0;
	char **items = NULL, **before = NULL, **after = NULL;
	size_t n = 0;

	if (sm_blocking_items(q, &items, &n) < 0) {
		sm_bounce(sm, iq, "modify", "jid-malformed");
		return;
	}
	if (block && n == 0) {
		sm_bounce(sm, iq, "modify", "bad-request"); /* XEP-0191 3.3 */
		goto out;
	}
	before = sm_blocking_blocked_contacts(sm, session->bare);
	if (block) /* before the store: a crash in between leaves a superset */
		sm_blocking_set_add(sm_blocking_set(sm), session->bare);
	int r = block ? store_block_add(sm->store, session->bare, (const char *const *)items, n,
					SM_BLOCKLIST_MAX)
		      : store_block_remove(sm->store, session->bare, (const char *const *)items, n);
	if (r == STORE_ERR_FULL) {
		sm_bounce(sm, iq, "wait", "resource-constraint");
		goto out;
	} else if (r != STORE_OK) {
		JLOG_ERROR(0, "blocklist of %s: %s", session->bare, store_error(sm->store));
		sm_bounce(sm, iq, "wait", "internal-server-error");
		goto out;
	}
	sm_roster_result(sm, session, iq);
	sm_blocking_push(sm, session->bare, q);
	sm_blocking_tell_c2s(sm, session->bare);
	/* Presence is not leaked to the blocked, and comes back on unblock
	 * (XEP-0191 3.3 and 3.4). */
	after = sm_blocking_blocked_contacts(sm, session->bare);
	for (size_t i = 0; block && after[i] != NULL; i++)
		if (!sm_blocking_strv_has(before, after[i]))
			sm_blocking_presence_to(sm, session->bare, after[i], true);
	for (size_t i = 0; !block && before[i] != NULL; i++)
		if (!sm_blocking_strv_has(after, before[i]))
			sm_blocking_presence_to(sm, session->bare, before[i], false);
out:
	sm_blocking_strv_free(items);
	sm_blocking_strv_free(before);
	sm_blocking_strv_free(after);
}

void sm_blocking_iq(struct sm *sm, struct stanza *iq, struct stanza *q)
{
	const char *from = stanza_get_attr(iq, "from");
	const char *type = stanza_get_attr(iq, "type");
	const char *to = stanza_get_attr(iq, "to");
	struct sm_session *session = from != NULL ? sm_session_find(sm, from) : NULL;
	bool get = strcmp(type, "get") == 0;

	/* Only the user's own sessions see or change the list. */
	if (session == NULL || to == NULL || strcmp(to, session->bare) != 0) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
	} else if (get && strcmp(q->name, "blocklist") == 0) {
		sm_blocking_get(sm, session, iq);
	} else if (!get && (strcmp(q->name, "block") == 0 || strcmp(q->name, "unblock") == 0)) {
		sm_blocking_change(sm, session, iq, q);
	} else {
		sm_bounce(sm, iq, "modify", "bad-request");
	}
}
