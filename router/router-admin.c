/* router-admin.c: iq stanzas addressed to the router itself (no 'to'),
 * the urn:junction:component:1 extension: bind, unbind, watch, ack and
 * status.
 *
 * Only trusted streams (authenticated with [router] secret) may use it;
 * docs/components.md is the protocol's description for component authors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "conn.h"
#include "jid.h"
#include "log.h"
#include "router.h"
#include "stanza.h"
#include "stream.h"

static void router_admin_error(struct router_stream *stream, const struct stanza *iq,
			       const char *type, const char *condition, const char *text)
{
	struct stanza *reply = stanza_error_reply(iq, type, condition, text);
	router_stream_reply(stream, reply);
	stanza_unref(&reply);
}

static void router_admin_result(struct router_stream *stream, const struct stanza *iq,
				struct stanza *payload)
{
	struct stanza *reply = stanza_new("iq", STREAM_NS_COMPONENT);
	const char *from = stanza_get_attr(iq, "from");
	const char *id = stanza_get_attr(iq, "id");

	stanza_set_attr(reply, "type", "result");
	if (id != NULL)
		stanza_set_attr(reply, "id", id);
	if (from != NULL)
		stanza_set_attr(reply, "to", from);
	if (payload != NULL)
		stanza_append_copy(reply, payload);
	router_stream_reply(stream, reply);
	stanza_unref(&reply);
}

/* The normalised domain in name, or NULL (caller frees). */
static char *router_admin_domain(const char *name)
{
	struct jid jid;
	char *domain = NULL;

	if (name == NULL || jid_parse(name, -1, &jid) != JID_OK)
		return NULL;
	if (jid.node == NULL && jid.resource == NULL) {
		domain = jid.domain;
		jid.domain = NULL;
	}
	jid_clear(&jid);
	return domain;
}

static void router_admin_bind(struct router_stream *stream, const struct stanza *iq,
			      const struct stanza *bind, bool unbind)
{
	struct router *router = stream->router;
	const char *dflt = stanza_get_attr(bind, "default");
	const char *mode_s = stanza_get_attr(bind, "mode");
	enum route_mode mode = ROUTE_EXCLUSIVE;
	int r;

	if (dflt != NULL && (strcmp(dflt, "true") == 0 || strcmp(dflt, "1") == 0)) {
		r = unbind ? route_clear_default(router->routes, stream)
			   : route_set_default(router->routes, stream);
		if (r == ROUTE_ERR_CONFLICT) {
			router_admin_error(stream, iq, "cancel", "conflict",
					   "another component holds the default route");
			return;
		}
		JLOG_INFO(stream->id, "%s %s the default route", stream->name,
			  unbind ? "released" : "holds");
		if (!unbind)
			router_hold_changed(router, ROUTER_HOLD_DEFAULT, true);
		router_admin_result(stream, iq, NULL);
		return;
	}
	if (mode_s != NULL && strcmp(mode_s, "shared") == 0) {
		mode = ROUTE_SHARED;
	} else if (mode_s != NULL && strcmp(mode_s, "exclusive") != 0) {
		router_admin_error(stream, iq, "modify", "bad-request", "unknown mode");
		return;
	}
	char *domain = router_admin_domain(stanza_get_attr(bind, "name"));
	if (domain == NULL) {
		router_admin_error(stream, iq, "modify", "jid-malformed",
				   "name must be a domain name");
		return;
	}
	if (unbind) {
		if (strcmp(domain, stream->name) == 0)
			/* The handshake name is the stream's identity; it stays. */
			router_admin_error(stream, iq, "cancel", "not-allowed",
					   "the handshake name is released only by closing");
		else if (router_watch_unbind(stream, domain) != ROUTE_OK)
			router_admin_error(stream, iq, "cancel", "item-not-found",
					   "name is not bound by this stream");
		else
			router_admin_result(stream, iq, NULL);
	} else {
		r = router_watch_bind(stream, domain, mode);
		if (r != ROUTE_OK) {
			router_admin_error(stream, iq, "cancel", "conflict",
					   "name is bound by another component");
		} else {
			JLOG_INFO(stream->id, "%s bound %s (%s)", stream->name, domain,
				  mode == ROUTE_SHARED ? "shared" : "exclusive");
			router_admin_result(stream, iq, NULL);
		}
	}
	free(domain);
}

struct router_admin_status {
	struct stanza *status;
	const struct router_stream *stream;
	struct stanza *element;
};

static void router_admin_status_bind(const char *name, enum route_mode mode, void *target,
				     void *ctx)
{
	struct router_admin_status *s = ctx;

	if (target != s->stream)
		return;
	struct stanza *b = stanza_add_child(s->element, "bind", NULL);
	stanza_set_attr(b, "name", name);
	stanza_set_attr(b, "mode", mode == ROUTE_SHARED ? "shared" : "exclusive");
}

static void router_admin_set_u64(struct stanza *st, const char *name, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	stanza_set_attr(st, name, num);
}

static void router_admin_status(struct router_stream *stream, const struct stanza *iq)
{
	struct router *router = stream->router;
	struct stanza *status = stanza_new("status", ROUTER_NS_EXT);
	char since[32];

	stanza_set_attr(status, "version", ROUTER_EXT_VERSION);
	router_admin_set_u64(status, "uptime", (uint64_t)(time(NULL) - router->started));
	for (const struct router_stream *s = router->streams; s != NULL; s = s->next) {
		if (s->state != ROUTER_STREAM_READY)
			continue;
		struct stanza *e = stanza_add_child(status, "stream", NULL);
		struct tm tm;
		router_admin_set_u64(e, "id", s->id);
		stanza_set_attr(e, "name", s->name);
		stanza_set_attr(e, "peer", s->conn->peer);
		stanza_set_attr(e, "trusted", s->trusted ? "true" : "false");
		gmtime_r(&s->since, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		stanza_set_attr(e, "since", since);
		router_admin_set_u64(e, "in", s->count.in);
		router_admin_set_u64(e, "out", s->count.out);
		router_admin_set_u64(e, "bounced", s->count.bounced);
		router_admin_set_u64(e, "rejected", s->count.rejected);
		router_admin_set_u64(e, "queued", conn_queued(s->conn));
		if (route_default(router->routes) == s)
			stanza_set_attr(e, "default", "true");
		struct router_admin_status ctx = {status, s, e};
		route_foreach(router->routes, router_admin_status_bind, &ctx);
	}
	router_admin_result(stream, iq, status);
	stanza_unref(&status);
}

void router_admin_handle(struct router_stream *stream, const struct xml_parser_stanza *st)
{
	struct stanza *iq = st->tree != NULL ? stanza_ref(st->tree) : NULL;

	if (st->type == NULL || (strcmp(st->type, "get") != 0 && strcmp(st->type, "set") != 0))
		return; /* results and errors addressed to the router: nothing to do */
	if (iq == NULL && stanza_parse(st->raw, st->raw_len, STREAM_NS_COMPONENT, &iq) != 0)
		return;
	struct stanza *child = stanza_child_element(iq, 0);
	bool is_get = strcmp(st->type, "get") == 0;

	if (child == NULL || stanza_count_child_elements(iq) != 1) {
		router_admin_error(stream, iq, "modify", "bad-request",
				   "an iq request has exactly one child");
	} else if (strcmp(child->ns, ROUTER_NS_EXT) != 0 || !stream->trusted) {
		/* Third-party components see no extension at all. */
		router_admin_error(stream, iq, "cancel", "service-unavailable", NULL);
	} else if (!is_get && strcmp(child->name, "bind") == 0) {
		router_admin_bind(stream, iq, child, false);
	} else if (!is_get && strcmp(child->name, "unbind") == 0) {
		router_admin_bind(stream, iq, child, true);
	} else if (is_get && strcmp(child->name, "status") == 0) {
		router_admin_status(stream, iq);
	} else if (!is_get && strcmp(child->name, "watch") == 0) {
		router_admin_result(stream, iq, NULL);
		router_watch_start(stream);
	} else if (!is_get && strcmp(child->name, "ack") == 0) {
		/* Count from the next stanza on (router-stream.c acks them). */
		router_admin_result(stream, iq, NULL);
		stream->acks = true;
		stream->acks_in = stream->acks_sent = stream->acks_out = 0;
	} else {
		router_admin_error(stream, iq, "cancel", "feature-not-implemented", NULL);
	}
	stanza_unref(&iq);
}
