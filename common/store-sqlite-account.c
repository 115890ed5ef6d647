/* store-sqlite-account.c: vCards, private XML and last activity in the
 * SQLite store (tables vcards, private_xml and last_activity; see store.h
 * for the contract).
 *
 * Each table refers to accounts(jid) with ON DELETE CASCADE, so deleting an
 * account removes its rows in the same statement. A write that must see
 * the account first (or, for private XML, the account's total) takes the
 * write lock up front, so the check and the write are one transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "store-sqlite.h"
#include "store.h"

/* Run a one-row query; on a row copy column col as a NUL-terminated blob.
 * Returns STORE_OK, STORE_ERR_NOT_FOUND when no row, or STORE_ERR_IO. */
static int store_account_blob(struct store *store, struct db_stmt *st, int col, char **data_r,
			      size_t *len_r)
{
	int r = db_step(st);

	if (r < 0)
		return store_sqlite_io(store);
	if (r != DB_ROW)
		return STORE_ERR_NOT_FOUND;
	if (data_r != NULL) {
		size_t len = 0;
		const void *data = db_column_blob(st, col, &len);
		*data_r = xmalloc(len + 1);
		if (len > 0)
			memcpy(*data_r, data, len);
		(*data_r)[len] = '\0';
		if (len_r != NULL)
			*len_r = len;
	}
	return STORE_OK;
}

static char *store_account_text(struct db_stmt *st, int col)
{
	const char *text = db_column_text(st, col);
	return text != NULL ? xstrdup(text) : NULL;
}

/* Take the write lock and check that the account exists: STORE_OK, or the
 * result to pass to store_sqlite_finish(). */
static int store_account_begin(struct store *store, const char *jid)
{
	if (db_begin(store_sqlite_db(store)) < 0)
		return store_sqlite_io(store);
	return store_account_exists(store, jid);
}

int store_vcard_get(struct store *store, const char *jid, char **xml_r, size_t *len_r,
		    char **photo_hash_r)
{
	struct db_stmt *st = NULL;

	if (xml_r != NULL)
		*xml_r = NULL;
	if (photo_hash_r != NULL)
		*photo_hash_r = NULL;
	if (db_query(store_sqlite_db(store), &st,
		     "SELECT vcard, photo_hash FROM vcards WHERE account = ?", "s", jid) < 0)
		return store_sqlite_io(store);
	int r = store_account_blob(store, st, 0, xml_r, len_r);
	if (r == STORE_OK && photo_hash_r != NULL)
		*photo_hash_r = store_account_text(st, 1);
	db_stmt_free(&st);
	return r;
}

int store_vcard_set(struct store *store, const char *jid, const char *xml, size_t len,
		    const char *photo_hash)
{
	int r = store_account_begin(store, jid);

	if (r == STORE_OK &&
	    db_exec(store_sqlite_db(store),
		    "INSERT OR REPLACE INTO vcards (account, vcard, photo_hash) VALUES (?, ?, ?)",
		    "sbs", jid, xml, len, photo_hash) < 0)
		r = store_sqlite_io(store);
	return store_sqlite_finish(store, r);
}

int store_private_get(struct store *store, const char *jid, const char *ns, char **xml_r,
		      size_t *len_r)
{
	struct db_stmt *st = NULL;

	*xml_r = NULL;
	if (db_query(store_sqlite_db(store), &st,
		     "SELECT xml FROM private_xml WHERE account = ? AND ns = ?", "ss", jid, ns) < 0)
		return store_sqlite_io(store);
	int r = store_account_blob(store, st, 0, xml_r, len_r);
	db_stmt_free(&st);
	return r;
}

/* Bytes the account's private elements hold, the one for ns excluded. */
static int store_private_total(struct store *store, const char *jid, const char *ns,
			       int64_t *total_r)
{
	struct db_stmt *st = NULL;

	if (db_query(store_sqlite_db(store), &st,
		     "SELECT COALESCE(SUM(LENGTH(xml)), 0) FROM private_xml "
		     "WHERE account = ? AND ns != ?",
		     "ss", jid, ns) < 0)
		return store_sqlite_io(store);
	int r = db_step(st);
	*total_r = r == DB_ROW ? db_column_int(st, 0) : 0;
	db_stmt_free(&st);
	return r == DB_ROW ? STORE_OK : store_sqlite_io(store);
}

int store_private_set(struct store *store, const char *jid, const char *ns, const char *xml,
		      size_t len, size_t max_total)
{
	int64_t total = 0;
	int r = store_account_begin(store, jid);

	if (r == STORE_OK && max_total > 0)
		r = store_private_total(store, jid, ns, &total);
	if (r == STORE_OK && max_total > 0 && (size_t)total + len > max_total)
		r = STORE_ERR_FULL;
	if (r == STORE_OK &&
	    db_exec(store_sqlite_db(store),
		    "INSERT OR REPLACE INTO private_xml (account, ns, xml) VALUES (?, ?, ?)", "ssb",
		    jid, ns, xml, len) < 0)
		r = store_sqlite_io(store);
	return store_sqlite_finish(store, r);
}

int store_last_set(struct store *store, const char *jid, int64_t logout, const char *status)
{
	int r = store_account_begin(store, jid);

	if (r == STORE_OK &&
	    db_exec(store_sqlite_db(store),
		    "INSERT OR REPLACE INTO last_activity (account, logout, status) "
		    "VALUES (?, ?, ?)",
		    "sls", jid, logout, status) < 0)
		r = store_sqlite_io(store);
	return store_sqlite_finish(store, r);
}

int store_last_get(struct store *store, const char *jid, int64_t *logout_r, char **status_r)
{
	struct db_stmt *st = NULL;

	*status_r = NULL;
	if (db_query(store_sqlite_db(store), &st,
		     "SELECT logout, status FROM last_activity WHERE account = ?", "s", jid) < 0)
		return store_sqlite_io(store);
	int r = db_step(st);
	if (r < 0) {
		r = store_sqlite_io(store);
	} else if (r != DB_ROW) {
		r = STORE_ERR_NOT_FOUND;
	} else {
		*logout_r = db_column_int(st, 0);
		*status_r = store_account_text(st, 1);
		r = STORE_OK;
	}
	db_stmt_free(&st);
	return r;
}
