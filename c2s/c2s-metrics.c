/* c2s-metrics.c: c2s's Prometheus metrics (docs/operations.md): client
 * connections and sessions, stanzas from and to clients, logins, queues,
 * and the link to the router. */
#include "c2s.h"
#include "conn.h"
#include "metrics.h"

static void c2s_metrics_collect(struct buf *out, void *ctx)
{
	struct c2s *c2s = ctx;
	uint64_t connections = 0, sessions = 0, queued = 0;

	for (const struct c2s_client *c = c2s->clients; c != NULL; c = c->next) {
		connections++;
		sessions += c->established;
		queued += c2s_client_queued(c);
	}
	metrics_single(out, "junction_c2s_connections", "gauge", "client connections", connections);
	metrics_single(out, "junction_c2s_sessions", "gauge",
		       "clients with a session (bound resource, confirmed by sm)", sessions);
	metrics_single(out, "junction_c2s_stanzas_in_total", "counter",
		       "stanzas received from clients with a session", c2s->count.stanzas_in);
	metrics_single(out, "junction_c2s_stanzas_out_total", "counter",
		       "stanzas delivered to clients", c2s->count.stanzas_out);
	metrics_single(out, "junction_c2s_bounces_total", "counter",
		       "clients' stanzas answered with an error because sm could not take them",
		       c2s->count.bounces);
	metrics_family(out, "junction_c2s_logins_total", "counter",
		       "SASL authentication attempts by result");
	metrics_sample(out, "junction_c2s_logins_total", "result", "ok", c2s->count.logins_ok);
	metrics_sample(out, "junction_c2s_logins_total", "result", "failed",
		       c2s->count.logins_failed);
	metrics_single(out, "junction_c2s_client_queued_bytes", "gauge",
		       "bytes queued to clients, not yet written (all clients)", queued);
	metrics_single(out, "junction_c2s_sm_held_bytes", "gauge",
		       "bytes of clients' stanzas held while no sm serves their domain",
		       c2s->held_bytes);
	metrics_write_component(out, "junction_c2s", c2s->component);
}

void c2s_metrics_start(struct c2s *c2s)
{
	metrics_start(c2s->loop, c2s->config, "c2s", &c2s->metrics);
	metrics_add_collector(c2s->metrics, c2s_metrics_collect, c2s);
}

void c2s_metrics_stop(struct c2s *c2s)
{
	metrics_stop(&c2s->metrics);
}
