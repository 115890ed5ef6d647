/* store-sqlite.c: the SQLite backend of store.h, on db.c, in DATA_DIR/sm.db.
 *
 * Accounts are keyed by their bare JID text; every other table refers to
 * accounts(jid) with ON DELETE CASCADE, so deleting an account removes its
 * credentials, roster (and roster groups) and offline messages in the same
 * statement. Each operation is one transaction: read-then-write ones take
 * the write lock up front (BEGIN IMMEDIATE). The backend-independent helpers
 * at the end (store_open_config(), the *_free() functions) move to a store.c
 * when a second backend arrives.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "db-checkpoint.h"
#include "store-sqlite.h"

struct store_sqlite {
	struct store store; /* first: a struct store * is a struct store_sqlite * */
	struct db *db;
	struct db_checkpointer *checkpointer; /* while attached to a loop */
};

/* How often the checkpointer copies the WAL into the database. */
#define STORE_SQLITE_CHECKPOINT_MS 1000

/* Schema steps, applied in order by db_open(); never edit a released step,
 * append a new one. */
static const char *const store_sqlite_migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE accounts (\n"
	"	jid TEXT PRIMARY KEY NOT NULL,\n"
	"	domain TEXT NOT NULL,\n"
	"	roster_version INTEGER NOT NULL DEFAULT 0,\n"
	"	created INTEGER NOT NULL\n"
	");\n"
	"CREATE INDEX accounts_by_domain ON accounts (domain, jid);\n"
	"CREATE TABLE credentials (\n"
	"	account TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,\n"
	"	hash TEXT NOT NULL CHECK (hash IN ('SHA-1', 'SHA-256')),\n"
	"	iterations INTEGER NOT NULL CHECK (iterations >= 4096),\n"
	"	salt BLOB NOT NULL,\n"
	"	stored_key BLOB NOT NULL,\n"
	"	server_key BLOB NOT NULL,\n"
	"	PRIMARY KEY (account, hash)\n"
	");\n"
	"CREATE TABLE roster (\n"
	"	account TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,\n"
	"	contact TEXT NOT NULL,\n"
	"	name TEXT,\n"
	"	subscription TEXT NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),\n"
	"	ask INTEGER NOT NULL CHECK (ask IN (0, 1)),\n"
	"	approved INTEGER NOT NULL CHECK (approved IN (0, 1)),\n"
	"	PRIMARY KEY (account, contact)\n"
	");\n"
	"CREATE TABLE roster_groups (\n"
	"	account TEXT NOT NULL,\n"
	"	contact TEXT NOT NULL,\n"
	"	name TEXT NOT NULL,\n"
	"	PRIMARY KEY (account, contact, name),\n"
	"	FOREIGN KEY (account, contact) REFERENCES roster (account, contact)\n"
	"		ON DELETE CASCADE\n"
	");\n"
	"CREATE TABLE offline (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	account TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,\n"
	"	stored INTEGER NOT NULL,\n"
	"	stanza BLOB NOT NULL\n"
	");\n"
	"CREATE INDEX offline_by_account ON offline (account, id);\n",
	/* XEP-0191 blocklists (store-sqlite-block.c) */
	"CREATE TABLE blocklist (\n"
	"	account TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,\n"
	"	item TEXT NOT NULL,\n"
	"	PRIMARY KEY (account, item)\n"
	");\n",
	/* vcard-temp, private XML storage, last activity (store-sqlite-account.c) */
	"CREATE TABLE vcards (\n"
	"	account TEXT PRIMARY KEY NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,\n"
	"	vcard BLOB NOT NULL,\n"
	"	photo_hash TEXT\n"
	");\n"
	"CREATE TABLE private_xml (\n"
	"	account TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,\n"
	"	ns TEXT NOT NULL,\n"
	"	xml BLOB NOT NULL,\n"
	"	PRIMARY KEY (account, ns)\n"
	");\n"
	"CREATE TABLE last_activity (\n"
	"	account TEXT PRIMARY KEY NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,\n"
	"	logout INTEGER NOT NULL,\n"
	"	status TEXT\n"
	");\n",
};

size_t store_sqlite_schema_version(void)
{
	return sizeof(store_sqlite_migrations) / sizeof(store_sqlite_migrations[0]);
}

static const char *const store_sqlite_subscriptions[] = {"none", "to", "from", "both"};

struct db *store_sqlite_db(struct store *store)
{
	return ((struct store_sqlite *)store)->db;
}

/* A database failure: keep db.c's message for store_error(). */
int store_sqlite_io(struct store *store)
{
	snprintf(store->error, sizeof(store->error), "%s", db_error(store_sqlite_db(store)));
	return STORE_ERR_IO;
}

/* Map a db result inside an operation: errors become STORE_ERR_IO. */
static int store_sqlite_check(struct store *store, int r)
{
	return r < 0 ? store_sqlite_io(store) : STORE_OK;
}

/* End a write transaction: commit on success, else roll back and return
 * the operation's own result (STORE_ERR_EXISTS, _FULL, ...). */
int store_sqlite_finish(struct store *store, int r)
{
	struct db *db = store_sqlite_db(store);

	if (r == STORE_OK && db_commit(db) < 0)
		r = store_sqlite_io(store);
	if (r != STORE_OK)
		db_rollback(db);
	return r;
}

static int store_sqlite_begin(struct store *store)
{
	return store_sqlite_check(store, db_begin(store_sqlite_db(store)));
}

/* 0 when the account exists, STORE_ERR_NOT_FOUND or _IO. */
static int store_sqlite_account_exists(struct store *store, const char *jid)
{
	struct db *db = store_sqlite_db(store);
	struct db_stmt *st = NULL;
	int r;

	if (db_query(db, &st, "SELECT 1 FROM accounts WHERE jid = ?", "s", jid) < 0)
		return store_sqlite_io(store);
	r = db_step(st);
	db_stmt_free(&st);
	if (r < 0)
		return store_sqlite_io(store);
	return r == DB_ROW ? STORE_OK : STORE_ERR_NOT_FOUND;
}

static const char *store_sqlite_hash_name(enum scram_hash hash)
{
	return hash == SCRAM_SHA1 ? "SHA-1" : "SHA-256";
}

static size_t store_sqlite_key_len(enum scram_hash hash)
{
	return hash == SCRAM_SHA1 ? 20 : 32;
}

static int store_sqlite_insert_credentials(struct store *store, const char *jid,
					   const struct scram_credentials *cred)
{
	/* Malformed credentials are a caller's bug, not a storage condition. */
	assert(cred->key_len == store_sqlite_key_len(cred->hash));
	assert(cred->salt_len > 0 && cred->salt_len <= sizeof(cred->salt));
	assert(cred->iterations >= SCRAM_MIN_ITERATIONS);
	return store_sqlite_check(
		store, db_exec(store_sqlite_db(store),
			       "INSERT INTO credentials (account, hash, iterations, salt, stored_key, "
			       "server_key) VALUES (?, ?, ?, ?, ?, ?)",
			       "sslbbb", jid, store_sqlite_hash_name(cred->hash),
			       (int64_t)cred->iterations, (const void *)cred->salt, cred->salt_len,
			       (const void *)cred->stored_key, cred->key_len,
			       (const void *)cred->server_key, cred->key_len));
}

static int store_sqlite_attach_loop(struct store *store, struct uv_loop_s *loop, char *err,
				    size_t errlen)
{
	struct store_sqlite *s = (struct store_sqlite *)store;

	if (db_checkpointer_start(loop, db_path(s->db), STORE_SQLITE_CHECKPOINT_MS, &s->checkpointer,
				  err, errlen) < 0)
		return -1;
	if (db_set_autocheckpoint(s->db, false) < 0) {
		snprintf(err, errlen, "%s", db_error(s->db));
		db_checkpointer_stop(&s->checkpointer);
		return -1;
	}
	return 0;
}

static void store_sqlite_detach_loop(struct store *store)
{
	struct store_sqlite *s = (struct store_sqlite *)store;

	if (s->checkpointer == NULL)
		return;
	db_checkpointer_stop(&s->checkpointer);
	db_set_autocheckpoint(s->db, true);
}

static void store_sqlite_close(struct store *store)
{
	struct store_sqlite *s = (struct store_sqlite *)store;

	store_sqlite_detach_loop(store);
	db_close(&s->db);
	free(s);
}

static int store_sqlite_account_create(struct store *store, const char *jid,
				       const struct scram_credentials *sha1,
				       const struct scram_credentials *sha256)
{
	const char *at = strchr(jid, '@');
	int r;

	assert(at != NULL && at[1] != '\0' && at != jid); /* a bare JID with a node */
	assert(sha1->hash == SCRAM_SHA1 && sha256->hash == SCRAM_SHA256);
	if ((r = store_sqlite_begin(store)) < 0)
		return r;
	r = db_exec(store_sqlite_db(store),
		    "INSERT INTO accounts (jid, domain, created) VALUES (?, ?, ?)", "ssl", jid, at + 1,
		    (int64_t)time(NULL));
	if (r == DB_ERR_CONSTRAINT)
		r = STORE_ERR_EXISTS;
	else
		r = store_sqlite_check(store, r);
	if (r == STORE_OK)
		r = store_sqlite_insert_credentials(store, jid, sha1);
	if (r == STORE_OK)
		r = store_sqlite_insert_credentials(store, jid, sha256);
	return store_sqlite_finish(store, r);
}

static int store_sqlite_account_set_credentials(struct store *store, const char *jid,
						const struct scram_credentials *sha1,
						const struct scram_credentials *sha256)
{
	int r;

	assert(sha1->hash == SCRAM_SHA1 && sha256->hash == SCRAM_SHA256);
	if ((r = store_sqlite_begin(store)) < 0)
		return r;
	r = store_sqlite_account_exists(store, jid);
	if (r == STORE_OK)
		r = store_sqlite_check(store, db_exec(store_sqlite_db(store),
						      "DELETE FROM credentials WHERE account = ?",
						      "s", jid));
	if (r == STORE_OK)
		r = store_sqlite_insert_credentials(store, jid, sha1);
	if (r == STORE_OK)
		r = store_sqlite_insert_credentials(store, jid, sha256);
	return store_sqlite_finish(store, r);
}

static int store_sqlite_account_delete(struct store *store, const char *jid)
{
	struct db *db = store_sqlite_db(store);

	/* One statement is its own transaction; the cascade is part of it. */
	if (db_exec(db, "DELETE FROM accounts WHERE jid = ?", "s", jid) < 0)
		return store_sqlite_io(store);
	return db_changes(db) > 0 ? STORE_OK : STORE_ERR_NOT_FOUND;
}

static int store_sqlite_account_get_credentials(struct store *store, const char *jid,
						enum scram_hash hash,
						struct scram_credentials *cred_r)
{
	struct db_stmt *st = NULL;
	const void *salt, *stored, *server;
	size_t salt_len, stored_len, server_len;
	size_t key_len = store_sqlite_key_len(hash);
	int64_t iterations;
	int r;

	memset(cred_r, 0, sizeof(*cred_r));
	if (db_query(store_sqlite_db(store), &st,
		     "SELECT iterations, salt, stored_key, server_key FROM credentials "
		     "WHERE account = ? AND hash = ?",
		     "ss", jid, store_sqlite_hash_name(hash)) < 0)
		return store_sqlite_io(store);
	r = db_step(st);
	if (r != DB_ROW) {
		db_stmt_free(&st);
		return r == DB_OK ? STORE_ERR_NOT_FOUND : store_sqlite_io(store);
	}
	iterations = db_column_int(st, 0);
	salt = db_column_blob(st, 1, &salt_len);
	stored = db_column_blob(st, 2, &stored_len);
	server = db_column_blob(st, 3, &server_len);
	if (iterations < SCRAM_MIN_ITERATIONS || iterations > (int64_t)UINT32_MAX || salt_len == 0 ||
	    salt_len > sizeof(cred_r->salt) || stored_len != key_len || server_len != key_len) {
		/* Only a hand-edited or damaged file gets here: refuse to
		 * authenticate against it rather than guess. */
		snprintf(store->error, sizeof(store->error),
			 "%s: malformed %s credentials for %s", db_path(store_sqlite_db(store)),
			 store_sqlite_hash_name(hash), jid);
		db_stmt_free(&st);
		return STORE_ERR_IO;
	}
	cred_r->hash = hash;
	cred_r->iterations = (unsigned)iterations;
	memcpy(cred_r->salt, salt, salt_len);
	cred_r->salt_len = salt_len;
	memcpy(cred_r->stored_key, stored, key_len);
	memcpy(cred_r->server_key, server, key_len);
	cred_r->key_len = key_len;
	db_stmt_free(&st);
	return STORE_OK;
}

/* Collect column 0 of every row of a query as strings. */
int store_sqlite_collect(struct store *store, struct db_stmt *st, char ***strings_r, size_t *n_r)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	int r;

	while ((r = db_step(st)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrdup(db_column_text(st, 0));
	}
	if (r < 0) {
		store_strings_free(&v, n);
		return store_sqlite_io(store);
	}
	*strings_r = v;
	*n_r = n;
	return STORE_OK;
}

static int store_sqlite_account_list(struct store *store, const char *domain, char ***jids_r,
				     size_t *n_r)
{
	struct db *db = store_sqlite_db(store);
	struct db_stmt *st = NULL;
	int r;

	*jids_r = NULL;
	*n_r = 0;
	if (domain != NULL)
		r = db_query(db, &st, "SELECT jid FROM accounts WHERE domain = ? ORDER BY jid", "s",
			     domain);
	else
		r = db_query(db, &st, "SELECT jid FROM accounts ORDER BY domain, jid", NULL);
	if (r < 0)
		return store_sqlite_io(store);
	r = store_sqlite_collect(store, st, jids_r, n_r);
	db_stmt_free(&st);
	return r;
}

/* ---- roster ---- */

static int store_sqlite_subscription(const char *text, enum store_subscription *sub_r)
{
	for (size_t i = 0; i < 4; i++) {
		if (text != NULL && strcmp(text, store_sqlite_subscriptions[i]) == 0) {
			*sub_r = (enum store_subscription)i;
			return 0;
		}
	}
	return -1; /* the CHECK constraint makes this unreachable */
}

/* Fill an item from a row (contact, name, subscription, ask, approved). */
static void store_sqlite_read_item(struct db_stmt *st, struct store_roster_item *item)
{
	const char *name = db_column_text(st, 1);

	memset(item, 0, sizeof(*item));
	item->jid = xstrdup(db_column_text(st, 0));
	item->name = name != NULL ? xstrdup(name) : NULL;
	if (store_sqlite_subscription(db_column_text(st, 2), &item->subscription) < 0)
		item->subscription = STORE_SUB_NONE;
	item->ask = db_column_int(st, 3) != 0;
	item->approved = db_column_int(st, 4) != 0;
}

static int store_sqlite_version(struct store *store, const char *jid, uint64_t *version_r)
{
	struct db_stmt *st = NULL;
	int r;

	*version_r = 0;
	if (db_query(store_sqlite_db(store), &st,
		     "SELECT roster_version FROM accounts WHERE jid = ?", "s", jid) < 0)
		return store_sqlite_io(store);
	r = db_step(st);
	if (r == DB_ROW)
		*version_r = (uint64_t)db_column_int(st, 0);
	db_stmt_free(&st);
	if (r < 0)
		return store_sqlite_io(store);
	return r == DB_ROW ? STORE_OK : STORE_ERR_NOT_FOUND;
}

static int store_sqlite_roster_version(struct store *store, const char *jid, uint64_t *version_r)
{
	return store_sqlite_version(store, jid, version_r);
}

/* Attach the groups of the rows of st (contact, name), sorted like items,
 * to items[0..n). Both lists are in contact order, so one merge pass. */
static int store_sqlite_read_groups(struct store *store, struct db_stmt *st,
				    struct store_roster_item *items, size_t n)
{
	size_t i = 0;
	int r;

	while ((r = db_step(st)) == DB_ROW) {
		const char *contact = db_column_text(st, 0);
		while (i < n && strcmp(items[i].jid, contact) < 0)
			i++;
		if (i == n)
			break;
		if (strcmp(items[i].jid, contact) != 0)
			continue; /* cannot happen with the foreign key; be safe */
		struct store_roster_item *it = &items[i];
		it->groups = xrealloc(it->groups, (it->n_groups + 1) * sizeof(*it->groups));
		it->groups[it->n_groups++] = xstrdup(db_column_text(st, 1));
	}
	return r < 0 ? store_sqlite_io(store) : STORE_OK;
}

static int store_sqlite_roster_get(struct store *store, const char *jid,
				   struct store_roster *roster_r)
{
	struct db *db = store_sqlite_db(store);
	struct db_stmt *st = NULL;
	size_t cap = 0;
	int r;

	memset(roster_r, 0, sizeof(*roster_r));
	/* One snapshot for the version and both lists. */
	if ((r = store_sqlite_check(store, db_begin_read(db))) < 0)
		return r;
	if ((r = store_sqlite_version(store, jid, &roster_r->version)) < 0)
		goto out;
	if (db_query(db, &st,
		     "SELECT contact, name, subscription, ask, approved FROM roster "
		     "WHERE account = ? ORDER BY contact",
		     "s", jid) < 0) {
		r = store_sqlite_io(store);
		goto out;
	}
	while ((r = db_step(st)) == DB_ROW) {
		if (roster_r->n_items == cap) {
			cap = cap ? cap * 2 : 16;
			roster_r->items = xrealloc(roster_r->items, cap * sizeof(*roster_r->items));
		}
		store_sqlite_read_item(st, &roster_r->items[roster_r->n_items++]);
	}
	db_stmt_free(&st);
	if (r < 0) {
		r = store_sqlite_io(store);
		goto out;
	}
	if (db_query(db, &st,
		     "SELECT contact, name FROM roster_groups WHERE account = ? ORDER BY contact, name",
		     "s", jid) < 0) {
		r = store_sqlite_io(store);
		goto out;
	}
	r = store_sqlite_read_groups(store, st, roster_r->items, roster_r->n_items);
	db_stmt_free(&st);
out:
	if (r == STORE_OK && db_commit(db) < 0)
		r = store_sqlite_io(store);
	if (r != STORE_OK) {
		db_rollback(db);
		store_roster_clear(roster_r);
	}
	return r;
}

static int store_sqlite_roster_get_item(struct store *store, const char *jid, const char *contact,
					struct store_roster_item *item_r)
{
	struct db *db = store_sqlite_db(store);
	struct db_stmt *st = NULL;
	int r;

	memset(item_r, 0, sizeof(*item_r));
	if ((r = store_sqlite_check(store, db_begin_read(db))) < 0)
		return r;
	if (db_query(db, &st,
		     "SELECT contact, name, subscription, ask, approved FROM roster "
		     "WHERE account = ? AND contact = ?",
		     "ss", jid, contact) < 0) {
		r = store_sqlite_io(store);
		goto out;
	}
	r = db_step(st);
	if (r == DB_ROW)
		store_sqlite_read_item(st, item_r);
	db_stmt_free(&st);
	if (r != DB_ROW) {
		r = r == DB_OK ? STORE_ERR_NOT_FOUND : store_sqlite_io(store);
		goto out;
	}
	if (db_query(db, &st,
		     "SELECT contact, name FROM roster_groups WHERE account = ? AND contact = ? "
		     "ORDER BY name",
		     "ss", jid, contact) < 0) {
		r = store_sqlite_io(store);
		goto out;
	}
	r = store_sqlite_read_groups(store, st, item_r, 1);
	db_stmt_free(&st);
out:
	if (r == STORE_OK && db_commit(db) < 0)
		r = store_sqlite_io(store);
	if (r != STORE_OK) {
		db_rollback(db);
		store_roster_item_clear(item_r);
	}
	return r;
}

/* Inside a write transaction: increment and read back the version. */
static int store_sqlite_bump_version(struct store *store, const char *jid, uint64_t *version_r)
{
	int r = db_exec(store_sqlite_db(store),
			"UPDATE accounts SET roster_version = roster_version + 1 WHERE jid = ?", "s",
			jid);
	if (r < 0)
		return store_sqlite_io(store);
	return store_sqlite_version(store, jid, version_r);
}

static int store_sqlite_roster_set_item(struct store *store, const char *jid,
					const struct store_roster_item *item, uint64_t *version_r)
{
	struct db *db = store_sqlite_db(store);
	int r;

	assert(item->jid != NULL && (unsigned)item->subscription <= STORE_SUB_BOTH);
	*version_r = 0;
	if ((r = store_sqlite_begin(store)) < 0)
		return r;
	if ((r = store_sqlite_account_exists(store, jid)) < 0)
		return store_sqlite_finish(store, r);
	/* An upsert, not INSERT OR REPLACE: REPLACE deletes the old row first,
	 * which would fire the cascade on its groups mid-statement. */
	r = db_exec(db,
		    "INSERT INTO roster (account, contact, name, subscription, ask, approved) "
		    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account, contact) DO UPDATE SET "
		    "name = excluded.name, subscription = excluded.subscription, "
		    "ask = excluded.ask, approved = excluded.approved",
		    "ssssii", jid, item->jid, item->name,
		    store_sqlite_subscriptions[item->subscription], item->ask ? 1 : 0,
		    item->approved ? 1 : 0);
	r = store_sqlite_check(store, r);
	if (r == STORE_OK)
		r = store_sqlite_check(store, db_exec(db,
						      "DELETE FROM roster_groups "
						      "WHERE account = ? AND contact = ?",
						      "ss", jid, item->jid));
	for (size_t i = 0; r == STORE_OK && i < item->n_groups; i++) {
		/* OR IGNORE: a group named twice is one group. */
		r = store_sqlite_check(store, db_exec(db,
						      "INSERT OR IGNORE INTO roster_groups "
						      "(account, contact, name) VALUES (?, ?, ?)",
						      "sss", jid, item->jid, item->groups[i]));
	}
	if (r == STORE_OK)
		r = store_sqlite_bump_version(store, jid, version_r);
	return store_sqlite_finish(store, r);
}

static int store_sqlite_roster_delete_item(struct store *store, const char *jid,
					   const char *contact, uint64_t *version_r)
{
	struct db *db = store_sqlite_db(store);
	int r;

	*version_r = 0;
	if ((r = store_sqlite_begin(store)) < 0)
		return r;
	r = db_exec(db, "DELETE FROM roster WHERE account = ? AND contact = ?", "ss", jid, contact);
	r = store_sqlite_check(store, r);
	if (r == STORE_OK && db_changes(db) == 0)
		r = STORE_ERR_NOT_FOUND;
	if (r == STORE_OK)
		r = store_sqlite_bump_version(store, jid, version_r);
	return store_sqlite_finish(store, r);
}

/* ---- offline messages ---- */

static int store_sqlite_offline_count_locked(struct store *store, const char *jid, size_t *count_r)
{
	struct db_stmt *st = NULL;
	int r;

	*count_r = 0;
	if (db_query(store_sqlite_db(store), &st, "SELECT count(*) FROM offline WHERE account = ?",
		     "s", jid) < 0)
		return store_sqlite_io(store);
	r = db_step(st);
	if (r == DB_ROW)
		*count_r = (size_t)db_column_int(st, 0);
	db_stmt_free(&st);
	return r < 0 ? store_sqlite_io(store) : STORE_OK;
}

static int store_sqlite_offline_push(struct store *store, const char *jid, const char *xml,
				     size_t len, size_t max_messages)
{
	size_t count;
	int r;

	if ((r = store_sqlite_begin(store)) < 0)
		return r;
	r = store_sqlite_account_exists(store, jid);
	if (r == STORE_OK && max_messages > 0) {
		r = store_sqlite_offline_count_locked(store, jid, &count);
		if (r == STORE_OK && count >= max_messages)
			r = STORE_ERR_FULL;
	}
	if (r == STORE_OK)
		r = store_sqlite_check(store, db_exec(store_sqlite_db(store),
						      "INSERT INTO offline (account, stored, stanza) "
						      "VALUES (?, ?, ?)",
						      "slb", jid, (int64_t)time(NULL),
						      (const void *)(xml != NULL ? xml : ""), len));
	/* After COMMIT the stanza is in the WAL: it survives a crash or kill -9
	 * of sm, and a power cut too with storage_fsync (synchronous=FULL). */
	return store_sqlite_finish(store, r);
}

static int store_sqlite_offline_count(struct store *store, const char *jid, size_t *count_r)
{
	return store_sqlite_offline_count_locked(store, jid, count_r);
}

static int store_sqlite_offline_fetch(struct store *store, const char *jid, int64_t after_id,
				      struct store_offline_message **msgs_r, size_t *n_r)
{
	struct db *db = store_sqlite_db(store);
	struct db_stmt *st = NULL;
	struct store_offline_message *v = NULL;
	size_t n = 0, cap = 0;
	int r;

	*msgs_r = NULL;
	*n_r = 0;
	if (db_query(db, &st,
		     "SELECT id, stored, stanza FROM offline WHERE account = ? AND id > ? ORDER BY id",
		     "sl", jid, after_id) < 0)
		return store_sqlite_io(store);
	while ((r = db_step(st)) == DB_ROW) {
		size_t len;
		const void *p = db_column_blob(st, 2, &len);
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n].id = db_column_int(st, 0);
		v[n].stored = db_column_int(st, 1);
		v[n].xml = xmalloc(len + 1);
		if (len > 0)
			memcpy(v[n].xml, p, len);
		v[n].xml[len] = '\0';
		v[n].len = len;
		n++;
	}
	db_stmt_free(&st);
	r = store_sqlite_check(store, r);
	if (r != STORE_OK) {
		store_offline_messages_free(&v, n);
		return r;
	}
	*msgs_r = v;
	*n_r = n;
	return STORE_OK;
}

static int store_sqlite_offline_delete_upto(struct store *store, const char *jid, int64_t upto_id)
{
	return store_sqlite_check(store, db_exec(store_sqlite_db(store),
						 "DELETE FROM offline WHERE account = ? AND id <= ?",
						 "sl", jid, upto_id));
}

static int store_sqlite_offline_delete(struct store *store, const char *jid)
{
	return store_sqlite_check(store, db_exec(store_sqlite_db(store),
						 "DELETE FROM offline WHERE account = ?", "s", jid));
}

static const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.close = store_sqlite_close,
	.attach_loop = store_sqlite_attach_loop,
	.detach_loop = store_sqlite_detach_loop,
	.account_create = store_sqlite_account_create,
	.account_set_credentials = store_sqlite_account_set_credentials,
	.account_delete = store_sqlite_account_delete,
	.account_exists = store_sqlite_account_exists,
	.account_get_credentials = store_sqlite_account_get_credentials,
	.account_list = store_sqlite_account_list,
	.roster_get = store_sqlite_roster_get,
	.roster_get_item = store_sqlite_roster_get_item,
	.roster_set_item = store_sqlite_roster_set_item,
	.roster_delete_item = store_sqlite_roster_delete_item,
	.roster_version = store_sqlite_roster_version,
	.offline_push = store_sqlite_offline_push,
	.offline_count = store_sqlite_offline_count,
	.offline_fetch = store_sqlite_offline_fetch,
	.offline_delete_upto = store_sqlite_offline_delete_upto,
	.offline_delete = store_sqlite_offline_delete,
};

int store_open_sqlite(const char *path, struct store **store_r, char *err, size_t errlen)
{
	struct store_sqlite *s = xcalloc(1, sizeof(*s));

	*store_r = NULL;
	if (db_open(path, store_sqlite_migrations,
		    sizeof(store_sqlite_migrations) / sizeof(store_sqlite_migrations[0]), &s->db, err,
		    errlen) < 0) {
		free(s);
		return -1;
	}
	s->store.backend = &store_sqlite_backend;
	*store_r = &s->store;
	return 0;
}

/* ---- backend-independent helpers ---- */

char *store_default_path(const struct config *config)
{
	const char *dir = config_get(config, "junction", "data_dir");
	struct buf b = {0};
	size_t len = strlen(dir);

	buf_append_str(&b, dir);
	if (len == 0 || dir[len - 1] != '/')
		buf_append_char(&b, '/');
	buf_append_str(&b, STORE_SQLITE_FILE);
	return buf_steal(&b);
}

int store_open_config(const struct config *config, struct store **store_r, char *err,
		      size_t errlen)
{
	const char *dir = config_get(config, "junction", "data_dir");
	struct stat st;
	int r;

	*store_r = NULL;
	/* Only the last component: a missing parent is more likely a typo
	 * than a wish, and 0700 because the directory holds credentials. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create the data directory ([junction] data_dir): %s",
			 dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: [junction] data_dir is not a directory", dir);
		return -1;
	}
	char *path = store_default_path(config);
	r = store_open_sqlite(path, store_r, err, errlen);
	free(path);
	if (r == 0 && config_get_bool(config, "junction", "storage_fsync")) {
		struct store_sqlite *s = (struct store_sqlite *)*store_r;
		if (db_set_fsync(s->db, true) < 0) {
			snprintf(err, errlen, "%s", db_error(s->db));
			store_close(store_r);
			return -1;
		}
	}
	return r;
}

const char *store_result_string(int result)
{
	switch (result) {
	case STORE_OK:
		return "ok";
	case STORE_ERR_NOT_FOUND:
		return "not found";
	case STORE_ERR_EXISTS:
		return "already exists";
	case STORE_ERR_FULL:
		return "offline storage full";
	case STORE_ERR_IO:
		return "storage failure";
	default:
		return "unknown store result";
	}
}

void store_strings_free(char ***strings, size_t n)
{
	if (*strings == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*strings)[i]);
	free(*strings);
	*strings = NULL;
}

void store_roster_item_clear(struct store_roster_item *item)
{
	free(item->jid);
	free(item->name);
	for (size_t i = 0; i < item->n_groups; i++)
		free(item->groups[i]);
	free(item->groups);
	memset(item, 0, sizeof(*item));
}

void store_roster_clear(struct store_roster *roster)
{
	for (size_t i = 0; i < roster->n_items; i++)
		store_roster_item_clear(&roster->items[i]);
	free(roster->items);
	memset(roster, 0, sizeof(*roster));
}

void store_offline_messages_free(struct store_offline_message **msgs, size_t n)
{
	if (*msgs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*msgs)[i].xml);
	free(*msgs);
	*msgs = NULL;
}
