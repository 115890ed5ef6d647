/* sm-session.c: the session table and the session protocol's start/end.
 *
 * A session is a full JID hosted by a c2s instance under a session id.
 * c2s starts it after resource binding and ends it when the client leaves;
 * a second session for the same full JID replaces the first (the old c2s
 * is told to close that client with a conflict stream error). Stanzas for a
 * session go to its c2s wrapped in <deliver/>.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "component.h"
#include "jid.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

/* FNV-1a of the full JID: its bucket in sm->by_full. Every stanza to a full JID looks its
 * session up, so with thousands of sessions a list walk would cost more than the delivery. */
static struct sm_session **sm_session_bucket(struct sm *sm, const char *full)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)full; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return &sm->by_full[h % SM_SESSION_BUCKETS];
}

struct sm_session *sm_session_find(struct sm *sm, const char *full)
{
	for (struct sm_session *s = *sm_session_bucket(sm, full); s != NULL; s = s->hash_next) {
		if (strcmp(s->full, full) == 0)
			return s;
	}
	return NULL;
}

struct sm_session *sm_session_find_bare(struct sm *sm, const char *bare)
{
	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (strcmp(s->bare, bare) == 0)
			return s;
	}
	return NULL;
}

static void sm_session_link(struct sm *sm, struct sm_session *s)
{
	struct sm_session **b = sm_session_bucket(sm, s->full);

	s->next = sm->sessions;
	sm->sessions = s;
	s->hash_next = *b;
	*b = s;
}

/* Takes s out of the index only; the caller takes it out of sm->sessions. */
static void sm_session_unhash(struct sm *sm, struct sm_session *s)
{
	for (struct sm_session **p = sm_session_bucket(sm, s->full); *p != NULL;
	     p = &(*p)->hash_next) {
		if (*p == s) {
			*p = s->hash_next;
			break;
		}
	}
}

struct sm_session *sm_session_find_sid(struct sm *sm, const char *c2s, const char *sid)
{
	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (strcmp(s->sid, sid) == 0 && strcmp(s->c2s, c2s) == 0)
			return s;
	}
	return NULL;
}

static void sm_session_unlink(struct sm *sm, struct sm_session *session)
{
	sm_session_unhash(sm, session);
	for (struct sm_session **p = &sm->sessions; *p != NULL; p = &(*p)->next) {
		if (*p == session) {
			*p = session->next;
			break;
		}
	}
}

static void sm_session_free(struct sm_session *s)
{
	stanza_unref(&s->presence);
	sm_presence_directed_free(s);
	free(s->full);
	free(s->bare);
	free(s->c2s);
	free(s->sid);
	free(s);
}

void sm_session_push(struct sm *sm, const struct sm_session *session,
		     const struct stanza *payload)
{
	static unsigned long next_id;
	char id[32];
	struct stanza *iq = stanza_new("iq", STREAM_NS_COMPONENT);

	snprintf(id, sizeof(id), "push%lu", ++next_id);
	stanza_set_attr(iq, "type", "set");
	stanza_set_attr(iq, "id", id);
	stanza_set_attr(iq, "to", session->full);
	stanza_append_copy(iq, payload);
	sm_session_deliver(sm, session, iq);
	stanza_unref(&iq);
}

/* Tell a c2s to close one of its clients (the session was replaced). */
static void sm_session_tell_end(struct sm *sm, const struct sm_session *s, const char *reason)
{
	static unsigned long next_id;
	char id[32];
	struct stanza *iq = stanza_new("iq", STREAM_NS_COMPONENT);
	struct stanza *e;

	snprintf(id, sizeof(id), "sm-end-%lu", ++next_id);
	stanza_set_attr(iq, "type", "set");
	stanza_set_attr(iq, "id", id);
	stanza_set_attr(iq, "from", sm->name);
	stanza_set_attr(iq, "to", s->c2s);
	e = stanza_add_child(iq, "session", SM_NS_SESSION);
	stanza_set_attr(e, "action", "end");
	stanza_set_attr(e, "sid", s->sid);
	stanza_set_attr(e, "reason", reason);
	sm_send(sm, iq);
	stanza_unref(&iq);
}

static void sm_session_result(struct sm *sm, const struct stanza *iq)
{
	struct stanza *r = sm_iq_result(iq);

	sm_send(sm, r);
	stanza_unref(&r);
}

/* The session is gone: contacts hear it left (directed presence is not
 * tracked yet, so only subscribers and the user's other sessions). */
static void sm_session_remove(struct sm *sm, struct sm_session *s)
{
	JLOG_INFO(0, "session %s (%s on %s) ended", s->full, s->sid, s->c2s);
	sm_presence_session_gone(sm, s);
	sm_session_unlink(sm, s);
	sm_session_free(s);
}

void sm_session_handle(struct sm *sm, struct stanza *iq, struct stanza *session)
{
	const char *from = stanza_get_attr(iq, "from");
	const char *action = stanza_get_attr(session, "action");
	const char *sid = stanza_get_attr(session, "sid");
	const char *to = stanza_get_attr(iq, "to");
	struct jid jid;

	if (from == NULL || !sm_peers_trusted(sm, from)) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
		return;
	}
	if (action == NULL || sid == NULL || to == NULL || jid_parse(to, -1, &jid) != JID_OK) {
		sm_bounce(sm, iq, "modify", "bad-request");
		return;
	}
	char *full = jid_full_string(&jid);
	char *bare = jid_bare_string(&jid);
	bool full_jid = jid.node != NULL && jid.resource != NULL;
	jid_clear(&jid);

	if (!full_jid) {
		sm_bounce(sm, iq, "modify", "bad-request");
	} else if (strcmp(action, "start") == 0) {
		if (store_account_exists(sm->store, bare) != STORE_OK) {
			sm_bounce(sm, iq, "cancel", "item-not-found");
			goto out;
		}
		struct sm_session *old = sm_session_find(sm, full);
		if (old != NULL && strcmp(old->sid, sid) == 0 && strcmp(old->c2s, from) == 0) {
			/* A re-announcement of a session already known. */
			sm_blocking_session_result(sm, iq, bare);
			goto out;
		}
		if (old != NULL) {
			sm_session_tell_end(sm, old, "conflict");
			sm_session_remove(sm, old);
		}
		struct sm_session *s = xcalloc(1, sizeof(*s));
		s->full = full;
		s->bare = bare;
		s->c2s = xstrdup(from);
		s->sid = xstrdup(sid);
		sm_session_link(sm, s);
		full = bare = NULL;
		JLOG_INFO(0, "session %s (%s on %s) started", s->full, s->sid, s->c2s);
		sm_blocking_session_result(sm, iq, s->bare);
	} else if (strcmp(action, "end") == 0) {
		struct sm_session *s = sm_session_find(sm, full);
		if (s != NULL && strcmp(s->sid, sid) == 0 && strcmp(s->c2s, from) == 0)
			sm_session_remove(sm, s);
		sm_session_result(sm, iq);
	} else {
		sm_bounce(sm, iq, "modify", "bad-request");
	}
out:
	free(full);
	free(bare);
}

void sm_session_kick(struct sm *sm, struct sm_session *session, const char *reason)
{
	sm_session_tell_end(sm, session, reason);
	sm_session_remove(sm, session);
}

void sm_session_end_host(struct sm *sm, const char *c2s)
{
	struct sm_session **p = &sm->sessions;

	while (*p != NULL) {
		struct sm_session *s = *p;
		if (strcmp(s->c2s, c2s) == 0) {
			JLOG_INFO(0, "session %s ended: %s went away", s->full, c2s);
			sm_presence_session_gone(sm, s);
			sm_session_unhash(sm, s);
			*p = s->next;
			sm_session_free(s);
		} else {
			p = &s->next;
		}
	}
}

void sm_session_free_all(struct sm *sm)
{
	while (sm->sessions != NULL) {
		struct sm_session *s = sm->sessions;
		sm->sessions = s->next;
		sm_session_unhash(sm, s);
		sm_session_free(s);
	}
}

struct sm_session *sm_session_take(struct sm *sm,
				   bool (*pred)(struct sm *sm, const struct sm_session *s, void *ctx),
				   void *ctx)
{
	struct sm_session *taken = NULL;

	for (struct sm_session **p = &sm->sessions; *p != NULL;) {
		struct sm_session *s = *p;
		if (pred(sm, s, ctx)) {
			*p = s->next;
			sm_session_unhash(sm, s);
			/* sm->sessions is newest first: prepending makes it oldest first. */
			s->next = taken;
			taken = s;
		} else {
			p = &s->next;
		}
	}
	return taken;
}

void sm_session_release(struct sm_session *session)
{
	sm_session_free(session);
}

void sm_session_adopt(struct sm *sm, struct sm_session *session)
{
	struct sm_session *old = sm_session_find(sm, session->full);

	if (old != NULL) {
		/* Superseded by the state of the instance that owned it. */
		sm_session_unlink(sm, old);
		sm_session_free(old);
	}
	sm_session_link(sm, session);
}
