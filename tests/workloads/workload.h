/*
 * workload.h - small helpers shared by the test workloads in this
 * directory: argument parsing, fatal errors, sleeping, and the start gate.
 *
 * The start gate: when the environment variable MW_WAIT_FILE names a path,
 * a workload calls wl_wait_for_start() before it creates its TLS keys and
 * threads; that polls every 10 ms, for up to 30 s, until the path exists.
 * The --pid end-to-end tests use it to start a workload, attach memwatchd
 * to the idle process, and only then let it do the work being observed.
 * Every workload honours the gate in the same place, so a test can rely on
 * nothing interesting having happened before the file appears.
 *
 * Everything here is static inline so that each workload stays a single
 * translation unit (the Makefile compiles tests/workloads/X.c on its own).
 */
#ifndef MW_WORKLOAD_H
#define MW_WORKLOAD_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WL_GATE_POLL_MS 10
#define WL_GATE_TIMEOUT_MS 30000

/* Print "PROG: message" on stderr and exit 1: workloads never limp on. */
static inline void wl_die(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A pthread_* call returned err (they return errors, not -1/errno). */
static inline void wl_check(const char *prog, int err, const char *what)
{
	if (err)
		wl_die(prog, "%s: %s", what, strerror(err));
}

/*
 * argv[idx] as a number in [min, max], or def when absent. A bad value is
 * a usage error (exit 2), so a typo in a test never silently runs the
 * default workload.
 */
static inline long wl_arg(int argc, char **argv, int idx, long def, long min,
			  long max, const char *usage)
{
	char *end;
	long v;

	if (idx >= argc)
		return def;
	errno = 0;
	v = strtol(argv[idx], &end, 10);
	if (errno || end == argv[idx] || *end || v < min || v > max) {
		fprintf(stderr, "usage: %s %s\n", argv[0], usage);
		exit(2);
	}
	return v;
}

static inline void wl_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Stay alive 1.5 s past the work, beyond the daemon's grace period (0.5 s
 * by default), so that leaks are decided while the process lives; or
 * MW_HOLD_MS ms, for a test that must act while it still runs. */
static inline void wl_hold(void)
{
	const char *ms = getenv("MW_HOLD_MS");

	wl_sleep_ms(ms && *ms ? atol(ms) : 1500);
}

/* CLOCK_MONOTONIC in ns, and sleeping until such a time: for workloads
 * that spread their work over a time window. */
static inline uint64_t wl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline void wl_sleep_until_ns(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000ULL),
			       (long)(t % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/*
 * Benchmarks: the time a workload spent on its work, measured from inside
 * so that no tracer's start or stop is in it. With MW_ELAPSED_FILE set,
 * wl_elapsed_write(ns) writes a duration to that file;
 * wl_elapsed_report(start) writes the time since start.
 */
static inline void wl_elapsed_write(uint64_t ns)
{
	const char *path = getenv("MW_ELAPSED_FILE");
	FILE *f;

	if (!path || !*path)
		return;
	f = fopen(path, "w");
	if (!f)
		wl_die("workload", "cannot write %s", path);
	fprintf(f, "%llu\n", (unsigned long long)ns);
	fclose(f);
}

static inline void wl_elapsed_report(uint64_t start)
{
	wl_elapsed_write(wl_now_ns() - start);
}

/*
 * The shape of the TLS-leak workloads: a key without destructor in *key,
 * then nthreads threads running fn, created in one batch (*all_set lets
 * them wait until all are alive) and joined. Their thread ids take one
 * calloc and one free on the calling thread.
 */
static inline void wl_run_batch(const char *prog, long nthreads,
				pthread_key_t *key, pthread_barrier_t *all_set,
				void *(*fn)(void *))
{
	pthread_t *tids = (pthread_t *)calloc((size_t)nthreads, sizeof(*tids));
	long i;

	if (!tids)
		wl_die(prog, "out of memory");
	wl_check(prog, pthread_key_create(key, NULL), "pthread_key_create");
	wl_check(prog, pthread_barrier_init(all_set, NULL, (unsigned)nthreads),
		 "pthread_barrier_init");
	for (i = 0; i < nthreads; i++)
		wl_check(prog, pthread_create(&tids[i], NULL, fn, NULL),
			 "pthread_create");
	for (i = 0; i < nthreads; i++)
		wl_check(prog, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(all_set);
	free(tids);
}

/* The start gate described at the top of this file. */
static inline void wl_wait_for_start(const char *prog);

/*
 * The whole main of the simplest TLS-leak workloads: `prog [THREADS=8]
 * [SIZE=4096]`, SIZE stored in *size, the start gate, wl_run_batch, then
 * 1.5 s alive (MW_HOLD_MS ms if set), past the daemon's grace period
 * (0.5 s by default), so that leaks are decided while the process lives. Returns main's status.
 */
static inline int wl_tls_leak_main(const char *prog, int argc, char **argv,
				   size_t *size, pthread_key_t *key,
				   pthread_barrier_t *all_set,
				   void *(*fn)(void *))
{
	const char *usage = "[THREADS=8] [SIZE=4096]";
	long nthreads = wl_arg(argc, argv, 1, 8, 1, 1000, usage);

	*size = (size_t)wl_arg(argc, argv, 2, 4096, 1, 1L << 30, usage);
	wl_wait_for_start(prog);
	wl_run_batch(prog, nthreads, key, all_set, fn);
	wl_hold();
	return 0;
}

static inline void wl_wait_for_start(const char *prog)
{
	const char *path = getenv("MW_WAIT_FILE");
	long waited;

	if (!path || !*path)
		return;
	for (waited = 0; access(path, F_OK) != 0; waited += WL_GATE_POLL_MS) {
		if (waited >= WL_GATE_TIMEOUT_MS)
			wl_die(prog, "gave up waiting for %s", path);
		wl_sleep_ms(WL_GATE_POLL_MS);
	}
}

#endif
