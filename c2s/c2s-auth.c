/* c2s-auth.c: STARTTLS and SASL negotiation (RFC 6120 sections 5 and 6) for
 * a client that has not authenticated yet.
 *
 * The mechanisms themselves are c2s-sasl.c's pure state machine; this file
 * carries its messages in <auth/>, <challenge/>, <response/>, <success/> and
 * <failure/>, fetches the account's SCRAM credentials from sm when the
 * machine asks for them (c2s-sm.c), and applies the login throttle
 * (c2s-throttle.c): past the free failures, the answer to an attempt (success
 * or failure alike) is held, with the client's reads stopped, and written by
 * the c2s timer when the hold ends.
 *
 * With require_tls, SASL is not offered before TLS; an <auth/> sent anyway
 * gets <failure><encryption-required/></failure> and the stream stays open,
 * so the client may still do STARTTLS.
 *
 * RFC 6120 6.4.5: a stream allows [c2s] auth_max_failures failed attempts
 * (temporary-auth-failure, our own fault, does not count); the <failure/>
 * of the last one is followed by a policy-violation stream error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "conn.h"
#include "jid.h"
#include "log.h"
#include "stanza.h"
#include "stream.h"
#include "tls.h"

static void c2s_auth_config(const struct c2s_client *client, struct c2s_sasl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->domain = client->domain;
	cfg->secret = client->c2s->sasl_secret;
	cfg->secret_len = sizeof(client->c2s->sasl_secret);
	/* An unknown account's fake challenge shows the count real accounts
	 * get, so the two cannot be told apart. */
	cfg->iterations = SCRAM_DEFAULT_ITERATIONS;
	cfg->plain_allowed = true;
}

void c2s_auth_features(struct c2s_client *client, struct buf *out)
{
	struct c2s_sasl_config cfg;
	const char *names[C2S_SASL_MAX_MECHANISMS];
	const char *cbs[2];

	c2s_auth_config(client, &cfg);
	c2s_sasl_tls_from(client->tls != NULL ? client->tls : client->outer_tls, &client->sasl_tls);
	size_t n = c2s_sasl_mechanisms(&cfg, &client->sasl_tls, names);
	buf_printf(out, "<mechanisms xmlns='%s'>", C2S_NS_SASL);
	for (size_t i = 0; i < n; i++)
		buf_printf(out, "<mechanism>%s</mechanism>", names[i]);
	buf_append_str(out, "</mechanisms>");
	size_t ncb = c2s_sasl_channel_bindings(&client->sasl_tls, cbs);
	if (ncb > 0) {
		/* XEP-0440: which channel-binding types -PLUS may use. */
		buf_append_str(out, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
		for (size_t i = 0; i < ncb; i++)
			buf_printf(out, "<channel-binding type='%s'/>", cbs[i]);
		buf_append_str(out, "</sasl-channel-binding>");
	}
}

void c2s_auth_clear(struct c2s_client *client)
{
	c2s_sasl_free(&client->sasl);
	free(client->sasl_user);
	client->sasl_user = NULL;
	free(client->user);
	client->user = NULL;
	buf_free(&client->held);
}

/* A <failure/> was written: end the stream once the client has used up
 * its attempts. */
static void c2s_auth_count_failure(struct c2s_client *client, const char *condition)
{
	client->c2s->count.logins_failed++;
	if (strcmp(condition, "temporary-auth-failure") == 0)
		return;
	if (++client->sasl_failures < client->c2s->auth_max_failures)
		return;
	c2s_client_close(client, "policy-violation", "too many failed authentication attempts");
}

static void c2s_auth_failure_now(struct c2s_client *client, const char *condition)
{
	struct buf b = {0};

	buf_printf(&b, "<failure xmlns='%s'><%s/></failure>", C2S_NS_SASL, condition);
	c2s_client_send(client, b.data, b.len);
	buf_free(&b);
	c2s_sasl_free(&client->sasl);
	free(client->sasl_user);
	client->sasl_user = NULL;
	c2s_auth_count_failure(client, condition);
}

static void c2s_auth_account_key(const struct c2s_client *client, struct buf *key)
{
	buf_printf(key, "user:%s@%s", client->sasl_user, client->domain);
}

/* Write the held answer; on success, authenticate and restart the stream.
 * from_parser: called inside the parser's callback, where the reset must
 * wait until xml_parser_feed() returns. */
static void c2s_auth_finish(struct c2s_client *client, bool from_parser)
{
	client->wait = C2S_WAIT_NONE;
	c2s_client_send(client, client->held.data, client->held.len);
	buf_free(&client->held);
	c2s_sasl_free(&client->sasl);
	c2s_flow_resume(client, C2S_PAUSE_HOLD);
	if (client->held_success) {
		client->c2s->count.logins_ok++;
		client->authenticated = true;
		client->user = client->sasl_user;
		client->sasl_user = NULL;
		JLOG_INFO(client->id, "%s@%s authenticated from %s", client->user, client->domain,
			  client->peer);
		if (from_parser) {
			client->restart = true;
		} else {
			client->transport->restart(client);
			client->state = C2S_CLIENT_HEADER;
			client->header_sent = false;
		}
	} else {
		free(client->sasl_user);
		client->sasl_user = NULL;
		c2s_auth_count_failure(client, client->held_condition);
	}
}

void c2s_auth_release(struct c2s_client *client)
{
	c2s_auth_finish(client, false);
}

/* The attempt is over (r is SUCCESS or a failure): answer now, or hold the
 * answer when this IP or account has failed too often lately. */
static void c2s_auth_outcome(struct c2s_client *client, int r, const struct buf *out,
			     bool from_parser)
{
	struct c2s *c2s = client->c2s;
	struct c2s_throttle *t = c2s->throttle;
	uint64_t now = uv_now(c2s->loop);
	struct buf ip_key = {0}, user_key = {0};
	uint64_t delay;

	buf_printf(&ip_key, "ip:%s", client->ip);
	delay = c2s_throttle_delay_ms(t, ip_key.data, now);
	if (client->sasl_user != NULL) {
		c2s_auth_account_key(client, &user_key);
		uint64_t d = c2s_throttle_delay_ms(t, user_key.data, now);
		if (d > delay)
			delay = d;
	}

	buf_reset(&client->held);
	client->held_success = r == C2S_SASL_SUCCESS;
	if (r == C2S_SASL_SUCCESS) {
		buf_printf(&client->held, "<success xmlns='%s'>", C2S_NS_SASL);
		c2s_sasl_encode(out->data ? (const unsigned char *)out->data : NULL, out->len,
				&client->held);
		buf_append_str(&client->held, "</success>");
		if (user_key.data != NULL)
			c2s_throttle_success(t, user_key.data);
	} else {
		const char *condition = c2s_sasl_condition(r);
		JLOG_INFO(client->id, "SASL %s for %s@%s from %s failed: %s (%s)",
			  client->sasl ? c2s_sasl_mechanism(client->sasl) : "?",
			  client->sasl_user ? client->sasl_user : "?", client->domain,
			  client->peer, condition,
			  client->sasl ? c2s_sasl_reason(client->sasl) : "");
		buf_printf(&client->held, "<failure xmlns='%s'><%s/></failure>", C2S_NS_SASL,
			   condition);
		client->held_condition = condition;
		if (r != C2S_SASL_TEMPORARY_AUTH_FAILURE) {
			c2s_throttle_failure(t, ip_key.data, now);
			if (user_key.data != NULL)
				c2s_throttle_failure(t, user_key.data, now);
		}
	}
	buf_free(&ip_key);
	buf_free(&user_key);
	if (delay == 0) {
		c2s_auth_finish(client, from_parser);
		return;
	}
	JLOG_INFO(client->id, "holding the SASL answer to %s for %llums (throttled)", client->ip,
		  (unsigned long long)delay);
	client->wait = C2S_WAIT_HOLD;
	client->hold_until_ms = now + delay;
	c2s_flow_pause(client, C2S_PAUSE_HOLD);
}

/* Ask sm for the credentials of the account the mechanism named. A
 * username that is not a valid localpart gets the fake exchange at once. */
static void c2s_auth_need_credentials(struct c2s_client *client, bool from_parser);

static void c2s_auth_result(struct c2s_client *client, int r, struct buf *out, bool from_parser)
{
	struct buf b = {0};

	switch (r) {
	case C2S_SASL_CONTINUE:
		buf_printf(&b, "<challenge xmlns='%s'>", C2S_NS_SASL);
		c2s_sasl_encode((const unsigned char *)out->data, out->len, &b);
		buf_append_str(&b, "</challenge>");
		c2s_client_send(client, b.data, b.len);
		buf_free(&b);
		break;
	case C2S_SASL_NEED_CREDENTIALS:
		c2s_auth_need_credentials(client, from_parser);
		break;
	default:
		c2s_auth_outcome(client, r, out, from_parser);
		break;
	}
}

static void c2s_auth_need_credentials(struct c2s_client *client, bool from_parser)
{
	const char *username = c2s_sasl_username(client->sasl);
	struct buf s = {0};
	struct jid j;
	bool ok = false;

	if (username != NULL) {
		buf_printf(&s, "%s@%s", username, client->domain);
		if (jid_parse(s.data, (ssize_t)s.len, &j) == JID_OK) {
			ok = j.node != NULL && j.resource == NULL &&
			     strcmp(j.domain, client->domain) == 0;
			if (ok) {
				free(client->sasl_user);
				client->sasl_user = j.node;
				j.node = NULL;
			}
			jid_clear(&j);
		}
	}
	buf_free(&s);
	if (!ok) {
		struct buf out = {0};
		int r = c2s_sasl_set_credentials(client->sasl, NULL, &out);
		c2s_auth_result(client, r, &out, from_parser);
		buf_free(&out);
		return;
	}
	c2s_sm_request_credentials(client, client->sasl_user,
				   scram_hash_name(c2s_sasl_hash(client->sasl)));
}

static int c2s_auth_decode_attr(const struct stanza *st, const char *name, unsigned char *out,
				size_t cap, size_t *len_r)
{
	const char *v = stanza_get_attr(st, name);

	if (v == NULL || strlen(v) / 4 * 3 > cap)
		return -1;
	long n = scram_base64_decode(v, strlen(v), out);
	if (n < 0)
		return -1;
	*len_r = (size_t)n;
	return 0;
}

/* <credentials hash= iterations= salt= stored-key= server-key=/> */
static int c2s_auth_parse_credentials(const struct stanza *reply, enum scram_hash hash,
				      struct scram_credentials *cred)
{
	const struct stanza *c = stanza_find_child(reply, "credentials", C2S_NS_SESSION);
	const char *h = c ? stanza_get_attr(c, "hash") : NULL;
	const char *it = c ? stanza_get_attr(c, "iterations") : NULL;
	unsigned char key[SCRAM_MAX_KEY + 3];
	size_t len;
	char *end;

	memset(cred, 0, sizeof(*cred));
	if (h == NULL || strcmp(h, scram_hash_name(hash)) != 0 || it == NULL)
		return -1;
	cred->hash = hash;
	cred->key_len = scram_hash_len(hash);
	unsigned long iterations = strtoul(it, &end, 10);
	if (*end != '\0' || iterations == 0 || iterations > 0x7fffffffUL)
		return -1;
	cred->iterations = (unsigned)iterations;
	if (c2s_auth_decode_attr(c, "salt", cred->salt, sizeof(cred->salt), &cred->salt_len) < 0 ||
	    cred->salt_len == 0)
		return -1;
	if (c2s_auth_decode_attr(c, "stored-key", key, sizeof(key), &len) < 0 ||
	    len != cred->key_len)
		return -1;
	memcpy(cred->stored_key, key, len);
	if (c2s_auth_decode_attr(c, "server-key", key, sizeof(key), &len) < 0 ||
	    len != cred->key_len)
		return -1;
	memcpy(cred->server_key, key, len);
	return 0;
}

static bool c2s_auth_is_item_not_found(const struct stanza *reply)
{
	const struct stanza *e = stanza_find_child(reply, "error", NULL);
	return e != NULL && stanza_find_child(e, "item-not-found", STANZA_NS_STANZAS) != NULL;
}

void c2s_auth_credentials(struct c2s_client *client, const struct stanza *reply)
{
	struct scram_credentials cred;
	struct buf out = {0};
	const char *type = reply ? stanza_get_attr(reply, "type") : NULL;
	int r;

	client->wait = C2S_WAIT_NONE;
	client->req_id[0] = '\0';
	if (client->sasl == NULL)
		return;
	if (reply == NULL) {
		r = C2S_SASL_TEMPORARY_AUTH_FAILURE;
	} else if (type != NULL && strcmp(type, "result") == 0) {
		if (c2s_auth_parse_credentials(reply, c2s_sasl_hash(client->sasl), &cred) < 0) {
			JLOG_WARN(client->id, "malformed credentials from %s",
				  stanza_get_attr(reply, "from") ? stanza_get_attr(reply, "from")
								 : "?");
			r = C2S_SASL_TEMPORARY_AUTH_FAILURE;
		} else {
			r = c2s_sasl_set_credentials(client->sasl, &cred, &out);
		}
	} else if (c2s_auth_is_item_not_found(reply)) {
		r = c2s_sasl_set_credentials(client->sasl, NULL, &out);
	} else {
		JLOG_WARN(client->id, "credentials request failed (sm not reachable?)");
		r = C2S_SASL_TEMPORARY_AUTH_FAILURE;
	}
	c2s_auth_result(client, r, &out, false);
	buf_free(&out);
}

/* <auth mechanism=...>BASE64</auth> and <response>BASE64</response> */
static void c2s_auth_step(struct c2s_client *client, const struct stanza *st, bool initial)
{
	char *text = stanza_text(st);
	struct buf in = {0}, out = {0};
	int r;

	if (initial && text[0] == '\0') {
		r = c2s_sasl_step(client->sasl, NULL, 0, &out);
	} else if (c2s_sasl_decode(text, strlen(text), &in) < 0) {
		r = C2S_SASL_INCORRECT_ENCODING;
	} else {
		r = c2s_sasl_step(client->sasl, (const unsigned char *)in.data, in.len, &out);
	}
	c2s_auth_result(client, r, &out, true);
	free(text);
	buf_free(&in);
	buf_free(&out);
}

static void c2s_auth_starttls(struct c2s_client *client)
{
	struct buf b = {0};

	if (client->tls != NULL || client->outer_secure) {
		c2s_client_close(client, "policy-violation", "TLS is already on");
		return;
	}
	buf_printf(&b, "<proceed xmlns='%s'/>", C2S_NS_TLS);
	c2s_client_send(client, b.data, b.len);
	buf_free(&b);
	if (c2s_tls_attach(client) < 0) {
		c2s_client_close(client, "internal-server-error", NULL);
		return;
	}
	client->restart = true;
}

void c2s_auth_handle(struct c2s_client *client, const struct stanza *st)
{
	struct c2s *c2s = client->c2s;

	if (strcmp(st->ns, C2S_NS_TLS) == 0 && strcmp(st->name, "starttls") == 0) {
		c2s_auth_starttls(client);
		return;
	}
	if (strcmp(st->ns, C2S_NS_SASL) != 0) {
		c2s_client_close(client, "not-authorized", "authenticate first");
		return;
	}
	if (strcmp(st->name, "auth") == 0) {
		struct c2s_sasl_config cfg;
		const char *mech = stanza_get_attr(st, "mechanism");
		c2s_sasl_free(&client->sasl);
		if (c2s->require_tls && client->tls == NULL && !client->outer_secure) {
			c2s_auth_failure_now(client, "encryption-required");
			return;
		}
		c2s_auth_config(client, &cfg);
		int r = c2s_sasl_new(mech ? mech : "", &cfg, &client->sasl_tls, &client->sasl);
		if (r < 0) {
			c2s_auth_failure_now(client, c2s_sasl_condition(r));
			return;
		}
		c2s_auth_step(client, st, true);
	} else if (strcmp(st->name, "response") == 0) {
		if (client->sasl == NULL) {
			c2s_auth_failure_now(client, "malformed-request");
			return;
		}
		c2s_auth_step(client, st, false);
	} else if (strcmp(st->name, "abort") == 0) {
		c2s_auth_failure_now(client, "aborted");
	} else {
		c2s_auth_failure_now(client, "malformed-request");
	}
}
