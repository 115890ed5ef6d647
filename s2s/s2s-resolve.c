/* s2s-resolve.c: special-use names, the static hosts list, the DNS lookup
 * sequence (SRV, then addresses) and the TTL cache; see s2s-resolve.h.
 *
 * One struct s2s_lookup per domain being resolved collects the waiting
 * requests, so concurrent streams to one domain cost one lookup. Answers
 * (and failures) become cache entries; requests are answered from a
 * zero-delay timer so that a callback never runs inside s2s_resolve().
 */
#include "s2s-resolve.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "digest.h"
#include "log.h"

struct s2s_cache {
	char *domain;
	struct s2s_target *targets;
	size_t n;
	char why[96];
	uint64_t expires_ms;
	bool is_static;
	struct s2s_cache *next;
};

struct s2s_resolve_req {
	struct s2s_resolver *resolver;
	char *domain;
	s2s_resolve_cb *cb;
	void *ctx;
	bool cancelled;
	struct s2s_resolve_req *next;
};

struct s2s_lookup {
	struct s2s_resolver *resolver;
	char *domain;
	unsigned outstanding;
	bool srv_failed;
	struct s2s_srv *srv; /* merged answers, hosts owned */
	size_t n_srv;
	uint32_t ttl;
	/* per SRV target: its addresses */
	struct sockaddr_storage **addrs;
	size_t *n_addrs;
	bool fallback; /* no SRV: the domain's own addresses */
	bool dead;     /* the resolver is gone: free on the last answer */
	struct s2s_lookup *next;
};

struct s2s_addr_arg {
	struct s2s_lookup *lookup;
	size_t index;
};

struct s2s_resolver {
	uv_loop_t *loop;
	struct s2s_cares *cares; /* NULL: static only */
	struct s2s_cache *cache;
	struct s2s_lookup *lookups;
	struct s2s_resolve_req *requests; /* waiting for their lookup or the timer */
	uv_timer_t *timer;
};

/* ---- pure helpers --------------------------------------------------------------- */

static bool s2s_ends_with_label(const char *domain, const char *label)
{
	size_t dl = strlen(domain), ll = strlen(label);

	if (dl == ll)
		return strcasecmp(domain, label) == 0;
	return dl > ll && domain[dl - ll - 1] == '.' && strcasecmp(domain + dl - ll, label) == 0;
}

bool s2s_resolve_special(const char *domain)
{
	static const char *const names[] = {"invalid", "localhost", "local", "onion"};
	char tmp[256];
	size_t n = strlen(domain);

	if (n == 0 || n >= sizeof(tmp))
		return true;
	memcpy(tmp, domain, n + 1);
	if (tmp[n - 1] == '.')
		tmp[n - 1] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (s2s_ends_with_label(tmp, names[i]))
			return true;
	}
	return false;
}

int s2s_resolve_parse_host(const char *item, char *domain_r, size_t domain_len,
			   struct s2s_target *target_r)
{
	const char *eq = strchr(item, '=');
	char hp[300], host[256];
	unsigned port;

	memset(target_r, 0, sizeof(*target_r));
	if (eq == NULL || eq == item || (size_t)(eq - item) >= domain_len)
		return -1;
	size_t dl = (size_t)(eq - item);
	while (dl > 0 && isspace((unsigned char)item[dl - 1]))
		dl--;
	for (size_t i = 0; i < dl; i++)
		domain_r[i] = (char)tolower((unsigned char)item[i]);
	domain_r[dl] = '\0';
	if (dl == 0)
		return -1;
	const char *v = eq + 1;
	while (isspace((unsigned char)*v))
		v++;
	if (strlen(v) >= sizeof(hp))
		return -1;
	snprintf(hp, sizeof(hp), "%s", v);
	size_t hl = strlen(hp);
	if (hl > 4 && strcmp(hp + hl - 4, "/tls") == 0) {
		target_r->direct_tls = true;
		hp[hl - 4] = '\0';
	}
	if (config_parse_hostport(hp, host, sizeof(host), &port) < 0 || port == 0)
		return -1;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&target_r->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&target_r->addr;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
	} else {
		return -1;
	}
	return 0;
}

void s2s_srv_order(struct s2s_srv *v, size_t n, uint32_t (*rnd)(void))
{
	/* Insertion sort by priority, direct TLS first among equals. */
	for (size_t i = 1; i < n; i++) {
		struct s2s_srv x = v[i];
		size_t j = i;
		while (j > 0 && (v[j - 1].priority > x.priority ||
				 (v[j - 1].priority == x.priority && !v[j - 1].direct_tls &&
				  x.direct_tls))) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
	/* RFC 2782 weighted selection within each run of equal priority and
	 * equal TLS mode. */
	for (size_t start = 0; start < n;) {
		size_t end = start + 1;
		while (end < n && v[end].priority == v[start].priority &&
		       v[end].direct_tls == v[start].direct_tls)
			end++;
		for (size_t pos = start; pos + 1 < end; pos++) {
			uint64_t sum = 0;
			for (size_t k = pos; k < end; k++)
				sum += v[k].weight;
			size_t pick = pos;
			if (sum > 0) {
				uint64_t r = (uint64_t)rnd() % (sum + 1), run = 0;
				for (size_t k = pos; k < end; k++) {
					run += v[k].weight;
					if (run >= r && (v[k].weight > 0 || r == 0)) {
						pick = k;
						break;
					}
				}
			}
			struct s2s_srv t = v[pos];
			v[pos] = v[pick];
			v[pick] = t;
		}
		start = end;
	}
}

static int s2s_dns_skip_name(const unsigned char *abuf, int alen, int off)
{
	while (off < alen) {
		unsigned char l = abuf[off];
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= alen ? off + 2 : -1;
		if (l & 0xc0)
			return -1;
		off += 1 + l;
		if (l == 0)
			return off;
	}
	return -1;
}

uint32_t s2s_dns_min_ttl(const unsigned char *abuf, int alen)
{
	if (alen < 12)
		return 0;
	unsigned qd = (unsigned)(abuf[4] << 8 | abuf[5]);
	unsigned an = (unsigned)(abuf[6] << 8 | abuf[7]);
	int off = 12;
	uint32_t min = 0;

	for (unsigned i = 0; i < qd; i++) {
		off = s2s_dns_skip_name(abuf, alen, off);
		if (off < 0 || off + 4 > alen)
			return 0;
		off += 4;
	}
	for (unsigned i = 0; i < an; i++) {
		off = s2s_dns_skip_name(abuf, alen, off);
		if (off < 0 || off + 10 > alen)
			return min;
		uint32_t ttl = (uint32_t)abuf[off + 4] << 24 | (uint32_t)abuf[off + 5] << 16 |
			       (uint32_t)abuf[off + 6] << 8 | abuf[off + 7];
		unsigned rdlen = (unsigned)(abuf[off + 8] << 8 | abuf[off + 9]);
		if (i == 0 || ttl < min)
			min = ttl;
		off += 10 + (int)rdlen;
	}
	return min;
}

/* ---- cache and delivery ---------------------------------------------------------- */

/* With fresh, expired entries are dropped on the way and never returned;
 * without, an answer that expired already (a TTL of 0) still serves the
 * requests that were waiting for it. */
static struct s2s_cache *s2s_cache_find(struct s2s_resolver *r, const char *domain, bool fresh)
{
	uint64_t now = uv_now(r->loop);

	for (struct s2s_cache **pp = &r->cache; *pp != NULL;) {
		struct s2s_cache *c = *pp;
		if (fresh && !c->is_static && c->expires_ms <= now) {
			*pp = c->next;
			free(c->domain);
			free(c->targets);
			free(c);
			continue;
		}
		if (strcmp(c->domain, domain) == 0)
			return c;
		pp = &c->next;
	}
	return NULL;
}

static struct s2s_cache *s2s_cache_add(struct s2s_resolver *r, const char *domain,
				       const struct s2s_target *t, size_t n, uint32_t ttl,
				       const char *why)
{
	struct s2s_cache *c = xcalloc(1, sizeof(*c));

	c->domain = xstrdup(domain);
	if (n > 0) {
		c->targets = xcalloc(n, sizeof(*t));
		memcpy(c->targets, t, n * sizeof(*t));
	}
	c->n = n;
	snprintf(c->why, sizeof(c->why), "%s", why != NULL ? why : "");
	if (ttl > S2S_RESOLVE_MAX_TTL)
		ttl = S2S_RESOLVE_MAX_TTL;
	if (n == 0)
		ttl = S2S_RESOLVE_NEGATIVE_TTL;
	c->expires_ms = uv_now(r->loop) + (uint64_t)ttl * 1000;
	c->next = r->cache;
	r->cache = c;
	return c;
}

/* Answer every request whose domain has a cache entry now. */
static void s2s_resolver_deliver(uv_timer_t *t)
{
	struct s2s_resolver *r = t->data;

	for (struct s2s_resolve_req **pp = &r->requests; *pp != NULL;) {
		struct s2s_resolve_req *q = *pp;
		struct s2s_cache *c = q->cancelled ? NULL : s2s_cache_find(r, q->domain, false);
		if (!q->cancelled && c == NULL) {
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		if (!q->cancelled) {
			/* Copy: the callback may start a new lookup that expires c. */
			size_t n = c->n;
			struct s2s_target *copy = n ? xcalloc(n, sizeof(*copy)) : NULL;
			char why[96];
			if (n)
				memcpy(copy, c->targets, n * sizeof(*copy));
			snprintf(why, sizeof(why), "%s", c->why);
			q->cb(q->ctx, copy, n, why);
			free(copy);
		}
		free(q->domain);
		free(q);
		pp = &r->requests; /* the list may have changed under the callback */
	}
}

static void s2s_resolver_kick(struct s2s_resolver *r)
{
	uv_timer_start(r->timer, s2s_resolver_deliver, 0, 0);
}

/* ---- DNS ------------------------------------------------------------------------ */

static void s2s_lookup_free(struct s2s_lookup *l)
{
	for (size_t i = 0; i < l->n_srv; i++) {
		free(l->srv[i].host);
		if (l->addrs != NULL)
			free(l->addrs[i]);
	}
	free(l->srv);
	free(l->addrs);
	free(l->n_addrs);
	free(l->domain);
	free(l);
}

static void s2s_lookup_unlink(struct s2s_lookup *l)
{
	for (struct s2s_lookup **pp = &l->resolver->lookups; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
}

static void s2s_lookup_finish(struct s2s_lookup *l)
{
	struct s2s_target t[S2S_RESOLVE_MAX_TARGETS];
	size_t n = 0;

	for (size_t i = 0; i < l->n_srv; i++) {
		for (size_t k = 0; k < l->n_addrs[i] && n < S2S_RESOLVE_MAX_TARGETS; k++) {
			t[n].addr = l->addrs[i][k];
			t[n].direct_tls = l->srv[i].direct_tls;
			n++;
		}
	}
	JLOG_DEBUG(0, "resolved %s: %zu address(es), ttl %u", l->domain, n, l->ttl);
	s2s_cache_add(l->resolver, l->domain, t, n, l->ttl,
		      l->srv_failed ? "DNS lookup failed" : "no address for the domain");
	s2s_lookup_unlink(l);
	s2s_resolver_kick(l->resolver);
	s2s_lookup_free(l);
}

static void s2s_lookup_addr_done(void *arg, bool ok, const struct sockaddr_storage *addrs,
				 size_t n, uint32_t ttl)
{
	struct s2s_addr_arg *a = arg;
	struct s2s_lookup *l = a->lookup;
	size_t i = a->index;

	free(a);
	l->outstanding--;
	if (!l->dead) {
		if (!ok)
			l->srv_failed = true;
		if (n > 0) {
			l->addrs[i] = xcalloc(n, sizeof(*addrs));
			memcpy(l->addrs[i], addrs, n * sizeof(*addrs));
			l->n_addrs[i] = n;
			if (ttl < l->ttl)
				l->ttl = ttl;
		}
	}
	if (l->outstanding > 0)
		return;
	if (l->dead)
		s2s_lookup_free(l);
	else
		s2s_lookup_finish(l);
}

static void s2s_lookup_addresses(struct s2s_lookup *l)
{
	if (l->n_srv == 1 && strcmp(l->srv[0].host, ".") == 0) {
		/* RFC 2782: "." means the service is decidedly not available. */
		free(l->srv[0].host);
		l->n_srv = 0;
	}
	l->addrs = xcalloc(l->n_srv + 1, sizeof(*l->addrs));
	l->n_addrs = xcalloc(l->n_srv + 1, sizeof(*l->n_addrs));
	if (l->n_srv == 0) {
		s2s_lookup_finish(l);
		return;
	}
	l->outstanding = (unsigned)l->n_srv;
	size_t n = l->n_srv;
	for (size_t i = 0; i < n; i++) {
		struct s2s_addr_arg *a = xcalloc(1, sizeof(*a));
		a->lookup = l;
		a->index = i;
		s2s_cares_addr(l->resolver->cares, l->srv[i].host, l->srv[i].port,
			       s2s_lookup_addr_done, a);
	}
}

static uint32_t s2s_rand32(void)
{
	char hex[9];
	digest_random_hex(hex, 4);
	return (uint32_t)strtoul(hex, NULL, 16);
}

static void s2s_lookup_srv_done(void *arg, bool ok, struct s2s_srv *v, size_t n, uint32_t ttl)
{
	struct s2s_lookup *l = arg;

	l->outstanding--;
	if (!l->dead) {
		if (!ok)
			l->srv_failed = true;
		if (n > 0) {
			l->srv = xrealloc(l->srv, (l->n_srv + n) * sizeof(*v));
			for (size_t i = 0; i < n; i++) {
				l->srv[l->n_srv] = v[i];
				l->srv[l->n_srv].host = xstrdup(v[i].host);
				l->n_srv++;
			}
			if (ttl < l->ttl)
				l->ttl = ttl;
		}
	}
	if (l->outstanding > 0)
		return;
	if (l->dead) {
		s2s_lookup_free(l);
		return;
	}
	if (l->n_srv == 0 && !l->srv_failed) {
		/* RFC 6120 3.2.2: no SRV records, so the domain itself on 5269. */
		l->srv = xcalloc(1, sizeof(*l->srv));
		l->srv[0].host = xstrdup(l->domain);
		l->srv[0].port = S2S_DEFAULT_PORT;
		l->n_srv = 1;
		l->fallback = true;
	}
	if (l->n_srv > S2S_RESOLVE_MAX_TARGETS) {
		for (size_t i = S2S_RESOLVE_MAX_TARGETS; i < l->n_srv; i++)
			free(l->srv[i].host);
		l->n_srv = S2S_RESOLVE_MAX_TARGETS;
	}
	s2s_srv_order(l->srv, l->n_srv, s2s_rand32);
	l->srv_failed = false;
	s2s_lookup_addresses(l);
}

static void s2s_lookup_start(struct s2s_resolver *r, const char *domain)
{
	for (struct s2s_lookup *l = r->lookups; l != NULL; l = l->next) {
		if (strcmp(l->domain, domain) == 0)
			return; /* already under way */
	}
	struct s2s_lookup *l = xcalloc(1, sizeof(*l));
	struct buf name = {0};

	l->resolver = r;
	l->domain = xstrdup(domain);
	l->ttl = S2S_RESOLVE_MAX_TTL;
	l->next = r->lookups;
	r->lookups = l;
	l->outstanding = 2;
	buf_printf(&name, "_xmpps-server._tcp.%s", domain);
	s2s_cares_srv(r->cares, name.data, true, s2s_lookup_srv_done, l);
	buf_reset(&name);
	buf_printf(&name, "_xmpp-server._tcp.%s", domain);
	s2s_cares_srv(r->cares, name.data, false, s2s_lookup_srv_done, l);
	buf_free(&name);
}

/* ---- the API --------------------------------------------------------------------- */

int s2s_resolver_new(uv_loop_t *loop, bool use_dns, const char *dns_servers,
		     const char *const *hosts, size_t n_hosts, struct s2s_resolver **resolver_r,
		     char *err, size_t errlen)
{
	struct s2s_resolver *r = xcalloc(1, sizeof(*r));

	*resolver_r = NULL;
	r->loop = loop;
	for (size_t i = 0; i < n_hosts; i++) {
		char domain[256];
		struct s2s_target t;
		if (s2s_resolve_parse_host(hosts[i], domain, sizeof(domain), &t) < 0) {
			snprintf(err, errlen,
				 "[s2s] hosts: '%s' is not DOMAIN=IP:PORT or DOMAIN=IP:PORT/tls",
				 hosts[i]);
			goto fail;
		}
		struct s2s_cache *c = NULL;
		for (struct s2s_cache *x = r->cache; x != NULL; x = x->next) {
			if (strcmp(x->domain, domain) == 0)
				c = x;
		}
		if (c == NULL) {
			c = s2s_cache_add(r, domain, &t, 1, 0, NULL);
			c->is_static = true;
		} else if (c->n < S2S_RESOLVE_MAX_TARGETS) {
			c->targets = xrealloc(c->targets, (c->n + 1) * sizeof(t));
			c->targets[c->n++] = t;
		}
	}
	if (use_dns && s2s_cares_new(loop, dns_servers, &r->cares, err, errlen) < 0)
		goto fail;
	r->timer = xcalloc(1, sizeof(*r->timer));
	uv_timer_init(loop, r->timer);
	r->timer->data = r;
	*resolver_r = r;
	return 0;
fail:
	s2s_resolver_free(&r);
	return -1;
}

static void s2s_timer_free(uv_handle_t *h)
{
	free(h);
}

void s2s_resolver_free(struct s2s_resolver **resolver)
{
	struct s2s_resolver *r = *resolver;

	if (r == NULL)
		return;
	*resolver = NULL;
	for (struct s2s_lookup *l = r->lookups; l != NULL; l = l->next)
		l->dead = true;
	r->lookups = NULL;
	s2s_cares_free(&r->cares); /* dead lookups free themselves in their callbacks */
	while (r->requests != NULL) {
		struct s2s_resolve_req *q = r->requests;
		r->requests = q->next;
		free(q->domain);
		free(q);
	}
	while (r->cache != NULL) {
		struct s2s_cache *c = r->cache;
		r->cache = c->next;
		free(c->domain);
		free(c->targets);
		free(c);
	}
	if (r->timer != NULL)
		uv_close((uv_handle_t *)r->timer, s2s_timer_free);
	free(r);
}

struct s2s_resolve_req *s2s_resolve(struct s2s_resolver *r, const char *domain,
				    s2s_resolve_cb *cb, void *ctx)
{
	struct s2s_resolve_req *q = xcalloc(1, sizeof(*q));

	q->resolver = r;
	q->domain = xstrdup(domain);
	q->cb = cb;
	q->ctx = ctx;
	q->next = r->requests;
	r->requests = q;
	if (s2s_cache_find(r, domain, true) != NULL) {
		s2s_resolver_kick(r);
	} else if (s2s_resolve_special(domain)) {
		s2s_cache_add(r, domain, NULL, 0, 0, "a special-use domain name (RFC 6761)");
		s2s_resolver_kick(r);
	} else if (r->cares == NULL) {
		s2s_cache_add(r, domain, NULL, 0, 0, "not in [s2s] hosts (resolver = static)");
		s2s_resolver_kick(r);
	} else {
		s2s_lookup_start(r, domain);
	}
	return q;
}

void s2s_resolve_cancel(struct s2s_resolve_req *req)
{
	if (req != NULL)
		req->cancelled = true;
}
