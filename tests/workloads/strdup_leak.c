/*
 * strdup_leak.c - per-thread copies made with strdup, kept in a pthread
 * key that has no destructor: the leak of tls_nodtor, through a libc
 * wrapper that calls malloc for its caller.
 *
 *   strdup_leak [THREADS=8] [SIZE=4096]
 *
 * THREADS threads, started in one batch, each call strdup_leak_alloc,
 * which strdup's a string of SIZE - 1 bytes (a block of SIZE bytes) and
 * stores the copy with pthread_setspecific; before that, each makes and
 * frees 4 copies of a shorter string with strndup. The threads wait on a
 * barrier, so that all are alive at once, and return. glibc's strdup
 * keeps no frame pointer, so a stack walked from its malloc skips
 * strdup_leak_alloc: memwatch must still name it.
 *
 * memwatch must report exactly THREADS findings of kind
 * tls-outlived-thread, each of SIZE bytes, allocated in
 * strdup_leak_alloc; each worker makes 5 allocations and 4 frees, and
 * keeps 1 block of SIZE bytes. main sleeps 1.5 s before exiting (see
 * tls_nodtor.c). Honours MW_WAIT_FILE; prints nothing, exits 0.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "strdup_leak"

char *strdup_leak_alloc(const char *s);

static pthread_key_t key;
static char *text;
static pthread_barrier_t all_set;

/* The leaking copy: its name is the site the tests assert. */
__attribute__((noinline)) char *strdup_leak_alloc(const char *s)
{
	char *p = strdup(s);

	if (!p)
		wl_die(PROG, "strdup failed");
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4; i++) {
		char *q = strndup(text, 100);

		if (!q)
			wl_die(PROG, "strndup failed");
		free(q);
	}
	strdup_leak_alloc(text);
	pthread_barrier_wait(&all_set);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=8] [SIZE=4096]";
	long nthreads = wl_arg(argc, argv, 1, 8, 1, 1000, usage);
	long size = wl_arg(argc, argv, 2, 4096, 2, 1L << 20, usage);

	wl_wait_for_start(PROG);
	text = malloc((size_t)size);
	if (!text)
		wl_die(PROG, "out of memory");
	memset(text, 'x', (size_t)size - 1);
	text[size - 1] = '\0';
	wl_run_batch(PROG, nthreads, &key, &all_set, worker);
	free(text);

	/* Stay alive past the grace period: see the comment at the top. */
	wl_hold();
	return 0;
}
