/* bench/bench-null-relay.c: the ceiling a component router can reach under bench-load.
 *
 * Accepts K component streams, answers the XEP-0114 handshake without checking the secret, and
 * once all K are authenticated copies every byte read from the i-th authenticated stream to the
 * (i+1 mod K)-th, without parsing. bench-load sends component i's messages to component i+1 and
 * authenticates its components in index order, so the bytes land where a router would route
 * them. What this costs per message is the floor of any router: socket I/O and nothing else.
 *
 * Single-threaded, level-triggered epoll. Bytes read from a source go straight into the output
 * buffer of its one destination; every pending buffer is flushed once per loop turn. A full
 * destination buffer stops reading from its source until it drains to half (plain backpressure,
 * which a real router cannot afford on a shared stream but a benchmark ceiling can).
 * When every stream of a group has closed, the relay accepts the next group of K.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem, accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_MAX_COMPONENTS 4096
/* Handshake input is tiny: a client sending more than this before it is relayed is broken. */
#define RELAY_HANDSHAKE_CAP 4096
#define RELAY_DEFAULT_BUFFER (4 * 1024 * 1024)

enum relay_state {
	RELAY_STATE_HEADER,    /* waiting for <stream:stream ...> */
	RELAY_STATE_HANDSHAKE, /* waiting for </handshake> */
	RELAY_STATE_WAITING,   /* authenticated, waiting for the rest of the group */
	RELAY_STATE_RELAYING,
};

struct relay_conn {
	int fd;
	enum relay_state state;
	unsigned slot; /* order of authentication, valid from RELAY_STATE_WAITING */
	char *in;      /* handshake bytes; NULL once relaying */
	size_t in_len;
	char *out; /* bytes waiting to be written to this connection */
	size_t out_off;
	size_t out_len;
	uint32_t events;    /* what epoll watches now */
	bool paused;        /* not reading: the destination's buffer is full */
	bool write_blocked; /* last send() hit EAGAIN; wait for EPOLLOUT */
};

struct relay {
	int listen_fd;
	int epoll_fd;
	unsigned components;
	size_t buffer;
	unsigned authenticated;
	unsigned closed; /* streams of the current group that have closed */
	struct relay_conn **slots;
	unsigned long long stream_ids;
};

static void relay_usage(FILE *f)
{
	fprintf(f, "usage: bench-null-relay --port P [--host 127.0.0.1] [--components K]\n"
		   "                        [--buffer BYTES]\n");
}

static void relay_watch(struct relay *r, struct relay_conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};

	if (c->events == events)
		return;
	c->events = events;
	epoll_ctl(r->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Closes and frees every authenticated connection of the current group, so the relay can
 * accept the next group of K. */
static void relay_free_group(struct relay *r)
{
	for (unsigned i = 0; i < r->authenticated; i++) {
		struct relay_conn *c = r->slots[i];

		if (c->fd >= 0) {
			epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
		}
		free(c->in);
		free(c->out);
		free(c);
		r->slots[i] = NULL;
	}
	r->authenticated = 0;
	r->closed = 0;
}

/* Closes c. Before authentication it is simply freed. A stream that leaves before its group is
 * complete abandons the group (the pairing by order would be off). During relaying it counts
 * towards ending the group, which is freed when its last stream has closed. */
static void relay_close(struct relay *r, struct relay_conn *c)
{
	if (c->state == RELAY_STATE_WAITING) {
		fprintf(stderr,
			"bench-null-relay: a component left before all %u had "
			"authenticated; dropping the group\n",
			r->components);
		relay_free_group(r);
		return;
	}
	epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	free(c->in);
	c->in = NULL;
	if (c->state != RELAY_STATE_RELAYING) {
		free(c->out);
		free(c);
		return;
	}
	/* Stays in its slot so peers can still look it up; freed with the group. */
	if (++r->closed == r->components)
		relay_free_group(r);
}

/* Writes c's pending output until done or EAGAIN; 0, or -1 if the connection failed. */
static int relay_flush(struct relay_conn *c)
{
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
			return -1;
		}
	}
	if (c->out_len == 0)
		c->out_off = 0;
	return 0;
}

/* Queues bytes for c during the handshake (replies) or when relaying starts (leftovers). */
static void relay_queue(struct relay_conn *dst, const char *data, size_t len, size_t cap)
{
	if (dst->out_off + dst->out_len + len > cap) {
		memmove(dst->out, dst->out + dst->out_off, dst->out_len);
		dst->out_off = 0;
	}
	if (dst->out_len + len > cap)
		len = cap - dst->out_len; /* cannot happen: handshake input is tiny */
	memcpy(dst->out + dst->out_off + dst->out_len, data, len);
	dst->out_len += len;
}

static struct relay_conn *relay_target(const struct relay *r, const struct relay_conn *c)
{
	return r->slots[(c->slot + 1) % r->components];
}

static struct relay_conn *relay_source(const struct relay *r, const struct relay_conn *c)
{
	return r->slots[(c->slot + r->components - 1) % r->components];
}

/* All K streams are authenticated: hand bytes sent after each handshake to the destination
 * and start reading. */
static void relay_start_group(struct relay *r)
{
	for (unsigned i = 0; i < r->components; i++) {
		struct relay_conn *c = r->slots[i];

		c->state = RELAY_STATE_RELAYING;
		if (c->in_len > 0)
			relay_queue(relay_target(r, c), c->in, c->in_len, r->buffer);
		free(c->in);
		c->in = NULL;
		c->in_len = 0;
		relay_watch(r, c, EPOLLIN);
	}
}

/* Advances c's handshake with the bytes in c->in. Returns 0, or -1 to close c. */
static int relay_handshake(struct relay *r, struct relay_conn *c)
{
	char reply[256];

	if (c->state == RELAY_STATE_HEADER) {
		const char *p = memmem(c->in, c->in_len, "<stream:stream", 14);
		const char *gt = p != NULL ? memchr(p, '>', c->in_len - (size_t)(p - c->in)) : NULL;

		if (gt == NULL)
			return c->in_len < RELAY_HANDSHAKE_CAP ? 0 : -1;
		int n = snprintf(reply, sizeof(reply),
				 "<?xml version='1.0'?><stream:stream "
				 "xmlns:stream='http://etherx.jabber.org/streams' "
				 "xmlns='jabber:component:accept' id='nullrelay%llu'>",
				 ++r->stream_ids);
		relay_queue(c, reply, (size_t)n, r->buffer);
		c->in_len -= (size_t)(gt + 1 - c->in);
		memmove(c->in, gt + 1, c->in_len);
		c->state = RELAY_STATE_HANDSHAKE;
	}
	if (c->state == RELAY_STATE_HANDSHAKE) {
		const char *end = memmem(c->in, c->in_len, "</handshake>", 12);

		if (end == NULL)
			return c->in_len < RELAY_HANDSHAKE_CAP ? 0 : -1;
		if (r->authenticated == r->components) {
			static const char full[] =
				"<stream:error><policy-violation "
				"xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
				"</stream:stream>";
			relay_queue(c, full, sizeof(full) - 1, r->buffer);
			relay_flush(c);
			return -1;
		}
		relay_queue(c, "<handshake/>", 12, r->buffer);
		c->in_len -= (size_t)(end + 12 - c->in);
		memmove(c->in, end + 12, c->in_len);
		c->slot = r->authenticated++;
		r->slots[c->slot] = c;
		c->state = RELAY_STATE_WAITING;
		if (r->authenticated == r->components)
			relay_start_group(r);
	}
	return 0;
}

/* Reads from a connection that is not relaying yet; 0, or -1 to close it. An authenticated one
 * waiting for its group is still read, to notice when it leaves; what it sends is kept for its
 * destination. Sending more than RELAY_HANDSHAKE_CAP before the group is complete means the
 * client believes in fewer components than we do (a --components mismatch): then it is
 * closed, which drops the group, rather than left hanging until its timeout. */
static int relay_read_handshake(struct relay *r, struct relay_conn *c)
{
	size_t room = RELAY_HANDSHAKE_CAP - c->in_len;
	ssize_t n;

	if (room == 0) {
		fprintf(stderr,
			"bench-null-relay: a component sent %d bytes before the handshake "
			"or its group was complete (--components differs?)\n",
			RELAY_HANDSHAKE_CAP);
		return -1;
	}
	n = recv(c->fd, c->in + c->in_len, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	c->in_len += (size_t)n;
	return c->state == RELAY_STATE_WAITING ? 0 : relay_handshake(r, c);
}

/* Reads from a relaying source straight into its destination's buffer until the socket is
 * drained or the buffer is full; 0, or -1 when the source or its destination closed. */
static int relay_read(struct relay *r, struct relay_conn *src)
{
	struct relay_conn *dst = relay_target(r, src);

	for (int i = 0; i < 16; i++) {
		if (dst->out_off > 0 && dst->out_off + dst->out_len > r->buffer / 2) {
			memmove(dst->out, dst->out + dst->out_off, dst->out_len);
			dst->out_off = 0;
		}
		size_t room = r->buffer - dst->out_off - dst->out_len;
		/* The destination left: the group is ending, and so does its source. */
		if (dst->fd < 0)
			return -1;
		if (room == 0) {
			src->paused = true;
			relay_watch(r, src, 0);
			return 0;
		}
		ssize_t n = recv(src->fd, dst->out + dst->out_off + dst->out_len, room, 0);
		if (n > 0) {
			dst->out_len += (size_t)n;
			if ((size_t)n < room)
				return 0; /* drained: spare the recv() that says EAGAIN */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	return 0;
}

static void relay_accept(struct relay *r)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;

		if (fd < 0)
			return;
		struct relay_conn *c = calloc(1, sizeof(*c));
		char *in = malloc(RELAY_HANDSHAKE_CAP);
		char *out = malloc(r->buffer);
		if (c == NULL || in == NULL || out == NULL) {
			free(c);
			free(in);
			free(out);
			close(fd);
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->in = in;
		c->out = out;
		c->events = EPOLLIN;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c->in);
			free(c->out);
			free(c);
			close(fd);
		}
	}
}

/* Flushes every relaying connection with pending output once per loop turn, resumes sources
 * whose destination drained, and closes connections that failed. */
static void relay_flush_all(struct relay *r)
{
	if (r->authenticated < r->components)
		return;
	for (unsigned i = 0; i < r->components; i++) {
		struct relay_conn *c = r->slots[i];
		struct relay_conn *src = relay_source(r, c);

		if (c->fd < 0)
			continue;
		if (relay_flush(c) < 0) {
			relay_close(r, c);
			if (r->authenticated == 0)
				return; /* the group ended and is freed */
			continue;
		}
		if (src->paused && c->out_len <= r->buffer / 2)
			src->paused = false;
		relay_watch(r, c, (c->paused ? 0 : EPOLLIN) | (c->write_blocked ? EPOLLOUT : 0));
		if (src->fd >= 0)
			relay_watch(r, src,
				    (src->paused ? 0 : EPOLLIN) |
					    (src->write_blocked ? EPOLLOUT : 0));
	}
}

/* Handles an event on a connection that is not relaying yet. Its replies are flushed at once:
 * handshakes are rare and tiny. Returns 0, or -1 when the connection's group was freed. */
static int relay_on_handshake_event(struct relay *r, struct relay_conn *c, uint32_t events)
{
	if ((events & EPOLLERR) ||
	    ((events & (EPOLLIN | EPOLLHUP)) && relay_read_handshake(r, c) < 0) ||
	    relay_flush(c) < 0) {
		bool group_freed = c->state == RELAY_STATE_WAITING;
		relay_close(r, c);
		return group_freed ? -1 : 0;
	}
	if (c->state == RELAY_STATE_RELAYING)
		return 0; /* this handshake completed the group; relay_flush_all takes over */
	relay_watch(r, c, EPOLLIN | (c->write_blocked ? EPOLLOUT : 0));
	return 0;
}

static int relay_listen(const char *host, unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1;
	int fd;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "bench-null-relay: --host must be an IPv4 loopback address\n");
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "bench-null-relay: listen on %s:%u: %s\n", host, port,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct relay r = {.components = 4, .buffer = RELAY_DEFAULT_BUFFER};
	const char *host = "127.0.0.1";
	unsigned long port = 0;
	struct epoll_event events[64];

	/* Every option takes a value, so they come in pairs. */
	for (int i = 1; i < argc; i += 2) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;
		unsigned long v = val != NULL ? strtoul(val, &end, 10) : 0;
		bool numeric = val != NULL && end != val && *end == '\0';

		if (strcmp(argv[i], "--help") == 0) {
			relay_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--host") == 0 && val != NULL) {
			host = val;
		} else if (strcmp(argv[i], "--port") == 0 && numeric && v > 0 && v < 65536) {
			port = v;
		} else if (strcmp(argv[i], "--components") == 0 && numeric && v > 0 &&
			   v <= RELAY_MAX_COMPONENTS) {
			r.components = (unsigned)v;
		} else if (strcmp(argv[i], "--buffer") == 0 && numeric && v >= 65536 &&
			   v <= 1024UL * 1024 * 1024) {
			r.buffer = v;
		} else {
			relay_usage(stderr);
			return 2;
		}
	}
	if (port == 0) {
		relay_usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	r.slots = calloc(r.components, sizeof(*r.slots));
	r.listen_fd = relay_listen(host, (unsigned)port);
	r.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (r.slots == NULL || r.listen_fd < 0 || r.epoll_fd < 0)
		return 1;
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(r.epoll_fd, EPOLL_CTL_ADD, r.listen_fd, &lev);
	fprintf(stderr, "bench-null-relay: listening on %s:%lu for groups of %u components\n", host,
		port, r.components);

	/* Runs until killed; run-bench owns its lifetime. */
	for (;;) {
		int n = epoll_wait(r.epoll_fd, events, 64, -1);

		if (n < 0 && errno != EINTR)
			return 1;
		for (int e = 0; e < n; e++) {
			struct relay_conn *c = events[e].data.ptr;
			uint32_t ev = events[e].events;

			if (c == NULL) {
				relay_accept(&r);
				continue;
			}
			if (c->fd < 0)
				continue; /* closed earlier in this batch; freed with its group */
			if (ev & EPOLLOUT)
				c->write_blocked = false;
			if (c->state != RELAY_STATE_RELAYING) {
				if (relay_on_handshake_event(&r, c, ev) < 0)
					break; /* group freed: later events may point at it */
				continue;
			}
			/* A paused source is not read, yet its hang-up is reported every time. */
			bool failed = (ev & EPOLLERR) || ((ev & EPOLLHUP) && c->paused);
			if (!failed && (ev & (EPOLLIN | EPOLLHUP)) && !c->paused)
				failed = relay_read(&r, c) < 0;
			if (failed) {
				relay_close(&r, c);
				if (r.authenticated == 0)
					break; /* group freed: later events may point at it */
			}
		}
		relay_flush_all(&r);
	}
}
