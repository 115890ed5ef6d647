/* store.h: sm's persistent data (accounts, rosters, offline messages)
 * behind one interface, so protocol code never knows which database holds it.
 *
 * A struct store is a handle on a backend (SQLite today, store-sqlite.c;
 * PostgreSQL later) reached through struct store_backend; the store_*
 * functions only dispatch. sm and junctionctl open it with
 * store_open_config(). JIDs passed in are bare JIDs already normalised with
 * jid_parse() + jid_bare_string() ("node@domain"): the store compares bytes.
 * Calls block: SQLite's take tens of microseconds (a change is one write()
 * to the WAL; one fsync more per change with [junction] storage_fsync),
 * and up to DB_BUSY_TIMEOUT_MS when another process holds the write lock.
 * sm calls them on its event loop after store_attach_loop(), which moves
 * the slow part (WAL checkpoints and their fsyncs) to a worker thread;
 * bench/bench-sm-storage measures what the rest costs other users. A
 * backend that waits on a network (PostgreSQL) will need an asynchronous
 * variant of this interface. One thread at a time per store.
 * Results are 0 or a negative enum store_result; after STORE_ERR_IO,
 * store_error() names the file and cause. Returned memory is the caller's,
 * released with the matching _free or _clear function.
 *
 *   store_open_config(config, &store, err, sizeof(err));
 *   store_offline_push(store, "juliet@example.org", xml, len, 100);
 *   store_close(&store);
 */
#ifndef JUNCTION_STORE_H
#define JUNCTION_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scram.h"

struct config;
struct uv_loop_s;

enum store_result {
	STORE_OK = 0,
	STORE_ERR_NOT_FOUND = -1, /* no such account (or roster item) */
	STORE_ERR_EXISTS = -2,    /* the account already exists */
	STORE_ERR_FULL = -3,      /* the offline queue is at its cap */
	STORE_ERR_IO = -4,        /* the database failed; see store_error() */
};

/* Iterations for credentials Junction derives (junctionctl, in-band
 * password changes): twice RFC 7677's minimum, about 10 ms per hash on a
 * current CPU, so a stolen database is costlier to attack while a login
 * stays cheap. Stored credentials keep whatever count they were made with. */
#define STORE_SCRAM_ITERATIONS SCRAM_DEFAULT_ITERATIONS

/* The file name of the SQLite store inside [junction] data_dir. */
#define STORE_SQLITE_FILE "sm.db"

/* RFC 6121 2.1.2.5: whose presence each side receives. */
enum store_subscription {
	STORE_SUB_NONE = 0,
	STORE_SUB_TO = 1,   /* the user receives the contact's presence */
	STORE_SUB_FROM = 2, /* the contact receives the user's presence */
	STORE_SUB_BOTH = 3,
};

struct store_roster_item {
	char *jid;  /* the contact's bare JID */
	char *name; /* NULL when none */
	enum store_subscription subscription;
	bool ask;      /* the user sent a subscribe request, still pending */
	bool approved; /* the user pre-approved the contact's subscription */
	char **groups; /* n_groups distinct group names, sorted; NULL when none */
	size_t n_groups;
};

struct store_roster {
	struct store_roster_item *items; /* sorted by jid */
	size_t n_items;
	uint64_t version; /* see store_roster_version() */
};

struct store_offline_message {
	char *xml; /* the stanza's bytes as pushed, NUL-terminated for convenience */
	size_t len;
	int64_t stored; /* Unix time of the push, for the XEP-0203 delay stamp */
	int64_t id;     /* increasing per store: what store_offline_delete_upto() takes */
};

struct store;

/* For backends only: protocol code calls the store_* functions below. */
struct store_backend {
	const char *name;
	void (*close)(struct store *store);
	/* Optional: background work on the owner's loop (checkpoints). */
	int (*attach_loop)(struct store *store, struct uv_loop_s *loop, char *err, size_t errlen);
	void (*detach_loop)(struct store *store);
	int (*account_create)(struct store *store, const char *jid, const struct scram_credentials *sha1,
			      const struct scram_credentials *sha256);
	int (*account_set_credentials)(struct store *store, const char *jid,
				       const struct scram_credentials *sha1,
				       const struct scram_credentials *sha256);
	int (*account_delete)(struct store *store, const char *jid);
	int (*account_exists)(struct store *store, const char *jid);
	int (*account_get_credentials)(struct store *store, const char *jid, enum scram_hash hash,
				       struct scram_credentials *cred_r);
	int (*account_list)(struct store *store, const char *domain, char ***jids_r, size_t *n_r);
	int (*roster_get)(struct store *store, const char *jid, struct store_roster *roster_r);
	int (*roster_get_item)(struct store *store, const char *jid, const char *contact,
			       struct store_roster_item *item_r);
	int (*roster_set_item)(struct store *store, const char *jid,
			       const struct store_roster_item *item, uint64_t *version_r);
	int (*roster_delete_item)(struct store *store, const char *jid, const char *contact,
				  uint64_t *version_r);
	int (*roster_version)(struct store *store, const char *jid, uint64_t *version_r);
	int (*offline_push)(struct store *store, const char *jid, const char *xml, size_t len,
			    size_t max_messages);
	int (*offline_count)(struct store *store, const char *jid, size_t *count_r);
	int (*offline_fetch)(struct store *store, const char *jid, int64_t after_id,
			     struct store_offline_message **msgs_r, size_t *n_r);
	int (*offline_delete_upto)(struct store *store, const char *jid, int64_t upto_id);
	int (*offline_delete)(struct store *store, const char *jid);
};

/* Backends embed this as their first member. */
struct store {
	const struct store_backend *backend;
	char error[512]; /* the last STORE_ERR_IO's message */
};

/* Open the store a deployment configures: today DATA_DIR/sm.db (see
 * store_default_path()). data_dir is created with mode 0700 when missing
 * (its parent must exist: a typo should not grow a tree). Returns 0, or -1
 * with a one-line message in err. */
int store_open_config(const struct config *config, struct store **store_r, char *err,
		      size_t errlen);
/* "DATA_DIR/sm.db", newly allocated. */
char *store_default_path(const struct config *config);
/* The SQLite backend on the file at path (created if missing). */
int store_open_sqlite(const char *path, struct store **store_r, char *err, size_t errlen);

static inline void store_close(struct store **store)
{
	if (*store != NULL)
		(*store)->backend->close(*store);
	*store = NULL;
}

/* A process that uses the store from an event loop attaches it once; it
 * detaches before its loop's last run. Returns 0 or -1 with err set. */
static inline int store_attach_loop(struct store *store, struct uv_loop_s *loop, char *err,
				    size_t errlen)
{
	return store->backend->attach_loop != NULL
		       ? store->backend->attach_loop(store, loop, err, errlen)
		       : 0;
}

static inline void store_detach_loop(struct store *store)
{
	if (store->backend->detach_loop != NULL)
		store->backend->detach_loop(store);
}

static inline const char *store_error(const struct store *store)
{
	return store->error;
}

/* "ok", "not found", ... for messages. */
const char *store_result_string(int result);

/* ---- accounts ---- */

/* A new account with credentials for both hashes (sha1->hash is SCRAM_SHA1,
 * sha256->hash SCRAM_SHA256). STORE_ERR_EXISTS when it exists. */
static inline int store_account_create(struct store *store, const char *jid,
				       const struct scram_credentials *sha1,
				       const struct scram_credentials *sha256)
{
	return store->backend->account_create(store, jid, sha1, sha256);
}

/* Replace both credentials (a password change). STORE_ERR_NOT_FOUND. */
static inline int store_account_set_credentials(struct store *store, const char *jid,
						const struct scram_credentials *sha1,
						const struct scram_credentials *sha256)
{
	return store->backend->account_set_credentials(store, jid, sha1, sha256);
}

/* Delete the account with its roster and offline messages, atomically.
 * STORE_ERR_NOT_FOUND. */
static inline int store_account_delete(struct store *store, const char *jid)
{
	return store->backend->account_delete(store, jid);
}

/* 0 when the account exists, STORE_ERR_NOT_FOUND when not. */
static inline int store_account_exists(struct store *store, const char *jid)
{
	return store->backend->account_exists(store, jid);
}

/* The stored credentials for one hash. STORE_ERR_NOT_FOUND. */
static inline int store_account_get_credentials(struct store *store, const char *jid,
						enum scram_hash hash,
						struct scram_credentials *cred_r)
{
	return store->backend->account_get_credentials(store, jid, hash, cred_r);
}

/* Bare JIDs of the accounts in domain (a normalised domain), or of all
 * accounts when domain is NULL, sorted by domain then JID (byte order).
 * Free with store_strings_free(). */
static inline int store_account_list(struct store *store, const char *domain, char ***jids_r,
				     size_t *n_r)
{
	return store->backend->account_list(store, domain, jids_r, n_r);
}

void store_strings_free(char ***strings, size_t n);

/* ---- roster (RFC 6121) ----
 * Every change (set or delete of an item) increments the account's roster
 * version and returns the new value, for roster versioning (XEP-0237): a
 * client holding version v is up to date when v equals the current one.
 * An unknown owner is STORE_ERR_NOT_FOUND. */

/* All items, sorted by contact JID, and the current version. */
static inline int store_roster_get(struct store *store, const char *jid,
				   struct store_roster *roster_r)
{
	return store->backend->roster_get(store, jid, roster_r);
}

static inline int store_roster_get_item(struct store *store, const char *jid, const char *contact,
					struct store_roster_item *item_r)
{
	return store->backend->roster_get_item(store, jid, contact, item_r);
}

/* Insert or replace the item keyed by item->jid (groups included). */
static inline int store_roster_set_item(struct store *store, const char *jid,
					const struct store_roster_item *item, uint64_t *version_r)
{
	return store->backend->roster_set_item(store, jid, item, version_r);
}

/* STORE_ERR_NOT_FOUND when the owner or the item does not exist. */
static inline int store_roster_delete_item(struct store *store, const char *jid,
					   const char *contact, uint64_t *version_r)
{
	return store->backend->roster_delete_item(store, jid, contact, version_r);
}

/* The current version: 0 for an account whose roster never changed. */
static inline int store_roster_version(struct store *store, const char *jid, uint64_t *version_r)
{
	return store->backend->roster_version(store, jid, version_r);
}

void store_roster_item_clear(struct store_roster_item *item);
void store_roster_clear(struct store_roster *roster);

/* ---- offline messages ----
 * Stanzas kept for an account with no available resource, delivered in the
 * order pushed. When push returns 0 the stanza is stored (see the top of
 * this file for what survives what). Count, fetch, pop and delete treat an
 * unknown account as one with no messages. */

/* Append a stanza's bytes. STORE_ERR_FULL when the account already holds
 * max_messages (0: no cap); STORE_ERR_NOT_FOUND for no such account. */
static inline int store_offline_push(struct store *store, const char *jid, const char *xml,
				     size_t len, size_t max_messages)
{
	return store->backend->offline_push(store, jid, xml, len, max_messages);
}

static inline int store_offline_count(struct store *store, const char *jid, size_t *count_r)
{
	return store->backend->offline_count(store, jid, count_r);
}

void store_offline_messages_free(struct store_offline_message **msgs, size_t n);

/* Return the account's messages with an id above after_id (0: all),
 * oldest first, leaving them stored (*msgs_r is NULL when there are none).
 * The caller delivers them, then deletes them with
 * store_offline_delete_upto(): a crash in between delivers them again
 * rather than losing them. Free with store_offline_messages_free(). */
static inline int store_offline_fetch(struct store *store, const char *jid, int64_t after_id,
				      struct store_offline_message **msgs_r, size_t *n_r)
{
	return store->backend->offline_fetch(store, jid, after_id, msgs_r, n_r);
}

/* Delete the account's messages with an id up to upto_id. */
static inline int store_offline_delete_upto(struct store *store, const char *jid, int64_t upto_id)
{
	return store->backend->offline_delete_upto(store, jid, upto_id);
}

/* Fetch everything and delete it at once: the messages then exist only in
 * the caller's memory (for tools; sm uses fetch, deliver, delete). */
static inline int store_offline_pop(struct store *store, const char *jid,
				    struct store_offline_message **msgs_r, size_t *n_r)
{
	int r = store_offline_fetch(store, jid, 0, msgs_r, n_r);
	if (r == 0 && *n_r > 0 &&
	    (r = store_offline_delete_upto(store, jid, (*msgs_r)[*n_r - 1].id)) != 0) {
		store_offline_messages_free(msgs_r, *n_r);
		*n_r = 0;
	}
	return r;
}

/* Drop all of the account's messages. */
static inline int store_offline_delete(struct store *store, const char *jid)
{
	return store->backend->offline_delete(store, jid);
}


/* ---- blocklists (XEP-0191), common/store-sqlite-block.c ----
 * Items are JIDs as jid_full_string() normalises them: "domain",
 * "node@domain", "domain/resource" or "node@domain/resource". They go
 * with the account (deleted with it). SQLite only for now: these move into
 * struct store_backend when a second backend arrives. */
/* The account's items, sorted (byte order); free with store_strings_free(). */
int store_block_list(struct store *store, const char *jid, char ***items_r, size_t *n_r);
/* Add items (already present ones are kept once). STORE_ERR_FULL when the
 * list would grow past max_items (nothing is added then);
 * STORE_ERR_NOT_FOUND for no such account. */
int store_block_add(struct store *store, const char *jid, const char *const *items, size_t n,
		    size_t max_items);
/* Remove items (absent ones are ignored); n == 0 empties the list. */
int store_block_remove(struct store *store, const char *jid, const char *const *items, size_t n);
/* The accounts whose list is not empty, sorted; free with
 * store_strings_free(). */
int store_block_accounts(struct store *store, char ***jids_r, size_t *n_r);
/* STORE_OK when one of the candidates is on the account's list,
 * STORE_ERR_NOT_FOUND when none is. */
int store_block_match(struct store *store, const char *jid, const char *const *candidates,
		      size_t n);

/* ---- vcard-temp (XEP-0054), private XML storage (XEP-0049), last
 * activity (XEP-0012): common/store-sqlite-account.c ----
 * XML is stored as the bytes the caller serialized and returned the same,
 * NUL-terminated for convenience (free with free()). The rows go with the
 * account (deleted with it). SQLite only for now: these move into struct
 * store_backend when a second backend arrives. */
/* The account's vCard (xml_r may be NULL) and the SHA-1 hex of its photo
 * (*photo_hash_r NULL when it has none; photo_hash_r may be NULL).
 * STORE_ERR_NOT_FOUND when none is stored (or no such account). */
int store_vcard_get(struct store *store, const char *jid, char **xml_r, size_t *len_r,
		    char **photo_hash_r);
/* Replace the account's vCard. STORE_ERR_NOT_FOUND for no such account. */
int store_vcard_set(struct store *store, const char *jid, const char *xml, size_t len,
		    const char *photo_hash);
/* The element stored for (account, namespace). STORE_ERR_NOT_FOUND. */
int store_private_get(struct store *store, const char *jid, const char *ns, char **xml_r,
		      size_t *len_r);
/* Replace the element stored for (account, namespace). STORE_ERR_FULL when
 * the account's elements would then hold more than max_total bytes (0: no
 * cap; nothing changes then); STORE_ERR_NOT_FOUND for no such account. */
int store_private_set(struct store *store, const char *jid, const char *ns, const char *xml,
		      size_t len, size_t max_total);
/* When (Unix time) the account's last session ended, with the status text
 * of its unavailable presence (NULL when none). */
int store_last_set(struct store *store, const char *jid, int64_t logout, const char *status);
/* STORE_ERR_NOT_FOUND when never recorded (or no such account). */
int store_last_get(struct store *store, const char *jid, int64_t *logout_r, char **status_r);

#endif
