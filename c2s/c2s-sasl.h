/* c2s-sasl.h: the server side of SASL for client streams (RFC 6120 section 6): SCRAM-SHA-1/-256
 * and their -PLUS variants (RFC 5802, 7677, XEP-0440) and PLAIN (RFC 4616) over TLS.
 *
 * A pure state machine on c2s's loop: no I/O, no XML, no base64 of the XMPP layer. The stream
 * code decodes <auth/> and <response/> (c2s_sasl_decode()), feeds the bytes to c2s_sasl_step()
 * and encodes what comes back into <challenge/> or <success/>. c2s never sees a password store:
 * on C2S_SASL_NEED_CREDENTIALS it asks sm for the account's SCRAM credentials and, when they
 * arrive (or not), calls c2s_sasl_set_credentials(); PLAIN is checked against them too. One
 * struct c2s_sasl per attempt, owned by the stream; free it on success, failure or <abort/>.
 *
 *   c2s_sasl_tls_from(tls, &ti); n = c2s_sasl_mechanisms(&cfg, &ti, names);   // stream features
 *   r = c2s_sasl_new(mech, &cfg, &ti, &s);            // <auth mechanism=mech>
 *   r = c2s_sasl_step(s, data, len, &out);           // NEED_CREDENTIALS: ask sm for username
 *   r = c2s_sasl_set_credentials(s, cred_or_NULL, &out);   // CONTINUE: <challenge>, step again
 *   // SUCCESS: <success>out</success>; r < 0: <failure><c2s_sasl_condition(r)/></failure>
 */
#ifndef JUNCTION_C2S_SASL_H
#define JUNCTION_C2S_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "scram.h"
#include "tls.h"

struct buf;
struct c2s_sasl;

enum c2s_sasl_result {
	C2S_SASL_SUCCESS = 0,          /* authenticated: <success/> carrying out (may be empty) */
	C2S_SASL_CONTINUE = 1,         /* send out as <challenge/>; feed the <response/> to step */
	C2S_SASL_NEED_CREDENTIALS = 2, /* fetch c2s_sasl_username()'s credentials, then set them */
	/* Failures, each one RFC 6120 section 6.5 condition (c2s_sasl_condition()). */
	C2S_SASL_NOT_AUTHORIZED = -1,
	C2S_SASL_INVALID_AUTHZID = -2,
	C2S_SASL_MALFORMED_REQUEST = -3,
	C2S_SASL_INVALID_MECHANISM = -4,
	C2S_SASL_ENCRYPTION_REQUIRED = -5,
	C2S_SASL_TEMPORARY_AUTH_FAILURE = -6,
	C2S_SASL_INCORRECT_ENCODING = -7,
	C2S_SASL_MECHANISM_TOO_WEAK = -8,
};

#define C2S_SASL_MAX_MECHANISMS 5
/* Longest decoded message accepted by c2s_sasl_step(); real ones are a few hundred bytes. */
#define C2S_SASL_MAX_INPUT 4096

/* Per-listener settings. c2s_sasl_new() copies what it needs: cfg need not outlive s. */
struct c2s_sasl_config {
	const char *domain; /* the stream's domain, for authzid checks; never NULL */
	/* Key for the fake salts shown for unknown accounts: at least 16 random bytes, the same
	 * across restarts and across c2s instances, or salts would reveal which accounts exist. */
	const unsigned char *secret;
	size_t secret_len;
	/* Iteration count shown for unknown accounts: the one new accounts get (0 means
	 * SCRAM_MIN_ITERATIONS). */
	unsigned iterations;
	bool plain_allowed; /* offer PLAIN, never without TLS */
	bool sha1_disabled; /* refuse SCRAM-SHA-1 and -PLUS with mechanism-too-weak, don't offer */
};

/* What SASL needs to know about the stream's TLS. A zero value means "not encrypted". A
 * channel binding of length 0 is unavailable; -PLUS is offered when either one is available. */
struct c2s_sasl_tls {
	bool active;
	unsigned char exporter[TLS_CHANNEL_BINDING_MAX]; /* tls-exporter */
	size_t exporter_len;
	unsigned char server_end_point[TLS_CHANNEL_BINDING_MAX]; /* tls-server-end-point */
	size_t server_end_point_len;
};

/* Fill info_r from a connection whose handshake completed: active, and whichever channel
 * bindings tls_channel_binding() gives. t NULL or still handshaking: a zero value. Take it once,
 * before listing mechanisms, and pass the same value to c2s_sasl_new(): the downgrade check
 * relies on the mechanisms offered and the ones checked being computed from the same data. */
void c2s_sasl_tls_from(struct tls *t, struct c2s_sasl_tls *info_r);

/* The mechanisms to offer, strongest first, as static strings into names_r; returns how many.
 * -PLUS only with channel binding data, PLAIN only over TLS and when allowed. tls may be NULL. */
size_t c2s_sasl_mechanisms(const struct c2s_sasl_config *cfg, const struct c2s_sasl_tls *tls,
			   const char *names_r[C2S_SASL_MAX_MECHANISMS]);
/* The channel-binding types available, for XEP-0440's <sasl-channel-binding/> feature. */
size_t c2s_sasl_channel_bindings(const struct c2s_sasl_tls *tls, const char *names_r[2]);

/* Start an attempt with the mechanism the client named. 0 and *sasl_r, or, with *sasl_r NULL:
 * C2S_SASL_INVALID_MECHANISM (unknown or not offered), C2S_SASL_ENCRYPTION_REQUIRED (PLAIN or
 * -PLUS without TLS), C2S_SASL_MECHANISM_TOO_WEAK (SHA-1 disabled). */
int c2s_sasl_new(const char *mechanism, const struct c2s_sasl_config *cfg,
		 const struct c2s_sasl_tls *tls, struct c2s_sasl **sasl_r);
void c2s_sasl_free(struct c2s_sasl **s);

/* Feed one client message, already base64-decoded: the initial response of <auth/>, then each
 * <response/>. in == NULL means <auth/> had no text at all (no initial response; a zero-length
 * one, "=", is in != NULL with in_len 0): the answer is C2S_SASL_CONTINUE with an empty
 * challenge. out is reset, then receives the challenge or success data. Returns a value of
 * enum c2s_sasl_result; after a failure or success the attempt is over. */
int c2s_sasl_step(struct c2s_sasl *s, const unsigned char *in, size_t in_len, struct buf *out);

/* After C2S_SASL_NEED_CREDENTIALS: the account's credentials for c2s_sasl_hash(s), or NULL
 * when the account does not exist, the username does not nodeprep, or it has none for that
 * hash (never fail early: unknown accounts get a consistent fake challenge and fail only at the
 * proof). Copied. SCRAM: C2S_SASL_CONTINUE with the server-first message. PLAIN: the password
 * is derived with the stored salt and iterations and StoredKey compared in constant time
 * (one PBKDF2 run on the caller's loop): C2S_SASL_SUCCESS or C2S_SASL_NOT_AUTHORIZED.
 * Credentials below SCRAM_MIN_ITERATIONS or otherwise inconsistent:
 * C2S_SASL_TEMPORARY_AUTH_FAILURE. */
int c2s_sasl_set_credentials(struct c2s_sasl *s, const struct scram_credentials *cred,
			     struct buf *out);

/* Which hash's credentials to fetch. PLAIN says SCRAM_SHA256 but accepts either. */
enum scram_hash c2s_sasl_hash(const struct c2s_sasl *s);
/* The authcid as the client sent it (SCRAM's =2C/=3D undone), valid UTF-8 without NUL, or NULL
 * before it is known. Not normalised: nodeprep it before looking the account up. Lives as long
 * as s. The authorization identity is always this account: a differing authzid fails. */
const char *c2s_sasl_username(const struct c2s_sasl *s);
/* The mechanism's name, e.g. "SCRAM-SHA-256-PLUS" (static). */
const char *c2s_sasl_mechanism(const struct c2s_sasl *s);
/* The channel-binding type the client used ("tls-exporter"), or NULL (static). */
const char *c2s_sasl_channel_binding(const struct c2s_sasl *s);
/* Why the attempt failed, for an info log line ("" when it has not); static. Never send it to
 * the client: it says whether a proof or a channel binding was wrong. */
const char *c2s_sasl_reason(const struct c2s_sasl *s);

/* The RFC 6120 condition element name for a negative result ("not-authorized"); NULL for
 * results that are not failures. */
const char *c2s_sasl_condition(int result);

/* XMPP's base64 for SASL elements: decode the text of <auth/> or <response/> into out (reset
 * first); "=" is a zero-length message. 0 or C2S_SASL_INCORRECT_ENCODING. Encode appends
 * base64 of data to out, nothing for zero bytes (an empty <challenge/> or <success/>). */
int c2s_sasl_decode(const char *text, size_t len, struct buf *out);
void c2s_sasl_encode(const unsigned char *data, size_t len, struct buf *out);

#endif
