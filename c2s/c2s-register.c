/* c2s-register.c: XEP-0077 in-band registration before authentication.
 *
 * c2s stores nothing: with [sm] registration on, it offers
 * <register xmlns='http://jabber.org/features/iq-register'/> once TLS is
 * up, and hands each jabber:iq:register iq of such a client to sm in a
 * <register/> envelope of the session protocol (docs/components.md section
 * 6) carrying the client's IP address, which sm's per-IP rate limit needs.
 * sm answers with the iq to write back, inside the same envelope. The
 * request is addressed to the stream's domain, which sm binds; like the
 * other requests to sm it has one outstanding per client and gives up
 * after C2S_SM_TIMEOUT_MS. With registration off, or before TLS, such an
 * iq gets service-unavailable and nothing reaches sm.
 */
#include <string.h>

#include "c2s.h"
#include "config.h"
#include "log.h"
#include "stanza.h"
#include "stream.h"

#define C2S_NS_REGISTER "jabber:iq:register"
#define C2S_NS_REGISTER_FEATURE "http://jabber.org/features/iq-register"

static bool c2s_register_on(const struct c2s_client *client)
{
	return (client->tls != NULL || client->outer_secure) &&
	       config_get_bool(client->c2s->config, "sm", "registration");
}

void c2s_register_features(struct c2s_client *client, struct buf *out)
{
	if (c2s_register_on(client))
		buf_printf(out, "<register xmlns='%s'/>", C2S_NS_REGISTER_FEATURE);
}

bool c2s_register_handle(struct c2s_client *client, const struct stanza *st)
{
	const char *type = stanza_get_attr(st, "type");
	struct stanza *q = stanza_child_element(st, 0);

	if (strcmp(st->name, "iq") != 0 || q == NULL || strcmp(q->ns, C2S_NS_REGISTER) != 0 ||
	    type == NULL || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
		return false;
	if (!c2s_register_on(client)) {
		c2s_client_error(client, st, "cancel", "service-unavailable", NULL);
		return true;
	}
	struct stanza *iq = c2s_sm_request(client, "set", client->domain, C2S_WAIT_REGISTER);
	struct stanza *env = stanza_add_child(iq, "register", C2S_NS_SESSION);
	stanza_set_attr(env, "ip", client->ip);
	stanza_append_copy(env, st);
	c2s_rewrite_ns(iq, STREAM_NS_CLIENT, STREAM_NS_COMPONENT);
	if (!c2s_sm_send(client->c2s, iq))
		client->req_deadline_ms = 0; /* the next tick fails it */
	stanza_unref(&iq);
	return true;
}

void c2s_register_reply(struct c2s_client *client, const struct stanza *reply)
{
	struct stanza *env = reply != NULL ? stanza_find_child(reply, "register", C2S_NS_SESSION)
					   : NULL;
	struct stanza *inner = env != NULL ? stanza_find_child(env, "iq", NULL) : NULL;
	const char *type = reply != NULL ? stanza_get_attr(reply, "type") : NULL;

	client->wait = C2S_WAIT_NONE;
	if (inner == NULL) {
		/* No answer in time, or the router bounced an envelope it
		 * could not deliver without its content. */
		c2s_client_close(client, "internal-server-error", "registration did not answer");
		return;
	}
	if (type != NULL && strcmp(type, "error") == 0) {
		/* The router bounced the envelope (sm away): the client's own
		 * iq came back inside. */
		struct stanza *copy = stanza_copy(inner);
		c2s_rewrite_ns(copy, STREAM_NS_COMPONENT, STREAM_NS_CLIENT);
		c2s_client_error(client, copy, "wait", "service-unavailable", NULL);
		stanza_unref(&copy);
		return;
	}
	struct stanza *copy = stanza_copy(inner);
	c2s_rewrite_ns(copy, STREAM_NS_COMPONENT, STREAM_NS_CLIENT);
	stanza_set_attr(copy, "to", NULL);
	stanza_set_attr(copy, "from", NULL);
	c2s_client_send_stanza(client, copy);
	stanza_unref(&copy);
}
