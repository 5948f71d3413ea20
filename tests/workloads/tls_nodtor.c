/*
 * tls_nodtor.c - the basic bug memwatch exists for: per-thread data kept
 * in a pthread key that has no destructor.
 *
 *   tls_nodtor [THREADS=8] [SIZE=4096]
 *
 * One key is created with pthread_key_create(&key, NULL). THREADS threads
 * are created in one batch; each calls tls_nodtor_alloc(SIZE), which
 * mallocs SIZE bytes, fills them and stores the pointer with
 * pthread_setspecific. The threads then wait on a barrier, so that all of
 * them are alive at once, and return. With no destructor glibc just clears
 * the slot at thread exit: every block leaks.
 *
 * memwatch must report exactly THREADS findings of kind
 * tls-outlived-thread, one per worker thread, each of SIZE bytes,
 * allocated in tls_nodtor_alloc. After joining, main sleeps 1.5 s before
 * exiting, so the findings are decided by the daemon's grace timer
 * (default 0.5 s) while the process is still alive, not at its exit.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "tls_nodtor"

void *tls_nodtor_alloc(size_t size);

static pthread_key_t key;
static size_t block_size;
static pthread_barrier_t all_set;

/* The leaking allocation: its name is the site the tests assert. */
__attribute__((noinline)) void *tls_nodtor_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	memset(p, 0xa5, size);
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	(void)arg;
	tls_nodtor_alloc(block_size);
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
	wl_check(PROG, pthread_key_create(&key, NULL), "pthread_key_create");
	wl_check(PROG, pthread_barrier_init(&all_set, NULL, (unsigned)nthreads),
		 "pthread_barrier_init");
	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");
	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&all_set);
	free(tids);

	/* Stay alive past the grace period: see the comment at the top. */
	wl_hold();
	return 0;
}
