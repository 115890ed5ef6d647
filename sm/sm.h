/* sm.h: the session manager's shared state and the functions its files
 * offer each other.
 *
 * One process, one libuv loop. sm is a component of the router: it binds
 * its own name and, in shared mode, every served domain, so it receives
 * every stanza addressed to its users. struct sm owns the component link,
 * the store (common/store.h: accounts, rosters, offline messages) and the
 * session table. A session is one connected resource, hosted by a c2s
 * instance that sm talks to with the session protocol of
 * docs/components.md section 6 (namespace urn:junction:session:1).
 *
 * Files: main.c (start-up), sm-session.c (session table, start/end,
 * delivery to a session), sm-deliver.c (RFC 6121 delivery rules for
 * stanzas addressed to users, offline storage), sm-roster.c (roster
 * management), sm-presence.c (subscriptions, broadcast, probes), sm-iq.c
 * (the server's own iq: credentials for c2s, ping, disco), sm-peers.c
 * (which names are Junction's own, from the router's watch events),
 * sm-blocking.c (XEP-0191 and its delivery effects), sm-register.c
 * (XEP-0077, account removal), sm-adhoc.c (XEP-0133 admin commands),
 * sm-pep.c (PEP: relaying to junction-pubsub, presence and caps notices),
 * sm-vcard.c (XEP-0054 vCards, XEP-0153 avatar hash in presence),
 * sm-private.c (XEP-0049 private XML), sm-info.c (XEP-0092 version,
 * XEP-0202 time, XEP-0012 last activity), sm-scale.c (the other sm
 * instances sharing a domain: who owns which user, waiting for
 * handovers, leaving), sm-handover.c (moving sessions between instances;
 * docs/components.md section 6, "Scale-out and scale-in").
 */
#ifndef JUNCTION_SM_H
#define JUNCTION_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "metrics.h"
#include "peers.h"
#include "store.h"

#define SM_NS_SESSION "urn:junction:session:1"
#define SM_NS_EXT "urn:junction:component:1"
#define SM_NS_ROSTER "jabber:iq:roster"
#define SM_NS_BLOCKING "urn:xmpp:blocking"
#define SM_NS_REGISTER "jabber:iq:register"
#define SM_NS_COMMANDS "http://jabber.org/protocol/commands"
/* Items one account may block (XEP-0191); more is resource-constraint. */
#define SM_BLOCKLIST_MAX 1000
#define SM_NS_PEP "urn:junction:pep:1"
#define SM_NS_VCARD "vcard-temp"
#define SM_NS_PRIVATE "jabber:iq:private"
#define SM_NS_VERSION "jabber:iq:version"
#define SM_NS_TIME "urn:xmpp:time"
#define SM_NS_LAST "jabber:iq:last"
/* Offline messages kept per account before new ones bounce
 * (resource-constraint). */
#define SM_OFFLINE_MAX 500

struct component;
struct stanza;
struct xml_parser_stanza;
struct sm_register_ip;
struct sm_adhoc_session;
struct sm_blocking_set;
struct sm_scale;

/* A JID a session sent directed available presence to (RFC 6121 4.6),
 * that will hear its unavailable presence too. */
struct sm_directed {
	char *jid;
	struct sm_directed *next;
};

/* At most this many directed-presence targets are tracked per session. */
#define SM_DIRECTED_MAX 100

struct sm_session {
	char *full;   /* node@domain/resource */
	char *bare;   /* node@domain */
	char *c2s;    /* the c2s instance's component name */
	char *sid;    /* its id for the session */
	bool available;  /* sent available presence */
	bool interested; /* asked for the roster: gets roster pushes */
	bool blocklist;  /* asked for the blocklist: gets its pushes (XEP-0191) */
	int priority;
	struct stanza *presence; /* last available presence, without to/from */
	struct sm_directed *directed;
	size_t n_directed;
	struct sm_session *next;
	struct sm_session *hash_next; /* in sm->by_full */
};

/* Buckets of the session index by full JID (sm-session.c). */
#define SM_SESSION_BUCKETS 1024

/* Offline messages handed to the router, deleted on the next loop turn. */
struct sm_offline_ack {
	char *bare;
	int64_t upto; /* store id of the last one delivered */
	struct sm_offline_ack *next;
};

struct sm {
	uv_loop_t *loop;
	struct config *config;
	struct store *store;
	struct component *component;
	char *name; /* this instance's component name */
	struct sm_session *sessions; /* every session, newest first */
	struct sm_session *by_full[SM_SESSION_BUCKETS]; /* the same, by full JID */
	struct peers peers;          /* names bound by trusted streams */
	struct sm_offline_ack *acks;
	uv_timer_t ack_timer;
	struct sm_register_ip *register_ips; /* recent in-band registrations (sm-register.c) */
	struct sm_adhoc_session *adhoc; /* ad-hoc command sessions in progress (sm-adhoc.c) */
	struct sm_blocking_set *blocking; /* accounts that may block anyone (sm-blocking.c) */
	uv_signal_t sig_term, sig_int, sig_hup;
	/* Prometheus metrics (sm-metrics.c); NULL when off. */
	struct metrics *metrics;
	struct {
		uint64_t bounces;        /* stanzas answered with an error */
		uint64_t offline_stored; /* messages stored for later */
		uint64_t handed_over;    /* sessions sent to another instance */
		uint64_t taken_over;     /* sessions received from another instance */
		uint64_t handover_timeouts; /* handovers given up on (sm-scale.c) */
	} count;
	struct metrics_histogram store_seconds;
	struct sm_pep *pep; /* sm-pep.c */
	/* The stanza sm_on_stanza() is handling and its original bytes
	 * (component_stanza_raw(), NULL when they do not stand alone), for
	 * sm_session_deliver() to wrap as they are (sm-wrap.c). Whoever
	 * changes that tree first calls sm_wrap_forget(). */
	struct {
		const struct stanza *st;
		const char *raw;
		size_t len;
	} in;
	uint64_t started; /* uv_hrtime() at start, for XEP-0012 uptime */
	struct sm_scale *scale; /* sm-scale.c */
	uv_timer_t scale_timer; /* sm-scale.c: handovers and leaving take at most this long */
	bool stopping;          /* sm_stop() ran */
};

/* main.c */
/* A stanza not addressed to this instance's own name: the session
 * protocol, the server's iqs, delivery to users. */
void sm_dispatch(struct sm *sm, struct stanza *st);
/* Close everything; the loop then ends. */
void sm_stop(struct sm *sm);

/* sm-metrics.c */
void sm_metrics_start(struct sm *sm);
void sm_metrics_stop(struct sm *sm);

/* sm-session.c */
struct sm_session *sm_session_find(struct sm *sm, const char *full);
/* Any session of the account bare, or NULL. */
struct sm_session *sm_session_find_bare(struct sm *sm, const char *bare);
struct sm_session *sm_session_find_sid(struct sm *sm, const char *c2s, const char *sid);
/* Start or end a session on a c2s's request (iq set with <session/>). */
void sm_session_handle(struct sm *sm, struct stanza *iq, struct stanza *session);
/* End a session from sm's side: its c2s closes the client's stream
 * (reason "conflict" or "removed" picks the stream error), contacts hear
 * unavailable, and session is freed. */
void sm_session_kick(struct sm *sm, struct sm_session *session, const char *reason);
/* A c2s instance went away: end every session it hosted. */
void sm_session_end_host(struct sm *sm, const char *c2s);

/* sm-wrap.c */
/* Write st to the client of a session, wrapped in <deliver/>. */
void sm_session_deliver(struct sm *sm, const struct sm_session *session, const struct stanza *st);
/* st is about to change: its original bytes no longer say what it is. */
void sm_wrap_forget(struct sm *sm, const struct stanza *st);
/* The router link's raw callback (component.h): a message to a full JID
 * with a session, which sm only wraps, goes to it from its bytes without a
 * tree. False for everything else (sm_on_stanza() gets it). */
bool sm_wrap_deliver_raw(struct sm *sm, const struct xml_parser_stanza *ev);
/* A push to one session: iq type='set' with a fresh id and a copy of
 * payload (roster pushes, blocklist pushes). */
void sm_session_push(struct sm *sm, const struct sm_session *session,
		     const struct stanza *payload);
void sm_session_free_all(struct sm *sm);
/* Add a session built elsewhere (handed over by another instance),
 * silently replacing one with the same full JID. */
void sm_session_adopt(struct sm *sm, struct sm_session *session);
/* Take every session pred accepts out of the table in one pass, without
 * telling anyone (handed over): a list linked by next, oldest first, whose
 * sessions the caller frees with sm_session_release(). */
struct sm_session *sm_session_take(struct sm *sm,
				   bool (*pred)(struct sm *sm, const struct sm_session *s, void *ctx),
				   void *ctx);
void sm_session_release(struct sm_session *session);

/* sm-deliver.c */
/* A stanza addressed to one of sm's users (or domains), from anywhere. */
void sm_deliver(struct sm *sm, struct stanza *st);
/* A stanza a client sent without 'to', unwrapped from <from-client/>. */
void sm_from_client(struct sm *sm, struct sm_session *session, struct stanza *st);
/* Reply to st with an error (never to an error or an iq result). */
void sm_bounce(struct sm *sm, const struct stanza *st, const char *type, const char *condition);
void sm_send(struct sm *sm, const struct stanza *st);

/* Deliver to every available session of bare; returns how many. */
int sm_deliver_to_available(struct sm *sm, const char *bare, const struct stanza *st);
void sm_store_offline(struct sm *sm, const char *bare, const struct stanza *st);
/* Deliver the stored offline messages of the session's user; they are
 * deleted once written towards the router (sm_offline_acks_run()). */
void sm_flush_offline(struct sm *sm, struct sm_session *session);
/* Delete what was delivered (the ack timer's callback; also at shutdown). */
void sm_offline_acks_run(struct sm *sm);

/* sm-roster.c */
void sm_roster_iq(struct sm *sm, struct stanza *iq, struct stanza *query);
void sm_roster_push(struct sm *sm, const char *bare, const struct store_roster_item *item,
		    bool removed, uint64_t version);
void sm_roster_result(struct sm *sm, struct sm_session *session, const struct stanza *iq);

/* sm-presence.c */
void sm_presence_send_type(struct sm *sm, const char *from, const char *to, const char *type);
/* Presence a session sent with a 'to'. */
void sm_presence_outbound(struct sm *sm, struct sm_session *session, struct stanza *st);
/* Subscription presence and probes addressed to user (a bare JID). */
void sm_presence_inbound(struct sm *sm, const char *user, struct stanza *st);
/* Available or unavailable presence a session sent without 'to'. */
void sm_presence_broadcast(struct sm *sm, struct sm_session *session, struct stanza *st);
/* The session ends: contacts and the user's other sessions hear it. */
void sm_presence_session_gone(struct sm *sm, struct sm_session *session);
void sm_presence_directed_free(struct sm_session *session);

/* sm-iq.c */
/* A new iq result answering iq: same id, to/from swapped. */
struct stanza *sm_iq_result(const struct stanza *iq);
/* An iq to the server or to a user's bare JID that sm answers itself.
 * Returns false when it is not one sm handles. */
bool sm_iq_handle(struct sm *sm, struct stanza *iq);
/* The sender of iq may learn about the account bare: it exists, and the
 * sender is the account or a contact with a subscription to it. */
bool sm_iq_account_visible(struct sm *sm, const struct stanza *iq, const char *bare);

/* sm-vcard.c */
/* XEP-0054: an iq get or set with <vCard xmlns='vcard-temp'/>. */
void sm_vcard_iq(struct sm *sm, struct stanza *iq, struct stanza *vcard);
/* XEP-0153: put the account's avatar hash into its available presence. */
void sm_vcard_presence(struct sm *sm, const char *bare, struct stanza *presence);

/* sm-private.c */
/* XEP-0049: an iq get or set with <query xmlns='jabber:iq:private'/>. */
void sm_private_iq(struct sm *sm, struct stanza *iq, struct stanza *query);

/* sm-info.c */
/* The requester's bare JID (NULL when iq has no usable 'from') and the
 * addressed account's (NULL when iq is to the domain). False when 'to' is
 * not a JID. Both newly allocated. */
bool sm_info_parties(const struct stanza *iq, char **requester_r, char **bare_r);
/* An empty iq result to iq. */
void sm_info_ack(struct sm *sm, const struct stanza *iq);
/* The store failed on what ("vCard", ...) of bare: log it, answer
 * internal-server-error. */
void sm_info_store_failed(struct sm *sm, const struct stanza *iq, const char *what,
			  const char *bare);
/* XEP-0092, XEP-0202 and XEP-0012 requests. */
void sm_info_iq(struct sm *sm, struct stanza *iq, struct stanza *q);
bool sm_info_version_enabled(struct sm *sm);
/* The session goes unavailable (presence, NULL when it just left): when it
 * was the account's last available one, store the time for XEP-0012. */
void sm_info_logout(struct sm *sm, const struct sm_session *session, const struct stanza *presence);

/* sm-blocking.c: XEP-0191. */
void sm_blocking_iq(struct sm *sm, struct stanza *iq, struct stanza *q);
void sm_blocking_free(struct sm *sm);
/* Has user blocked anyone? */
bool sm_blocking_any(struct sm *sm, const char *user);
/* Does user's blocklist match jid (any JID string)? */
bool sm_blocking_blocks(struct sm *sm, const char *user, const char *jid);
/* Called by sm_deliver() for each stanza to to_bare (an account's bare JID
 * when to_account, else the server's domain): true when blocking took it
 * (dropped or answered with an error). */
bool sm_blocking_check(struct sm *sm, struct stanza *st, const char *to_bare, bool to_account);
/* The same question without a tree, for a stanza to the account to_bare:
 * true when blocking has nothing to do with it. */
bool sm_blocking_passes(struct sm *sm, const char *name, const char *type, const char *from,
			const char *to, const char *to_bare);
/* The result to a session start, saying whether the account blocks anyone
 * (c2s then sends its messages and iqs to other domains through sm). */
void sm_blocking_session_result(struct sm *sm, const struct stanza *iq, const char *bare);
/* A session's message or iq with a 'to' outside the users' domains (c2s
 * sends those through sm while the account blocks anyone): refused when
 * blocked, else sent on. False when 'to' is at a users' domain. */
bool sm_blocking_outbound(struct sm *sm, struct sm_session *session, struct stanza *st);
/* Answer a user's stanza to a blocked JID with not-acceptable + <blocked/>,
 * straight to the session (found from st's 'from' when NULL). */
void sm_blocking_refuse(struct sm *sm, struct sm_session *session, const struct stanza *st);

/* sm-register.c: XEP-0077 and account removal. */
/* A logged-in user's jabber:iq:register request. */
void sm_register_iq(struct sm *sm, struct stanza *iq, struct stanza *q);
/* c2s's <register/> envelope: a request from a client before login. */
void sm_register_preauth(struct sm *sm, struct stanza *iq, struct stanza *env);
void sm_register_free(struct sm *sm);
/* SCRAM-SHA-1 and -256 credentials for a password; -1 when it is empty or
 * SASLprep refuses it. */
int sm_account_credentials(const char *password, struct scram_credentials *sha1_r,
			   struct scram_credentials *sha256_r);
/* End the account's sessions, tell its contacts, delete it and all its
 * data. STORE_OK, STORE_ERR_NOT_FOUND or STORE_ERR_IO. */
int sm_account_remove(struct sm *sm, const char *bare);

/* sm-adhoc.c: XEP-0133 over XEP-0050, on the server's domain. */
void sm_adhoc_command(struct sm *sm, struct stanza *iq, struct stanza *cmd);
/* disco#items of node SM_NS_COMMANDS: the commands, to admins only. */
void sm_adhoc_items(struct sm *sm, struct stanza *iq);
bool sm_adhoc_is_admin(struct sm *sm, const char *from);
void sm_adhoc_free(struct sm *sm);
/* sm-pep.c (docs/components.md section 8) */
void sm_pep_init(struct sm *sm);
void sm_pep_free(struct sm *sm);
/* An iq to the account bare (a bare JID): true when relayed to pubsub
 * (pubsub requests, answers to pubsub's caps questions). */
bool sm_pep_iq(struct sm *sm, const char *bare, struct stanza *iq);
/* disco#items of the account, or disco#info of one of its nodes, asked
 * by someone who may see the account: true when relayed to pubsub. */
bool sm_pep_disco(struct sm *sm, const char *bare, struct stanza *iq, struct stanza *q);
/* Add PEP's identity and features to the account's disco#info query. */
void sm_pep_disco_info(const struct sm *sm, struct stanza *query);
/* A message from pubsub in the PEP envelope (or our own bounced back). */
void sm_pep_from_pubsub(struct sm *sm, struct stanza *msg);
/* Available or unavailable presence from `from` (a full JID) reaching
 * the account service: tells pubsub when it matters. */
void sm_pep_presence(struct sm *sm, const char *service, const char *from,
		     const struct stanza *presence);
/* A trusted stream bound name: when it is pubsub, replay the notices. */
void sm_pep_peer_bound(struct sm *sm, const char *name);
/* The contacts announced for the accounts of domain that instance owns
 * now, as <contact/> children of a new <contacts/> element (NULL when
 * none); forgotten here without telling pubsub (handed over). */
struct stanza *sm_pep_hand_over(struct sm *sm, const char *domain, const char *instance);
/* A <contact/> handed over by another instance: remember it. */
void sm_pep_take_over(struct sm *sm, const struct stanza *contact);
/* Hook for account removal (issue 8): pubsub deletes the account's PEP
 * nodes and forgets its contacts. */
void sm_pep_account_deleted(struct sm *sm, const char *bare);

/* sm-scale.c: several instances serving one domain (docs/components.md
 * section 6, "Scale-out and scale-in"). */
void sm_scale_init(struct sm *sm);
void sm_scale_free(struct sm *sm);
/* A watch event (after sm_peers_event()): holders of the served domains
 * come and go; hands sessions over or starts waiting for them. */
void sm_scale_event(struct sm *sm, const struct stanza *presence);
/* While handovers are awaited, keep st (everything not addressed to this
 * instance's name) to dispatch it, in order, once they are in: true when
 * kept. */
bool sm_scale_hold(struct sm *sm, struct stanza *st);
/* Handovers are awaited or stanzas kept: nothing may overtake them (the
 * raw delivery path of sm-wrap.c steps aside). */
bool sm_scale_waiting(const struct sm *sm);
/* The instance that owns the account bare now (rendezvous over the
 * domain's holders); NULL when no holder is known. */
const char *sm_scale_owner(const struct sm *sm, const char *bare);
/* Instance `from` finished handing over domain to this one. */
void sm_scale_handover_done(struct sm *sm, const char *domain, const char *from);
/* SIGTERM/SIGINT: when another instance holds a domain this one serves,
 * let the domains go and hand the sessions over before stopping; false
 * when there is nothing to hand over (stop at once). */
bool sm_scale_leave(struct sm *sm);
/* The router link dropped: forget the holders, stop waiting (and stop at
 * once when leaving). */
void sm_scale_reset(struct sm *sm);

/* sm-handover.c */
/* Move every session (and PEP contact) of domain that instance `to` owns
 * now to it, forgetting them here without a word to anyone, then say done. */
void sm_handover_send(struct sm *sm, const char *domain, const char *to);
/* <iq type='set'><handover xmlns=SM_NS_SESSION/></iq> from another instance. */
void sm_handover_receive(struct sm *sm, struct stanza *iq, struct stanza *handover);

/* sm-peers.c */
void sm_peers_event(struct sm *sm, struct stanza *presence);
bool sm_peers_trusted(const struct sm *sm, const char *name);
void sm_peers_free(struct sm *sm);

#endif
