/* pubsub-notify.c: event notifications (XEP-0060 7.1.2, 7.2.2.1, 8.2.5,
 * 8.4.2, 8.5.2) and subscription state changes (12.11).
 *
 * A notification is a headline message from the service to each
 * subscriber entitled to it when it is sent (pubsub-access.c), in the
 * order of subscription. Because every request is handled to the end
 * before the next, notifications leave in publish order. Nodes with the
 * presence or roster access model may have to wait for sm's answers:
 * their notifications go through pubsub-notify-queue.c.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pubsub.h"
#include "stanza.h"
#include "stream.h"

void pubsub_notify_one(struct pubsub *ps, const char *to, const struct stanza *event)
{
	struct stanza *m = stanza_new("message", STREAM_NS_COMPONENT);
	char id[2 * PUBSUB_ID_BYTES + 1];

	pubsub_new_id(id);
	stanza_set_attr(m, "from", pubsub_self(ps));
	stanza_set_attr(m, "to", to);
	stanza_set_attr(m, "type", "headline");
	stanza_set_attr(m, "id", id);
	stanza_append_copy(m, event);
	pubsub_send(ps, m);
	stanza_unref(&m);
}

void pubsub_notify(struct pubsub *ps, const struct pubsub_node *node, const struct stanza *event)
{
	struct pubsub_subscription *subs = NULL;
	size_t n_subs = 0;

	if (pubsub_store_subscriptions(ps->store, node->service, node->id, NULL, &subs, &n_subs) !=
	    PUBSUB_STORE_OK) {
		JLOG_ERROR(0, "notifications for node %s: %s", node->name, pubsub_store_error(ps->store));
		return;
	}
	if (*node->service != '\0') /* PEP: contacts whose caps ask for it */
		pubsub_caps_subscribers(ps, node, &subs, &n_subs);
	pubsub_notify_subs(ps, node, event, subs, n_subs);
	pubsub_store_subscriptions_free(subs, n_subs);
}

void pubsub_notify_subs(struct pubsub *ps, const struct pubsub_node *node,
			const struct stanza *event, const struct pubsub_subscription *subs,
			size_t n_subs)
{
	struct pubsub_affiliation_row *affs = NULL;
	enum pubsub_affiliation *sub_affs;
	size_t n_affs = 0;

	if (pubsub_store_affiliations(ps->store, node->service, node->id, NULL, &affs, &n_affs) !=
	    PUBSUB_STORE_OK) {
		JLOG_ERROR(0, "notifications for node %s: %s", node->name, pubsub_store_error(ps->store));
		return;
	}
	sub_affs = xcalloc(n_subs > 0 ? n_subs : 1, sizeof(*sub_affs));
	for (size_t i = 0; i < n_subs; i++) {
		char *bare = pubsub_bare_jid(subs[i].jid);
		sub_affs[i] = PUBSUB_AFF_NONE;
		for (size_t j = 0; bare != NULL && j < n_affs; j++) {
			if (strcmp(affs[j].jid, bare) == 0)
				sub_affs[i] = affs[j].affiliation;
		}
		free(bare);
	}
	if (node->config.access_model == PUBSUB_ACCESS_PRESENCE ||
	    node->config.access_model == PUBSUB_ACCESS_ROSTER) {
		pubsub_notify_queue_add(ps, node, event, subs, sub_affs, n_subs);
	} else {
		for (size_t i = 0; i < n_subs; i++) {
			if (pubsub_access_entitled(node, sub_affs[i], &subs[i]))
				pubsub_notify_one(ps, subs[i].jid, event);
		}
	}
	free(sub_affs);
	pubsub_store_affiliations_free(affs, n_affs);
}

struct stanza *pubsub_notify_items_event(const char *node, struct stanza **items_r)
{
	struct stanza *ev = stanza_new("event", PUBSUB_NS_EVENT);

	*items_r = stanza_add_child(ev, "items", NULL);
	stanza_set_attr(*items_r, "node", node);
	return ev;
}

void pubsub_notify_add_item(struct stanza *parent, const struct pubsub_item *item,
			    bool with_payload)
{
	struct stanza *it = stanza_add_child(parent, "item", NULL);
	struct stanza *payload = NULL;

	stanza_set_attr(it, "id", item->id);
	if (item->publisher != NULL)
		stanza_set_attr(it, "publisher", item->publisher);
	if (!with_payload || item->payload == NULL)
		return;
	if (stanza_parse(item->payload, strlen(item->payload), NULL, &payload) == 0) {
		stanza_append_copy(it, payload);
		stanza_unref(&payload);
	} else {
		JLOG_ERROR(0, "stored item %s does not parse", item->id);
	}
}

void pubsub_notify_subscription(struct pubsub *ps, const char *node, const char *jid,
				const char *subid, enum pubsub_sub_state state)
{
	struct stanza *ev = stanza_new("event", PUBSUB_NS_EVENT);
	struct stanza *s = stanza_add_child(ev, "subscription", NULL);
	struct stanza *m = stanza_new("message", STREAM_NS_COMPONENT);

	stanza_set_attr(s, "node", node);
	stanza_set_attr(s, "jid", jid);
	stanza_set_attr(s, "subscription", pubsub_sub_state_name(state));
	if (subid != NULL && state != PUBSUB_SUB_NONE)
		stanza_set_attr(s, "subid", subid);
	/* Not a headline: the subscriber should learn it even when offline. */
	stanza_set_attr(m, "from", pubsub_self(ps));
	stanza_set_attr(m, "to", jid);
	stanza_append_copy(m, ev);
	pubsub_send(ps, m);
	stanza_unref(&m);
	stanza_unref(&ev);
}
