/* s2s-router.c: s2s's link to the router, and which domains are ours.
 *
 * s2s connects as [s2s] name (default s2s.FIRST-DOMAIN), takes the default
 * route and watches bound names. Every stanza the router hands it is for a
 * remote domain: it goes to the outgoing stream for its (from domain, to
 * domain) pair. Watch events keep the set of names bound at the router:
 * with [junction] domains and the [component NAME] sections they are the
 * domains this deployment serves, for which incoming streams are accepted
 * and outgoing ones may be opened.
 */
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "jid.h"
#include "log.h"
#include "s2s.h"
#include "stanza.h"

char *s2s_jid_domain(const char *s)
{
	struct jid j;

	if (s == NULL || jid_parse(s, -1, &j) != JID_OK)
		return NULL;
	char *d = j.domain;
	j.domain = NULL;
	jid_clear(&j);
	return d;
}

static struct s2s_name **s2s_name_find(struct s2s *s2s, const char *name)
{
	struct s2s_name **pp = &s2s->names;

	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->next;
	return pp;
}

bool s2s_serves(const struct s2s *s2s, const char *domain)
{
	if (config_is_user_domain(s2s->config, domain, strlen(domain)) ||
	    config_component_secret(s2s->config, domain) != NULL)
		return true;
	for (const struct s2s_name *n = s2s->names; n != NULL; n = n->next) {
		if (strcmp(n->name, domain) == 0)
			return true;
	}
	return false;
}

static void s2s_names_event(struct s2s *s2s, const struct stanza *presence)
{
	const char *name = stanza_get_attr(presence, "from");
	struct stanza *ev = stanza_child_element(presence, 0);

	if (name == NULL || ev == NULL || strcmp(ev->ns, S2S_NS_EXT) != 0)
		return;
	struct s2s_name **pp = s2s_name_find(s2s, name);
	if (strcmp(ev->name, "bound") == 0) {
		if (*pp == NULL) {
			struct s2s_name *n = xcalloc(1, sizeof(*n));
			n->name = xstrdup(name);
			*pp = n;
			JLOG_DEBUG(0, "serving %s", name);
		}
		(*pp)->holders++;
	} else if (strcmp(ev->name, "unbound") == 0 && *pp != NULL) {
		if (--(*pp)->holders == 0) {
			struct s2s_name *gone = *pp;
			*pp = gone->next;
			free(gone->name);
			free(gone);
		}
	}
}

static void s2s_names_free(struct s2s *s2s)
{
	while (s2s->names != NULL) {
		struct s2s_name *n = s2s->names;
		s2s->names = n->next;
		free(n->name);
		free(n);
	}
}

void s2s_router_send(struct s2s *s2s, const struct stanza *st)
{
	if (s2s->component != NULL && component_send(s2s->component, st) < 0)
		JLOG_WARN(0, "router unreachable and its queue is full: a stanza is dropped");
}

void s2s_bounce(struct s2s *s2s, const struct stanza *st, const char *type, const char *condition,
		const char *text)
{
	const char *t = stanza_get_attr(st, "type");

	if (t != NULL && strcmp(t, "error") == 0)
		return;
	if (strcmp(st->name, "iq") == 0 && t != NULL && strcmp(t, "result") == 0)
		return;
	if (strcmp(st->name, "presence") == 0)
		return; /* RFC 6121: presence is not answered with errors here */
	struct stanza *reply = stanza_error_reply(st, type, condition, text);
	s2s_router_send(s2s, reply);
	stanza_unref(&reply);
}

static void s2s_on_stanza(struct component *component, struct stanza *st, void *ctx)
{
	struct s2s *s2s = ctx;
	const char *to = stanza_get_attr(st, "to");
	(void)component;

	if (to != NULL && strcmp(to, s2s->name) == 0) {
		if (strcmp(st->name, "presence") == 0)
			s2s_names_event(s2s, st);
		return;
	}
	char *remote = s2s_jid_domain(to);
	char *local = s2s_jid_domain(stanza_get_attr(st, "from"));
	if (remote == NULL || local == NULL) {
		s2s_bounce(s2s, st, "modify", "jid-malformed", NULL);
	} else if (s2s_serves(s2s, remote)) {
		/* Ours but not bound right now: the router would only send it back. */
		s2s_bounce(s2s, st, "cancel", "service-unavailable", NULL);
	} else if (!s2s_serves(s2s, local)) {
		JLOG_WARN(0, "dropping a stanza for %s from %s, a domain not served here", remote,
			  local);
	} else {
		s2s_out_send(s2s_out_get(s2s, local, remote), st);
	}
	free(remote);
	free(local);
}

static void s2s_on_ready(struct component *component, void *ctx)
{
	struct s2s *s2s = ctx;
	(void)component;
	JLOG_INFO(0, "linked to the router as %s (default route)", s2s->name);
}

static void s2s_on_down(struct component *component, const char *why, void *ctx)
{
	struct s2s *s2s = ctx;
	(void)component;
	(void)why;
	s2s_names_free(s2s); /* the router sends the whole list again */
}

static const struct component_callbacks s2s_component_callbacks = {
	.ready = s2s_on_ready,
	.stanza = s2s_on_stanza,
	.down = s2s_on_down,
};

int s2s_router_start(struct s2s *s2s)
{
	struct component_options o = {
		.address = config_get(s2s->config, "router", "listen"),
		.name = s2s->name,
		.secret = config_get(s2s->config, "router", "secret"),
		.default_route = true,
		.watch = true,
	};
	return component_start(s2s->loop, &o, &s2s_component_callbacks, s2s, &s2s->component);
}

void s2s_router_stop(struct s2s *s2s)
{
	component_stop(&s2s->component);
	s2s_names_free(s2s);
}
