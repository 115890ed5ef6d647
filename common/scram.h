/* scram.h: SCRAM (RFC 5802, RFC 7677) credentials and the arithmetic both
 * ends of a SCRAM exchange need, on OpenSSL's PBKDF2/HMAC/digests.
 *
 * Junction never stores a password: an account keeps, per hash, the salt,
 * the iteration count, StoredKey and ServerKey (RFC 5802 section 3). sm's
 * store holds them; c2s's SASL mechanisms get them from sm and verify a
 * client's proof with scram_verify_proof(); junctionctl derives them from a
 * password typed by the operator. Passwords are prepared with SASLprep
 * (RFC 4013, via libidn) before hashing. All comparisons are constant time.
 *
 *   struct scram_credentials cred;
 *   scram_credentials_new(SCRAM_SHA256, "pencil", 4096, &cred);   // random salt
 *   ... store cred.salt/iterations/stored_key/server_key ...
 */
#ifndef JUNCTION_SCRAM_H
#define JUNCTION_SCRAM_H

#include <stdbool.h>
#include <stddef.h>

enum scram_hash {
	SCRAM_SHA1,
	SCRAM_SHA256,
};

#define SCRAM_MAX_KEY 32      /* SHA-256 output */
#define SCRAM_SALT_LEN 16     /* bytes of salt scram_credentials_new() makes */
#define SCRAM_MIN_ITERATIONS 4096
/* What Junction uses for new credentials (and for the fake exchange of an
 * unknown account, which must look the same): twice RFC 7677's minimum. */
#define SCRAM_DEFAULT_ITERATIONS (SCRAM_MIN_ITERATIONS * 2)

struct scram_credentials {
	enum scram_hash hash;
	unsigned iterations;
	unsigned char salt[64];
	size_t salt_len;
	unsigned char stored_key[SCRAM_MAX_KEY];
	unsigned char server_key[SCRAM_MAX_KEY];
	size_t key_len; /* 20 for SHA-1, 32 for SHA-256 */
};

/* Output length of hash: 20 or 32. */
size_t scram_hash_len(enum scram_hash hash);
/* "SHA-1" / "SHA-256", as in the mechanism names. */
const char *scram_hash_name(enum scram_hash hash);

/* Derive credentials from a password (SASLprep'd first) and a given salt.
 * Returns 0, or -1 when SASLprep rejects the password, salt_len > 64 or
 * iterations is 0 or above INT_MAX (PBKDF2's limit in OpenSSL). */
int scram_credentials_derive(enum scram_hash hash, const char *password, const unsigned char *salt,
			     size_t salt_len, unsigned iterations, struct scram_credentials *cred_r);
/* The same with a fresh random salt of SCRAM_SALT_LEN bytes. */
int scram_credentials_new(enum scram_hash hash, const char *password, unsigned iterations,
			  struct scram_credentials *cred_r);

/* HMAC(key, data) and H(data) with the credentials' hash; out holds
 * scram_hash_len(hash) bytes. */
void scram_hmac(enum scram_hash hash, const unsigned char *key, size_t key_len, const void *data,
		size_t data_len, unsigned char *out);
void scram_digest(enum scram_hash hash, const void *data, size_t len, unsigned char *out);

/* Server side of the final check (RFC 5802 3): given AuthMessage and the
 * client's ClientProof, recompute ClientSignature, recover ClientKey and
 * compare H(ClientKey) with StoredKey in constant time. On success also
 * computes ServerSignature into server_signature_r (key_len bytes). */
bool scram_verify_proof(const struct scram_credentials *cred, const char *auth_message,
			size_t auth_message_len, const unsigned char *client_proof, size_t proof_len,
			unsigned char *server_signature_r);

/* SASLprep (RFC 4013, libidn's profile, unassigned code points allowed as
 * for queries) of a NUL-terminated UTF-8 string. Returns 0 and a new string
 * (free() it) in *out_r, or -1 when the input is not valid UTF-8 or holds a
 * prohibited character (control characters, bidi violations, ...). */
int scram_saslprep(const char *in, char **out_r);

/* Base64 (standard alphabet, padded), as SCRAM and SASL on XMPP use it.
 * encode returns a new string; decode returns the length or -1 on bad input
 * (out must hold at least 3 * (len / 4) bytes). Decoding is strict: no
 * whitespace, length a multiple of 4, '=' only as final padding, unused
 * bits zero, so every value has exactly one accepted encoding. */
char *scram_base64_encode(const unsigned char *data, size_t len);
long scram_base64_decode(const char *text, size_t len, unsigned char *out);

#endif
