/* log.h: leveled logging for every Junction process.
 *
 * Each line is "TIME LEVEL process[pid] cN: message" on stderr, and also to
 * syslog when log_init() was asked to. log_open_file() points stderr at a
 * file (appending), so the same lines and anything else written to stderr
 * (a sanitizer report) land there; calling it again after the file was
 * renamed (logrotate) reopens it. N is the connection id (0 when the
 * line is not about a connection). The level is checked before any argument
 * is evaluated, so debug logging costs one compare when it is off.
 * Stanza contents are logged only at debug level.
 *
 * The macros are JLOG_* rather than LOG_* because <syslog.h> owns LOG_INFO,
 * LOG_DEBUG and friends.
 *
 *   log_init("router", LOG_LEVEL_INFO, false);
 *   JLOG_INFO(conn->id, "bound %s", name);
 *   log_deinit();
 */
#ifndef JUNCTION_LOG_H
#define JUNCTION_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

extern enum log_level log_current_level;

void log_init(const char *process, enum log_level level, bool use_syslog);
void log_set_level(enum log_level level);
/* Open path for appending (created 0640) and make it the process's stderr.
 * 0, or -1 with err set and stderr unchanged. */
int log_open_file(const char *path, char *err, size_t errlen);
void log_deinit(void);
/* Parse "error", "warn", "info" or "debug"; 0 on success, -1 otherwise. */
int log_level_parse(const char *s, enum log_level *level_r);
void log_write(enum log_level level, unsigned long conn_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define JLOG_AT(lvl, conn_id, ...)                                                                 \
	do {                                                                                       \
		if (log_current_level >= (lvl))                                                    \
			log_write((lvl), (conn_id), __VA_ARGS__);                                  \
	} while (0)
#define JLOG_ERROR(conn_id, ...) JLOG_AT(LOG_LEVEL_ERROR, conn_id, __VA_ARGS__)
#define JLOG_WARN(conn_id, ...) JLOG_AT(LOG_LEVEL_WARN, conn_id, __VA_ARGS__)
#define JLOG_INFO(conn_id, ...) JLOG_AT(LOG_LEVEL_INFO, conn_id, __VA_ARGS__)
#define JLOG_DEBUG(conn_id, ...) JLOG_AT(LOG_LEVEL_DEBUG, conn_id, __VA_ARGS__)

#endif
