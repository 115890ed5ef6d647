/* main.c: junction-sm start-up, the router link and stanza dispatch.
 *
 *   junction-sm -c FILE [-n NAME]
 *
 * Opens the store (DATA_DIR/sm.db), connects to the router as NAME
 * (default "sm.FIRSTDOMAIN"; a second instance needs its own) binding
 * every served domain in shared mode, asks to
 * watch bound names (to know Junction's own peers), then hands each stanza
 * to the session protocol, the server's iq handling or the delivery rules.
 * SIGTERM/SIGINT stop it cleanly (handing its sessions over first when
 * another instance shares a domain, sm-scale.c). Init steps are mirrored
 * in reverse.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "component.h"
#include "conn.h"
#include "log.h"
#include "process.h"
#include "sm.h"
#include "stanza.h"
#include "stream.h"

static bool sm_child_is(const struct stanza *st, const char *name, const char *ns)
{
	struct stanza *c = stanza_child_element(st, 0);
	return c != NULL && strcmp(c->name, name) == 0 && strcmp(c->ns, ns) == 0;
}

/* junctionctl status: how many sessions, how many available. */
static void sm_status(struct sm *sm, struct stanza *iq)
{
	const char *from = stanza_get_attr(iq, "from");
	const char *type = stanza_get_attr(iq, "type");
	unsigned long n = 0, available = 0;
	char num[24];

	if (type == NULL || strcmp(type, "get") != 0)
		return;
	if (from == NULL || !sm_peers_trusted(sm, from)) {
		sm_bounce(sm, iq, "cancel", "service-unavailable");
		return;
	}
	for (const struct sm_session *s = sm->sessions; s != NULL; s = s->next) {
		n++;
		available += s->available;
	}
	struct stanza *r = sm_iq_result(iq); /* from sm->name, the iq's 'to' */
	struct stanza *st = stanza_add_child(r, "status", SM_NS_SESSION);
	snprintf(num, sizeof(num), "%lu", n);
	stanza_set_attr(st, "sessions", num);
	snprintf(num, sizeof(num), "%lu", available);
	stanza_set_attr(st, "available", num);
	sm_send(sm, r);
	stanza_unref(&r);
}

static void sm_on_stanza(struct component *component, struct stanza *st, void *ctx)
{
	struct sm *sm = ctx;
	const char *to = stanza_get_attr(st, "to");

	if (to != NULL && strcmp(to, sm->name) == 0) {
		/* Addressed to this instance: router events, replies, status,
		 * handovers from the other instances. */
		if (strcmp(st->name, "presence") == 0) {
			sm_peers_event(sm, st);
			sm_scale_event(sm, st);
		} else if (strcmp(st->name, "iq") == 0 && sm_child_is(st, "status", SM_NS_SESSION)) {
			sm_status(sm, st);
		} else if (strcmp(st->name, "iq") == 0 &&
			   sm_child_is(st, "handover", SM_NS_SESSION)) {
			sm_handover_receive(sm, st, stanza_child_element(st, 0));
		}
		return;
	}
	if (sm_scale_hold(sm, st))
		return;
	/* Its original bytes, for wrapping it without a tree (sm-wrap.c);
	 * a kept stanza dispatched later goes without them. */
	sm->in.st = st;
	sm->in.raw = component_stanza_raw(component, &sm->in.len);
	sm_dispatch(sm, st);
	sm->in.st = NULL;
}

void sm_dispatch(struct sm *sm, struct stanza *st)
{
	const char *from = stanza_get_attr(st, "from");

	if (strcmp(st->name, "message") == 0 && from != NULL &&
	    sm_child_is(st, "from-client", SM_NS_SESSION)) {
		struct stanza *wrap = stanza_child_element(st, 0);
		struct stanza *inner = stanza_child_element(wrap, 0);
		const char *sid = stanza_get_attr(wrap, "sid");
		const char *restore = stanza_get_attr(wrap, "restore");
		struct sm_session *s = sid != NULL && sm_peers_trusted(sm, from)
					       ? sm_session_find_sid(sm, from, sid)
					       : NULL;
		/* c2s re-announcing the presence of a session handed over
		 * with it: contacts heard it already. */
		if (s != NULL && s->available && restore != NULL && strcmp(restore, "true") == 0 &&
		    inner != NULL && strcmp(inner->name, "presence") == 0)
			return;
		if (s != NULL && inner != NULL) {
			struct stanza *copy = stanza_copy(inner);
			/* Whatever namespace c2s wrote it in, it goes out on
			 * this component stream. */
			if (strcmp(copy->ns, STREAM_NS_COMPONENT) != 0)
				stanza_rename_ns(copy, inner->ns, STREAM_NS_COMPONENT);
			sm_from_client(sm, s, copy);
			stanza_unref(&copy);
		}
		return;
	}
	if (strcmp(st->name, "message") == 0 && sm_child_is(st, "pep", SM_NS_PEP)) {
		sm_pep_from_pubsub(sm, st);
		return;
	}
	if (strcmp(st->name, "iq") == 0 && stanza_count_child_elements(st) == 1 &&
	    strcmp(stanza_child_element(st, 0)->ns, SM_NS_SESSION) == 0) {
		if (!sm_iq_handle(sm, st))
			sm_bounce(sm, st, "cancel", "service-unavailable");
		return;
	}
	sm_deliver(sm, st);
}

static void sm_on_ready(struct component *component, void *ctx)
{
	(void)component;
	(void)ctx;
}

/* The link dropped: the router sends a fresh list of bound names (watch)
 * after the next handshake. */
static void sm_on_down(struct component *component, const char *why, void *ctx)
{
	struct sm *sm = ctx;
	(void)component;
	(void)why;
	sm_peers_free(sm);
	sm_scale_reset(sm);
}

static bool sm_on_raw(struct component *component, const struct xml_parser_stanza *ev, void *ctx)
{
	(void)component;
	return sm_wrap_deliver_raw(ctx, ev);
}

static const struct component_callbacks sm_component_callbacks = {
	.ready = sm_on_ready,
	.stanza = sm_on_stanza,
	.raw = sm_on_raw,
	.down = sm_on_down,
};

static void sm_on_signal(uv_signal_t *sig, int signum)
{
	struct sm *sm = sig->data;

	if (signum == SIGHUP) {
		process_reload_log_level(sm->config, "sm");
		return;
	}
	if (sm_scale_leave(sm))
		return; /* sm_stop() once the sessions are handed over */
	sm_stop(sm);
}

void sm_stop(struct sm *sm)
{
	if (sm->stopping)
		return;
	sm->stopping = true;
	JLOG_INFO(0, "shutting down");
	sm_metrics_stop(sm);
	sm_offline_acks_run(sm);
	component_stop(&sm->component);
	store_detach_loop(sm->store);
	uv_close((uv_handle_t *)&sm->ack_timer, NULL);
	uv_close((uv_handle_t *)&sm->scale_timer, NULL);
	uv_close((uv_handle_t *)&sm->sig_term, NULL);
	uv_close((uv_handle_t *)&sm->sig_int, NULL);
	uv_close((uv_handle_t *)&sm->sig_hup, NULL);
}

int main(int argc, char **argv)
{
	struct sm sm = {0};
	char err[512];
	int ret = process_start(argc, argv, "sm", &sm.config);

	if (ret >= 0)
		return ret;
	if (store_open_config(sm.config, &sm.store, err, sizeof(err)) < 0) {
		JLOG_ERROR(0, "%s", err);
		process_stop(&sm.config);
		return 1;
	}

	size_t n_domains;
	const char *const *domains = config_get_list(sm.config, "junction", "domains", &n_domains);
	struct buf name = {0};
	if (process_name() != NULL)
		buf_append_str(&name, process_name());
	else
		buf_printf(&name, "sm.%s", domains[0]);
	sm.name = buf_steal(&name);
	struct component_options o = {
		.address = config_get(sm.config, "router", "listen"),
		.name = sm.name,
		.secret = config_get(sm.config, "router", "secret"),
		.binds = domains,
		.n_binds = n_domains,
		.shared = true,
		.watch = true,
	};
	sm_pep_init(&sm);
	sm.loop = uv_default_loop();
	sm.started = uv_hrtime();
	if (store_attach_loop(sm.store, sm.loop, err, sizeof(err)) < 0) {
		JLOG_ERROR(0, "%s", err);
		store_close(&sm.store);
		free(sm.name);
		process_stop(&sm.config);
		return 1;
	}
	conn_loop_init(sm.loop);
	uv_timer_init(sm.loop, &sm.ack_timer);
	sm.ack_timer.data = &sm;
	sm_scale_init(&sm);
	component_start(sm.loop, &o, &sm_component_callbacks, &sm, &sm.component);
	sm_metrics_start(&sm);
	uv_signal_init(sm.loop, &sm.sig_term);
	uv_signal_init(sm.loop, &sm.sig_int);
	uv_signal_init(sm.loop, &sm.sig_hup);
	sm.sig_term.data = sm.sig_int.data = sm.sig_hup.data = &sm;
	uv_signal_start(&sm.sig_term, sm_on_signal, SIGTERM);
	uv_signal_start(&sm.sig_int, sm_on_signal, SIGINT);
	uv_signal_start(&sm.sig_hup, sm_on_signal, SIGHUP);
	JLOG_INFO(0, "serving %zu domain(s) as %s", n_domains, sm.name);

	uv_run(sm.loop, UV_RUN_DEFAULT);
	conn_loop_deinit();
	uv_run(sm.loop, UV_RUN_DEFAULT);
	uv_loop_close(sm.loop);
	sm_session_free_all(&sm);
	sm_register_free(&sm);
	sm_adhoc_free(&sm);
	sm_blocking_free(&sm);
	sm_peers_free(&sm);
	sm_pep_free(&sm);
	sm_scale_free(&sm);
	free(sm.name);
	store_close(&sm.store);
	process_stop(&sm.config);
	return 0;
}
