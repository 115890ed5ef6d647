/* common/test-buf.c: unit tests for the byte buffer and the x* allocators. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "test.h"

static void test_append(void)
{
	struct buf b = {0};
	buf_append_str(&b, "abc");
	buf_append_char(&b, 'd');
	buf_append(&b, "e\0f", 3);
	CHECK(b.len == 7);
	CHECK(memcmp(b.data, "abcde\0f", 7) == 0);
	CHECK(b.data[b.len] == '\0');
	CHECK(b.cap > b.len);
	buf_free(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

static void test_append_empty_allocates_terminator(void)
{
	struct buf b = {0};
	buf_append(&b, "", 0);
	CHECK(b.data != NULL);
	CHECK(b.len == 0);
	CHECK_STR(b.data, "");
	buf_free(&b);
}

/* Many small appends: the capacity must grow geometrically, so the number
 * of distinct capacities stays logarithmic. */
static void test_growth(void)
{
	struct buf b = {0};
	size_t changes = 0, last_cap = 0;
	for (int i = 0; i < 100000; i++) {
		buf_append_char(&b, (char)('a' + i % 26));
		if (b.cap != last_cap) {
			changes++;
			last_cap = b.cap;
		}
	}
	CHECK(b.len == 100000);
	CHECK(changes < 20);
	CHECK(b.data[25] == 'z' && b.data[26] == 'a');
	CHECK(strlen(b.data) == 100000);
	buf_free(&b);
}

static void test_printf(void)
{
	struct buf b = {0};
	buf_printf(&b, "%d-%s", 42, "x");
	CHECK_STR(b.data, "42-x");
	/* Longer than any initial capacity: exercises the second vsnprintf. */
	char big[5000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(&b, "[%s]", big);
	CHECK(b.len == 4 + 2 + sizeof(big) - 1);
	CHECK(b.data[4] == '[' && b.data[b.len - 1] == ']');
	CHECK(b.data[b.len] == '\0');
	buf_free(&b);
}

static void test_escape(void)
{
	static const struct {
		const char *in;
		bool attr;
		const char *out;
	} cases[] = {
		{"plain", false, "plain"},
		{"a&b<c>d", false, "a&amp;b&lt;c&gt;d"},
		{"'\"", false, "'\""},
		{"'\"", true, "&apos;&quot;"},
		{"a\r\nb", false, "a&#13;\nb"},
		{"a\t\n\rb", true, "a&#9;&#10;&#13;b"},
		{"]]>", false, "]]&gt;"},
		{"&&", true, "&amp;&amp;"},
		{"caf\xc3\xa9", true, "caf\xc3\xa9"},
		{"", false, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = {0};
		buf_append_str(&b, "<");
		buf_append_xml_escaped(&b, cases[i].in, strlen(cases[i].in), cases[i].attr);
		CHECK_STR(b.data + 1, cases[i].out);
		buf_free(&b);
	}
}

static void test_escape_embedded_nul(void)
{
	struct buf b = {0};
	buf_append_xml_escaped(&b, "a\0<", 3, false);
	CHECK(b.len == 6);
	CHECK(memcmp(b.data, "a\0&lt;", 6) == 0);
	buf_free(&b);
}

static void test_consume(void)
{
	struct buf b = {0};
	buf_append_str(&b, "hello world");
	buf_consume(&b, 0);
	CHECK_STR(b.data, "hello world");
	buf_consume(&b, 6);
	CHECK_STR(b.data, "world");
	CHECK(b.len == 5);
	buf_consume(&b, 5);
	CHECK(b.len == 0);
	CHECK_STR(b.data, "");
	buf_free(&b);
}

static void test_reset_keeps_storage(void)
{
	struct buf b = {0};
	buf_append_str(&b, "something");
	size_t cap = b.cap;
	buf_reset(&b);
	CHECK(b.len == 0 && b.cap == cap && b.data != NULL);
	CHECK_STR(b.data, "");
	buf_append_str(&b, "x");
	CHECK_STR(b.data, "x");
	buf_free(&b);
	buf_reset(&b); /* on an empty buffer: must not crash */
	CHECK(b.data == NULL);
}

static void test_steal(void)
{
	struct buf b = {0};
	buf_append_str(&b, "mine");
	char *s = buf_steal(&b);
	CHECK_STR(s, "mine");
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	free(s);
	s = buf_steal(&b); /* never appended: still a string the caller frees */
	CHECK_STR(s, "");
	free(s);
}

static void test_x_alloc(void)
{
	char *s = xstrndup("abcdef", 3);
	CHECK_STR(s, "abc");
	free(s);
	s = xstrndup("ab", 10);
	CHECK_STR(s, "ab");
	free(s);
	s = xstrdup("");
	CHECK_STR(s, "");
	free(s);
	int *v = xcalloc(4, sizeof(int));
	CHECK(v[0] == 0 && v[3] == 0);
	v = xrealloc(v, 8 * sizeof(int));
	CHECK(v[3] == 0);
	free(v);
	free(xmalloc(0));
}

static const struct test tests[] = {
	TEST(test_append),  TEST(test_append_empty_allocates_terminator),
	TEST(test_growth),  TEST(test_printf),
	TEST(test_escape),  TEST(test_escape_embedded_nul),
	TEST(test_consume), TEST(test_reset_keeps_storage),
	TEST(test_steal),   TEST(test_x_alloc),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
