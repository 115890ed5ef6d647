/* component.h: the client side of the component protocol, for Junction's
 * own processes (c2s, sm, s2s, pubsub) and anything else written on common/.
 *
 * A struct component keeps one stream to the router alive: it connects
 * (resolving the address without blocking the loop), does the XEP-0114
 * handshake, binds its extra names with the urn:junction:component:1
 * extension, and from then on delivers each stanza to the owner's callback
 * and sends what the owner gives it. When the stream drops it reconnects
 * with exponential backoff (min..max, with jitter) and binds again; while it
 * is down, stanzas the owner sends wait in a bounded queue (queue_limit
 * bytes) and go out in order once it is back. While it is up, a send never
 * fails: when more than queue_limit bytes wait for the router, the link
 * stops reading from it until half has gone (backpressure, not loss).
 * Stanzas already handed to a connection are kept until the router
 * acknowledges them (docs/components.md, "Acknowledgements") and sent again
 * after a reconnection if it never did; what the router sends is
 * acknowledged once the stanza callback has returned for it. Everything
 * runs on one loop.
 *
 *   struct component_options o = {.address = "127.0.0.1:5347", .name = "sm.localhost",
 *                                 .secret = s, .binds = names, .n_binds = 1};
 *   component_start(loop, &o, &callbacks, ctx, &c);
 *   component_send(c, stanza);       // -1: router away, queue full: bounce
 *   component_stop(&c);              // closes; memory freed once the handle is
 */
#ifndef JUNCTION_COMPONENT_H
#define JUNCTION_COMPONENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct component;
struct stanza;
struct xml_parser_stanza;

struct component_callbacks {
	/* Authenticated and every name bound (after each (re)connection). */
	void (*ready)(struct component *component, void *ctx);
	/* A stanza from the router; borrowed (stanza_ref() to keep it). */
	void (*stanza)(struct component *component, struct stanza *stanza, void *ctx);
	/* May be NULL. When set, once ready each stanza is offered here first,
	 * without a tree: its name, namespace, to/from/type/id and original
	 * bytes (stanza->raw, standing alone in the stream's default namespace;
	 * see component_stanza_raw()). Return true when it was handled, false
	 * to have it parsed and passed to the stanza callback as usual. For the
	 * hot path of an owner that only needs the bytes, e.g. c2s's deliveries.
	 * With it, the router's stream is no longer parsed once ready, only cut
	 * into stanzas (common/xml-frame.h: the router checked every byte). */
	bool (*raw)(struct component *component, const struct xml_parser_stanza *stanza,
		    void *ctx);
	/* The stream is gone; reconnection is already scheduled. May be NULL. */
	void (*down)(struct component *component, const char *why, void *ctx);
	/* The connection's output queue fell to low_water after being above
	 * it (conn.h's drained). May be NULL. */
	void (*drained)(struct component *component, void *ctx);
};

struct component_options {
	const char *address; /* "HOST:PORT", or a UNIX socket path with is_unix */
	bool is_unix;
	const char *name;    /* the handshake name */
	const char *secret;
	const char *const *binds; /* further names to bind */
	size_t n_binds;
	bool shared;         /* bind them in shared mode */
	bool default_route;  /* also take the default route */
	/* Ask for the router's watch events (docs/components.md section 3)
	 * right after the handshake, before binding any further name: the
	 * owner then knows every bound name before anyone can see its own
	 * names bound and talk to it. The events reach the stanza callback,
	 * a fresh full list after every reconnection. */
	bool watch;
	size_t queue_limit;  /* bytes queued while disconnected, and the output
			      * backlog that pauses reading; 0: 1 MiB */
	size_t low_water;    /* reading resumes and the drained callback fires
			      * when the backlog falls to this; 0: queue_limit / 2 */
	unsigned backoff_min_ms, backoff_max_ms; /* 0: 100 ms and 10 s */
};

/* Copies what it needs from options. Returns 0; the first connection
 * attempt starts at once. */
int component_start(uv_loop_t *loop, const struct component_options *options,
		    const struct component_callbacks *callbacks, void *ctx,
		    struct component **component_r);
/* Queue a stanza for the router (serialized now). Returns 0, or -1 when the
 * router is unreachable and the queue is over queue_limit. */
int component_send(struct component *component, const struct stanza *stanza);
/* The same for bytes already serialized: exactly one complete stanza in the
 * stream's default namespace (jabber:component:accept); the router's
 * acknowledgements count stanzas. For a sender that builds many similar
 * stanzas as text, e.g. pubsub's notifications, sm's deliveries. */
int component_send_raw(struct component *component, const char *data, size_t len);
/* During the stanza callback: the original bytes of the stanza being handled
 * (*len_r of them), which stand alone in the stream's default namespace
 * (jabber:component:accept) with the "stream" prefix bound, so an owner that
 * passes the stanza on unchanged may copy them instead of serializing the
 * tree. NULL outside the callback, before ready, and when the router's stream
 * header declared other prefixes the bytes might use. Only valid while the
 * tree is unchanged. */
const char *component_stanza_raw(const struct component *component, size_t *len_r);
bool component_is_ready(const struct component *component);
/* Bytes waiting to reach the router: queued while disconnected, plus the
 * connection's output queue. For the owner's backpressure. */
size_t component_queued(const struct component *component);
/* Stanzas over the link since start, for metrics. */
struct component_counts {
	uint64_t in;      /* received from the router (after binding) */
	uint64_t out;     /* accepted by component_send() */
	uint64_t refused; /* refused by component_send(): router away, queue full */
};
struct component_counts component_counts(const struct component *component);
/* Stop and free (the memory goes once libuv has closed the handles). */
void component_stop(struct component **component);

#endif
