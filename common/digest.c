/* common/digest.c: SHA-1, constant-time comparison and random hex ids for the
 * component handshake (XEP-0114), over OpenSSL's EVP, CRYPTO and RAND APIs.
 *
 * These functions cannot report failure (see digest.h): OpenSSL failing to hash
 * or to produce random bytes means the library or the OS entropy source is
 * broken, and a router that handed out predictable stream ids or accepted a
 * handshake it never checked would be worse than one that stops. So they abort.
 */
#include "digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char digest_hex_digits[] = "0123456789abcdef";

static void digest_hex_encode(const unsigned char *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digest_hex_digits[in[i] >> 4];
		out[2 * i + 1] = digest_hex_digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static void digest_fatal(const char *what)
{
	fprintf(stderr, "digest: %s failed; OpenSSL is unusable\n", what);
	abort();
}

void digest_sha1_hex2(const char *a, const char *b, char out[DIGEST_SHA1_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, a, strlen(a)) != 1 || EVP_DigestUpdate(ctx, b, strlen(b)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len * 2 != DIGEST_SHA1_HEX_LEN)
		digest_fatal("SHA-1");
	EVP_MD_CTX_free(ctx);
	digest_hex_encode(md, md_len, out);
}

void digest_sha1_hex(const void *data, size_t len, char out[DIGEST_SHA1_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (EVP_Digest(data, len, md, &md_len, EVP_sha1(), NULL) != 1 ||
	    md_len * 2 != DIGEST_SHA1_HEX_LEN)
		digest_fatal("SHA-1");
	digest_hex_encode(md, md_len, out);
}

bool digest_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	/* The lengths are not secret (a SHA-1 hex digest is always 40 bytes), so
	 * only the contents need the constant-time compare. */
	if (alen != blen)
		return false;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

void digest_random_hex(char *out, size_t len)
{
	unsigned char chunk[64];

	/* In chunks, so any len works without an allocation. */
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
		if (RAND_bytes(chunk, (int)n) != 1)
			digest_fatal("RAND_bytes");
		digest_hex_encode(chunk, n, out + 2 * done);
		done += n;
	}
	out[2 * len] = '\0';
	OPENSSL_cleanse(chunk, sizeof(chunk));
}
