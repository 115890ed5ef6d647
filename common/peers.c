/* peers.c: the names trusted streams hold, kept from the router's watch
 * events (see peers.h). */
#include "peers.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "stanza.h"

#define PEERS_NS_EXT "urn:junction:component:1"

static struct peer **peers_find(struct peers *peers, const char *name)
{
	struct peer **pp = &peers->list;

	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->next;
	return pp;
}

enum peers_change peers_event(struct peers *peers, const struct stanza *presence,
			      const char **name_r, bool *instance_r)
{
	const char *name = stanza_get_attr(presence, "from");
	const struct stanza *ev = stanza_child_element(presence, 0);

	*name_r = NULL;
	if (instance_r != NULL)
		*instance_r = false;
	if (name == NULL || ev == NULL || strcmp(ev->ns, PEERS_NS_EXT) != 0)
		return PEERS_NONE;
	const char *trusted = stanza_get_attr(ev, "trusted");
	const char *instance = stanza_get_attr(ev, "instance");
	bool own = instance != NULL && strcmp(instance, name) == 0;
	if (trusted == NULL || strcmp(trusted, "true") != 0)
		return PEERS_NONE;
	struct peer **pp = peers_find(peers, name);
	*name_r = name;
	if (instance_r != NULL)
		*instance_r = own;
	if (strcmp(ev->name, "bound") == 0) {
		if (*pp == NULL) {
			*pp = xcalloc(1, sizeof(**pp));
			(*pp)->name = xstrdup(name);
		}
		(*pp)->holders++;
		(*pp)->instance = (*pp)->instance || own;
		return PEERS_BOUND;
	}
	if (strcmp(ev->name, "unbound") == 0 && *pp != NULL) {
		if (own)
			(*pp)->instance = false;
		if (--(*pp)->holders == 0) {
			struct peer *p = *pp;
			*pp = p->next;
			free(p->name);
			free(p);
			return PEERS_GONE;
		}
		return PEERS_LESS;
	}
	*name_r = NULL;
	return PEERS_NONE;
}

static const struct peer *peers_lookup(const struct peers *peers, const char *name)
{
	const struct peer *p = peers->list;

	while (p != NULL && strcmp(p->name, name) != 0)
		p = p->next;
	return p;
}

bool peers_holds(const struct peers *peers, const char *name)
{
	return peers_lookup(peers, name) != NULL;
}

bool peers_is_instance(const struct peers *peers, const char *name)
{
	const struct peer *p = peers_lookup(peers, name);
	return p != NULL && p->instance;
}

void peers_clear(struct peers *peers)
{
	while (peers->list != NULL) {
		struct peer *p = peers->list;
		peers->list = p->next;
		free(p->name);
		free(p);
	}
}
