/* store-sqlite-block.c: XEP-0191 blocklists in the SQLite store (table
 * blocklist, one row per (account, item); see store.h for the contract).
 *
 * The table refers to accounts(jid) with ON DELETE CASCADE, so deleting an
 * account empties its list in the same statement. A match is one indexed
 * lookup (the primary key) with up to four candidates, cheap enough to run
 * for every stanza sm delivers to or from an account.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "store-sqlite.h"
#include "store.h"

int store_block_list(struct store *store, const char *jid, char ***items_r, size_t *n_r)
{
	struct db_stmt *st = NULL;

	*items_r = NULL;
	*n_r = 0;
	if (db_query(store_sqlite_db(store), &st,
		     "SELECT item FROM blocklist WHERE account = ? ORDER BY item", "s", jid) < 0)
		return store_sqlite_io(store);
	int r = store_sqlite_collect(store, st, items_r, n_r);
	db_stmt_free(&st);
	return r;
}

int store_block_accounts(struct store *store, char ***jids_r, size_t *n_r)
{
	struct db_stmt *st = NULL;

	*jids_r = NULL;
	*n_r = 0;
	if (db_query(store_sqlite_db(store), &st,
		     "SELECT DISTINCT account FROM blocklist ORDER BY account", NULL) < 0)
		return store_sqlite_io(store);
	int r = store_sqlite_collect(store, st, jids_r, n_r);
	db_stmt_free(&st);
	return r;
}

static int store_block_count(struct store *store, const char *jid, int64_t *count_r)
{
	struct db_stmt *st = NULL;

	if (db_query(store_sqlite_db(store), &st, "SELECT COUNT(*) FROM blocklist WHERE account = ?",
		     "s", jid) < 0)
		return store_sqlite_io(store);
	int r = db_step(st);
	*count_r = r == DB_ROW ? db_column_int(st, 0) : 0;
	db_stmt_free(&st);
	return r == DB_ROW ? STORE_OK : store_sqlite_io(store);
}

int store_block_add(struct store *store, const char *jid, const char *const *items, size_t n,
		    size_t max_items)
{
	struct db *db = store_sqlite_db(store);
	int64_t count = 0;
	int r;

	if (db_begin(db) < 0)
		return store_sqlite_io(store);
	r = store_account_exists(store, jid);
	for (size_t i = 0; r == STORE_OK && i < n; i++) {
		if (db_exec(db, "INSERT OR IGNORE INTO blocklist (account, item) VALUES (?, ?)", "ss",
			    jid, items[i]) < 0)
			r = store_sqlite_io(store);
	}
	if (r == STORE_OK)
		r = store_block_count(store, jid, &count);
	if (r == STORE_OK && max_items > 0 && (size_t)count > max_items)
		r = STORE_ERR_FULL;
	return store_sqlite_finish(store, r);
}

int store_block_remove(struct store *store, const char *jid, const char *const *items, size_t n)
{
	struct db *db = store_sqlite_db(store);
	int r = STORE_OK;

	if (db_begin(db) < 0)
		return store_sqlite_io(store);
	if (n == 0 && db_exec(db, "DELETE FROM blocklist WHERE account = ?", "s", jid) < 0)
		r = store_sqlite_io(store);
	for (size_t i = 0; r == STORE_OK && i < n; i++) {
		if (db_exec(db, "DELETE FROM blocklist WHERE account = ? AND item = ?", "ss", jid,
			    items[i]) < 0)
			r = store_sqlite_io(store);
	}
	return store_sqlite_finish(store, r);
}

int store_block_match(struct store *store, const char *jid, const char *const *candidates,
		      size_t n)
{
	struct db_stmt *st = NULL;
	const char *c[4];
	int r;

	assert(n >= 1 && n <= 4);
	for (size_t i = 0; i < 4; i++)
		c[i] = candidates[i < n ? i : 0];
	if (db_query(store_sqlite_db(store), &st,
		     "SELECT 1 FROM blocklist WHERE account = ? AND item IN (?, ?, ?, ?) LIMIT 1",
		     "sssss", jid, c[0], c[1], c[2], c[3]) < 0)
		return store_sqlite_io(store);
	r = db_step(st);
	db_stmt_free(&st);
	if (r < 0)
		return store_sqlite_io(store);
	return r == DB_ROW ? STORE_OK : STORE_ERR_NOT_FOUND;
}
