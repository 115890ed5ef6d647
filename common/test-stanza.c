/* common/test-stanza.c: unit tests for the stanza tree, its serializer,
 * stanza_parse() and stanza_error_reply(). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "stanza.h"
#include "test.h"
#include "xml-parser.h"

#define NS_CLIENT "jabber:client"

/* Parse, serialize with default_ns and return the text (caller frees), or
 * NULL when the parse fails. */
static char *reserialize(const char *xml, const char *parse_ns, const char *out_ns)
{
	struct stanza *st = NULL;
	if (stanza_parse(xml, strlen(xml), parse_ns, &st) != 0)
		return NULL;
	struct buf out = {0};
	stanza_serialize(st, out_ns, &out);
	stanza_unref(&st);
	return buf_steal(&out);
}

static void test_build_and_read(void)
{
	struct stanza *m = stanza_new("message", NULL);
	CHECK_STR(m->ns, "");
	CHECK(m->refs == 1 && m->parent == NULL);
	stanza_set_attr(m, "to", "juliet@example.com");
	stanza_set_attr(m, "type", "chat");
	stanza_set_attr(m, "to", "romeo@example.net");
	CHECK(m->n_attrs == 2);
	CHECK_STR(stanza_get_attr(m, "to"), "romeo@example.net");
	stanza_set_attr(m, "absent", NULL);
	CHECK(m->n_attrs == 2);
	stanza_set_attr(m, "to", NULL);
	CHECK(stanza_get_attr(m, "to") == NULL);
	CHECK_STR(m->attrs[0].name, "type");

	struct stanza *body = stanza_add_child(m, "body", NULL);
	CHECK(body->parent == m);
	CHECK_STR(body->ns, "");
	stanza_add_text(body, "hel", 3);
	stanza_add_text(body, "lo", 2);
	stanza_add_text(body, "", 0);
	CHECK(body->n_children == 1); /* adjacent text merged */
	CHECK(body->children[0].text_len == 5);
	struct stanza *x = stanza_add_child(m, "x", "urn:x");
	stanza_add_text(m, "t1", 2);
	struct stanza *body2 = stanza_add_child(m, "body", "urn:other");
	stanza_add_text(m, "t2", 2);

	CHECK(stanza_find_child(m, "body", NULL) == body);
	CHECK(stanza_find_child(m, "body", "urn:other") == body2);
	CHECK(stanza_find_child(m, "body", "urn:none") == NULL);
	CHECK(stanza_find_child(m, "x", "urn:x") == x);
	CHECK(stanza_count_child_elements(m) == 3);
	CHECK(stanza_child_element(m, 0) == body);
	CHECK(stanza_child_element(m, 1) == x);
	CHECK(stanza_child_element(m, 2) == body2);
	CHECK(stanza_child_element(m, 3) == NULL);

	char *t = stanza_text(m);
	CHECK_STR(t, "t1t2");
	free(t);
	t = stanza_text(body);
	CHECK_STR(t, "hello");
	free(t);
	t = stanza_text(x);
	CHECK_STR(t, "");
	free(t);
	stanza_unref(&m);
	CHECK(m == NULL);
	stanza_unref(&m); /* NULL is fine */
}

static void test_ref_and_copy(void)
{
	struct stanza *a = stanza_new("iq", NS_CLIENT);
	stanza_set_attr(a, "id", "1");
	stanza_add_text(stanza_add_child(a, "q", "urn:q"), "text", 4);
	struct stanza *b = stanza_ref(a);
	CHECK(b == a && a->refs == 2);
	stanza_unref(&b);
	CHECK(b == NULL && a->refs == 1);

	struct stanza *c = stanza_copy(a);
	CHECK(c != a && c->refs == 1 && c->parent == NULL);
	CHECK(stanza_equal(a, c));
	CHECK(c->children[0].element->parent == c);
	stanza_set_attr(c->children[0].element, "k", "v");
	CHECK(!stanza_equal(a, c));
	CHECK(stanza_get_attr(a->children[0].element, "k") == NULL);

	/* A copy of a child is a root of its own. */
	struct stanza *d = stanza_copy(a->children[0].element);
	CHECK(d->parent == NULL && d->refs == 1);
	CHECK_STR(d->ns, "urn:q");
	stanza_append_copy(a, d);
	CHECK(stanza_count_child_elements(a) == 2);
	CHECK(stanza_child_element(a, 1)->parent == a);
	CHECK(stanza_equal(stanza_child_element(a, 1), d));
	stanza_unref(&d);
	stanza_unref(&c);
	stanza_unref(&a);
}

static void test_equal(void)
{
	static const struct {
		const char *a, *b;
		bool equal;
	} cases[] = {
		{"<a x='1' y='2'/>", "<a y='2' x='1'/>", true},
		{"<a x='1'/>", "<a x='2'/>", false},
		{"<a x='1'/>", "<a x='1' y='2'/>", false},
		{"<a x='1'/>", "<a y='1'/>", false},
		{"<a/>", "<b/>", false},
		{"<a/>", "<a xmlns='urn:o'/>", false},
		{"<a><b/><c/></a>", "<a><c/><b/></a>", false},
		{"<a>t</a>", "<a>u</a>", false},
		{"<a>t</a>", "<a>t </a>", false},
		{"<a>t</a>", "<a><![CDATA[t]]></a>", true},
		{"<a>x&amp;y</a>", "<a>x<![CDATA[&]]>y</a>", true},
		{"<a><b/></a>", "<a>\n<b/></a>", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stanza *a = NULL, *b = NULL;
		CHECK(stanza_parse(cases[i].a, strlen(cases[i].a), NS_CLIENT, &a) == 0);
		CHECK(stanza_parse(cases[i].b, strlen(cases[i].b), NS_CLIENT, &b) == 0);
		if (a != NULL && b != NULL && stanza_equal(a, b) != cases[i].equal) {
			printf("  %s vs %s\n", cases[i].a, cases[i].b);
			CHECK(0);
		}
		stanza_unref(&a);
		stanza_unref(&b);
	}
}

/* Serialization of parsed input: escaping, namespaces, prefixes. */
static const struct {
	const char *in;
	const char *parse_ns, *out_ns;
	const char *out;
} serialize_cases[] = {
	{"<message to='a&amp;b' type=\"chat\"><body>x &lt; y &gt; z &amp; 'q' "
	 "\"r\"</body></message>",
	 NS_CLIENT, NS_CLIENT,
	 "<message to='a&amp;b' type='chat'><body>x &lt; y &gt; z &amp; 'q' "
	 "\"r\"</body></message>"},
	{"<presence/>", NS_CLIENT, NULL, "<presence xmlns='jabber:client'/>"},
	{"<presence/>", NS_CLIENT, "jabber:server", "<presence xmlns='jabber:client'/>"},
	{"<presence/>", NULL, NULL, "<presence/>"},
	{"<presence/>", NULL, NS_CLIENT, "<presence xmlns=''/>"},
	{"<iq><query xmlns='jabber:iq:roster'><item jid='a'/></query><b/></iq>", NS_CLIENT,
	 NS_CLIENT, "<iq><query xmlns='jabber:iq:roster'><item jid='a'/></query><b/></iq>"},
	{"<iq><x xmlns=''><y/></x></iq>", NS_CLIENT, NS_CLIENT, "<iq><x xmlns=''><y/></x></iq>"},
	{"<message xml:lang='en'><body xml:lang='fr'>b</body></message>", NS_CLIENT, NS_CLIENT,
	 "<message xml:lang='en'><body xml:lang='fr'>b</body></message>"},
	{"<m xmlns:a='urn:a' xmlns:b='urn:b' a:x='1' b:y='2' a:z='3' w='4'><a:c a:k='v'/></m>",
	 NS_CLIENT, NS_CLIENT,
	 "<m xmlns:ns1='urn:a' ns1:x='1' xmlns:ns2='urn:b' ns2:y='2' ns1:z='3' w='4'>"
	 "<c xmlns='urn:a' xmlns:ns1='urn:a' ns1:k='v'/></m>"},
	{"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
	 "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>x</text></stream:error>",
	 NS_CLIENT, NS_CLIENT,
	 "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
	 "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>x</text></stream:error>"},
	{"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><ver/>"
	 "<stream:x/></stream:features>",
	 NS_CLIENT, NS_CLIENT,
	 "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><ver/><stream:x/>"
	 "</stream:features>"},
	{"<m a='&#9;&#10;&#13;&apos;&quot;&lt;&gt;&amp;' b='x\ty'/>", NS_CLIENT, NS_CLIENT,
	 "<m a='&#9;&#10;&#13;&apos;&quot;&lt;&gt;&amp;' b='x y'/>"},
	{"<m>&#13;\r\n<![CDATA[]]>]]&gt;</m>", NS_CLIENT, NS_CLIENT, "<m>&#13;\n]]&gt;</m>"},
	{"<m>caf\xc3\xa9 \xf0\x9f\x98\x80</m>", NS_CLIENT, NS_CLIENT,
	 "<m>caf\xc3\xa9 \xf0\x9f\x98\x80</m>"},
	{"<m xmlns='urn:a&apos;b'/>", NULL, NULL, "<m xmlns='urn:a&apos;b'/>"},
	{"<xml:foo/>", NS_CLIENT, NS_CLIENT, "<xml:foo/>"},
};

static void test_serialize(void)
{
	for (size_t i = 0; i < sizeof(serialize_cases) / sizeof(serialize_cases[0]); i++) {
		char *out = reserialize(serialize_cases[i].in, serialize_cases[i].parse_ns,
					serialize_cases[i].out_ns);
		CHECK_STR(out, serialize_cases[i].out);
		free(out);
	}
}

/* parse -> serialize -> parse gives an equal tree, and serializing again
 * gives the same bytes, for every serialize case and both namespace modes. */
static void test_round_trip(void)
{
	static const char *extra[] = {
		"<message xmlns='jabber:client' to='a' from='b' type='chat' id='1' xml:lang='en'>"
		"<body>Hi &amp; bye</body><active xmlns='http://jabber.org/protocol/chatstates'/>"
		"<x xmlns='jabber:x:data' type='submit'><field var='a'><value>1</value></field></x>"
		"</message>",
		"<iq type='result' id='r'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
		"<items node='n'><item id='i'><entry xmlns='http://www.w3.org/2005/Atom'>"
		"<title xml:lang='de'>T\xc3\xbc</title></entry></item></items></pubsub></iq>",
		"<a xmlns:p='urn:p' xmlns:q='urn:q'><p:b q:c='1' p:c='2'>\n  <q:d/>\n</p:b></a>",
	};
	size_t n = sizeof(serialize_cases) / sizeof(serialize_cases[0]);
	size_t total = n + sizeof(extra) / sizeof(extra[0]);
	for (size_t i = 0; i < total; i++) {
		const char *in = i < n ? serialize_cases[i].in : extra[i - n];
		const char *ns_options[] = {NS_CLIENT, NULL, "urn:other"};
		for (size_t k = 0; k < 3; k++) {
			const char *ns = ns_options[k];
			struct stanza *a = NULL, *b = NULL;
			struct buf s1 = {0}, s2 = {0};
			CHECK(stanza_parse(in, strlen(in), NS_CLIENT, &a) == 0);
			if (a == NULL)
				continue;
			stanza_serialize(a, ns, &s1);
			CHECK(stanza_parse(s1.data, s1.len, ns, &b) == 0);
			if (b != NULL) {
				CHECK(stanza_equal(a, b));
				stanza_serialize(b, ns, &s2);
				CHECK_STR(s1.data, s2.data);
			}
			if (test_failed_current)
				printf("  input %s / ns %s -> %s\n", in, ns ? ns : "(null)",
				       s1.data);
			stanza_unref(&a);
			stanza_unref(&b);
			buf_free(&s1);
			buf_free(&s2);
		}
	}
}

static void test_serialize_built(void)
{
	struct stanza *m = stanza_new("message", NS_CLIENT);
	struct buf out = {0};
	stanza_set_attr(m, "to", "juliet@example.com");
	stanza_set_attr(m, "xmlns", "urn:ignored");
	stanza_set_attr(m, "xmlns:foo", "urn:ignored");
	stanza_set_attr(m, STANZA_ATTR_XML_LANG, "en");
	stanza_add_text(stanza_add_child(m, "body", NULL), "1 < 2 & 3 > 2", 13);
	stanza_add_child(m, "x", "");
	stanza_serialize(m, NS_CLIENT, &out);
	CHECK_STR(out.data, "<message to='juliet@example.com' xml:lang='en'>"
			    "<body>1 &lt; 2 &amp; 3 &gt; 2</body><x xmlns=''/></message>");
	/* Appends to what is there. */
	stanza_serialize(stanza_child_element(m, 1), NULL, &out);
	CHECK(strstr(out.data, "</message><x/>") != NULL);
	buf_free(&out);
	stanza_unref(&m);
}

static void test_parse_results(void)
{
	static const struct {
		const char *in;
		int result;
	} cases[] = {
		{"<a/>", 0},
		{" \n<a>x</a>\t ", 0},
		{"", XML_PARSER_ERR_BAD_FORMAT},
		{"   ", XML_PARSER_ERR_BAD_FORMAT},
		{"<a/><b/>", XML_PARSER_ERR_BAD_FORMAT},
		{"<a/><b/><c/>", XML_PARSER_ERR_BAD_FORMAT},
		{"text<a/>", XML_PARSER_ERR_BAD_FORMAT},
		{"<a/>text", XML_PARSER_ERR_BAD_FORMAT},
		{"<a>", XML_PARSER_ERR_NOT_WELL_FORMED},
		{"<a></b>", XML_PARSER_ERR_NOT_WELL_FORMED},
		{"</a>", XML_PARSER_ERR_NOT_WELL_FORMED},
		{"</stream:stream>", XML_PARSER_ERR_NOT_WELL_FORMED},
		{"<a/></stream:stream>", XML_PARSER_ERR_NOT_WELL_FORMED},
		{"<a/></stream:stream><b/>", XML_PARSER_ERR_CLOSED},
		{"<a>&x;</a>", XML_PARSER_ERR_NOT_WELL_FORMED},
		{"<?xml version='1.0'?><a/>", XML_PARSER_ERR_NOT_WELL_FORMED},
		{"<!-- c --><a/>", XML_PARSER_ERR_RESTRICTED},
		{"<a><?pi x?></a>", XML_PARSER_ERR_RESTRICTED},
		{"<a>\xff</a>", XML_PARSER_ERR_NOT_WELL_FORMED},
		{"<p:a/>", XML_PARSER_ERR_NOT_WELL_FORMED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stanza *st = (struct stanza *)&st; /* must be overwritten */
		int r = stanza_parse(cases[i].in, strlen(cases[i].in), NS_CLIENT, &st);
		if (r != cases[i].result) {
			printf("  \"%s\": got %d, want %d\n", cases[i].in, r, cases[i].result);
			CHECK(0);
		}
		CHECK((r == 0) == (st != NULL));
		stanza_unref(&st);
	}
}

static void test_parse_default_ns(void)
{
	struct stanza *st = NULL;
	CHECK(stanza_parse("<a><b xmlns='urn:b'><c/></b></a>", 32, "jabber:server", &st) == 0);
	if (st == NULL)
		return;
	CHECK_STR(st->ns, "jabber:server");
	CHECK_STR(stanza_child_element(st, 0)->ns, "urn:b");
	CHECK_STR(stanza_child_element(stanza_child_element(st, 0), 0)->ns, "urn:b");
	stanza_unref(&st);
	CHECK(stanza_parse("<a/>", 4, NULL, &st) == 0);
	CHECK(st != NULL && strcmp(st->ns, "") == 0);
	stanza_unref(&st);
	CHECK(stanza_parse("<a/>", 4, "", &st) == 0);
	CHECK(st != NULL && strcmp(st->ns, "") == 0);
	stanza_unref(&st);
	/* A default namespace that needs escaping in the synthetic header. */
	CHECK(stanza_parse("<a/>", 4, "urn:it's<&>", &st) == 0);
	CHECK(st != NULL && strcmp(st->ns, "urn:it's<&>") == 0);
	stanza_unref(&st);
	/* stream: is bound to the stream namespace. */
	CHECK(stanza_parse("<stream:error/>", 15, NS_CLIENT, &st) == 0);
	CHECK(st != NULL && strcmp(st->ns, XML_NS_STREAM) == 0);
	stanza_unref(&st);
}

/* A big stanza is not refused by stanza_parse's own byte limit. */
static void test_parse_large(void)
{
	struct buf in = {0};
	buf_append_str(&in, "<message><body>");
	for (int i = 0; i < 300000; i++)
		buf_append_char(&in, 'a' + i % 26);
	buf_append_str(&in, "</body></message>");
	struct stanza *st = NULL;
	CHECK(stanza_parse(in.data, in.len, NS_CLIENT, &st) == 0);
	if (st != NULL) {
		char *t = stanza_text(stanza_child_element(st, 0));
		CHECK(strlen(t) == 300000);
		free(t);
	}
	stanza_unref(&st);
	buf_free(&in);
}

static void test_error_reply(void)
{
	static const struct {
		const char *in, *type, *condition, *text, *out;
	} cases[] = {
		{"<message to='juliet@example.com' from='romeo@example.net/o' id='m1' type='chat'"
		 " xml:lang='en'><body>hi</body></message>",
		 "cancel", "service-unavailable", "Gone & away",
		 "<message to='romeo@example.net/o' from='juliet@example.com' id='m1' type='error'>"
		 "<body>hi</body><error type='cancel'>"
		 "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
		 "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Gone &amp; away</text>"
		 "</error></message>"},
		{"<iq to='x.example' id='1' type='get'><query xmlns='jabber:iq:version'/></iq>",
		 "cancel", "feature-not-implemented", NULL,
		 "<iq from='x.example' id='1' type='error'><query xmlns='jabber:iq:version'/>"
		 "<error type='cancel'>"
		 "<feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
		 "</error></iq>"},
		{"<presence from='a@b'>text<status>s</status></presence>", "wait",
		 "resource-constraint", NULL,
		 "<presence to='a@b' type='error'>text<status>s</status><error type='wait'>"
		 "<resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
		 "</presence>"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stanza *st = NULL;
		CHECK(stanza_parse(cases[i].in, strlen(cases[i].in), NS_CLIENT, &st) == 0);
		if (st == NULL)
			continue;
		struct stanza *reply =
			stanza_error_reply(st, cases[i].type, cases[i].condition, cases[i].text);
		struct buf out = {0};
		stanza_serialize(reply, NS_CLIENT, &out);
		CHECK_STR(out.data, cases[i].out);
		CHECK(reply->refs == 1 && reply->parent == NULL);
		buf_free(&out);
		stanza_unref(&reply);
		stanza_unref(&st);
	}

	/* In a component stream the error element takes the stanza's own
	 * namespace, the condition the stanzas namespace. */
	struct stanza *st = NULL;
	CHECK(stanza_parse("<message to='a' from='b'/>", 26, "jabber:component:accept", &st) == 0);
	if (st == NULL)
		return;
	struct stanza *reply = stanza_error_reply(st, "modify", "bad-request", "t");
	struct stanza *err = stanza_find_child(reply, "error", NULL);
	CHECK(err != NULL);
	if (err != NULL) {
		CHECK_STR(err->ns, "jabber:component:accept");
		CHECK(stanza_find_child(err, "bad-request", STANZA_NS_STANZAS) != NULL);
		CHECK(stanza_find_child(err, "text", STANZA_NS_STANZAS) != NULL);
	}
	struct buf out = {0};
	stanza_serialize(reply, NULL, &out);
	CHECK_STR(out.data,
		  "<message xmlns='jabber:component:accept' to='b' from='a' type='error'>"
		  "<error type='modify'>"
		  "<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
		  "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>t</text></error></message>");
	buf_free(&out);
	stanza_unref(&reply);
	stanza_unref(&st);
}

static const struct test tests[] = {
	TEST(test_build_and_read),
	TEST(test_ref_and_copy),
	TEST(test_equal),
	TEST(test_serialize),
	TEST(test_round_trip),
	TEST(test_serialize_built),
	TEST(test_parse_results),
	TEST(test_parse_default_ns),
	TEST(test_parse_large),
	TEST(test_error_reply),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
