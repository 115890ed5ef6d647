/* http.h: HTTP/1.1 requests in, responses out — the one wrapper around
 * libhttp-parser, independent of any transport.
 *
 * A struct http_reader is fed the bytes a connection read, in chunks of any
 * size. It parses one request at a time: when a request is complete,
 * http_reader_feed() stops there, says how many bytes it used and hands out
 * the request, which stays valid until the next feed or http_reader_free().
 * The caller answers, then feeds the rest (pipelined requests wait their
 * turn). A request that asks for a protocol upgrade (WebSocket) has
 * upgrade set; the bytes after it belong to the new protocol, so do not feed
 * them here. Limits: head (request line + headers) and header count -> 431,
 * body -> 413, anything malformed -> 400; after an error the reader is dead.
 *
 * Responses are written into a struct buf:
 *   http_response_start(&out, 200);
 *   http_response_header(&out, "Content-Type", "application/json");
 *   http_response_body(&out, json, len);  // Content-Length, blank line, body
 *
 * No I/O, no loop: the caller owns sockets and TLS.
 */
#ifndef JUNCTION_HTTP_H
#define JUNCTION_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct http_limits {
	size_t max_head;    /* request line + headers, bytes (431) */
	size_t max_headers; /* header count (431) */
	size_t max_body;    /* decoded body, bytes (413) */
};

struct http_header {
	char *name;
	char *value;
};

struct http_request {
	const char *method; /* "GET", "POST", ... (static string) */
	char *path;	    /* without the query; "/" when absent */
	char *query;	    /* after '?', NULL when absent */
	struct http_header *headers;
	size_t n_headers;
	char *body; /* NUL-terminated for convenience; body_len excludes it */
	size_t body_len;
	unsigned short http_major, http_minor;
	bool keep_alive; /* the connection may carry another request */
	bool upgrade;	 /* Upgrade requested: following bytes are another protocol */
};

struct http_reader;

/* limits may be NULL for the defaults (8 KiB head, 64 headers, 64 KiB body). */
struct http_reader *http_reader_new(const struct http_limits *limits);
void http_reader_free(struct http_reader **r);

/* Parse up to len bytes. Returns 0 with *used_r bytes consumed and *req_r
 * set to the completed request or NULL when more bytes are needed (then all
 * len bytes were used); returns -1 on a bad request, whose HTTP status
 * (400, 413 or 431) http_reader_status() gives. *req_r is valid until the
 * next call or the free. */
int http_reader_feed(struct http_reader *r, const char *data, size_t len, size_t *used_r,
		     const struct http_request **req_r);
/* The error status after feed returned -1, else 0. */
int http_reader_status(const struct http_reader *r);
/* True while a request has been started but not completed (a client that
 * vanishes now left a request half-sent). */
bool http_reader_in_request(const struct http_reader *r);

/* Case-insensitive header lookup; the first match or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
/* True when the comma-separated header name contains token (case-insensitive),
 * as for "Connection: keep-alive, Upgrade". */
bool http_request_header_has_token(const struct http_request *req, const char *name,
				   const char *token);

/* The standard reason phrase for a status code ("Not Found"). */
const char *http_status_reason(int status);
/* "HTTP/1.1 <status> <reason>\r\n" */
void http_response_start(struct buf *out, int status);
void http_response_header(struct buf *out, const char *name, const char *value);
/* Content-Length, the blank line and the body (len may be 0). */
void http_response_body(struct buf *out, const void *body, size_t len);
/* Only the blank line: for 101 Switching Protocols. */
void http_response_end_headers(struct buf *out);
/* A complete plain-text response whose body is the reason phrase, with
 * "Connection: close" unless keep_alive. */
void http_response_simple(struct buf *out, int status, bool keep_alive);

#endif
