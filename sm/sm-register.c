/* sm-register.c: XEP-0077 in-band registration, and removing an account
 * with everything that belongs to it.
 *
 * Off unless [sm] registration is on; off, every jabber:iq:register
 * request is service-unavailable and the feature is not advertised. On:
 *  - before login, c2s relays a client's request in a <register/> envelope
 *    of the session protocol (docs/components.md section 6) with the
 *    client's IP address: the form, then account creation (conflict when
 *    the account exists, not-acceptable without username or password,
 *    resource-constraint past [sm] registration_per_ip_per_hour accounts
 *    from one address within an hour; the count lives in sm's memory);
 *  - a logged-in user changes the password (fresh SCRAM-SHA-1 and -256
 *    credentials, as junctionctl passwd makes them) or removes the account.
 * sm_account_remove() is also what XEP-0133 delete-user runs (sm-adhoc.c):
 * the account's sessions end (c2s closes them with not-authorized),
 * contacts get unsubscribe / unsubscribed and unavailable, and the store
 * deletes the account with its roster, offline messages, blocklist and
 * whatever else refers to it (ON DELETE CASCADE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "scram.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

#define SM_REGISTER_WINDOW_MS (3600 * 1000)

/* One account created by in-band registration: from where, when. */
struct sm_register_ip {
	char *ip;
	uint64_t at_ms;
	struct sm_register_ip *next;
};

void sm_register_free(struct sm *sm)
{
	while (sm->register_ips != NULL) {
		struct sm_register_ip *e = sm->register_ips;
		sm->register_ips = e->next;
		free(e->ip);
		free(e);
	}
}

/* Accounts ip created within the window (forgetting older ones). */
static unsigned sm_register_count(struct sm *sm, const char *ip)
{
	uint64_t now = uv_now(sm->loop);
	unsigned n = 0;

	for (struct sm_register_ip **p = &sm->register_ips; *p != NULL;) {
		struct sm_register_ip *e = *p;
		if (now - e->at_ms >= SM_REGISTER_WINDOW_MS) {
			*p = e->next;
			free(e->ip);
			free(e);
			continue;
		}
		n += strcmp(e->ip, ip) == 0;
		p = &e->next;
	}
	return n;
}

static void sm_register_note(struct sm *sm, const char *ip)
{
	struct sm_register_ip *e = xcalloc(1, sizeof(*e));

	e->ip = xstrdup(ip);
	e->at_ms = uv_now(sm->loop);
	e->next = sm->register_ips;
	sm->register_ips = e;
}

int sm_account_credentials(const char *password, struct scram_credentials *sha1_r,
			   struct scram_credentials *sha256_r)
{
	if (password == NULL || password[0] == '\0' ||
	    scram_credentials_new(SCRAM_SHA1, password, STORE_SCRAM_ITERATIONS, sha1_r) < 0 ||
	    scram_credentials_new(SCRAM_SHA256, password, STORE_SCRAM_ITERATIONS, sha256_r) < 0)
		return -1;
	return 0;
}

int sm_account_remove(struct sm *sm, const char *bare)
{
	struct store_roster roster = {0};
	struct sm_session *s;

	if (store_account_exists(sm->store, bare) != STORE_OK)
		return STORE_ERR_NOT_FOUND;
	/* Sessions first: each available one's contacts hear it leave. */
	while ((s = sm_session_find_bare(sm, bare)) != NULL)
		sm_session_kick(sm, s, "removed");
	if (store_roster_get(sm->store, bare, &roster) == STORE_OK) {
		for (size_t i = 0; i < roster.n_items; i++) {
			const struct store_roster_item *it = &roster.items[i];
			if ((it->subscription & STORE_SUB_TO) || it->ask)
				sm_presence_send_type(sm, bare, it->jid, "unsubscribe");
			if (it->subscription & STORE_SUB_FROM) {
				sm_presence_send_type(sm, bare, it->jid, "unsubscribed");
				sm_presence_send_type(sm, bare, it->jid, "unavailable");
			}
		}
		store_roster_clear(&roster);
	}
	int r = store_account_delete(sm->store, bare);
	if (r == STORE_OK) {
		JLOG_INFO(0, "account %s removed", bare);
		sm_pep_account_deleted(sm, bare); /* its PEP nodes, in junction-pubsub */
	} else {
		JLOG_ERROR(0, "removing %s: %s", bare, store_error(sm->store));
	}
	return r;
}

static char *sm_register_text(const struct stanza *q, const char *name)
{
	struct stanza *e = stanza_find_child(q, name, NULL);
	char *text = e != NULL ? stanza_text(e) : NULL;

	if (text != NULL && text[0] == '\0') {
		free(text);
		text = NULL;
	}
	return text;
}

/* The form (XEP-0077 3.1): what to fill in, or that the account exists. */
static struct stanza *sm_register_form(const struct stanza *iq, const char *registered)
{
	struct stanza *res = sm_iq_result(iq);
	struct stanza *q = stanza_add_child(res, "query", SM_NS_REGISTER);

	if (registered != NULL) {
		stanza_add_child(q, "registered", NULL);
		stanza_add_text(stanza_add_child(q, "username", NULL), registered,
				strlen(registered));
	} else {
		static const char text[] = "Choose a username and password.";
		stanza_add_text(stanza_add_child(q, "instructions", NULL), text, sizeof(text) - 1);
		stanza_add_child(q, "username", NULL);
	}
	stanza_add_child(q, "password", NULL);
	return res;
}

/* Create username@domain for a client of ip; returns the answer to iq. */
static struct stanza *sm_register_create(struct sm *sm, const struct stanza *iq,
					 const struct stanza *q, const char *domain, const char *ip)
{
	char *user = sm_register_text(q, "username"), *password = sm_register_text(q, "password");
	unsigned limit = (unsigned)config_get_uint(sm->config, "sm", "registration_per_ip_per_hour");
	struct scram_credentials sha1, sha256;
	struct stanza *res = NULL;
	struct jid jid;
	char *bare = NULL;

	if (user == NULL || password == NULL) {
		res = stanza_error_reply(iq, "modify", "not-acceptable", "username and password");
		goto out;
	}
	size_t n = strlen(user) + strlen(domain) + 2;
	char *s = xcalloc(1, n);
	snprintf(s, n, "%s@%s", user, domain);
	int jr = jid_parse(s, -1, &jid);
	free(s);
	if (jr != JID_OK || strchr(user, '@') != NULL || strchr(user, '/') != NULL) {
		if (jr == JID_OK)
			jid_clear(&jid);
		res = stanza_error_reply(iq, "modify", "not-acceptable", "not a valid username");
		goto out;
	}
	bare = jid_bare_string(&jid);
	jid_clear(&jid);
	if (limit > 0 && sm_register_count(sm, ip) >= limit) {
		JLOG_INFO(0, "registration of %s from %s refused: %u accounts in the last hour", bare,
			  ip, limit);
		res = stanza_error_reply(iq, "wait", "resource-constraint",
					 "too many registrations from this address");
		goto out;
	}
	if (sm_account_credentials(password, &sha1, &sha256) < 0) {
		res = stanza_error_reply(iq, "modify", "not-acceptable", "password not allowed");
		goto out;
	}
	int r = store_account_create(sm->store, bare, &sha1, &sha256);
	if (r == STORE_ERR_EXISTS) {
		res = stanza_error_reply(iq, "cancel", "conflict", NULL);
	} else if (r != STORE_OK) {
		JLOG_ERROR(0, "registering %s: %s", bare, store_error(sm->store));
		res = stanza_error_reply(iq, "wait", "internal-server-error", NULL);
	} else {
		JLOG_INFO(0, "account %s registered from %s", bare, ip);
		sm_register_note(sm, ip);
		res = sm_iq_result(iq);
	}
out:
	free(user);
	free(password);
	free(bare);
	return res;
}

void sm_register_preauth(struct sm *sm, struct stanza *iq, struct stanza *env)
{
	const char *from = stanza_get_attr(iq, "from");
	const char *to = stanza_get_attr(iq, "to");
	const char *ip = stanza_get_attr(env, "ip");
	struct stanza *inner = stanza_find_child(env, "iq", NULL);
	struct stanza *q = inner != NULL ? stanza_find_child(inner, "query", SM_NS_REGISTER) : NULL;
	const char *type = inner != NULL ? stanza_get_attr(inner, "type") : NULL;
	struct stanza *answer;

	if (from == NULL || !sm_peers_trusted(sm, from)) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
		return;
	}
	if (q == NULL || type == NULL || ip == NULL || to == NULL) {
		sm_bounce(sm, iq, "modify", "bad-request");
		return;
	}
	if (!config_get_bool(sm->config, "sm", "registration") ||
	    !config_is_user_domain(sm->config, to, strlen(to)))
		answer = stanza_error_reply(inner, "cancel", "service-unavailable", NULL);
	else if (strcmp(type, "get") == 0)
		answer = sm_register_form(inner, NULL);
	else if (stanza_find_child(q, "remove", NULL) != NULL)
		answer = stanza_error_reply(inner, "auth", "not-authorized", NULL);
	else
		answer = sm_register_create(sm, inner, q, to, ip);
	struct stanza *res = sm_iq_result(iq);
	stanza_append_copy(stanza_add_child(res, "register", SM_NS_SESSION), answer);
	sm_send(sm, res);
	stanza_unref(&res);
	stanza_unref(&answer);
}

/* Answer a session's request, straight to it. */
static void sm_register_answer(struct sm *sm, struct sm_session *session, struct stanza *answer)
{
	stanza_set_attr(answer, "from", NULL);
	stanza_set_attr(answer, "to", session->full);
	sm_session_deliver(sm, session, answer);
	stanza_unref(&answer);
}

/* A logged-in user's request: the form, a password change or removal. */
void sm_register_iq(struct sm *sm, struct stanza *iq, struct stanza *q)
{
	const char *from = stanza_get_attr(iq, "from");
	const char *to = stanza_get_attr(iq, "to");
	struct sm_session *session = from != NULL ? sm_session_find(sm, from) : NULL;
	const char *at = session != NULL ? strchr(session->bare, '@') : NULL;
	bool get = strcmp(stanza_get_attr(iq, "type"), "get") == 0;

	if (!config_get_bool(sm->config, "sm", "registration") || session == NULL || to == NULL ||
	    (strcmp(to, session->bare) != 0 && strcmp(to, at + 1) != 0)) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
		return;
	}
	char *node = xstrdup(session->bare);
	node[at - session->bare] = '\0';
	if (get) {
		sm_register_answer(sm, session, sm_register_form(iq, node));
	} else if (stanza_find_child(q, "remove", NULL) != NULL) {
		char *bare = xstrdup(session->bare);
		/* The result first: the session ends right after it. */
		sm_register_answer(sm, session, sm_iq_result(iq));
		if (sm_account_remove(sm, bare) != STORE_OK)
			JLOG_ERROR(0, "in-band removal of %s failed", bare);
		free(bare);
	} else {
		char *user = sm_register_text(q, "username");
		char *password = sm_register_text(q, "password");
		struct scram_credentials sha1, sha256;
		if (password == NULL || (user != NULL && strcmp(user, node) != 0)) {
			sm_register_answer(sm, session, stanza_error_reply(iq, "modify", "not-acceptable",
									   NULL));
		} else if (sm_account_credentials(password, &sha1, &sha256) < 0) {
			sm_register_answer(sm, session,
					   stanza_error_reply(iq, "modify", "not-acceptable",
							      "password not allowed"));
		} else if (store_account_set_credentials(sm->store, session->bare, &sha1, &sha256) !=
			   STORE_OK) {
			JLOG_ERROR(0, "password of %s: %s", session->bare, store_error(sm->store));
			sm_register_answer(sm, session, stanza_error_reply(iq, "wait",
									   "internal-server-error", NULL));
		} else {
			JLOG_INFO(0, "password of %s changed in-band", session->bare);
			sm_register_answer(sm, session, sm_iq_result(iq));
		}
		free(user);
		free(password);
	}
	free(node);
}
