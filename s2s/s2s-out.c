/* s2s-out.c: outgoing server-to-server streams, one per (local domain,
 * remote domain) pair.
 *
 * A stream goes RESOLVING -> CONNECTING (each resolved address in turn) ->
 * OPENING (our header sent; waiting for the peer's header and features) ->
 * [STARTTLS (waiting for <proceed/>) -> OPENING again over TLS] ->
 * NEGOTIATED (features done: db:verify requests may go out) -> SASL (our
 * EXTERNAL auth sent, when the peer offers it: XEP-0178; on success the
 * stream restarts and its features make it READY) or DIALBACK (our
 * db:result sent; also after SASL failed) -> READY (stanzas flow). Stanzas from the router
 * wait in order in a bounded queue until READY; the first stanza queued
 * starts the dialback. A stream opened only to ask a verify question never
 * authenticates itself.
 *
 * When no address accepts the connection (a peer restarting refuses it for
 * a moment), the addresses are tried again every tick for up to
 * S2S_RETRY_FOR_MS (at most [s2s] connect_timeout) while stanzas wait.
 *
 * Failures bounce every queued stanza: remote-server-not-found when the
 * domain does not resolve, no address connects, TLS is required and not
 * offered, or dialback fails; remote-server-timeout when [s2s]
 * connect_timeout passes first. The stream is then forgotten, so the next
 * stanza tries afresh. A READY stream idle for [s2s] idle_timeout closes.
 *
 * Only answers we asked for are accepted: a typed db:result is taken only
 * after our own db:result, a typed db:verify only with the id of a verify
 * we sent ("dialback without dialback" is refused with a stream error).
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "s2s-resolve.h"
#include "s2s.h"
#include "stanza.h"
#include "stream.h"
#include "tls.h"

enum s2s_out_state {
	S2S_OUT_RESOLVING,
	S2S_OUT_CONNECTING,
	S2S_OUT_OPENING,
	S2S_OUT_STARTTLS,
	S2S_OUT_NEGOTIATED,
	S2S_OUT_SASL,
	S2S_OUT_DIALBACK,
	S2S_OUT_READY,
	S2S_OUT_CLOSED, /* unlinked from s2s->outs; waiting for the conn to close */
};

struct s2s_verify {
	unsigned long in_id;
	char *id, *key;
	bool sent;
	struct s2s_verify *next;
};

struct s2s_out {
	struct s2s *s2s;
	struct s2s_link link; /* valid while linked */
	bool has_conn; /* a conn exists, or a connect is under way */
	bool linked;   /* link started on the conn */
	char *local, *remote;
	enum s2s_out_state state;
	struct s2s_resolve_req *req;
	struct s2s_target *targets;
	size_t n_targets, next_target;
	bool tls_direct;
	char *stream_id;
	struct stanza **queue;
	size_t n_queue, cap_queue, queue_bytes;
	struct s2s_verify *verifies;
	bool want_auth;
	bool external_offered; /* the peer offers SASL EXTERNAL on this stream */
	bool sasl_failed;      /* ... and refused ours: dialback instead */
	bool sasl_ok;          /* authenticated by SASL; the stream restarted */
	uint64_t started_ms;
	bool retry; /* no address connected: try them again at the next tick */
	struct s2s_out *next;
};

/* How long refused connections are retried while stanzas wait. */
#define S2S_RETRY_FOR_MS 5000

static void s2s_out_connect_next(struct s2s_out *out);

/* ---- life cycle ----------------------------------------------------------------- */

static void s2s_out_unlink(struct s2s_out *out)
{
	for (struct s2s_out **pp = &out->s2s->outs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == out) {
			*pp = out->next;
			return;
		}
	}
}

static void s2s_out_free(struct s2s_out *out)
{
	struct s2s *s2s = out->s2s;

	while (out->verifies != NULL) {
		struct s2s_verify *v = out->verifies;
		out->verifies = v->next;
		free(v->id);
		free(v->key);
		free(v);
	}
	for (size_t i = 0; i < out->n_queue; i++)
		stanza_unref(&out->queue[i]);
	free(out->queue);
	free(out->targets);
	free(out->stream_id);
	free(out->local);
	free(out->remote);
	free(out);
	s2s_maybe_finish(s2s);
}

/* Bounce what waits, answer pending verifies "invalid", forget the stream.
 * The conn (if any) is closed by the caller or already closing. */
static void s2s_out_fail(struct s2s_out *out, const char *condition, const char *why)
{
	struct s2s *s2s = out->s2s;

	if (out->state == S2S_OUT_CLOSED)
		return;
	if (out->n_queue > 0 || why != NULL)
		JLOG_INFO(out->linked ? out->link.id : 0, "stream %s -> %s failed: %s (%zu queued)",
			  out->local, out->remote, why ? why : condition, out->n_queue);
	out->state = S2S_OUT_CLOSED;
	s2s_out_unlink(out);
	s2s_resolve_cancel(out->req);
	out->req = NULL;
	for (size_t i = 0; i < out->n_queue; i++) {
		s2s_bounce(s2s, out->queue[i], "cancel",
			   condition != NULL ? condition : "remote-server-not-found", why);
		stanza_unref(&out->queue[i]);
	}
	out->n_queue = out->queue_bytes = 0;
	for (struct s2s_verify *v = out->verifies; v != NULL; v = v->next)
		s2s_in_verified(s2s, v->in_id, out->local, out->remote, false);
	if (!out->has_conn)
		s2s_out_free(out);
}

static void s2s_out_flush(struct s2s_out *out)
{
	for (size_t i = 0; i < out->n_queue; i++) {
		s2s_link_send_stanza(&out->link, out->queue[i]);
		stanza_unref(&out->queue[i]);
	}
	out->n_queue = out->queue_bytes = 0;
}

/* ---- link ops ------------------------------------------------------------------- */

static void s2s_out_send_header(struct s2s_out *out)
{
	struct buf b = {0};

	/* RFC 6120 4.7: from and to, version 1.0; the dialback namespace is
	 * declared so that peers know we speak it (XEP-0220 2.1). */
	buf_printf(&b, "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:db='%s' "
		   "xmlns:stream='%s' from='", STREAM_NS_SERVER, S2S_NS_DIALBACK, XML_NS_STREAM);
	buf_append_xml_escaped(&b, out->local, strlen(out->local), true);
	buf_append_str(&b, "' to='");
	buf_append_xml_escaped(&b, out->remote, strlen(out->remote), true);
	buf_append_str(&b, "' version='1.0'>");
	s2s_link_send(&out->link, b.data, b.len);
	buf_free(&b);
}

static int s2s_out_on_open(struct s2s_link *link, const struct xml_parser_stream_open *open)
{
	struct s2s_out *out = link->owner;

	if (strcmp(open->name, "stream") != 0 || strcmp(open->ns, XML_NS_STREAM) != 0 ||
	    open->default_ns == NULL || strcmp(open->default_ns, STREAM_NS_SERVER) != 0) {
		s2s_link_close(link, "invalid-namespace", "expected a jabber:server stream");
		return 1;
	}
	if (open->id == NULL || open->id[0] == '\0') {
		s2s_link_close(link, "invalid-xml", "the stream header has no id");
		return 1;
	}
	free(out->stream_id);
	out->stream_id = xstrdup(open->id);
	return 0;
}

static void s2s_out_send_verifies(struct s2s_out *out)
{
	for (struct s2s_verify *v = out->verifies; v != NULL; v = v->next) {
		struct buf b = {0};
		if (v->sent)
			continue;
		v->sent = true;
		buf_append_str(&b, "<db:verify from='");
		buf_append_xml_escaped(&b, out->local, strlen(out->local), true);
		buf_append_str(&b, "' to='");
		buf_append_xml_escaped(&b, out->remote, strlen(out->remote), true);
		buf_append_str(&b, "' id='");
		buf_append_xml_escaped(&b, v->id, strlen(v->id), true);
		buf_append_str(&b, "'>");
		buf_append_xml_escaped(&b, v->key, strlen(v->key), false);
		buf_append_str(&b, "</db:verify>");
		s2s_link_send(&out->link, b.data, b.len);
		buf_free(&b);
	}
}

static void s2s_out_ready(struct s2s_out *out, const char *how)
{
	JLOG_INFO(out->link.id, "%s -> %s authenticated (%s)%s", out->local, out->remote, how,
		  out->link.tls ? ", TLS" : "");
	out->state = S2S_OUT_READY;
	s2s_out_flush(out);
}

/* Authenticate this stream: SASL EXTERNAL when the peer offers it (our
 * certificate is good for our domain there), else dialback. */
static void s2s_out_dialback(struct s2s_out *out)
{
	char key[S2S_DB_KEY_LEN + 1];
	struct buf b = {0};

	if (out->external_offered && !out->sasl_failed) {
		unsigned char enc[4 * 1024 / 3 + 8];
		size_t n = strlen(out->local);
		if (n < 1024) {
			EVP_EncodeBlock(enc, (const unsigned char *)out->local, (int)n);
			buf_printf(&b, "<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>",
				   S2S_NS_SASL, enc);
			s2s_link_send(&out->link, b.data, b.len);
			buf_free(&b);
			out->state = S2S_OUT_SASL;
			return;
		}
	}
	if (out->s2s->require_valid_cert) {
		s2s_out_fail(out, "remote-server-not-found",
			     "the peer does not accept our certificate");
		s2s_link_close(&out->link, NULL, NULL);
		return;
	}

	s2s_dialback_key(out->s2s, out->remote, out->local, out->stream_id, key);
	buf_append_str(&b, "<db:result from='");
	buf_append_xml_escaped(&b, out->local, strlen(out->local), true);
	buf_append_str(&b, "' to='");
	buf_append_xml_escaped(&b, out->remote, strlen(out->remote), true);
	buf_printf(&b, "'>%s</db:result>", key);
	s2s_link_send(&out->link, b.data, b.len);
	buf_free(&b);
	out->state = S2S_OUT_DIALBACK;
}

static void s2s_out_features(struct s2s_out *out, const struct stanza *features)
{
	struct s2s *s2s = out->s2s;
	bool tls_on = out->link.tls != NULL;

	if (!tls_on && stanza_find_child(features, "starttls", S2S_NS_TLS) != NULL &&
	    s2s->tls_client != NULL) {
		s2s_link_send(&out->link, "<starttls xmlns='" S2S_NS_TLS "'/>",
			      strlen("<starttls xmlns='" S2S_NS_TLS "'/>"));
		out->state = S2S_OUT_STARTTLS;
		return;
	}
	if (!tls_on && s2s->require_tls) {
		s2s_out_fail(out, "remote-server-not-found", "the peer does not offer TLS");
		s2s_link_close(&out->link, "policy-violation", "TLS is required");
		return;
	}
	if (tls_on && s2s->require_valid_cert && !tls_peer_check_name(out->link.tls, out->remote)) {
		s2s_out_fail(out, "remote-server-not-found", "the peer's certificate is not valid");
		s2s_link_close(&out->link, "policy-violation", "certificate not valid");
		return;
	}
	struct stanza *mechs = stanza_find_child(features, "mechanisms", S2S_NS_SASL);
	out->external_offered = false;
	for (size_t i = 0; tls_on && mechs != NULL && i < stanza_count_child_elements(mechs); i++) {
		char *m = stanza_text(stanza_child_element(mechs, i));
		out->external_offered = out->external_offered || strcmp(m, "EXTERNAL") == 0;
		free(m);
	}
	out->state = S2S_OUT_NEGOTIATED;
	s2s_out_send_verifies(out);
	if (out->sasl_ok)
		s2s_out_ready(out, "SASL EXTERNAL");
	else if (out->want_auth)
		s2s_out_dialback(out);
}

static bool s2s_out_from_to(const struct s2s_out *out, const struct stanza *st)
{
	const char *from = stanza_get_attr(st, "from");
	const char *to = stanza_get_attr(st, "to");

	return from != NULL && to != NULL && strcmp(from, out->remote) == 0 &&
	       strcmp(to, out->local) == 0;
}

static int s2s_out_on_element(struct s2s_link *link, struct stanza *st)
{
	struct s2s_out *out = link->owner;

	if (strcmp(st->ns, XML_NS_STREAM) == 0 && strcmp(st->name, "features") == 0) {
		if (out->state == S2S_OUT_OPENING)
			s2s_out_features(out, st);
		return 0;
	}
	if (strcmp(st->ns, XML_NS_STREAM) == 0 && strcmp(st->name, "error") == 0) {
		struct stanza *c = stanza_child_element(st, 0);
		JLOG_INFO(link->id, "stream error from %s: %s", out->remote, c ? c->name : "?");
		s2s_out_fail(out, "remote-server-not-found", "stream error from the peer");
		s2s_link_close(link, NULL, NULL);
		return 1;
	}
	if (strcmp(st->ns, S2S_NS_TLS) == 0 && out->state == S2S_OUT_STARTTLS) {
		if (strcmp(st->name, "proceed") != 0 ||
		    s2s_link_tls(link, false, out->local, out->remote) < 0) {
			s2s_out_fail(out, "remote-server-not-found", "STARTTLS failed");
			s2s_link_abort(link);
			return 1;
		}
		out->state = S2S_OUT_OPENING;
		s2s_link_restart(link);
		s2s_out_send_header(out);
		return 1;
	}
	if (strcmp(st->ns, S2S_NS_DIALBACK) == 0 && strcmp(st->name, "result") == 0) {
		const char *type = stanza_get_attr(st, "type");
		if (out->state != S2S_OUT_DIALBACK || type == NULL || !s2s_out_from_to(out, st)) {
			s2s_link_close(link, "not-authorized", "a dialback result we did not ask for");
			s2s_out_fail(out, "remote-server-not-found", "unexpected dialback result");
			return 1;
		}
		if (strcmp(type, "valid") != 0) {
			s2s_out_fail(out, "remote-server-not-found", "dialback refused");
			s2s_link_close(link, NULL, NULL);
			return 1;
		}
		s2s_out_ready(out, "dialback");
		return 0;
	}
	if (strcmp(st->ns, S2S_NS_SASL) == 0 && out->state == S2S_OUT_SASL) {
		if (strcmp(st->name, "success") == 0) {
			/* RFC 6120 6.4.6: a new stream over the same TLS. */
			out->sasl_ok = true;
			out->state = S2S_OUT_OPENING;
			s2s_link_restart(link);
			s2s_out_send_header(out);
			return 1;
		}
		JLOG_INFO(link->id, "%s refused SASL EXTERNAL for %s; trying dialback", out->remote,
			  out->local);
		out->sasl_failed = true;
		s2s_out_dialback(out);
		return link->closing;
	}
	if (strcmp(st->ns, S2S_NS_DIALBACK) == 0 && strcmp(st->name, "verify") == 0) {
		const char *type = stanza_get_attr(st, "type");
		const char *id = stanza_get_attr(st, "id");
		struct s2s_verify **pp = &out->verifies;
		while (*pp != NULL && !((*pp)->sent && id != NULL && strcmp((*pp)->id, id) == 0))
			pp = &(*pp)->next;
		if (*pp == NULL || type == NULL || !s2s_out_from_to(out, st)) {
			s2s_link_close(link, "not-authorized", "a dialback verify we did not ask for");
			s2s_out_fail(out, "remote-server-not-found", "unexpected dialback verify");
			return 1;
		}
		struct s2s_verify *v = *pp;
		*pp = v->next;
		s2s_in_verified(out->s2s, v->in_id, out->local, out->remote,
				strcmp(type, "valid") == 0);
		free(v->id);
		free(v->key);
		free(v);
		return 0;
	}
	s2s_link_close(link, "unsupported-stanza-type", NULL);
	s2s_out_fail(out, "remote-server-not-found", "unexpected element from the peer");
	return 1;
}

static void s2s_out_on_close(struct s2s_link *link)
{
	struct s2s_out *out = link->owner;

	s2s_out_fail(out, "remote-server-not-found", NULL);
}

static void s2s_out_on_freed(struct s2s_link *link)
{
	struct s2s_out *out = link->owner;

	/* on_close has run: the stream is CLOSED and unlinked. */
	out->has_conn = false;
	out->linked = false;
	s2s_out_free(out);
}

static const struct s2s_link_ops s2s_out_ops = {
	.open = s2s_out_on_open,
	.element = s2s_out_on_element,
	.close = s2s_out_on_close,
	.freed = s2s_out_on_freed,
};

/* ---- resolving and connecting ---------------------------------------------------- */

static void s2s_out_connected(struct conn *conn, int status, void *ctx)
{
	struct s2s_out *out = ctx;

	if (status != 0) {
		out->has_conn = false;
		if (out->state == S2S_OUT_CLOSED) {
			s2s_out_free(out);
			return;
		}
		JLOG_DEBUG(0, "connecting to %s: %s", out->remote, uv_strerror(status));
		s2s_out_connect_next(out);
		return;
	}
	s2s_link_start(&out->link, out->s2s, conn, &s2s_out_ops, out);
	out->linked = true;
	if (out->state == S2S_OUT_CLOSED) {
		s2s_link_abort(&out->link);
		return;
	}
	JLOG_DEBUG(conn->id, "connected to %s for %s -> %s%s", conn->peer, out->local, out->remote,
		   out->tls_direct ? " (direct TLS)" : "");
	out->state = S2S_OUT_OPENING;
	if (out->tls_direct && s2s_link_tls(&out->link, false, out->local, out->remote) < 0) {
		s2s_out_fail(out, "remote-server-not-found", "cannot start TLS");
		s2s_link_abort(&out->link);
		return;
	}
	s2s_out_send_header(out);
}

static void s2s_out_connect_next(struct s2s_out *out)
{
	while (out->next_target < out->n_targets) {
		const struct s2s_target *t = &out->targets[out->next_target++];
		if (t->direct_tls && out->s2s->tls_client == NULL)
			continue;
		out->tls_direct = t->direct_tls;
		out->state = S2S_OUT_CONNECTING;
		free(out->stream_id);
		out->stream_id = NULL;
		for (struct s2s_verify *v = out->verifies; v != NULL; v = v->next)
			v->sent = false;
		if (conn_connect(out->s2s->loop, (const struct sockaddr *)&t->addr, NULL,
				 s2s_out_connected, out) == 0) {
			out->has_conn = true;
			return;
		}
	}
	uint64_t waited = uv_now(out->s2s->loop) - out->started_ms;
	uint64_t limit = out->s2s->connect_timeout_ms < S2S_RETRY_FOR_MS
				 ? out->s2s->connect_timeout_ms
				 : S2S_RETRY_FOR_MS;
	if ((out->n_queue > 0 || out->verifies != NULL) && waited < limit) {
		out->retry = true;
		return;
	}
	s2s_out_fail(out, "remote-server-not-found", "no address of the domain accepted a stream");
}

static void s2s_out_resolved(void *ctx, const struct s2s_target *targets, size_t n,
			     const char *why)
{
	struct s2s_out *out = ctx;

	out->req = NULL;
	if (n == 0) {
		s2s_out_fail(out, "remote-server-not-found", why);
		return;
	}
	out->targets = xcalloc(n, sizeof(*targets));
	memcpy(out->targets, targets, n * sizeof(*targets));
	out->n_targets = n;
	out->next_target = 0;
	s2s_out_connect_next(out);
}

/* ---- API ------------------------------------------------------------------------ */

struct s2s_out *s2s_out_get(struct s2s *s2s, const char *local, const char *remote)
{
	for (struct s2s_out *o = s2s->outs; o != NULL; o = o->next) {
		if (strcmp(o->local, local) == 0 && strcmp(o->remote, remote) == 0)
			return o;
	}
	struct s2s_out *out = xcalloc(1, sizeof(*out));
	out->s2s = s2s;
	out->local = xstrdup(local);
	out->remote = xstrdup(remote);
	out->state = S2S_OUT_RESOLVING;
	out->started_ms = uv_now(s2s->loop);
	out->next = s2s->outs;
	s2s->outs = out;
	JLOG_DEBUG(0, "new stream %s -> %s", local, remote);
	out->req = s2s_resolve(s2s->resolver, remote, s2s_out_resolved, out);
	return out;
}

void s2s_out_send(struct s2s_out *out, const struct stanza *st)
{
	if (out->state == S2S_OUT_READY) {
		s2s_link_send_stanza(&out->link, st);
		return;
	}
	struct buf b = {0};
	stanza_serialize(st, STREAM_NS_COMPONENT, &b);
	size_t bytes = b.len;
	buf_free(&b);
	if (out->queue_bytes + bytes > out->s2s->queue_limit) {
		s2s_bounce(out->s2s, st, "wait", "resource-constraint",
			   "too much is waiting for the remote server");
		return;
	}
	if (out->n_queue == out->cap_queue) {
		out->cap_queue = out->cap_queue ? 2 * out->cap_queue : 16;
		out->queue = xrealloc(out->queue, out->cap_queue * sizeof(*out->queue));
	}
	out->queue[out->n_queue++] = stanza_copy(st);
	out->queue_bytes += bytes;
	if (!out->want_auth) {
		out->want_auth = true;
		out->started_ms = uv_now(out->s2s->loop);
		if (out->state == S2S_OUT_NEGOTIATED)
			s2s_out_dialback(out);
	}
}

void s2s_out_verify(struct s2s_out *out, unsigned long in_id, const char *id, const char *key)
{
	struct s2s_verify *v = xcalloc(1, sizeof(*v));

	v->in_id = in_id;
	v->id = xstrdup(id);
	v->key = xstrdup(key);
	v->next = out->verifies;
	out->verifies = v;
	if (out->state == S2S_OUT_NEGOTIATED || out->state == S2S_OUT_DIALBACK ||
	    out->state == S2S_OUT_READY)
		s2s_out_send_verifies(out);
	else if (out->n_queue == 0 && !out->want_auth)
		out->started_ms = uv_now(out->s2s->loop);
}

void s2s_out_tick(struct s2s *s2s, uint64_t now)
{
	for (struct s2s_out *o = s2s->outs, *next; o != NULL; o = next) {
		next = o->next;
		bool waiting = o->n_queue > 0 || o->verifies != NULL;
		if (o->state != S2S_OUT_READY && waiting &&
		    now - o->started_ms >= s2s->connect_timeout_ms) {
			bool linked = o->linked; /* o is freed by the fail when no conn */
			s2s_out_fail(o, "remote-server-timeout", "no stream in time");
			if (linked)
				s2s_link_abort(&o->link);
		} else if (o->linked && !o->link.closing &&
			   now - o->link.last_ms >= s2s->idle_timeout_ms) {
			JLOG_INFO(o->link.id, "closing the idle stream %s -> %s", o->local,
				  o->remote);
			s2s_link_close(&o->link, NULL, NULL);
		} else if (o->retry) {
			o->retry = false;
			o->next_target = 0;
			s2s_out_connect_next(o);
		} else if (!o->has_conn && !waiting && o->state == S2S_OUT_RESOLVING &&
			   now - o->started_ms >= s2s->connect_timeout_ms) {
			s2s_out_fail(o, NULL, NULL);
		}
	}
}

void s2s_out_stop_all(struct s2s *s2s)
{
	while (s2s->outs != NULL) {
		struct s2s_out *o = s2s->outs;
		bool linked = o->linked;
		s2s_out_fail(o, "remote-server-timeout", NULL);
		if (linked && !o->link.closing)
			s2s_link_close(&o->link, "system-shutdown", NULL);
	}
}
