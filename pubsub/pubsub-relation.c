/* pubsub-relation.c: what a node owner's roster says about a JID, asked
 * of the owner's sm (docs/components.md section 7) for the presence and
 * roster access models.
 *
 * Answers are kept [pubsub] roster_cache per (owner, JID). A request that
 * needs an answer we do not have is parked (its iq kept) and the question
 * sent, once per (owner, JID) however many wait for it; when the answer
 * comes the parked requests are handled again from the start, finding it
 * in the cache, and the notification queues (pubsub-notify-queue.c) move
 * on. An error from sm, or no answer within PUBSUB_RELATION_TIMEOUT_MS,
 * counts as "no relation": nothing is granted on a guess.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "pubsub.h"
#include "stanza.h"
#include "stream.h"

#define PUBSUB_NS_RELATION "urn:junction:roster:1"
#define PUBSUB_RELATION_TIMEOUT_MS 10000

/* One (owner, JID): an answer (answered) or a question in flight. */
struct pubsub_relation_entry {
	struct pubsub_relation_entry *next;
	char *owner, *jid;
	char id[2 * PUBSUB_ID_BYTES + 1]; /* of the question */
	bool answered;
	uint64_t deadline; /* loop time: answer expiry, or question timeout */
	struct pubsub_relation rel;
	struct stanza **parked; /* iqs to handle again once answered */
	char **parked_service;  /* the service each was for (NULL: the domain) */
	size_t n_parked;
};

static void pubsub_relation_entry_free(struct pubsub_relation_entry *e)
{
	free(e->owner);
	free(e->jid);
	for (size_t i = 0; i < e->rel.n_groups; i++)
		free(e->rel.groups[i]);
	free(e->rel.groups);
	for (size_t i = 0; i < e->n_parked; i++) {
		stanza_unref(&e->parked[i]);
		free(e->parked_service[i]);
	}
	free(e->parked);
	free(e->parked_service);
	free(e);
}

static struct pubsub_relation_entry *pubsub_relation_find(struct pubsub *ps, const char *owner,
							  const char *jid)
{
	for (struct pubsub_relation_entry *e = ps->relations; e != NULL; e = e->next) {
		if (strcmp(e->owner, owner) == 0 && strcmp(e->jid, jid) == 0)
			return e;
	}
	return NULL;
}

/* Drop answers past their lifetime (questions stay until answered or
 * timed out). */
static void pubsub_relation_expire(struct pubsub *ps)
{
	uint64_t now = uv_now(ps->loop);

	for (struct pubsub_relation_entry **p = &ps->relations; *p != NULL;) {
		struct pubsub_relation_entry *e = *p;
		if (e->answered && now > e->deadline) {
			*p = e->next;
			pubsub_relation_entry_free(e);
		} else {
			p = &e->next;
		}
	}
}

static void pubsub_relation_ask(struct pubsub *ps, struct pubsub_relation_entry *e)
{
	struct stanza *iq = stanza_new("iq", STREAM_NS_COMPONENT);
	struct stanza *q = stanza_add_child(iq, "relation", PUBSUB_NS_RELATION);

	pubsub_new_id(e->id);
	e->deadline = uv_now(ps->loop) + PUBSUB_RELATION_TIMEOUT_MS;
	stanza_set_attr(iq, "type", "get");
	stanza_set_attr(iq, "id", e->id);
	stanza_set_attr(iq, "from", ps->domain);
	stanza_set_attr(iq, "to", e->owner);
	stanza_set_attr(q, "jid", e->jid);
	pubsub_send_direct(ps, iq);
	stanza_unref(&iq);
}

const struct pubsub_relation *pubsub_relation_get(struct pubsub *ps, const char *owner,
						  const char *jid)
{
	struct pubsub_relation_entry *e;

	pubsub_relation_expire(ps);
	e = pubsub_relation_find(ps, owner, jid);
	if (e != NULL)
		return e->answered ? &e->rel : NULL;
	e = xcalloc(1, sizeof(*e));
	e->owner = xstrdup(owner);
	e->jid = xstrdup(jid);
	e->next = ps->relations;
	ps->relations = e;
	pubsub_relation_ask(ps, e);
	return NULL;
}

void pubsub_relation_park(struct pubsub *ps, const char *owner, const char *jid,
			  const struct stanza *iq)
{
	struct pubsub_relation_entry *e = pubsub_relation_find(ps, owner, jid);

	if (e == NULL || e->answered) {
		/* pubsub_relation_get() just asked: cannot happen. */
		JLOG_ERROR(0, "parking a request with no question for %s about %s", owner, jid);
		return;
	}
	e->parked = xrealloc(e->parked, (e->n_parked + 1) * sizeof(*e->parked));
	e->parked_service =
		xrealloc(e->parked_service, (e->n_parked + 1) * sizeof(*e->parked_service));
	e->parked_service[e->n_parked] = ps->service != NULL ? xstrdup(ps->service) : NULL;
	e->parked[e->n_parked++] = stanza_copy(iq);
}

/* Record the answer (rel_el NULL: none) and handle what waited for it. */
static void pubsub_relation_settle(struct pubsub *ps, struct pubsub_relation_entry *e,
				   const struct stanza *rel_el)
{
	const char *sub = rel_el != NULL ? stanza_get_attr(rel_el, "subscription") : NULL;
	struct stanza **parked = e->parked;
	char **services = e->parked_service;
	size_t n_parked = e->n_parked;
	const char *was = ps->service;

	e->answered = true;
	e->deadline = uv_now(ps->loop) + ps->relation_cache_ms;
	e->rel.presence = sub != NULL && (strcmp(sub, "from") == 0 || strcmp(sub, "both") == 0);
	for (size_t i = 0; rel_el != NULL && i < rel_el->n_children; i++) {
		const struct stanza *g = rel_el->children[i].element;
		if (g == NULL || strcmp(g->name, "group") != 0)
			continue;
		e->rel.groups = xrealloc(e->rel.groups, (e->rel.n_groups + 1) * sizeof(char *));
		e->rel.groups[e->rel.n_groups++] = stanza_text(g);
	}
	e->parked = NULL;
	e->parked_service = NULL;
	e->n_parked = 0;
	for (size_t i = 0; i < n_parked; i++) {
		ps->service = services[i];
		pubsub_iq_handle(ps, parked[i]);
		stanza_unref(&parked[i]);
		free(services[i]);
	}
	ps->service = was;
	free(parked);
	free(services);
	pubsub_notify_queue_pump(ps);
}

bool pubsub_relation_answer(struct pubsub *ps, const struct stanza *iq)
{
	const char *id = stanza_get_attr(iq, "id"), *type = stanza_get_attr(iq, "type");
	const char *from = stanza_get_attr(iq, "from");
	struct pubsub_relation_entry *e;
	char *bare;

	for (e = ps->relations; e != NULL && id != NULL; e = e->next) {
		if (!e->answered && strcmp(e->id, id) == 0)
			break;
	}
	if (e == NULL || id == NULL)
		return false;
	bare = pubsub_bare_jid(from);
	if (bare == NULL || strcmp(bare, e->owner) != 0) {
		free(bare);
		return false; /* not from whom we asked */
	}
	free(bare);
	const struct stanza *rel = stanza_find_child(iq, "relation", PUBSUB_NS_RELATION);
	if (type == NULL || strcmp(type, "result") != 0 || rel == NULL) {
		JLOG_INFO(0, "sm gave no relation of %s to %s: taken as none", e->owner, e->jid);
		rel = NULL;
	}
	pubsub_relation_settle(ps, e, rel);
	return true;
}

static void pubsub_relation_on_timer(uv_timer_t *t)
{
	struct pubsub *ps = t->data;
	uint64_t now = uv_now(ps->loop);

	pubsub_relation_expire(ps); /* frees memory of answers nobody asked for again */
	for (struct pubsub_relation_entry *e = ps->relations; e != NULL; e = e->next) {
		if (!e->answered && now > e->deadline) {
			JLOG_WARN(0, "sm did not say how %s relates to %s: taken as none", e->owner,
				  e->jid);
			pubsub_relation_settle(ps, e, NULL);
			break; /* settling may have changed the list: next tick */
		}
	}
}

void pubsub_relation_init(struct pubsub *ps)
{
	ps->relation_cache_ms = config_get_duration_ms(ps->config, "pubsub", "roster_cache");
	uv_timer_init(ps->loop, &ps->relation_timer);
	ps->relation_timer.data = ps;
	uv_timer_start(&ps->relation_timer, pubsub_relation_on_timer, 500, 500);
}

void pubsub_relation_stop(struct pubsub *ps)
{
	uv_close((uv_handle_t *)&ps->relation_timer, NULL);
}

void pubsub_relation_free(struct pubsub *ps)
{
	while (ps->relations != NULL) {
		struct pubsub_relation_entry *e = ps->relations;
		ps->relations = e->next;
		pubsub_relation_entry_free(e);
	}
}

bool pubsub_relation_allows(const struct pubsub_node_config *c, const struct pubsub_relation *rel)
{
	if (c->access_model == PUBSUB_ACCESS_PRESENCE)
		return rel->presence;
	for (size_t i = 0; i < rel->n_groups; i++) {
		if (pubsub_node_config_group_allowed(c, rel->groups[i]))
			return true;
	}
	return false;
}
