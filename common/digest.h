/* digest.h: the few cryptographic primitives the component protocol needs,
 * wrapping OpenSSL's EVP and CRYPTO APIs in one place.
 *
 * XEP-0114's handshake is hex(SHA-1(stream id + secret)); routers compare it
 * in constant time. Stream ids come from the OS CSPRNG.
 */
#ifndef JUNCTION_DIGEST_H
#define JUNCTION_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define DIGEST_SHA1_HEX_LEN 40

/* hex(SHA-1(a || b)) into out (41 bytes incl. NUL). */
void digest_sha1_hex2(const char *a, const char *b, char out[DIGEST_SHA1_HEX_LEN + 1]);
/* hex(SHA-1(data)) into out: XEP-0153 avatar hashes. */
void digest_sha1_hex(const void *data, size_t len, char out[DIGEST_SHA1_HEX_LEN + 1]);
/* Constant-time equality of two strings of possibly different length (the
 * length difference itself is not hidden). */
bool digest_equal(const char *a, size_t alen, const char *b, size_t blen);
/* len random bytes, hex encoded into out (2*len+1 bytes). */
void digest_random_hex(char *out, size_t len);

#endif
