/* c2s-http.c: the [c2s] http_listen listener: accept, TLS with the c2s
 * certificate, HTTP/1.1 requests (common/http.c) and where each goes
 * (see c2s-http.h). Connections without a WebSocket session are closed
 * after [c2s] auth_timeout without a complete request, so a client that
 * vanishes mid-request, or never sends one, holds nothing for long; one
 * address holds at most [c2s] http_connections_per_ip of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "c2s-http.h"
#include "c2s.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "tls.h"

/* Room for a stanza and its framing in a request body (BOSH). */
#define C2S_HTTP_BODY_SLACK 8192

static void c2s_http_read(struct conn *conn, const char *data, size_t len);
static void c2s_http_eof(struct conn *conn, int status);
static void c2s_http_drained(struct conn *conn);
static void c2s_http_closed(struct conn *conn);

static const struct conn_callbacks c2s_http_callbacks = {
	.read = c2s_http_read,
	.eof = c2s_http_eof,
	.drained = c2s_http_drained,
	.closed = c2s_http_closed,
};

/* Move the ciphertext TLS produced onto the conn. */
static void c2s_http_flush_tls(struct c2s_http *http)
{
	struct buf b = {0};

	if (http->tls != NULL && tls_take_ciphertext(http->tls, &b) > 0)
		conn_send(http->conn, b.data, b.len);
	buf_free(&b);
}

void c2s_http_output(struct c2s_http *http, const void *data, size_t len)
{
	if (http->tls == NULL) {
		conn_send(http->conn, data, len);
		return;
	}
	if (tls_write_plaintext(http->tls, data, len) != TLS_OK)
		JLOG_DEBUG(http->conn->id, "TLS write failed: %s", tls_error_string(http->tls));
	c2s_http_flush_tls(http);
}

void c2s_http_close(struct c2s_http *http)
{
	if (http->closing)
		return;
	http->closing = true;
	if (http->tls != NULL) {
		(void)tls_shutdown(http->tls);
		c2s_http_flush_tls(http);
	}
	conn_close(http->conn, true, C2S_LINGER_MS);
}

/* Close at once, nothing more written (the peer is gone or TLS failed). */
static void c2s_http_drop(struct c2s_http *http)
{
	if (http->client != NULL)
		c2s_client_gone(http->client);
	if (!http->closing) {
		http->closing = true;
		c2s_http_flush_tls(http); /* an alert, if any */
		conn_close(http->conn, true, C2S_LINGER_MS);
	}
}

void c2s_http_respond(struct c2s_http *http, const struct http_request *req, int status)
{
	struct buf out = {0};
	bool keep_alive = req != NULL && req->keep_alive && status < 400;

	http_response_simple(&out, status, keep_alive);
	c2s_http_output(http, out.data, out.len);
	buf_free(&out);
	if (!keep_alive)
		c2s_http_close(http);
}

bool c2s_http_origin_allowed(const struct c2s_http *http, const struct http_request *req)
{
	const struct config *cfg = http->c2s->config;
	const char *origin = http_request_header(req, "Origin");
	size_t n;

	if (origin == NULL)
		return true; /* not a browser: nothing to protect against */
	const char *const *list = config_get_list(cfg, "c2s", "http_origins", &n);
	if (list != NULL && n > 0) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(list[i], "*") == 0 || strcasecmp(list[i], origin) == 0)
				return true;
		return false;
	}
	/* Same origin: what the browser reached is scheme://Host. */
	const char *host = http_request_header(req, "Host");
	const char *scheme = http->tls != NULL ? "https://" : "http://";
	size_t slen = strlen(scheme);
	return host != NULL && strncasecmp(origin, scheme, slen) == 0 &&
	       strcasecmp(origin + slen, host) == 0;
}

static void c2s_http_handle(struct c2s_http *http, const struct http_request *req)
{
	JLOG_DEBUG(http->conn->id, "%s %s", req->method, req->path);
	if (strcmp(req->path, C2S_HTTP_PATH_WS) == 0) {
		c2s_ws_upgrade(http, req);
		return;
	}
	if (req->upgrade) {
		/* Only the WebSocket path switches protocols. */
		c2s_http_respond(http, NULL, 404);
		return;
	}
	if (strcmp(req->path, C2S_HTTP_PATH_BOSH) == 0) {
		http->keep_alive = req->keep_alive;
		c2s_bosh_handle(http, req);
		return;
	}
	if (c2s_hostmeta_handle(http, req))
		return;
	if (c2s_webclient_handle(http, req))
		return;
	c2s_http_respond(http, req, 404);
}

/* Plaintext from the peer: requests, or WebSocket frames once upgraded. */
static void c2s_http_plain(struct c2s_http *http, const char *data, size_t len)
{
	while (len > 0 && !http->closing) {
		size_t used;
		const struct http_request *req;

		if (http->client != NULL) {
			c2s_ws_input(http, data, len);
			return;
		}
		if (http->busy) {
			/* Pipelined behind a held BOSH request: answers keep order. */
			buf_append(&http->stash, data, len);
			return;
		}
		if (http_reader_feed(http->reader, data, len, &used, &req) < 0) {
			int status = http_reader_status(http->reader);
			JLOG_INFO(http->conn->id, "bad HTTP request from %s: %d", http->conn->peer,
				  status);
			c2s_http_respond(http, NULL, status);
			return;
		}
		data += used;
		len -= used;
		if (req == NULL)
			return;
		http->last_ms = uv_now(http->c2s->loop);
		c2s_http_handle(http, req);
	}
}

static void c2s_http_read(struct conn *conn, const char *data, size_t len)
{
	struct c2s_http *http = conn->owner;
	char pt[C2S_TLS_READ_CHUNK];
	ssize_t n = 0;

	if (http->closing)
		return;
	if (http->tls == NULL) {
		c2s_http_plain(http, data, len);
		return;
	}
	if (tls_feed_ciphertext(http->tls, data, len) == TLS_OK) {
		while (!http->closing && (n = tls_read_plaintext(http->tls, pt, sizeof(pt))) > 0)
			c2s_http_plain(http, pt, (size_t)n);
	} else {
		n = TLS_ERROR;
	}
	if (n == TLS_ERROR && !http->closing)
		JLOG_INFO(conn->id, "TLS with %s failed: %s", conn->peer,
			  tls_error_string(http->tls));
	if (n == TLS_ERROR || n == TLS_CLOSED)
		c2s_http_drop(http);
	c2s_http_flush_tls(http);
}

static void c2s_http_eof(struct conn *conn, int status)
{
	struct c2s_http *http = conn->owner;

	JLOG_DEBUG(conn->id, "%s disconnected: %s%s", conn->peer, uv_strerror(status),
		   http_reader_in_request(http->reader) ? " (mid-request)" : "");
	if (http->client != NULL)
		c2s_client_gone(http->client);
	http->closing = true;
	conn_close(conn, false, 0);
}

static void c2s_http_drained(struct conn *conn)
{
	struct c2s_http *http = conn->owner;

	if (http->client != NULL)
		c2s_flow_drained(http->client);
}

static void c2s_http_closed(struct conn *conn)
{
	struct c2s_http *http = conn->owner;
	struct c2s *c2s = http->c2s;

	if (http->prev != NULL)
		http->prev->next = http->next;
	else
		c2s->https = http->next;
	if (http->next != NULL)
		http->next->prev = http->prev;
	if (http->client != NULL) {
		c2s_ws_free(http);
		c2s_client_free(http->client);
	}
	c2s_bosh_forget_http(http);
	buf_free(&http->stash);
	http_reader_free(&http->reader);
	tls_free(&http->tls);
	free(http);
	c2s_maybe_finish(c2s);
}

/* Does ip already hold [c2s] http_connections_per_ip open connections? */
static bool c2s_http_over_ip_limit(const struct c2s *c2s, const char *ip)
{
	uint64_t n = 0;

	if (c2s->http_per_ip == 0)
		return false;
	for (const struct c2s_http *h = c2s->https; h != NULL; h = h->next)
		if (!h->closing && strcmp(h->ip, ip) == 0 && ++n >= c2s->http_per_ip)
			return true;
	return false;
}

static void c2s_http_accept(struct conn *conn, void *ctx)
{
	struct c2s *c2s = ctx;
	struct c2s_http *http = xcalloc(1, sizeof(*http));
	struct http_limits limits = {
		.max_head = 8192,
		.max_headers = 64,
		.max_body = c2s->limits.max_stanza_bytes + C2S_HTTP_BODY_SLACK,
	};

	http->c2s = c2s;
	http->conn = conn;
	snprintf(http->ip, sizeof(http->ip), "%s", conn->peer);
	char *colon = strrchr(http->ip, ':');
	if (colon != NULL)
		*colon = '\0';
	bool over = c2s_http_over_ip_limit(c2s, http->ip);
	http->last_ms = uv_now(c2s->loop);
	http->reader = http_reader_new(&limits);
	http->next = c2s->https;
	if (c2s->https != NULL)
		c2s->https->prev = http;
	c2s->https = http;
	conn_start(conn, &c2s_http_callbacks, http);
	JLOG_DEBUG(conn->id, "HTTP connection from %s", conn->peer);
	if (over) {
		JLOG_DEBUG(conn->id, "%s has http_connections_per_ip open: closing", http->ip);
		http->closing = true;
		conn_close(conn, false, 0);
		return;
	}
	if (config_get_bool(c2s->config, "c2s", "http_tls")) {
		http->tls = tls_new(c2s->tls_ctx, true, NULL);
		if (http->tls == NULL) {
			JLOG_WARN(conn->id, "cannot create a TLS session");
			http->closing = true;
			conn_close(conn, false, 0);
		}
	}
}

void c2s_http_answered(struct c2s_http *http)
{
	http->busy = false;
	http->last_ms = uv_now(http->c2s->loop);
	if (!http->keep_alive || http->c2s->stopping)
		c2s_http_close(http);
}

void c2s_http_tick(struct c2s *c2s, uint64_t now_ms)
{
	c2s_bosh_tick(c2s, now_ms);
	for (struct c2s_http *h = c2s->https; h != NULL; h = h->next) {
		if (!h->busy && h->stash.len > 0 && !h->closing) {
			struct buf b = h->stash;
			memset(&h->stash, 0, sizeof(h->stash));
			c2s_http_plain(h, b.data, b.len);
			buf_free(&b);
		}
		if (h->client == NULL && !h->busy && !h->closing &&
		    now_ms - h->last_ms >= c2s->auth_timeout_ms) {
			JLOG_DEBUG(h->conn->id, "HTTP connection idle, closing");
			h->closing = true;
			conn_close(h->conn, false, 0);
		}
	}
}

int c2s_http_start(struct c2s *c2s, char *err, size_t errlen)
{
	const char *addr = config_get(c2s->config, "c2s", "http_listen");

	if (addr == NULL)
		return 0;
	/* config_load() already refused plain HTTP off loopback. */
	if (conn_listen(c2s->loop, addr, false, c2s_http_accept, c2s, &c2s->listener_http, err,
			errlen) < 0)
		return -1;
	JLOG_INFO(0, "web clients: %s://%s%s",
		  config_get_bool(c2s->config, "c2s", "http_tls") ? "wss" : "ws", addr,
		  C2S_HTTP_PATH_WS);
	c2s_webclient_start(c2s);
	return 0;
}

void c2s_http_stop(struct c2s *c2s)
{
	conn_listener_close(&c2s->listener_http);
	/* A request a BOSH session holds is answered (system-shutdown) when
	 * its client is closed, and its connection closed then. */
	for (struct c2s_http *h = c2s->https; h != NULL; h = h->next) {
		if (h->client == NULL && h->bosh == NULL && !h->closing)
			c2s_http_close(h);
	}
}
