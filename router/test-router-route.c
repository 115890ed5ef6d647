/* test-router-route.c: unit tests for the router's name table and its
 * rendezvous hashing (router-route.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router-route.h"
#include "test.h"

static int a, b, c, d; /* targets: only their addresses matter */

static void test_exclusive_conflict(void)
{
	struct route_table *t = route_table_new();
	CHECK(route_bind(t, "gw.localhost", ROUTE_EXCLUSIVE, &a, "gw.localhost") == ROUTE_OK);
	CHECK(route_bind(t, "gw.localhost", ROUTE_EXCLUSIVE, &b, "other") == ROUTE_ERR_CONFLICT);
	CHECK(route_bind(t, "gw.localhost", ROUTE_SHARED, &b, "other") == ROUTE_ERR_CONFLICT);
	CHECK(route_bind(t, "gw.localhost", ROUTE_EXCLUSIVE, &a, "gw.localhost") == ROUTE_OK);
	CHECK(route_lookup(t, "gw.localhost", 12, "u@gw.localhost", 14) == &a);
	CHECK(route_lookup(t, "nowhere", 7, "nowhere", 7) == NULL);
	CHECK(route_holds(t, "gw.localhost", 12, &a));
	CHECK(!route_holds(t, "gw.localhost", 12, &b));
	route_unbind_all(t, &a);
	CHECK(!route_is_bound(t, "gw.localhost"));
	CHECK(route_bind(t, "gw.localhost", ROUTE_EXCLUSIVE, &b, "other") == ROUTE_OK);
	CHECK(route_unbind(t, "gw.localhost", &a) == ROUTE_ERR_NOT_BOUND);
	CHECK(route_unbind(t, "gw.localhost", &b) == ROUTE_OK);
	route_table_free(&t);
	CHECK(t == NULL);
}

static void test_default_route(void)
{
	struct route_table *t = route_table_new();
	CHECK(route_default(t) == NULL);
	CHECK(route_set_default(t, &a) == ROUTE_OK);
	CHECK(route_set_default(t, &b) == ROUTE_ERR_CONFLICT);
	CHECK(route_default(t) == &a);
	CHECK(route_clear_default(t, &b) == ROUTE_ERR_NOT_BOUND);
	route_unbind_all(t, &a);
	CHECK(route_default(t) == NULL);
	route_table_free(&t);
}

static void test_many_names_grow(void)
{
	struct route_table *t = route_table_new();
	char name[64];
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "c%d.example", i);
		CHECK(route_bind(t, name, ROUTE_EXCLUSIVE, (i % 2) ? &a : &b, name) == ROUTE_OK);
	}
	int ok = 1;
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "c%d.example", i);
		if (route_lookup(t, name, strlen(name), name, strlen(name)) != ((i % 2) ? &a : &b))
			ok = 0;
	}
	CHECK(ok);
	route_unbind_all(t, &a);
	snprintf(name, sizeof(name), "c%d.example", 1);
	CHECK(!route_is_bound(t, name));
	snprintf(name, sizeof(name), "c%d.example", 2);
	CHECK(route_is_bound(t, name));
	route_table_free(&t);
}

#define USERS 20000

static void *owner_of(struct route_table *t, int user)
{
	char bare[64];
	snprintf(bare, sizeof(bare), "user%d@localhost", user);
	return route_lookup(t, "localhost", 9, bare, strlen(bare));
}

static void test_shared_split_and_stability(void)
{
	struct route_table *t = route_table_new();
	void **before = calloc(USERS, sizeof(*before));
	int count[3] = {0};

	CHECK(route_bind(t, "localhost", ROUTE_SHARED, &a, "sm1.localhost") == ROUTE_OK);
	CHECK(route_bind(t, "localhost", ROUTE_SHARED, &b, "sm2.localhost") == ROUTE_OK);
	CHECK(route_bind(t, "localhost", ROUTE_SHARED, &c, "sm3.localhost") == ROUTE_OK);
	CHECK(route_bind(t, "localhost", ROUTE_EXCLUSIVE, &d, "x") == ROUTE_ERR_CONFLICT);
	for (int i = 0; i < USERS; i++) {
		before[i] = owner_of(t, i);
		count[before[i] == &a ? 0 : before[i] == &b ? 1 : 2]++;
		/* The same user always meets the same instance. */
		if (owner_of(t, i) != before[i])
			CHECK(!"unstable lookup");
	}
	for (int k = 0; k < 3; k++) /* each about a third: 6667 +- 10% */
		CHECK(count[k] > USERS / 3 * 9 / 10 && count[k] < USERS / 3 * 11 / 10);

	/* A fourth instance takes about a quarter, only from the others. */
	CHECK(route_bind(t, "localhost", ROUTE_SHARED, &d, "sm4.localhost") == ROUTE_OK);
	int moved = 0, moved_elsewhere = 0;
	for (int i = 0; i < USERS; i++) {
		void *now = owner_of(t, i);
		if (now != before[i]) {
			moved++;
			if (now != &d)
				moved_elsewhere++;
		}
	}
	CHECK(moved > USERS / 4 * 9 / 10 && moved < USERS / 4 * 11 / 10);
	CHECK(moved_elsewhere == 0);

	/* Removing it again restores exactly the previous assignment. */
	CHECK(route_unbind(t, "localhost", &d) == ROUTE_OK);
	int differ = 0;
	for (int i = 0; i < USERS; i++)
		differ += owner_of(t, i) != before[i];
	CHECK(differ == 0);

	/* Removing sm2 moves only sm2's users. */
	route_unbind_all(t, &b);
	int wrong = 0;
	for (int i = 0; i < USERS; i++) {
		void *now = owner_of(t, i);
		if (now == &b || (before[i] != &b && now != before[i]))
			wrong++;
	}
	CHECK(wrong == 0);
	free(before);
	route_table_free(&t);
}

static void test_score_depends_on_both(void)
{
	CHECK(route_score("u@x", 3, "sm1") != route_score("u@x", 3, "sm2"));
	CHECK(route_score("u@x", 3, "sm1") != route_score("v@x", 3, "sm1"));
	CHECK(route_score("u@x", 3, "sm1") == route_score("u@x", 3, "sm1"));
	/* The separator keeps ("ab","c") and ("a","bc") apart. */
	CHECK(route_score("ab", 2, "c") != route_score("a", 1, "bc"));
}

static const struct test tests[] = {
	TEST(test_exclusive_conflict),
	TEST(test_default_route),
	TEST(test_many_names_grow),
	TEST(test_shared_split_and_stability),
	TEST(test_score_depends_on_both),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
