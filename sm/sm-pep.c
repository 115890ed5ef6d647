/* sm-pep.c: sm's half of PEP (XEP-0163), which junction-pubsub serves.
 *
 * Every account is a virtual pubsub service on its bare JID, but only sm
 * may send from user@domain, so sm relays (docs/components.md section 8,
 * urn:junction:pep:1): an iq to an account's bare JID in the pubsub
 * namespaces (a client's iq without 'to' becomes one), disco#info of one
 * of its nodes and disco#items of the account, and answers to pubsub's
 * caps questions (ids starting "caps-") go to pubsub wrapped in <pep
 * service='BARE'/>; what pubsub sends back in the same envelope leaves
 * from the bare JID. sm also tells pubsub who is available to the
 * account with which XEP-0115 caps: the account's own resources and
 * contacts that may see its presence (roster subscription from or both),
 * on becoming available, changing caps and leaving. It remembers what it
 * said, to say it again (replay='true') when pubsub comes back, and to
 * say "unavailable" only about contacts it announced.
 *
 * When the account moves to another sm instance (scale-out or scale-in),
 * what was said about it moves too (sm_pep_hand_over(), sm-handover.c).
 *
 * When no trusted stream holds the pubsub domain, sm answers as if PEP
 * did not exist (service-unavailable; disco without PEP).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jid.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

#define SM_NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define SM_NS_PUBSUB_OWNER "http://jabber.org/protocol/pubsub#owner"
#define SM_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define SM_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define SM_NS_CAPS "http://jabber.org/protocol/caps"
/* Contacts remembered per sm instance (announced as available). */
#define SM_PEP_CONTACTS_MAX 100000

/* A contact (full JID) announced available to service, with its caps. */
struct sm_pep_contact {
	struct sm_pep_contact *next;
	char *service, *jid;
	char *node, *ver, *hash; /* the caps; NULL without */
};

struct sm_pep {
	char *pubsub; /* the pubsub service's domain */
	struct sm_pep_contact *contacts;
	size_t n_contacts;
};

/* The PEP features an account offers (XEP-0163 section 9, XEP-0060 10). */
static const char *const sm_pep_features[] = {
	"access-authorize", "access-open",     "access-presence",  "access-roster",
	"access-whitelist", "auto-create",     "auto-subscribe",   "config-node",
	"create-and-configure", "create-nodes", "delete-items",    "delete-nodes",
	"filtered-notifications", "item-ids",  "last-published",   "multi-items",
	"persistent-items", "publish",         "publish-options",  "purge-nodes",
	"retract-items",    "retrieve-affiliations", "retrieve-items", "retrieve-subscriptions",
	"rsm",              "subscribe",       NULL,
};

void sm_pep_init(struct sm *sm)
{
	size_t n;
	const char *const *d = config_get_list(sm->config, "pubsub", "domain", &n);
	struct buf name = {0};

	sm->pep = xcalloc(1, sizeof(*sm->pep));
	if (n > 0) {
		sm->pep->pubsub = xstrdup(d[0]);
	} else {
		/* pubsub's own default (pubsub/main.c): pubsub.FIRSTDOMAIN */
		d = config_get_list(sm->config, "junction", "domains", &n);
		buf_printf(&name, "pubsub.%s", d[0]);
		sm->pep->pubsub = buf_steal(&name);
	}
}

static void sm_pep_contact_free(struct sm_pep_contact *c)
{
	free(c->service);
	free(c->jid);
	free(c->node);
	free(c->ver);
	free(c->hash);
	free(c);
}

void sm_pep_free(struct sm *sm)
{
	if (sm->pep == NULL)
		return;
	while (sm->pep->contacts != NULL) {
		struct sm_pep_contact *c = sm->pep->contacts;
		sm->pep->contacts = c->next;
		sm_pep_contact_free(c);
	}
	free(sm->pep->pubsub);
	free(sm->pep);
	sm->pep = NULL;
}

/* Is junction-pubsub there (a trusted stream holds its name)? */
static bool sm_pep_up(const struct sm *sm)
{
	return peers_holds(&sm->peers, sm->pep->pubsub);
}

/* Send child to pubsub in an envelope for service (a bare JID). */
static void sm_pep_to_pubsub(struct sm *sm, const char *service, const struct stanza *child)
{
	struct stanza *m = stanza_new("message", STREAM_NS_COMPONENT);
	struct stanza *pep = stanza_add_child(m, "pep", SM_NS_PEP);
	const char *at = strchr(service, '@');

	stanza_set_attr(m, "from", at != NULL ? at + 1 : service);
	stanza_set_attr(m, "to", sm->pep->pubsub);
	stanza_set_attr(pep, "service", service);
	stanza_append_copy(pep, child);
	sm_send(sm, m);
	stanza_unref(&m);
}

static bool sm_pep_ns(const struct stanza *q, const char *ns, const char *name)
{
	return strcmp(q->ns, ns) == 0 && strcmp(q->name, name) == 0;
}

bool sm_pep_iq(struct sm *sm, const char *bare, struct stanza *iq)
{
	const char *type = stanza_get_attr(iq, "type");
	const char *id = stanza_get_attr(iq, "id");
	struct stanza *q = stanza_child_element(iq, 0);

	if (type == NULL || !sm_pep_up(sm))
		return false;
	if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
		/* An answer to pubsub's caps question, asked from bare. */
		if (id == NULL || strncmp(id, "caps-", 5) != 0)
			return false;
		sm_pep_to_pubsub(sm, bare, iq);
		return true;
	}
	if (q == NULL || stanza_count_child_elements(iq) != 1 ||
	    !(sm_pep_ns(q, SM_NS_PUBSUB, "pubsub") || sm_pep_ns(q, SM_NS_PUBSUB_OWNER, "pubsub")))
		return false;
	if (store_account_exists(sm->store, bare) != STORE_OK)
		return false; /* answered as for any unknown account */
	sm_pep_to_pubsub(sm, bare, iq);
	return true;
}

bool sm_pep_disco(struct sm *sm, const char *bare, struct stanza *iq, struct stanza *q)
{
	struct stanza *copy;

	if (!sm_pep_up(sm))
		return false;
	if (strcmp(q->ns, SM_NS_DISCO_INFO) == 0) {
		if (stanza_get_attr(q, "node") == NULL)
			return false; /* the account's own info: sm answers */
		sm_pep_to_pubsub(sm, bare, iq);
		return true;
	}
	/* disco#items: the account's available resources (sm's to know),
	 * passed along as items for pubsub to add its nodes to. */
	copy = stanza_copy(iq);
	q = stanza_child_element(copy, 0);
	for (struct sm_session *s = sm->sessions; stanza_get_attr(q, "node") == NULL && s != NULL;
	     s = s->next) {
		if (s->available && strcmp(s->bare, bare) == 0)
			stanza_set_attr(stanza_add_child(q, "item", NULL), "jid", s->full);
	}
	sm_pep_to_pubsub(sm, bare, copy);
	stanza_unref(&copy);
	return true;
}

void sm_pep_disco_info(const struct sm *sm, struct stanza *query)
{
	struct stanza *id;

	if (!sm_pep_up(sm))
		return;
	id = stanza_add_child(query, "identity", NULL);
	stanza_set_attr(id, "category", "pubsub");
	stanza_set_attr(id, "type", "pep");
	stanza_set_attr(stanza_add_child(query, "feature", NULL), "var", SM_NS_PUBSUB);
	for (size_t i = 0; sm_pep_features[i] != NULL; i++) {
		struct buf var = {0};
		buf_printf(&var, "%s#%s", SM_NS_PUBSUB, sm_pep_features[i]);
		stanza_set_attr(stanza_add_child(query, "feature", NULL), "var", var.data);
		buf_free(&var);
	}
}

void sm_pep_from_pubsub(struct sm *sm, struct stanza *msg)
{
	const char *from = stanza_get_attr(msg, "from"), *type = stanza_get_attr(msg, "type");
	const char *to = stanza_get_attr(msg, "to");
	struct stanza *pep = stanza_child_element(msg, 0);
	struct stanza *inner = pep != NULL ? stanza_child_element(pep, 0) : NULL;
	struct stanza *out;
	struct jid jid;

	if (inner == NULL || from == NULL || to == NULL || strcmp(from, sm->pep->pubsub) != 0)
		return;
	if (type != NULL && strcmp(type, "error") == 0) {
		/* Our envelope came back (the router bounces it from the
		 * pubsub name, which nobody else may send from): pubsub is not
		 * there. Answer the request it carried, as the account. */
		if (strcmp(inner->name, "iq") == 0) {
			out = stanza_copy(inner);
			stanza_rename_ns(out, inner->ns, STREAM_NS_COMPONENT);
			sm_bounce(sm, out, "cancel", "service-unavailable");
			stanza_unref(&out);
		}
		return;
	}
	if (!sm_peers_trusted(sm, from) ||
	    jid_parse(to, -1, &jid) != JID_OK)
		return;
	char *service = jid.node != NULL ? jid_bare_string(&jid) : NULL;
	jid_clear(&jid);
	if (service == NULL)
		return;
	out = stanza_copy(inner);
	if (strcmp(out->ns, STREAM_NS_COMPONENT) != 0)
		stanza_rename_ns(out, inner->ns, STREAM_NS_COMPONENT);
	stanza_set_attr(out, "from", service);
	sm_send(sm, out);
	stanza_unref(&out);
	free(service);
}

static struct sm_pep_contact **sm_pep_find(struct sm *sm, const char *service, const char *jid)
{
	struct sm_pep_contact **p;

	for (p = &sm->pep->contacts; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->service, service) == 0 && strcmp((*p)->jid, jid) == 0)
			break;
	}
	return p;
}

static void sm_pep_notice(struct sm *sm, const struct sm_pep_contact *c, bool available,
			  bool replay)
{
	struct stanza *p = stanza_new("presence", SM_NS_PEP);

	stanza_set_attr(p, "jid", c->jid);
	if (!available)
		stanza_set_attr(p, "type", "unavailable");
	stanza_set_attr(p, "node", c->node);
	stanza_set_attr(p, "ver", c->ver);
	stanza_set_attr(p, "hash", c->hash);
	if (replay)
		stanza_set_attr(p, "replay", "true");
	sm_pep_to_pubsub(sm, c->service, p);
	stanza_unref(&p);
}

static char *sm_pep_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* A new contact of service, remembered first in the list. */
static struct sm_pep_contact *sm_pep_contact_new(struct sm *sm, const char *service,
						 const char *jid)
{
	struct sm_pep_contact *c = xcalloc(1, sizeof(*c));

	c->service = xstrdup(service);
	c->jid = xstrdup(jid);
	c->next = sm->pep->contacts;
	sm->pep->contacts = c;
	sm->pep->n_contacts++;
	return c;
}

static void sm_pep_contact_caps(struct sm_pep_contact *c, const char *node, const char *ver,
				const char *hash)
{
	free(c->node);
	free(c->ver);
	free(c->hash);
	c->node = sm_pep_dup(node);
	c->ver = sm_pep_dup(ver);
	c->hash = sm_pep_dup(hash);
}

static bool sm_pep_same(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* May contact (a bare JID) be told about service's PEP: it is the
 * account itself, or may see its presence. */
static bool sm_pep_entitled(struct sm *sm, const char *service, const char *contact)
{
	struct store_roster_item item = {0};
	bool ok = false;

	if (strcmp(service, contact) == 0)
		return true;
	if (store_roster_get_item(sm->store, service, contact, &item) == STORE_OK) {
		ok = (item.subscription & STORE_SUB_FROM) != 0;
		store_roster_item_clear(&item);
	}
	return ok;
}

void sm_pep_presence(struct sm *sm, const char *service, const char *from,
		     const struct stanza *presence)
{
	const char *type = stanza_get_attr(presence, "type");
	bool available = type == NULL;
	const struct stanza *caps = stanza_find_child(presence, "c", SM_NS_CAPS);
	struct sm_pep_contact **p, *c;
	struct jid jid;

	if (sm->pep == NULL || from == NULL || (type != NULL && strcmp(type, "unavailable") != 0) ||
	    jid_parse(from, -1, &jid) != JID_OK)
		return;
	char *full = jid.resource != NULL ? jid_full_string(&jid) : NULL;
	char *bare = jid_bare_string(&jid);
	jid_clear(&jid);
	if (full == NULL)
		goto out;
	p = sm_pep_find(sm, service, full);
	c = *p;
	if (!available) {
		if (c != NULL) {
			*p = c->next;
			sm->pep->n_contacts--;
			sm_pep_notice(sm, c, false, false);
			sm_pep_contact_free(c);
		}
		goto out;
	}
	/* Available: tell pubsub when it is new or its caps changed. */
	const char *node = caps != NULL ? stanza_get_attr(caps, "node") : NULL;
	const char *ver = caps != NULL ? stanza_get_attr(caps, "ver") : NULL;
	const char *hash = caps != NULL ? stanza_get_attr(caps, "hash") : NULL;
	if (c != NULL && sm_pep_same(c->node, node) && sm_pep_same(c->ver, ver) &&
	    sm_pep_same(c->hash, hash))
		goto out;
	if (c == NULL) {
		if (ver == NULL || sm->pep->n_contacts >= SM_PEP_CONTACTS_MAX ||
		    !sm_pep_entitled(sm, service, bare))
			goto out; /* nothing pubsub could use */
		c = sm_pep_contact_new(sm, service, full);
	}
	sm_pep_contact_caps(c, node, ver, hash);
	if (sm_pep_up(sm))
		sm_pep_notice(sm, c, true, false);
out:
	free(full);
	free(bare);
}

void sm_pep_peer_bound(struct sm *sm, const char *name)
{
	if (sm->pep == NULL || strcmp(name, sm->pep->pubsub) != 0)
		return;
	/* pubsub (re)started: it knows nobody's presence. */
	for (const struct sm_pep_contact *c = sm->pep->contacts; c != NULL; c = c->next)
		sm_pep_notice(sm, c, true, true);
}

/* Is service (a bare JID) an account of domain? */
static bool sm_pep_in_domain(const char *service, const char *domain)
{
	const char *at = strchr(service, '@');
	return at != NULL && strcmp(at + 1, domain) == 0;
}

struct stanza *sm_pep_hand_over(struct sm *sm, const char *domain, const char *instance)
{
	struct stanza *out = NULL;

	for (struct sm_pep_contact **p = &sm->pep->contacts; *p != NULL;) {
		struct sm_pep_contact *c = *p;
		const char *owner = sm_pep_in_domain(c->service, domain)
					    ? sm_scale_owner(sm, c->service)
					    : NULL;
		if (owner == NULL || strcmp(owner, instance) != 0) {
			p = &c->next;
			continue;
		}
		if (out == NULL)
			out = stanza_new("contacts", SM_NS_SESSION);
		struct stanza *e = stanza_add_child(out, "contact", NULL);
		stanza_set_attr(e, "service", c->service);
		stanza_set_attr(e, "jid", c->jid);
		stanza_set_attr(e, "node", c->node);
		stanza_set_attr(e, "ver", c->ver);
		stanza_set_attr(e, "hash", c->hash);
		*p = c->next;
		sm->pep->n_contacts--;
		sm_pep_contact_free(c);
	}
	return out;
}

void sm_pep_take_over(struct sm *sm, const struct stanza *contact)
{
	const char *service = stanza_get_attr(contact, "service");
	const char *jid = stanza_get_attr(contact, "jid");

	if (service == NULL || jid == NULL || sm->pep->n_contacts >= SM_PEP_CONTACTS_MAX)
		return;
	struct sm_pep_contact *c = *sm_pep_find(sm, service, jid);
	if (c == NULL)
		c = sm_pep_contact_new(sm, service, jid);
	sm_pep_contact_caps(c, stanza_get_attr(contact, "node"), stanza_get_attr(contact, "ver"),
			    stanza_get_attr(contact, "hash"));
}

void sm_pep_account_deleted(struct sm *sm, const char *bare)
{
	struct stanza *del = stanza_new("delete", SM_NS_PEP);

	for (struct sm_pep_contact **p = &sm->pep->contacts; *p != NULL;) {
		struct sm_pep_contact *c = *p;
		if (strcmp(c->service, bare) == 0) {
			*p = c->next;
			sm->pep->n_contacts--;
			sm_pep_contact_free(c);
		} else {
			p = &c->next;
		}
	}
	sm_pep_to_pubsub(sm, bare, del);
	stanza_unref(&del);
}
