/*
 * tls_keydelete.c - per-thread blocks orphaned by pthread_key_delete.
 *
 *   tls_keydelete [THREADS=4] [SIZE=1024]
 *
 * The key is created WITH a destructor (free), so the program looks
 * correct. THREADS threads are created in one batch; each calls
 * tls_keydelete_alloc(SIZE), which mallocs SIZE bytes, fills them and
 * stores the pointer with pthread_setspecific, then waits on a barrier.
 * Once all of them hold their block, main calls pthread_key_delete(key)
 * while they are all still alive, and sleeps 1.5 s. POSIX says deleting a
 * key runs no destructor, and glibc will not run the old destructor at
 * thread exit either: the blocks are now unreachable through the key and
 * nobody will free them. Then main releases the threads, which return
 * without freeing, and joins them.
 *
 * memwatch must report exactly THREADS findings of kind tls-outlived-key,
 * each of SIZE bytes, allocated in tls_keydelete_alloc, decided by the
 * grace timer (default 0.5 s) during main's sleep, and no
 * tls-outlived-thread finding when the threads then exit.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "tls_keydelete"

void *tls_keydelete_alloc(size_t size);

static pthread_key_t key;
static size_t block_size;
/* All workers plus main: "every block is bound" and "you may exit". */
static pthread_barrier_t bound, release;

static void free_value(void *p)
{
	free(p);
}

__attribute__((noinline)) void *tls_keydelete_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	memset(p, 0x3c, size);
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	(void)arg;
	tls_keydelete_alloc(block_size);
	pthread_barrier_wait(&bound);
	pthread_barrier_wait(&release);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=4] [SIZE=1024]";
	long nthreads = wl_arg(argc, argv, 1, 4, 1, 1000, usage);
	unsigned parties = (unsigned)nthreads + 1;
	pthread_t *tids;
	long i;

	block_size = (size_t)wl_arg(argc, argv, 2, 1024, 1, 1L << 30, usage);

	wl_wait_for_start(PROG);
	tids = calloc((size_t)nthreads, sizeof(*tids));
	if (!tids)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_key_create(&key, free_value),
		 "pthread_key_create");
	wl_check(PROG, pthread_barrier_init(&bound, NULL, parties),
		 "pthread_barrier_init");
	wl_check(PROG, pthread_barrier_init(&release, NULL, parties),
		 "pthread_barrier_init");
	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");

	pthread_barrier_wait(&bound);
	wl_check(PROG, pthread_key_delete(key), "pthread_key_delete");
	/* The threads live on: only the key died. Outlast the grace. */
	wl_hold();
	pthread_barrier_wait(&release);

	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&bound);
	pthread_barrier_destroy(&release);
	free(tids);
	return 0;
}
