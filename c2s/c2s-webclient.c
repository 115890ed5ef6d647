/* c2s-webclient.c: the optional web client ([c2s] web_client = yes):
 * converse.js served by the HTTP(S) listener.
 *
 *   GET /              an index.html that starts converse.js against this
 *                      listener's own wss://HOST:PORT/xmpp-websocket
 *   GET /dist/PATH     a file of converse.js's dist directory, [c2s] web_root
 *
 * GET only (405 otherwise). Paths are checked before any file is opened:
 * only [A-Za-z0-9._/-], no empty, "." or ".." segment and no segment
 * starting with a dot, so nothing outside web_root can be named; the file
 * must be a regular file (symlinks are not followed) whose extension has a
 * known Content-Type; anything else is 404. Files are read whole, on the
 * loop, and are small (the largest, converse.min.js, is about 3 MB).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "c2s-http.h"
#include "c2s.h"
#include "config.h"
#include "conn.h"
#include "log.h"

#define C2S_WEB_DIST	 "/dist/"
#define C2S_WEB_MAX_FILE (16 * 1024 * 1024)
#define C2S_WEB_MAX_PATH 256

static const struct {
	const char *ext;
	const char *type;
} c2s_web_types[] = {
	{".js", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".html", "text/html; charset=utf-8"},
	{".json", "application/json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".woff2", "font/woff2"},
	{".woff", "font/woff"},
	{".ttf", "font/ttf"},
	{".mp3", "audio/mpeg"},
	{".ogg", "audio/ogg"},
};

static const char *c2s_web_type(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot == NULL || strchr(dot, '/') != NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(c2s_web_types) / sizeof(c2s_web_types[0]); i++)
		if (strcmp(dot, c2s_web_types[i].ext) == 0)
			return c2s_web_types[i].type;
	return NULL;
}

/* A relative path under web_root: safe characters, every segment a plain
 * name (not empty, not starting with '.', so no "." or ".."). */
static bool c2s_web_path_ok(const char *rel)
{
	size_t n = strlen(rel);

	if (n == 0 || n > C2S_WEB_MAX_PATH ||
	    strspn(rel, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") != n)
		return false;
	for (const char *seg = rel;; seg++) {
		if (*seg == '\0' || *seg == '/' || *seg == '.')
			return false;
		seg = strchr(seg, '/');
		if (seg == NULL)
			return true;
	}
}

/* Read root/rel whole into body; false if it is not a regular file. */
static bool c2s_web_read(const char *root, const char *rel, struct buf *body)
{
	char path[PATH_MAX];
	struct stat st;
	bool ok = false;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >= sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= C2S_WEB_MAX_FILE) {
		char chunk[65536];
		ssize_t got;

		ok = true;
		while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				ok = false;
				break;
			}
			buf_append(body, chunk, (size_t)got);
		}
	}
	close(fd);
	return ok;
}

static void c2s_web_send(struct c2s_http *http, const struct http_request *req,
			 const char *type, const char *cache, const struct buf *body)
{
	struct buf out = {0};

	http_response_start(&out, 200);
	http_response_header(&out, "Content-Type", type);
	http_response_header(&out, "X-Content-Type-Options", "nosniff");
	http_response_header(&out, "Cache-Control", cache);
	if (!req->keep_alive)
		http_response_header(&out, "Connection", "close");
	http_response_body(&out, body->data, body->len);
	c2s_http_output(http, out.data, out.len);
	if (!req->keep_alive)
		c2s_http_close(http);
	buf_free(&out);
}

/* The page: converse.js, told to use this listener's WebSocket. */
static void c2s_web_index(struct c2s_http *http, const struct http_request *req)
{
	const char *host = http_request_header(req, "Host");
	struct buf body = {0};

	if (host == NULL || !c2s_hostmeta_host_ok(host)) {
		c2s_http_respond(http, req, 400);
		return;
	}
	buf_printf(&body,
		   "<!DOCTYPE html>\n"
		   "<!-- Junction's web client: converse.js, served by junction-c2s -->\n"
		   "<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
		   "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
		   "<title>Junction</title>\n"
		   "<link rel='icon' href='%simages/favicon.ico'>\n"
		   "<link rel='stylesheet' href='%sconverse.min.css'>\n"
		   "<script src='%sconverse.min.js'></script>\n"
		   "</head>\n<body class='converse-fullscreen'>\n"
		   "<noscript>This chat client needs JavaScript.</noscript>\n"
		   "<script>\n"
		   "converse.initialize({\n"
		   "  assets_path: '%s',\n"
		   "  websocket_url: '%s://%s%s',\n"
		   "  discover_connection_methods: false,\n"
		   "  authentication: 'login',\n"
		   "  view_mode: 'fullscreen',\n"
		   "  allow_registration: false,\n"
		   "  play_sounds: false,\n"
		   "  show_client_info: false\n"
		   "});\n"
		   "</script>\n</body>\n</html>\n",
		   C2S_WEB_DIST, C2S_WEB_DIST, C2S_WEB_DIST, C2S_WEB_DIST,
		   http->tls != NULL ? "wss" : "ws", host, C2S_HTTP_PATH_WS);
	c2s_web_send(http, req, "text/html; charset=utf-8", "no-cache", &body);
	buf_free(&body);
}

void c2s_webclient_start(const struct c2s *c2s)
{
	const char *root = config_get(c2s->config, "c2s", "web_root");
	char path[PATH_MAX];

	if (!config_get_bool(c2s->config, "c2s", "web_client"))
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/converse.min.js", root) >= sizeof(path) ||
	    access(path, R_OK) != 0)
		JLOG_WARN(0, "web client: %s is missing (npm ci in web/, then make install; "
			  "docs/web.md)", path);
	else
		JLOG_INFO(0, "web client: converse.js from %s at /", root);
}

bool c2s_webclient_handle(struct c2s_http *http, const struct http_request *req)
{
	const struct config *cfg = http->c2s->config;
	bool index = strcmp(req->path, "/") == 0 || strcmp(req->path, "/index.html") == 0;
	bool dist = strncmp(req->path, C2S_WEB_DIST, strlen(C2S_WEB_DIST)) == 0;
	const char *rel, *type;
	struct buf body = {0};

	if (!config_get_bool(cfg, "c2s", "web_client") || (!index && !dist))
		return false;
	if (strcmp(req->method, "GET") != 0) {
		c2s_http_respond(http, req, 405);
		return true;
	}
	if (index) {
		c2s_web_index(http, req);
		return true;
	}
	rel = req->path + strlen(C2S_WEB_DIST);
	type = c2s_web_type(rel);
	if (type == NULL || !c2s_web_path_ok(rel) ||
	    !c2s_web_read(config_get(cfg, "c2s", "web_root"), rel, &body)) {
		JLOG_DEBUG(http->conn->id, "web client: no file for %s", req->path);
		buf_free(&body);
		c2s_http_respond(http, req, 404);
		return true;
	}
	c2s_web_send(http, req, type, "max-age=3600", &body);
	buf_free(&body);
	return true;
}
