/* common/test-xml-frame.c: unit tests for cutting a checked stream into
 * elements.
 *
 * Every event is written to a log; feeding the same input whole, byte by byte
 * and at every split point must give the same log. Chunks are copied into
 * allocations of exactly their length and freed after the feed, so under ASan
 * a read past a chunk or a pointer kept past it is caught.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "test.h"
#include "xml-frame.h"

struct rec {
	struct buf log;
	int stop_after; /* stop on this stanza (1-based), 0: never */
	int n;
};

static void rec_field(struct buf *log, const char *name, const char *v)
{
	if (v != NULL)
		buf_printf(log, " %s=%s", name, v);
}

static int rec_stanza(void *ctx, const struct xml_parser_stanza *ev)
{
	struct rec *r = ctx;

	buf_printf(&r->log, "[%s {%s}", ev->name, ev->ns);
	rec_field(&r->log, "to", ev->to);
	rec_field(&r->log, "from", ev->from);
	rec_field(&r->log, "type", ev->type);
	rec_field(&r->log, "id", ev->id);
	buf_printf(&r->log, " raw=%.*s tree=%d]", (int)ev->raw_len, ev->raw, ev->tree != NULL);
	return ++r->n == r->stop_after;
}

static int rec_close(void *ctx)
{
	struct rec *r = ctx;
	buf_append_str(&r->log, "[close]");
	return 0;
}

static const struct xml_parser_callbacks rec_callbacks = {
	.stanza = rec_stanza,
	.stream_close = rec_close,
};

/* Feed in chunks of at most step bytes (0: whole); the log plus the last result. */
static char *run(const char *in, size_t step, size_t max, int stop_after)
{
	struct rec r = {.stop_after = stop_after};
	struct xml_frame *f = xml_frame_new(&rec_callbacks, &r, "jabber:component:accept", max);
	size_t len = strlen(in), off = 0;
	int res = 0;

	do {
		size_t n = step == 0 || len - off < step ? len - off : step;
		char *chunk = xmalloc(n > 0 ? n : 1);
		memcpy(chunk, in + off, n);
		res = xml_frame_feed(f, chunk, n);
		free(chunk);
		off += n;
	} while (off < len && res == 0);
	buf_printf(&r.log, " -> %d", res);
	xml_frame_free(&f);
	return buf_steal(&r.log);
}

/* The log of feeding in whole. */
static void expect(const char *in, size_t max, int stop_after, const char *want)
{
	char *s = run(in, 0, max, stop_after);
	CHECK_STR(s, want);
	free(s);
}

/* Same log however the input is split. */
static void check_splits(const char *in, const char *want, size_t max)
{
	char *whole = run(in, 0, max, 0);
	CHECK_STR(whole, want);
	for (size_t step = 1; step <= strlen(in); step++) {
		char *s = run(in, step, max, 0);
		if (strcmp(s, whole) != 0) {
			CHECK_STR(s, whole);
			free(s);
			break;
		}
		free(s);
	}
	free(whole);
}

static void test_stanzas(void)
{
	check_splits(" <message to='a@b/c' from=\"x&amp;y\" id='1'><body>&lt;hi></body></message>\n"
		     "<iq type='result' id='2'/>",
		     "[message {jabber:component:accept} to=a@b/c from=x&y id=1 raw=<message "
		     "to='a@b/c' from=\"x&amp;y\" id='1'><body>&lt;hi></body></message> tree=0]"
		     "[iq {jabber:component:accept} type=result id=2 raw=<iq type='result' id='2'/>"
		     " tree=0] -> 0",
		     0);
	/* Namespaces: declared on the element, the stream prefix, references. */
	check_splits("<a xmlns='urn:junction:component:1' h='3'/><stream:error><x/></stream:error>"
		     "<presence xmlns='jabber&#58;client' to='&#x41;'/>",
		     "[a {urn:junction:component:1} raw=<a xmlns='urn:junction:component:1' h='3'/>"
		     " tree=0][error {http://etherx.jabber.org/streams} raw=<stream:error><x/>"
		     "</stream:error> tree=0][presence {jabber:client} to=A raw=<presence "
		     "xmlns='jabber&#58;client' to='&#x41;'/> tree=0] -> 0",
		     0);
}

static void test_close_and_errors(void)
{
	check_splits("<iq/> </stream:stream> \n", "[iq {jabber:component:accept} raw=<iq/> tree=0]"
						    "[close] -> 0",
		     0);
	expect("</stream:stream><iq/>", 0, 0, "[close] -> -6");
	expect("<iq/>text<iq/>", 0, 0, "[iq {jabber:component:accept} raw=<iq/> tree=0] -> -5");
	expect("<foo:iq xmlns:foo='jabber:client'/>", 0, 0, " -> -5");
	expect("<iq to='a&nbsp;'/>", 0, 0, " -> -5");
	/* Longer than max: complete or not. */
	expect("<iq><x/></iq>", 8, 0, " -> -4");
	expect("<iq><x/>", 4, 0, " -> -4");
	expect("<iq><x/>", 64, 0, " -> 0");
	/* A callback stops: the rest is not seen, and the result sticks. */
	expect("<a/><b/><c/>", 0, 1, "[a {jabber:component:accept} raw=<a/> tree=0] -> -1");
}

static const struct test tests[] = {
	TEST(test_stanzas),
	TEST(test_close_and_errors),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
