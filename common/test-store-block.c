/* test-store-block.c: unit tests for the blocklist functions of the SQLite
 * store (store-sqlite-block.c): add, list, match by candidates, remove,
 * empty, the size cap, and the list going with the account. One database
 * file in a private temporary directory.
 */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

static char test_db[PATH_MAX];

static struct store *test_store_with(const char *jid)
{
	struct store *s = NULL;
	struct scram_credentials sha1, sha256;
	char err[512] = "";

	CHECK(store_open_sqlite(test_db, &s, err, sizeof(err)) == 0);
	CHECK(scram_credentials_new(SCRAM_SHA1, "pw", SCRAM_MIN_ITERATIONS, &sha1) == 0);
	CHECK(scram_credentials_new(SCRAM_SHA256, "pw", SCRAM_MIN_ITERATIONS, &sha256) == 0);
	CHECK(store_account_create(s, jid, &sha1, &sha256) == STORE_OK);
	return s;
}

static void test_block_add_list_match_remove(void)
{
	struct store *s = test_store_with("juliet@example.org");
	const char *items[] = {"romeo@example.org", "evil.example", "nurse@example.org/phone",
			       "romeo@example.org"};
	char **list = NULL;
	size_t n = 0;

	CHECK(store_block_add(s, "juliet@example.org", items, 4, 10) == STORE_OK);
	CHECK(store_block_list(s, "juliet@example.org", &list, &n) == STORE_OK);
	CHECK(n == 3); /* the duplicate is kept once, sorted */
	if (n == 3) {
		CHECK_STR(list[0], "evil.example");
		CHECK_STR(list[1], "nurse@example.org/phone");
		CHECK_STR(list[2], "romeo@example.org");
	}
	store_strings_free(&list, n);

	const char *romeo[] = {"romeo@example.org/balcony", "romeo@example.org",
			       "example.org/balcony", "example.org"};
	const char *nurse[] = {"nurse@example.org/home", "nurse@example.org",
			       "example.org/home", "example.org"};
	const char *evil[] = {"x@evil.example", "evil.example"};
	CHECK(store_block_match(s, "juliet@example.org", romeo, 4) == STORE_OK);
	CHECK(store_block_match(s, "juliet@example.org", nurse, 4) == STORE_ERR_NOT_FOUND);
	CHECK(store_block_match(s, "juliet@example.org", evil, 2) == STORE_OK);
	CHECK(store_block_match(s, "romeo@example.org", romeo, 4) == STORE_ERR_NOT_FOUND);

	CHECK(store_block_remove(s, "juliet@example.org", items, 1) == STORE_OK);
	CHECK(store_block_match(s, "juliet@example.org", romeo, 4) == STORE_ERR_NOT_FOUND);
	CHECK(store_block_remove(s, "juliet@example.org", NULL, 0) == STORE_OK);
	CHECK(store_block_list(s, "juliet@example.org", &list, &n) == STORE_OK && n == 0);
	store_strings_free(&list, n);
	store_close(&s);
	unlink(test_db);
}

static void test_block_cap_and_account_delete(void)
{
	struct store *s = test_store_with("juliet@example.org");
	const char *items[] = {"a.example", "b.example", "c.example"};
	char **list = NULL;
	size_t n = 0;

	CHECK(store_block_add(s, "juliet@example.org", items, 2, 2) == STORE_OK);
	/* Past the cap nothing of the request is added. */
	CHECK(store_block_add(s, "juliet@example.org", items + 2, 1, 2) == STORE_ERR_FULL);
	CHECK(store_block_list(s, "juliet@example.org", &list, &n) == STORE_OK && n == 2);
	store_strings_free(&list, n);
	CHECK(store_block_accounts(s, &list, &n) == STORE_OK && n == 1);
	if (n == 1)
		CHECK_STR(list[0], "juliet@example.org");
	store_strings_free(&list, n);
	CHECK(store_block_add(s, "ghost@example.org", items, 1, 0) == STORE_ERR_NOT_FOUND);
	/* The list goes with the account, and a new account starts empty. */
	CHECK(store_account_delete(s, "juliet@example.org") == STORE_OK);
	store_close(&s);
	s = test_store_with("juliet@example.org");
	CHECK(store_block_list(s, "juliet@example.org", &list, &n) == STORE_OK && n == 0);
	store_strings_free(&list, n);
	CHECK(store_block_accounts(s, &list, &n) == STORE_OK && n == 0);
	store_strings_free(&list, n);
	store_close(&s);
	unlink(test_db);
}

static const struct test tests[] = {
	TEST(test_block_add_list_match_remove),
	TEST(test_block_cap_and_account_delete),
	{NULL, NULL},
};

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/junction-test-block-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(test_db, sizeof(test_db), "%s/sm.db", dir);
	int ret = test_run(tests);
	unlink(test_db);
	char side[PATH_MAX + 8];
	snprintf(side, sizeof(side), "%s-wal", test_db);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", test_db);
	unlink(side);
	rmdir(dir);
	return ret;
}
