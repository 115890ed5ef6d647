/* c2s-hold.c: a client's stanzas for a users' domain held while no sm
 * serves it (sm restarting, or the router link down).
 *
 * c2s knows from the router's watch events (c2s->peers) whether a trusted
 * stream holds each of [junction] domains. While none does, a stanza for
 * that domain would only come back from the router as an error, so it
 * waits here instead, in arrival order, already wrapped for sm. When the
 * domain is bound again, c2s-sm.c re-announces the sessions and then calls
 * c2s_hold_release(): the held stanzas go out behind the announcements
 * (the router keeps one stream's order), so sm knows the sessions before
 * their traffic. The queue is bounded by [c2s] sm_queue_limit bytes; a
 * stanza that does not fit, or that waited longer than [c2s]
 * sm_queue_timeout, goes back to its client as an error (never silently:
 * presence excepted, as the router does). A client that left meanwhile
 * still has its messages delivered; errors for it are dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "jid.h"
#include "log.h"
#include "stanza.h"
#include "stream.h"

struct c2s_held {
	struct c2s_held *next;
	struct stanza *out; /* as it goes to the router (component namespace) */
	char *domain;       /* the users' domain it waits for */
	unsigned long client_id;
	size_t bytes;
	uint64_t since_ms;
};

/* The users' domain a stanza on its way to the router is for, if it is
 * one of ours and no trusted stream serves it right now (NULL otherwise).
 * Freed by the caller. */
static char *c2s_hold_domain(struct c2s *c2s, const struct stanza *out)
{
	const char *to = stanza_get_attr(out, "to");
	struct jid j;
	char *domain = NULL;

	if (to == NULL || jid_parse(to, -1, &j) != JID_OK)
		return NULL;
	if (c2s_serves(c2s, j.domain) && !peers_holds(&c2s->peers, j.domain))
		domain = xstrdup(j.domain);
	jid_clear(&j);
	return domain;
}

bool c2s_hold(struct c2s_client *client, struct stanza *out)
{
	struct c2s *c2s = client->c2s;
	char *domain = c2s_hold_domain(c2s, out);
	struct buf b = {0};

	if (domain == NULL)
		return false;
	stanza_serialize(out, STREAM_NS_COMPONENT, &b);
	size_t bytes = b.len;
	buf_free(&b);
	if (c2s->held_bytes + bytes > c2s->sm_queue_limit) {
		JLOG_WARN(client->id, "no sm for %s and %zu bytes held: refusing a stanza", domain,
			  c2s->held_bytes);
		c2s_sm_bounce_to_client(client, out, "wait", "resource-constraint");
		free(domain);
		return true;
	}
	struct c2s_held *h = xcalloc(1, sizeof(*h));
	h->out = stanza_ref(out);
	h->domain = domain;
	h->client_id = client->id;
	h->bytes = bytes;
	h->since_ms = uv_now(c2s->loop);
	if (c2s->held_head == NULL)
		JLOG_INFO(client->id, "no sm serves %s: holding stanzas for it", domain);
	*(c2s->held_head != NULL ? &c2s->held_tail->next : &c2s->held_head) = h;
	c2s->held_tail = h;
	c2s->held_bytes += bytes;
	return true;
}

/* Take h out of the list (prev is the entry before it, or NULL). */
static void c2s_hold_unlink(struct c2s *c2s, struct c2s_held *prev, struct c2s_held *h)
{
	if (prev != NULL)
		prev->next = h->next;
	else
		c2s->held_head = h->next;
	if (c2s->held_tail == h)
		c2s->held_tail = prev;
	c2s->held_bytes -= h->bytes;
}

static void c2s_hold_free(struct c2s_held *h)
{
	stanza_unref(&h->out);
	free(h->domain);
	free(h);
}

/* A held stanza goes back to its client (if still there) as an error. */
static void c2s_hold_refuse(struct c2s *c2s, struct c2s_held *h, const char *type,
			    const char *condition)
{
	struct c2s_client *c = c2s_client_by_id(c2s, h->client_id);

	if (c != NULL && c->established && c->state != C2S_CLIENT_CLOSING)
		c2s_sm_bounce_to_client(c, h->out, type, condition);
}

void c2s_hold_release(struct c2s *c2s, const char *domain)
{
	unsigned n = 0;

	for (struct c2s_held *h = c2s->held_head, *prev = NULL, *next; h != NULL; h = next) {
		next = h->next;
		if (strcmp(h->domain, domain) != 0) {
			prev = h;
			continue;
		}
		c2s_hold_unlink(c2s, prev, h);
		if (!c2s_sm_send(c2s, h->out))
			c2s_hold_refuse(c2s, h, "wait", "resource-constraint");
		c2s_hold_free(h);
		n++;
	}
	if (n > 0)
		JLOG_INFO(0, "%s is served again: sent %u held stanza(s)", domain, n);
}

void c2s_hold_tick(struct c2s *c2s)
{
	uint64_t now = uv_now(c2s->loop);
	unsigned n = 0;

	/* Oldest first: stop at the first one still within its time. */
	while (c2s->held_head != NULL && now - c2s->held_head->since_ms >= c2s->sm_queue_timeout_ms) {
		struct c2s_held *h = c2s->held_head;
		c2s_hold_unlink(c2s, NULL, h);
		c2s_hold_refuse(c2s, h, "wait", "service-unavailable");
		c2s_hold_free(h);
		n++;
	}
	if (n > 0)
		JLOG_WARN(0, "no sm came back in time: %u held stanza(s) returned as errors", n);
}

void c2s_hold_clear(struct c2s *c2s)
{
	while (c2s->held_head != NULL) {
		struct c2s_held *h = c2s->held_head;
		c2s_hold_unlink(c2s, NULL, h);
		c2s_hold_free(h);
	}
}
