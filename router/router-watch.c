/* router-watch.c: telling trusted components when names come and go.
 *
 * A trusted stream that sent <watch xmlns='urn:junction:component:1'/> gets
 * a presence stanza for every name bound (available, with <bound/>) and
 * released (unavailable, with <unbound/>), first for every name bound when
 * it starts watching. c2s uses it to notice that sm came back (and
 * re-announce its sessions), or that an sm instance joined or left a shared
 * domain. Every change of the route table goes through here.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conn.h"
#include "log.h"
#include "router.h"
#include "stream.h"

static void router_watch_send(struct router_stream *watcher, const char *name,
			      enum route_mode mode, const struct router_stream *holder, bool bound)
{
	struct buf b = {0};

	buf_append_str(&b, "<presence from='");
	buf_append_xml_escaped(&b, name, strlen(name), true);
	buf_append_str(&b, "' to='");
	buf_append_xml_escaped(&b, watcher->name, strlen(watcher->name), true);
	buf_printf(&b, "'%s><%s xmlns='" ROUTER_NS_EXT "' mode='%s' instance='",
		   bound ? "" : " type='unavailable'", bound ? "bound" : "unbound",
		   mode == ROUTE_SHARED ? "shared" : "exclusive");
	buf_append_xml_escaped(&b, holder->name, strlen(holder->name), true);
	buf_printf(&b, "' trusted='%s'/></presence>", holder->trusted ? "true" : "false");
	/* Past the queue limit too: there are at most as many as names. */
	router_stream_deliver(watcher, b.data, b.len, true);
	buf_free(&b);
}

static void router_watch_notify(struct router *router, const char *name, enum route_mode mode,
				const struct router_stream *holder, bool bound)
{
	router_hold_changed(router, name, bound);
	for (struct router_stream *w = router->streams; w != NULL; w = w->next) {
		if (w->watching && w->state == ROUTER_STREAM_READY)
			router_watch_send(w, name, mode, holder, bound);
	}
}

int router_watch_bind(struct router_stream *stream, const char *name, enum route_mode mode)
{
	struct router *router = stream->router;
	bool had = route_holds(router->routes, name, strlen(name), stream);
	int r = route_bind(router->routes, name, mode, stream, stream->name);

	if (r == ROUTE_OK && !had)
		router_watch_notify(router, name, mode, stream, true);
	return r;
}

int router_watch_unbind(struct router_stream *stream, const char *name)
{
	struct router *router = stream->router;
	enum route_mode mode = route_mode_of(router->routes, name);
	int r = route_unbind(router->routes, name, stream);

	if (r == ROUTE_OK)
		router_watch_notify(router, name, mode, stream, false);
	return r;
}

struct router_watch_names {
	const struct router_stream *stream;
	char **names;
	enum route_mode *modes;
	size_t n;
};

static void router_watch_collect(const char *name, enum route_mode mode, void *target, void *ctx)
{
	struct router_watch_names *c = ctx;

	if (target != c->stream)
		return;
	c->names = xrealloc(c->names, (c->n + 1) * sizeof(*c->names));
	c->modes = xrealloc(c->modes, (c->n + 1) * sizeof(*c->modes));
	c->names[c->n] = xstrdup(name);
	c->modes[c->n] = mode;
	c->n++;
}

void router_watch_release_all(struct router_stream *stream)
{
	struct router *router = stream->router;
	struct router_watch_names c = {.stream = stream};

	bool had_default = route_default(router->routes) == stream;
	route_foreach(router->routes, router_watch_collect, &c);
	route_unbind_all(router->routes, stream);
	if (had_default && !router->stopping)
		router_hold_changed(router, ROUTER_HOLD_DEFAULT, false);
	stream->watching = false;
	for (size_t i = 0; i < c.n; i++) {
		if (!router->stopping)
			router_watch_notify(router, c.names[i], c.modes[i], stream, false);
		free(c.names[i]);
	}
	free(c.names);
	free(c.modes);
	/* Nothing is routed here any more: what it was sent and never
	 * acknowledged goes elsewhere now (into the hold its names just
	 * opened, if they were a users' domain). */
	router_kept_requeue(stream);
}

struct router_watch_start {
	struct router_stream *watcher;
};

static void router_watch_initial(const char *name, enum route_mode mode, void *target, void *ctx)
{
	struct router_watch_start *w = ctx;
	router_watch_send(w->watcher, name, mode, target, true);
}

void router_watch_start(struct router_stream *stream)
{
	struct router_watch_start w = {stream};

	if (stream->watching)
		return;
	stream->watching = true;
	route_foreach(stream->router->routes, router_watch_initial, &w);
	JLOG_INFO(stream->id, "%s watches bound names", stream->name);
}
