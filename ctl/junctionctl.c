/* junctionctl.c: the administration tool's entry point.
 *
 *   junctionctl -c FILE check    validate the configuration
 *   junctionctl -c FILE status   ask the running router what is bound
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
		     "  check     validate the configuration file and exit\n"
		     "  status    list the router's bound names, streams and counters\n");
}

int main(int argc, char **argv)
{
	const char *path = SYSCONFDIR "/junction/junction.conf";
	struct config *config;
	char err[512];
	int opt, ret;

	while ((opt = getopt(argc, argv, "c:h")) != -1) {
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
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	const char *command = argv[optind];
	if (strcmp(command, "check") != 0 && strcmp(command, "status") != 0) {
		fprintf(stderr, "junctionctl: unknown command '%s'\n", command);
		usage(stderr);
		return 2;
	}
	if (config_load(path, &config, err, sizeof(err)) < 0) {
		fprintf(stderr, "junctionctl: %s\n", err);
		return 1;
	}
	if (strcmp(command, "check") == 0)
		ret = ctl_check(config);
	else
		ret = ctl_status(config);
	config_free(&config);
	return ret;
}
