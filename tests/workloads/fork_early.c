/*
 * fork_early.c - children that allocate at their very first instruction
 * after fork, for the fork hold: a followed child must be stopped before
 * it runs, or its first allocations go unseen.
 *
 *   fork_early [CHILDREN=3] [BLOCKS=5] [SIZE=777]
 *
 * The parent forks CHILDREN children one after another and waits for
 * each. A child, as fork returns, calls fork_early_alloc BLOCKS times
 * (malloc of SIZE bytes, kept), then holds (wl_hold) and exits 0 without
 * freeing them.
 *
 * memwatch, following the forks of a traced program, must count exactly
 * BLOCKS allocations, BLOCKS live blocks and BLOCKS*SIZE live bytes in
 * each child: one early allocation missed is one short.
 *
 * Honours MW_WAIT_FILE (see workload.h). Prints nothing, exits 0.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workload.h"

#define PROG "fork_early"

void *fork_early_alloc(size_t size);

/* The allocation counted: its name is the site the tests may assert. */
__attribute__((noinline)) void *fork_early_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	return p;
}

int main(int argc, char **argv)
{
	const char *usage = "[CHILDREN=3] [BLOCKS=5] [SIZE=777]";
	long children = wl_arg(argc, argv, 1, 3, 1, 64, usage);
	long blocks = wl_arg(argc, argv, 2, 5, 1, 1000, usage);
	size_t size = (size_t)wl_arg(argc, argv, 3, 777, 1, 1L << 20, usage);
	void *kept[1000];
	int status;

	wl_wait_for_start(PROG);
	for (long c = 0; c < children; c++) {
		pid_t pid = fork();

		if (pid < 0)
			wl_die(PROG, "fork: %s", strerror(errno));
		if (pid == 0) {
			/* Nothing before these: they are the first thing
			 * the child does. */
			for (long i = 0; i < blocks; i++)
				kept[i] = fork_early_alloc(size);
			wl_hold();
			_exit(kept[0] ? 0 : 1);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			wl_die(PROG, "child %d failed", (int)pid);
	}
	return 0;
}
