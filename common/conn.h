/* conn.h: the libuv connection layer: listeners, reads, batched writes.
 *
 * A struct conn wraps one accepted TCP or UNIX stream. Bytes read are handed
 * to the owner's read callback (borrowed: valid only during the call). Output
 * goes one way: conn_send() appends to the connection's queue and marks it
 * pending; once per loop turn (a uv_check handle) every pending connection
 * is flushed with a single vectored uv_write. conn_queued() tells the owner
 * how many bytes are not yet written, so it can apply its own policy at a
 * limit (stop reading a peer that fills its own queue, bounce for a slow
 * one). A conn is never freed inside its own callbacks: conn_close() closes
 * the handle and the closed callback runs later, right before the memory is
 * freed. Everything runs on the one loop given to conn_loop_init().
 *
 *   conn_loop_init(loop);
 *   conn_listen(loop, "127.0.0.1:5347", false, on_accept, ctx, &listener, err, sizeof err);
 *   // on_accept: conn_start(conn, &callbacks, owner);
 *   conn_send(conn, bytes, len);
 *   conn_close(conn, true);              // flush what is queued, then close
 *   conn_listener_close(&listener); conn_loop_deinit();
 */
#ifndef JUNCTION_CONN_H
#define JUNCTION_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "buf.h"

struct conn;
struct conn_listener;

struct conn_callbacks {
	/* Bytes arrived from the peer. */
	void (*read)(struct conn *conn, const char *data, size_t len);
	/* The peer closed its side (status UV_EOF) or a read/write failed. The
	 * owner usually calls conn_close(conn, false). */
	void (*eof)(struct conn *conn, int status);
	/* The queue fell to or below the low-water mark set by
	 * conn_set_low_water() after being above it. May be NULL. */
	void (*drained)(struct conn *conn);
	/* The connection is being closed with bytes still unwritten (a close
	 * without flush, or a flush that outlived its linger). bytes holds
	 * everything not confirmed written; its first `written` bytes did reach
	 * the kernel and may still be received, the rest never will. May be NULL. */
	void (*unsent)(struct conn *conn, const char *bytes, size_t len, size_t written);
	/* The handle is closed; conn is freed right after this returns. */
	void (*closed)(struct conn *conn);
};

/* A TCP or UNIX stream handle, seen as whichever libuv type a call needs. */
union conn_handle {
	uv_handle_t handle;
	uv_stream_t stream;
	uv_tcp_t tcp;
	uv_pipe_t pipe;
};

struct conn {
	unsigned long id; /* unique per process, for logs */
	char peer[96];    /* "127.0.0.1:40000" or "unix" */
	void *owner;
	/* private below */
	union conn_handle h;
	const struct conn_callbacks *callbacks;
	struct buf out;      /* queued, not yet handed to uv_write */
	struct buf inflight; /* handed to uv_write, not yet confirmed */
	uv_write_t write_req;
	uv_timer_t *linger; /* set while closing with a flush deadline */
	size_t low_water;
	bool writing, pending, reading, closing, close_after_flush, above_low_water;
	struct conn *pending_next;
};

typedef void conn_accept_cb(struct conn *conn, void *ctx);
/* status 0: connected, start the conn with conn_start(); otherwise a
 * libuv error and conn is NULL (already released). */
typedef void conn_connect_cb(struct conn *conn, int status, void *ctx);

/* Start the per-loop flush machinery; call once before any conn exists. */
void conn_loop_init(uv_loop_t *loop);
/* Stop it; every conn must be closed first. */
void conn_loop_deinit(void);

/* Listen on "HOST:PORT" (is_unix false) or a UNIX socket path (an existing
 * socket file there is replaced). Returns 0, or -1 with a message in err. */
int conn_listen(uv_loop_t *loop, const char *address, bool is_unix, conn_accept_cb *cb, void *ctx,
		struct conn_listener **listener_r, char *err, size_t errlen);
void conn_listener_close(struct conn_listener **listener);

/* Connect to addr (TCP), or to the UNIX socket path when addr is NULL.
 * Returns 0 and calls cb once, later; on a negative return cb is never
 * called. */
int conn_connect(uv_loop_t *loop, const struct sockaddr *addr, const char *path,
		 conn_connect_cb *cb, void *ctx);

/* Attach the owner's callbacks and start reading. */
void conn_start(struct conn *conn, const struct conn_callbacks *callbacks, void *owner);
void conn_read_stop(struct conn *conn);
void conn_read_resume(struct conn *conn);
/* Ask the kernel for a send buffer of about bytes (clamped to 16 KiB ..
 * 4 MiB); without it Linux autotunes up to megabytes per socket. */
void conn_set_send_buffer(struct conn *conn, size_t bytes);
/* The drained callback fires when the queue falls to <= bytes. */
void conn_set_low_water(struct conn *conn, size_t bytes);

/* Queue bytes for the peer (copied). Ignored once the conn is closing. */
void conn_send(struct conn *conn, const void *data, size_t len);
/* Bytes queued or in flight, not yet confirmed written. */
size_t conn_queued(const struct conn *conn);

/* Close. With flush, stop reading, write what is queued (waiting at most
 * linger_ms), then close; without, close now. Whatever is still unwritten
 * when the handle closes is handed to the unsent callback first. */
void conn_close(struct conn *conn, bool flush, unsigned linger_ms);

#endif
