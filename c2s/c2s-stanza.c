/* c2s-stanza.c: stanzas from a client whose session is established.
 *
 * Every stanza gets 'from' = the session's full JID, whatever the client
 * wrote (a forged 'from' never passes). An iq must carry an id and a valid
 * type, and a get or set exactly one payload element (RFC 6120 8.2.3); a
 * message or presence must have no type or one RFC 6121 defines (5.2.2,
 * 4.7.1). Anything else gets bad-request (modify) and goes nowhere (RFC 6120
 * 8.3.3.1). Presence of type probe is a server's tool that clients SHOULD
 * NOT use (RFC 6121 4.3), not an invalid type, so it passes, as does
 * type error (a client answering a directed presence). A 'to' that is not
 * a JID gets jid-malformed. The legacy <session/> iq (RFC 3921) is answered
 * here with an empty result; everything else goes to sm (c2s-sm.c).
 */
#include <string.h>

#include "c2s.h"
#include "jid.h"
#include "log.h"
#include "stanza.h"
#include "stream.h"

static bool c2s_stanza_iq_valid(const struct stanza *st)
{
	const char *type = stanza_get_attr(st, "type");

	if (stanza_get_attr(st, "id") == NULL || type == NULL)
		return false;
	if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)
		return stanza_count_child_elements(st) == 1;
	return strcmp(type, "result") == 0 || strcmp(type, "error") == 0;
}

static bool c2s_stanza_type_in(const char *type, const char *const *allowed)
{
	if (type == NULL)
		return true; /* the default: normal message, available presence */
	for (; *allowed != NULL; allowed++) {
		if (strcmp(type, *allowed) == 0)
			return true;
	}
	return false;
}

/* RFC 6121 5.2.2 (message) and 4.7.1 (presence). */
static bool c2s_stanza_type_valid(const struct stanza *st)
{
	static const char *const message_types[] = {"chat", "error", "groupchat", "headline",
						     "normal", NULL};
	static const char *const presence_types[] = {"error",	    "probe",	   "subscribe",
						      "subscribed", "unavailable", "unsubscribe",
						      "unsubscribed", NULL};
	const char *type = stanza_get_attr(st, "type");

	if (strcmp(st->name, "message") == 0)
		return c2s_stanza_type_in(type, message_types);
	if (strcmp(st->name, "presence") == 0)
		return c2s_stanza_type_in(type, presence_types);
	return c2s_stanza_iq_valid(st);
}

/* An iq for the server itself: no 'to', or the bare domain. */
static bool c2s_stanza_for_server(const struct c2s_client *client, const char *to)
{
	return to == NULL || strcmp(to, client->domain) == 0;
}

static void c2s_stanza_result(struct c2s_client *client, const struct stanza *st)
{
	struct stanza *r = stanza_new("iq", STREAM_NS_CLIENT);

	stanza_set_attr(r, "type", "result");
	stanza_set_attr(r, "id", stanza_get_attr(st, "id"));
	stanza_set_attr(r, "to", client->full_jid);
	c2s_client_send_stanza(client, r);
	stanza_unref(&r);
}

void c2s_stanza_handle(struct c2s_client *client, struct stanza *st)
{
	const char *to = stanza_get_attr(st, "to");
	struct jid j;

	client->c2s->count.stanzas_in++;
	stanza_set_attr(st, "from", client->full_jid);
	if (to != NULL) {
		if (jid_parse(to, -1, &j) != JID_OK) {
			c2s_client_error(client, st, "modify", "jid-malformed", "invalid 'to'");
			return;
		}
		jid_clear(&j);
	}
	if (!c2s_stanza_type_valid(st)) {
		c2s_client_error(client, st, "modify", "bad-request",
				 strcmp(st->name, "iq") == 0 ? "invalid iq" : "invalid type");
		return;
	}
	if (strcmp(st->name, "iq") == 0) {
		const char *type = stanza_get_attr(st, "type");
		if (strcmp(type, "set") == 0 && c2s_stanza_for_server(client, to)) {
			if (stanza_find_child(st, "session", C2S_NS_LEGACY_SESSION) != NULL) {
				c2s_stanza_result(client, st);
				return;
			}
			if (stanza_find_child(st, "bind", C2S_NS_BIND) != NULL) {
				c2s_client_error(client, st, "cancel", "not-allowed",
						 "a resource is bound already");
				return;
			}
		}
	}
	c2s_sm_from_client(client, st);
	if (to != NULL)
		c2s_flow_sent_to(client, to, client->stanza_bytes);
}
