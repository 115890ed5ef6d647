/* sm-handover.c: moving sessions from one sm instance to another.
 *
 * When the owner of an account changes (another instance bound a domain,
 * or this one is leaving), this instance sends the new owner everything it
 * keeps in memory about the account: each session (full JID, c2s, sid,
 * the flags, priority, last presence, directed presence) and the PEP
 * contacts sm-pep.c announced for it. They go in iq sets addressed to the
 * new owner's instance name, <handover xmlns='urn:junction:session:1'
 * domain='D'/> with at most SM_HANDOVER_BATCH children each, the last one
 * with done='true'. Sessions sent are forgotten here without a word to
 * anyone, and installed there without a word either: no presence
 * broadcast, no probe, no offline flush (docs/components.md section 6,
 * "Scale-out and scale-in").
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

#define SM_HANDOVER_BATCH 32

struct sm_handover_out {
	struct sm *sm;
	const char *domain, *to;
	struct stanza *iq;       /* the batch being filled */
	struct stanza *handover; /* its <handover/> */
	size_t n;                /* children in it */
	size_t sessions, contacts;
};

static void sm_handover_begin(struct sm_handover_out *o)
{
	o->iq = stanza_new("iq", STREAM_NS_COMPONENT);
	o->handover = stanza_add_child(o->iq, "handover", SM_NS_SESSION);
	stanza_set_attr(o->handover, "domain", o->domain);
}

static void sm_handover_flush(struct sm_handover_out *o, bool done)
{
	static unsigned long next_id;
	char id[32];

	if (o->iq == NULL)
		sm_handover_begin(o);
	snprintf(id, sizeof(id), "handover-%lu", ++next_id);
	stanza_set_attr(o->iq, "type", "set");
	stanza_set_attr(o->iq, "id", id);
	stanza_set_attr(o->iq, "from", o->sm->name);
	stanza_set_attr(o->iq, "to", o->to);
	if (done)
		stanza_set_attr(o->handover, "done", "true");
	sm_send(o->sm, o->iq);
	stanza_unref(&o->iq);
	o->handover = NULL;
	o->n = 0;
}

/* A new child of the batch being filled (sending the full one first). */
static struct stanza *sm_handover_child(struct sm_handover_out *o, const char *name)
{
	if (o->n == SM_HANDOVER_BATCH)
		sm_handover_flush(o, false);
	if (o->iq == NULL)
		sm_handover_begin(o);
	o->n++;
	return stanza_add_child(o->handover, name, NULL);
}

static void sm_handover_session(struct sm_handover_out *o, const struct sm_session *s)
{
	struct stanza *e = sm_handover_child(o, "session");
	char num[24];

	stanza_set_attr(e, "jid", s->full);
	stanza_set_attr(e, "c2s", s->c2s);
	stanza_set_attr(e, "sid", s->sid);
	stanza_set_attr(e, "available", s->available ? "true" : "false");
	stanza_set_attr(e, "interested", s->interested ? "true" : "false");
	stanza_set_attr(e, "blocklist", s->blocklist ? "true" : "false");
	snprintf(num, sizeof(num), "%d", s->priority);
	stanza_set_attr(e, "priority", num);
	if (s->presence != NULL)
		stanza_append_copy(e, s->presence);
	for (const struct sm_directed *d = s->directed; d != NULL; d = d->next)
		stanza_set_attr(stanza_add_child(e, "directed", NULL), "jid", d->jid);
	o->sessions++;
	o->sm->count.handed_over++;
}

/* Is bare (normalised) an account of domain? */
static bool sm_handover_in_domain(const char *bare, const char *domain)
{
	const char *at = strchr(bare, '@');
	return at != NULL && strcmp(at + 1, domain) == 0;
}

struct sm_handover_target {
	const char *domain, *to;
};

/* Does the session's user belong to target->to now? */
static bool sm_handover_moves(struct sm *sm, const struct sm_session *s, void *ctx)
{
	const struct sm_handover_target *t = ctx;
	const char *owner = sm_handover_in_domain(s->bare, t->domain) ? sm_scale_owner(sm, s->bare)
								       : NULL;
	return owner != NULL && strcmp(owner, t->to) == 0;
}

void sm_handover_send(struct sm *sm, const char *domain, const char *to)
{
	struct sm_handover_out o = {.sm = sm, .domain = domain, .to = to};
	struct sm_handover_target t = {domain, to};
	struct sm_session *moving = sm_session_take(sm, sm_handover_moves, &t);

	while (moving != NULL) {
		struct sm_session *s = moving;
		moving = s->next;
		sm_handover_session(&o, s);
		sm_session_release(s);
	}
	struct stanza *contacts = sm_pep_hand_over(sm, domain, to);
	for (size_t i = 0; contacts != NULL && i < stanza_count_child_elements(contacts); i++) {
		const struct stanza *c = stanza_child_element(contacts, i);
		struct stanza *e = sm_handover_child(&o, "contact");
		static const char *const attrs[] = {"service", "jid", "node", "ver", "hash"};
		for (size_t k = 0; k < sizeof(attrs) / sizeof(attrs[0]); k++)
			stanza_set_attr(e, attrs[k], stanza_get_attr(c, attrs[k]));
		o.contacts++;
	}
	stanza_unref(&contacts);
	sm_handover_flush(&o, true);
	JLOG_INFO(0, "handed %zu session(s) and %zu PEP contact(s) of %s over to %s", o.sessions,
		  o.contacts, domain, to);
}

static bool sm_handover_flag(const struct stanza *e, const char *name)
{
	const char *v = stanza_get_attr(e, name);
	return v != NULL && strcmp(v, "true") == 0;
}

/* One <session/>: install it as it was on the other instance. */
static void sm_handover_install(struct sm *sm, const char *from, const struct stanza *e)
{
	const char *full = stanza_get_attr(e, "jid");
	const char *c2s = stanza_get_attr(e, "c2s");
	const char *sid = stanza_get_attr(e, "sid");
	const char *priority = stanza_get_attr(e, "priority");
	struct jid jid;

	if (full == NULL || c2s == NULL || sid == NULL || jid_parse(full, -1, &jid) != JID_OK)
		return;
	if (jid.node == NULL || jid.resource == NULL) {
		jid_clear(&jid);
		return;
	}
	struct sm_session *s = xcalloc(1, sizeof(*s));
	s->full = jid_full_string(&jid);
	s->bare = jid_bare_string(&jid);
	jid_clear(&jid);
	s->c2s = xstrdup(c2s);
	s->sid = xstrdup(sid);
	s->available = sm_handover_flag(e, "available");
	s->interested = sm_handover_flag(e, "interested");
	s->blocklist = sm_handover_flag(e, "blocklist");
	s->priority = priority != NULL ? atoi(priority) : 0;
	for (size_t i = 0; i < stanza_count_child_elements(e); i++) {
		const struct stanza *c = stanza_child_element(e, i);
		const char *to = stanza_get_attr(c, "jid");
		if (strcmp(c->name, "presence") == 0 && s->presence == NULL) {
			s->presence = stanza_copy(c);
			if (strcmp(c->ns, STREAM_NS_COMPONENT) != 0)
				stanza_rename_ns(s->presence, c->ns, STREAM_NS_COMPONENT);
		} else if (strcmp(c->name, "directed") == 0 && to != NULL &&
			   s->n_directed < SM_DIRECTED_MAX) {
			struct sm_directed *d = xcalloc(1, sizeof(*d));
			d->jid = xstrdup(to);
			d->next = s->directed;
			s->directed = d;
			s->n_directed++;
		}
	}
	if (s->available && s->presence == NULL)
		s->available = false;
	JLOG_DEBUG(0, "session %s (%s on %s) handed over by %s", s->full, s->sid, s->c2s, from);
	sm_session_adopt(sm, s);
}

void sm_handover_receive(struct sm *sm, struct stanza *iq, struct stanza *handover)
{
	const char *from = stanza_get_attr(iq, "from");
	const char *type = stanza_get_attr(iq, "type");
	const char *domain = stanza_get_attr(handover, "domain");
	size_t sessions = 0;

	if (type == NULL || strcmp(type, "set") != 0)
		return; /* our own handover's result, or its error */
	if (from == NULL || !sm_peers_trusted(sm, from)) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
		return;
	}
	if (domain == NULL) {
		sm_bounce(sm, iq, "modify", "bad-request");
		return;
	}
	for (size_t i = 0; i < stanza_count_child_elements(handover); i++) {
		const struct stanza *c = stanza_child_element(handover, i);
		if (strcmp(c->name, "session") == 0) {
			sm_handover_install(sm, from, c);
			sessions++;
			sm->count.taken_over++;
		} else if (strcmp(c->name, "contact") == 0) {
			sm_pep_take_over(sm, c);
		}
	}
	if (sessions > 0)
		JLOG_INFO(0, "%zu session(s) of %s handed over by %s", sessions, domain, from);
	struct stanza *r = sm_iq_result(iq);
	sm_send(sm, r);
	stanza_unref(&r);
	if (sm_handover_flag(handover, "done"))
		sm_scale_handover_done(sm, domain, from);
}
