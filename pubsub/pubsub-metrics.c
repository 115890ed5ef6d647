/* pubsub-metrics.c: pubsub's Prometheus metrics (docs/operations.md): how
 * long storage calls take, and the link to the router. */
#include "metrics.h"
#include "pubsub.h"

static void pubsub_metrics_collect(struct buf *out, void *ctx)
{
	struct pubsub *ps = ctx;

	metrics_histogram_write(out, "junction_pubsub_store_seconds",
				"duration of each SQLite statement step on pubsub's database",
				&ps->store_seconds);
	metrics_write_component(out, "junction_pubsub", ps->component);
}

void pubsub_metrics_start(struct pubsub *ps)
{
	metrics_start(ps->loop, ps->config, "pubsub", &ps->metrics);
	metrics_add_collector(ps->metrics, pubsub_metrics_collect, ps);
	if (ps->metrics != NULL)
		metrics_time_db(&ps->store_seconds);
}

void pubsub_metrics_stop(struct pubsub *ps)
{
	metrics_time_db(NULL);
	metrics_stop(&ps->metrics);
}
