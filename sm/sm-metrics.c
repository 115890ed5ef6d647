/* sm-metrics.c: sm's Prometheus metrics (docs/operations.md): sessions,
 * bounces, offline storage, how long storage calls take, and the link to
 * the router. */
#include "metrics.h"
#include "sm.h"

static void sm_metrics_collect(struct buf *out, void *ctx)
{
	struct sm *sm = ctx;
	uint64_t sessions = 0, available = 0;

	for (const struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		sessions++;
		available += s->available;
	}
	metrics_single(out, "junction_sm_sessions", "gauge", "sessions on this sm", sessions);
	metrics_single(out, "junction_sm_sessions_available", "gauge",
		       "sessions that sent available presence", available);
	metrics_single(out, "junction_sm_bounces_total", "counter",
		       "stanzas sm answered with an error", sm->count.bounces);
	metrics_single(out, "junction_sm_offline_stored_total", "counter",
		       "messages stored for an offline user", sm->count.offline_stored);
	metrics_single(out, "junction_sm_sessions_handed_over_total", "counter",
		       "sessions handed over to another sm instance", sm->count.handed_over);
	metrics_single(out, "junction_sm_sessions_taken_over_total", "counter",
		       "sessions handed over by another sm instance", sm->count.taken_over);
	metrics_single(out, "junction_sm_handover_timeouts_total", "counter",
		       "handovers from another sm instance given up on",
		       sm->count.handover_timeouts);
	metrics_histogram_write(out, "junction_sm_store_seconds",
				"duration of each SQLite statement step on sm's database",
				&sm->store_seconds);
	metrics_write_component(out, "junction_sm", sm->component);
}

void sm_metrics_start(struct sm *sm)
{
	metrics_start(sm->loop, sm->config, "sm", &sm->metrics);
	metrics_add_collector(sm->metrics, sm_metrics_collect, sm);
	if (sm->metrics != NULL)
		metrics_time_db(&sm->store_seconds);
}

void sm_metrics_stop(struct sm *sm)
{
	metrics_time_db(NULL);
	metrics_stop(&sm->metrics);
}
