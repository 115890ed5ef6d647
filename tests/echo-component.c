/* echo-component.c: a test component built on common/component.c.
 *
 *   echo-component -c FILE -n NAME [-b NAME]... [-s] [-u]
 *
 * Connects to the router named in FILE ([router] listen, or listen_unix
 * with -u) with [router] secret, as NAME, binding each -b name (shared with
 * -s), and answers every message with a message back to its sender carrying
 * the same id and body, from NAME's domain; iq get/set is answered with an
 * empty result. Prints "ready" on stdout each time it is (re)connected, so
 * tests can wait for it. Stops on SIGTERM. Integration tests use it to see
 * reconnection with backoff and re-binding across router restarts.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "stanza.h"
#include "stream.h"

struct echo {
	struct component *component;
	uv_signal_t sig;
	unsigned long answered;
};

static void echo_ready(struct component *component, void *ctx)
{
	(void)component;
	(void)ctx;
	printf("ready\n");
	fflush(stdout);
}

static void echo_stanza(struct component *component, struct stanza *st, void *ctx)
{
	struct echo *echo = ctx;
	const char *type = stanza_get_attr(st, "type");
	struct stanza *reply;

	if (type != NULL && strcmp(type, "error") == 0)
		return;
	if (strcmp(st->name, "message") == 0) {
		reply = stanza_copy(st);
	} else if (strcmp(st->name, "iq") == 0 && type != NULL &&
		   (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)) {
		reply = stanza_new("iq", STREAM_NS_COMPONENT);
		stanza_set_attr(reply, "type", "result");
		stanza_set_attr(reply, "id", stanza_get_attr(st, "id"));
	} else {
		return;
	}
	stanza_set_attr(reply, "to", stanza_get_attr(st, "from"));
	stanza_set_attr(reply, "from", stanza_get_attr(st, "to"));
	if (component_send(component, reply) == 0)
		echo->answered++;
	stanza_unref(&reply);
}

static void echo_down(struct component *component, const char *why, void *ctx)
{
	(void)component;
	(void)ctx;
	printf("down %s\n", why);
	fflush(stdout);
}

static const struct component_callbacks echo_callbacks = {
	.ready = echo_ready,
	.stanza = echo_stanza,
	.down = echo_down,
};

static void echo_on_signal(uv_signal_t *sig, int signum)
{
	struct echo *echo = sig->data;
	(void)signum;
	component_stop(&echo->component);
	uv_close((uv_handle_t *)sig, NULL);
}

int main(int argc, char **argv)
{
	const char *path = NULL, *name = NULL;
	const char *binds[16];
	struct component_options o = {0};
	struct config *cfg;
	struct echo echo = {0};
	char err[512];
	int opt;

	while ((opt = getopt(argc, argv, "c:n:b:su")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'b':
			if (o.n_binds < 16)
				binds[o.n_binds++] = optarg;
			break;
		case 's':
			o.shared = true;
			break;
		case 'u':
			o.is_unix = true;
			break;
		default:
			return 2;
		}
	}
	if (path == NULL || name == NULL)
		return 2;
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "echo-component: %s\n", err);
		return 1;
	}
	log_init("echo", LOG_LEVEL_INFO, false);
	signal(SIGPIPE, SIG_IGN);
	o.address = config_get(cfg, "router", o.is_unix ? "listen_unix" : "listen");
	o.name = name;
	o.secret = config_get(cfg, "router", "secret");
	o.binds = binds;
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 1000;
	uv_loop_t *loop = uv_default_loop();
	conn_loop_init(loop);
	component_start(loop, &o, &echo_callbacks, &echo, &echo.component);
	uv_signal_init(loop, &echo.sig);
	echo.sig.data = &echo;
	uv_signal_start(&echo.sig, echo_on_signal, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
	conn_loop_deinit();
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	config_free(&cfg);
	log_deinit();
	return 0;
}
