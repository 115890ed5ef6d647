/* common/test-scram.c: SCRAM arithmetic against the RFC 5802 and RFC 7677
 * examples, SASLprep against RFC 4013's examples, and the strict base64.
 *
 * The RFC examples give only the exchanged messages, so the tests derive
 * credentials from "pencil" and check that the example's ClientProof
 * verifies and that the ServerSignature computed matches the example's: a
 * wrong StoredKey or ServerKey cannot pass both.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "scram.h"
#include "test.h"

struct rfc_vector {
	enum scram_hash hash;
	const char *salt_b64;
	const char *client_first_bare;
	const char *server_first;
	const char *client_final_without_proof;
	const char *proof_b64;
	const char *server_signature_b64;
	/* StoredKey and ServerKey in hex, computed independently (Python's
	 * hashlib) as a second check on the derivation. */
	const char *stored_key_hex;
	const char *server_key_hex;
};

static const struct rfc_vector rfc_vectors[] = {
	{
		/* RFC 5802 section 5 */
		SCRAM_SHA1,
		"QSXCR+Q6sek8bf92",
		"n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
		"v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		"e9d94660c39d65c38fbad91c358f14da0eef2bd6",
		"0fe09258b3ac852ba502cc62ba903eaacdbf7d31",
	},
	{
		/* RFC 7677 section 3 */
		SCRAM_SHA256,
		"W22ZaJ0SNY7soEsUEjb6gQ==",
		"n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
		"i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		"586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6",
		"c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5",
	},
};

static void test_hex(const unsigned char *data, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", data[i]);
	out[2 * len] = '\0';
}

static long test_decode(const char *b64, unsigned char *out)
{
	return scram_base64_decode(b64, strlen(b64), out);
}

/* Credentials for "pencil" with the vector's salt, and its AuthMessage. */
static void test_vector_setup(const struct rfc_vector *v, struct scram_credentials *cred,
			      struct buf *auth_message)
{
	unsigned char salt[64];
	long salt_len = test_decode(v->salt_b64, salt);
	CHECK(salt_len > 0);
	CHECK(scram_credentials_derive(v->hash, "pencil", salt, (size_t)salt_len, 4096, cred) == 0);
	buf_printf(auth_message, "%s,%s,%s", v->client_first_bare, v->server_first,
		   v->client_final_without_proof);
}

static void test_rfc_vectors(void)
{
	for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
		const struct rfc_vector *v = &rfc_vectors[i];
		struct scram_credentials cred;
		struct buf am = {0};
		unsigned char proof[64], expected_sig[64], sig[SCRAM_MAX_KEY];
		char hex[2 * SCRAM_MAX_KEY + 1];

		test_vector_setup(v, &cred, &am);
		CHECK(cred.hash == v->hash);
		CHECK(cred.iterations == 4096);
		CHECK(cred.key_len == scram_hash_len(v->hash));
		test_hex(cred.stored_key, cred.key_len, hex);
		CHECK_STR(hex, v->stored_key_hex);
		test_hex(cred.server_key, cred.key_len, hex);
		CHECK_STR(hex, v->server_key_hex);

		long proof_len = test_decode(v->proof_b64, proof);
		long sig_len = test_decode(v->server_signature_b64, expected_sig);
		CHECK(proof_len == (long)cred.key_len);
		CHECK(sig_len == (long)cred.key_len);
		memset(sig, 0, sizeof(sig));
		CHECK(scram_verify_proof(&cred, am.data, am.len, proof, (size_t)proof_len, sig));
		CHECK(memcmp(sig, expected_sig, cred.key_len) == 0);
		buf_free(&am);
	}
}

/* A single flipped bit anywhere in the proof, a changed AuthMessage or a
 * proof of the wrong length must all be refused. */
static void test_verify_rejects(void)
{
	for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
		const struct rfc_vector *v = &rfc_vectors[i];
		struct scram_credentials cred;
		struct buf am = {0};
		unsigned char proof[64], sig[SCRAM_MAX_KEY];
		size_t accepted = 0;

		test_vector_setup(v, &cred, &am);
		long proof_len = test_decode(v->proof_b64, proof);
		size_t plen = (size_t)proof_len;
		CHECK(proof_len == (long)cred.key_len);
		for (long bit = 0; bit < proof_len * 8; bit++) {
			proof[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			if (scram_verify_proof(&cred, am.data, am.len, proof, plen, sig))
				accepted++;
			proof[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		}
		CHECK(accepted == 0);
		CHECK(scram_verify_proof(&cred, am.data, am.len, proof, (size_t)proof_len, sig));
		CHECK(!scram_verify_proof(&cred, am.data, am.len, proof, plen - 1, sig));
		CHECK(!scram_verify_proof(&cred, am.data, am.len - 1, proof, plen, sig));
		am.data[0] = 'N';
		CHECK(!scram_verify_proof(&cred, am.data, am.len, proof, (size_t)proof_len, sig));
		buf_free(&am);
	}
}

static void test_hash_names(void)
{
	CHECK(scram_hash_len(SCRAM_SHA1) == 20);
	CHECK(scram_hash_len(SCRAM_SHA256) == 32);
	CHECK_STR(scram_hash_name(SCRAM_SHA1), "SHA-1");
	CHECK_STR(scram_hash_name(SCRAM_SHA256), "SHA-256");
}

/* HMAC and H against RFC 4231 case 2 and FIPS 180 "abc". */
static void test_hmac_digest(void)
{
	unsigned char out[SCRAM_MAX_KEY];
	char hex[2 * SCRAM_MAX_KEY + 1];
	const char *data = "what do ya want for nothing?";

	scram_hmac(SCRAM_SHA256, (const unsigned char *)"Jefe", 4, data, strlen(data), out);
	test_hex(out, 32, hex);
	CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	scram_digest(SCRAM_SHA1, "abc", 3, out);
	test_hex(out, 20, hex);
	CHECK_STR(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	scram_digest(SCRAM_SHA256, "abc", 3, out);
	test_hex(out, 32, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_credentials_new(void)
{
	struct scram_credentials a, b, c;
	CHECK(scram_credentials_new(SCRAM_SHA256, "pencil", 4096, &a) == 0);
	CHECK(scram_credentials_new(SCRAM_SHA256, "pencil", 4096, &b) == 0);
	CHECK(a.salt_len == SCRAM_SALT_LEN && b.salt_len == SCRAM_SALT_LEN);
	CHECK(a.key_len == 32);
	CHECK(memcmp(a.salt, b.salt, SCRAM_SALT_LEN) != 0);
	CHECK(memcmp(a.stored_key, b.stored_key, 32) != 0);
	/* The same salt gives the same keys back. */
	CHECK(scram_credentials_derive(SCRAM_SHA256, "pencil", a.salt, a.salt_len, 4096, &c) == 0);
	CHECK(memcmp(a.stored_key, c.stored_key, 32) == 0);
	CHECK(memcmp(a.server_key, c.server_key, 32) == 0);
	CHECK(scram_credentials_derive(SCRAM_SHA256, "pencil", a.salt, a.salt_len, 4097, &c) == 0);
	CHECK(memcmp(a.stored_key, c.stored_key, 32) != 0);
}

static void test_derive_rejects(void)
{
	struct scram_credentials cred;
	unsigned char salt[65] = {0};
	CHECK(scram_credentials_derive(SCRAM_SHA1, "pencil", salt, 64, 4096, &cred) == 0);
	CHECK(scram_credentials_derive(SCRAM_SHA1, "pencil", salt, 65, 4096, &cred) == -1);
	CHECK(scram_credentials_derive(SCRAM_SHA1, "pencil", salt, 16, 0, &cred) == -1);
	/* SASLprep refuses a control character: such a password is never stored. */
	CHECK(scram_credentials_derive(SCRAM_SHA1, "pen\x07" "cil", salt, 16, 4096, &cred) == -1);
	CHECK(cred.key_len == 0);
	/* Mapped characters disappear before hashing: same keys. */
	struct scram_credentials plain, hyphen;
	CHECK(scram_credentials_derive(SCRAM_SHA1, "pencil", salt, 16, 4096, &plain) == 0);
	CHECK(scram_credentials_derive(SCRAM_SHA1, "pen\xc2\xad" "cil", salt, 16, 4096, &hyphen) ==
	      0);
	CHECK(memcmp(plain.stored_key, hyphen.stored_key, 20) == 0);
}

struct saslprep_case {
	const char *in;
	const char *out; /* NULL: must be rejected */
};

/* RFC 4013 section 3 examples and a few more. */
static const struct saslprep_case saslprep_cases[] = {
	{"I\xc2\xad" "X", "IX"},     /* soft hyphen mapped to nothing */
	{"user", "user"},           /* no transformation */
	{"USER", "USER"},           /* case preserved */
	{"\xc2\xaa", "a"},          /* NFKC */
	{"\xe2\x85\xa8", "IX"},     /* NFKC: ROMAN NUMERAL NINE */
	{"a\xc2\xa0" "b", "a b"},   /* non-ASCII space mapped to SPACE */
	{"\x07", NULL},             /* prohibited: control character */
	{"\xd8\xa7" "1", NULL},     /* bidi: RandALCat then L/EN at the end */
	{"a\xef\xbf\xbf", NULL},    /* prohibited: non-character */
	{"\xed\xa0\x80", NULL},     /* surrogate: not valid UTF-8 */
	{"", ""},
};

static void test_saslprep(void)
{
	for (size_t i = 0; i < sizeof(saslprep_cases) / sizeof(saslprep_cases[0]); i++) {
		const struct saslprep_case *c = &saslprep_cases[i];
		char *out = (char *)"unchanged";
		int r = scram_saslprep(c->in, &out);
		if (c->out == NULL) {
			CHECK(r == -1);
			CHECK(out == NULL);
		} else {
			CHECK(r == 0);
			CHECK_STR(out, c->out);
		}
		if ((r == 0) != (c->out != NULL))
			printf("  saslprep case %zu: r=%d\n", i, r);
		free(r == 0 ? out : NULL);
	}
}

/* RFC 4648 section 10 vectors, both ways. */
static void test_base64_vectors(void)
{
	static const char *const pairs[][2] = {
		{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
		{"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
		{"foobar", "Zm9vYmFy"},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *enc = scram_base64_encode((const unsigned char *)pairs[i][0],
						strlen(pairs[i][0]));
		CHECK_STR(enc, pairs[i][1]);
		free(enc);
		unsigned char out[16] = {0};
		long n = test_decode(pairs[i][1], out);
		CHECK(n == (long)strlen(pairs[i][0]));
		CHECK(n >= 0 && memcmp(out, pairs[i][0], (size_t)n) == 0);
	}
	unsigned char out[4];
	CHECK(test_decode("+/+/", out) == 3);
	CHECK(out[0] == 0xfb && out[1] == 0xff && out[2] == 0xbf);
}

/* Every length from 0 to 300 with every byte value somewhere in it. */
static void test_base64_round_trip(void)
{
	unsigned char data[300], back[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 167 + 13);
	for (size_t len = 0; len <= sizeof(data); len++) {
		char *enc = scram_base64_encode(data, len);
		CHECK(strlen(enc) == (len + 2) / 3 * 4);
		long n = scram_base64_decode(enc, strlen(enc), back);
		CHECK(n == (long)len);
		CHECK(n >= 0 && memcmp(back, data, len) == 0);
		free(enc);
	}
}

static void test_base64_bad(void)
{
	static const char *const bad[] = {
		"Zg=",       /* length not a multiple of 4 */
		"Zg",        /* unpadded */
		"Zg=a",      /* data after padding */
		"Z===",      /* too much padding */
		"====",      /* only padding */
		"Zg==Zg==",  /* padding in the middle */
		"Zh==",      /* unused bits set */
		"Zm9=",      /* unused bits set */
		" Zm9v",     /* whitespace */
		"Zm9v\n",    /* trailing newline */
		"Zm9 ",      /* space inside */
		"Zm-v",      /* URL-safe alphabet */
		"Zm_v",      /* URL-safe alphabet */
		"Zm,v",      /* neighbours of '+' and '/' */
		"Zm.v",
		"Zm*v",
		"Zm9\x7b",    /* '{' after 'z' */
		"Zm@v",      /* '@' before 'A' */
		"Zm`v",      /* '`' before 'a' */
		"Zm:v",      /* ':' after '9' */
		"Zm9\x80",   /* non-ASCII */
		"=Zm9",      /* padding first */
	};
	unsigned char out[16];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long n = test_decode(bad[i], out);
		if (n != -1)
			printf("  accepted \"%s\"\n", bad[i]);
		CHECK(n == -1);
	}
	/* An embedded NUL is bad input, not the end of the text. */
	CHECK(scram_base64_decode("Zm\0v", 4, out) == -1);
	CHECK(scram_base64_decode("Zm9v", 4, out) == 3);
}

static const struct test tests[] = {
	TEST(test_rfc_vectors),
	TEST(test_verify_rejects),
	TEST(test_hash_names),
	TEST(test_hmac_digest),
	TEST(test_credentials_new),
	TEST(test_derive_rejects),
	TEST(test_saslprep),
	TEST(test_base64_vectors),
	TEST(test_base64_round_trip),
	TEST(test_base64_bad),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
