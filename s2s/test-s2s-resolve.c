/* test-s2s-resolve.c: the resolver's pure parts (special-use names, the
 * static hosts syntax, SRV ordering, TTLs of a DNS reply) and the static
 * resolver on a loop; no DNS query is ever sent. */
#include <arpa/inet.h>
#include <stdlib.h>

#include "s2s-resolve.h"
#include "test.h"

static void test_special(void)
{
	CHECK(s2s_resolve_special("nowhere.invalid"));
	CHECK(s2s_resolve_special("invalid"));
	CHECK(s2s_resolve_special("INVALID."));
	CHECK(s2s_resolve_special("a.localhost"));
	CHECK(s2s_resolve_special("x.onion"));
	CHECK(!s2s_resolve_special("example.net"));
	CHECK(!s2s_resolve_special("invalidx.net"));
	CHECK(!s2s_resolve_special("b.example"));
}

static void test_parse_host(void)
{
	char d[256];
	struct s2s_target t;

	CHECK(s2s_resolve_parse_host("Example.NET=127.0.0.3:5269", d, sizeof(d), &t) == 0);
	CHECK_STR(d, "example.net");
	CHECK(!t.direct_tls);
	CHECK(((struct sockaddr_in *)&t.addr)->sin_port == htons(5269));
	CHECK(s2s_resolve_parse_host("b.example = [::1]:5270/tls", d, sizeof(d), &t) == 0);
	CHECK_STR(d, "b.example");
	CHECK(t.direct_tls && t.addr.ss_family == AF_INET6);
	CHECK(s2s_resolve_parse_host("b.example=host.name:5269", d, sizeof(d), &t) < 0);
	CHECK(s2s_resolve_parse_host("=127.0.0.1:5269", d, sizeof(d), &t) < 0);
	CHECK(s2s_resolve_parse_host("b.example", d, sizeof(d), &t) < 0);
	CHECK(s2s_resolve_parse_host("b.example=127.0.0.1", d, sizeof(d), &t) < 0);
}

static uint32_t seq_state;
static uint32_t seq_rnd(void)
{
	return seq_state++;
}

static void test_srv_order(void)
{
	struct s2s_srv v[] = {
		{"c", 1, 20, 0, false}, {"a", 1, 10, 5, false}, {"b", 1, 10, 0, true},
		{"d", 1, 5, 1, false},
	};
	seq_state = 0;
	s2s_srv_order(v, 4, seq_rnd);
	CHECK_STR(v[0].host, "d");
	CHECK_STR(v[1].host, "b"); /* direct TLS first at equal priority */
	CHECK_STR(v[2].host, "a");
	CHECK_STR(v[3].host, "c");

	/* Weighted: over many draws the heavier one comes first more often. */
	unsigned first_heavy = 0;
	for (uint32_t i = 0; i < 100; i++) {
		struct s2s_srv w[] = {{"light", 1, 1, 10, false}, {"heavy", 1, 1, 90, false}};
		seq_state = i;
		s2s_srv_order(w, 2, seq_rnd);
		first_heavy += strcmp(w[0].host, "heavy") == 0;
	}
	CHECK(first_heavy > 70 && first_heavy < 100);
}

static void test_min_ttl(void)
{
	/* header: 1 question, 2 answers; question "a.b" SRV IN; answers with
	 * compressed names and TTLs 300 and 60. */
	static const unsigned char reply[] = {
		0, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
		1, 'a', 1, 'b', 0, 0, 33, 0, 1,
		0xc0, 12, 0, 33, 0, 1, 0, 0, 1, 44, 0, 2, 0xaa, 0xbb,
		0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 0,
	};
	CHECK(s2s_dns_min_ttl(reply, sizeof(reply)) == 60);
	CHECK(s2s_dns_min_ttl(reply, 10) == 0);
}

static int answers;
static size_t last_n;
static void on_resolved(void *ctx, const struct s2s_target *t, size_t n, const char *why)
{
	(void)t;
	(void)why;
	(void)ctx;
	answers++;
	last_n = n;
}

static void test_static_resolver(void)
{
	const char *hosts[] = {"b.example=127.0.0.3:5269", "b.example=127.0.0.4:5270/tls"};
	struct s2s_resolver *r;
	char err[256];
	uv_loop_t loop;

	uv_loop_init(&loop);
	CHECK(s2s_resolver_new(&loop, false, NULL, hosts, 2, &r, err, sizeof(err)) == 0);
	answers = 0;
	s2s_resolve(r, "b.example", on_resolved, NULL);
	CHECK(answers == 0); /* never from inside s2s_resolve() */
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK(answers == 1 && last_n == 2);
	s2s_resolve(r, "c.example", on_resolved, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK(answers == 2 && last_n == 0);
	struct s2s_resolve_req *q = s2s_resolve(r, "x.invalid", on_resolved, NULL);
	s2s_resolve_cancel(q);
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK(answers == 2);
	s2s_resolver_free(&r);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);

	const char *bad[] = {"b.example=name:5269"};
	CHECK(s2s_resolver_new(&loop, false, NULL, bad, 1, &r, err, sizeof(err)) < 0);
}

static const struct test tests[] = {
	TEST(test_special), TEST(test_parse_host), TEST(test_srv_order), TEST(test_min_ttl),
	TEST(test_static_resolver), {NULL, NULL},
};

int main(void)
{
	return test_run(tests);
}
