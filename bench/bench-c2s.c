/* bench/bench-c2s.c: load generator for XMPP client connections (bench/run-c2s-bench).
 *
 * Logs in many clients to a server on 127.0.0.1 the way a client does: stream header,
 * STARTTLS (the certificate is not verified), SASL SCRAM-SHA-1 or SCRAM-SHA-256 without
 * channel binding, resource binding, initial presence. Then, by mode:
 *
 *   chat  P pairs of clients; both members of a pair send chat messages to the other's full
 *         JID, each with its send time in the body, keeping at most W unacknowledged (sent but
 *         not yet received by the partner) per sender, M messages in all. Prints messages/s
 *         and p50/p99 latency (receive time - send time).
 *   idle  logs in S sessions (session k is account k mod A with resource rK/A) at most C at a
 *         time, prints the login rate, then holds the sessions until SIGTERM.
 *
 * One process, one libuv loop, single-threaded. Incoming XML is not parsed: a byte scanner
 * finds the top-level elements and the few attributes and texts needed, so the generator costs
 * far less than the servers it measures; it reports its own CPU time so that can be checked.
 * The PBKDF2 of SCRAM is computed once per (salt, iterations) and cached, and in idle mode
 * every account is first logged in once without a session ("prewarm") so that the measured
 * logins never wait for it.
 *
 * With --pause, the generator stops at each phase boundary, prints "#pause NAME" and waits for
 * SIGUSR1, so the driving script can sample the servers' CPU time and memory exactly there:
 * chat: "#pause logged-in", messages, result line, "#pause done"; idle: "#pause prewarmed",
 * logins, result line, "#pause holding". SIGTERM or SIGINT ends the process at any time.
 *
 * Result lines (one per mode, machine-readable key=value):
 *   chat messages=M seconds=S rate=R p50_ms=A p99_ms=B lost=L errors=E gen_cpu_s=G
 *   idle sessions=S seconds=T login_rate=R failed=F gen_cpu_s=G
 * Only 127.0.0.0/8 addresses are accepted. The client side is bench-client.c, shared with
 * bench-pubsub.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-client.h"

enum c2s_mode { MODE_CHAT, MODE_IDLE };

struct c2s_options {
	enum c2s_mode mode;
	unsigned pairs;
	uint64_t messages;
	unsigned window;
	unsigned body;
	unsigned sessions;
	unsigned accounts;
	bool prewarm;
};

static struct c2s_options opt;

/* chat */
static bool chatting;
static uint64_t chat_start_ns, chat_end_ns;
static double chat_cpu_start;
static uint64_t received;
static uint64_t errors;
static uint64_t *latencies;
static char padding[4096];

/* ---- chat ------------------------------------------------------------------------------------- */

static void chat_report(bool complete)
{
	uint64_t end = complete ? chat_end_ns : uv_hrtime();
	double secs = (double)(end - chat_start_ns) / 1e9;
	uint64_t n = received;
	double p50, p99;

	gen_percentiles(latencies, n < opt.messages ? n : opt.messages, &p50, &p99);
	printf("messages=%" PRIu64 " seconds=%.3f rate=%.0f p50_ms=%.2f p99_ms=%.2f lost=%" PRIu64
	       " errors=%" PRIu64 " gen_cpu_s=%.2f pairs=%u window=%u\n",
	       n, secs, secs > 0 ? (double)n / secs : 0.0, p50, p99, opt.messages - n, errors,
	       gen_cpu_seconds() - chat_cpu_start, opt.pairs, opt.window);
	fflush(stdout);
}

static void chat_refill(struct client *c)
{
	struct buf *s = &c->g->scratch;
	uint64_t now;

	if (c->inflight >= opt.window || c->sent >= c->to_send)
		return;
	now = uv_hrtime();
	buf_reset(s);
	while (c->inflight < opt.window && c->sent < c->to_send) {
		buf_printf(s, "<message to='%s' type='chat' id='m%" PRIu64 "'><body>%" PRIu64
			   " %s</body></message>", c->partner->full_jid, c->sent, now, padding);
		c->sent++;
		c->inflight++;
	}
	client_send(c, s->data, s->len);
}

static void chat_exit(struct gen *g)
{
	exit(0);
}

static void chat_receive(struct client *c, const char *el, size_t len, uint64_t now)
{
	size_t tlen;
	const char *body;
	struct client *sender = c->partner;

	if (!chatting)
		return;
	if (attr_is(el, len, "type", "error"))
		errors++;
	body = inner_text(el, len, "<body", &tlen);
	uint64_t sent = body != NULL ? strtoull(body, NULL, 10) : 0;
	if (body == NULL || sent == 0 || sent > now) {
		errors++;
		sent = now;
	}
	if (received < opt.messages)
		latencies[received] = now - sent;
	received++;
	if (sender->inflight > 0)
		sender->inflight--;
	mark_dirty(sender);
	if (received == opt.messages) {
		chat_end_ns = now;
		chatting = false;
		chat_report(true);
		phase_pause(c->g, "done", chat_exit, 0);
	}
}

/* A ready client's top-level element: chat messages count, presence (our own, echoed) and
 * anything else is ignored. */
static void chat_stanza(struct client *c, const char *el, size_t len, uint64_t now)
{
	if (len > 8 && memcmp(el, "<message", 8) == 0 && (el[8] == ' ' || el[8] == '>'))
		chat_receive(c, el, len, now);
}

static void chat_timeout(struct gen *g)
{
	if (chatting)
		chat_report(false);
}

static void chat_start(struct gen *g)
{
	unsigned senders = g->nclients;

	latencies = xcalloc(opt.messages, sizeof(uint64_t));
	for (unsigned k = 0; k < senders; k++) {
		struct client *c = g->clients[k];
		c->partner = g->clients[k ^ 1];
		c->to_send = opt.messages / senders + (k < opt.messages % senders ? 1 : 0);
	}
	phase_timeout_start(g, "chat");
	g->on_flush = chat_refill;
	chatting = true;
	chat_cpu_start = gen_cpu_seconds();
	chat_start_ns = uv_hrtime();
	for (unsigned k = 0; k < senders; k++)
		mark_dirty(g->clients[k]);
}

/* ---- phases ----------------------------------------------------------------------------------- */

static void hold(struct gen *g)
{
	/* Sessions stay open until SIGTERM. */
}

static void idle_logins(struct gen *g)
{
	g->prewarm_clients = g->clients;
	make_clients(g, opt.sessions, opt.accounts, "r", true, false);
	phase_timeout_start(g, "login");
	g->login_cpu_start = gen_cpu_seconds();
	g->login_start_ns = uv_hrtime();
	start_logins(g);
}

static void login_done(struct gen *g)
{
	uint64_t now = g->login_end_ns;
	double secs;

	if (strcmp(g->phase, "prewarm") == 0) {
		if (g->failed > 0)
			gen_die("%u of %u prewarm logins failed", g->failed, g->nclients);
		fprintf(stderr, "bench-c2s: prewarm: %u accounts logged in once, %u SCRAM keys\n",
			g->ready, g->scram_computed);
		phase_pause(g, "prewarmed", idle_logins, 1000);
		return;
	}
	secs = (double)(now - g->login_start_ns) / 1e9;
	if (opt.mode == MODE_IDLE) {
		printf("sessions=%u seconds=%.3f login_rate=%.0f failed=%u gen_cpu_s=%.2f\n", g->ready,
		       secs, secs > 0 ? g->ready / secs : 0.0, g->failed,
		       gen_cpu_seconds() - g->login_cpu_start);
		fflush(stdout);
		phase_pause(g, "holding", hold, 0);
		return;
	}
	fprintf(stderr, "bench-c2s: %u chat clients logged in in %.3f s\n", g->ready, secs);
	phase_pause(g, "logged-in", chat_start, 1000);
}

/* ---- options ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-c2s --port P [--mode chat|idle] [--pairs 200] [--messages 100000]\n"
		"                 [--window 8] [--body 64] [--sessions 10000] [--accounts 1000]\n"
		"                 [--no-prewarm] [common options]\n"
		"  chat uses accounts 0..2*pairs-1 (resource 'chat'); idle session k uses account\n"
		"  k mod accounts with resource r<k / accounts>.\n%s",
		GEN_COMMON_USAGE);
}

static bool c2s_flag(const char *name)
{
	if (strcmp(name, "--no-prewarm") != 0)
		return false;
	opt.prewarm = false;
	return true;
}

static bool c2s_option(const char *a0, const char *v)
{
	if (strcmp(a0, "--mode") == 0) {
		if (strcmp(v, "chat") == 0)
			opt.mode = MODE_CHAT;
		else if (strcmp(v, "idle") == 0)
			opt.mode = MODE_IDLE;
		else
			gen_die("--mode: chat or idle");
	} else if (strcmp(a0, "--pairs") == 0)
		opt.pairs = parse_uint(a0, v, 1, GEN_MAX_CLIENTS / 2);
	else if (strcmp(a0, "--messages") == 0)
		opt.messages = parse_uint(a0, v, 1, 100000000);
	else if (strcmp(a0, "--window") == 0)
		opt.window = parse_uint(a0, v, 1, 100000);
	else if (strcmp(a0, "--body") == 0)
		opt.body = parse_uint(a0, v, 0, sizeof(padding) - 1);
	else if (strcmp(a0, "--sessions") == 0)
		opt.sessions = parse_uint(a0, v, 1, GEN_MAX_CLIENTS);
	else if (strcmp(a0, "--accounts") == 0)
		opt.accounts = parse_uint(a0, v, 1, GEN_MAX_CLIENTS);
	else
		return false;
	return true;
}

static void parse_args(int argc, char **argv, struct gen_options *o)
{
	gen_default_options(o);
	opt = (struct c2s_options){
		.mode = MODE_CHAT,
		.pairs = 200,
		.messages = 100000,
		.window = 8,
		.body = 64,
		.sessions = 10000,
		.accounts = 1000,
		.prewarm = true,
	};
	gen_parse_args(argc, argv, o, usage, c2s_flag, c2s_option);
	if (opt.mode == MODE_CHAT && opt.accounts < 2 * opt.pairs)
		opt.accounts = 2 * opt.pairs;
	if (opt.messages < 2ULL * opt.pairs)
		gen_die("--messages must be at least 2 * --pairs (every client sends)");
}

int main(int argc, char **argv)
{
	struct gen *g = xcalloc(1, sizeof(*g));

	parse_args(argc, argv, &g->opt);
	gen_init(g, (opt.mode == MODE_CHAT ? 2 * opt.pairs : opt.sessions) + 64);
	memset(padding, 'x', opt.body);
	padding[opt.body] = '\0';
	g->on_logins_done = login_done;
	g->on_stanza = chat_stanza;
	g->on_timeout = chat_timeout;
	if (opt.mode == MODE_CHAT) {
		g->fail_fatal = true;
		make_clients(g, 2 * opt.pairs, opt.accounts, "chat", false, false);
		phase_timeout_start(g, "login");
		g->login_start_ns = uv_hrtime();
		start_logins(g);
	} else if (opt.prewarm) {
		unsigned n = opt.accounts < opt.sessions ? opt.accounts : opt.sessions;
		make_clients(g, n, opt.accounts, "prewarm", false, true);
		phase_timeout_start(g, "prewarm");
		start_logins(g);
	} else {
		idle_logins(g);
	}
	uv_run(g->loop, UV_RUN_DEFAULT);
	return 0;
}
