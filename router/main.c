/* main.c: junction-router start-up and shutdown.
 *
 *   junction-router -c FILE
 *
 * Reads the deployment's configuration, listens for component streams and
 * runs the loop until SIGTERM or SIGINT, then closes every stream cleanly
 * and frees everything (so LeakSanitizer can vouch for the whole run).
 * SIGHUP re-reads the log level, reopens the log file and takes the limits
 * that can change while running (router_reload). Init steps are mirrored
 * in reverse below.
 */
#include <signal.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "process.h"
#include "router.h"

static void on_signal(uv_signal_t *sig, int signum)
{
	struct router *router = sig->data;

	if (signum == SIGHUP) {
		struct config *fresh = process_reload(router->config, "router");
		if (fresh != NULL)
			router_reload(router, fresh);
		config_free(&fresh);
		return;
	}
	uv_signal_stop(&router->sig_term);
	uv_signal_stop(&router->sig_int);
	uv_signal_stop(&router->sig_hup);
	uv_close((uv_handle_t *)&router->sig_term, NULL);
	uv_close((uv_handle_t *)&router->sig_int, NULL);
	uv_close((uv_handle_t *)&router->sig_hup, NULL);
	router_stop(router);
}

int main(int argc, char **argv)
{
	char err[512];
	struct router router = {0};
	int ret = process_start(argc, argv, "router", &router.config);

	if (ret >= 0)
		return ret;
	ret = 1;
	router.loop = uv_default_loop();
	if (router_start(&router, err, sizeof(err)) < 0) {
		JLOG_ERROR(0, "%s", err);
		router_stop(&router);
		uv_run(router.loop, UV_RUN_DEFAULT);
		goto out;
	}
	uv_signal_init(router.loop, &router.sig_term);
	uv_signal_init(router.loop, &router.sig_int);
	uv_signal_init(router.loop, &router.sig_hup);
	router.sig_term.data = router.sig_int.data = router.sig_hup.data = &router;
	uv_signal_start(&router.sig_term, on_signal, SIGTERM);
	uv_signal_start(&router.sig_int, on_signal, SIGINT);
	uv_signal_start(&router.sig_hup, on_signal, SIGHUP);
	JLOG_INFO(0, "listening on %s%s%s", config_get(router.config, "router", "listen"),
		  config_get(router.config, "router", "listen_unix") ? " and " : "",
		  config_get(router.config, "router", "listen_unix")
			  ? config_get(router.config, "router", "listen_unix")
			  : "");

	uv_run(router.loop, UV_RUN_DEFAULT);
	ret = 0;
out:
	router_free(&router);
	uv_loop_close(router.loop);
	process_stop(&router.config);
	return ret;
}
