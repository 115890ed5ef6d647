/* main.c: junction-s2s start-up, the timer, and shutdown.
 *
 *   junction-s2s -c FILE
 *
 * Reads the deployment's configuration, loads the certificate ([s2s]
 * tls_cert/tls_key, else [c2s]'s; without one no TLS is offered to peers;
 * per-domain ones from [s2s] tls_dir are loaded when first needed),
 * starts the resolver (static, or c-ares), listens on [s2s] listen
 * (STARTTLS) and listen_tls (direct TLS, when set), links to the router as
 * the default route and runs the loop until SIGTERM or SIGINT. Then every
 * stream gets a system-shutdown stream error, queued stanzas bounce, and
 * everything is freed (so LeakSanitizer can vouch for the whole run).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "process.h"
#include "s2s-resolve.h"
#include "s2s.h"
#include "tls.h"

static void s2s_tick(uv_timer_t *timer)
{
	struct s2s *s2s = timer->data;
	uint64_t now = uv_now(s2s->loop);

	s2s_out_tick(s2s, now);
	s2s_in_tick(s2s, now);
}

void s2s_maybe_finish(struct s2s *s2s)
{
	if (!s2s->stopping || s2s->ins != NULL || s2s->outs != NULL)
		return;
	if (!uv_is_closing((uv_handle_t *)&s2s->timer))
		uv_close((uv_handle_t *)&s2s->timer, NULL);
	s2s_resolver_free(&s2s->resolver);
	s2s_router_stop(s2s);
}

static void s2s_stop(struct s2s *s2s)
{
	if (s2s->stopping)
		return;
	s2s->stopping = true;
	conn_listener_close(&s2s->listener);
	conn_listener_close(&s2s->listener_tls);
	s2s_out_stop_all(s2s);
	s2s_in_stop_all(s2s);
	s2s_maybe_finish(s2s);
}

/* SIGHUP: the limits and timeouts, and the default certificate (streams
 * set up from now on present it; tls_dir pairs are kept until a restart). */
static void s2s_reload(struct s2s *s2s, const struct config *fresh)
{
	const char *cert = config_get(fresh, "s2s", "tls_cert");
	const char *key = config_get(fresh, "s2s", "tls_key");
	char err[512];

	s2s->idle_timeout_ms = config_get_duration_ms(fresh, "s2s", "idle_timeout");
	s2s->connect_timeout_ms = config_get_duration_ms(fresh, "s2s", "connect_timeout");
	s2s->queue_limit = config_get_size(fresh, "s2s", "queue_limit");
	s2s->limits.max_stanza_bytes = config_get_size(fresh, "s2s", "max_stanza_bytes");
	if (cert == NULL && key == NULL) {
		cert = config_get(fresh, "c2s", "tls_cert");
		key = config_get(fresh, "c2s", "tls_key");
	}
	if (cert == NULL || key == NULL || s2s->tls_server == NULL)
		return; /* no certificate before: offering TLS now needs a restart */
	if (tls_ctx_reload(s2s->tls_server, cert, key, err, sizeof(err)) < 0 ||
	    tls_ctx_reload(s2s->tls_client, cert, key, err, sizeof(err)) < 0)
		JLOG_ERROR(0, "reload: %s (keeping the current certificate)", err);
	else
		JLOG_INFO(0, "reloaded limits and the certificate %s", cert);
}

static void s2s_on_signal(uv_signal_t *sig, int signum)
{
	struct s2s *s2s = sig->data;

	if (signum == SIGHUP) {
		struct config *fresh = process_reload(s2s->config, "s2s");
		if (fresh != NULL)
			s2s_reload(s2s, fresh);
		config_free(&fresh);
		return;
	}

	uv_close((uv_handle_t *)&s2s->sig_term, NULL);
	uv_close((uv_handle_t *)&s2s->sig_int, NULL);
	uv_close((uv_handle_t *)&s2s->sig_hup, NULL);
	JLOG_INFO(0, "shutting down");
	s2s_metrics_stop(s2s);
	s2s_stop(s2s);
}

static int s2s_tls_start(struct s2s *s2s, char *err, size_t errlen)
{
	const struct config *cfg = s2s->config;
	const char *cert = config_get(cfg, "s2s", "tls_cert");
	const char *key = config_get(cfg, "s2s", "tls_key");

	if (cert == NULL && key == NULL) {
		cert = config_get(cfg, "c2s", "tls_cert");
		key = config_get(cfg, "c2s", "tls_key");
	}
	if ((cert == NULL) != (key == NULL)) {
		snprintf(err, errlen, "%s: [s2s] tls_cert and tls_key go together", config_path(cfg));
		return -1;
	}
	if (tls_ctx_new_client(config_get(cfg, "s2s", "tls_ca"), s2s->require_valid_cert,
			       &s2s->tls_client, err, errlen) < 0)
		return -1;
	if (cert == NULL) {
		JLOG_WARN(0, "no certificate ([s2s] or [c2s] tls_cert): TLS is not offered to peers");
		return 0;
	}
	if (tls_ctx_new_server(cert, key, &s2s->tls_server, err, errlen) < 0)
		return -1;
	/* Peers' certificates, for SASL EXTERNAL (XEP-0178). */
	if (tls_ctx_request_client_cert(s2s->tls_server, config_get(cfg, "s2s", "tls_ca"), err,
					errlen) < 0)
		return -1;
	s2s_certs_sni(s2s);
	/* The same certificate, as client certificate on outgoing streams. */
	return tls_ctx_reload(s2s->tls_client, cert, key, err, errlen);
}

static int s2s_start(struct s2s *s2s, char *err, size_t errlen)
{
	const struct config *cfg = s2s->config;
	const char *resolver = config_get(cfg, "s2s", "resolver");
	size_t n_domains, n_hosts;
	const char *const *domains = config_get_list(cfg, "junction", "domains", &n_domains);
	const char *const *hosts = config_get_list(cfg, "s2s", "hosts", &n_hosts);

	s2s->require_tls = config_get_bool(cfg, "s2s", "require_tls");
	s2s->require_valid_cert = config_get_bool(cfg, "s2s", "require_valid_cert");
	s2s->idle_timeout_ms = config_get_duration_ms(cfg, "s2s", "idle_timeout");
	s2s->connect_timeout_ms = config_get_duration_ms(cfg, "s2s", "connect_timeout");
	s2s->queue_limit = config_get_size(cfg, "s2s", "queue_limit");
	s2s->limits.max_stanza_bytes = config_get_size(cfg, "s2s", "max_stanza_bytes");
	if (config_get(cfg, "s2s", "name") != NULL) {
		s2s->name = xstrdup(config_get(cfg, "s2s", "name"));
	} else {
		struct buf b = {0};
		buf_printf(&b, "s2s.%s", domains[0]);
		s2s->name = buf_steal(&b);
	}
	s2s_dialback_init(s2s);
	uv_timer_init(s2s->loop, &s2s->timer);
	s2s->timer.data = s2s;
	conn_loop_init(s2s->loop);

	if (strcmp(resolver, "static") != 0 && strcmp(resolver, "dns") != 0) {
		snprintf(err, errlen, "%s: [s2s] resolver must be static or dns, not %s",
			 config_path(cfg), resolver);
		return -1;
	}
	size_t n_servers;
	const char *const *servers = config_get_list(cfg, "s2s", "dns_servers", &n_servers);
	struct buf csv = {0};
	for (size_t i = 0; i < n_servers; i++)
		buf_printf(&csv, "%s%s", i ? "," : "", servers[i]);
	int r = s2s_resolver_new(s2s->loop, strcmp(resolver, "dns") == 0, csv.data, hosts,
				 n_hosts, &s2s->resolver, err, errlen);
	buf_free(&csv);
	if (r < 0)
		return -1;
	if (s2s_tls_start(s2s, err, errlen) < 0)
		return -1;
	if (conn_listen(s2s->loop, config_get(cfg, "s2s", "listen"), false, s2s_in_accept, s2s,
			&s2s->listener, err, errlen) < 0)
		return -1;
	const char *listen_tls = config_get(cfg, "s2s", "listen_tls");
	if (listen_tls != NULL) {
		if (s2s->tls_server == NULL) {
			snprintf(err, errlen, "%s: [s2s] listen_tls needs a certificate",
				 config_path(cfg));
			return -1;
		}
		if (conn_listen(s2s->loop, listen_tls, false, s2s_in_accept_tls, s2s,
				&s2s->listener_tls, err, errlen) < 0)
			return -1;
	}
	if (s2s_router_start(s2s) < 0) {
		snprintf(err, errlen, "cannot start the link to the router");
		return -1;
	}
	uv_timer_start(&s2s->timer, s2s_tick, 250, 250);
	return 0;
}

int main(int argc, char **argv)
{
	char err[512];
	struct s2s s2s = {0};
	int ret = process_start(argc, argv, "s2s", &s2s.config);

	if (ret >= 0)
		return ret;
	ret = 1;
	s2s.loop = uv_default_loop();
	if (s2s_start(&s2s, err, sizeof(err)) < 0) {
		JLOG_ERROR(0, "%s", err);
		s2s_stop(&s2s);
		uv_run(s2s.loop, UV_RUN_DEFAULT);
		goto out;
	}
	s2s_metrics_start(&s2s);
	uv_signal_init(s2s.loop, &s2s.sig_term);
	uv_signal_init(s2s.loop, &s2s.sig_int);
	uv_signal_init(s2s.loop, &s2s.sig_hup);
	s2s.sig_term.data = s2s.sig_int.data = s2s.sig_hup.data = &s2s;
	uv_signal_start(&s2s.sig_term, s2s_on_signal, SIGTERM);
	uv_signal_start(&s2s.sig_int, s2s_on_signal, SIGINT);
	uv_signal_start(&s2s.sig_hup, s2s_on_signal, SIGHUP);
	JLOG_INFO(0, "%s listening on %s%s%s (%s resolver)", s2s.name,
		  config_get(s2s.config, "s2s", "listen"),
		  config_get(s2s.config, "s2s", "listen_tls") ? " and TLS on " : "",
		  config_get(s2s.config, "s2s", "listen_tls") ? config_get(s2s.config, "s2s", "listen_tls") : "",
		  config_get(s2s.config, "s2s", "resolver"));

	uv_run(s2s.loop, UV_RUN_DEFAULT);
	ret = 0;
out:
	conn_loop_deinit();
	uv_run(s2s.loop, UV_RUN_DEFAULT);
	uv_loop_close(s2s.loop);
	tls_ctx_free(&s2s.tls_server);
	tls_ctx_free(&s2s.tls_client);
	s2s_certs_free(&s2s);
	free(s2s.name);
	process_stop(&s2s.config);
	return ret;
}
