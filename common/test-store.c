/* test-store.c: unit tests for db.c and the SQLite store (store-sqlite.c).
 *
 * Every test works on its own database file in a private temporary
 * directory. Credentials are filled in by hand rather than derived, so these
 * tests need nothing from scram.c. The durability test forks a child that
 * pushes a message and SIGKILLs itself as soon as the call returns.
 */
#define _XOPEN_SOURCE 700
#include <assert.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "db-checkpoint.h"
#include "store-sqlite.h"
#include "store.h"
#include "test.h"

static char test_dir[PATH_MAX];

/* A fresh database path for one test. */
static const char *test_path(const char *name)
{
	static char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s.db", test_dir, name);
	return path;
}

static struct store *open_ok(const char *path)
{
	struct store *s = NULL;
	char err[512] = "";

	if (store_open_sqlite(path, &s, err, sizeof(err)) < 0)
		printf("  unexpected error: %s\n", err);
	CHECK(s != NULL);
	return s;
}

/* Recognisable, distinct credentials: every byte derived from seed. */
static void fake_cred(enum scram_hash hash, unsigned char seed, struct scram_credentials *c)
{
	memset(c, 0, sizeof(*c));
	c->hash = hash;
	c->iterations = STORE_SCRAM_ITERATIONS + seed;
	c->salt_len = SCRAM_SALT_LEN;
	c->key_len = hash == SCRAM_SHA1 ? 20 : 32;
	for (size_t i = 0; i < sizeof(c->salt); i++)
		c->salt[i] = i < c->salt_len ? (unsigned char)(seed + i) : 0;
	for (size_t i = 0; i < c->key_len; i++) {
		c->stored_key[i] = (unsigned char)(seed * 3 + i);
		c->server_key[i] = (unsigned char)(seed * 7 + i);
	}
}

static bool cred_equal(const struct scram_credentials *a, const struct scram_credentials *b)
{
	return a->hash == b->hash && a->iterations == b->iterations && a->salt_len == b->salt_len &&
	       a->key_len == b->key_len && memcmp(a->salt, b->salt, a->salt_len) == 0 &&
	       memcmp(a->stored_key, b->stored_key, a->key_len) == 0 &&
	       memcmp(a->server_key, b->server_key, a->key_len) == 0;
}

static int add_account(struct store *s, const char *jid, unsigned char seed)
{
	struct scram_credentials c1, c256;
	fake_cred(SCRAM_SHA1, seed, &c1);
	fake_cred(SCRAM_SHA256, seed, &c256);
	return store_account_create(s, jid, &c1, &c256);
}

static int push(struct store *s, const char *jid, const char *xml, size_t cap)
{
	return store_offline_push(s, jid, xml, strlen(xml), cap);
}

/* Rows in a table, read with a raw db connection on the store's file. */
static int64_t count_rows(const char *path, const char *table)
{
	/* No-op steps: the store already brought the file to its version. */
	static const char *const steps[] = {"SELECT 1;", "SELECT 1;", "SELECT 1;", "SELECT 1;",
					    "SELECT 1;", "SELECT 1;", "SELECT 1;", "SELECT 1;"};
	size_t version = store_sqlite_schema_version();
	struct db *db = NULL;
	struct db_stmt *st = NULL;
	char err[512], sql[128];
	int64_t n = -1;

	assert(version <= sizeof(steps) / sizeof(steps[0]));
	if (db_open(path, steps, version, &db, err, sizeof(err)) < 0) {
		printf("  %s\n", err);
		return -1;
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (db_query(db, &st, sql, NULL) == 0 && db_step(st) == DB_ROW)
		n = db_column_int(st, 0);
	db_stmt_free(&st);
	db_close(&db);
	return n;
}

/* ---- db.c ---- */

static void test_db_open_pragmas_and_mode(void)
{
	static const char *const steps[] = {"CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER);"};
	const char *path = test_path("db-open");
	struct db *db = NULL;
	struct db_stmt *st = NULL;
	struct stat sb;
	char err[512];

	CHECK(db_open(path, steps, 1, &db, err, sizeof(err)) == 0);
	if (db == NULL)
		return;
	CHECK(db_schema_version(db) == 1);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK(db_query(db, &st, "PRAGMA journal_mode", NULL) == 0);
	CHECK(db_step(st) == DB_ROW);
	CHECK_STR(db_column_text(st, 0), "wal");
	db_stmt_free(&st);
	CHECK(db_query(db, &st, "PRAGMA synchronous", NULL) == 0);
	CHECK(db_step(st) == DB_ROW && db_column_int(st, 0) == 1); /* NORMAL */
	db_stmt_free(&st);
	CHECK(db_query(db, &st, "PRAGMA busy_timeout", NULL) == 0);
	CHECK(db_step(st) == DB_ROW && db_column_int(st, 0) == DB_BUSY_TIMEOUT_MS);
	db_stmt_free(&st);
	db_close(&db);
	CHECK(db == NULL);
}

static void test_db_bind_formats_and_constraint(void)
{
	static const char *const steps[] = {
		"CREATE TABLE t (k TEXT PRIMARY KEY, i INTEGER, l INTEGER, b BLOB);"};
	struct db *db = NULL;
	struct db_stmt *st = NULL;
	char err[512];
	size_t len;

	CHECK(db_open(test_path("db-bind"), steps, 1, &db, err, sizeof(err)) == 0);
	if (db == NULL)
		return;
	CHECK(db_exec(db, "INSERT INTO t VALUES (?, ?, ?, ?)", "silb", "a", -7,
		      (int64_t)1 << 40, "x\0y", (size_t)3) == DB_OK);
	CHECK(db_exec(db, "INSERT INTO t VALUES (?, ?, ?, ?)", "silb", "a", 1, (int64_t)1,
		      NULL, (size_t)0) == DB_ERR_CONSTRAINT);
	CHECK(strstr(db_error(db), "db-bind.db: INSERT INTO t") == db_error(db) + strlen(test_dir) + 1);
	CHECK(db_exec(db, "INSERT INTO t VALUES (?, ?, ?, ?)", "silb", NULL, 0, (int64_t)0, NULL,
		      (size_t)0) == DB_OK);
	CHECK(db_query(db, &st, "SELECT i, l, b FROM t WHERE k = ?", "s", "a") == DB_OK);
	CHECK(db_step(st) == DB_ROW);
	CHECK(db_column_int(st, 0) == -7);
	CHECK(db_column_int(st, 1) == (int64_t)1 << 40);
	const char *b = db_column_blob(st, 2, &len);
	CHECK(len == 3 && memcmp(b, "x\0y", 3) == 0);
	CHECK(db_step(st) == DB_OK);
	db_stmt_free(&st);
	CHECK(db_query(db, &st, "SELECT k FROM t WHERE k IS NULL", NULL) == DB_OK);
	CHECK(db_step(st) == DB_ROW && db_column_text(st, 0) == NULL);
	db_stmt_free(&st);
	CHECK(db_exec(db, "SELECT nosuchcolumn FROM t", NULL) == DB_ERR);
	CHECK(strstr(db_error(db), "no such column") != NULL);
	db_close(&db);
}

/* The same SQL while a statement for it is still open: a second, uncached
 * statement, and both give their own rows. */
static void test_db_nested_same_query(void)
{
	static const char *const steps[] = {"CREATE TABLE t (n INTEGER);"
					    "INSERT INTO t VALUES (1), (2);"};
	const char *sql = "SELECT n FROM t ORDER BY n";
	struct db *db = NULL;
	struct db_stmt *a = NULL, *b = NULL;
	char err[512];
	int64_t sum = 0;

	CHECK(db_open(test_path("db-nested"), steps, 1, &db, err, sizeof(err)) == 0);
	if (db == NULL)
		return;
	CHECK(db_query(db, &a, sql, NULL) == 0);
	while (db_step(a) == DB_ROW) {
		CHECK(db_query(db, &b, sql, NULL) == 0);
		while (db_step(b) == DB_ROW)
			sum += db_column_int(a, 0) * db_column_int(b, 0);
		db_stmt_free(&b);
	}
	db_stmt_free(&a);
	CHECK(sum == 1 * 1 + 1 * 2 + 2 * 1 + 2 * 2);
	db_close(&db);
}

static void test_db_migrations(void)
{
	static const char *const v2[] = {
		"CREATE TABLE a (x INTEGER);",
		"CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (42);",
	};
	static const char *const broken[] = {
		"CREATE TABLE a (x INTEGER);",
		"CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (42);",
		"CREATE TABLE c (z INTEGER); INSERT INTO nosuchtable VALUES (1);",
	};
	const char *path = test_path("db-migrate");
	struct db *db = NULL;
	struct db_stmt *st = NULL;
	char err[512];

	CHECK(db_open(path, v2, 1, &db, err, sizeof(err)) == 0);
	CHECK(db != NULL && db_schema_version(db) == 1);
	db_close(&db);
	CHECK(db_open(path, v2, 2, &db, err, sizeof(err)) == 0);
	CHECK(db != NULL && db_schema_version(db) == 2);
	if (db != NULL) {
		CHECK(db_query(db, &st, "SELECT x FROM a", NULL) == 0);
		CHECK(db_step(st) == DB_ROW && db_column_int(st, 0) == 42);
		db_stmt_free(&st);
	}
	db_close(&db);
	/* A failing step leaves the file as it was: no table c, version 2. */
	CHECK(db_open(path, broken, 3, &db, err, sizeof(err)) < 0);
	CHECK(strstr(err, "db-migrate.db: schema migration 2 to 3: no such table") != NULL);
	CHECK(db == NULL);
	CHECK(db_open(path, v2, 2, &db, err, sizeof(err)) == 0);
	if (db != NULL) {
		CHECK(db_schema_version(db) == 2);
		CHECK(db_exec(db, "SELECT * FROM c", NULL) == DB_ERR);
	}
	db_close(&db);
	/* A program that knows fewer steps than the file has refuses it. */
	CHECK(db_open(path, v2, 1, &db, err, sizeof(err)) < 0);
	CHECK(strstr(err, "schema version 2 is newer") != NULL);
	CHECK(strstr(err, path) == err);
}

static void test_db_open_error_names_file(void)
{
	struct store *s = NULL;
	char err[512], path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/no/such/dir/sm.db", test_dir);
	CHECK(store_open_sqlite(path, &s, err, sizeof(err)) < 0);
	CHECK(s == NULL);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	CHECK(strstr(err, "No such file or directory") != NULL);
	CHECK(strchr(err, '\n') == NULL);
}

/* ---- accounts ---- */

static void test_account_create_exists_duplicate(void)
{
	struct store *s = open_ok(test_path("acct"));
	if (s == NULL)
		return;
	CHECK(store_account_exists(s, "juliet@example.org") == STORE_ERR_NOT_FOUND);
	CHECK(add_account(s, "juliet@example.org", 1) == 0);
	CHECK(store_account_exists(s, "juliet@example.org") == 0);
	CHECK(add_account(s, "juliet@example.org", 2) == STORE_ERR_EXISTS);
	CHECK(store_account_exists(s, "romeo@example.org") == STORE_ERR_NOT_FOUND);
	/* The failed duplicate did not replace the credentials. */
	struct scram_credentials got, want;
	fake_cred(SCRAM_SHA1, 1, &want);
	CHECK(store_account_get_credentials(s, "juliet@example.org", SCRAM_SHA1, &got) == 0);
	CHECK(cred_equal(&got, &want));
	store_close(&s);
	CHECK(s == NULL);
}

static void test_account_credentials_round_trip(void)
{
	struct store *s = open_ok(test_path("cred"));
	struct scram_credentials c1, c256, got;
	if (s == NULL)
		return;
	fake_cred(SCRAM_SHA1, 5, &c1);
	fake_cred(SCRAM_SHA256, 9, &c256);
	CHECK(store_account_create(s, "a@x.org", &c1, &c256) == 0);
	CHECK(store_account_get_credentials(s, "a@x.org", SCRAM_SHA1, &got) == 0);
	CHECK(cred_equal(&got, &c1) && got.key_len == 20);
	CHECK(store_account_get_credentials(s, "a@x.org", SCRAM_SHA256, &got) == 0);
	CHECK(cred_equal(&got, &c256) && got.key_len == 32);
	CHECK(store_account_get_credentials(s, "b@x.org", SCRAM_SHA256, &got) ==
	      STORE_ERR_NOT_FOUND);
	store_close(&s);
}

static void test_account_set_credentials(void)
{
	struct store *s = open_ok(test_path("passwd"));
	struct scram_credentials c1, c256, got;
	if (s == NULL)
		return;
	CHECK(add_account(s, "a@x.org", 1) == 0);
	fake_cred(SCRAM_SHA1, 77, &c1);
	fake_cred(SCRAM_SHA256, 78, &c256);
	CHECK(store_account_set_credentials(s, "a@x.org", &c1, &c256) == 0);
	CHECK(store_account_get_credentials(s, "a@x.org", SCRAM_SHA1, &got) == 0);
	CHECK(cred_equal(&got, &c1));
	CHECK(store_account_get_credentials(s, "a@x.org", SCRAM_SHA256, &got) == 0);
	CHECK(cred_equal(&got, &c256));
	CHECK(store_account_set_credentials(s, "nobody@x.org", &c1, &c256) == STORE_ERR_NOT_FOUND);
	CHECK(store_account_exists(s, "nobody@x.org") == STORE_ERR_NOT_FOUND);
	store_close(&s);
}

static void test_account_delete_cascades(void)
{
	const char *path = test_path("delete");
	struct store *s = open_ok(path);
	struct store_roster roster;
	char *groups[] = {"Friends", "Work"};
	struct store_roster_item item = {.jid = "romeo@example.net", .groups = groups, .n_groups = 2};
	uint64_t v;
	size_t n;

	if (s == NULL)
		return;
	CHECK(add_account(s, "juliet@example.org", 1) == 0);
	CHECK(add_account(s, "nurse@example.org", 2) == 0);
	CHECK(store_roster_set_item(s, "juliet@example.org", &item, &v) == 0);
	CHECK(store_roster_set_item(s, "nurse@example.org", &item, &v) == 0);
	CHECK(push(s, "juliet@example.org", "<message/>", 0) == 0);
	CHECK(push(s, "nurse@example.org", "<message/>", 0) == 0);
	CHECK(store_account_delete(s, "juliet@example.org") == 0);
	CHECK(store_account_delete(s, "juliet@example.org") == STORE_ERR_NOT_FOUND);
	CHECK(store_account_exists(s, "juliet@example.org") == STORE_ERR_NOT_FOUND);
	CHECK(count_rows(path, "credentials") == 2);
	CHECK(count_rows(path, "roster") == 1);
	CHECK(count_rows(path, "roster_groups") == 2);
	CHECK(count_rows(path, "offline") == 1);
	/* A new account of the same name starts empty. */
	CHECK(add_account(s, "juliet@example.org", 3) == 0);
	CHECK(store_roster_get(s, "juliet@example.org", &roster) == 0);
	CHECK(roster.n_items == 0 && roster.version == 0);
	store_roster_clear(&roster);
	CHECK(store_offline_count(s, "juliet@example.org", &n) == 0 && n == 0);
	/* The other account kept everything. */
	CHECK(store_offline_count(s, "nurse@example.org", &n) == 0 && n == 1);
	store_close(&s);
}

static void test_account_list_by_domain(void)
{
	struct store *s = open_ok(test_path("list"));
	char **jids = NULL;
	size_t n = 0;
	if (s == NULL)
		return;
	const char *add[] = {"zed@b.org", "mia@a.org", "al@b.org", "bob@a.org", "al@a.org"};
	for (size_t i = 0; i < 5; i++)
		CHECK(add_account(s, add[i], (unsigned char)i) == 0);
	CHECK(store_account_list(s, "a.org", &jids, &n) == 0);
	CHECK(n == 3);
	if (n == 3) {
		CHECK_STR(jids[0], "al@a.org");
		CHECK_STR(jids[1], "bob@a.org");
		CHECK_STR(jids[2], "mia@a.org");
	}
	store_strings_free(&jids, n);
	CHECK(jids == NULL);
	CHECK(store_account_list(s, NULL, &jids, &n) == 0);
	CHECK(n == 5);
	if (n == 5) {
		CHECK_STR(jids[0], "al@a.org");
		CHECK_STR(jids[3], "al@b.org");
		CHECK_STR(jids[4], "zed@b.org");
	}
	store_strings_free(&jids, n);
	CHECK(store_account_list(s, "c.org", &jids, &n) == 0);
	CHECK(n == 0 && jids == NULL);
	store_close(&s);
}

/* ---- roster ---- */

static void test_roster_set_get_update_delete(void)
{
	struct store *s = open_ok(test_path("roster"));
	struct store_roster roster;
	struct store_roster_item got;
	char *g1[] = {"Friends", "Capulets", "Friends"};
	char *g2[] = {"Enemies"};
	uint64_t v = 99;
	const char *me = "juliet@example.org";

	if (s == NULL)
		return;
	CHECK(store_roster_version(s, me, &v) == STORE_ERR_NOT_FOUND);
	CHECK(add_account(s, me, 1) == 0);
	CHECK(store_roster_version(s, me, &v) == 0 && v == 0);
	CHECK(store_roster_get(s, me, &roster) == 0 && roster.n_items == 0);
	store_roster_clear(&roster);

	struct store_roster_item romeo = {.jid = "romeo@example.net",
					  .name = "Romeo",
					  .subscription = STORE_SUB_TO,
					  .ask = true,
					  .groups = g1,
					  .n_groups = 3};
	struct store_roster_item nurse = {.jid = "nurse@example.org",
					  .subscription = STORE_SUB_BOTH,
					  .approved = true};
	CHECK(store_roster_set_item(s, me, &romeo, &v) == 0 && v == 1);
	CHECK(store_roster_set_item(s, me, &nurse, &v) == 0 && v == 2);
	CHECK(store_roster_get_item(s, me, "romeo@example.net", &got) == 0);
	CHECK_STR(got.jid, "romeo@example.net");
	CHECK_STR(got.name, "Romeo");
	CHECK(got.subscription == STORE_SUB_TO && got.ask && !got.approved);
	CHECK(got.n_groups == 2); /* "Friends" twice is one group; sorted */
	if (got.n_groups == 2) {
		CHECK_STR(got.groups[0], "Capulets");
		CHECK_STR(got.groups[1], "Friends");
	}
	store_roster_item_clear(&got);
	CHECK(got.jid == NULL && got.groups == NULL);

	/* Update: new name, subscription, groups replaced. */
	romeo.name = NULL;
	romeo.subscription = STORE_SUB_BOTH;
	romeo.ask = false;
	romeo.groups = g2;
	romeo.n_groups = 1;
	CHECK(store_roster_set_item(s, me, &romeo, &v) == 0 && v == 3);
	CHECK(store_roster_get(s, me, &roster) == 0);
	CHECK(roster.version == 3 && roster.n_items == 2);
	if (roster.n_items == 2) {
		struct store_roster_item *a = &roster.items[0], *b = &roster.items[1];
		CHECK_STR(a->jid, "nurse@example.org");
		CHECK(a->name == NULL && a->subscription == STORE_SUB_BOTH && a->approved);
		CHECK(a->n_groups == 0 && a->groups == NULL);
		CHECK_STR(b->jid, "romeo@example.net");
		CHECK(b->name == NULL && b->subscription == STORE_SUB_BOTH && !b->ask);
		CHECK(b->n_groups == 1 && b->n_groups == 1 && strcmp(b->groups[0], "Enemies") == 0);
	}
	store_roster_clear(&roster);

	CHECK(store_roster_delete_item(s, me, "romeo@example.net", &v) == 0 && v == 4);
	CHECK(store_roster_delete_item(s, me, "romeo@example.net", &v) == STORE_ERR_NOT_FOUND);
	CHECK(store_roster_version(s, me, &v) == 0 && v == 4);
	CHECK(store_roster_get_item(s, me, "romeo@example.net", &got) == STORE_ERR_NOT_FOUND);
	CHECK(got.jid == NULL);
	CHECK(store_roster_set_item(s, "nobody@example.org", &nurse, &v) == STORE_ERR_NOT_FOUND);
	CHECK(store_roster_get(s, "nobody@example.org", &roster) == STORE_ERR_NOT_FOUND);
	CHECK(roster.items == NULL);
	store_close(&s);
}

/* ---- offline ---- */

static void test_offline_order_cap_pop(void)
{
	struct store *s = open_ok(test_path("offline"));
	struct store_offline_message *msgs = NULL;
	size_t n = 9;
	char xml[128];
	const char *me = "juliet@example.org";

	if (s == NULL)
		return;
	CHECK(push(s, me, "<message/>", 0) == STORE_ERR_NOT_FOUND);
	CHECK(add_account(s, me, 1) == 0);
	CHECK(store_offline_count(s, me, &n) == 0 && n == 0);
	CHECK(store_offline_pop(s, me, &msgs, &n) == 0 && n == 0 && msgs == NULL);
	for (int i = 0; i < 5; i++) {
		snprintf(xml, sizeof(xml), "<message id='m%d'><body>%d</body></message>", i, i);
		CHECK(push(s, me, xml, 5) == 0);
	}
	CHECK(push(s, me, "<message id='over'/>", 5) == STORE_ERR_FULL);
	CHECK(push(s, me, "<message id='over'/>", 3) == STORE_ERR_FULL);
	CHECK(store_offline_count(s, me, &n) == 0 && n == 5);
	int64_t now = (int64_t)time(NULL);
	CHECK(store_offline_pop(s, me, &msgs, &n) == 0);
	CHECK(n == 5);
	for (size_t i = 0; i < n; i++) {
		snprintf(xml, sizeof(xml), "<message id='m%zu'><body>%zu</body></message>", i, i);
		CHECK_STR(msgs[i].xml, xml);
		CHECK(msgs[i].len == strlen(xml));
		CHECK(msgs[i].stored <= now && msgs[i].stored > now - 60);
	}
	store_offline_messages_free(&msgs, n);
	CHECK(msgs == NULL);
	CHECK(store_offline_count(s, me, &n) == 0 && n == 0);
	CHECK(store_offline_pop(s, me, &msgs, &n) == 0 && n == 0);
	/* Room again after the pop; delete drops everything. */
	CHECK(push(s, me, "<message id='a'/>", 5) == 0);
	CHECK(push(s, me, "<message id='b'/>", 0) == 0);
	/* fetch leaves them stored; after_id skips; delete_upto drops the
	 * delivered ones only. */
	CHECK(store_offline_fetch(s, me, 0, &msgs, &n) == 0 && n == 2);
	int64_t first = n == 2 ? msgs[0].id : 0, second = n == 2 ? msgs[1].id : 0;
	store_offline_messages_free(&msgs, n);
	CHECK(first > 0 && second > first);
	CHECK(store_offline_fetch(s, me, first, &msgs, &n) == 0 && n == 1);
	if (n == 1)
		CHECK_STR(msgs[0].xml, "<message id='b'/>");
	store_offline_messages_free(&msgs, n);
	CHECK(push(s, me, "<message id='c'/>", 0) == 0);
	CHECK(store_offline_delete_upto(s, me, first) == 0);
	CHECK(store_offline_count(s, me, &n) == 0 && n == 2);
	CHECK(store_offline_delete(s, me) == 0);
	CHECK(store_offline_count(s, me, &n) == 0 && n == 0);
	store_close(&s);
}

/* ---- persistence and concurrency ---- */

static void test_reopen_keeps_data(void)
{
	const char *path = test_path("reopen");
	struct store *s = open_ok(path);
	struct store_roster_item item = {.jid = "romeo@example.net", .name = "R"};
	struct store_offline_message *msgs = NULL;
	size_t n;
	uint64_t v;

	if (s == NULL)
		return;
	CHECK(add_account(s, "juliet@example.org", 1) == 0);
	CHECK(store_roster_set_item(s, "juliet@example.org", &item, &v) == 0);
	CHECK(push(s, "juliet@example.org", "<message>kept</message>", 0) == 0);
	store_close(&s);
	s = open_ok(path);
	if (s == NULL)
		return;
	CHECK(store_account_exists(s, "juliet@example.org") == 0);
	CHECK(store_roster_version(s, "juliet@example.org", &v) == 0 && v == 1);
	CHECK(store_offline_pop(s, "juliet@example.org", &msgs, &n) == 0 && n == 1);
	if (n == 1)
		CHECK_STR(msgs[0].xml, "<message>kept</message>");
	store_offline_messages_free(&msgs, n);
	store_close(&s);
}

/* sm and junctionctl each hold a connection to the same file. */
static void test_second_connection_sees_commits(void)
{
	const char *path = test_path("two");
	struct store *sm = open_ok(path), *ctl = open_ok(path);
	char **jids = NULL;
	size_t n = 0;

	if (sm == NULL || ctl == NULL)
		goto out;
	CHECK(add_account(ctl, "new@example.org", 1) == 0);
	CHECK(store_account_exists(sm, "new@example.org") == 0);
	CHECK(push(sm, "new@example.org", "<message/>", 0) == 0);
	CHECK(store_offline_count(ctl, "new@example.org", &n) == 0 && n == 1);
	CHECK(store_account_delete(ctl, "new@example.org") == 0);
	CHECK(store_account_exists(sm, "new@example.org") == STORE_ERR_NOT_FOUND);
	CHECK(store_offline_count(sm, "new@example.org", &n) == 0 && n == 0);
	CHECK(add_account(sm, "again@example.org", 2) == 0);
	CHECK(store_account_list(ctl, "example.org", &jids, &n) == 0 && n == 1);
	store_strings_free(&jids, n);
out:
	store_close(&sm);
	store_close(&ctl);
}

/* Several processes opening one new file at the same moment (sm starting
 * while junctionctl adds accounts, two sm instances): every open succeeds,
 * although SQLite answers the switch to WAL with SQLITE_BUSY, without
 * calling the busy handler, to all but one of them. */
static void test_concurrent_first_open(void)
{
	const char *path = test_path("race");
	enum { N = 8, ROUNDS = 5 };
	int failed = 0;

	for (int round = 0; round < ROUNDS; round++) {
		char rpath[PATH_MAX + 80];
		int go[2];
		pid_t pids[N];

		snprintf(rpath, sizeof(rpath), "%s.%d", path, round);
		CHECK(pipe(go) == 0);
		fflush(stdout);
		for (int i = 0; i < N; i++) {
			pids[i] = fork();
			if (pids[i] == 0) {
				struct store *c = NULL;
				char err[512], b;
				close(go[1]);
				(void)!read(go[0], &b, 1); /* EOF: everyone starts at once */
				if (store_open_sqlite(rpath, &c, err, sizeof(err)) < 0) {
					printf("  child %d: %s\n", i, err);
					_exit(3);
				}
				store_close(&c);
				_exit(0);
			}
		}
		close(go[0]);
		close(go[1]);
		for (int i = 0; i < N; i++) {
			int status;
			if (pids[i] < 0 || waitpid(pids[i], &status, 0) != pids[i] ||
			    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
		}
	}
	CHECK(failed == 0);
}

/* A message whose push returned 0 survives the process being SIGKILLed at
 * once: the child never closes the database or exits normally. */
static void test_push_survives_kill_9(void)
{
	const char *path = test_path("kill9");
	struct store *s = open_ok(path);
	struct store_offline_message *msgs = NULL;
	size_t n = 0;
	int status;

	if (s == NULL)
		return;
	CHECK(add_account(s, "juliet@example.org", 1) == 0);
	store_close(&s); /* no connection may cross fork() */

	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct store *c = NULL;
		char err[512];
		if (store_open_sqlite(path, &c, err, sizeof(err)) < 0)
			_exit(3);
		for (int i = 0; i < 3; i++) {
			char xml[64];
			snprintf(xml, sizeof(xml), "<message id='k%d'/>", i);
			if (store_offline_push(c, "juliet@example.org", xml, strlen(xml), 0) != 0)
				_exit(4);
		}
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	s = open_ok(path);
	if (s == NULL)
		return;
	CHECK(store_offline_pop(s, "juliet@example.org", &msgs, &n) == 0);
	CHECK(n == 3);
	if (n == 3) {
		CHECK_STR(msgs[0].xml, "<message id='k0'/>");
		CHECK_STR(msgs[2].xml, "<message id='k2'/>");
	}
	store_offline_messages_free(&msgs, n);
	store_close(&s);
}

/* Values are bound, never spliced into SQL: hostile text is just data. */
static void test_injection_text_stored_verbatim(void)
{
	const char *path = test_path("inject");
	struct store *s = open_ok(path);
	const char *evil = "x'); DROP TABLE accounts;--@example.org";
	const char *body = "<message><body>x'); DROP TABLE offline;-- \" ' %s %n</body></message>";
	struct store_roster_item item = {.jid = "r'; DELETE FROM roster;--@example.net",
					 .name = "Robert'); DROP TABLE roster;--"};
	struct store_roster_item got;
	struct store_offline_message *msgs = NULL;
	char **jids = NULL;
	size_t n = 0;
	uint64_t v;

	if (s == NULL)
		return;
	CHECK(add_account(s, evil, 1) == 0);
	CHECK(add_account(s, "plain@example.org", 2) == 0);
	CHECK(store_account_exists(s, evil) == 0);
	CHECK(store_account_exists(s, "x@example.org") == STORE_ERR_NOT_FOUND);
	CHECK(store_account_list(s, "example.org", &jids, &n) == 0 && n == 2);
	if (n == 2) {
		CHECK_STR(jids[0], "plain@example.org");
		CHECK_STR(jids[1], evil);
	}
	store_strings_free(&jids, n);
	CHECK(store_roster_set_item(s, evil, &item, &v) == 0);
	CHECK(store_roster_get_item(s, evil, item.jid, &got) == 0);
	CHECK_STR(got.name, item.name);
	store_roster_item_clear(&got);
	CHECK(store_offline_push(s, evil, body, strlen(body), 0) == 0);
	CHECK(store_offline_pop(s, evil, &msgs, &n) == 0 && n == 1);
	if (n == 1)
		CHECK_STR(msgs[0].xml, body);
	store_offline_messages_free(&msgs, n);
	store_close(&s);
	CHECK(count_rows(path, "accounts") == 2);
	CHECK(count_rows(path, "roster") == 1);
}

/* store_open_config(): DATA_DIR/sm.db, data_dir made 0700 when missing,
 * but not its missing parents. */
static void test_open_config_builds_path_and_dir(void)
{
	char conf[PATH_MAX + 64], data[PATH_MAX + 64], text[2 * PATH_MAX + 256], err[512];
	struct config *config = NULL;
	struct store *s = NULL;
	struct stat sb;

	snprintf(conf, sizeof(conf), "%s/junction.conf", test_dir);
	for (int round = 0; round < 2; round++) {
		/* round 0: a missing parent; round 1: only the directory missing */
		snprintf(data, sizeof(data), "%s/%s", test_dir, round == 0 ? "no/data" : "data/");
		snprintf(text, sizeof(text), "[junction]\ndata_dir = %s\n[router]\nsecret = s\n", data);
		FILE *f = fopen(conf, "w");
		CHECK(f != NULL);
		if (f == NULL)
			return;
		fputs(text, f);
		fclose(f);
		CHECK(config_load(conf, &config, err, sizeof(err)) == 0);
		if (config == NULL)
			return;
		char *path = store_default_path(config);
		snprintf(text, sizeof(text), "%s%s", data, round == 0 ? "/sm.db" : "sm.db");
		CHECK_STR(path, text);
		if (round == 0) {
			CHECK(store_open_config(config, &s, err, sizeof(err)) < 0);
			CHECK(s == NULL && strstr(err, "data_dir") != NULL);
		} else {
			CHECK(store_open_config(config, &s, err, sizeof(err)) == 0);
			CHECK(stat(data, &sb) == 0 && (sb.st_mode & 0777) == 0700);
			CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
			store_close(&s);
		}
		free(path);
		config_free(&config);
	}
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* ---- db-checkpoint.c ---- */

static void test_checkpointer_empties_the_wal_off_the_loop(void)
{
	static const char *const steps[] = {"CREATE TABLE t (n INTEGER);"};
	struct db *db = NULL;
	struct db_checkpointer *cp = NULL;
	uv_loop_t loop;
	char err[512];
	struct stat before, after;

	CHECK(db_open(test_path("db-checkpoint"), steps, 1, &db, err, sizeof(err)) == 0);
	if (db == NULL)
		return;
	CHECK(db_set_autocheckpoint(db, false) == 0);
	for (int i = 0; i < 2000; i++)
		CHECK(db_exec(db, "INSERT INTO t (n) VALUES (?)", "i", i) == DB_OK);
	/* The rows are only in the WAL: the database file is still small. */
	CHECK(stat(db_path(db), &before) == 0);
	CHECK(uv_loop_init(&loop) == 0);
	CHECK(db_checkpointer_start(&loop, db_path(db), 5, &cp, err, sizeof(err)) == 0);
	/* Turn the loop until the timer has fired and the work is back. */
	for (int turns = 0; turns < 2000 && db_checkpointer_runs(cp) == 0; turns++) {
		uv_run(&loop, UV_RUN_ONCE);
		uv_sleep(1);
	}
	CHECK(db_checkpointer_runs(cp) >= 1);
	/* The worker copied the WAL's pages into the database file. */
	CHECK(stat(db_path(db), &after) == 0);
	CHECK(after.st_size > before.st_size);
	db_checkpointer_stop(&cp);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	db_close(&db);
}

/* vCards, private XML and last activity (store-sqlite-account.c). */
static void test_vcard_private_last(void)
{
	const char *path = test_path("account-services");
	struct store *s = open_ok(path);
	const char *v1 = "<vCard xmlns='vcard-temp'><FN>J</FN></vCard>", *p1 = "<a xmlns='urn:a'/>";
	char *xml = NULL, *hash = NULL, *status = NULL;
	size_t len = 0;
	int64_t when = 0;

	if (s == NULL)
		return;
	CHECK(store_vcard_set(s, "ghost@example.org", v1, strlen(v1), NULL) == STORE_ERR_NOT_FOUND);
	CHECK(store_private_set(s, "ghost@example.org", "urn:a", p1, strlen(p1), 0) ==
	      STORE_ERR_NOT_FOUND);
	CHECK(store_last_set(s, "ghost@example.org", 1, NULL) == STORE_ERR_NOT_FOUND);
	CHECK(add_account(s, "juliet@example.org", 1) == 0);
	CHECK(store_vcard_get(s, "juliet@example.org", &xml, &len, &hash) == STORE_ERR_NOT_FOUND);
	CHECK(xml == NULL && hash == NULL);
	CHECK(store_vcard_set(s, "juliet@example.org", v1, strlen(v1), "abc") == 0);
	CHECK(store_vcard_get(s, "juliet@example.org", &xml, &len, &hash) == 0);
	CHECK(len == strlen(v1) && xml != NULL && strcmp(xml, v1) == 0);
	CHECK_STR(hash, "abc");
	free(xml);
	free(hash);
	CHECK(store_vcard_set(s, "juliet@example.org", v1, strlen(v1), NULL) == 0);
	CHECK(store_vcard_get(s, "juliet@example.org", NULL, NULL, &hash) == 0 && hash == NULL);

	/* The cap counts every namespace but the one being replaced. */
	CHECK(store_private_set(s, "juliet@example.org", "urn:a", p1, strlen(p1), 40) == 0);
	CHECK(store_private_set(s, "juliet@example.org", "urn:b", "<b xmlns='urn:b'>1234567</b>",
				28, 40) == STORE_ERR_FULL);
	CHECK(store_private_get(s, "juliet@example.org", "urn:b", &xml, &len) == STORE_ERR_NOT_FOUND);
	CHECK(store_private_set(s, "juliet@example.org", "urn:a", "<a xmlns='urn:a'>1234567890</a>",
				31, 40) == 0);
	CHECK(store_private_get(s, "juliet@example.org", "urn:a", &xml, &len) == 0);
	CHECK(len == 31 && strcmp(xml, "<a xmlns='urn:a'>1234567890</a>") == 0);
	free(xml);

	CHECK(store_last_get(s, "juliet@example.org", &when, &status) == STORE_ERR_NOT_FOUND);
	CHECK(store_last_set(s, "juliet@example.org", 1000, "away") == 0);
	CHECK(store_last_set(s, "juliet@example.org", 2000, NULL) == 0);
	CHECK(store_last_get(s, "juliet@example.org", &when, &status) == 0);
	CHECK(when == 2000 && status == NULL);
	CHECK(store_last_set(s, "juliet@example.org", 3000, "x'); DROP TABLE accounts; --") == 0);
	CHECK(store_last_get(s, "juliet@example.org", &when, &status) == 0);
	CHECK_STR(status, "x'); DROP TABLE accounts; --");
	free(status);

	/* They go with the account. */
	CHECK(store_account_delete(s, "juliet@example.org") == 0);
	CHECK(count_rows(path, "vcards") == 0);
	CHECK(count_rows(path, "private_xml") == 0);
	CHECK(count_rows(path, "last_activity") == 0);
	store_close(&s);
}

static const struct test tests[] = {
	TEST(test_db_open_pragmas_and_mode),
	TEST(test_db_bind_formats_and_constraint),
	TEST(test_db_nested_same_query),
	TEST(test_db_migrations),
	TEST(test_db_open_error_names_file),
	TEST(test_checkpointer_empties_the_wal_off_the_loop),
	TEST(test_account_create_exists_duplicate),
	TEST(test_account_credentials_round_trip),
	TEST(test_account_set_credentials),
	TEST(test_account_delete_cascades),
	TEST(test_account_list_by_domain),
	TEST(test_roster_set_get_update_delete),
	TEST(test_offline_order_cap_pop),
	TEST(test_reopen_keeps_data),
	TEST(test_second_connection_sees_commits),
	TEST(test_concurrent_first_open),
	TEST(test_push_survives_kill_9),
	TEST(test_injection_text_stored_verbatim),
	TEST(test_open_config_builds_path_and_dir),
	TEST(test_vcard_private_last),
	{NULL, NULL},
};

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	int ret;

	snprintf(test_dir, sizeof(test_dir), "%s/junction-test-store-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(test_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	ret = test_run(tests);
	nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
