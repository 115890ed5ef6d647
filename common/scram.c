/* common/scram.c: SCRAM key derivation and proof checking (see scram.h).
 *
 * All hashing is OpenSSL's (PBKDF2, HMAC, EVP digests); SASLprep is libidn's.
 * Base64 is written here rather than taken from EVP_DecodeBlock because that
 * one is lenient (whitespace, padding counted as data) and SASL needs a
 * strict decoder, and because PLAIN passwords pass through it: the decoder
 * avoids table lookups and branches on the data.
 */
#include "scram.h"

#include <assert.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "buf.h"

static const EVP_MD *scram_md(enum scram_hash hash)
{
	return hash == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

size_t scram_hash_len(enum scram_hash hash)
{
	return hash == SCRAM_SHA1 ? 20 : 32;
}

const char *scram_hash_name(enum scram_hash hash)
{
	return hash == SCRAM_SHA1 ? "SHA-1" : "SHA-256";
}

int scram_saslprep(const char *in, char **out_r)
{
	char *out = NULL;
	*out_r = NULL;
	if (stringprep_profile(in, &out, "SASLprep", 0) != STRINGPREP_OK) {
		free(out);
		return -1;
	}
	*out_r = out;
	return 0;
}

void scram_hmac(enum scram_hash hash, const unsigned char *key, size_t key_len, const void *data,
		size_t data_len, unsigned char *out)
{
	unsigned int len = 0;
	/* Only fails on allocation failure, which Junction treats as fatal. */
	if (HMAC(scram_md(hash), key, (int)key_len, data, data_len, out, &len) == NULL)
		abort();
	assert(len == scram_hash_len(hash));
}

void scram_digest(enum scram_hash hash, const void *data, size_t len, unsigned char *out)
{
	unsigned int out_len = 0;
	if (EVP_Digest(data, len, out, &out_len, scram_md(hash), NULL) != 1)
		abort();
	assert(out_len == scram_hash_len(hash));
}

int scram_credentials_derive(enum scram_hash hash, const char *password, const unsigned char *salt,
			     size_t salt_len, unsigned iterations, struct scram_credentials *cred_r)
{
	size_t hlen = scram_hash_len(hash);
	unsigned char salted[SCRAM_MAX_KEY], client_key[SCRAM_MAX_KEY];
	char *prepped = NULL;
	int ret = -1;

	memset(cred_r, 0, sizeof(*cred_r));
	if (salt_len > sizeof(cred_r->salt) || iterations == 0 || iterations > INT_MAX)
		goto out;
	if (scram_saslprep(password, &prepped) < 0)
		goto out;
	/* SaltedPassword := Hi(Normalize(password), salt, i), Hi being PBKDF2
	 * with HMAC as its PRF and one block of output (RFC 5802 section 2.2). */
	if (PKCS5_PBKDF2_HMAC(prepped, (int)strlen(prepped), salt, (int)salt_len, (int)iterations,
			      scram_md(hash), (int)hlen, salted) != 1)
		goto out;
	scram_hmac(hash, salted, hlen, "Client Key", 10, client_key);
	scram_digest(hash, client_key, hlen, cred_r->stored_key);
	scram_hmac(hash, salted, hlen, "Server Key", 10, cred_r->server_key);
	cred_r->hash = hash;
	cred_r->iterations = iterations;
	memcpy(cred_r->salt, salt, salt_len);
	cred_r->salt_len = salt_len;
	cred_r->key_len = hlen;
	ret = 0;
out:
	/* SaltedPassword and ClientKey are as good as the password. */
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	if (prepped != NULL) {
		OPENSSL_cleanse(prepped, strlen(prepped));
		free(prepped);
	}
	if (ret < 0)
		memset(cred_r, 0, sizeof(*cred_r));
	return ret;
}

int scram_credentials_new(enum scram_hash hash, const char *password, unsigned iterations,
			  struct scram_credentials *cred_r)
{
	unsigned char salt[SCRAM_SALT_LEN];
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		memset(cred_r, 0, sizeof(*cred_r));
		return -1;
	}
	return scram_credentials_derive(hash, password, salt, sizeof(salt), iterations, cred_r);
}

bool scram_verify_proof(const struct scram_credentials *cred, const char *auth_message,
			size_t auth_message_len, const unsigned char *client_proof,
			size_t proof_len, unsigned char *server_signature_r)
{
	size_t hlen = scram_hash_len(cred->hash);
	unsigned char client_signature[SCRAM_MAX_KEY], client_key[SCRAM_MAX_KEY];
	unsigned char stored_key[SCRAM_MAX_KEY];
	bool ok;

	/* A proof of the wrong length can never match; its length is public. */
	if (proof_len != hlen || cred->key_len != hlen)
		return false;
	/* ClientKey := ClientProof XOR HMAC(StoredKey, AuthMessage), and the
	 * client knew the password iff H(ClientKey) == StoredKey. */
	scram_hmac(cred->hash, cred->stored_key, hlen, auth_message, auth_message_len,
		   client_signature);
	for (size_t i = 0; i < hlen; i++)
		client_key[i] = client_proof[i] ^ client_signature[i];
	scram_digest(cred->hash, client_key, hlen, stored_key);
	ok = CRYPTO_memcmp(stored_key, cred->stored_key, hlen) == 0;
	if (ok)
		scram_hmac(cred->hash, cred->server_key, hlen, auth_message, auth_message_len,
			   server_signature_r);
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return ok;
}

char *scram_base64_encode(const unsigned char *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *p = out;
	size_t i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		*p++ = alphabet[v >> 18];
		*p++ = alphabet[(v >> 12) & 63];
		*p++ = alphabet[(v >> 6) & 63];
		*p++ = alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)data[i] << 16;
		*p++ = alphabet[v >> 18];
		*p++ = alphabet[(v >> 12) & 63];
		*p++ = '=';
		*p++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
		*p++ = alphabet[v >> 18];
		*p++ = alphabet[(v >> 12) & 63];
		*p++ = alphabet[(v >> 6) & 63];
		*p++ = '=';
	}
	*p = '\0';
	return out;
}

/* All ones when lo <= c <= hi, else zero, without branching on c. */
static unsigned scram_range_mask(unsigned c, unsigned lo, unsigned hi)
{
	/* Both differences are negative, so bit 31 set, exactly when c is in range. */
	return 0u - (((lo - 1 - c) & (c - hi - 1)) >> 31);
}

/* The 6-bit value of one base64 character, or -1 (as 0xffffffff), computed
 * with masks instead of a table so that decoding a password leaks nothing
 * through the cache. */
static unsigned scram_base64_value(unsigned char ch)
{
	unsigned c = ch, v = 0, valid = 0, m;
	m = scram_range_mask(c, 'A', 'Z');
	v |= m & (c - 'A');
	valid |= m;
	m = scram_range_mask(c, 'a', 'z');
	v |= m & (c - 'a' + 26);
	valid |= m;
	m = scram_range_mask(c, '0', '9');
	v |= m & (c - '0' + 52);
	valid |= m;
	m = scram_range_mask(c, '+', '+');
	v |= m & 62;
	valid |= m;
	m = scram_range_mask(c, '/', '/');
	v |= m & 63;
	valid |= m;
	return v | ~valid;
}

long scram_base64_decode(const char *text, size_t len, unsigned char *out)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t pad = 0, n = 0;
	unsigned bad = 0;

	if (len % 4 != 0 || len / 4 * 3 > LONG_MAX)
		return -1;
	/* The padding and its position are public (they only say how long the
	 * data is), so branching on them is fine. */
	if (len > 0 && t[len - 1] == '=')
		pad = t[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len; i += 4) {
		unsigned a = scram_base64_value(t[i]), b = scram_base64_value(t[i + 1]);
		unsigned c, d;
		bool last = i + 4 == len;
		c = last && pad == 2 ? 0 : scram_base64_value(t[i + 2]);
		d = last && pad >= 1 ? 0 : scram_base64_value(t[i + 3]);
		bad |= (a | b | c | d) & ~63u;
		uint32_t v = a << 18 | b << 12 | c << 6 | d;
		out[n++] = (unsigned char)(v >> 16);
		if (!(last && pad == 2))
			out[n++] = (unsigned char)(v >> 8);
		if (!(last && pad >= 1))
			out[n++] = (unsigned char)v;
		/* Bits that padding leaves over must be zero: one encoding per value. */
		if (last && pad == 2)
			bad |= v & 0xffff;
		else if (last && pad == 1)
			bad |= v & 0xff;
	}
	return bad ? -1 : (long)n;
}
