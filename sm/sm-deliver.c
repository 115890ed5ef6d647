/* sm-deliver.c: where a stanza addressed to one of sm's users goes
 * (RFC 6121 section 8), and what sm does with stanzas a client sent without
 * 'to' (RFC 6120 10.3).
 *
 * To a full JID with a session: that session. To a bare JID: messages go
 * to the available sessions of highest non-negative priority, else to
 * offline storage (XEP-0160; delivered with a XEP-0203 delay stamp when the
 * user next sends available presence); iq requests are the server's to
 * answer. Nothing reveals whether an account exists to someone who could
 * not learn it anyway: unknown accounts and unknown resources answer the
 * same service-unavailable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "component.h"
#include "jid.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

void sm_send(struct sm *sm, const struct stanza *st)
{
	if (component_send(sm->component, st) < 0)
		JLOG_WARN(0, "router unreachable and queue full: dropped a %s to %s", st->name,
			  stanza_get_attr(st, "to") ? stanza_get_attr(st, "to") : "?");
}

void sm_bounce(struct sm *sm, const struct stanza *st, const char *type, const char *condition)
{
	const char *t = stanza_get_attr(st, "type");

	if (t != NULL && (strcmp(t, "error") == 0 ||
			  (strcmp(st->name, "iq") == 0 && strcmp(t, "result") == 0)))
		return;
	sm->count.bounces++;
	struct stanza *reply = stanza_error_reply(st, type, condition, NULL);
	sm_send(sm, reply);
	stanza_unref(&reply);
}

static bool sm_type_is(const struct stanza *st, const char *type)
{
	const char *t = stanza_get_attr(st, "type");
	if (type == NULL)
		return t == NULL;
	return t != NULL && strcmp(t, type) == 0;
}

/* Deliver to the available sessions of bare with the highest non-negative
 * priority; returns how many got it. */
static int sm_deliver_best(struct sm *sm, const char *bare, const struct stanza *st, bool all)
{
	int best = -1, n = 0;

	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (strcmp(s->bare, bare) == 0 && s->available && s->priority > best)
			best = s->priority;
	}
	if (best < 0)
		return 0;
	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (strcmp(s->bare, bare) == 0 && s->available && s->priority >= 0 &&
		    (all || s->priority == best)) {
			sm_session_deliver(sm, s, st);
			n++;
		}
	}
	return n;
}

int sm_deliver_to_available(struct sm *sm, const char *bare, const struct stanza *st)
{
	return sm_deliver_best(sm, bare, st, true);
}

void sm_store_offline(struct sm *sm, const char *bare, const struct stanza *st)
{
	struct buf b = {0};

	stanza_serialize(st, STREAM_NS_COMPONENT, &b);
	int r = store_offline_push(sm->store, bare, b.data, b.len, SM_OFFLINE_MAX);
	buf_free(&b);
	if (r == STORE_OK) {
		sm->count.offline_stored++;
	} else if (r == STORE_ERR_FULL) {
		sm_bounce(sm, st, "wait", "resource-constraint");
	} else if (r != STORE_OK) {
		JLOG_ERROR(0, "offline storage for %s failed: %s", bare, store_error(sm->store));
		sm_bounce(sm, st, "wait", "internal-server-error");
	}
}

static void sm_deliver_message_bare(struct sm *sm, const char *bare, struct stanza *st)
{
	if (sm_type_is(st, "error"))
		return;
	if (store_account_exists(sm->store, bare) != STORE_OK) {
		sm_bounce(sm, st, "cancel", "service-unavailable");
		return;
	}
	if (sm_type_is(st, "groupchat")) {
		sm_bounce(sm, st, "cancel", "service-unavailable");
	} else if (sm_type_is(st, "headline")) {
		sm_deliver_best(sm, bare, st, true); /* or nowhere */
	} else if (sm_deliver_best(sm, bare, st, false) == 0) {
		sm_store_offline(sm, bare, st);
	}
}

static void sm_deliver_presence_bare(struct sm *sm, const char *bare, struct stanza *st)
{
	if (sm_type_is(st, NULL) || sm_type_is(st, "unavailable")) {
		sm_pep_presence(sm, bare, stanza_get_attr(st, "from"), st);
		sm_deliver_best(sm, bare, st, true);
	} else if (sm_type_is(st, "error")) {
		sm_deliver_best(sm, bare, st, true);
	} else if (store_account_exists(sm->store, bare) != STORE_OK) {
		/* RFC 6121 8.5.1: subscription presence (and probes) to an
		 * account that does not exist are silently ignored. */
	} else {
		sm_presence_inbound(sm, bare, st);
	}
}

void sm_deliver(struct sm *sm, struct stanza *st)
{
	const char *to = stanza_get_attr(st, "to");
	struct jid jid;

	if (to == NULL || jid_parse(to, -1, &jid) != JID_OK) {
		sm_bounce(sm, st, "modify", "jid-malformed");
		return;
	}
	char *bare = jid_bare_string(&jid);
	char *full = jid_full_string(&jid);
	bool is_iq = strcmp(st->name, "iq") == 0;
	bool request = is_iq && (sm_type_is(st, "get") || sm_type_is(st, "set"));

	if (sm_blocking_check(sm, st, bare, jid.node != NULL))
		goto out;

	if (jid.node == NULL || jid.resource == NULL) {
		/* The server itself or an account's bare JID. */
		if (is_iq) {
			if (jid.node != NULL && sm_pep_iq(sm, bare, st))
				; /* relayed to pubsub (sm-pep.c) */
			else if (request && !sm_iq_handle(sm, st))
				sm_bounce(sm, st, "cancel", "service-unavailable");
		} else if (jid.node != NULL && strcmp(st->name, "message") == 0) {
			sm_deliver_message_bare(sm, bare, st);
		} else if (jid.node != NULL && strcmp(st->name, "presence") == 0) {
			sm_deliver_presence_bare(sm, bare, st);
		}
		goto out;
	}
	struct sm_session *s = sm_session_find(sm, full);
	if (strcmp(st->name, "presence") == 0 && !sm_type_is(st, NULL) &&
	    !sm_type_is(st, "unavailable") && !sm_type_is(st, "error")) {
		/* RFC 6121 3.1.3: subscription presence to a full JID is for
		 * the account. */
		sm_deliver_presence_bare(sm, bare, st);
	} else if (s != NULL) {
		sm_session_deliver(sm, s, st);
	} else if (strcmp(st->name, "message") == 0) {
		/* RFC 6121 8.5.3.2.1: normal and chat fall back to the bare JID. */
		if (sm_type_is(st, NULL) || sm_type_is(st, "normal") || sm_type_is(st, "chat"))
			sm_deliver_message_bare(sm, bare, st);
		else if (sm_type_is(st, "groupchat"))
			sm_bounce(sm, st, "cancel", "service-unavailable");
	} else if (request) {
		sm_bounce(sm, st, "cancel", "service-unavailable");
	}
out:
	free(bare);
	free(full);
	jid_clear(&jid);
}

/* XEP-0203: when the server first received an offline message. */
static void sm_add_delay(struct sm *sm, struct stanza *st, int64_t stored, const char *bare)
{
	char stamp[32];
	time_t t = (time_t)stored;
	struct tm tm;
	const char *at = strchr(bare, '@');
	(void)sm;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	struct stanza *d = stanza_add_child(st, "delay", "urn:xmpp:delay");
	stanza_set_attr(d, "from", at != NULL ? at + 1 : bare);
	stanza_set_attr(d, "stamp", stamp);
	stanza_add_text(d, "Offline Storage", 15);
}

static void sm_on_ack_timer(uv_timer_t *timer)
{
	sm_offline_acks_run(timer->data);
}

/* Messages of bare already delivered and waiting for deletion: a second
 * flush before then starts after them. */
static int64_t sm_offline_pending(const struct sm *sm, const char *bare)
{
	for (const struct sm_offline_ack *a = sm->acks; a != NULL; a = a->next)
		if (strcmp(a->bare, bare) == 0)
			return a->upto;
	return 0;
}

void sm_offline_acks_run(struct sm *sm)
{
	while (sm->acks != NULL) {
		struct sm_offline_ack *a = sm->acks;
		sm->acks = a->next;
		if (store_offline_delete_upto(sm->store, a->bare, a->upto) != STORE_OK)
			JLOG_ERROR(0, "offline messages of %s: %s (they will be delivered again)",
				   a->bare, store_error(sm->store));
		free(a->bare);
		free(a);
	}
}

void sm_flush_offline(struct sm *sm, struct sm_session *session)
{
	struct store_offline_message *msgs = NULL;
	int64_t after = sm_offline_pending(sm, session->bare);
	size_t n = 0;

	if (store_offline_fetch(sm->store, session->bare, after, &msgs, &n) != STORE_OK) {
		JLOG_ERROR(0, "offline messages for %s: %s", session->bare, store_error(sm->store));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct stanza *st = NULL;
		if (stanza_parse(msgs[i].xml, msgs[i].len, STREAM_NS_COMPONENT, &st) == 0) {
			sm_add_delay(sm, st, msgs[i].stored, session->bare);
			sm_session_deliver(sm, session, st);
			stanza_unref(&st);
		}
	}
	if (n > 0 && component_is_ready(sm->component)) {
		/* Deleted on the next loop turn, after this turn's writes to the
		 * router are handed to the kernel: a crash before that delivers
		 * them again instead of losing them. (With the router away they
		 * wait in sm's memory only: kept in storage until a later
		 * login.) */
		struct sm_offline_ack *a = NULL;
		for (a = sm->acks; a != NULL && strcmp(a->bare, session->bare) != 0; a = a->next)
			;
		if (a == NULL) {
			a = xcalloc(1, sizeof(*a));
			a->bare = xstrdup(session->bare);
			a->next = sm->acks;
			sm->acks = a;
		}
		a->upto = msgs[n - 1].id;
		uv_timer_start(&sm->ack_timer, sm_on_ack_timer, 0, 0);
	}
	store_offline_messages_free(&msgs, n);
}

void sm_from_client(struct sm *sm, struct sm_session *session, struct stanza *st)
{
	stanza_set_attr(st, "from", session->full);
	if (strcmp(st->name, "presence") == 0) {
		if (stanza_get_attr(st, "to") != NULL)
			sm_presence_outbound(sm, session, st);
		else if (sm_type_is(st, NULL) || sm_type_is(st, "unavailable"))
			sm_presence_broadcast(sm, session, st);
		return;
	}
	/* RFC 6120 10.3: a message or iq without 'to' is handled as if it
	 * were addressed to the sender's bare JID. */
	if (stanza_get_attr(st, "to") == NULL)
		stanza_set_attr(st, "to", session->bare);
	else if (sm_blocking_outbound(sm, session, st))
		return;
	sm_deliver(sm, st);
}
