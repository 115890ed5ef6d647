/* process.c: command line, configuration and logging at start-up, the same
 * for every daemon (see process.h). */
#include "process.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

static void process_usage(FILE *out, const char *name)
{
	fprintf(out, "usage: junction-%s -c FILE\n"
		     "  -c FILE   the Junction configuration file (INI)\n", name);
}

enum log_level process_log_level(const struct config *config, const char *name)
{
	enum log_level level = LOG_LEVEL_INFO;
	const struct config_key *k;
	const char *s = NULL;

	/* Not every section has its own log_level key. */
	for (k = config_schema; k->section != NULL; k++) {
		if (strcmp(k->section, name) == 0 && strcmp(k->key, "log_level") == 0) {
			s = config_get(config, name, "log_level");
			break;
		}
	}
	if (s == NULL)
		s = config_get(config, "junction", "log_level");
	(void)log_level_parse(s, &level);
	return level;
}

void process_reload_log_level(const struct config *running, const char *name)
{
	struct config *fresh;
	char err[512];

	if (config_load(config_path(running), &fresh, err, sizeof(err)) < 0) {
		JLOG_WARN(0, "reload: %s (keeping the running configuration)", err);
		return;
	}
	log_set_level(process_log_level(fresh, name));
	JLOG_INFO(0, "reloaded log level");
	config_free(&fresh);
}

int process_start(int argc, char **argv, const char *name, struct config **config_r)
{
	const char *path = NULL;
	char err[512];
	int opt;

	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			process_usage(stdout, name);
			return 0;
		default:
			process_usage(stderr, name);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		process_usage(stderr, name);
		return 2;
	}
	if (config_load(path, config_r, err, sizeof(err)) < 0) {
		fprintf(stderr, "junction-%s: %s\n", name, err);
		return 1;
	}
	log_init(name, process_log_level(*config_r, name),
		 config_get_bool(*config_r, "junction", "syslog"));
	signal(SIGPIPE, SIG_IGN);
	return -1;
}

void process_stop(struct config **config)
{
	config_free(config);
	log_deinit();
}
