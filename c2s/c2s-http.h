/* c2s-http.h: what c2s's web transports share: one HTTP(S) connection.
 *
 * [c2s] http_listen accepts connections that speak HTTP/1.1 (common/http.h)
 * over TLS with the c2s certificate (or plain on loopback, behind a reverse
 * proxy). A struct c2s_http is one such connection: c2s-http.c owns it from
 * accept to the conn's closed callback, decrypts, parses requests and
 * routes them — /xmpp-websocket to c2s-ws.c, /.well-known/host-meta[.json]
 * to c2s-hostmeta.c. After a WebSocket upgrade the connection carries one
 * c2s client (client != NULL) and every later byte goes to c2s-ws.c; the
 * client is freed with the connection. Runs on c2s's one loop.
 *
 *   c2s_http_output(http, bytes, len);   // through TLS when on, queued on the conn
 *   c2s_http_close(http);                // flush, close_notify, close
 */
#ifndef JUNCTION_C2S_HTTP_H
#define JUNCTION_C2S_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct c2s;
struct c2s_bosh_req;
struct c2s_client;
struct conn;
struct tls;

/* The namespace of RFC 7395's <open/> and <close/>. */
#define C2S_NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
/* The paths the listener serves. */
#define C2S_HTTP_PATH_WS   "/xmpp-websocket"
#define C2S_HTTP_PATH_BOSH "/http-bind"

struct c2s_http {
	struct c2s *c2s;
	struct conn *conn;
	struct tls *tls; /* NULL on a plain (loopback) listener */
	struct http_reader *reader;
	struct c2s_client *client; /* after the WebSocket upgrade */
	struct c2s_bosh_req *bosh; /* a BOSH session holds our request */
	char ip[96];		   /* the peer's address without the port */
	uint64_t last_ms;	   /* accepted, or the last complete request */
	struct buf stash;	   /* bytes that came while a request was unanswered */
	bool busy;		   /* a request is being answered (BOSH holds it) */
	bool keep_alive;	   /* of the request being answered */
	bool closing;
	struct c2s_http *prev, *next; /* c2s->https */
};

/* c2s-http.c */
/* Plaintext for the peer: encrypted when TLS is on, queued on the conn. */
void c2s_http_output(struct c2s_http *http, const void *data, size_t len);
/* A complete response to req (status, plain text); closes unless keep-alive. */
void c2s_http_respond(struct c2s_http *http, const struct http_request *req, int status);
/* The answer to a busy request was written: close unless keep-alive,
 * else take the next request (now or on the timer). */
void c2s_http_answered(struct c2s_http *http);
/* Write what is queued, send close_notify, close. */
void c2s_http_close(struct c2s_http *http);
/* Origin policy ([c2s] http_origins): a request without Origin is allowed;
 * with one, it must be listed, or, when the list is unset, be this
 * listener's own origin (scheme://Host of the request). */
bool c2s_http_origin_allowed(const struct c2s_http *http, const struct http_request *req);

/* c2s-ws.c */
/* A GET of C2S_HTTP_PATH_WS: answer 101 and make http a WebSocket client,
 * or answer the error (400, 403, 426). */
void c2s_ws_upgrade(struct c2s_http *http, const struct http_request *req);
/* Bytes after the upgrade. */
void c2s_ws_input(struct c2s_http *http, const char *data, size_t len);
/* The connection is gone: free the WebSocket state of http->client. */
void c2s_ws_free(struct c2s_http *http);

/* c2s-bosh.c */
/* A request for C2S_HTTP_PATH_BOSH (POST, or the CORS preflight). */
void c2s_bosh_handle(struct c2s_http *http, const struct http_request *req);
/* http is closing: its held request, if any, will not be answered. */
void c2s_bosh_forget_http(struct c2s_http *http);
/* Timer: answer requests whose wait is over, end inactive sessions, free
 * ended ones. */
void c2s_bosh_tick(struct c2s *c2s, uint64_t now_ms);

/* c2s-hostmeta.c: XEP-0156 /.well-known/host-meta and host-meta.json.
 * Returns false when req is not for one of them. */
bool c2s_hostmeta_handle(struct c2s_http *http, const struct http_request *req);
/* A Host header that is a plain host[:port], safe in XML, JSON and HTML. */
bool c2s_hostmeta_host_ok(const char *host);

/* c2s-webclient.c: converse.js at / and /dist/ when [c2s] web_client is on.
 * Returns false when it is off or req is not for one of those paths. */
bool c2s_webclient_handle(struct c2s_http *http, const struct http_request *req);
/* At start: log where the files are, or warn that they are missing. */
void c2s_webclient_start(const struct c2s *c2s);

#endif
