/*
 * fork_nodtor.c - a server that forks workers without exec: each child
 * leaks TLS like tls_nodtor, in its own process.
 *
 *   fork_nodtor [CHILDREN=3] [THREADS=4] [SIZE=4096]
 *
 * The parent forks CHILDREN children one after another and waits for
 * each. A child creates a key without destructor, runs THREADS threads
 * that each malloc SIZE bytes in fork_nodtor_alloc and store them with
 * pthread_setspecific, joins them, sleeps 1.5 s (so the grace period is
 * decided while it lives) and exits 0. The parent allocates nothing
 * interesting.
 *
 * memwatch, following forks of a watched program (--exe, --comm,
 * --cgroup), must report THREADS tls-outlived-thread findings of SIZE
 * bytes from fork_nodtor_alloc in each child: CHILDREN*THREADS in all,
 * none in the parent.
 *
 * Honours MW_WAIT_FILE (see workload.h). Prints nothing, exits 0.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workload.h"

#define PROG "fork_nodtor"

void *fork_nodtor_alloc(size_t size);

static pthread_key_t key;
static size_t block_size;

/* The leaking allocation: its name is the site the tests assert. */
__attribute__((noinline)) void *fork_nodtor_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	memset(p, 0x5f, size);
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	(void)arg;
	fork_nodtor_alloc(block_size);
	return NULL;
}

static void child(long nthreads)
{
	pthread_t tids[64];

	wl_check(PROG, pthread_key_create(&key, NULL), "pthread_key_create");
	for (long i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");
	for (long i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	wl_hold();
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *usage = "[CHILDREN=3] [THREADS=4] [SIZE=4096]";
	long children = wl_arg(argc, argv, 1, 3, 1, 64, usage);
	long nthreads = wl_arg(argc, argv, 2, 4, 1, 64, usage);
	int status;

	block_size = (size_t)wl_arg(argc, argv, 3, 4096, 1, 1L << 30, usage);
	wl_wait_for_start(PROG);
	for (long c = 0; c < children; c++) {
		pid_t pid = fork();

		if (pid < 0)
			wl_die(PROG, "fork failed");
		if (pid == 0)
			child(nthreads);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			wl_die(PROG, "child %ld failed", c);
	}
	return 0;
}
