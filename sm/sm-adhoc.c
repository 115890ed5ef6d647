/* sm-adhoc.c: XEP-0133 service administration over XEP-0050 ad-hoc
 * commands, on the server's domain.
 *
 * Commands: add-user, delete-user, change-user-password (two stages: the
 * first execute returns a XEP-0004 form and a sessionid, the submission
 * with that sessionid runs the command) and get-online-users-num,
 * get-registered-users-num (one stage: the result form). Only the bare
 * JIDs listed in [junction] admins may list or run them; others get
 * forbidden (and an empty list from disco#items). Deleting a user runs
 * sm_account_remove() (sm-register.c), the same as in-band removal.
 *
 * Open sessions (issued, not yet submitted) live in sm's memory: at most
 * SM_ADHOC_MAX_SESSIONS, each for SM_ADHOC_SESSION_MS; a restart of sm
 * forgets them and a late submission gets bad-request + <bad-sessionid/>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "digest.h"
#include "jid.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

#define SM_NS_DATA "jabber:x:data"
#define SM_NS_ADMIN "http://jabber.org/protocol/admin"
#define SM_ADHOC_MAX_SESSIONS 100
#define SM_ADHOC_SESSION_MS (10 * 60 * 1000)

struct sm_adhoc_session {
	char id[17];
	char *node;
	char *owner; /* the full JID that started it */
	uint64_t started_ms;
	struct sm_adhoc_session *next;
};

enum sm_adhoc_command {
	SM_ADHOC_ADD_USER,
	SM_ADHOC_DELETE_USER,
	SM_ADHOC_CHANGE_PASSWORD,
	SM_ADHOC_ONLINE_NUM,
	SM_ADHOC_REGISTERED_NUM,
	SM_ADHOC_N,
};

static const struct {
	const char *node; /* after "http://jabber.org/protocol/admin#" */
	const char *name;
} sm_adhoc_commands[SM_ADHOC_N] = {
	{"add-user", "Add a User"},
	{"delete-user", "Delete a User"},
	{"change-user-password", "Change User Password"},
	{"get-online-users-num", "Get Number of Online Users"},
	{"get-registered-users-num", "Get Number of Registered Users"},
};

static void sm_adhoc_session_free(struct sm_adhoc_session *s)
{
	free(s->node);
	free(s->owner);
	free(s);
}

void sm_adhoc_free(struct sm *sm)
{
	while (sm->adhoc != NULL) {
		struct sm_adhoc_session *s = sm->adhoc;
		sm->adhoc = s->next;
		sm_adhoc_session_free(s);
	}
}

/* Forget expired sessions; return how many are left. */
static size_t sm_adhoc_expire(struct sm *sm)
{
	uint64_t now = uv_now(sm->loop);
	size_t n = 0;

	for (struct sm_adhoc_session **p = &sm->adhoc; *p != NULL;) {
		struct sm_adhoc_session *s = *p;
		if (now - s->started_ms >= SM_ADHOC_SESSION_MS) {
			*p = s->next;
			sm_adhoc_session_free(s);
			continue;
		}
		n++;
		p = &s->next;
	}
	return n;
}

/* Take (unlink) the session id of owner for node; NULL when unknown. */
static struct sm_adhoc_session *sm_adhoc_take(struct sm *sm, const char *id, const char *owner,
					      const char *node)
{
	sm_adhoc_expire(sm);
	for (struct sm_adhoc_session **p = &sm->adhoc; *p != NULL; p = &(*p)->next) {
		struct sm_adhoc_session *s = *p;
		if (strcmp(s->id, id) == 0 && strcmp(s->owner, owner) == 0 &&
		    strcmp(s->node, node) == 0) {
			*p = s->next;
			return s;
		}
	}
	return NULL;
}

bool sm_adhoc_is_admin(struct sm *sm, const char *from)
{
	size_t n = 0;
	const char *const *admins = config_get_list(sm->config, "junction", "admins", &n);
	struct jid jid;
	bool admin = false;

	if (n == 0 || from == NULL || jid_parse(from, -1, &jid) != JID_OK)
		return false;
	char *bare = jid_bare_string(&jid);
	jid_clear(&jid);
	for (size_t i = 0; i < n && !admin; i++) {
		struct jid a;
		if (jid_parse(admins[i], -1, &a) == JID_OK) {
			char *ab = jid_bare_string(&a);
			admin = strcmp(ab, bare) == 0;
			free(ab);
			jid_clear(&a);
		}
	}
	free(bare);
	return admin;
}

void sm_adhoc_items(struct sm *sm, struct stanza *iq)
{
	struct stanza *res = sm_iq_result(iq);
	struct stanza *q = stanza_add_child(res, "query", "http://jabber.org/protocol/disco#items");
	const char *to = stanza_get_attr(iq, "to");
	struct buf node = {0};
	bool admin = sm_adhoc_is_admin(sm, stanza_get_attr(iq, "from"));

	stanza_set_attr(q, "node", SM_NS_COMMANDS);
	for (int i = 0; admin && i < SM_ADHOC_N; i++) {
		struct stanza *it = stanza_add_child(q, "item", NULL);
		buf_reset(&node);
		buf_printf(&node, "%s#%s", SM_NS_ADMIN, sm_adhoc_commands[i].node);
		stanza_set_attr(it, "jid", to);
		stanza_set_attr(it, "node", node.data);
		stanza_set_attr(it, "name", sm_adhoc_commands[i].name);
	}
	sm_send(sm, res);
	stanza_unref(&res);
	buf_free(&node);
}

static void sm_adhoc_error(struct sm *sm, const struct stanza *iq, const char *type,
			   const char *condition, const char *specific)
{
	struct stanza *reply = stanza_error_reply(iq, type, condition, NULL);
	struct stanza *e = stanza_find_child(reply, "error", NULL);

	if (specific != NULL && e != NULL)
		stanza_add_child(e, specific, SM_NS_COMMANDS);
	sm_send(sm, reply);
	stanza_unref(&reply);
}

/* ---- XEP-0004 forms ---- */

static struct stanza *sm_adhoc_field(struct stanza *x, const char *var, const char *type,
				     const char *label, const char *value)
{
	struct stanza *f = stanza_add_child(x, "field", NULL);

	stanza_set_attr(f, "var", var);
	stanza_set_attr(f, "type", type);
	if (label != NULL)
		stanza_set_attr(f, "label", label);
	if (value != NULL)
		stanza_add_text(stanza_add_child(f, "value", NULL), value, strlen(value));
	return f;
}

static struct stanza *sm_adhoc_form(struct stanza *cmd, const char *type, const char *title)
{
	struct stanza *x = stanza_add_child(cmd, "x", SM_NS_DATA);

	stanza_set_attr(x, "type", type);
	if (title != NULL)
		stanza_add_text(stanza_add_child(x, "title", NULL), title, strlen(title));
	sm_adhoc_field(x, "FORM_TYPE", "hidden", NULL, SM_NS_ADMIN);
	return x;
}

/* The i-th value of field var in a submitted form, newly allocated. */
static char *sm_adhoc_value(const struct stanza *x, const char *var, size_t i)
{
	for (size_t k = 0; x != NULL && k < stanza_count_child_elements(x); k++) {
		struct stanza *f = stanza_child_element(x, k);
		const char *v = stanza_get_attr(f, "var");
		if (strcmp(f->name, "field") != 0 || v == NULL || strcmp(v, var) != 0)
			continue;
		for (size_t j = 0, n = 0; j < stanza_count_child_elements(f); j++) {
			struct stanza *val = stanza_child_element(f, j);
			if (strcmp(val->name, "value") == 0 && n++ == i)
				return stanza_text(val);
		}
	}
	return NULL;
}

/* An account JID from a form value: a bare JID in one of our domains. */
static char *sm_adhoc_account(struct sm *sm, const char *value)
{
	struct jid jid;
	char *bare = NULL;

	if (value == NULL || jid_parse(value, -1, &jid) != JID_OK)
		return NULL;
	if (jid.node != NULL && jid.resource == NULL &&
	    config_is_user_domain(sm->config, jid.domain, strlen(jid.domain)))
		bare = jid_bare_string(&jid);
	jid_clear(&jid);
	return bare;
}

/* ---- the commands ---- */

static struct stanza *sm_adhoc_reply(const struct stanza *iq, const char *node, const char *sid,
				     const char *status)
{
	struct stanza *res = sm_iq_result(iq);
	struct stanza *cmd = stanza_add_child(res, "command", SM_NS_COMMANDS);

	stanza_set_attr(cmd, "node", node);
	stanza_set_attr(cmd, "sessionid", sid);
	stanza_set_attr(cmd, "status", status);
	return res;
}

static void sm_adhoc_note(struct stanza *res, const char *type, const char *text)
{
	struct stanza *n = stanza_add_child(stanza_child_element(res, 0), "note", NULL);

	stanza_set_attr(n, "type", type);
	stanza_add_text(n, text, strlen(text));
}

/* The first stage: a form for the command, and a new session. */
static void sm_adhoc_start(struct sm *sm, const struct stanza *iq, const char *node,
			   enum sm_adhoc_command c)
{
	struct sm_adhoc_session *s;

	if (sm_adhoc_expire(sm) >= SM_ADHOC_MAX_SESSIONS) {
		sm_bounce(sm, iq, "wait", "resource-constraint");
		return;
	}
	s = xcalloc(1, sizeof(*s));
	digest_random_hex(s->id, (sizeof(s->id) - 1) / 2);
	s->node = xstrdup(node);
	s->owner = xstrdup(stanza_get_attr(iq, "from"));
	s->started_ms = uv_now(sm->loop);
	s->next = sm->adhoc;
	sm->adhoc = s;

	struct stanza *res = sm_adhoc_reply(iq, node, s->id, "executing");
	struct stanza *cmd = stanza_child_element(res, 0);
	struct stanza *actions = stanza_add_child(cmd, "actions", NULL);
	stanza_set_attr(actions, "execute", "complete");
	stanza_add_child(actions, "complete", NULL);
	struct stanza *x = sm_adhoc_form(cmd, "form", sm_adhoc_commands[c].name);
	if (c == SM_ADHOC_DELETE_USER) {
		sm_adhoc_field(x, "accountjids", "jid-multi", "The Jabber ID(s) to delete", NULL);
	} else {
		sm_adhoc_field(x, "accountjid", "jid-single", "The Jabber ID", NULL);
		sm_adhoc_field(x, "password", "text-private", "The password", NULL);
		if (c == SM_ADHOC_ADD_USER)
			sm_adhoc_field(x, "password-verify", "text-private", "Retype password",
				       NULL);
	}
	for (size_t i = 0; i < stanza_count_child_elements(x); i++) {
		struct stanza *f = stanza_child_element(x, i);
		if (strcmp(f->name, "field") == 0 && strcmp(stanza_get_attr(f, "type"), "hidden") != 0)
			stanza_add_child(f, "required", NULL);
	}
	sm_send(sm, res);
	stanza_unref(&res);
}

/* add-user and change-user-password: 0, or the error condition. */
static const char *sm_adhoc_set_user(struct sm *sm, const struct stanza *x, bool add)
{
	char *jid_v = sm_adhoc_value(x, "accountjid", 0);
	char *pw = sm_adhoc_value(x, "password", 0);
	char *pw2 = add ? sm_adhoc_value(x, "password-verify", 0) : NULL;
	char *bare = sm_adhoc_account(sm, jid_v);
	struct scram_credentials sha1, sha256;
	const char *cond = NULL;

	if (bare == NULL || pw == NULL || (add && (pw2 == NULL || strcmp(pw, pw2) != 0)) ||
	    sm_account_credentials(pw, &sha1, &sha256) < 0) {
		cond = "not-acceptable";
		goto out;
	}
	int r = add ? store_account_create(sm->store, bare, &sha1, &sha256)
		    : store_account_set_credentials(sm->store, bare, &sha1, &sha256);
	if (r == STORE_ERR_EXISTS)
		cond = "conflict";
	else if (r == STORE_ERR_NOT_FOUND)
		cond = "item-not-found";
	else if (r != STORE_OK)
		cond = "internal-server-error";
	else
		JLOG_INFO(0, "%s: %s by an administrator", bare, add ? "created" : "password changed");
out:
	free(jid_v);
	free(pw);
	free(pw2);
	free(bare);
	return cond;
}

static const char *sm_adhoc_delete_users(struct sm *sm, const struct stanza *x)
{
	const char *cond = NULL;
	char *v;

	for (size_t i = 0; cond == NULL && (v = sm_adhoc_value(x, "accountjids", i)) != NULL; i++) {
		char *bare = sm_adhoc_account(sm, v);
		if (bare == NULL)
			cond = "not-acceptable";
		else if (sm_account_remove(sm, bare) == STORE_ERR_IO)
			cond = "internal-server-error";
		free(bare);
		free(v);
	}
	return cond;
}

/* The submission of a form (or a one-stage command). */
static void sm_adhoc_finish(struct sm *sm, const struct stanza *iq, const char *node,
			    const char *sid, enum sm_adhoc_command c, const struct stanza *x)
{
	const char *cond = NULL;

	if (c == SM_ADHOC_ONLINE_NUM || c == SM_ADHOC_REGISTERED_NUM) {
		size_t n = 0;
		char **jids = NULL, num[24];
		if (c == SM_ADHOC_ONLINE_NUM) {
			/* Accounts with at least one session. */
			for (struct sm_session *s = sm->sessions; s != NULL; s = s->next)
				n += sm_session_find_bare(sm, s->bare) == s;
		} else if (store_account_list(sm->store, NULL, &jids, &n) != STORE_OK) {
			sm_bounce(sm, iq, "wait", "internal-server-error");
			return;
		}
		store_strings_free(&jids, n);
		snprintf(num, sizeof(num), "%zu", n);
		struct stanza *res = sm_adhoc_reply(iq, node, sid, "completed");
		struct stanza *form = sm_adhoc_form(stanza_child_element(res, 0), "result", NULL);
		sm_adhoc_field(form,
			       c == SM_ADHOC_ONLINE_NUM ? "onlineusersnum" : "registeredusersnum",
			       "text-single", sm_adhoc_commands[c].name, num);
		sm_send(sm, res);
		stanza_unref(&res);
		return;
	}
	if (c == SM_ADHOC_DELETE_USER)
		cond = sm_adhoc_delete_users(sm, x);
	else
		cond = sm_adhoc_set_user(sm, x, c == SM_ADHOC_ADD_USER);
	if (cond != NULL) {
		sm_adhoc_error(sm, iq, strcmp(cond, "internal-server-error") == 0 ? "wait" : "modify",
			       cond, NULL);
		return;
	}
	struct stanza *res = sm_adhoc_reply(iq, node, sid, "completed");
	sm_adhoc_note(res, "info", "Done.");
	sm_send(sm, res);
	stanza_unref(&res);
}

void sm_adhoc_command(struct sm *sm, struct stanza *iq, struct stanza *cmd)
{
	const char *node = stanza_get_attr(cmd, "node");
	const char *action = stanza_get_attr(cmd, "action");
	const char *sid = stanza_get_attr(cmd, "sessionid");
	const char *from = stanza_get_attr(iq, "from");
	size_t plen = strlen(SM_NS_ADMIN);
	int c = -1;

	for (int i = 0; node != NULL && i < SM_ADHOC_N; i++)
		if (strncmp(node, SM_NS_ADMIN, plen) == 0 && node[plen] == '#' &&
		    strcmp(node + plen + 1, sm_adhoc_commands[i].node) == 0)
			c = i;
	if (c < 0) {
		sm_bounce(sm, iq, "cancel", "item-not-found");
		return;
	}
	if (!sm_adhoc_is_admin(sm, from)) {
		sm_bounce(sm, iq, "auth", "forbidden");
		return;
	}
	if (action == NULL)
		action = "execute";
	bool one_stage = c == SM_ADHOC_ONLINE_NUM || c == SM_ADHOC_REGISTERED_NUM;
	if (sid == NULL) {
		if (strcmp(action, "execute") != 0)
			sm_adhoc_error(sm, iq, "modify", "bad-request", "bad-action");
		else if (one_stage)
			sm_adhoc_finish(sm, iq, node, "0", c, NULL);
		else
			sm_adhoc_start(sm, iq, node, c);
		return;
	}
	struct sm_adhoc_session *s = sm_adhoc_take(sm, sid, from, node);
	if (s == NULL) {
		sm_adhoc_error(sm, iq, "modify", "bad-request", "bad-sessionid");
		return;
	}
	if (strcmp(action, "cancel") == 0) {
		struct stanza *res = sm_adhoc_reply(iq, node, sid, "canceled");
		sm_send(sm, res);
		stanza_unref(&res);
	} else if (strcmp(action, "execute") == 0 || strcmp(action, "complete") == 0) {
		struct stanza *x = stanza_find_child(cmd, "x", SM_NS_DATA);
		if (x == NULL)
			sm_adhoc_error(sm, iq, "modify", "bad-request", "bad-payload");
		else
			sm_adhoc_finish(sm, iq, node, sid, c, x);
	} else {
		sm_adhoc_error(sm, iq, "modify", "bad-request", "bad-action");
	}
	sm_adhoc_session_free(s);
}
