/*
 * arena_retention.c - an allocator that keeps what dead threads used:
 * glibc gives concurrent threads arenas of their own, each reserving a
 * 64 MiB heap with mmap, and keeps every arena when its threads exit.
 *
 *   arena_retention [ROUNDS=7] [STEP=2] [BYTES=1048576] [ARENAS=0]
 *
 * Round r (1..ROUNDS) runs r*STEP threads at once; each mallocs BYTES in
 * 1 KiB blocks (arena_work_alloc), waits on a barrier until the whole
 * round holds its blocks, frees them all and exits. Main sleeps 900 ms
 * between rounds, so that the growth spans two of memwatch's 2.5 s
 * windows (it asks for two, see engine/rules.c) before the cap of 8 arenas
 * per core stops it. The
 * live set is back to nothing after every round, while glibc's arenas,
 * one more per thread running at once (up to 8 per core), stay mapped.
 * ARENAS > 0 sets mallopt(M_ARENA_MAX, ARENAS) first: with 1, every
 * thread shares the main arena and nothing is kept (the clean twin).
 *
 * memwatch must report one allocator-retention finding naming glibc for
 * the default run (anonymous memory grows by 64 MiB per new arena while
 * threads exit and the live set stays flat), and nothing with ARENAS=1:
 * no other kind either way (every block is freed by its own thread).
 *
 * Honours MW_WAIT_FILE (see workload.h). Prints nothing, exits 0.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "arena_retention"
#define BLOCK 1024

void **arena_work_alloc(size_t n);

static size_t nblocks;
static pthread_barrier_t all_hold;

/* The allocations: their site is what tests may name. */
__attribute__((noinline)) void **arena_work_alloc(size_t n)
{
	void **v = malloc(n * sizeof(*v));

	if (!v)
		wl_die(PROG, "out of memory");
	for (size_t i = 0; i < n; i++) {
		v[i] = malloc(BLOCK);
		if (!v[i])
			wl_die(PROG, "out of memory");
		memset(v[i], (int)i, BLOCK);
	}
	return v;
}

static void *worker(void *arg)
{
	void **v = arena_work_alloc(nblocks);

	(void)arg;
	pthread_barrier_wait(&all_hold);
	for (size_t i = 0; i < nblocks; i++)
		free(v[i]);
	free(v);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[ROUNDS=7] [STEP=2] [BYTES=1048576] [ARENAS=0]";
	long rounds = wl_arg(argc, argv, 1, 7, 1, 100, usage);
	long step = wl_arg(argc, argv, 2, 2, 1, 64, usage);
	long bytes = wl_arg(argc, argv, 3, 1 << 20, BLOCK, 1L << 30, usage);
	long arenas = wl_arg(argc, argv, 4, 0, 0, 1024, usage);
	pthread_t *tids;

	nblocks = (size_t)bytes / BLOCK;
	wl_wait_for_start(PROG);
	if (arenas && !mallopt(M_ARENA_MAX, (int)arenas))
		wl_die(PROG, "mallopt(M_ARENA_MAX) failed");
	tids = calloc((size_t)(rounds * step), sizeof(*tids));
	if (!tids)
		wl_die(PROG, "out of memory");
	for (long r = 1; r <= rounds; r++) {
		long n = r * step;

		wl_check(PROG, pthread_barrier_init(&all_hold, NULL, (unsigned)n),
			 "pthread_barrier_init");
		for (long i = 0; i < n; i++)
			wl_check(PROG,
				 pthread_create(&tids[i], NULL, worker, NULL),
				 "pthread_create");
		for (long i = 0; i < n; i++)
			wl_check(PROG, pthread_join(tids[i], NULL),
				 "pthread_join");
		pthread_barrier_destroy(&all_hold);
		wl_sleep_ms(900);
	}
	free(tids);
	wl_sleep_ms(1000);
	return 0;
}
