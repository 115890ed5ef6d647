/* process.h: the start-up every Junction daemon shares.
 *
 * Each process is run as `junction-NAME -c FILE`, in the foreground (sm
 * also takes -n/--name INSTANCE, its component name, for a second sm): parse
 * that command line, load the one configuration file (a bad one is a
 * one-line message naming file, line and key, and exit status 1), start
 * logging at the process's own log_level or [junction] log_level (to
 * syslog too when configured), and ignore SIGPIPE (a peer that vanished is
 * an error return, not a signal).
 *
 *   struct config *cfg;
 *   int r = process_start(argc, argv, "router", &cfg);
 *   if (r >= 0)
 *           return r;          // usage error, -h, or bad configuration
 *   ...
 *   process_stop(&cfg);
 */
#ifndef JUNCTION_PROCESS_H
#define JUNCTION_PROCESS_H

#include "log.h"

struct config;

/* Returns -1 when the process should go on (config_r set), or the exit
 * status to return at once. name is the process's section ("router",
 * "c2s", "sm", ...). */
int process_start(int argc, char **argv, const char *name, struct config **config_r);
/* The -n/--name option's value (a string in argv), or NULL. */
const char *process_name(void);
/* The level name's section asks for, else [junction] log_level. */
enum log_level process_log_level(const struct config *config, const char *name);
/* SIGHUP: load the configuration file again, apply its log level and
 * reopen the log file. Returns the fresh configuration for the caller to
 * take what else it reloads from (and config_free), or NULL when the file
 * no longer loads (logged; everything running is kept). */
struct config *process_reload(const struct config *running, const char *name);
/* process_reload() for a process that reloads nothing else. */
void process_reload_log_level(const struct config *running, const char *name);
/* Free the configuration, remove the pid file and stop logging. */
void process_stop(struct config **config);

#endif
