/*
 * alloc_pairs.c - the benchmark's unit of cost: malloc(SIZE) then free,
 * PAIRS times in each of THREADS threads, nothing else.
 *
 *   alloc_pairs [PAIRS=200000] [THREADS=1] [SIZE=64]
 *
 * Untraced a pair costs a few ns; traced, two or three traps: the
 * difference over PAIRS x THREADS is the tracer's cost per pair. The
 * pointer goes through a volatile sink so that the compiler keeps every
 * call. Prints nothing, exits 0; MW_ELAPSED_FILE: see workload.h.
 */
#include <pthread.h>
#include <stdlib.h>

#include "workload.h"

#define PROG "alloc_pairs"

static long pairs;
static size_t size;
static void *volatile sink;

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < pairs; i++) {
		void *p = malloc(size);

		if (!p)
			wl_die(PROG, "malloc(%zu) failed", size);
		sink = p;
		free(p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[PAIRS=200000] [THREADS=1] [SIZE=64]";
	long nthreads;
	pthread_t tids[64];
	uint64_t start;

	pairs = wl_arg(argc, argv, 1, 200000, 1, 1L << 32, usage);
	nthreads = wl_arg(argc, argv, 2, 1, 1, 64, usage);
	size = (size_t)wl_arg(argc, argv, 3, 64, 1, 1L << 20, usage);
	wl_wait_for_start(PROG);
	start = wl_now_ns();
	if (nthreads == 1) {
		worker(NULL);
		wl_elapsed_report(start);
		return 0;
	}
	for (long i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");
	for (long i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	wl_elapsed_report(start);
	return 0;
}
