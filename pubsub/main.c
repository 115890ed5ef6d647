/* main.c: junction-pubsub start-up, the router link and stanza dispatch.
 *
 *   junction-pubsub -c FILE
 *
 * Opens DATA_DIR/pubsub.db, connects to the router binding [pubsub] domain
 * (default "pubsub." + the first of [junction] domains) and hands each iq
 * to pubsub-iq.c and each message to the PEP envelope handling
 * (pubsub-pep.c) or the authorization handling.
 * SIGTERM/SIGINT stop it cleanly. Init steps are mirrored in reverse.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "component.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "process.h"
#include "pubsub.h"
#include "stanza.h"

static void pubsub_on_stanza(struct component *component, struct stanza *st, void *ctx)
{
	struct pubsub *ps = ctx;
	const char *to = stanza_get_attr(st, "to");
	(void)component;

	if (to == NULL || strcmp(to, ps->domain) != 0) {
		/* node@pubsub.domain and pubsub.domain/resource are nobody. */
		const char *type = stanza_get_attr(st, "type");
		if (strcmp(st->name, "presence") != 0 && (type == NULL || (strcmp(type, "error") != 0 &&
									   strcmp(type, "result") != 0))) {
			struct stanza *r = stanza_error_reply(st, "cancel", "service-unavailable", NULL);
			pubsub_send_direct(ps, r);
			stanza_unref(&r);
		}
		return;
	}
	if (strcmp(st->name, "iq") == 0)
		pubsub_iq_handle(ps, st);
	else if (strcmp(st->name, "message") == 0 && !pubsub_pep_message(ps, st))
		pubsub_subscribe_message(ps, st);
	/* Presence: nothing yet (send_last_published_item on_sub_and_presence
	 * would start here). */
}

static void pubsub_on_ready(struct component *component, void *ctx)
{
	struct pubsub *ps = ctx;
	(void)component;
	JLOG_INFO(0, "linked to the router as %s", ps->domain);
}

static const struct component_callbacks pubsub_component_callbacks = {
	.ready = pubsub_on_ready,
	.stanza = pubsub_on_stanza,
};

static void pubsub_on_signal(uv_signal_t *sig, int signum)
{
	struct pubsub *ps = sig->data;

	if (signum == SIGHUP) {
		struct config *fresh = process_reload(ps->config, "pubsub");
		if (fresh != NULL) {
			ps->relation_cache_ms =
				config_get_duration_ms(fresh, "pubsub", "roster_cache");
			JLOG_INFO(0, "reloaded roster_cache (%llums)",
				  (unsigned long long)ps->relation_cache_ms);
		}
		config_free(&fresh);
		return;
	}

	JLOG_INFO(0, "shutting down");
	pubsub_metrics_stop(ps);
	component_stop(&ps->component);
	pubsub_relation_stop(ps);
	uv_close((uv_handle_t *)&ps->sig_term, NULL);
	uv_close((uv_handle_t *)&ps->sig_int, NULL);
	uv_close((uv_handle_t *)&ps->sig_hup, NULL);
}

/* DATA_DIR/pubsub.db, creating DATA_DIR (only its last component) 0700. */
static int pubsub_open_store(struct pubsub *ps, char *err, size_t errlen)
{
	const char *dir = config_get(ps->config, "junction", "data_dir");
	struct buf path = {0};
	struct stat st;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create the data directory ([junction] data_dir): %s",
			 dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: [junction] data_dir is not a directory", dir);
		return -1;
	}
	buf_printf(&path, "%s/pubsub.db", dir);
	r = pubsub_store_open(path.data, config_get_bool(ps->config, "junction", "storage_fsync"),
			      &ps->store, err, errlen);
	buf_free(&path);
	return r;
}

static char *pubsub_domain(const struct config *config)
{
	size_t n;
	const char *const *d = config_get_list(config, "pubsub", "domain", &n);
	struct buf name = {0};

	if (n > 0)
		return xstrdup(d[0]);
	d = config_get_list(config, "junction", "domains", &n);
	buf_printf(&name, "pubsub.%s", d[0]);
	return buf_steal(&name);
}

int main(int argc, char **argv)
{
	struct pubsub ps = {0};
	char err[512];
	size_t n_domains;
	int ret = process_start(argc, argv, "pubsub", &ps.config);

	if (ret >= 0)
		return ret;
	(void)config_get_list(ps.config, "pubsub", "domain", &n_domains);
	if (n_domains > 1) {
		JLOG_ERROR(0, "[pubsub] domain: one domain name, not a list");
		process_stop(&ps.config);
		return 1;
	}
	ps.domain = pubsub_domain(ps.config);
	ps.create_nodes = config_get_list(ps.config, "pubsub", "create_nodes", &ps.n_create_nodes);
	if (pubsub_access_check_config(&ps, err, sizeof(err)) < 0 ||
	    pubsub_open_store(&ps, err, sizeof(err)) < 0) {
		JLOG_ERROR(0, "%s", err);
		free(ps.domain);
		process_stop(&ps.config);
		return 1;
	}

	struct component_options o = {
		.address = config_get(ps.config, "router", "listen"),
		.name = ps.domain,
		.secret = config_get(ps.config, "router", "secret"),
	};
	ps.loop = uv_default_loop();
	conn_loop_init(ps.loop);
	component_start(ps.loop, &o, &pubsub_component_callbacks, &ps, &ps.component);
	pubsub_relation_init(&ps);
	pubsub_metrics_start(&ps);
	uv_signal_init(ps.loop, &ps.sig_term);
	uv_signal_init(ps.loop, &ps.sig_int);
	uv_signal_init(ps.loop, &ps.sig_hup);
	ps.sig_term.data = ps.sig_int.data = ps.sig_hup.data = &ps;
	uv_signal_start(&ps.sig_term, pubsub_on_signal, SIGTERM);
	uv_signal_start(&ps.sig_int, pubsub_on_signal, SIGINT);
	uv_signal_start(&ps.sig_hup, pubsub_on_signal, SIGHUP);
	JLOG_INFO(0, "serving publish-subscribe as %s", ps.domain);

	uv_run(ps.loop, UV_RUN_DEFAULT);
	conn_loop_deinit();
	uv_run(ps.loop, UV_RUN_DEFAULT);
	uv_loop_close(ps.loop);
	pubsub_notify_queue_free(&ps);
	pubsub_caps_free(&ps);
	pubsub_relation_free(&ps);
	pubsub_store_close(&ps.store);
	free(ps.domain);
	process_stop(&ps.config);
	return 0;
}
