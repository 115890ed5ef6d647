/* peers.h: which names Junction's own processes hold, from the router's
 * watch events (docs/components.md, "Watch bound names").
 *
 * A process that serves only Junction's own peers (sm answers credentials
 * and session requests only from c2s; c2s accepts deliveries only from sm)
 * asks the router to watch bound names. Each event is a presence from the
 * name, with <bound/> or <unbound/> saying whether the stream that holds it
 * authenticated with [router] secret (trusted) and which stream it is (its
 * instance, i.e. handshake, name). struct peers keeps every name trusted
 * streams hold, with how many hold it (a shared name such as a users'
 * domain bound by several sm instances) and whether it is a stream's own
 * name. Names untrusted streams hold are never recorded.
 *
 *   struct peers peers = {0};
 *   switch (peers_event(&peers, presence, &name)) { case PEERS_GONE: ... }
 *   if (peers_is_instance(&peers, from)) ...   // a trusted stream's own name
 *   peers_clear(&peers);                       // the router link dropped
 */
#ifndef JUNCTION_PEERS_H
#define JUNCTION_PEERS_H

#include <stdbool.h>

struct stanza;

struct peer {
	char *name;
	unsigned holders;  /* trusted streams holding the name */
	bool instance;     /* it is the handshake name of the stream holding it */
	struct peer *next;
};

struct peers {
	struct peer *list;
};

enum peers_change {
	PEERS_NONE,  /* not a watch event, an untrusted holder, or nothing new */
	PEERS_BOUND, /* a trusted stream bound the name (one more holder) */
	PEERS_GONE,  /* the last trusted holder let the name go */
	PEERS_LESS,  /* a trusted holder let a shared name go; others still hold it */
};

/* Apply one watch event (a presence whose child is in the
 * urn:junction:component:1 namespace). *name_r is the name it is about
 * (the presence's 'from', valid as long as the stanza) for BOUND, GONE and LESS;
 * *instance_r whether the name was a stream's own name (may be NULL). */
enum peers_change peers_event(struct peers *peers, const struct stanza *presence,
			      const char **name_r, bool *instance_r);
/* Some trusted stream holds name (its own name or one it bound). */
bool peers_holds(const struct peers *peers, const char *name);
/* name is the handshake name of a trusted stream. */
bool peers_is_instance(const struct peers *peers, const char *name);
void peers_clear(struct peers *peers);

#endif
