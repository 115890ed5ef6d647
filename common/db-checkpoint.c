/* db-checkpoint.c: periodic PASSIVE WAL checkpoints on libuv's thread pool,
 * so the fsyncs of a checkpoint never run on the event loop (see
 * db-checkpoint.h). The worker's connection is touched only by the one
 * work item in flight; the loop thread only reads flags. */
#include "db-checkpoint.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "log.h"
#include "buf.h"

struct db_checkpointer {
	uv_timer_t timer;
	uv_work_t work;
	struct db *db; /* the worker's own connection */
	bool busy;     /* a work item is queued or running */
	bool stopping;
	bool timer_closed;
	int result;    /* the last checkpoint's, set on the worker thread */
	uint64_t runs;
};

static void db_checkpointer_free_if_done(struct db_checkpointer *cp)
{
	if (cp->stopping && cp->timer_closed && !cp->busy) {
		db_close(&cp->db);
		free(cp);
	}
}

static void db_checkpointer_work(uv_work_t *work)
{
	struct db_checkpointer *cp = work->data;

	cp->result = db_checkpoint(cp->db, NULL, NULL);
}

static void db_checkpointer_after(uv_work_t *work, int status)
{
	struct db_checkpointer *cp = work->data;

	cp->busy = false;
	cp->runs++;
	if (status == 0 && cp->result < 0)
		JLOG_WARN(0, "%s", db_error(cp->db));
	db_checkpointer_free_if_done(cp);
}

static void db_checkpointer_tick(uv_timer_t *timer)
{
	struct db_checkpointer *cp = timer->data;

	if (cp->busy || cp->stopping)
		return;
	cp->busy = true;
	if (uv_queue_work(timer->loop, &cp->work, db_checkpointer_work, db_checkpointer_after) < 0)
		cp->busy = false;
}

static void db_checkpointer_timer_closed(uv_handle_t *handle)
{
	struct db_checkpointer *cp = handle->data;

	cp->timer_closed = true;
	db_checkpointer_free_if_done(cp);
}

int db_checkpointer_start(uv_loop_t *loop, const char *path, uint64_t interval_ms,
			  struct db_checkpointer **cp_r, char *err, size_t errlen)
{
	struct db_checkpointer *cp = xcalloc(1, sizeof(*cp));

	*cp_r = NULL;
	if (db_open(path, NULL, 0, &cp->db, err, errlen) < 0) {
		free(cp);
		return -1;
	}
	cp->work.data = cp;
	uv_timer_init(loop, &cp->timer);
	cp->timer.data = cp;
	uv_timer_start(&cp->timer, db_checkpointer_tick, interval_ms, interval_ms);
	*cp_r = cp;
	return 0;
}

void db_checkpointer_stop(struct db_checkpointer **cpp)
{
	struct db_checkpointer *cp = *cpp;

	if (cp == NULL)
		return;
	*cpp = NULL;
	cp->stopping = true;
	uv_close((uv_handle_t *)&cp->timer, db_checkpointer_timer_closed);
}

uint64_t db_checkpointer_runs(const struct db_checkpointer *cp)
{
	return cp->runs;
}
