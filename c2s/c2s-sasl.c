/* c2s-sasl.c: SASL mechanisms for client streams (see c2s-sasl.h).
 *
 * SCRAM messages are parsed strictly by RFC 5802's grammar: anything this server does not
 * understand ends the attempt rather than being guessed at, because a lenient parser is where
 * channel-binding downgrades hide. Failures are reported as one condition plus a static reason
 * for the log; the client learns only the condition.
 */
#include "c2s-sasl.h"

#include <assert.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jid.h"

/* 24 random bytes: 32 base64 characters, above RFC 5802's advice and our 18-byte floor. */
#define C2S_SASL_NONCE_BYTES 24

enum c2s_sasl_state {
	C2S_SASL_STATE_START,        /* waiting for the initial message */
	C2S_SASL_STATE_CREDENTIALS,  /* waiting for c2s_sasl_set_credentials() */
	C2S_SASL_STATE_CLIENT_FINAL, /* SCRAM: server-first sent */
	C2S_SASL_STATE_DONE,         /* succeeded or failed */
};

struct c2s_sasl {
	const char *mechanism;
	bool plain; /* PLAIN, else SCRAM */
	bool plus;  /* a -PLUS mechanism */
	enum scram_hash hash;
	enum c2s_sasl_state state;
	bool asked_initial; /* sent the empty challenge for a missing initial response */
	const char *reason;

	struct c2s_sasl_tls tls;
	bool plus_offered;
	char *domain;
	unsigned char *secret;
	size_t secret_len;
	unsigned fake_iterations;

	char *username;
	char *password;         /* PLAIN only, until checked */
	const char *cb_type;    /* from p= */
	char *gs2_header;       /* exactly as sent, with its final comma */
	char *client_first_bare;
	char *server_first;
	char *nonce;            /* client nonce followed by ours */
	struct scram_credentials cred;
	bool fake;              /* cred is made up: the account does not exist */
};

static const char c2s_sasl_exporter[] = "tls-exporter";
static const char c2s_sasl_end_point[] = "tls-server-end-point";

void c2s_sasl_tls_from(struct tls *t, struct c2s_sasl_tls *info_r)
{
	memset(info_r, 0, sizeof(*info_r));
	if (t == NULL || !tls_handshake_done(t))
		return;
	info_r->active = true;
	if (tls_channel_binding(t, c2s_sasl_exporter, info_r->exporter, sizeof(info_r->exporter),
				&info_r->exporter_len) != TLS_OK)
		info_r->exporter_len = 0;
	if (tls_channel_binding(t, c2s_sasl_end_point, info_r->server_end_point,
				sizeof(info_r->server_end_point),
				&info_r->server_end_point_len) != TLS_OK)
		info_r->server_end_point_len = 0;
}

static bool c2s_sasl_tls_active(const struct c2s_sasl_tls *tls)
{
	return tls != NULL && tls->active;
}

static bool c2s_sasl_plus_available(const struct c2s_sasl_tls *tls)
{
	return c2s_sasl_tls_active(tls) && (tls->exporter_len > 0 || tls->server_end_point_len > 0);
}

size_t c2s_sasl_mechanisms(const struct c2s_sasl_config *cfg, const struct c2s_sasl_tls *tls,
			   const char *names_r[C2S_SASL_MAX_MECHANISMS])
{
	size_t n = 0;
	if (c2s_sasl_plus_available(tls)) {
		names_r[n++] = "SCRAM-SHA-256-PLUS";
		if (!cfg->sha1_disabled)
			names_r[n++] = "SCRAM-SHA-1-PLUS";
	}
	names_r[n++] = "SCRAM-SHA-256";
	if (!cfg->sha1_disabled)
		names_r[n++] = "SCRAM-SHA-1";
	if (c2s_sasl_tls_active(tls) && cfg->plain_allowed)
		names_r[n++] = "PLAIN";
	return n;
}

size_t c2s_sasl_channel_bindings(const struct c2s_sasl_tls *tls, const char *names_r[2])
{
	size_t n = 0;
	if (!c2s_sasl_tls_active(tls))
		return 0;
	if (tls->exporter_len > 0)
		names_r[n++] = c2s_sasl_exporter;
	if (tls->server_end_point_len > 0)
		names_r[n++] = c2s_sasl_end_point;
	return n;
}

int c2s_sasl_new(const char *mechanism, const struct c2s_sasl_config *cfg,
		 const struct c2s_sasl_tls *tls, struct c2s_sasl **sasl_r)
{
	static const struct {
		const char *name;
		bool plain, plus;
		enum scram_hash hash;
	} mechs[] = {
		{"SCRAM-SHA-256-PLUS", false, true, SCRAM_SHA256},
		{"SCRAM-SHA-1-PLUS", false, true, SCRAM_SHA1},
		{"SCRAM-SHA-256", false, false, SCRAM_SHA256},
		{"SCRAM-SHA-1", false, false, SCRAM_SHA1},
		{"PLAIN", true, false, SCRAM_SHA256},
	};
	size_t i;

	assert(cfg->domain != NULL && cfg->secret != NULL && cfg->secret_len > 0);
	*sasl_r = NULL;
	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (strcmp(mechanism, mechs[i].name) == 0)
			break;
	if (i == sizeof(mechs) / sizeof(mechs[0]))
		return C2S_SASL_INVALID_MECHANISM;
	if ((mechs[i].plain || mechs[i].plus) && !c2s_sasl_tls_active(tls))
		return C2S_SASL_ENCRYPTION_REQUIRED;
	if (mechs[i].plain && !cfg->plain_allowed)
		return C2S_SASL_INVALID_MECHANISM;
	if (mechs[i].plus && !c2s_sasl_plus_available(tls))
		return C2S_SASL_INVALID_MECHANISM;
	if (!mechs[i].plain && mechs[i].hash == SCRAM_SHA1 && cfg->sha1_disabled)
		return C2S_SASL_MECHANISM_TOO_WEAK;

	struct c2s_sasl *s = xcalloc(1, sizeof(*s));
	s->mechanism = mechs[i].name;
	s->plain = mechs[i].plain;
	s->plus = mechs[i].plus;
	s->hash = mechs[i].hash;
	s->state = C2S_SASL_STATE_START;
	s->reason = "";
	if (tls != NULL)
		s->tls = *tls;
	s->plus_offered = c2s_sasl_plus_available(tls);
	s->domain = xstrdup(cfg->domain);
	s->secret = xmalloc(cfg->secret_len);
	memcpy(s->secret, cfg->secret, cfg->secret_len);
	s->secret_len = cfg->secret_len;
	s->fake_iterations = cfg->iterations ? cfg->iterations : SCRAM_MIN_ITERATIONS;
	*sasl_r = s;
	return 0;
}

/* Free a string that may have held a secret. */
static void c2s_sasl_free_secret(char **p)
{
	if (*p != NULL) {
		OPENSSL_cleanse(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void c2s_sasl_free(struct c2s_sasl **sp)
{
	struct c2s_sasl *s = *sp;
	if (s == NULL)
		return;
	c2s_sasl_free_secret(&s->password);
	OPENSSL_cleanse(s->secret, s->secret_len);
	free(s->secret);
	free(s->domain);
	free(s->username);
	free(s->gs2_header);
	free(s->client_first_bare);
	free(s->server_first);
	free(s->nonce);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	*sp = NULL;
}

/* End the attempt with a failure. */
static int c2s_sasl_fail(struct c2s_sasl *s, int result, const char *reason)
{
	assert(result < 0);
	s->state = C2S_SASL_STATE_DONE;
	s->reason = reason;
	c2s_sasl_free_secret(&s->password);
	return result;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF, no NUL. */
static bool c2s_sasl_utf8_valid(const unsigned char *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = p[i];
		size_t n;
		uint32_t cp, min;
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Is authzid acceptable for an account authcid on s's domain? Only when it is empty or names
 * that very account as a bare JID (compared after normalisation). */
static bool c2s_sasl_authzid_ok(const struct c2s_sasl *s, const char *authcid, const char *authzid)
{
	struct jid self = {0}, asked = {0};
	struct buf b = {0};
	bool ok = false;

	if (authzid == NULL || authzid[0] == '\0')
		return true;
	/* With '@' or '/' in it, authcid@domain would parse as some other JID. */
	if (strpbrk(authcid, "@/") != NULL)
		return false;
	buf_printf(&b, "%s@%s", authcid, s->domain);
	if (jid_parse(b.data, (ssize_t)b.len, &self) == JID_OK &&
	    jid_parse(authzid, -1, &asked) == JID_OK)
		ok = self.resource == NULL && asked.resource == NULL &&
		     jid_equal_bare(&self, &asked);
	jid_clear(&self);
	jid_clear(&asked);
	buf_free(&b);
	return ok;
}

/* ---- PLAIN ------------------------------------------------------------------------------- */

/* [authzid] NUL authcid NUL passwd (RFC 4616 section 2). */
static int c2s_sasl_plain_step(struct c2s_sasl *s, const unsigned char *in, size_t len)
{
	const unsigned char *nul1 = memchr(in, '\0', len), *nul2;
	char *authzid;
	bool authzid_ok;

	if (nul1 == NULL)
		return c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "PLAIN message without NUL");
	nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - in));
	if (nul2 == NULL)
		return c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "PLAIN message with one NUL");
	size_t zlen = (size_t)(nul1 - in), clen = (size_t)(nul2 - nul1 - 1);
	size_t plen = len - (size_t)(nul2 + 1 - in);
	if (clen == 0 || plen == 0)
		return c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST,
				     "PLAIN with empty authcid or password");
	/* utf8_valid also refuses a third NUL inside the password. */
	if (!c2s_sasl_utf8_valid(in, zlen) || !c2s_sasl_utf8_valid(nul1 + 1, clen) ||
	    !c2s_sasl_utf8_valid(nul2 + 1, plen))
		return c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "PLAIN message not UTF-8");
	s->username = xstrndup((const char *)nul1 + 1, clen);
	authzid = xstrndup((const char *)in, zlen);
	authzid_ok = c2s_sasl_authzid_ok(s, s->username, authzid);
	free(authzid);
	if (!authzid_ok)
		return c2s_sasl_fail(s, C2S_SASL_INVALID_AUTHZID, "authzid is another identity");
	s->password = xstrndup((const char *)nul2 + 1, plen);
	s->state = C2S_SASL_STATE_CREDENTIALS;
	return C2S_SASL_NEED_CREDENTIALS;
}

/* ---- SCRAM parsing ------------------------------------------------------------------------ */

/* A cursor over a NUL-terminated message. */
struct c2s_sasl_cursor {
	const char *p;
};

/* Consume the literal lit if it is next. */
static bool c2s_sasl_accept(struct c2s_sasl_cursor *c, const char *lit)
{
	size_t n = strlen(lit);
	if (strncmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* The value up to the next ',' or the end: [start, end). */
static void c2s_sasl_value(struct c2s_sasl_cursor *c, const char **start, size_t *len)
{
	*start = c->p;
	*len = strcspn(c->p, ",");
	c->p += *len;
}

/* saslname (RFC 5802 section 7): "=2C" is ',', "=3D" is '=', any other '=' is an error, and
 * the result is non-empty valid UTF-8. NULL on error. */
static char *c2s_sasl_unescape(const char *v, size_t len)
{
	struct buf b = {0};
	for (size_t i = 0; i < len; i++) {
		if (v[i] != '=') {
			buf_append_char(&b, v[i]);
		} else if (len - i >= 3 && v[i + 1] == '2' && v[i + 2] == 'C') {
			buf_append_char(&b, ',');
			i += 2;
		} else if (len - i >= 3 && v[i + 1] == '3' && v[i + 2] == 'D') {
			buf_append_char(&b, '=');
			i += 2;
		} else {
			buf_free(&b);
			return NULL;
		}
	}
	if (b.len == 0 || !c2s_sasl_utf8_valid((const unsigned char *)b.data, b.len)) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* printable = %x21-2B / %x2D-7E: a nonce, non-empty. */
static bool c2s_sasl_printable(const char *v, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (v[i] < 0x21 || v[i] > 0x7e || v[i] == ',')
			return false;
	return true;
}

/* extensions = attr-val *("," attr-val), attr-val = ALPHA "=" value, each after a ','. The
 * cursor is just past the preceding attribute. Stops, without consuming it, at ",p=" when
 * stop_at_proof. */
static bool c2s_sasl_skip_extensions(struct c2s_sasl_cursor *c, bool stop_at_proof)
{
	while (*c->p == ',') {
		const char *v;
		size_t len;
		if (stop_at_proof && strncmp(c->p, ",p=", 3) == 0)
			return true;
		c->p++;
		char a = *c->p;
		if (!((a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z')) || c->p[1] != '=')
			return false;
		/* m= is reserved for mandatory extensions, which we implement none of. */
		if (a == 'm')
			return false;
		c->p += 2;
		c2s_sasl_value(c, &v, &len);
		if (len == 0)
			return false;
	}
	return *c->p == '\0' || (stop_at_proof && strncmp(c->p, ",p=", 3) == 0);
}

/* Copy a step's input into a NUL-terminated string, refusing embedded NULs. */
static char *c2s_sasl_message(const unsigned char *in, size_t len)
{
	if (len == 0 || memchr(in, '\0', len) != NULL)
		return NULL;
	return xstrndup((const char *)in, len);
}

static const char *c2s_sasl_cb_data(const struct c2s_sasl *s, size_t *len_r)
{
	if (s->cb_type == c2s_sasl_exporter) {
		*len_r = s->tls.exporter_len;
		return (const char *)s->tls.exporter;
	}
	*len_r = s->tls.server_end_point_len;
	return (const char *)s->tls.server_end_point;
}

/* client-first-message = gs2-header client-first-message-bare (RFC 5802 section 7). */
static int c2s_sasl_scram_first(struct c2s_sasl *s, const unsigned char *in, size_t len)
{
	struct c2s_sasl_cursor c;
	char *msg = c2s_sasl_message(in, len), *authzid = NULL;
	const char *v;
	size_t vlen;
	char flag;
	int ret;

	if (msg == NULL) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "empty or NUL in client-first");
		goto out;
	}
	c.p = msg;
	/* gs2-cbind-flag */
	flag = *c.p;
	if (c2s_sasl_accept(&c, "p=")) {
		c2s_sasl_value(&c, &v, &vlen);
		if (vlen == strlen(c2s_sasl_exporter) && memcmp(v, c2s_sasl_exporter, vlen) == 0)
			s->cb_type = c2s_sasl_exporter;
		else if (vlen == strlen(c2s_sasl_end_point) &&
			 memcmp(v, c2s_sasl_end_point, vlen) == 0)
			s->cb_type = c2s_sasl_end_point;
		else if (vlen == 0) {
			ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "empty cb-name");
			goto out;
		}
		/* An unknown but well-formed name is refused below, after the whole parse. */
	} else if (!c2s_sasl_accept(&c, "n") && !c2s_sasl_accept(&c, "y")) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "bad gs2-cbind-flag");
		goto out;
	}
	if (!c2s_sasl_accept(&c, ",")) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "bad gs2-cbind-flag");
		goto out;
	}
	/* [ authzid ] "," */
	if (c2s_sasl_accept(&c, "a=")) {
		c2s_sasl_value(&c, &v, &vlen);
		if ((authzid = c2s_sasl_unescape(v, vlen)) == NULL) {
			ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "bad authzid");
			goto out;
		}
	}
	if (!c2s_sasl_accept(&c, ",")) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "bad gs2-header");
		goto out;
	}
	s->gs2_header = xstrndup(msg, (size_t)(c.p - msg));
	s->client_first_bare = xstrdup(c.p);
	/* client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions] */
	if (c2s_sasl_accept(&c, "m=")) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "mandatory extension (m=)");
		goto out;
	}
	if (!c2s_sasl_accept(&c, "n=")) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "no username");
		goto out;
	}
	c2s_sasl_value(&c, &v, &vlen);
	if ((s->username = c2s_sasl_unescape(v, vlen)) == NULL) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "bad username");
		goto out;
	}
	if (!c2s_sasl_accept(&c, ",r=")) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "no client nonce");
		goto out;
	}
	c2s_sasl_value(&c, &v, &vlen);
	if (!c2s_sasl_printable(v, vlen)) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "bad client nonce");
		goto out;
	}
	s->nonce = xstrndup(v, vlen);
	if (!c2s_sasl_skip_extensions(&c, false)) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "bad extension in client-first");
		goto out;
	}

	/* Channel binding (RFC 5802 section 6). Without -PLUS the client must not bind; with it,
	 * it must. 'y' says "I could bind but you don't offer it": if we did offer -PLUS,
	 * someone removed it from the feature list on the way. */
	if (!s->plus && flag == 'p') {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "p= with a non-PLUS mechanism");
		goto out;
	}
	if (s->plus && flag != 'p') {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "-PLUS mechanism without p=");
		goto out;
	}
	if (flag == 'y' && s->plus_offered) {
		ret = c2s_sasl_fail(s, C2S_SASL_NOT_AUTHORIZED, "channel binding downgrade (y)");
		goto out;
	}
	if (flag == 'p') {
		size_t cb_len = 0;
		if (s->cb_type == NULL || (c2s_sasl_cb_data(s, &cb_len), cb_len == 0)) {
			ret = c2s_sasl_fail(s, C2S_SASL_NOT_AUTHORIZED,
					    "unsupported channel binding type");
			goto out;
		}
	}
	if (!c2s_sasl_authzid_ok(s, s->username, authzid)) {
		ret = c2s_sasl_fail(s, C2S_SASL_INVALID_AUTHZID, "authzid is another identity");
		goto out;
	}
	s->state = C2S_SASL_STATE_CREDENTIALS;
	ret = C2S_SASL_NEED_CREDENTIALS;
out:
	free(msg);
	free(authzid);
	return ret;
}

/* client-final-message = channel-binding "," nonce ["," extensions] "," proof. */
static int c2s_sasl_scram_final(struct c2s_sasl *s, const unsigned char *in, size_t len,
				struct buf *out)
{
	struct c2s_sasl_cursor c;
	char *msg = c2s_sasl_message(in, len), *expected_cb = NULL, *sig_b64 = NULL;
	const char *cb, *nonce, *proof_b64, *cb_data = "";
	size_t cb_len, nonce_len, proof_len, without_proof_len, cb_data_len = 0;
	unsigned char scratch[C2S_SASL_MAX_INPUT], proof[C2S_SASL_MAX_INPUT];
	unsigned char sig[SCRAM_MAX_KEY];
	struct buf b = {0};
	long n;
	bool cb_ok, nonce_ok, proof_ok;
	int ret;

	if (msg == NULL) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "empty or NUL in client-final");
		goto out;
	}
	c.p = msg;
	if (!c2s_sasl_accept(&c, "c=")) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "no channel binding (c=)");
		goto out;
	}
	c2s_sasl_value(&c, &cb, &cb_len);
	if (!c2s_sasl_accept(&c, ",r=")) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "no nonce in client-final");
		goto out;
	}
	c2s_sasl_value(&c, &nonce, &nonce_len);
	if (!c2s_sasl_skip_extensions(&c, true) || !c2s_sasl_accept(&c, ",p=")) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "no proof, or not last");
		goto out;
	}
	without_proof_len = (size_t)(c.p - 3 - msg);
	c2s_sasl_value(&c, &proof_b64, &proof_len);
	if (*c.p != '\0') {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "data after the proof");
		goto out;
	}
	/* Both base64 values fit scratch: the whole message is at most C2S_SASL_MAX_INPUT. */
	if (scram_base64_decode(cb, cb_len, scratch) < 0 ||
	    (n = scram_base64_decode(proof_b64, proof_len, proof)) < 0) {
		ret = c2s_sasl_fail(s, C2S_SASL_INCORRECT_ENCODING, "bad base64 in client-final");
		goto out;
	}
	if ((size_t)n != scram_hash_len(s->hash)) {
		ret = c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "proof of the wrong length");
		goto out;
	}

	/* c= is base64(gs2-header [cb-data]), compared as text: base64 is canonical here. */
	if (s->cb_type != NULL)
		cb_data = c2s_sasl_cb_data(s, &cb_data_len);
	buf_append_str(&b, s->gs2_header);
	buf_append(&b, cb_data, cb_data_len);
	expected_cb = scram_base64_encode((const unsigned char *)b.data, b.len);
	cb_ok = strlen(expected_cb) == cb_len && CRYPTO_memcmp(expected_cb, cb, cb_len) == 0;
	nonce_ok = strlen(s->nonce) == nonce_len && memcmp(s->nonce, nonce, nonce_len) == 0;

	/* AuthMessage = client-first-message-bare "," server-first-message ","
	 * client-final-message-without-proof. The proof is checked even when the rest has
	 * already failed or the account is fake, so that time says nothing. */
	buf_reset(&b);
	buf_printf(&b, "%s,%s,", s->client_first_bare, s->server_first);
	buf_append(&b, msg, without_proof_len);
	proof_ok = scram_verify_proof(&s->cred, b.data, b.len, proof, (size_t)n, sig);

	if (!nonce_ok) {
		ret = c2s_sasl_fail(s, C2S_SASL_NOT_AUTHORIZED, "nonce differs from server-first");
	} else if (!cb_ok) {
		ret = c2s_sasl_fail(s, C2S_SASL_NOT_AUTHORIZED, "channel binding mismatch");
	} else if (s->fake) {
		ret = c2s_sasl_fail(s, C2S_SASL_NOT_AUTHORIZED, "no such account");
	} else if (!proof_ok) {
		ret = c2s_sasl_fail(s, C2S_SASL_NOT_AUTHORIZED, "wrong password (proof)");
	} else {
		sig_b64 = scram_base64_encode(sig, scram_hash_len(s->hash));
		buf_printf(out, "v=%s", sig_b64);
		s->state = C2S_SASL_STATE_DONE;
		ret = C2S_SASL_SUCCESS;
	}
out:
	free(msg);
	free(expected_cb);
	free(sig_b64);
	buf_free(&b);
	OPENSSL_cleanse(proof, sizeof(proof));
	return ret;
}

int c2s_sasl_step(struct c2s_sasl *s, const unsigned char *in, size_t in_len, struct buf *out)
{
	buf_reset(out);
	if (in == NULL) {
		/* No initial response: ask for one with an empty challenge, once. */
		if (s->state == C2S_SASL_STATE_START && !s->asked_initial) {
			s->asked_initial = true;
			return C2S_SASL_CONTINUE;
		}
		in = (const unsigned char *)"";
		in_len = 0;
	}
	if (in_len > C2S_SASL_MAX_INPUT)
		return c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "message too long");
	switch (s->state) {
	case C2S_SASL_STATE_START:
		return s->plain ? c2s_sasl_plain_step(s, in, in_len)
				: c2s_sasl_scram_first(s, in, in_len);
	case C2S_SASL_STATE_CLIENT_FINAL:
		return c2s_sasl_scram_final(s, in, in_len, out);
	case C2S_SASL_STATE_CREDENTIALS:
		return c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "response before a challenge");
	case C2S_SASL_STATE_DONE:
		break;
	}
	return c2s_sasl_fail(s, C2S_SASL_MALFORMED_REQUEST, "response after the outcome");
}

/* Credentials for an account that does not exist, the same on every attempt for the same
 * name: salt = HMAC(secret, hash name, normalised username) cut to SCRAM_SALT_LEN, like the
 * salts junctionctl makes. Keys are junk; s->fake makes sure they never verify. */
static void c2s_sasl_fake_credentials(struct c2s_sasl *s, enum scram_hash hash)
{
	unsigned char mac[SCRAM_MAX_KEY];
	struct buf b = {0};
	struct jid j = {0};
	const char *name = s->username;

	/* Normalise, so that "Juliet" and "juliet" get one salt, as they would for a real
	 * account. */
	buf_printf(&b, "%s@%s", s->username, s->domain);
	if (strpbrk(s->username, "@/") == NULL && jid_parse(b.data, (ssize_t)b.len, &j) == JID_OK &&
	    j.node != NULL)
		name = j.node;
	buf_reset(&b);
	buf_printf(&b, "junction-scram-fake-salt%c%s%c%s", '\0', scram_hash_name(hash), '\0', name);
	scram_hmac(SCRAM_SHA256, s->secret, s->secret_len, b.data, b.len, mac);
	memset(&s->cred, 0, sizeof(s->cred));
	s->cred.hash = hash;
	s->cred.iterations = s->fake_iterations;
	memcpy(s->cred.salt, mac, SCRAM_SALT_LEN);
	s->cred.salt_len = SCRAM_SALT_LEN;
	s->cred.key_len = scram_hash_len(hash);
	scram_hmac(SCRAM_SHA256, s->secret, s->secret_len, "junction-scram-fake-key", 23, mac);
	memcpy(s->cred.stored_key, mac, s->cred.key_len);
	memcpy(s->cred.server_key, mac, s->cred.key_len);
	s->fake = true;
	jid_clear(&j);
	buf_free(&b);
}

/* Credentials from sm are data from the network: check them before use. */
static const char *c2s_sasl_check_credentials(const struct c2s_sasl *s,
					      const struct scram_credentials *cred)
{
	if (cred->hash != SCRAM_SHA1 && cred->hash != SCRAM_SHA256)
		return "credentials: unknown hash";
	if (!s->plain && cred->hash != s->hash)
		return "credentials: not for this mechanism's hash";
	if (cred->key_len != scram_hash_len(cred->hash))
		return "credentials: wrong key length";
	if (cred->salt_len == 0 || cred->salt_len > sizeof(cred->salt))
		return "credentials: bad salt";
	if (cred->iterations < SCRAM_MIN_ITERATIONS)
		return "credentials: too few iterations";
	if (cred->iterations > INT_MAX)
		return "credentials: too many iterations";
	return NULL;
}

static int c2s_sasl_plain_check(struct c2s_sasl *s)
{
	struct scram_credentials derived;
	bool ok;

	/* One PBKDF2 run whether or not the account exists. SASLprep failing means the password
	 * can match nothing stored. */
	ok = scram_credentials_derive(s->cred.hash, s->password, s->cred.salt, s->cred.salt_len,
				      s->cred.iterations, &derived) == 0 &&
	     CRYPTO_memcmp(derived.stored_key, s->cred.stored_key, s->cred.key_len) == 0;
	OPENSSL_cleanse(&derived, sizeof(derived));
	c2s_sasl_free_secret(&s->password);
	if (s->fake)
		return c2s_sasl_fail(s, C2S_SASL_NOT_AUTHORIZED, "no such account");
	if (!ok)
		return c2s_sasl_fail(s, C2S_SASL_NOT_AUTHORIZED, "wrong password (PLAIN)");
	s->state = C2S_SASL_STATE_DONE;
	return C2S_SASL_SUCCESS;
}

int c2s_sasl_set_credentials(struct c2s_sasl *s, const struct scram_credentials *cred,
			     struct buf *out)
{
	unsigned char rnd[C2S_SASL_NONCE_BYTES];
	char *snonce, *salt;
	const char *bad;

	assert(s->state == C2S_SASL_STATE_CREDENTIALS);
	buf_reset(out);
	if (cred != NULL && (bad = c2s_sasl_check_credentials(s, cred)) != NULL)
		return c2s_sasl_fail(s, C2S_SASL_TEMPORARY_AUTH_FAILURE, bad);
	if (cred != NULL)
		s->cred = *cred;
	else
		c2s_sasl_fake_credentials(s, s->hash);
	if (s->plain)
		return c2s_sasl_plain_check(s);

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return c2s_sasl_fail(s, C2S_SASL_TEMPORARY_AUTH_FAILURE, "RAND_bytes failed");
	snonce = scram_base64_encode(rnd, sizeof(rnd));
	salt = scram_base64_encode(s->cred.salt, s->cred.salt_len);
	/* server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count */
	struct buf nonce = {0};
	buf_printf(&nonce, "%s%s", s->nonce, snonce);
	free(s->nonce);
	s->nonce = buf_steal(&nonce);
	buf_printf(out, "r=%s,s=%s,i=%u", s->nonce, salt, s->cred.iterations);
	s->server_first = xstrndup(out->data, out->len);
	free(snonce);
	free(salt);
	s->state = C2S_SASL_STATE_CLIENT_FINAL;
	return C2S_SASL_CONTINUE;
}

enum scram_hash c2s_sasl_hash(const struct c2s_sasl *s)
{
	return s->hash;
}

const char *c2s_sasl_username(const struct c2s_sasl *s)
{
	return s->username;
}

const char *c2s_sasl_mechanism(const struct c2s_sasl *s)
{
	return s->mechanism;
}

const char *c2s_sasl_channel_binding(const struct c2s_sasl *s)
{
	return s->cb_type;
}

const char *c2s_sasl_reason(const struct c2s_sasl *s)
{
	return s->reason;
}

const char *c2s_sasl_condition(int result)
{
	switch (result) {
	case C2S_SASL_NOT_AUTHORIZED:
		return "not-authorized";
	case C2S_SASL_INVALID_AUTHZID:
		return "invalid-authzid";
	case C2S_SASL_MALFORMED_REQUEST:
		return "malformed-request";
	case C2S_SASL_INVALID_MECHANISM:
		return "invalid-mechanism";
	case C2S_SASL_ENCRYPTION_REQUIRED:
		return "encryption-required";
	case C2S_SASL_TEMPORARY_AUTH_FAILURE:
		return "temporary-auth-failure";
	case C2S_SASL_INCORRECT_ENCODING:
		return "incorrect-encoding";
	case C2S_SASL_MECHANISM_TOO_WEAK:
		return "mechanism-too-weak";
	}
	/* An unlisted failure still fails, with the least informative condition. */
	return result < 0 ? "not-authorized" : NULL;
}

int c2s_sasl_decode(const char *text, size_t len, struct buf *out)
{
	long n;
	buf_reset(out);
	/* Always allocated, so that out->data is never NULL, which c2s_sasl_step() would take
	 * for a missing initial response. */
	buf_reserve(out, len / 4 * 3 + 1);
	if (len == 1 && text[0] == '=')
		return 0;
	if ((n = scram_base64_decode(text, len, (unsigned char *)out->data)) < 0) {
		OPENSSL_cleanse(out->data, len / 4 * 3);
		return C2S_SASL_INCORRECT_ENCODING;
	}
	out->len = (size_t)n;
	out->data[n] = '\0';
	return 0;
}

void c2s_sasl_encode(const unsigned char *data, size_t len, struct buf *out)
{
	char *text;
	if (len == 0)
		return;
	text = scram_base64_encode(data, len);
	buf_append_str(out, text);
	free(text);
}
