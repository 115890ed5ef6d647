/* router.h: junction-router's shared state and the functions its files
 * offer each other.
 *
 * One process, one libuv loop, no threads. struct router owns the listeners,
 * every component stream, the route table and the periodic timer. A struct
 * router_stream is one component connection: the conn (common/conn.h), its
 * parser, its state in the XEP-0114 handshake, the names it bound and its
 * counters. A stream is freed only in its conn's closed callback; until then
 * router_stream_close() just marks it closing, so pointers taken during a
 * callback stay valid for the rest of that callback.
 *
 * Files: main.c (start-up, signals), router-stream.c (per-stream protocol and
 * the hot path), router-route.c (name table), router-watch.c (changes to it,
 * and who hears of them), router-bounce.c (error stanzas), router-admin.c
 * (the urn:junction:component:1 iq extension), router-metrics.c (Prometheus
 * metrics).
 */
#ifndef JUNCTION_ROUTER_H
#define JUNCTION_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "config.h"
#include "router-route.h"
#include "xml-parser.h"

#define ROUTER_NS_EXT "urn:junction:component:1"
#define ROUTER_EXT_VERSION "1"

struct conn;
struct conn_listener;
struct stanza;
struct buf;

enum router_stream_state {
	ROUTER_STREAM_HEADER,    /* waiting for the stream header */
	ROUTER_STREAM_HANDSHAKE, /* header answered, waiting for <handshake> */
	ROUTER_STREAM_READY,     /* authenticated, name bound */
	ROUTER_STREAM_CLOSING,   /* error sent or close under way */
};

struct router_stream_counters {
	uint64_t in;       /* stanzas read from it */
	uint64_t out;      /* stanzas queued to it */
	uint64_t bounced;  /* its stanzas that came back to it as errors */
	uint64_t rejected; /* its stanzas refused for a bad or forged address */
};

struct router_stream {
	struct router *router;
	struct conn *conn;
	unsigned long id;
	struct xml_parser *parser;
	enum router_stream_state state;
	char stream_id[33];
	char *name;         /* the handshake name, also the hashing instance */
	bool trusted;       /* authenticated with [router] secret */
	bool extra_prefixes; /* raw stanza bytes need their stream's prefixes */
	bool read_paused;
	bool watching;       /* gets presence for names bound and released */
	/* Asked for acknowledgements (<ack/>): stanzas read since, and the
	 * count last acknowledged with <a h=''/>. */
	bool acks;
	uint64_t acks_in, acks_sent;
	/* ... and it acknowledges what it is sent: stanzas written to it
	 * since (acks_out), and the forwarded ones not yet acknowledged. */
	uint64_t acks_out;
	struct router_kept *kept_head, *kept_tail;
	size_t kept_bytes;
	uint64_t opened_ms;  /* loop time at accept */
	time_t since;        /* wall clock at handshake */
	uint64_t over_limit_since_ms; /* 0 when the queue is under the limit */
	/* The error for stanzas still queued to it when it closes. */
	const char *bounce_type, *bounce_condition;
	struct router_stream_counters count;
	struct router_stream *prev, *next;
};

struct router {
	uv_loop_t *loop;
	struct config *config;
	struct conn_listener *listener, *listener_unix;
	struct route_table *routes;
	struct router_stream *streams;
	uv_timer_t timer;
	uv_signal_t sig_term, sig_int, sig_hup;
	const char *secret;
	size_t queue_limit;
	uint64_t stall_timeout_ms, handshake_timeout_ms;
	struct xml_parser_limits limits;
	time_t started;
	struct router_hold *hold; /* router-hold.c */
	bool stopping;
	struct metrics *metrics; /* NULL when [junction] metrics is unset */
	/* What streams that are gone counted, so totals never go down. */
	struct router_stream_counters gone;
};

/* router-stream.c */
int router_start(struct router *router, char *err, size_t errlen);
void router_stop(struct router *router);
void router_free(struct router *router);
/* SIGHUP: take queue_limit, stall_timeout, handshake_timeout and the
 * parser limits (for streams accepted from now on) from fresh. */
void router_reload(struct router *router, const struct config *fresh);
/* Send a stream error (condition non-NULL) or a plain close and close. */
void router_stream_close(struct router_stream *stream, const char *condition, const char *text);
/* Queue bytes for a stream, counting a stanza; false when the stream is
 * closing, or over its queue limit unless force (nothing queued then). */
bool router_stream_deliver(struct router_stream *stream, const char *data, size_t len,
			   bool force);
/* Queue a stanza tree to a stream, ignoring the limit (replies to the
 * stream's own requests: the limit is enforced by pausing its reads). */
void router_stream_reply(struct router_stream *stream, const struct stanza *reply);
/* The stream a recipient's stanza goes to: the one bound to its domain
 * (by bare-JID hash when shared), else the default route unless the domain
 * is served here; NULL when there is none. *served_r tells which error a
 * caller should then give (service-unavailable or remote-server-not-found). */
struct router_stream *router_find_route(struct router *router, const char *domain,
				       size_t domain_len, const char *bare, size_t bare_len,
				       bool *served_r);
/* Is name one this deployment serves (configured or bound)? */
bool router_serves(const struct router *router, const char *domain);

/* router-bounce.c */
/* Answer the stanza the sender sent with an error on the sender's own
 * stream (counted as bounced); nothing for error-type stanzas and iq
 * results, which must never be answered with an error. */
void router_bounce(struct router_stream *sender, const struct xml_parser_stanza *st,
		   const char *type, const char *condition, const char *text);
/* Bounce every stanza in bytes that a closing stream never received
 * (those that end after the first `written` bytes), routing each error to
 * the original sender. */
void router_bounce_unsent(struct router *router, const char *bytes, size_t len, size_t written,
			  const char *type, const char *condition);
/* Route an error stanza (never bounced itself). */
void router_route_error(struct router *router, const struct stanza *error);

/* router-watch.c: every change of the route table goes through these, so
 * watching streams hear of it. */
int router_watch_bind(struct router_stream *stream, const char *name, enum route_mode mode);
int router_watch_unbind(struct router_stream *stream, const char *name);
/* Release every name the stream holds (and its default route). */
void router_watch_release_all(struct router_stream *stream);
void router_watch_start(struct router_stream *stream);

/* router-hold.c: stanzas for a users' domain while its sm restarts. */
void router_hold_init(struct router *router);
void router_hold_stop(struct router *router);
/* A name was bound or released (router-watch.c calls this for each);
 * ROUTER_HOLD_DEFAULT for the default route (s2s). */
#define ROUTER_HOLD_DEFAULT ""
void router_hold_changed(struct router *router, const char *name, bool bound);
/* Keep st if its domain is in a restart gap (or bounce it when too much
 * is held); true when st was taken, false to route it as usual. */
bool router_hold_take(struct router_stream *sender, const struct xml_parser_stanza *st,
		      const char *domain, size_t domain_len, const char *bare, size_t bare_len);

/* Give a stanza (bytes and bare owned by the callee on success) to the
 * gap of domain, behind what it holds; false when there is no gap. */
bool router_hold_put(struct router *router, const char *domain, char *bytes, size_t len,
		     char *bare, unsigned long sender_id);
/* Bytes held now (for metrics). */
size_t router_hold_bytes(const struct router *router);
/* Bounce bytes (one stanza) to the stream sender_id, if it is still up. */
void router_hold_bounce_bytes(struct router *router, unsigned long sender_id, const char *bytes,
			      size_t len, const char *type, const char *condition);

/* router-kept.c: stanzas written to a stream that acknowledges them. */
/* dest got st (routed from sender to the address domain/bare): keep it. */
void router_kept_add(struct router_stream *dest, const struct router_stream *sender,
		     const struct xml_parser_stanza *st, const char *domain, size_t domain_len,
		     const char *bare, size_t bare_len);
/* <a h=''/> from the stream (its raw bytes): forget what it covers. */
void router_kept_acked(struct router_stream *stream, const char *raw, size_t len);
/* The stream is gone (its names released): route again, hold or bounce
 * what it never acknowledged. */
void router_kept_requeue(struct router_stream *stream);
void router_kept_free(struct router_stream *stream);

/* router-metrics.c */
void router_metrics_start(struct router *router);
/* Add a closing stream's counters to the totals. */
void router_metrics_stream_gone(struct router *router, const struct router_stream *stream);
void router_metrics_stop(struct router *router);

/* router-admin.c */
/* An iq with no 'to' from an authenticated stream. */
void router_admin_handle(struct router_stream *stream, const struct xml_parser_stanza *st);

#endif
