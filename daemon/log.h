/*
 * log.h - the daemon's logging, in the style of OpenBSD daemons: log once,
 * where an error is handled. log_warn appends strerror(errno); the x
 * variants do not. fatal and fatalx log and exit(1).
 */
#ifndef MEMWATCH_LOG_H
#define MEMWATCH_LOG_H

void log_init(int verbose);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
