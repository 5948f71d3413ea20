/*
 * tls_overwrite.c - per-thread blocks lost by overwriting a pthread key's
 * value: the key has a destructor, but it only ever sees the last value.
 * Compiled with -DMW_CLEAN it is tls_overwrite_clean, the correct
 * version: each worker replaces its key's value SETS times, freeing the
 * old value before storing the new one.
 *
 *   tls_overwrite [THREADS=4] [SETS=5] [SIZE=256]
 *   tls_overwrite_clean [THREADS=4] [SETS=5] [SIZE=256]
 *
 * Both builds: one key is created with pthread_key_create(&key,
 * free_value), so the program looks correct. THREADS threads are created
 * in one batch; each calls tls_overwrite_alloc(SIZE)
 * (tls_overwrite_clean_alloc in tls_overwrite_clean) SETS times in a
 * row, which mallocs SIZE bytes, fills them and stores the pointer with
 * pthread_setspecific. Then the workers wait on a barrier with main, so
 * that all of them are alive at once, and main sleeps 1 s while they stay
 * alive holding their last value; then main releases them and they
 * return. At each thread's exit glibc runs free_value on the last value.
 * Main sleeps 1.5 s after joining them.
 *
 * tls_overwrite: tls_overwrite_alloc stores the new pointer WITHOUT
 * freeing the value it replaces (the bug), so glibc's free_value at
 * thread exit only ever sees the last value.
 *
 * So every worker leaks its first SETS-1 blocks; its last block is freed
 * by the destructor. memwatch must report exactly THREADS*(SETS-1)
 * findings (16 by default) of kind tls-overwritten, SETS-1 per worker
 * thread, each of SIZE bytes, allocated in tls_overwrite_alloc: a block
 * that was bound to (thread, key), replaced in that slot by another
 * pthread_setspecific while still live, and still live after the grace.
 * Nothing for the last value of each thread (freed at exit), so no
 * tls-outlived-thread and no tls-outlived-key finding; and no
 * thread-orphan either, although each worker exits leaving SETS-1 live
 * blocks behind: those are the ones already reported as tls-overwritten.
 * The overwritten blocks stay live while their thread lives (1 s after
 * the last overwrite, more than the 0.5 s default grace, so they are
 * decided then) and after it exited (main sleeps 1.5 s after joining).
 * With SETS=1 nothing leaks and memwatch must report nothing.
 *
 * tls_overwrite_clean (-DMW_CLEAN): tls_overwrite_clean_alloc first frees
 * the current value (from pthread_getspecific; NULL the first time), then
 * mallocs, fills and stores the new one. malloc usually hands back the
 * address it was just given to free (glibc's tcache), so the new value
 * often has the old value's address: a binding must be told apart by
 * block, not by address.
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

#ifdef MW_CLEAN
#define PROG "tls_overwrite_clean"
/* The clean twin's site has a name of its own. */
#define tls_overwrite_alloc tls_overwrite_clean_alloc
#define FILL_BYTE 0x4c
#else
#define PROG "tls_overwrite"
#define FILL_BYTE 0x4b
#endif

void *tls_overwrite_alloc(size_t size);

static pthread_key_t key;
static size_t block_size;
static long sets;
/* All workers plus main: "every value is set" and "you may exit". */
static pthread_barrier_t all_set, release;

/* The key's destructor: glibc calls it on the exiting thread. */
static void free_value(void *p)
{
	free(p);
}

/* The (leaking) allocation: its name is the site the tests assert. */
__attribute__((noinline)) void *tls_overwrite_alloc(size_t size)
{
	void *p;

#ifdef MW_CLEAN
	free(pthread_getspecific(key));
#else
	/* BUG: the previous value, if any, is dropped here, not freed. */
#endif
	p = malloc(size);
	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	memset(p, FILL_BYTE, size);
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < sets; i++)
		tls_overwrite_alloc(block_size);
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
	/* The overwritten blocks outlive the grace while their thread lives. */
	wl_sleep_ms(1000);
	pthread_barrier_wait(&release);

	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&all_set);
	pthread_barrier_destroy(&release);
	free(tids);

	/* Stay alive past the grace period: see the comment at the top. */
	wl_hold();
	return 0;
}
