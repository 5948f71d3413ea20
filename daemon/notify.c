/* notify.c - sd_notify for memwatchd; see notify.h. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "notify.h"

static bool enabled;	 /* NOTIFY_SOCKET was set */
static uint64_t wd_usec; /* the watchdog's interval; 0: no watchdog */
static uint64_t wd_last; /* when WATCHDOG=1 was last sent */
static int failed;	 /* the last sd_notify error, logged once */
static char status[256]; /* the last STATUS= sent */

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* systemd acts on what it is told (or kills us for what it is not), so
 * a failure is worth one warning, not one per tick. */
static void tell(const char *msg)
{
	int err = sd_notify(0, msg);

	if (err < 0 && err != failed)
		log_warnx("cannot notify systemd: %s", strerror(-err));
	failed = err < 0 ? err : 0;
}

void notify__init(void)
{
	uint64_t usec;

	enabled = getenv("NOTIFY_SOCKET") != NULL;
	/* It checks WATCHDOG_PID is us, so a WATCHDOG_USEC meant for a
	 * parent is not taken for ours. */
	if (enabled && sd_watchdog_enabled(0, &usec) > 0 && usec)
		wd_usec = usec;
	wd_last = mono_usec();
}

static void vstatus(const char *fmt, va_list ap)
{
	vsnprintf(status, sizeof(status), fmt, ap);
	/* One line: a newline would start another assignment. */
	for (char *p = status; (p = strchr(p, '\n'));)
		*p = ' ';
}

void notify__ready(const char *fmt, ...)
{
	char msg[sizeof(status) + 32];
	va_list ap;

	if (!enabled)
		return;
	va_start(ap, fmt);
	vstatus(fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	tell(msg);
}

void notify__reloading(void)
{
	char msg[128];

	if (!enabled)
		return;
	/* MONOTONIC_USEC: newer systemd (Type=notify-reload) matches the
	 * reload it asked for with it; older ones ignore it. */
	snprintf(msg, sizeof(msg),
		 "RELOADING=1\nMONOTONIC_USEC=%llu\n"
		 "STATUS=reloading the configuration",
		 (unsigned long long)mono_usec());
	snprintf(status, sizeof(status), "reloading the configuration");
	tell(msg);
}

void notify__stopping(void)
{
	if (!enabled)
		return;
	snprintf(status, sizeof(status),
		 "stopping: detaching, writing what "
		 "is left");
	tell("STOPPING=1\nSTATUS=stopping: detaching, writing what is left");
}

void notify__status(const char *fmt, ...)
{
	char old[sizeof(status)], msg[sizeof(status) + 16];
	va_list ap;

	if (!enabled)
		return;
	memcpy(old, status, sizeof(old));
	va_start(ap, fmt);
	vstatus(fmt, ap);
	va_end(ap);
	if (!strcmp(old, status))
		return;
	snprintf(msg, sizeof(msg), "STATUS=%s", status);
	tell(msg);
}

void notify__watchdog(void)
{
	uint64_t now;

	if (!wd_usec)
		return;
	now = mono_usec();
	if (now - wd_last < wd_usec / 2)
		return;
	wd_last = now;
	tell("WATCHDOG=1");
}

void notify__forget(void)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}
