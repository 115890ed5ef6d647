/* sm-scale.c: several sm instances serving one users' domain.
 *
 * The router splits a shared domain between its holders by rendezvous
 * hashing of the bare JID (common/rendezvous.h). From the watch events sm
 * keeps, per served domain, the instance names of the trusted streams
 * holding it in shared mode, so it computes the same owner for any
 * account. When that set changes, sessions follow their users
 * (docs/components.md section 6, "Scale-out and scale-in"):
 *
 * - Another instance binds a domain this one holds (scale-out): the
 *   sessions it now owns are handed over to it (sm-handover.c). The
 *   router writes to this instance in order, so whatever it routed here
 *   before the bind has been handled before the event arrives.
 * - This instance binds a domain others hold, or one of the others lets
 *   it go while its own name stays (scale-in): handovers are expected
 *   from them. Until each has said done (or its name is gone, or
 *   SM_SCALE_WAIT_MS passed), every stanza not addressed to this
 *   instance's own name is kept, in arrival order, and dispatched once
 *   they are in; at most SM_SCALE_KEPT_MAX of them.
 * - Another instance died (its names went without a handover): its users
 *   are ours now without their sessions, which c2s re-announces as it
 *   sees the same event. For SM_SCALE_CRASH_MS, session starts and
 *   restored presence are handled at once and everything else is kept, so
 *   that messages find the sessions rather than offline storage.
 * - SIGTERM/SIGINT while another instance holds a served domain: unbind
 *   it, and when the router's unbound event comes back (everything it
 *   routed here came before) hand every session of it over to the new
 *   owners, then stop (at most SM_SCALE_LEAVE_MS).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "component.h"
#include "config.h"
#include "log.h"
#include "rendezvous.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

#define SM_SCALE_WAIT_MS 2000
#define SM_SCALE_LEAVE_MS 5000
#define SM_SCALE_KEPT_MAX 100000
/* After an instance died: how long to keep stanzas while c2s re-announces
 * its sessions (the instance name of that wait is ""). */
#define SM_SCALE_CRASH_MS 500
#define SM_SCALE_CRASH ""

/* (domain, instance): a holder of a domain, or a handover expected. */
struct sm_scale_pair {
	char *domain, *instance;
	struct sm_scale_pair *next;
};

struct sm_scale_kept {
	struct stanza *st;
	struct sm_scale_kept *next;
};

struct sm_scale {
	struct sm_scale_pair *holders;  /* of the served domains, this instance too */
	struct sm_scale_pair *expected; /* handovers not done yet */
	struct sm_scale_pair *leaving;  /* domains unbound, waiting for the event */
	bool left;                      /* sm_scale_leave() ran */
	struct sm_scale_kept *kept, **kept_tail;
	size_t n_kept;
};

static struct sm_scale_pair **sm_scale_find(struct sm_scale_pair **list, const char *domain,
					    const char *instance)
{
	while (*list != NULL && (strcmp((*list)->domain, domain) != 0 ||
				 (instance != NULL && strcmp((*list)->instance, instance) != 0)))
		list = &(*list)->next;
	return list;
}

static void sm_scale_add(struct sm_scale_pair **list, const char *domain, const char *instance)
{
	struct sm_scale_pair **p = sm_scale_find(list, domain, instance);

	if (*p != NULL)
		return;
	*p = xcalloc(1, sizeof(**p));
	(*p)->domain = xstrdup(domain);
	(*p)->instance = xstrdup(instance);
}

/* Remove (domain, instance); domain NULL: every pair of instance. */
static void sm_scale_remove(struct sm_scale_pair **list, const char *domain, const char *instance)
{
	while (*list != NULL) {
		struct sm_scale_pair *p = *list;
		if ((domain == NULL || strcmp(p->domain, domain) == 0) &&
		    strcmp(p->instance, instance) == 0) {
			*list = p->next;
			free(p->domain);
			free(p->instance);
			free(p);
		} else {
			list = &p->next;
		}
	}
}

static void sm_scale_clear(struct sm_scale_pair **list)
{
	while (*list != NULL)
		sm_scale_remove(list, NULL, (*list)->instance);
}

static bool sm_scale_served(const struct sm *sm, const char *domain)
{
	size_t n;
	const char *const *d = config_get_list(sm->config, "junction", "domains", &n);

	for (size_t i = 0; i < n; i++) {
		if (strcmp(d[i], domain) == 0)
			return true;
	}
	return false;
}

/* Holders this instance knows for domain (itself included). */
static size_t sm_scale_holders(const struct sm *sm, const char *domain)
{
	size_t n = 0;

	for (const struct sm_scale_pair *p = sm->scale->holders; p != NULL; p = p->next)
		n += strcmp(p->domain, domain) == 0;
	return n;
}

const char *sm_scale_owner(const struct sm *sm, const char *bare)
{
	const char *at = strchr(bare, '@');
	const char *domain = at != NULL ? at + 1 : bare;
	const char *best = NULL;
	uint64_t best_score = 0;

	for (const struct sm_scale_pair *p = sm->scale->holders; p != NULL; p = p->next) {
		if (strcmp(p->domain, domain) != 0)
			continue;
		uint64_t s = rendezvous_score(bare, strlen(bare), p->instance);
		if (best == NULL || s > best_score) {
			best = p->instance;
			best_score = s;
		}
	}
	return best;
}

void sm_scale_init(struct sm *sm)
{
	sm->scale = xcalloc(1, sizeof(*sm->scale));
	sm->scale->kept_tail = &sm->scale->kept;
	uv_timer_init(sm->loop, &sm->scale_timer);
	sm->scale_timer.data = sm;
}

/* Dispatch what was kept, in order, while nothing is awaited. */
static void sm_scale_replay(struct sm *sm)
{
	struct sm_scale *sc = sm->scale;
	size_t n = sc->n_kept;

	if (sc->expected != NULL)
		return;
	if (sc->leaving == NULL)
		uv_timer_stop(&sm->scale_timer);
	while (sc->kept != NULL && sc->expected == NULL) {
		struct sm_scale_kept *k = sc->kept;
		sc->kept = k->next;
		if (sc->kept == NULL)
			sc->kept_tail = &sc->kept;
		sc->n_kept--;
		sm_dispatch(sm, k->st);
		stanza_unref(&k->st);
		free(k);
	}
	if (n > 0)
		JLOG_INFO(0, "handovers in: dispatched %zu stanza(s) kept meanwhile", n);
}

static void sm_scale_on_timer(uv_timer_t *timer)
{
	struct sm *sm = timer->data;
	struct sm_scale *sc = sm->scale;

	for (const struct sm_scale_pair *p = sc->expected; p != NULL; p = p->next) {
		if (strcmp(p->instance, SM_SCALE_CRASH) == 0)
			continue; /* the wait after a crash is over */
		JLOG_WARN(0, "no handover of %s from %s in time: going on without it", p->domain,
			  p->instance);
		sm->count.handover_timeouts++;
	}
	sm_scale_clear(&sc->expected);
	sm_scale_replay(sm);
	if (sc->leaving != NULL) {
		JLOG_WARN(0, "the router did not confirm the unbind in time: stopping");
		sm_scale_clear(&sc->leaving);
		sm_stop(sm);
	}
}

/* Only waits for c2s after a crash, no handover? */
static bool sm_scale_crash_only(const struct sm_scale *sc)
{
	for (const struct sm_scale_pair *p = sc->expected; p != NULL; p = p->next) {
		if (strcmp(p->instance, SM_SCALE_CRASH) != 0)
			return false;
	}
	return sc->expected != NULL;
}

static void sm_scale_expect(struct sm *sm, const char *domain, const char *instance)
{
	/* A handover gets its own time, even after a crash's short wait. */
	bool restart = !uv_is_active((uv_handle_t *)&sm->scale_timer) ||
		       (sm_scale_crash_only(sm->scale) && sm->scale->leaving == NULL);

	sm_scale_add(&sm->scale->expected, domain, instance);
	/* Users arrive whose blocklists this instance may not have read. */
	sm_blocking_free(sm);
	if (restart)
		uv_timer_start(&sm->scale_timer, sm_scale_on_timer, SM_SCALE_WAIT_MS, 0);
	JLOG_INFO(0, "waiting for %s to hand over sessions of %s", instance, domain);
}

/* instance left domain without a handover (it died): its users are this
 * instance's now, and c2s re-announces their sessions (it saw the same
 * event). Keep stanzas for a moment, so that a message for one of them
 * finds the session rather than offline storage. */
static void sm_scale_crashed(struct sm *sm, const char *domain, const char *instance)
{
	JLOG_WARN(0, "%s left %s without handing its sessions over: keeping stanzas for %d ms "
		     "while c2s re-announces them",
		  instance, domain, SM_SCALE_CRASH_MS);
	sm_scale_add(&sm->scale->expected, domain, SM_SCALE_CRASH);
	sm_blocking_free(sm);
	if (sm_scale_crash_only(sm->scale) && sm->scale->leaving == NULL)
		uv_timer_start(&sm->scale_timer, sm_scale_on_timer, SM_SCALE_CRASH_MS, 0);
}

/* A re-announcement from c2s (a session start, or its restored
 * presence): what the kept stanzas of a crash wait are waiting for. */
static bool sm_scale_reannounced(const struct stanza *st)
{
	const struct stanza *c = stanza_child_element(st, 0);
	const char *v;

	if (c == NULL || strcmp(c->ns, SM_NS_SESSION) != 0)
		return false;
	if (strcmp(st->name, "iq") == 0 && strcmp(c->name, "session") == 0)
		return (v = stanza_get_attr(c, "action")) != NULL && strcmp(v, "start") == 0;
	return strcmp(st->name, "message") == 0 && strcmp(c->name, "from-client") == 0 &&
	       (v = stanza_get_attr(c, "restore")) != NULL && strcmp(v, "true") == 0;
}

void sm_scale_handover_done(struct sm *sm, const char *domain, const char *from)
{
	sm_scale_remove(&sm->scale->expected, domain, from);
	sm_scale_replay(sm);
}

bool sm_scale_waiting(const struct sm *sm)
{
	return sm->scale->expected != NULL || sm->scale->kept != NULL;
}

bool sm_scale_hold(struct sm *sm, struct stanza *st)
{
	struct sm_scale *sc = sm->scale;

	if (!sm_scale_waiting(sm))
		return false;
	/* After a crash, sessions come back now; what waits for them after. */
	if (sm_scale_crash_only(sc) && sm_scale_reannounced(st))
		return false;
	struct sm_scale_kept *k = xcalloc(1, sizeof(*k));
	k->st = stanza_ref(st);
	*sc->kept_tail = k;
	sc->kept_tail = &k->next;
	if (++sc->n_kept > SM_SCALE_KEPT_MAX) {
		JLOG_WARN(0, "over %d stanzas kept waiting for handovers: going on without them",
			  SM_SCALE_KEPT_MAX);
		sm_scale_clear(&sc->expected);
		sm_scale_replay(sm);
	}
	return true;
}

/* This instance let domain go and the router confirmed: everything routed
 * here is handled; the sessions go to the remaining holders. */
static void sm_scale_left(struct sm *sm, const char *domain)
{
	struct sm_scale *sc = sm->scale;

	/* Whatever was kept waiting for handovers to this instance is
	 * handled first, so that it is handed on too. */
	sm_scale_clear(&sc->expected);
	sm_scale_replay(sm);
	sm_scale_remove(&sc->holders, domain, sm->name);
	for (struct sm_scale_pair *p = sc->holders; p != NULL; p = p->next) {
		if (strcmp(p->domain, domain) == 0)
			sm_handover_send(sm, domain, p->instance);
	}
	sm_scale_remove(&sc->leaving, domain, sm->name);
	if (sc->leaving == NULL)
		sm_stop(sm);
}

void sm_scale_event(struct sm *sm, const struct stanza *presence)
{
	struct sm_scale *sc = sm->scale;
	const char *name = stanza_get_attr(presence, "from");
	const struct stanza *ev = stanza_child_element(presence, 0);

	if (sm->stopping || name == NULL || ev == NULL || strcmp(ev->ns, SM_NS_EXT) != 0)
		return;
	const char *instance = stanza_get_attr(ev, "instance");
	const char *trusted = stanza_get_attr(ev, "trusted");
	const char *mode = stanza_get_attr(ev, "mode");
	bool bound = strcmp(ev->name, "bound") == 0;
	if (instance == NULL || trusted == NULL || strcmp(trusted, "true") != 0)
		return;
	if (!bound && strcmp(name, instance) == 0) {
		/* An instance went: no handover will come from it. */
		struct sm_scale_pair *gone = NULL;
		for (struct sm_scale_pair **p = &sc->expected; *p != NULL;) {
			struct sm_scale_pair *e = *p;
			if (strcmp(e->instance, instance) == 0) {
				*p = e->next;
				e->next = gone;
				gone = e;
			} else {
				p = &e->next;
			}
		}
		for (const struct sm_scale_pair *e = gone; e != NULL; e = e->next)
			sm_scale_crashed(sm, e->domain, instance);
		sm_scale_clear(&gone);
		sm_scale_replay(sm);
		return;
	}
	if (mode == NULL || strcmp(mode, "shared") != 0 || !sm_scale_served(sm, name))
		return;
	bool self = strcmp(instance, sm->name) == 0;
	bool holding = *sm_scale_find(&sc->holders, name, sm->name) != NULL;
	if (bound && self) {
		for (const struct sm_scale_pair *p = sc->holders; p != NULL; p = p->next) {
			if (strcmp(p->domain, name) == 0 && strcmp(p->instance, sm->name) != 0)
				sm_scale_expect(sm, name, p->instance);
		}
		sm_scale_add(&sc->holders, name, sm->name);
	} else if (bound) {
		sm_scale_add(&sc->holders, name, instance);
		if (holding)
			sm_handover_send(sm, name, instance);
	} else if (self) {
		if (*sm_scale_find(&sc->leaving, name, sm->name) != NULL)
			sm_scale_left(sm, name);
		else
			sm_scale_remove(&sc->holders, name, sm->name);
	} else {
		sm_scale_remove(&sc->holders, name, instance);
		sm_scale_remove(&sc->expected, name, instance);
		/* Leaving on purpose (its own name stays): it hands over. */
		if (holding && sm_peers_trusted(sm, instance))
			sm_scale_expect(sm, name, instance);
		else if (holding)
			sm_scale_crashed(sm, name, instance);
		sm_scale_replay(sm);
	}
}

bool sm_scale_leave(struct sm *sm)
{
	struct sm_scale *sc = sm->scale;
	size_t n;
	const char *const *d = config_get_list(sm->config, "junction", "domains", &n);

	if (sc->left || !component_is_ready(sm->component))
		return false;
	sc->left = true;
	for (size_t i = 0; i < n; i++) {
		if (*sm_scale_find(&sc->holders, d[i], sm->name) == NULL ||
		    sm_scale_holders(sm, d[i]) < 2)
			continue;
		struct stanza *iq = stanza_new("iq", STREAM_NS_COMPONENT);
		struct stanza *u = stanza_add_child(iq, "unbind", SM_NS_EXT);
		stanza_set_attr(iq, "type", "set");
		stanza_set_attr(iq, "id", "sm-leave");
		stanza_set_attr(iq, "from", sm->name);
		stanza_set_attr(u, "name", d[i]);
		sm_send(sm, iq);
		stanza_unref(&iq);
		sm_scale_add(&sc->leaving, d[i], sm->name);
		JLOG_INFO(0, "leaving %s to the other instance(s)", d[i]);
	}
	if (sc->leaving == NULL)
		return false;
	uv_timer_stop(&sm->scale_timer);
	uv_timer_start(&sm->scale_timer, sm_scale_on_timer, SM_SCALE_LEAVE_MS, 0);
	return true;
}

void sm_scale_reset(struct sm *sm)
{
	struct sm_scale *sc = sm->scale;

	sm_scale_clear(&sc->holders);
	sm_scale_clear(&sc->expected);
	sm_scale_replay(sm);
	if (sc->leaving != NULL) {
		sm_scale_clear(&sc->leaving);
		sm_stop(sm);
	}
}

void sm_scale_free(struct sm *sm)
{
	struct sm_scale *sc = sm->scale;

	if (sc == NULL)
		return;
	sm_scale_clear(&sc->holders);
	sm_scale_clear(&sc->expected);
	sm_scale_clear(&sc->leaving);
	while (sc->kept != NULL) {
		struct sm_scale_kept *k = sc->kept;
		sc->kept = k->next;
		stanza_unref(&k->st);
		free(k);
	}
	free(sc);
	sm->scale = NULL;
}
