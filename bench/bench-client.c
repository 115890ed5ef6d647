/* bench/bench-client.c: the XMPP client side of the load generators (bench-client.h): logins
 * over STARTTLS + SCRAM without channel binding (the certificate is not verified), a byte
 * scanner instead of an XML parser, batched writes, phases, common options.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench-client.h"

static const char STREAM_HEADER_FMT[] =
	"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
	"xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>";

struct scram_entry {
	struct scram_entry *next;
	unsigned char salt[64];
	size_t salt_len;
	unsigned iterations;
	unsigned char client_key[SCRAM_MAX_KEY];
	unsigned char stored_key[SCRAM_MAX_KEY];
	unsigned char server_key[SCRAM_MAX_KEY];
};

/* ---- small helpers ------------------------------------------------------------------------ */

double gen_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void gen_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

const char *find_n(const char *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle));
}

/* Value of attribute name in the start tag [tag, tag+len); NULL if absent. */
const char *attr_value(const char *tag, size_t len, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *end = tag + len;

	for (const char *p = tag; p < end;) {
		p = memmem(p, (size_t)(end - p), name, nlen);
		if (p == NULL || p + nlen + 2 > end)
			return NULL;
		if (p > tag && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n' || p[-1] == '\r') &&
		    p[nlen] == '=' && (p[nlen + 1] == '\'' || p[nlen + 1] == '"')) {
			const char *v = p + nlen + 2;
			const char *q = memchr(v, p[nlen + 1], (size_t)(end - v));
			if (q == NULL)
				return NULL;
			*vlen = (size_t)(q - v);
			return v;
		}
		p += nlen;
	}
	return NULL;
}

bool attr_is(const char *tag, size_t len, const char *name, const char *want)
{
	size_t vlen;
	const char *v = attr_value(tag, len, name, &vlen);

	return v != NULL && vlen == strlen(want) && memcmp(v, want, vlen) == 0;
}

/* Text between the first '>' after open and the next '<' (no entities expected). */
const char *inner_text(const char *el, size_t len, const char *open, size_t *tlen)
{
	const char *p = find_n(el, len, open);
	const char *end = el + len;

	if (p == NULL)
		return NULL;
	p = memchr(p, '>', (size_t)(end - p));
	if (p == NULL || p[-1] == '/')
		return NULL;
	p++;
	const char *q = memchr(p, '<', (size_t)(end - p));
	if (q == NULL)
		return NULL;
	*tlen = (size_t)(q - p);
	return p;
}

/* ---- SCRAM -------------------------------------------------------------------------------- */

static const struct scram_entry *scram_keys(struct gen *g, const unsigned char *salt,
					    size_t salt_len, unsigned iterations)
{
	uint64_t h = 1469598103934665603ULL;
	size_t klen = scram_hash_len(g->opt.hash);
	unsigned char salted[SCRAM_MAX_KEY];

	for (size_t i = 0; i < salt_len; i++)
		h = (h ^ salt[i]) * 1099511628211ULL;
	h ^= iterations;
	struct scram_entry **bucket = &g->scram_cache[h % GEN_SCRAM_CACHE];
	for (struct scram_entry *e = *bucket; e != NULL; e = e->next)
		if (e->iterations == iterations && e->salt_len == salt_len &&
		    memcmp(e->salt, salt, salt_len) == 0)
			return e;
	if (salt_len > sizeof(((struct scram_entry *)0)->salt))
		return NULL;
	struct scram_entry *e = xcalloc(1, sizeof(*e));
	memcpy(e->salt, salt, salt_len);
	e->salt_len = salt_len;
	e->iterations = iterations;
	if (PKCS5_PBKDF2_HMAC(g->opt.password, (int)strlen(g->opt.password), salt, (int)salt_len,
			      (int)iterations, g->opt.hash == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256(),
			      (int)klen, salted) != 1)
		gen_die("PBKDF2 failed");
	scram_hmac(g->opt.hash, salted, klen, "Client Key", 10, e->client_key);
	scram_digest(g->opt.hash, e->client_key, klen, e->stored_key);
	scram_hmac(g->opt.hash, salted, klen, "Server Key", 10, e->server_key);
	e->next = *bucket;
	*bucket = e;
	g->scram_computed++;
	return e;
}

/* ---- output --------------------------------------------------------------------------------- */

static void client_flush(struct client *c);
static void on_flush_idle(uv_idle_t *h);
static void on_timeout(uv_timer_t *t);

void mark_dirty(struct client *c)
{
	struct gen *g = c->g;

	if (c->dirty || c->state == ST_CLOSED)
		return;
	c->dirty = true;
	g->dirty[g->ndirty++] = c;
	if (!uv_is_active((uv_handle_t *)&g->flush_idle))
		uv_idle_start(&g->flush_idle, on_flush_idle);
}

/* Queue application bytes: through TLS once it is up. */
void client_send(struct client *c, const char *data, size_t len)
{
	if (c->state == ST_CLOSED)
		return;
	if (c->tls != NULL) {
		if (tls_write_plaintext(c->tls, data, len) != TLS_OK && c->g->opt.verbose)
			fprintf(stderr, "%s: client %u: TLS write failed: %s\n", program_invocation_short_name, c->index,
				tls_error_string(c->tls));
	} else {
		buf_append(&c->out, data, len);
	}
	mark_dirty(c);
}

void client_sendf(struct client *c, const char *fmt, ...)
{
	struct buf *s = &c->g->scratch;
	va_list ap;

	buf_reset(s);
	va_start(ap, fmt);
	buf_vprintf(s, fmt, ap);
	va_end(ap);
	client_send(c, s->data, s->len);
}

static void on_write(uv_write_t *req, int status)
{
	struct client *c = req->data;

	c->writing = false;
	c->wbuf.len = 0;
	if (status < 0 || c->state == ST_CLOSED)
		return;
	if (c->out.len > 0)
		client_flush(c);
}

static void client_flush(struct client *c)
{
	if (c->state == ST_CLOSED)
		return;
	if (c->tls != NULL)
		tls_take_ciphertext(c->tls, &c->out);
	if (c->writing || c->out.len == 0)
		return;
	struct buf t = c->wbuf;
	c->wbuf = c->out;
	c->out = t;
	c->out.len = 0;
	uv_buf_t b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
	c->wreq.data = c;
	c->writing = true;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0)
		c->writing = false;
}

/* ---- connection life ------------------------------------------------------------------------ */

static void login_done(struct gen *g);

static void on_close(uv_handle_t *h)
{
	struct client *c = h->data;

	tls_free(&c->tls);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->wbuf);
	buf_free(&c->auth_message);
	free(c->full_jid);
	c->full_jid = NULL;
	c->handle_open = false;
}

void client_close(struct client *c)
{
	if (c->state == ST_CLOSED)
		return;
	c->state = ST_CLOSED;
	if (c->handle_open)
		uv_close((uv_handle_t *)&c->tcp, on_close);
}

void phase_timeout_start(struct gen *g, const char *phase)
{
	g->phase = phase;
	uv_timer_start(&g->timeout_timer, on_timeout, (uint64_t)g->opt.timeout * 1000, 0);
}

/* Ends a phase: with --pause, wait for SIGUSR1 before resume(); else go on after settle_ms. */
static void on_settled(uv_timer_t *t)
{
	struct gen *g = t->data;
	void (*f)(struct gen *) = g->on_resume;

	g->on_resume = NULL;
	if (f != NULL)
		f(g);
}

void phase_pause(struct gen *g, const char *name, void (*resume)(struct gen *),
			unsigned settle_ms)
{
	uv_timer_stop(&g->timeout_timer);
	g->phase = name;
	g->on_resume = resume;
	if (g->opt.pause) {
		printf("#pause %s\n", name);
		fflush(stdout);
	} else if (resume != NULL) {
		uv_timer_start(&g->settle_timer, on_settled, settle_ms, 0);
	}
}

/* A login failed, or a logged-in stream ended before the run did. */
void client_fail(struct client *c, const char *why, const char *el, size_t len)
{
	struct gen *g = c->g;
	bool was_ready = c->state == ST_READY;

	if (c->state == ST_CLOSED)
		return;
	if (g->opt.verbose || g->failed + g->dropped < 5)
		fprintf(stderr, "%s: client %u (account %u, %s): %s%s%.*s\n", program_invocation_short_name, c->index,
			c->account, g->phase, why, el != NULL ? ": " : "",
			el != NULL ? (int)(len > 300 ? 300 : len) : 0, el != NULL ? el : "");
	client_close(c);
	if (g->fail_fatal)
		gen_die("a chat client failed; giving up");
	if (was_ready) {
		g->dropped++;
		return;
	}
	g->failed++;
	g->connecting--;
	if (g->ready + g->failed == g->nclients)
		login_done(g);
	else
		start_logins(g);
}

static void client_login_complete(struct client *c)
{
	struct gen *g = c->g;

	g->connecting--;
	g->ready++;
	if (g->ready + g->failed == g->nclients)
		login_done(g);
	else
		start_logins(g);
}

/* ---- the login state machine ---------------------------------------------------------------- */

static void client_send_header(struct client *c)
{
	client_sendf(c, STREAM_HEADER_FMT, c->g->opt.domain);
}

static void client_auth_start(struct client *c)
{
	struct gen *g = c->g;
	char first[256];
	static uint64_t rnd;

	if (rnd == 0)
		rnd = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
	rnd ^= rnd << 13;
	rnd ^= rnd >> 7;
	rnd ^= rnd << 17;
	snprintf(c->nonce, sizeof(c->nonce), "%016" PRIx64 "%08x", rnd, c->index);
	int n = snprintf(first, sizeof(first), "n,,n=%s%u,r=%s", g->opt.prefix, c->account,
			 c->nonce);
	buf_reset(&c->auth_message);
	buf_append(&c->auth_message, first + 3, (size_t)n - 3); /* client-first-message-bare */
	char *b64 = scram_base64_encode((const unsigned char *)first, (size_t)n);
	client_sendf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-%s'>%s</auth>",
		     scram_hash_name(g->opt.hash), b64);
	free(b64);
	c->state = ST_CHALLENGE;
}

static void client_challenge(struct client *c, const char *el, size_t len)
{
	struct gen *g = c->g;
	size_t tlen, klen = scram_hash_len(g->opt.hash);
	const char *text = inner_text(el, len, "<challenge", &tlen);
	char sf[1024], final_wo[512];
	unsigned char salt[256], sig[SCRAM_MAX_KEY], proof[SCRAM_MAX_KEY];
	const char *r = NULL, *s = NULL;
	size_t rlen = 0, slen = 0;
	unsigned long iterations = 0;

	if (text == NULL || tlen == 0 || tlen / 4 * 3 >= sizeof(sf)) {
		client_fail(c, "bad SASL challenge", el, len);
		return;
	}
	long n = scram_base64_decode(text, tlen, (unsigned char *)sf);
	if (n <= 0) {
		client_fail(c, "challenge is not base64", el, len);
		return;
	}
	sf[n] = '\0';
	for (char *p = sf; p != NULL && *p != '\0';) {
		char *comma = strchr(p, ',');
		size_t flen = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (flen >= 2 && p[1] == '=') {
			if (p[0] == 'r') {
				r = p + 2;
				rlen = flen - 2;
			} else if (p[0] == 's') {
				s = p + 2;
				slen = flen - 2;
			} else if (p[0] == 'i') {
				iterations = strtoul(p + 2, NULL, 10);
			}
		}
		p = comma != NULL ? comma + 1 : NULL;
	}
	size_t nlen = strlen(c->nonce);
	if (r == NULL || s == NULL || iterations == 0 || iterations > 10000000 || rlen <= nlen ||
	    memcmp(r, c->nonce, nlen) != 0 || slen / 4 * 3 > sizeof(salt)) {
		client_fail(c, "bad server-first-message", sf, (size_t)n);
		return;
	}
	long salt_len = scram_base64_decode(s, slen, salt);
	if (salt_len <= 0) {
		client_fail(c, "salt is not base64", sf, (size_t)n);
		return;
	}
	const struct scram_entry *keys = scram_keys(g, salt, (size_t)salt_len, (unsigned)iterations);
	if (keys == NULL) {
		client_fail(c, "salt too long", sf, (size_t)n);
		return;
	}
	int fl = snprintf(final_wo, sizeof(final_wo), "c=biws,r=%.*s", (int)rlen, r);
	buf_append_char(&c->auth_message, ',');
	buf_append(&c->auth_message, sf, (size_t)n);
	buf_append_char(&c->auth_message, ',');
	buf_append(&c->auth_message, final_wo, (size_t)fl);
	scram_hmac(g->opt.hash, keys->stored_key, klen, c->auth_message.data, c->auth_message.len,
		   sig);
	for (size_t i = 0; i < klen; i++)
		proof[i] = keys->client_key[i] ^ sig[i];
	scram_hmac(g->opt.hash, keys->server_key, klen, c->auth_message.data, c->auth_message.len,
		   c->server_signature);
	char *p64 = scram_base64_encode(proof, klen);
	struct buf fin = {0};
	buf_printf(&fin, "%s,p=%s", final_wo, p64);
	char *f64 = scram_base64_encode((const unsigned char *)fin.data, fin.len);
	client_sendf(c, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>", f64);
	free(p64);
	free(f64);
	buf_free(&fin);
	c->state = ST_SUCCESS;
}

static void client_success(struct client *c, const char *el, size_t len)
{
	struct gen *g = c->g;
	size_t tlen, klen = scram_hash_len(g->opt.hash);
	const char *text = inner_text(el, len, "<success", &tlen);
	unsigned char dec[256];

	/* The server's proof, v=base64(ServerSignature), is checked when the server sends it. */
	if (text != NULL && tlen > 0) {
		long n = tlen / 4 * 3 <= sizeof(dec) ? scram_base64_decode(text, tlen, dec) : -1;
		char *v64 = scram_base64_encode(c->server_signature, klen);
		bool ok = n > 2 && memcmp(dec, "v=", 2) == 0 && (size_t)n - 2 == strlen(v64) &&
			  memcmp(dec + 2, v64, (size_t)n - 2) == 0;
		free(v64);
		if (!ok) {
			client_fail(c, "wrong server signature", el, len);
			return;
		}
	}
	buf_free(&c->auth_message);
	if (c->auth_only) {
		client_close(c);
		client_login_complete(c);
		return;
	}
	c->restart = true;
	client_send_header(c);
	c->state = ST_FEATURES_AUTH;
}

/* One complete top-level element of the server's stream. */
static void client_element(struct client *c, const char *el, size_t len, uint64_t now)
{
	struct gen *g = c->g;
	size_t nl = strcspn(el + 1, " \t\r\n/>");
	const char *name = el + 1;
	const char *colon = memchr(name, ':', nl);

	if (colon != NULL) {
		nl -= (size_t)(colon + 1 - name);
		name = colon + 1;
	}
#define IS(lit) (nl == sizeof(lit) - 1 && memcmp(name, lit, nl) == 0)
	if (c->state == ST_READY) {
		if (g->on_stanza != NULL)
			g->on_stanza(c, el, len, now);
		return;
	}
	if (IS("error") && colon != NULL) {
		client_fail(c, "stream error", el, len);
		return;
	}
	switch (c->state) {
	case ST_FEATURES_PLAIN:
		if (!IS("features") || find_n(el, len, "<starttls") == NULL) {
			client_fail(c, "expected features with STARTTLS", el, len);
			return;
		}
		client_sendf(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
		c->state = ST_PROCEED;
		return;
	case ST_PROCEED:
		if (!IS("proceed")) {
			client_fail(c, "expected <proceed/>", el, len);
			return;
		}
		/* Nothing follows <proceed/> in the clear: restart, then the TLS handshake. */
		c->restart = true;
		c->tls = tls_new(g->tls_ctx, false, NULL);
		if (c->tls == NULL) {
			client_fail(c, "tls_new failed", NULL, 0);
			return;
		}
		client_send_header(c);
		c->state = ST_FEATURES_TLS;
		return;
	case ST_FEATURES_TLS: {
		char mech[64];
		snprintf(mech, sizeof(mech), ">SCRAM-%s<", scram_hash_name(g->opt.hash));
		if (!IS("features") || find_n(el, len, mech) == NULL) {
			client_fail(c, "SCRAM mechanism not offered", el, len);
			return;
		}
		client_auth_start(c);
		return;
	}
	case ST_CHALLENGE:
		if (!IS("challenge")) {
			client_fail(c, "SASL failed", el, len);
			return;
		}
		client_challenge(c, el, len);
		return;
	case ST_SUCCESS:
		if (!IS("success")) {
			client_fail(c, "SASL failed", el, len);
			return;
		}
		client_success(c, el, len);
		return;
	case ST_FEATURES_AUTH:
		if (!IS("features") || find_n(el, len, "<bind") == NULL) {
			client_fail(c, "expected features with bind", el, len);
			return;
		}
		client_sendf(c, "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
				"<resource>%s</resource></bind></iq>", c->resource);
		c->state = ST_BIND;
		return;
	case ST_BIND: {
		size_t jl;
		const char *jid;
		if (!IS("iq") || !attr_is(el, len, "id", "bind1"))
			return; /* not the answer yet */
		if (!attr_is(el, len, "type", "result") ||
		    (jid = inner_text(el, len, "<jid", &jl)) == NULL || jl == 0) {
			client_fail(c, "bind failed", el, len);
			return;
		}
		c->full_jid = xstrndup(jid, jl);
		client_sendf(c, "<presence/>");
		c->state = ST_READY;
		client_login_complete(c);
		return;
	}
	default:
		return;
	}
#undef IS
}

/* Finds the top-level elements in c->in and hands each to client_element(). Tags are found by
 * their '<' and the next '>' outside quotes; text never holds a raw '<'. */
static void client_scan(struct client *c, uint64_t now)
{
	char *d = c->in.data;
	size_t len = c->in.len, p = c->scan;

	while (c->state != ST_CLOSED && p < len) {
		char *lt = memchr(d + p, '<', len - p);
		if (lt == NULL) {
			p = len;
			break;
		}
		size_t i = (size_t)(lt - d), j;
		if (i + 1 >= len) {
			p = i;
			break;
		}
		char k = d[i + 1];
		if (k == '?' || k == '!') {
			/* XML declaration; comments and CDATA are not expected from either server. */
			const char *e = find_n(d + i, len - i, k == '?' ? "?>" : ">");
			if (e == NULL) {
				p = i;
				break;
			}
			p = (size_t)(e - d) + (k == '?' ? 2 : 1);
			continue;
		}
		char q = 0;
		for (j = i + 1; j < len; j++) {
			char ch = d[j];
			if (q != 0) {
				if (ch == q)
					q = 0;
			} else if (ch == '\'' || ch == '"') {
				q = ch;
			} else if (ch == '>') {
				break;
			}
		}
		if (j >= len) {
			p = i;
			break;
		}
		p = j + 1;
		if (k == '/') {
			c->depth--;
			if (c->depth == 1) {
				client_element(c, d + c->el_start, p - c->el_start, now);
			} else if (c->depth <= 0) {
				client_fail(c, "server closed the stream", NULL, 0);
				return;
			}
		} else if (c->depth == 0) {
			c->depth = 1; /* the stream header */
		} else if (c->depth == 1) {
			c->el_start = i;
			if (d[j - 1] == '/')
				client_element(c, d + i, p - i, now);
			else
				c->depth = 2;
		} else if (d[j - 1] != '/') {
			c->depth++;
		}
		if (c->restart) {
			c->restart = false;
			c->depth = 0;
			buf_reset(&c->in);
			c->scan = 0;
			return;
		}
	}
	if (c->state == ST_CLOSED)
		return;
	/* Keep only what is still needed: the unfinished element, or the unscanned tail. */
	size_t keep_from = c->depth >= 2 ? c->el_start : p;
	if (keep_from > 0) {
		buf_consume(&c->in, keep_from);
		p -= keep_from;
		c->el_start -= c->depth >= 2 ? keep_from : 0;
	}
	c->scan = p;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct client *c = h->data;

	*b = uv_buf_init(c->g->readbuf, sizeof(c->g->readbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct client *c = s->data;
	uint64_t now = uv_hrtime();

	if (c->state == ST_CLOSED || nread == 0)
		return;
	if (nread < 0) {
		client_fail(c, nread == UV_EOF ? "server closed the connection" : uv_strerror((int)nread),
			    NULL, 0);
		return;
	}
	if (c->tls == NULL) {
		buf_append(&c->in, b->base, (size_t)nread);
	} else {
		if (tls_feed_ciphertext(c->tls, b->base, (size_t)nread) != TLS_OK) {
			client_fail(c, "TLS error", tls_error_string(c->tls),
				    strlen(tls_error_string(c->tls)));
			return;
		}
		for (;;) {
			buf_reserve(&c->in, 16384);
			ssize_t r = tls_read_plaintext(c->tls, c->in.data + c->in.len,
						       c->in.cap - c->in.len - 1);
			if (r <= 0) {
				if (r < 0) {
					client_fail(c, r == TLS_CLOSED ? "TLS closed" : "TLS error",
						    NULL, 0);
					return;
				}
				break;
			}
			c->in.len += (size_t)r;
			c->in.data[c->in.len] = '\0';
		}
		mark_dirty(c); /* handshake messages, KeyUpdate answers */
	}
	client_scan(c, now);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct client *c = req->data;

	if (c->state == ST_CLOSED)
		return;
	if (status < 0) {
		client_fail(c, "connect failed", uv_strerror(status), strlen(uv_strerror(status)));
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	c->state = ST_FEATURES_PLAIN;
	client_send_header(c);
}

static void client_connect(struct gen *g, struct client *c)
{
	uv_tcp_init(g->loop, &c->tcp);
	c->tcp.data = c;
	c->handle_open = true;
	c->creq.data = c;
	c->state = ST_CONNECTING;
	g->connecting++;
	int r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&g->addr, on_connect);
	if (r < 0)
		client_fail(c, "connect failed", uv_strerror(r), strlen(uv_strerror(r)));
}

void start_logins(struct gen *g)
{
	while (g->connecting < g->opt.concurrency && g->next_connect < g->nclients)
		client_connect(g, g->clients[g->next_connect++]);
}

/* New clients 0..n-1; client k is account k mod accounts with resource res, followed by
 * k / accounts when numbered. */
void make_clients(struct gen *g, unsigned n, unsigned accounts, const char *res,
			 bool numbered, bool auth_only)
{
	g->clients = xcalloc(n, sizeof(*g->clients));
	g->dirty = xcalloc(n, sizeof(*g->dirty));
	g->nclients = n;
	g->next_connect = g->connecting = g->ready = g->failed = 0;
	for (unsigned k = 0; k < n; k++) {
		struct client *c = xcalloc(1, sizeof(*c));
		c->g = g;
		c->index = k;
		c->account = k % accounts;
		c->auth_only = auth_only;
		c->state = ST_CONNECTING;
		if (numbered)
			snprintf(c->resource, sizeof(c->resource), "%s%u", res, k / accounts);
		else
			snprintf(c->resource, sizeof(c->resource), "%s", res);
		g->clients[k] = c;
	}
}

/* Every client of the current make_clients() batch is ready or failed. */
static void login_done(struct gen *g)
{
	g->login_end_ns = uv_hrtime();
	if (g->on_logins_done != NULL)
		g->on_logins_done(g);
}

/* ---- loop plumbing ---------------------------------------------------------------------------- */

static void on_flush_idle(uv_idle_t *h)
{
	struct gen *g = h->data;
	unsigned n = g->ndirty;

	/* Refilling and flushing only touch the client itself, which is already on the list, so
	 * nothing is added while this runs. */
	for (unsigned i = 0; i < n; i++) {
		struct client *c = g->dirty[i];
		if (g->on_flush != NULL && c->state == ST_READY)
			g->on_flush(c);
		c->dirty = false;
		client_flush(c);
	}
	g->ndirty = 0;
	uv_idle_stop(h);
}

static void on_timeout(uv_timer_t *t)
{
	struct gen *g = t->data;

	fprintf(stderr, "%s: %s phase timed out after %u s (ready=%u failed=%u)\n", program_invocation_short_name, g->phase,
		g->opt.timeout, g->ready, g->failed);
	if (g->on_timeout != NULL)
		g->on_timeout(g);
	exit(1);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct gen *g = s->data;

	if (signum == SIGUSR1) {
		void (*f)(struct gen *) = g->on_resume;
		g->on_resume = NULL;
		if (f != NULL)
			f(g);
		return;
	}
	if (strcmp(g->phase, "holding") == 0 || strcmp(g->phase, "done") == 0)
		exit(0);
	fprintf(stderr, "%s: interrupted in the %s phase\n", program_invocation_short_name, g->phase);
	exit(1);
}

/* ---- options ---------------------------------------------------------------------------------- */

const char GEN_COMMON_USAGE[] =
	"  common: --port P [--host 127.0.0.1] [--domain localhost] [--prefix bench]\n"
	"          [--password PW] [--mech SCRAM-SHA-1|SCRAM-SHA-256] [--concurrency 100]\n"
	"          [--timeout 300] [--ca CERT.pem] [--pause] [--verbose]\n"
	"  Accounts are PREFIX0, PREFIX1, ... on DOMAIN, all with password PW. --timeout bounds\n"
	"  each phase; --concurrency is the number of logins in progress at once. The server's\n"
	"  certificate is not verified; --ca names the trust store to use anyway (the server's\n"
	"  own certificate is best: with the system store, OpenSSL scans /etc/ssl/certs for\n"
	"  every connection).\n";

unsigned parse_uint(const char *opt, const char *v, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || x < min || x > max)
		gen_die("bad value for %s: %s", opt, v);
	return (unsigned)x;
}

void gen_default_options(struct gen_options *o)
{
	*o = (struct gen_options){
		.host = "127.0.0.1",
		.domain = "localhost",
		.prefix = "bench",
		.password = "benchpw",
		.hash = SCRAM_SHA1,
		.concurrency = 100,
		.timeout = 300,
	};
}

bool gen_common_flag(struct gen_options *o, const char *name)
{
	if (strcmp(name, "--pause") == 0)
		o->pause = true;
	else if (strcmp(name, "--verbose") == 0)
		o->verbose = true;
	else
		return false;
	return true;
}

bool gen_common_option(struct gen_options *o, const char *name, const char *v)
{
	if (strcmp(name, "--host") == 0)
		o->host = v;
	else if (strcmp(name, "--port") == 0)
		o->port = parse_uint(name, v, 1, 65535);
	else if (strcmp(name, "--domain") == 0)
		o->domain = v;
	else if (strcmp(name, "--prefix") == 0)
		o->prefix = v;
	else if (strcmp(name, "--password") == 0)
		o->password = v;
	else if (strcmp(name, "--ca") == 0)
		o->ca_file = v;
	else if (strcmp(name, "--concurrency") == 0)
		o->concurrency = parse_uint(name, v, 1, GEN_MAX_CLIENTS);
	else if (strcmp(name, "--timeout") == 0)
		o->timeout = parse_uint(name, v, 1, 86400);
	else if (strcmp(name, "--mech") == 0) {
		if (strcmp(v, "SCRAM-SHA-1") == 0)
			o->hash = SCRAM_SHA1;
		else if (strcmp(v, "SCRAM-SHA-256") == 0)
			o->hash = SCRAM_SHA256;
		else
			gen_die("--mech: SCRAM-SHA-1 or SCRAM-SHA-256");
	} else
		return false;
	return true;
}

void gen_parse_args(int argc, char **argv, struct gen_options *o, void (*usage)(FILE *f),
		    bool (*flag)(const char *name), bool (*option)(const char *name, const char *v))
{
	for (int i = 1; i < argc; i++) {
		const char *a0 = argv[i];
		if (strcmp(a0, "-h") == 0 || strcmp(a0, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (gen_common_flag(o, a0) || (flag != NULL && flag(a0)))
			continue;
		if (i + 1 >= argc)
			gen_die("%s needs a value (--help)", a0);
		const char *v = argv[++i];
		if (!gen_common_option(o, a0, v) && !option(a0, v))
			gen_die("unknown option %s (--help)", a0);
	}
	if (o->port == 0) {
		usage(stderr);
		exit(2);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void gen_percentiles(uint64_t *lat, uint64_t n, double *p50_ms, double *p99_ms)
{
	*p50_ms = *p99_ms = 0;
	if (n == 0)
		return;
	qsort(lat, n, sizeof(uint64_t), cmp_u64);
	*p50_ms = (double)lat[(n - 1) / 2] / 1e6;
	*p99_ms = (double)lat[(n * 99 + 99) / 100 - 1] / 1e6;
}

void gen_init(struct gen *g, unsigned need_fds)
{
	struct in_addr a;
	struct rlimit rl;
	char err[256];
	char *prepped;

	if (g->opt.port == 0)
		gen_die("--port is required (--help)");
	/* Loopback only: this load is for a server on this machine. */
	if (inet_pton(AF_INET, g->opt.host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
		gen_die("--host must be an IPv4 loopback address (127.x.x.x)");
	if (strlen(g->opt.prefix) > 32 || strlen(g->opt.domain) > 200 ||
	    strcspn(g->opt.prefix, "'\"<>&@/,=") != strlen(g->opt.prefix))
		gen_die("--prefix or --domain unusable");
	/* The password is ASCII in practice; SASLprep it anyway, as a client must. */
	if (scram_saslprep(g->opt.password, &prepped) < 0)
		gen_die("the password fails SASLprep");
	g->opt.password = prepped;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need_fds) {
		rl.rlim_cur = rl.rlim_max < need_fds ? rl.rlim_max : need_fds;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < need_fds)
			fprintf(stderr, "%s: warning: only %lu file descriptors allowed, %u wanted\n",
				program_invocation_short_name, (unsigned long)rl.rlim_cur, need_fds);
	}
	signal(SIGPIPE, SIG_IGN);
	if (tls_ctx_new_client(g->opt.ca_file, false, &g->tls_ctx, err, sizeof(err)) != TLS_OK)
		gen_die("TLS: %s", err);
	g->loop = uv_default_loop();
	uv_ip4_addr(g->opt.host, (int)g->opt.port, &g->addr);
	uv_idle_init(g->loop, &g->flush_idle);
	g->flush_idle.data = g;
	uv_timer_init(g->loop, &g->timeout_timer);
	g->timeout_timer.data = g;
	uv_timer_init(g->loop, &g->settle_timer);
	g->settle_timer.data = g;
	uv_signal_init(g->loop, &g->sig_usr1);
	uv_signal_init(g->loop, &g->sig_term);
	uv_signal_init(g->loop, &g->sig_int);
	g->sig_usr1.data = g->sig_term.data = g->sig_int.data = g;
	uv_signal_start(&g->sig_usr1, on_signal, SIGUSR1);
	uv_signal_start(&g->sig_term, on_signal, SIGTERM);
	uv_signal_start(&g->sig_int, on_signal, SIGINT);
}
