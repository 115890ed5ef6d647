/* c2s-ws.c: XMPP over WebSocket (RFC 7395) at /xmpp-websocket, framed by
 * libwslay, carrying the same client state machine as TCP.
 *
 * Input: wslay hands text-frame payload as it arrives (no buffering of
 * whole messages) and it goes straight into the client's XML parser, which
 * was fed a fixed stream header once at the upgrade. So each message is
 * parsed as one top-level element of that stream, under the same limits as
 * on TCP (max_stanza_bytes, depth, restricted XML). A message must hold
 * exactly one element: <open/> and <close/> in the framing namespace
 * become the stream header and close; anything else is a stanza or nonza
 * for c2s_client_on_stanza(). A stream restart (after SASL) only means the
 * next message must be a new <open/>.
 *
 * Output: every element the state machine writes is one text message;
 * stanzas carry xmlns='jabber:client' and stream-namespace elements declare
 * their prefix, so each message stands alone. Messages queued while wslay
 * is inside its receive call are sent when it returns.
 */
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "c2s-http.h"
#include "c2s.h"
#include "conn.h"
#include "log.h"
#include "scram.h"
#include "stanza.h"
#include "stream.h"
#include "xml-parser.h"

/* RFC 6455 1.3 */
#define C2S_WS_GUID	   "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define C2S_WS_STREAM_DECL "xmlns:stream='" XML_NS_STREAM "'"

struct c2s_ws {
	struct c2s_http *http;
	struct c2s_client *client;
	wslay_event_context_ptr ctx;
	const char *in;	   /* bytes wslay_event_recv() is reading */
	struct buf frames; /* what wslay_event_send() wrote, for one TLS write */
	size_t in_len;
	bool in_recv;	    /* inside wslay_event_recv(): only queue output */
	bool close_pending; /* close the connection once the queue is sent */
	/* The data message being received. */
	bool msg_binary;
	bool frame_fin;
	bool frame_data; /* the current frame is a data frame, not control */
	bool msg_text;	 /* non-whitespace seen */
	unsigned msg_elements;
};

/* ---- output ------------------------------------------------------------------ */

static void c2s_ws_flush(struct c2s_ws *ws)
{
	if (ws->in_recv)
		return;
	if (wslay_event_want_write(ws->ctx))
		(void)wslay_event_send(ws->ctx);
	/* wslay sends control frames before queued messages: the close
	 * frame goes last, once <close/> and the rest are out. */
	if (ws->close_pending &&
	    wslay_event_queue_close(ws->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0) == 0)
		(void)wslay_event_send(ws->ctx);
	/* Frame headers and payloads in one write: one TLS record, not two. */
	if (ws->frames.len > 0) {
		c2s_http_output(ws->http, ws->frames.data, ws->frames.len);
		if (ws->frames.cap > C2S_TLS_READ_CHUNK)
			buf_free(&ws->frames); /* an idle session keeps little */
		else
			buf_reset(&ws->frames);
	}
	if (ws->close_pending)
		c2s_http_close(ws->http);
}

static void c2s_ws_queue(struct c2s_ws *ws, const void *data, size_t len)
{
	struct wslay_event_msg msg = {
		.opcode = WSLAY_TEXT_FRAME,
		.msg = data,
		.msg_length = len,
	};
	if (wslay_event_queue_msg(ws->ctx, &msg) != 0)
		JLOG_DEBUG(ws->http->conn->id, "WebSocket message dropped: closing");
}

static void c2s_ws_send(struct c2s_client *client, const void *data, size_t len)
{
	struct c2s_ws *ws = client->transport_data;

	c2s_ws_queue(ws, data, len);
	c2s_ws_flush(ws);
}

static void c2s_ws_send_header(struct c2s_client *client)
{
	struct buf b = {0};

	buf_printf(&b, "<open xmlns='%s' from='%s' id='%s' version='1.0' xml:lang='en'/>",
		   C2S_NS_FRAMING, client->domain ? client->domain : "", client->stream_id);
	c2s_ws_send(client, b.data, b.len);
	buf_free(&b);
}

static void c2s_ws_close(struct c2s_client *client, const char *condition, const char *text)
{
	struct c2s_ws *ws = client->transport_data;
	struct buf b = {0};

	if (condition != NULL) {
		/* stream_error() writes the element and the stream close; a
		 * message stands alone, so declare the prefix and drop the close. */
		stream_error(&b, condition, text);
		struct buf m = {0};
		buf_printf(&m, "<stream:error %s", C2S_WS_STREAM_DECL);
		size_t end = b.len - strlen("</stream:stream>");
		buf_append(&m, b.data + strlen("<stream:error"), end - strlen("<stream:error"));
		c2s_ws_queue(ws, m.data, m.len);
		buf_free(&m);
		buf_reset(&b);
	}
	buf_printf(&b, "<close xmlns='%s'/>", C2S_NS_FRAMING);
	c2s_ws_queue(ws, b.data, b.len);
	buf_free(&b);
	ws->close_pending = true;
	c2s_ws_flush(ws);
}

/* The parser goes on with its fixed stream: the next message is an <open/>. */
static void c2s_ws_restart(struct c2s_client *client)
{
}

static const struct c2s_transport c2s_transport_ws = {
	.name = "websocket",
	.stanza_ns = NULL,
	.features_tag = "<stream:features " C2S_WS_STREAM_DECL ">",
	.send_header = c2s_ws_send_header,
	.send = c2s_ws_send,
	.close = c2s_ws_close,
	.restart = c2s_ws_restart,
};

/* ---- input: the parser's view ----------------------------------------------------- */

static int c2s_ws_on_stream(void *ctx, const struct xml_parser_stream_open *open)
{
	return 0; /* our own fixed header, fed at the upgrade */
}

/* <open/>: the stream header as TCP would have sent it. */
static int c2s_ws_open(struct c2s_client *client, const struct stanza *st)
{
	if (client->state != C2S_CLIENT_HEADER) {
		c2s_client_close(client, "not-authorized", "<open/> only starts a stream");
		return 1;
	}
	return c2s_client_open_framed(client, stanza_get_attr(st, "to"),
				      stanza_get_attr(st, "version"));
}

static int c2s_ws_on_element(void *ctx, const struct xml_parser_stanza *ev)
{
	struct c2s_client *client = ctx;
	struct c2s_ws *ws = client->transport_data;
	bool framing = strcmp(ev->ns, C2S_NS_FRAMING) == 0;

	if (client->state == C2S_CLIENT_CLOSING)
		return 1;
	if (++ws->msg_elements > 1) {
		c2s_client_close(client, "not-well-formed", "one element per WebSocket message");
		return 1;
	}
	if (framing && strcmp(ev->name, "open") == 0)
		return c2s_ws_open(client, ev->tree);
	if (framing && strcmp(ev->name, "close") == 0) {
		c2s_client_close(client, NULL, NULL);
		return 1;
	}
	if (client->state != C2S_CLIENT_OPEN) {
		c2s_client_close(client, "not-authorized", "<open/> first");
		return 1;
	}
	return c2s_client_element_framed(client, ev);
}

static int c2s_ws_on_end(void *ctx)
{
	c2s_client_close(ctx, "not-well-formed", "</stream:stream> over WebSocket");
	return 1;
}

static const struct xml_parser_callbacks c2s_ws_parser_callbacks = {
	.stream_open = c2s_ws_on_stream,
	.stanza = c2s_ws_on_element,
	.stream_close = c2s_ws_on_end,
};

/* ---- input: wslay's callbacks ------------------------------------------------------ */

static ssize_t c2s_ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
			      void *user_data)
{
	struct c2s_ws *ws = user_data;

	if (ws->in_len == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (len > ws->in_len)
		len = ws->in_len;
	memcpy(buf, ws->in, len);
	ws->in += len;
	ws->in_len -= len;
	return (ssize_t)len;
}

static ssize_t c2s_ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
			      int flags, void *user_data)
{
	struct c2s_ws *ws = user_data;

	buf_append(&ws->frames, data, len);
	return (ssize_t)len;
}

static void c2s_ws_frame_start(wslay_event_context_ptr ctx,
			       const struct wslay_event_on_frame_recv_start_arg *arg,
			       void *user_data)
{
	struct c2s_ws *ws = user_data;

	ws->frame_data = !wslay_is_ctrl_frame(arg->opcode);
	if (!ws->frame_data)
		return;
	ws->frame_fin = arg->fin != 0;
	if (arg->opcode != WSLAY_CONTINUATION_FRAME)
		ws->msg_binary = arg->opcode == WSLAY_BINARY_FRAME;
}

static void c2s_ws_frame_chunk(wslay_event_context_ptr ctx,
			       const struct wslay_event_on_frame_recv_chunk_arg *arg,
			       void *user_data)
{
	struct c2s_ws *ws = user_data;
	struct c2s_client *client = ws->client;
	const char *data = (const char *)arg->data;
	size_t len = arg->data_length;

	if (!ws->frame_data || client->state == C2S_CLIENT_CLOSING)
		return;
	if (ws->msg_binary) {
		c2s_client_close(client, "unsupported-encoding", "XMPP travels in text messages");
		return;
	}
	for (size_t i = 0; i < len && !ws->msg_text; i++)
		ws->msg_text = strchr(" \t\r\n", data[i]) == NULL || data[i] == '\0';
	int r = xml_parser_feed(client->parser, data, len);
	if (r < 0 && r != XML_PARSER_STOPPED && client->state != C2S_CLIENT_CLOSING)
		c2s_client_close(client, xml_parser_error_condition(r),
				 xml_parser_error_text(client->parser));
}

static void c2s_ws_frame_end(wslay_event_context_ptr ctx, void *user_data)
{
	struct c2s_ws *ws = user_data;
	struct c2s_client *client = ws->client;

	if (!ws->frame_data || !ws->frame_fin)
		return;
	/* A whole message: it must have held one complete element. */
	if (client->state != C2S_CLIENT_CLOSING && ws->msg_text && ws->msg_elements == 0)
		c2s_client_close(client, "not-well-formed",
				 "a WebSocket message must hold one complete element");
	ws->msg_text = false;
	ws->msg_elements = 0;
}

static const struct wslay_event_callbacks c2s_ws_callbacks = {
	.recv_callback = c2s_ws_recv_cb,
	.send_callback = c2s_ws_send_cb,
	.on_frame_recv_start_callback = c2s_ws_frame_start,
	.on_frame_recv_chunk_callback = c2s_ws_frame_chunk,
	.on_frame_recv_end_callback = c2s_ws_frame_end,
};

void c2s_ws_input(struct c2s_http *http, const char *data, size_t len)
{
	struct c2s_client *client = http->client;
	struct c2s_ws *ws = client->transport_data;

	if (client->state == C2S_CLIENT_CLOSING && ws->close_pending)
		return;
	ws->in = data;
	ws->in_len = len;
	ws->in_recv = true;
	int r = wslay_event_recv(ws->ctx);
	ws->in_recv = false;
	ws->in = NULL;
	ws->in_len = 0;
	if (r != 0 || wslay_event_get_close_received(ws->ctx)) {
		/* A protocol error (wslay queued its close frame) or the
		 * client's close frame: nothing more can be written but the
		 * close, so the session just ends. */
		if (r != 0)
			JLOG_INFO(client->id, "WebSocket error from %s: %d", http->conn->peer, r);
		c2s_client_gone(client);
		ws->close_pending = true;
	}
	c2s_ws_flush(ws);
}

/* ---- the upgrade ------------------------------------------------------------------- */

/* RFC 6455 4.2.2: base64(SHA-1(key + GUID)); NULL for a malformed key. */
static char *c2s_ws_accept_key(const char *key)
{
	unsigned char raw[32], digest[20];
	struct buf b = {0};

	if (strlen(key) != 24 || scram_base64_decode(key, 24, raw) != 16)
		return NULL;
	buf_printf(&b, "%s%s", key, C2S_WS_GUID);
	scram_digest(SCRAM_SHA1, b.data, b.len, digest);
	buf_free(&b);
	return scram_base64_encode(digest, sizeof(digest));
}

static void c2s_ws_refuse(struct c2s_http *http, int status, const char *why)
{
	JLOG_INFO(http->conn->id, "WebSocket upgrade from %s refused (%d): %s", http->conn->peer,
		  status, why);
	c2s_http_respond(http, NULL, status);
}

void c2s_ws_upgrade(struct c2s_http *http, const struct http_request *req)
{
	struct c2s *c2s = http->c2s;
	const char *key = http_request_header(req, "Sec-WebSocket-Key");
	const char *version = http_request_header(req, "Sec-WebSocket-Version");
	char *accept;

	if (strcmp(req->method, "GET") != 0 || !req->upgrade ||
	    !http_request_header_has_token(req, "Upgrade", "websocket") ||
	    !http_request_header_has_token(req, "Connection", "upgrade") || key == NULL) {
		c2s_ws_refuse(http, 400, "not a WebSocket handshake");
		return;
	}
	if (version == NULL || strcmp(version, "13") != 0) {
		struct buf out = {0};
		http_response_start(&out, 426);
		http_response_header(&out, "Sec-WebSocket-Version", "13");
		http_response_header(&out, "Connection", "close");
		http_response_body(&out, "", 0);
		c2s_http_output(http, out.data, out.len);
		buf_free(&out);
		c2s_http_close(http);
		return;
	}
	if (!c2s_http_origin_allowed(http, req)) {
		c2s_ws_refuse(http, 403, http_request_header(req, "Origin"));
		return;
	}
	if (!http_request_header_has_token(req, "Sec-WebSocket-Protocol", "xmpp")) {
		c2s_ws_refuse(http, 400, "the xmpp subprotocol is required (RFC 7395)");
		return;
	}
	accept = c2s_ws_accept_key(key);
	if (accept == NULL) {
		c2s_ws_refuse(http, 400, "malformed Sec-WebSocket-Key");
		return;
	}

	struct buf out = {0};
	http_response_start(&out, 101);
	http_response_header(&out, "Upgrade", "websocket");
	http_response_header(&out, "Connection", "Upgrade");
	http_response_header(&out, "Sec-WebSocket-Accept", accept);
	http_response_header(&out, "Sec-WebSocket-Protocol", "xmpp");
	http_response_end_headers(&out);
	c2s_http_output(http, out.data, out.len);
	buf_free(&out);
	free(accept);

	struct c2s_ws *ws = xcalloc(1, sizeof(*ws));
	ws->http = http;
	if (wslay_event_context_server_init(&ws->ctx, &c2s_ws_callbacks, ws) != 0)
		abort(); /* out of memory is fatal */
	wslay_event_config_set_no_buffering(ws->ctx, 1);
	/* The parser enforces max_stanza_bytes; frames beyond it by far are
	 * refused by wslay before their payload is read. */
	wslay_event_config_set_max_recv_msg_length(ws->ctx, 2 * c2s->limits.max_stanza_bytes);
	struct c2s_client *client = c2s_client_new(c2s, http->conn, http->conn->id,
						   &c2s_transport_ws, &c2s_ws_parser_callbacks);
	client->transport_data = ws;
	client->outer_tls = http->tls;
	client->outer_secure = true; /* HTTPS, or a loopback reverse proxy */
	ws->client = client;
	http->client = client;
	conn_set_low_water(http->conn, C2S_CLIENT_RESUME_BYTES);
	static const char header[] =
		"<stream:stream xmlns='" STREAM_NS_CLIENT "' " C2S_WS_STREAM_DECL ">";
	(void)xml_parser_feed(client->parser, header, sizeof(header) - 1);
	if (c2s->link_paused)
		c2s_flow_pause(client, C2S_PAUSE_LINK);
	JLOG_DEBUG(client->id, "WebSocket session from %s", http->conn->peer);
}

void c2s_ws_free(struct c2s_http *http)
{
	struct c2s_ws *ws = http->client->transport_data;

	if (ws == NULL)
		return;
	wslay_event_context_free(ws->ctx);
	buf_free(&ws->frames);
	free(ws);
	http->client->transport_data = NULL;
}
