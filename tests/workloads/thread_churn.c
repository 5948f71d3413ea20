/*
 * thread_churn.c - threads created and exited, many of them: the cost of
 * tracing thread start and exit and TLS, and the daemon's memory when
 * threads come and go by the hundred thousand.
 *
 *   thread_churn [THREADS=10000] [BATCH=8] [LEAK=0]
 *
 * THREADS threads in batches of BATCH (created, then joined). Each sets
 * a malloc'ed 64-byte value in a key whose destructor frees it; with
 * LEAK=1 the key has no destructor, so each thread leaks its value (a
 * tls-outlived-thread finding per thread). Prints nothing, exits 0;
 * MW_ELAPSED_FILE: see workload.h.
 */
#include <pthread.h>
#include <stdlib.h>

#include "workload.h"

#define PROG "thread_churn"

static pthread_key_t key;

static void *worker(void *arg)
{
	void *p = malloc(64);

	(void)arg;
	if (!p)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=10000] [BATCH=8] [LEAK=0]";
	long n = wl_arg(argc, argv, 1, 10000, 1, 10000000, usage);
	long batch = wl_arg(argc, argv, 2, 8, 1, 256, usage);
	long leak = wl_arg(argc, argv, 3, 0, 0, 1, usage);
	pthread_t tids[256];
	uint64_t start;

	wl_wait_for_start(PROG);
	start = wl_now_ns();
	wl_check(PROG, pthread_key_create(&key, leak ? NULL : free),
		 "pthread_key_create");
	for (long done = 0; done < n;) {
		long k = n - done < batch ? n - done : batch;

		for (long i = 0; i < k; i++)
			wl_check(PROG,
				 pthread_create(&tids[i], NULL, worker, NULL),
				 "pthread_create");
		for (long i = 0; i < k; i++)
			wl_check(PROG, pthread_join(tids[i], NULL),
				 "pthread_join");
		done += k;
	}
	wl_elapsed_report(start);
	return 0;
}
