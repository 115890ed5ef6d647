/* metrics-server.c: the HTTP side of metrics.h: a listener on the
 * process's loop that answers GET /metrics with every collector's output.
 *
 * Requests are parsed by common/http (libhttp-parser); connections go
 * through common/conn like every other stream. One request per
 * connection: the answer says Connection: close and the connection closes
 * once it is written. A connection has METRICS_IDLE_MS to send its
 * request, which may not have a body.
 */
#include "metrics.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "http.h"
#include "log.h"

#define METRICS_IDLE_MS 10000
#define METRICS_MAX_COLLECTORS 8

struct metrics_client {
	struct metrics *metrics;
	struct conn *conn;
	struct http_reader *reader;
	uint64_t opened_ms;
	bool answered;
	struct metrics_client *prev, *next;
};

struct metrics {
	uv_loop_t *loop;
	struct conn_listener *listener;
	uv_timer_t timer;
	char process[16];
	time_t started;
	uint64_t started_ms;
	struct {
		metrics_collect_cb *cb;
		void *ctx;
	} collectors[METRICS_MAX_COLLECTORS];
	size_t n_collectors;
	uint64_t scrapes;
	struct metrics_client *clients;
	unsigned open_handles; /* timer + clients; freed at 0 once stopping */
	bool stopping;
};

/* Offsets from [junction] metrics's port, one per process (docs). */
static const struct {
	const char *process;
	unsigned offset;
} metrics_offsets[] = {
	{"router", 0}, {"c2s", 1}, {"sm", 2}, {"s2s", 3}, {"pubsub", 4},
};

unsigned metrics_port(unsigned base, const char *process)
{
	for (size_t i = 0; i < sizeof(metrics_offsets) / sizeof(metrics_offsets[0]); i++)
		if (strcmp(metrics_offsets[i].process, process) == 0)
			return base + metrics_offsets[i].offset;
	return base + 5; /* anything else (a future process) */
}

static void metrics_maybe_free(struct metrics *m)
{
	if (m->stopping && m->open_handles == 0)
		free(m);
}

static void metrics_body(struct metrics *m, struct buf *out)
{
	metrics_single(out, "junction_uptime_seconds", "gauge", "seconds since the process started",
		       (uv_now(m->loop) - m->started_ms) / 1000);
	metrics_single(out, "junction_start_time_seconds", "gauge",
		       "when the process started, Unix time", (uint64_t)m->started);
	metrics_single(out, "junction_metrics_scrapes_total", "counter",
		       "requests for /metrics served", ++m->scrapes);
	for (size_t i = 0; i < m->n_collectors; i++)
		m->collectors[i].cb(out, m->collectors[i].ctx);
}

static void metrics_send(struct metrics_client *c, const struct buf *response)
{
	conn_send(c->conn, response->data, response->len);
	c->answered = true;
	conn_close(c->conn, true, 2000);
}

static void metrics_error(struct metrics_client *c, int status)
{
	struct buf out = {0};
	http_response_simple(&out, status, false);
	metrics_send(c, &out);
	buf_free(&out);
}

static void metrics_answer(struct metrics_client *c, const struct http_request *req)
{
	bool head = strcmp(req->method, "HEAD") == 0;
	struct buf body = {0}, out = {0};

	if (!head && strcmp(req->method, "GET") != 0) {
		metrics_error(c, 405);
		return;
	}
	if (strcmp(req->path, "/metrics") != 0) {
		metrics_error(c, 404);
		return;
	}
	metrics_body(c->metrics, &body);
	http_response_start(&out, 200);
	http_response_header(&out, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	http_response_header(&out, "Connection", "close");
	if (head) {
		/* The length the body would have, and no body. */
		char len[24];
		snprintf(len, sizeof(len), "%zu", body.len);
		http_response_header(&out, "Content-Length", len);
		http_response_end_headers(&out);
	} else {
		http_response_body(&out, body.data, body.len);
	}
	metrics_send(c, &out);
	buf_free(&body);
	buf_free(&out);
}

static void metrics_client_read(struct conn *conn, const char *data, size_t len)
{
	struct metrics_client *c = conn->owner;
	const struct http_request *req = NULL;
	size_t used;

	if (c->answered)
		return;
	if (http_reader_feed(c->reader, data, len, &used, &req) < 0) {
		JLOG_INFO(conn->id, "metrics: bad request from %s (%d)", conn->peer,
			  http_reader_status(c->reader));
		metrics_error(c, http_reader_status(c->reader));
	} else if (req != NULL) {
		metrics_answer(c, req); /* one per connection: the rest is ignored */
	}
}

static void metrics_client_eof(struct conn *conn, int status)
{
	(void)status;
	conn_close(conn, false, 0);
}

static void metrics_client_closed(struct conn *conn)
{
	struct metrics_client *c = conn->owner;
	struct metrics *m = c->metrics;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	http_reader_free(&c->reader);
	free(c);
	m->open_handles--;
	metrics_maybe_free(m);
}

static const struct conn_callbacks metrics_client_callbacks = {
	.read = metrics_client_read,
	.eof = metrics_client_eof,
	.closed = metrics_client_closed,
};

static void metrics_on_accept(struct conn *conn, void *ctx)
{
	struct metrics *m = ctx;
	struct metrics_client *c = xcalloc(1, sizeof(*c));

	c->metrics = m;
	c->conn = conn;
	c->opened_ms = uv_now(m->loop);
	/* A scrape is a bare GET: a small head, no body (a small one is read
	 * so that a POST gets its 405). */
	struct http_limits limits = {.max_head = 8192, .max_headers = 64, .max_body = 1024};
	c->reader = http_reader_new(&limits);
	c->next = m->clients;
	if (m->clients != NULL)
		m->clients->prev = c;
	m->clients = c;
	m->open_handles++;
	conn_start(conn, &metrics_client_callbacks, c);
}

/* Close connections that never sent a whole request. */
static void metrics_on_timer(uv_timer_t *timer)
{
	struct metrics *m = timer->data;
	uint64_t now = uv_now(m->loop);

	for (struct metrics_client *c = m->clients; c != NULL; c = c->next)
		if (!c->answered && now - c->opened_ms >= METRICS_IDLE_MS) {
			c->answered = true;
			conn_close(c->conn, false, 0);
		}
}

static void metrics_timer_closed(uv_handle_t *handle)
{
	struct metrics *m = handle->data;
	m->open_handles--;
	metrics_maybe_free(m);
}

void metrics_start(uv_loop_t *loop, const struct config *config, const char *process,
		   struct metrics **metrics_r)
{
	const char *base = config_get(config, "junction", "metrics");
	char host[256], address[300], err[512];
	unsigned port;

	*metrics_r = NULL;
	if (base == NULL || config_parse_hostport(base, host, sizeof(host), &port) < 0)
		return;
	port = metrics_port(port, process);
	snprintf(address, sizeof(address), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	struct metrics *m = xcalloc(1, sizeof(*m));
	m->loop = loop;
	snprintf(m->process, sizeof(m->process), "%s", process);
	m->started = time(NULL);
	m->started_ms = uv_now(loop);
	if (conn_listen(loop, address, false, metrics_on_accept, m, &m->listener, err,
			sizeof(err)) < 0) {
		/* A second instance of a process finds its port taken: it runs
		 * on, without metrics, rather than not at all. */
		JLOG_WARN(0, "metrics: %s (no metrics from this process)", err);
		free(m);
		return;
	}
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	uv_timer_start(&m->timer, metrics_on_timer, 1000, 1000);
	uv_unref((uv_handle_t *)&m->timer);
	m->open_handles = 1;
	JLOG_INFO(0, "metrics on http://%s/metrics", address);
	*metrics_r = m;
}

void metrics_add_collector(struct metrics *m, metrics_collect_cb *cb, void *ctx)
{
	if (m == NULL)
		return;
	assert(m->n_collectors < METRICS_MAX_COLLECTORS);
	m->collectors[m->n_collectors].cb = cb;
	m->collectors[m->n_collectors].ctx = ctx;
	m->n_collectors++;
}

void metrics_stop(struct metrics **metrics)
{
	struct metrics *m = *metrics;

	if (m == NULL)
		return;
	*metrics = NULL;
	m->stopping = true;
	conn_listener_close(&m->listener);
	for (struct metrics_client *c = m->clients; c != NULL; c = c->next)
		conn_close(c->conn, false, 0);
	uv_close((uv_handle_t *)&m->timer, metrics_timer_closed);
}
