/*
 * log.h - the daemon's logging, in the style of OpenBSD daemons: log once,
 * where an error is handled. log_warn appends strerror(errno); the x
 * variants do not. fatal and fatalx log and exit(1); fatalx_status
 * exits with the status given.
 *
 * Levels are syslog's: fatal logs at LOG_ERR, log_warn* at LOG_WARNING,
 * log_info at LOG_INFO, log_debug at LOG_DEBUG; a message above the level
 * set with log_init is dropped. When stderr is the journal (systemd's
 * JOURNAL_STREAM names it), each line starts with its priority, "<4>",
 * for journald to file it under, and nothing else: journald stamps the
 * time and the program itself. Otherwise lines read "memwatchd: message".
 */
#ifndef MEMWATCH_LOG_H
#define MEMWATCH_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* level: LOG_ERR, LOG_WARNING, LOG_INFO or LOG_DEBUG. May be called again
 * to change the level (memwatchd's reload). */
void log_init(int level);
/* The level named by one of "error", "warning", "info", "debug"; -1 for
 * anything else. */
int log_level_parse(const char *name);
/* "<N>" for level when stderr is the journal, else "": for the lines
 * written to stderr without log_* (options.c's usage errors). */
const char *log_priority(int level);
/* Is stderr the journal (JOURNAL_STREAM names it)? */
bool log_to_journal(void);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx_status(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
