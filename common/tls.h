/* tls.h: TLS for c2s and s2s over OpenSSL memory BIOs; the one file of Junction wrapping libssl.
 *
 * TLS never touches a socket. The connection layer reads bytes from the socket and hands them to
 * tls_feed_ciphertext(), takes decrypted bytes out with tls_read_plaintext(), queues application
 * data with tls_write_plaintext() and, once per loop turn, moves tls_take_ciphertext() into its
 * write queue. Every call runs to completion on the caller's loop: nothing blocks, nothing calls
 * back. Ciphertext can appear after any call that takes a non-const struct tls (handshake replies,
 * alerts, KeyUpdate answers), so drain it after each batch of calls, even after an error.
 *
 * A struct tls_ctx holds configuration (certificate, key, trust store); a struct tls is one
 * connection. Each struct tls keeps its own reference to the OpenSSL context it was made from, so
 * tls_ctx_reload() and tls_ctx_free() never disturb connections that already exist. Errors are
 * sticky: after TLS_ERROR every call fails again and tls_error_string() says why.
 *
 *   struct tls *t = tls_new(ctx, true, NULL);           // per accepted connection
 *   // socket readable:
 *   if ((r = tls_feed_ciphertext(t, sockbuf, n)) == TLS_OK)
 *           while ((r = tls_read_plaintext(t, pt, sizeof(pt))) > 0)
 *                   xml_parser_feed(p, pt, r);            // stops at 0: wait for more input
 *   tls_write_plaintext(t, reply, len);                   // any time, even mid-handshake
 *   tls_take_ciphertext(t, &conn->out);                   // every turn, even after an error
 *   // r == TLS_CLOSED: peer closed; TLS_ERROR: log tls_error_string(t); then close, tls_free(&t)
 */
#ifndef JUNCTION_TLS_H
#define JUNCTION_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct buf;
struct tls_ctx;
struct tls;

enum tls_result {
	TLS_OK = 0,
	TLS_ERROR = -1,  /* fatal: handshake failure, bad record, misuse; see tls_error_string() */
	TLS_CLOSED = -2, /* the peer sent close_notify, or we already sent ours (writes only) */
};

/* Longest channel binding tls_channel_binding() returns (tls-server-end-point with SHA-512). */
#define TLS_CHANNEL_BINDING_MAX 64

/* A server context presenting cert_path (PEM, leaf first, then any intermediates) with key_path
 * (PEM private key). Fails with a one-line message in err when a file is missing or unreadable or
 * the key does not match the certificate. */
int tls_ctx_new_server(const char *cert_path, const char *key_path, struct tls_ctx **ctx_r,
		       char *err, size_t errlen);
/* A client context trusting the PEM CAs in ca_file, or the system store when ca_file is NULL.
 * With verify_peer, a handshake fails unless the server's chain verifies and, when tls_new() was
 * given a name, the certificate matches it. Without, the handshake always proceeds and
 * tls_peer_verified()/tls_peer_check_name() report the result (s2s may fall back to dialback). */
int tls_ctx_new_client(const char *ca_file, bool verify_peer, struct tls_ctx **ctx_r, char *err,
		       size_t errlen);
/* Re-read certificate and key (SIGHUP); for a client context they become the client certificate
 * and ca_file is re-read too. All or nothing: on error ctx is unchanged. Only connections made
 * afterwards see the new files. */
int tls_ctx_reload(struct tls_ctx *ctx, const char *cert_path, const char *key_path, char *err,
		   size_t errlen);
void tls_ctx_free(struct tls_ctx **ctx);
/* Make a server context ask clients for a certificate (s2s: SASL EXTERNAL, XEP-0178), checked
 * against the PEM CAs in ca_file (NULL: the system store) but never required: the handshake goes
 * on either way, and tls_peer_verified()/tls_peer_check_name() report the result. A certificate
 * whose extended key usage allows TLS servers but not clients is accepted as a client's (server
 * certificates without clientAuth). Not kept across tls_ctx_reload(): call it again after one. */
int tls_ctx_request_client_cert(struct tls_ctx *ctx, const char *ca_file, char *err,
				size_t errlen);

/* Present another server context to a client whose SNI names a given host: pick(arg, name) is
 * called during the handshake with the (lower-cased) host name and returns the context to use,
 * or NULL (or ctx itself) to keep ctx. Certificate, key and client-certificate checks then come
 * from the picked context. pick must not free contexts; ctx must outlive its connections' handshakes.
 * Not kept across tls_ctx_reload(): call it again after one. */
typedef struct tls_ctx *(*tls_sni_pick_fn)(void *arg, const char *name);
void tls_ctx_set_sni(struct tls_ctx *ctx, tls_sni_pick_fn pick, void *arg);

/* One connection. is_server must match how ctx was made (assert). sni_hostname is NULL for a
 * server; for a client it may be NULL, else it is sent as SNI (unless an IP literal) and is the
 * name verify_peer checks. A client has its ClientHello ready to take as soon as this returns.
 * NULL if OpenSSL cannot allocate or sni_hostname is unusable (longer than 255 bytes). */
struct tls *tls_new(struct tls_ctx *ctx, bool is_server, const char *sni_hostname);
void tls_free(struct tls **t);

/* Bytes read from the socket. Advances the handshake; TLS_OK or TLS_ERROR. Application data is
 * kept until tls_read_plaintext() asks for it. */
int tls_feed_ciphertext(struct tls *t, const void *data, size_t len);
/* Up to cap decrypted bytes: > 0 bytes copied, 0 when more ciphertext is needed (or the handshake
 * is still running), TLS_CLOSED after the peer's close_notify, TLS_ERROR. Call until <= 0: one
 * feed can carry many records. */
ssize_t tls_read_plaintext(struct tls *t, void *out, size_t cap);
/* Queue application data (copied). Before the handshake completes it is buffered and sent as
 * soon as it does. TLS_OK, TLS_ERROR, or TLS_CLOSED after tls_shutdown(). */
int tls_write_plaintext(struct tls *t, const void *data, size_t len);
/* Ciphertext waiting to go to the socket, for the connection layer's backpressure. Plaintext
 * still held for the handshake is not counted. */
size_t tls_pending_ciphertext(const struct tls *t);
/* Append all waiting ciphertext to out; returns how many bytes were appended. */
size_t tls_take_ciphertext(struct tls *t, struct buf *out);
/* True once the handshake has completed, false again after a fatal error. */
bool tls_handshake_done(const struct tls *t);
/* Flush queued data and send close_notify. TLS_ERROR (nothing queued) if the handshake never
 * completed or the connection failed: then just close the socket. */
int tls_shutdown(struct tls *t);

/* True when the peer presented a certificate whose chain verified against the trust store. A
 * server context does not ask clients for certificates (unless tls_ctx_request_client_cert()), so
 * this is false on the server side. */
bool tls_peer_verified(const struct tls *t);
/* True when the peer's chain verified and its certificate is valid for name (DNS name via
 * subjectAltName, CN only when there is none, no partial wildcards; or an IP literal). */
bool tls_peer_check_name(const struct tls *t, const char *name);

/* Channel binding for SCRAM-*-PLUS, by its IANA name: "tls-exporter" (RFC 9266: the exporter with
 * label "EXPORTER-Channel-Binding", an empty context and 32 bytes; refused on TLS 1.2 without
 * extended master secret) or "tls-server-end-point" (RFC 5929: the server certificate hashed with
 * its signature's hash, SHA-256 in place of MD5 and SHA-1; refused for signatures without one,
 * such as Ed25519). Same bytes on both ends. TLS_ERROR before the handshake completes, for an
 * unknown or unavailable type, or when cap is too small (TLS_CHANNEL_BINDING_MAX always fits). */
int tls_channel_binding(struct tls *t, const char *type, unsigned char *out, size_t cap,
			size_t *len_r);

/* For logs: "TLSv1.3", and the cipher suite name ("(NONE)" before the handshake). Static
 * strings. */
const char *tls_version_string(const struct tls *t);
const char *tls_cipher_string(const struct tls *t);
/* Why the connection failed ("" if it has not); lives as long as t. */
const char *tls_error_string(const struct tls *t);

#endif
