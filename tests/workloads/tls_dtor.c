/*
 * tls_dtor.c - the correct version of tls_nodtor: the same per-thread
 * blocks, but the key has a destructor that frees them.
 *
 *   tls_dtor [THREADS=8] [SIZE=4096]
 *
 * One key is created with pthread_key_create(&key, free_value). THREADS
 * threads are created in one batch; each calls tls_dtor_alloc(SIZE),
 * which mallocs SIZE bytes, fills them and stores the pointer with
 * pthread_setspecific, then waits on a barrier (all threads alive at once)
 * and returns. At each thread's exit glibc runs free_value on the exiting
 * thread, so every block is freed before the thread is gone.
 *
 * memwatch must report no finding at all, and every worker thread must end
 * with zero live blocks. Main sleeps 1.5 s after joining, like tls_nodtor,
 * so a wrongly decided finding would have the time to appear.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "tls_dtor"

void *tls_dtor_alloc(size_t size);

static pthread_key_t key;
static size_t block_size;
static pthread_barrier_t all_set;

/* The key's destructor: glibc calls it on the exiting thread. */
static void free_value(void *p)
{
	free(p);
}

__attribute__((noinline)) void *tls_dtor_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	memset(p, 0x5a, size);
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	(void)arg;
	tls_dtor_alloc(block_size);
	pthread_barrier_wait(&all_set);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=8] [SIZE=4096]";
	long nthreads = wl_arg(argc, argv, 1, 8, 1, 1000, usage);
	pthread_t *tids;
	long i;

	block_size = (size_t)wl_arg(argc, argv, 2, 4096, 1, 1L << 30, usage);

	wl_wait_for_start(PROG);
	tids = calloc((size_t)nthreads, sizeof(*tids));
	if (!tids)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_key_create(&key, free_value),
		 "pthread_key_create");
	wl_check(PROG, pthread_barrier_init(&all_set, NULL, (unsigned)nthreads),
		 "pthread_barrier_init");
	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");
	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&all_set);
	free(tids);

	wl_hold();
	return 0;
}
