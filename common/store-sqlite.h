/* store-sqlite.h: what the SQLite backend's files share (store-sqlite.c
 * and the feature files next to it, store-sqlite-block.c, ...). Not for
 * protocol code, which uses store.h only.
 *
 * The handle is the store's own db (db.h): calls run on the caller's
 * thread like every store_* function. store_sqlite_io() copies db.c's
 * last message into store_error() and returns STORE_ERR_IO.
 */
#ifndef JUNCTION_STORE_SQLITE_H
#define JUNCTION_STORE_SQLITE_H

#include "store.h"

struct db;
struct db_stmt;

struct db *store_sqlite_db(struct store *store);
int store_sqlite_io(struct store *store);
/* The schema version the store brings sm.db to (its number of steps). */
size_t store_sqlite_schema_version(void);
/* End a write transaction: commit on success, else roll back; returns the
 * operation's result (r, or STORE_ERR_IO when the commit failed). */
int store_sqlite_finish(struct store *store, int r);
/* Column 0 of every row of st as strings (st stays the caller's). */
int store_sqlite_collect(struct store *store, struct db_stmt *st, char ***strings_r, size_t *n_r);

#endif
