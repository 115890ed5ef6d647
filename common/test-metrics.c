/* test-metrics.c: unit tests for metrics.c (the text format, histograms)
 * and pidfile.c (writing, listing, stale files). */
#include <stdlib.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"
#include "pidfile.h"
#include "test.h"

static void test_family_and_samples(void)
{
	struct buf out = {0};

	metrics_family(&out, "junction_x_total", "counter", "a \\ help\nline");
	metrics_sample(&out, "junction_x_total", NULL, NULL, 7);
	metrics_sample(&out, "junction_x_total", "stream", "a\"b\\c\nd", 18446744073709551615ULL);
	metrics_sample_double(&out, "junction_y", "le", "0.5", 0.25);
	CHECK_STR(out.data, "# HELP junction_x_total a \\\\ help\\nline\n"
			    "# TYPE junction_x_total counter\n"
			    "junction_x_total 7\n"
			    "junction_x_total{stream=\"a\\\"b\\\\c\\nd\"} 18446744073709551615\n"
			    "junction_y{le=\"0.5\"} 0.25\n");
	buf_free(&out);
}

static void test_histogram_is_cumulative(void)
{
	struct metrics_histogram h = {0};
	struct buf out = {0};
	/* One below the first bound, one on a bound, one between, one above all. */
	static const double seen[] = {0.00005, 0.001, 0.003, 2.0};

	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		metrics_histogram_observe(&h, seen[i]);
	CHECK(h.count == 4);
	CHECK(h.bucket[0] == 1);                              /* <= 0.0001 */
	CHECK(h.bucket[3] == 2);                              /* <= 0.001 */
	CHECK(h.bucket[5] == 3);                              /* <= 0.005 */
	CHECK(h.bucket[METRICS_HISTOGRAM_BUCKETS - 1] == 3); /* <= 1 */
	metrics_histogram_write(&out, "junction_s", "latency", &h);
	CHECK(strstr(out.data, "# TYPE junction_s histogram\n") != NULL);
	CHECK(strstr(out.data, "junction_s_bucket{le=\"0.0001\"} 1\n") != NULL);
	CHECK(strstr(out.data, "junction_s_bucket{le=\"1\"} 3\n") != NULL);
	CHECK(strstr(out.data, "junction_s_bucket{le=\"+Inf\"} 4\n") != NULL);
	CHECK(strstr(out.data, "junction_s_count 4\n") != NULL);
	CHECK(strstr(out.data, "junction_s_sum 2.00405\n") != NULL);
	buf_free(&out);
}

static void test_ports(void)
{
	CHECK(metrics_port(9100, "router") == 9100);
	CHECK(metrics_port(9100, "c2s") == 9101);
	CHECK(metrics_port(9100, "sm") == 9102);
	CHECK(metrics_port(9100, "s2s") == 9103);
	CHECK(metrics_port(9100, "pubsub") == 9104);
}

static void test_pidfile_write_list_remove(void)
{
	char dir[] = "/tmp/test-pidfile-XXXXXX", path[PIDFILE_PATH_MAX], err[256];
	struct pidfile_entry *e;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	/* This test program is not junction-sm: the file it writes is stale. */
	CHECK(pidfile_write(dir, "sm", path, sizeof(path), err, sizeof(err)) == 0);
	CHECK(strstr(path, "/junction-sm.pid") != NULL);
	/* A stale file of a dead process, and files that are not pid files. */
	char other[PIDFILE_PATH_MAX + 32];
	snprintf(other, sizeof(other), "%s/junction-c2s.4194304.pid", dir);
	FILE *f = fopen(other, "w");
	fprintf(f, "4194304\n");
	fclose(f);
	snprintf(other, sizeof(other), "%s/junction-sm.out", dir);
	fclose(fopen(other, "w"));
	CHECK(pidfile_list(dir, &e, &n) == 0);
	CHECK(n == 2);
	if (n == 2) {
		CHECK_STR(e[0].name, "c2s");
		CHECK(e[0].pid == 4194304 && !e[0].alive);
		CHECK_STR(e[1].name, "sm");
		CHECK(e[1].pid == getpid() && !e[1].alive);
	}
	free(e);
	pidfile_remove(path);
	CHECK(access(path, F_OK) != 0);
	snprintf(other, sizeof(other), "%s/junction-c2s.4194304.pid", dir);
	unlink(other);
	snprintf(other, sizeof(other), "%s/junction-sm.out", dir);
	unlink(other);
	CHECK(pidfile_list(dir, &e, &n) == 0 && n == 0 && e == NULL);
	rmdir(dir);
	CHECK(pidfile_list(dir, &e, &n) < 0);
}

static const struct test tests[] = {
	TEST(test_family_and_samples),
	TEST(test_histogram_is_cumulative),
	TEST(test_ports),
	TEST(test_pidfile_write_list_remove),
	{NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
