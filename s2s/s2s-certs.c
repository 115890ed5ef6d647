/* s2s-certs.c: which certificate s2s presents for which of its domains.
 *
 * The default is [s2s] tls_cert/tls_key (else [c2s]'s), one certificate
 * that may name several served domains. With [s2s] tls_dir, a domain that
 * has DIR/DOMAIN.crt and DIR/DOMAIN.key presents that pair instead: to a
 * peer whose stream header names it ('to', known before STARTTLS), and as
 * the client certificate of outgoing streams from it. Files are looked for
 * once per domain, the first time it is needed (domains bound at the router
 * later are covered too); a pair that does not load is one error line and
 * the default certificate. On direct TLS (listen_tls) the stream header comes
 * after the handshake, so there the client's SNI name picks the pair.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "s2s.h"
#include "tls.h"

struct s2s_cert {
	char *domain;
	struct tls_ctx *server, *client; /* both NULL: no pair of its own */
	struct s2s_cert *next;
};

static void s2s_cert_load(struct s2s *s2s, struct s2s_cert *c, const char *dir)
{
	struct buf cert = {0}, key = {0};
	char err[512];

	buf_printf(&cert, "%s/%s.crt", dir, c->domain);
	buf_printf(&key, "%s/%s.key", dir, c->domain);
	if (access(cert.data, R_OK) != 0 || access(key.data, R_OK) != 0)
		goto out;
	if (tls_ctx_new_server(cert.data, key.data, &c->server, err, sizeof(err)) < 0 ||
	    tls_ctx_request_client_cert(c->server, config_get(s2s->config, "s2s", "tls_ca"), err,
					sizeof(err)) < 0 ||
	    tls_ctx_new_client(config_get(s2s->config, "s2s", "tls_ca"), s2s->require_valid_cert,
			       &c->client, err, sizeof(err)) < 0 ||
	    tls_ctx_reload(c->client, cert.data, key.data, err, sizeof(err)) < 0) {
		JLOG_ERROR(0, "%s: %s (using the default certificate)", c->domain, err);
		tls_ctx_free(&c->server);
		tls_ctx_free(&c->client);
		goto out;
	}
	JLOG_INFO(0, "%s presents %s", c->domain, cert.data);
out:
	buf_free(&cert);
	buf_free(&key);
}

struct tls_ctx *s2s_certs_ctx(struct s2s *s2s, const char *domain, bool server)
{
	struct tls_ctx *fallback = server ? s2s->tls_server : s2s->tls_client;
	const char *dir = config_get(s2s->config, "s2s", "tls_dir");
	struct s2s_cert *c;

	if (dir == NULL || domain == NULL)
		return fallback;
	for (c = s2s->certs; c != NULL; c = c->next) {
		if (strcmp(c->domain, domain) == 0)
			break;
	}
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->domain = xstrdup(domain);
		c->next = s2s->certs;
		s2s->certs = c;
		s2s_cert_load(s2s, c, dir);
	}
	struct tls_ctx *own = server ? c->server : c->client;
	return own != NULL ? own : fallback;
}

/* SNI on direct TLS: only served domains are looked up, so a peer cannot make us remember
 * arbitrary names. */
static struct tls_ctx *s2s_certs_pick(void *arg, const char *name)
{
	struct s2s *s2s = arg;

	return s2s_serves(s2s, name) ? s2s_certs_ctx(s2s, name, true) : NULL;
}

void s2s_certs_sni(struct s2s *s2s)
{
	if (s2s->tls_server != NULL && config_get(s2s->config, "s2s", "tls_dir") != NULL)
		tls_ctx_set_sni(s2s->tls_server, s2s_certs_pick, s2s);
}

void s2s_certs_free(struct s2s *s2s)
{
	while (s2s->certs != NULL) {
		struct s2s_cert *c = s2s->certs;
		s2s->certs = c->next;
		tls_ctx_free(&c->server);
		tls_ctx_free(&c->client);
		free(c->domain);
		free(c);
	}
}
