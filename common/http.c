/* http.c: HTTP/1.1 request parsing over libhttp-parser and a small response
 * writer (see http.h). libhttp-parser does the grammar; this file adds
 * limits, the one-request-at-a-time pause and case-insensitive headers. */
#include "http.h"

#include <http_parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ": " and CRLF around each header, counted against max_head. */
#define HTTP_HEADER_OVERHEAD 4

struct http_reader {
	http_parser parser;
	struct http_limits limits;
	struct http_request req;
	struct buf url;
	struct buf *names, *values; /* one pair per header while parsing */
	size_t n_fields, cap_fields;
	struct buf body;
	size_t head_bytes;
	bool in_value; /* the last header callback was a value */
	bool in_request;
	bool complete; /* req is ready; the parser is paused after it */
	int status;    /* the error status, once dead */
};

static const struct http_limits http_default_limits = {
    .max_head = 8192,
    .max_headers = 64,
    .max_body = 65536,
};

static void http_request_clear(struct http_reader *r)
{
	for (size_t i = 0; i < r->n_fields; i++) {
		buf_free(&r->names[i]);
		buf_free(&r->values[i]);
	}
	r->n_fields = 0;
	free(r->req.headers);
	free(r->req.path);
	free(r->req.query);
	buf_free(&r->url);
	buf_free(&r->body);
	memset(&r->req, 0, sizeof(r->req));
	r->head_bytes = 0;
	r->in_value = false;
	r->in_request = false;
	r->complete = false;
}

/* Count bytes of the head; fail with 431 past the limit. */
static int http_count_head(struct http_reader *r, size_t len)
{
	r->head_bytes += len;
	if (r->head_bytes > r->limits.max_head) {
		r->status = 431;
		return -1;
	}
	return 0;
}

static int http_on_message_begin(http_parser *p)
{
	struct http_reader *r = p->data;
	http_request_clear(r);
	r->in_request = true;
	return 0;
}

static int http_on_url(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = p->data;
	if (http_count_head(r, len) < 0)
		return -1;
	buf_append(&r->url, at, len);
	return 0;
}

static int http_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = p->data;
	if (http_count_head(r, len) < 0)
		return -1;
	if (r->n_fields == 0 || r->in_value) {
		if (r->n_fields >= r->limits.max_headers ||
		    http_count_head(r, HTTP_HEADER_OVERHEAD) < 0) {
			r->status = 431;
			return -1;
		}
		if (r->n_fields == r->cap_fields) {
			r->cap_fields = r->cap_fields ? r->cap_fields * 2 : 8;
			r->names = xrealloc(r->names, r->cap_fields * sizeof(*r->names));
			r->values = xrealloc(r->values, r->cap_fields * sizeof(*r->values));
		}
		memset(&r->names[r->n_fields], 0, sizeof(struct buf));
		memset(&r->values[r->n_fields], 0, sizeof(struct buf));
		buf_append(&r->values[r->n_fields], "", 0);
		r->n_fields++;
		r->in_value = false;
	}
	buf_append(&r->names[r->n_fields - 1], at, len);
	return 0;
}

static int http_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = p->data;
	if (http_count_head(r, len) < 0)
		return -1;
	r->in_value = true;
	buf_append(&r->values[r->n_fields - 1], at, len);
	return 0;
}

static int http_on_headers_complete(http_parser *p)
{
	struct http_reader *r = p->data;
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (r->url.len == 0 || http_parser_parse_url(r->url.data, r->url.len, 0, &u) != 0) {
		r->status = 400;
		return -1;
	}
	if (u.field_set & (1 << UF_PATH))
		r->req.path =
		    xstrndup(r->url.data + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
	else
		r->req.path = xstrdup("/");
	if (u.field_set & (1 << UF_QUERY))
		r->req.query =
		    xstrndup(r->url.data + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
	/* ULLONG_MAX means "no Content-Length". */
	if (p->content_length != UINT64_MAX && p->content_length > r->limits.max_body) {
		r->status = 413;
		return -1;
	}
	r->req.headers = xcalloc(r->n_fields ? r->n_fields : 1, sizeof(*r->req.headers));
	for (size_t i = 0; i < r->n_fields; i++) {
		buf_append(&r->names[i], "", 0);
		r->req.headers[i].name = r->names[i].data;
		r->req.headers[i].value = r->values[i].data;
	}
	r->req.n_headers = r->n_fields;
	r->req.method = http_method_str((enum http_method)p->method);
	r->req.http_major = p->http_major;
	r->req.http_minor = p->http_minor;
	return 0;
}

static int http_on_body(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = p->data;
	if (r->body.len + len > r->limits.max_body) {
		r->status = 413;
		return -1;
	}
	buf_append(&r->body, at, len);
	return 0;
}

static int http_on_message_complete(http_parser *p)
{
	struct http_reader *r = p->data;
	buf_append(&r->body, "", 0);
	r->req.body = r->body.data;
	r->req.body_len = r->body.len;
	r->req.keep_alive = http_should_keep_alive(p) != 0;
	r->req.upgrade = p->upgrade != 0;
	r->complete = true;
	r->in_request = false;
	/* Stop right after this request: the caller answers it first. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
    .on_message_begin = http_on_message_begin,
    .on_url = http_on_url,
    .on_header_field = http_on_header_field,
    .on_header_value = http_on_header_value,
    .on_headers_complete = http_on_headers_complete,
    .on_body = http_on_body,
    .on_message_complete = http_on_message_complete,
};

struct http_reader *http_reader_new(const struct http_limits *limits)
{
	struct http_reader *r = xcalloc(1, sizeof(*r));
	r->limits = limits ? *limits : http_default_limits;
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
	return r;
}

void http_reader_free(struct http_reader **rp)
{
	struct http_reader *r = *rp;
	if (r == NULL)
		return;
	http_request_clear(r);
	free(r->names);
	free(r->values);
	free(r);
	*rp = NULL;
}

int http_reader_feed(struct http_reader *r, const char *data, size_t len, size_t *used_r,
		     const struct http_request **req_r)
{
	*used_r = 0;
	*req_r = NULL;
	if (r->status != 0)
		return -1;
	if (r->complete) {
		http_request_clear(r);
		http_parser_pause(&r->parser, 0);
	}
	if (len == 0)
		return 0; /* a zero length would tell the parser "EOF" */
	size_t n = http_parser_execute(&r->parser, &http_settings, data, len);
	if (r->complete) {
		*used_r = n;
		*req_r = &r->req;
		return 0;
	}
	enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
	if (e != HPE_OK || n != len) {
		if (r->status == 0)
			r->status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
		return -1;
	}
	*used_r = n;
	return 0;
}

int http_reader_status(const struct http_reader *r)
{
	return r->status;
}

bool http_reader_in_request(const struct http_reader *r)
{
	return r->in_request;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

bool http_request_header_has_token(const struct http_request *req, const char *name,
				   const char *token)
{
	size_t tlen = strlen(token);
	for (size_t i = 0; i < req->n_headers; i++) {
		if (strcasecmp(req->headers[i].name, name) != 0)
			continue;
		const char *s = req->headers[i].value;
		while (*s != '\0') {
			s += strspn(s, " \t,");
			size_t n = strcspn(s, ",");
			size_t end = n;
			while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t'))
				end--;
			if (end == tlen && strncasecmp(s, token, tlen) == 0)
				return true;
			s += n;
		}
	}
	return false;
}

const char *http_status_reason(int status)
{
	if (status == 431)
		return "Request Header Fields Too Large";
	const char *s = http_status_str((enum http_status)status);
	return s != NULL && strcmp(s, "<unknown>") != 0 ? s : "Unknown";
}

void http_response_start(struct buf *out, int status)
{
	buf_printf(out, "HTTP/1.1 %d %s\r\n", status, http_status_reason(status));
}

void http_response_header(struct buf *out, const char *name, const char *value)
{
	buf_printf(out, "%s: %s\r\n", name, value);
}

void http_response_body(struct buf *out, const void *body, size_t len)
{
	buf_printf(out, "Content-Length: %zu\r\n\r\n", len);
	buf_append(out, body, len);
}

void http_response_end_headers(struct buf *out)
{
	buf_append_str(out, "\r\n");
}

void http_response_simple(struct buf *out, int status, bool keep_alive)
{
	struct buf body = {0};
	buf_printf(&body, "%d %s\n", status, http_status_reason(status));
	http_response_start(out, status);
	http_response_header(out, "Content-Type", "text/plain; charset=utf-8");
	if (!keep_alive)
		http_response_header(out, "Connection", "close");
	http_response_body(out, body.data, body.len);
	buf_free(&body);
}
