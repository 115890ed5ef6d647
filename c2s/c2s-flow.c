/* c2s-flow.c: backpressure, deciding when a client's socket is read.
 *
 * c2s reads a client only as fast as what it sends can go on, so a burst
 * waits in the client's own socket (and, when that is full, in the
 * client) instead of in c2s's memory, and nothing is dropped for lack of
 * room. A client is not read while any of these holds (enum c2s_pause):
 *
 *  - HOLD: a throttled SASL answer is being held (c2s-auth.c);
 *  - OUTPUT: its own output queue is over C2S_CLIENT_PAUSE_BYTES (it sends
 *    requests faster than it reads the answers);
 *  - PEER: it sent a stanza to, or had one delivered to, a client of this
 *    c2s whose output queue is over C2S_CLIENT_PAUSE_BYTES: the sender
 *    waits for that slow reader, who is not disconnected for a burst it
 *    did not cause (C2S_CLIENT_QUEUE_LIMIT still ends one that does not
 *    read at all);
 *  - LINK: the router link's queue is over C2S_LINK_PAUSE_BYTES (every
 *    client, since all traffic shares that link);
 *  - INFLIGHT: more than C2S_INFLIGHT_PAUSE_BYTES of what it sent to
 *    sessions of this c2s has not come back yet. c2s cannot see the queues
 *    in router and sm, but for local traffic it sees both ends: this window
 *    keeps a fast sender from filling the router's queues towards sm and
 *    back (where stanzas would bounce) before its receiver's queue here
 *    shows anything. Sizes are as received and as written, so they only
 *    roughly cancel out; a sender whose stanzas stop coming back (stored
 *    offline, bounced) has its count forgotten after C2S_INFLIGHT_FORGET_MS.
 *
 * Each reason clears when its queue is down to the RESUME mark (conn's and
 * component's drained callbacks), and the c2s timer re-checks them all in
 * case a connection that would have drained went away. A read already in
 * progress is finished (at most one socket read, 64 KiB), so what c2s holds
 * for a client stays bounded.
 *
 * Finding a stanza's local sender or receiver uses an index of the
 * established sessions by bare JID (c2s->by_jid).
 */
#include <string.h>

#include "c2s.h"
#include "component.h"
#include "conn.h"
#include "log.h"

void c2s_flow_pause(struct c2s_client *client, unsigned reason)
{
	if (client->state == C2S_CLIENT_CLOSING || (client->paused & reason) != 0)
		return;
	if (client->paused == 0 && client->conn != NULL)
		conn_read_stop(client->conn);
	client->paused |= reason;
}

void c2s_flow_resume(struct c2s_client *client, unsigned reason)
{
	if ((client->paused & reason) == 0)
		return;
	client->paused &= ~reason;
	if (reason == C2S_PAUSE_PEER)
		client->waiting_on = 0;
	if (client->paused == 0 && client->state != C2S_CLIENT_CLOSING && client->conn != NULL)
		conn_read_resume(client->conn);
}

static bool c2s_flow_full(const struct c2s_client *client)
{
	return c2s_client_queued(client) > C2S_CLIENT_PAUSE_BYTES;
}

static bool c2s_flow_drained_enough(const struct c2s_client *client)
{
	return client->state == C2S_CLIENT_CLOSING ||
	       c2s_client_queued(client) <= C2S_CLIENT_RESUME_BYTES;
}

/* ---- the JID index ------------------------------------------------------------ */

static size_t c2s_flow_bare_len(const char *jid)
{
	const char *slash = strchr(jid, '/');
	return slash != NULL ? (size_t)(slash - jid) : strlen(jid);
}

static size_t c2s_flow_bucket(const char *jid)
{
	size_t h = 5381, n = c2s_flow_bare_len(jid);
	for (size_t i = 0; i < n; i++)
		h = h * 33 + (unsigned char)jid[i];
	return h % C2S_ID_BUCKETS;
}

void c2s_flow_established(struct c2s_client *client)
{
	struct c2s *c2s = client->c2s;
	size_t b = c2s_flow_bucket(client->full_jid);

	if (client->in_jid_index)
		return;
	client->jid_next = c2s->by_jid[b];
	c2s->by_jid[b] = client;
	client->in_jid_index = true;
}

/* The established client with full JID `jid`, or (jid bare) the first of
 * that bare JID's that pred accepts; NULL if none. */
static struct c2s_client *c2s_flow_find(struct c2s *c2s, const char *jid,
					bool (*pred)(const struct c2s_client *))
{
	size_t n = c2s_flow_bare_len(jid);
	bool full = jid[n] == '/';

	for (struct c2s_client *c = c2s->by_jid[c2s_flow_bucket(jid)]; c != NULL; c = c->jid_next) {
		if (c->state == C2S_CLIENT_CLOSING)
			continue;
		if (full ? strcmp(c->full_jid, jid) == 0
			 : strncmp(c->full_jid, jid, n) == 0 && c->full_jid[n] == '/') {
			if (pred == NULL || pred(c))
				return c;
			if (full)
				return NULL;
		}
	}
	return NULL;
}

static void c2s_flow_wait_for(struct c2s_client *sender, const struct c2s_client *slow)
{
	if (sender == slow || (sender->paused & C2S_PAUSE_PEER) != 0)
		return;
	JLOG_DEBUG(sender->id, "not reading %s until %s reads its queue (%zu bytes)",
		   sender->full_jid, slow->full_jid, c2s_client_queued(slow));
	sender->waiting_on = slow->id;
	c2s_flow_pause(sender, C2S_PAUSE_PEER);
}

/* Resume every client waiting for slow (it drained or went away). */
static void c2s_flow_release_waiters(struct c2s *c2s, unsigned long slow_id)
{
	for (struct c2s_client *c = c2s->clients; c != NULL; c = c->next) {
		if ((c->paused & C2S_PAUSE_PEER) != 0 && c->waiting_on == slow_id)
			c2s_flow_resume(c, C2S_PAUSE_PEER);
	}
}

void c2s_flow_forget(struct c2s_client *client)
{
	struct c2s *c2s = client->c2s;

	if (client->in_jid_index) {
		struct c2s_client **pp = &c2s->by_jid[c2s_flow_bucket(client->full_jid)];
		while (*pp != client)
			pp = &(*pp)->jid_next;
		*pp = client->jid_next;
		client->in_jid_index = false;
	}
	c2s_flow_release_waiters(c2s, client->id);
}

/* ---- events ----------------------------------------------------------------------- */

void c2s_flow_output(struct c2s_client *client)
{
	if (c2s_flow_full(client))
		c2s_flow_pause(client, C2S_PAUSE_OUTPUT);
}

void c2s_flow_drained(struct c2s_client *client)
{
	if (!c2s_flow_drained_enough(client))
		return;
	c2s_flow_resume(client, C2S_PAUSE_OUTPUT);
	c2s_flow_release_waiters(client->c2s, client->id);
}

void c2s_flow_sent_to(struct c2s_client *client, const char *to, size_t bytes)
{
	struct c2s *c2s = client->c2s;

	if (c2s_flow_find(c2s, to, NULL) == NULL)
		return; /* not for a session of this c2s */
	client->in_flight += bytes;
	client->in_flight_ms = uv_now(c2s->loop);
	if (client->in_flight > C2S_INFLIGHT_PAUSE_BYTES)
		c2s_flow_pause(client, C2S_PAUSE_INFLIGHT);
	const struct c2s_client *slow = c2s_flow_find(c2s, to, c2s_flow_full);
	if (slow != NULL)
		c2s_flow_wait_for(client, slow);
}

void c2s_flow_delivered(struct c2s_client *client, const char *from, size_t bytes)
{
	/* Only a full JID names one local sender. */
	if (from == NULL || strchr(from, '/') == NULL)
		return;
	struct c2s_client *sender = c2s_flow_find(client->c2s, from, NULL);
	if (sender == NULL)
		return;
	sender->in_flight = sender->in_flight > bytes ? sender->in_flight - bytes : 0;
	sender->in_flight_ms = uv_now(client->c2s->loop);
	if (sender->in_flight <= C2S_INFLIGHT_RESUME_BYTES)
		c2s_flow_resume(sender, C2S_PAUSE_INFLIGHT);
	if (c2s_flow_full(client))
		c2s_flow_wait_for(sender, client);
}

static void c2s_flow_link_set(struct c2s *c2s, bool paused)
{
	c2s->link_paused = paused;
	JLOG_INFO(0, "router link queue %s: %s reading clients",
		  paused ? "over its limit" : "drained", paused ? "stopped" : "resumed");
	for (struct c2s_client *c = c2s->clients; c != NULL; c = c->next) {
		if (paused)
			c2s_flow_pause(c, C2S_PAUSE_LINK);
		else
			c2s_flow_resume(c, C2S_PAUSE_LINK);
	}
}

void c2s_flow_link_sent(struct c2s *c2s)
{
	if (!c2s->link_paused && c2s->component != NULL &&
	    component_queued(c2s->component) > C2S_LINK_PAUSE_BYTES)
		c2s_flow_link_set(c2s, true);
}

void c2s_flow_link_drained(struct c2s *c2s)
{
	if (c2s->link_paused &&
	    (c2s->component == NULL || component_queued(c2s->component) <= C2S_LINK_RESUME_BYTES))
		c2s_flow_link_set(c2s, false);
}

void c2s_flow_tick(struct c2s *c2s)
{
	uint64_t now = uv_now(c2s->loop);

	c2s_flow_link_drained(c2s);
	for (struct c2s_client *c = c2s->clients; c != NULL; c = c->next) {
		if (c->in_flight > 0 && now - c->in_flight_ms >= C2S_INFLIGHT_FORGET_MS) {
			c->in_flight = 0;
			c2s_flow_resume(c, C2S_PAUSE_INFLIGHT);
		}
		if ((c->paused & C2S_PAUSE_OUTPUT) != 0 && c2s_flow_drained_enough(c))
			c2s_flow_resume(c, C2S_PAUSE_OUTPUT);
		if ((c->paused & C2S_PAUSE_PEER) != 0) {
			const struct c2s_client *slow = c2s_client_by_id(c2s, c->waiting_on);
			if (slow == NULL || c2s_flow_drained_enough(slow))
				c2s_flow_resume(c, C2S_PAUSE_PEER);
		}
	}
}
