/* sm-iq.c: iq requests sm answers itself.
 *
 * For c2s (trusted peers only): credentials and session start/end
 * (urn:junction:session:1). For everyone: XEP-0199 ping and XEP-0030
 * disco#info and disco#items of the server, and of an account (answered
 * on its behalf: identity account/registered and its available resources)
 * for the account itself and contacts with a subscription to it; others
 * get service-unavailable, as if the account did not exist. For
 * Junction's own services (pubsub's access models): one roster item's
 * state, urn:junction:roster:1 (docs/components.md section 7). Roster, vcard, private storage, blocking and
 * the rest each get a file of their own here (sm-roster.c, sm-blocking.c,
 * sm-register.c, sm-adhoc.c, ...) and one line in sm_iq_handle().
 */
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "log.h"
#include "scram.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

#define SM_NS_PING "urn:xmpp:ping"
#define SM_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define SM_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define SM_NS_RELATION "urn:junction:roster:1"

struct stanza *sm_iq_result(const struct stanza *iq)
{
	struct stanza *r = stanza_new("iq", STREAM_NS_COMPONENT);

	stanza_set_attr(r, "type", "result");
	stanza_set_attr(r, "id", stanza_get_attr(iq, "id"));
	if (stanza_get_attr(iq, "to") != NULL)
		stanza_set_attr(r, "from", stanza_get_attr(iq, "to"));
	stanza_set_attr(r, "to", stanza_get_attr(iq, "from"));
	return r;
}

static void sm_iq_set_b64(struct stanza *st, const char *name, const unsigned char *data,
			  size_t len)
{
	char *b64 = scram_base64_encode(data, len);
	stanza_set_attr(st, name, b64);
	free(b64);
}

static void sm_iq_credentials(struct sm *sm, struct stanza *iq, struct stanza *q)
{
	const char *from = stanza_get_attr(iq, "from");
	const char *hash_s = stanza_get_attr(q, "hash");
	struct scram_credentials cred;
	struct jid jid;
	enum scram_hash hash;

	if (from == NULL || !sm_peers_trusted(sm, from)) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
		return;
	}
	if (hash_s != NULL && strcmp(hash_s, "SHA-1") == 0) {
		hash = SCRAM_SHA1;
	} else if (hash_s != NULL && strcmp(hash_s, "SHA-256") == 0) {
		hash = SCRAM_SHA256;
	} else {
		sm_bounce(sm, iq, "modify", "bad-request");
		return;
	}
	if (jid_parse(stanza_get_attr(iq, "to"), -1, &jid) != JID_OK || jid.node == NULL) {
		sm_bounce(sm, iq, "modify", "jid-malformed");
		return;
	}
	char *bare = jid_bare_string(&jid);
	jid_clear(&jid);
	int r = store_account_get_credentials(sm->store, bare, hash, &cred);
	if (r == STORE_ERR_NOT_FOUND) {
		sm_bounce(sm, iq, "cancel", "item-not-found");
	} else if (r != STORE_OK) {
		JLOG_ERROR(0, "credentials of %s: %s", bare, store_error(sm->store));
		sm_bounce(sm, iq, "wait", "internal-server-error");
	} else {
		struct stanza *res = sm_iq_result(iq);
		struct stanza *c = stanza_add_child(res, "credentials", SM_NS_SESSION);
		char iterations[16];
		snprintf(iterations, sizeof(iterations), "%u", cred.iterations);
		stanza_set_attr(c, "hash", scram_hash_name(hash));
		stanza_set_attr(c, "iterations", iterations);
		sm_iq_set_b64(c, "salt", cred.salt, cred.salt_len);
		sm_iq_set_b64(c, "stored-key", cred.stored_key, cred.key_len);
		sm_iq_set_b64(c, "server-key", cred.server_key, cred.key_len);
		sm_send(sm, res);
		stanza_unref(&res);
	}
	free(bare);
}

/* May the sender of iq learn about the account `bare` (RFC 6121 8.5.1 and
 * XEP-0030 security considerations): it exists, and the sender is the
 * account itself or a contact the account shares its presence with. */
bool sm_iq_account_visible(struct sm *sm, const struct stanza *iq, const char *bare)
{
	const char *from = stanza_get_attr(iq, "from");
	struct store_roster_item item = {0};
	struct jid jid;
	bool visible = false;

	if (store_account_exists(sm->store, bare) != STORE_OK || from == NULL ||
	    jid_parse(from, -1, &jid) != JID_OK)
		return false;
	char *requester = jid_bare_string(&jid);
	jid_clear(&jid);
	if (strcmp(requester, bare) == 0) {
		visible = true;
	} else if (store_roster_get_item(sm->store, bare, requester, &item) == STORE_OK) {
		visible = (item.subscription & STORE_SUB_FROM) != 0;
		store_roster_item_clear(&item);
	}
	free(requester);
	return visible;
}

static void sm_iq_disco_info(struct sm *sm, struct stanza *iq, bool account)
{
	static const char *const server_features[] = {SM_NS_DISCO_INFO, SM_NS_DISCO_ITEMS,
						      SM_NS_PING, "msgoffline", SM_NS_BLOCKING,
						      SM_NS_COMMANDS, SM_NS_VCARD, SM_NS_PRIVATE,
						      SM_NS_TIME, SM_NS_LAST};
	static const char *const account_features[] = {SM_NS_DISCO_INFO, SM_NS_DISCO_ITEMS};
	const char *const *features = account ? account_features : server_features;
	size_t n = account ? sizeof(account_features) / sizeof(account_features[0])
			   : sizeof(server_features) / sizeof(server_features[0]);
	struct stanza *res = sm_iq_result(iq);
	struct stanza *q = stanza_add_child(res, "query", SM_NS_DISCO_INFO);
	struct stanza *id = stanza_add_child(q, "identity", NULL);

	stanza_set_attr(id, "category", account ? "account" : "server");
	stanza_set_attr(id, "type", account ? "registered" : "im");
	if (!account)
		stanza_set_attr(id, "name", "Junction");
	for (size_t i = 0; i < n; i++)
		stanza_set_attr(stanza_add_child(q, "feature", NULL), "var", features[i]);
	if (!account && config_get_bool(sm->config, "sm", "registration"))
		stanza_set_attr(stanza_add_child(q, "feature", NULL), "var", SM_NS_REGISTER);
	if (account)
		sm_pep_disco_info(sm, q);
	if (!account && sm_info_version_enabled(sm))
		stanza_set_attr(stanza_add_child(q, "feature", NULL), "var", SM_NS_VERSION);
	sm_send(sm, res);
	stanza_unref(&res);
}

/* The server has no items yet (services announce themselves later); an
 * account's items are its available resources. */
static void sm_iq_disco_items(struct sm *sm, struct stanza *iq, const char *bare)
{
	struct stanza *res = sm_iq_result(iq);
	struct stanza *q = stanza_add_child(res, "query", SM_NS_DISCO_ITEMS);

	for (struct sm_session *s = sm->sessions; bare != NULL && s != NULL; s = s->next) {
		if (s->available && strcmp(s->bare, bare) == 0)
			stanza_set_attr(stanza_add_child(q, "item", NULL), "jid", s->full);
	}
	sm_send(sm, res);
	stanza_unref(&res);
}

/* urn:junction:roster:1: how the account `to` relates to one JID. */
static void sm_iq_relation(struct sm *sm, struct stanza *iq, struct stanza *q)
{
	static const char *const states[] = {"none", "to", "from", "both"};
	const char *from = stanza_get_attr(iq, "from");
	struct store_roster_item item = {0};
	struct jid asker, user, contact;
	char *user_bare = NULL, *contact_bare = NULL;

	if (from == NULL || jid_parse(from, -1, &asker) != JID_OK) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
		return;
	}
	bool trusted = peers_holds(&sm->peers, asker.domain);
	jid_clear(&asker);
	if (!trusted) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
		return;
	}
	const char *to = stanza_get_attr(iq, "to"), *about = stanza_get_attr(q, "jid");
	if (to == NULL || jid_parse(to, -1, &user) != JID_OK) {
		sm_bounce(sm, iq, "modify", "jid-malformed");
		return;
	}
	if (user.node == NULL || about == NULL || jid_parse(about, -1, &contact) != JID_OK) {
		jid_clear(&user);
		sm_bounce(sm, iq, "modify", "jid-malformed");
		return;
	}
	user_bare = jid_bare_string(&user);
	contact_bare = jid_bare_string(&contact);
	jid_clear(&user);
	jid_clear(&contact);
	if (store_account_exists(sm->store, user_bare) != STORE_OK) {
		sm_bounce(sm, iq, "cancel", "item-not-found");
		goto out;
	}
	int r = store_roster_get_item(sm->store, user_bare, contact_bare, &item);
	if (r != STORE_OK && r != STORE_ERR_NOT_FOUND) {
		sm_bounce(sm, iq, "wait", "internal-server-error");
		goto out;
	}
	struct stanza *res = sm_iq_result(iq);
	struct stanza *rel = stanza_add_child(res, "relation", SM_NS_RELATION);
	stanza_set_attr(rel, "jid", contact_bare);
	stanza_set_attr(rel, "subscription", states[r == STORE_OK ? item.subscription & 3 : 0]);
	for (size_t i = 0; r == STORE_OK && i < item.n_groups; i++) {
		struct stanza *g = stanza_add_child(rel, "group", NULL);
		stanza_add_text(g, item.groups[i], strlen(item.groups[i]));
	}
	sm_send(sm, res);
	stanza_unref(&res);
	store_roster_item_clear(&item);
out:
	free(user_bare);
	free(contact_bare);
}

/* XEP-0030 and XEP-0199 to the server or to an account's bare JID. */
static bool sm_iq_public(struct sm *sm, struct stanza *iq, struct stanza *q)
{
	const char *to = stanza_get_attr(iq, "to");
	struct jid jid;
	char *bare = NULL;

	if (jid_parse(to, -1, &jid) != JID_OK)
		return false;
	if (jid.node != NULL)
		bare = jid_bare_string(&jid);
	jid_clear(&jid);
	if (bare != NULL && !sm_iq_account_visible(sm, iq, bare)) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
	} else if (strcmp(q->ns, SM_NS_PING) == 0) {
		struct stanza *res = sm_iq_result(iq);
		sm_send(sm, res);
		stanza_unref(&res);
	} else if (bare != NULL && sm_pep_disco(sm, bare, iq, q)) {
		/* PEP nodes: relayed to pubsub (sm-pep.c) */
	} else if (stanza_get_attr(q, "node") != NULL) {
		sm_bounce(sm, iq, "cancel", "item-not-found");
	} else if (strcmp(q->ns, SM_NS_DISCO_INFO) == 0) {
		sm_iq_disco_info(sm, iq, bare != NULL);
	} else {
		sm_iq_disco_items(sm, iq, bare);
	}
	free(bare);
	return true;
}

/* XEP-0050 commands and their list, to the server (sm-adhoc.c). */
static bool sm_iq_adhoc(struct sm *sm, struct stanza *iq, struct stanza *q, bool get)
{
	const char *node = stanza_get_attr(q, "node");

	if (!get && strcmp(q->ns, SM_NS_COMMANDS) == 0 && strcmp(q->name, "command") == 0)
		sm_adhoc_command(sm, iq, q);
	else if (get && strcmp(q->ns, SM_NS_DISCO_ITEMS) == 0 && node != NULL &&
		 strcmp(node, SM_NS_COMMANDS) == 0)
		sm_adhoc_items(sm, iq);
	else
		return false;
	return true;
}

/* XEP-0054, XEP-0049 (get and set) and XEP-0092, -0202, -0012 (get). */
static bool sm_iq_account_services(struct sm *sm, struct stanza *iq, struct stanza *q, bool get)
{
	if (strcmp(q->ns, SM_NS_VCARD) == 0 && strcmp(q->name, "vCard") == 0)
		sm_vcard_iq(sm, iq, q);
	else if (strcmp(q->ns, SM_NS_PRIVATE) == 0 && strcmp(q->name, "query") == 0)
		sm_private_iq(sm, iq, q);
	else if (get && ((strcmp(q->ns, SM_NS_VERSION) == 0 && strcmp(q->name, "query") == 0) ||
			 (strcmp(q->ns, SM_NS_TIME) == 0 && strcmp(q->name, "time") == 0) ||
			 (strcmp(q->ns, SM_NS_LAST) == 0 && strcmp(q->name, "query") == 0)))
		sm_info_iq(sm, iq, q);
	else
		return false;
	return true;
}

bool sm_iq_handle(struct sm *sm, struct stanza *iq)
{
	struct stanza *q = stanza_child_element(iq, 0);
	const char *type = stanza_get_attr(iq, "type");
	bool get = type != NULL && strcmp(type, "get") == 0;

	if (q == NULL || stanza_count_child_elements(iq) != 1) {
		sm_bounce(sm, iq, "modify", "bad-request");
		return true;
	}
	if (strcmp(q->ns, SM_NS_SESSION) == 0) {
		if (get && strcmp(q->name, "credentials") == 0)
			sm_iq_credentials(sm, iq, q);
		else if (!get && strcmp(q->name, "session") == 0)
			sm_session_handle(sm, iq, q);
		else if (!get && strcmp(q->name, "register") == 0)
			sm_register_preauth(sm, iq, q);
		else
			return false;
		return true;
	}
	if (get && strcmp(q->ns, SM_NS_RELATION) == 0 && strcmp(q->name, "relation") == 0) {
		sm_iq_relation(sm, iq, q);
		return true;
	}
	const char *to = stanza_get_attr(iq, "to");
	if (to != NULL && strchr(to, '@') == NULL && sm_iq_adhoc(sm, iq, q, get))
		return true;
	if (strcmp(q->ns, SM_NS_REGISTER) == 0 && strcmp(q->name, "query") == 0) {
		sm_register_iq(sm, iq, q);
		return true;
	}
	if (strcmp(q->ns, SM_NS_BLOCKING) == 0) {
		sm_blocking_iq(sm, iq, q);
		return true;
	}
	if (strcmp(q->ns, SM_NS_ROSTER) == 0 && strcmp(q->name, "query") == 0) {
		sm_roster_iq(sm, iq, q);
		return true;
	}
	if (sm_iq_account_services(sm, iq, q, get))
		return true;
	if (get && ((strcmp(q->ns, SM_NS_PING) == 0 && strcmp(q->name, "ping") == 0) ||
		    ((strcmp(q->ns, SM_NS_DISCO_INFO) == 0 || strcmp(q->ns, SM_NS_DISCO_ITEMS) == 0) &&
		     strcmp(q->name, "query") == 0)))
		return sm_iq_public(sm, iq, q);
	return false;
}
