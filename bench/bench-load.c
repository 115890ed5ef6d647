/* bench/bench-load.c: load generator for XEP-0114 component streams.
 *
 * Opens K component streams (c0.bench.localhost ... c(K-1)...) against a router, authenticates
 * them one after another, then has component i send N messages of a fixed size to component
 * (i+1) mod K while every stream is read concurrently. Receivers count messages and check that
 * the sequence ids of each sender strictly increase, by scanning bytes rather than parsing XML:
 * the benchmark must cost less than the router it measures. Prints one machine-readable line:
 *
 *   messages=TOTAL seconds=S rate=MSG_PER_S lost=L out_of_order=O errors=E
 *
 * and exits 0 only when every message arrived once, in order, before the timeout.
 * Only loopback addresses are accepted, so a typo cannot aim the load at another machine.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem, accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_COMPONENTS 4096
#define BENCH_MAX_SIZE (64 * 1024)
/* Output is generated in batches into this much buffer, then written with one send(). */
#define BENCH_OUT_CAP (256 * 1024)
/* Input buffer; grows up to BENCH_IN_MAX only if one stanza is bigger. */
#define BENCH_IN_CAP (256 * 1024)
#define BENCH_IN_MAX (4 * 1024 * 1024)
/* Reads per readable event before serving other streams, so one stream cannot starve them. */
#define BENCH_READS_PER_EVENT 8

struct bench_options {
	const char *host;
	unsigned port;
	const char *secret;
	const char *suffix;
	unsigned components;
	uint64_t messages;
	size_t size;
	uint64_t window;
	double timeout;
	bool acks; /* ask for the router's acknowledgements (urn:junction:component:1) */
};

struct bench_conn {
	int fd;
	unsigned index;
	char name[128];
	/* sending side: messages next_seq.. are still to be generated */
	uint64_t next_seq;
	char *out;
	size_t out_off;
	size_t out_len;
	bool write_blocked; /* last send() hit EAGAIN; wait for EPOLLOUT */
	bool want_out;      /* EPOLLOUT is registered */
	/* receiving side */
	char *in;
	size_t in_len;
	size_t in_cap;
	uint64_t received;
	uint64_t *last_seq; /* per sender index */
	uint64_t out_of_order;
	uint64_t errors;
	uint64_t acks; /* <a h=''/> received */
	bool acks_on;      /* the router answered <ack/>: count and acknowledge */
	uint64_t in_seq, in_acked; /* stanzas read since then, and acknowledged */
	bool closed;
};

struct bench {
	struct bench_options opt;
	struct bench_conn *conns;
	int epoll_fd;
	size_t prefix_max; /* longest fixed part of a message, for padding arithmetic */
};

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_usage(FILE *f)
{
	fprintf(f,
		"usage: bench-load --port P --secret S [--host 127.0.0.1] [--components K]\n"
		"                  [--messages N] [--size BYTES] [--domain-suffix SUFFIX]\n"
		"                  [--window W] [--timeout SECONDS] [--acks yes]\n"
		"  K components c0SUFFIX..c(K-1)SUFFIX each send N messages of BYTES bytes to the\n"
		"  next one; at most W per sender are in flight (0: unlimited, default 1000).\n"
		"  --acks yes asks junction-router for acknowledgements (needs trusted streams).\n");
}

static int bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *value_r)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
		return -1;
	*value_r = v;
	return 0;
}

/* Fills opt from argv; returns 0, or -1 after printing why. */
static int bench_parse_args(int argc, char **argv, struct bench_options *opt)
{
	uint64_t v;
	struct in_addr addr;

	*opt = (struct bench_options){
		.host = "127.0.0.1",
		.suffix = ".bench.localhost",
		.components = 4,
		.messages = 50000,
		.size = 200,
		.window = 1000,
		.timeout = 120,
	};
	/* Every option takes a value, so they come in pairs. */
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			bench_usage(stdout);
			exit(0);
		}
		if (val == NULL) {
			fprintf(stderr, "bench-load: %s needs a value\n", a);
			return -1;
		}
		if (strcmp(a, "--host") == 0) {
			opt->host = val;
		} else if (strcmp(a, "--port") == 0) {
			if (bench_parse_u64(val, 1, 65535, &v) < 0)
				goto bad;
			opt->port = (unsigned)v;
		} else if (strcmp(a, "--secret") == 0) {
			opt->secret = val;
		} else if (strcmp(a, "--domain-suffix") == 0) {
			opt->suffix = val;
		} else if (strcmp(a, "--components") == 0) {
			if (bench_parse_u64(val, 1, BENCH_MAX_COMPONENTS, &v) < 0)
				goto bad;
			opt->components = (unsigned)v;
		} else if (strcmp(a, "--messages") == 0) {
			if (bench_parse_u64(val, 1, UINT64_C(1) << 40, &v) < 0)
				goto bad;
			opt->messages = v;
		} else if (strcmp(a, "--size") == 0) {
			if (bench_parse_u64(val, 1, BENCH_MAX_SIZE, &v) < 0)
				goto bad;
			opt->size = (size_t)v;
		} else if (strcmp(a, "--window") == 0) {
			if (bench_parse_u64(val, 0, UINT64_C(1) << 40, &v) < 0)
				goto bad;
			opt->window = v;
		} else if (strcmp(a, "--acks") == 0) {
			opt->acks = strcmp(val, "yes") == 0;
		} else if (strcmp(a, "--timeout") == 0) {
			if (bench_parse_u64(val, 1, 86400, &v) < 0)
				goto bad;
			opt->timeout = (double)v;
		} else {
			fprintf(stderr, "bench-load: unknown option %s\n", a);
			bench_usage(stderr);
			return -1;
		}
		continue;
	bad:
		fprintf(stderr, "bench-load: bad value for %s: %s\n", a, val);
		return -1;
	}
	if (opt->port == 0 || opt->secret == NULL) {
		bench_usage(stderr);
		return -1;
	}
	/* Loopback only: the load is meant for a server on this machine, never a remote one. */
	if (inet_pton(AF_INET, opt->host, &addr) != 1 || (ntohl(addr.s_addr) >> 24) != 127) {
		fprintf(stderr,
			"bench-load: --host must be an IPv4 loopback address (127.x.x.x)\n");
		return -1;
	}
	if (strlen(opt->suffix) > 64) {
		fprintf(stderr, "bench-load: --domain-suffix too long\n");
		return -1;
	}
	return 0;
}

/* Finds needle in the first len bytes of hay; NULL if absent. */
static const char *bench_find(const char *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle));
}

/* Finds attribute name in the start tag [tag, tag+len) and points *val_r, *val_len_r at its
 * value (quotes excluded). Only whitespace-preceded names match, so "id" does not match
 * "streamid". */
static bool bench_attr(const char *tag, size_t len, const char *name, const char **val_r,
		       size_t *val_len_r)
{
	size_t nlen = strlen(name);
	const char *end = tag + len;

	for (const char *p = tag; p + nlen + 2 < end; p++) {
		p = memchr(p, name[0], (size_t)(end - p));
		if (p == NULL || p + nlen + 2 >= end)
			return false;
		if (p == tag || (p[-1] != ' ' && p[-1] != '\t' && p[-1] != '\n' && p[-1] != '\r'))
			continue;
		if (memcmp(p, name, nlen) != 0 || p[nlen] != '=')
			continue;
		char quote = p[nlen + 1];
		if (quote != '\'' && quote != '"')
			return false;
		const char *v = p + nlen + 2;
		const char *q = memchr(v, quote, (size_t)(end - v));
		if (q == NULL)
			return false;
		*val_r = v;
		*val_len_r = (size_t)(q - v);
		return true;
	}
	return false;
}

/* Writes all of buf to a non-blocking fd before the deadline; 0 or -1. */
static int bench_write_all(int fd, const char *buf, size_t len, double deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			double left = deadline - bench_now();
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};

			if (left <= 0)
				return -1;
			poll(&pfd, 1, (int)(left * 1000) + 1);
			continue;
		}
		return -1;
	}
	return 0;
}

/* Reads more bytes into c->in, waiting until the deadline; returns bytes read, 0 on EOF, -1. */
static ssize_t bench_read_wait(struct bench_conn *c, double deadline)
{
	for (;;) {
		if (c->in_len == c->in_cap)
			return -1; /* a handshake reply never needs a full buffer */
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n >= 0) {
			c->in_len += (size_t)n;
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		double left = deadline - bench_now();
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (left <= 0)
			return -1;
		poll(&pfd, 1, (int)(left * 1000) + 1);
	}
}

static void bench_consume(struct bench_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* Prints the start of a server's reply, for handshake failures. */
static void bench_show_reply(const struct bench_conn *c)
{
	int shown = c->in_len > 400 ? 400 : (int)c->in_len;

	fprintf(stderr, "bench-load: %s: server said: %.*s\n", c->name, shown, c->in);
}

/* Connects component c and completes the XEP-0114 handshake; 0 or -1 after printing why.
 * Components are authenticated one at a time so that their order of authentication is their
 * index, which bench-null-relay relies on to pair them. */
static int bench_connect(struct bench *b, struct bench_conn *c, double deadline)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->opt.port)};
	char buf[512];
	const char *p, *gt, *id;
	size_t id_len;
	int one = 1;

	inet_pton(AF_INET, b->opt.host, &sa.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "bench-load: %s: connect %s:%u: %s\n", c->name, b->opt.host,
			b->opt.port, strerror(errno));
		return -1;
	}
	/* Messages are batched already; Nagle would only delay the tail of each batch. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);

	snprintf(buf, sizeof(buf),
		 "<stream:stream xmlns='jabber:component:accept' "
		 "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>",
		 c->name);
	if (bench_write_all(c->fd, buf, strlen(buf), deadline) < 0)
		goto io_error;

	/* Wait for the whole header start tag, then take its id. */
	for (;;) {
		p = bench_find(c->in, c->in_len, "<stream:stream");
		gt = p != NULL ? memchr(p, '>', c->in_len - (size_t)(p - c->in)) : NULL;
		if (gt != NULL)
			break;
		if (bench_find(c->in, c->in_len, "<stream:error") != NULL)
			goto refused;
		if (bench_read_wait(c, deadline) <= 0)
			goto io_error;
	}
	if (!bench_attr(p, (size_t)(gt - p), "id", &id, &id_len) || id_len == 0 || id_len > 200) {
		fprintf(stderr, "bench-load: %s: stream header without a usable id\n", c->name);
		bench_show_reply(c);
		return -1;
	}

	/* handshake = hex(SHA-1(stream id + secret)), XEP-0114 section 3 */
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	char input[512];
	int input_len = snprintf(input, sizeof(input), "%.*s%s", (int)id_len, id, b->opt.secret);
	if (input_len < 0 || (size_t)input_len >= sizeof(input) ||
	    EVP_Digest(input, (size_t)input_len, md, &md_len, EVP_sha1(), NULL) != 1) {
		fprintf(stderr, "bench-load: %s: cannot compute the handshake\n", c->name);
		return -1;
	}
	int off = snprintf(buf, sizeof(buf), "<handshake>");
	for (unsigned i = 0; i < md_len; i++)
		off += snprintf(buf + off, sizeof(buf) - (size_t)off, "%02x", md[i]);
	off += snprintf(buf + off, sizeof(buf) - (size_t)off, "</handshake>");
	bench_consume(c, (size_t)(gt + 1 - c->in));
	if (bench_write_all(c->fd, buf, (size_t)off, deadline) < 0)
		goto io_error;

	/* Accept <handshake/> and <handshake></handshake>; anything after it is stream data. */
	for (;;) {
		const char *h = bench_find(c->in, c->in_len, "<handshake");
		const char *end = NULL;

		gt = h != NULL ? memchr(h, '>', c->in_len - (size_t)(h - c->in)) : NULL;
		if (gt != NULL && gt[-1] == '/') {
			end = gt + 1;
		} else if (gt != NULL) {
			end = bench_find(gt, c->in_len - (size_t)(gt - c->in), "</handshake>");
			if (end != NULL)
				end += strlen("</handshake>");
		}
		if (end != NULL) {
			static const char ack[] = "<iq type='set' id='jack'>"
						  "<ack xmlns='urn:junction:component:1'/></iq>";
			bench_consume(c, (size_t)(end - c->in));
			if (b->opt.acks && bench_write_all(c->fd, ack, sizeof(ack) - 1, deadline) < 0)
				goto io_error;
			return 0;
		}
		if (bench_find(c->in, c->in_len, "<stream:error") != NULL ||
		    bench_find(c->in, c->in_len, "</stream:stream>") != NULL)
			goto refused;
		if (bench_read_wait(c, deadline) <= 0)
			goto io_error;
	}

refused:
	fprintf(stderr, "bench-load: %s: handshake refused\n", c->name);
	bench_show_reply(c);
	return -1;
io_error:
	fprintf(stderr, "bench-load: %s: connection failed or timed out during the handshake\n",
		c->name);
	if (c->in_len > 0)
		bench_show_reply(c);
	return -1;
}

/* Appends message seq from component c to its successor into c->out. The body is padded so that
 * the whole stanza is opt.size bytes when that is possible. */
static void bench_generate_one(struct bench *b, struct bench_conn *c, uint64_t seq)
{
	const struct bench_conn *to = &b->conns[(c->index + 1) % b->opt.components];
	char *p = c->out + c->out_off + c->out_len;
	int head = sprintf(p, "<message from='u@%s' to='u@%s' id='%" PRIu64 "'><body>", c->name,
			   to->name, seq);
	static const char tail[] = "</body></message>";
	size_t fixed = (size_t)head + sizeof(tail) - 1;
	size_t pad = b->opt.size > fixed ? b->opt.size - fixed : 0;

	memset(p + head, 'x', pad);
	memcpy(p + head + pad, tail, sizeof(tail) - 1);
	c->out_len += fixed + pad;
}

static void bench_set_want_out(struct bench *b, struct bench_conn *c, bool want)
{
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};

	if (c->want_out == want)
		return;
	c->want_out = want;
	epoll_ctl(b->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Generates as many messages as the window and buffer allow, then writes until the socket is
 * full. Returns 0, or -1 when the connection failed. */
static int bench_pump(struct bench *b, struct bench_conn *c)
{
	const struct bench_conn *to = &b->conns[(c->index + 1) % b->opt.components];
	size_t max_msg = b->prefix_max + b->opt.size + 64;
	uint64_t in_flight = c->next_seq - 1 > to->received ? c->next_seq - 1 - to->received : 0;
	uint64_t allowed = UINT64_MAX;

	if (c->closed)
		return 0;
	if (c->out_off > 0 && c->out_len == 0)
		c->out_off = 0;
	if (b->opt.window > 0) {
		/* Window: messages sent but not yet counted by the receiver. It is refilled only
		 * once a quarter of it is free, so the stream goes out in batches rather than one
		 * small segment per received message (silly window syndrome). */
		allowed = in_flight < b->opt.window ? b->opt.window - in_flight : 0;
		if (allowed < (b->opt.window + 3) / 4 &&
		    allowed < b->opt.messages - c->next_seq + 1)
			allowed = 0;
	}
	for (; allowed > 0 && c->next_seq <= b->opt.messages; allowed--) {
		if (c->out_off + c->out_len + max_msg > BENCH_OUT_CAP) {
			if (c->out_off == 0)
				break;
			memmove(c->out, c->out + c->out_off, c->out_len);
			c->out_off = 0;
			if (c->out_len + max_msg > BENCH_OUT_CAP)
				break;
		}
		bench_generate_one(b, c, c->next_seq++);
	}
	while (c->out_len > 0 && !c->write_blocked) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len, MSG_NOSIGNAL);

		if (n > 0) {
			c->out_off += (size_t)n;
			c->out_len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->write_blocked = true;
		} else {
			fprintf(stderr, "bench-load: %s: send: %s\n", c->name, strerror(errno));
			return -1;
		}
	}
	bench_set_want_out(b, c, c->out_len > 0);
	return 0;
}

/* Parses the digits of a sender's name out of a from attribute "u@cNN<suffix>"; -1 if none. */
static long bench_sender_index(const struct bench *b, const char *from, size_t len)
{
	const char *at = memchr(from, '@', len);
	const char *p = at != NULL ? at + 1 : from;
	const char *end = from + len;
	long idx = 0;

	if (p >= end || *p != 'c')
		return -1;
	p++;
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		idx = idx * 10 + (*p - '0');
		if (idx >= (long)b->opt.components)
			return -1;
	}
	return idx;
}

/* Accounts one <message> received by c, given its start tag. */
static void bench_on_message(struct bench *b, struct bench_conn *c, const char *tag, size_t len)
{
	const char *v;
	size_t vlen;
	long sender;
	uint64_t seq = 0;

	if (bench_attr(tag, len, "type", &v, &vlen) && vlen == 5 && memcmp(v, "error", 5) == 0) {
		if (c->errors++ == 0)
			fprintf(stderr, "bench-load: %s: received a bounced message: %.*s\n",
				c->name, (int)len, tag);
		return;
	}
	if (!bench_attr(tag, len, "from", &v, &vlen) ||
	    (sender = bench_sender_index(b, v, vlen)) < 0 ||
	    !bench_attr(tag, len, "id", &v, &vlen) || vlen == 0 || vlen > 19) {
		if (c->errors++ == 0)
			fprintf(stderr, "bench-load: %s: unexpected message: %.*s\n", c->name,
				(int)len, tag);
		return;
	}
	for (size_t i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9') {
			c->errors++;
			return;
		}
		seq = seq * 10 + (uint64_t)(v[i] - '0');
	}
	/* Only the predecessor in the ring sends to c: anything else was misrouted. */
	if ((unsigned long)sender != (c->index + b->opt.components - 1) % b->opt.components) {
		if (c->errors++ == 0)
			fprintf(stderr, "bench-load: %s: misrouted message: %.*s\n", c->name,
				(int)len, tag);
		return;
	}
	if (seq <= c->last_seq[sender])
		c->out_of_order++;
	else
		c->last_seq[sender] = seq;
	c->received++;
}

/* Consumes every complete top-level element in c->in; keeps a trailing partial one. */
static void bench_scan(struct bench *b, struct bench_conn *c)
{
	const char *buf = c->in;
	size_t len = c->in_len;
	size_t pos = 0;

	while (pos < len) {
		const char *lt = memchr(buf + pos, '<', len - pos);
		if (lt == NULL) {
			pos = len; /* whitespace keepalives between stanzas */
			break;
		}
		size_t start = (size_t)(lt - buf);
		const char *gt = memchr(lt, '>', len - start);
		if (gt == NULL) {
			pos = start;
			break;
		}
		size_t tag_len = (size_t)(gt - lt) + 1;
		size_t name_len = strcspn(lt + 1, " \t\r\n/>");
		bool self_closing = gt[-1] == '/';
		const char *end;

		if (lt[1] == '?') {
			pos = start + tag_len;
			continue;
		}
		if (lt[1] == '/') {
			/* At depth 0 only </stream:stream> closes: the server ended the stream. */
			fprintf(stderr, "bench-load: %s: server closed the stream\n", c->name);
			c->closed = true;
			pos = len;
			break;
		}
		if (self_closing) {
			end = gt + 1;
		} else {
			char close_tag[64];
			if (name_len + 4 > sizeof(close_tag)) {
				c->errors++;
				pos = len;
				break;
			}
			snprintf(close_tag, sizeof(close_tag), "</%.*s>", (int)name_len, lt + 1);
			end = bench_find(gt + 1, len - start - tag_len, close_tag);
			if (end == NULL) {
				pos = start;
				break;
			}
			end += name_len + 3;
		}
		if (c->acks_on && !(name_len == 1 && lt[1] == 'a'))
			c->in_seq++;
		if (name_len == 7 && memcmp(lt + 1, "message", 7) == 0) {
			bench_on_message(b, c, lt, tag_len);
		} else if (b->opt.acks && name_len == 1 && lt[1] == 'a') {
			c->acks++;
		} else if (b->opt.acks && !c->acks_on && name_len == 2 &&
			   memcmp(lt + 1, "iq", 2) == 0) {
			c->acks_on = true; /* the router's answer to the <ack/> request */
		} else if (name_len == 12 && memcmp(lt + 1, "stream:error", 12) == 0) {
			fprintf(stderr, "bench-load: %s: stream error: %.*s\n", c->name,
				(int)(end - lt), lt);
			c->errors++;
			c->closed = true;
		} else if (c->errors++ == 0) {
			fprintf(stderr, "bench-load: %s: unexpected stanza: %.*s\n", c->name,
				(int)(end - lt > 300 ? 300 : end - lt), lt);
		}
		pos = (size_t)(end - buf);
	}
	if (pos > 0)
		bench_consume(c, pos);
}

/* Reads what is available on c and accounts the messages in it. Returns 0, or -1 on EOF or
 * error. */
static int bench_receive(struct bench *b, struct bench_conn *c)
{
	for (int i = 0; i < BENCH_READS_PER_EVENT && !c->closed; i++) {
		if (c->in_len == c->in_cap) {
			if (c->in_cap >= BENCH_IN_MAX) {
				fprintf(stderr, "bench-load: %s: stanza larger than %d bytes\n",
					c->name, BENCH_IN_MAX);
				return -1;
			}
			c->in_cap *= 2;
			c->in = realloc(c->in, c->in_cap);
			if (c->in == NULL) {
				perror("bench-load: realloc");
				exit(2);
			}
		}
		size_t room = c->in_cap - c->in_len;
		ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			bench_scan(b, c);
			/* The socket was drained: spare the recv() that says EAGAIN. */
			if ((size_t)n < room)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		fprintf(stderr, "bench-load: %s: %s\n", c->name,
			n == 0 ? "connection closed by the server" : strerror(errno));
		return -1;
	}
	/* Acknowledge what this batch brought, as Junction's components do
	 * (the router keeps it until then). */
	if (c->acks_on && c->in_seq != c->in_acked) {
		if (c->out_off + c->out_len + 96 > BENCH_OUT_CAP) {
			memmove(c->out, c->out + c->out_off, c->out_len);
			c->out_off = 0;
		}
		if (c->out_off + c->out_len + 96 <= BENCH_OUT_CAP) {
			c->out_len += (size_t)sprintf(c->out + c->out_off + c->out_len,
						      "<a xmlns='urn:junction:component:1' h='%" PRIu64
						      "'/>",
						      c->in_seq);
			c->in_acked = c->in_seq;
			if (bench_pump(b, c) < 0)
				return -1;
		}
	}
	return c->closed ? -1 : 0;
}

static void bench_close(struct bench *b, struct bench_conn *c)
{
	if (c->closed && c->fd < 0)
		return;
	c->closed = true;
	epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

/* Runs the load until every component received N messages or the deadline passes. */
static void bench_run(struct bench *b, double deadline)
{
	unsigned k = b->opt.components;
	struct epoll_event events[64];

	for (uint64_t turn = 0;; turn++) {
		bool done = true;
		bool broken = false;

		for (unsigned i = 0; i < k; i++) {
			if (b->conns[i].received < b->opt.messages)
				done = false;
			if (b->conns[i].closed)
				broken = true;
		}
		/* A closed stream can neither send nor receive the rest: stop, don't wait. */
		if (done || broken)
			return;
		double now = bench_now();
		if (now >= deadline)
			return;
		for (unsigned i = 0; i < k; i++) {
			if (bench_pump(b, &b->conns[i]) < 0)
				bench_close(b, &b->conns[i]);
		}
		int timeout_ms = (int)((deadline - now) * 1000) + 1;
		int n = epoll_wait(b->epoll_fd, events, 64, timeout_ms > 1000 ? 1000 : timeout_ms);
		for (int e = 0; e < n; e++) {
			struct bench_conn *c = events[e].data.ptr;

			if (c->closed)
				continue;
			if (events[e].events & EPOLLOUT)
				c->write_blocked = false;
			if ((events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
			    bench_receive(b, c) < 0)
				bench_close(b, c);
		}
	}
}

int main(int argc, char **argv)
{
	struct bench b = {0};
	uint64_t total = 0, lost = 0, out_of_order = 0, errors = 0, acks = 0;
	double deadline, start, seconds;
	bool timed_out;

	if (bench_parse_args(argc, argv, &b.opt) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	deadline = bench_now() + b.opt.timeout;

	b.conns = calloc(b.opt.components, sizeof(*b.conns));
	b.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (b.conns == NULL || b.epoll_fd < 0) {
		perror("bench-load");
		return 2;
	}
	for (unsigned i = 0; i < b.opt.components; i++) {
		struct bench_conn *c = &b.conns[i];

		c->fd = -1;
		c->index = i;
		c->next_seq = 1;
		snprintf(c->name, sizeof(c->name), "c%u%s", i, b.opt.suffix);
		c->out = malloc(BENCH_OUT_CAP);
		c->in_cap = BENCH_IN_CAP;
		c->in = malloc(c->in_cap);
		c->last_seq = calloc(b.opt.components, sizeof(*c->last_seq));
		if (c->out == NULL || c->in == NULL || c->last_seq == NULL) {
			perror("bench-load");
			return 2;
		}
	}
	/* The longest from/to/id part of a message, so a buffer slot always fits one. */
	int name_max = snprintf(NULL, 0, "c%u%s", b.opt.components - 1, b.opt.suffix);
	b.prefix_max = strlen("<message from='u@' to='u@' id='99999999999999999999'><body>"
			      "</body></message>") +
		       2 * ((size_t)name_max + 1);

	for (unsigned i = 0; i < b.opt.components; i++) {
		struct bench_conn *c = &b.conns[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

		if (bench_connect(&b, c, deadline) < 0)
			return 2;
		if (epoll_ctl(b.epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			perror("bench-load: epoll_ctl");
			return 2;
		}
	}

	start = bench_now();
	bench_run(&b, deadline);
	seconds = bench_now() - start;
	timed_out = bench_now() >= deadline;

	for (unsigned i = 0; i < b.opt.components; i++) {
		struct bench_conn *c = &b.conns[i];

		total += c->received;
		if (c->received < b.opt.messages)
			lost += b.opt.messages - c->received;
		out_of_order += c->out_of_order;
		errors += c->errors;
		acks += c->acks;
	}
	printf("messages=%" PRIu64 " seconds=%.3f rate=%.0f lost=%" PRIu64 " out_of_order=%" PRIu64
	       " errors=%" PRIu64,
	       total, seconds, seconds > 0 ? (double)total / seconds : 0.0, lost, out_of_order,
	       errors);
	if (b.opt.acks)
		printf(" acks=%" PRIu64, acks);
	printf("\n");
	fflush(stdout);
	if (timed_out && lost > 0)
		fprintf(stderr, "bench-load: timed out after %.0f s\n", b.opt.timeout);

	for (unsigned i = 0; i < b.opt.components; i++) {
		struct bench_conn *c = &b.conns[i];

		if (c->fd >= 0) {
			/* Best effort: a polite end of stream, so servers log no error. Not after a
			 * partly written stanza, where it would be malformed. */
			if (c->out_len == 0)
				send(c->fd, "</stream:stream>", 16, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(c->fd);
		}
		free(c->out);
		free(c->in);
		free(c->last_seq);
	}
	free(b.conns);
	close(b.epoll_fd);
	return lost == 0 && out_of_order == 0 && errors == 0 ? 0 : 1;
}
