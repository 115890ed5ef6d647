/* sm-private.c: private XML storage (XEP-0049, jabber:iq:private).
 *
 * An account stores one element per namespace (the namespace of the single
 * child of <query/>) and gets it back; a get for a namespace with nothing
 * stored returns the empty element that was asked for. Only the account
 * itself may do either: for another account's bare JID (or the server's)
 * the answer is forbidden. Namespaces that are not private data (none,
 * jabber:client, jabber:server, jabber:iq:private) and a query without
 * exactly one child are not-acceptable, as is a set that would take the
 * account's stored elements past [sm] private_max_bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

static bool sm_private_ns_allowed(const char *ns)
{
	static const char *const refused[] = {"", STREAM_NS_CLIENT, STREAM_NS_SERVER,
					      STREAM_NS_COMPONENT, SM_NS_PRIVATE};

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (strcmp(ns, refused[i]) == 0)
			return false;
	return true;
}

/* Answer iq with <query xmlns='jabber:iq:private'> holding child. */
static void sm_private_reply(struct sm *sm, const struct stanza *iq, const struct stanza *child)
{
	struct stanza *res = sm_iq_result(iq);

	stanza_append_copy(stanza_add_child(res, "query", SM_NS_PRIVATE), child);
	sm_send(sm, res);
	stanza_unref(&res);
}

static void sm_private_get(struct sm *sm, struct stanza *iq, struct stanza *child, const char *bare)
{
	char *xml = NULL;
	size_t len = 0;
	struct stanza *stored = NULL;
	int r = store_private_get(sm->store, bare, child->ns, &xml, &len);

	if (r == STORE_OK && stanza_parse(xml, len, STREAM_NS_COMPONENT, &stored) != 0)
		r = STORE_ERR_IO;
	if (r == STORE_OK || r == STORE_ERR_NOT_FOUND) {
		sm_private_reply(sm, iq, stored != NULL ? stored : child);
	} else {
		sm_info_store_failed(sm, iq, "private XML", bare);
	}
	stanza_unref(&stored);
	free(xml);
}

static void sm_private_set(struct sm *sm, struct stanza *iq, struct stanza *child, const char *bare)
{
	struct buf b = {0};

	stanza_serialize(child, STREAM_NS_COMPONENT, &b);
	int r = store_private_set(sm->store, bare, child->ns, b.data, b.len,
				  config_get_size(sm->config, "sm", "private_max_bytes"));
	buf_free(&b);
	if (r == STORE_OK) {
		sm_info_ack(sm, iq);
	} else if (r == STORE_ERR_FULL) {
		sm_bounce(sm, iq, "modify", "not-acceptable");
	} else {
		sm_info_store_failed(sm, iq, "private XML", bare);
	}
}

void sm_private_iq(struct sm *sm, struct stanza *iq, struct stanza *query)
{
	char *requester = NULL, *bare = NULL;
	struct stanza *child = stanza_child_element(query, 0);

	if (!sm_info_parties(iq, &requester, &bare)) {
		sm_bounce(sm, iq, "modify", "jid-malformed");
		return;
	}
	if (bare == NULL || requester == NULL || strcmp(requester, bare) != 0)
		sm_bounce(sm, iq, "cancel", "forbidden");
	else if (child == NULL || stanza_count_child_elements(query) != 1 ||
		 !sm_private_ns_allowed(child->ns))
		sm_bounce(sm, iq, "modify", "not-acceptable");
	else if (strcmp(stanza_get_attr(iq, "type"), "get") == 0)
		sm_private_get(sm, iq, child, bare);
	else
		sm_private_set(sm, iq, child, bare);
	free(requester);
	free(bare);
}
