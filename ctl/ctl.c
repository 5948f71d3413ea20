/*
 * ctl.c - what every memwatchctl command leans on: the options main set,
 * errors (printed, and as JSON with --json), the database opened
 * read-only, the time; see ctl.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#ifdef _WIN32
#include "winsqlite.h"
#endif

struct ctl_opt opt;
struct json J;

void die(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "memwatchctl: %s\n", msg);
	if (opt.json_errors) {
		struct json j;

		json__init(&j, stdout, false);
		json__open(&j, '{');
		json__key(&j, "error");
		json__str(&j, msg);
		json__close(&j, '}');
		json__end(&j);
	}
	exit(code);
}

void ctl__close_stdout(void)
{
	/* What was written but failed (a full disk, a closed pipe with
	 * SIGPIPE ignored, /dev/full) is latched in the stream's error flag;
	 * fclose writes what is still buffered. errno is fclose's, or the
	 * latched error's if fclose had nothing left to write. */
	int bad = ferror(stdout), err;

	errno = 0;
	bad |= fclose(stdout) != 0;
	err = errno;
	if (!bad)
		return;
	if (err)
		fprintf(stderr, "memwatchctl: write error on standard output: %s\n",
			strerror(err));
	else
		fprintf(stderr, "memwatchctl: write error on standard output\n");
	/* Not exit(): this runs from it. */
	_exit(EXIT_RUNTIME);
}

struct store *ctl__open_db(void)
{
	struct store *s;
#ifdef _WIN32
	char why[160];

	/* winsqlite3.dll is delay-loaded: a missing function would fault. */
	if (winsqlite__check(why, sizeof(why)))
		die(EXIT_RUNTIME, "%s", why);
#endif
	s = store__open(opt.db, STORE_RDONLY);
	if (!s)
		die(EXIT_RUNTIME, "database '%s': %s", opt.db,
		    store__strerror(errno));
	return s;
}

void ctl__query_failed(int err)
{
	die(EXIT_RUNTIME, "database '%s': %s", opt.db, store__strerror(err));
}

void ctl__no_args(const char *cmd, int argc)
{
	if (argc)
		die(EXIT_USAGE,
		    "%s: unexpected argument (try 'memwatchctl "
		    "--help')",
		    cmd);
}

uint64_t ctl__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
