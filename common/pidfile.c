/* pidfile.c: pid files of running processes (see pidfile.h). */
#include "pidfile.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"

#define PIDFILE_PREFIX "junction-"
#define PIDFILE_SUFFIX ".pid"

const char *pidfile_dir(const struct config *config)
{
	const char *dir = config_get(config, "junction", "run_dir");
	return dir != NULL ? dir : config_get(config, "junction", "data_dir");
}

/* The pid in path, or 0. */
static pid_t pidfile_read(const char *path)
{
	FILE *f = fopen(path, "re");
	long pid = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

bool pidfile_alive(pid_t pid, const char *name)
{
	char path[64], argv0[256], want[64];

	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return true; /* no /proc: the pid exists, that has to do */
	size_t n = fread(argv0, 1, sizeof(argv0) - 1, f);
	fclose(f);
	argv0[n] = '\0'; /* argv[0] ends at the first NUL */
	const char *base = strrchr(argv0, '/');
	base = base != NULL ? base + 1 : argv0;
	snprintf(want, sizeof(want), PIDFILE_PREFIX "%s", name);
	return strcmp(base, want) == 0;
}

int pidfile_write(const char *dir, const char *name, char *path_r, size_t path_len, char *err,
		  size_t errlen)
{
	char tmp[PIDFILE_PATH_MAX + 16];
	pid_t self = getpid();

	snprintf(path_r, path_len, "%s/" PIDFILE_PREFIX "%s" PIDFILE_SUFFIX, dir, name);
	pid_t other = pidfile_read(path_r);
	if (other != 0 && other != self && pidfile_alive(other, name))
		snprintf(path_r, path_len, "%s/" PIDFILE_PREFIX "%s.%ld" PIDFILE_SUFFIX, dir, name,
			 (long)self);
	/* Write a temporary file and rename it: a reader never sees half a pid. */
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path_r, (long)self);
	FILE *f = fopen(tmp, "we");
	if (f == NULL) {
		snprintf(err, errlen, "cannot write pid file %s: %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(f, "%ld\n", (long)self);
	if (fclose(f) != 0 || rename(tmp, path_r) < 0) {
		snprintf(err, errlen, "cannot write pid file %s: %s", path_r, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

void pidfile_remove(const char *path)
{
	if (path[0] != '\0' && pidfile_read(path) == getpid())
		unlink(path);
}

static int pidfile_compare(const void *a, const void *b)
{
	return strcmp(((const struct pidfile_entry *)a)->path,
		      ((const struct pidfile_entry *)b)->path);
}

/* "junction-NAME.pid" or "junction-NAME.PID.pid": NAME into name_r. */
static bool pidfile_parse_name(const char *file, char *name_r, size_t len)
{
	size_t n = strlen(file), plen = strlen(PIDFILE_PREFIX), slen = strlen(PIDFILE_SUFFIX);

	if (n <= plen + slen || strncmp(file, PIDFILE_PREFIX, plen) != 0 ||
	    strcmp(file + n - slen, PIDFILE_SUFFIX) != 0)
		return false;
	size_t name_len = strcspn(file + plen, ".");
	if (name_len == 0 || name_len >= len)
		return false;
	memcpy(name_r, file + plen, name_len);
	name_r[name_len] = '\0';
	return true;
}

int pidfile_list(const char *dir, struct pidfile_entry **entries_r, size_t *n_r)
{
	DIR *d = opendir(dir);
	struct pidfile_entry *entries = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	*entries_r = NULL;
	*n_r = 0;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		struct pidfile_entry e = {0};
		if (!pidfile_parse_name(de->d_name, e.name, sizeof(e.name)))
			continue;
		snprintf(e.path, sizeof(e.path), "%s/%s", dir, de->d_name);
		e.pid = pidfile_read(e.path);
		if (e.pid == 0)
			continue;
		e.alive = pidfile_alive(e.pid, e.name);
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			entries = xrealloc(entries, cap * sizeof(*entries));
		}
		entries[n++] = e;
	}
	closedir(d);
	if (n > 0)
		qsort(entries, n, sizeof(*entries), pidfile_compare);
	*entries_r = entries;
	*n_r = n;
	return 0;
}
