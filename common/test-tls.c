/* test-tls.c: unit tests for common/tls.c.
 *
 * No sockets: a server and a client struct tls are connected by moving ciphertext between them in
 * memory. Certificates are generated at start (OpenSSL APIs, no openssl(1)) into a mkdtemp
 * directory that is removed at the end. Where tls.h cannot express the peer under test (a TLS 1.1
 * client, a TLS 1.2 client, weak ciphers), a bare OpenSSL client plays it.
 */
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "test.h"
#include "tls.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
/* From the ASan runtime; gcc does not always ship the header declaring it. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

static size_t heap_in_use(void)
{
#ifdef TEST_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#endif
}

/* ---- fixtures ------------------------------------------------------------------------------- */

struct cred {
	char cert[256];
	char key[256];
	unsigned char endpoint[EVP_MAX_MD_SIZE]; /* expected tls-server-end-point */
	unsigned int endpoint_len;
};

static char tmpdir[64];
static struct cred cred_p256; /* P-256, ecdsa-with-SHA256: the usual server certificate */
static struct cred cred_p384; /* P-384, ecdsa-with-SHA384: the "new" certificate on reload */
static struct cred cred_sha1; /* P-256, ecdsa-with-SHA1: end-point must use SHA-256 */
static char garbage_pem[256]; /* a file that is not PEM */

/* A self-signed certificate for "localhost" (CN and subjectAltName) signed with sign_md, and the
 * RFC 5929 hash of it computed here independently with endpoint_md. */
static int cred_make(struct cred *c, const char *stem, int curve_nid, const EVP_MD *sign_md,
		     const EVP_MD *endpoint_md)
{
	static long serial = 1;
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	EVP_PKEY *pkey = NULL;
	X509 *x = X509_new();
	X509_EXTENSION *ext = NULL;
	FILE *f = NULL;
	int ret = -1;

	snprintf(c->cert, sizeof(c->cert), "%s/%s-cert.pem", tmpdir, stem);
	snprintf(c->key, sizeof(c->key), "%s/%s-key.pem", tmpdir, stem);
	if (kctx == NULL || x == NULL || EVP_PKEY_keygen_init(kctx) != 1 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx, curve_nid) != 1 ||
	    EVP_PKEY_keygen(kctx, &pkey) != 1)
		goto out;
	X509_NAME *name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    X509_set_pubkey(x, pkey) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
				       -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1)
		goto out;
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:localhost");
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1 || X509_sign(x, pkey, sign_md) <= 0 ||
	    X509_digest(x, endpoint_md, c->endpoint, &c->endpoint_len) != 1)
		goto out;
	if ((f = fopen(c->cert, "w")) == NULL || PEM_write_X509(f, x) != 1 || fclose(f) != 0)
		goto out;
	if ((f = fopen(c->key, "w")) == NULL ||
	    PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1 || fclose(f) != 0)
		goto out;
	f = NULL;
	ret = 0;
out:
	if (f != NULL)
		fclose(f);
	X509_EXTENSION_free(ext);
	X509_free(x);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(kctx);
	return ret;
}

static int fixtures_setup(void)
{
	FILE *f;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/junction-test-tls-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(garbage_pem, sizeof(garbage_pem), "%s/garbage.pem", tmpdir);
	if ((f = fopen(garbage_pem, "w")) == NULL)
		return -1;
	fputs("this is not a certificate\n", f);
	fclose(f);
	if (cred_make(&cred_p256, "p256", NID_X9_62_prime256v1, EVP_sha256(), EVP_sha256()) < 0 ||
	    cred_make(&cred_p384, "p384", NID_secp384r1, EVP_sha384(), EVP_sha384()) < 0 ||
	    cred_make(&cred_sha1, "sha1", NID_X9_62_prime256v1, EVP_sha1(), EVP_sha256()) < 0)
		return -1;
	return 0;
}

static void fixtures_cleanup(void)
{
	const struct cred *creds[] = {&cred_p256, &cred_p384, &cred_sha1};

	for (size_t i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
		unlink(creds[i]->cert);
		unlink(creds[i]->key);
	}
	unlink(garbage_pem);
	if (tmpdir[0] != '\0')
		rmdir(tmpdir);
}

static struct tls_ctx *server_ctx(const struct cred *c)
{
	struct tls_ctx *ctx = NULL;
	char err[256];
	if (tls_ctx_new_server(c->cert, c->key, &ctx, err, sizeof(err)) < 0)
		printf("  server ctx: %s\n", err);
	return ctx;
}

static struct tls_ctx *client_ctx(const char *ca_file, bool verify)
{
	struct tls_ctx *ctx = NULL;
	char err[256];
	if (tls_ctx_new_client(ca_file, verify, &ctx, err, sizeof(err)) < 0)
		printf("  client ctx: %s\n", err);
	return ctx;
}

static bool contains(const char *hay, const char *needle)
{
	if (hay != NULL && strstr(hay, needle) != NULL)
		return true;
	printf("  \"%s\" does not contain \"%s\"\n", hay ? hay : "(null)", needle);
	return false;
}

/* ---- moving bytes between two ends ---------------------------------------------------------- */

struct side {
	struct tls *t;
	struct buf in; /* plaintext received */
	int feed_rc;   /* first negative tls_feed_ciphertext() result */
	int read_rc;   /* last negative tls_read_plaintext() result */
};

static void side_init(struct side *s, struct tls_ctx *ctx, bool is_server, const char *sni)
{
	memset(s, 0, sizeof(*s));
	s->t = tls_new(ctx, is_server, sni);
}

static void side_free(struct side *s)
{
	tls_free(&s->t);
	buf_free(&s->in);
}

static size_t side_move(struct side *from, struct side *to)
{
	struct buf c = {0};
	size_t n = tls_take_ciphertext(from->t, &c);
	if (n > 0) {
		int r = tls_feed_ciphertext(to->t, c.data, c.len);
		if (r < 0 && to->feed_rc == 0)
			to->feed_rc = r;
	}
	buf_free(&c);
	return n;
}

static void side_read(struct side *s)
{
	char tmp[3001]; /* odd size, so records get split across reads */
	ssize_t r;
	while ((r = tls_read_plaintext(s->t, tmp, sizeof(tmp))) > 0)
		buf_append(&s->in, tmp, (size_t)r);
	if (r < 0)
		s->read_rc = (int)r;
}

/* Shuttle ciphertext both ways and collect plaintext until neither end has anything to say. */
static void pump(struct side *a, struct side *b)
{
	for (int round = 0; round < 1000; round++) {
		size_t moved = side_move(a, b) + side_move(b, a);
		side_read(a);
		side_read(b);
		if (moved == 0 && tls_pending_ciphertext(a->t) == 0 &&
		    tls_pending_ciphertext(b->t) == 0)
			return;
	}
}

/* A client and a server from the given contexts, handshaken. */
static bool pair_connect(struct side *c, struct side *s, struct tls_ctx *cctx, struct tls_ctx *sctx,
			 const char *sni)
{
	side_init(c, cctx, false, sni);
	side_init(s, sctx, true, NULL);
	if (c->t == NULL || s->t == NULL)
		return false;
	pump(c, s);
	return tls_handshake_done(c->t) && tls_handshake_done(s->t);
}

/* ---- a bare OpenSSL client, for peers tls.h refuses to be ----------------------------------- */

struct raw {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;
	struct buf first_flight;
};

static bool raw_init(struct raw *r, int min_version, int max_version, const char *ciphers)
{
	memset(r, 0, sizeof(*r));
	r->ctx = SSL_CTX_new(TLS_client_method());
	if (r->ctx == NULL || SSL_CTX_set_min_proto_version(r->ctx, min_version) != 1 ||
	    SSL_CTX_set_max_proto_version(r->ctx, max_version) != 1 ||
	    (ciphers != NULL && SSL_CTX_set_cipher_list(r->ctx, ciphers) != 1))
		return false;
	r->ssl = SSL_new(r->ctx);
	r->in = BIO_new(BIO_s_mem());
	r->out = BIO_new(BIO_s_mem());
	if (r->ssl == NULL || r->in == NULL || r->out == NULL)
		return false;
	BIO_set_mem_eof_return(r->in, -1);
	BIO_set_mem_eof_return(r->out, -1);
	SSL_set_bio(r->ssl, r->in, r->out);
	SSL_set_connect_state(r->ssl);
	return true;
}

static void raw_free(struct raw *r)
{
	if (r->ssl != NULL)
		SSL_free(r->ssl);
	else {
		BIO_free(r->in);
		BIO_free(r->out);
	}
	SSL_CTX_free(r->ctx);
	buf_free(&r->first_flight);
	ERR_clear_error();
}

/* Handshake the raw client against server side s; true when both ends finished. */
static bool raw_connect(struct raw *r, struct side *s)
{
	char tmp[16384];
	for (int round = 0; round < 20; round++) {
		if (!SSL_is_init_finished(r->ssl))
			SSL_do_handshake(r->ssl);
		int n;
		size_t moved = 0;
		while ((n = BIO_read(r->out, tmp, sizeof(tmp))) > 0) {
			if (round == 0)
				buf_append(&r->first_flight, tmp, (size_t)n);
			if (tls_feed_ciphertext(s->t, tmp, (size_t)n) < 0 && s->feed_rc == 0)
				s->feed_rc = TLS_ERROR;
			moved += (size_t)n;
		}
		struct buf c = {0};
		moved += tls_take_ciphertext(s->t, &c);
		if (c.len > 0)
			BIO_write(r->in, c.data, (int)c.len);
		buf_free(&c);
		if (moved == 0)
			break;
	}
	return SSL_is_init_finished(r->ssl) && tls_handshake_done(s->t);
}

/* ---- contexts ------------------------------------------------------------------------------- */

static void test_ctx_errors(void)
{
	struct tls_ctx *ctx = NULL;
	char err[256] = "";
	char missing[300];

	snprintf(missing, sizeof(missing), "%s/missing.pem", tmpdir);
	CHECK(tls_ctx_new_server(missing, cred_p256.key, &ctx, err, sizeof(err)) == TLS_ERROR);
	CHECK(ctx == NULL);
	CHECK(contains(err, missing));

	CHECK(tls_ctx_new_server(garbage_pem, cred_p256.key, &ctx, err, sizeof(err)) == TLS_ERROR);
	CHECK(contains(err, garbage_pem));

	CHECK(tls_ctx_new_server(cred_p256.cert, cred_p384.key, &ctx, err, sizeof(err)) ==
	      TLS_ERROR);
	CHECK(contains(err, "does not match"));

	CHECK(tls_ctx_new_client(missing, true, &ctx, err, sizeof(err)) == TLS_ERROR);
	CHECK(contains(err, missing));
	CHECK(ctx == NULL);

	CHECK(tls_ctx_new_server(cred_p256.cert, cred_p256.key, &ctx, err, sizeof(err)) == TLS_OK);
	CHECK(ctx != NULL);
	tls_ctx_free(&ctx);
	CHECK(ctx == NULL);
	tls_ctx_free(&ctx); /* NULL is fine */

	CHECK(tls_ctx_new_client(NULL, true, &ctx, err, sizeof(err)) == TLS_OK);
	tls_ctx_free(&ctx);
}

/* ---- handshake and data --------------------------------------------------------------------- */

static void test_handshake(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	struct side c, s;

	side_init(&c, cctx, false, "localhost");
	side_init(&s, sctx, true, NULL);
	CHECK(!tls_handshake_done(c.t) && !tls_handshake_done(s.t));
	CHECK(tls_pending_ciphertext(c.t) > 0); /* the ClientHello, before any input */
	CHECK(tls_pending_ciphertext(s.t) == 0);
	pump(&c, &s);
	CHECK(tls_handshake_done(c.t) && tls_handshake_done(s.t));
	CHECK_STR(tls_version_string(c.t), "TLSv1.3");
	CHECK_STR(tls_version_string(s.t), "TLSv1.3");
	CHECK_STR(tls_cipher_string(c.t), tls_cipher_string(s.t));
	CHECK(strcmp(tls_cipher_string(s.t), "(NONE)") != 0);
	CHECK_STR(tls_error_string(c.t), "");
	CHECK_STR(tls_error_string(s.t), "");
	CHECK(c.feed_rc == 0 && s.feed_rc == 0 && c.read_rc == 0 && s.read_rc == 0);
	CHECK(tls_pending_ciphertext(c.t) == 0 && tls_pending_ciphertext(s.t) == 0);
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

/* Ciphertext delivered one byte per feed, as a slow network might. */
static void test_handshake_byte_by_byte(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	struct side c, s;

	side_init(&c, cctx, false, "localhost");
	side_init(&s, sctx, true, NULL);
	CHECK(tls_write_plaintext(c.t, "<stream>", 8) == TLS_OK);
	for (int round = 0; round < 20; round++) {
		struct side *from[2] = {&c, &s}, *to[2] = {&s, &c};
		size_t moved = 0;
		for (int d = 0; d < 2; d++) {
			struct buf b = {0};
			moved += tls_take_ciphertext(from[d]->t, &b);
			for (size_t i = 0; i < b.len; i++)
				CHECK(tls_feed_ciphertext(to[d]->t, b.data + i, 1) == TLS_OK);
			buf_free(&b);
		}
		side_read(&s);
		if (moved == 0)
			break;
	}
	CHECK(tls_handshake_done(c.t) && tls_handshake_done(s.t));
	CHECK(s.in.len == 8 && memcmp(s.in.data, "<stream>", 8) == 0);
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

static void test_data_both_ways(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	struct side c, s;

	CHECK(pair_connect(&c, &s, cctx, sctx, "localhost"));
	CHECK(tls_write_plaintext(c.t, "<iq type='get'/>", 16) == TLS_OK);
	CHECK(tls_write_plaintext(s.t, "<iq type='result'/>", 19) == TLS_OK);
	CHECK(tls_write_plaintext(s.t, "", 0) == TLS_OK);
	pump(&c, &s);
	CHECK(s.in.len == 16 && memcmp(s.in.data, "<iq type='get'/>", 16) == 0);
	CHECK(c.in.len == 19 && memcmp(c.in.data, "<iq type='result'/>", 19) == 0);

	/* Nothing more to read is 0, not an error. */
	char tmp[16];
	CHECK(tls_read_plaintext(s.t, tmp, sizeof(tmp)) == 0);
	CHECK(tls_read_plaintext(s.t, tmp, 0) == 0);
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

static void fill_pattern(unsigned char *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* 1 MB each way at once, written in uneven pieces and pumped every few writes. */
static void test_bulk_1mb(void)
{
	enum { TOTAL = 1 << 20 };
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	struct side c, s;
	unsigned char *up = malloc(TOTAL), *down = malloc(TOTAL);
	size_t off = 0, piece = 1;

	CHECK(up != NULL && down != NULL);
	fill_pattern(up, TOTAL, 1);
	fill_pattern(down, TOTAL, 2);
	CHECK(pair_connect(&c, &s, cctx, sctx, "localhost"));
	for (int i = 0; off < TOTAL; i++) {
		size_t n = piece < TOTAL - off ? piece : TOTAL - off;
		CHECK(tls_write_plaintext(c.t, up + off, n) == TLS_OK);
		CHECK(tls_write_plaintext(s.t, down + off, n) == TLS_OK);
		off += n;
		piece = piece * 7 % 40009 + 1;
		if (i % 5 == 0)
			pump(&c, &s);
	}
	pump(&c, &s);
	CHECK(s.in.len == TOTAL && memcmp(s.in.data, up, TOTAL) == 0);
	CHECK(c.in.len == TOTAL && memcmp(c.in.data, down, TOTAL) == 0);
	CHECK(s.read_rc == 0 && c.read_rc == 0);
	free(up);
	free(down);
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

/* Once idle again, a connection holds no more memory than before 200 kB went each way in one
 * go (no ciphertext or record buffers kept at their high-water mark), and goes on working: a
 * record split across feeds, channel binding, close_notify. */
static void test_idle_releases_buffers(void)
{
	enum { BIG = 200 * 1024 };
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	struct side c, s;
	unsigned char *big = malloc(BIG);
	unsigned char a[TLS_CHANNEL_BINDING_MAX], b[TLS_CHANNEL_BINDING_MAX];
	size_t alen = 0, blen = 0;

	CHECK(big != NULL);
	fill_pattern(big, BIG, 3);
	CHECK(pair_connect(&c, &s, cctx, sctx, "localhost"));
	CHECK(tls_write_plaintext(c.t, "<a/>", 4) == TLS_OK);
	CHECK(tls_write_plaintext(s.t, "<b/>", 4) == TLS_OK);
	pump(&c, &s);
	CHECK(s.in.len == 4 && c.in.len == 4);
	buf_free(&s.in);
	buf_free(&c.in);
	size_t idle = heap_in_use();

	CHECK(tls_write_plaintext(c.t, big, BIG) == TLS_OK);
	CHECK(tls_write_plaintext(s.t, big, BIG) == TLS_OK);
	CHECK(tls_pending_ciphertext(c.t) > BIG && tls_pending_ciphertext(s.t) > BIG);
	pump(&c, &s);
	CHECK(s.in.len == BIG && memcmp(s.in.data, big, BIG) == 0);
	CHECK(c.in.len == BIG && memcmp(c.in.data, big, BIG) == 0);
	buf_free(&s.in);
	buf_free(&c.in);
	size_t after = heap_in_use();
	CHECK(after <= idle);
	if (after > idle)
		printf("  %zu bytes more than before\n", after - idle);

	/* A record in three pieces: nothing to read until the last. */
	struct buf rec = {0};
	char tmp[64];
	CHECK(tls_write_plaintext(c.t, "<presence/>", 11) == TLS_OK);
	CHECK(tls_take_ciphertext(c.t, &rec) > 10);
	CHECK(tls_feed_ciphertext(s.t, rec.data, 3) == TLS_OK);
	CHECK(tls_read_plaintext(s.t, tmp, sizeof(tmp)) == 0);
	CHECK(tls_feed_ciphertext(s.t, rec.data + 3, 5) == TLS_OK);
	CHECK(tls_read_plaintext(s.t, tmp, sizeof(tmp)) == 0);
	CHECK(tls_feed_ciphertext(s.t, rec.data + 8, rec.len - 8) == TLS_OK);
	CHECK(tls_read_plaintext(s.t, tmp, sizeof(tmp)) == 11 && memcmp(tmp, "<presence/>", 11) == 0);
	CHECK(tls_read_plaintext(s.t, tmp, sizeof(tmp)) == 0);
	buf_free(&rec);

	CHECK(tls_channel_binding(c.t, "tls-exporter", a, sizeof(a), &alen) == TLS_OK);
	CHECK(tls_channel_binding(s.t, "tls-exporter", b, sizeof(b), &blen) == TLS_OK);
	CHECK(alen == 32 && blen == 32 && memcmp(a, b, 32) == 0);
	CHECK(tls_channel_binding(c.t, "tls-server-end-point", a, sizeof(a), &alen) == TLS_OK);
	CHECK(tls_channel_binding(s.t, "tls-server-end-point", b, sizeof(b), &blen) == TLS_OK);
	CHECK(alen == blen && alen > 0 && memcmp(a, b, alen) == 0);

	CHECK(tls_shutdown(c.t) == TLS_OK);
	pump(&c, &s);
	CHECK(s.read_rc == TLS_CLOSED);
	CHECK_STR(tls_error_string(s.t), "");
	free(big);
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

static void test_write_before_handshake(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	struct side c, s;

	side_init(&c, cctx, false, "localhost");
	side_init(&s, sctx, true, NULL);
	CHECK(tls_write_plaintext(c.t, "<stream:stream to='a'>", 22) == TLS_OK);
	CHECK(tls_write_plaintext(c.t, "<presence/>", 11) == TLS_OK);
	CHECK(tls_write_plaintext(s.t, "<stream:stream from='a'>", 24) == TLS_OK);
	/* The server has said nothing yet: its data waits for the handshake. */
	CHECK(tls_pending_ciphertext(s.t) == 0);
	pump(&c, &s);
	CHECK(tls_handshake_done(c.t) && tls_handshake_done(s.t));
	CHECK(s.in.len == 33 && memcmp(s.in.data, "<stream:stream to='a'><presence/>", 33) == 0);
	CHECK(c.in.len == 24 && memcmp(c.in.data, "<stream:stream from='a'>", 24) == 0);
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

/* ---- channel binding ------------------------------------------------------------------------ */

static void test_channel_binding(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	struct side c, s, c2, s2;
	unsigned char a[TLS_CHANNEL_BINDING_MAX], b[TLS_CHANNEL_BINDING_MAX];
	size_t alen = 99, blen = 99;

	side_init(&c, cctx, false, "localhost");
	side_init(&s, sctx, true, NULL);
	CHECK(tls_channel_binding(c.t, "tls-exporter", a, sizeof(a), &alen) == TLS_ERROR);
	CHECK(alen == 0);
	pump(&c, &s);
	CHECK(pair_connect(&c2, &s2, cctx, sctx, "localhost"));

	CHECK(tls_channel_binding(c.t, "tls-exporter", a, sizeof(a), &alen) == TLS_OK);
	CHECK(tls_channel_binding(s.t, "tls-exporter", b, sizeof(b), &blen) == TLS_OK);
	CHECK(alen == 32 && blen == 32 && memcmp(a, b, 32) == 0);
	/* Another connection, another binding. */
	CHECK(tls_channel_binding(s2.t, "tls-exporter", b, sizeof(b), &blen) == TLS_OK);
	CHECK(blen == 32 && memcmp(a, b, 32) != 0);

	CHECK(tls_channel_binding(c.t, "tls-server-end-point", a, sizeof(a), &alen) == TLS_OK);
	CHECK(tls_channel_binding(s.t, "tls-server-end-point", b, sizeof(b), &blen) == TLS_OK);
	CHECK(alen == 32 && blen == 32 && memcmp(a, b, 32) == 0);
	CHECK(alen == cred_p256.endpoint_len && memcmp(a, cred_p256.endpoint, alen) == 0);
	/* Same server certificate, same end-point binding. */
	CHECK(tls_channel_binding(c2.t, "tls-server-end-point", b, sizeof(b), &blen) == TLS_OK);
	CHECK(blen == 32 && memcmp(a, b, 32) == 0);

	CHECK(tls_channel_binding(c.t, "tls-unique", a, sizeof(a), &alen) == TLS_ERROR);
	CHECK(tls_channel_binding(c.t, "tls-exporter", a, 31, &alen) == TLS_ERROR);
	CHECK(tls_channel_binding(c.t, "tls-server-end-point", a, 31, &alen) == TLS_ERROR);
	side_free(&c);
	side_free(&s);
	side_free(&c2);
	side_free(&s2);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

/* The end-point hash follows the certificate's signature: SHA-384 stays, SHA-1 becomes SHA-256. */
static void test_server_end_point_hash(void)
{
	const struct cred *creds[] = {&cred_p384, &cred_sha1};
	struct tls_ctx *cctx = client_ctx(NULL, false);

	for (size_t i = 0; i < 2; i++) {
		struct tls_ctx *sctx = server_ctx(creds[i]);
		struct side c, s;
		unsigned char a[TLS_CHANNEL_BINDING_MAX], b[TLS_CHANNEL_BINDING_MAX];
		size_t alen = 0, blen = 0;

		CHECK(pair_connect(&c, &s, cctx, sctx, "localhost"));
		CHECK(tls_channel_binding(c.t, "tls-server-end-point", a, sizeof(a), &alen) == 0);
		CHECK(tls_channel_binding(s.t, "tls-server-end-point", b, sizeof(b), &blen) == 0);
		CHECK(alen == creds[i]->endpoint_len && blen == alen);
		CHECK(memcmp(a, creds[i]->endpoint, alen) == 0 && memcmp(b, a, alen) == 0);
		side_free(&c);
		side_free(&s);
		tls_ctx_free(&sctx);
	}
	CHECK(cred_p384.endpoint_len == 48 && cred_sha1.endpoint_len == 32);
	tls_ctx_free(&cctx);
}

/* ---- peer verification ---------------------------------------------------------------------- */

static void test_verify_accepts_localhost(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(cred_p256.cert, true);
	struct side c, s;

	CHECK(pair_connect(&c, &s, cctx, sctx, "localhost"));
	CHECK(tls_peer_verified(c.t));
	CHECK(tls_peer_check_name(c.t, "localhost"));
	CHECK(!tls_peer_check_name(c.t, "example.org"));
	CHECK(!tls_peer_check_name(c.t, "127.0.0.1"));
	/* The server asks for no client certificate. */
	CHECK(!tls_peer_verified(s.t));
	CHECK(!tls_peer_check_name(s.t, "localhost"));
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

static void test_verify_rejects_wrong_name(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(cred_p256.cert, true);
	struct side c, s;

	CHECK(!pair_connect(&c, &s, cctx, sctx, "example.org"));
	CHECK(c.feed_rc == TLS_ERROR);
	CHECK(contains(tls_error_string(c.t), "hostname mismatch"));
	CHECK(!tls_peer_verified(c.t));
	/* The client's alert reached the server. */
	CHECK(s.feed_rc == TLS_ERROR || s.read_rc == TLS_ERROR);
	CHECK(strlen(tls_error_string(s.t)) > 0);
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

static void test_verify_rejects_unknown_ca(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(cred_p384.cert, true);
	struct side c, s;

	CHECK(!pair_connect(&c, &s, cctx, sctx, "localhost"));
	CHECK(c.feed_rc == TLS_ERROR);
	CHECK(contains(tls_error_string(c.t), "certificate verify failed"));
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

/* Without verify_peer the handshake proceeds and the result is only reported. */
static void test_verify_off_reports(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256);
	struct tls_ctx *untrusting = client_ctx(cred_p384.cert, false);
	struct tls_ctx *trusting = client_ctx(cred_p256.cert, false);
	struct side c, s;

	CHECK(pair_connect(&c, &s, untrusting, sctx, "example.org"));
	CHECK(!tls_peer_verified(c.t));
	CHECK(!tls_peer_check_name(c.t, "localhost"));
	side_free(&c);
	side_free(&s);

	/* Trusted chain, wrong SNI: verified, and the name check is separate. */
	CHECK(pair_connect(&c, &s, trusting, sctx, "example.org"));
	CHECK(tls_peer_verified(c.t));
	CHECK(tls_peer_check_name(c.t, "localhost"));
	CHECK(!tls_peer_check_name(c.t, "example.org"));
	side_free(&c);
	side_free(&s);

	/* An IP literal is not sent as SNI, and the handshake does not mind. */
	CHECK(pair_connect(&c, &s, trusting, sctx, "127.0.0.1"));
	CHECK(!tls_peer_check_name(c.t, "127.0.0.1"));
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&untrusting);
	tls_ctx_free(&trusting);
}

/* ---- hostile input -------------------------------------------------------------------------- */

static void test_garbage_to_server(void)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	struct tls_ctx *sctx = server_ctx(&cred_p256);
	struct tls *s = tls_new(sctx, true, NULL);
	char tmp[64];

	CHECK(tls_feed_ciphertext(s, http, sizeof(http) - 1) == TLS_ERROR);
	CHECK(strlen(tls_error_string(s)) > 0);
	CHECK(!tls_handshake_done(s));
	/* Sticky. */
	CHECK(tls_read_plaintext(s, tmp, sizeof(tmp)) == TLS_ERROR);
	CHECK(tls_write_plaintext(s, "x", 1) == TLS_ERROR);
	CHECK(tls_feed_ciphertext(s, "x", 1) == TLS_ERROR);
	CHECK(tls_shutdown(s) == TLS_ERROR);
	tls_free(&s);
	CHECK(s == NULL);
	tls_free(&s);
	tls_ctx_free(&sctx);
}

/* Random bytes, whole and in random pieces, to a fresh server or a client awaiting its
 * ServerHello: always an error or a wait for more, never a crash (ASan watches). */
static void test_garbage_random(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	unsigned char junk[4096];
	uint32_t seed = 7;
	int errors = 0;

	for (int i = 0; i < 200; i++) {
		struct tls *t =
			i % 2 ? tls_new(sctx, true, NULL) : tls_new(cctx, false, "localhost");
		size_t len = 1 + (size_t)(seed % sizeof(junk));
		fill_pattern(junk, len, seed);
		if (i % 4 < 2)
			junk[0] = 0x16; /* a handshake record type gets further into the parser */
		int r = TLS_OK;
		for (size_t off = 0; off < len && r == TLS_OK;) {
			seed = seed * 1103515245u + 12345u;
			size_t n = 1 + (seed >> 8) % 700;
			if (n > len - off)
				n = len - off;
			r = tls_feed_ciphertext(t, junk + off, n);
			off += n;
		}
		char tmp[64];
		CHECK(tls_read_plaintext(t, tmp, sizeof(tmp)) <= 0);
		CHECK(!tls_handshake_done(t));
		errors += r == TLS_ERROR;
		struct buf out = {0};
		tls_take_ciphertext(t, &out);
		buf_free(&out);
		tls_free(&t);
	}
	CHECK(errors > 150);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

/* A flipped bit in an established connection's record fails authentication. */
static void test_corrupt_record(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	struct side c, s;
	struct buf b = {0};
	char tmp[64];

	CHECK(pair_connect(&c, &s, cctx, sctx, "localhost"));
	CHECK(tls_write_plaintext(c.t, "<message/>", 10) == TLS_OK);
	tls_take_ciphertext(c.t, &b);
	CHECK(b.len > 10);
	b.data[b.len - 3] ^= 0x01;
	CHECK(tls_feed_ciphertext(s.t, b.data, b.len) == TLS_OK);
	CHECK(tls_read_plaintext(s.t, tmp, sizeof(tmp)) == TLS_ERROR);
	CHECK(contains(tls_error_string(s.t), "read:"));
	CHECK(tls_read_plaintext(s.t, tmp, sizeof(tmp)) == TLS_ERROR);
	buf_free(&b);
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

/* ---- protocol versions and ciphers ---------------------------------------------------------- */

static void test_tls11_refused(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256);
	struct raw r;
	struct side s;

	/* OpenSSL 3 only speaks TLS 1.1 at security level 0. */
	CHECK(raw_init(&r, TLS1_1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0"));
	side_init(&s, sctx, true, NULL);
	CHECK(!raw_connect(&r, &s));
	/* The client really offered TLS 1.1: ClientHello.client_version is 3,2. */
	CHECK(r.first_flight.len > 10);
	if (r.first_flight.len > 10)
		CHECK(r.first_flight.data[0] == 0x16 && r.first_flight.data[5] == 0x01 &&
		      r.first_flight.data[9] == 0x03 && r.first_flight.data[10] == 0x02);
	CHECK(s.feed_rc == TLS_ERROR);
	CHECK(contains(tls_error_string(s.t), "unsupported protocol"));
	/* And the refusal was sent as an alert. */
	CHECK(!SSL_is_init_finished(r.ssl));
	raw_free(&r);
	side_free(&s);
	tls_ctx_free(&sctx);
}

/* TLS 1.2 works with an ECDHE + AEAD suite, and tls-exporter matches what a plain OpenSSL peer
 * computes for "EXPORTER-Channel-Binding" with an empty context. */
static void test_tls12(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256);
	struct raw r;
	struct side s;
	unsigned char a[TLS_CHANNEL_BINDING_MAX], b[32];
	size_t alen = 0;

	CHECK(raw_init(&r, TLS1_2_VERSION, TLS1_2_VERSION, NULL));
	side_init(&s, sctx, true, NULL);
	CHECK(raw_connect(&r, &s));
	CHECK_STR(tls_version_string(s.t), "TLSv1.2");
	CHECK(strncmp(tls_cipher_string(s.t), "ECDHE-", 6) == 0);
	CHECK(SSL_get_extms_support(r.ssl) == 1);
	CHECK(tls_channel_binding(s.t, "tls-exporter", a, sizeof(a), &alen) == TLS_OK);
	CHECK(SSL_export_keying_material(r.ssl, b, 32, "EXPORTER-Channel-Binding", 24,
					 (const unsigned char *)"", 0, 1) == 1);
	CHECK(alen == 32 && memcmp(a, b, 32) == 0);
	CHECK(tls_channel_binding(s.t, "tls-server-end-point", a, sizeof(a), &alen) == TLS_OK);
	CHECK(alen == 32 && memcmp(a, cred_p256.endpoint, 32) == 0);
	raw_free(&r);
	side_free(&s);
	tls_ctx_free(&sctx);
}

static void test_tls12_weak_ciphers_refused(void)
{
	static const char *const weak[] = {
		"ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA", /* CBC, not AEAD */
		"AES128-GCM-SHA256:AES256-GCM-SHA384",              /* no forward secrecy */
	};
	struct tls_ctx *sctx = server_ctx(&cred_p256);

	for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
		struct raw r;
		struct side s;
		CHECK(raw_init(&r, TLS1_2_VERSION, TLS1_2_VERSION, weak[i]));
		side_init(&s, sctx, true, NULL);
		CHECK(!raw_connect(&r, &s));
		CHECK(s.feed_rc == TLS_ERROR);
		CHECK(contains(tls_error_string(s.t), "no shared cipher"));
		raw_free(&r);
		side_free(&s);
	}
	tls_ctx_free(&sctx);
}

/* ---- closing -------------------------------------------------------------------------------- */

static void test_close_notify(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	struct side c, s;
	char tmp[16];

	CHECK(pair_connect(&c, &s, cctx, sctx, "localhost"));
	CHECK(tls_write_plaintext(c.t, "</stream:stream>", 16) == TLS_OK);
	CHECK(tls_shutdown(c.t) == TLS_OK);
	CHECK(tls_shutdown(c.t) == TLS_OK); /* twice is harmless */
	CHECK(tls_write_plaintext(c.t, "late", 4) == TLS_CLOSED);
	pump(&c, &s);
	/* Data before close_notify is delivered, then the close. */
	CHECK(s.in.len == 16 && memcmp(s.in.data, "</stream:stream>", 16) == 0);
	CHECK(s.read_rc == TLS_CLOSED);
	CHECK(tls_read_plaintext(s.t, tmp, sizeof(tmp)) == TLS_CLOSED);
	CHECK_STR(tls_error_string(s.t), "");

	/* The server may still answer before closing its side (TLS 1.3 half-close). */
	CHECK(tls_write_plaintext(s.t, "</stream:stream>", 16) == TLS_OK);
	CHECK(tls_shutdown(s.t) == TLS_OK);
	pump(&c, &s);
	CHECK(c.in.len == 16 && memcmp(c.in.data, "</stream:stream>", 16) == 0);
	CHECK(c.read_rc == TLS_CLOSED);
	side_free(&c);
	side_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

static void test_shutdown_before_handshake(void)
{
	struct tls_ctx *cctx = client_ctx(NULL, false);
	struct tls *c = tls_new(cctx, false, "localhost");

	CHECK(tls_shutdown(c) == TLS_ERROR);
	tls_free(&c);
	tls_ctx_free(&cctx);
}

/* ---- reload --------------------------------------------------------------------------------- */

static void test_reload(void)
{
	struct tls_ctx *sctx = server_ctx(&cred_p256), *cctx = client_ctx(NULL, false);
	struct side c1, s1, c2, s2, c3, s3;
	unsigned char cb[TLS_CHANNEL_BINDING_MAX];
	size_t len = 0;
	char err[256] = "";

	CHECK(pair_connect(&c1, &s1, cctx, sctx, "localhost"));
	CHECK(tls_ctx_reload(sctx, cred_p384.cert, cred_p384.key, err, sizeof(err)) == TLS_OK);

	/* A new connection sees the new certificate... */
	CHECK(pair_connect(&c2, &s2, cctx, sctx, "localhost"));
	CHECK(tls_channel_binding(c2.t, "tls-server-end-point", cb, sizeof(cb), &len) == 0);
	CHECK(len == cred_p384.endpoint_len && memcmp(cb, cred_p384.endpoint, len) == 0);

	/* ...the old one keeps its certificate and keeps working. */
	CHECK(tls_channel_binding(c1.t, "tls-server-end-point", cb, sizeof(cb), &len) == 0);
	CHECK(len == cred_p256.endpoint_len && memcmp(cb, cred_p256.endpoint, len) == 0);
	CHECK(tls_write_plaintext(c1.t, "still here", 10) == TLS_OK);
	pump(&c1, &s1);
	CHECK(s1.in.len == 10 && memcmp(s1.in.data, "still here", 10) == 0);

	/* A failed reload (key of another certificate, missing file) changes nothing. */
	CHECK(tls_ctx_reload(sctx, cred_p256.cert, cred_p384.key, err, sizeof(err)) == TLS_ERROR);
	CHECK(contains(err, "does not match"));
	CHECK(tls_ctx_reload(sctx, garbage_pem, cred_p256.key, err, sizeof(err)) == TLS_ERROR);
	CHECK(contains(err, garbage_pem));
	CHECK(pair_connect(&c3, &s3, cctx, sctx, "localhost"));
	CHECK(tls_channel_binding(s3.t, "tls-server-end-point", cb, sizeof(cb), &len) == 0);
	CHECK(len == cred_p384.endpoint_len && memcmp(cb, cred_p384.endpoint, len) == 0);

	/* Connections outlive their contexts. */
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
	CHECK(tls_write_plaintext(s3.t, "after free", 10) == TLS_OK);
	pump(&c3, &s3);
	CHECK(c3.in.len == 10 && memcmp(c3.in.data, "after free", 10) == 0);

	side_free(&c1);
	side_free(&s1);
	side_free(&c2);
	side_free(&s2);
	side_free(&c3);
	side_free(&s3);
}

static const struct test tests[] = {
	TEST(test_ctx_errors),
	TEST(test_handshake),
	TEST(test_handshake_byte_by_byte),
	TEST(test_data_both_ways),
	TEST(test_bulk_1mb),
	TEST(test_write_before_handshake),
	TEST(test_idle_releases_buffers),
	TEST(test_channel_binding),
	TEST(test_server_end_point_hash),
	TEST(test_verify_accepts_localhost),
	TEST(test_verify_rejects_wrong_name),
	TEST(test_verify_rejects_unknown_ca),
	TEST(test_verify_off_reports),
	TEST(test_garbage_to_server),
	TEST(test_garbage_random),
	TEST(test_corrupt_record),
	TEST(test_tls11_refused),
	TEST(test_tls12),
	TEST(test_tls12_weak_ciphers_refused),
	TEST(test_close_notify),
	TEST(test_shutdown_before_handshake),
	TEST(test_reload),
	{NULL, NULL},
};

int main(void)
{
	int rc;

	if (fixtures_setup() < 0) {
		fprintf(stderr, "test-tls: cannot create certificates in %s\n", tmpdir);
		ERR_print_errors_fp(stderr);
		fixtures_cleanup();
		return 1;
	}
	rc = test_run(tests);
	fixtures_cleanup();
	return rc;
}
