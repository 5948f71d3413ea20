/* log.c - stderr logging for memwatchd, journald-aware; see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"
#include "text.h"

static int log_level = LOG_WARNING;
static int journal = -1; /* stderr is the journal; -1: not known yet */

static const struct {
	const char *name;
	int level;
	const char *prefix; /* sd-daemon.h's, for journald: macros only,
			       so log.c links without libsystemd */
} levels[] = {
    {"error", LOG_ERR, SD_ERR},
    {"warning", LOG_WARNING, SD_WARNING},
    {"info", LOG_INFO, SD_INFO},
    {"debug", LOG_DEBUG, SD_DEBUG},
};

/*
 * systemd sets JOURNAL_STREAM to "DEV:INO" of the stream it connected to
 * stderr. A child inherits the variable but maybe not the stream (a
 * shell redirecting stderr to a file), so it counts only if it names the
 * stderr we have.
 */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (!env || sscanf(env, "%llu:%llu%c", &dev, &ino, &end) != 2 ||
	    fstat(STDERR_FILENO, &st))
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(int level)
{
	log_level = level;
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (!strcmp(levels[i].name, name))
			return levels[i].level;
	return -1;
}

bool log_to_journal(void)
{
	if (journal < 0)
		journal = stderr_is_journal();
	return journal;
}

const char *log_priority(int level)
{
	if (journal < 0)
		journal = stderr_is_journal();
	if (!journal)
		return "";
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (levels[i].level >= level)
			return levels[i].prefix;
	return SD_DEBUG;
}

static void vlog(int level, const char *fmt, va_list ap, int err)
{
	const char *prio = log_priority(level);
	char raw[1024], msg[1024];

	if (level > log_level)
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	/* One line each, and nothing a terminal acts on: a newline in a
	 * message (a thread name, a file name) would make the rest pass for
	 * a line of its own, at the default priority, and an escape
	 * sequence would reach whoever reads the log on a terminal. */
	text__safe(msg, sizeof(msg), raw);
	fprintf(stderr, "%s%s%s%s%s\n", prio, prio[0] ? "" : "memwatchd: ", msg,
		err ? ": " : "", err ? strerror(err) : "");
}

void log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, err);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, 0);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, 0);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap, 0);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap, err);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

void fatalx_status(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap, 0);
	va_end(ap);
	exit(status);
}
