/* pubsub.h: the publish-subscribe service's shared state and the
 * functions its files offer each other.
 *
 * One process, one libuv loop. junction-pubsub is a component of the
 * router bound to [pubsub] domain; every iq and message addressed to that
 * domain reaches it. struct pubsub owns the component link and the store
 * (pubsub-store.h, DATA_DIR/pubsub.db). Requests are answered at once:
 * storage is synchronous, so stanzas are handled, and notifications sent,
 * in the order they arrive.
 *
 * Files: main.c (start-up, dispatch), pubsub-iq.c (request context,
 * results, errors with pubsub#errors conditions), pubsub-access.c (who may
 * do what: affiliations, access and publish models, node creation),
 * pubsub-notify.c (event messages to subscribers), pubsub-disco.c
 * (disco#info, disco#items, node metadata), pubsub-owner.c (create,
 * configure, default, delete, purge), pubsub-manage.c (subscriptions and
 * affiliations: the entity's own, and an owner's management of them),
 * pubsub-subscribe.c (subscribe, unsubscribe, options, authorization),
 * pubsub-publish.c (publish, retract), pubsub-items.c (item retrieval,
 * XEP-0059 paging), pubsub-node-config.c and pubsub-form.c (forms),
 * pubsub-relation.c (asking the owner's sm about a JID, for the presence
 * and roster access models; a request needing an answer is parked and
 * handled again once it comes), pubsub-notify-queue.c (those nodes'
 * notifications, in one FIFO per node while answers are outstanding),
 * pubsub-pep.c (XEP-0163: every account's virtual service, reached
 * through sm in the envelope of docs/components.md section 8),
 * pubsub-caps.c (XEP-0115: contacts' presence and caps as sm reports
 * them, their +notify features, implicit subscriptions, last items;
 * pubsub-caps-ver.c checks a ver against its disco#info).
 *
 * The service being acted for: ps->service is NULL while the pubsub
 * domain is served, and an account's bare JID while its PEP service is
 * (set around each PEP request, queued notification or caps event).
 * pubsub_send() then wraps what leaves in the envelope for sm.
 */
#ifndef JUNCTION_PUBSUB_H
#define JUNCTION_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "metrics.h"
#include "pubsub-store.h"

#define PUBSUB_NS "http://jabber.org/protocol/pubsub"
#define PUBSUB_NS_OWNER "http://jabber.org/protocol/pubsub#owner"
#define PUBSUB_NS_EVENT "http://jabber.org/protocol/pubsub#event"
#define PUBSUB_NS_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define PUBSUB_NS_NODE_CONFIG "http://jabber.org/protocol/pubsub#node_config"
#define PUBSUB_NS_META_DATA "http://jabber.org/protocol/pubsub#meta-data"
#define PUBSUB_NS_SUB_OPTIONS "http://jabber.org/protocol/pubsub#subscribe_options"
#define PUBSUB_NS_SUB_AUTH "http://jabber.org/protocol/pubsub#subscribe_authorization"
#define PUBSUB_NS_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"
#define PUBSUB_NS_RSM "http://jabber.org/protocol/rsm"
#define PUBSUB_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define PUBSUB_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

/* Hex digits of generated item ids, subids and instant node names. */
#define PUBSUB_ID_BYTES 12

struct component;
struct config;
struct stanza;

struct pubsub {
	uv_loop_t *loop;
	struct config *config;
	struct pubsub_store *store;
	struct component *component;
	char *domain; /* the service's JID */
	const char *const *create_nodes; /* [pubsub] create_nodes */
	size_t n_create_nodes;
	uv_signal_t sig_term, sig_int, sig_hup;
	/* pubsub-relation.c */
	struct pubsub_relation_entry *relations;
	uint64_t relation_cache_ms; /* [pubsub] roster_cache */
	uv_timer_t relation_timer;
	/* pubsub-notify-queue.c */
	struct pubsub_notice *notices;
	/* pubsub-metrics.c; metrics NULL when off */
	struct metrics *metrics;
	struct metrics_histogram store_seconds;
	/* pubsub-pep.c: the PEP service being acted for, NULL for the domain */
	const char *service;
	/* pubsub-caps.c */
	struct pubsub_caps_contact *contacts;
	struct pubsub_caps_ver *vers;
};

/* The store's service key of what is being served: "" or a bare JID. */
static inline const char *pubsub_service(const struct pubsub *ps)
{
	return ps->service != NULL ? ps->service : "";
}

/* The owner's roster item for a JID, as sm told it. */
struct pubsub_relation {
	bool presence; /* subscription from or both: may see the owner's presence */
	char **groups;
	size_t n_groups;
};

/* One iq request being answered. */
struct pubsub_req {
	struct pubsub *ps;
	const struct stanza *iq;
	const char *from; /* as sent (the router checked its domain) */
	char *bare;       /* the requester's bare JID, normalised */
	char *domain;     /* its domain part */
	bool user;        /* an account (node@domain) */
};

/* pubsub-iq.c */
/* An iq addressed to the service. */
void pubsub_iq_handle(struct pubsub *ps, struct stanza *iq);
/* Send st as the current service: as it is for the pubsub domain, in the
 * PEP envelope through the account's sm (from = the account) for PEP. */
void pubsub_send(struct pubsub *ps, const struct stanza *st);
/* Send st to the router as it is (questions to sm, envelopes). */
void pubsub_send_direct(struct pubsub *ps, const struct stanza *st);
/* The JID the current service answers from. */
const char *pubsub_self(const struct pubsub *ps);
/* Default configuration of a new node of the current service. */
void pubsub_config_default(const struct pubsub *ps, struct pubsub_node_config *c);
/* A new iq result answering req (caller unrefs). */
struct stanza *pubsub_result(const struct pubsub_req *req);
/* Send an empty iq result. */
void pubsub_reply_empty(struct pubsub_req *req);
/* Send an error reply; app (a pubsub#errors condition) and feature may be
 * NULL. */
void pubsub_error(struct pubsub_req *req, const char *type, const char *condition,
		  const char *app, const char *feature);
/* The same with a human-readable <text/>. */
void pubsub_error_text(struct pubsub_req *req, const char *type, const char *condition,
		       const char *app, const char *text);
/* Load the node named by el's 'node' attribute. Returns 0, or -1 after
 * answering nodeid-required (bad-request) or item-not-found. */
int pubsub_req_node(struct pubsub_req *req, const struct stanza *el, struct pubsub_node *node_r);
/* The requester's affiliation with node. */
enum pubsub_affiliation pubsub_req_affiliation(struct pubsub_req *req, const struct pubsub_node *node);
/* A storage failure: logs and answers internal-server-error. */
void pubsub_store_failed(struct pubsub_req *req, const char *what);
/* A fresh random id (2 * PUBSUB_ID_BYTES hex digits). */
void pubsub_new_id(char out[2 * PUBSUB_ID_BYTES + 1]);
/* The bare JID of jid (normalised), or NULL when it is not a valid JID. */
char *pubsub_bare_jid(const char *jid);
/* jid normalised, or NULL when it is not a valid JID. */
char *pubsub_full_jid(const char *jid);

/* pubsub-access.c */
/* May the requester subscribe to node / retrieve its items? Returns 0, or
 * -1 after answering with XEP-0060's error, or -2 when the request waits
 * for sm's answer (it will be handled again: do nothing more). A pending
 * subscription for the authorize model is the subscriber's business, not
 * an error here. */
int pubsub_access_subscribe(struct pubsub_req *req, const struct pubsub_node *node,
			    enum pubsub_affiliation aff);
int pubsub_access_retrieve(struct pubsub_req *req, const struct pubsub_node *node,
			   enum pubsub_affiliation aff);
bool pubsub_access_may_publish(struct pubsub_req *req, const struct pubsub_node *node,
			       enum pubsub_affiliation aff);
/* Should a subscriber with affiliation aff get notifications now? */
bool pubsub_access_entitled(const struct pubsub_node *node, enum pubsub_affiliation aff,
			    const struct pubsub_subscription *sub);
bool pubsub_access_may_create(struct pubsub_req *req);
/* Whose roster decides for the presence and roster models: the first
 * owner with an account here (caller frees), NULL when there is none. */
char *pubsub_access_model_owner(struct pubsub *ps, const struct pubsub_node *node);
/* May the requester give a node configuration c? The presence and roster
 * models need the requester to have an account here (sm cannot be asked
 * about a remote owner's roster). 0, or -1 after answering. */
int pubsub_access_check_config_model(struct pubsub_req *req, const struct pubsub_node_config *c);
/* Check [pubsub] create_nodes at start-up; -1 with a message in err. */
int pubsub_access_check_config(struct pubsub *ps, char *err, size_t errlen);

/* pubsub-notify.c */
/* Send <event/> (a root in PUBSUB_NS_EVENT) to every subscriber of node
 * entitled to it now, in subscription order. */
void pubsub_notify(struct pubsub *ps, const struct pubsub_node *node, const struct stanza *event);
/* Send <event/> to one JID. */
void pubsub_notify_one(struct pubsub *ps, const char *to, const struct stanza *event);
/* Send event to those of the n subscriptions subs of node entitled to it
 * now (waiting for sm's verdicts on presence and roster nodes). */
void pubsub_notify_subs(struct pubsub *ps, const struct pubsub_node *node,
			const struct stanza *event, const struct pubsub_subscription *subs,
			size_t n);
/* An <event/> root with <items node=NAME/>; returns it, *items_r the child. */
struct stanza *pubsub_notify_items_event(const char *node, struct stanza **items_r);
/* Tell jid its subscription to node changed (subscribed, pending, none). */
void pubsub_notify_subscription(struct pubsub *ps, const char *node, const char *jid,
				const char *subid, enum pubsub_sub_state state);
/* Append <item id=...>payload</item> to parent (payload per config). */
void pubsub_notify_add_item(struct stanza *parent, const struct pubsub_item *item,
			    bool with_payload);

/* pubsub-notify-queue.c */
/* Queue event for the n subscriptions subs (affiliations affs) of a
 * presence or roster node, and send what can be sent. */
void pubsub_notify_queue_add(struct pubsub *ps, const struct pubsub_node *node,
			     const struct stanza *event, const struct pubsub_subscription *subs,
			     const enum pubsub_affiliation *affs, size_t n);
/* Send every notice whose verdicts are known, per node in order. */
void pubsub_notify_queue_pump(struct pubsub *ps);
void pubsub_notify_queue_free(struct pubsub *ps);

/* pubsub-relation.c */
void pubsub_relation_init(struct pubsub *ps);
void pubsub_relation_stop(struct pubsub *ps);
void pubsub_relation_free(struct pubsub *ps);
/* owner's relation to jid (bare JIDs) from the cache, or NULL after asking
 * owner's sm (once per pair while the question is out). */
const struct pubsub_relation *pubsub_relation_get(struct pubsub *ps, const char *owner,
						  const char *jid);
/* Keep a copy of iq, to be handled again when owner's answer about jid
 * comes (right after pubsub_relation_get() returned NULL). */
void pubsub_relation_park(struct pubsub *ps, const char *owner, const char *jid,
			  const struct stanza *iq);
/* An iq result or error to the service: true when it answered one of our
 * questions (then taken care of). */
bool pubsub_relation_answer(struct pubsub *ps, const struct stanza *iq);
/* Does rel let its JID in under c's access model (presence or roster)? */
bool pubsub_relation_allows(const struct pubsub_node_config *c, const struct pubsub_relation *rel);

/* pubsub-disco.c */
void pubsub_disco_info(struct pubsub_req *req, const struct stanza *query);
void pubsub_disco_items(struct pubsub_req *req, const struct stanza *query);

/* pubsub-owner.c */
void pubsub_owner_create(struct pubsub_req *req, const struct stanza *create,
			 const struct stanza *configure);
void pubsub_owner_configure(struct pubsub_req *req, const struct stanza *configure, bool set);
void pubsub_owner_default(struct pubsub_req *req);
void pubsub_owner_delete(struct pubsub_req *req, const struct stanza *del);
void pubsub_owner_purge(struct pubsub_req *req, const struct stanza *purge);
/* Create a node as req's requester (used by create and auto-create):
 * 0, or -1 after answering. */
int pubsub_owner_create_node(struct pubsub_req *req, const char *name,
			     const struct pubsub_node_config *config);

/* pubsub-manage.c */
void pubsub_manage_own_subscriptions(struct pubsub_req *req, const struct stanza *el);
void pubsub_manage_own_affiliations(struct pubsub_req *req, const struct stanza *el);
void pubsub_manage_subscriptions(struct pubsub_req *req, const struct stanza *el, bool set);
void pubsub_manage_affiliations(struct pubsub_req *req, const struct stanza *el, bool set);

/* pubsub-subscribe.c */
void pubsub_subscribe(struct pubsub_req *req, const struct stanza *sub, const struct stanza *options);
void pubsub_unsubscribe(struct pubsub_req *req, const struct stanza *unsub);
void pubsub_subscribe_options(struct pubsub_req *req, const struct stanza *options, bool set);
void pubsub_subscribe_default(struct pubsub_req *req);
/* A message to the service: an owner's answer to an authorization form. */
void pubsub_subscribe_message(struct pubsub *ps, struct stanza *msg);

/* pubsub-publish.c */
void pubsub_publish(struct pubsub_req *req, const struct stanza *publish,
		    const struct stanza *publish_options);
void pubsub_retract(struct pubsub_req *req, const struct stanza *retract);
/* The node's newest item to one new subscriber (send_last_published_item). */
void pubsub_publish_send_last(struct pubsub *ps, const struct pubsub_node *node, const char *to);
/* An <event/> with the node's newest item, NULL when it has none (caller
 * unrefs). */
struct stanza *pubsub_publish_last_event(struct pubsub *ps, const struct pubsub_node *node);

/* pubsub-pep.c */
/* A message to the service carrying the PEP envelope (from sm): true when
 * it was one (then handled). */
bool pubsub_pep_message(struct pubsub *ps, struct stanza *msg);
/* Wrap st for sm and send it, from = service (a bare JID). */
void pubsub_pep_send(struct pubsub *ps, const char *service, const struct stanza *st);
/* disco#items of a PEP service: the nodes the requester may see. */
void pubsub_pep_disco_items(struct pubsub_req *req);

/* pubsub-caps.c */
/* sm's notice: a contact (full JID) of service became available (with its
 * caps node, ver, hash) or unavailable. replay: a repeat after pubsub
 * restarted (no last items). */
void pubsub_caps_presence(struct pubsub *ps, const char *service, const struct stanza *notice);
/* An iq result or error from a contact to service: true when it answered
 * one of our disco#info questions. */
bool pubsub_caps_answer(struct pubsub *ps, const char *service, const struct stanza *iq);
/* Append to *subs_r the available contacts of node's service whose caps
 * ask for node+notify (implicit subscriptions), unless listed already. */
void pubsub_caps_subscribers(struct pubsub *ps, const struct pubsub_node *node,
			     struct pubsub_subscription **subs_r, size_t *n_r);
/* Forget what is known of a service's contacts (the account is gone). */
void pubsub_caps_forget_service(struct pubsub *ps, const char *service);
void pubsub_caps_free(struct pubsub *ps);

/* pubsub-items.c */
void pubsub_items(struct pubsub_req *req, const struct stanza *items, const struct stanza *set);

/* pubsub-metrics.c */
void pubsub_metrics_start(struct pubsub *ps);
void pubsub_metrics_stop(struct pubsub *ps);

#endif
