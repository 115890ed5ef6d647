/* fuzz-http.c: libFuzzer target for the HTTP/1.1 request reader
 * (common/http.c), which c2s's web listener feeds with bytes from anyone.
 *
 * The first input byte picks a split point; the rest is fed whole to one
 * reader and in two pieces (at the split) to another. Beyond "does not
 * crash or leak", both must see the same requests (method, path, query,
 * body, header count, keep-alive, upgrade) and end with the same error
 * status, and every status must be 0, 400, 413 or 431.
 *
 *   ./configure --enable-fuzz CC=clang && make fuzz/fuzz-http
 *   ./fuzz/fuzz-http -max_total_time=60
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed chunks (split at cut) and describe every request into out;
 * returns the final error status. Stops after an upgrade. */
static int fuzz_http_run(const char *in, size_t len, size_t cut, struct buf *out)
{
	struct http_limits limits = {.max_head = 1024, .max_headers = 16, .max_body = 2048};
	struct http_reader *r = http_reader_new(&limits);
	size_t bounds[3] = {0, cut, len};
	int status = 0;

	for (int part = 0; part < 2 && status == 0; part++) {
		size_t off = bounds[part], end = bounds[part + 1];
		while (off < end) {
			size_t used;
			const struct http_request *req;
			if (http_reader_feed(r, in + off, end - off, &used, &req) < 0) {
				status = http_reader_status(r);
				break;
			}
			if (used > end - off)
				abort();
			off += used;
			if (req == NULL)
				continue;
			buf_printf(out, "%s %s?%s %zu %zu %d %d|", req->method, req->path,
				   req->query ? req->query : "-", req->body_len, req->n_headers,
				   req->keep_alive, req->upgrade);
			buf_append(out, req->body, req->body_len);
			if (req->upgrade) {
				http_reader_free(&r);
				return -1;
			}
		}
	}
	http_reader_free(&r);
	return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *in = (const char *)data + 1;
	size_t len = size - 1, cut = len ? data[0] % (len + 1) : 0;
	struct buf whole = {0}, split = {0};

	int a = fuzz_http_run(in, len, len, &whole);
	int b = fuzz_http_run(in, len, cut, &split);
	if (a != -1 && a != 0 && a != 400 && a != 413 && a != 431) {
		fprintf(stderr, "fuzz-http: unexpected status %d\n", a);
		abort();
	}
	/* After an upgrade the rest is another protocol: compare up to it. */
	if (a != b || whole.len != split.len ||
	    (whole.len > 0 && memcmp(whole.data, split.data, whole.len) != 0)) {
		fprintf(stderr, "fuzz-http: whole (%d) and split at %zu (%d) differ\n", a, cut, b);
		abort();
	}
	buf_free(&whole);
	buf_free(&split);
	return 0;
}
