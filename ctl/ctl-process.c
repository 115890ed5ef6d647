/* ctl-process.c: `junctionctl start|stop|restart [PROCESS]` and `reload
 * [PROCESS]`.
 *
 * start/stop/restart go to whatever supervises the daemons ([junction]
 * supervisor): systemd (`systemctl ACTION junction-PROCESS.service`, or
 * junction.target for all), supervisord (`supervisorctl [-c FILE] ACTION
 * PROCESS|all`) or none, where junctionctl itself starts the daemon
 * detached (own session, stdin /dev/null, output appended to
 * RUN_DIR/junction-PROCESS.out until the daemon opens [junction] log_file)
 * and stops it with SIGTERM through its pid file, waiting for it to exit.
 * reload always sends SIGHUP itself, to every live pid file's process
 * (common/pidfile.h), whatever the supervisor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "pidfile.h"

extern char **environ;

/* In start order; stop goes the other way. */
static const char *const ctl_process_names[] = {"router", "sm", "c2s", "pubsub", "s2s"};
#define CTL_N_PROCESSES (sizeof(ctl_process_names) / sizeof(ctl_process_names[0]))

/* How long a daemon has to write its pid file, and to exit after SIGTERM. */
#define CTL_START_TIMEOUT_MS 15000
#define CTL_STOP_TIMEOUT_MS 20000
/* A started daemon must still run this long after writing its pid file
 * (a listener that cannot bind fails right after the configuration). */
#define CTL_START_SETTLE_MS 500

enum ctl_supervisor { CTL_SYSTEMD, CTL_SUPERVISORD, CTL_NONE };

static void ctl_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

bool ctl_process_known(const char *name)
{
	for (size_t i = 0; i < CTL_N_PROCESSES; i++)
		if (strcmp(name, ctl_process_names[i]) == 0)
			return true;
	return false;
}

/* Run argv, wait for it; its exit status (127 when it cannot run). */
static int ctl_run(char *const argv[], bool quiet)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	posix_spawn_file_actions_init(&fa);
	if (quiet) {
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	}
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		if (!quiet)
			fprintf(stderr, "junctionctl: cannot run %s: %s\n", argv[0], strerror(r));
		return 127;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return 127;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int ctl_supervisor(const struct config *config, enum ctl_supervisor *sup_r)
{
	const char *s = config_get(config, "junction", "supervisor");

	if (strcmp(s, "systemd") == 0) {
		*sup_r = CTL_SYSTEMD;
	} else if (strcmp(s, "supervisord") == 0) {
		*sup_r = CTL_SUPERVISORD;
	} else if (strcmp(s, "none") == 0) {
		*sup_r = CTL_NONE;
	} else if (strcmp(s, "auto") == 0) {
		char *argv[] = {"systemctl", "cat", "junction-router.service", NULL};
		if (access("/run/systemd/system", F_OK) == 0 && ctl_run(argv, true) == 0)
			*sup_r = CTL_SYSTEMD;
		else if (config_get(config, "junction", "supervisord_conf") != NULL)
			*sup_r = CTL_SUPERVISORD;
		else
			*sup_r = CTL_NONE;
	} else {
		fprintf(stderr, "junctionctl: %s: [junction] supervisor must be systemd, "
				"supervisord, none or auto, not %s\n",
			config_path(config), s);
		return -1;
	}
	return 0;
}

/* Does the file set any key of section? (pubsub and s2s are started by
 * `start` without a name only when configured.) */
static bool ctl_section_present(const struct config *config, const char *section)
{
	for (const struct config_key *k = config_schema; k->section != NULL; k++)
		if (strcmp(k->section, section) == 0 && config_line(config, section, k->key) != 0)
			return true;
	return false;
}

static int ctl_delegate(const struct config *config, enum ctl_supervisor sup,
			const char *action, const char *name)
{
	char unit[64];

	if (sup == CTL_SYSTEMD) {
		if (name != NULL)
			snprintf(unit, sizeof(unit), "junction-%s.service", name);
		else
			snprintf(unit, sizeof(unit), "junction.target");
		char *argv[] = {"systemctl", (char *)action, unit, NULL};
		return ctl_run(argv, false) == 0 ? 0 : 1;
	}
	const char *conf = config_get(config, "junction", "supervisord_conf");
	char *argv[6];
	size_t n = 0;
	argv[n++] = "supervisorctl";
	if (conf != NULL) {
		argv[n++] = "-c";
		argv[n++] = (char *)conf;
	}
	argv[n++] = (char *)action;
	argv[n++] = (char *)(name != NULL ? name : "all");
	argv[n] = NULL;
	return ctl_run(argv, false) == 0 ? 0 : 1;
}

/* The live pid files of name (every one when name is NULL); stale ones of
 * it are removed. *n_r entries, caller frees. */
static struct pidfile_entry *ctl_live(const struct config *config, const char *name, size_t *n_r)
{
	struct pidfile_entry *all;
	size_t n, live = 0;

	*n_r = 0;
	if (pidfile_list(pidfile_dir(config), &all, &n) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (name != NULL && strcmp(all[i].name, name) != 0)
			continue;
		if (!all[i].alive) {
			unlink(all[i].path);
			continue;
		}
		all[live++] = all[i];
	}
	*n_r = live;
	return all;
}

/* The daemon's program: next to junctionctl (both are installed in
 * sbindir, and both sit in the top of a build tree). */
static int ctl_program(const char *name, char *path, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	snprintf(path, len, "%s/junction-%s", self, name);
	return access(path, X_OK);
}

/* The child's side of a start: a session of its own, output to out_path,
 * then the daemon. Only async-signal-safe calls between fork and exec. */
static void ctl_child(const char *program, const char *config_file, const char *out_path)
{
	int in = open("/dev/null", O_RDONLY);
	int out = open(out_path, O_WRONLY | O_APPEND | O_CREAT, 0640);

	setsid();
	if (in < 0 || out < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(out, STDERR_FILENO) < 0)
		_exit(126);
	if (in > STDERR_FILENO)
		close(in);
	if (out > STDERR_FILENO)
		close(out);
	execl(program, program, "-c", config_file, (char *)NULL);
	_exit(127);
}

/* Wait until pid has written its pid file and still runs a moment later;
 * 0, or -1 when it exited (its status reported) or never wrote one. */
static int ctl_wait_started(const struct config *config, const char *name, pid_t pid,
			    const char *out_path)
{
	unsigned waited = 0, settled = 0;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			fprintf(stderr, "junctionctl: junction-%s exited at start-up (status %d); see %s "
					"or its log file\n",
				name, WIFEXITED(status) ? WEXITSTATUS(status) : 128, out_path);
			return -1;
		}
		if (settled > 0 && waited - settled >= CTL_START_SETTLE_MS)
			return 0;
		if (settled == 0) {
			size_t n;
			struct pidfile_entry *e = ctl_live(config, name, &n);
			for (size_t i = 0; i < n; i++)
				if (e[i].pid == pid)
					settled = waited ? waited : 1;
			free(e);
		}
		if (settled == 0 && waited >= CTL_START_TIMEOUT_MS) {
			fprintf(stderr, "junctionctl: junction-%s (pid %ld) wrote no pid file in %s "
					"within %u s\n",
				name, (long)pid, pidfile_dir(config), CTL_START_TIMEOUT_MS / 1000);
			return -1;
		}
		ctl_sleep_ms(50);
		waited += 50;
	}
}

static int ctl_start_one(const struct config *config, const char *name)
{
	char program[PATH_MAX], abs_config[PATH_MAX], out_path[PIDFILE_PATH_MAX + 32];
	size_t n;
	struct pidfile_entry *e = ctl_live(config, name, &n);

	if (n > 0) {
		printf("%s: already running (pid %ld)\n", name, (long)e[0].pid);
		free(e);
		return 0;
	}
	free(e);
	if (ctl_program(name, program, sizeof(program)) < 0) {
		fprintf(stderr, "junctionctl: cannot find junction-%s next to junctionctl\n", name);
		return 1;
	}
	if (realpath(config_path(config), abs_config) == NULL) {
		fprintf(stderr, "junctionctl: %s: %s\n", config_path(config), strerror(errno));
		return 1;
	}
	const char *dir = pidfile_dir(config);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "junctionctl: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(out_path, sizeof(out_path), "%s/junction-%s.out", dir, name);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "junctionctl: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0)
		ctl_child(program, abs_config, out_path);
	if (ctl_wait_started(config, name, pid, out_path) < 0)
		return 1;
	printf("%s: started (pid %ld)\n", name, (long)pid);
	return 0;
}

/* Has every process in e exited? */
static bool ctl_all_gone(const struct pidfile_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pidfile_alive(e[i].pid, e[i].name))
			return false;
	return true;
}

static int ctl_stop_one(const struct config *config, const char *name)
{
	size_t n;
	struct pidfile_entry *e = ctl_live(config, name, &n);
	unsigned waited = 0;
	int ret = 0;

	if (n == 0) {
		printf("%s: not running\n", name);
		free(e);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		kill(e[i].pid, SIGTERM);
	while (!ctl_all_gone(e, n) && waited < CTL_STOP_TIMEOUT_MS) {
		ctl_sleep_ms(50);
		waited += 50;
	}
	for (size_t i = 0; i < n; i++) {
		if (pidfile_alive(e[i].pid, e[i].name)) {
			fprintf(stderr, "junctionctl: %s (pid %ld) did not exit within %u s: killed\n",
				name, (long)e[i].pid, CTL_STOP_TIMEOUT_MS / 1000);
			kill(e[i].pid, SIGKILL);
			unlink(e[i].path);
			ret = 1;
		} else {
			printf("%s: stopped (pid %ld)\n", name, (long)e[i].pid);
		}
	}
	free(e);
	return ret;
}

int ctl_process(const struct config *config, const char *action, const char *name)
{
	enum ctl_supervisor sup;
	int ret = 0;

	if (name != NULL && !ctl_process_known(name)) {
		fprintf(stderr, "junctionctl: unknown process '%s' (router, sm, c2s, pubsub, s2s)\n",
			name);
		return 2;
	}
	if (ctl_supervisor(config, &sup) < 0)
		return 1;
	if (sup != CTL_NONE)
		return ctl_delegate(config, sup, action, name);

	bool start = strcmp(action, "stop") != 0, stop = strcmp(action, "start") != 0;
	if (stop) {
		for (size_t i = CTL_N_PROCESSES; i-- > 0;)
			if (name == NULL || strcmp(name, ctl_process_names[i]) == 0)
				ret |= ctl_stop_one(config, ctl_process_names[i]);
	}
	if (start) {
		for (size_t i = 0; i < CTL_N_PROCESSES && ret == 0; i++) {
			const char *p = ctl_process_names[i];
			if (name != NULL ? strcmp(name, p) == 0
					 : (i < 3 || ctl_section_present(config, p)))
				ret |= ctl_start_one(config, p);
		}
	}
	return ret;
}

int ctl_reload(const struct config *config, const char *name)
{
	size_t n;
	struct pidfile_entry *e;
	int ret = 0;

	if (name != NULL && !ctl_process_known(name)) {
		fprintf(stderr, "junctionctl: unknown process '%s' (router, sm, c2s, pubsub, s2s)\n",
			name);
		return 2;
	}
	e = ctl_live(config, name, &n);
	if (n == 0) {
		fprintf(stderr, "junctionctl: no running %s%s (no live pid file in %s)\n",
			name != NULL ? "junction-" : "Junction process", name != NULL ? name : "",
			pidfile_dir(config));
		free(e);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (kill(e[i].pid, SIGHUP) < 0) {
			fprintf(stderr, "junctionctl: %s (pid %ld): %s\n", e[i].name, (long)e[i].pid,
				strerror(errno));
			ret = 1;
		} else {
			printf("%s: reloaded (pid %ld)\n", e[i].name, (long)e[i].pid);
		}
	}
	free(e);
	return ret;
}

void ctl_status_processes(const struct config *config)
{
	struct pidfile_entry *e;
	size_t n;

	if (pidfile_list(pidfile_dir(config), &e, &n) < 0) {
		printf("processes: cannot read %s\n", pidfile_dir(config));
		return;
	}
	printf("processes (pid files in %s):\n", pidfile_dir(config));
	printf("%-8s %8s  %s\n", "PROCESS", "PID", "STATE");
	for (size_t i = 0; i < n; i++)
		printf("%-8s %8ld  %s\n", e[i].name, (long)e[i].pid,
		       e[i].alive ? "running" : "dead (stale pid file)");
	if (n == 0)
		printf("(no pid files in %s)\n", pidfile_dir(config));
	free(e);
}
