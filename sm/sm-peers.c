/* sm-peers.c: which component names belong to Junction's own processes.
 *
 * sm asks the router to watch bound names; each event says whether the
 * stream that bound the name authenticated with [router] secret. Only such
 * names may use the session protocol (credentials, session start/end): a
 * third-party component can send sm stanzas, but never ask for a user's
 * credentials. When a trusted c2s name goes away, its sessions end.
 */
#include "peers.h"
#include "sm.h"

bool sm_peers_trusted(const struct sm *sm, const char *name)
{
	return peers_is_instance(&sm->peers, name);
}

void sm_peers_event(struct sm *sm, struct stanza *presence)
{
	const char *name;
	bool instance;

	enum peers_change change = peers_event(&sm->peers, presence, &name, &instance);

	if (change == PEERS_GONE && instance)
		sm_session_end_host(sm, name);
	else if (change == PEERS_BOUND)
		sm_pep_peer_bound(sm, name);
}

void sm_peers_free(struct sm *sm)
{
	peers_clear(&sm->peers);
}
