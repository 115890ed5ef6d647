/* router-route.h: the router's table of bound names and its routing choice.
 *
 * A pure data structure, no I/O: names (domains) map to the targets (router
 * streams, opaque here) that bound them. A name is bound either exclusively
 * by one target or shared by several; for a shared name the target is chosen
 * by rendezvous hashing of the recipient's bare JID over each target's stable
 * instance name, so one user always meets the same instance and adding or
 * removing an instance moves only the users it wins or loses (the score is
 * common/rendezvous.h's, which sm computes too). One target may
 * also hold the default route (s2s). The table copies the strings it is given;
 * targets are borrowed and must be unbound before they go away.
 *
 *   struct route_table *t = route_table_new();
 *   route_bind(t, "localhost", ROUTE_SHARED, sm1, "sm1.localhost");
 *   void *dest = route_lookup(t, "localhost", 9, "juliet@localhost", 16);
 *   route_unbind_all(t, sm1);
 *   route_table_free(&t);
 */
#ifndef JUNCTION_ROUTER_ROUTE_H
#define JUNCTION_ROUTER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum route_mode {
	ROUTE_EXCLUSIVE,
	ROUTE_SHARED,
};

enum route_result {
	ROUTE_OK = 0,
	ROUTE_ERR_CONFLICT = -1, /* bound by someone else, or modes differ */
	ROUTE_ERR_NOT_BOUND = -2,
};

struct route_table;

struct route_table *route_table_new(void);
void route_table_free(struct route_table **table);

/* Bind name to target. instance names the target for hashing (stable across
 * reconnects). Binding a name the target already holds in the same mode is
 * a no-op success. */
int route_bind(struct route_table *table, const char *name, enum route_mode mode, void *target,
	       const char *instance);
int route_unbind(struct route_table *table, const char *name, void *target);
/* Release every name (and the default route) the target holds. */
void route_unbind_all(struct route_table *table, void *target);
int route_set_default(struct route_table *table, void *target);
int route_clear_default(struct route_table *table, void *target);
void *route_default(const struct route_table *table);

/* The target for a recipient whose normalised domain is domain and whose
 * normalised bare JID is bare (neither needs a NUL: lengths are given, so
 * the router can look up slices of a stanza's attributes); NULL when no one
 * bound the domain (the default route is not consulted here). */
void *route_lookup(const struct route_table *table, const char *domain, size_t domain_len,
		   const char *bare, size_t bare_len);
/* Does target hold name (name_len bytes)? */
bool route_holds(const struct route_table *table, const char *name, size_t name_len,
		 const void *target);
bool route_is_bound(const struct route_table *table, const char *name);
/* The mode name is bound in (ROUTE_EXCLUSIVE when unbound). */
enum route_mode route_mode_of(const struct route_table *table, const char *name);

/* Call cb for every (name, mode, target) binding. */
void route_foreach(const struct route_table *table,
		   void (*cb)(const char *name, enum route_mode mode, void *target, void *ctx),
		   void *ctx);

/* The rendezvous score of (bare, instance); exposed for tests. */
uint64_t route_score(const char *bare, size_t bare_len, const char *instance);

#endif
