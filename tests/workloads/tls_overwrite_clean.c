/*
 * tls_overwrite_clean.c - the correct version of tls_overwrite: each
 * worker replaces its key's value SETS times, freeing the old value
 * before storing the new one.
 *
 *   tls_overwrite_clean [THREADS=4] [SETS=5] [SIZE=256]
 *
 * One key is created with pthread_key_create(&key, free_value). THREADS
 * threads are created in one batch; each calls tls_overwrite_clean_alloc
 * (SIZE) SETS times in a row, which frees the current value (from
 * pthread_getspecific; NULL the first time), mallocs SIZE bytes, fills
 * them and stores the pointer with pthread_setspecific. Then the workers
 * wait on a barrier with main, main sleeps 1 s while they stay alive
 * holding their last value, releases them, and they return; at each
 * thread's exit glibc runs free_value on that last value. malloc usually
 * hands back the address it was just given to free (glibc's tcache), so
 * the new value often has the old value's address: a binding must be
 * told apart by block, not by address.
 *
 * memwatch must report no finding at all (in particular no
 * tls-overwritten: every replaced value was freed before the
 * pthread_setspecific that replaced it), and every worker thread must end
 * with zero live blocks. Main sleeps 1.5 s after joining, like
 * tls_overwrite, so a wrongly decided finding would have the time to
 * appear.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "tls_overwrite_clean"

void *tls_overwrite_clean_alloc(size_t size);

static pthread_key_t key;
static size_t block_size;
static long sets;
static pthread_barrier_t all_set, release;

static void free_value(void *p)
{
	free(p);
}

__attribute__((noinline)) void *tls_overwrite_clean_alloc(size_t size)
{
	void *p;

	free(pthread_getspecific(key));
	p = malloc(size);
	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	memset(p, 0x4c, size);
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < sets; i++)
		tls_overwrite_clean_alloc(block_size);
	pthread_barrier_wait(&all_set);
	pthread_barrier_wait(&release);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=4] [SETS=5] [SIZE=256]";
	long nthreads = wl_arg(argc, argv, 1, 4, 1, 1000, usage);
	unsigned parties = (unsigned)nthreads + 1;
	pthread_t *tids;
	long i;

	sets = wl_arg(argc, argv, 2, 5, 1, 100000, usage);
	block_size = (size_t)wl_arg(argc, argv, 3, 256, 1, 1L << 30, usage);

	wl_wait_for_start(PROG);
	tids = calloc((size_t)nthreads, sizeof(*tids));
	if (!tids)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_key_create(&key, free_value),
		 "pthread_key_create");
	wl_check(PROG, pthread_barrier_init(&all_set, NULL, parties),
		 "pthread_barrier_init");
	wl_check(PROG, pthread_barrier_init(&release, NULL, parties),
		 "pthread_barrier_init");
	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");

	pthread_barrier_wait(&all_set);
	wl_sleep_ms(1000);
	pthread_barrier_wait(&release);

	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&all_set);
	pthread_barrier_destroy(&release);
	free(tids);

	wl_sleep_ms(1500);
	return 0;
}
