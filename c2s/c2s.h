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
 * (stanzas of an established session), c2s-sm.c (the link to sm).
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
 * read what it is sent: it is disconnected rather than buffered for. */
#define C2S_CLIENT_QUEUE_LIMIT (1024 * 1024)
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

struct c2s_peer {
	char *name;
	unsigned holders; /* trusted streams holding it (shared names have several) */
	struct c2s_peer *next;
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
};

struct c2s_client {
	struct c2s *c2s;
	struct conn *conn;
	unsigned long id;
	struct xml_parser *parser;
	struct tls *tls;   /* NULL while plaintext */
	bool direct_tls;   /* accepted on listen_tls */
	bool restart;      /* reset the parser once xml_parser_feed returns */
	bool header_sent;  /* our header for the current stream is out */
	bool read_held;    /* reading stopped while an answer is held */
	enum c2s_client_state state;
	char stream_id[33];
	char *domain;      /* the stream's 'to', normalised; fixed after the first header */
	char ip[96];       /* the peer's address without the port, for throttling */
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
	char sid[48];

	struct c2s_client *prev, *next; /* c2s->clients */
	struct c2s_client *hash_next;   /* c2s->by_id bucket */
};

#define C2S_ID_BUCKETS 1024

struct c2s {
	uv_loop_t *loop;
	struct config *config;
	struct tls_ctx *tls_ctx;
	struct conn_listener *listener, *listener_tls;
	struct component *component;
	struct c2s_throttle *throttle;
	struct c2s_client *clients;
	struct c2s_client *by_id[C2S_ID_BUCKETS];
	uv_timer_t timer;
	uv_signal_t sig_term, sig_int, sig_hup;
	char *name; /* the component name */
	/* Names bound by trusted streams (Junction's own processes), from the
	 * router's watch events: only they may send <deliver/> and action='end'. */
	struct c2s_peer *peers;
	const char *const *domains;
	size_t n_domains;
	bool require_tls;
	uint64_t auth_timeout_ms;
	unsigned auth_max_failures; /* [c2s] auth_max_failures */
	struct xml_parser_limits limits;
	char instance[9]; /* random per process start: prefixes sids and iq ids */
	/* Key for SASL's fake salts: derived from [router] secret, so it is the
	 * same across restarts and across c2s instances. */
	unsigned char sasl_secret[SCRAM_MAX_KEY];
	bool stopping;
};

/* c2s-client.c */
int c2s_start(struct c2s *c2s, char *err, size_t errlen);
void c2s_stop(struct c2s *c2s);
/* Send a stream error (condition non-NULL) or a plain close, then close. */
void c2s_client_close(struct c2s_client *client, const char *condition, const char *text);
/* Queue bytes for the client (through TLS when it is on). */
void c2s_client_send(struct c2s_client *client, const void *data, size_t len);
/* Serialize a stanza in jabber:client and send it. */
void c2s_client_send_stanza(struct c2s_client *client, const struct stanza *st);
/* Answer a client's stanza with an error (nothing for type='error'). */
void c2s_client_error(struct c2s_client *client, const struct stanza *st, const char *type,
		      const char *condition, const char *text);
/* Stop reading (throttle hold) and start again. */
void c2s_client_hold(struct c2s_client *client);
void c2s_client_unhold(struct c2s_client *client);
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

/* c2s-bind.c */
/* A stanza from an authenticated client that is not yet established. */
void c2s_bind_handle(struct c2s_client *client, struct stanza *st);
/* sm's answer to the session start (NULL: no answer in time). */
void c2s_bind_session_reply(struct c2s_client *client, const struct stanza *reply);

/* c2s-stanza.c */
/* A stanza from an established session. */
void c2s_stanza_handle(struct c2s_client *client, struct stanza *st);

/* c2s-sm.c */
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

#endif
