/* pubsub-notify-queue.c: notifications of presence and roster access
 * model nodes, which may wait for sm's answers (pubsub-relation.c).
 *
 * Each notification becomes a notice: the event and its recipients (the
 * subscriptions entitled to it when it was made), each with a verdict.
 * Owners, publishers and members need none; every other recipient needs
 * the node owner's relation to its bare JID. The notices of one node are
 * one FIFO: a notice leaves, to the recipients the model lets in, only
 * when every verdict is known and every earlier notice of its node has
 * left, so subscribers see items in publish order while answers are
 * outstanding. Notices of other nodes do not wait for it.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pubsub.h"
#include "stanza.h"

enum pubsub_verdict { PUBSUB_VERDICT_ASK, PUBSUB_VERDICT_NO, PUBSUB_VERDICT_YES };

struct pubsub_notice_to {
	char *jid, *bare;
	enum pubsub_verdict verdict;
};

struct pubsub_notice {
	struct pubsub_notice *next;
	int64_t node;
	char *service; /* NULL: the pubsub domain; else a PEP service */
	struct stanza *event;
	struct pubsub_node_config config;
	char *owner; /* whose roster decides; NULL: no owner here, nobody is let in */
	struct pubsub_notice_to *to;
	size_t n_to;
};

static void pubsub_notice_free(struct pubsub_notice *n)
{
	stanza_unref(&n->event);
	free(n->service);
	pubsub_node_config_clear(&n->config);
	free(n->owner);
	for (size_t i = 0; i < n->n_to; i++) {
		free(n->to[i].jid);
		free(n->to[i].bare);
	}
	free(n->to);
	free(n);
}

void pubsub_notify_queue_add(struct pubsub *ps, const struct pubsub_node *node,
			     const struct stanza *event, const struct pubsub_subscription *subs,
			     const enum pubsub_affiliation *affs, size_t n)
{
	struct pubsub_notice *notice = xcalloc(1, sizeof(*notice)), **tail = &ps->notices;

	notice->node = node->id;
	notice->service = *node->service != '\0' ? xstrdup(node->service) : NULL;
	notice->event = stanza_copy(event);
	pubsub_node_config_copy(&notice->config, &node->config);
	notice->owner = pubsub_access_model_owner(ps, node);
	notice->to = xcalloc(n > 0 ? n : 1, sizeof(*notice->to));
	for (size_t i = 0; i < n; i++) {
		struct pubsub_notice_to *to = &notice->to[notice->n_to];
		char *bare = pubsub_bare_jid(subs[i].jid);
		if (bare == NULL || !pubsub_access_entitled(node, affs[i], &subs[i])) {
			free(bare);
			continue;
		}
		to->jid = xstrdup(subs[i].jid);
		to->bare = bare;
		if (affs[i] == PUBSUB_AFF_OWNER || affs[i] == PUBSUB_AFF_PUBLISHER ||
		    affs[i] == PUBSUB_AFF_MEMBER)
			to->verdict = PUBSUB_VERDICT_YES;
		else if (notice->owner == NULL)
			to->verdict = PUBSUB_VERDICT_NO;
		else
			to->verdict = PUBSUB_VERDICT_ASK;
		notice->n_to++;
	}
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = notice;
	pubsub_notify_queue_pump(ps);
}

/* Fill in what the cache knows (asking sm for the rest); true when every
 * verdict is known. */
static bool pubsub_notice_resolve(struct pubsub *ps, struct pubsub_notice *n)
{
	bool done = true;

	for (size_t i = 0; i < n->n_to; i++) {
		struct pubsub_notice_to *to = &n->to[i];
		const struct pubsub_relation *rel;
		if (to->verdict != PUBSUB_VERDICT_ASK)
			continue;
		rel = pubsub_relation_get(ps, n->owner, to->bare);
		if (rel == NULL)
			done = false;
		else
			to->verdict = pubsub_relation_allows(&n->config, rel) ? PUBSUB_VERDICT_YES
									      : PUBSUB_VERDICT_NO;
	}
	return done;
}

void pubsub_notify_queue_pump(struct pubsub *ps)
{
	int64_t *blocked = NULL;
	size_t n_blocked = 0;

	for (struct pubsub_notice **p = &ps->notices; *p != NULL;) {
		struct pubsub_notice *n = *p;
		bool waits = false;
		for (size_t i = 0; i < n_blocked && !waits; i++)
			waits = blocked[i] == n->node;
		if (!waits && pubsub_notice_resolve(ps, n)) {
			const char *was = ps->service;
			ps->service = n->service;
			for (size_t i = 0; i < n->n_to; i++) {
				if (n->to[i].verdict == PUBSUB_VERDICT_YES)
					pubsub_notify_one(ps, n->to[i].jid, n->event);
			}
			ps->service = was;
			*p = n->next;
			pubsub_notice_free(n);
			continue;
		}
		if (!waits) {
			blocked = xrealloc(blocked, (n_blocked + 1) * sizeof(*blocked));
			blocked[n_blocked++] = n->node;
		}
		p = &n->next;
	}
	free(blocked);
}

void pubsub_notify_queue_free(struct pubsub *ps)
{
	if (ps->notices != NULL)
		JLOG_WARN(0, "shutting down with notifications waiting for sm: not sent");
	while (ps->notices != NULL) {
		struct pubsub_notice *n = ps->notices;
		ps->notices = n->next;
		pubsub_notice_free(n);
	}
}
