/* conn.c: libuv connections with per-loop-turn batched writes (see conn.h).
 *
 * Reads use one shared buffer: libuv calls alloc and read back to back for
 * one handle, and owners consume the bytes inside the read callback, so a
 * buffer per connection would only cost memory. Writes: conn_send() appends
 * to conn->out; the check handle swaps out into inflight and issues one
 * uv_write per connection per loop turn.
 */
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define CONN_READ_BUFFER (64 * 1024)
/* While a connection keeps writing, its two buffers take turns and keep their
 * storage, unless it grew past this during a burst. Once everything is
 * written both are released: most connections idle most of the time, and a
 * buffer kept at its high-water mark would cost every idle one that much. */
#define CONN_SHRINK_ABOVE (256 * 1024)

struct conn_listener {
	union conn_handle h;
	bool is_unix;
	conn_accept_cb *cb;
	void *ctx;
};

static uv_loop_t *conn_loop;
static uv_check_t conn_flush_check;
static struct conn *conn_pending_head;
static unsigned long conn_next_id = 1;
static char conn_read_buffer[CONN_READ_BUFFER];

static void conn_flush_all(uv_check_t *check);

void conn_loop_init(uv_loop_t *loop)
{
	conn_loop = loop;
	uv_check_init(loop, &conn_flush_check);
	uv_check_start(&conn_flush_check, conn_flush_all);
	/* The check handle must not keep the loop alive on its own. */
	uv_unref((uv_handle_t *)&conn_flush_check);
}

void conn_loop_deinit(void)
{
	if (conn_loop == NULL)
		return;
	uv_check_stop(&conn_flush_check);
	uv_close((uv_handle_t *)&conn_flush_check, NULL);
	conn_loop = NULL;
}

static void conn_mark_pending(struct conn *conn)
{
	if (conn->pending)
		return;
	conn->pending = true;
	conn->pending_next = conn_pending_head;
	conn_pending_head = conn;
}

static void conn_unmark_pending(struct conn *conn)
{
	if (!conn->pending)
		return;
	for (struct conn **p = &conn_pending_head; *p != NULL; p = &(*p)->pending_next) {
		if (*p == conn) {
			*p = conn->pending_next;
			break;
		}
	}
	conn->pending = false;
	conn->pending_next = NULL;
}

static void conn_handle_closed(uv_handle_t *handle)
{
	struct conn *conn = handle->data;

	if (conn->callbacks != NULL && conn->callbacks->closed != NULL)
		conn->callbacks->closed(conn);
	buf_free(&conn->out);
	buf_free(&conn->inflight);
	free(conn);
}

static void conn_linger_closed(uv_handle_t *handle)
{
	free(handle);
}

/* Hand everything not confirmed written to the owner, right before the
 * handle closes (which cancels a pending write). */
static void conn_report_unsent(struct conn *conn)
{
	struct buf all = {0};
	size_t unwritten = conn->inflight.len;

	if (conn->callbacks == NULL || conn->callbacks->unsent == NULL || conn_queued(conn) == 0)
		return;
	/* libuv counts what a pending write has not yet handed to the kernel. */
	if (conn->writing)
		unwritten = uv_stream_get_write_queue_size(&conn->h.stream);
	if (unwritten > conn->inflight.len)
		unwritten = conn->inflight.len;
	buf_append(&all, conn->inflight.data, conn->inflight.len);
	buf_append(&all, conn->out.data, conn->out.len);
	buf_reset(&conn->out);
	conn->callbacks->unsent(conn, all.data, all.len, conn->inflight.len - unwritten);
	buf_free(&all);
}

static void conn_close_now(struct conn *conn)
{
	if (uv_is_closing(&conn->h.handle))
		return;
	conn_unmark_pending(conn);
	conn_report_unsent(conn);
	if (conn->linger != NULL) {
		uv_timer_stop(conn->linger);
		uv_close((uv_handle_t *)conn->linger, conn_linger_closed);
		conn->linger = NULL;
	}
	uv_close(&conn->h.handle, conn_handle_closed);
}

static void conn_check_drained(struct conn *conn)
{
	if (conn->above_low_water && conn_queued(conn) <= conn->low_water) {
		conn->above_low_water = false;
		if (conn->callbacks->drained != NULL && !conn->closing)
			conn->callbacks->drained(conn);
	}
}

static void conn_write_done(uv_write_t *req, int status)
{
	struct conn *conn = req->data;

	conn->writing = false;
	if (status == UV_ECANCELED)
		return; /* the handle is being closed; nothing more to do */
	if (status < 0) {
		JLOG_INFO(conn->id, "write failed: %s", uv_strerror(status));
		if (conn->closing) {
			conn_close_now(conn);
		} else if (conn->callbacks->eof != NULL) {
			/* Keep inflight: the unsent callback reports it on close. */
			conn->callbacks->eof(conn, status);
		}
		return;
	}
	buf_reset(&conn->inflight);
	if (conn->inflight.cap > CONN_SHRINK_ABOVE)
		buf_free(&conn->inflight);
	if (conn->out.len > 0) {
		conn_mark_pending(conn);
	} else {
		buf_free(&conn->inflight);
		buf_free(&conn->out);
		if (conn->close_after_flush)
			conn_close_now(conn);
	}
	if (!uv_is_closing(&conn->h.handle))
		conn_check_drained(conn);
}

static void conn_flush(struct conn *conn)
{
	if (conn->writing || conn->out.len == 0 || uv_is_closing(&conn->h.handle))
		return;
	struct buf tmp = conn->inflight;
	conn->inflight = conn->out;
	conn->out = tmp;
	buf_reset(&conn->out);
	if (conn->out.cap > CONN_SHRINK_ABOVE)
		buf_free(&conn->out);

	uv_buf_t b = uv_buf_init(conn->inflight.data, (unsigned)conn->inflight.len);
	conn->write_req.data = conn;
	int r = uv_write(&conn->write_req, &conn->h.stream, &b, 1, conn_write_done);
	if (r < 0) {
		JLOG_INFO(conn->id, "write failed: %s", uv_strerror(r));
		if (conn->closing)
			conn_close_now(conn);
		else if (conn->callbacks->eof != NULL)
			conn->callbacks->eof(conn, r);
		return;
	}
	conn->writing = true;
}

static void conn_flush_all(uv_check_t *check)
{
	(void)check;
	/* Detach the list first: a flush may re-mark a connection. */
	struct conn *list = conn_pending_head;
	conn_pending_head = NULL;
	while (list != NULL) {
		struct conn *conn = list;
		list = conn->pending_next;
		conn->pending = false;
		conn->pending_next = NULL;
		conn_flush(conn);
	}
}

void conn_send(struct conn *conn, const void *data, size_t len)
{
	if (conn->closing && !conn->close_after_flush)
		return;
	if (uv_is_closing(&conn->h.handle))
		return;
	buf_append(&conn->out, data, len);
	if (conn_queued(conn) > conn->low_water)
		conn->above_low_water = true;
	conn_mark_pending(conn);
}

size_t conn_queued(const struct conn *conn)
{
	return conn->out.len + conn->inflight.len;
}

static void conn_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b)
{
	(void)handle;
	(void)suggested;
	*b = uv_buf_init(conn_read_buffer, sizeof(conn_read_buffer));
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
	struct conn *conn = stream->data;

	if (nread == 0)
		return;
	if (nread < 0) {
		uv_read_stop(stream);
		conn->reading = false;
		if (conn->closing)
			conn_close_now(conn);
		else if (conn->callbacks->eof != NULL)
			conn->callbacks->eof(conn, (int)nread);
		return;
	}
	if (conn->closing)
		return;
	conn->callbacks->read(conn, b->base, (size_t)nread);
}

void conn_start(struct conn *conn, const struct conn_callbacks *callbacks, void *owner)
{
	conn->callbacks = callbacks;
	conn->owner = owner;
	conn_read_resume(conn);
}

void conn_read_stop(struct conn *conn)
{
	if (conn->reading) {
		uv_read_stop(&conn->h.stream);
		conn->reading = false;
	}
}

void conn_read_resume(struct conn *conn)
{
	if (!conn->reading && !conn->closing) {
		if (uv_read_start(&conn->h.stream, conn_alloc, conn_on_read) == 0)
			conn->reading = true;
	}
}

void conn_set_send_buffer(struct conn *conn, size_t bytes)
{
	int value = bytes < 16384 ? 16384 : bytes > 4194304 ? 4194304 : (int)bytes;
	(void)uv_send_buffer_size(&conn->h.handle, &value);
}

void conn_set_low_water(struct conn *conn, size_t bytes)
{
	conn->low_water = bytes;
}

static void conn_linger_expired(uv_timer_t *timer)
{
	struct conn *conn = timer->data;
	conn_close_now(conn);
}

void conn_close(struct conn *conn, bool flush, unsigned linger_ms)
{
	if (conn->closing && !(conn->close_after_flush && !flush))
		return;
	conn->closing = true;
	conn_read_stop(conn);
	if (flush && conn_queued(conn) > 0) {
		conn->close_after_flush = true;
		conn->linger = xmalloc(sizeof(*conn->linger));
		uv_timer_init(conn_loop, conn->linger);
		conn->linger->data = conn;
		uv_timer_start(conn->linger, conn_linger_expired, linger_ms, 0);
		conn_mark_pending(conn);
		return;
	}
	conn->close_after_flush = false;
	conn_close_now(conn);
}

/* ---- listening ---------------------------------------------------------- */

static void conn_on_connection(uv_stream_t *server, int status)
{
	struct conn_listener *l = server->data;

	if (status < 0) {
		JLOG_WARN(0, "accept failed: %s", uv_strerror(status));
		return;
	}
	struct conn *conn = xcalloc(1, sizeof(*conn));
	conn->id = conn_next_id++;
	conn->low_water = 0;
	if (l->is_unix)
		uv_pipe_init(conn_loop, &conn->h.pipe, 0);
	else
		uv_tcp_init(conn_loop, &conn->h.tcp);
	conn->h.handle.data = conn;
	if (uv_accept(server, &conn->h.stream) < 0) {
		uv_close(&conn->h.handle, conn_handle_closed);
		return;
	}
	if (l->is_unix) {
		snprintf(conn->peer, sizeof(conn->peer), "unix");
	} else {
		struct sockaddr_storage ss;
		int len = sizeof(ss);
		char host[64] = "?";
		unsigned port = 0;
		uv_tcp_nodelay(&conn->h.tcp, 1);
		if (uv_tcp_getpeername(&conn->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
			if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
				uv_ip6_name(a, host, sizeof(host));
				port = ntohs(a->sin6_port);
			} else {
				struct sockaddr_in *a = (struct sockaddr_in *)&ss;
				uv_ip4_name(a, host, sizeof(host));
				port = ntohs(a->sin_port);
			}
		}
		snprintf(conn->peer, sizeof(conn->peer), "%s:%u", host, port);
	}
	l->cb(conn, l->ctx);
}

static void conn_listener_closed(uv_handle_t *handle)
{
	free(handle->data);
}

int conn_listen(uv_loop_t *loop, const char *address, bool is_unix, conn_accept_cb *cb, void *ctx,
		struct conn_listener **listener_r, char *err, size_t errlen)
{
	struct conn_listener *l = xcalloc(1, sizeof(*l));
	int r;

	l->is_unix = is_unix;
	l->cb = cb;
	l->ctx = ctx;
	if (is_unix) {
		uv_pipe_init(loop, &l->h.pipe, 0);
		l->h.handle.data = l;
		(void)unlink(address);
		r = uv_pipe_bind(&l->h.pipe, address);
	} else {
		char host[256], port_s[8];
		unsigned port;
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
					 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
		struct addrinfo *ai = NULL;
		uv_tcp_init(loop, &l->h.tcp);
		l->h.handle.data = l;
		r = UV_EINVAL;
		/* Start-up may block on the resolver: names like "localhost"
		 * are what operators write. */
		if (config_parse_hostport(address, host, sizeof(host), &port) == 0) {
			snprintf(port_s, sizeof(port_s), "%u", port);
			int g = getaddrinfo(host, port_s, &hints, &ai);
			r = g == 0 ? uv_tcp_bind(&l->h.tcp, ai->ai_addr, 0) : UV_EAI_NONAME;
			if (ai != NULL)
				freeaddrinfo(ai);
		}
	}
	if (r == 0)
		r = uv_listen(&l->h.stream, 128, conn_on_connection);
	if (r < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", address, uv_strerror(r));
		uv_close(&l->h.handle, conn_listener_closed);
		return -1;
	}
	*listener_r = l;
	return 0;
}

void conn_listener_close(struct conn_listener **listener)
{
	struct conn_listener *l = *listener;
	if (l == NULL)
		return;
	*listener = NULL;
	uv_close(&l->h.handle, conn_listener_closed);
}

/* ---- connecting ------------------------------------------------------------ */

struct conn_connecting {
	uv_connect_t req;
	struct conn *conn;
	conn_connect_cb *cb;
	void *ctx;
};

static void conn_failed_closed(uv_handle_t *handle)
{
	free(handle->data);
}

static void conn_on_connect(uv_connect_t *req, int status)
{
	struct conn_connecting *cc = req->data;
	struct conn *conn = cc->conn;
	conn_connect_cb *cb = cc->cb;
	void *ctx = cc->ctx;

	free(cc);
	if (status < 0) {
		conn->h.handle.data = conn;
		uv_close(&conn->h.handle, conn_failed_closed);
		cb(NULL, status, ctx);
		return;
	}
	cb(conn, 0, ctx);
}

int conn_connect(uv_loop_t *loop, const struct sockaddr *addr, const char *path,
		 conn_connect_cb *cb, void *ctx)
{
	struct conn *conn = xcalloc(1, sizeof(*conn));
	struct conn_connecting *cc = xcalloc(1, sizeof(*cc));
	int r;

	conn->id = conn_next_id++;
	cc->conn = conn;
	cc->cb = cb;
	cc->ctx = ctx;
	cc->req.data = cc;
	if (addr == NULL) {
		uv_pipe_init(loop, &conn->h.pipe, 0);
		snprintf(conn->peer, sizeof(conn->peer), "unix");
		uv_pipe_connect(&cc->req, &conn->h.pipe, path, conn_on_connect);
		r = 0;
	} else {
		char host[64] = "?";
		uv_tcp_init(loop, &conn->h.tcp);
		uv_tcp_nodelay(&conn->h.tcp, 1);
		if (addr->sa_family == AF_INET6) {
			uv_ip6_name((const struct sockaddr_in6 *)addr, host, sizeof(host));
			snprintf(conn->peer, sizeof(conn->peer), "[%s]:%u", host,
				 ntohs(((const struct sockaddr_in6 *)addr)->sin6_port));
		} else {
			uv_ip4_name((const struct sockaddr_in *)addr, host, sizeof(host));
			snprintf(conn->peer, sizeof(conn->peer), "%s:%u", host,
				 ntohs(((const struct sockaddr_in *)addr)->sin_port));
		}
		r = uv_tcp_connect(&cc->req, &conn->h.tcp, addr, conn_on_connect);
	}
	conn->h.handle.data = conn;
	if (r < 0) {
		free(cc);
		uv_close(&conn->h.handle, conn_failed_closed);
	}
	return r;
}
