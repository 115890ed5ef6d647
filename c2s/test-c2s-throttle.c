/* test-c2s-throttle.c: the failed-login tables of c2s-throttle.c. */
#include "c2s.h"
#include "test.h"

static void test_free_failures_then_growing_delay(void)
{
	struct c2s_throttle *t = c2s_throttle_new();
	static const uint64_t expected[] = {0, 0, 0, 0, 0, 1000, 2000, 4000, 8000, 16000, 30000, 30000};

	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		CHECK(c2s_throttle_delay_ms(t, "ip:192.0.2.1", 1000) == expected[i]);
		c2s_throttle_failure(t, "ip:192.0.2.1", 1000);
	}
	/* Other keys are not affected. */
	CHECK(c2s_throttle_delay_ms(t, "ip:192.0.2.2", 1000) == 0);
	c2s_throttle_free(&t);
	CHECK(t == NULL);
}

static void test_success_forgets_the_key(void)
{
	struct c2s_throttle *t = c2s_throttle_new();

	for (int i = 0; i < 7; i++)
		c2s_throttle_failure(t, "user:juliet@localhost", 0);
	CHECK(c2s_throttle_delay_ms(t, "user:juliet@localhost", 0) == 4000);
	c2s_throttle_success(t, "user:juliet@localhost");
	CHECK(c2s_throttle_delay_ms(t, "user:juliet@localhost", 0) == 0);
	c2s_throttle_success(t, "user:nobody@localhost"); /* unknown: no-op */
	c2s_throttle_free(&t);
}

static void test_entries_expire(void)
{
	struct c2s_throttle *t = c2s_throttle_new();
	const uint64_t window = 15 * 60 * 1000;

	for (int i = 0; i < 6; i++)
		c2s_throttle_failure(t, "ip:a", 10);
	CHECK(c2s_throttle_delay_ms(t, "ip:a", 10) == 2000);
	/* Stale but not swept yet: no delay, and a new failure starts over. */
	CHECK(c2s_throttle_delay_ms(t, "ip:a", 10 + window) == 0);
	c2s_throttle_failure(t, "ip:a", 10 + window);
	CHECK(c2s_throttle_delay_ms(t, "ip:a", 10 + window) == 0);
	for (int i = 0; i < 6; i++)
		c2s_throttle_failure(t, "ip:b", 10);
	c2s_throttle_expire(t, 10 + window);
	CHECK(c2s_throttle_delay_ms(t, "ip:b", 10) == 0); /* swept */
	c2s_throttle_free(&t);
}

static const struct test tests[] = {
	TEST(test_free_failures_then_growing_delay),
	TEST(test_success_forgets_the_key),
	TEST(test_entries_expire),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
