/* pubsub-store.c: pubsub's SQLite storage (see pubsub-store.h).
 *
 * Every table refers to nodes(id) with ON DELETE CASCADE, so deleting a
 * node removes its configuration, affiliations, subscriptions and items in
 * one statement. items.seq is an AUTOINCREMENT key: it only grows, so it
 * is the publish order even across deletes and restarts.
 */
#include "pubsub-store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"

struct pubsub_store {
	struct db *db;
};

/* The tables that refer to nodes, as both schema steps create them (step
 * 2 rebuilds them unchanged, see there). */
#define PUBSUB_STORE_NODE_CONFIG                                                   \
	"CREATE TABLE node_config (\n"                                             \
	"	node INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,\n"  \
	"	var TEXT NOT NULL,\n"                                              \
	"	value TEXT NOT NULL,\n"                                            \
	"	PRIMARY KEY (node, var)\n"                                         \
	");\n"
#define PUBSUB_STORE_AFFILIATIONS                                                  \
	"CREATE TABLE affiliations (\n"                                            \
	"	node INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,\n"  \
	"	jid TEXT NOT NULL,\n"                                              \
	"	affiliation TEXT NOT NULL CHECK (affiliation IN\n"                 \
	"		('owner', 'publisher', 'publish-only', 'member', 'outcast')),\n" \
	"	PRIMARY KEY (node, jid)\n"                                         \
	");\n"                                                                     \
	"CREATE INDEX affiliations_by_jid ON affiliations (jid);\n"
#define PUBSUB_STORE_SUBSCRIPTIONS                                                 \
	"CREATE TABLE subscriptions (\n"                                           \
	"	seq INTEGER PRIMARY KEY,\n"                                        \
	"	node INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,\n"  \
	"	jid TEXT NOT NULL,\n"                                              \
	"	bare TEXT NOT NULL,\n"                                             \
	"	subid TEXT NOT NULL,\n"                                            \
	"	state TEXT NOT NULL CHECK (state IN ('pending', 'unconfigured', 'subscribed')),\n" \
	"	deliver INTEGER NOT NULL CHECK (deliver IN (0, 1)),\n"             \
	"	UNIQUE (node, jid)\n"                                              \
	");\n"                                                                     \
	"CREATE INDEX subscriptions_by_bare ON subscriptions (bare);\n"
#define PUBSUB_STORE_ITEMS                                                         \
	"CREATE TABLE items (\n"                                                   \
	"	seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"                          \
	"	node INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,\n"  \
	"	id TEXT NOT NULL,\n"                                               \
	"	publisher TEXT NOT NULL,\n"                                        \
	"	published INTEGER NOT NULL,\n"                                     \
	"	payload TEXT,\n"                                                   \
	"	UNIQUE (node, id)\n"                                               \
	");\n"                                                                     \
	"CREATE INDEX items_by_node ON items (node, seq);\n"

/* Schema steps, applied in order by db_open(); never edit a released step,
 * append a new one. */
static const char *const pubsub_store_migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE nodes (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	name TEXT NOT NULL UNIQUE,\n"
	"	creator TEXT NOT NULL,\n"
	"	created INTEGER NOT NULL\n"
	");\n" PUBSUB_STORE_NODE_CONFIG PUBSUB_STORE_AFFILIATIONS PUBSUB_STORE_SUBSCRIPTIONS
		PUBSUB_STORE_ITEMS,
	/* 1 -> 2: node names are per service ('' = the pubsub domain, a bare
	 * JID = that account's PEP service). SQLite cannot change a UNIQUE
	 * constraint in place, and with foreign keys on a DROP of a parent
	 * table cascades (db_open() turns them on before migrating), so the
	 * old nodes table is renamed (its children's references follow it),
	 * every child is rebuilt against the new one and the old parent goes
	 * last, childless. */
	"ALTER TABLE nodes RENAME TO nodes_v1;\n"
	"CREATE TABLE nodes (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	service TEXT NOT NULL DEFAULT '',\n"
	"	name TEXT NOT NULL,\n"
	"	creator TEXT NOT NULL,\n"
	"	created INTEGER NOT NULL,\n"
	"	UNIQUE (service, name)\n"
	");\n"
	"INSERT INTO nodes (id, service, name, creator, created)\n"
	"	SELECT id, '', name, creator, created FROM nodes_v1;\n"
	"ALTER TABLE node_config RENAME TO node_config_v1;\n" PUBSUB_STORE_NODE_CONFIG
	"INSERT INTO node_config SELECT * FROM node_config_v1;\n"
	"DROP TABLE node_config_v1;\n"
	"DROP INDEX affiliations_by_jid;\n"
	"ALTER TABLE affiliations RENAME TO affiliations_v1;\n" PUBSUB_STORE_AFFILIATIONS
	"INSERT INTO affiliations SELECT * FROM affiliations_v1;\n"
	"DROP TABLE affiliations_v1;\n"
	"DROP INDEX subscriptions_by_bare;\n"
	"ALTER TABLE subscriptions RENAME TO subscriptions_v1;\n" PUBSUB_STORE_SUBSCRIPTIONS
	"INSERT INTO subscriptions SELECT * FROM subscriptions_v1;\n"
	"DROP TABLE subscriptions_v1;\n"
	"DROP INDEX items_by_node;\n"
	"ALTER TABLE items RENAME TO items_v1;\n" PUBSUB_STORE_ITEMS
	"INSERT INTO items SELECT * FROM items_v1;\n"
	/* AUTOINCREMENT: seq keeps growing from where it was. */
	"UPDATE sqlite_sequence SET seq = (SELECT max(seq) FROM sqlite_sequence\n"
	"	WHERE name IN ('items', 'items_v1')) WHERE name = 'items';\n"
	"DROP TABLE items_v1;\n"
	"DROP TABLE nodes_v1;\n",
};

static const char *const pubsub_aff_names[] = {"none", "owner", "publisher", "publish-only",
					       "member", "outcast", NULL};
static const char *const pubsub_state_names[] = {"none", "pending", "unconfigured", "subscribed",
						 NULL};

const char *pubsub_affiliation_name(enum pubsub_affiliation aff)
{
	return pubsub_aff_names[aff];
}

int pubsub_affiliation_parse(const char *name)
{
	for (int i = 0; name != NULL && pubsub_aff_names[i] != NULL; i++) {
		if (strcmp(pubsub_aff_names[i], name) == 0)
			return i;
	}
	return -1;
}

const char *pubsub_sub_state_name(enum pubsub_sub_state state)
{
	return pubsub_state_names[state];
}

int pubsub_sub_state_parse(const char *name)
{
	for (int i = 0; name != NULL && pubsub_state_names[i] != NULL; i++) {
		if (strcmp(pubsub_state_names[i], name) == 0)
			return i;
	}
	return -1;
}

int pubsub_store_open(const char *path, bool fsync_every_commit, struct pubsub_store **store_r,
		      char *err, size_t errlen)
{
	struct pubsub_store *s = xcalloc(1, sizeof(*s));

	*store_r = NULL;
	if (db_open(path, pubsub_store_migrations,
		    sizeof(pubsub_store_migrations) / sizeof(pubsub_store_migrations[0]), &s->db, err,
		    errlen) < 0) {
		free(s);
		return PUBSUB_STORE_ERR;
	}
	if (fsync_every_commit && db_set_fsync(s->db, true) < 0) {
		snprintf(err, errlen, "%s", db_error(s->db));
		db_close(&s->db);
		free(s);
		return PUBSUB_STORE_ERR;
	}
	*store_r = s;
	return PUBSUB_STORE_OK;
}

void pubsub_store_close(struct pubsub_store **store)
{
	if (*store == NULL)
		return;
	db_close(&(*store)->db);
	free(*store);
	*store = NULL;
}

const char *pubsub_store_error(const struct pubsub_store *s)
{
	return db_error(s->db);
}

static int pubsub_store_result(int r)
{
	if (r == DB_ERR_CONSTRAINT)
		return PUBSUB_STORE_CONFLICT;
	return r < 0 ? PUBSUB_STORE_ERR : PUBSUB_STORE_OK;
}

static char *pubsub_store_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* ---- nodes ---------------------------------------------------------- */

void pubsub_node_clear(struct pubsub_node *node)
{
	free(node->service);
	free(node->name);
	free(node->creator);
	pubsub_node_config_clear(&node->config);
	memset(node, 0, sizeof(*node));
}

static int pubsub_store_config_load(struct pubsub_store *s, struct pubsub_node *node)
{
	struct db_stmt *st;
	int r;

	pubsub_node_config_default(&node->config);
	r = db_query(s->db, &st, "SELECT var, value FROM node_config WHERE node = ?", "l", node->id);
	while (r == DB_OK && (r = db_step(st)) == DB_ROW) {
		const char *v = db_column_text(st, 1);
		/* A field a later version dropped keeps its default. */
		(void)pubsub_node_config_set(&node->config, db_column_text(st, 0), &v, 1);
		r = DB_OK;
	}
	db_stmt_free(&st);
	return pubsub_store_result(r);
}

int pubsub_store_node_get(struct pubsub_store *s, const char *service, const char *name,
			  struct pubsub_node *node_r)
{
	struct db_stmt *st;
	int r;

	memset(node_r, 0, sizeof(*node_r));
	r = db_query(s->db, &st,
		     "SELECT id, creator, created FROM nodes WHERE service = ? AND name = ?", "ss",
		     service, name);
	if (r == DB_OK)
		r = db_step(st);
	if (r == DB_ROW) {
		node_r->id = db_column_int(st, 0);
		node_r->service = xstrdup(service);
		node_r->name = xstrdup(name);
		node_r->creator = xstrdup(db_column_text(st, 1));
		node_r->created = db_column_int(st, 2);
	}
	db_stmt_free(&st);
	if (r == DB_OK)
		return PUBSUB_STORE_NOT_FOUND;
	if (r != DB_ROW)
		return PUBSUB_STORE_ERR;
	r = pubsub_store_config_load(s, node_r);
	if (r != PUBSUB_STORE_OK)
		pubsub_node_clear(node_r);
	return r;
}

static int pubsub_store_config_save(struct pubsub_store *s, int64_t id,
				    const struct pubsub_node_config *config)
{
	struct buf v = {0};
	const char *var;
	int r = DB_OK;

	for (size_t i = 0; r == DB_OK && (var = pubsub_node_config_var(i)) != NULL; i++) {
		buf_reset(&v);
		pubsub_node_config_get(config, var, &v);
		buf_append_char(&v, '\0');
		r = db_exec(s->db, "INSERT OR REPLACE INTO node_config (node, var, value) VALUES (?, ?, ?)",
			    "lss", id, var, v.data);
	}
	buf_free(&v);
	return r;
}

int pubsub_store_node_create(struct pubsub_store *s, const char *service, const char *name,
			     const char *owner, const struct pubsub_node_config *config)
{
	int r = db_begin(s->db);
	int64_t id = 0;
	struct db_stmt *st;

	if (r == DB_OK)
		r = db_exec(s->db,
			    "INSERT INTO nodes (service, name, creator, created) VALUES (?, ?, ?, ?)",
			    "sssl", service, name, owner, (int64_t)time(NULL));
	if (r == DB_OK) {
		r = db_query(s->db, &st, "SELECT id FROM nodes WHERE service = ? AND name = ?", "ss",
			     service, name);
		if (r == DB_OK && (r = db_step(st)) == DB_ROW) {
			id = db_column_int(st, 0);
			r = DB_OK;
		}
		db_stmt_free(&st);
	}
	if (r == DB_OK)
		r = pubsub_store_config_save(s, id, config);
	if (r == DB_OK)
		r = db_exec(s->db,
			    "INSERT INTO affiliations (node, jid, affiliation) VALUES (?, ?, 'owner')",
			    "ls", id, owner);
	if (r == DB_OK)
		r = db_commit(s->db);
	if (r != DB_OK)
		db_rollback(s->db);
	return pubsub_store_result(r);
}

int pubsub_store_node_configure(struct pubsub_store *s, int64_t id,
				const struct pubsub_node_config *config)
{
	int r = db_begin(s->db);

	if (r == DB_OK)
		r = pubsub_store_config_save(s, id, config);
	if (r == DB_OK && config->max_items != PUBSUB_MAX_ITEMS_UNLIMITED)
		r = db_exec(s->db,
			    "DELETE FROM items WHERE node = ? AND seq NOT IN "
			    "(SELECT seq FROM items WHERE node = ? ORDER BY seq DESC LIMIT ?)",
			    "lll", id, id, config->max_items);
	if (r == DB_OK && !config->persist_items)
		r = db_exec(s->db, "DELETE FROM items WHERE node = ?", "l", id);
	if (r == DB_OK)
		r = db_commit(s->db);
	if (r != DB_OK)
		db_rollback(s->db);
	return pubsub_store_result(r);
}

int pubsub_store_node_delete(struct pubsub_store *s, int64_t id)
{
	return pubsub_store_result(db_exec(s->db, "DELETE FROM nodes WHERE id = ?", "l", id));
}

void pubsub_store_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int pubsub_store_service_delete(struct pubsub_store *s, const char *service)
{
	return pubsub_store_result(db_exec(s->db, "DELETE FROM nodes WHERE service = ?", "s", service));
}

int pubsub_store_node_names(struct pubsub_store *s, const char *service, char ***names_r,
			    size_t *n_r)
{
	struct db_stmt *st;
	char **names = NULL;
	size_t n = 0;
	int r = db_query(s->db, &st, "SELECT name FROM nodes WHERE service = ? ORDER BY id", "s",
			 service);

	while (r == DB_OK && (r = db_step(st)) == DB_ROW) {
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(db_column_text(st, 0));
		r = DB_OK;
	}
	db_stmt_free(&st);
	if (r != DB_OK) {
		pubsub_store_names_free(names, n);
		return PUBSUB_STORE_ERR;
	}
	*names_r = names;
	*n_r = n;
	return PUBSUB_STORE_OK;
}

/* ---- affiliations ---------------------------------------------------- */

int pubsub_store_affiliation_get(struct pubsub_store *s, int64_t node, const char *bare,
				 enum pubsub_affiliation *aff_r)
{
	struct db_stmt *st;
	int r = db_query(s->db, &st, "SELECT affiliation FROM affiliations WHERE node = ? AND jid = ?",
			 "ls", node, bare);

	*aff_r = PUBSUB_AFF_NONE;
	if (r == DB_OK && (r = db_step(st)) == DB_ROW) {
		int a = pubsub_affiliation_parse(db_column_text(st, 0));
		*aff_r = a > 0 ? (enum pubsub_affiliation)a : PUBSUB_AFF_NONE;
		r = DB_OK;
	}
	db_stmt_free(&st);
	return pubsub_store_result(r);
}

int pubsub_store_affiliation_set(struct pubsub_store *s, int64_t node, const char *bare,
				 enum pubsub_affiliation aff)
{
	if (aff == PUBSUB_AFF_NONE)
		return pubsub_store_result(db_exec(
			s->db, "DELETE FROM affiliations WHERE node = ? AND jid = ?", "ls", node, bare));
	return pubsub_store_result(
		db_exec(s->db,
			"INSERT OR REPLACE INTO affiliations (node, jid, affiliation) VALUES (?, ?, ?)",
			"lss", node, bare, pubsub_affiliation_name(aff)));
}

void pubsub_store_affiliations_free(struct pubsub_affiliation_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].node);
		free(rows[i].jid);
	}
	free(rows);
}

int pubsub_store_affiliations(struct pubsub_store *s, const char *service, int64_t node,
			      const char *bare, struct pubsub_affiliation_row **rows_r, size_t *n_r)
{
	struct pubsub_affiliation_row *rows = NULL;
	struct db_stmt *st;
	size_t n = 0;
	int r = db_query(s->db, &st,
			 "SELECT n.name, a.jid, a.affiliation FROM affiliations a "
			 "JOIN nodes n ON n.id = a.node "
			 "WHERE (? = 0 OR a.node = ?) AND (? IS NULL OR a.jid = ?) "
			 "AND (? <> 0 OR n.service = ?) "
			 "ORDER BY n.id, a.jid",
			 "llssls", node, node, bare, bare, node, service);

	while (r == DB_OK && (r = db_step(st)) == DB_ROW) {
		int a = pubsub_affiliation_parse(db_column_text(st, 2));
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		rows[n].node = xstrdup(db_column_text(st, 0));
		rows[n].jid = xstrdup(db_column_text(st, 1));
		rows[n].affiliation = a > 0 ? (enum pubsub_affiliation)a : PUBSUB_AFF_NONE;
		n++;
		r = DB_OK;
	}
	db_stmt_free(&st);
	if (r != DB_OK) {
		pubsub_store_affiliations_free(rows, n);
		return PUBSUB_STORE_ERR;
	}
	*rows_r = rows;
	*n_r = n;
	return PUBSUB_STORE_OK;
}

/* ---- subscriptions --------------------------------------------------- */

void pubsub_subscription_clear(struct pubsub_subscription *sub)
{
	free(sub->node);
	free(sub->jid);
	free(sub->subid);
	memset(sub, 0, sizeof(*sub));
}

void pubsub_store_subscriptions_free(struct pubsub_subscription *subs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pubsub_subscription_clear(&subs[i]);
	free(subs);
}

#define PUBSUB_SUB_COLUMNS "n.name, s.jid, s.subid, s.state, s.deliver"

static void pubsub_store_sub_row(struct db_stmt *st, struct pubsub_subscription *sub)
{
	int state = pubsub_sub_state_parse(db_column_text(st, 3));

	sub->node = xstrdup(db_column_text(st, 0));
	sub->jid = xstrdup(db_column_text(st, 1));
	sub->subid = xstrdup(db_column_text(st, 2));
	sub->state = state > 0 ? (enum pubsub_sub_state)state : PUBSUB_SUB_NONE;
	sub->deliver = db_column_int(st, 4) != 0;
}

int pubsub_store_subscription_get(struct pubsub_store *s, int64_t node, const char *jid,
				  struct pubsub_subscription *sub_r)
{
	struct db_stmt *st;
	int r = db_query(s->db, &st,
			 "SELECT " PUBSUB_SUB_COLUMNS " FROM subscriptions s JOIN nodes n ON n.id = s.node "
			 "WHERE s.node = ? AND s.jid = ?",
			 "ls", node, jid);

	memset(sub_r, 0, sizeof(*sub_r));
	if (r == DB_OK)
		r = db_step(st);
	if (r == DB_ROW)
		pubsub_store_sub_row(st, sub_r);
	db_stmt_free(&st);
	if (r == DB_ROW)
		return PUBSUB_STORE_OK;
	return r == DB_OK ? PUBSUB_STORE_NOT_FOUND : PUBSUB_STORE_ERR;
}

int pubsub_store_subscription_put(struct pubsub_store *s, int64_t node,
				  const struct pubsub_subscription *sub)
{
	const char *slash = strchr(sub->jid, '/');
	char *bare = slash != NULL ? xstrndup(sub->jid, (size_t)(slash - sub->jid)) : xstrdup(sub->jid);
	/* An update keeps the row (and so its place in delivery order). */
	int r = db_exec(s->db,
			"INSERT INTO subscriptions (node, jid, bare, subid, state, deliver) "
			"VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (node, jid) DO UPDATE SET "
			"subid = excluded.subid, state = excluded.state, deliver = excluded.deliver",
			"lssssi", node, sub->jid, bare, sub->subid, pubsub_sub_state_name(sub->state),
			sub->deliver ? 1 : 0);

	free(bare);
	return pubsub_store_result(r);
}

int pubsub_store_subscription_delete(struct pubsub_store *s, int64_t node, const char *jid)
{
	int r = db_exec(s->db, "DELETE FROM subscriptions WHERE node = ? AND jid = ?", "ls", node,
			jid);

	if (r == DB_OK && db_changes(s->db) == 0)
		return PUBSUB_STORE_NOT_FOUND;
	return pubsub_store_result(r);
}

int pubsub_store_subscriptions(struct pubsub_store *s, const char *service, int64_t node,
			       const char *bare, struct pubsub_subscription **subs_r, size_t *n_r)
{
	struct pubsub_subscription *subs = NULL;
	struct db_stmt *st;
	size_t n = 0;
	int r = db_query(s->db, &st,
			 "SELECT " PUBSUB_SUB_COLUMNS " FROM subscriptions s JOIN nodes n ON n.id = s.node "
			 "WHERE (? = 0 OR s.node = ?) AND (? IS NULL OR s.bare = ?) "
			 "AND (? <> 0 OR n.service = ?) "
			 "ORDER BY s.seq",
			 "llssls", node, node, bare, bare, node, service);

	while (r == DB_OK && (r = db_step(st)) == DB_ROW) {
		subs = xrealloc(subs, (n + 1) * sizeof(*subs));
		pubsub_store_sub_row(st, &subs[n++]);
		r = DB_OK;
	}
	db_stmt_free(&st);
	if (r != DB_OK) {
		pubsub_store_subscriptions_free(subs, n);
		return PUBSUB_STORE_ERR;
	}
	*subs_r = subs;
	*n_r = n;
	return PUBSUB_STORE_OK;
}

/* ---- items ----------------------------------------------------------- */

void pubsub_item_clear(struct pubsub_item *item)
{
	free(item->id);
	free(item->publisher);
	free(item->payload);
	memset(item, 0, sizeof(*item));
}

void pubsub_store_items_free(struct pubsub_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pubsub_item_clear(&items[i]);
	free(items);
}

int pubsub_store_items_trim(struct pubsub_store *s, int64_t node, int64_t max_items)
{
	if (max_items == PUBSUB_MAX_ITEMS_UNLIMITED)
		return PUBSUB_STORE_OK;
	return pubsub_store_result(
		db_exec(s->db,
			"DELETE FROM items WHERE node = ? AND seq NOT IN "
			"(SELECT seq FROM items WHERE node = ? ORDER BY seq DESC LIMIT ?)",
			"lll", node, node, max_items));
}

int pubsub_store_item_publish(struct pubsub_store *s, int64_t node, const struct pubsub_item *item,
			      int64_t max_items)
{
	int r = db_begin(s->db);

	if (r == DB_OK)
		r = db_exec(s->db, "DELETE FROM items WHERE node = ? AND id = ?", "ls", node, item->id);
	if (r == DB_OK)
		r = db_exec(s->db,
			    "INSERT INTO items (node, id, publisher, published, payload) "
			    "VALUES (?, ?, ?, ?, ?)",
			    "lssls", node, item->id, item->publisher, (int64_t)time(NULL), item->payload);
	if (r == DB_OK && pubsub_store_items_trim(s, node, max_items) != PUBSUB_STORE_OK)
		r = DB_ERR;
	if (r == DB_OK)
		r = db_commit(s->db);
	if (r != DB_OK)
		db_rollback(s->db);
	return pubsub_store_result(r);
}

static void pubsub_store_item_row(struct db_stmt *st, struct pubsub_item *item)
{
	item->seq = db_column_int(st, 0);
	item->id = xstrdup(db_column_text(st, 1));
	item->publisher = xstrdup(db_column_text(st, 2));
	item->payload = pubsub_store_dup(db_column_text(st, 3));
}

int pubsub_store_item_get(struct pubsub_store *s, int64_t node, const char *id,
			  struct pubsub_item *item_r)
{
	struct db_stmt *st;
	int r = db_query(s->db, &st,
			 "SELECT seq, id, publisher, payload FROM items WHERE node = ? AND id = ?", "ls",
			 node, id);

	memset(item_r, 0, sizeof(*item_r));
	if (r == DB_OK)
		r = db_step(st);
	if (r == DB_ROW)
		pubsub_store_item_row(st, item_r);
	db_stmt_free(&st);
	if (r == DB_ROW)
		return PUBSUB_STORE_OK;
	return r == DB_OK ? PUBSUB_STORE_NOT_FOUND : PUBSUB_STORE_ERR;
}

int pubsub_store_item_delete(struct pubsub_store *s, int64_t node, const char *id)
{
	int r = db_exec(s->db, "DELETE FROM items WHERE node = ? AND id = ?", "ls", node, id);

	if (r == DB_OK && db_changes(s->db) == 0)
		return PUBSUB_STORE_NOT_FOUND;
	return pubsub_store_result(r);
}

int pubsub_store_items_purge(struct pubsub_store *s, int64_t node)
{
	return pubsub_store_result(db_exec(s->db, "DELETE FROM items WHERE node = ?", "l", node));
}

static int pubsub_store_count(struct pubsub_store *s, const char *sql, int64_t node, int64_t seq,
			      int64_t *n_r)
{
	struct db_stmt *st;
	int r = db_query(s->db, &st, sql, "ll", node, seq);

	if (r == DB_OK && (r = db_step(st)) == DB_ROW) {
		*n_r = db_column_int(st, 0);
		r = DB_OK;
	}
	db_stmt_free(&st);
	return r;
}

int pubsub_store_items(struct pubsub_store *s, int64_t node, const struct pubsub_item_query *q,
		       struct pubsub_item **items_r, size_t *n_r, int64_t *total_r,
		       int64_t *before_r)
{
	struct pubsub_item *items = NULL;
	struct db_stmt *st = NULL;
	size_t n = 0;
	int64_t before = q->before > 0 ? q->before : INT64_MAX;
	int r = db_begin_read(s->db);

	if (r == DB_OK)
		r = db_query(s->db, &st,
			     q->from_end ? "SELECT seq, id, publisher, payload FROM items WHERE node = ? "
					   "AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?"
					 : "SELECT seq, id, publisher, payload FROM items WHERE node = ? "
					   "AND seq > ? AND seq < ? ORDER BY seq LIMIT ?",
			     "llll", node, q->after, before, q->limit);
	while (r == DB_OK && (r = db_step(st)) == DB_ROW) {
		items = xrealloc(items, (n + 1) * sizeof(*items));
		pubsub_store_item_row(st, &items[n++]);
		r = DB_OK;
	}
	db_stmt_free(&st);
	if (r == DB_OK && q->from_end) {
		for (size_t i = 0; i < n / 2; i++) {
			struct pubsub_item t = items[i];
			items[i] = items[n - 1 - i];
			items[n - 1 - i] = t;
		}
	}
	if (r == DB_OK && total_r != NULL)
		r = pubsub_store_count(s, "SELECT count(*) FROM items WHERE node = ? AND seq > ?", node,
				       0, total_r);
	if (r == DB_OK && before_r != NULL)
		r = pubsub_store_count(s, "SELECT count(*) FROM items WHERE node = ? AND seq < ?", node,
				       n > 0 ? items[0].seq : INT64_MAX, before_r);
	if (r == DB_OK)
		r = db_commit(s->db);
	if (r != DB_OK) {
		db_rollback(s->db);
		pubsub_store_items_free(items, n);
		return PUBSUB_STORE_ERR;
	}
	*items_r = items;
	*n_r = n;
	return PUBSUB_STORE_OK;
}
