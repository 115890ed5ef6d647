/* metrics.h: Prometheus metrics of one process, text exposition format
 * 0.0.4, served over HTTP (GET /metrics) on a loopback port.
 *
 * Values are not copied anywhere as they change: each process keeps its
 * counters where the work happens (its own structs) and registers collector
 * callbacks that write the current values when a scrape comes in. The
 * server (metrics-server.c) listens at [junction] metrics plus the
 * process's offset (router 0, c2s 1, sm 2, s2s 3, pubsub 4), on the
 * process's loop, and writes junction_uptime_seconds and
 * junction_start_time_seconds itself. Writing (metrics.c) is plain text
 * into a struct buf: a family header (HELP, TYPE), then its samples.
 *
 *   struct metrics *m;
 *   metrics_start(loop, cfg, "sm", &m);                   // m NULL when off
 *   metrics_add_collector(m, sm_metrics_collect, sm);               // NULL m: no-op
 *   // in the collector:
 *   metrics_family(out, "junction_sm_sessions", "gauge", "sessions on this sm");
 *   metrics_sample(out, "junction_sm_sessions", NULL, NULL, n);
 *   ...
 *   metrics_stop(&m);  // before conn_loop_deinit(); handles close on the loop
 */
#ifndef JUNCTION_METRICS_H
#define JUNCTION_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct buf;
struct config;
struct component;
struct metrics;

/* ---- writing (metrics.c) ---- */

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void metrics_family(struct buf *out, const char *name, const char *type, const char *help);
/* One sample: name{label="value"} v, or name v when label is NULL. The
 * value is escaped as the format requires. */
void metrics_sample(struct buf *out, const char *name, const char *label, const char *value,
		    uint64_t v);
void metrics_sample_double(struct buf *out, const char *name, const char *label,
			   const char *value, double v);
/* Family and one unlabelled sample in one call. */
void metrics_single(struct buf *out, const char *name, const char *type, const char *help,
		    uint64_t v);

/* A histogram of durations in seconds with fixed buckets (100 us .. 1 s,
 * then +Inf), for storage latency. Zero-initialised is empty. */
#define METRICS_HISTOGRAM_BUCKETS 10
struct metrics_histogram {
	uint64_t bucket[METRICS_HISTOGRAM_BUCKETS]; /* observations <= each bound */
	uint64_t count;
	double sum;
};
void metrics_histogram_observe(struct metrics_histogram *h, double seconds);
void metrics_histogram_write(struct buf *out, const char *name, const char *help,
			     const struct metrics_histogram *h);

/* Observe the duration of every SQLite statement step of this process into
 * h (db.h's timing hook, loop thread only); NULL stops. */
void metrics_time_db(struct metrics_histogram *h);

/* The link to the router of a component process: stanzas in and out,
 * refused sends, bytes queued, whether it is up. prefix: "junction_sm". */
void metrics_write_component(struct buf *out, const char *prefix,
			     const struct component *component);

/* ---- serving (metrics-server.c) ---- */

typedef void metrics_collect_cb(struct buf *out, void *ctx);

/* Listen if [junction] metrics is set. *metrics_r is NULL when it is not,
 * or when the port cannot be bound (a warning is logged: the process runs
 * on without metrics). conn_loop_init() must have run. */
void metrics_start(uv_loop_t *loop, const struct config *config, const char *process,
		   struct metrics **metrics_r);
/* The port process listens on for [junction] metrics = HOST:base. */
unsigned metrics_port(unsigned base, const char *process);
void metrics_add_collector(struct metrics *metrics, metrics_collect_cb *cb, void *ctx);
/* Close the listener and every scrape connection; frees once closed. */
void metrics_stop(struct metrics **metrics);

#endif
