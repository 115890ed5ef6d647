/* c2s-bind.c: resource binding (RFC 6120 section 7) and the start of the
 * session at sm.
 *
 * After SASL the client must bind a resource before anything else; any
 * other stanza ends the stream with not-authorized (RFC 6120 7.1). The
 * resource is the client's (resourceprep'd through jid_parse) or, when it
 * asks for none, sixteen random hex digits. c2s then tells sm
 * action='start' and answers the client's bind iq only when sm confirms:
 * sm is where a conflicting session with the same full JID is ended. An
 * error or no answer from sm gives the client internal-server-error (wait),
 * or conflict when sm said so, and the client may try again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "digest.h"
#include "jid.h"
#include "log.h"
#include "stanza.h"
#include "stream.h"

static void c2s_bind_request(struct c2s_client *client, struct stanza *st,
			     const struct stanza *bind)
{
	const char *id = stanza_get_attr(st, "id");
	struct stanza *res = stanza_find_child(bind, "resource", C2S_NS_BIND);
	char *resource = res ? stanza_text(res) : NULL;
	char generated[17];
	struct buf s = {0};
	struct jid j;

	if (client->full_jid != NULL || client->wait != C2S_WAIT_NONE) {
		c2s_client_error(client, st, "cancel", "not-allowed", "already binding");
		goto out;
	}
	if (id == NULL) {
		c2s_client_error(client, st, "modify", "bad-request", "iq without id");
		goto out;
	}
	if (resource == NULL || resource[0] == '\0') {
		digest_random_hex(generated, (sizeof(generated) - 1) / 2);
		free(resource);
		resource = xstrdup(generated);
	}
	buf_printf(&s, "%s@%s/%s", client->user, client->domain, resource);
	if (jid_parse(s.data, (ssize_t)s.len, &j) != JID_OK) {
		c2s_client_error(client, st, "modify", "bad-request", "invalid resource");
		goto out;
	}
	if (j.resource == NULL || strcmp(j.domain, client->domain) != 0 ||
	    j.node == NULL || strcmp(j.node, client->user) != 0) {
		/* A '/' or '@' that moved the split: not a plain resource. */
		jid_clear(&j);
		c2s_client_error(client, st, "modify", "bad-request", "invalid resource");
		goto out;
	}
	client->full_jid = jid_full_string(&j);
	jid_clear(&j);
	snprintf(client->sid, sizeof(client->sid), "%s-%lu", client->c2s->instance, client->id);
	free(client->bind_iq_id);
	client->bind_iq_id = xstrdup(id);
	c2s_sm_session_start(client);
out:
	free(resource);
	buf_free(&s);
}

void c2s_bind_handle(struct c2s_client *client, struct stanza *st)
{
	const char *type = stanza_get_attr(st, "type");
	struct stanza *bind = stanza_find_child(st, "bind", C2S_NS_BIND);

	if (strcmp(st->name, "iq") == 0 && bind != NULL && type != NULL &&
	    strcmp(type, "set") == 0 && stanza_count_child_elements(st) == 1) {
		c2s_bind_request(client, st, bind);
		return;
	}
	if (strcmp(st->name, "iq") == 0 && bind != NULL) {
		c2s_client_error(client, st, "modify", "bad-request", NULL);
		return;
	}
	c2s_client_close(client, "not-authorized", "bind a resource first");
}

static bool c2s_bind_error_is(const struct stanza *reply, const char *condition)
{
	const struct stanza *e = stanza_find_child(reply, "error", NULL);
	return e != NULL && stanza_find_child(e, condition, STANZA_NS_STANZAS) != NULL;
}

void c2s_bind_session_reply(struct c2s_client *client, const struct stanza *reply)
{
	const char *type = reply ? stanza_get_attr(reply, "type") : NULL;
	struct stanza *iq;

	client->wait = C2S_WAIT_NONE;
	client->req_id[0] = '\0';
	if (type != NULL && strcmp(type, "result") == 0) {
		client->established = true;
		c2s_flow_established(client);
		iq = stanza_new("iq", STREAM_NS_CLIENT);
		stanza_set_attr(iq, "type", "result");
		stanza_set_attr(iq, "id", client->bind_iq_id);
		struct stanza *b = stanza_add_child(iq, "bind", C2S_NS_BIND);
		struct stanza *j = stanza_add_child(b, "jid", NULL);
		stanza_add_text(j, client->full_jid, strlen(client->full_jid));
		c2s_client_send_stanza(client, iq);
		stanza_unref(&iq);
		JLOG_INFO(client->id, "session %s started for %s", client->sid, client->full_jid);
	} else {
		bool conflict = reply != NULL && c2s_bind_error_is(reply, "conflict");
		JLOG_WARN(client->id, "sm refused session start for %s%s", client->full_jid,
			  reply == NULL ? " (no answer)" : "");
		if (reply == NULL)
			c2s_sm_session_end(client); /* in case sm acts on it late */
		client->session_sent = false;
		iq = stanza_new("iq", STREAM_NS_CLIENT);
		stanza_set_attr(iq, "type", "set");
		stanza_set_attr(iq, "id", client->bind_iq_id);
		stanza_add_child(iq, "bind", C2S_NS_BIND);
		struct stanza *err =
			stanza_error_reply(iq, conflict ? "cancel" : "wait",
					   conflict ? "conflict" : "internal-server-error", NULL);
		c2s_client_send_stanza(client, err);
		stanza_unref(&err);
		stanza_unref(&iq);
		free(client->full_jid);
		client->full_jid = NULL;
	}
	free(client->bind_iq_id);
	client->bind_iq_id = NULL;
}
