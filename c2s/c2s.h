/* c2s.h: junction-c2s's shared state and the functions its files offer
 * each other.
 *
 * One process, one libuv loop, no threads. struct c2s owns the two client
 * listeners (STARTTLS and direct TLS), the TLS server context, every client
 * connection, the component link to the router (common/component.h) and one
 * periodic timer (auth deadlines, requests to sm that got no answer, held
 * answers of throttled logins, expiry of the throttle tables).
 *
 * A struct c2s_client is one client connection, from accept to close: its
 * conn, its TLS layer (NULL until STARTTLS, or from accept on listen_tls),
 * its parser (TREE mode) and where it is in RFC 6120 negotiation. It is freed
 * only in its conn's closed callback; c2s_client_close() marks it CLOSING, so
 * a pointer taken during a callback stays valid for the rest of it.
 *
 * Data flows one way per client: conn read -> c2s_client_input (TLS decrypt)
 * -> xml_parser_feed -> the handler for the client's phase (c2s-auth.c,
 * c2s-bind.c, c2s-stanza.c) -> c2s_client_send (TLS encrypt) -> conn_send.
 * Traffic for sm goes through c2s-sm.c and the component link only.
 *
 * Files: main.c (start-up, signals), c2s-client.c (accept, stream headers,
 * features, phase dispatch, close, timer), c2s-tls.c (TLS between conn and
 * parser), c2s-auth.c (SASL elements, credentials), c2s-throttle.c (failed
 * login tables), c2s-bind.c (resource binding, legacy session), c2s-stanza.c
 * (stanzas of an established session), c2s-sm.c (the link to sm),
 * c2s-register.c (in-band registration before login, relayed to sm),
 * c2s-flow.c (when to stop and resume reading a client), c2s-metrics.c
 * (Prometheus metrics), c2s-http.c ([c2s] http_listen: HTTPS connections,
 * c2s-http.h), c2s-ws.c (WebSocket clients, RFC 7395), c2s-bosh.c (BOSH
 * sessions, XEP-0206), c2s-hostmeta.c (XEP-0156).
 *
 * A client's transport (struct c2s_transport) frames its output and closes
 * it: TCP streams here in c2s-client.c, WebSocket messages in c2s-ws.c,
 * BOSH response bodies in c2s-bosh.c (which has no conn: client->conn NULL).
 * Everything else about a client is the same whatever carries it.
 */
#ifndef JUNCTION_C2S_H
#define JUNCTION_C2S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "c2s-sasl.h"
#include "config.h"
#include "peers.h"
#include "xml-parser.h"

#define C2S_NS_SESSION "urn:junction:session:1"
#define C2S_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define C2S_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define C2S_NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define C2S_NS_LEGACY_SESSION "urn:ietf:params:xml:ns:xmpp-session"

/* How long sm has to answer a credentials or session request before the
 * client gets temporary-auth-failure (SASL) or internal-server-error (bind). */
#define C2S_SM_TIMEOUT_MS 10000
/* A client whose output queue (TLS included) holds more than this does not
 * read what it is sent: it is disconnected rather than buffered for. Well
 * above C2S_CLIENT_PAUSE_BYTES: local senders stop being read at that mark,
 * but what they sent before is still on its way through router and sm
 * (see c2s-flow.c), and a slow reader should get it, not be cut off. */
#define C2S_CLIENT_QUEUE_LIMIT (4 * 1024 * 1024)
/* Backpressure (c2s-flow.c): a client whose output queue holds more than
 * C2S_CLIENT_PAUSE_BYTES is not read, and neither are local clients
 * sending to it, until it is down to C2S_CLIENT_RESUME_BYTES; every client
 * stops being read while the router link's queue is over
 * C2S_LINK_PAUSE_BYTES, until it is down to C2S_LINK_RESUME_BYTES. */
#define C2S_CLIENT_PAUSE_BYTES (128 * 1024)
#define C2S_CLIENT_RESUME_BYTES (32 * 1024)
#define C2S_LINK_PAUSE_BYTES (256 * 1024)
#define C2S_LINK_RESUME_BYTES (64 * 1024)
/* A client with more than C2S_INFLIGHT_PAUSE_BYTES of stanzas on their way
 * to local sessions (sent, not yet delivered back through router and sm)
 * is not read until that is down to C2S_INFLIGHT_RESUME_BYTES, or nothing
 * came back for C2S_INFLIGHT_FORGET_MS (stored offline, bounced). */
#define C2S_INFLIGHT_PAUSE_BYTES (256 * 1024)
#define C2S_INFLIGHT_RESUME_BYTES (64 * 1024)
#define C2S_INFLIGHT_FORGET_MS 1000
/* How long a closing client's output may take to flush. */
#define C2S_LINGER_MS 2000
/* Bytes of plaintext read from TLS at a time. */
#define C2S_TLS_READ_CHUNK 16384

struct conn;
struct conn_listener;
struct component;
struct stanza;
struct tls;
struct tls_ctx;
struct c2s_throttle;
struct c2s_held;
struct c2s_client;
struct c2s_http;
struct c2s_bosh;

/* How a client's XML travels (c2s-client.c: TCP; c2s-ws.c: WebSocket). The
 * client state machine (SASL, bind, stanzas, limits) is the same for all;
 * a transport only frames output and closes. Input reaches the machine
 * through c2s_client_on_open/on_stanza/on_close, however it was framed. */
struct c2s_transport {
	const char *name;
	/* Stanzas are serialized with this as the namespace in scope: TCP's
	 * jabber:client stream leaves xmlns out; NULL writes it (WebSocket
	 * messages stand alone). */
	const char *stanza_ns;
	/* The start tag of the features element. */
	const char *features_tag;
	/* Our stream header (or its framing) for client->domain/stream_id. */
	void (*send_header)(struct c2s_client *client);
	/* One complete top-level element. */
	void (*send)(struct c2s_client *client, const void *data, size_t len);
	/* Write a stream error (condition non-NULL) or the plain close, then
	 * let the connection go once that is flushed. */
	void (*close)(struct c2s_client *client, const char *condition, const char *text);
	/* Expect a new stream header (SASL success outside a parser callback). */
	void (*restart)(struct c2s_client *client);
	/* Transports without a conn of their own (BOSH: client->conn NULL):
	 * bytes waiting for the client, and dropping it at once. */
	size_t (*queued)(const struct c2s_client *client);
	void (*abort)(struct c2s_client *client);
};
extern const struct c2s_transport c2s_transport_tcp;

/* Why a client is not read (c2s-flow.c); reading resumes when none is left. */
enum c2s_pause {
	C2S_PAUSE_HOLD = 1,   /* a throttled SASL answer is held */
	C2S_PAUSE_OUTPUT = 2, /* its own output queue is full */
	C2S_PAUSE_PEER = 4,   /* it sent to a local client whose output queue is full */
	C2S_PAUSE_LINK = 8,   /* the router link's queue is full */
	C2S_PAUSE_INFLIGHT = 16, /* too much of what it sent to local sessions is in transit */
};

enum c2s_client_state {
	C2S_CLIENT_HEADER,  /* waiting for a stream header (first, or after a restart) */
	C2S_CLIENT_OPEN,    /* header answered, features sent */
	C2S_CLIENT_CLOSING, /* stream error or close sent; waiting for the conn to close */
};

/* What a client waits for, if anything; at most one at a time. */
enum c2s_wait {
	C2S_WAIT_NONE,
	C2S_WAIT_CREDENTIALS, /* credentials iq sent to sm */
	C2S_WAIT_HOLD,        /* throttled: the SASL answer is held until hold_until_ms */
	C2S_WAIT_SESSION,     /* session start iq sent to sm; the client's bind iq waits */
	C2S_WAIT_REGISTER,    /* an in-band registration iq went to sm (c2s-register.c) */
};

struct c2s_client {
	struct c2s *c2s;
	struct conn *conn;
	unsigned long id;
	struct xml_parser *parser;
	const struct c2s_transport *transport;
	void *transport_data; /* the transport's own state (NULL for TCP) */
	struct tls *tls;   /* NULL while plaintext (always NULL over HTTP) */
	/* Over HTTP: the HTTPS connection's TLS (borrowed, for channel
	 * binding; NULL on a plain loopback listener) and whether the
	 * transport counts as encrypted (HTTPS, or a loopback reverse proxy). */
	struct tls *outer_tls;
	bool outer_secure;
	bool direct_tls;   /* accepted on listen_tls */
	bool restart;      /* reset the parser once xml_parser_feed returns */
	bool header_sent;  /* our header for the current stream is out */
	unsigned paused;   /* why reading is stopped: enum c2s_pause bits, 0 if not */
	unsigned long waiting_on; /* C2S_PAUSE_PEER: the id of the slow client */
	size_t stanza_bytes;      /* size of the stanza being handled, as received */
	size_t in_flight;         /* bytes sent to local sessions, not delivered yet */
	uint64_t in_flight_ms;    /* when in_flight last changed */
	enum c2s_client_state state;
	char stream_id[33];
	char *domain;      /* the stream's 'to', normalised; fixed after the first header */
	char ip[96];       /* the peer's address without the port, for throttling */
	char peer[96];     /* address:port, for logs */
	uint64_t opened_ms;

	/* SASL (c2s-auth.c) */
	struct c2s_sasl_tls sasl_tls; /* taken once TLS is up, before mechanisms are offered */
	struct c2s_sasl *sasl;
	char *sasl_user;   /* nodeprep'd username the mechanism asked about */
	bool authenticated;
	unsigned sasl_failures; /* failed attempts on this stream (RFC 6120 6.4.5) */
	char *user;        /* the authenticated localpart */
	struct buf held;   /* answer written when a throttle hold ends */
	bool held_success;
	const char *held_condition; /* static: the held failure's condition */
	uint64_t hold_until_ms;

	/* requests to sm (c2s-sm.c) */
	enum c2s_wait wait;
	char req_id[80];
	uint64_t req_deadline_ms;
	unsigned req_seq;

	/* binding and session (c2s-bind.c) */
	char *bind_iq_id;  /* the client's bind iq, answered when sm confirms */
	char *full_jid;    /* set once bound */
	/* The client's last broadcast presence (available, no 'to') as sent to
	 * sm, in its <from-client/> envelope, to re-announce the session. */
	struct stanza *presence;
	bool session_sent; /* sm was told action='start' (tell it 'end' on close) */
	bool established;  /* sm confirmed: stanzas flow */
	/* sm said the account blocks someone (XEP-0191): its messages and iqs
	 * to other domains go through sm, which refuses those to blocked JIDs. */
	bool blocking;
	char sid[48];

	struct c2s_client *prev, *next; /* c2s->clients */
	struct c2s_client *hash_next;   /* c2s->by_id bucket */
	struct c2s_client *jid_next;    /* c2s->by_jid bucket, once established */
	bool in_jid_index;
};

#define C2S_ID_BUCKETS 1024

struct c2s {
	uv_loop_t *loop;
	struct config *config;
	struct tls_ctx *tls_ctx;
	struct conn_listener *listener, *listener_tls;
	struct conn_listener *listener_http; /* [c2s] http_listen, or NULL */
	struct c2s_http *https;              /* open HTTP connections (c2s-http.c) */
	struct c2s_bosh *boshs;              /* BOSH sessions (c2s-bosh.c) */
	struct component *component;
	struct c2s_throttle *throttle;
	struct c2s_client *clients;
	struct c2s_client *by_id[C2S_ID_BUCKETS];
	struct c2s_client *by_jid[C2S_ID_BUCKETS]; /* established, by bare JID */
	bool link_paused;
	uv_timer_t timer;
	uv_signal_t sig_term, sig_int, sig_hup;
	char *name; /* the component name */
	/* Names bound by trusted streams (Junction's own processes), from the
	 * router's watch events: only they may send <deliver/> and action='end'. */
	struct peers peers;
	const char *const *domains;
	size_t n_domains;
	bool require_tls;
	uint64_t auth_timeout_ms;
	unsigned auth_max_failures; /* [c2s] auth_max_failures */
	size_t n_clients;	    /* in clients: TCP, WebSocket and BOSH */
	uint64_t max_clients;	    /* [c2s] max_clients, 0 for no limit */
	uint64_t http_per_ip;	    /* [c2s] http_connections_per_ip, 0 for no limit */
	uint64_t bosh_inactivity_ms; /* [c2s] bosh_inactivity */
	struct xml_parser_limits limits;
	char instance[9]; /* random per process start: prefixes sids and iq ids */
	/* Key for SASL's fake salts: derived from [router] secret, so it is the
	 * same across restarts and across c2s instances. */
	unsigned char sasl_secret[SCRAM_MAX_KEY];
	/* Stanzas for a users' domain no sm serves right now (c2s-hold.c). */
	struct c2s_held *held_head, *held_tail;
	size_t held_bytes;
	uint64_t sm_queue_limit;      /* [c2s] sm_queue_limit */
	uint64_t sm_queue_timeout_ms; /* [c2s] sm_queue_timeout */
	bool stopping;
	/* Prometheus metrics (c2s-metrics.c); NULL when off. */
	struct metrics *metrics;
	struct {
		uint64_t stanzas_in;   /* from clients with a session */
		uint64_t stanzas_out;  /* delivered to clients */
		uint64_t bounces;      /* errors for stanzas that could not reach sm */
		uint64_t logins_ok, logins_failed; /* SASL attempts */
	} count;
};

/* c2s-metrics.c */
void c2s_metrics_start(struct c2s *c2s);
void c2s_metrics_stop(struct c2s *c2s);

/* c2s-client.c */
int c2s_start(struct c2s *c2s, char *err, size_t errlen);
void c2s_stop(struct c2s *c2s);
/* A client on conn (whose owner the caller stays; its id and peer name the
 * client), with its parser calling parser_cbs; linked into c2s's tables.
 * Freed by c2s_client_free(), from the conn's closed callback for stream
 * transports. A transport that outlives conn (BOSH) sets client->conn NULL. */
struct c2s_client *c2s_client_new(struct c2s *c2s, struct conn *conn, unsigned long id,
				  const struct c2s_transport *transport,
				  const struct xml_parser_callbacks *parser_cbs);
void c2s_client_free(struct c2s_client *client);
/* The peer went away: the session ends without anything more written. */
void c2s_client_gone(struct c2s_client *client);
/* Bytes queued for the client and not yet written. */
size_t c2s_client_queued(const struct c2s_client *client);
/* Drop the client now, writing nothing more (it does not read). */
void c2s_client_abort(struct c2s_client *client);
/* The input side of the state machine, as xml_parser callbacks (ctx is
 * the client); other framings call them with what they parsed. */
int c2s_client_on_open(void *ctx, const struct xml_parser_stream_open *open);
int c2s_client_on_stanza(void *ctx, const struct xml_parser_stanza *ev);
int c2s_client_on_close(void *ctx);
/* For transports that frame the stream themselves (WebSocket, BOSH): a
 * stream header with this 'to' and 'version', as TCP's would give them;
 * and one element, after which a stream restart (SASL success) only means
 * the next thing must be a new header. Return as the callbacks do. */
int c2s_client_open_framed(struct c2s_client *client, const char *to, const char *version);
int c2s_client_element_framed(struct c2s_client *client, const struct xml_parser_stanza *ev);
/* c2s_stop() is done once every client and HTTP connection is gone. */
void c2s_maybe_finish(struct c2s *c2s);
/* Send a stream error (condition non-NULL) or a plain close, then close. */
void c2s_client_close(struct c2s_client *client, const char *condition, const char *text);
/* Queue bytes for the client (through TLS when it is on). */
void c2s_client_send(struct c2s_client *client, const void *data, size_t len);
/* Serialize a stanza in jabber:client and send it; returns its length. */
size_t c2s_client_send_stanza(struct c2s_client *client, const struct stanza *st);
/* Answer a client's stanza with an error (nothing for type='error'). */
void c2s_client_error(struct c2s_client *client, const struct stanza *st, const char *type,
		      const char *condition, const char *text);
struct c2s_client *c2s_client_by_id(struct c2s *c2s, unsigned long id);
/* Is domain (normalised) one of [junction] domains? */
bool c2s_serves(const struct c2s *c2s, const char *domain);
/* Rewrite every element of st's tree in namespace from to namespace to. */
void c2s_rewrite_ns(struct stanza *st, const char *from, const char *to);

/* c2s-tls.c */
/* Attach a server-side TLS layer (after <proceed/>, or at accept). */
int c2s_tls_attach(struct c2s_client *client);
/* Bytes from the socket: decrypt (when TLS is on) and feed the parser. */
void c2s_tls_input(struct c2s_client *client, const char *data, size_t len);
/* Plaintext for the client: encrypt (when TLS is on) and queue it. */
void c2s_tls_output(struct c2s_client *client, const void *data, size_t len);
/* Send close_notify (when TLS is on) and queue what it produced. */
void c2s_tls_shutdown(struct c2s_client *client);
/* Feed plaintext to the parser (used by c2s_tls_input and for plaintext). */
void c2s_client_feed(struct c2s_client *client, const char *data, size_t len);

/* c2s-auth.c */
/* The <mechanisms/> feature for this client, appended to out. */
void c2s_auth_features(struct c2s_client *client, struct buf *out);
/* A negotiation element from a client that is not authenticated. */
void c2s_auth_handle(struct c2s_client *client, const struct stanza *st);
/* sm's answer to the credentials request (NULL: no answer in time). */
void c2s_auth_credentials(struct c2s_client *client, const struct stanza *reply);
/* A throttle hold is over: write the held answer. */
void c2s_auth_release(struct c2s_client *client);
void c2s_auth_clear(struct c2s_client *client);

/* c2s-throttle.c: failed logins per IP and per account. */
struct c2s_throttle *c2s_throttle_new(void);
void c2s_throttle_free(struct c2s_throttle **t);
/* How long to hold the answer to an attempt for key (0: none). */
uint64_t c2s_throttle_delay_ms(struct c2s_throttle *t, const char *key, uint64_t now_ms);
void c2s_throttle_failure(struct c2s_throttle *t, const char *key, uint64_t now_ms);
void c2s_throttle_success(struct c2s_throttle *t, const char *key);
/* Forget entries idle for longer than the window. */
void c2s_throttle_expire(struct c2s_throttle *t, uint64_t now_ms);

/* c2s-flow.c: backpressure. */
/* Stop reading the client for reason (an enum c2s_pause bit), or drop
 * that reason and read again when none is left. */
void c2s_flow_pause(struct c2s_client *client, unsigned reason);
void c2s_flow_resume(struct c2s_client *client, unsigned reason);
/* Bytes were queued for the client. */
void c2s_flow_output(struct c2s_client *client);
/* The client's output queue drained (conn's drained callback). */
void c2s_flow_drained(struct c2s_client *client);
/* A stanza was queued on the router link; the link drained. */
void c2s_flow_link_sent(struct c2s *c2s);
void c2s_flow_link_drained(struct c2s *c2s);
/* client sent a stanza of `bytes` to `to`; one from `from` of `bytes` was
 * written to client. */
void c2s_flow_sent_to(struct c2s_client *client, const char *to, size_t bytes);
void c2s_flow_delivered(struct c2s_client *client, const char *from, size_t bytes);
/* The JID index of established sessions, and leaving it. */
void c2s_flow_established(struct c2s_client *client);
void c2s_flow_forget(struct c2s_client *client);
/* Timer: resume whatever a missed drained event left paused. */
void c2s_flow_tick(struct c2s *c2s);

/* c2s-bind.c */
/* A stanza from an authenticated client that is not yet established. */
void c2s_bind_handle(struct c2s_client *client, struct stanza *st);
/* sm's answer to the session start (NULL: no answer in time). */
void c2s_bind_session_reply(struct c2s_client *client, const struct stanza *reply);

/* c2s-stanza.c */
/* A stanza from an established session. */
void c2s_stanza_handle(struct c2s_client *client, struct stanza *st);

/* c2s-http.c: [c2s] http_listen: WebSocket, BOSH, XEP-0156 host-meta. */
int c2s_http_start(struct c2s *c2s, char *err, size_t errlen);
void c2s_http_stop(struct c2s *c2s);
/* Timer: drop HTTP connections idle without a session too long. */
void c2s_http_tick(struct c2s *c2s, uint64_t now_ms);

/* c2s-register.c: XEP-0077 before authentication, relayed to sm. */
/* The <register/> stream feature, when registration is on and TLS is up. */
void c2s_register_features(struct c2s_client *client, struct buf *out);
/* A stanza from a client that has not authenticated: true when it was a
 * jabber:iq:register iq, now answered or relayed to sm. */
bool c2s_register_handle(struct c2s_client *client, const struct stanza *st);
/* sm's answer (NULL: no answer in time). */
void c2s_register_reply(struct c2s_client *client, const struct stanza *reply);

/* c2s-sm.c */
/* A new iq request to sm on the client's behalf (its id remembered, the
 * client now waiting for `wait`); the caller adds the payload and sends. */
struct stanza *c2s_sm_request(struct c2s_client *client, const char *type, const char *to,
			      enum c2s_wait wait);
int c2s_sm_start(struct c2s *c2s);
void c2s_sm_stop(struct c2s *c2s);
/* Send a stanza to the router; false when the link's queue is full. */
bool c2s_sm_send(struct c2s *c2s, const struct stanza *st);
/* Ask sm for username's credentials (SCRAM hash name "SHA-1"/"SHA-256"). */
void c2s_sm_request_credentials(struct c2s_client *client, const char *username,
				const char *hash);
void c2s_sm_session_start(struct c2s_client *client);
/* Tell sm the session is over (no-op unless session_sent). */
void c2s_sm_session_end(struct c2s_client *client);
/* Hand a client's stanza (from already stamped) to sm, wrapped. */
void c2s_sm_from_client(struct c2s_client *client, const struct stanza *st);
/* A pending request got no answer in time. */
void c2s_sm_timeout(struct c2s_client *client);
/* out (a client's stanza as sent to the router, or its <from-client/>
 * envelope, or an error reply to either) goes back to the client as an
 * error of type/condition; nothing for presence. */
void c2s_sm_bounce_to_client(struct c2s_client *client, const struct stanza *out,
			     const char *type, const char *condition);

/* c2s-hold.c: stanzas for a users' domain while no sm serves it. */
/* Hold out (on its way to the router) if its 'to' is a users' domain no
 * trusted stream holds; true when it was taken (held, or refused with an
 * error to the client because the queue is full). Takes a reference. */
bool c2s_hold(struct c2s_client *client, struct stanza *out);
/* domain is served again: send what waits for it, in order. */
void c2s_hold_release(struct c2s *c2s, const char *domain);
/* Timer: return what waited longer than sm_queue_timeout as errors. */
void c2s_hold_tick(struct c2s *c2s);
void c2s_hold_clear(struct c2s *c2s);

#endif
