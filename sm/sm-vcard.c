/* sm-vcard.c: vcard-temp (XEP-0054) and the avatar hash in presence
 * (XEP-0153), answered by sm on the account's behalf.
 *
 * An account sets its own vCard (iq set without 'to' or to its bare JID)
 * and anyone may get it from the bare JID. A vCard is stored as the bytes
 * of the <vCard/> element, up to [sm] vcard_max_bytes (larger ones are
 * not-acceptable), with the SHA-1 of its decoded PHOTO/BINVAL. Setting
 * another account's vCard is forbidden. Getting one that is not stored
 * answers service-unavailable whether the account exists or not (RFC 6121
 * 8.5.1: only a vCard the owner published tells that the account exists);
 * the owner gets an empty <vCard/>. sm writes the hash into every
 * available presence the account broadcasts, <x xmlns='vcard-temp:x:update'>
 * with <photo>HASH</photo> (empty when there is no photo), replacing what
 * the client wrote, and re-broadcasts the sessions' presence when a new
 * vCard changes the hash.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "digest.h"
#include "log.h"
#include "scram.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

#define SM_NS_VCARD_UPDATE "vcard-temp:x:update"

/* The hash of the vCard's PHOTO/BINVAL into hash (NUL-terminated) or ""
 * when it has none; -1 when BINVAL is not base64. */
static int sm_vcard_photo_hash(const struct stanza *vcard, char hash[DIGEST_SHA1_HEX_LEN + 1])
{
	struct stanza *photo = stanza_find_child(vcard, "PHOTO", SM_NS_VCARD);
	struct stanza *binval =
		photo != NULL ? stanza_find_child(photo, "BINVAL", SM_NS_VCARD) : NULL;
	size_t len = 0;

	hash[0] = '\0';
	if (binval == NULL)
		return 0;
	/* Base64 in a vCard is usually wrapped in lines: drop white space. */
	char *text = stanza_text(binval);
	for (const char *p = text; *p != '\0'; p++)
		if (!isspace((unsigned char)*p))
			text[len++] = *p;
	text[len] = '\0';
	unsigned char *data = xmalloc(len / 4 * 3 + 3);
	long n = len > 0 ? scram_base64_decode(text, len, data) : 0;
	if (n > 0)
		digest_sha1_hex(data, (size_t)n, hash);
	free(data);
	free(text);
	return n < 0 ? -1 : 0;
}

void sm_vcard_presence(struct sm *sm, const char *bare, struct stanza *presence)
{
	char *hash = NULL;
	int r = store_vcard_get(sm->store, bare, NULL, NULL, &hash);
	struct stanza *x;

	if (r != STORE_OK && r != STORE_ERR_NOT_FOUND) {
		JLOG_ERROR(0, "vCard of %s: %s", bare, store_error(sm->store));
		return;
	}
	while ((x = stanza_find_child(presence, "x", SM_NS_VCARD_UPDATE)) != NULL)
		stanza_remove_child(presence, x);
	x = stanza_add_child(presence, "x", SM_NS_VCARD_UPDATE);
	struct stanza *photo = stanza_add_child(x, "photo", NULL);
	if (hash != NULL)
		stanza_add_text(photo, hash, strlen(hash));
	free(hash);
}

/* The account's available sessions announce their presence again, now
 * with the new hash. */
static void sm_vcard_rebroadcast(struct sm *sm, const char *bare)
{
	for (struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (!s->available || s->presence == NULL || strcmp(s->bare, bare) != 0)
			continue;
		struct stanza *p = stanza_copy(s->presence);
		stanza_set_attr(p, "from", s->full);
		sm_presence_broadcast(sm, s, p);
		stanza_unref(&p);
	}
}

static void sm_vcard_set(struct sm *sm, struct stanza *iq, struct stanza *vcard, const char *bare)
{
	char hash[DIGEST_SHA1_HEX_LEN + 1];
	char *old_hash = NULL;
	struct buf b = {0};

	stanza_serialize(vcard, STREAM_NS_COMPONENT, &b);
	if (b.len > config_get_size(sm->config, "sm", "vcard_max_bytes")) {
		sm_bounce(sm, iq, "modify", "not-acceptable");
		goto out;
	}
	if (sm_vcard_photo_hash(vcard, hash) < 0) {
		sm_bounce(sm, iq, "modify", "bad-request");
		goto out;
	}
	int had = store_vcard_get(sm->store, bare, NULL, NULL, &old_hash);
	int r = store_vcard_set(sm->store, bare, b.data, b.len, hash[0] != '\0' ? hash : NULL);
	if (r != STORE_OK) {
		sm_info_store_failed(sm, iq, "storing the vCard", bare);
		goto out;
	}
	sm_info_ack(sm, iq);
	if (had != STORE_OK || strcmp(old_hash != NULL ? old_hash : "", hash) != 0)
		sm_vcard_rebroadcast(sm, bare);
out:
	free(old_hash);
	buf_free(&b);
}

static void sm_vcard_get(struct sm *sm, struct stanza *iq, const char *bare, bool own)
{
	char *xml = NULL;
	size_t len = 0;
	struct stanza *vcard = NULL;
	int r = bare != NULL ? store_vcard_get(sm->store, bare, &xml, &len, NULL)
			     : STORE_ERR_NOT_FOUND;

	if (r == STORE_OK && stanza_parse(xml, len, STREAM_NS_COMPONENT, &vcard) != 0)
		r = STORE_ERR_IO;
	if (r == STORE_OK || (r == STORE_ERR_NOT_FOUND && own)) {
		struct stanza *res = sm_iq_result(iq);
		if (vcard != NULL)
			stanza_append_copy(res, vcard);
		else
			stanza_add_child(res, "vCard", SM_NS_VCARD);
		sm_send(sm, res);
		stanza_unref(&res);
	} else if (r == STORE_ERR_NOT_FOUND) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
	} else {
		sm_info_store_failed(sm, iq, "vCard", bare);
	}
	stanza_unref(&vcard);
	free(xml);
}

void sm_vcard_iq(struct sm *sm, struct stanza *iq, struct stanza *vcard)
{
	char *requester = NULL, *bare = NULL;
	bool set = strcmp(stanza_get_attr(iq, "type"), "set") == 0;

	if (!sm_info_parties(iq, &requester, &bare)) {
		sm_bounce(sm, iq, "modify", "jid-malformed");
		return;
	}
	/* The server's own vCard (bare NULL) is empty and not settable. */
	bool own = bare != NULL && requester != NULL && strcmp(requester, bare) == 0;
	if (set && !own)
		sm_bounce(sm, iq, "auth", "forbidden");
	else if (set)
		sm_vcard_set(sm, iq, vcard, bare);
	else
		sm_vcard_get(sm, iq, bare, own || bare == NULL);
	free(requester);
	free(bare);
}
