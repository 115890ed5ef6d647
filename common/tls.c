/* common/tls.c: the TLS wrapper of tls.h, OpenSSL driven through one BIO of our own.
 *
 * The BIO is the SSL's rbio and wbio at once: OpenSSL reads the ciphertext tls_feed_ciphertext()
 * put in `in` and writes what it produces to `out`, where tls_take_ciphertext() takes it. Neither
 * ever blocks and both grow as needed, so the only "would block" left is SSL wanting more input.
 * Both buffers are released as soon as they are empty (memory BIOs keep theirs at their
 * high-water mark, which every idle connection would pay for). Plaintext written before the
 * handshake ends waits in plain_out, because OpenSSL cannot accept application data until then.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* TLS 1.2 suites: forward secret key exchange (ECDHE) and AEAD only. TLS 1.3 suites are all
 * AEAD with ephemeral key exchange, so OpenSSL's defaults stay. */
#define TLS_CIPHERS_TLS12                                                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

#define TLS_EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define TLS_EXPORTER_LEN 32

/* SSL_read/SSL_write take int lengths. */
#define TLS_IO_CHUNK (1 << 30)
/* Room for tls_error_string(), allocated on the first error only. */
#define TLS_ERR_MAX 256

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	bool is_server;
	bool verify_peer; /* client only */
	char *ca_file;    /* client only; NULL: the system store */
	tls_sni_pick_fn sni_pick; /* server only; NULL: always this context */
	void *sni_arg;
};

struct tls {
	SSL *ssl;
	struct buf in;	      /* ciphertext fed, not yet read by OpenSSL from in_pos on */
	size_t in_pos;
	struct buf out;	      /* ciphertext OpenSSL wrote, not yet taken */
	struct buf plain_out; /* application data OpenSSL could not take yet */
	bool is_server;
	bool failed;
	bool peer_closed;
	bool shutdown_sent;
	char *err; /* TLS_ERR_MAX bytes once something failed, else NULL */
};

/* The reason text of one queued OpenSSL error, e.g. "no such file" or "unsupported protocol". */
static const char *tls_reason(unsigned long e, char *tmp, size_t tmplen)
{
	const char *s;

#ifdef ERR_SYSTEM_ERROR
	/* OpenSSL 3 packs errno into system errors and has no reason string for them. */
	if (ERR_SYSTEM_ERROR(e))
		return strerror((int)ERR_GET_REASON(e));
#endif
	s = ERR_reason_error_string(e);
	if (s != NULL)
		return s;
	ERR_error_string_n(e, tmp, tmplen);
	return tmp;
}

/* Drain this thread's OpenSSL error queue into "prefix: reason". The first queued error is the
 * cause (a missing file, an unsupported version); the rest say where it surfaced ("PEM lib").
 * Draining matters as much as formatting: a stale error would confuse the next SSL_get_error(). */
static void tls_collect_errors(char *out, size_t outlen, const char *prefix, bool *verify_failed_r)
{
	unsigned long first = ERR_get_error(), e;
	char tmp[128];

	if (verify_failed_r != NULL)
		*verify_failed_r = false;
	for (e = first; e != 0; e = ERR_get_error()) {
		if (verify_failed_r != NULL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
			*verify_failed_r = true;
	}
	if (first == 0)
		snprintf(out, outlen, "%s: unknown OpenSSL error", prefix);
	else if (ERR_GET_LIB(first) == ERR_LIB_PEM && ERR_GET_REASON(first) == PEM_R_NO_START_LINE)
		snprintf(out, outlen, "%s: no PEM data (no \"-----BEGIN\" line)", prefix);
	else
		snprintf(out, outlen, "%s: %s", prefix, tls_reason(first, tmp, sizeof(tmp)));
}

/* ---- contexts ------------------------------------------------------------------------------- */

/* A fully configured SSL_CTX, or NULL with err set. cert_path/key_path may be NULL (a client
 * without a certificate). Building a whole new SSL_CTX is what makes tls_ctx_reload() atomic. */
static SSL_CTX *tls_ctx_build(bool is_server, const char *ca_file, bool verify_peer,
			      const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	SSL_CTX *c;

	ERR_clear_error();
	c = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
	if (c == NULL) {
		tls_collect_errors(err, errlen, "SSL_CTX_new", NULL);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(c, TLS_CIPHERS_TLS12) != 1) {
		tls_collect_errors(err, errlen, "TLS settings", NULL);
		goto fail;
	}
	/* Compression invites CRIME; renegotiation brings its own attacks and nothing XMPP needs.
	 * Resumption is off (no tickets, no cache): it would need ticket key rotation across
	 * processes, and a resumed TLS 1.2 session weakens channel binding. */
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(c, 0);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	/* RELEASE_BUFFERS: most XMPP connections idle, so drop the 34 KB of record buffers between
	 * records. ACCEPT_MOVING_WRITE_BUFFER: a retried SSL_write may come from plain_out after it
	 * was reallocated. */
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

	if (cert_path != NULL) {
		/* Key first: a certificate loaded after a key of another certificate quietly drops
		 * that key, so any mismatch surfaces below as one clear message. */
		if (SSL_CTX_use_PrivateKey_file(c, key_path, SSL_FILETYPE_PEM) != 1) {
			tls_collect_errors(err, errlen, key_path, NULL);
			goto fail;
		}
		if (SSL_CTX_use_certificate_chain_file(c, cert_path) != 1) {
			tls_collect_errors(err, errlen, cert_path, NULL);
			goto fail;
		}
		if (SSL_CTX_check_private_key(c) != 1) {
			ERR_clear_error();
			snprintf(err, errlen,
				 "%s: private key does not match the certificate in %s", key_path,
				 cert_path);
			goto fail;
		}
	}
	if (!is_server) {
		/* The trust store is loaded even without verify_peer so that tls_peer_verified()
		 * can still report the result. */
		int ok = ca_file != NULL ? SSL_CTX_load_verify_locations(c, ca_file, NULL)
					 : SSL_CTX_set_default_verify_paths(c);
		if (ok != 1) {
			const char *what = ca_file != NULL ? ca_file : "system CA store";
			tls_collect_errors(err, errlen, what, NULL);
			goto fail;
		}
		SSL_CTX_set_verify(c, verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
		X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(c),
						X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}
	return c;

fail:
	SSL_CTX_free(c);
	return NULL;
}

int tls_ctx_new_server(const char *cert_path, const char *key_path, struct tls_ctx **ctx_r,
		       char *err, size_t errlen)
{
	SSL_CTX *c;

	assert(cert_path != NULL && key_path != NULL);
	*ctx_r = NULL;
	c = tls_ctx_build(true, NULL, false, cert_path, key_path, err, errlen);
	if (c == NULL)
		return TLS_ERROR;
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->ssl_ctx = c;
	ctx->is_server = true;
	*ctx_r = ctx;
	return TLS_OK;
}

int tls_ctx_new_client(const char *ca_file, bool verify_peer, struct tls_ctx **ctx_r, char *err,
		       size_t errlen)
{
	SSL_CTX *c;

	*ctx_r = NULL;
	c = tls_ctx_build(false, ca_file, verify_peer, NULL, NULL, err, errlen);
	if (c == NULL)
		return TLS_ERROR;
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->ssl_ctx = c;
	ctx->is_server = false;
	ctx->verify_peer = verify_peer;
	ctx->ca_file = ca_file != NULL ? xstrdup(ca_file) : NULL;
	*ctx_r = ctx;
	return TLS_OK;
}

int tls_ctx_reload(struct tls_ctx *ctx, const char *cert_path, const char *key_path, char *err,
		   size_t errlen)
{
	SSL_CTX *c;

	assert(cert_path != NULL && key_path != NULL);
	c = tls_ctx_build(ctx->is_server, ctx->ca_file, ctx->verify_peer, cert_path, key_path, err,
			  errlen);
	if (c == NULL)
		return TLS_ERROR;
	/* Every SSL holds a reference on the SSL_CTX it came from, so live connections keep the
	 * old one alive and unchanged; this drops only our reference. */
	SSL_CTX_free(ctx->ssl_ctx);
	ctx->ssl_ctx = c;
	return TLS_OK;
}

void tls_ctx_free(struct tls_ctx **ctx)
{
	if (*ctx == NULL)
		return;
	SSL_CTX_free((*ctx)->ssl_ctx);
	free((*ctx)->ca_file);
	free(*ctx);
	*ctx = NULL;
}

/* OpenSSL's servername callback: switch the connection to the context picked for the name. A
 * missing or unusable name keeps the default; the handshake never fails here. */
static int tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_ctx *ctx = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char lower[256];
	size_t i, n;

	(void)alert;
	if (name == NULL || ctx->sni_pick == NULL || (n = strlen(name)) >= sizeof(lower))
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i <= n; i++)
		lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	struct tls_ctx *other = ctx->sni_pick(ctx->sni_arg, lower);
	if (other != NULL && other->ssl_ctx != SSL_get_SSL_CTX(ssl) &&
	    SSL_set_SSL_CTX(ssl, other->ssl_ctx) == NULL)
		ERR_clear_error(); /* keep the default certificate */
	return SSL_TLSEXT_ERR_OK;
}

void tls_ctx_set_sni(struct tls_ctx *ctx, tls_sni_pick_fn pick, void *arg)
{
	assert(ctx->is_server);
	ctx->sni_pick = pick;
	ctx->sni_arg = arg;
	SSL_CTX_set_tlsext_servername_callback(ctx->ssl_ctx, tls_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx->ssl_ctx, ctx);
}

/* Verification of a client's certificate that never fails the handshake: the result is read
 * afterwards. A leaf refused only for its purpose is accepted when it is good for a TLS server,
 * so a server certificate without the clientAuth usage still authenticates a peer server. */
static int tls_verify_client_cb(int ok, X509_STORE_CTX *x)
{
	if (!ok && X509_STORE_CTX_get_error(x) == X509_V_ERR_INVALID_PURPOSE &&
	    X509_STORE_CTX_get_error_depth(x) == 0 &&
	    X509_check_purpose(X509_STORE_CTX_get_current_cert(x), X509_PURPOSE_SSL_SERVER, 0) == 1)
		X509_STORE_CTX_set_error(x, X509_V_OK);
	return 1;
}

int tls_ctx_request_client_cert(struct tls_ctx *ctx, const char *ca_file, char *err,
				size_t errlen)
{
	assert(ctx->is_server);
	ERR_clear_error();
	int ok = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx->ssl_ctx, ca_file, NULL)
				 : SSL_CTX_set_default_verify_paths(ctx->ssl_ctx);
	if (ok != 1) {
		tls_collect_errors(err, errlen, ca_file != NULL ? ca_file : "system CA store", NULL);
		return TLS_ERROR;
	}
	SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, tls_verify_client_cb);
	X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(ctx->ssl_ctx),
					X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return TLS_OK;
}

/* ---- the BIO ------------------------------------------------------------------------------------ */

/* OpenSSL reads ciphertext: from t->in, or "retry later" when all of it was read. */
static int tls_bio_read(BIO *bio, char *dst, int cap)
{
	struct tls *t = BIO_get_data(bio);
	size_t avail = t->in.len - t->in_pos;

	BIO_clear_retry_flags(bio);
	if (cap <= 0)
		return 0;
	if (avail == 0) {
		BIO_set_retry_read(bio);
		return -1;
	}
	if (avail > (size_t)cap)
		avail = (size_t)cap;
	memcpy(dst, t->in.data + t->in_pos, avail);
	t->in_pos += avail;
	if (t->in_pos == t->in.len) {
		buf_free(&t->in);
		t->in_pos = 0;
	}
	return (int)avail;
}

/* OpenSSL writes ciphertext: always all of it, into t->out. */
static int tls_bio_write(BIO *bio, const char *src, int len)
{
	struct tls *t = BIO_get_data(bio);

	BIO_clear_retry_flags(bio);
	if (len <= 0)
		return 0;
	buf_append(&t->out, src, (size_t)len);
	return len;
}

static long tls_bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	struct tls *t = BIO_get_data(bio);

	(void)num;
	(void)ptr;
	if (t == NULL)
		return 0;
	switch (cmd) {
	case BIO_CTRL_PENDING:
		return (long)(t->in.len - t->in_pos);
	case BIO_CTRL_WPENDING:
		return (long)t->out.len;
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0; /* no EOF, no kTLS, nothing else either */
	}
}

static int tls_bio_create(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

static BIO_METHOD *tls_bio_method;
static pthread_once_t tls_bio_once = PTHREAD_ONCE_INIT;

/* One method for the process, never freed (a connection may outlive every tls_ctx). */
static void tls_bio_method_init(void)
{
	int type = BIO_get_new_index();
	BIO_METHOD *m = type < 0 ? NULL : BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "junction tls");

	if (m == NULL)
		return;
	if (BIO_meth_set_read(m, tls_bio_read) != 1 || BIO_meth_set_write(m, tls_bio_write) != 1 ||
	    BIO_meth_set_ctrl(m, tls_bio_ctrl) != 1 || BIO_meth_set_create(m, tls_bio_create) != 1) {
		BIO_meth_free(m);
		return;
	}
	tls_bio_method = m;
}

/* ---- the state machine ---------------------------------------------------------------------- */

/* Where to write the error text; errors are rare, so the room is only made on the first. */
static char *tls_err_room(struct tls *t)
{
	if (t->err == NULL)
		t->err = xcalloc(1, TLS_ERR_MAX);
	return t->err;
}

/* Record a fatal error from SSL_get_error() code ssl_err; errors are sticky. */
static int tls_fail(struct tls *t, int ssl_err, const char *what)
{
	bool verify_failed = false;
	char *err = tls_err_room(t);

	if (ssl_err == SSL_ERROR_SSL) {
		tls_collect_errors(err, TLS_ERR_MAX, what, &verify_failed);
		if (verify_failed) {
			size_t n = strlen(err);
			long v = SSL_get_verify_result(t->ssl);
			snprintf(err + n, TLS_ERR_MAX - n, " (%s)",
				 X509_verify_cert_error_string(v));
		}
	} else if (ssl_err == SSL_ERROR_ZERO_RETURN) {
		snprintf(err, TLS_ERR_MAX, "%s: peer closed the connection", what);
	} else {
		/* SSL_ERROR_SYSCALL cannot come from our BIO short of running out of memory;
		 * report the code rather than guess. */
		snprintf(err, TLS_ERR_MAX, "%s: SSL error %d", what, ssl_err);
	}
	ERR_clear_error();
	t->failed = true;
	return TLS_ERROR;
}

/* Map a non-positive SSL_read/SSL_write result. Wanting input is not an error: more ciphertext
 * will come through tls_feed_ciphertext(). */
static int tls_io_result(struct tls *t, int r, const char *what)
{
	int e = SSL_get_error(t->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return TLS_OK;
	if (e == SSL_ERROR_ZERO_RETURN) {
		t->peer_closed = true;
		ERR_clear_error();
		return TLS_CLOSED;
	}
	return tls_fail(t, e, what);
}

/* SSL_write as much of data as OpenSSL takes now; *done_r says how much. */
static int tls_ssl_write(struct tls *t, const char *data, size_t len, size_t *done_r)
{
	size_t done = 0;
	int r = TLS_OK;

	while (done < len) {
		size_t chunk = len - done < TLS_IO_CHUNK ? len - done : TLS_IO_CHUNK;
		ERR_clear_error();
		int n = SSL_write(t->ssl, data + done, (int)chunk);
		if (n <= 0) {
			r = tls_io_result(t, n, "write");
			break;
		}
		done += (size_t)n;
	}
	*done_r = done;
	return r;
}

/* Hand plaintext queued during the handshake to OpenSSL. */
static int tls_flush_plain(struct tls *t)
{
	size_t done;
	int r;

	if (t->plain_out.len == 0 || !SSL_is_init_finished(t->ssl))
		return TLS_OK;
	r = tls_ssl_write(t, t->plain_out.data, t->plain_out.len, &done);
	buf_consume(&t->plain_out, done);
	return r < 0 ? r : TLS_OK;
}

/* Run the handshake as far as the input allows, then flush queued plaintext. */
static int tls_advance(struct tls *t)
{
	if (t->failed)
		return TLS_ERROR;
	if (!SSL_is_init_finished(t->ssl)) {
		ERR_clear_error();
		int r = SSL_do_handshake(t->ssl);
		if (r != 1) {
			int e = SSL_get_error(t->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return TLS_OK;
			return tls_fail(t, e, "handshake");
		}
	}
	return tls_flush_plain(t);
}

/* ---- connections ---------------------------------------------------------------------------- */

static bool tls_is_ip_literal(const char *s)
{
	unsigned char addr[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

struct tls *tls_new(struct tls_ctx *ctx, bool is_server, const char *sni_hostname)
{
	struct tls *t;
	BIO *bio;

	assert(ctx != NULL && is_server == ctx->is_server);
	assert(!is_server || sni_hostname == NULL);
	(void)pthread_once(&tls_bio_once, tls_bio_method_init);
	if (tls_bio_method == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->is_server = is_server;
	t->ssl = SSL_new(ctx->ssl_ctx);
	bio = BIO_new(tls_bio_method);
	if (t->ssl == NULL || bio == NULL) {
		BIO_free(bio);
		goto fail;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio); /* one BIO both ways: the SSL takes both references */

	if (is_server) {
		SSL_set_accept_state(t->ssl);
		return t;
	}
	SSL_set_connect_state(t->ssl);
	if (sni_hostname != NULL) {
		bool ip = tls_is_ip_literal(sni_hostname);
		/* RFC 6066 forbids IP literals in SNI. */
		if (!ip && SSL_set_tlsext_host_name(t->ssl, sni_hostname) != 1)
			goto fail;
		if (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER) {
			X509_VERIFY_PARAM *p = SSL_get0_param(t->ssl);
			int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(p, sni_hostname)
				    : X509_VERIFY_PARAM_set1_host(p, sni_hostname, 0);
			if (ok != 1)
				goto fail;
		}
	}
	/* Produce the ClientHello now so that the caller's first tls_take_ciphertext() has it. A
	 * failure here is sticky and shows on the next call. */
	tls_advance(t);
	return t;

fail:
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
	return NULL;
}

void tls_free(struct tls **t)
{
	if (*t == NULL)
		return;
	SSL_free((*t)->ssl); /* frees the BIO */
	if ((*t)->plain_out.data != NULL)
		OPENSSL_cleanse((*t)->plain_out.data, (*t)->plain_out.len);
	buf_free(&(*t)->plain_out);
	buf_free(&(*t)->in);
	buf_free(&(*t)->out);
	free((*t)->err);
	free(*t);
	*t = NULL;
}

int tls_feed_ciphertext(struct tls *t, const void *data, size_t len)
{
	if (t->failed)
		return TLS_ERROR;
	/* Drop what OpenSSL already read before adding more. */
	buf_consume(&t->in, t->in_pos);
	t->in_pos = 0;
	buf_append(&t->in, data, len);
	return tls_advance(t);
}

ssize_t tls_read_plaintext(struct tls *t, void *out, size_t cap)
{
	int r;

	if (t->failed)
		return TLS_ERROR;
	if (t->peer_closed)
		return TLS_CLOSED;
	r = tls_advance(t);
	if (r < 0)
		return r;
	if (cap == 0 || !SSL_is_init_finished(t->ssl))
		return 0;
	ERR_clear_error();
	r = SSL_read(t->ssl, out, cap < TLS_IO_CHUNK ? (int)cap : TLS_IO_CHUNK);
	if (r > 0)
		return r;
	return tls_io_result(t, r, "read");
}

int tls_write_plaintext(struct tls *t, const void *data, size_t len)
{
	if (t->failed)
		return TLS_ERROR;
	if (t->shutdown_sent)
		return TLS_CLOSED;
	if (len == 0)
		return TLS_OK;
	if (t->plain_out.len == 0 && SSL_is_init_finished(t->ssl)) {
		/* The common case after the handshake: straight to OpenSSL, no copy. */
		size_t done;
		int r = tls_ssl_write(t, data, len, &done);
		if (r < 0)
			return r;
		if (done < len)
			buf_append(&t->plain_out, (const char *)data + done, len - done);
		return TLS_OK;
	}
	buf_append(&t->plain_out, data, len);
	return tls_advance(t);
}

size_t tls_pending_ciphertext(const struct tls *t)
{
	return t->out.len;
}

size_t tls_take_ciphertext(struct tls *t, struct buf *out)
{
	size_t n = t->out.len;

	if (n == 0)
		return 0;
	if (out->len == 0) {
		/* The usual case: out is empty, so hand over the storage itself. */
		buf_free(out);
		*out = t->out;
		t->out = (struct buf){0};
	} else {
		buf_append(out, t->out.data, n);
		buf_free(&t->out);
	}
	return n;
}

bool tls_handshake_done(const struct tls *t)
{
	return !t->failed && SSL_is_init_finished(t->ssl);
}

int tls_shutdown(struct tls *t)
{
	int r;

	if (t->failed || !SSL_is_init_finished(t->ssl))
		return TLS_ERROR;
	if (t->shutdown_sent)
		return TLS_OK;
	r = tls_flush_plain(t);
	if (r == TLS_ERROR)
		return r;
	ERR_clear_error();
	/* 0: our close_notify is queued, the peer's not yet seen; 1: both done. */
	r = SSL_shutdown(t->ssl);
	if (r < 0 && tls_io_result(t, r, "shutdown") == TLS_ERROR)
		return TLS_ERROR;
	t->shutdown_sent = true;
	return TLS_OK;
}

/* ---- peer identity and channel binding ------------------------------------------------------ */

/* The peer's certificate, borrowed: valid while t lives. */
static X509 *tls_peer_cert(const struct tls *t)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	return SSL_get0_peer_certificate(t->ssl);
#else
	/* 1.1.1 only has the get1 form; the session keeps its own reference. */
	X509 *x = SSL_get_peer_certificate(t->ssl);
	X509_free(x);
	return x;
#endif
}

bool tls_peer_verified(const struct tls *t)
{
	return tls_handshake_done(t) && tls_peer_cert(t) != NULL &&
	       SSL_get_verify_result(t->ssl) == X509_V_OK;
}

bool tls_peer_check_name(const struct tls *t, const char *name)
{
	/* A name in a certificate nobody vouches for proves nothing, so no verified chain, no
	 * match: a caller cannot forget half of the check. */
	if (!tls_peer_verified(t))
		return false;
	X509 *x = tls_peer_cert(t);
	if (tls_is_ip_literal(name))
		return X509_check_ip_asc(x, name, 0) == 1;
	return X509_check_host(x, name, strlen(name), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) ==
	       1;
}

/* RFC 5929 section 4.1: hash the server's certificate with the hash of its signature algorithm,
 * upgrading MD5 and SHA-1 to SHA-256. */
static int tls_server_end_point(struct tls *t, unsigned char *out, size_t cap, size_t *len_r)
{
	X509 *cert = t->is_server ? SSL_get_certificate(t->ssl) : tls_peer_cert(t);
	const EVP_MD *md;
	unsigned int n = 0;
	int md_nid = NID_undef;

	if (cert == NULL || X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL) != 1)
		return TLS_ERROR;
	if (md_nid == NID_md5 || md_nid == NID_sha1)
		md = EVP_sha256();
	else if (md_nid == NID_undef || (md = EVP_get_digestbynid(md_nid)) == NULL)
		return TLS_ERROR; /* e.g. Ed25519: RFC 5929 defines nothing */
	if (EVP_MD_size(md) <= 0 || cap < (size_t)EVP_MD_size(md))
		return TLS_ERROR;
	if (X509_digest(cert, md, out, &n) != 1) {
		ERR_clear_error();
		return TLS_ERROR;
	}
	*len_r = n;
	return TLS_OK;
}

int tls_channel_binding(struct tls *t, const char *type, unsigned char *out, size_t cap,
			size_t *len_r)
{
	static const unsigned char empty_context[1];

	*len_r = 0;
	if (!tls_handshake_done(t))
		return TLS_ERROR;
	if (strcmp(type, "tls-server-end-point") == 0)
		return tls_server_end_point(t, out, cap, len_r);
	if (strcmp(type, "tls-exporter") != 0 || cap < TLS_EXPORTER_LEN)
		return TLS_ERROR;
	/* RFC 9266 section 3: on TLS 1.2 the exporter is only unique per connection with the
	 * extended master secret (RFC 7627). */
	if (SSL_version(t->ssl) < TLS1_3_VERSION && SSL_get_extms_support(t->ssl) != 1)
		return TLS_ERROR;
	/* "An empty context", taken literally: use_context = 1 with length 0. On TLS 1.3 this
	 * equals no context; on TLS 1.2 it is what Prosody (LuaSec) and BouncyCastle compute. */
	if (SSL_export_keying_material(t->ssl, out, TLS_EXPORTER_LEN, TLS_EXPORTER_LABEL,
				       strlen(TLS_EXPORTER_LABEL), empty_context, 0, 1) != 1) {
		ERR_clear_error();
		return TLS_ERROR;
	}
	*len_r = TLS_EXPORTER_LEN;
	return TLS_OK;
}

const char *tls_version_string(const struct tls *t)
{
	return SSL_get_version(t->ssl);
}

const char *tls_cipher_string(const struct tls *t)
{
	return SSL_get_cipher_name(t->ssl);
}

const char *tls_error_string(const struct tls *t)
{
	return t->err != NULL ? t->err : "";
}
