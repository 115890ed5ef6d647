/* c2s-sm.c: the link to sm over the router (docs/components.md section 6).
 *
 * c2s is a component named [c2s] name on a trusted stream (common/component.c
 * reconnects it). Requests to sm are iq stanzas addressed to the user, so the
 * router's bare-JID hash picks the sm instance that owns the account:
 * credentials (SASL), session start and end. Their ids are
 * "INSTANCE-CLIENTID-SEQ", so an answer finds its client without a table,
 * and an answer for a client that went away (or for an older request of
 * the same client) is simply not found. Each client has at most one request
 * outstanding; the c2s timer gives up on it after C2S_SM_TIMEOUT_MS.
 *
 * From sm come <deliver/> envelopes (a stanza for a client's session) and
 * action='end' (sm ended a session, e.g. a conflicting bind elsewhere).
 * Both are accepted only from names that trusted streams hold (the watch
 * extension, docs/components.md section 3): a third-party component could
 * otherwise inject stanzas into any session.
 *
 * docs/components.md section 6: messages and iqs that have a 'to' go
 * straight to the router (a trusted stream may send from the users'
 * domains, section 2 rule 6); presence and 'to'-less stanzas go to sm
 * wrapped in <from-client/>, since the user's server must act on them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "component.h"
#include "conn.h"
#include "jid.h"
#include "log.h"
#include "peers.h"
#include "stanza.h"
#include "stream.h"
#include "xml-parser.h"
#include "xml-tag.h"

static void c2s_sm_reannounce(struct c2s *c2s, const char *domain);

/* A watch event: a users' domain bound again by a trusted stream means sm
 * is (back) there: tell it about our sessions. So does one of several sm
 * instances letting it go (stopped, or died: its users moved to the
 * others, which know their sessions only if it handed them over). */
static void c2s_sm_peer_event(struct c2s *c2s, const struct stanza *st)
{
	const char *name;
	enum peers_change change = peers_event(&c2s->peers, st, &name, NULL);

	if ((change == PEERS_BOUND || change == PEERS_LESS) && c2s_serves(c2s, name)) {
		c2s_sm_reannounce(c2s, name);
		if (change == PEERS_BOUND)
			c2s_hold_release(c2s, name);
	}
}

static void c2s_sm_ready(struct component *component, void *ctx)
{
	struct c2s *c2s = ctx;
	(void)component;

	/* component.c asked for watch events before binding; the list of
	 * bound names is arriving. */
	JLOG_INFO(0, "linked to the router as %s", c2s->name);
}

static void c2s_sm_down(struct component *component, const char *why, void *ctx)
{
	struct c2s *c2s = ctx;
	(void)component;
	/* A fresh list of bound names comes after the next handshake. */
	peers_clear(&c2s->peers);
	JLOG_WARN(0, "link to the router down: %s", why);
}

bool c2s_sm_send(struct c2s *c2s, const struct stanza *st)
{
	if (c2s->component == NULL)
		return false;
	if (component_send(c2s->component, st) < 0) {
		JLOG_WARN(0, "router link queue full, dropping a stanza for %s",
			  stanza_get_attr(st, "to") ? stanza_get_attr(st, "to") : "(none)");
		return false;
	}
	c2s_flow_link_sent(c2s);
	return true;
}

/* An iq request for sm on the client's behalf; remembers its id. */
struct stanza *c2s_sm_request(struct c2s_client *client, const char *type, const char *to,
			      enum c2s_wait wait)
{
	struct c2s *c2s = client->c2s;
	struct stanza *iq = stanza_new("iq", STREAM_NS_COMPONENT);

	snprintf(client->req_id, sizeof(client->req_id), "%s-%lu-%u", c2s->instance, client->id,
		 ++client->req_seq);
	stanza_set_attr(iq, "type", type);
	stanza_set_attr(iq, "from", c2s->name);
	stanza_set_attr(iq, "to", to);
	stanza_set_attr(iq, "id", client->req_id);
	client->wait = wait;
	client->req_deadline_ms = uv_now(c2s->loop) + C2S_SM_TIMEOUT_MS;
	return iq;
}

void c2s_sm_request_credentials(struct c2s_client *client, const char *username, const char *hash)
{
	struct buf to = {0};

	buf_printf(&to, "%s@%s", username, client->domain);
	struct stanza *iq = c2s_sm_request(client, "get", to.data, C2S_WAIT_CREDENTIALS);
	struct stanza *cred = stanza_add_child(iq, "credentials", C2S_NS_SESSION);
	stanza_set_attr(cred, "hash", hash);
	if (!c2s_sm_send(client->c2s, iq))
		client->req_deadline_ms = 0; /* the next tick fails it */
	stanza_unref(&iq);
	buf_free(&to);
}

void c2s_sm_session_start(struct c2s_client *client)
{
	struct stanza *iq = c2s_sm_request(client, "set", client->full_jid, C2S_WAIT_SESSION);
	struct stanza *s = stanza_add_child(iq, "session", C2S_NS_SESSION);

	stanza_set_attr(s, "action", "start");
	stanza_set_attr(s, "sid", client->sid);
	client->session_sent = true;
	if (!c2s_sm_send(client->c2s, iq))
		client->req_deadline_ms = 0;
	stanza_unref(&iq);
}

/* Tell sm about a session with an iq whose answer nobody waits for. */
static void c2s_sm_send_session(struct c2s_client *client, const char *action, const char *id)
{
	struct c2s *c2s = client->c2s;
	struct stanza *iq = stanza_new("iq", STREAM_NS_COMPONENT);

	stanza_set_attr(iq, "type", "set");
	stanza_set_attr(iq, "from", c2s->name);
	stanza_set_attr(iq, "to", client->full_jid);
	stanza_set_attr(iq, "id", id);
	struct stanza *s = stanza_add_child(iq, "session", C2S_NS_SESSION);
	stanza_set_attr(s, "action", action);
	stanza_set_attr(s, "sid", client->sid);
	(void)c2s_sm_send(c2s, iq);
	stanza_unref(&iq);
}

void c2s_sm_session_end(struct c2s_client *client)
{
	struct c2s *c2s = client->c2s;

	if (!client->session_sent)
		return;
	client->session_sent = false;
	client->established = false;
	char id[96];
	snprintf(id, sizeof(id), "%s-end-%s", c2s->instance, client->sid);
	c2s_sm_send_session(client, "end", id);
}

/* Is st's 'to' at one of the users' domains (where sm sees it anyway)? */
static bool c2s_sm_to_served(struct c2s *c2s, const struct stanza *st)
{
	struct jid j;

	if (jid_parse(stanza_get_attr(st, "to"), -1, &j) != JID_OK)
		return true; /* sm answers jid-malformed either way */
	bool served = c2s_serves(c2s, j.domain);
	jid_clear(&j);
	return served;
}

/* sm's <session/> in a start result or an action='update': whether the
 * account blocks anyone. */
static void c2s_sm_note_blocking(struct c2s_client *client, const struct stanza *st)
{
	struct stanza *s = stanza_find_child(st, "session", C2S_NS_SESSION);
	const char *b = s != NULL ? stanza_get_attr(s, "blocking") : NULL;

	if (b != NULL)
		client->blocking = strcmp(b, "true") == 0;
}

void c2s_sm_from_client(struct c2s_client *client, const struct stanza *st)
{
	struct c2s *c2s = client->c2s;
	struct stanza *out;

	if (stanza_get_attr(st, "to") != NULL && strcmp(st->name, "presence") != 0 &&
	    !(client->blocking && !c2s_sm_to_served(c2s, st))) {
		out = stanza_copy(st);
	} else {
		char *bare = xstrdup(client->full_jid);
		char *slash = strchr(bare, '/');
		if (slash != NULL)
			*slash = '\0';
		out = stanza_new("message", STREAM_NS_COMPONENT);
		stanza_set_attr(out, "from", c2s->name);
		stanza_set_attr(out, "to", bare);
		struct stanza *w = stanza_add_child(out, "from-client", C2S_NS_SESSION);
		stanza_set_attr(w, "sid", client->sid);
		stanza_append_copy(w, st);
		free(bare);
	}
	c2s_rewrite_ns(out, STREAM_NS_CLIENT, STREAM_NS_COMPONENT);
	if (strcmp(st->name, "presence") == 0 && stanza_get_attr(st, "to") == NULL) {
		/* Remember the broadcast presence for a re-announcement. */
		const char *type = stanza_get_attr(st, "type");
		stanza_unref(&client->presence);
		if (type == NULL)
			client->presence = stanza_ref(out); /* the <from-client/> envelope */
	}
	if (!c2s_hold(client, out) && !c2s_sm_send(c2s, out))
		c2s_client_error(client, st, "wait", "resource-constraint", NULL);
	stanza_unref(&out);
}

/* A (new) sm instance bound a users' domain, or one of several let it go:
 * after an sm restart or crash it knows no sessions, and after a scale-out
 * or scale-in users may have moved to it. Announce again every established
 * session in that domain, with the client's last broadcast presence, so
 * routing and presence come back while clients stay connected. sm treats a
 * start it already knows as a no-op, and the presence (restore='true') of
 * a session it knows as available too. */
static void c2s_sm_reannounce(struct c2s *c2s, const char *domain)
{
	size_t dlen = strlen(domain);
	unsigned n = 0;

	for (struct c2s_client *c = c2s->clients; c != NULL; c = c->next) {
		const char *at = c->full_jid != NULL ? strchr(c->full_jid, '@') : NULL;
		if (!c->established || at == NULL || strncmp(at + 1, domain, dlen) != 0 ||
		    at[1 + dlen] != '/')
			continue;
		char id[96];
		snprintf(id, sizeof(id), "reannounce-%s", c->sid);
		c2s_sm_send_session(c, "start", id);
		if (c->presence != NULL) {
			/* restore='true': sm ignores it for a session it knows
			 * as available (handed over from another instance). */
			struct stanza *p = stanza_copy(c->presence);
			stanza_set_attr(stanza_find_child(p, "from-client", C2S_NS_SESSION),
					"restore", "true");
			(void)c2s_sm_send(c2s, p);
			stanza_unref(&p);
		}
		n++;
	}
	if (n > 0)
		JLOG_INFO(0, "re-announced %u session(s) of %s", n, domain);
}

void c2s_sm_timeout(struct c2s_client *client)
{
	JLOG_WARN(client->id, "no answer from sm to %s", client->req_id);
	if (client->wait == C2S_WAIT_CREDENTIALS)
		c2s_auth_credentials(client, NULL);
	else if (client->wait == C2S_WAIT_SESSION)
		c2s_bind_session_reply(client, NULL);
	else if (client->wait == C2S_WAIT_REGISTER)
		c2s_register_reply(client, NULL);
}

/* ---- from the router ---------------------------------------------------------- */

/* The client a sid names ("INSTANCE-ID"), if it is this process's. */
static struct c2s_client *c2s_sm_client_by_sid(struct c2s *c2s, const char *sid)
{
	size_t n = strlen(c2s->instance);

	if (sid == NULL || strncmp(sid, c2s->instance, n) != 0 || sid[n] != '-')
		return NULL;
	struct c2s_client *c = c2s_client_by_id(c2s, strtoul(sid + n + 1, NULL, 10));
	if (c == NULL || strcmp(c->sid, sid) != 0 || c->state == C2S_CLIENT_CLOSING)
		return NULL;
	return c;
}

/* Does st come from one of Junction's own processes? The router lets only
 * a stream that bound a name send from it, and says which streams are
 * trusted in its watch events. */
static bool c2s_sm_from_trusted(struct c2s *c2s, const char *from)
{
	struct jid j;

	if (from == NULL || jid_parse(from, -1, &j) != JID_OK)
		return false;
	bool ok = peers_holds(&c2s->peers, j.domain);
	jid_clear(&j);
	return ok;
}

/* Is st an answer to one of c2s's own requests (its id has our prefix)? */
static bool c2s_sm_is_own_request(const struct c2s *c2s, const struct stanza *st)
{
	const char *id = stanza_get_attr(st, "id");
	size_t n = strlen(c2s->instance);

	return id != NULL && strncmp(id, c2s->instance, n) == 0 && id[n] == '-';
}

static void c2s_sm_on_reply(struct c2s *c2s, struct stanza *st)
{
	const char *id = stanza_get_attr(st, "id");
	size_t n = strlen(c2s->instance);

	if (id == NULL || strncmp(id, c2s->instance, n) != 0 || id[n] != '-')
		return;
	struct c2s_client *c = c2s_client_by_id(c2s, strtoul(id + n + 1, NULL, 10));
	if (c == NULL || c->state == C2S_CLIENT_CLOSING || strcmp(c->req_id, id) != 0)
		return; /* gone, or an answer to a request we gave up on */
	if (c->wait == C2S_WAIT_SESSION)
		c2s_sm_note_blocking(c, st);
	if (c->wait == C2S_WAIT_CREDENTIALS)
		c2s_auth_credentials(c, st);
	else if (c->wait == C2S_WAIT_SESSION)
		c2s_bind_session_reply(c, st);
	else if (c->wait == C2S_WAIT_REGISTER)
		c2s_register_reply(c, st);
}

static void c2s_sm_reply_result(struct c2s *c2s, const struct stanza *st)
{
	struct stanza *r = stanza_new("iq", STREAM_NS_COMPONENT);

	stanza_set_attr(r, "type", "result");
	stanza_set_attr(r, "id", stanza_get_attr(st, "id"));
	stanza_set_attr(r, "from", c2s->name);
	stanza_set_attr(r, "to", stanza_get_attr(st, "from"));
	(void)c2s_sm_send(c2s, r);
	stanza_unref(&r);
}

static void c2s_sm_reply_error(struct c2s *c2s, const struct stanza *st, const char *type,
			       const char *condition)
{
	struct stanza *r = stanza_error_reply(st, type, condition, NULL);
	(void)c2s_sm_send(c2s, r);
	stanza_unref(&r);
}

/* <iq type='set'><session action='end' sid=... reason=.../></iq>, or
 * action='update' (blocking='true|false'). */
static void c2s_sm_on_request(struct c2s *c2s, struct stanza *st)
{
	struct stanza *s = stanza_find_child(st, "session", C2S_NS_SESSION);
	const char *action = s ? stanza_get_attr(s, "action") : NULL;

	if (s == NULL || action == NULL ||
	    (strcmp(action, "end") != 0 && strcmp(action, "update") != 0)) {
		c2s_sm_reply_error(c2s, st, "cancel", "service-unavailable");
		return;
	}
	if (!c2s_sm_from_trusted(c2s, stanza_get_attr(st, "from"))) {
		c2s_sm_reply_error(c2s, st, "cancel", "forbidden");
		return;
	}
	struct c2s_client *c = c2s_sm_client_by_sid(c2s, stanza_get_attr(s, "sid"));
	c2s_sm_reply_result(c2s, st);
	if (c == NULL)
		return;
	if (strcmp(action, "update") == 0) {
		c2s_sm_note_blocking(c, st);
		return;
	}
	const char *reason = stanza_get_attr(s, "reason");
	/* sm ended it: no action='end' back. */
	c->session_sent = false;
	c->established = false;
	if (reason != NULL && strcmp(reason, "conflict") == 0)
		c2s_client_close(c, "conflict", "replaced by a new connection");
	else if (reason != NULL && strcmp(reason, "removed") == 0)
		c2s_client_close(c, "not-authorized", "the account was removed");
	else
		c2s_client_close(c, "reset", reason);
}

/* The client a <deliver/> with this sid is for, if it may have it now. */
static struct c2s_client *c2s_sm_deliver_to(struct c2s *c2s, const char *sid)
{
	struct c2s_client *c = c2s_sm_client_by_sid(c2s, sid);

	if (c == NULL || !c->established) {
		JLOG_DEBUG(0, "deliver for unknown or ended session %s", sid ? sid : "?");
		return NULL;
	}
	if (c2s_client_queued(c) > C2S_CLIENT_QUEUE_LIMIT) {
		/* It does not read: a stream error would only wait behind the
		 * queue, so drop the connection (sm hears action='end'). */
		JLOG_INFO(c->id, "closing %s: policy-violation: output queue over %u bytes",
			  c->full_jid, (unsigned)C2S_CLIENT_QUEUE_LIMIT);
		c2s_client_abort(c);
		return NULL;
	}
	return c;
}

/* <message><deliver sid=...>STANZA</deliver></message>: STANZA to the client. */
static void c2s_sm_on_deliver(struct c2s *c2s, struct stanza *deliver)
{
	struct stanza *inner = stanza_child_element(deliver, 0);
	struct c2s_client *c = inner != NULL ? c2s_sm_deliver_to(c2s, stanza_get_attr(deliver, "sid"))
					     : NULL;

	if (c == NULL)
		return;
	/* The envelope is the router link's and is freed when this returns: rewrite the
	 * stanza in it in place rather than copy it (every stanza for a client passes here). */
	c2s_rewrite_ns(inner, STREAM_NS_COMPONENT, STREAM_NS_CLIENT);
	c2s_rewrite_ns(inner, STREAM_NS_SERVER, STREAM_NS_CLIENT);
	size_t n = c2s_client_send_stanza(c, inner);
	c2s->count.stanzas_out++;
	c2s_flow_delivered(c, stanza_get_attr(inner, "from"), n);
}

/* The envelope as sm writes it (sm/sm-wrap.c), read from its bytes: the
 * router took them from sm unchanged and the parser found them well-formed.
 * <message ...><deliver xmlns='urn:junction:session:1' sid='SID'><NAME
 * xmlns='jabber:client' ...>...</NAME></deliver></message>, exactly one
 * stanza inside, no namespace prefix declared outside it. */
struct c2s_sm_envelope {
	char sid[128];
	const char *inner; /* the stanza's bytes */
	size_t inner_len, name_len;
	const char *from; /* its 'from', escaped as written, or NULL */
	size_t from_len;
};

#define C2S_SM_DELIVER_END "</deliver></message>"
#define C2S_SM_CLIENT_NS " xmlns='" STREAM_NS_CLIENT "'"

static bool c2s_sm_read_envelope(const char *p, size_t len, struct c2s_sm_envelope *e)
{
	const size_t tail = sizeof(C2S_SM_DELIVER_END) - 1, decl = sizeof(C2S_SM_CLIENT_NS) - 1;
	const char *v;
	size_t vlen;
	bool empty;

	size_t t = xml_tag_end(p, len, &empty);
	if (t == 0 || empty || len - t <= tail || xml_tag_contains(p, t, "xmlns") ||
	    memcmp(p + len - tail, C2S_SM_DELIVER_END, tail) != 0)
		return false;
	const char *d = p + t;
	size_t dlen = len - t - tail;
	t = xml_tag_end(d, dlen, &empty);
	if (t == 0 || empty || xml_tag_name_len(d, t) != 7 || memcmp(d + 1, "deliver", 7) != 0 ||
	    xml_tag_contains(d, t, "xmlns:") || !xml_tag_attr(d, t, "xmlns", &v, &vlen) ||
	    vlen != strlen(C2S_NS_SESSION) || memcmp(v, C2S_NS_SESSION, vlen) != 0 ||
	    !xml_tag_attr(d, t, "sid", &v, &vlen) || vlen >= sizeof(e->sid) ||
	    memchr(v, '&', vlen) != NULL)
		return false;
	memcpy(e->sid, v, vlen);
	e->sid[vlen] = '\0';
	e->inner = d + t;
	e->inner_len = dlen - t;
	if (xml_tag_element_end(e->inner, e->inner_len) != e->inner_len)
		return false;
	t = xml_tag_end(e->inner, e->inner_len, &empty);
	e->name_len = xml_tag_name_len(e->inner, t);
	if (memchr(e->inner + 1, ':', e->name_len) != NULL || t < 1 + e->name_len + decl ||
	    memcmp(e->inner + 1 + e->name_len, C2S_SM_CLIENT_NS, decl) != 0)
		return false;
	e->from = NULL;
	e->from_len = 0;
	if (xml_tag_attr(e->inner, t, "from", &v, &vlen)) {
		e->from = v;
		e->from_len = vlen;
	}
	return true;
}

/* The router link's raw callback (component.h): a <deliver/> from a trusted
 * sm goes to its client as the bytes it came in (minus the namespace
 * declaration, on a jabber:client stream), without a tree. Anything else,
 * or an envelope this cannot read, takes the tree path (c2s_sm_stanza). */
static bool c2s_sm_raw(struct component *component, const struct xml_parser_stanza *ev, void *ctx)
{
	struct c2s *c2s = ctx;
	struct c2s_sm_envelope e;
	static struct buf b; /* kept at its high-water mark */
	(void)component;

	if (strcmp(ev->name, "message") != 0 || ev->type != NULL ||
	    !c2s_sm_read_envelope(ev->raw, ev->raw_len, &e) ||
	    (e.from != NULL && memchr(e.from, '&', e.from_len) != NULL) ||
	    !c2s_sm_from_trusted(c2s, ev->from))
		return false;
	struct c2s_client *c = c2s_sm_client_by_sid(c2s, e.sid);
	const char *ns = c != NULL ? c->transport->stanza_ns : NULL;
	bool strip = ns != NULL && strcmp(ns, STREAM_NS_CLIENT) == 0;
	if (c != NULL && ns != NULL && !strip)
		return false; /* a transport with another stanza namespace */
	if ((c = c2s_sm_deliver_to(c2s, e.sid)) == NULL)
		return true;
	buf_reset(&b);
	if (strip) {
		size_t skip = 1 + e.name_len + sizeof(C2S_SM_CLIENT_NS) - 1;
		buf_append(&b, e.inner, 1 + e.name_len);
		buf_append(&b, e.inner + skip, e.inner_len - skip);
	} else {
		buf_append(&b, e.inner, e.inner_len);
	}
	size_t n = b.len;
	c2s_client_send(c, b.data, b.len);
	c2s->count.stanzas_out++;
	if (e.from != NULL) {
		buf_reset(&b);
		buf_append(&b, e.from, e.from_len);
		c2s_flow_delivered(c, b.data, n);
	} else {
		c2s_flow_delivered(c, NULL, n);
	}
	if (b.cap > 64 * 1024)
		buf_free(&b);
	return true;
}

void c2s_sm_bounce_to_client(struct c2s_client *client, const struct stanza *out,
			     const char *type, const char *condition)
{
	struct stanza *w = stanza_find_child(out, "from-client", C2S_NS_SESSION);
	const struct stanza *inner = w != NULL ? stanza_child_element(w, 0) : out;
	const char *t = stanza_get_attr(out, "type");

	if (inner == NULL || strcmp(inner->name, "presence") == 0)
		return;
	struct stanza *copy = stanza_copy(inner);
	stanza_rename_ns(copy, inner->ns, STREAM_NS_CLIENT);
	if (w == NULL && t != NULL && strcmp(t, "error") == 0)
		c2s_client_send_stanza(client, copy); /* the router's reply, as it is */
	else
		c2s_client_error(client, copy, type, condition, NULL);
	stanza_unref(&copy);
}

/* The established client whose full JID is jid, if any (cold path). */
static struct c2s_client *c2s_sm_client_by_full_jid(struct c2s *c2s, const char *jid)
{
	for (struct c2s_client *c = c2s->clients; c != NULL; c = c->next) {
		if (c->established && c->state != C2S_CLIENT_CLOSING && c->full_jid != NULL &&
		    strcmp(c->full_jid, jid) == 0)
			return c;
	}
	return NULL;
}

/* An error the router sent back for a stanza of ours (sm unreachable, a
 * full queue, no route): either a <from-client/> envelope, whose client
 * gets the error for the stanza inside, or a client's stanza that had a
 * 'to', whose error reply is addressed to the client's full JID (only the
 * router's own replies reach this stream with such a 'to': everything
 * else for a user goes to sm). An iq or message is never lost silently;
 * presence errors are not passed on. */
static void c2s_sm_on_bounce(struct c2s *c2s, const struct stanza *st)
{
	struct stanza *w = stanza_find_child(st, "from-client", C2S_NS_SESSION);
	const char *to = stanza_get_attr(st, "to");
	struct c2s_client *c;

	if (w != NULL)
		c = c2s_sm_client_by_sid(c2s, stanza_get_attr(w, "sid"));
	else
		c = to != NULL ? c2s_sm_client_by_full_jid(c2s, to) : NULL;
	if (c == NULL || !c->established)
		return;
	struct stanza *e = stanza_find_child(st, "error", NULL);
	const char *etype = e != NULL ? stanza_get_attr(e, "type") : NULL;
	struct stanza *cond = NULL;
	for (size_t i = 0; e != NULL && i < stanza_count_child_elements(e); i++) {
		struct stanza *x = stanza_child_element(e, i);
		if (strcmp(x->name, "text") != 0) {
			cond = x;
			break;
		}
	}
	c2s->count.bounces++;
	c2s_sm_bounce_to_client(c, st, etype != NULL ? etype : "cancel",
				cond != NULL ? cond->name : "service-unavailable");
}

static void c2s_sm_stanza(struct component *component, struct stanza *st, void *ctx)
{
	struct c2s *c2s = ctx;
	const char *type = stanza_get_attr(st, "type");
	(void)component;

	JLOG_DEBUG(0, "from the router: <%s type='%s' from='%s' id='%s'>", st->name,
		   type ? type : "", stanza_get_attr(st, "from") ? stanza_get_attr(st, "from") : "",
		   stanza_get_attr(st, "id") ? stanza_get_attr(st, "id") : "");
	if (strcmp(st->name, "iq") == 0) {
		if (type != NULL && strcmp(type, "error") == 0 && !c2s_sm_is_own_request(c2s, st))
			c2s_sm_on_bounce(c2s, st);
		else if (type != NULL && (strcmp(type, "result") == 0 || strcmp(type, "error") == 0))
			c2s_sm_on_reply(c2s, st);
		else if (type != NULL && (strcmp(type, "set") == 0 || strcmp(type, "get") == 0))
			c2s_sm_on_request(c2s, st);
		return;
	}
	if (strcmp(st->name, "message") == 0 && (type == NULL || strcmp(type, "error") != 0)) {
		struct stanza *d = stanza_find_child(st, "deliver", C2S_NS_SESSION);
		if (d != NULL && c2s_sm_from_trusted(c2s, stanza_get_attr(st, "from")))
			c2s_sm_on_deliver(c2s, d);
		return;
	}
	if (strcmp(st->name, "message") == 0) {
		c2s_sm_on_bounce(c2s, st);
		return;
	}
	if (strcmp(st->name, "presence") == 0) {
		const char *to = stanza_get_attr(st, "to");
		if (to != NULL && strcmp(to, c2s->name) == 0)
			c2s_sm_peer_event(c2s, st);
	}
}

static void c2s_sm_drained(struct component *component, void *ctx)
{
	(void)component;
	c2s_flow_link_drained(ctx);
}

static const struct component_callbacks c2s_sm_callbacks = {
	.ready = c2s_sm_ready,
	.stanza = c2s_sm_stanza,
	.raw = c2s_sm_raw,
	.down = c2s_sm_down,
	.drained = c2s_sm_drained,
};

int c2s_sm_start(struct c2s *c2s)
{
	const struct config *cfg = c2s->config;
	struct component_options o = {0};

	if (config_get(cfg, "router", "listen_unix") != NULL) {
		o.address = config_get(cfg, "router", "listen_unix");
		o.is_unix = true;
	} else {
		o.address = config_get(cfg, "router", "listen");
	}
	o.name = c2s->name;
	o.secret = config_get(cfg, "router", "secret");
	o.watch = true;
	o.low_water = C2S_LINK_RESUME_BYTES;
	return component_start(c2s->loop, &o, &c2s_sm_callbacks, c2s, &c2s->component);
}

void c2s_sm_stop(struct c2s *c2s)
{
	component_stop(&c2s->component);
	peers_clear(&c2s->peers);
	c2s_hold_clear(c2s);
}
