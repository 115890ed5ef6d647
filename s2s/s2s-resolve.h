/* s2s-resolve.h: where a remote domain's server is, asynchronously.
 *
 * A resolver answers "which addresses, in which order, with or without
 * direct TLS" for a domain. Three sources, in this order:
 *
 *   1. RFC 6761 special-use names (invalid, localhost, and their
 *      subdomains; also .local and .onion): fail at once, no query.
 *   2. The static list ([s2s] hosts = DOMAIN=HOST:PORT[/tls], ...), with
 *      IP literals only. With [s2s] resolver = static nothing else is asked.
 *   3. DNS through c-ares (s2s-cares.c): SRV _xmpps-server._tcp (direct TLS,
 *      XEP-0368) and _xmpp-server._tcp (STARTTLS) merged and ordered by
 *      priority, then weight (RFC 2782), the direct-TLS one first at equal
 *      priority; each target's A/AAAA; without any SRV record the domain's
 *      own A/AAAA on port 5269. Answers are cached for their smallest TTL
 *      (failures for S2S_RESOLVE_NEGATIVE_TTL).
 *
 * The callback always runs later on the loop, never inside s2s_resolve(),
 * and never after s2s_resolve_cancel() or s2s_resolver_free().
 *
 *   s2s_resolver_new(loop, true, hosts, n, &r, err, sizeof err);
 *   struct s2s_resolve_req *q = s2s_resolve(r, "example.net", on_resolved, ctx);
 *   ...
 *   s2s_resolver_free(&r);
 */
#ifndef JUNCTION_S2S_RESOLVE_H
#define JUNCTION_S2S_RESOLVE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#define S2S_DEFAULT_PORT 5269
/* Seconds a failed lookup is remembered; bounds a cached answer, too. */
#define S2S_RESOLVE_NEGATIVE_TTL 30
#define S2S_RESOLVE_MAX_TTL 3600
/* Addresses kept per domain (the rest of a long SRV list is dropped). */
#define S2S_RESOLVE_MAX_TARGETS 16

struct s2s_target {
	struct sockaddr_storage addr;
	bool direct_tls;
};

/* n == 0: the domain does not resolve; why says how. */
typedef void s2s_resolve_cb(void *ctx, const struct s2s_target *targets, size_t n,
			    const char *why);

struct s2s_resolver;
struct s2s_resolve_req;

/* dns_servers: "IP[:PORT],..." for c-ares, or NULL for /etc/resolv.conf's. */
int s2s_resolver_new(uv_loop_t *loop, bool use_dns, const char *dns_servers,
		     const char *const *hosts, size_t n_hosts, struct s2s_resolver **resolver_r,
		     char *err, size_t errlen);
void s2s_resolver_free(struct s2s_resolver **resolver);
struct s2s_resolve_req *s2s_resolve(struct s2s_resolver *resolver, const char *domain,
				    s2s_resolve_cb *cb, void *ctx);
void s2s_resolve_cancel(struct s2s_resolve_req *req);

/* Pure helpers, exposed for the unit test. */
/* True for names that must never be looked up (RFC 6761, 6762, 7686). */
bool s2s_resolve_special(const char *domain);
/* "example.net=127.0.0.3:5269" or ".../tls" into a domain (normalised to
 * lower case) and a target; -1 when malformed or the host is not an IP. */
int s2s_resolve_parse_host(const char *item, char *domain_r, size_t domain_len,
			   struct s2s_target *target_r);

struct s2s_srv {
	char *host;
	unsigned port, priority, weight;
	bool direct_tls;
};
/* Order SRV records per RFC 2782: ascending priority, within a priority a
 * weighted random order (rnd gives uniform 32-bit numbers); at equal
 * priority direct TLS ones go first (XEP-0368). */
void s2s_srv_order(struct s2s_srv *v, size_t n, uint32_t (*rnd)(void));
/* The smallest TTL among the answer records of a DNS reply, or 0. */
uint32_t s2s_dns_min_ttl(const unsigned char *abuf, int alen);

/* s2s-cares.c: c-ares on the libuv loop. */
struct s2s_cares;
typedef void s2s_cares_srv_cb(void *arg, bool ok, struct s2s_srv *v, size_t n, uint32_t ttl);
typedef void s2s_cares_addr_cb(void *arg, bool ok, const struct sockaddr_storage *addrs, size_t n,
			       uint32_t ttl);
int s2s_cares_new(uv_loop_t *loop, const char *servers, struct s2s_cares **cares_r, char *err,
		  size_t errlen);
/* Pending queries' callbacks run (ok false) before this returns. */
void s2s_cares_free(struct s2s_cares **cares);
/* ok with n == 0: no such records (NXDOMAIN or no data). v is borrowed. */
void s2s_cares_srv(struct s2s_cares *cares, const char *name, bool direct_tls,
		   s2s_cares_srv_cb *cb, void *arg);
void s2s_cares_addr(struct s2s_cares *cares, const char *host, unsigned port,
		    s2s_cares_addr_cb *cb, void *arg);

#endif
