/* common/test-http.c: unit tests for the HTTP/1.1 request reader and the
 * response writer. Requests are fed whole, byte by byte and at random
 * splits; every split must give the same requests. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"
#include "test.h"

/* Feed input in chunks of step bytes (0: random sizes) and describe each
 * request as "METHOD path[?query] body=<body> ka=<0|1> up=<0|1>;". After an
 * upgrade the unread rest is appended as "rest=<bytes>". Returns the reader's
 * error status (0 when none). */
static int feed(const char *input, size_t step, const struct http_limits *limits, struct buf *out)
{
	struct http_reader *r = http_reader_new(limits);
	size_t len = strlen(input), off = 0;
	int status = 0;
	/* The chunk the reader has not used yet, carried to the next call. */
	while (off < len) {
		size_t n = step ? step : 1 + (size_t)rand() % 17;
		if (n > len - off)
			n = len - off;
		size_t used;
		const struct http_request *req;
		if (http_reader_feed(r, input + off, n, &used, &req) < 0) {
			status = http_reader_status(r);
			break;
		}
		CHECK(used <= n);
		off += used;
		if (req == NULL)
			continue;
		buf_printf(out, "%s %s%s%s body=%s ka=%d up=%d;", req->method, req->path,
			   req->query ? "?" : "", req->query ? req->query : "", req->body,
			   req->keep_alive, req->upgrade);
		if (req->upgrade) {
			buf_printf(out, "rest=%s", input + off);
			break;
		}
	}
	CHECK(out->len == 0 || !http_reader_in_request(r) || status != 0);
	http_reader_free(&r);
	CHECK(r == NULL);
	return status;
}

static void check_all_splits(const char *input, const struct http_limits *limits, int want_status,
			     const char *want)
{
	size_t steps[] = {1000000, 1, 2, 3, 7, 0, 0, 0, 0};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct buf out = {0};
		int status = feed(input, steps[i], limits, &out);
		CHECK(status == want_status);
		CHECK_STR(out.data ? out.data : "", want);
		buf_free(&out);
	}
}

static void test_simple_get(void)
{
	check_all_splits("GET /.well-known/host-meta?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 0,
			 "GET /.well-known/host-meta?x=1 body= ka=1 up=0;");
}

static void test_pipelined_and_keep_alive(void)
{
	check_all_splits("POST /http-bind HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
			 "GET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
			 NULL, 0, "POST /http-bind body=hello ka=1 up=0;GET /b body= ka=0 up=0;");
	check_all_splits("GET / HTTP/1.0\r\n\r\n", NULL, 0, "GET / body= ka=0 up=0;");
}

static void test_chunked_body(void)
{
	check_all_splits("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
			 NULL, 0, "POST /x body=abcde ka=1 up=0;");
}

static void test_upgrade_leaves_rest(void)
{
	check_all_splits("GET /xmpp-websocket HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\n\r\n\x81\x05hello",
			 NULL, 0, "GET /xmpp-websocket body= ka=1 up=1;rest=\x81\x05hello");
}

static void test_errors(void)
{
	struct http_limits small = {.max_head = 64, .max_headers = 2, .max_body = 4};
	/* Malformed request line. */
	check_all_splits("GARBAGE\r\n\r\n", NULL, 400, "");
	check_all_splits("GET / HTTP/1.1\r\nBad Header\r\n\r\n", NULL, 400, "");
	/* Body over the limit, declared or chunked. */
	check_all_splits("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &small, 413, "");
	check_all_splits("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
			 &small, 413, "");
	/* Head too long, too many headers. */
	check_all_splits("GET "
			 "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
			 "HTTP/1.1\r\n\r\n",
			 &small, 431, "");
	check_all_splits("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n", &small, 431, "");
	/* A good request, then a bad one: the first is still delivered. */
	check_all_splits("GET /ok HTTP/1.1\r\n\r\nBROKEN\r\n\r\n", NULL, 400,
			 "GET /ok body= ka=1 up=0;");
	/* Dead after an error. */
	struct http_reader *r = http_reader_new(NULL);
	size_t used;
	const struct http_request *req;
	CHECK(http_reader_feed(r, "X\r\n\r\n", 5, &used, &req) < 0);
	CHECK(http_reader_feed(r, "GET / HTTP/1.1\r\n\r\n", 18, &used, &req) < 0);
	CHECK(http_reader_status(r) == 400);
	http_reader_free(&r);
}

static void test_headers(void)
{
	struct http_reader *r = http_reader_new(NULL);
	const char *in = "GET / HTTP/1.1\r\nHost: example.org\r\nOrigin: https://a.example\r\n"
			 "Connection: keep-alive, Upgrade\r\nX-Empty:\r\n"
			 "Sec-WebSocket-Protocol: foo,  xmpp \r\n\r\n";
	size_t used;
	const struct http_request *req;
	CHECK(http_reader_feed(r, in, strlen(in), &used, &req) == 0);
	CHECK(used == strlen(in));
	CHECK(req != NULL);
	if (req != NULL) {
		CHECK(req->n_headers == 5);
		CHECK_STR(http_request_header(req, "HOST"), "example.org");
		CHECK_STR(http_request_header(req, "origin"), "https://a.example");
		CHECK_STR(http_request_header(req, "x-empty"), "");
		CHECK(http_request_header(req, "Missing") == NULL);
		CHECK(http_request_header_has_token(req, "connection", "upgrade"));
		CHECK(http_request_header_has_token(req, "Connection", "Keep-Alive"));
		CHECK(!http_request_header_has_token(req, "Connection", "close"));
		CHECK(http_request_header_has_token(req, "Sec-WebSocket-Protocol", "xmpp"));
		CHECK(!http_request_header_has_token(req, "Sec-WebSocket-Protocol", "xmp"));
		CHECK(req->http_major == 1 && req->http_minor == 1);
	}
	http_reader_free(&r);
}

static void test_responses(void)
{
	struct buf out = {0};
	http_response_start(&out, 200);
	http_response_header(&out, "Content-Type", "text/xml");
	http_response_body(&out, "<x/>", 4);
	CHECK_STR(out.data, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
			    "Content-Length: 4\r\n\r\n<x/>");
	buf_reset(&out);
	http_response_start(&out, 101);
	http_response_header(&out, "Upgrade", "websocket");
	http_response_end_headers(&out);
	CHECK_STR(out.data, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
	buf_reset(&out);
	http_response_simple(&out, 403, false);
	CHECK_STR(out.data, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
			    "Connection: close\r\nContent-Length: 14\r\n\r\n403 Forbidden\n");
	CHECK_STR(http_status_reason(431), "Request Header Fields Too Large");
	CHECK_STR(http_status_reason(413), "Payload Too Large");
	CHECK_STR(http_status_reason(799), "Unknown");
	buf_free(&out);
}

int main(void)
{
	srand(7);
	static const struct test tests[] = {
	    TEST(test_simple_get),   TEST(test_pipelined_and_keep_alive),
	    TEST(test_chunked_body), TEST(test_upgrade_leaves_rest),
	    TEST(test_errors),	     TEST(test_headers),
	    TEST(test_responses),    {NULL, NULL},
	};
	return test_run(tests);
}
