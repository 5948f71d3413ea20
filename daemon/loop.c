/*
 * loop.c - memwatchd's one epoll loop: the ring buffer, the signals
 * (stop, reload, the command's exit), the control socket, /metrics, and
 * the timer's work every TICK_NS: losses, decisions, the memory bound,
 * flushes every FLUSH_EVERY_NS, retention between them, status for
 * systemd.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector.h"
#include "control.h"
#include "engine.h"
#include "log.h"
#include "memwatchd.h"
#include "metrics.h"
#include "notify.h"
#include "retention.h"
#include "symbolizer.h"

#define TICK_NS (100ull * 1000 * 1000)
#define FLUSH_EVERY_NS (500ull * 1000 * 1000)

/* systemctl status shows it; sent only when it changed. */
static void notify_status(struct daemon *d)
{
	struct engine_stats es;

	engine__stats(d->engine, &es);
	notify__status("%d processes traced, %llu findings, %llu events lost",
		       collector__ntargets(d->col),
		       (unsigned long long)es.findings,
		       (unsigned long long)es.lost);
}

/*
 * --max-memory-mb: past it, the process whose tables take the most is
 * detached, as `memwatchctl detach` would: what was found stays, nothing
 * more is judged, so nothing false is reported. Keeping it traced with
 * parts of its state thrown away would make its frees unknown and its
 * leaks unprovable. Checked at every tick: it may be passed by what one
 * tick's events add.
 */
static void memory_check(struct daemon *d)
{
	uint64_t limit = (uint64_t)d->opts->max_memory_mb << 20, used, bytes;
	uint32_t pid;
	char msg[128];

	if (!limit)
		return;
	used = engine__memory(d->engine, &pid, &bytes);
	if (used <= limit || !pid)
		return;
	log_warnx("memory estimate %llu MiB passed --max-memory-mb %u: "
		  "detaching pid %u, which holds %llu MiB of it",
		  (unsigned long long)(used >> 20), d->opts->max_memory_mb, pid,
		  (unsigned long long)(bytes >> 20));
	/* Not the collector's (gone meanwhile): the engine's alone. */
	if (daemon__detach(d, pid, msg, sizeof(msg)))
		engine__detach(d->engine, pid, collector__now(d->col));
	d->shed++;
}

static void on_timer(struct daemon *d)
{
	uint64_t expirations, now;
	bool flushed = false;

	if (read(d->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	/* Records below the ring buffer's wakeup mark wait for us here. */
	daemon__drain(d);
	collector__take_missed(d->col, daemon__on_missed, d);
	collector__tick(d->col);
	daemon__cgwatch_refresh(d);
	now = collector__now(d->col);
	daemon__name_allocators(d, now);
	engine__tick(d->engine, now);
	memory_check(d);
	/* A flush cut short by --flush-rows goes on at the next tick, once
	 * the events that came meanwhile are in. */
	if (now - d->last_flush >= FLUSH_EVERY_NS ||
	    engine__flush_more(d->engine)) {
		daemon__check_db(d);
		daemon__flush(d, now);
		flushed = true;
	}
	/* Pruning steps go between flushes, never adding to one. */
	if (!flushed)
		retention__tick(d->retention, now);
	metrics__serve(d->metrics); /* its connection timeouts */
	notify_status(d);
	notify__watchdog();
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	char msg[PATH_MAX + 1024];
	int status;

	if (read(d->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	switch (si.ssi_signo) {
	case SIGCHLD:
		if (d->child > 0 && waitpid(d->child, &status, WNOHANG) ==
					    d->child) {
			d->child_status = status;
			d->child_done = true;
		}
		break;
	case SIGINT:
	case SIGTERM:
		log_info("stopping on signal %u", si.ssi_signo);
		d->stop = true;
		break;
	case SIGHUP:
		if (daemon__reload(d, msg, sizeof(msg)))
			log_warnx("cannot reload: %s", msg);
		break;
	}
}

static void epoll_add(struct daemon *d, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev))
		fatal("epoll_ctl");
}

/* The signals, the timer and the fds the loop waits on. */
void daemon__loop_init(struct daemon *d)
{
	struct itimerspec its = {
		.it_interval.tv_nsec = TICK_NS,
		.it_value.tv_nsec = TICK_NS,
	};
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->timerfd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->timerfd < 0 || d->epfd < 0 ||
	    timerfd_settime(d->timerfd, 0, &its, NULL))
		fatal("cannot set up the event loop");
	epoll_add(d, collector__fd(d->col));
	epoll_add(d, d->sigfd);
	epoll_add(d, d->timerfd);
	epoll_add(d, control__fd(d->ctl));
	if (metrics__fd(d->metrics) >= 0)
		epoll_add(d, metrics__fd(d->metrics));
	epoll_add(d, symbolizer__fd(d->sym));
}

void daemon__loop(struct daemon *d)
{
	struct epoll_event evs[8];

	while (!d->stop && !d->child_done) {
		int n = epoll_wait(d->epfd, evs, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == collector__fd(d->col))
				daemon__drain(d);
			else if (fd == d->sigfd)
				on_signal(d);
			else if (fd == d->timerfd)
				on_timer(d);
			else if (fd == metrics__fd(d->metrics))
				metrics__serve(d->metrics);
			else if (fd == symbolizer__fd(d->sym))
				symbolizer__collect(d->sym);
			else if (fd == control__fd(d->ctl)) {
				int err = control__serve(d->ctl,
							 daemon__on_request, d);

				if (err)
					log_debug("control client: %s",
						  strerror(-err));
			}
		}
	}
}

