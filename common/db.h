/* db.h: the one wrapper around SQLite. Nothing else includes <sqlite3.h>.
 *
 * db_open() opens (creating with mode 0600) a database file in WAL mode with
 * synchronous=NORMAL (commits survive a crash of the process, not a power
 * cut; db_set_fsync() for FULL), foreign keys on and a busy timeout, then
 * brings its schema up to date by applying, in one transaction, the
 * caller's migration steps that the file's schema_version table says are
 * missing. Values reach
 * SQL only through parameter binding: every function that runs a statement
 * takes a format string with one letter per `?` and the values as varargs.
 *
 * A struct db is one connection, to be used by one thread at a time; open
 * one per thread or process (WAL lets readers run beside one writer). All
 * calls block on disk I/O, fsync and, up to the busy timeout, on another
 * connection's write lock. On failure a function returns a negative
 * DB_ERR_* and db_error() gives one line "PATH: what failed: why", valid
 * until the next call on the same db.
 *
 *   static const char *const steps[] = {"CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER);"};
 *   db_open(path, steps, 1, &db, err, sizeof(err));
 *   db_exec(db, "INSERT INTO t (k, n) VALUES (?, ?)", "sl", "x'; --", (int64_t)1);
 *   db_query(db, &st, "SELECT n FROM t WHERE k = ?", "s", key);
 *   while ((r = db_step(st)) == DB_ROW) use(db_column_int(st, 0));
 *   db_stmt_free(&st);
 *   db_close(&db);
 */
#ifndef JUNCTION_DB_H
#define JUNCTION_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum db_result {
	DB_OK = 0,
	DB_ROW = 1,               /* db_step(): a row is available */
	DB_ERR = -1,              /* any other failure; see db_error() */
	DB_ERR_CONSTRAINT = -2,   /* UNIQUE, PRIMARY KEY, FOREIGN KEY, CHECK or NOT NULL */
	DB_ERR_BUSY = -3,         /* still locked by another connection after the timeout */
};

/* How long a statement waits for another connection's lock. Long enough to
 * ride out a junctionctl command or a WAL checkpoint, short enough that a
 * stuck peer surfaces as an error rather than a hang. */
#define DB_BUSY_TIMEOUT_MS 5000

struct db;
struct db_stmt;

/* migrations[i] is the SQL (one or more statements, constant text) that
 * takes the schema from version i to i + 1. A file whose version is higher
 * than n_migrations was written by a newer program and is refused. Returns
 * 0 or -1 with a message naming the file in err. migrations NULL opens the
 * file as it is (a second connection to a database another one migrated). */
int db_open(const char *path, const char *const *migrations, size_t n_migrations, struct db **db_r,
	    char *err, size_t errlen);
/* every_commit: synchronous=FULL (fsync at each commit), else NORMAL. */
int db_set_fsync(struct db *db, bool every_commit);
/* SQLite's own checkpoint after a commit that grows the WAL past 1000
 * pages (on by default); off when another thread calls db_checkpoint(). */
int db_set_autocheckpoint(struct db *db, bool on);
/* A PASSIVE checkpoint: copy what it can of the WAL into the database
 * without waiting for readers or writers. Reports the WAL's frames and how
 * many are now copied (either may be NULL). DB_OK or DB_ERR. */
int db_checkpoint(struct db *db, int *wal_frames_r, int *copied_r);
/* Finalizes every statement (a db_stmt must not outlive its db) and closes. */
void db_close(struct db **db);
const char *db_path(const struct db *db);
/* The last failure's message, "" when none. */
const char *db_error(const struct db *db);
/* Call cb with the duration in seconds of every statement step (each
 * db_step(), and so each db_exec(), BEGIN and COMMIT), for the storage
 * latency metric. One hook per process; cb NULL turns it off. Set it on
 * the thread that runs the statements it should time: db_step() on other
 * threads must not run while cb can be called (Junction runs every
 * statement on its loop thread; the checkpoint thread only checkpoints). */
typedef void db_timing_cb(double seconds, void *ctx);
void db_set_timing_hook(db_timing_cb *cb, void *ctx);
/* Schema version after migration, for tests and diagnostics. */
int64_t db_schema_version(struct db *db);

/* Parameter formats, one letter per `?` in order (a mismatch in number is
 * an assert; the types are the caller's promise, as with printf):
 *   s  const char *        text, NULL binds SQL NULL
 *   b  const void *, size_t  blob (a NULL pointer binds SQL NULL)
 *   i  int
 *   l  int64_t
 * Pass "" or NULL when the statement has no parameters. */

/* Run a statement that returns no rows. DB_OK, DB_ERR_CONSTRAINT, DB_ERR_BUSY
 * or DB_ERR. */
int db_exec(struct db *db, const char *sql, const char *fmt, ...);
/* Prepare (or reuse a cached) statement and bind its parameters. The
 * statement lives until db_stmt_free(), which the caller must call before
 * db_close() whatever db_step() returned. */
int db_query(struct db *db, struct db_stmt **stmt_r, const char *sql, const char *fmt, ...);
/* DB_ROW, DB_OK when done, or a negative error as for db_exec(). */
int db_step(struct db_stmt *stmt);
int64_t db_column_int(struct db_stmt *stmt, int col);
/* NULL for SQL NULL; valid until the next db_step() or db_stmt_free(). */
const char *db_column_text(struct db_stmt *stmt, int col);
const void *db_column_blob(struct db_stmt *stmt, int col, size_t *len_r);
void db_stmt_free(struct db_stmt **stmt);

/* Rows changed by the last INSERT, UPDATE or DELETE on this connection. */
int64_t db_changes(struct db *db);

/* BEGIN IMMEDIATE: take the write lock now, so a read-then-write
 * transaction never fails half way with SQLITE_BUSY. Transactions do not
 * nest. db_rollback() is safe to call when no transaction is open; call it
 * after any failure inside a transaction, a failed db_commit() included. */
int db_begin(struct db *db);
/* BEGIN DEFERRED, for several reads that must see one snapshot: in WAL
 * mode it takes no lock that a writer waits for. End with db_commit(). */
int db_begin_read(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

#endif
