/* s2s.h: junction-s2s's shared state and the functions its files offer
 * each other.
 *
 * junction-s2s holds the router's default route: every stanza for a domain
 * no local component serves reaches it, and it carries it to the remote
 * server over an RFC 6120 server-to-server stream. It also accepts streams
 * from remote servers and hands their stanzas to the router, for any domain
 * the router serves (users' domains, components such as pubsub, gateways).
 *
 * One process, one libuv loop, no threads. struct s2s owns the listeners,
 * the TLS contexts, the resolver, the component link, every outgoing stream
 * (struct s2s_out, one per local-domain/remote-domain pair) and every
 * incoming one (struct s2s_in). Both kinds carry their connection, TLS and
 * parser in a struct s2s_link (s2s-link.c), which turns bytes into parser
 * events and back.
 *
 * Files: main.c (start-up, signals, timer), s2s-router.c (the component
 * link: stanzas to and from the router, bounces, which domains are served),
 * s2s-resolve.c and s2s-cares.c (where a domain's server is),
 * s2s-certs.c (which certificate for which domain),
 * s2s-dialback.c (XEP-0220/XEP-0185 keys), s2s-link.c (conn + TLS + parser),
 * s2s-out.c (outgoing streams: connect, STARTTLS, dialback, queue, bounce),
 * s2s-in.c (incoming streams: STARTTLS, dialback, stanza checks).
 */
#ifndef JUNCTION_S2S_H
#define JUNCTION_S2S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "config.h"
#include "xml-parser.h"

#define S2S_NS_DIALBACK "jabber:server:dialback"
#define S2S_NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define S2S_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define S2S_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define S2S_NS_EXT "urn:junction:component:1"

/* How long a closing stream's output may take to flush. */
#define S2S_LINGER_MS 2000
#define S2S_TLS_READ_CHUNK 16384
/* A peer that does not read: its stream is closed past this many bytes. */
#define S2S_OUTPUT_LIMIT (4 * 1024 * 1024)
/* Dialback key: hex of HMAC-SHA-256. */
#define S2S_DB_KEY_LEN 64

struct component;
struct conn;
struct conn_listener;
struct s2s_in;
struct s2s_cert;
struct s2s_out;
struct s2s_resolver;
struct stanza;
struct tls;
struct tls_ctx;

/* A name bound at the router (watch events), so served here. */
struct s2s_name {
	char *name;
	unsigned holders;
	struct s2s_name *next;
};

struct s2s {
	uv_loop_t *loop;
	struct config *config;
	struct component *component;
	struct s2s_resolver *resolver;
	struct tls_ctx *tls_server; /* NULL: no certificate, no TLS offered */
	struct tls_ctx *tls_client;
	struct s2s_cert *certs; /* per-domain pairs from [s2s] tls_dir (s2s-certs.c) */
	struct conn_listener *listener, *listener_tls;
	struct s2s_out *outs;
	struct s2s_in *ins;
	struct s2s_name *names;
	char *name; /* the component name */
	unsigned char db_secret[32];
	bool require_tls, require_valid_cert;
	uint64_t idle_timeout_ms, connect_timeout_ms;
	size_t queue_limit;
	struct xml_parser_limits limits;
	uv_timer_t timer;
	uv_signal_t sig_term, sig_int, sig_hup;
	bool stopping;
	struct metrics *metrics; /* s2s-metrics.c; NULL when off */
};

/* ---- s2s-link.c: one stream's connection, TLS and parser ------------------ */

struct s2s_link;

struct s2s_link_ops {
	int (*open)(struct s2s_link *link, const struct xml_parser_stream_open *open);
	/* A top-level element (tree). Return non-zero to stop reading this chunk. */
	int (*element)(struct s2s_link *link, struct stanza *st);
	void (*close)(struct s2s_link *link);                /* </stream:stream> or EOF/error */
	void (*freed)(struct s2s_link *link);                /* the conn is gone: free owner */
};

struct s2s_link {
	struct s2s *s2s;
	struct conn *conn;
	unsigned long id;
	struct tls *tls;
	struct xml_parser *parser;
	const struct s2s_link_ops *ops;
	void *owner;
	bool restart;  /* reset the parser once the current feed returns */
	bool closing;
	uint64_t last_ms; /* last traffic either way */
};

void s2s_link_start(struct s2s_link *link, struct s2s *s2s, struct conn *conn,
		    const struct s2s_link_ops *ops, void *owner);
/* Start TLS on the link: server side, or client side naming sni; with the
 * certificate of our domain (NULL: the default one). */
int s2s_link_tls(struct s2s_link *link, bool server, const char *domain, const char *sni);
void s2s_link_send(struct s2s_link *link, const void *data, size_t len);
/* Serialize a stanza in jabber:server (renamed from the component
 * namespace) and send it; returns the bytes sent. */
size_t s2s_link_send_stanza(struct s2s_link *link, const struct stanza *st);
/* Stream error (condition non-NULL) or plain close, then close the conn. */
void s2s_link_close(struct s2s_link *link, const char *condition, const char *text);
/* Close the conn at once (nothing more is written). */
void s2s_link_abort(struct s2s_link *link);
/* Restart the stream after STARTTLS: the parser resets after this feed. */
void s2s_link_restart(struct s2s_link *link);

/* ---- s2s-certs.c --------------------------------------------------------- */

/* The TLS context to use for our domain (server side, or client side),
 * NULL when there is no certificate at all. */
struct tls_ctx *s2s_certs_ctx(struct s2s *s2s, const char *domain, bool server);
/* Let the client's SNI name pick the certificate on direct TLS (with [s2s] tls_dir). */
void s2s_certs_sni(struct s2s *s2s);
void s2s_certs_free(struct s2s *s2s);

/* ---- s2s-dialback.c ------------------------------------------------------ */

/* XEP-0185: hex(HMAC-SHA-256(SHA-256(secret), receiving ' ' originating
 * ' ' stream id)) into out (S2S_DB_KEY_LEN + 1 bytes). */
void s2s_dialback_key(const struct s2s *s2s, const char *receiving, const char *originating,
		      const char *stream_id, char *out);
/* Derive s2s->db_secret from [s2s] dialback_secret or [router] secret. */
void s2s_dialback_init(struct s2s *s2s);
/* Constant-time check of a key received from a peer. */
bool s2s_dialback_check(const struct s2s *s2s, const char *receiving, const char *originating,
			const char *stream_id, const char *key);

/* ---- s2s-router.c -------------------------------------------------------- */

int s2s_router_start(struct s2s *s2s);
void s2s_router_stop(struct s2s *s2s);
/* Hand a stanza from a remote server to the router. */
void s2s_router_send(struct s2s *s2s, const struct stanza *st);
/* Send the error reply to st back through the router (not for errors). */
void s2s_bounce(struct s2s *s2s, const struct stanza *st, const char *type,
		const char *condition, const char *text);
/* Does this deployment serve domain (normalised)? */
bool s2s_serves(const struct s2s *s2s, const char *domain);
/* The domain part of a JID, normalised and newly allocated; NULL if invalid. */
char *s2s_jid_domain(const char *jid);

/* ---- s2s-out.c ----------------------------------------------------------- */

/* The stream for (local, remote), made if needed. */
struct s2s_out *s2s_out_get(struct s2s *s2s, const char *local, const char *remote);
/* Send or queue (st is copied). */
void s2s_out_send(struct s2s_out *out, const struct stanza *st);
/* Ask remote, as authority for its domain, whether key is valid for the
 * stream id; the answer goes to the incoming stream with link id in_id. */
void s2s_out_verify(struct s2s_out *out, unsigned long in_id, const char *id, const char *key);
/* Timeouts and idle streams; from the timer. */
void s2s_out_tick(struct s2s *s2s, uint64_t now);
void s2s_out_stop_all(struct s2s *s2s);

/* ---- s2s-in.c ------------------------------------------------------------ */

void s2s_in_accept(struct conn *conn, void *ctx);
void s2s_in_accept_tls(struct conn *conn, void *ctx);
/* The answer to a verify asked for the incoming stream in_id (it may be
 * gone): remote is now (or is not) authenticated to send as remote to
 * local on it. */
void s2s_in_verified(struct s2s *s2s, unsigned long in_id, const char *local, const char *remote,
		     bool valid);
void s2s_in_tick(struct s2s *s2s, uint64_t now);
void s2s_in_stop_all(struct s2s *s2s);

/* main.c */
/* Every stream is gone and the process is stopping: close the rest. */
void s2s_maybe_finish(struct s2s *s2s);

/* ---- s2s-metrics.c: Prometheus metrics ---------------------------------- */
void s2s_metrics_start(struct s2s *s2s);
void s2s_metrics_stop(struct s2s *s2s);

#endif
