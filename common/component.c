/* component.c: a component's stream to the router, kept alive across
 * router restarts (see component.h).
 *
 * States run DOWN -> RESOLVING -> CONNECTING -> HEADER -> HANDSHAKE ->
 * BINDING -> READY, and back to DOWN (with a backoff timer) whenever the
 * connection ends. Stanzas sent while not READY wait in `pending`, already
 * serialized, and are written in order right after the binds succeed.
 */
#include "component.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "digest.h"
#include "log.h"
#include "stanza.h"
#include "stream.h"
#include "xml-frame.h"
#include "xml-parser.h"
#include "xml-tag.h"

#define COMPONENT_NS_EXT "urn:junction:component:1"

enum component_state {
	COMPONENT_DOWN,
	COMPONENT_RESOLVING,
	COMPONENT_CONNECTING,
	COMPONENT_HEADER,
	COMPONENT_HANDSHAKE,
	COMPONENT_BINDING,
	COMPONENT_READY,
};

struct component {
	uv_loop_t *loop;
	struct component_options opt; /* strings owned below */
	char *address, *name, *secret;
	char **binds;
	const struct component_callbacks *cbs;
	void *ctx;

	enum component_state state;
	struct conn *conn;
	struct xml_parser *parser;
	/* The router's header bound no prefix but "stream": stanzas' raw bytes
	 * stand alone. cur_raw: those of the stanza being handled, if so. */
	bool raw_ok;
	const char *cur_raw;
	size_t cur_raw_len;
	/* With a raw callback, once ready: the stream is cut into stanzas by
	 * `frame` instead of parsed (the router checked every byte of it), and
	 * those the owner wants as a tree go through tree_parser, a parser on a
	 * private stream with the router's header (default_ns). */
	struct xml_frame *frame;
	struct xml_parser *tree_parser;
	char *default_ns;
	char *stream_id;
	unsigned binds_left;
	struct buf pending;
	size_t *pending_lens; /* the length of each stanza in pending */
	size_t n_pending, pending_cap;
	/* Acknowledgements (docs/components.md): when the router agreed,
	 * every stanza written since the <ack/> request has a number (out_seq
	 * counts them); the owner's stanzas are kept in `unacked` until the
	 * router's <a h=''/> covers them, and sent again after a reconnection
	 * if it never did. unacked_lens[i] is the length and number of the
	 * i-th kept stanza, from unacked_first on; unacked_off the bytes of
	 * `unacked` already acknowledged. */
	bool acks;
	uint64_t out_seq;
	uint64_t in_seq, in_acked; /* stanzas read since, and last acknowledged */
	struct buf unacked;
	size_t unacked_off;
	struct component_kept *kept;
	size_t n_kept, kept_first, kept_cap;
	uv_timer_t timer;
	uv_getaddrinfo_t resolve;
	unsigned attempts;
	unsigned open_handles; /* freed when this drops to 0 after stop */
	bool stopping;
	struct component_counts count;
};

struct component_kept {
	uint64_t seq;
	size_t len;
};

static void component_schedule(struct component *c, const char *why);
static void component_connect(struct component *c);

static void component_maybe_free(struct component *c)
{
	if (!c->stopping || c->open_handles > 0)
		return;
	for (size_t i = 0; i < c->opt.n_binds; i++)
		free(c->binds[i]);
	free(c->binds);
	free(c->address);
	free(c->name);
	free(c->secret);
	free(c->stream_id);
	xml_parser_free(&c->parser);
	xml_frame_free(&c->frame);
	xml_parser_free(&c->tree_parser);
	free(c->default_ns);
	buf_free(&c->pending);
	buf_free(&c->unacked);
	free(c->kept);
	free(c->pending_lens);
	free(c);
}

static void component_handle_closed(uv_handle_t *handle)
{
	struct component *c = handle->data;
	c->open_handles--;
	component_maybe_free(c);
}

/* ---- acknowledgements ----------------------------------------------------- */

/* Bytes were written to the router: number them, and keep the owner's. */
static void component_written(struct component *c, const char *data, size_t len, bool keep)
{
	c->out_seq++;
	if (!keep || !c->acks)
		return;
	if (c->kept_first + c->n_kept == c->kept_cap) {
		if (c->kept_first > 0) {
			memmove(c->kept, c->kept + c->kept_first, c->n_kept * sizeof(*c->kept));
			c->kept_first = 0;
		} else {
			c->kept_cap = c->kept_cap ? c->kept_cap * 2 : 64;
			c->kept = xrealloc(c->kept, c->kept_cap * sizeof(*c->kept));
		}
	}
	c->kept[c->kept_first + c->n_kept++] = (struct component_kept){c->out_seq, len};
	buf_append(&c->unacked, data, len);
}

/* <a h='N'/>: the router has passed on the first N stanzas. */
static void component_acked(struct component *c, const char *h_s)
{
	uint64_t h = h_s != NULL ? strtoull(h_s, NULL, 10) : 0;

	while (c->n_kept > 0 && c->kept[c->kept_first].seq <= h) {
		c->unacked_off += c->kept[c->kept_first].len;
		c->kept_first++;
		c->n_kept--;
	}
	if (c->n_kept == 0) {
		buf_reset(&c->unacked);
		c->unacked_off = 0;
		c->kept_first = 0;
	} else if (c->unacked_off > c->unacked.len / 2) {
		memmove(c->unacked.data, c->unacked.data + c->unacked_off,
			c->unacked.len - c->unacked_off);
		c->unacked.len -= c->unacked_off;
		c->unacked_off = 0;
	}
}

/* Note one more stanza of len bytes at the end (or, front, the start) of
 * pending. */
static void component_pending_len(struct component *c, size_t len, bool front)
{
	if (c->n_pending == c->pending_cap) {
		c->pending_cap = c->pending_cap ? c->pending_cap * 2 : 64;
		c->pending_lens = xrealloc(c->pending_lens, c->pending_cap * sizeof(*c->pending_lens));
	}
	if (front)
		memmove(c->pending_lens + 1, c->pending_lens, c->n_pending * sizeof(*c->pending_lens));
	c->pending_lens[front ? 0 : c->n_pending] = len;
	c->n_pending++;
}

/* The stream ended: what the router never acknowledged goes out again
 * first after the next handshake, ahead of what was queued since. */
static void component_requeue_unacked(struct component *c)
{
	size_t n = c->unacked.len - c->unacked_off;

	if (c->stopping)
		return;
	for (size_t i = c->n_kept; i > 0; i--)
		component_pending_len(c, c->kept[c->kept_first + i - 1].len, true);
	if (n > 0) {
		struct buf b = {0};
		buf_append(&b, c->unacked.data + c->unacked_off, n);
		buf_append(&b, c->pending.data, c->pending.len);
		buf_free(&c->pending);
		c->pending = b;
		JLOG_INFO(0, "%s: %zu unacknowledged stanza(s) will be sent again", c->name,
			  c->n_kept);
	}
	buf_reset(&c->unacked);
	c->unacked_off = 0;
	c->n_kept = c->kept_first = 0;
	c->acks = false;
	c->out_seq = 0;
}

/* ---- the stream ------------------------------------------------------------ */

static void component_drop(struct component *c, const char *why)
{
	if (c->conn != NULL) {
		JLOG_INFO(c->conn->id, "%s: stream to the router ends: %s", c->name, why);
		conn_close(c->conn, false, 0);
		c->conn = NULL;
	}
	component_requeue_unacked(c);
	if (c->state != COMPONENT_DOWN && c->cbs->down != NULL && !c->stopping)
		c->cbs->down(c, why, c->ctx);
	c->state = COMPONENT_DOWN;
}

static void component_send_bind(struct component *c, const char *name, const char *id)
{
	struct buf b = {0};

	buf_printf(&b, "<iq type='set' id='%s'><bind xmlns='" COMPONENT_NS_EXT "'", id);
	if (name != NULL) {
		buf_append_str(&b, " name='");
		buf_append_xml_escaped(&b, name, strlen(name), true);
		buf_printf(&b, "' mode='%s'/></iq>", c->opt.shared ? "shared" : "exclusive");
	} else {
		buf_append_str(&b, " default='true'/></iq>");
	}
	conn_send(c->conn, b.data, b.len);
	component_written(c, b.data, b.len, false);
	buf_free(&b);
	c->binds_left++;
}

static void component_become_ready(struct component *c)
{
	c->state = COMPONENT_READY;
	c->attempts = 0;
	if (c->pending.len > 0) {
		size_t off = 0;
		conn_send(c->conn, c->pending.data, c->pending.len);
		for (size_t i = 0; i < c->n_pending; i++) {
			component_written(c, c->pending.data + off, c->pending_lens[i], true);
			off += c->pending_lens[i];
		}
		buf_reset(&c->pending);
		c->n_pending = 0;
	}
	/* From the next stanza on, the raw callback sees stanzas before any
	 * tree is built for them. */
	if (c->cbs->raw != NULL && c->raw_ok)
		xml_parser_set_mode(c->parser, XML_PARSER_MODE_HEAD);
	JLOG_INFO(c->conn->id, "%s: connected to the router", c->name);
	c->cbs->ready(c, c->ctx);
}

static void component_on_handshake(struct component *c, const struct stanza *st)
{
	char id[32];

	if (strcmp(st->name, "handshake") != 0) {
		struct stanza *cond = stanza_child_element(st, 0);
		char why[128];
		snprintf(why, sizeof(why), "handshake refused: %s", cond ? cond->name : st->name);
		component_drop(c, why);
		component_schedule(c, NULL);
		return;
	}
	c->state = COMPONENT_BINDING;
	c->binds_left = 0;
	/* Ask for acknowledgements first; the answer comes before the binds'
	 * (the router answers in order), so we know before going READY.
	 * Stanzas are numbered from the next one on. */
	static const char ack[] =
		"<iq type='set' id='jack'><ack xmlns='" COMPONENT_NS_EXT "'/></iq>";
	conn_send(c->conn, ack, sizeof(ack) - 1);
	c->acks = false;
	c->out_seq = c->in_seq = c->in_acked = 0;
	c->binds_left++;
	if (c->opt.watch) {
		/* Before the binds: the router answers in order, so the list
		 * of bound names arrives before our names are announced. */
		static const char watch[] =
			"<iq type='set' id='jwatch'><watch xmlns='" COMPONENT_NS_EXT "'/></iq>";
		conn_send(c->conn, watch, sizeof(watch) - 1);
		component_written(c, watch, sizeof(watch) - 1, false);
	}
	for (size_t i = 0; i < c->opt.n_binds; i++) {
		snprintf(id, sizeof(id), "jb%zu", i);
		component_send_bind(c, c->binds[i], id);
	}
	if (c->opt.default_route)
		component_send_bind(c, NULL, "jbdefault");
}

static void component_on_bind_reply(struct component *c, struct stanza *st)
{
	const char *id = stanza_get_attr(st, "id");
	const char *type = stanza_get_attr(st, "type");

	if (strcmp(st->name, "iq") == 0 && id != NULL && strcmp(id, "jack") == 0) {
		/* A router without acknowledgements refuses: fine, none then. */
		c->acks = type != NULL && strcmp(type, "result") == 0;
		if (--c->binds_left == 0)
			component_become_ready(c);
		return;
	}
	if (strcmp(st->name, "iq") != 0 || id == NULL || strncmp(id, "jb", 2) != 0) {
		c->cbs->stanza(c, st, c->ctx); /* early traffic for a bound name */
		return;
	}
	if (type == NULL || strcmp(type, "result") != 0) {
		struct stanza *e = stanza_find_child(st, "error", NULL);
		struct stanza *cond = e != NULL ? stanza_child_element(e, 0) : NULL;
		char why[128];
		snprintf(why, sizeof(why), "bind %s refused: %s", id, cond ? cond->name : "?");
		component_drop(c, why);
		component_schedule(c, NULL);
		return;
	}
	if (--c->binds_left == 0)
		component_become_ready(c);
}

static int component_on_open(void *ctx, const struct xml_parser_stream_open *open)
{
	struct component *c = ctx;
	char digest[DIGEST_SHA1_HEX_LEN + 1];
	struct buf b = {0};

	c->raw_ok = !open->extra_prefixes;
	free(c->default_ns);
	c->default_ns = xstrdup(open->default_ns != NULL ? open->default_ns : "");
	free(c->stream_id);
	c->stream_id = xstrdup(open->id != NULL ? open->id : "");
	digest_sha1_hex2(c->stream_id, c->secret, digest);
	buf_printf(&b, "<handshake>%s</handshake>", digest);
	conn_send(c->conn, b.data, b.len);
	buf_free(&b);
	c->state = COMPONENT_HANDSHAKE;
	return 0;
}

/* <a h='N'/> without a tree (HEAD mode): h read from the bytes. */
static void component_acked_raw(struct component *c, const struct xml_parser_stanza *ev)
{
	bool empty;
	size_t tag = xml_tag_end(ev->raw, ev->raw_len, &empty);
	const char *v;
	size_t vlen;
	char h[32];

	if (tag == 0 || !xml_tag_attr(ev->raw, tag, "h", &v, &vlen) || vlen >= sizeof(h))
		return;
	memcpy(h, v, vlen);
	h[vlen] = '\0';
	component_acked(c, h);
}

/* The owner's stanza callback, with the stanza's bytes at hand. */
static int component_give_tree(struct component *c, const struct xml_parser_stanza *ev)
{
	if (c->raw_ok) {
		c->cur_raw = ev->raw;
		c->cur_raw_len = ev->raw_len;
	}
	c->cbs->stanza(c, ev->tree, c->ctx);
	c->cur_raw = NULL;
	return c->conn == NULL;
}

static int component_on_tree(void *ctx, const struct xml_parser_stanza *ev)
{
	return component_give_tree(ctx, ev);
}

static const struct xml_parser_callbacks component_tree_callbacks = {
	.stanza = component_on_tree,
};

/* A stanza without a tree that the raw callback declined: parse its bytes
 * (they stand alone: raw_ok) on tree_parser's private stream. */
static int component_parse_tree(struct component *c, const struct xml_parser_stanza *ev)
{
	if (c->tree_parser == NULL) {
		struct buf h = {0};
		c->tree_parser = xml_parser_new(NULL, XML_PARSER_MODE_TREE,
						&component_tree_callbacks, c);
		buf_append_str(&h, "<stream:stream xmlns='");
		buf_append_xml_escaped(&h, c->default_ns, strlen(c->default_ns), true);
		buf_append_str(&h, "' xmlns:stream='" XML_NS_STREAM "'>");
		(void)xml_parser_feed(c->tree_parser, h.data, h.len);
		buf_free(&h);
	}
	int r = xml_parser_feed(c->tree_parser, ev->raw, ev->raw_len);
	if (r < 0 && r != XML_PARSER_STOPPED) {
		component_drop(c, xml_parser_error_text(c->tree_parser));
		component_schedule(c, NULL);
		return 1;
	}
	/* Between stanzas it holds nothing worth 10 kB. */
	(void)xml_parser_release_idle(c->tree_parser);
	return c->conn == NULL;
}

/* A stanza for the owner, once ready: to the raw callback first (HEAD mode
 * or frame), else as a tree. */
static int component_deliver(struct component *c, const struct xml_parser_stanza *ev)
{
	c->count.in++;
	if (ev->tree != NULL)
		return component_give_tree(c, ev);
	if (c->cbs->raw(c, ev, c->ctx))
		return c->conn == NULL;
	return component_parse_tree(c, ev);
}

static int component_on_stanza(void *ctx, const struct xml_parser_stanza *ev)
{
	struct component *c = ctx;

	if (strcmp(ev->ns, XML_NS_STREAM) == 0 && strcmp(ev->name, "error") == 0 &&
	    c->state != COMPONENT_HANDSHAKE) {
		struct stanza *own = NULL;
		if (ev->tree == NULL)
			(void)stanza_parse(ev->raw, ev->raw_len, STREAM_NS_COMPONENT, &own);
		const struct stanza *err = ev->tree != NULL ? ev->tree : own;
		struct stanza *cond = err != NULL ? stanza_child_element(err, 0) : NULL;
		char why[128];
		snprintf(why, sizeof(why), "stream error %s", cond ? cond->name : "?");
		stanza_unref(&own);
		component_drop(c, why);
		component_schedule(c, NULL);
		return 1;
	}
	if (strcmp(ev->name, "a") == 0 && strcmp(ev->ns, COMPONENT_NS_EXT) == 0) {
		if (ev->tree != NULL)
			component_acked(c, stanza_get_attr(ev->tree, "h"));
		else
			component_acked_raw(c, ev);
		return 0;
	}
	/* Everything after the answer to <ack/> is numbered by the router
	 * (component_read acknowledges it once handled). */
	if (c->acks)
		c->in_seq++;
	/* Only READY switches the parser to HEAD mode, so earlier states
	 * always have a tree. */
	switch (c->state) {
	case COMPONENT_HANDSHAKE:
		component_on_handshake(c, ev->tree);
		break;
	case COMPONENT_BINDING:
		component_on_bind_reply(c, ev->tree);
		break;
	case COMPONENT_READY:
		return component_deliver(c, ev);
	default:
		break;
	}
	return c->conn == NULL;
}

static int component_on_close(void *ctx)
{
	struct component *c = ctx;
	component_drop(c, "router closed the stream");
	component_schedule(c, NULL);
	return 1;
}

static const struct xml_parser_callbacks component_parser_callbacks = {
	.stream_open = component_on_open,
	.stanza = component_on_stanza,
	.stream_close = component_on_close,
};

static void component_read(struct conn *conn, const char *data, size_t len)
{
	struct component *c = conn->owner;

	if (c->frame != NULL) {
		int r = xml_frame_feed(c->frame, data, len);
		if (r < 0 && r != XML_PARSER_STOPPED) {
			component_drop(c, xml_parser_error_condition(r));
			component_schedule(c, NULL);
			return;
		}
	} else {
		int r = xml_parser_feed(c->parser, data, len);
		if (r < 0 && r != XML_PARSER_STOPPED) {
			component_drop(c, xml_parser_error_text(c->parser));
			component_schedule(c, NULL);
			return;
		}
		/* Ready, and the parser between stanzas: cut from now on. */
		if (c->conn != NULL && c->state == COMPONENT_READY && c->cbs->raw != NULL &&
		    c->raw_ok && xml_parser_release_idle(c->parser))
			c->frame = xml_frame_new(&component_parser_callbacks, c, c->default_ns, 0);
	}
	/* The owner has handled every stanza of this read (its callback
	 * returned): tell the router, which keeps them until then. */
	if (c->conn != NULL && c->acks && c->in_seq != c->in_acked) {
		char a[96];
		snprintf(a, sizeof(a), "<a xmlns='" COMPONENT_NS_EXT "' h='%llu'/>",
			 (unsigned long long)c->in_seq);
		conn_send(c->conn, a, strlen(a));
		c->in_acked = c->in_seq;
	}
}

static void component_eof(struct conn *conn, int status)
{
	struct component *c = conn->owner;
	component_drop(c, uv_strerror(status));
	component_schedule(c, NULL);
}

/* The router took enough of what was queued: read its stanzas again (if
 * component_send() paused them) and tell the owner. */
static void component_drained(struct conn *conn)
{
	struct component *c = conn->owner;
	conn_read_resume(conn);
	if (c->cbs->drained != NULL && !c->stopping)
		c->cbs->drained(c, c->ctx);
}

static void component_conn_closed(struct conn *conn)
{
	struct component *c = conn->owner;
	c->open_handles--;
	component_maybe_free(c);
}

static const struct conn_callbacks component_conn_callbacks = {
	.read = component_read,
	.eof = component_eof,
	.drained = component_drained,
	.closed = component_conn_closed,
};

/* ---- connecting ------------------------------------------------------------ */

static void component_on_connect(struct conn *conn, int status, void *ctx)
{
	struct component *c = ctx;
	struct buf b = {0};

	c->open_handles--;
	if (c->stopping) {
		if (conn != NULL) {
			c->open_handles++;
			conn_start(conn, &component_conn_callbacks, c);
			conn_close(conn, false, 0);
		}
		component_maybe_free(c);
		return;
	}
	if (status < 0) {
		component_schedule(c, uv_strerror(status));
		return;
	}
	c->open_handles++;
	c->conn = conn;
	c->state = COMPONENT_HEADER;
	xml_parser_reset(c->parser);
	xml_parser_set_mode(c->parser, XML_PARSER_MODE_TREE);
	xml_frame_free(&c->frame);
	xml_parser_free(&c->tree_parser);
	conn_start(conn, &component_conn_callbacks, c);
	conn_set_low_water(conn, c->opt.low_water != 0 ? c->opt.low_water : c->opt.queue_limit / 2);
	stream_header(&b, STREAM_NS_COMPONENT, NULL, c->name, NULL);
	conn_send(conn, b.data, b.len);
	buf_free(&b);
}

static void component_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	struct component *c = req->data;

	c->open_handles--;
	if (c->stopping || status < 0) {
		if (ai != NULL)
			uv_freeaddrinfo(ai);
		if (c->stopping)
			component_maybe_free(c);
		else
			component_schedule(c, uv_strerror(status));
		return;
	}
	c->state = COMPONENT_CONNECTING;
	int r = conn_connect(c->loop, ai->ai_addr, NULL, component_on_connect, c);
	uv_freeaddrinfo(ai);
	if (r < 0)
		component_schedule(c, uv_strerror(r));
	else
		c->open_handles++;
}

static void component_connect(struct component *c)
{
	char host[256], port[8];
	unsigned port_n;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};

	if (c->opt.is_unix) {
		c->state = COMPONENT_CONNECTING;
		if (conn_connect(c->loop, NULL, c->address, component_on_connect, c) == 0)
			c->open_handles++;
		else
			component_schedule(c, "cannot connect");
		return;
	}
	if (config_parse_hostport(c->address, host, sizeof(host), &port_n) < 0) {
		component_schedule(c, "bad address");
		return;
	}
	snprintf(port, sizeof(port), "%u", port_n);
	c->state = COMPONENT_RESOLVING;
	c->resolve.data = c;
	int r = uv_getaddrinfo(c->loop, &c->resolve, component_on_resolved, host, port, &hints);
	if (r < 0)
		component_schedule(c, uv_strerror(r));
	else
		c->open_handles++;
}

static void component_on_timer(uv_timer_t *timer)
{
	component_connect(timer->data);
}

/* Try again after a backoff: min * 2^attempts, capped, with +-25% jitter
 * so that many components do not reconnect in lockstep. */
static void component_schedule(struct component *c, const char *why)
{
	uint64_t delay = c->opt.backoff_min_ms;

	if (c->stopping)
		return;
	c->state = COMPONENT_DOWN;
	for (unsigned i = 0; i < c->attempts && delay < c->opt.backoff_max_ms; i++)
		delay *= 2;
	if (delay > c->opt.backoff_max_ms)
		delay = c->opt.backoff_max_ms;
	delay = delay * 3 / 4 + (uint64_t)rand() % (delay / 2 + 1);
	c->attempts++;
	if (why != NULL)
		JLOG_INFO(0, "%s: cannot reach the router at %s: %s; retrying in %llums", c->name,
			  c->address, why, (unsigned long long)delay);
	uv_timer_start(&c->timer, component_on_timer, delay, 0);
}

/* ---- public --------------------------------------------------------------- */

int component_start(uv_loop_t *loop, const struct component_options *options,
		    const struct component_callbacks *callbacks, void *ctx,
		    struct component **component_r)
{
	struct component *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->opt = *options;
	c->address = xstrdup(options->address);
	c->name = xstrdup(options->name);
	c->secret = xstrdup(options->secret);
	c->binds = xcalloc(options->n_binds + 1, sizeof(*c->binds));
	for (size_t i = 0; i < options->n_binds; i++)
		c->binds[i] = xstrdup(options->binds[i]);
	if (c->opt.queue_limit == 0)
		c->opt.queue_limit = 1024 * 1024;
	if (c->opt.backoff_min_ms == 0)
		c->opt.backoff_min_ms = 100;
	if (c->opt.backoff_max_ms == 0)
		c->opt.backoff_max_ms = 10000;
	c->cbs = callbacks;
	c->ctx = ctx;
	c->parser = xml_parser_new(NULL, XML_PARSER_MODE_TREE, &component_parser_callbacks, c);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->open_handles = 1;
	component_connect(c);
	*component_r = c;
	return 0;
}

int component_send(struct component *c, const struct stanza *st)
{
	struct buf b = {0};
	int r;

	stanza_serialize(st, STREAM_NS_COMPONENT, &b);
	r = component_send_raw(c, b.data, b.len);
	buf_free(&b);
	return r;
}

int component_send_raw(struct component *c, const char *data, size_t len)
{
	c->count.out++;
	if (c->state == COMPONENT_READY) {
		conn_send(c->conn, data, len);
		component_written(c, data, len, true);
		/* Backpressure, never loss: while the router is slow to take what
		 * we send, stop reading the stanzas that make us send. The router
		 * then sees a slow consumer and answers its senders with errors;
		 * the drained callback resumes at low_water (default: half the
		 * limit). */
		if (conn_queued(c->conn) > c->opt.queue_limit)
			conn_read_stop(c->conn);
		return 0;
	}
	if (c->pending.len > c->opt.queue_limit) {
		c->count.out--;
		c->count.refused++;
		return -1;
	}
	size_t before = c->pending.len;
	buf_append(&c->pending, data, len);
	component_pending_len(c, c->pending.len - before, false);
	return 0;
}

size_t component_queued(const struct component *c)
{
	return c->pending.len + (c->conn != NULL ? conn_queued(c->conn) : 0);
}

struct component_counts component_counts(const struct component *c)
{
	return c->count;
}

const char *component_stanza_raw(const struct component *c, size_t *len_r)
{
	*len_r = c->cur_raw_len;
	return c->cur_raw;
}

bool component_is_ready(const struct component *c)
{
	return c->state == COMPONENT_READY;
}

void component_stop(struct component **component)
{
	struct component *c = *component;

	if (c == NULL)
		return;
	*component = NULL;
	c->stopping = true;
	if (c->conn != NULL) {
		static const char bye[] = "</stream:stream>";
		conn_send(c->conn, bye, sizeof(bye) - 1);
		conn_close(c->conn, true, 1000);
		c->conn = NULL;
	}
	if (c->state == COMPONENT_RESOLVING)
		uv_cancel((uv_req_t *)&c->resolve);
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, component_handle_closed);
}
