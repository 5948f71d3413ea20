/*
 * notify.h - telling systemd how memwatchd is doing (sd_notify): ready
 * once its probes are attached and its control socket listens, reloading,
 * stopping, a one-line status, and the watchdog's keep-alive.
 *
 * Every call is a no-op when memwatchd was not started by systemd with
 * Type=notify (no NOTIFY_SOCKET), so the daemon calls them all the same.
 */
#ifndef MEMWATCH_NOTIFY_H
#define MEMWATCH_NOTIFY_H

#include <stdint.h>

/* Read NOTIFY_SOCKET and the watchdog's interval, once, at start. */
void notify__init(void);
/* Startup, or a reload, is over: READY=1 with a status line. */
void notify__ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A reload begins: RELOADING=1, ended by notify__ready. */
void notify__reloading(void);
/* Stopping on a signal: flushing, detaching, exiting. */
void notify__stopping(void);
/* The status line systemctl status shows; sent only when it changed. */
void notify__status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Called at every tick of the loop: WATCHDOG=1 when half the interval
 * systemd asked for (WatchdogSec=) went by, so a loop stuck for the
 * whole interval gets the daemon restarted. */
void notify__watchdog(void);
/* In a child about to exec a command: it must not speak for us. */
void notify__forget(void);

#endif
