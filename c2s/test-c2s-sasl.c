/* c2s/test-c2s-sasl.c: whole SASL exchanges against c2s-sasl, driven by a small SCRAM client
 * written here from RFC 5802 (its own Hi(), proof and signature check) so that the server is
 * not only checked against itself. sm is played by a table of accounts.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "c2s-sasl.h"
#include "scram.h"
#include "test.h"

/* ---- the accounts sm would hold ------------------------------------------------------------ */

struct account {
	const char *name;
	const char *password;
	struct scram_credentials cred[2]; /* by enum scram_hash, made on first use */
	bool made;
};

static struct account accounts[] = {
	{"juliet", "pencil", {{0}}, false},
	{"a,b=c", "s3cret", {{0}}, false}, /* needs =2C and =3D on the wire */
};

/* What sm answers: credentials for that hash, or NULL for an unknown account. */
static const struct scram_credentials *sm_lookup(const char *username, enum scram_hash hash)
{
	for (size_t i = 0; i < sizeof(accounts) / sizeof(accounts[0]); i++) {
		struct account *a = &accounts[i];
		if (username == NULL || strcmp(a->name, username) != 0)
			continue;
		if (!a->made) {
			CHECK(scram_credentials_new(SCRAM_SHA1, a->password, 4096, &a->cred[0]) ==
			      0);
			CHECK(scram_credentials_new(SCRAM_SHA256, a->password, 4096, &a->cred[1]) ==
			      0);
			a->made = true;
		}
		return &a->cred[hash == SCRAM_SHA1 ? 0 : 1];
	}
	return NULL;
}

static const unsigned char secret[32] = "0123456789abcdef0123456789abcdef";

static struct c2s_sasl_config test_config(void)
{
	struct c2s_sasl_config cfg = {
		.domain = "example.com",
		.secret = secret,
		.secret_len = sizeof(secret),
		.iterations = 4096,
		.plain_allowed = true,
	};
	return cfg;
}

enum tls_kind { TLS_NONE, TLS_NOCB, TLS_BOTH, TLS_EXPORTER, TLS_END_POINT };

static void make_tls(enum tls_kind kind, struct c2s_sasl_tls *t)
{
	memset(t, 0, sizeof(*t));
	if (kind == TLS_NONE)
		return;
	t->active = true;
	for (size_t i = 0; i < 32; i++) {
		t->exporter[i] = (unsigned char)(0xe0 + i);
		t->server_end_point[i] = (unsigned char)(0x50 + i);
	}
	if (kind == TLS_BOTH || kind == TLS_EXPORTER)
		t->exporter_len = 32;
	if (kind == TLS_BOTH || kind == TLS_END_POINT)
		t->server_end_point_len = 32;
}

/* ---- a SCRAM client, from RFC 5802 ------------------------------------------------------- */

struct client {
	enum scram_hash hash;
	const char *gs2;   /* gs2-header the client sends, with its final comma */
	const char *c_gs2; /* gs2-header it puts into c=; NULL: the same */
	const unsigned char *cb;
	size_t cb_len;
	const char *user;
	const char *password;
	const char *extension; /* an attr-val put before the proof, or NULL */
	enum client_nonce { NONCE_ECHO, NONCE_CHANGED, NONCE_CLIENT_ONLY } nonce_mode;
	struct buf first_bare;
	struct buf auth_message;
	unsigned char salted[SCRAM_MAX_KEY];
};

/* Hi(str, salt, i) of RFC 5802 section 2.2, spelled out with HMAC only. */
static void client_hi(enum scram_hash h, const char *password, const unsigned char *salt,
		      size_t salt_len, unsigned iterations, unsigned char *out)
{
	size_t hl = scram_hash_len(h), pl = strlen(password);
	unsigned char block[64 + 4], u[SCRAM_MAX_KEY], next[SCRAM_MAX_KEY];
	memcpy(block, salt, salt_len);
	memcpy(block + salt_len, "\0\0\0\1", 4); /* INT(1) */
	scram_hmac(h, (const unsigned char *)password, pl, block, salt_len + 4, u);
	memcpy(out, u, hl);
	for (unsigned i = 1; i < iterations; i++) {
		scram_hmac(h, (const unsigned char *)password, pl, u, hl, next);
		memcpy(u, next, hl);
		for (size_t k = 0; k < hl; k++)
			out[k] ^= u[k];
	}
}

/* saslname: ',' and '=' escaped. */
static void client_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == ',')
			buf_append_str(b, "=2C");
		else if (*s == '=')
			buf_append_str(b, "=3D");
		else
			buf_append_char(b, *s);
	}
}

static void client_first(struct client *c, struct buf *out)
{
	buf_reset(&c->first_bare);
	buf_append_str(&c->first_bare, "n=");
	client_escape(&c->first_bare, c->user);
	buf_append_str(&c->first_bare, ",r=fyko+d2lbbFgONRv9qkxdawL");
	buf_reset(out);
	buf_printf(out, "%s%s", c->gs2, c->first_bare.data);
}

/* The value of attribute a in a server message, or NULL. */
static char *client_attr(const char *msg, char a)
{
	for (const char *p = msg; *p;) {
		size_t len = strcspn(p, ",");
		if (p[0] == a && p[1] == '=')
			return xstrndup(p + 2, len - 2);
		p += len;
		if (*p == ',')
			p++;
	}
	return NULL;
}

/* client-final-message for server_first; -1 if server_first is not acceptable. */
static int client_final(struct client *c, const char *server_first, struct buf *out)
{
	char *nonce = client_attr(server_first, 'r'), *salt_b64 = client_attr(server_first, 's');
	char *iter = client_attr(server_first, 'i'), *cb_b64 = NULL, *proof_b64 = NULL, *pw = NULL;
	unsigned char salt[64], client_key[SCRAM_MAX_KEY], stored[SCRAM_MAX_KEY];
	unsigned char sig[SCRAM_MAX_KEY], proof[SCRAM_MAX_KEY];
	size_t hl = scram_hash_len(c->hash);
	struct buf b = {0};
	long salt_len;
	int ret = -1;

	if (nonce == NULL || salt_b64 == NULL || iter == NULL || atoi(iter) < 1 ||
	    strncmp(nonce, "fyko+d2lbbFgONRv9qkxdawL", 24) != 0 || strlen(salt_b64) > 84 ||
	    (salt_len = scram_base64_decode(salt_b64, strlen(salt_b64), salt)) < 0 ||
	    scram_saslprep(c->password, &pw) < 0)
		goto out;
	client_hi(c->hash, pw, salt, (size_t)salt_len, (unsigned)atoi(iter), c->salted);
	buf_append_str(&b, c->c_gs2 ? c->c_gs2 : c->gs2);
	buf_append(&b, c->cb, c->cb_len);
	cb_b64 = scram_base64_encode((const unsigned char *)b.data, b.len);
	/* A misbehaving client: the proof below is computed over the nonce it sends, so only
	 * the server's nonce check can catch it. */
	if (c->nonce_mode == NONCE_CHANGED)
		nonce[strlen(nonce) - 1] = nonce[strlen(nonce) - 1] == 'A' ? 'B' : 'A';
	else if (c->nonce_mode == NONCE_CLIENT_ONLY)
		nonce[24] = '\0';
	buf_reset(out);
	buf_printf(out, "c=%s,r=%s", cb_b64, nonce);
	if (c->extension != NULL)
		buf_printf(out, ",%s", c->extension);
	buf_reset(&c->auth_message);
	buf_printf(&c->auth_message, "%s,%s,%s", c->first_bare.data, server_first, out->data);
	/* ClientProof := ClientKey XOR HMAC(H(ClientKey), AuthMessage) */
	scram_hmac(c->hash, c->salted, hl, "Client Key", 10, client_key);
	scram_digest(c->hash, client_key, hl, stored);
	scram_hmac(c->hash, stored, hl, c->auth_message.data, c->auth_message.len, sig);
	for (size_t i = 0; i < hl; i++)
		proof[i] = client_key[i] ^ sig[i];
	proof_b64 = scram_base64_encode(proof, hl);
	buf_printf(out, ",p=%s", proof_b64);
	ret = 0;
out:
	free(nonce);
	free(salt_b64);
	free(iter);
	free(cb_b64);
	free(proof_b64);
	free(pw);
	buf_free(&b);
	return ret;
}

/* Does server-final prove the server knew ServerKey? */
static bool client_check_server(struct client *c, const char *server_final)
{
	size_t hl = scram_hash_len(c->hash);
	unsigned char server_key[SCRAM_MAX_KEY], sig[SCRAM_MAX_KEY];
	char *sig_b64;
	bool ok;
	scram_hmac(c->hash, c->salted, hl, "Server Key", 10, server_key);
	scram_hmac(c->hash, server_key, hl, c->auth_message.data, c->auth_message.len, sig);
	sig_b64 = scram_base64_encode(sig, hl);
	ok = strncmp(server_final, "v=", 2) == 0 && strcmp(server_final + 2, sig_b64) == 0;
	free(sig_b64);
	return ok;
}

static void client_clear(struct client *c)
{
	buf_free(&c->first_bare);
	buf_free(&c->auth_message);
}

static int step_str(struct c2s_sasl *s, const char *msg, struct buf *out)
{
	return c2s_sasl_step(s, (const unsigned char *)msg, strlen(msg), out);
}

/* ---- whole SCRAM exchanges --------------------------------------------------------------- */

enum client_cb { CB_NONE, CB_EXPORTER, CB_END_POINT, CB_WRONG };
enum tamper { TAMPER_NONE, TAMPER_NONCE, TAMPER_NONCE_SHORT, TAMPER_PROOF };

struct scram_case {
	const char *name;
	const char *mechanism;
	enum tls_kind tls;
	const char *gs2;
	enum client_cb cb;
	const char *user;
	const char *password;
	const char *c_gs2;
	const char *extension;
	enum tamper tamper;
	int expect_first; /* C2S_SASL_NEED_CREDENTIALS or the failure */
	int expect_final;
};

#define OK C2S_SASL_SUCCESS
#define NEED C2S_SASL_NEED_CREDENTIALS
#define NOT_AUTH C2S_SASL_NOT_AUTHORIZED
#define MALFORMED C2S_SASL_MALFORMED_REQUEST
#define AUTHZID C2S_SASL_INVALID_AUTHZID

static const struct scram_case scram_cases[] = {
	/* name, mechanism, tls, gs2, cb, user, password, c_gs2, extension, tamper, first, final */
	{"sha1", "SCRAM-SHA-1", TLS_NONE, "n,,", CB_NONE, "juliet", "pencil", NULL, NULL,
	 TAMPER_NONE, NEED, OK},
	{"sha256", "SCRAM-SHA-256", TLS_NONE, "n,,", CB_NONE, "juliet", "pencil", NULL, NULL,
	 TAMPER_NONE, NEED, OK},
	{"sha256 over tls, no cb offered, y", "SCRAM-SHA-256", TLS_NOCB, "y,,", CB_NONE, "juliet",
	 "pencil", NULL, NULL, TAMPER_NONE, NEED, OK},
	{"sha256 n while -PLUS offered", "SCRAM-SHA-256", TLS_BOTH, "n,,", CB_NONE, "juliet",
	 "pencil", NULL, NULL, TAMPER_NONE, NEED, OK},
	{"sha256-plus exporter", "SCRAM-SHA-256-PLUS", TLS_BOTH, "p=tls-exporter,,", CB_EXPORTER,
	 "juliet", "pencil", NULL, NULL, TAMPER_NONE, NEED, OK},
	{"sha256-plus end-point", "SCRAM-SHA-256-PLUS", TLS_BOTH, "p=tls-server-end-point,,",
	 CB_END_POINT, "juliet", "pencil", NULL, NULL, TAMPER_NONE, NEED, OK},
	{"sha1-plus exporter", "SCRAM-SHA-1-PLUS", TLS_BOTH, "p=tls-exporter,,", CB_EXPORTER,
	 "juliet", "pencil", NULL, NULL, TAMPER_NONE, NEED, OK},
	{"sha1-plus end-point", "SCRAM-SHA-1-PLUS", TLS_END_POINT, "p=tls-server-end-point,,",
	 CB_END_POINT, "juliet", "pencil", NULL, NULL, TAMPER_NONE, NEED, OK},
	{"escaped username", "SCRAM-SHA-256", TLS_NONE, "n,,", CB_NONE, "a,b=c", "s3cret", NULL,
	 NULL, TAMPER_NONE, NEED, OK},
	{"SASLprep'd password", "SCRAM-SHA-256", TLS_NONE, "n,,", CB_NONE, "juliet",
	 "pen\xc2\xad" "cil", NULL, NULL, TAMPER_NONE, NEED, OK},
	{"extension before proof", "SCRAM-SHA-256", TLS_NONE, "n,,", CB_NONE, "juliet", "pencil",
	 NULL, "x=ignored", TAMPER_NONE, NEED, OK},

	{"sha1 wrong password", "SCRAM-SHA-1", TLS_NONE, "n,,", CB_NONE, "juliet", "pencil!", NULL,
	 NULL, TAMPER_NONE, NEED, NOT_AUTH},
	{"sha256 wrong password", "SCRAM-SHA-256", TLS_NONE, "n,,", CB_NONE, "juliet", "Pencil",
	 NULL, NULL, TAMPER_NONE, NEED, NOT_AUTH},
	{"sha256-plus wrong password", "SCRAM-SHA-256-PLUS", TLS_BOTH, "p=tls-exporter,,",
	 CB_EXPORTER, "juliet", "pencl", NULL, NULL, TAMPER_NONE, NEED, NOT_AUTH},
	{"proof bit flipped", "SCRAM-SHA-256", TLS_NONE, "n,,", CB_NONE, "juliet", "pencil", NULL,
	 NULL, TAMPER_PROOF, NEED, NOT_AUTH},
	{"wrong exporter data", "SCRAM-SHA-256-PLUS", TLS_BOTH, "p=tls-exporter,,", CB_WRONG,
	 "juliet", "pencil", NULL, NULL, TAMPER_NONE, NEED, NOT_AUTH},
	{"end-point data under exporter name", "SCRAM-SHA-1-PLUS", TLS_BOTH, "p=tls-exporter,,",
	 CB_END_POINT, "juliet", "pencil", NULL, NULL, TAMPER_NONE, NEED, NOT_AUTH},
	{"exporter data under end-point name", "SCRAM-SHA-256-PLUS", TLS_BOTH,
	 "p=tls-server-end-point,,", CB_EXPORTER, "juliet", "pencil", NULL, NULL, TAMPER_NONE, NEED,
	 NOT_AUTH},
	{"c= without cb data", "SCRAM-SHA-256-PLUS", TLS_BOTH, "p=tls-exporter,,", CB_NONE,
	 "juliet", "pencil", NULL, NULL, TAMPER_NONE, NEED, NOT_AUTH},
	{"c= with another gs2 header", "SCRAM-SHA-256", TLS_NOCB, "y,,", CB_NONE, "juliet",
	 "pencil", "n,,", NULL, TAMPER_NONE, NEED, NOT_AUTH},
	{"c= drops the authzid", "SCRAM-SHA-256", TLS_NONE, "n,a=juliet@example.com,", CB_NONE,
	 "juliet", "pencil", "n,,", NULL, TAMPER_NONE, NEED, NOT_AUTH},
	{"y downgrade, both offered", "SCRAM-SHA-256", TLS_BOTH, "y,,", CB_NONE, "juliet", "pencil",
	 NULL, NULL, TAMPER_NONE, NOT_AUTH, 0},
	{"y downgrade sha1, exporter offered", "SCRAM-SHA-1", TLS_EXPORTER, "y,,", CB_NONE,
	 "juliet", "pencil", NULL, NULL, TAMPER_NONE, NOT_AUTH, 0},
	{"y downgrade, end-point offered", "SCRAM-SHA-256", TLS_END_POINT, "y,,", CB_NONE,
	 "juliet", "pencil", NULL, NULL, TAMPER_NONE, NOT_AUTH, 0},
	{"p= on non-PLUS", "SCRAM-SHA-256", TLS_BOTH, "p=tls-exporter,,", CB_EXPORTER, "juliet",
	 "pencil", NULL, NULL, TAMPER_NONE, MALFORMED, 0},
	{"p= on non-PLUS sha1", "SCRAM-SHA-1", TLS_BOTH, "p=tls-server-end-point,,", CB_END_POINT,
	 "juliet", "pencil", NULL, NULL, TAMPER_NONE, MALFORMED, 0},
	{"n on -PLUS", "SCRAM-SHA-256-PLUS", TLS_BOTH, "n,,", CB_NONE, "juliet", "pencil", NULL,
	 NULL, TAMPER_NONE, MALFORMED, 0},
	{"y on -PLUS", "SCRAM-SHA-1-PLUS", TLS_BOTH, "y,,", CB_NONE, "juliet", "pencil", NULL, NULL,
	 TAMPER_NONE, MALFORMED, 0},
	{"p=tls-unique", "SCRAM-SHA-256-PLUS", TLS_BOTH, "p=tls-unique,,", CB_EXPORTER, "juliet",
	 "pencil", NULL, NULL, TAMPER_NONE, NOT_AUTH, 0},
	{"p=TLS-EXPORTER (names are exact)", "SCRAM-SHA-256-PLUS", TLS_BOTH, "p=TLS-EXPORTER,,",
	 CB_EXPORTER, "juliet", "pencil", NULL, NULL, TAMPER_NONE, NOT_AUTH, 0},
	{"p= type not available", "SCRAM-SHA-256-PLUS", TLS_EXPORTER, "p=tls-server-end-point,,",
	 CB_END_POINT, "juliet", "pencil", NULL, NULL, TAMPER_NONE, NOT_AUTH, 0},
	{"p= other type not available", "SCRAM-SHA-1-PLUS", TLS_END_POINT, "p=tls-exporter,,",
	 CB_EXPORTER, "juliet", "pencil", NULL, NULL, TAMPER_NONE, NOT_AUTH, 0},
	{"nonce changed", "SCRAM-SHA-256", TLS_NONE, "n,,", CB_NONE, "juliet", "pencil", NULL, NULL,
	 TAMPER_NONCE, NEED, NOT_AUTH},
	{"nonce without the server part", "SCRAM-SHA-1", TLS_NONE, "n,,", CB_NONE, "juliet",
	 "pencil", NULL, NULL, TAMPER_NONCE_SHORT, NEED, NOT_AUTH},

	{"authzid = own bare JID", "SCRAM-SHA-256", TLS_NONE, "n,a=juliet@example.com,", CB_NONE,
	 "juliet", "pencil", NULL, NULL, TAMPER_NONE, NEED, OK},
	{"authzid = own bare JID, other case", "SCRAM-SHA-256-PLUS", TLS_BOTH,
	 "p=tls-exporter,a=JULIET@Example.COM,", CB_EXPORTER, "juliet", "pencil", NULL, NULL,
	 TAMPER_NONE, NEED, OK},
	{"authzid of another user", "SCRAM-SHA-256", TLS_NONE, "n,a=romeo@example.com,", CB_NONE,
	 "juliet", "pencil", NULL, NULL, TAMPER_NONE, AUTHZID, 0},
	{"authzid on another domain", "SCRAM-SHA-256", TLS_NONE, "n,a=juliet@example.org,",
	 CB_NONE, "juliet", "pencil", NULL, NULL, TAMPER_NONE, AUTHZID, 0},
	{"authzid with a resource", "SCRAM-SHA-1", TLS_NONE, "n,a=juliet@example.com/balcony,",
	 CB_NONE, "juliet", "pencil", NULL, NULL, TAMPER_NONE, AUTHZID, 0},
	{"authzid domain only", "SCRAM-SHA-1", TLS_NONE, "n,a=example.com,", CB_NONE, "juliet",
	 "pencil", NULL, NULL, TAMPER_NONE, AUTHZID, 0},
	{"authzid vs authcid with '@'", "SCRAM-SHA-256", TLS_NONE,
	 "n,a=juliet@example.com,", CB_NONE, "juliet@example.com", "pencil", NULL, NULL,
	 TAMPER_NONE, AUTHZID, 0},

	{"unknown user", "SCRAM-SHA-256", TLS_NONE, "n,,", CB_NONE, "nobody", "pencil", NULL, NULL,
	 TAMPER_NONE, NEED, NOT_AUTH},
	{"unknown user, -PLUS", "SCRAM-SHA-1-PLUS", TLS_BOTH, "p=tls-exporter,,", CB_EXPORTER,
	 "nobody", "pencil", NULL, NULL, TAMPER_NONE, NEED, NOT_AUTH},
};

static const unsigned char *client_cb_data(enum client_cb cb, const struct c2s_sasl_tls *t,
					   unsigned char *wrong, size_t *len_r)
{
	*len_r = 32;
	switch (cb) {
	case CB_NONE:
		*len_r = 0;
		return NULL;
	case CB_EXPORTER:
		return t->exporter;
	case CB_END_POINT:
		return t->server_end_point;
	case CB_WRONG:
		memcpy(wrong, t->exporter, 32);
		wrong[31] ^= 1;
		return wrong;
	}
	return NULL;
}

/* Run one case; returns false (and says why) when it did not go as expected. */
static bool run_scram_case(const struct scram_case *tc)
{
	struct c2s_sasl_config cfg = test_config();
	struct c2s_sasl_tls tls;
	struct c2s_sasl *s = NULL;
	struct buf msg = {0}, out = {0};
	unsigned char wrong[32];
	struct client c = {0};
	bool ok = false;
	int r;

	make_tls(tc->tls, &tls);
	c.hash = strstr(tc->mechanism, "SHA-1") ? SCRAM_SHA1 : SCRAM_SHA256;
	c.gs2 = tc->gs2;
	c.c_gs2 = tc->c_gs2;
	c.cb = client_cb_data(tc->cb, &tls, wrong, &c.cb_len);
	c.user = tc->user;
	c.password = tc->password;
	c.extension = tc->extension;
	c.nonce_mode = tc->tamper == TAMPER_NONCE	   ? NONCE_CHANGED
		       : tc->tamper == TAMPER_NONCE_SHORT ? NONCE_CLIENT_ONLY
							  : NONCE_ECHO;

	if ((r = c2s_sasl_new(tc->mechanism, &cfg, &tls, &s)) != 0) {
		printf("  %s: c2s_sasl_new %d\n", tc->name, r);
		goto out;
	}
	client_first(&c, &msg);
	r = step_str(s, msg.data, &out);
	if (r != tc->expect_first) {
		printf("  %s: first step %d, expected %d (%s)\n", tc->name, r, tc->expect_first,
		       c2s_sasl_reason(s));
		goto out;
	}
	if (r < 0) {
		ok = out.len == 0 && c2s_sasl_reason(s)[0] != '\0';
		goto out;
	}
	if (c2s_sasl_username(s) == NULL || strcmp(c2s_sasl_username(s), tc->user) != 0) {
		printf("  %s: username %s\n", tc->name, c2s_sasl_username(s));
		goto out;
	}
	r = c2s_sasl_set_credentials(s, sm_lookup(c2s_sasl_username(s), c2s_sasl_hash(s)), &out);
	if (r != C2S_SASL_CONTINUE || client_final(&c, out.data, &msg) < 0) {
		printf("  %s: server-first %d \"%s\"\n", tc->name, r, out.data ? out.data : "");
		goto out;
	}
	if (tc->tamper == TAMPER_PROOF) {
		char *p = strstr(msg.data, ",p=") + 3;
		*p = *p == 'A' ? 'B' : 'A';
	}
	r = step_str(s, msg.data, &out);
	if (r != tc->expect_final) {
		printf("  %s: final step %d, expected %d (%s)\n", tc->name, r, tc->expect_final,
		       c2s_sasl_reason(s));
		goto out;
	}
	if (r == C2S_SASL_SUCCESS) {
		ok = client_check_server(&c, out.data) && c2s_sasl_reason(s)[0] == '\0';
		if (!ok)
			printf("  %s: bad server-final \"%s\"\n", tc->name, out.data);
	} else {
		ok = out.len == 0 && c2s_sasl_reason(s)[0] != '\0';
	}
out:
	c2s_sasl_free(&s);
	client_clear(&c);
	buf_free(&msg);
	buf_free(&out);
	return ok;
}

static void test_scram_exchanges(void)
{
	for (size_t i = 0; i < sizeof(scram_cases) / sizeof(scram_cases[0]); i++)
		CHECK(run_scram_case(&scram_cases[i]));
}

/* The channel-binding type the server reports is the one the client used. */
static void test_scram_channel_binding_reported(void)
{
	struct c2s_sasl_config cfg = test_config();
	struct c2s_sasl_tls tls;
	struct c2s_sasl *s;
	struct buf out = {0};

	make_tls(TLS_BOTH, &tls);
	CHECK(c2s_sasl_new("SCRAM-SHA-256-PLUS", &cfg, &tls, &s) == 0);
	CHECK(step_str(s, "p=tls-server-end-point,,n=juliet,r=abc", &out) == NEED);
	CHECK_STR(c2s_sasl_channel_binding(s), "tls-server-end-point");
	CHECK_STR(c2s_sasl_mechanism(s), "SCRAM-SHA-256-PLUS");
	CHECK(c2s_sasl_hash(s) == SCRAM_SHA256);
	c2s_sasl_free(&s);
	CHECK(s == NULL);
	CHECK(c2s_sasl_new("SCRAM-SHA-1", &cfg, &tls, &s) == 0);
	CHECK(step_str(s, "n,,n=juliet,r=abc", &out) == NEED);
	CHECK(c2s_sasl_channel_binding(s) == NULL);
	CHECK(c2s_sasl_hash(s) == SCRAM_SHA1);
	c2s_sasl_free(&s);
	c2s_sasl_free(&s); /* NULL is fine */
	buf_free(&out);
}

/* ---- malformed client-first messages ------------------------------------------------------ */

struct first_case {
	const char *mechanism;
	const char *msg;
	size_t len; /* 0: strlen */
	int expect;
};

static const struct first_case first_cases[] = {
	{"SCRAM-SHA-256", "n,,n=juliet,r=abc", 0, NEED}, /* control */
	{"SCRAM-SHA-256", "n,,n=juliet,r=abc,x=1", 0, NEED},
	{"SCRAM-SHA-256", "", 0, MALFORMED},
	{"SCRAM-SHA-256", "n", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet,", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet,r=", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet,r=abc,", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet,r=abc,m=x", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet,r=abc,x=", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet,r=abc,1=x", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet,r=abc,xy=1", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,r=abc,n=juliet", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,m=ext,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=jul=ZZiet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet=2,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet=,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=jul=2ciet,r=abc", 0, MALFORMED}, /* hex digits are upper case */
	{"SCRAM-SHA-256", "n,,n=jul=3diet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=jul=3Xiet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=jul=2Diet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=jul=3D=2Ciet,r=abc", 0, NEED},
	{"SCRAM-SHA-256", "n,a=jul=3Xiet@example.com,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=\xff,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=\xc0\xaf,r=abc", 0, MALFORMED}, /* overlong '/' */
	{"SCRAM-SHA-256", "n,,n=juliet,r=a b", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet,r=a\x7f", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet,r=abc\0", 18, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=jul\0iet,r=abc", 18, MALFORMED},
	{"SCRAM-SHA-256", "N,,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,N=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "x,,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", ",,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "nn,,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,a,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,a=,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,x=y,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256", "n,,n=juliet,,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256-PLUS", "p=,,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256-PLUS", "p,,n=juliet,r=abc", 0, MALFORMED},
	{"SCRAM-SHA-256-PLUS", "p=tls-exporter,,n=juliet,r=abc", 0, NEED}, /* control */
	{"SCRAM-SHA-256-PLUS", "p=tls-exporter,n=juliet,r=abc", 0, MALFORMED},
};

static void test_scram_first_malformed(void)
{
	struct c2s_sasl_config cfg = test_config();
	struct c2s_sasl_tls tls;
	struct buf out = {0};

	make_tls(TLS_BOTH, &tls);
	for (size_t i = 0; i < sizeof(first_cases) / sizeof(first_cases[0]); i++) {
		const struct first_case *fc = &first_cases[i];
		struct c2s_sasl *s;
		size_t len = fc->len ? fc->len : strlen(fc->msg);
		CHECK(c2s_sasl_new(fc->mechanism, &cfg, &tls, &s) == 0);
		int r = c2s_sasl_step(s, (const unsigned char *)fc->msg, len, &out);
		if (r != fc->expect)
			printf("  case %zu \"%s\": %d, expected %d\n", i, fc->msg, r, fc->expect);
		CHECK(r == fc->expect);
		if (r < 0)
			CHECK_STR(c2s_sasl_condition(r), "malformed-request");
		/* Said precisely in the log, since RFC 5802 names this error. */
		if (strstr(fc->msg, "m=ext") != NULL)
			CHECK(strstr(c2s_sasl_reason(s), "m=") != NULL);
		if (strstr(fc->msg, "=3D=2C") != NULL)
			CHECK_STR(c2s_sasl_username(s), "jul=,iet");
		c2s_sasl_free(&s);
	}
	buf_free(&out);
}

static void test_scram_first_too_long(void)
{
	struct c2s_sasl_config cfg = test_config();
	struct c2s_sasl *s;
	struct buf msg = {0}, out = {0};

	buf_append_str(&msg, "n,,n=juliet,r=");
	while (msg.len < C2S_SASL_MAX_INPUT)
		buf_append_char(&msg, 'x');
	CHECK(c2s_sasl_new("SCRAM-SHA-1", &cfg, NULL, &s) == 0);
	CHECK(step_str(s, msg.data, &out) == NEED);
	c2s_sasl_free(&s);
	buf_append_char(&msg, 'x');
	CHECK(c2s_sasl_new("SCRAM-SHA-1", &cfg, NULL, &s) == 0);
	CHECK(step_str(s, msg.data, &out) == MALFORMED);
	c2s_sasl_free(&s);
	buf_free(&msg);
	buf_free(&out);
}

/* ---- malformed client-final messages ------------------------------------------------------ */

struct final_case {
	const char *tmpl; /* {C}: the right c= value, {R}: the full nonce, {P}: the right proof */
	int expect;
};

static const struct final_case final_cases[] = {
	{"c={C},r={R},p={P}", OK}, /* control: the template machinery works */
	{"", MALFORMED},
	{"c={C}", MALFORMED},
	{"c={C},r={R}", MALFORMED},
	{"c={C},r={R},", MALFORMED},
	{"c={C},r={R},p=", MALFORMED},
	{"r={R},c={C},p={P}", MALFORMED},
	{"c={C},p={P}", MALFORMED},
	{"c={C},r={R},p={P},x=1", MALFORMED},
	{"c={C},r={R},p={P},", MALFORMED},
	{"c={C},r={R},,p={P}", MALFORMED},
	{"c={C},r={R},m=1,p={P}", MALFORMED},
	{"c={C},r={R},p=AAAA", MALFORMED}, /* proof of the wrong length */
	{"c={C},r={R},p=!!!!", C2S_SASL_INCORRECT_ENCODING},
	{"c={C},r={R},p={P}=", C2S_SASL_INCORRECT_ENCODING},
	{"c=bi!s,r={R},p={P}", C2S_SASL_INCORRECT_ENCODING},
	{"c=biw,r={R},p={P}", C2S_SASL_INCORRECT_ENCODING},
	{"c=,r={R},p={P}", NOT_AUTH},
	{"c=eSws,r={R},p={P}", NOT_AUTH},      /* "y,," where "n,," was sent */
	{"c=biwK,r={R},p={P}", NOT_AUTH},      /* "n,,\n" */
	{"c={C},r={R}x,p={P}", NOT_AUTH},
	{"c={C},r=,p={P}", NOT_AUTH},
	{"c={C},r=fyko+d2lbbFgONRv9qkxdawL,p={P}", NOT_AUTH},
};

static void replace_all(struct buf *out, const char *tmpl, const char *c, const char *r,
			const char *p)
{
	buf_reset(out);
	for (const char *t = tmpl; *t;) {
		if (strncmp(t, "{C}", 3) == 0)
			buf_append_str(out, c), t += 3;
		else if (strncmp(t, "{R}", 3) == 0)
			buf_append_str(out, r), t += 3;
		else if (strncmp(t, "{P}", 3) == 0)
			buf_append_str(out, p), t += 3;
		else
			buf_append_char(out, *t++);
	}
	if (out->data == NULL)
		buf_append_str(out, "");
}

static void test_scram_final_malformed(void)
{
	struct c2s_sasl_config cfg = test_config();
	struct buf out = {0}, msg = {0};

	for (size_t i = 0; i < sizeof(final_cases) / sizeof(final_cases[0]); i++) {
		struct client c = {.hash = SCRAM_SHA1, .gs2 = "n,,", .user = "juliet",
				   .password = "pencil"};
		struct c2s_sasl *s;
		CHECK(c2s_sasl_new("SCRAM-SHA-1", &cfg, NULL, &s) == 0);
		client_first(&c, &msg);
		CHECK(step_str(s, msg.data, &out) == NEED);
		CHECK(c2s_sasl_set_credentials(s, sm_lookup("juliet", SCRAM_SHA1), &out) ==
		      C2S_SASL_CONTINUE);
		CHECK(client_final(&c, out.data, &msg) == 0);
		/* Take the real message apart: c=C,r=R,p=P */
		char *cv = client_attr(msg.data, 'c'), *rv = client_attr(msg.data, 'r');
		char *pv = client_attr(msg.data, 'p');
		struct buf bad = {0};
		replace_all(&bad, final_cases[i].tmpl, cv, rv, pv);
		int r = c2s_sasl_step(s, (const unsigned char *)bad.data, bad.len, &out);
		if (r != final_cases[i].expect)
			printf("  \"%s\": %d, expected %d\n", bad.data, r, final_cases[i].expect);
		CHECK(r == final_cases[i].expect);
		free(cv);
		free(rv);
		free(pv);
		buf_free(&bad);
		client_clear(&c);
		c2s_sasl_free(&s);
	}
	buf_free(&out);
	buf_free(&msg);
}

/* Every proper prefix of a valid client-final fails. */
static void test_scram_final_truncated(void)
{
	struct c2s_sasl_config cfg = test_config();
	struct client c = {.hash = SCRAM_SHA256, .gs2 = "n,,", .user = "juliet",
			   .password = "pencil"};
	struct buf out = {0}, msg = {0}, full = {0};
	size_t failures = 0, tries = 0;

	for (size_t cut = 0;; cut++) {
		struct c2s_sasl *s;
		CHECK(c2s_sasl_new("SCRAM-SHA-256", &cfg, NULL, &s) == 0);
		client_first(&c, &msg);
		CHECK(step_str(s, msg.data, &out) == NEED);
		CHECK(c2s_sasl_set_credentials(s, sm_lookup("juliet", SCRAM_SHA256), &out) ==
		      C2S_SASL_CONTINUE);
		if (cut == 0)
			CHECK(client_final(&c, out.data, &full) == 0);
		/* The server nonce differs each time: put this one in, keep the proof text. */
		char *nonce = client_attr(out.data, 'r'), *cv = client_attr(full.data, 'c');
		char *pv = client_attr(full.data, 'p');
		buf_reset(&msg);
		buf_printf(&msg, "c=%s,r=%s,p=%s", cv, nonce, pv);
		free(nonce);
		free(cv);
		free(pv);
		if (cut >= msg.len) {
			c2s_sasl_free(&s);
			break;
		}
		tries++;
		if (c2s_sasl_step(s, (const unsigned char *)msg.data, cut, &out) < 0)
			failures++;
		c2s_sasl_free(&s);
	}
	CHECK(tries > 80);
	CHECK(failures == tries);
	client_clear(&c);
	buf_free(&out);
	buf_free(&msg);
	buf_free(&full);
}

/* ---- unknown accounts look like real ones ------------------------------------------------ */

/* The server-first message for user: fields checked, salt and i returned. */
static void first_challenge(const char *mech, const char *user, char **salt_r, char **iter_r,
			    char **nonce_r)
{
	struct c2s_sasl_config cfg = test_config();
	struct c2s_sasl *s;
	struct buf out = {0}, msg = {0};
	enum scram_hash h = strstr(mech, "SHA-1") ? SCRAM_SHA1 : SCRAM_SHA256;

	*salt_r = *iter_r = *nonce_r = NULL;
	CHECK(c2s_sasl_new(mech, &cfg, NULL, &s) == 0);
	buf_printf(&msg, "n,,n=%s,r=clientnonce", user);
	CHECK(step_str(s, msg.data, &out) == NEED);
	CHECK(c2s_sasl_set_credentials(s, sm_lookup(c2s_sasl_username(s), h), &out) ==
	      C2S_SASL_CONTINUE);
	/* r=...,s=...,i=... and nothing else */
	CHECK(strncmp(out.data, "r=clientnonce", 13) == 0);
	CHECK(strstr(out.data, ",s=") != NULL && strstr(out.data, ",i=") != NULL);
	CHECK(strchr(strstr(out.data, ",i=") + 1, ',') == NULL);
	*salt_r = client_attr(out.data, 's');
	*iter_r = client_attr(out.data, 'i');
	*nonce_r = client_attr(out.data, 'r');
	c2s_sasl_free(&s);
	buf_free(&out);
	buf_free(&msg);
}

static void test_unknown_user_challenge(void)
{
	char *salt1, *iter1, *nonce1, *salt2, *iter2, *nonce2, *salt3, *iter3, *nonce3;
	char *rsalt, *riter, *rnonce, *csalt, *citer, *cnonce, *hsalt, *hiter, *hnonce;
	unsigned char raw[64];

	first_challenge("SCRAM-SHA-256", "nobody", &salt1, &iter1, &nonce1);
	first_challenge("SCRAM-SHA-256", "nobody", &salt2, &iter2, &nonce2);
	first_challenge("SCRAM-SHA-256", "somebody", &salt3, &iter3, &nonce3);
	first_challenge("SCRAM-SHA-256", "juliet", &rsalt, &riter, &rnonce);
	first_challenge("SCRAM-SHA-256", "NoBody", &csalt, &citer, &cnonce);
	first_challenge("SCRAM-SHA-1", "nobody", &hsalt, &hiter, &hnonce);
	/* Present and well-formed, stable across attempts, distinct per name. */
	CHECK(salt1 != NULL && iter1 != NULL && nonce1 != NULL);
	CHECK_STR(salt1, salt2);
	CHECK_STR(iter1, "4096");
	CHECK_STR(iter2, "4096");
	CHECK(salt1 && salt3 && strcmp(salt1, salt3) != 0);
	/* Normalised like a real account name would be. */
	CHECK_STR(salt1, csalt);
	/* Another hash, another salt, as junctionctl makes them. */
	CHECK(salt1 && hsalt && strcmp(salt1, hsalt) != 0);
	/* The nonce is fresh each time: client nonce + at least 18 random bytes in base64. */
	CHECK(nonce1 && nonce2 && strcmp(nonce1, nonce2) != 0);
	CHECK(nonce1 && strlen(nonce1) >= strlen("clientnonce") + 24);
	/* Same shape as a real account's. */
	CHECK(rsalt && salt1 && strlen(rsalt) == strlen(salt1));
	CHECK(salt1 && scram_base64_decode(salt1, strlen(salt1), raw) == SCRAM_SALT_LEN);
	CHECK_STR(riter, iter1);
	free(salt1), free(iter1), free(nonce1), free(salt2), free(iter2), free(nonce2);
	free(salt3), free(iter3), free(nonce3), free(rsalt), free(riter), free(rnonce);
	free(csalt), free(citer), free(cnonce), free(hsalt), free(hiter), free(hnonce);
}

/* A client that somehow knows the fake salt still fails, and only at the proof. */
static void test_unknown_user_fails_at_proof(void)
{
	struct c2s_sasl_config cfg = test_config();
	struct client c = {.hash = SCRAM_SHA256, .gs2 = "n,,", .user = "nobody",
			   .password = "pencil"};
	struct c2s_sasl *s;
	struct buf out = {0}, msg = {0};

	CHECK(c2s_sasl_new("SCRAM-SHA-256", &cfg, NULL, &s) == 0);
	client_first(&c, &msg);
	CHECK(step_str(s, msg.data, &out) == NEED);
	CHECK(c2s_sasl_set_credentials(s, NULL, &out) == C2S_SASL_CONTINUE);
	CHECK(client_final(&c, out.data, &msg) == 0);
	CHECK(step_str(s, msg.data, &out) == NOT_AUTH);
	CHECK_STR(c2s_sasl_reason(s), "no such account");
	c2s_sasl_free(&s);
	client_clear(&c);
	buf_free(&out);
	buf_free(&msg);
}

/* Stored credentials below the floor, or inconsistent, are sm's problem: temporary failure. */
static void test_bad_credentials(void)
{
	struct c2s_sasl_config cfg = test_config();
	struct scram_credentials weak, wrong_len, sha1;
	struct buf out = {0};
	const char *mechs[] = {"SCRAM-SHA-256", "PLAIN"};
	struct c2s_sasl_tls tls;
	make_tls(TLS_NOCB, &tls);

	CHECK(scram_credentials_new(SCRAM_SHA256, "pencil", SCRAM_MIN_ITERATIONS - 1, &weak) == 0);
	wrong_len = *sm_lookup("juliet", SCRAM_SHA256);
	wrong_len.key_len = 20;
	sha1 = *sm_lookup("juliet", SCRAM_SHA1);
	for (size_t i = 0; i < 2; i++) {
		const struct scram_credentials *bad[] = {&weak, &wrong_len};
		for (size_t k = 0; k < 2; k++) {
			struct c2s_sasl *s;
			CHECK(c2s_sasl_new(mechs[i], &cfg, &tls, &s) == 0);
			const char *m = i == 0 ? "n,,n=juliet,r=abc" : "\0juliet\0pencil";
			size_t len = i == 0 ? strlen(m) : 14;
			CHECK(c2s_sasl_step(s, (const unsigned char *)m, len, &out) == NEED);
			CHECK(c2s_sasl_set_credentials(s, bad[k], &out) ==
			      C2S_SASL_TEMPORARY_AUTH_FAILURE);
			CHECK(out.len == 0);
			c2s_sasl_free(&s);
		}
	}
	/* SHA-1 credentials for a SHA-256 mechanism. */
	struct c2s_sasl *s;
	CHECK(c2s_sasl_new("SCRAM-SHA-256", &cfg, &tls, &s) == 0);
	CHECK(step_str(s, "n,,n=juliet,r=abc", &out) == NEED);
	CHECK(c2s_sasl_set_credentials(s, &sha1, &out) == C2S_SASL_TEMPORARY_AUTH_FAILURE);
	c2s_sasl_free(&s);
	/* At exactly the floor it works. */
	struct scram_credentials floor_cred;
	CHECK(scram_credentials_new(SCRAM_SHA256, "pencil", SCRAM_MIN_ITERATIONS, &floor_cred) ==
	      0);
	CHECK(c2s_sasl_new("SCRAM-SHA-256", &cfg, &tls, &s) == 0);
	CHECK(step_str(s, "n,,n=juliet,r=abc", &out) == NEED);
	CHECK(c2s_sasl_set_credentials(s, &floor_cred, &out) == C2S_SASL_CONTINUE);
	c2s_sasl_free(&s);
	buf_free(&out);
}

/* ---- PLAIN ------------------------------------------------------------------------------- */

struct plain_case {
	const char *name;
	const char *msg;
	size_t len;
	int expect_first;
	enum scram_hash hash; /* credentials sm hands over */
	int expect;
};

#define P(s) s, sizeof(s) - 1

static const struct plain_case plain_cases[] = {
	{"success sha256", P("\0juliet\0pencil"), NEED, SCRAM_SHA256, OK},
	{"success sha1 credentials", P("\0juliet\0pencil"), NEED, SCRAM_SHA1, OK},
	{"SASLprep'd password", P("\0juliet\0pen\xc2\xad" "cil"), NEED, SCRAM_SHA256, OK},
	{"authzid own", P("juliet@example.com\0juliet\0pencil"), NEED, SCRAM_SHA256, OK},
	{"authzid own, other case", P("Juliet@EXAMPLE.com\0juliet\0pencil"), NEED, SCRAM_SHA1, OK},
	{"wrong password", P("\0juliet\0pencils"), NEED, SCRAM_SHA256, NOT_AUTH},
	{"wrong password sha1", P("\0juliet\0Pencil"), NEED, SCRAM_SHA1, NOT_AUTH},
	{"prohibited password", P("\0juliet\0pen\x07" "cil"), NEED, SCRAM_SHA256, NOT_AUTH},
	{"unknown user", P("\0nobody\0pencil"), NEED, SCRAM_SHA256, NOT_AUTH},
	{"authzid other", P("romeo@example.com\0juliet\0pencil"), AUTHZID, SCRAM_SHA256, 0},
	{"authzid full JID", P("juliet@example.com/r\0juliet\0pencil"), AUTHZID, SCRAM_SHA256, 0},
	{"authzid bad UTF-8", P("\xff\0juliet\0pencil"), MALFORMED, SCRAM_SHA256, 0},
	{"empty authcid", P("\0\0pencil"), MALFORMED, SCRAM_SHA256, 0},
	{"empty password", P("\0juliet\0"), MALFORMED, SCRAM_SHA256, 0},
	{"one NUL", P("juliet\0pencil"), MALFORMED, SCRAM_SHA256, 0},
	{"no NUL", P("julietpencil"), MALFORMED, SCRAM_SHA256, 0},
	{"three NULs", P("\0juliet\0pen\0cil"), MALFORMED, SCRAM_SHA256, 0},
	{"empty", P(""), MALFORMED, SCRAM_SHA256, 0},
	{"bad UTF-8 password", P("\0juliet\0\xc3"), MALFORMED, SCRAM_SHA256, 0},
};

static void test_plain(void)
{
	struct c2s_sasl_config cfg = test_config();
	struct c2s_sasl_tls tls;
	struct buf out = {0};

	make_tls(TLS_NOCB, &tls);
	for (size_t i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]); i++) {
		const struct plain_case *pc = &plain_cases[i];
		struct c2s_sasl *s;
		int r;
		CHECK(c2s_sasl_new("PLAIN", &cfg, &tls, &s) == 0);
		r = c2s_sasl_step(s, (const unsigned char *)pc->msg, pc->len, &out);
		if (r != pc->expect_first)
			printf("  %s: first %d, expected %d\n", pc->name, r, pc->expect_first);
		CHECK(r == pc->expect_first);
		if (r == NEED) {
			CHECK(c2s_sasl_hash(s) == SCRAM_SHA256);
			r = c2s_sasl_set_credentials(s, sm_lookup(c2s_sasl_username(s), pc->hash),
						     &out);
			if (r != pc->expect)
				printf("  %s: %d, expected %d\n", pc->name, r, pc->expect);
			CHECK(r == pc->expect);
			CHECK(out.len == 0);
		}
		c2s_sasl_free(&s);
	}
	buf_free(&out);
}

/* <auth mechanism='PLAIN'/> without text: an empty challenge, then the response. */
static void test_plain_no_initial_response(void)
{
	struct c2s_sasl_config cfg = test_config();
	struct c2s_sasl_tls tls;
	struct c2s_sasl *s;
	struct buf out = {0};

	make_tls(TLS_NOCB, &tls);
	CHECK(c2s_sasl_new("PLAIN", &cfg, &tls, &s) == 0);
	buf_append_str(&out, "junk");
	CHECK(c2s_sasl_step(s, NULL, 0, &out) == C2S_SASL_CONTINUE);
	CHECK(out.len == 0);
	CHECK(c2s_sasl_username(s) == NULL);
	CHECK(c2s_sasl_step(s, (const unsigned char *)"\0juliet\0pencil", 14, &out) == NEED);
	CHECK_STR(c2s_sasl_username(s), "juliet");
	CHECK(c2s_sasl_set_credentials(s, sm_lookup("juliet", SCRAM_SHA256), &out) == OK);
	/* Anything after the outcome is refused. */
	CHECK(c2s_sasl_step(s, (const unsigned char *)"\0juliet\0pencil", 14, &out) == MALFORMED);
	c2s_sasl_free(&s);

	/* Only once: a second empty message is a zero-length response, malformed. */
	CHECK(c2s_sasl_new("PLAIN", &cfg, &tls, &s) == 0);
	CHECK(c2s_sasl_step(s, NULL, 0, &out) == C2S_SASL_CONTINUE);
	CHECK(c2s_sasl_step(s, NULL, 0, &out) == MALFORMED);
	c2s_sasl_free(&s);
	/* A zero-length initial response ("=") is not a missing one. */
	CHECK(c2s_sasl_new("PLAIN", &cfg, &tls, &s) == 0);
	CHECK(c2s_sasl_step(s, (const unsigned char *)"", 0, &out) == MALFORMED);
	c2s_sasl_free(&s);
	buf_free(&out);
}

/* SCRAM without an initial response, and messages out of turn. */
static void test_scram_out_of_turn(void)
{
	struct c2s_sasl_config cfg = test_config();
	struct client c = {.hash = SCRAM_SHA1, .gs2 = "n,,", .user = "juliet",
			   .password = "pencil"};
	struct c2s_sasl *s;
	struct buf out = {0}, msg = {0};

	CHECK(c2s_sasl_new("SCRAM-SHA-1", &cfg, NULL, &s) == 0);
	CHECK(c2s_sasl_step(s, NULL, 0, &out) == C2S_SASL_CONTINUE);
	CHECK(out.len == 0);
	client_first(&c, &msg);
	CHECK(step_str(s, msg.data, &out) == NEED);
	CHECK(c2s_sasl_set_credentials(s, sm_lookup("juliet", SCRAM_SHA1), &out) ==
	      C2S_SASL_CONTINUE);
	CHECK(client_final(&c, out.data, &msg) == 0);
	CHECK(step_str(s, msg.data, &out) == OK);
	CHECK(client_check_server(&c, out.data));
	CHECK(step_str(s, msg.data, &out) == MALFORMED);
	c2s_sasl_free(&s);

	/* A response while credentials are being fetched. */
	CHECK(c2s_sasl_new("SCRAM-SHA-1", &cfg, NULL, &s) == 0);
	client_first(&c, &msg);
	CHECK(step_str(s, msg.data, &out) == NEED);
	CHECK(step_str(s, msg.data, &out) == MALFORMED);
	c2s_sasl_free(&s);
	client_clear(&c);
	buf_free(&out);
	buf_free(&msg);
}

/* ---- mechanism lists and selection ------------------------------------------------------- */

struct mech_list_case {
	enum tls_kind tls;
	bool plain_allowed, sha1_disabled;
	const char *expect; /* space-separated */
	const char *bindings;
};

static const struct mech_list_case mech_list_cases[] = {
	{TLS_NONE, true, false, "SCRAM-SHA-256 SCRAM-SHA-1", ""},
	{TLS_NONE, false, true, "SCRAM-SHA-256", ""},
	{TLS_NOCB, true, false, "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN", ""},
	{TLS_NOCB, false, false, "SCRAM-SHA-256 SCRAM-SHA-1", ""},
	{TLS_BOTH, false, false,
	 "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1",
	 "tls-exporter tls-server-end-point"},
	{TLS_BOTH, true, true, "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN",
	 "tls-exporter tls-server-end-point"},
	{TLS_EXPORTER, true, false,
	 "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1 PLAIN", "tls-exporter"},
	{TLS_END_POINT, false, false,
	 "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1", "tls-server-end-point"},
};

static void join(struct buf *b, const char **names, size_t n)
{
	buf_reset(b);
	buf_append_str(b, "");
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s%s", i ? " " : "", names[i]);
}

static void test_mechanism_list(void)
{
	struct buf b = {0};
	for (size_t i = 0; i < sizeof(mech_list_cases) / sizeof(mech_list_cases[0]); i++) {
		const struct mech_list_case *mc = &mech_list_cases[i];
		struct c2s_sasl_config cfg = test_config();
		struct c2s_sasl_tls tls;
		const char *names[C2S_SASL_MAX_MECHANISMS], *cb[2];
		cfg.plain_allowed = mc->plain_allowed;
		cfg.sha1_disabled = mc->sha1_disabled;
		make_tls(mc->tls, &tls);
		join(&b, names, c2s_sasl_mechanisms(&cfg, &tls, names));
		CHECK_STR(b.data, mc->expect);
		join(&b, cb, c2s_sasl_channel_bindings(&tls, cb));
		CHECK_STR(b.data, mc->bindings);
	}
	/* No TLS info at all, and channel-binding data on a stream that is not encrypted. */
	struct c2s_sasl_config cfg = test_config();
	struct c2s_sasl_tls tls;
	const char *names[C2S_SASL_MAX_MECHANISMS], *cb[2];
	join(&b, names, c2s_sasl_mechanisms(&cfg, NULL, names));
	CHECK_STR(b.data, "SCRAM-SHA-256 SCRAM-SHA-1");
	CHECK(c2s_sasl_channel_bindings(NULL, cb) == 0);
	make_tls(TLS_BOTH, &tls);
	tls.active = false;
	join(&b, names, c2s_sasl_mechanisms(&cfg, &tls, names));
	CHECK_STR(b.data, "SCRAM-SHA-256 SCRAM-SHA-1");
	CHECK(c2s_sasl_channel_bindings(&tls, cb) == 0);
	buf_free(&b);
}

struct mech_new_case {
	const char *mechanism;
	enum tls_kind tls;
	bool plain_allowed, sha1_disabled;
	int expect;
};

static const struct mech_new_case mech_new_cases[] = {
	{"SCRAM-SHA-1", TLS_NONE, false, false, 0},
	{"SCRAM-SHA-256", TLS_NONE, false, false, 0},
	{"SCRAM-SHA-256-PLUS", TLS_BOTH, false, false, 0},
	{"SCRAM-SHA-1-PLUS", TLS_END_POINT, false, false, 0},
	{"PLAIN", TLS_NOCB, true, false, 0},
	{"PLAIN", TLS_NONE, true, false, C2S_SASL_ENCRYPTION_REQUIRED},
	{"PLAIN", TLS_NOCB, false, false, C2S_SASL_INVALID_MECHANISM},
	{"SCRAM-SHA-256-PLUS", TLS_NONE, false, false, C2S_SASL_ENCRYPTION_REQUIRED},
	{"SCRAM-SHA-256-PLUS", TLS_NOCB, false, false, C2S_SASL_INVALID_MECHANISM},
	{"SCRAM-SHA-1", TLS_BOTH, false, true, C2S_SASL_MECHANISM_TOO_WEAK},
	{"SCRAM-SHA-1-PLUS", TLS_BOTH, false, true, C2S_SASL_MECHANISM_TOO_WEAK},
	{"SCRAM-SHA-256", TLS_BOTH, false, true, 0},
	{"scram-sha-1", TLS_NONE, false, false, C2S_SASL_INVALID_MECHANISM},
	{"SCRAM-SHA-512", TLS_NONE, false, false, C2S_SASL_INVALID_MECHANISM},
	{"DIGEST-MD5", TLS_BOTH, true, false, C2S_SASL_INVALID_MECHANISM},
	{"PLAIN ", TLS_BOTH, true, false, C2S_SASL_INVALID_MECHANISM},
	{"", TLS_BOTH, true, false, C2S_SASL_INVALID_MECHANISM},
};

static void test_mechanism_new(void)
{
	for (size_t i = 0; i < sizeof(mech_new_cases) / sizeof(mech_new_cases[0]); i++) {
		const struct mech_new_case *mc = &mech_new_cases[i];
		struct c2s_sasl_config cfg = test_config();
		struct c2s_sasl_tls tls;
		struct c2s_sasl *s = (struct c2s_sasl *)&tls; /* must be overwritten */
		cfg.plain_allowed = mc->plain_allowed;
		cfg.sha1_disabled = mc->sha1_disabled;
		make_tls(mc->tls, &tls);
		int r = c2s_sasl_new(mc->mechanism, &cfg, &tls, &s);
		if (r != mc->expect)
			printf("  \"%s\": %d, expected %d\n", mc->mechanism, r, mc->expect);
		CHECK(r == mc->expect);
		CHECK((r == 0) == (s != NULL));
		if (s != NULL)
			CHECK_STR(c2s_sasl_mechanism(s), mc->mechanism);
		c2s_sasl_free(&s);
	}
}

/* A mechanism the list offers can always be started, and -PLUS only from the list. */
static void test_offered_means_startable(void)
{
	static const char *const all[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
					  "SCRAM-SHA-1", "PLAIN"};
	for (int kind = TLS_NONE; kind <= TLS_END_POINT; kind++) {
		for (int flags = 0; flags < 4; flags++) {
			struct c2s_sasl_config cfg = test_config();
			struct c2s_sasl_tls tls;
			const char *names[C2S_SASL_MAX_MECHANISMS];
			cfg.plain_allowed = flags & 1;
			cfg.sha1_disabled = flags & 2;
			make_tls((enum tls_kind)kind, &tls);
			size_t n = c2s_sasl_mechanisms(&cfg, &tls, names);
			for (size_t m = 0; m < 5; m++) {
				bool offered = false;
				struct c2s_sasl *s;
				for (size_t k = 0; k < n; k++)
					offered |= strcmp(names[k], all[m]) == 0;
				int r = c2s_sasl_new(all[m], &cfg, &tls, &s);
				CHECK((r == 0) == offered);
				c2s_sasl_free(&s);
			}
		}
	}
}

static void test_conditions(void)
{
	CHECK_STR(c2s_sasl_condition(C2S_SASL_NOT_AUTHORIZED), "not-authorized");
	CHECK_STR(c2s_sasl_condition(C2S_SASL_INVALID_AUTHZID), "invalid-authzid");
	CHECK_STR(c2s_sasl_condition(C2S_SASL_MALFORMED_REQUEST), "malformed-request");
	CHECK_STR(c2s_sasl_condition(C2S_SASL_INVALID_MECHANISM), "invalid-mechanism");
	CHECK_STR(c2s_sasl_condition(C2S_SASL_ENCRYPTION_REQUIRED), "encryption-required");
	CHECK_STR(c2s_sasl_condition(C2S_SASL_TEMPORARY_AUTH_FAILURE), "temporary-auth-failure");
	CHECK_STR(c2s_sasl_condition(C2S_SASL_INCORRECT_ENCODING), "incorrect-encoding");
	CHECK_STR(c2s_sasl_condition(C2S_SASL_MECHANISM_TOO_WEAK), "mechanism-too-weak");
	CHECK_STR(c2s_sasl_condition(-100), "not-authorized");
	CHECK(c2s_sasl_condition(C2S_SASL_SUCCESS) == NULL);
	CHECK(c2s_sasl_condition(C2S_SASL_CONTINUE) == NULL);
	CHECK(c2s_sasl_condition(C2S_SASL_NEED_CREDENTIALS) == NULL);
}

static void test_xmpp_base64(void)
{
	struct buf b = {0};
	CHECK(c2s_sasl_decode("=", 1, &b) == 0);
	CHECK(b.len == 0 && b.data != NULL);
	CHECK(c2s_sasl_decode("", 0, &b) == 0);
	CHECK(b.len == 0 && b.data != NULL);
	CHECK(c2s_sasl_decode("AGp1bGlldABwZW5jaWw=", 20, &b) == 0);
	CHECK(b.len == 14 && memcmp(b.data, "\0juliet\0pencil", 14) == 0);
	CHECK(c2s_sasl_decode("biws", 4, &b) == 0);
	CHECK_STR(b.data, "n,,");
	CHECK(c2s_sasl_decode("biw", 3, &b) == C2S_SASL_INCORRECT_ENCODING);
	CHECK(c2s_sasl_decode("bi ws", 5, &b) == C2S_SASL_INCORRECT_ENCODING);
	CHECK(c2s_sasl_decode("==", 2, &b) == C2S_SASL_INCORRECT_ENCODING);
	CHECK(c2s_sasl_decode("biws\n", 5, &b) == C2S_SASL_INCORRECT_ENCODING);
	buf_reset(&b);
	c2s_sasl_encode((const unsigned char *)"", 0, &b);
	CHECK(b.len == 0);
	c2s_sasl_encode((const unsigned char *)"n,,", 3, &b);
	CHECK_STR(b.data, "biws");
	buf_free(&b);
}

static void test_tls_from_null(void)
{
	struct c2s_sasl_tls tls;
	memset(&tls, 0xff, sizeof(tls));
	c2s_sasl_tls_from(NULL, &tls);
	CHECK(!tls.active && tls.exporter_len == 0 && tls.server_end_point_len == 0);
}

/* ---- channel binding from a real TLS connection ----------------------------------------- */

/* A throwaway P-256 key and self-signed certificate in dir. */
static int make_cert(const char *dir, char *cert, char *key, size_t cap)
{
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	EVP_PKEY *pkey = NULL;
	X509 *x = X509_new();
	FILE *f = NULL;
	int ret = -1;

	snprintf(cert, cap, "%s/cert.pem", dir);
	snprintf(key, cap, "%s/key.pem", dir);
	if (kctx == NULL || x == NULL || EVP_PKEY_keygen_init(kctx) != 1 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx, NID_X9_62_prime256v1) != 1 ||
	    EVP_PKEY_keygen(kctx, &pkey) != 1)
		goto out;
	X509_NAME *name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -60) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600) == NULL || X509_set_pubkey(x, pkey) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				       (const unsigned char *)"example.com", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_sign(x, pkey, EVP_sha256()) <= 0)
		goto out;
	if ((f = fopen(cert, "w")) == NULL || PEM_write_X509(f, x) != 1 || fclose(f) != 0)
		goto out;
	if ((f = fopen(key, "w")) == NULL ||
	    PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1 || fclose(f) != 0)
		goto out;
	f = NULL;
	ret = 0;
out:
	if (f != NULL)
		fclose(f);
	X509_free(x);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(kctx);
	return ret;
}

/* Shuttle ciphertext between the two ends until both finish the handshake. */
static bool handshake(struct tls *server, struct tls *client)
{
	struct buf b = {0};
	for (int i = 0; i < 20; i++) {
		if (tls_handshake_done(server) && tls_handshake_done(client))
			break;
		buf_reset(&b);
		if (tls_take_ciphertext(client, &b) > 0 &&
		    tls_feed_ciphertext(server, b.data, b.len) != TLS_OK)
			break;
		buf_reset(&b);
		if (tls_take_ciphertext(server, &b) > 0 &&
		    tls_feed_ciphertext(client, b.data, b.len) != TLS_OK)
			break;
	}
	buf_free(&b);
	return tls_handshake_done(server) && tls_handshake_done(client);
}

/* SCRAM-SHA-256-PLUS with the channel binding each end computes from its own side of one
 * connection; the other connection's binding must not do. */
static void test_real_tls_channel_binding(void)
{
	char dir[] = "/tmp/junction-test-sasl-XXXXXX", cert[128], key[128], err[256];
	struct tls_ctx *sctx = NULL, *cctx = NULL;
	struct tls *srv[2] = {NULL, NULL}, *cli[2] = {NULL, NULL};
	static const char *const types[] = {"tls-exporter", "tls-server-end-point"};

	CHECK(mkdtemp(dir) != NULL);
	CHECK(make_cert(dir, cert, key, sizeof(cert)) == 0);
	CHECK(tls_ctx_new_server(cert, key, &sctx, err, sizeof(err)) == TLS_OK);
	CHECK(tls_ctx_new_client(NULL, false, &cctx, err, sizeof(err)) == TLS_OK);
	for (int k = 0; k < 2 && sctx != NULL && cctx != NULL; k++) {
		srv[k] = tls_new(sctx, true, NULL);
		cli[k] = tls_new(cctx, false, "example.com");
		CHECK(srv[k] != NULL && cli[k] != NULL && handshake(srv[k], cli[k]));
	}
	if (cli[1] == NULL || !tls_handshake_done(cli[1]))
		goto out;

	struct c2s_sasl_tls info;
	const char *names[C2S_SASL_MAX_MECHANISMS];
	struct c2s_sasl_config cfg = test_config();
	c2s_sasl_tls_from(srv[0], &info);
	CHECK(info.active && info.exporter_len == 32 && info.server_end_point_len == 32);
	CHECK(c2s_sasl_mechanisms(&cfg, &info, names) == 5);
	for (int t = 0; t < 2; t++) {
		for (int conn = 0; conn < 2; conn++) {
			unsigned char cb[TLS_CHANNEL_BINDING_MAX];
			size_t cb_len = 0;
			struct c2s_sasl *s = NULL;
			int r;
			struct buf msg = {0}, out = {0};
			struct client c = {.hash = SCRAM_SHA256, .user = "juliet",
					   .password = "pencil"};
			c.gs2 = t == 0 ? "p=tls-exporter,," : "p=tls-server-end-point,,";
			CHECK(tls_channel_binding(cli[conn], types[t], cb, sizeof(cb), &cb_len) ==
			      TLS_OK);
			c.cb = cb;
			c.cb_len = cb_len;
			CHECK(c2s_sasl_new("SCRAM-SHA-256-PLUS", &cfg, &info, &s) == 0);
			client_first(&c, &msg);
			CHECK(step_str(s, msg.data, &out) == NEED);
			r = c2s_sasl_set_credentials(s, sm_lookup("juliet", SCRAM_SHA256), &out);
			CHECK(r == C2S_SASL_CONTINUE);
			CHECK(client_final(&c, out.data, &msg) == 0);
			r = step_str(s, msg.data, &out);
			/* The certificate is the same on both connections, the exporter is not. */
			if (conn == 0 || t == 1) {
				CHECK(r == OK);
				CHECK(client_check_server(&c, out.data));
			} else {
				CHECK(r == NOT_AUTH);
			}
			c2s_sasl_free(&s);
			client_clear(&c);
			buf_free(&msg);
			buf_free(&out);
		}
	}
out:
	for (int k = 0; k < 2; k++) {
		tls_free(&srv[k]);
		tls_free(&cli[k]);
	}
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

static const struct test tests[] = {
	TEST(test_scram_exchanges),
	TEST(test_scram_channel_binding_reported),
	TEST(test_scram_first_malformed),
	TEST(test_scram_first_too_long),
	TEST(test_scram_final_malformed),
	TEST(test_scram_final_truncated),
	TEST(test_unknown_user_challenge),
	TEST(test_unknown_user_fails_at_proof),
	TEST(test_bad_credentials),
	TEST(test_plain),
	TEST(test_plain_no_initial_response),
	TEST(test_scram_out_of_turn),
	TEST(test_mechanism_list),
	TEST(test_mechanism_new),
	TEST(test_offered_means_startable),
	TEST(test_conditions),
	TEST(test_xmpp_base64),
	TEST(test_tls_from_null),
	TEST(test_real_tls_channel_binding),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
