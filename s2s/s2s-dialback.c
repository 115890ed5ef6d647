/* s2s-dialback.c: Server Dialback keys (XEP-0220), generated as XEP-0185
 * recommends.
 *
 * key = hex(HMAC-SHA-256(SHA-256(secret), receiving + ' ' + originating +
 * ' ' + stream id)). Any s2s instance of the deployment that knows the
 * secret can verify a key another one generated, across restarts, without
 * remembering anything. The secret is [s2s] dialback_secret, or else one
 * derived from [router] secret with its own label, so the router secret
 * itself never leaves the deployment in any form an attacker can test.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "digest.h"
#include "s2s.h"

void s2s_dialback_init(struct s2s *s2s)
{
	static const char label[] = "junction s2s dialback secret";
	const char *own = config_get(s2s->config, "s2s", "dialback_secret");
	unsigned char derived[32];
	unsigned len = 0;
	char hex[65];

	if (own == NULL) {
		const char *secret = config_get(s2s->config, "router", "secret");
		HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)label,
		     sizeof(label) - 1, derived, &len);
		for (unsigned i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", derived[i]);
		own = hex;
	}
	SHA256((const unsigned char *)own, strlen(own), s2s->db_secret);
}

void s2s_dialback_key(const struct s2s *s2s, const char *receiving, const char *originating,
		      const char *stream_id, char *out)
{
	struct buf data = {0};
	unsigned char mac[32];
	unsigned len = 0;

	buf_printf(&data, "%s %s %s", receiving, originating, stream_id);
	HMAC(EVP_sha256(), s2s->db_secret, sizeof(s2s->db_secret), (const unsigned char *)data.data,
	     data.len, mac, &len);
	buf_free(&data);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

bool s2s_dialback_check(const struct s2s *s2s, const char *receiving, const char *originating,
			const char *stream_id, const char *key)
{
	char expect[S2S_DB_KEY_LEN + 1];

	if (key == NULL || stream_id == NULL)
		return false;
	s2s_dialback_key(s2s, receiving, originating, stream_id, expect);
	return digest_equal(expect, strlen(expect), key, strlen(key));
}
