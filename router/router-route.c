/* router-route.c: bound names, shared names and rendezvous hashing (see
 * router-route.h). A chained hash table keyed by name; each entry keeps its
 * targets in an array, small in practice (one, or a few sm instances). */
#include "router-route.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "buf.h"
#include "rendezvous.h"

struct route_target {
	void *target;
	char *instance;
};

struct route_entry {
	char *name;
	size_t name_len;
	uint64_t hash;
	enum route_mode mode;
	struct route_target *targets;
	size_t n_targets;
	struct route_entry *next;
};

struct route_table {
	struct route_entry **buckets;
	size_t n_buckets; /* a power of two */
	size_t n_entries;
	void *default_target;
};

static uint64_t route_hash(const char *name, size_t len)
{
	return rendezvous_fnv(RENDEZVOUS_FNV_OFFSET, name, len);
}

uint64_t route_score(const char *bare, size_t bare_len, const char *instance)
{
	return rendezvous_score(bare, bare_len, instance);
}

struct route_table *route_table_new(void)
{
	struct route_table *t = xcalloc(1, sizeof(*t));
	t->n_buckets = 64;
	t->buckets = xcalloc(t->n_buckets, sizeof(*t->buckets));
	return t;
}

static void route_entry_free(struct route_entry *e)
{
	for (size_t i = 0; i < e->n_targets; i++)
		free(e->targets[i].instance);
	free(e->targets);
	free(e->name);
	free(e);
}

void route_table_free(struct route_table **table)
{
	struct route_table *t = *table;
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct route_entry *e = t->buckets[i];
		while (e != NULL) {
			struct route_entry *next = e->next;
			route_entry_free(e);
			e = next;
		}
	}
	free(t->buckets);
	free(t);
	*table = NULL;
}

static struct route_entry *route_find(const struct route_table *t, const char *name, size_t len)
{
	uint64_t hash = route_hash(name, len);

	for (struct route_entry *e = t->buckets[hash & (t->n_buckets - 1)]; e != NULL; e = e->next) {
		if (e->hash == hash && e->name_len == len && memcmp(e->name, name, len) == 0)
			return e;
	}
	return NULL;
}

static void route_grow(struct route_table *t)
{
	size_t n = t->n_buckets * 2;
	struct route_entry **b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct route_entry *e = t->buckets[i];
		while (e != NULL) {
			struct route_entry *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
}

static ssize_t route_target_index(const struct route_entry *e, const void *target)
{
	for (size_t i = 0; i < e->n_targets; i++) {
		if (e->targets[i].target == target)
			return (ssize_t)i;
	}
	return -1;
}

int route_bind(struct route_table *t, const char *name, enum route_mode mode, void *target,
	       const char *instance)
{
	size_t len = strlen(name);
	uint64_t hash = route_hash(name, len);
	struct route_entry *e = route_find(t, name, len);

	if (e != NULL) {
		if (route_target_index(e, target) >= 0)
			return e->mode == mode ? ROUTE_OK : ROUTE_ERR_CONFLICT;
		if (e->mode != ROUTE_SHARED || mode != ROUTE_SHARED)
			return ROUTE_ERR_CONFLICT;
	} else {
		if (t->n_entries + 1 > t->n_buckets)
			route_grow(t);
		e = xcalloc(1, sizeof(*e));
		e->name = xstrdup(name);
		e->name_len = len;
		e->hash = hash;
		e->mode = mode;
		e->next = t->buckets[hash & (t->n_buckets - 1)];
		t->buckets[hash & (t->n_buckets - 1)] = e;
		t->n_entries++;
	}
	e->targets = xrealloc(e->targets, (e->n_targets + 1) * sizeof(*e->targets));
	e->targets[e->n_targets].target = target;
	e->targets[e->n_targets].instance = xstrdup(instance);
	e->n_targets++;
	return ROUTE_OK;
}

static void route_remove_entry(struct route_table *t, struct route_entry *e)
{
	for (struct route_entry **p = &t->buckets[e->hash & (t->n_buckets - 1)]; *p != NULL;
	     p = &(*p)->next) {
		if (*p == e) {
			*p = e->next;
			break;
		}
	}
	t->n_entries--;
	route_entry_free(e);
}

static void route_entry_drop_target(struct route_table *t, struct route_entry *e, size_t i)
{
	free(e->targets[i].instance);
	memmove(&e->targets[i], &e->targets[i + 1], (e->n_targets - i - 1) * sizeof(*e->targets));
	e->n_targets--;
	if (e->n_targets == 0)
		route_remove_entry(t, e);
}

int route_unbind(struct route_table *t, const char *name, void *target)
{
	struct route_entry *e = route_find(t, name, strlen(name));
	ssize_t i = e != NULL ? route_target_index(e, target) : -1;

	if (i < 0)
		return ROUTE_ERR_NOT_BOUND;
	route_entry_drop_target(t, e, (size_t)i);
	return ROUTE_OK;
}

void route_unbind_all(struct route_table *t, void *target)
{
	for (size_t b = 0; b < t->n_buckets; b++) {
		struct route_entry *e = t->buckets[b];
		while (e != NULL) {
			struct route_entry *next = e->next;
			ssize_t i = route_target_index(e, target);
			if (i >= 0)
				route_entry_drop_target(t, e, (size_t)i);
			e = next;
		}
	}
	if (t->default_target == target)
		t->default_target = NULL;
}

int route_set_default(struct route_table *t, void *target)
{
	if (t->default_target != NULL && t->default_target != target)
		return ROUTE_ERR_CONFLICT;
	t->default_target = target;
	return ROUTE_OK;
}

int route_clear_default(struct route_table *t, void *target)
{
	if (t->default_target != target)
		return ROUTE_ERR_NOT_BOUND;
	t->default_target = NULL;
	return ROUTE_OK;
}

void *route_default(const struct route_table *t)
{
	return t->default_target;
}

void *route_lookup(const struct route_table *t, const char *domain, size_t domain_len,
		   const char *bare, size_t bare_len)
{
	struct route_entry *e = route_find(t, domain, domain_len);

	if (e == NULL)
		return NULL;
	if (e->n_targets == 1)
		return e->targets[0].target;
	size_t best = 0;
	uint64_t best_score = 0;
	for (size_t i = 0; i < e->n_targets; i++) {
		uint64_t s = route_score(bare, bare_len, e->targets[i].instance);
		if (i == 0 || s > best_score) {
			best = i;
			best_score = s;
		}
	}
	return e->targets[best].target;
}

bool route_holds(const struct route_table *t, const char *name, size_t name_len,
		 const void *target)
{
	struct route_entry *e = route_find(t, name, name_len);
	return e != NULL && route_target_index(e, target) >= 0;
}

bool route_is_bound(const struct route_table *t, const char *name)
{
	return route_find(t, name, strlen(name)) != NULL;
}

enum route_mode route_mode_of(const struct route_table *t, const char *name)
{
	struct route_entry *e = route_find(t, name, strlen(name));
	return e != NULL ? e->mode : ROUTE_EXCLUSIVE;
}

void route_foreach(const struct route_table *t,
		   void (*cb)(const char *name, enum route_mode mode, void *target, void *ctx),
		   void *ctx)
{
	for (size_t b = 0; b < t->n_buckets; b++) {
		for (struct route_entry *e = t->buckets[b]; e != NULL; e = e->next) {
			for (size_t i = 0; i < e->n_targets; i++)
				cb(e->name, e->mode, e->targets[i].target, ctx);
		}
	}
}
