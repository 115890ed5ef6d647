/* c2s-bosh.c: BOSH (XEP-0124 with XEP-0206) at /http-bind: XMPP sessions
 * carried by HTTP request/response pairs, on the same client state machine
 * as TCP and WebSocket.
 *
 * A session is one c2s client whose transport queues output in `out` until
 * a request is there to carry it. Requests are processed strictly in rid
 * order: one ahead of the next expected rid (within the window of
 * `requests` = hold + 1) waits, unparsed, until the gap is filled; one
 * outside the window, or for an unknown sid, gets <body type='terminate'
 * condition='item-not-found'/>. A processed request is held until there is
 * output, until `wait` seconds pass (empty body), or until more than `hold`
 * requests are held (the oldest is answered). With no request held for
 * [c2s] bosh_inactivity (or a request's `pause`) the session ends. The last
 * responses are kept: a repeated rid gets its response again (a rid still
 * unanswered moves to the new connection), and with ack='1' responses
 * carry ack, and report/time when the client's ack says one went missing.
 * Overactivity (XEP-0124 11, 12: too many unanswered requests, empty ones
 * too often) ends the session with policy-violation; so does a body that
 * breaks the stanza limits, with the stream error TCP would get. Session
 * creation counts against [c2s] max_clients. The client never owns a conn
 * (client->conn is NULL): a request's HTTP connection may close at any
 * time and only forfeits its answer. Ended sessions are freed on the timer,
 * never inside a callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s-http.h"
#include "c2s.h"
#include "conn.h"
#include "digest.h"
#include "log.h"
#include "stanza.h"
#include "stream.h"
#include "xml-parser.h"

#define C2S_NS_HTTPBIND	      "http://jabber.org/protocol/httpbind"
#define C2S_NS_XBOSH	      "urn:xmpp:xbosh"
#define C2S_BOSH_MAX_WAIT_S   60
#define C2S_BOSH_POLLING_S    2
#define C2S_BOSH_MAX_HOLD     1
#define C2S_BOSH_MAX_CHILDREN 64
#define C2S_BOSH_MAX_PAUSE_S  120
#define C2S_BOSH_KEPT	      (C2S_BOSH_MAX_HOLD + 2) /* requests, and one reporting a loss */

/* A request the session owes an answer: waiting for its rid's turn
 * (body set) or held for output. */
struct c2s_bosh_req {
	struct c2s_http *http;
	unsigned long long rid;
	uint64_t deadline_ms;
	char *origin; /* allowed Origin to echo for CORS, or NULL */
	char *body;   /* early request: its body, parsed when its turn comes */
	size_t body_len;
	struct c2s_bosh_req *next;
};

struct c2s_bosh {
	struct c2s *c2s;
	struct c2s_client *client;
	char sid[33];
	unsigned long long next_rid;
	unsigned wait_s, hold;
	struct buf out;		      /* elements for the next response */
	struct c2s_bosh_req *held;    /* processed, oldest first */
	struct c2s_bosh_req *early;   /* ahead of next_rid */
	uint64_t last_ms;	      /* the last request, for inactivity */
	uint64_t arrived_ms;	      /* when the last new request came (overactivity) */
	bool last_empty;	      /* it carried nothing (overactivity) */
	bool in_request;	      /* processing a request: answer after */
	bool terminated;	      /* no more requests; freed when none is held */
	const char *condition;	      /* terminate condition, static */
	bool ack;		      /* the client asked for acknowledgements */
	unsigned pause_s;	      /* inactivity after a pause request, or 0 */
	unsigned long long report;    /* a response the client missed, or 0 */
	struct {		      /* the last responses, by rid % C2S_BOSH_KEPT */
		unsigned long long rid;
		uint64_t sent_ms;
		bool empty; /* nothing but the <body/> */
		struct buf body;
	} kept[C2S_BOSH_KEPT];
	struct c2s_bosh *prev, *next; /* c2s->boshs */
};

/* What one request body says, parsed. */
struct c2s_bosh_body {
	bool is_body, closed;
	char *sid, *rid, *type, *to, *wait, *hold, *version, *restart, *ack, *pause;
	struct stanza *children[C2S_BOSH_MAX_CHILDREN];
	char *raws[C2S_BOSH_MAX_CHILDREN];
	size_t raw_lens[C2S_BOSH_MAX_CHILDREN];
	size_t n_children;
	bool too_many;
};

static unsigned long c2s_bosh_next_id = 1UL << 40; /* apart from conn ids */

/* ---- parsing a request body ------------------------------------------------------- */

static int c2s_bosh_on_open(void *ctx, const struct xml_parser_stream_open *open)
{
	struct c2s_bosh_body *b = ctx;

	b->is_body = strcmp(open->name, "body") == 0 && strcmp(open->ns, C2S_NS_HTTPBIND) == 0;
	for (size_t i = 0; i < open->n_attrs; i++) {
		const char *n = open->attrs[i].name, *v = open->attrs[i].value;
		char **slot = strcmp(n, "sid") == 0			? &b->sid
			      : strcmp(n, "rid") == 0			? &b->rid
			      : strcmp(n, "type") == 0			? &b->type
			      : strcmp(n, "to") == 0			? &b->to
			      : strcmp(n, "wait") == 0			? &b->wait
			      : strcmp(n, "hold") == 0			? &b->hold
			      : strcmp(n, "ack") == 0			? &b->ack
			      : strcmp(n, "pause") == 0			? &b->pause
			      : strcmp(n, C2S_NS_XBOSH " version") == 0 ? &b->version
			      : strcmp(n, C2S_NS_XBOSH " restart") == 0 ? &b->restart
									: NULL;
		if (slot != NULL && *slot == NULL)
			*slot = xstrdup(v);
	}
	return b->is_body ? 0 : 1;
}

static int c2s_bosh_on_child(void *ctx, const struct xml_parser_stanza *ev)
{
	struct c2s_bosh_body *b = ctx;

	if (b->n_children == C2S_BOSH_MAX_CHILDREN) {
		b->too_many = true;
		return 1;
	}
	b->children[b->n_children] = stanza_ref(ev->tree);
	b->raws[b->n_children] = xstrndup(ev->raw, ev->raw_len);
	b->raw_lens[b->n_children] = ev->raw_len;
	b->n_children++;
	return 0;
}

static int c2s_bosh_on_close(void *ctx)
{
	((struct c2s_bosh_body *)ctx)->closed = true;
	return 0;
}

static const struct xml_parser_callbacks c2s_bosh_body_callbacks = {
	.stream_open = c2s_bosh_on_open,
	.stanza = c2s_bosh_on_child,
	.stream_close = c2s_bosh_on_close,
};

static void c2s_bosh_body_clear(struct c2s_bosh_body *b)
{
	char **strs[] = {&b->sid,  &b->rid,  &b->type,	  &b->to,
			 &b->wait, &b->hold, &b->version, &b->restart, &b->ack, &b->pause};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	for (size_t i = 0; i < b->n_children; i++) {
		stanza_unref(&b->children[i]);
		free(b->raws[i]);
	}
	memset(b, 0, sizeof(*b));
}

/* 0 when data is one complete <body/> of the httpbind namespace; the
 * parser's error when the XML broke a rule a TCP stream would end for
 * (XML_PARSER_ERR_POLICY for the stanza limits or too many children);
 * else -1. */
static int c2s_bosh_parse(struct c2s *c2s, const char *data, size_t len, struct c2s_bosh_body *b)
{
	struct xml_parser *p =
		xml_parser_new(&c2s->limits, XML_PARSER_MODE_TREE, &c2s_bosh_body_callbacks, b);
	int r = xml_parser_feed(p, data, len);
	xml_parser_free(&p);
	if (b->too_many)
		return XML_PARSER_ERR_POLICY;
	if (r < XML_PARSER_STOPPED)
		return r;
	return r == XML_PARSER_OK && b->is_body && b->closed ? 0 : -1;
}

/* ---- answering ------------------------------------------------------------------- */

static void c2s_bosh_respond_raw(struct c2s_http *http, const char *origin, const char *body,
				 size_t len)
{
	struct buf out = {0};

	http_response_start(&out, 200);
	http_response_header(&out, "Content-Type", "text/xml; charset=utf-8");
	if (origin != NULL) {
		http_response_header(&out, "Access-Control-Allow-Origin", origin);
		http_response_header(&out, "Vary", "Origin");
	}
	http_response_body(&out, body, len);
	c2s_http_output(http, out.data, out.len);
	buf_free(&out);
	c2s_http_answered(http);
}

/* <body type='terminate' condition=.../> for a request outside any session. */
static void c2s_bosh_refuse(struct c2s_http *http, const char *origin, const char *condition)
{
	struct buf b = {0};

	JLOG_INFO(http->conn->id, "BOSH request from %s refused: %s", http->conn->peer, condition);
	buf_printf(&b, "<body xmlns='%s' type='terminate' condition='%s'/>", C2S_NS_HTTPBIND,
		   condition);
	c2s_bosh_respond_raw(http, origin, b.data, b.len);
	buf_free(&b);
}

static void c2s_bosh_req_free(struct c2s_bosh_req *r)
{
	if (r->http != NULL)
		r->http->bosh = NULL;
	free(r->origin);
	free(r->body);
	free(r);
}

/* Keep the response to rid for re-sending (XEP-0124 9 and 14.3). */
static void c2s_bosh_keep(struct c2s_bosh *s, unsigned long long rid, const struct buf *b)
{
	size_t i = rid % C2S_BOSH_KEPT;

	s->kept[i].rid = rid;
	s->kept[i].sent_ms = uv_now(s->c2s->loop);
	buf_reset(&s->kept[i].body);
	buf_append(&s->kept[i].body, b->data, b->len);
}

/* Answer the oldest held request with what is in out (or nothing). */
static void c2s_bosh_answer_oldest(struct c2s_bosh *s)
{
	struct c2s_bosh_req *r = s->held;
	struct buf b = {0};

	s->held = r->next;
	buf_printf(&b, "<body xmlns='%s' xmlns:stream='%s'", C2S_NS_HTTPBIND, XML_NS_STREAM);
	/* XEP-0124 9.1: the highest rid received in order, when not this one. */
	if (s->ack && r->rid != s->next_rid - 1)
		buf_printf(&b, " ack='%llu'", s->next_rid - 1);
	size_t k = s->report % C2S_BOSH_KEPT;
	if (s->report != 0 && s->kept[k].rid == s->report)
		buf_printf(&b, " report='%llu' time='%llu'", s->report,
			   (unsigned long long)(uv_now(s->c2s->loop) - s->kept[k].sent_ms));
	s->report = 0;
	if (s->terminated)
		buf_printf(&b, " type='terminate'%s%s%s", s->condition ? " condition='" : "",
			   s->condition ? s->condition : "", s->condition ? "'" : "");
	bool empty = s->out.len == 0;
	if (empty) {
		buf_append_str(&b, "/>");
	} else {
		buf_append_char(&b, '>');
		buf_append(&b, s->out.data, s->out.len);
		buf_append_str(&b, "</body>");
		buf_free(&s->out);
	}
	c2s_bosh_keep(s, r->rid, &b);
	s->kept[r->rid % C2S_BOSH_KEPT].empty = empty;
	if (r->http != NULL) {
		r->http->bosh = NULL;
		c2s_bosh_respond_raw(r->http, r->origin, b.data, b.len);
		r->http = NULL;
	}
	buf_free(&b);
	c2s_bosh_req_free(r);
	if (s->client->paused & C2S_PAUSE_OUTPUT)
		c2s_flow_drained(s->client);
}

/* How many requests in the list (held or early). */
static size_t c2s_bosh_count(const struct c2s_bosh_req *list)
{
	size_t n = 0;

	for (const struct c2s_bosh_req *r = list; r != NULL; r = r->next)
		n++;
	return n;
}

/* Answer what can be answered now. */
static void c2s_bosh_flush(struct c2s_bosh *s)
{
	if (s->in_request)
		return;
	if (s->terminated) {
		while (s->held != NULL)
			c2s_bosh_answer_oldest(s);
		while (s->early != NULL) {
			struct c2s_bosh_req *r = s->early;
			s->early = r->next;
			if (r->http != NULL) {
				r->http->bosh = NULL;
				c2s_bosh_refuse(r->http, r->origin, "item-not-found");
				r->http = NULL;
			}
			c2s_bosh_req_free(r);
		}
		return;
	}
	while (c2s_bosh_count(s->held) > s->hold)
		c2s_bosh_answer_oldest(s);
	if (s->out.len > 0 && s->held != NULL)
		c2s_bosh_answer_oldest(s);
}

/* ---- the transport --------------------------------------------------------------- */

static void c2s_bosh_send_header(struct c2s_client *client)
{
	/* The header's data travel as attributes of the session's first
	 * response; a restart needs nothing. */
}

static void c2s_bosh_send(struct c2s_client *client, const void *data, size_t len)
{
	struct c2s_bosh *s = client->transport_data;

	buf_append(&s->out, data, len);
	c2s_bosh_flush(s);
}

static void c2s_bosh_close(struct c2s_client *client, const char *condition, const char *text)
{
	struct c2s_bosh *s = client->transport_data;

	if (condition != NULL) {
		struct buf b = {0};
		/* The stream error without stream_error()'s closing tag: the
		 * response's <body/> is the stream. */
		stream_error(&b, condition, text);
		buf_append(&s->out, b.data, b.len - strlen("</stream:stream>"));
		buf_free(&b);
		/* XEP-0124 17.2 has two of them as binding conditions. */
		s->condition = strcmp(condition, "host-unknown") == 0	   ? "host-unknown"
			       : strcmp(condition, "system-shutdown") == 0 ? "system-shutdown"
									   : "remote-stream-error";
	}
	s->terminated = true;
	c2s_bosh_flush(s);
}

static void c2s_bosh_restart(struct c2s_client *client)
{
}

static size_t c2s_bosh_queued(const struct c2s_client *client)
{
	const struct c2s_bosh *s = client->transport_data;
	return s->out.len;
}

static void c2s_bosh_abort(struct c2s_client *client)
{
	struct c2s_bosh *s = client->transport_data;

	buf_reset(&s->out);
	if (s->condition == NULL)
		s->condition = "policy-violation";
	s->terminated = true;
	c2s_bosh_flush(s);
}

static const struct c2s_transport c2s_transport_bosh = {
	.name = "bosh",
	.stanza_ns = NULL,
	.features_tag = "<stream:features>",
	.send_header = c2s_bosh_send_header,
	.send = c2s_bosh_send,
	.close = c2s_bosh_close,
	.restart = c2s_bosh_restart,
	.queued = c2s_bosh_queued,
	.abort = c2s_bosh_abort,
};

/* ---- requests ---------------------------------------------------------------------- */

static bool c2s_bosh_parse_rid(const char *s, unsigned long long *rid_r)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	*rid_r = strtoull(s, &end, 10);
	return *end == '\0' && *rid_r > 0 && *rid_r < (1ULL << 53);
}

static struct c2s_bosh *c2s_bosh_find(struct c2s *c2s, const char *sid)
{
	for (struct c2s_bosh *s = c2s->boshs; s != NULL; s = s->next)
		if (!s->terminated && strcmp(s->sid, sid) == 0)
			return s;
	return NULL;
}

static unsigned c2s_bosh_uint(const char *v, unsigned dflt, unsigned max)
{
	unsigned long n = v != NULL ? strtoul(v, NULL, 10) : dflt;
	return n > max ? max : (unsigned)n;
}

/* Hand a request's children to the state machine, in order. */
static void c2s_bosh_children(struct c2s_bosh *s, struct c2s_bosh_body *b)
{
	struct c2s_client *client = s->client;

	for (size_t i = 0; i < b->n_children && client->state != C2S_CLIENT_CLOSING; i++) {
		struct stanza *st = b->children[i];
		c2s_rewrite_ns(st, C2S_NS_HTTPBIND, STREAM_NS_CLIENT);
		struct xml_parser_stanza ev = {
			.name = st->name,
			.ns = st->ns,
			.to = stanza_get_attr(st, "to"),
			.from = stanza_get_attr(st, "from"),
			.type = stanza_get_attr(st, "type"),
			.id = stanza_get_attr(st, "id"),
			.raw = b->raws[i],
			.raw_len = b->raw_lens[i],
			.tree = st,
		};
		if (client->state != C2S_CLIENT_OPEN) {
			c2s_client_close(client, "not-authorized", "restart the stream first");
			break;
		}
		(void)c2s_client_element_framed(client, &ev);
	}
}

/* The request with rid next_rid, parsed: process it, then hold it. */
static void c2s_bosh_process(struct c2s_bosh *s, struct c2s_bosh_req *r, struct c2s_bosh_body *b)
{
	uint64_t now = uv_now(s->c2s->loop);

	s->next_rid++;
	s->last_ms = now;
	s->in_request = true;
	/* XEP-0206 5: the restart follows SASL success, as a new stream
	 * header would on TCP (where one mid-stream is a stream error too). */
	if (b->restart != NULL && strcmp(b->restart, "true") == 0) {
		if (s->client->state == C2S_CLIENT_HEADER)
			(void)c2s_client_open_framed(s->client, s->client->domain, "1.0");
		else
			c2s_client_close(s->client, "not-authorized",
					 "xmpp:restart only after SASL success");
	}
	c2s_bosh_children(s, b);
	if (b->type != NULL && strcmp(b->type, "terminate") == 0)
		c2s_client_close(s->client, NULL, NULL);
	s->in_request = false;
	r->deadline_ms = now + (uint64_t)s->wait_s * 1000;
	struct c2s_bosh_req **pp = &s->held;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = r;
	/* XEP-0124 9.2: a response the client reports missing is announced
	 * at once with report/time; the client then repeats its rid. */
	unsigned long long ack;
	if (s->ack && c2s_bosh_parse_rid(b->ack, &ack) &&
	    s->kept[(ack + 1) % C2S_BOSH_KEPT].rid == ack + 1)
		s->report = ack + 1;
	/* XEP-0124 10: pause answers every held request at once. */
	s->pause_s = 0;
	if (b->pause != NULL) {
		unsigned pause = c2s_bosh_uint(b->pause, 0, C2S_BOSH_MAX_PAUSE_S + 1);
		if (pause > C2S_BOSH_MAX_PAUSE_S) {
			s->condition = "policy-violation";
			c2s_client_abort(s->client);
			return;
		}
		s->pause_s = pause;
	}
	if (s->report != 0 || b->pause != NULL)
		while (s->held != NULL)
			c2s_bosh_answer_oldest(s);
	c2s_bosh_flush(s);
}

/* Early requests whose turn has come. */
static void c2s_bosh_catch_up(struct c2s_bosh *s)
{
	for (bool found = true; found && !s->terminated;) {
		found = false;
		for (struct c2s_bosh_req **pp = &s->early; *pp != NULL; pp = &(*pp)->next) {
			struct c2s_bosh_req *r = *pp;
			if (r->rid != s->next_rid)
				continue;
			*pp = r->next;
			r->next = NULL;
			struct c2s_bosh_body b = {0};
			if (c2s_bosh_parse(s->c2s, r->body, r->body_len, &b) < 0) {
				c2s_bosh_body_clear(&b);
				c2s_client_close(s->client, "bad-format", "bad BOSH body");
				c2s_bosh_req_free(r);
				return;
			}
			c2s_bosh_process(s, r, &b);
			c2s_bosh_body_clear(&b);
			found = true;
			break;
		}
	}
}

static struct c2s_bosh_req *c2s_bosh_req_new(struct c2s_http *http, unsigned long long rid,
					     const char *origin)
{
	struct c2s_bosh_req *r = xcalloc(1, sizeof(*r));

	r->http = http;
	r->rid = rid;
	r->origin = origin != NULL ? xstrdup(origin) : NULL;
	return r;
}

/* [c2s] bosh_inactivity in whole seconds, as the creation response says it. */
static unsigned c2s_bosh_inactivity_s(const struct c2s *c2s)
{
	uint64_t s = (c2s->bosh_inactivity_ms + 999) / 1000;
	return s == 0 ? 1 : (unsigned)s;
}

static void c2s_bosh_create(struct c2s_http *http, const char *origin, struct c2s_bosh_body *b,
			    unsigned long long rid)
{
	struct c2s *c2s = http->c2s;
	struct c2s_bosh *s = xcalloc(1, sizeof(*s));

	s->c2s = c2s;
	digest_random_hex(s->sid, (sizeof(s->sid) - 1) / 2);
	s->next_rid = rid;
	s->wait_s = c2s_bosh_uint(b->wait, C2S_BOSH_MAX_WAIT_S, C2S_BOSH_MAX_WAIT_S);
	s->hold = c2s_bosh_uint(b->hold, 1, C2S_BOSH_MAX_HOLD);
	s->ack = b->ack != NULL && strcmp(b->ack, "1") == 0;
	s->client = c2s_client_new(c2s, http->conn, c2s_bosh_next_id++, &c2s_transport_bosh, NULL);
	s->client->conn = NULL;
	/* Its parser is never fed (requests are parsed on their own): no expat. */
	(void)xml_parser_release_idle(s->client->parser);
	s->client->transport_data = s;
	s->client->outer_tls = NULL; /* the session outlives this connection's TLS */
	s->client->outer_secure = true;
	s->next = c2s->boshs;
	if (c2s->boshs != NULL)
		c2s->boshs->prev = s;
	c2s->boshs = s;
	JLOG_DEBUG(s->client->id, "BOSH session %s from %s", s->sid, http->conn->peer);

	/* The session creation response carries the stream header's data
	 * as attributes, and the features. */
	s->in_request = true;
	(void)c2s_client_open_framed(s->client, b->to, b->version);
	s->in_request = false;
	struct buf head = {0};
	buf_printf(&head,
		   "<body xmlns='%s' xmlns:xmpp='%s' xmlns:stream='%s' sid='%s' wait='%u' "
		   "hold='%u' requests='%u' inactivity='%u' polling='%u' ver='1.11' from='%s' "
		   "authid='%s' xmpp:version='1.0' xmpp:restartlogic='true' maxpause='%u'",
		   C2S_NS_HTTPBIND, C2S_NS_XBOSH, XML_NS_STREAM, s->sid, s->wait_s, s->hold,
		   s->hold + 1, c2s_bosh_inactivity_s(c2s), C2S_BOSH_POLLING_S,
		   s->client->domain ? s->client->domain : "", s->client->stream_id,
		   C2S_BOSH_MAX_PAUSE_S);
	if (s->ack)
		buf_printf(&head, " ack='%llu'", rid);
	if (s->terminated)
		buf_printf(&head, " type='terminate' condition='%s'",
			   s->condition ? s->condition : "remote-stream-error");
	buf_append_char(&head, '>');
	buf_append(&head, s->out.data, s->out.len);
	buf_append_str(&head, "</body>");
	buf_free(&s->out); /* an idle session keeps no buffer */
	s->next_rid++;
	s->last_ms = s->arrived_ms = uv_now(c2s->loop);
	c2s_bosh_respond_raw(http, origin, head.data, head.len);
	buf_free(&head);
}

/* A request of session s whose body could not be used (parsed: what
 * c2s_bosh_parse() said): the session ends. A body breaking a stanza
 * limit or the XML rules ends it as the same data would end a TCP stream,
 * with the stream error inside the terminate (this request carries it);
 * anything else with bad-request (XEP-0124 17.2). */
static void c2s_bosh_broken(struct c2s_bosh *s, struct c2s_http *http, const char *origin,
			    int parsed)
{
	const char *condition = xml_parser_error_condition(parsed);

	if (condition == NULL) {
		JLOG_INFO(s->client->id, "BOSH session %s: unusable request body", s->sid);
		c2s_bosh_refuse(http, origin, "bad-request");
		s->condition = "bad-request";
		c2s_client_abort(s->client);
		return;
	}
	/* First in line, so the stream error goes in its answer; the held
	 * ones are answered after it with an empty terminate. */
	struct c2s_bosh_req *r = c2s_bosh_req_new(http, 0, origin);
	http->bosh = r;
	r->next = s->held;
	s->held = r;
	c2s_client_close(s->client, condition, "in a BOSH request body");
	if (!s->terminated) /* the client was closing already */
		c2s_client_abort(s->client);
}

/* The request with this rid, if it is held or waiting for its turn. */
static struct c2s_bosh_req *c2s_bosh_unanswered(struct c2s_bosh *s, unsigned long long rid)
{
	for (struct c2s_bosh_req *r = s->held; r != NULL; r = r->next)
		if (r->rid == rid)
			return r;
	for (struct c2s_bosh_req *r = s->early; r != NULL; r = r->next)
		if (r->rid == rid)
			return r;
	return NULL;
}

/* XEP-0124 14.3: the client sent rid again on http, having lost the
 * first connection (or given up on it): http gets the answer. A first
 * connection still open gets an empty body now, so it is not left
 * waiting. */
static void c2s_bosh_take_over(struct c2s_bosh_req *r, struct c2s_http *http, const char *origin)
{
	static const char empty[] = "<body xmlns='" C2S_NS_HTTPBIND "'/>";

	JLOG_DEBUG(http->conn->id, "BOSH rid %llu sent again before its answer", r->rid);
	if (r->http != NULL) {
		struct c2s_http *old = r->http;
		old->bosh = NULL;
		c2s_bosh_respond_raw(old, r->origin, empty, sizeof(empty) - 1);
	}
	free(r->origin);
	r->origin = origin != NULL ? xstrdup(origin) : NULL;
	r->http = http;
	http->bosh = r;
}

/* XEP-0124 11 and 12: does the new request b (rid) make the client
 * overactive? More unanswered requests than `requests` (one more for a
 * pause or terminate); or, all of them unanswered, an empty one within
 * `polling` seconds of the one before; or, in a polling session (hold
 * 0), an empty request within `polling` seconds of an empty one that got
 * an empty answer. */
static bool c2s_bosh_overactive(struct c2s_bosh *s, const struct c2s_bosh_body *b,
				unsigned long long rid)
{
	uint64_t now = uv_now(s->c2s->loop);
	bool exempt = b->pause != NULL || (b->type != NULL && strcmp(b->type, "terminate") == 0);
	bool empty = b->n_children == 0 && !exempt && b->restart == NULL;
	bool soon = now - s->arrived_ms < C2S_BOSH_POLLING_S * 1000ULL;
	size_t unanswered = c2s_bosh_count(s->held) + c2s_bosh_count(s->early) + 1;
	size_t prev = (rid - 1) % C2S_BOSH_KEPT;
	const char *why = NULL;

	if (unanswered > s->hold + 1 + (exempt ? 1 : 0))
		why = "more simultaneous requests than 'requests'";
	else if (s->hold > 0 && empty && unanswered == s->hold + 1 && soon)
		why = "empty requests faster than 'polling'";
	else if (s->hold == 0 && empty && s->last_empty && soon && s->kept[prev].rid == rid - 1 &&
		 s->kept[prev].empty)
		why = "polling faster than 'polling'";
	s->arrived_ms = now;
	s->last_empty = empty;
	if (why != NULL)
		JLOG_INFO(s->client->id, "BOSH session %s: %s", s->sid, why);
	return why != NULL;
}

void c2s_bosh_handle(struct c2s_http *http, const struct http_request *req)
{
	const char *origin = http_request_header(req, "Origin");
	struct c2s_bosh_body b = {0};
	unsigned long long rid;

	if (!c2s_http_origin_allowed(http, req)) {
		c2s_http_respond(http, req, 403);
		return;
	}
	if (strcmp(req->method, "OPTIONS") == 0) {
		/* CORS preflight (XEP-0124 allows cross-origin POSTs). */
		struct buf out = {0};
		http_response_start(&out, 200);
		if (origin != NULL)
			http_response_header(&out, "Access-Control-Allow-Origin", origin);
		http_response_header(&out, "Access-Control-Allow-Methods", "POST, OPTIONS");
		http_response_header(&out, "Access-Control-Allow-Headers", "Content-Type");
		http_response_header(&out, "Access-Control-Max-Age", "86400");
		http_response_body(&out, "", 0);
		c2s_http_output(http, out.data, out.len);
		buf_free(&out);
		return;
	}
	if (strcmp(req->method, "POST") != 0) {
		c2s_http_respond(http, req, 405);
		return;
	}
	http->busy = true;
	int parsed = c2s_bosh_parse(http->c2s, req->body, req->body_len, &b);
	bool rid_ok = c2s_bosh_parse_rid(b.rid, &rid);
	struct c2s_bosh *s = b.sid != NULL ? c2s_bosh_find(http->c2s, b.sid) : NULL;
	if (parsed < 0 || !rid_ok) {
		if (s != NULL)
			c2s_bosh_broken(s, http, origin, parsed);
		else
			c2s_bosh_refuse(http, origin, "bad-request");
		goto out;
	}
	if (b.sid == NULL) {
		const struct c2s *c2s = http->c2s;
		if (c2s->max_clients != 0 && c2s->n_clients >= c2s->max_clients) {
			/* No room: refused before anything is allocated. */
			c2s_bosh_refuse(http, origin, "remote-connection-failed");
			goto out;
		}
		c2s_bosh_create(http, origin, &b, rid);
		goto out;
	}
	if (s == NULL) {
		c2s_bosh_refuse(http, origin, "item-not-found");
		goto out;
	}
	/* XEP-0124 14.3: a repeated rid gets the same response again. */
	if (rid < s->next_rid && s->kept[rid % C2S_BOSH_KEPT].rid == rid) {
		JLOG_DEBUG(s->client->id, "BOSH rid %llu repeated, re-sending", rid);
		c2s_bosh_respond_raw(http, origin, s->kept[rid % C2S_BOSH_KEPT].body.data,
				     s->kept[rid % C2S_BOSH_KEPT].body.len);
		goto out;
	}
	/* The same rid again while the first is unanswered (its connection
	 * broke): the new connection waits for the answer instead. */
	struct c2s_bosh_req *same = c2s_bosh_unanswered(s, rid);
	if (same != NULL) {
		c2s_bosh_take_over(same, http, origin);
		goto out;
	}
	/* XEP-0124 14.3: within the window of `requests` rids. */
	if (rid < s->next_rid || rid > s->next_rid + s->hold) {
		JLOG_INFO(s->client->id, "BOSH rid %llu outside the window at %llu", rid,
			  s->next_rid);
		c2s_bosh_refuse(http, origin, "item-not-found");
		s->condition = "item-not-found";
		c2s_client_abort(s->client);
		goto out;
	}
	if (c2s_bosh_overactive(s, &b, rid)) {
		c2s_bosh_refuse(http, origin, "policy-violation");
		s->condition = "policy-violation";
		c2s_client_abort(s->client);
		goto out;
	}
	struct c2s_bosh_req *r = c2s_bosh_req_new(http, rid, origin);
	http->bosh = r;
	if (rid != s->next_rid) {
		r->body = xstrndup(req->body, req->body_len);
		r->body_len = req->body_len;
		/* The missing request has until then to arrive. */
		r->deadline_ms = uv_now(http->c2s->loop) + (uint64_t)s->wait_s * 1000;
		r->next = s->early;
		s->early = r;
		goto out;
	}
	c2s_bosh_process(s, r, &b);
	c2s_bosh_catch_up(s);
out:
	c2s_bosh_body_clear(&b);
}

void c2s_bosh_forget_http(struct c2s_http *http)
{
	struct c2s_bosh_req *r = http->bosh;

	if (r != NULL) {
		r->http = NULL;
		http->bosh = NULL;
	}
}

static void c2s_bosh_free(struct c2s_bosh *s)
{
	struct c2s *c2s = s->c2s;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		c2s->boshs = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	while (s->held != NULL) {
		struct c2s_bosh_req *r = s->held;
		s->held = r->next;
		c2s_bosh_req_free(r);
	}
	while (s->early != NULL) {
		struct c2s_bosh_req *r = s->early;
		s->early = r->next;
		c2s_bosh_req_free(r);
	}
	buf_free(&s->out);
	for (size_t i = 0; i < C2S_BOSH_KEPT; i++)
		buf_free(&s->kept[i].body);
	c2s_client_free(s->client);
	free(s);
}

void c2s_bosh_tick(struct c2s *c2s, uint64_t now_ms)
{
	for (struct c2s_bosh *s = c2s->boshs, *next; s != NULL; s = next) {
		next = s->next;
		if (!s->terminated) {
			while (s->held != NULL && now_ms >= s->held->deadline_ms)
				c2s_bosh_answer_oldest(s);
			for (struct c2s_bosh_req *r = s->early; r != NULL; r = r->next) {
				if (now_ms < r->deadline_ms)
					continue;
				JLOG_INFO(s->client->id, "BOSH rid %llu never came", s->next_rid);
				s->condition = "item-not-found";
				c2s_client_abort(s->client);
				break;
			}
			if (s->held == NULL && s->early == NULL &&
			    now_ms - s->last_ms >=
				    (s->pause_s ? s->pause_s * 1000ULL : c2s->bosh_inactivity_ms)) {
				JLOG_INFO(s->client->id, "BOSH session %s inactive, ending it",
					  s->sid);
				c2s_client_gone(s->client);
				s->terminated = true;
			}
		}
		if (s->terminated) {
			c2s_bosh_flush(s);
			c2s_bosh_free(s);
		}
	}
}
