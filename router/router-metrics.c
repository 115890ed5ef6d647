/* router-metrics.c: the router's Prometheus metrics (docs/operations.md):
 * stanzas in, out, bounced and rejected over every stream since start, and
 * each stream's output queue. */
#include "buf.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "router.h"

static void router_metrics_collect(struct buf *out, void *ctx)
{
	struct router *router = ctx;
	struct router_stream_counters total = router->gone;
	uint64_t streams = 0;

	for (const struct router_stream *s = router->streams; s != NULL; s = s->next) {
		total.in += s->count.in;
		total.out += s->count.out;
		total.bounced += s->count.bounced;
		total.rejected += s->count.rejected;
		streams += s->state == ROUTER_STREAM_READY;
	}
	metrics_single(out, "junction_router_stanzas_in_total", "counter",
		       "stanzas read from component streams", total.in);
	metrics_single(out, "junction_router_stanzas_out_total", "counter",
		       "stanzas queued to component streams", total.out);
	metrics_single(out, "junction_router_bounces_total", "counter",
		       "stanzas answered with an error by the router (no route, queue full, "
		       "stream gone)",
		       total.bounced);
	metrics_single(out, "junction_router_rejected_total", "counter",
		       "stanzas refused for a bad or forged address", total.rejected);
	metrics_single(out, "junction_router_streams", "gauge",
		       "authenticated component streams", streams);
	metrics_family(out, "junction_router_queued_bytes", "gauge",
		       "bytes queued to each component stream, not yet written");
	for (const struct router_stream *s = router->streams; s != NULL; s = s->next)
		if (s->state == ROUTER_STREAM_READY)
			metrics_sample(out, "junction_router_queued_bytes", "stream", s->name,
				       conn_queued(s->conn));
}

void router_metrics_stream_gone(struct router *router, const struct router_stream *stream)
{
	router->gone.in += stream->count.in;
	router->gone.out += stream->count.out;
	router->gone.bounced += stream->count.bounced;
	router->gone.rejected += stream->count.rejected;
}

void router_metrics_start(struct router *router)
{
	metrics_start(router->loop, router->config, "router", &router->metrics);
	metrics_add_collector(router->metrics, router_metrics_collect, router);
}

void router_metrics_stop(struct router *router)
{
	metrics_stop(&router->metrics);
}
