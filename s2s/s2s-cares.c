/* s2s-cares.c: c-ares driven by the libuv loop, for SRV and A/AAAA lookups.
 *
 * c-ares tells us which sockets it wants watched (sock_state_cb); each gets
 * a uv_poll_t, and a timer calls ares_process_fd() for c-ares's own
 * timeouts and retries while queries are pending. Answers are handed back
 * decoded: SRV records with the TTL of the reply, addresses with the
 * smallest TTL among them. Nothing here decides anything.
 */
#include <ares.h>
#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "s2s-resolve.h"

struct s2s_cares_poll {
	uv_poll_t poll; /* data: this struct */
	struct s2s_cares *cares;
	ares_socket_t fd;
	struct s2s_cares_poll *next;
};

struct s2s_cares {
	uv_loop_t *loop;
	ares_channel channel;
	uv_timer_t *timer;
	struct s2s_cares_poll *polls;
	unsigned pending;
};

struct s2s_cares_query {
	struct s2s_cares *cares;
	bool direct_tls;
	unsigned port;
	s2s_cares_srv_cb *srv_cb;
	s2s_cares_addr_cb *addr_cb;
	void *arg;
};

static void s2s_cares_timer_cb(uv_timer_t *t)
{
	struct s2s_cares *c = t->data;

	ares_process_fd(c->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	if (c->pending == 0)
		uv_timer_stop(t);
}

static void s2s_cares_poll_free(uv_handle_t *h)
{
	free(h->data);
}

static void s2s_cares_poll_event(uv_poll_t *p, int status, int events)
{
	struct s2s_cares_poll *cp = p->data;
	ares_socket_t fd = cp->fd;

	ares_process_fd(cp->cares->channel,
			(events & UV_READABLE) || status < 0 ? fd : ARES_SOCKET_BAD,
			(events & UV_WRITABLE) || status < 0 ? fd : ARES_SOCKET_BAD);
}

/* Called by c-ares when a socket should be watched (readable/writable) or
 * no longer (both 0). */
static void s2s_cares_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct s2s_cares *c = data;
	struct s2s_cares_poll **pp = &c->polls, *cp;

	while (*pp != NULL && (*pp)->fd != fd)
		pp = &(*pp)->next;
	cp = *pp;
	if (!readable && !writable) {
		if (cp != NULL) {
			*pp = cp->next;
			uv_poll_stop(&cp->poll);
			uv_close((uv_handle_t *)&cp->poll, s2s_cares_poll_free);
		}
		return;
	}
	if (cp == NULL) {
		cp = xcalloc(1, sizeof(*cp));
		cp->fd = fd;
		if (uv_poll_init_socket(c->loop, &cp->poll, fd) != 0) {
			free(cp);
			return;
		}
		cp->cares = c;
		cp->poll.data = cp;
		cp->next = c->polls;
		c->polls = cp;
	}
	uv_poll_start(&cp->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
		      s2s_cares_poll_event);
}

static void s2s_cares_timer_free(uv_handle_t *h)
{
	free(h);
}

int s2s_cares_new(uv_loop_t *loop, const char *servers, struct s2s_cares **cares_r, char *err,
		  size_t errlen)
{
	struct s2s_cares *c = xcalloc(1, sizeof(*c));
	struct ares_options o = {0};
	int r;

	*cares_r = NULL;
	if ((r = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(r));
		free(c);
		return -1;
	}
	o.sock_state_cb = s2s_cares_sock_state;
	o.sock_state_cb_data = c;
	/* Server domains are absolute: never try them under a search domain. */
	o.flags = ARES_FLAG_NOSEARCH;
	if ((r = ares_init_options(&c->channel, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS)) !=
	    ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(r));
		ares_library_cleanup();
		free(c);
		return -1;
	}
	if (servers != NULL && (r = ares_set_servers_ports_csv(c->channel, servers)) != ARES_SUCCESS) {
		snprintf(err, errlen, "[s2s] dns_servers: %s", ares_strerror(r));
		ares_destroy(c->channel);
		ares_library_cleanup();
		free(c);
		return -1;
	}
	c->loop = loop;
	c->timer = xcalloc(1, sizeof(*c->timer));
	uv_timer_init(loop, c->timer);
	c->timer->data = c;
	*cares_r = c;
	return 0;
}

void s2s_cares_free(struct s2s_cares **cares)
{
	struct s2s_cares *c = *cares;

	if (c == NULL)
		return;
	*cares = NULL;
	ares_destroy(c->channel); /* runs pending callbacks with ARES_EDESTRUCTION */
	while (c->polls != NULL) {
		struct s2s_cares_poll *cp = c->polls;
		c->polls = cp->next;
		uv_poll_stop(&cp->poll);
		uv_close((uv_handle_t *)&cp->poll, s2s_cares_poll_free);
	}
	uv_close((uv_handle_t *)c->timer, s2s_cares_timer_free);
	ares_library_cleanup();
	free(c);
}

static void s2s_cares_started(struct s2s_cares *c)
{
	c->pending++;
	if (!uv_is_active((uv_handle_t *)c->timer))
		uv_timer_start(c->timer, s2s_cares_timer_cb, 200, 200);
}

static void s2s_cares_srv_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct s2s_cares_query *q = arg;
	struct ares_srv_reply *reply = NULL;
	struct s2s_srv *v = NULL;
	size_t n = 0;
	bool ok = false;
	uint32_t ttl = 0;
	(void)timeouts;

	q->cares->pending--;
	if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
		ok = true;
	} else if (status == ARES_SUCCESS) {
		int r = ares_parse_srv_reply(abuf, alen, &reply);
		if (r == ARES_SUCCESS) {
			ok = true;
			ttl = s2s_dns_min_ttl(abuf, alen);
			for (struct ares_srv_reply *s = reply; s != NULL; s = s->next)
				n++;
			v = xcalloc(n + 1, sizeof(*v));
			n = 0;
			for (struct ares_srv_reply *s = reply; s != NULL; s = s->next, n++) {
				v[n].host = s->host;
				v[n].port = s->port;
				v[n].priority = s->priority;
				v[n].weight = s->weight;
				v[n].direct_tls = q->direct_tls;
			}
		} else if (r == ARES_ENODATA) {
			ok = true;
		}
	}
	q->srv_cb(q->arg, ok, v, n, ttl);
	free(v);
	if (reply != NULL)
		ares_free_data(reply);
	free(q);
}

void s2s_cares_srv(struct s2s_cares *cares, const char *name, bool direct_tls,
		   s2s_cares_srv_cb *cb, void *arg)
{
	struct s2s_cares_query *q = xcalloc(1, sizeof(*q));

	q->cares = cares;
	q->direct_tls = direct_tls;
	q->srv_cb = cb;
	q->arg = arg;
	s2s_cares_started(cares);
	ares_query(cares->channel, name, ns_c_in, ns_t_srv, s2s_cares_srv_done, q);
}

static void s2s_cares_addr_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct s2s_cares_query *q = arg;
	struct sockaddr_storage *v = NULL;
	size_t n = 0;
	uint32_t ttl = 0;
	bool ok = status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_ENODATA;
	(void)timeouts;

	q->cares->pending--;
	if (status == ARES_SUCCESS && res != NULL) {
		for (struct ares_addrinfo_node *a = res->nodes; a != NULL; a = a->ai_next)
			n++;
		v = xcalloc(n + 1, sizeof(*v));
		n = 0;
		for (struct ares_addrinfo_node *a = res->nodes; a != NULL; a = a->ai_next) {
			if (a->ai_addrlen > sizeof(v[n]) ||
			    (a->ai_family != AF_INET && a->ai_family != AF_INET6))
				continue;
			memcpy(&v[n], a->ai_addr, a->ai_addrlen);
			if (a->ai_family == AF_INET)
				((struct sockaddr_in *)&v[n])->sin_port = htons((uint16_t)q->port);
			else
				((struct sockaddr_in6 *)&v[n])->sin6_port = htons((uint16_t)q->port);
			if (n == 0 || (uint32_t)a->ai_ttl < ttl)
				ttl = a->ai_ttl > 0 ? (uint32_t)a->ai_ttl : 0;
			n++;
		}
	}
	q->addr_cb(q->arg, ok, v, n, ttl);
	free(v);
	if (res != NULL)
		ares_freeaddrinfo(res);
	free(q);
}

void s2s_cares_addr(struct s2s_cares *cares, const char *host, unsigned port,
		    s2s_cares_addr_cb *cb, void *arg)
{
	struct s2s_cares_query *q = xcalloc(1, sizeof(*q));
	struct ares_addrinfo_hints hints = {0};

	q->cares = cares;
	q->port = port;
	q->addr_cb = cb;
	q->arg = arg;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	s2s_cares_started(cares);
	ares_getaddrinfo(cares->channel, host, NULL, &hints, s2s_cares_addr_done, q);
}
