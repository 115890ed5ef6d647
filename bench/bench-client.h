/* bench/bench-client.h: the XMPP client side shared by the load generators bench-c2s and
 * bench-pubsub: many clients on one libuv loop logging in over STARTTLS + SCRAM with resource
 * binding and initial presence, a byte scanner for the server's top-level elements, batched
 * writes, phases with --pause, and the options every generator has. A generator sets the hooks
 * in struct gen and does its own work once its clients are logged in.
 */
#ifndef JUNCTION_BENCH_CLIENT_H
#define JUNCTION_BENCH_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "buf.h"
#include "scram.h"
#include "tls.h"

#define GEN_READ_BUF (64 * 1024)
#define GEN_MAX_CLIENTS 200000
#define GEN_SCRAM_CACHE 4096 /* buckets */

/* Options every generator has (gen_common_option() parses them). */
struct gen_options {
	const char *host;
	unsigned port;
	const char *domain;
	const char *prefix;
	const char *password;
	const char *ca_file;
	enum scram_hash hash;
	unsigned concurrency;
	unsigned timeout;
	bool pause;
	bool verbose;
};

enum client_state {
	ST_CONNECTING,
	ST_FEATURES_PLAIN, /* waiting for the first <stream:features> */
	ST_PROCEED,        /* sent <starttls/> */
	ST_FEATURES_TLS,   /* TLS up, waiting for features with SASL */
	ST_CHALLENGE,      /* sent <auth/> */
	ST_SUCCESS,        /* sent <response/> */
	ST_FEATURES_AUTH,  /* restarted after <success/> */
	ST_BIND,           /* sent the bind iq */
	ST_READY,          /* bound, initial presence sent */
	ST_CLOSED,
};

struct scram_entry;
struct gen;

struct client {
	uv_tcp_t tcp;
	struct gen *g;
	unsigned index;
	unsigned account;
	char resource[24];
	enum client_state state;
	bool auth_only;  /* prewarm: close after <success/> */
	bool dirty;      /* on the flush list */
	bool writing;    /* a uv_write is in flight */
	bool handle_open;
	bool restart;    /* the element just handled restarts the stream: drop the rest of in */
	uv_connect_t creq;
	struct tls *tls;
	struct buf in;   /* plaintext received, not yet scanned */
	size_t scan;     /* next byte of in to look at */
	size_t el_start; /* start of the current top-level element in in */
	int depth;       /* 0: before the stream header, 1: between top-level elements */
	struct buf out;  /* bytes for the socket (ciphertext once TLS is up) */
	struct buf wbuf; /* bytes of the uv_write in flight */
	uv_write_t wreq;
	char nonce[40];
	struct buf auth_message;
	unsigned char server_signature[SCRAM_MAX_KEY];
	char *full_jid;
	/* for the generator's own use */
	struct client *partner;
	uint64_t to_send;
	uint64_t sent;
	uint64_t inflight;
};

struct gen {
	struct gen_options opt;
	uv_loop_t *loop;
	struct tls_ctx *tls_ctx;
	struct sockaddr_in addr;
	struct client **clients;
	unsigned nclients;
	struct client **prewarm_clients; /* kept: their handles may still be closing */
	unsigned next_connect;  /* next client index to connect */
	unsigned connecting;    /* logins in progress */
	unsigned ready;         /* logins completed */
	unsigned failed;
	unsigned dropped;       /* ready sessions the server closed later */
	const char *phase;      /* e.g. "prewarm", "login", "chat", "hold" */
	bool fail_fatal;        /* a failed or dropped client ends the process */
	struct client **dirty;
	unsigned ndirty;
	uv_idle_t flush_idle;
	uv_timer_t timeout_timer;
	uv_timer_t settle_timer;
	uv_signal_t sig_usr1, sig_term, sig_int;
	void (*on_resume)(struct gen *g);
	char readbuf[GEN_READ_BUF];
	struct buf scratch;
	struct scram_entry *scram_cache[GEN_SCRAM_CACHE];
	unsigned scram_computed;
	uint64_t login_start_ns, login_end_ns;
	double login_cpu_start;
	/* Hooks, set by the generator. */
	void (*on_logins_done)(struct gen *g); /* every client of make_clients() ready or failed */
	void (*on_stanza)(struct client *c, const char *el, size_t len, uint64_t now); /* ready */
	void (*on_flush)(struct client *c); /* a ready client is about to be written */
	void (*on_timeout)(struct gen *g);  /* a phase timed out: report what there is */
};

double gen_cpu_seconds(void);
void gen_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Byte scanning of one element [el, el+len). */
const char *find_n(const char *hay, size_t len, const char *needle);
const char *attr_value(const char *tag, size_t len, const char *name, size_t *vlen);
bool attr_is(const char *tag, size_t len, const char *name, const char *want);
const char *inner_text(const char *el, size_t len, const char *open, size_t *tlen);

void mark_dirty(struct client *c);
void client_send(struct client *c, const char *data, size_t len);
void client_sendf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void client_close(struct client *c);
void client_fail(struct client *c, const char *why, const char *el, size_t len);

/* New clients 0..n-1 (save g->clients first if it is still needed); client k is account
 * k mod accounts with resource res, followed by k / accounts when numbered. */
void make_clients(struct gen *g, unsigned n, unsigned accounts, const char *res, bool numbered,
		  bool auth_only);
void start_logins(struct gen *g);

void phase_timeout_start(struct gen *g, const char *phase);
/* Ends a phase: with --pause, print "#pause NAME" and wait for SIGUSR1 before resume(); else
 * go on after settle_ms. */
void phase_pause(struct gen *g, const char *name, void (*resume)(struct gen *),
		 unsigned settle_ms);

/* Sorts lat[0..n) and returns its p50 and p99 in milliseconds (0 when n is 0). */
void gen_percentiles(uint64_t *lat, uint64_t n, double *p50_ms, double *p99_ms);

unsigned parse_uint(const char *opt, const char *v, unsigned long min, unsigned long max);
void gen_default_options(struct gen_options *o);
/* Parses a common option (a flag, or name + value); false if name is not one. */
bool gen_common_flag(struct gen_options *o, const char *name);
bool gen_common_option(struct gen_options *o, const char *name, const char *v);
extern const char GEN_COMMON_USAGE[];
/* Parses argv: -h/--help (usage(stdout), exit), the common options, then the generator's own
 * flags (flag() true if it took the name) and options (option() true if it took name + v);
 * anything else ends the process. A missing --port prints usage(stderr) and exits 2. */
void gen_parse_args(int argc, char **argv, struct gen_options *o, void (*usage)(FILE *f),
		    bool (*flag)(const char *name), bool (*option)(const char *name, const char *v));
/* Checks the common options, sets up the loop, TLS, timers, signals and a descriptor limit of
 * at least need_fds. */
void gen_init(struct gen *g, unsigned need_fds);

#endif
