/* s2s-link.c: one server-to-server stream's bytes: conn, TLS and parser.
 *
 * Incoming and outgoing streams differ in what they say, not in how bytes
 * move, so both sit on a struct s2s_link: socket bytes go through TLS (when
 * it is on) into the parser (TREE mode), whose events go to the owner's
 * ops; output is encrypted and queued on the conn at once. A stream restart
 * (after STARTTLS) resets the parser once the current feed has returned,
 * as xml-parser.h requires. The owner is freed only from ops->freed, when
 * libuv has closed the handle.
 */
#include <string.h>

#include "conn.h"
#include "log.h"
#include "s2s.h"
#include "stanza.h"
#include "stream.h"
#include "tls.h"

static void s2s_link_drain_tls(struct s2s_link *link)
{
	struct buf b = {0};

	if (link->tls != NULL && tls_take_ciphertext(link->tls, &b) > 0)
		conn_send(link->conn, b.data, b.len);
	buf_free(&b);
}

void s2s_link_send(struct s2s_link *link, const void *data, size_t len)
{
	if (link->closing)
		return;
	link->last_ms = uv_now(link->s2s->loop);
	if (link->tls == NULL) {
		conn_send(link->conn, data, len);
	} else {
		if (tls_write_plaintext(link->tls, data, len) != TLS_OK)
			JLOG_DEBUG(link->id, "TLS write failed: %s", tls_error_string(link->tls));
		s2s_link_drain_tls(link);
	}
	if (conn_queued(link->conn) > S2S_OUTPUT_LIMIT) {
		JLOG_WARN(link->id, "%s does not read; closing", link->conn->peer);
		s2s_link_abort(link);
	}
}

size_t s2s_link_send_stanza(struct s2s_link *link, const struct stanza *st)
{
	struct buf b = {0};
	struct stanza *copy = stanza_copy(st);

	stanza_rename_ns(copy, STREAM_NS_COMPONENT, STREAM_NS_SERVER);
	stanza_rename_ns(copy, STREAM_NS_CLIENT, STREAM_NS_SERVER);
	stanza_serialize(copy, STREAM_NS_SERVER, &b);
	JLOG_DEBUG(link->id, "out: %s", b.data);
	s2s_link_send(link, b.data, b.len);
	size_t n = b.len;
	buf_free(&b);
	stanza_unref(&copy);
	return n;
}

void s2s_link_abort(struct s2s_link *link)
{
	if (link->closing)
		return;
	link->closing = true;
	link->ops->close(link);
	conn_close(link->conn, false, 0);
}

void s2s_link_close(struct s2s_link *link, const char *condition, const char *text)
{
	struct buf b = {0};

	if (link->closing)
		return;
	if (condition != NULL) {
		JLOG_INFO(link->id, "closing the stream with %s: %s%s%s", link->conn->peer,
			  condition, text ? ": " : "", text ? text : "");
		stream_error(&b, condition, text);
	} else {
		stream_close(&b);
	}
	s2s_link_send(link, b.data, b.len);
	buf_free(&b);
	if (link->tls != NULL) {
		(void)tls_shutdown(link->tls);
		s2s_link_drain_tls(link);
	}
	link->closing = true;
	link->ops->close(link);
	conn_close(link->conn, true, S2S_LINGER_MS);
}

void s2s_link_restart(struct s2s_link *link)
{
	link->restart = true;
}

int s2s_link_tls(struct s2s_link *link, bool server, const char *domain, const char *sni)
{
	struct tls_ctx *ctx = s2s_certs_ctx(link->s2s, domain, server);

	if (ctx == NULL)
		return -1;
	link->tls = tls_new(ctx, server, server ? NULL : sni);
	if (link->tls == NULL)
		return -1;
	s2s_link_drain_tls(link); /* a client's ClientHello */
	return 0;
}

/* ---- parser --------------------------------------------------------------------- */

static int s2s_link_on_open(void *ctx, const struct xml_parser_stream_open *open)
{
	struct s2s_link *link = ctx;

	if (link->closing)
		return 1;
	return link->ops->open(link, open) || link->closing || link->restart;
}

static int s2s_link_on_stanza(void *ctx, const struct xml_parser_stanza *ev)
{
	struct s2s_link *link = ctx;

	if (link->closing)
		return 1;
	JLOG_DEBUG(link->id, "in: %.*s", (int)ev->raw_len, ev->raw);
	return link->ops->element(link, ev->tree) || link->closing || link->restart;
}

static int s2s_link_on_close(void *ctx)
{
	struct s2s_link *link = ctx;

	s2s_link_close(link, NULL, NULL);
	return 1;
}

static const struct xml_parser_callbacks s2s_link_parser_callbacks = {
	.stream_open = s2s_link_on_open,
	.stanza = s2s_link_on_stanza,
	.stream_close = s2s_link_on_close,
};

static void s2s_link_feed(struct s2s_link *link, const char *data, size_t len)
{
	if (link->closing)
		return;
	int r = xml_parser_feed(link->parser, data, len);
	if (link->restart) {
		/* Anything after <proceed/> or <starttls/> in this chunk belongs
		 * to the old stream, which must not carry more. */
		link->restart = false;
		xml_parser_reset(link->parser);
		return;
	}
	if (r < 0 && r != XML_PARSER_STOPPED)
		s2s_link_close(link, xml_parser_error_condition(r),
			       xml_parser_error_text(link->parser));
}

/* ---- conn callbacks ---------------------------------------------------------------- */

static void s2s_link_read(struct conn *conn, const char *data, size_t len)
{
	struct s2s_link *link = conn->owner;
	char pt[S2S_TLS_READ_CHUNK];

	link->last_ms = uv_now(link->s2s->loop);
	if (link->tls == NULL) {
		s2s_link_feed(link, data, len);
		return;
	}
	if (tls_feed_ciphertext(link->tls, data, len) != TLS_OK) {
		JLOG_INFO(link->id, "TLS with %s failed: %s", conn->peer,
			  tls_error_string(link->tls));
		s2s_link_drain_tls(link);
		link->closing = true;
		link->ops->close(link);
		conn_close(conn, true, S2S_LINGER_MS);
		return;
	}
	while (!link->closing && link->tls != NULL) {
		ssize_t n = tls_read_plaintext(link->tls, pt, sizeof(pt));
		if (n > 0) {
			s2s_link_feed(link, pt, (size_t)n);
			continue;
		}
		if (n == TLS_CLOSED || n == TLS_ERROR) {
			JLOG_DEBUG(link->id, "TLS ended: %s",
				   n == TLS_CLOSED ? "close_notify" : tls_error_string(link->tls));
			s2s_link_drain_tls(link);
			if (!link->closing) {
				link->closing = true;
				link->ops->close(link);
				conn_close(conn, true, S2S_LINGER_MS);
			}
		}
		break;
	}
	s2s_link_drain_tls(link);
}

static void s2s_link_eof(struct conn *conn, int status)
{
	struct s2s_link *link = conn->owner;

	JLOG_DEBUG(link->id, "%s disconnected: %s", conn->peer, uv_strerror(status));
	if (!link->closing) {
		link->closing = true;
		link->ops->close(link);
	}
	conn_close(conn, false, 0);
}

static void s2s_link_closed(struct conn *conn)
{
	struct s2s_link *link = conn->owner;

	xml_parser_free(&link->parser);
	tls_free(&link->tls);
	link->conn = NULL;
	link->ops->freed(link);
}

static const struct conn_callbacks s2s_link_conn_callbacks = {
	.read = s2s_link_read,
	.eof = s2s_link_eof,
	.closed = s2s_link_closed,
};

void s2s_link_start(struct s2s_link *link, struct s2s *s2s, struct conn *conn,
		    const struct s2s_link_ops *ops, void *owner)
{
	link->s2s = s2s;
	link->conn = conn;
	link->id = conn->id;
	link->ops = ops;
	link->owner = owner;
	link->last_ms = uv_now(s2s->loop);
	link->parser = xml_parser_new(&s2s->limits, XML_PARSER_MODE_TREE,
				      &s2s_link_parser_callbacks, link);
	conn_start(conn, &s2s_link_conn_callbacks, link);
}
