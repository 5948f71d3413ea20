/*
 * wrapper_chain.c - a leak whose allocation goes through two wrappers of
 * the program's own, as redis's zmalloc or git's xmalloc do: the culprit
 * is the wrappers' caller, not the wrappers.
 *
 *   wrapper_chain [THREADS=8] [SIZE=96] [HOLD=5]
 *
 * my_xmalloc calls my_zmalloc, which calls malloc; neither has a name on
 * memwatch's built-in list. Twelve functions allocate through
 * my_xmalloc:
 *   - caller_0 .. caller_9 allocate a block each and free it at once
 *     (main calls each a few times before any thread starts);
 *   - wrapper_hold keeps HOLD blocks of 4096 bytes, never freed: live
 *     at exit, the site `top` ranks first;
 *   - wrapper_leak, called once by each of THREADS threads, stores its
 *     block of SIZE bytes in a pthread key without destructor and never
 *     frees it: THREADS tls-outlived-thread findings, whose site must be
 *     wrapper_leak, past my_xmalloc and my_zmalloc.
 * Every function is noipa: no inlining or cloning hides a frame, and
 * their names are the symbols the tests assert. Built with frame
 * pointers (the Makefile's workload flags). After joining, main sleeps
 * 1.5 s so that the findings are decided while it lives.
 *
 * Honours MW_WAIT_FILE (see workload.h). Prints nothing and exits 0.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "wrapper_chain"
#define NCALLERS 10
#define HOLD_SIZE 4096
#define MAX_HOLD 64

void *my_zmalloc(size_t size);
void *my_xmalloc(size_t size);
void wrapper_leak(size_t size);
void wrapper_hold(long n);

static pthread_key_t key;
static size_t block_size;
static pthread_barrier_t all_set;
static void *held[MAX_HOLD];

/* The inner wrapper: malloc, or die. */
__attribute__((noipa)) void *my_zmalloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	return p;
}

/* The outer wrapper: zeroed memory. */
__attribute__((noipa)) void *my_xmalloc(size_t size)
{
	void *p = my_zmalloc(size);

	memset(p, 0, size);
	return p;
}

/* Ten callers that free what they allocate: they make my_xmalloc's
 * callers many. */
#define CALLER(i)                                                              \
	__attribute__((noipa)) void caller_##i(void);                           \
	__attribute__((noipa)) void caller_##i(void)                            \
	{                                                                      \
		char *p = my_xmalloc(16 * ((size_t)(i) + 1));                  \
                                                                               \
		p[0] = (char)(i);                                              \
		free(p);                                                       \
	}
CALLER(0)
CALLER(1)
CALLER(2)
CALLER(3)
CALLER(4)
CALLER(5)
CALLER(6)
CALLER(7)
CALLER(8)
CALLER(9)

static void (*const callers[NCALLERS])(void) = {
    caller_0, caller_1, caller_2, caller_3, caller_4,
    caller_5, caller_6, caller_7, caller_8, caller_9,
};

/* Blocks kept until exit: top's site. */
__attribute__((noipa)) void wrapper_hold(long n)
{
	for (long i = 0; i < n; i++)
		held[i] = my_xmalloc(HOLD_SIZE);
}

/* The leak: a block per thread in a key without destructor. */
__attribute__((noipa)) void wrapper_leak(size_t size)
{
	void *p = my_xmalloc(size);

	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
}

static void *worker(void *arg)
{
	(void)arg;
	wrapper_leak(block_size);
	pthread_barrier_wait(&all_set);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=8] [SIZE=96] [HOLD=5]";
	long nthreads = wl_arg(argc, argv, 1, 8, 1, 1000, usage);
	long hold;
	pthread_t *tids;
	long i;

	block_size = (size_t)wl_arg(argc, argv, 2, 96, 1, 1L << 30, usage);
	hold = wl_arg(argc, argv, 3, 5, 0, MAX_HOLD, usage);

	wl_wait_for_start(PROG);
	for (int round = 0; round < 3; round++)
		for (i = 0; i < NCALLERS; i++)
			callers[i]();
	wrapper_hold(hold);
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
	wl_sleep_ms(1500);
	return 0;
}
