/* rendezvous.c: the rendezvous score (see rendezvous.h): FNV-1a of the
 * bare JID, a separator, the instance name, then a 64-bit finaliser. */
#include "rendezvous.h"

#include <string.h>

#define RENDEZVOUS_FNV_PRIME 0x100000001b3ULL

uint64_t rendezvous_fnv(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= RENDEZVOUS_FNV_PRIME;
	}
	return h;
}

/* splitmix64's finaliser: FNV alone has weak high bits for short keys. */
static uint64_t rendezvous_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

uint64_t rendezvous_score(const char *bare, size_t bare_len, const char *instance)
{
	uint64_t h = rendezvous_fnv(RENDEZVOUS_FNV_OFFSET, bare, bare_len);

	h ^= 0xff; /* separator that cannot occur in a JID */
	h *= RENDEZVOUS_FNV_PRIME;
	return rendezvous_mix(rendezvous_fnv(h, instance, strlen(instance)));
}
