/* test-pubsub-node-config.c: node configuration fields, form submission
 * and publish-options preconditions, table-driven. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pubsub-form.h"
#include "pubsub-node-config.h"
#include "stanza.h"
#include "test.h"

struct set_case {
	const char *var, *value;
	int result;
	const char *stored; /* the field read back, when OK */
};

static const struct set_case set_cases[] = {
	{"pubsub#max_items", "5", PUBSUB_NODE_CONFIG_OK, "5"},
	{"pubsub#max_items", "max", PUBSUB_NODE_CONFIG_OK, "max"},
	{"pubsub#max_items", "0", PUBSUB_NODE_CONFIG_BAD_VALUE, NULL},
	{"pubsub#max_items", "-3", PUBSUB_NODE_CONFIG_BAD_VALUE, NULL},
	{"pubsub#max_items", "100001", PUBSUB_NODE_CONFIG_BAD_VALUE, NULL},
	{"pubsub#max_items", "12abc", PUBSUB_NODE_CONFIG_BAD_VALUE, NULL},
	{"pubsub#persist_items", "false", PUBSUB_NODE_CONFIG_OK, "0"},
	{"pubsub#persist_items", "1", PUBSUB_NODE_CONFIG_OK, "1"},
	{"pubsub#persist_items", "yes", PUBSUB_NODE_CONFIG_BAD_VALUE, NULL},
	{"pubsub#access_model", "whitelist", PUBSUB_NODE_CONFIG_OK, "whitelist"},
	{"pubsub#access_model", "presence", PUBSUB_NODE_CONFIG_OK, "presence"},
	{"pubsub#access_model", "roster", PUBSUB_NODE_CONFIG_OK, "roster"},
	{"pubsub#roster_groups_allowed", "Friends", PUBSUB_NODE_CONFIG_OK, "Friends\n"},
	{"pubsub#roster_groups_allowed", "", PUBSUB_NODE_CONFIG_OK, ""},
	{"pubsub#access_model", "everyone", PUBSUB_NODE_CONFIG_BAD_VALUE, NULL},
	{"pubsub#publish_model", "open", PUBSUB_NODE_CONFIG_OK, "open"},
	{"pubsub#send_last_published_item", "on_sub", PUBSUB_NODE_CONFIG_OK, "on_sub"},
	{"pubsub#send_last_published_item", "on_sub_and_presence", PUBSUB_NODE_CONFIG_BAD_VALUE, NULL},
	{"pubsub#node_type", "collection", PUBSUB_NODE_CONFIG_BAD_VALUE, NULL},
	{"pubsub#title", "Princely <musings>", PUBSUB_NODE_CONFIG_OK, "Princely <musings>"},
	{"pubsub#colour", "red", PUBSUB_NODE_CONFIG_UNKNOWN, NULL},
};

static void test_set_get(void)
{
	for (size_t i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++) {
		const struct set_case *c = &set_cases[i];
		struct pubsub_node_config cfg;
		struct buf out = {0};
		pubsub_node_config_default(&cfg);
		int r = pubsub_node_config_set(&cfg, c->var, &c->value, 1);
		CHECK(r == c->result);
		if (r == PUBSUB_NODE_CONFIG_OK) {
			CHECK(pubsub_node_config_get(&cfg, c->var, &out));
			buf_append_char(&out, '\0');
			CHECK_STR(out.data, c->stored);
		}
		buf_free(&out);
		pubsub_node_config_clear(&cfg);
	}
}

/* Every field read back from a configuration sets the same value again:
 * what the store writes, it can read. */
static void test_round_trip(void)
{
	struct pubsub_node_config a, b;
	struct buf va = {0}, vb = {0};
	const char *var;
	const char *max = "max", *title = "T";
	const char *groups[] = {"Friends", "", "Close family"};

	pubsub_node_config_default(&a);
	CHECK(pubsub_node_config_set(&a, "pubsub#roster_groups_allowed", groups, 3) ==
	      PUBSUB_NODE_CONFIG_OK);
	CHECK_STR(a.roster_groups, "Friends\nClose family\n");
	CHECK(pubsub_node_config_group_allowed(&a, "Close family"));
	CHECK(!pubsub_node_config_group_allowed(&a, "Close"));
	CHECK(!pubsub_node_config_group_allowed(&a, ""));
	pubsub_node_config_set(&a, "pubsub#max_items", &max, 1);
	pubsub_node_config_set(&a, "pubsub#title", &title, 1);
	pubsub_node_config_default(&b);
	for (size_t i = 0; (var = pubsub_node_config_var(i)) != NULL; i++) {
		buf_reset(&va);
		pubsub_node_config_get(&a, var, &va);
		buf_append_char(&va, '\0');
		const char *v = va.data;
		CHECK(pubsub_node_config_set(&b, var, &v, 1) == PUBSUB_NODE_CONFIG_OK);
		buf_reset(&vb);
		pubsub_node_config_get(&b, var, &vb);
		buf_append_char(&vb, '\0');
		CHECK_STR(va.data, vb.data);
	}
	CHECK(b.max_items == PUBSUB_MAX_ITEMS_UNLIMITED);
	buf_free(&va);
	buf_free(&vb);
	pubsub_node_config_clear(&a);
	pubsub_node_config_clear(&b);
}

static struct stanza *test_form(const char *form_type, const char *var, const char *value)
{
	struct stanza *root = stanza_new("publish-options", "http://jabber.org/protocol/pubsub");
	struct stanza *x = pubsub_form_add(root, "submit", form_type);
	pubsub_form_field(x, var, NULL, NULL, value);
	return root;
}

static void test_forms_and_preconditions(void)
{
	static const char *const node_config = "http://jabber.org/protocol/pubsub#node_config";
	static const char *const publish_options = "http://jabber.org/protocol/pubsub#publish-options";
	struct pubsub_node_config cfg;
	struct stanza *f;

	pubsub_node_config_default(&cfg);
	f = test_form(node_config, "pubsub#access_model", "authorize");
	CHECK(pubsub_node_config_apply_form(&cfg, stanza_child_element(f, 0)) == 0);
	CHECK(cfg.access_model == PUBSUB_ACCESS_AUTHORIZE);
	CHECK(pubsub_node_config_matches(&cfg, stanza_child_element(f, 0)));
	stanza_unref(&f);
	/* "true" and "1" are the same value. */
	f = test_form(publish_options, "pubsub#persist_items", "true");
	CHECK(pubsub_node_config_matches(&cfg, stanza_child_element(f, 0)));
	stanza_unref(&f);
	f = test_form(publish_options, "pubsub#access_model", "open");
	CHECK(!pubsub_node_config_matches(&cfg, stanza_child_element(f, 0)));
	stanza_unref(&f);
	f = test_form(publish_options, "pubsub#colour", "red");
	CHECK(!pubsub_node_config_matches(&cfg, stanza_child_element(f, 0)));
	stanza_unref(&f);
	/* A form of another kind is refused. */
	f = test_form("urn:example:other", "pubsub#title", "x");
	CHECK(pubsub_node_config_apply_form(&cfg, stanza_child_element(f, 0)) != 0);
	stanza_unref(&f);
	pubsub_node_config_clear(&cfg);
}

int main(void)
{
	static const struct test tests[] = {
		TEST(test_set_get),
		TEST(test_round_trip),
		TEST(test_forms_and_preconditions),
		{NULL, NULL},
	};
	return test_run(tests);
}
