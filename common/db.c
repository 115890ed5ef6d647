/* db.c: SQLite behind db.h, so the rest of Junction never sees sqlite3_*.
 *
 * Statements are cached per connection (prepared once, reset on release),
 * because sm runs the same few queries for every stanza; a statement that
 * is already in use when the same SQL is asked for again gets a fresh,
 * uncached one, so nested queries just work.
 */
#include "db.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"

/* Enough for the handful of statements a store uses; more are still fine,
 * they are just prepared and finalized on each use. */
#define DB_STMT_CACHE_MAX 48

struct db_stmt {
	struct db *db;
	sqlite3_stmt *stmt;
	char *sql;
	bool cached;
	bool in_use;
	struct db_stmt *next; /* cache list */
};

struct db {
	sqlite3 *conn;
	char *path;
	struct db_stmt *cache;
	size_t n_cached;
	size_t n_live; /* statements handed out and not yet freed */
	char err[512];
};

/* Record "PATH: what: sqlite's message" and map rc to a DB_ERR_*. */
static int db_fail(struct db *db, int rc, const char *what)
{
	snprintf(db->err, sizeof(db->err), "%s: %s: %s", db->path, what, sqlite3_errmsg(db->conn));
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return DB_ERR_CONSTRAINT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return DB_ERR_BUSY;
	default:
		return DB_ERR;
	}
}

/* A short, value-free description of a statement for error messages: its
 * first line, cut at 60 bytes. The SQL is constant text, never data. */
static const char *db_sql_summary(const char *sql, char *out, size_t outlen)
{
	size_t n = strcspn(sql, "\n");
	if (n > 60)
		n = 60;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, sql, n);
	out[n] = '\0';
	return out;
}

/* Create the file with mode 0600 before SQLite does: it holds credentials,
 * and SQLite gives its -wal and -shm files the mode (and, when running as
 * root, the owner) of the main file. When root creates it, hand it to the
 * directory's owner, so that `sudo junctionctl adduser` on a fresh install
 * leaves a file the server's own user can still open. */
static int db_create_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		snprintf(err, errlen, "%s: cannot create the database: %s", path, strerror(errno));
		return -1;
	}
	if (geteuid() == 0) {
		char *copy = xstrdup(path);
		struct stat st;
		if (stat(dirname(copy), &st) == 0 && st.st_uid != 0 && fchown(fd, st.st_uid, st.st_gid) < 0) {
			snprintf(err, errlen, "%s: cannot give the database to uid %u: %s", path,
				 (unsigned)st.st_uid, strerror(errno));
			free(copy);
			close(fd);
			unlink(path);
			return -1;
		}
		free(copy);
	}
	close(fd);
	return 0;
}

/* Run constant SQL (PRAGMAs, migration steps) that may hold several
 * statements. Never used with data. */
static int db_exec_script(struct db *db, const char *sql, const char *what)
{
	int rc = sqlite3_exec(db->conn, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? DB_OK : db_fail(db, rc, what);
}

/* Bring the schema to n_migrations, all missing steps in one transaction,
 * so a crash half way leaves the old version, never a mix. BEGIN IMMEDIATE
 * makes two processes that open a new file at once take turns: the second
 * reads the version the first committed. */
static int db_migrate(struct db *db, const char *const *migrations, size_t n_migrations)
{
	struct db_stmt *st = NULL;
	int64_t version = 0;
	int r;

	if ((r = db_begin(db)) < 0)
		return r;
	r = db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", NULL);
	if (r < 0)
		goto fail;
	if ((r = db_query(db, &st, "SELECT version FROM schema_version", NULL)) < 0)
		goto fail;
	r = db_step(st);
	if (r == DB_ROW)
		version = db_column_int(st, 0);
	db_stmt_free(&st);
	if (r < 0)
		goto fail;
	if (r == DB_OK && (r = db_exec(db, "INSERT INTO schema_version (version) VALUES (0)", NULL)) < 0)
		goto fail;
	if (version < 0 || (uint64_t)version > n_migrations) {
		snprintf(db->err, sizeof(db->err),
			 "%s: schema version %lld is newer than this program knows (%zu); "
			 "was it written by a newer Junction?",
			 db->path, (long long)version, n_migrations);
		r = DB_ERR;
		goto fail;
	}
	for (size_t i = (size_t)version; i < n_migrations; i++) {
		char what[64];
		snprintf(what, sizeof(what), "schema migration %zu to %zu", i, i + 1);
		if ((r = db_exec_script(db, migrations[i], what)) < 0)
			goto fail;
	}
	if ((uint64_t)version < n_migrations) {
		r = db_exec(db, "UPDATE schema_version SET version = ?", "l", (int64_t)n_migrations);
		if (r < 0)
			goto fail;
	}
	return db_commit(db);
fail:
	db_rollback(db);
	return r;
}

/* PRAGMA journal_mode=WAL, leaving its row in *st. SQLite answers it with
 * SQLITE_BUSY without calling the busy handler while another connection
 * (sm starting, junctionctl, a second sm) creates the file or switches it
 * to WAL at the same moment, so retry for up to DB_BUSY_TIMEOUT_MS. */
static int db_set_wal(struct db *db, struct db_stmt **st)
{
	int r = DB_ERR;

	for (int waited_ms = 0; waited_ms <= DB_BUSY_TIMEOUT_MS; waited_ms += 10) {
		if ((r = db_query(db, st, "PRAGMA journal_mode=WAL", NULL)) < 0)
			return r;
		if ((r = db_step(*st)) == DB_ROW)
			return DB_OK;
		db_stmt_free(st);
		if (r != DB_ERR_BUSY)
			return r;
		db->err[0] = '\0';
		usleep(10 * 1000);
	}
	return r;
}

int db_open(const char *path, const char *const *migrations, size_t n_migrations, struct db **db_r,
	    char *err, size_t errlen)
{
	struct db *db;
	struct db_stmt *st = NULL;
	int rc;

	*db_r = NULL;
	if (db_create_file(path, err, errlen) < 0)
		return -1;
	db = xcalloc(1, sizeof(*db));
	db->path = xstrdup(path);
	/* NOMUTEX: a connection is used by one thread at a time (db.h), so
	 * SQLite's per-connection mutex would only cost. */
	rc = sqlite3_open_v2(path, &db->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (db->conn == NULL)
			snprintf(db->err, sizeof(db->err), "%s: cannot open: %s", path, sqlite3_errstr(rc));
		else
			db_fail(db, rc, "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db->conn, DB_BUSY_TIMEOUT_MS);

	/* WAL: readers never block the writer nor the other way round, so
	 * junctionctl and sm (or several sm threads) share the file, and a
	 * commit is one sequential append to the -wal file. */
	if (db_set_wal(db, &st) < 0)
		goto fail;
	if (db_column_text(st, 0) == NULL || strcmp(db_column_text(st, 0), "wal") != 0) {
		if (db->err[0] == '\0')
			snprintf(db->err, sizeof(db->err),
				 "%s: cannot switch to WAL mode (a file system without shared memory?)",
				 path);
		db_stmt_free(&st);
		goto fail;
	}
	db_stmt_free(&st);

	/* synchronous=NORMAL: a commit is a write() to the -wal file, no
	 * fsync, so it survives a crash or kill -9 of the process (the pages
	 * are in the kernel's cache) but a power cut or kernel crash may lose
	 * the last commits since the previous checkpoint. FULL (one fsync per
	 * commit, about 0.5 ms here) is db_set_fsync()'s choice for operators
	 * who want power-loss durability too ([junction] storage_fsync). */
	if (db_exec_script(db, "PRAGMA synchronous=NORMAL", "PRAGMA synchronous") < 0)
		goto fail;
	/* Off by default in SQLite, and per connection: without it the ON
	 * DELETE CASCADE that removes an account's data would not happen. */
	if (db_exec_script(db, "PRAGMA foreign_keys=ON", "PRAGMA foreign_keys") < 0)
		goto fail;
	if (db_query(db, &st, "PRAGMA foreign_keys", NULL) < 0)
		goto fail;
	rc = db_step(st);
	bool fk_on = rc == DB_ROW && db_column_int(st, 0) == 1;
	db_stmt_free(&st);
	if (!fk_on) {
		snprintf(db->err, sizeof(db->err), "%s: this SQLite does not enforce foreign keys", path);
		goto fail;
	}
	if (migrations != NULL && db_migrate(db, migrations, n_migrations) < 0)
		goto fail;
	db->err[0] = '\0';
	*db_r = db;
	return 0;
fail:
	snprintf(err, errlen, "%s", db->err);
	db_close(&db);
	return -1;
}

int db_set_fsync(struct db *db, bool every_commit)
{
	return db_exec_script(db, every_commit ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
			      "PRAGMA synchronous");
}

int db_set_autocheckpoint(struct db *db, bool on)
{
	return db_exec_script(db, on ? "PRAGMA wal_autocheckpoint=1000" : "PRAGMA wal_autocheckpoint=0",
			      "PRAGMA wal_autocheckpoint");
}

int db_checkpoint(struct db *db, int *wal_frames_r, int *copied_r)
{
	int rc = sqlite3_wal_checkpoint_v2(db->conn, NULL, SQLITE_CHECKPOINT_PASSIVE, wal_frames_r,
					   copied_r);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return db_fail(db, rc, "checkpoint");
	return DB_OK;
}

void db_close(struct db **dbp)
{
	struct db *db = *dbp;

	if (db == NULL)
		return;
	assert(db->n_live == 0);
	while (db->cache != NULL) {
		struct db_stmt *st = db->cache;
		db->cache = st->next;
		sqlite3_finalize(st->stmt);
		free(st->sql);
		free(st);
	}
	sqlite3_close(db->conn);
	free(db->path);
	free(db);
	*dbp = NULL;
}

const char *db_path(const struct db *db)
{
	return db->path;
}

const char *db_error(const struct db *db)
{
	return db->err;
}

int64_t db_schema_version(struct db *db)
{
	struct db_stmt *st = NULL;
	int64_t v = -1;

	if (db_query(db, &st, "SELECT version FROM schema_version", NULL) < 0)
		return -1;
	if (db_step(st) == DB_ROW)
		v = db_column_int(st, 0);
	db_stmt_free(&st);
	return v;
}

/* Bind fmt's values. copy: let SQLite copy text and blobs (the caller's
 * values may be gone before the statement runs); db_exec() runs at once
 * and avoids copying a large stanza. */
static void db_bind(struct db_stmt *st, const char *fmt, va_list ap, bool copy)
{
	sqlite3_destructor_type how = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;
	int n = fmt != NULL ? (int)strlen(fmt) : 0;
	int rc = SQLITE_OK;

	/* The number of values is fixed by the SQL text: a mismatch is a bug
	 * in the caller, not a runtime condition. */
	assert(n == sqlite3_bind_parameter_count(st->stmt));
	for (int i = 0; i < n && rc == SQLITE_OK; i++) {
		switch (fmt[i]) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			rc = s != NULL ? sqlite3_bind_text(st->stmt, i + 1, s, -1, how)
				       : sqlite3_bind_null(st->stmt, i + 1);
			break;
		}
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t len = va_arg(ap, size_t);
			rc = p != NULL ? sqlite3_bind_blob64(st->stmt, i + 1, p, len, how)
				       : sqlite3_bind_null(st->stmt, i + 1);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int(st->stmt, i + 1, va_arg(ap, int));
			break;
		case 'l':
			rc = sqlite3_bind_int64(st->stmt, i + 1, (sqlite3_int64)va_arg(ap, int64_t));
			break;
		default:
			assert(!"db: unknown parameter format letter");
		}
	}
	/* Binding fails only for an index out of range (asserted above) or a
	 * value over SQLite's length limit (1 GB), far above any stanza. */
	assert(rc == SQLITE_OK);
	(void)rc;
}

/* A prepared statement for sql: an idle cached one, or a new one that is
 * cached while there is room. */
static int db_prepare(struct db *db, const char *sql, struct db_stmt **stmt_r)
{
	struct db_stmt *st;
	char what[64];
	int rc;

	*stmt_r = NULL;
	for (st = db->cache; st != NULL; st = st->next) {
		if (!st->in_use && strcmp(st->sql, sql) == 0)
			goto found;
	}
	st = xcalloc(1, sizeof(*st));
	st->db = db;
	st->cached = db->n_cached < DB_STMT_CACHE_MAX;
	rc = sqlite3_prepare_v3(db->conn, sql, -1, st->cached ? SQLITE_PREPARE_PERSISTENT : 0,
				&st->stmt, NULL);
	if (rc != SQLITE_OK) {
		free(st);
		return db_fail(db, rc, db_sql_summary(sql, what, sizeof(what)));
	}
	st->sql = xstrdup(sql);
	if (st->cached) {
		st->next = db->cache;
		db->cache = st;
		db->n_cached++;
	}
found:
	st->in_use = true;
	db->n_live++;
	*stmt_r = st;
	return DB_OK;
}

int db_query(struct db *db, struct db_stmt **stmt_r, const char *sql, const char *fmt, ...)
{
	va_list ap;
	int r = db_prepare(db, sql, stmt_r);

	if (r < 0)
		return r;
	va_start(ap, fmt);
	db_bind(*stmt_r, fmt, ap, true);
	va_end(ap);
	return DB_OK;
}

int db_exec(struct db *db, const char *sql, const char *fmt, ...)
{
	struct db_stmt *st;
	va_list ap;
	int r = db_prepare(db, sql, &st);

	if (r < 0)
		return r;
	va_start(ap, fmt);
	db_bind(st, fmt, ap, false);
	va_end(ap);
	r = db_step(st);
	if (r == DB_ROW)
		r = DB_OK; /* e.g. a PRAGMA that reports its value: ignored */
	db_stmt_free(&st);
	return r;
}

/* db_set_timing_hook()'s function: one per process, so a global. */
static db_timing_cb *db_timing_hook;
static void *db_timing_ctx;

void db_set_timing_hook(db_timing_cb *cb, void *ctx)
{
	db_timing_hook = cb;
	db_timing_ctx = ctx;
}

int db_step(struct db_stmt *st)
{
	char what[64];
	struct timespec t0, t1;

	if (db_timing_hook != NULL)
		clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = sqlite3_step(st->stmt);
	if (db_timing_hook != NULL) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		db_timing_hook((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
			       db_timing_ctx);
	}

	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE)
		return DB_OK;
	return db_fail(st->db, rc, db_sql_summary(st->sql, what, sizeof(what)));
}

int64_t db_column_int(struct db_stmt *st, int col)
{
	return sqlite3_column_int64(st->stmt, col);
}

const char *db_column_text(struct db_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st->stmt, col);
}

const void *db_column_blob(struct db_stmt *st, int col, size_t *len_r)
{
	const void *p = sqlite3_column_blob(st->stmt, col);
	*len_r = (size_t)sqlite3_column_bytes(st->stmt, col);
	return p;
}

void db_stmt_free(struct db_stmt **stmtp)
{
	struct db_stmt *st = *stmtp;

	if (st == NULL)
		return;
	st->db->n_live--;
	if (st->cached) {
		/* reset's return repeats the last step's error, already reported. */
		sqlite3_reset(st->stmt);
		sqlite3_clear_bindings(st->stmt);
		st->in_use = false;
	} else {
		sqlite3_finalize(st->stmt);
		free(st->sql);
		free(st);
	}
	*stmtp = NULL;
}

int64_t db_changes(struct db *db)
{
	return sqlite3_changes(db->conn);
}

int db_begin(struct db *db)
{
	return db_exec(db, "BEGIN IMMEDIATE", NULL);
}

int db_begin_read(struct db *db)
{
	return db_exec(db, "BEGIN DEFERRED", NULL);
}

int db_commit(struct db *db)
{
	return db_exec(db, "COMMIT", NULL);
}

void db_rollback(struct db *db)
{
	/* After some errors (SQLITE_FULL, IOERR, NOMEM) SQLite has already
	 * rolled back; a second ROLLBACK would only fail. */
	if (sqlite3_get_autocommit(db->conn))
		return;
	char keep[sizeof(db->err)];
	memcpy(keep, db->err, sizeof(keep));
	db_exec(db, "ROLLBACK", NULL);
	memcpy(db->err, keep, sizeof(keep)); /* report the failure that led here */
}
