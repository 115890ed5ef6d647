/* c2s-throttle.c: slowing down password guessing.
 *
 * Two tables share this code, keyed by strings: failed logins per client IP
 * address ("ip:127.0.0.1") and per account ("user:juliet@example.org").
 * The first C2S_THROTTLE_FREE failures of a key cost nothing; after that the
 * answer to every attempt for that key (success or failure alike, so the
 * delay itself tells nothing) is held back for C2S_THROTTLE_BASE_MS, doubling
 * with each further failure up to C2S_THROTTLE_MAX_MS. A key is forgotten
 * C2S_THROTTLE_WINDOW_MS after its last failure, and an account's key at its
 * next successful login (an IP's is not: one address may serve many users
 * and one attacker). The tables hold at most C2S_THROTTLE_MAX_ENTRIES keys;
 * when full the oldest-failing entry of a bucket is reused, so memory stays
 * bounded under a flood of addresses. In memory only: a restart forgets.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"

#define C2S_THROTTLE_FREE 5                     /* failures before any delay */
#define C2S_THROTTLE_BASE_MS 1000               /* delay after the 6th failure */
#define C2S_THROTTLE_MAX_MS 30000               /* the delay never grows past this */
#define C2S_THROTTLE_WINDOW_MS (15 * 60 * 1000) /* idle time before a key is forgotten */
#define C2S_THROTTLE_MAX_ENTRIES 65536
#define C2S_THROTTLE_BUCKETS 4096

struct c2s_throttle_entry {
	char *key;
	unsigned failures;
	uint64_t last_ms;
	struct c2s_throttle_entry *next;
};

struct c2s_throttle {
	struct c2s_throttle_entry *buckets[C2S_THROTTLE_BUCKETS];
	size_t n;
};

static size_t c2s_throttle_hash(const char *key)
{
	size_t h = 5381;
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
		h = h * 33 + *p;
	return h % C2S_THROTTLE_BUCKETS;
}

struct c2s_throttle *c2s_throttle_new(void)
{
	return xcalloc(1, sizeof(struct c2s_throttle));
}

void c2s_throttle_free(struct c2s_throttle **t)
{
	if (*t == NULL)
		return;
	for (size_t i = 0; i < C2S_THROTTLE_BUCKETS; i++) {
		for (struct c2s_throttle_entry *e = (*t)->buckets[i], *next; e != NULL; e = next) {
			next = e->next;
			free(e->key);
			free(e);
		}
	}
	free(*t);
	*t = NULL;
}

static struct c2s_throttle_entry *c2s_throttle_find(struct c2s_throttle *t, const char *key)
{
	struct c2s_throttle_entry *e = t->buckets[c2s_throttle_hash(key)];

	while (e != NULL && strcmp(e->key, key) != 0)
		e = e->next;
	return e;
}

uint64_t c2s_throttle_delay_ms(struct c2s_throttle *t, const char *key, uint64_t now_ms)
{
	struct c2s_throttle_entry *e = c2s_throttle_find(t, key);

	if (e == NULL || e->failures < C2S_THROTTLE_FREE ||
	    now_ms - e->last_ms >= C2S_THROTTLE_WINDOW_MS)
		return 0;
	unsigned shift = e->failures - C2S_THROTTLE_FREE;
	if (shift > 16)
		return C2S_THROTTLE_MAX_MS;
	uint64_t delay = (uint64_t)C2S_THROTTLE_BASE_MS << shift;
	return delay > C2S_THROTTLE_MAX_MS ? C2S_THROTTLE_MAX_MS : delay;
}

void c2s_throttle_failure(struct c2s_throttle *t, const char *key, uint64_t now_ms)
{
	struct c2s_throttle_entry *e = c2s_throttle_find(t, key);

	if (e == NULL) {
		size_t b = c2s_throttle_hash(key);
		if (t->n >= C2S_THROTTLE_MAX_ENTRIES && t->buckets[b] != NULL) {
			/* Full: reuse the stalest entry of this bucket. */
			struct c2s_throttle_entry *old = t->buckets[b];
			for (struct c2s_throttle_entry *x = old; x != NULL; x = x->next) {
				if (x->last_ms < old->last_ms)
					old = x;
			}
			free(old->key);
			old->key = xstrdup(key);
			old->failures = 0;
			e = old;
		} else {
			e = xcalloc(1, sizeof(*e));
			e->key = xstrdup(key);
			e->next = t->buckets[b];
			t->buckets[b] = e;
			t->n++;
		}
	} else if (now_ms - e->last_ms >= C2S_THROTTLE_WINDOW_MS) {
		e->failures = 0;
	}
	e->failures++;
	e->last_ms = now_ms;
}

void c2s_throttle_success(struct c2s_throttle *t, const char *key)
{
	struct c2s_throttle_entry **pp = &t->buckets[c2s_throttle_hash(key)];

	while (*pp != NULL && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return;
	struct c2s_throttle_entry *e = *pp;
	*pp = e->next;
	free(e->key);
	free(e);
	t->n--;
}

void c2s_throttle_expire(struct c2s_throttle *t, uint64_t now_ms)
{
	if (t->n == 0)
		return;
	for (size_t i = 0; i < C2S_THROTTLE_BUCKETS; i++) {
		struct c2s_throttle_entry **pp = &t->buckets[i];
		while (*pp != NULL) {
			struct c2s_throttle_entry *e = *pp;
			if (now_ms - e->last_ms >= C2S_THROTTLE_WINDOW_MS) {
				*pp = e->next;
				free(e->key);
				free(e);
				t->n--;
			} else {
				pp = &e->next;
			}
		}
	}
}
