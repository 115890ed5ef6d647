/* router-stream.c: one component stream from accept to close, and the hot
 * path that routes each stanza.
 *
 * Data flows one way: conn read -> xml_parser_feed -> router_stream_on_stanza
 * -> route lookup -> router_stream_deliver appends the stanza's original
 * bytes to the destination's conn queue; conn flushes every queue once per
 * loop turn. Only the top element's name and to/from/type are looked at.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conn.h"
#include "digest.h"
#include "jid.h"
#include "log.h"
#include "router.h"
#include "stanza.h"
#include "stream.h"

#define ROUTER_LINGER_MS 2000

static void router_stream_read(struct conn *conn, const char *data, size_t len);
static void router_stream_eof(struct conn *conn, int status);
static void router_stream_drained(struct conn *conn);
static void router_stream_unsent(struct conn *conn, const char *bytes, size_t len,
				 size_t written);
static void router_stream_closed(struct conn *conn);

static const struct conn_callbacks router_stream_callbacks = {
	.read = router_stream_read,
	.eof = router_stream_eof,
	.drained = router_stream_drained,
	.unsent = router_stream_unsent,
	.closed = router_stream_closed,
};

static uint64_t router_now_ms(const struct router *router)
{
	return uv_now(router->loop);
}

bool router_serves(const struct router *router, const char *domain)
{
	return config_is_user_domain(router->config, domain, strlen(domain)) ||
	       config_component_secret(router->config, domain) != NULL ||
	       route_is_bound(router->routes, domain);
}

struct router_stream *router_find_route(struct router *router, const char *domain,
				       size_t domain_len, const char *bare, size_t bare_len,
				       bool *served_r)
{
	struct router_stream *dest =
		route_lookup(router->routes, domain, domain_len, bare, bare_len);

	*served_r = dest != NULL;
	if (dest != NULL)
		return dest;
	/* A domain this deployment serves never goes to the default route:
	 * s2s would only send it back here. */
	char name[1024]; /* a JID domainpart is at most 1023 bytes (RFC 7622) */
	if (domain_len >= sizeof(name)) {
		*served_r = false;
		return NULL;
	}
	memcpy(name, domain, domain_len);
	name[domain_len] = '\0';
	*served_r = router_serves(router, name);
	return *served_r ? NULL : route_default(router->routes);
}

static void router_stream_send_str(struct router_stream *stream, const char *s)
{
	conn_send(stream->conn, s, strlen(s));
}

void router_stream_close(struct router_stream *stream, const char *condition, const char *text)
{
	struct buf b = {0};

	if (stream->state == ROUTER_STREAM_CLOSING)
		return;
	if (stream->state == ROUTER_STREAM_HEADER)
		stream_header(&b, STREAM_NS_COMPONENT, NULL, NULL, stream->stream_id);
	if (condition != NULL) {
		JLOG_INFO(stream->id, "closing %s with stream error %s%s%s",
			  stream->name ? stream->name : stream->conn->peer, condition, text ? ": " : "",
			  text ? text : "");
		stream_error(&b, condition, text);
	} else {
		stream_close(&b);
	}
	stream->state = ROUTER_STREAM_CLOSING;
	/* Release names first, so nothing new is routed here and bounces
	 * below cannot come back to this stream. */
	router_watch_release_all(stream);
	conn_send(stream->conn, b.data, b.len);
	buf_free(&b);
	conn_close(stream->conn, true, ROUTER_LINGER_MS);
}

bool router_stream_deliver(struct router_stream *stream, const char *data, size_t len,
			   bool force)
{
	struct router *router = stream->router;

	if (stream->state != ROUTER_STREAM_READY)
		return false;
	if (!force && conn_queued(stream->conn) > router->queue_limit)
		return false;
	conn_send(stream->conn, data, len);
	stream->count.out++;
	if (conn_queued(stream->conn) > router->queue_limit && stream->over_limit_since_ms == 0)
		stream->over_limit_since_ms = router_now_ms(router);
	return true;
}

void router_stream_reply(struct router_stream *stream, const struct stanza *reply)
{
	struct buf b = {0};

	if (stream->state != ROUTER_STREAM_READY)
		return;
	stanza_serialize(reply, STREAM_NS_COMPONENT, &b);
	conn_send(stream->conn, b.data, b.len);
	buf_free(&b);
}

/* ---- stream open and handshake ------------------------------------------- */

static int router_stream_on_open(void *ctx, const struct xml_parser_stream_open *open)
{
	struct router_stream *stream = ctx;
	struct buf b = {0};
	struct jid name;

	if (strcmp(open->name, "stream") != 0 || strcmp(open->ns, XML_NS_STREAM) != 0 ||
	    open->default_ns == NULL || strcmp(open->default_ns, STREAM_NS_COMPONENT) != 0) {
		router_stream_close(stream, "invalid-namespace",
				    "expected jabber:component:accept stream");
		return 1;
	}
	if (open->to == NULL || jid_parse(open->to, -1, &name) != JID_OK) {
		router_stream_close(stream, "host-unknown", "missing or invalid 'to'");
		return 1;
	}
	if (name.node != NULL || name.resource != NULL) {
		jid_clear(&name);
		router_stream_close(stream, "host-unknown", "'to' must be a domain name");
		return 1;
	}
	stream->name = name.domain;
	name.domain = NULL;
	jid_clear(&name);

	stream_header(&b, STREAM_NS_COMPONENT, stream->name, NULL, stream->stream_id);
	conn_send(stream->conn, b.data, b.len);
	buf_free(&b);
	stream->state = ROUTER_STREAM_HANDSHAKE;
	if (open->extra_prefixes) {
		/* Stanzas may use the header's prefixes: forward re-serialised
		 * trees instead of raw bytes that would not stand alone. */
		stream->extra_prefixes = true;
		xml_parser_set_mode(stream->parser, XML_PARSER_MODE_TREE);
	}
	return 0;
}

static char *router_stream_element_text(const struct xml_parser_stanza *st)
{
	struct stanza *tree = NULL;
	char *text = NULL;

	if (st->tree != NULL)
		return stanza_text(st->tree);
	if (stanza_parse(st->raw, st->raw_len, STREAM_NS_COMPONENT, &tree) == 0) {
		text = stanza_text(tree);
		stanza_unref(&tree);
	}
	return text;
}

static void router_stream_handshake(struct router_stream *stream,
				    const struct xml_parser_stanza *st)
{
	struct router *router = stream->router;
	char expected[DIGEST_SHA1_HEX_LEN + 1];

	if (strcmp(st->name, "handshake") != 0 || strcmp(st->ns, STREAM_NS_COMPONENT) != 0) {
		router_stream_close(stream, "not-authorized", "handshake required first");
		return;
	}
	char *given = router_stream_element_text(st);
	const char *secret = config_component_secret(router->config, stream->name);
	bool trusted = secret == NULL;
	if (trusted)
		secret = router->secret;
	digest_sha1_hex2(stream->stream_id, secret, expected);
	if (given != NULL) {
		for (char *p = given; *p != '\0'; p++) {
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		}
	}
	bool ok = given != NULL &&
		  digest_equal(given, strlen(given), expected, DIGEST_SHA1_HEX_LEN);
	free(given);
	if (!ok) {
		JLOG_INFO(stream->id, "handshake for %s from %s failed", stream->name,
			  stream->conn->peer);
		router_stream_close(stream, "not-authorized", "handshake failed");
		return;
	}
	stream->trusted = trusted;
	if (router_watch_bind(stream, stream->name, ROUTE_EXCLUSIVE) != ROUTE_OK) {
		router_stream_close(stream, "conflict", "name already bound");
		return;
	}
	stream->state = ROUTER_STREAM_READY;
	stream->since = time(NULL);
	router_stream_send_str(stream, "<handshake/>");
	JLOG_INFO(stream->id, "%s bound by %s%s", stream->name, stream->conn->peer,
		  trusted ? " (trusted)" : "");
}

/* ---- the hot path --------------------------------------------------------- */

static bool router_is_stanza_name(const char *name)
{
	return strcmp(name, "message") == 0 || strcmp(name, "presence") == 0 ||
	       strcmp(name, "iq") == 0;
}

/* Forward st from stream to dest: original bytes, or a re-serialised tree
 * when the sender's stream header declared prefixes the bytes may use. */
static bool router_forward(struct router_stream *stream, struct router_stream *dest,
			   const struct xml_parser_stanza *st)
{
	if (!stream->extra_prefixes)
		return router_stream_deliver(dest, st->raw, st->raw_len, false);
	struct buf b = {0};
	stanza_serialize(st->tree, STREAM_NS_COMPONENT, &b);
	bool ok = router_stream_deliver(dest, b.data, b.len, false);
	buf_free(&b);
	return ok;
}

/* An address from a stanza attribute: its normalised domain and bare JID,
 * pointing into the attribute itself when it is already normalised (the
 * common case: no copy, no allocation), else into a prepared copy. */
struct router_addr {
	const char *domain, *bare;
	size_t domain_len, bare_len;
	struct jid prepared;
	char *prepared_bare;
};

static int router_addr_parse(const char *s, struct router_addr *a)
{
	struct jid_view v;
	int r = jid_view_parse(s, strlen(s), &v);

	memset(a, 0, sizeof(*a));
	if (r == JID_OK) {
		a->domain = v.domain;
		a->domain_len = v.domain_len;
		a->bare = s;
		a->bare_len = v.bare_len;
		return JID_OK;
	}
	if (r != JID_NEEDS_PREP || (r = jid_parse(s, -1, &a->prepared)) != JID_OK)
		return r;
	a->prepared_bare = jid_bare_string(&a->prepared);
	a->domain = a->prepared.domain;
	a->domain_len = strlen(a->domain);
	a->bare = a->prepared_bare;
	a->bare_len = strlen(a->bare);
	return JID_OK;
}

static void router_addr_clear(struct router_addr *a)
{
	jid_clear(&a->prepared);
	free(a->prepared_bare);
	a->prepared_bare = NULL;
}

static void router_route_stanza(struct router_stream *stream, const struct xml_parser_stanza *st)
{
	struct router *router = stream->router;
	struct router_addr from = {0}, to = {0};

	if (st->to == NULL) {
		if (strcmp(st->name, "iq") == 0)
			router_admin_handle(stream, st);
		return;
	}
	if (st->from == NULL || router_addr_parse(st->from, &from) != JID_OK) {
		stream->count.rejected++;
		router_bounce(stream, st, "modify", "jid-malformed", "missing or invalid 'from'");
		goto out;
	}
	if (route_default(router->routes) != stream &&
	    !route_holds(router->routes, from.domain, from.domain_len, stream) &&
	    !(stream->trusted && config_is_user_domain(router->config, from.domain, from.domain_len))) {
		stream->count.rejected++;
		JLOG_INFO(stream->id, "rejected 'from' %.*s: not bound by this stream",
			  (int)from.domain_len, from.domain);
		router_bounce(stream, st, "cancel", "forbidden",
			      "'from' is not a name bound by this component");
		goto out;
	}
	if (router_addr_parse(st->to, &to) != JID_OK) {
		router_bounce(stream, st, "modify", "jid-malformed", "invalid 'to'");
		goto out;
	}

	bool served;
	struct router_stream *dest =
		router_find_route(router, to.domain, to.domain_len, to.bare, to.bare_len, &served);
	if (dest == NULL) {
		/* RFC 6120 8.3: no route. Presence is dropped. */
		if (strcmp(st->name, "presence") != 0)
			router_bounce(stream, st, "cancel",
				      served ? "service-unavailable" : "remote-server-not-found",
				      NULL);
		goto out;
	}
	if (!router_forward(stream, dest, st)) {
		JLOG_DEBUG(stream->id, "queue for %s full, bouncing", dest->name);
		router_bounce(stream, st, "wait", "resource-constraint",
			      "recipient's queue is full");
	}
out:
	router_addr_clear(&from);
	router_addr_clear(&to);
}

static int router_stream_on_stanza(void *ctx, const struct xml_parser_stanza *st)
{
	struct router_stream *stream = ctx;

	switch (stream->state) {
	case ROUTER_STREAM_HANDSHAKE:
		router_stream_handshake(stream, st);
		break;
	case ROUTER_STREAM_READY:
		stream->count.in++;
		if (strcmp(st->ns, STREAM_NS_COMPONENT) != 0 || !router_is_stanza_name(st->name)) {
			router_stream_close(stream, "unsupported-stanza-type", NULL);
			break;
		}
		JLOG_DEBUG(stream->id, "in: %.*s", (int)st->raw_len, st->raw);
		router_route_stanza(stream, st);
		break;
	case ROUTER_STREAM_HEADER:
	case ROUTER_STREAM_CLOSING:
		break;
	}
	return stream->state == ROUTER_STREAM_CLOSING;
}

static int router_stream_on_close(void *ctx)
{
	struct router_stream *stream = ctx;
	router_stream_close(stream, NULL, NULL);
	return 1;
}

static const struct xml_parser_callbacks router_parser_callbacks = {
	.stream_open = router_stream_on_open,
	.stanza = router_stream_on_stanza,
	.stream_close = router_stream_on_close,
};

/* ---- conn callbacks ------------------------------------------------------ */

static void router_stream_read(struct conn *conn, const char *data, size_t len)
{
	struct router_stream *stream = conn->owner;

	int r = xml_parser_feed(stream->parser, data, len);
	if (r < 0 && r != XML_PARSER_STOPPED) {
		router_stream_close(stream, xml_parser_error_condition(r),
				    xml_parser_error_text(stream->parser));
		return;
	}
	/* A peer whose own queue (replies and bounces to it) is over the
	 * limit is not read until it catches up. */
	if (stream->state != ROUTER_STREAM_CLOSING &&
	    conn_queued(conn) > stream->router->queue_limit) {
		conn_read_stop(conn);
		stream->read_paused = true;
	}
}

static void router_stream_eof(struct conn *conn, int status)
{
	struct router_stream *stream = conn->owner;

	JLOG_INFO(stream->id, "%s disconnected: %s", stream->name ? stream->name : conn->peer,
		  uv_strerror(status));
	stream->state = ROUTER_STREAM_CLOSING;
	router_watch_release_all(stream);
	conn_close(conn, false, 0);
}

/* Bounce what a closing stream never received (conn's unsent callback). */
static void router_stream_unsent(struct conn *conn, const char *bytes, size_t len, size_t written)
{
	struct router_stream *stream = conn->owner;

	if (stream->router->stopping)
		return;
	router_bounce_unsent(stream->router, bytes, len, written, stream->bounce_type,
			     stream->bounce_condition);
}

static void router_stream_drained(struct conn *conn)
{
	struct router_stream *stream = conn->owner;

	stream->over_limit_since_ms = 0;
	if (stream->read_paused) {
		stream->read_paused = false;
		conn_read_resume(conn);
	}
}

static void router_maybe_finish(struct router *router);

static void router_stream_closed(struct conn *conn)
{
	struct router_stream *stream = conn->owner;
	struct router *router = stream->router;

	router_watch_release_all(stream);
	if (stream->prev != NULL)
		stream->prev->next = stream->next;
	else
		router->streams = stream->next;
	if (stream->next != NULL)
		stream->next->prev = stream->prev;
	router_metrics_stream_gone(router, stream);
	xml_parser_free(&stream->parser);
	free(stream->name);
	free(stream);
	router_maybe_finish(router);
}

static void router_on_accept(struct conn *conn, void *ctx)
{
	struct router *router = ctx;
	struct router_stream *stream = xcalloc(1, sizeof(*stream));

	stream->router = router;
	stream->conn = conn;
	stream->id = conn->id;
	stream->state = ROUTER_STREAM_HEADER;
	stream->opened_ms = router_now_ms(router);
	stream->bounce_type = "cancel";
	stream->bounce_condition = "service-unavailable";
	digest_random_hex(stream->stream_id, (sizeof(stream->stream_id) - 1) / 2);
	stream->parser = xml_parser_new(&router->limits, XML_PARSER_MODE_HEAD,
					&router_parser_callbacks, stream);
	stream->next = router->streams;
	if (router->streams != NULL)
		router->streams->prev = stream;
	router->streams = stream;
	conn_set_low_water(conn, router->queue_limit / 2);
	/* Cap the kernel's send buffer near queue_limit: otherwise it grows to
	 * megabytes for a peer that does not read, hiding the stall from the
	 * queue accounting that enforces the limit. */
	conn_set_send_buffer(conn, router->queue_limit);
	conn_start(conn, &router_stream_callbacks, stream);
	JLOG_DEBUG(stream->id, "accepted %s", conn->peer);
}

/* ---- timers, start and stop ------------------------------------------------ */

/* A stream that stayed over its queue limit for stall_timeout. It reads
 * nothing, so a stream error could only wait behind the stuck queue: close
 * at once, which cancels the pending write, and bounce every stanza that
 * did not reach the kernel with resource-constraint. */
static void router_stream_stall(struct router_stream *stream)
{
	JLOG_INFO(stream->id, "closing %s: policy-violation: output queue over its limit for %llums",
		  stream->name, (unsigned long long)stream->router->stall_timeout_ms);
	stream->state = ROUTER_STREAM_CLOSING;
	stream->bounce_type = "wait";
	stream->bounce_condition = "resource-constraint";
	router_watch_release_all(stream);
	conn_close(stream->conn, false, 0);
}

static void router_tick(uv_timer_t *timer)
{
	struct router *router = timer->data;
	uint64_t now = router_now_ms(router);

	for (struct router_stream *s = router->streams, *next; s != NULL; s = next) {
		next = s->next;
		switch (s->state) {
		case ROUTER_STREAM_HEADER:
		case ROUTER_STREAM_HANDSHAKE:
			if (now - s->opened_ms >= router->handshake_timeout_ms)
				router_stream_close(s, "connection-timeout",
						    "no handshake in time");
			break;
		case ROUTER_STREAM_READY:
			if (conn_queued(s->conn) <= router->queue_limit) {
				s->over_limit_since_ms = 0;
			} else if (s->over_limit_since_ms == 0) {
				s->over_limit_since_ms = now;
			} else if (now - s->over_limit_since_ms >= router->stall_timeout_ms) {
				router_stream_stall(s);
			}
			break;
		case ROUTER_STREAM_CLOSING:
			break;
		}
	}
}

void router_reload(struct router *router, const struct config *cfg)
{
	router->queue_limit = config_get_size(cfg, "router", "queue_limit");
	router->stall_timeout_ms = config_get_duration_ms(cfg, "router", "stall_timeout");
	router->handshake_timeout_ms = config_get_duration_ms(cfg, "router", "handshake_timeout");
	router->limits.max_stanza_bytes = config_get_size(cfg, "router", "max_stanza_bytes");
	router->limits.max_depth = (unsigned)config_get_uint(cfg, "router", "max_depth");
	router->limits.max_attrs = (unsigned)config_get_uint(cfg, "router", "max_attrs");
	JLOG_INFO(0, "limits: queue_limit %zu, stall_timeout %llums, max_stanza_bytes %zu",
		  router->queue_limit, (unsigned long long)router->stall_timeout_ms,
		  router->limits.max_stanza_bytes);
}

int router_start(struct router *router, char *err, size_t errlen)
{
	const struct config *cfg = router->config;
	const char *unix_path = config_get(cfg, "router", "listen_unix");

	router->routes = route_table_new();
	router->secret = config_get(cfg, "router", "secret");
	router_reload(router, cfg);
	router->started = time(NULL);
	uv_timer_init(router->loop, &router->timer);
	router->timer.data = router;

	conn_loop_init(router->loop);
	if (conn_listen(router->loop, config_get(cfg, "router", "listen"), false, router_on_accept,
			router, &router->listener, err, errlen) < 0)
		return -1;
	if (unix_path != NULL && conn_listen(router->loop, unix_path, true, router_on_accept, router,
					     &router->listener_unix, err, errlen) < 0)
		return -1;
	router_metrics_start(router);

	/* One timer checks handshake deadlines and stalled queues; its period
	 * is a fraction of the shorter deadline so either fires on time. */
	uint64_t period = router->stall_timeout_ms < router->handshake_timeout_ms
				  ? router->stall_timeout_ms
				  : router->handshake_timeout_ms;
	period /= 4;
	if (period < 50)
		period = 50;
	if (period > 1000)
		period = 1000;
	uv_timer_start(&router->timer, router_tick, period, period);
	return 0;
}

static void router_maybe_finish(struct router *router)
{
	if (!router->stopping || router->streams != NULL)
		return;
	if (!uv_is_closing((uv_handle_t *)&router->timer))
		uv_close((uv_handle_t *)&router->timer, NULL);
	conn_loop_deinit();
}

void router_stop(struct router *router)
{
	if (router->stopping)
		return;
	router->stopping = true;
	JLOG_INFO(0, "shutting down");
	conn_listener_close(&router->listener);
	conn_listener_close(&router->listener_unix);
	router_metrics_stop(router);
	for (struct router_stream *s = router->streams, *next; s != NULL; s = next) {
		next = s->next;
		if (s->state == ROUTER_STREAM_READY)
			router_stream_close(s, "system-shutdown", NULL);
		else
			router_stream_close(s, NULL, NULL);
	}
	router_maybe_finish(router);
}

void router_free(struct router *router)
{
	route_table_free(&router->routes);
}
