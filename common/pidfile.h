/* pidfile.h: where each running Junction process leaves its pid.
 *
 * Every daemon writes RUN_DIR/junction-NAME.pid at start-up (RUN_DIR is
 * [junction] run_dir, else data_dir) and removes it when it exits cleanly,
 * whatever started it (systemd, supervisord, junctionctl start). A second
 * live instance of the same process (a second sm) writes
 * junction-NAME.PID.pid instead of taking the first one's file. junctionctl
 * reads them for status, reload (SIGHUP to each) and, with supervisor =
 * none, stop. A file left by a process that died (kill -9) is stale:
 * pidfile_list() reports it as not alive, by checking that the pid runs a
 * program called junction-NAME.
 *
 *   char path[PIDFILE_PATH_MAX];
 *   pidfile_write(pidfile_dir(cfg), "sm", path, sizeof path, err, sizeof err);
 *   ...
 *   pidfile_remove(path);
 */
#ifndef JUNCTION_PIDFILE_H
#define JUNCTION_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PIDFILE_PATH_MAX 4096

struct config;

struct pidfile_entry {
	char name[32];               /* the process: "router", "sm", ... */
	char path[PIDFILE_PATH_MAX]; /* the file */
	pid_t pid;
	bool alive; /* pid runs junction-NAME now */
};

/* [junction] run_dir, else [junction] data_dir. */
const char *pidfile_dir(const struct config *config);
/* Write this process's pid file for name; path_r gets its path. */
int pidfile_write(const char *dir, const char *name, char *path_r, size_t path_len, char *err,
		  size_t errlen);
/* Remove the file, if it still holds this process's pid. */
void pidfile_remove(const char *path);
/* Every junction-*.pid in dir, sorted by path; *entries_r is the caller's
 * to free (NULL when none). -1 when dir cannot be read. */
int pidfile_list(const char *dir, struct pidfile_entry **entries_r, size_t *n_r);
/* Does pid run the program junction-NAME? */
bool pidfile_alive(pid_t pid, const char *name);

#endif
