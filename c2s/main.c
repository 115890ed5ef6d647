/* main.c: junction-c2s start-up and shutdown.
 *
 *   junction-c2s -c FILE
 *
 * Reads the deployment's configuration, listens for clients on [c2s] listen
 * (STARTTLS) and listen_tls (direct TLS), links to the router as [c2s] name
 * and runs the loop until SIGTERM or SIGINT. Then every client gets a
 * system-shutdown stream error, the link closes, and everything is freed
 * (so LeakSanitizer can vouch for the whole run). Init steps are mirrored in
 * reverse below.
 *
 * SIGHUP re-reads the configuration file for the log level (and reopens the
 * log file), the limits auth_timeout, auth_max_failures, max_clients,
 * http_connections_per_ip, bosh_inactivity and max_stanza_bytes (for
 * streams opened from then on), and the TLS
 * certificate and key ([c2s] tls_cert, tls_key), so a renewed
 * certificate needs no restart. Connections accepted afterwards present
 * the new one; existing ones keep theirs. A file that does not load (or a
 * key that does not match) is one error line, and the old pair stays.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "process.h"
#include "scram.h"
#include "tls.h"

/* The limits that can change while clients are connected. */
static void c2s_reload_limits(struct c2s *c2s, const struct config *fresh)
{
	uint64_t failures = config_get_uint(fresh, "c2s", "auth_max_failures");

	c2s->auth_timeout_ms = config_get_duration_ms(fresh, "c2s", "auth_timeout");
	c2s->limits.max_stanza_bytes = config_get_size(fresh, "c2s", "max_stanza_bytes");
	c2s->max_clients = config_get_uint(fresh, "c2s", "max_clients");
	c2s->http_per_ip = config_get_uint(fresh, "c2s", "http_connections_per_ip");
	c2s->bosh_inactivity_ms = config_get_duration_ms(fresh, "c2s", "bosh_inactivity");
	if (failures >= 2 && failures <= 5)
		c2s->auth_max_failures = (unsigned)failures;
	else
		JLOG_ERROR(0, "reload: [c2s] auth_max_failures must be 2 to 5 (keeping %u)",
			   c2s->auth_max_failures);
	JLOG_INFO(0, "reloaded limits: max_stanza_bytes %zu, auth_timeout %llums, "
		     "auth_max_failures %u",
		  c2s->limits.max_stanza_bytes, (unsigned long long)c2s->auth_timeout_ms,
		  c2s->auth_max_failures);
}

static void c2s_reload(struct c2s *c2s)
{
	struct config *fresh = process_reload(c2s->config, "c2s");
	char err[512];

	if (fresh == NULL)
		return;
	c2s_reload_limits(c2s, fresh);
	const char *cert = config_get(fresh, "c2s", "tls_cert");
	const char *key = config_get(fresh, "c2s", "tls_key");
	if (cert == NULL || key == NULL)
		JLOG_ERROR(0, "reload: [c2s] tls_cert and tls_key must be set (keeping the "
			      "current certificate)");
	else if (tls_ctx_reload(c2s->tls_ctx, cert, key, err, sizeof(err)) < 0)
		JLOG_ERROR(0, "reload: %s (keeping the current certificate)", err);
	else
		JLOG_INFO(0, "reloaded the log level and the certificate %s", cert);
	config_free(&fresh);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	struct c2s *c2s = sig->data;

	if (signum == SIGHUP) {
		c2s_reload(c2s);
		return;
	}
	uv_signal_stop(&c2s->sig_term);
	uv_signal_stop(&c2s->sig_int);
	uv_signal_stop(&c2s->sig_hup);
	uv_close((uv_handle_t *)&c2s->sig_term, NULL);
	uv_close((uv_handle_t *)&c2s->sig_int, NULL);
	uv_close((uv_handle_t *)&c2s->sig_hup, NULL);
	JLOG_INFO(0, "shutting down");
	c2s_metrics_stop(c2s);
	c2s_stop(c2s);
}

/* The key for SASL's fake salts: the same in every c2s of a deployment and
 * across restarts, unknown to clients. */
static void c2s_derive_sasl_secret(struct c2s *c2s)
{
	static const char label[] = "junction c2s fake SCRAM salts";
	const char *secret = config_get(c2s->config, "router", "secret");

	scram_hmac(SCRAM_SHA256, (const unsigned char *)secret, strlen(secret), label,
		   sizeof(label) - 1, c2s->sasl_secret);
}

int main(int argc, char **argv)
{
	char err[512];
	struct c2s c2s = {0};
	int ret = process_start(argc, argv, "c2s", &c2s.config);

	if (ret >= 0)
		return ret;
	ret = 1;
	c2s_derive_sasl_secret(&c2s);

	c2s.loop = uv_default_loop();
	if (c2s_start(&c2s, err, sizeof(err)) < 0) {
		JLOG_ERROR(0, "%s", err);
		c2s_stop(&c2s);
		uv_run(c2s.loop, UV_RUN_DEFAULT);
		goto out;
	}
	c2s_metrics_start(&c2s);
	uv_signal_init(c2s.loop, &c2s.sig_term);
	uv_signal_init(c2s.loop, &c2s.sig_int);
	uv_signal_init(c2s.loop, &c2s.sig_hup);
	c2s.sig_term.data = c2s.sig_int.data = c2s.sig_hup.data = &c2s;
	uv_signal_start(&c2s.sig_term, on_signal, SIGTERM);
	uv_signal_start(&c2s.sig_int, on_signal, SIGINT);
	uv_signal_start(&c2s.sig_hup, on_signal, SIGHUP);
	JLOG_INFO(0, "%s listening on %s (STARTTLS) and %s (TLS)", c2s.name,
		  config_get(c2s.config, "c2s", "listen"),
		  config_get(c2s.config, "c2s", "listen_tls"));

	uv_run(c2s.loop, UV_RUN_DEFAULT);
	ret = 0;
out:
	conn_loop_deinit();
	uv_run(c2s.loop, UV_RUN_DEFAULT);
	uv_loop_close(c2s.loop);
	tls_ctx_free(&c2s.tls_ctx);
	c2s_throttle_free(&c2s.throttle);
	free(c2s.name);
	process_stop(&c2s.config);
	return ret;
}
