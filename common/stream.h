/* stream.h: building the stream-level XML every XMPP process writes.
 *
 * Stream headers, stream errors (RFC 6120 4.9) and the stream close, as
 * text appended to a struct buf, ready for conn_send(). Values are escaped
 * here, so callers may pass peer-supplied strings. Pure functions: no I/O,
 * no state.
 *
 *   struct buf b = {0};
 *   stream_header(&b, "jabber:component:accept", "gateway.localhost", NULL, id);
 *   stream_error(&b, "not-authorized", "wrong secret");   // also closes the stream
 *   conn_send(conn, b.data, b.len);
 *   buf_free(&b);
 */
#ifndef JUNCTION_STREAM_H
#define JUNCTION_STREAM_H

struct buf;

#define STREAM_NS_COMPONENT "jabber:component:accept"
#define STREAM_NS_CLIENT "jabber:client"
#define STREAM_NS_SERVER "jabber:server"

/* <?xml version='1.0'?><stream:stream xmlns=NS xmlns:stream=... [from] [to]
 * [id] version='1.0'>; from, to and id may be NULL. */
void stream_header(struct buf *out, const char *ns, const char *from, const char *to,
		   const char *id);
/* <stream:error><CONDITION xmlns=streams-ns/>[<text>TEXT</text>]</stream:error>
 * followed by </stream:stream>. text may be NULL. */
void stream_error(struct buf *out, const char *condition, const char *text);
/* </stream:stream> */
void stream_close(struct buf *out);

#endif
