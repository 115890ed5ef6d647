/* process.c: command line, configuration and logging at start-up, the same
 * for every daemon (see process.h). */
#include "process.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "pidfile.h"

/* This process's pid file, removed at process_stop(); "" when none. */
static char process_pidfile[PIDFILE_PATH_MAX];
/* -n NAME (--name NAME): this instance's component name; NULL when not given. */
static const char *process_name_option;

static void process_usage(FILE *out, const char *name)
{
	bool named = strcmp(name, "sm") == 0;

	fprintf(out, "usage: junction-%s -c FILE%s\n", name, named ? " [-n NAME]" : "");
	fprintf(out, "  -c FILE   the Junction configuration file (INI)\n");
	if (named)
		fprintf(out, "  -n NAME   --name NAME: this instance's component name (default "
			     "sm.FIRSTDOMAIN; each sm instance needs its own)\n");
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

/* [junction] log_file with %n replaced by name, or NULL when unset
 * (caller frees). */
static char *process_log_path(const struct config *config, const char *name)
{
	const char *s = config_get(config, "junction", "log_file");
	struct buf b = {0};

	if (s == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		if (s[0] == '%' && s[1] == 'n') {
			buf_append(&b, name, strlen(name));
			s++;
		} else {
			buf_append(&b, s, 1);
		}
	}
	return buf_steal(&b);
}

/* Point stderr at the log file, if one is configured. */
static int process_open_log(const struct config *config, const char *name, char *err,
			    size_t errlen)
{
	char *path = process_log_path(config, name);
	int r = path != NULL ? log_open_file(path, err, errlen) : 0;
	free(path);
	return r;
}

struct config *process_reload(const struct config *running, const char *name)
{
	struct config *fresh;
	char err[512];

	if (config_load(config_path(running), &fresh, err, sizeof(err)) < 0) {
		JLOG_WARN(0, "reload: %s (keeping the running configuration)", err);
		return NULL;
	}
	if (process_open_log(fresh, name, err, sizeof(err)) < 0)
		JLOG_ERROR(0, "reload: %s (logging on where it went)", err);
	log_set_level(process_log_level(fresh, name));
	JLOG_INFO(0, "reloaded log level");
	return fresh;
}

void process_reload_log_level(const struct config *running, const char *name)
{
	struct config *fresh = process_reload(running, name);
	config_free(&fresh);
}

int process_start(int argc, char **argv, const char *name, struct config **config_r)
{
	const char *path = NULL;
	char err[512];
	int opt;
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"name", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};

	process_name_option = NULL;
	while ((opt = getopt_long(argc, argv, "c:n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			process_name_option = optarg;
			break;
		case 'h':
			process_usage(stdout, name);
			return 0;
		default:
			process_usage(stderr, name);
			return 2;
		}
	}
	/* Only sm runs as several instances of one configuration. */
	if (path == NULL || optind != argc ||
	    (process_name_option != NULL && strcmp(name, "sm") != 0)) {
		process_usage(stderr, name);
		return 2;
	}
	if (config_load(path, config_r, err, sizeof(err)) < 0) {
		fprintf(stderr, "junction-%s: %s\n", name, err);
		return 1;
	}
	if (process_open_log(*config_r, name, err, sizeof(err)) < 0) {
		fprintf(stderr, "junction-%s: %s\n", name, err);
		config_free(config_r);
		return 1;
	}
	log_init(name, process_log_level(*config_r, name),
		 config_get_bool(*config_r, "junction", "syslog"));
	/* Without a pid file only junctionctl's reload and status miss this
	 * process: worth a warning, not a refusal to start. */
	if (pidfile_write(pidfile_dir(*config_r), name, process_pidfile, sizeof(process_pidfile),
			  err, sizeof(err)) < 0) {
		JLOG_WARN(0, "%s", err);
		process_pidfile[0] = '\0';
	}
	signal(SIGPIPE, SIG_IGN);
	return -1;
}

const char *process_name(void)
{
	return process_name_option;
}

void process_stop(struct config **config)
{
	pidfile_remove(process_pidfile);
	process_pidfile[0] = '\0';
	config_free(config);
	log_deinit();
}
