/* router-hold.c: stanzas for a users' domain held while its sm restarts.
 *
 * When the last stream holding one of [junction] domains releases it (sm
 * stopped or was killed), a gap opens for that domain: stanzas for it
 * (from pubsub, s2s, a gateway, or c2s) are kept here, in arrival order,
 * instead of being bounced or dropped. When a stream binds the domain
 * again, they go out HOLD_RELEASE_DELAY_MS later, sender by sender, each
 * sender's in the order sent; stanzas for the domain that arrive meanwhile
 * queue behind them. Senders that spoke after the bind go first, earliest
 * first: Junction's c2s re-announces its sessions the moment it sees the
 * domain bound, so the new sm learns of the sessions before anything held
 * for them (an iq result from pubsub to a full JID) reaches it. A gap lasts
 * at most [router] hold_timeout: then, or when more than [router]
 * hold_limit bytes are held, senders get their stanzas back as errors
 * (service-unavailable, resource-constraint), never silence. A domain no
 * stream ever held (sm not started yet) has no gap: bounced at once.
 * The held bytes live in the router's memory only: a router restart loses
 * them (docs/operations.md, "What survives a restart").
 *
 * The default route (s2s) has a gap of its own, named ROUTER_HOLD_DEFAULT:
 * when the stream holding it goes, stanzas for domains this deployment
 * does not serve are held the same way until a stream takes the default
 * route again, so a restarting s2s gets what was sent meanwhile.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "router.h"
#include "stanza.h"
#include "stream.h"
#include "xml-parser.h"

#define HOLD_RELEASE_DELAY_MS 150
#define HOLD_TICK_MS 50

struct router_held {
	struct router_held *next;
	char *bytes;
	size_t len;
	unsigned long sender_id;
	char *bare; /* the recipient's bare JID, for the shared-name hash */
	bool after_bind; /* arrived once the domain was bound again */
};

struct router_gap {
	struct router_gap *next;
	char *domain;
	uint64_t opened_ms;
	uint64_t release_ms; /* 0 until the domain is bound again */
	struct router_held *head, *tail;
};

struct router_hold {
	struct router *router;
	struct router_gap *gaps;
	size_t bytes, limit;
	uint64_t timeout_ms;
	uv_timer_t timer;
};

static void router_hold_on_timer(uv_timer_t *timer);

void router_hold_init(struct router *router)
{
	struct router_hold *h = xcalloc(1, sizeof(*h));

	h->router = router;
	h->limit = config_get_size(router->config, "router", "hold_limit");
	h->timeout_ms = config_get_duration_ms(router->config, "router", "hold_timeout");
	uv_timer_init(router->loop, &h->timer);
	h->timer.data = h;
	router->hold = h;
}

static struct router_gap *router_hold_find(struct router_hold *h, const char *domain, size_t len)
{
	for (struct router_gap *g = h->gaps; g != NULL; g = g->next) {
		if (strlen(g->domain) == len && memcmp(g->domain, domain, len) == 0)
			return g;
	}
	return NULL;
}

/* The gap a stanza for domain goes into: its domain's, else the default
 * route's when domain would go there (not served here). */
static struct router_gap *router_hold_gap_for(struct router_hold *h, const char *domain,
					      size_t len)
{
	if (h->gaps == NULL)
		return NULL;
	struct router_gap *g = router_hold_find(h, domain, len);
	if (g != NULL || len == 0)
		return g;
	g = router_hold_find(h, ROUTER_HOLD_DEFAULT, 0);
	if (g == NULL || len >= 1024)
		return NULL;
	char name[1024]; /* a JID domainpart is at most 1023 bytes (RFC 7622) */
	memcpy(name, domain, len);
	name[len] = '\0';
	return router_serves(h->router, name) ? NULL : g;
}

static struct router_stream *router_hold_sender(struct router *router, unsigned long id)
{
	for (struct router_stream *s = router->streams; s != NULL; s = s->next) {
		if (s->id == id && s->state == ROUTER_STREAM_READY)
			return s;
	}
	return NULL;
}

void router_hold_bounce_bytes(struct router *router, unsigned long sender_id, const char *bytes,
			      size_t len, const char *type, const char *condition)
{
	struct router_stream *sender = router_hold_sender(router, sender_id);
	struct xml_parser_stanza st = {.raw = bytes, .raw_len = len};

	if (sender != NULL)
		router_bounce(sender, &st, type, condition, "the recipient went away");
}

/* A held stanza goes back to its sender, if that stream is still there. */
static void router_hold_bounce(struct router *router, const struct router_held *e,
			       const char *type, const char *condition)
{
	router_hold_bounce_bytes(router, e->sender_id, e->bytes, e->len, type, condition);
}

static void router_held_free(struct router_hold *h, struct router_held *e)
{
	h->bytes -= e->len;
	free(e->bytes);
	free(e->bare);
	free(e);
}

/* Close a gap: deliver what it holds (release) or bounce it all. */
static void router_hold_close(struct router_hold *h, struct router_gap *g, bool release)
{
	struct router *router = h->router;
	unsigned delivered = 0, bounced = 0;

	for (struct router_gap **p = &h->gaps; *p != NULL; p = &(*p)->next) {
		if (*p == g) {
			*p = g->next;
			break;
		}
	}
	/* Senders in release order: those with a stanza after the bind, by
	 * their first such stanza, then the others, by their first stanza. */
	size_t n = 0;
	unsigned long *order = NULL;
	for (int pass = 0; pass < 2; pass++) {
		for (struct router_held *e = g->head; e != NULL; e = e->next) {
			if ((pass == 0) != e->after_bind)
				continue;
			size_t i = 0;
			while (i < n && order[i] != e->sender_id)
				i++;
			if (i == n) {
				order = xrealloc(order, (n + 1) * sizeof(*order));
				order[n++] = e->sender_id;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct router_held **p = &g->head;
		while (*p != NULL) {
			struct router_held *e = *p;
			if (e->sender_id != order[i]) {
				p = &e->next;
				continue;
			}
			*p = e->next;
			bool served;
			struct router_stream *dest = NULL;
			if (release && g->domain[0] == '\0')
				dest = route_default(router->routes);
			else if (release)
				dest = router_find_route(router, g->domain, strlen(g->domain),
							 e->bare, strlen(e->bare), &served);
			if (dest != NULL && router_stream_deliver(dest, e->bytes, e->len, false)) {
				delivered++;
			} else {
				router_hold_bounce(router, e, "cancel", "service-unavailable");
				bounced++;
			}
			router_held_free(h, e);
		}
	}
	free(order);
	if (delivered + bounced > 0)
		JLOG_INFO(0, "%s: %u held stanza(s) delivered, %u bounced",
			  g->domain[0] != '\0' ? g->domain : "default route", delivered, bounced);
	free(g->domain);
	free(g);
	if (h->gaps == NULL)
		uv_timer_stop(&h->timer);
}

static void router_hold_on_timer(uv_timer_t *timer)
{
	struct router_hold *h = timer->data;
	uint64_t now = uv_now(h->router->loop);

	for (struct router_gap *g = h->gaps, *next; g != NULL; g = next) {
		next = g->next;
		if (g->release_ms != 0 && now >= g->release_ms)
			router_hold_close(h, g, true);
		else if (g->release_ms == 0 && now - g->opened_ms >= h->timeout_ms)
			router_hold_close(h, g, false);
	}
}

void router_hold_changed(struct router *router, const char *name, bool bound)
{
	struct router_hold *h = router->hold;
	struct router_gap *g = router_hold_find(h, name, strlen(name));

	if (bound) {
		if (g != NULL && g->release_ms == 0)
			g->release_ms = uv_now(router->loop) + HOLD_RELEASE_DELAY_MS;
		return;
	}
	bool dflt = name[0] == '\0';
	if (g != NULL || router->stopping ||
	    (dflt ? route_default(router->routes) != NULL
		  : route_is_bound(router->routes, name) ||
			    !config_is_user_domain(router->config, name, strlen(name))))
		return;
	g = xcalloc(1, sizeof(*g));
	g->domain = xstrdup(name);
	g->opened_ms = uv_now(router->loop);
	g->next = h->gaps;
	h->gaps = g;
	JLOG_INFO(0, "%s has no server: holding its stanzas for up to %llums",
		  dflt ? "the default route" : name, (unsigned long long)h->timeout_ms);
	if (!uv_is_active((uv_handle_t *)&h->timer))
		uv_timer_start(&h->timer, router_hold_on_timer, HOLD_TICK_MS, HOLD_TICK_MS);
}

bool router_hold_take(struct router_stream *sender, const struct xml_parser_stanza *st,
		      const char *domain, size_t domain_len, const char *bare, size_t bare_len)
{
	struct router_hold *h = sender->router->hold;
	struct router_gap *g = router_hold_gap_for(h, domain, domain_len);

	if (g == NULL)
		return false;
	if (h->bytes + st->raw_len > h->limit) {
		router_bounce(sender, st, "wait", "resource-constraint",
			      "too much is waiting for the recipient's server");
		return true;
	}
	struct router_held *e = xcalloc(1, sizeof(*e));
	if (sender->extra_prefixes) {
		struct buf b = {0};
		stanza_serialize(st->tree, STREAM_NS_COMPONENT, &b);
		e->len = b.len;
		e->bytes = buf_steal(&b);
	} else {
		e->bytes = xstrndup(st->raw, st->raw_len);
		e->len = st->raw_len;
	}
	e->bare = xstrndup(bare, bare_len);
	e->sender_id = sender->id;
	e->after_bind = g->release_ms != 0;
	*(g->tail != NULL ? &g->tail->next : &g->head) = e;
	g->tail = e;
	h->bytes += e->len;
	return true;
}

bool router_hold_put(struct router *router, const char *domain, char *bytes, size_t len,
		     char *bare, unsigned long sender_id)
{
	struct router_hold *h = router->hold;
	struct router_gap *g = router_hold_gap_for(h, domain, strlen(domain));

	if (g == NULL)
		return false;
	struct router_held *e = xcalloc(1, sizeof(*e));
	e->bytes = bytes;
	e->len = len;
	e->bare = bare;
	e->sender_id = sender_id;
	e->after_bind = g->release_ms != 0;
	*(g->tail != NULL ? &g->tail->next : &g->head) = e;
	g->tail = e;
	h->bytes += e->len;
	return true;
}

size_t router_hold_bytes(const struct router *router)
{
	return router->hold != NULL ? router->hold->bytes : 0;
}

static void router_hold_closed(uv_handle_t *handle)
{
	free(handle->data);
}

void router_hold_stop(struct router *router)
{
	struct router_hold *h = router->hold;

	if (h == NULL)
		return;
	while (h->gaps != NULL) {
		struct router_gap *g = h->gaps;
		h->gaps = g->next;
		for (struct router_held *e = g->head, *next; e != NULL; e = next) {
			next = e->next;
			router_held_free(h, e);
		}
		free(g->domain);
		free(g);
	}
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, router_hold_closed);
	router->hold = NULL;
}
