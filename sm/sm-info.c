/* sm-info.c: the small queries about the server and its accounts:
 * software version (XEP-0092), entity time (XEP-0202) and last activity
 * (XEP-0012), and the last logout that last activity reports.
 *
 * Version and time are the server's (to the domain); a full JID's are the
 * client's to answer, and sm never sees those. Version names Junction and
 * PACKAGE_VERSION, never the OS, and is off with [sm] version_query = no
 * (service-unavailable, and not in disco#info). Last activity of the
 * domain is sm's uptime; of an account's bare JID, the seconds since its
 * last session ended (0 while one is available) with that session's
 * unavailable status, for the account itself and contacts it shares its
 * presence with (subscription 'from'); everyone else gets forbidden,
 * whether the account exists or not, so the answer leaks no more than
 * presence would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "jid.h"
#include "log.h"
#include "sm.h"
#include "stanza.h"

bool sm_info_parties(const struct stanza *iq, char **requester_r, char **bare_r)
{
	const char *from = stanza_get_attr(iq, "from"), *to = stanza_get_attr(iq, "to");
	struct jid jid;

	*requester_r = *bare_r = NULL;
	if (to == NULL || jid_parse(to, -1, &jid) != JID_OK)
		return false;
	if (jid.node != NULL)
		*bare_r = jid_bare_string(&jid);
	jid_clear(&jid);
	if (from != NULL && jid_parse(from, -1, &jid) == JID_OK) {
		*requester_r = jid_bare_string(&jid);
		jid_clear(&jid);
	}
	return true;
}

void sm_info_ack(struct sm *sm, const struct stanza *iq)
{
	struct stanza *res = sm_iq_result(iq);
	sm_send(sm, res);
	stanza_unref(&res);
}

void sm_info_store_failed(struct sm *sm, const struct stanza *iq, const char *what,
			  const char *bare)
{
	JLOG_ERROR(0, "%s of %s: %s", what, bare, store_error(sm->store));
	sm_bounce(sm, iq, "wait", "internal-server-error");
}

static void sm_info_add_text(struct stanza *parent, const char *name, const char *text)
{
	stanza_add_text(stanza_add_child(parent, name, NULL), text, strlen(text));
}

bool sm_info_version_enabled(struct sm *sm)
{
	return config_get_bool(sm->config, "sm", "version_query");
}

static void sm_info_version(struct sm *sm, struct stanza *iq)
{
	struct stanza *res = sm_iq_result(iq);
	struct stanza *q = stanza_add_child(res, "query", SM_NS_VERSION);

	sm_info_add_text(q, "name", "Junction");
	sm_info_add_text(q, "version", PACKAGE_VERSION);
	sm_send(sm, res);
	stanza_unref(&res);
}

static void sm_info_time(struct sm *sm, struct stanza *iq)
{
	struct stanza *res = sm_iq_result(iq);
	struct stanza *t = stanza_add_child(res, "time", SM_NS_TIME);
	char utc[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(utc, sizeof(utc), "%Y-%m-%dT%H:%M:%SZ", &tm);
	sm_info_add_text(t, "tzo", "+00:00");
	sm_info_add_text(t, "utc", utc);
	sm_send(sm, res);
	stanza_unref(&res);
}

static void sm_info_last_reply(struct sm *sm, struct stanza *iq, int64_t seconds,
			       const char *status)
{
	struct stanza *res = sm_iq_result(iq);
	struct stanza *q = stanza_add_child(res, "query", SM_NS_LAST);
	char n[24];

	snprintf(n, sizeof(n), "%lld", (long long)(seconds > 0 ? seconds : 0));
	stanza_set_attr(q, "seconds", n);
	if (status != NULL)
		stanza_add_text(q, status, strlen(status));
	sm_send(sm, res);
	stanza_unref(&res);
}

static void sm_info_last_account(struct sm *sm, struct stanza *iq, const char *bare)
{
	int64_t logout = 0;
	char *status = NULL;

	if (!sm_iq_account_visible(sm, iq, bare)) {
		sm_bounce(sm, iq, "auth", "forbidden");
		return;
	}
	for (const struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		if (s->available && strcmp(s->bare, bare) == 0) {
			sm_info_last_reply(sm, iq, 0, NULL);
			return;
		}
	}
	int r = store_last_get(sm->store, bare, &logout, &status);
	if (r == STORE_OK) {
		sm_info_last_reply(sm, iq, (int64_t)time(NULL) - logout, status);
	} else if (r == STORE_ERR_NOT_FOUND) {
		sm_bounce(sm, iq, "cancel", "item-not-found");
	} else {
		sm_info_store_failed(sm, iq, "last activity", bare);
	}
	free(status);
}

void sm_info_iq(struct sm *sm, struct stanza *iq, struct stanza *q)
{
	char *requester = NULL, *bare = NULL;

	if (!sm_info_parties(iq, &requester, &bare)) {
		sm_bounce(sm, iq, "modify", "jid-malformed");
		return;
	}
	bool last = strcmp(q->ns, SM_NS_LAST) == 0;
	if (last && bare != NULL)
		sm_info_last_account(sm, iq, bare);
	else if (last)
		sm_info_last_reply(sm, iq, (int64_t)((uv_hrtime() - sm->started) / 1000000000u),
				   NULL);
	else if (bare != NULL)
		sm_bounce(sm, iq, "cancel", "service-unavailable");
	else if (strcmp(q->ns, SM_NS_TIME) == 0)
		sm_info_time(sm, iq);
	else if (sm_info_version_enabled(sm))
		sm_info_version(sm, iq);
	else
		sm_bounce(sm, iq, "cancel", "service-unavailable");
	free(requester);
	free(bare);
}

void sm_info_logout(struct sm *sm, const struct sm_session *session, const struct stanza *presence)
{
	for (const struct sm_session *s = sm->sessions; s != NULL; s = s->next)
		if (s != session && s->available && strcmp(s->bare, session->bare) == 0)
			return; /* the account is still online */
	struct stanza *st = presence != NULL ? stanza_find_child(presence, "status", NULL) : NULL;
	char *status = st != NULL ? stanza_text(st) : NULL;
	int r = store_last_set(sm->store, session->bare, (int64_t)time(NULL), status);
	if (r != STORE_OK && r != STORE_ERR_NOT_FOUND)
		JLOG_ERROR(0, "last activity of %s: %s", session->bare, store_error(sm->store));
	free(status);
}
