/* log.c: the leveled logger behind the JLOG_* macros (see log.h).
 *
 * Each line is formatted in full and handed to the kernel with one write(2),
 * so lines from processes sharing a stderr (junctionctl, the test harness)
 * never interleave mid-line and nothing sits in a stdio buffer when a
 * process dies. Control characters in messages are escaped: messages quote
 * peers (a JID, a stream error text), and a peer must not be able to forge
 * a log line with an embedded newline.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Longer messages (a large stanza at debug level) are cut here and marked,
 * so one log line never costs more than this much memory. */
#define LOG_MESSAGE_MAX (16 * 1024)
#define LOG_PROCESS_MAX 64

enum log_level log_current_level = LOG_LEVEL_INFO;

/* openlog() keeps the ident pointer, so the name lives in static storage. */
static char log_process[LOG_PROCESS_MAX] = "junction";
static bool log_use_syslog;

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "ERROR",
	[LOG_LEVEL_WARN] = "WARN",
	[LOG_LEVEL_INFO] = "INFO",
	[LOG_LEVEL_DEBUG] = "DEBUG",
};

static const int log_syslog_priorities[] = {
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARN] = LOG_WARNING,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

void log_init(const char *process, enum log_level level, bool use_syslog)
{
	snprintf(log_process, sizeof(log_process), "%s", process);
	log_current_level = level;
	log_use_syslog = use_syslog;
	if (use_syslog)
		openlog(log_process, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_current_level = level;
}

int log_open_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open log file %s: %s", path, strerror(errno));
		return -1;
	}
	/* dup2 replaces stderr in one step: no line is written between the old
	 * file's close and the new one's open. */
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) < 0) {
			snprintf(err, errlen, "cannot use log file %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

void log_deinit(void)
{
	if (log_use_syslog)
		closelog();
	log_use_syslog = false;
}

int log_level_parse(const char *s, enum log_level *level_r)
{
	static const char *const names[] = {
		[LOG_LEVEL_ERROR] = "error",
		[LOG_LEVEL_WARN] = "warn",
		[LOG_LEVEL_INFO] = "info",
		[LOG_LEVEL_DEBUG] = "debug",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Append msg to line at *pos, escaping control characters as \n, \r, \t
 * or \xHH. line has room for 4 bytes per input byte. */
static void log_escape(char *line, size_t *pos, const char *msg, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t p = *pos;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c >= 0x20 && c != 0x7f) {
			line[p++] = (char)c;
			continue;
		}
		line[p++] = '\\';
		if (c == '\n') {
			line[p++] = 'n';
		} else if (c == '\r') {
			line[p++] = 'r';
		} else if (c == '\t') {
			line[p++] = 't';
		} else {
			line[p++] = 'x';
			line[p++] = hex[c >> 4];
			line[p++] = hex[c & 0xf];
		}
	}
	*pos = p;
}

static void log_write_all(const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere left to report a failing stderr */
		}
		data += n;
		len -= (size_t)n;
	}
}

void log_write(enum log_level level, unsigned long conn_id, const char *fmt, ...)
{
	static const char truncated[] = " [truncated]";
	int saved_errno = errno;
	char small[1024];
	char *msg = small, *line;
	size_t msg_len, pos, conn_pos;
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if ((unsigned)level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_ERROR;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		n = 0;
		small[0] = '\0';
	}
	msg_len = (size_t)n;
	if (msg_len >= sizeof(small)) {
		size_t size = (msg_len < LOG_MESSAGE_MAX ? msg_len : LOG_MESSAGE_MAX) + 1;
		msg = malloc(size);
		if (msg == NULL) {
			msg = small;
			msg_len = sizeof(small) - 1;
		} else {
			va_start(ap, fmt);
			vsnprintf(msg, size, fmt, ap);
			va_end(ap);
			if (msg_len > size - 1)
				msg_len = size - 1;
		}
	}

	/* Prefix, escaped message (4 bytes per byte at most), marker, newline. */
	line = malloc(128 + LOG_PROCESS_MAX + 4 * msg_len + sizeof(truncated) + 1);
	if (line == NULL)
		goto out;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	pos = strftime(line, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	pos += (size_t)sprintf(line + pos, ".%03ldZ %s %s[%ld] ", ts.tv_nsec / 1000000,
			       log_level_names[level], log_process, (long)getpid());
	conn_pos = pos;
	pos += (size_t)sprintf(line + pos, "c%lu: ", conn_id);
	log_escape(line, &pos, msg, msg_len);
	if ((size_t)n > msg_len) {
		memcpy(line + pos, truncated, sizeof(truncated) - 1);
		pos += sizeof(truncated) - 1;
	}
	line[pos++] = '\n';
	log_write_all(line, pos);

	if (log_use_syslog) {
		line[pos - 1] = '\0';
		/* syslog adds its own time, ident and pid: send from "cN:" on. */
		syslog(log_syslog_priorities[level], "%s", line + conn_pos);
	}
	free(line);
out:
	if (msg != small)
		free(msg);
	errno = saved_errno;
}
