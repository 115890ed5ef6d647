/* test-config.c: unit tests for config.c and config-schema.c.
 *
 * Each test writes a configuration file into a private temporary directory
 * and loads it. Error cases compare the whole message, because operators
 * and `junctionctl check` see exactly that line.
 */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static char test_dir[PATH_MAX];
static char test_path[PATH_MAX + 32];

/* Write content as the test configuration file; returns its path. */
static const char *write_file(const char *content, size_t len)
{
	FILE *f = fopen(test_path, "wb");

	CHECK(f != NULL);
	if (f == NULL)
		return test_path;
	CHECK(fwrite(content, 1, len, f) == len);
	fclose(f);
	return test_path;
}

static struct config *load_ok(const char *content)
{
	struct config *c = NULL;
	char err[512] = "";

	write_file(content, strlen(content));
	if (config_load(test_path, &c, err, sizeof(err)) < 0) {
		printf("  unexpected error: %s\n", err);
		CHECK(!"config_load failed");
	}
	return c;
}

/* Loading content must fail with exactly "PATH" + suffix. */
static void check_error_len(const char *content, size_t len, const char *suffix)
{
	struct config *c = (struct config *)1;
	char err[512] = "", want[PATH_MAX + 32 + 512];

	write_file(content, len);
	snprintf(want, sizeof(want), "%s%s", test_path, suffix);
	CHECK(config_load(test_path, &c, err, sizeof(err)) == -1);
	CHECK(c == NULL);
	CHECK_STR(err, want);
}

static void check_error(const char *content, const char *suffix)
{
	check_error_len(content, strlen(content), suffix);
}

static const char good_file[] =
	"# Junction test configuration\n"
	"; both comment styles\n"
	"\n"
	"[junction]\n"
	"domains = example.com, Chat.Example.ORG\n"
	"data_dir = /srv/junction\n"
	"log_level = debug\n"
	"syslog = yes\n"
	"\n"
	"[router]\n"
	"listen = [::1]:5348\n"
	"listen_unix = /run/junction/router.sock\n"
	"secret = s3cr3t\n"
	"max_stanza_bytes = 512K\n"
	"max_depth = 32\n"
	"max_attrs = 16\n"
	"queue_limit = 2M\n"
	"stall_timeout = 30s\n"
	"handshake_timeout = 500ms\n"
	"log_level = warn\n"
	"\n"
	"[component gateway.example.com]\n"
	"secret = gw-secret\n"
	"\n"
	"[component Pubsub.Example.COM]\n"
	"secret = ps-secret\n";

static void test_good_file(void)
{
	struct config *c = load_ok(good_file);
	const char *const *list;
	size_t n;

	if (c == NULL)
		return;
	CHECK_STR(config_path(c), test_path);
	list = config_get_list(c, "junction", "domains", &n);
	CHECK(n == 2);
	CHECK_STR(list[0], "example.com");
	CHECK_STR(list[1], "chat.example.org"); /* normalised */
	CHECK_STR(config_get(c, "junction", "domains"), "example.com, Chat.Example.ORG");
	CHECK_STR(config_get(c, "junction", "data_dir"), "/srv/junction");
	CHECK_STR(config_get(c, "junction", "log_level"), "debug");
	CHECK(config_get_bool(c, "junction", "syslog"));
	CHECK_STR(config_get(c, "router", "listen"), "[::1]:5348");
	CHECK_STR(config_get(c, "router", "listen_unix"), "/run/junction/router.sock");
	CHECK_STR(config_get(c, "router", "secret"), "s3cr3t");
	CHECK(config_get_size(c, "router", "max_stanza_bytes") == 512 * 1024);
	CHECK(config_get_uint(c, "router", "max_depth") == 32);
	CHECK(config_get_uint(c, "router", "max_attrs") == 16);
	CHECK(config_get_size(c, "router", "queue_limit") == 2 * 1024 * 1024);
	CHECK(config_get_duration_ms(c, "router", "stall_timeout") == 30000);
	CHECK(config_get_duration_ms(c, "router", "handshake_timeout") == 500);
	CHECK_STR(config_get(c, "router", "log_level"), "warn");
	CHECK(config_line(c, "junction", "domains") == 5);
	CHECK(config_line(c, "router", "secret") == 13);
	CHECK(config_line(c, "router", "max_depth") == 15);

	CHECK_STR(config_component_name(c, 0), "gateway.example.com");
	CHECK_STR(config_component_name(c, 1), "pubsub.example.com");
	CHECK(config_component_name(c, 2) == NULL);
	CHECK_STR(config_component_secret(c, "gateway.example.com"), "gw-secret");
	CHECK_STR(config_component_secret(c, "PUBSUB.example.com."), "ps-secret");
	CHECK(config_component_secret(c, "other.example.com") == NULL);
	CHECK(config_component_secret(c, "not a domain") == NULL);
	CHECK_STR(config_get(c, "component Gateway.Example.com", "secret"), "gw-secret");
	CHECK(config_line(c, "component gateway.example.com", "secret") == 23);
	config_free(&c);
	CHECK(c == NULL);
	config_free(&c); /* harmless on NULL */
}

static void test_defaults(void)
{
	struct config *c = load_ok("[router]\nsecret = s\n");
	const char *const *list;
	size_t n;

	if (c == NULL)
		return;
	list = config_get_list(c, "junction", "domains", &n);
	CHECK(n == 1);
	CHECK_STR(list[0], "localhost");
	CHECK_STR(config_get(c, "junction", "data_dir"), "/var/lib/junction");
	CHECK_STR(config_get(c, "junction", "log_level"), "info");
	CHECK(!config_get_bool(c, "junction", "syslog"));
	CHECK_STR(config_get(c, "router", "listen"), "127.0.0.1:5347");
	CHECK(config_get(c, "router", "listen_unix") == NULL);
	CHECK(config_get_size(c, "router", "max_stanza_bytes") == 256 * 1024);
	CHECK(config_get_uint(c, "router", "max_depth") == 64);
	CHECK(config_get_uint(c, "router", "max_attrs") == 64);
	CHECK(config_get_size(c, "router", "queue_limit") == 1024 * 1024);
	CHECK(config_get_duration_ms(c, "router", "stall_timeout") == 10000);
	CHECK(config_get_duration_ms(c, "router", "handshake_timeout") == 10000);
	CHECK(config_get(c, "router", "log_level") == NULL);
	CHECK(config_line(c, "router", "listen") == 0);
	CHECK(config_line(c, "router", "secret") == 2);
	CHECK(config_component_name(c, 0) == NULL);
	CHECK(config_get(c, "component x.example", "secret") == NULL);
	config_free(&c);
}

static void test_errors(void)
{
	static const char secret[] = "[router]\nsecret = s\n";
	char buf[1024];

	check_error("[router]\nsecret = s\nbogus = 1\n", ":3: [router] bogus: unknown key");
	check_error("[router]\nsecret = s\n\n[bogus]\nkey = 1\n", ":4: [bogus]: unknown section");
	check_error("[bogus]\n", ":1: [bogus]: unknown section");
	check_error("[Router]\n", ":1: [Router]: unknown section");
	check_error("[componentx]\n", ":1: [componentx]: unknown section");
	check_error("[]\n", ":1: []: unknown section");
	check_error("[router]\nmax_stanza_bytes = 12Q\n",
		    ":2: [router] max_stanza_bytes: bad size \"12Q\": expected a number of bytes "
		    "with an optional suffix K, M or G");
	check_error("[router]\nqueue_limit = 1KB\n",
		    ":2: [router] queue_limit: bad size \"1KB\": expected a number of bytes "
		    "with an optional suffix K, M or G");
	check_error("[router]\nqueue_limit = 99999999999999999999\n",
		    ":2: [router] queue_limit: bad size \"99999999999999999999\": expected a "
		    "number of bytes with an optional suffix K, M or G");
	check_error("[junction]\nsyslog = maybe\n",
		    ":2: [junction] syslog: bad boolean \"maybe\": expected yes/no, true/false, "
		    "on/off or 1/0");
	check_error("[router]\nlisten = nohost\n",
		    ":2: [router] listen: bad host:port \"nohost\": missing \":PORT\"");
	check_error("[router]\nlisten = 127.0.0.1:70000\n",
		    ":2: [router] listen: bad host:port \"127.0.0.1:70000\": port must be a "
		    "number from 1 to 65535");
	check_error("[router]\nlisten = 127.0.0.1:0\n",
		    ":2: [router] listen: bad host:port \"127.0.0.1:0\": port must be a number "
		    "from 1 to 65535");
	check_error("[router]\nlisten = :5347\n",
		    ":2: [router] listen: bad host:port \":5347\": missing host");
	check_error("[router]\nlisten = ::1:5347\n",
		    ":2: [router] listen: bad host:port \"::1:5347\": an IPv6 address needs "
		    "brackets: [ADDRESS]:PORT");
	check_error("[router]\nlisten = [zz::1]:5347\n",
		    ":2: [router] listen: bad host:port \"[zz::1]:5347\": bad IPv6 address");
	check_error("[router]\nlisten = 300.1.1.1:5347\n",
		    ":2: [router] listen: bad host:port \"300.1.1.1:5347\": bad IPv4 address");
	check_error("[router]\nlisten = bad_host:5347\n",
		    ":2: [router] listen: bad host:port \"bad_host:5347\": bad host name");
	check_error("[router]\nstall_timeout = 10x\n",
		    ":2: [router] stall_timeout: bad duration \"10x\": expected a number of "
		    "seconds or a number with suffix ms, s, m or h");
	check_error("[router]\nstall_timeout = s\n",
		    ":2: [router] stall_timeout: bad duration \"s\": expected a number of "
		    "seconds or a number with suffix ms, s, m or h");
	check_error("[router]\nmax_depth = -1\n",
		    ":2: [router] max_depth: bad unsigned integer \"-1\"");
	check_error("[router]\nmax_depth = 12abc\n",
		    ":2: [router] max_depth: bad unsigned integer \"12abc\"");
	check_error("[junction]\nlog_level = verbose\n",
		    ":2: [junction] log_level: bad log level \"verbose\": expected error, warn, "
		    "info or debug");
	check_error("[junction]\ndata_dir = var/lib\n",
		    ":2: [junction] data_dir: path \"var/lib\" is not absolute");
	check_error("[junction]\ndomains = example.com, bad domain\n",
		    ":2: [junction] domains: bad domain \"bad domain\": invalid domainpart");
	check_error("[junction]\ndomains = user@example.com\n",
		    ":2: [junction] domains: bad domain \"user@example.com\": a domain cannot "
		    "contain '@'");
	check_error("[junction]\ndomains = example.com/r\n",
		    ":2: [junction] domains: bad domain \"example.com/r\": a domain cannot "
		    "contain '/'");
	check_error("[junction]\ndomains = a.example,,b.example\n",
		    ":2: [junction] domains: empty item in list \"a.example,,b.example\"");
	check_error("[junction]\ndomains = a.example, A.EXAMPLE.\n",
		    ":2: [junction] domains: domain \"A.EXAMPLE.\" listed twice");
	check_error("[router]\nsecret =\n", ":2: [router] secret: empty value");
	check_error("[junction]\n", ": [router] secret: required key missing");
	check_error("", ": [router] secret: required key missing");
	check_error("[router]\nsecret = a\nlisten = 127.0.0.1:1\nsecret = b\n",
		    ":4: [router] secret: duplicate key, first set on line 2");
	check_error("[router]\nsecret = a\n[router]\n",
		    ":3: [router]: duplicate section, first on line 1");

	snprintf(buf, sizeof(buf), "%s[component foo@bar.example]\nsecret = x\n", secret);
	check_error(buf, ":3: [component foo@bar.example]: bad component name: a domain "
			 "cannot contain '@'");
	snprintf(buf, sizeof(buf), "%s[component bad..example]\nsecret = x\n", secret);
	check_error(buf, ":3: [component bad..example]: bad component name: invalid domainpart");
	snprintf(buf, sizeof(buf), "%s[component]\nsecret = x\n", secret);
	check_error(buf, ":3: [component]: missing component name, expected [component NAME]");
	snprintf(buf, sizeof(buf), "%s[component gw.example]\n", secret);
	check_error(buf, ": [component gw.example] secret: required key missing");
	snprintf(buf, sizeof(buf), "%s[component gw.example]\nport = 1\n", secret);
	check_error(buf, ":4: [component gw.example] port: unknown key");
	snprintf(buf, sizeof(buf),
		 "%s[component gw.example]\nsecret = x\n[component GW.Example.]\nsecret = y\n",
		 secret);
	check_error(buf, ":5: [component GW.Example.]: duplicate section, first on line 3");

	check_error("secret = s\n", ":1: secret: key before any [section] header");
	check_error("[router]\nsecret: s\n", ":2: expected \"key = value\"");
	check_error("[router]\nsecret s\n", ":2: expected \"key = value\"");
	check_error("[router]\n= s\n", ":2: missing key before '='");
	check_error("[router\nsecret = s\n", ":1: section header must be [NAME]");
	check_error("[router] junk\n", ":1: section header must be [NAME]");
	check_error("[a]b]\n", ":1: section header must be [NAME]");
	check_error_len("[router]\nsecret = a\0b\n", 20, ":2: NUL byte in line");
}

static void test_long_lines(void)
{
	char *buf = malloc(6000);
	struct config *c;
	int n;

	/* 4096 bytes is the longest line accepted. */
	n = snprintf(buf, 6000, "[router]\nsecret = ");
	memset(buf + n, 'x', 4096 - 9);
	strcpy(buf + n + 4096 - 9, "\n");
	c = load_ok(buf);
	CHECK(c != NULL && strlen(config_get(c, "router", "secret")) == 4096 - 9);
	config_free(&c);

	memset(buf + n, 'x', 4096 - 8);
	strcpy(buf + n + 4096 - 8, "\n");
	check_error(buf, ":2: line longer than 4096 bytes");
	free(buf);
}

static void test_missing_file(void)
{
	struct config *c = (struct config *)1;
	char err[512];

	CHECK(config_load("/nonexistent/junction.conf", &c, err, sizeof(err)) == -1);
	CHECK(c == NULL);
	CHECK_STR(err, "/nonexistent/junction.conf: cannot open: No such file or directory");
	CHECK(config_load(test_dir, &c, err, sizeof(err)) == -1);
	CHECK(strstr(err, ": cannot open: Is a directory") != NULL);
	/* No room for a message is allowed too. */
	CHECK(config_load("/nonexistent/junction.conf", &c, NULL, 0) == -1);
}

static void test_comments(void)
{
	struct config *c = load_ok("# hash comment\n"
				   "; semicolon comment\n"
				   "   # indented comment\n"
				   "[router] ; the router\n"
				   "secret = abc ; inline comment\n"
				   "  listen = 127.0.0.1:6000   # indented key, hash comment\n"
				   "log_level = debug ;\n"
				   "\t[ component   gw.example ]\t\n"
				   "\tsecret = a;b#c\n");

	if (c == NULL)
		return;
	CHECK_STR(config_get(c, "router", "secret"), "abc");
	CHECK_STR(config_get(c, "router", "listen"), "127.0.0.1:6000");
	CHECK(config_line(c, "router", "listen") == 6);
	CHECK_STR(config_component_secret(c, "gw.example"), "a;b#c");
	config_free(&c);
	/* ";" right after a value is part of it, so this log level is bad. */
	check_error("[router]\nsecret = s\nlog_level = debug;\n",
		    ":3: [router] log_level: bad log level \"debug;\": expected error, warn, info "
		    "or debug");
}

static void test_line_endings(void)
{
	struct config *c = load_ok("\xef\xbb\xbf[router]\r\nsecret = crlf\r\n\r\nmax_depth = 7");

	if (c == NULL)
		return;
	CHECK_STR(config_get(c, "router", "secret"), "crlf");
	CHECK(config_get_uint(c, "router", "max_depth") == 7);
	CHECK(config_line(c, "router", "max_depth") == 4);
	config_free(&c);
}

static void test_lists(void)
{
	struct config *c = load_ok("[junction]\n"
				   "domains =  a.example ,B.EXAMPLE,\tc.example.  ,"
				   "  xn--bcher-kva.example\n"
				   "[router]\nsecret = s\n");
	const char *const *list;
	size_t n;

	if (c == NULL)
		return;
	list = config_get_list(c, "junction", "domains", &n);
	CHECK(n == 4);
	if (n == 4) {
		CHECK_STR(list[0], "a.example");
		CHECK_STR(list[1], "b.example");
		CHECK_STR(list[2], "c.example");
		CHECK_STR(list[3], "xn--bcher-kva.example");
	}
	config_free(&c);

	c = load_ok("[junction]\ndomains = bücher.example\n[router]\nsecret = s\n");
	if (c == NULL)
		return;
	list = config_get_list(c, "junction", "domains", &n);
	CHECK(n == 1 && strcmp(list[0], "bücher.example") == 0);
	config_free(&c);
}

static struct config *load_router_key(const char *key, const char *value)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "[router]\nsecret = s\n%s = %s\n", key, value);
	return load_ok(buf);
}

static void test_sizes_and_durations(void)
{
	static const struct {
		const char *value;
		uint64_t bytes;
	} sizes[] = {
		{"10", 10}, {"0", 0}, {"256K", 256 * 1024}, {"256k", 256 * 1024},
		{"1M", 1024 * 1024}, {"3G", 3ull << 30}, {"0010", 10},
	};
	static const struct {
		const char *value;
		uint64_t ms;
	} durations[] = {
		{"500ms", 500}, {"10s", 10000}, {"2m", 120000}, {"1h", 3600000},
		{"5", 5000}, {"0", 0}, {"10S", 10000},
	};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct config *c = load_router_key("queue_limit", sizes[i].value);
		CHECK(c != NULL && config_get_size(c, "router", "queue_limit") == sizes[i].bytes);
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		struct config *c = load_router_key("stall_timeout", durations[i].value);
		CHECK(c != NULL &&
		      config_get_duration_ms(c, "router", "stall_timeout") == durations[i].ms);
		config_free(&c);
	}
}

static void test_bools(void)
{
	static const char *const yes[] = {"yes", "true", "on", "1", "YES", "True"};
	static const char *const no[] = {"no", "false", "off", "0", "NO", "Off"};
	static const char fmt[] = "[junction]\nsyslog = %s\n[router]\nsecret = s\n";
	char buf[128];

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct config *c;
		snprintf(buf, sizeof(buf), fmt, yes[i]);
		c = load_ok(buf);
		CHECK(c != NULL && config_get_bool(c, "junction", "syslog"));
		config_free(&c);
		snprintf(buf, sizeof(buf), fmt, no[i]);
		c = load_ok(buf);
		CHECK(c != NULL && !config_get_bool(c, "junction", "syslog"));
		config_free(&c);
	}
}

static void test_hostports(void)
{
	static const char *const good[] = {
		"127.0.0.1:5347", "[::1]:1", "localhost:65535", "xmpp.example.com:5222",
		"0.0.0.0:5347", "[::]:5347",
	};
	char host[64];
	unsigned port;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct config *c = load_router_key("listen", good[i]);
		CHECK(c != NULL);
		config_free(&c);
	}
	CHECK(config_parse_hostport("127.0.0.1:5347", host, sizeof(host), &port) == 0);
	CHECK_STR(host, "127.0.0.1");
	CHECK(port == 5347);
	CHECK(config_parse_hostport("[2001:db8::1]:443", host, sizeof(host), &port) == 0);
	CHECK_STR(host, "2001:db8::1");
	CHECK(port == 443);
	CHECK(config_parse_hostport("localhost:80", host, sizeof(host), &port) == 0);
	CHECK_STR(host, "localhost");
	CHECK(config_parse_hostport("localhost:80", host, 9, &port) == -1); /* no room */
	CHECK(config_parse_hostport("localhost", host, sizeof(host), &port) == -1);
	CHECK(config_parse_hostport("[::1]5347", host, sizeof(host), &port) == -1);
	CHECK(config_parse_hostport("[::1:5347", host, sizeof(host), &port) == -1);
	CHECK(config_parse_hostport("a:b", host, sizeof(host), &port) == -1);
}

/* Every schema entry is complete enough to document and to load. */
static void test_schema(void)
{
	for (const struct config_key *k = config_schema; k->section != NULL; k++) {
		CHECK(k->key != NULL && k->key[0] != '\0');
		CHECK(k->readers != NULL && k->readers[0] != '\0');
		CHECK(k->description != NULL && k->description[0] != '\0');
		CHECK(!(k->required && k->default_value != NULL));
		for (const struct config_key *o = config_schema; o < k; o++)
			CHECK(strcmp(o->section, k->section) != 0 || strcmp(o->key, k->key) != 0);
	}
}

/* Run fn in a child; true if it died of SIGABRT (a failed assert). */
static bool aborts(void (*fn)(struct config *), struct config *c)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		fclose(stderr); /* the assert message is expected noise */
		fn(c);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void get_unknown_key(struct config *c)
{
	(void)config_get(c, "router", "no_such_key");
}

static void get_unknown_section(struct config *c)
{
	(void)config_get(c, "c2s_typo", "secret");
}

static void get_wrong_type(struct config *c)
{
	(void)config_get_uint(c, "router", "queue_limit"); /* a size, not a uint */
}

static void get_bare_component(struct config *c)
{
	(void)config_get(c, "component", "secret");
}

/* Asking for something the schema does not have is a bug in the caller. */
static void test_schema_asserts(void)
{
#ifndef NDEBUG
	struct config *c = load_ok("[router]\nsecret = s\n");

	if (c == NULL)
		return;
	CHECK(aborts(get_unknown_key, c));
	CHECK(aborts(get_unknown_section, c));
	CHECK(aborts(get_wrong_type, c));
	CHECK(aborts(get_bare_component, c));
	config_free(&c);
#endif
}

static const struct test tests[] = {
	TEST(test_good_file),
	TEST(test_defaults),
	TEST(test_errors),
	TEST(test_long_lines),
	TEST(test_missing_file),
	TEST(test_comments),
	TEST(test_line_endings),
	TEST(test_lists),
	TEST(test_sizes_and_durations),
	TEST(test_bools),
	TEST(test_hostports),
	TEST(test_schema),
	TEST(test_schema_asserts),
	{NULL, NULL},
};

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	int r;

	snprintf(test_dir, sizeof(test_dir), "%s/test-config-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(test_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(test_path, sizeof(test_path), "%s/junction.conf", test_dir);
	r = test_run(tests);
	unlink(test_path);
	rmdir(test_dir);
	return r;
}
