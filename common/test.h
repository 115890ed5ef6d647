/* test.h: the tiny unit-test harness shared by every test-*.c.
 *
 * A test file defines functions `static void test_x(void)` using the CHECK
 * macros, lists them in a NULL-terminated table and calls test_run() from
 * main(). Each test prints "PASS name" or "FAIL name: file:line: expr"; the
 * last line is "N passed, N failed" and the exit status is non-zero when any
 * test failed. tests/run-all adds these counts to the integration tests'.
 *
 *   static void test_escape(void) { CHECK(strcmp(out, "&amp;") == 0); }
 *   static const struct test tests[] = { TEST(test_escape), {NULL, NULL} };
 *   int main(void) { return test_run(tests); }
 */
#ifndef JUNCTION_TEST_H
#define JUNCTION_TEST_H

#include <stdio.h>
#include <string.h>

struct test {
	const char *name;
	void (*fn)(void);
};

#define TEST(fn) {#fn, fn}

static int test_failed_current;

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			printf("  check failed: %s:%d: %s\n", __FILE__, __LINE__, #expr);          \
			test_failed_current = 1;                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		if (check_a_ == NULL || check_b_ == NULL ? check_a_ != check_b_                    \
							 : strcmp(check_a_, check_b_) != 0) {      \
			printf("  check failed: %s:%d: %s == %s (\"%s\" vs \"%s\")\n", __FILE__,   \
			       __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                    \
			       check_b_ ? check_b_ : "(null)");                                     \
			test_failed_current = 1;                                                   \
		}                                                                                  \
	} while (0)

static inline int test_run(const struct test *tests)
{
	int passed = 0, failed = 0;
	for (const struct test *t = tests; t->name != NULL; t++) {
		test_failed_current = 0;
		t->fn();
		if (test_failed_current) {
			printf("FAIL %s\n", t->name);
			failed++;
		} else {
			printf("PASS %s\n", t->name);
			passed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif
