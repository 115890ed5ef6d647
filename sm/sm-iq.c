/* sm-iq.c: iq requests sm answers itself.
 *
 * For c2s (trusted peers only): credentials and session start/end
 * (urn:junction:session:1). For everyone: XEP-0199 ping and XEP-0030
 * disco#info of the server. Roster, vcard, private storage, blocking and
 * the rest each get a file of their own here (sm-roster.c, ...) and one
 * line in sm_iq_handle().
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

static void sm_iq_disco_info(struct sm *sm, struct stanza *iq)
{
	static const char *const features[] = {SM_NS_DISCO_INFO, SM_NS_PING};
	struct stanza *res = sm_iq_result(iq);
	struct stanza *q = stanza_add_child(res, "query", SM_NS_DISCO_INFO);
	struct stanza *id = stanza_add_child(q, "identity", NULL);

	stanza_set_attr(id, "category", "server");
	stanza_set_attr(id, "type", "im");
	stanza_set_attr(id, "name", "Junction");
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		stanza_set_attr(stanza_add_child(q, "feature", NULL), "var", features[i]);
	sm_send(sm, res);
	stanza_unref(&res);
}

bool sm_iq_handle(struct sm *sm, struct stanza *iq)
{
	struct stanza *q = stanza_child_element(iq, 0);
	const char *type = stanza_get_attr(iq, "type");
	const char *to = stanza_get_attr(iq, "to");
	bool get = type != NULL && strcmp(type, "get") == 0;
	bool to_server = to != NULL && strchr(to, '@') == NULL;

	if (q == NULL || stanza_count_child_elements(iq) != 1) {
		sm_bounce(sm, iq, "modify", "bad-request");
		return true;
	}
	if (strcmp(q->ns, SM_NS_SESSION) == 0) {
		if (get && strcmp(q->name, "credentials") == 0)
			sm_iq_credentials(sm, iq, q);
		else if (!get && strcmp(q->name, "session") == 0)
			sm_session_handle(sm, iq, q);
		else
			return false;
		return true;
	}
	if (strcmp(q->ns, SM_NS_ROSTER) == 0 && strcmp(q->name, "query") == 0) {
		sm_roster_iq(sm, iq, q);
		return true;
	}
	if (get && strcmp(q->ns, SM_NS_PING) == 0 && strcmp(q->name, "ping") == 0) {
		struct stanza *res = sm_iq_result(iq);
		sm_send(sm, res);
		stanza_unref(&res);
		return true;
	}
	if (get && to_server && strcmp(q->ns, SM_NS_DISCO_INFO) == 0 &&
	    strcmp(q->name, "query") == 0 && stanza_get_attr(q, "node") == NULL) {
		sm_iq_disco_info(sm, iq);
		return true;
	}
	return false;
}
