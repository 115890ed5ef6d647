/* c2s-client.c: one client connection from accept to close, its stream
 * headers and features, and which handler gets each element.
 *
 * A stream restarts twice in a normal login (after STARTTLS and after SASL
 * success): the parser callback asks for a restart by setting
 * client->restart and returning non-zero, and c2s_client_feed() resets the
 * parser once xml_parser_feed() has returned. The stream's 'to' is fixed by
 * the first header and may not change across restarts.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s-sasl.h"
#include "c2s.h"
#include "component.h"
#include "conn.h"
#include "digest.h"
#include "jid.h"
#include "log.h"
#include "stanza.h"
#include "stream.h"
#include "tls.h"

static void c2s_client_read(struct conn *conn, const char *data, size_t len);
static void c2s_client_eof(struct conn *conn, int status);
static void c2s_client_drained(struct conn *conn);
static void c2s_client_closed(struct conn *conn);

static const struct conn_callbacks c2s_client_callbacks = {
	.read = c2s_client_read,
	.eof = c2s_client_eof,
	.drained = c2s_client_drained,
	.closed = c2s_client_closed,
};

bool c2s_serves(const struct c2s *c2s, const char *domain)
{
	return config_is_user_domain(c2s->config, domain, strlen(domain));
}

void c2s_rewrite_ns(struct stanza *st, const char *from, const char *to)
{
	if (strcmp(st->ns, from) == 0) {
		free(st->ns);
		st->ns = xstrdup(to);
	}
	for (size_t i = 0; i < st->n_children; i++) {
		if (st->children[i].element != NULL)
			c2s_rewrite_ns(st->children[i].element, from, to);
	}
}

struct c2s_client *c2s_client_by_id(struct c2s *c2s, unsigned long id)
{
	struct c2s_client *c = c2s->by_id[id % C2S_ID_BUCKETS];

	while (c != NULL && c->id != id)
		c = c->hash_next;
	return c;
}

void c2s_client_send(struct c2s_client *client, const void *data, size_t len)
{
	if (client->state == C2S_CLIENT_CLOSING)
		return;
	client->transport->send(client, data, len);
	c2s_flow_output(client);
}

size_t c2s_client_send_stanza(struct c2s_client *client, const struct stanza *st)
{
	/* One buffer for the process, kept at its high-water mark: a fresh one cost a malloc and
	 * several reallocs for every stanza. c2s_client_send() copies the bytes (into TLS or the
	 * connection's queue) and sends no stanza itself. */
	static struct buf b;

	buf_reset(&b);
	stanza_serialize(st, client->transport->stanza_ns, &b);
	c2s_client_send(client, b.data, b.len);
	return b.len;
}

void c2s_client_error(struct c2s_client *client, const struct stanza *st, const char *type,
		      const char *condition, const char *text)
{
	const char *t = stanza_get_attr(st, "type");

	if (t != NULL && strcmp(t, "error") == 0)
		return;
	struct stanza *reply = stanza_error_reply(st, type, condition, text);
	/* The reply comes from the server on the addressee's behalf; a
	 * stanza the client sent without 'to' was for its own account. */
	if (stanza_get_attr(reply, "to") != NULL && client->full_jid != NULL)
		stanza_set_attr(reply, "to", client->full_jid);
	c2s_client_send_stanza(client, reply);
	stanza_unref(&reply);
}

static void c2s_client_send_header(struct c2s_client *client)
{
	digest_random_hex(client->stream_id, (sizeof(client->stream_id) - 1) / 2);
	client->transport->send_header(client);
	client->header_sent = true;
}

void c2s_client_close(struct c2s_client *client, const char *condition, const char *text)
{
	if (client->state == C2S_CLIENT_CLOSING)
		return;
	if (!client->header_sent)
		c2s_client_send_header(client);
	if (condition != NULL)
		JLOG_INFO(client->id, "closing %s with stream error %s%s%s",
			  client->full_jid ? client->full_jid : client->peer, condition,
			  text ? ": " : "", text ? text : "");
	client->transport->close(client, condition, text);
	c2s_flow_output(client);
	client->state = C2S_CLIENT_CLOSING;
	c2s_sm_session_end(client);
}

size_t c2s_client_queued(const struct c2s_client *client)
{
	if (client->transport->queued != NULL)
		return client->transport->queued(client);
	return conn_queued(client->conn);
}

void c2s_client_abort(struct c2s_client *client)
{
	c2s_client_gone(client);
	if (client->transport->abort != NULL)
		client->transport->abort(client);
	else
		conn_close(client->conn, false, 0);
}

void c2s_client_gone(struct c2s_client *client)
{
	if (client->state != C2S_CLIENT_CLOSING) {
		client->state = C2S_CLIENT_CLOSING;
		c2s_sm_session_end(client);
	}
}

/* ---- the TCP transport: RFC 6120 streams, STARTTLS or direct TLS ---------------- */

static void c2s_tcp_send_header(struct c2s_client *client)
{
	struct buf b = {0};

	stream_header(&b, STREAM_NS_CLIENT, client->domain, NULL, client->stream_id);
	c2s_tls_output(client, b.data, b.len);
	buf_free(&b);
}

static void c2s_tcp_close(struct c2s_client *client, const char *condition, const char *text)
{
	struct buf b = {0};

	if (condition != NULL)
		stream_error(&b, condition, text);
	else
		stream_close(&b);
	c2s_tls_output(client, b.data, b.len);
	buf_free(&b);
	c2s_tls_shutdown(client);
	conn_close(client->conn, true, C2S_LINGER_MS);
}

static void c2s_tcp_restart(struct c2s_client *client)
{
	xml_parser_reset(client->parser);
}

const struct c2s_transport c2s_transport_tcp = {
	.name = "tcp",
	.stanza_ns = STREAM_NS_CLIENT,
	.features_tag = "<stream:features>",
	.send_header = c2s_tcp_send_header,
	.send = c2s_tls_output,
	.close = c2s_tcp_close,
	.restart = c2s_tcp_restart,
};

/* ---- stream header and features -------------------------------------------- */

static void c2s_client_features(struct c2s_client *client)
{
	struct c2s *c2s = client->c2s;
	struct buf b = {0};

	buf_append_str(&b, client->transport->features_tag);
	if (client->authenticated) {
		buf_printf(&b, "<bind xmlns='%s'/><session xmlns='%s'><optional/></session>"
			   "<ver xmlns='urn:xmpp:features:rosterver'/>",
			   C2S_NS_BIND, C2S_NS_LEGACY_SESSION);
	} else if (client->tls == NULL && !client->outer_secure) {
		buf_printf(&b, "<starttls xmlns='%s'>%s</starttls>", C2S_NS_TLS,
			   c2s->require_tls ? "<required/>" : "");
		if (!c2s->require_tls)
			c2s_auth_features(client, &b);
	} else {
		c2s_auth_features(client, &b);
		c2s_register_features(client, &b);
	}
	buf_append_str(&b, "</stream:features>");
	c2s_client_send(client, b.data, b.len);
	buf_free(&b);
}

/* RFC 6120 4.7: check the client's header and answer it with ours and the
 * features of this stage. */
/* Is there room for a new stream under [c2s] max_clients? Its client is
 * already counted. */
static bool c2s_client_room(const struct c2s *c2s)
{
	return c2s->max_clients == 0 || c2s->n_clients <= c2s->max_clients;
}

int c2s_client_on_open(void *ctx, const struct xml_parser_stream_open *open)
{
	struct c2s_client *client = ctx;
	struct jid to;
	char *domain;

	if (strcmp(open->name, "stream") != 0 || strcmp(open->ns, XML_NS_STREAM) != 0 ||
	    open->default_ns == NULL || strcmp(open->default_ns, STREAM_NS_CLIENT) != 0) {
		c2s_client_close(client, "invalid-namespace", "expected a jabber:client stream");
		return 1;
	}
	if (open->to == NULL || jid_parse(open->to, -1, &to) != JID_OK) {
		c2s_client_close(client, "host-unknown", "missing or invalid 'to'");
		return 1;
	}
	domain = to.domain;
	to.domain = NULL;
	bool domain_only = to.node == NULL && to.resource == NULL;
	jid_clear(&to);
	if (!domain_only || !c2s_serves(client->c2s, domain)) {
		free(domain);
		c2s_client_close(client, "host-unknown", "this server does not serve that domain");
		return 1;
	}
	if (client->domain == NULL && !c2s_client_room(client->c2s)) {
		/* Only new streams: a restart after SASL keeps its place. */
		client->domain = domain;
		JLOG_INFO(client->id, "%s refused: max_clients (%llu) reached", client->peer,
			  (unsigned long long)client->c2s->max_clients);
		c2s_client_close(client, "resource-constraint", "too many clients");
		return 1;
	}
	if (client->domain == NULL) {
		client->domain = domain;
	} else if (strcmp(client->domain, domain) != 0) {
		free(domain);
		c2s_client_close(client, "host-unknown", "the stream's 'to' may not change");
		return 1;
	} else {
		free(domain);
	}
	c2s_client_send_header(client);
	/* RFC 6120 4.7.5: a missing version means pre-1.0; we speak 1.x only. */
	if (open->version == NULL || strncmp(open->version, "1.", 2) != 0) {
		c2s_client_close(client, "unsupported-version", "version 1.0 required");
		return 1;
	}
	client->state = C2S_CLIENT_OPEN;
	c2s_client_features(client);
	return 0;
}

static bool c2s_is_stanza(const struct stanza *st)
{
	return strcmp(st->ns, STREAM_NS_CLIENT) == 0 &&
	       (strcmp(st->name, "message") == 0 || strcmp(st->name, "presence") == 0 ||
		strcmp(st->name, "iq") == 0);
}

int c2s_client_on_stanza(void *ctx, const struct xml_parser_stanza *ev)
{
	struct c2s_client *client = ctx;
	struct stanza *st = ev->tree;

	if (client->state != C2S_CLIENT_OPEN)
		return 1;
	JLOG_DEBUG(client->id, "in: %.*s", (int)ev->raw_len, ev->raw);
	client->stanza_bytes = ev->raw_len;
	if (client->wait != C2S_WAIT_NONE && !client->authenticated) {
		/* Nothing may come while a SASL step waits for sm (RFC 6120
		 * 6.4: the client waits for the server's challenge). */
		c2s_client_close(client, "policy-violation", "element while a SASL step is pending");
	} else if (!client->authenticated) {
		if (!c2s_is_stanza(st))
			c2s_auth_handle(client, st);
		else if (!c2s_register_handle(client, st))
			c2s_client_close(client, "not-authorized", "authenticate first");
	} else if (!c2s_is_stanza(st)) {
		c2s_client_close(client, "unsupported-stanza-type", NULL);
	} else if (!client->established) {
		c2s_bind_handle(client, st);
	} else {
		c2s_stanza_handle(client, st);
	}
	return client->state != C2S_CLIENT_OPEN || client->restart;
}

int c2s_client_on_close(void *ctx)
{
	c2s_client_close(ctx, NULL, NULL);
	return 1;
}

int c2s_client_open_framed(struct c2s_client *client, const char *to, const char *version)
{
	struct xml_parser_stream_open open = {
		.name = "stream",
		.ns = XML_NS_STREAM,
		.default_ns = STREAM_NS_CLIENT,
		.to = to,
		.version = version,
	};
	return c2s_client_on_open(client, &open);
}

int c2s_client_element_framed(struct c2s_client *client, const struct xml_parser_stanza *ev)
{
	int r = c2s_client_on_stanza(client, ev);
	if (client->restart) {
		/* After SASL success: the next thing must be a new header. */
		client->restart = false;
		client->state = C2S_CLIENT_HEADER;
		client->header_sent = false;
		return 0;
	}
	return r;
}

static const struct xml_parser_callbacks c2s_parser_callbacks = {
	.stream_open = c2s_client_on_open,
	.stanza = c2s_client_on_stanza,
	.stream_close = c2s_client_on_close,
};

void c2s_client_feed(struct c2s_client *client, const char *data, size_t len)
{
	if (client->state == C2S_CLIENT_CLOSING)
		return;
	int r = xml_parser_feed(client->parser, data, len);
	if (client->restart) {
		/* After <proceed/> or <success/>: the rest of this chunk would
		 * belong to the old stream, which the client must not send. */
		client->restart = false;
		xml_parser_reset(client->parser);
		client->state = C2S_CLIENT_HEADER;
		client->header_sent = false;
		return;
	}
	if (r < 0 && r != XML_PARSER_STOPPED)
		c2s_client_close(client, xml_parser_error_condition(r),
				 xml_parser_error_text(client->parser));
}

/* ---- conn callbacks ----------------------------------------------------------- */

static void c2s_client_read(struct conn *conn, const char *data, size_t len)
{
	c2s_tls_input(conn->owner, data, len);
}

static void c2s_client_eof(struct conn *conn, int status)
{
	struct c2s_client *client = conn->owner;

	JLOG_INFO(client->id, "%s disconnected: %s",
		  client->full_jid ? client->full_jid : conn->peer, uv_strerror(status));
	c2s_client_gone(client);
	conn_close(conn, false, 0);
}

static void c2s_client_drained(struct conn *conn)
{
	c2s_flow_drained(conn->owner);
}

static void c2s_client_closed(struct conn *conn)
{
	c2s_client_free(conn->owner);
}

void c2s_client_free(struct c2s_client *client)
{
	struct c2s *c2s = client->c2s;
	struct c2s_client **pp = &c2s->by_id[client->id % C2S_ID_BUCKETS];

	c2s_flow_forget(client);

	while (*pp != client)
		pp = &(*pp)->hash_next;
	*pp = client->hash_next;
	if (client->prev != NULL)
		client->prev->next = client->next;
	else
		c2s->clients = client->next;
	if (client->next != NULL)
		client->next->prev = client->prev;
	c2s->n_clients--;
	c2s_auth_clear(client);
	xml_parser_free(&client->parser);
	tls_free(&client->tls);
	free(client->domain);
	free(client->bind_iq_id);
	free(client->full_jid);
	stanza_unref(&client->presence);
	free(client);
	c2s_maybe_finish(c2s);
}

struct c2s_client *c2s_client_new(struct c2s *c2s, struct conn *conn, unsigned long id,
				  const struct c2s_transport *transport,
				  const struct xml_parser_callbacks *parser_cbs)
{
	struct c2s_client *client = xcalloc(1, sizeof(*client));

	client->c2s = c2s;
	client->conn = conn;
	client->id = id;
	client->transport = transport;
	client->state = C2S_CLIENT_HEADER;
	client->opened_ms = uv_now(c2s->loop);
	snprintf(client->ip, sizeof(client->ip), "%s", conn->peer);
	snprintf(client->peer, sizeof(client->peer), "%s", conn->peer);
	char *colon = strrchr(client->ip, ':');
	if (colon != NULL && strcmp(client->ip, "unix") != 0)
		*colon = '\0';
	client->parser = xml_parser_new(&c2s->limits, XML_PARSER_MODE_TREE, parser_cbs, client);
	client->next = c2s->clients;
	if (c2s->clients != NULL)
		c2s->clients->prev = client;
	c2s->clients = client;
	client->hash_next = c2s->by_id[client->id % C2S_ID_BUCKETS];
	c2s->by_id[client->id % C2S_ID_BUCKETS] = client;
	c2s->n_clients++;
	return client;
}


static void c2s_accept(struct conn *conn, struct c2s *c2s, bool direct_tls)
{
	struct c2s_client *client =
		c2s_client_new(c2s, conn, conn->id, &c2s_transport_tcp, &c2s_parser_callbacks);

	client->direct_tls = direct_tls;
	conn_start(conn, &c2s_client_callbacks, client);
	conn_set_low_water(conn, C2S_CLIENT_RESUME_BYTES);
	if (c2s->link_paused)
		c2s_flow_pause(client, C2S_PAUSE_LINK);
	JLOG_DEBUG(client->id, "accepted %s%s", conn->peer, direct_tls ? " (direct TLS)" : "");
	if (direct_tls && c2s_tls_attach(client) < 0) {
		client->state = C2S_CLIENT_CLOSING;
		conn_close(conn, false, 0);
	}
}

static void c2s_on_accept(struct conn *conn, void *ctx)
{
	c2s_accept(conn, ctx, false);
}

static void c2s_on_accept_tls(struct conn *conn, void *ctx)
{
	c2s_accept(conn, ctx, true);
}

/* ---- the timer, start and stop ---------------------------------------------------- */

static void c2s_tick(uv_timer_t *timer)
{
	struct c2s *c2s = timer->data;
	uint64_t now = uv_now(c2s->loop);

	for (struct c2s_client *c = c2s->clients, *next; c != NULL; c = next) {
		next = c->next;
		if (c->state == C2S_CLIENT_CLOSING)
			continue;
		if (c->wait == C2S_WAIT_HOLD && now >= c->hold_until_ms) {
			c2s_auth_release(c);
		} else if ((c->wait == C2S_WAIT_CREDENTIALS || c->wait == C2S_WAIT_SESSION) &&
			   now >= c->req_deadline_ms) {
			c2s_sm_timeout(c);
		}
		if (c->state != C2S_CLIENT_CLOSING && !c->authenticated &&
		    c->wait != C2S_WAIT_HOLD && now - c->opened_ms >= c2s->auth_timeout_ms)
			c2s_client_close(c, "connection-timeout", "no authentication in time");
		/* Most sessions idle: free their expat parser between stanzas (it
		 * comes back with the next byte; at most once a tick when busy). */
		if (c->state != C2S_CLIENT_CLOSING)
			xml_parser_release_idle(c->parser);
	}
	c2s_throttle_expire(c2s->throttle, now);
	c2s_flow_tick(c2s);
	c2s_hold_tick(c2s);
	c2s_http_tick(c2s, now);
}

int c2s_start(struct c2s *c2s, char *err, size_t errlen)
{
	const struct config *cfg = c2s->config;
	const char *cert = config_get(cfg, "c2s", "tls_cert");
	const char *key = config_get(cfg, "c2s", "tls_key");

	c2s->domains = config_get_list(cfg, "junction", "domains", &c2s->n_domains);
	c2s->require_tls = config_get_bool(cfg, "c2s", "require_tls");
	c2s->auth_timeout_ms = config_get_duration_ms(cfg, "c2s", "auth_timeout");
	c2s->limits.max_stanza_bytes = config_get_size(cfg, "c2s", "max_stanza_bytes");
	c2s->sm_queue_limit = config_get_size(cfg, "c2s", "sm_queue_limit");
	c2s->sm_queue_timeout_ms = config_get_duration_ms(cfg, "c2s", "sm_queue_timeout");
	c2s->max_clients = config_get_uint(cfg, "c2s", "max_clients");
	c2s->http_per_ip = config_get_uint(cfg, "c2s", "http_connections_per_ip");
	c2s->bosh_inactivity_ms = config_get_duration_ms(cfg, "c2s", "bosh_inactivity");
	uint64_t failures = config_get_uint(cfg, "c2s", "auth_max_failures");
	digest_random_hex(c2s->instance, (sizeof(c2s->instance) - 1) / 2);
	if (config_get(cfg, "c2s", "name") != NULL)
		c2s->name = xstrdup(config_get(cfg, "c2s", "name"));
	else {
		struct buf b = {0};
		buf_printf(&b, "c2s.%s", c2s->domains[0]);
		c2s->name = buf_steal(&b);
	}
	c2s->throttle = c2s_throttle_new();
	uv_timer_init(c2s->loop, &c2s->timer);
	c2s->timer.data = c2s;
	conn_loop_init(c2s->loop);

	/* RFC 6120 6.4.5: at least 2 retries, no more than 5. */
	if (failures < 2 || failures > 5) {
		snprintf(err, errlen, "%s: [c2s] auth_max_failures must be 2 to 5, not %llu",
			 config_path(cfg), (unsigned long long)failures);
		return -1;
	}
	c2s->auth_max_failures = (unsigned)failures;
	if (cert == NULL || key == NULL) {
		snprintf(err, errlen, "%s: [c2s] tls_cert and tls_key must be set",
			 config_path(cfg));
		return -1;
	}
	if (tls_ctx_new_server(cert, key, &c2s->tls_ctx, err, errlen) < 0)
		return -1;
	if (conn_listen(c2s->loop, config_get(cfg, "c2s", "listen"), false, c2s_on_accept, c2s,
			&c2s->listener, err, errlen) < 0)
		return -1;
	if (conn_listen(c2s->loop, config_get(cfg, "c2s", "listen_tls"), false, c2s_on_accept_tls,
			c2s, &c2s->listener_tls, err, errlen) < 0)
		return -1;
	if (c2s_http_start(c2s, err, errlen) < 0)
		return -1;
	if (c2s_sm_start(c2s) < 0) {
		snprintf(err, errlen, "cannot start the link to the router");
		return -1;
	}
	/* One timer for every deadline; its period is well under the
	 * shortest so each fires on time. */
	uint64_t period = c2s->auth_timeout_ms / 4;
	if (period > 250)
		period = 250;
	if (period < 50)
		period = 50;
	uv_timer_start(&c2s->timer, c2s_tick, period, period);
	return 0;
}

void c2s_maybe_finish(struct c2s *c2s)
{
	if (!c2s->stopping || c2s->clients != NULL || c2s->https != NULL || c2s->boshs != NULL)
		return;
	if (!uv_is_closing((uv_handle_t *)&c2s->timer))
		uv_close((uv_handle_t *)&c2s->timer, NULL);
	c2s_sm_stop(c2s);
}

void c2s_stop(struct c2s *c2s)
{
	if (c2s->stopping)
		return;
	c2s->stopping = true;
	conn_listener_close(&c2s->listener);
	conn_listener_close(&c2s->listener_tls);
	c2s_http_stop(c2s);
	for (struct c2s_client *c = c2s->clients, *next; c != NULL; c = next) {
		next = c->next;
		if (c->state == C2S_CLIENT_OPEN)
			c2s_client_close(c, "system-shutdown", NULL);
		else if (c->state == C2S_CLIENT_HEADER)
			c2s_client_close(c, "system-shutdown", NULL);
	}
	c2s_maybe_finish(c2s);
}
