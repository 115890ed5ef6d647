/* test-peers.c: unit tests for peers.c, the names trusted streams hold. */
#include <stdlib.h>

#include "peers.h"
#include "stanza.h"
#include "test.h"

/* Feed one watch event; returns what peers_event() said (*name then
 * points into a freed stanza: not to be read). */
static enum peers_change feed(struct peers *peers, const char *xml, const char **name,
			      bool *instance)
{
	struct stanza *st = NULL;
	enum peers_change r = PEERS_NONE;

	CHECK(stanza_parse(xml, strlen(xml), "jabber:component:accept", &st) == 0);
	if (st != NULL)
		r = peers_event(peers, st, name, instance);
	stanza_unref(&st);
	return r;
}

#define EV(from, what, trusted, instance)                                                          \
	"<presence from='" from "'><" what " xmlns='urn:junction:component:1' trusted='" trusted   \
	"' instance='" instance "'/></presence>"

static void test_own_names_shared_names_and_untrusted(void)
{
	struct peers peers = {0};
	const char *name = NULL;
	bool instance = false;

	/* c2s's own name, on a trusted stream. */
	CHECK(feed(&peers, EV("c2s.localhost", "bound", "true", "c2s.localhost"), &name,
		   &instance) == PEERS_BOUND);
	CHECK(peers_holds(&peers, "c2s.localhost") && peers_is_instance(&peers, "c2s.localhost"));
	/* A users' domain bound by two sm instances: held, nobody's own name. */
	CHECK(feed(&peers, EV("localhost", "bound", "true", "sm1.localhost"), &name, &instance) ==
	      PEERS_BOUND);
	CHECK(!instance);
	CHECK(feed(&peers, EV("localhost", "bound", "true", "sm2.localhost"), &name, NULL) ==
	      PEERS_BOUND);
	CHECK(peers_holds(&peers, "localhost") && !peers_is_instance(&peers, "localhost"));
	CHECK(feed(&peers, EV("localhost", "unbound", "true", "sm1.localhost"), &name, NULL) ==
	      PEERS_LESS);
	CHECK(peers_holds(&peers, "localhost"));
	CHECK(feed(&peers, EV("localhost", "unbound", "true", "sm2.localhost"), &name, NULL) ==
	      PEERS_GONE);
	CHECK(!peers_holds(&peers, "localhost"));
	/* An untrusted component is never recorded. */
	CHECK(feed(&peers, EV("gw.localhost", "bound", "false", "gw.localhost"), &name, NULL) ==
	      PEERS_NONE);
	CHECK(!peers_holds(&peers, "gw.localhost"));
	/* Not a watch event at all. */
	CHECK(feed(&peers, "<presence from='x.localhost'><show/></presence>", &name, NULL) ==
	      PEERS_NONE);
	CHECK(feed(&peers, EV("c2s.localhost", "unbound", "true", "c2s.localhost"), &name,
		   &instance) == PEERS_GONE);
	CHECK(instance && !peers_holds(&peers, "c2s.localhost"));
	CHECK(feed(&peers, EV("c2s.localhost", "bound", "true", "c2s.localhost"), &name, NULL) ==
	      PEERS_BOUND);
	peers_clear(&peers);
	CHECK(peers.list == NULL && !peers_holds(&peers, "c2s.localhost"));
}

static const struct test tests[] = {
	TEST(test_own_names_shared_names_and_untrusted),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
