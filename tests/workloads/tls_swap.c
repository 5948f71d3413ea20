/*
 * tls_swap.c - a TLS value replaced every so often under a flood of
 * allocations: the overload test's workload (tests/e2e/overload.sh).
 *
 *   tls_swap [THREADS=2] [MS=4000] [SWAP_MS=100]
 *
 * One key, no destructor. Each of THREADS threads holds a malloc'ed value
 * in it and, for MS milliseconds, mallocs and frees 24-byte blocks as
 * fast as it can; every SWAP_MS it replaces its value: the new one is
 * allocated and set before the old one is freed, in one of eight sizes in
 * turn, so an address comes back only eight swaps later. At the end each
 * thread frees its value and clears its slot. (The old value is freed
 * 8 bursts of 256 mallocs and frees later, not at once.)
 *
 * Everything is freed and no slot keeps a value: memwatch must report
 * nothing, however many of these events it loses. When the frees of old
 * values are lost and the sets of new ones are not, a tracer that trusted
 * what it saw would report the old values as overwritten and leaked.
 *
 * Honours MW_WAIT_FILE (see workload.h). Prints nothing, exits 0.
 */
#include <pthread.h>
#include <stdlib.h>

#include "workload.h"

#define PROG "tls_swap"
#define NSIZES 8

static pthread_key_t key;
static uint64_t end_ns, swap_ns;
static void *volatile sink;

static void *value_new(unsigned i)
{
	void *p = malloc((size_t)64 << (i % NSIZES));

	if (!p)
		wl_die(PROG, "malloc failed");
	return p;
}

static void *worker(void *arg)
{
	void *value = value_new(0), *old = NULL;
	unsigned held = 0;
	uint64_t next;

	(void)arg;
	wl_check(PROG, pthread_setspecific(key, value), "pthread_setspecific");
	next = wl_now_ns() + swap_ns;
	for (unsigned i = 1;; i++) {
		uint64_t now;

		for (int j = 0; j < 256; j++) {
			void *p = malloc(24);

			if (!p)
				wl_die(PROG, "malloc failed");
			sink = p;
			free(p);
		}
		/* The old value goes 8 bursts after the set: 4,096 records
		 * between them, so that a ring buffer filling up lets the set
		 * through and loses the free often enough (with the two
		 * adjacent, CI once saw no such case in a run). */
		if (old && ++held == 8) {
			free(old);
			old = NULL;
		}
		now = wl_now_ns();
		if (now >= end_ns)
			break;
		if (now >= next && !old) {
			old = value;
			held = 0;
			value = value_new(i);
			wl_check(PROG, pthread_setspecific(key, value),
				 "pthread_setspecific");
			next = now + swap_ns;
		}
	}
	free(old);
	free(value);
	wl_check(PROG, pthread_setspecific(key, NULL), "pthread_setspecific");
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=2] [MS=4000] [SWAP_MS=100]";
	long nthreads = wl_arg(argc, argv, 1, 2, 1, 64, usage);
	long ms = wl_arg(argc, argv, 2, 4000, 1, 600000, usage);
	long swap_ms = wl_arg(argc, argv, 3, 100, 1, 60000, usage);
	pthread_t tids[64];

	wl_wait_for_start(PROG);
	wl_check(PROG, pthread_key_create(&key, NULL), "pthread_key_create");
	swap_ns = (uint64_t)swap_ms * 1000000u;
	end_ns = wl_now_ns() + (uint64_t)ms * 1000000u;
	for (long i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");
	for (long i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	return 0;
}
