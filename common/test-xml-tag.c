/* common/test-xml-tag.c: unit tests for reading tags in parsed bytes.
 *
 * Every input is copied into an allocation of exactly its length, so under
 * ASan a scan that reads past len is caught.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "test.h"
#include "xml-tag.h"

/* A copy of s without its terminator, for exact bounds. */
static char *exact(const char *s)
{
	size_t n = strlen(s);
	char *p = xmalloc(n > 0 ? n : 1);
	memcpy(p, s, n);
	return p;
}

static size_t tag_end(const char *s, bool *empty)
{
	char *p = exact(s);
	size_t r = xml_tag_end(p, strlen(s), empty);
	free(p);
	return r;
}

static void test_tag_end(void)
{
	bool empty;

	CHECK(tag_end("<a>", &empty) == 3 && !empty);
	CHECK(tag_end("<a/>rest", &empty) == 4 && empty);
	CHECK(tag_end("<a x='>' y=\"/>\">t</a>", &empty) == 16 && !empty);
	CHECK(tag_end("<a x='1'\n/>", &empty) == 11 && empty);
	/* Not a start tag, or unfinished. */
	CHECK(tag_end("</a>", &empty) == 0);
	CHECK(tag_end("<![CDATA[x]]>", &empty) == 0);
	CHECK(tag_end("<?pi?>", &empty) == 0);
	CHECK(tag_end("text", &empty) == 0);
	CHECK(tag_end("<a x='>", &empty) == 0);
	CHECK(tag_end("<a", &empty) == 0);
	CHECK(tag_end("", &empty) == 0);
}

static void test_name_len(void)
{
	CHECK(xml_tag_name_len("<message to='x'>", 16) == 7);
	CHECK(xml_tag_name_len("<iq/>", 5) == 2);
	CHECK(xml_tag_name_len("<stream:error>", 14) == 12);
	CHECK(xml_tag_name_len("<p\tx='1'>", 9) == 1);
}

static bool attr(const char *s, const char *name, char *out, size_t out_len)
{
	char *p = exact(s);
	bool empty;
	size_t tag = xml_tag_end(p, strlen(s), &empty);
	const char *v;
	size_t vlen;
	bool found = tag != 0 && xml_tag_attr(p, tag, name, &v, &vlen);

	if (found && vlen < out_len) {
		memcpy(out, v, vlen);
		out[vlen] = '\0';
	}
	free(p);
	return found;
}

static void test_attr(void)
{
	char v[64];

	static const char *const found[][3] = {
		{"<m from='a@b/c' to=\"d\" id='x'>", "from", "a@b/c"},
		{"<m from='a@b/c' to=\"d\" id='x'>", "to", "d"},
		{"<m from='a@b/c' to=\"d\" id='x'/>", "id", "x"},
		/* Whitespace around '=', escapes kept, quotes of the other kind inside. */
		{"<m\n a = 'x&amp;y' b=\"it's\">", "a", "x&amp;y"},
		{"<m\n a = 'x&amp;y' b=\"it's\">", "b", "it's"},
		{"<m a=''>", "a", ""},
	};
	for (size_t i = 0; i < sizeof(found) / sizeof(found[0]); i++) {
		v[0] = '?';
		CHECK(attr(found[i][0], found[i][1], v, sizeof(v)));
		CHECK_STR(v, found[i][2]);
	}
	/* Exact names only: no prefix match, no match inside a value. */
	CHECK(!attr("<m fromx='1'>", "from", v, sizeof(v)));
	CHECK(!attr("<m x='from=1'>", "from", v, sizeof(v)));
	CHECK(!attr("<m xml:lang='en'>", "lang", v, sizeof(v)));
	CHECK(attr("<m xml:lang='en'>", "xml:lang", v, sizeof(v)));
	CHECK_STR(v, "en");
	CHECK(!attr("<m>", "a", v, sizeof(v)));
	CHECK(!attr("<m/>", "a", v, sizeof(v)));
}

static size_t element_end(const char *s)
{
	char *p = exact(s);
	size_t r = xml_tag_element_end(p, strlen(s));
	free(p);
	return r;
}

static void test_element_end(void)
{
	CHECK(element_end("<a/>") == 4);
	CHECK(element_end("<a></a>") == 7);
	CHECK(element_end("<a></a><b/>") == 7);
	CHECK(element_end("<a><a/><b x='</a>'>t &gt; u</b></a >tail") == 36);
	CHECK(element_end("<a><![CDATA[</a><b>]]></a>") == 26);
	CHECK(element_end("<a><b><c/></b><d></d></a><a/>") == 25);
	/* Unfinished or not an element. */
	CHECK(element_end("<a><b></b>") == 0);
	CHECK(element_end("<a><![CDATA[</a>") == 0);
	CHECK(element_end("<a>text<") == 0);
	CHECK(element_end("text") == 0);
	CHECK(element_end("</a>") == 0);
}

static void test_contains(void)
{
	char *p = exact("<a xmlns='jabber:client'/>");
	CHECK(xml_tag_contains(p, 26, "jabber:client"));
	CHECK(xml_tag_contains(p, 26, "/>"));
	CHECK(!xml_tag_contains(p, 25, "/>"));
	CHECK(!xml_tag_contains(p, 26, "jabber:server"));
	CHECK(!xml_tag_contains(p, 0, "<"));
	free(p);
}

static bool unescape(const char *s, const char *want)
{
	char *p = exact(s);
	struct buf b = {0};
	bool ok = xml_tag_unescape(p, strlen(s), &b);

	free(p);
	ok = ok && want != NULL && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
	buf_free(&b);
	return ok;
}

static bool unescape_fails(const char *s)
{
	char *p = exact(s);
	struct buf b = {0};
	bool ok = xml_tag_unescape(p, strlen(s), &b);

	free(p);
	buf_free(&b);
	return !ok;
}

static void test_unescape(void)
{
	CHECK(unescape("", ""));
	CHECK(unescape("plain", "plain"));
	CHECK(unescape("a&amp;b&lt;c&gt;d&quot;e&apos;f", "a&b<c>d\"e'f"));
	CHECK(unescape("&#65;&#x42;&#x43;", "ABC"));
	CHECK(unescape("&#xe9;&#x20AC;&#x1F600;", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
	CHECK(unescape("x&amp;", "x&"));
	CHECK(unescape_fails("a&b"));
	CHECK(unescape_fails("&nbsp;"));
	CHECK(unescape_fails("&#;"));
	CHECK(unescape_fails("&#xD800;"));
	CHECK(unescape_fails("&#x110000;"));
	CHECK(unescape_fails("&#0;"));
	CHECK(unescape_fails("&#12a;"));
	CHECK(unescape_fails("&amp"));
}

static const struct test tests[] = {
	TEST(test_unescape),
	TEST(test_contains),
	TEST(test_tag_end),
	TEST(test_name_len),
	TEST(test_attr),
	TEST(test_element_end),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
