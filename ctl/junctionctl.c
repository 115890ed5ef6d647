/* junctionctl.c: the administration tool's entry point.
 *
 *   junctionctl -c FILE check                  validate the configuration
 *   junctionctl -c FILE status                 processes, and what the router has bound
 *   junctionctl -c FILE start|stop|restart [PROCESS]   through [junction] supervisor
 *   junctionctl -c FILE reload [PROCESS]       SIGHUP to every running process (or one)
 *   junctionctl -c FILE adduser JID [PASSWORD] create an account (sm's store)
 *   junctionctl -c FILE passwd JID [PASSWORD]  change its password
 *   junctionctl -c FILE deluser JID            delete it and all its data
 *   junctionctl -c FILE users [DOMAIN]         list accounts
 *   junctionctl -c FILE vcard-get JID          print an account's vCard
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static void usage(FILE *out)
{
	fprintf(out, "usage: junctionctl [-c FILE] COMMAND\n"
		     "  -c FILE   configuration file (default " SYSCONFDIR "/junction/junction.conf)\n"
		     "commands:\n"
		     "  check                  validate the configuration file and exit\n"
		     "  status                 list running processes (pid files), the router's\n"
		     "                         streams, bound names, counters, queues and sessions\n"
		     "  start [PROCESS]        start a process (router, sm, c2s, pubsub, s2s) or all\n"
		     "  stop [PROCESS]         stop it (or all), waiting until it has exited\n"
		     "  restart [PROCESS]      stop, then start\n"
		     "  reload [PROCESS]       make running processes re-read the configuration\n"
		     "                         and reopen their log files (SIGHUP)\n"
		     "  adduser JID [PASSWORD] create an account; without PASSWORD, read one line\n"
		     "                         from stdin (prompted, without echo, on a terminal)\n"
		     "  passwd JID [PASSWORD]  set an account's password, read as for adduser\n"
		     "  deluser JID            delete an account with its roster and offline messages\n"
		     "  users [DOMAIN]         list accounts (bare JIDs, sorted), of one domain or all\n"
		     "  vcard-get JID          print the vCard an account stored (XEP-0054)\n");
}

/* Each command's name and how many arguments it takes after it. */
static const struct {
	const char *name;
	int min_args, max_args;
} commands[] = {
	{"check", 0, 0},   {"status", 0, 0},  {"adduser", 1, 2},
	{"passwd", 1, 2},  {"deluser", 1, 1}, {"users", 0, 1},
	{"start", 0, 1},   {"stop", 0, 1},    {"restart", 0, 1},
	{"reload", 0, 1},
	{"vcard-get", 1, 1},
};

int main(int argc, char **argv)
{
	const char *path = SYSCONFDIR "/junction/junction.conf";
	struct config *config;
	char err[512];
	int opt, ret;

	/* "+": options end at the command, so a password or JID that starts
	 * with '-' is an argument, not an unknown option. */
	while ((opt = getopt(argc, argv, "+c:h")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *command = argv[optind];
	char **args = argv + optind + 1;
	int n_args = argc - optind - 1;
	size_t i;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(command, commands[i].name) == 0)
			break;
	}
	if (i == sizeof(commands) / sizeof(commands[0])) {
		fprintf(stderr, "junctionctl: unknown command '%s'\n", command);
		usage(stderr);
		return 2;
	}
	if (n_args < commands[i].min_args || n_args > commands[i].max_args) {
		fprintf(stderr, "junctionctl: wrong number of arguments for '%s'\n", command);
		usage(stderr);
		return 2;
	}
	if (config_load(path, &config, err, sizeof(err)) < 0) {
		fprintf(stderr, "junctionctl: %s\n", err);
		return 1;
	}
	const char *arg1 = n_args > 1 ? args[1] : NULL;
	if (strcmp(command, "check") == 0)
		ret = ctl_check(config);
	else if (strcmp(command, "status") == 0)
		ret = ctl_status(config);
	else if (strcmp(command, "adduser") == 0)
		ret = ctl_adduser(config, args[0], arg1);
	else if (strcmp(command, "passwd") == 0)
		ret = ctl_passwd(config, args[0], arg1);
	else if (strcmp(command, "deluser") == 0)
		ret = ctl_deluser(config, args[0]);
	else if (strcmp(command, "start") == 0 || strcmp(command, "stop") == 0 ||
		 strcmp(command, "restart") == 0)
		ret = ctl_process(config, command, n_args > 0 ? args[0] : NULL);
	else if (strcmp(command, "reload") == 0)
		ret = ctl_reload(config, n_args > 0 ? args[0] : NULL);
	else if (strcmp(command, "vcard-get") == 0)
		ret = ctl_vcard_get(config, args[0]);
	else
		ret = ctl_users(config, n_args > 0 ? args[0] : NULL);
	config_free(&config);
	return ret;
}
