/* c2s-hostmeta.c: XEP-0156 discovery of the web endpoints:
 * /.well-known/host-meta (XRD) and /.well-known/host-meta.json (JRD).
 *
 * The links name the host and port the request reached (its Host header),
 * so they are right behind any name the listener is published under; a
 * Host that is not a plain host[:port] gets 400. Public information, so
 * any origin may read it (CORS *).
 */
#include <string.h>

#include "c2s-http.h"
#include "c2s.h"
#include "conn.h"

#define C2S_HOSTMETA_XRD "/.well-known/host-meta"
#define C2S_HOSTMETA_JRD "/.well-known/host-meta.json"
#define C2S_REL_WS	 "urn:xmpp:alt-connections:websocket"
#define C2S_REL_BOSH	 "urn:xmpp:alt-connections:xbosh"

bool c2s_hostmeta_host_ok(const char *host)
{
	size_t n = strlen(host);

	return n > 0 && n < 256 &&
	       strspn(host,
		      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == n;
}

bool c2s_hostmeta_handle(struct c2s_http *http, const struct http_request *req)
{
	bool json = strcmp(req->path, C2S_HOSTMETA_JRD) == 0;
	const char *host = http_request_header(req, "Host");
	const char *ws_scheme = http->tls != NULL ? "wss" : "ws";
	const char *http_scheme = http->tls != NULL ? "https" : "http";
	struct buf body = {0}, out = {0};

	if (!json && strcmp(req->path, C2S_HOSTMETA_XRD) != 0)
		return false;
	if (strcmp(req->method, "GET") != 0) {
		c2s_http_respond(http, req, 405);
		return true;
	}
	if (host == NULL || !c2s_hostmeta_host_ok(host)) {
		c2s_http_respond(http, req, 400);
		return true;
	}
	if (json) {
		buf_printf(&body,
			   "{\"links\":[{\"rel\":\"%s\",\"href\":\"%s://%s%s\"},"
			   "{\"rel\":\"%s\",\"href\":\"%s://%s%s\"}]}\n",
			   C2S_REL_WS, ws_scheme, host, C2S_HTTP_PATH_WS, C2S_REL_BOSH, http_scheme,
			   host, C2S_HTTP_PATH_BOSH);
	} else {
		buf_printf(&body,
			   "<?xml version='1.0' encoding='utf-8'?>\n"
			   "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"
			   "  <Link rel='%s' href='%s://%s%s'/>\n"
			   "  <Link rel='%s' href='%s://%s%s'/>\n"
			   "</XRD>\n",
			   C2S_REL_WS, ws_scheme, host, C2S_HTTP_PATH_WS, C2S_REL_BOSH, http_scheme,
			   host, C2S_HTTP_PATH_BOSH);
	}
	http_response_start(&out, 200);
	http_response_header(&out, "Content-Type",
			     json ? "application/json" : "application/xrd+xml; charset=utf-8");
	http_response_header(&out, "Access-Control-Allow-Origin", "*");
	if (!req->keep_alive)
		http_response_header(&out, "Connection", "close");
	http_response_body(&out, body.data, body.len);
	c2s_http_output(http, out.data, out.len);
	if (!req->keep_alive)
		c2s_http_close(http);
	buf_free(&body);
	buf_free(&out);
	return true;
}
