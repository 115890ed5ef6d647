/* metrics.c: writing Prometheus text exposition format 0.0.4 (see
 * metrics.h): family headers, samples, histograms. */
#include "metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "component.h"
#include "db.h"

/* Upper bounds of the histogram buckets, in seconds. */
static const double metrics_bounds[METRICS_HISTOGRAM_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
};

/* HELP text: backslash and newline escaped. */
static void metrics_escape(struct buf *out, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_append_str(out, "\\\\");
		else if (*s == '\n')
			buf_append_str(out, "\\n");
		else if (quote && *s == '"')
			buf_append_str(out, "\\\"");
		else
			buf_append(out, s, 1);
	}
}

void metrics_family(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s ", name);
	metrics_escape(out, help, false);
	buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

static void metrics_name(struct buf *out, const char *name, const char *label, const char *value)
{
	buf_append_str(out, name);
	if (label == NULL)
		return;
	buf_printf(out, "{%s=\"", label);
	metrics_escape(out, value, true);
	buf_append_str(out, "\"}");
}

void metrics_sample(struct buf *out, const char *name, const char *label, const char *value,
		    uint64_t v)
{
	metrics_name(out, name, label, value);
	buf_printf(out, " %llu\n", (unsigned long long)v);
}

void metrics_sample_double(struct buf *out, const char *name, const char *label,
			   const char *value, double v)
{
	metrics_name(out, name, label, value);
	buf_printf(out, " %.9g\n", v);
}

void metrics_single(struct buf *out, const char *name, const char *type, const char *help,
		    uint64_t v)
{
	metrics_family(out, name, type, help);
	metrics_sample(out, name, NULL, NULL, v);
}

void metrics_histogram_observe(struct metrics_histogram *h, double seconds)
{
	for (size_t i = 0; i < METRICS_HISTOGRAM_BUCKETS; i++)
		if (seconds <= metrics_bounds[i])
			h->bucket[i]++;
	h->count++;
	h->sum += seconds;
}

void metrics_histogram_write(struct buf *out, const char *name, const char *help,
			     const struct metrics_histogram *h)
{
	char bound[32];

	metrics_family(out, name, "histogram", help);
	for (size_t i = 0; i < METRICS_HISTOGRAM_BUCKETS; i++) {
		snprintf(bound, sizeof(bound), "%g", metrics_bounds[i]);
		buf_printf(out, "%s_bucket", name);
		metrics_sample(out, "", "le", bound, h->bucket[i]);
	}
	buf_printf(out, "%s_bucket", name);
	metrics_sample(out, "", "le", "+Inf", h->count);
	buf_printf(out, "%s_sum %.9g\n", name, h->sum);
	buf_printf(out, "%s_count %llu\n", name, (unsigned long long)h->count);
}

static void metrics_db_observe(double seconds, void *ctx)
{
	metrics_histogram_observe(ctx, seconds);
}

void metrics_time_db(struct metrics_histogram *h)
{
	db_set_timing_hook(h != NULL ? metrics_db_observe : NULL, h);
}

void metrics_write_component(struct buf *out, const char *prefix,
			     const struct component *component)
{
	struct component_counts c = component_counts(component);
	struct buf name = {0};

	buf_printf(&name, "%s_router_stanzas_in_total", prefix);
	metrics_single(out, name.data, "counter", "stanzas received from the router", c.in);
	buf_reset(&name);
	buf_printf(&name, "%s_router_stanzas_out_total", prefix);
	metrics_single(out, name.data, "counter", "stanzas sent (or queued) to the router",
		       c.out);
	buf_reset(&name);
	buf_printf(&name, "%s_router_refused_total", prefix);
	metrics_single(out, name.data, "counter",
		       "stanzas not sent: the router was away and the queue full", c.refused);
	buf_reset(&name);
	buf_printf(&name, "%s_router_queued_bytes", prefix);
	metrics_single(out, name.data, "gauge", "bytes waiting to reach the router",
		       component_queued(component));
	buf_reset(&name);
	buf_printf(&name, "%s_router_up", prefix);
	metrics_single(out, name.data, "gauge", "1 when the link to the router is up",
		       component_is_ready(component) ? 1 : 0);
	buf_free(&name);
}
