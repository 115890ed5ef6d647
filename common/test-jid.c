/* test-jid.c: unit tests for jid.c.
 *
 * One table of inputs with the expected parts or error drives most tests;
 * the ASCII fast path is checked against the libidn path on that table, on
 * every single ASCII byte in each part, and on random ASCII strings.
 */
#include <stdlib.h>

#include "jid.h"
#include "test.h"

struct jid_case {
	const char *in;
	int result;
	const char *node, *domain, *resource; /* expected on JID_OK */
};

#define OK(in, n, d, r) {in, JID_OK, n, d, r}
#define BAD(in, err) {in, err, NULL, NULL, NULL}

static const struct jid_case jid_cases[] = {
	/* plain forms and case folding */
	OK("juliet@example.com", "juliet", "example.com", NULL),
	OK("Juliet@Example.COM/balcony", "juliet", "example.com", "balcony"),
	OK("example.com", NULL, "example.com", NULL),
	OK("EXAMPLE.COM", NULL, "example.com", NULL),
	OK("example.com/Res", NULL, "example.com", "Res"),
	OK("a@b", "a", "b", NULL),
	OK("localhost", NULL, "localhost", NULL),
	OK("x", NULL, "x", NULL),
	OK("ex-ample.com", NULL, "ex-ample.com", NULL),
	OK("123.example", NULL, "123.example", NULL),
	OK("!#$%*+-.=?^_`{|}~@example.com", "!#$%*+-.=?^_`{|}~", "example.com", NULL),

	/* resource: everything after the first '/', case kept */
	OK("juliet@example.com/foo bar", "juliet", "example.com", "foo bar"),
	OK("juliet@example.com/foo@bar", "juliet", "example.com", "foo@bar"),
	OK("juliet@example.com/foo/bar", "juliet", "example.com", "foo/bar"),
	OK("juliet@example.com/ \"&'/:<>@", "juliet", "example.com", " \"&'/:<>@"),
	OK("example.com/a@b", NULL, "example.com", "a@b"),
	OK("a/b@c", NULL, "a", "b@c"),
	OK("example.com//", NULL, "example.com", "/"),

	/* unicode: nodeprep, nameprep, resourceprep */
	OK("ÄÖÜ@Example.com", "äöü", "example.com", NULL),
	OK("Straße@example.com", "strasse", "example.com", NULL),
	OK("Ⅻ@example.com", "xii", "example.com", NULL),
	OK("ﬀ@example.com", "ff", "example.com", NULL),
	OK("ju\u00adliet@example.com", "juliet", "example.com", NULL),
	OK("ǰ@example.com", "ǰ", "example.com", NULL),
	OK("ÉXAMPLE.com", NULL, "éxample.com", NULL),
	OK("例え.テスト", NULL, "例え.テスト", NULL),
	OK("мой@Пример.РФ", "мой", "пример.рф", NULL),
	OK("مثال.example", NULL, "مثال.example", NULL), /* bidi is per label */
	OK("example。com", NULL, "example.com", NULL),
	OK("example．com", NULL, "example.com", NULL),
	OK("example｡com", NULL, "example.com", NULL),
	OK("example.com/ﬀⅫ", NULL, "example.com", "ffXII"),
	OK("example.com/a\u00adb", NULL, "example.com", "ab"),
	OK("example.com/a\u00a0b", NULL, "example.com", "a b"), /* NFKC makes a space */
	OK("example.com/♥", NULL, "example.com", "♥"),
	OK("😀@example.com/😀", "😀", "example.com", "😀"), /* unassigned in Unicode 3.2 */
	BAD("\u00ad@example.com", JID_ERR_EMPTY), /* mapped to nothing */
	BAD("a\u00a0b@example.com", JID_ERR_NODE),
	BAD("a＠b@example.com", JID_ERR_NODE), /* NFKC makes '@' */
	BAD("\u05d0a@example.com", JID_ERR_NODE), /* bidi: mixes R and L */
	BAD("\uffff@example.com", JID_ERR_NODE),
	BAD("\u2028@example.com", JID_ERR_NODE),
	BAD("ex／ample.com", JID_ERR_DOMAIN), /* NFKC makes '/' */
	BAD("⒈example.com", JID_ERR_DOMAIN), /* NFKC makes "1." */
	BAD("exa\u00a0mple.com", JID_ERR_DOMAIN),
	BAD("example.com/\u2028", JID_ERR_RESOURCE),
	BAD("example.com/\xc2\x80", JID_ERR_RESOURCE), /* U+0080, a C1 control */

	/* domain syntax */
	OK("example.com.", NULL, "example.com", NULL),
	OK("juliet@EXAMPLE.com./r", "juliet", "example.com", "r"),
	OK("example。com。", NULL, "example.com", NULL),
	BAD("example.com..", JID_ERR_DOMAIN),
	BAD(".", JID_ERR_DOMAIN),
	BAD("a@.", JID_ERR_DOMAIN),
	BAD(".example.com", JID_ERR_DOMAIN),
	BAD("a..b", JID_ERR_DOMAIN),
	BAD("exa mple.com", JID_ERR_DOMAIN),
	BAD(" example.com", JID_ERR_DOMAIN),
	BAD("exa_mple.com", JID_ERR_DOMAIN),
	BAD("-example.com", JID_ERR_DOMAIN),
	BAD("example-.com", JID_ERR_DOMAIN),
	BAD("a@b@c", JID_ERR_DOMAIN),
	BAD("exa:mple.com", JID_ERR_DOMAIN),
	BAD("a@exa\tmple.com", JID_ERR_DOMAIN),

	/* IP literals */
	OK("192.168.0.1", NULL, "192.168.0.1", NULL),
	OK("user@10.0.0.1/res", "user", "10.0.0.1", "res"),
	OK("[::1]", NULL, "[::1]", NULL),
	OK("user@[2001:DB8::1]/r", "user", "[2001:db8::1]", "r"),
	OK("[::ffff:192.0.2.1]", NULL, "[::ffff:192.0.2.1]", NULL),
	BAD("[::1", JID_ERR_DOMAIN),
	BAD("[]", JID_ERR_DOMAIN),
	BAD("[1.2.3.4]", JID_ERR_DOMAIN),
	BAD("[zz::1]", JID_ERR_DOMAIN),
	BAD("[::1].", JID_ERR_DOMAIN),
	BAD("[::1]x", JID_ERR_DOMAIN),
	BAD("::1", JID_ERR_DOMAIN),

	/* nodeprep's prohibited ASCII */
	BAD("a b@example.com", JID_ERR_NODE),
	BAD("a\"b@example.com", JID_ERR_NODE),
	BAD("a&b@example.com", JID_ERR_NODE),
	BAD("a'b@example.com", JID_ERR_NODE),
	BAD("a:b@example.com", JID_ERR_NODE),
	BAD("a<b@example.com", JID_ERR_NODE),
	BAD("a>b@example.com", JID_ERR_NODE),
	BAD("a\x01" "b@example.com", JID_ERR_NODE),
	BAD("a\x1f" "b@example.com", JID_ERR_NODE),
	BAD("a\x7f" "b@example.com", JID_ERR_NODE),
	BAD("a\tb@example.com", JID_ERR_NODE),

	/* resourceprep: controls only */
	BAD("example.com/a\x01" "b", JID_ERR_RESOURCE),
	BAD("example.com/a\tb", JID_ERR_RESOURCE),
	BAD("example.com/a\nb", JID_ERR_RESOURCE),
	BAD("example.com/a\x7f", JID_ERR_RESOURCE),

	/* empty string and empty parts */
	BAD("", JID_ERR_EMPTY),
	BAD("@", JID_ERR_EMPTY),
	BAD("/", JID_ERR_EMPTY),
	BAD("@a", JID_ERR_EMPTY),
	BAD("a@", JID_ERR_EMPTY),
	BAD("a/", JID_ERR_EMPTY),
	BAD("/r", JID_ERR_EMPTY),
	BAD("a@/r", JID_ERR_EMPTY),
	BAD("@/", JID_ERR_EMPTY),
	BAD("a@b/", JID_ERR_EMPTY),
	BAD("@b/r", JID_ERR_EMPTY),

	/* bad UTF-8 comes before anything else */
	BAD("\xff@example.com", JID_ERR_UTF8),
	BAD("a@exa\xc3" "mple.com", JID_ERR_UTF8),      /* truncated sequence */
	BAD("\xc0\xaf@example.com", JID_ERR_UTF8),      /* overlong '/' */
	BAD("\xe0\x80\xaf@example.com", JID_ERR_UTF8),  /* overlong '/' */
	BAD("\xed\xa0\x80@example.com", JID_ERR_UTF8),  /* surrogate */
	BAD("\xf4\x90\x80\x80@example.com", JID_ERR_UTF8), /* above U+10FFFF */
	BAD("example.com/\x80", JID_ERR_UTF8),
	BAD("example.com/\xe2\x82", JID_ERR_UTF8),
	BAD("@\xfe", JID_ERR_UTF8),
	BAD("\xc3", JID_ERR_UTF8),
};

#define N_CASES (sizeof(jid_cases) / sizeof(jid_cases[0]))

/* Parse and compare with the expected case; prints the input on mismatch. */
static void check_case(const struct jid_case *c, int (*parse)(const char *, ssize_t, struct jid *))
{
	struct jid j;
	int r = parse(c->in, -1, &j);

	if (r != c->result)
		printf("  input \"%s\": got %d, want %d\n", c->in, r, c->result);
	CHECK(r == c->result);
	if (r == JID_OK && c->result == JID_OK) {
		CHECK_STR(j.node, c->node);
		CHECK_STR(j.domain, c->domain);
		CHECK_STR(j.resource, c->resource);
	}
	if (r != JID_OK)
		CHECK(j.node == NULL && j.domain == NULL && j.resource == NULL);
	jid_clear(&j);
}

static void test_table(void)
{
	for (size_t i = 0; i < N_CASES; i++)
		check_case(&jid_cases[i], jid_parse);
}

static void test_table_slow(void)
{
	for (size_t i = 0; i < N_CASES; i++)
		check_case(&jid_cases[i], jid_parse_slow);
}

/* Both paths must agree: same code, same parts. */
static bool paths_agree(const char *s, size_t len)
{
	struct jid a, b;
	int ra = jid_parse(s, (ssize_t)len, &a);
	int rb = jid_parse_slow(s, (ssize_t)len, &b);
	bool same = ra == rb && jid_equal_full(&a, &b);

	if (!same)
		printf("  fast %d vs slow %d on \"%.*s\"\n", ra, rb, (int)len, s);
	jid_clear(&a);
	jid_clear(&b);
	return same;
}

static void test_fast_equals_slow_table(void)
{
	for (size_t i = 0; i < N_CASES; i++)
		CHECK(paths_agree(jid_cases[i].in, strlen(jid_cases[i].in)));
}

/* Every ASCII byte (NUL included, via the explicit length) in each part. */
static void test_fast_equals_slow_every_byte(void)
{
	static const char *const templates[] = {
		"aXb@example.com/r", "a@exXmple.com/r", "a@example.com/rXs", "Xa@b", "a@bX",
		"a@b/X", "X", "a@X", "X.example",
	};

	for (size_t t = 0; t < sizeof(templates) / sizeof(templates[0]); t++) {
		for (int c = 0; c < 0x80; c++) {
			char buf[64];
			size_t len = strlen(templates[t]);
			memcpy(buf, templates[t], len);
			*(char *)memchr(buf, 'X', len) = (char)c;
			CHECK(paths_agree(buf, len));
		}
	}
}

/* Random strings over an alphabet rich in separators and edge characters. */
static void test_fast_equals_slow_random(void)
{
	static const char alphabet[] = "aZz09-._@/.@/ \"&':<>[]\x01\x7f\tAB";
	unsigned seed = 12345;

	for (int n = 0; n < 20000; n++) {
		char buf[32];
		size_t len;
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		CHECK(paths_agree(buf, len));
	}
}

/* jid_view_parse() agrees with jid_parse(): JID_OK only when jid_parse()
 * returns the very same bytes, the same error when it fails at once, and
 * JID_NEEDS_PREP otherwise. */
static bool view_agrees(const char *s, size_t len)
{
	struct jid_view v;
	struct jid j;
	int rv = jid_view_parse(s, len, &v);
	int rp = jid_parse(s, (ssize_t)len, &j);
	bool ok;

	if (rv == JID_NEEDS_PREP) {
		ok = true;
	} else if (rv < 0) {
		ok = rp == rv;
	} else {
		ok = rp == JID_OK && v.domain_len == strlen(j.domain) &&
		     memcmp(v.domain, j.domain, v.domain_len) == 0 &&
		     (j.node == NULL ? v.node == NULL
				     : v.node_len == strlen(j.node) &&
					       memcmp(v.node, j.node, v.node_len) == 0) &&
		     (j.resource == NULL ? v.resource == NULL
					 : v.resource_len == strlen(j.resource) &&
						   memcmp(v.resource, j.resource, v.resource_len) == 0);
	}
	if (!ok)
		printf("  view disagrees on \"%.*s\": view %d parse %d\n", (int)len, s, rv, rp);
	jid_clear(&j);
	return ok;
}

static void test_view_agrees(void)
{
	static const char alphabet[] = "aZz09-._@/.@/ \"&':<>[]\x01\x7f\tAB";
	unsigned seed = 777;
	int fast = 0;

	for (size_t i = 0; i < N_CASES; i++)
		CHECK(view_agrees(jid_cases[i].in, strlen(jid_cases[i].in)));
	for (int n = 0; n < 50000; n++) {
		char buf[24];
		size_t len;
		struct jid_view v;
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		CHECK(view_agrees(buf, len));
		fast += jid_view_parse(buf, len, &v) == JID_OK;
	}
	CHECK(fast > 100); /* the fast path is really taken */
	struct jid_view v;
	CHECK(jid_view_parse("juliet@example.com/balcony", 26, &v) == JID_OK);
	CHECK(v.bare_len == 18 && v.node_len == 6 && v.domain_len == 11 && v.resource_len == 7);
	CHECK(jid_view_parse("Juliet@example.com", 18, &v) == JID_NEEDS_PREP);
	CHECK(jid_view_parse("example.com.", 12, &v) == JID_NEEDS_PREP);
	CHECK(jid_view_parse("@example.com", 12, &v) == JID_ERR_EMPTY);
}

/* Normalisation is idempotent: parse(full(parse(x))) == parse(x). */
static void test_idempotent(void)
{
	for (size_t i = 0; i < N_CASES; i++) {
		struct jid a, b;
		char *full;
		if (jid_parse(jid_cases[i].in, -1, &a) != JID_OK)
			continue;
		full = jid_full_string(&a);
		CHECK(jid_parse(full, -1, &b) == JID_OK);
		CHECK(jid_equal_full(&a, &b));
		free(full);
		jid_clear(&a);
		jid_clear(&b);
	}
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A domain of exactly len bytes: labels of 60 bytes and a shorter last one. */
static char *make_domain(size_t len)
{
	char *s = repeat('b', len);

	for (size_t i = 60; i + 1 < len; i += 61)
		s[i] = '.';
	return s;
}

static int parse_joined(const char *a, const char *b, const char *c, struct jid *j)
{
	size_t len = strlen(a) + strlen(b) + strlen(c);
	char *s = malloc(len + 1);
	int r;

	snprintf(s, len + 1, "%s%s%s", a, b, c);
	r = jid_parse(s, -1, j);
	if (r == JID_OK || r == JID_ERR_TOO_LONG)
		CHECK(paths_agree(s, len));
	free(s);
	return r;
}

static void test_part_lengths(void)
{
	char *p1023 = repeat('a', 1023), *p1024 = repeat('a', 1024), *p5000 = repeat('a', 5000);
	struct jid j;

	CHECK(parse_joined(p1023, "@example.com", "", &j) == JID_OK);
	CHECK(strlen(j.node) == 1023);
	jid_clear(&j);
	CHECK(parse_joined(p1024, "@example.com", "", &j) == JID_ERR_TOO_LONG);
	CHECK(parse_joined("a@example.com/", p1023, "", &j) == JID_OK);
	CHECK(strlen(j.resource) == 1023);
	jid_clear(&j);
	CHECK(parse_joined("a@example.com/", p1024, "", &j) == JID_ERR_TOO_LONG);
	CHECK(parse_joined(p5000, "@example.com", "", &j) == JID_ERR_TOO_LONG);
	CHECK(parse_joined("a@example.com/", p5000, "", &j) == JID_ERR_TOO_LONG);
	/* A prohibited character is reported before the length, on both paths. */
	CHECK(parse_joined(p1024, "<@example.com", "", &j) == JID_ERR_NODE);

	/* Domains of 1023 and 1024 bytes made of valid labels; 63/64-byte labels. */
	char *d1023 = make_domain(1023), *d1024 = make_domain(1024);
	char *l63 = repeat('b', 63), *l64 = repeat('b', 64);
	CHECK(parse_joined("", d1023, "", &j) == JID_OK);
	CHECK(j.domain != NULL && strlen(j.domain) == 1023);
	jid_clear(&j);
	CHECK(parse_joined("", d1023, ".", &j) == JID_OK); /* trailing dot stripped first */
	jid_clear(&j);
	CHECK(parse_joined("", d1024, "", &j) == JID_ERR_TOO_LONG);
	CHECK(parse_joined("", l63, ".example", &j) == JID_OK);
	jid_clear(&j);
	CHECK(parse_joined("", l64, ".example", &j) == JID_ERR_DOMAIN);
	free(d1023);
	free(d1024);

	free(p1023);
	free(p1024);
	free(p5000);
	free(l63);
	free(l64);
}

/* Preparation may shrink or grow a part; the limit applies afterwards. */
static void test_unicode_lengths(void)
{
	struct buf_like {
		char data[6000];
		size_t len;
	} b = {{0}, 0};
	struct jid j;

	/* 600 soft hyphens (1200 bytes) map to nothing: node "a". */
	for (int i = 0; i < 600; i++) {
		memcpy(b.data + b.len, "\u00ad", 2);
		b.len += 2;
	}
	memcpy(b.data + b.len, "a@x", 4);
	CHECK(jid_parse(b.data, -1, &j) == JID_OK);
	CHECK_STR(j.node, "a");
	jid_clear(&j);

	/* 511 'ß' become 1022 bytes of "ss", plus 'a' is 1023: fits. */
	b.len = 0;
	for (int i = 0; i < 511; i++) {
		memcpy(b.data + b.len, "ß", 2);
		b.len += 2;
	}
	memcpy(b.data + b.len, "a@x", 4);
	CHECK(jid_parse(b.data, -1, &j) == JID_OK);
	CHECK(j.node != NULL && strlen(j.node) == 1023);
	jid_clear(&j);
	/* One more 'ß' makes 1025 bytes. */
	memcpy(b.data + b.len, "ßa@x", 6);
	CHECK(jid_parse(b.data, -1, &j) == JID_ERR_TOO_LONG);
}

static void test_embedded_nul(void)
{
	struct jid j;

	CHECK(jid_parse("a\0b@example.com", 15, &j) == JID_ERR_NODE);
	CHECK(jid_parse("exa\0mple.com", 12, &j) == JID_ERR_DOMAIN);
	CHECK(jid_parse("example.com/a\0b", 15, &j) == JID_ERR_RESOURCE);
	CHECK(jid_parse_slow("a\0b@example.com", 15, &j) == JID_ERR_NODE);
	CHECK(jid_parse_slow("example.com/\xc3\xa4\0", 15, &j) == JID_ERR_RESOURCE);
}

static void test_explicit_length(void)
{
	struct jid j;

	CHECK(jid_parse("juliet@example.com/balcony", 18, &j) == JID_OK);
	CHECK_STR(j.node, "juliet");
	CHECK_STR(j.domain, "example.com");
	CHECK(j.resource == NULL);
	jid_clear(&j);
	CHECK(jid_parse("juliet@example.com", 0, &j) == JID_ERR_EMPTY);
	CHECK(jid_parse("juliet@example.com", 7, &j) == JID_ERR_EMPTY);
}

static void test_strings(void)
{
	struct jid j;
	char *s;

	CHECK(jid_parse("Juliet@Example.COM/Balcony", -1, &j) == JID_OK);
	s = jid_bare_string(&j);
	CHECK_STR(s, "juliet@example.com");
	free(s);
	s = jid_full_string(&j);
	CHECK_STR(s, "juliet@example.com/Balcony");
	free(s);
	jid_clear(&j);
	CHECK(j.node == NULL && j.domain == NULL && j.resource == NULL);

	CHECK(jid_parse("Example.COM/r", -1, &j) == JID_OK);
	s = jid_bare_string(&j);
	CHECK_STR(s, "example.com");
	free(s);
	s = jid_full_string(&j);
	CHECK_STR(s, "example.com/r");
	free(s);
	jid_clear(&j);

	CHECK(jid_parse("a@b", -1, &j) == JID_OK);
	s = jid_full_string(&j);
	CHECK_STR(s, "a@b");
	free(s);
	jid_clear(&j);
}

static bool equal(const char *a, const char *b, bool full)
{
	struct jid ja, jb;
	bool r;

	CHECK(jid_parse(a, -1, &ja) == JID_OK);
	CHECK(jid_parse(b, -1, &jb) == JID_OK);
	r = full ? jid_equal_full(&ja, &jb) : jid_equal_bare(&ja, &jb);
	jid_clear(&ja);
	jid_clear(&jb);
	return r;
}

static void test_equality(void)
{
	CHECK(equal("Juliet@Example.com/a", "juliet@example.com/b", false));
	CHECK(!equal("Juliet@Example.com/a", "juliet@example.com/b", true));
	CHECK(equal("Juliet@Example.com./a", "juliet@example.com/a", true));
	CHECK(!equal("a@example.com/r", "a@example.com/R", true));
	CHECK(equal("a@example.com/r", "a@example.com/R", false));
	CHECK(equal("a@example.com", "a@example.com", true));
	CHECK(!equal("a@example.com", "a@example.com/r", true));
	CHECK(equal("a@example.com", "a@example.com/r", false));
	CHECK(!equal("example.com", "a@example.com", false));
	CHECK(!equal("a@example.com", "b@example.com", false));
	CHECK(!equal("a@example.com", "a@example.org", false));
	CHECK(equal("ÄÖÜ@Example.com", "äöü@EXAMPLE.COM", true));
	CHECK(equal("example。com", "example.com", true));
}

static void test_result_strings(void)
{
	for (int r = 0; r >= JID_ERR_UTF8; r--) {
		CHECK(jid_result_string(r) != NULL);
		CHECK(strcmp(jid_result_string(r), "unknown JID error") != 0);
	}
	CHECK_STR(jid_result_string(42), "unknown JID error");
}

static const struct test tests[] = {
	TEST(test_table),
	TEST(test_table_slow),
	TEST(test_fast_equals_slow_table),
	TEST(test_fast_equals_slow_every_byte),
	TEST(test_fast_equals_slow_random),
	TEST(test_view_agrees),
	TEST(test_idempotent),
	TEST(test_part_lengths),
	TEST(test_unicode_lengths),
	TEST(test_embedded_nul),
	TEST(test_explicit_length),
	TEST(test_strings),
	TEST(test_equality),
	TEST(test_result_strings),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
