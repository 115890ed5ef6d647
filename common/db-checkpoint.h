/* db-checkpoint.h: WAL checkpoints off the event loop.
 *
 * A process that writes a SQLite database from its libuv loop turns
 * SQLite's automatic checkpoint off (db_set_autocheckpoint(db, false)) and
 * starts a checkpointer: every interval it runs one PASSIVE checkpoint on
 * libuv's thread pool, through a second connection of its own. The copy of
 * WAL pages into the database and the fsyncs that go with it (a few
 * milliseconds under write load) then never delay a stanza; the loop's
 * commits stay single write() calls to the WAL.
 *
 *   db_checkpointer_start(loop, path, 1000, &cp, err, sizeof err);
 *   ...
 *   db_checkpointer_stop(&cp);  // before the loop's last uv_run()
 */
#ifndef JUNCTION_DB_CHECKPOINT_H
#define JUNCTION_DB_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct db_checkpointer;

/* Returns 0, or -1 with a message in err (the second connection could not
 * be opened). */
int db_checkpointer_start(uv_loop_t *loop, const char *path, uint64_t interval_ms,
			  struct db_checkpointer **cp_r, char *err, size_t errlen);
/* Stop the timer; a checkpoint in progress finishes on its thread and the
 * memory is freed once it has and the timer handle is closed. */
void db_checkpointer_stop(struct db_checkpointer **cp);
/* Checkpoints run so far (for tests and status). */
uint64_t db_checkpointer_runs(const struct db_checkpointer *cp);

#endif
