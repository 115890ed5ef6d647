/* sm-peers.c: which component names belong to Junction's own processes.
 *
 * sm asks the router to watch bound names; each event says whether the
 * stream that bound the name authenticated with [router] secret. Only such
 * names may use the session protocol (credentials, session start/end): a
 * third-party component can send sm stanzas, but never ask for a user's
 * credentials. When a trusted c2s name goes away, its sessions end.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"

bool sm_peers_trusted(const struct sm *sm, const char *name)
{
	for (const struct sm_peer *p = sm->peers; p != NULL; p = p->next) {
		if (strcmp(p->name, name) == 0)
			return true;
	}
	return false;
}

static void sm_peers_remove(struct sm *sm, const char *name)
{
	for (struct sm_peer **p = &sm->peers; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->name, name) == 0) {
			struct sm_peer *gone = *p;
			*p = gone->next;
			free(gone->name);
			free(gone);
			return;
		}
	}
}

void sm_peers_event(struct sm *sm, struct stanza *presence)
{
	const char *name = stanza_get_attr(presence, "from");
	const char *type = stanza_get_attr(presence, "type");
	struct stanza *ev = stanza_child_element(presence, 0);

	if (name == NULL || ev == NULL || strcmp(ev->ns, SM_NS_EXT) != 0)
		return;
	const char *trusted = stanza_get_attr(ev, "trusted");
	const char *instance = stanza_get_attr(ev, "instance");
	if (strcmp(ev->name, "bound") == 0 && type == NULL) {
		/* Only a stream's own handshake name identifies it. */
		if (trusted != NULL && strcmp(trusted, "true") == 0 && instance != NULL &&
		    strcmp(instance, name) == 0 && !sm_peers_trusted(sm, name)) {
			struct sm_peer *p = xcalloc(1, sizeof(*p));
			p->name = xstrdup(name);
			p->next = sm->peers;
			sm->peers = p;
		}
	} else if (strcmp(ev->name, "unbound") == 0 && instance != NULL &&
		   strcmp(instance, name) == 0 && sm_peers_trusted(sm, name)) {
		sm_peers_remove(sm, name);
		sm_session_end_host(sm, name);
	}
}

void sm_peers_free(struct sm *sm)
{
	while (sm->peers != NULL)
		sm_peers_remove(sm, sm->peers->name);
}
