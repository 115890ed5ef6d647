/* s2s-metrics.c: s2s's Prometheus metrics (docs/operations.md): the link
 * to the router, whose stanzas in are those s2s carries to remote servers
 * and whose stanzas out are those remote servers sent. */
#include "metrics.h"
#include "s2s.h"

static void s2s_metrics_collect(struct buf *out, void *ctx)
{
	struct s2s *s2s = ctx;
	metrics_write_component(out, "junction_s2s", s2s->component);
}

void s2s_metrics_start(struct s2s *s2s)
{
	metrics_start(s2s->loop, s2s->config, "s2s", &s2s->metrics);
	metrics_add_collector(s2s->metrics, s2s_metrics_collect, s2s);
}

void s2s_metrics_stop(struct s2s *s2s)
{
	metrics_stop(&s2s->metrics);
}
