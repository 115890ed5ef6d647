/* test-pubsub-caps-ver.c: XEP-0115 verification strings and sha-1 ver
 * checks, with the XEP's own examples (sections 5.2 and 5.3). */
#include <stdlib.h>
#include <string.h>

#include "pubsub-caps-ver.h"
#include "stanza.h"
#include "test.h"

#define DISCO "http://jabber.org/protocol/disco#info"

struct ver_case {
	const char *query, *s, *ver;
	size_t n_features;
};

static const struct ver_case ver_cases[] = {
	/* 5.2 simple generation example */
	{"<query xmlns='" DISCO "'>"
	 "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
	 "<feature var='http://jabber.org/protocol/muc'/>"
	 "<feature var='http://jabber.org/protocol/disco#info'/>"
	 "<feature var='http://jabber.org/protocol/caps'/>"
	 "<feature var='http://jabber.org/protocol/disco#items'/>"
	 "</query>",
	 "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<"
	 "http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<"
	 "http://jabber.org/protocol/muc<",
	 "QgayPKawpkPSDYmwT/WM94uAlu0=", 4},
	/* 5.3 complex generation example: languages and a form, in a
	 * different order than the sorted one */
	{"<query xmlns='" DISCO "'>"
	 "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
	 "<identity xml:lang='el' category='client' name='\xce\xa8 0.11' type='pc'/>"
	 "<feature var='http://jabber.org/protocol/caps'/>"
	 "<feature var='http://jabber.org/protocol/disco#info'/>"
	 "<feature var='http://jabber.org/protocol/disco#items'/>"
	 "<feature var='http://jabber.org/protocol/muc'/>"
	 "<x xmlns='jabber:x:data' type='result'>"
	 "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
	 "<field var='ip_version'><value>ipv4</value><value>ipv6</value></field>"
	 "<field var='os'><value>Mac</value></field>"
	 "<field var='os_version'><value>10.5.1</value></field>"
	 "<field var='software'><value>Psi</value></field>"
	 "<field var='software_version'><value>0.11</value></field>"
	 "</x></query>",
	 "client/pc/el/\xce\xa8 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<"
	 "http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<"
	 "http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<ip_version<ipv4<ipv6<"
	 "os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<",
	 "q07IKJEyjvHSyhy//CH0CxmKi8w=", 4},
};

static void test_ver_examples(void)
{
	for (size_t i = 0; i < sizeof(ver_cases) / sizeof(ver_cases[0]); i++) {
		const struct ver_case *c = &ver_cases[i];
		struct stanza *q = NULL;
		char **features = NULL;
		size_t n = 0;
		CHECK(stanza_parse(c->query, strlen(c->query), NULL, &q) == 0);
		if (q == NULL)
			continue;
		char *s = pubsub_caps_ver_string(q, &features, &n);
		CHECK_STR(s, c->s);
		CHECK(n == c->n_features);
		CHECK(n > 0 && strcmp(features[0], "http://jabber.org/protocol/caps") == 0);
		CHECK(pubsub_caps_ver_check(s, c->ver));
		/* One feature more or less is another ver. */
		CHECK(!pubsub_caps_ver_check(s, "QgayPKawpkPSDYmwT/WM94uAlu1="));
		free(s);
		pubsub_caps_ver_strs_free(features, n);
		stanza_unref(&q);
	}
}

static void test_ver_forged(void)
{
	/* A client claiming the Exodus ver while listing +notify. */
	const char *xml = "<query xmlns='" DISCO "'>"
			  "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
			  "<feature var='http://jabber.org/protocol/tune+notify'/></query>";
	struct stanza *q = NULL;
	char **features;
	size_t n;

	CHECK(stanza_parse(xml, strlen(xml), NULL, &q) == 0);
	char *s = pubsub_caps_ver_string(q, &features, &n);
	CHECK(!pubsub_caps_ver_check(s, "QgayPKawpkPSDYmwT/WM94uAlu0="));
	free(s);
	pubsub_caps_ver_strs_free(features, n);
	stanza_unref(&q);
}

static const struct test tests[] = {
	TEST(test_ver_examples),
	TEST(test_ver_forged),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
