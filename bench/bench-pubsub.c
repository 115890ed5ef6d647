/* bench/bench-pubsub.c: load generator for publish-subscribe fan-out (bench/run-pubsub-bench).
 *
 * Logs in one publisher (account PREFIX0, resource "pub") and S subscribers (accounts PREFIX1
 * .. PREFIXS, resource "sub") with the client code of bench-client.c. The publisher creates
 * the node on the pubsub service (--service, --node; a node that exists already is fine), every
 * subscriber subscribes its full JID to it, then the publisher publishes K items, each with an
 * id "iN" and a payload of --payload bytes, keeping at most W items that not every subscriber
 * has received yet. Each notification is matched to its item by the id; latency = the time the
 * subscriber's client read it - the time the publisher's client queued the publish.
 *
 * With --pause: "#pause subscribed" (every subscription confirmed), the publishing, the result
 * line, "#pause done". Result line:
 *   notifications=N seconds=S rate=R p50_ms=A p99_ms=B lost=L errors=E gen_cpu_s=G
 *   subscribers=S items=K window=W
 * rate = notifications / (last notification - first publish). errors counts publish errors,
 * notifications for unknown items and duplicates. Only 127.0.0.0/8 addresses are accepted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-client.h"

struct pubsub_options {
	const char *service;
	const char *node;
	unsigned subscribers;
	unsigned items;
	unsigned window;
	unsigned payload;
};

static struct pubsub_options opt;
static unsigned subscribed;
static bool publishing;
static uint64_t start_ns, end_ns;
static double cpu_start;
static uint64_t received, expected, errors;
static uint64_t *sent_ns;   /* per item: when its publish was queued */
static unsigned *got;       /* per item: notifications received */
static uint64_t *latencies; /* per notification */
static char padding[8192];

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"

static void report(bool complete)
{
	uint64_t end = complete ? end_ns : uv_hrtime();
	double secs = (double)(end - start_ns) / 1e9;
	double p50, p99;

	gen_percentiles(latencies, received < expected ? received : expected, &p50, &p99);
	printf("notifications=%" PRIu64 " seconds=%.3f rate=%.0f p50_ms=%.2f p99_ms=%.2f lost=%" PRIu64
	       " errors=%" PRIu64 " gen_cpu_s=%.2f subscribers=%u items=%u window=%u\n",
	       received, secs, secs > 0 ? (double)received / secs : 0.0, p50, p99,
	       received < expected ? expected - received : 0, errors, gen_cpu_seconds() - cpu_start,
	       opt.subscribers, opt.items, opt.window);
	fflush(stdout);
}

static void on_timeout(struct gen *g)
{
	if (publishing)
		report(false);
}

static void finish(struct gen *g)
{
	exit(errors == 0 && received == expected ? 0 : 1);
}

/* The publisher: keep at most window items not yet received by every subscriber. */
static void publish_refill(struct client *c)
{
	struct buf *s = &c->g->scratch;

	if (!publishing || c->index != 0 || c->inflight >= opt.window || c->sent >= opt.items)
		return;
	buf_reset(s);
	uint64_t now = uv_hrtime();
	while (c->inflight < opt.window && c->sent < opt.items) {
		sent_ns[c->sent] = now;
		buf_printf(s, "<iq type='set' to='%s' id='p%" PRIu64 "'><pubsub xmlns='" NS_PUBSUB "'>"
			   "<publish node='%s'><item id='i%" PRIu64 "'><entry xmlns='urn:junction:bench'>"
			   "%s</entry></item></publish></pubsub></iq>",
			   opt.service, c->sent, opt.node, c->sent, padding);
		c->sent++;
		c->inflight++;
	}
	client_send(c, s->data, s->len);
}

static void publish_start(struct gen *g)
{
	struct client *pub = g->clients[0];

	phase_timeout_start(g, "publish");
	g->on_flush = publish_refill;
	publishing = true;
	cpu_start = gen_cpu_seconds();
	start_ns = uv_hrtime();
	mark_dirty(pub);
}

/* A notification: <message ...><event ...><items node='N'><item id='iK' ...>. */
static void notification(struct client *c, const char *el, size_t len, uint64_t now)
{
	const char *item = find_n(el, len, "<item ");
	struct client *pub = c->g->clients[0];
	size_t vlen;
	const char *id = item != NULL ? attr_value(item, len - (size_t)(item - el), "id", &vlen) : NULL;
	char *end;
	unsigned long k = id != NULL && vlen > 1 && id[0] == 'i' ? strtoul(id + 1, &end, 10) : ~0UL;

	if (attr_is(el, len, "type", "error") || k >= opt.items || got[k] >= opt.subscribers ||
	    k >= pub->sent) {
		errors++;
		return;
	}
	if (received < expected)
		latencies[received] = now - sent_ns[k];
	received++;
	if (++got[k] == opt.subscribers) {
		pub->inflight--;
		mark_dirty(pub);
	}
	if (received == expected) {
		end_ns = now;
		publishing = false;
		report(true);
		phase_pause(c->g, "done", finish, 0);
	}
}

static void subscribe_all(struct gen *g);

/* The answer to the publisher's create, a subscriber's subscribe or the publisher's publish. */
static void iq_result(struct client *c, const char *el, size_t len)
{
	size_t vlen;
	const char *id = attr_value(el, len, "id", &vlen);
	bool ok = attr_is(el, len, "type", "result");

	if (id == NULL)
		return;
	if (vlen == 6 && memcmp(id, "create", 6) == 0) {
		/* A node left from an earlier run of the same server is as good. */
		if (!ok && find_n(el, len, "<conflict") == NULL)
			gen_die("creating the node failed: %.*s", (int)(len > 400 ? 400 : len), el);
		subscribe_all(c->g);
	} else if (vlen == 3 && memcmp(id, "sub", 3) == 0) {
		if (!ok)
			gen_die("subscribing failed: %.*s", (int)(len > 400 ? 400 : len), el);
		if (++subscribed == opt.subscribers) {
			fprintf(stderr, "bench-pubsub: %u subscriptions to %s on %s\n", subscribed,
				opt.node, opt.service);
			phase_pause(c->g, "subscribed", publish_start, 1000);
		}
	} else if (!ok) {
		errors++;
		if (errors < 5)
			fprintf(stderr, "bench-pubsub: %.*s\n", (int)(len > 400 ? 400 : len), el);
	}
}

static void on_stanza(struct client *c, const char *el, size_t len, uint64_t now)
{
	if (len > 8 && memcmp(el, "<message", 8) == 0 && (el[8] == ' ' || el[8] == '>'))
		notification(c, el, len, now);
	else if (len > 3 && memcmp(el, "<iq", 3) == 0 && (el[3] == ' ' || el[3] == '>'))
		iq_result(c, el, len);
	/* presence (our own, echoed) and anything else: ignored */
}

static void subscribe_all(struct gen *g)
{
	for (unsigned k = 1; k < g->nclients; k++)
		client_sendf(g->clients[k], "<iq type='set' to='%s' id='sub'><pubsub xmlns='" NS_PUBSUB
			     "'><subscribe node='%s' jid='%s'/></pubsub></iq>",
			     opt.service, opt.node, g->clients[k]->full_jid);
}

static void logins_done(struct gen *g)
{
	double secs = (double)(g->login_end_ns - g->login_start_ns) / 1e9;

	if (g->failed > 0)
		gen_die("%u of %u logins failed", g->failed, g->nclients);
	fprintf(stderr, "bench-pubsub: %u clients logged in in %.3f s\n", g->ready, secs);
	phase_timeout_start(g, "subscribe");
	client_sendf(g->clients[0], "<iq type='set' to='%s' id='create'><pubsub xmlns='" NS_PUBSUB
		     "'><create node='%s'/></pubsub></iq>", opt.service, opt.node);
}

/* ---- options ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-pubsub --port P [--service pubsub.localhost] [--node bench]\n"
		"                    [--subscribers 1000] [--items 200] [--window 4]\n"
		"                    [--payload 200] [common options]\n"
		"  The publisher is account PREFIX0, the subscribers PREFIX1 .. PREFIX<subscribers>.\n%s",
		GEN_COMMON_USAGE);
}

static bool pubsub_option(const char *a0, const char *v)
{
	if (strcmp(a0, "--service") == 0)
		opt.service = v;
	else if (strcmp(a0, "--node") == 0)
		opt.node = v;
	else if (strcmp(a0, "--subscribers") == 0)
		opt.subscribers = parse_uint(a0, v, 1, GEN_MAX_CLIENTS - 1);
	else if (strcmp(a0, "--items") == 0)
		opt.items = parse_uint(a0, v, 1, 10000000);
	else if (strcmp(a0, "--window") == 0)
		opt.window = parse_uint(a0, v, 1, 100000);
	else if (strcmp(a0, "--payload") == 0)
		opt.payload = parse_uint(a0, v, 0, sizeof(padding) - 1);
	else
		return false;
	return true;
}

static void parse_args(int argc, char **argv, struct gen_options *o)
{
	gen_default_options(o);
	opt = (struct pubsub_options){
		.service = "pubsub.localhost",
		.node = "bench",
		.subscribers = 1000,
		.items = 200,
		.window = 4,
		.payload = 200,
	};
	gen_parse_args(argc, argv, o, usage, NULL, pubsub_option);
	if (strcspn(opt.service, "'\"<>&") != strlen(opt.service) ||
	    strcspn(opt.node, "'\"<>&") != strlen(opt.node))
		gen_die("--service or --node unusable");
}

int main(int argc, char **argv)
{
	struct gen *g = xcalloc(1, sizeof(*g));

	parse_args(argc, argv, &g->opt);
	gen_init(g, opt.subscribers + 64);
	memset(padding, 'x', opt.payload);
	padding[opt.payload] = '\0';
	expected = (uint64_t)opt.items * opt.subscribers;
	sent_ns = xcalloc(opt.items, sizeof(*sent_ns));
	got = xcalloc(opt.items, sizeof(*got));
	latencies = xcalloc(expected, sizeof(*latencies));
	g->fail_fatal = true;
	g->on_logins_done = logins_done;
	g->on_stanza = on_stanza;
	g->on_timeout = on_timeout;
	/* Client 0 (account PREFIX0) publishes; 1..S subscribe. */
	make_clients(g, opt.subscribers + 1, opt.subscribers + 1, "sub", false, false);
	snprintf(g->clients[0]->resource, sizeof(g->clients[0]->resource), "pub");
	phase_timeout_start(g, "login");
	g->login_start_ns = uv_hrtime();
	start_logins(g);
	uv_run(g->loop, UV_RUN_DEFAULT);
	return 0;
}
