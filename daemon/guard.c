/* guard.c - the guard process; see guard.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "guard.h"
#include "privs.h"

struct guard {
	pid_t pid;
	int fd; /* the daemon's end of the pipe */
};

/* The guard's two descriptors, moved past stdio. */
#define HELD_FD 3
#define PIPE_FD 4

/*
 * Is pid still the process that was held, started at start_ns (boot
 * time)? /proc/PID/stat gives the start in clock ticks, the kernel's
 * start_boottime divided down: a pid used again by a later process has a
 * later start.
 */
static bool same_process(uint32_t pid, uint64_t start_ns)
{
	char path[64], line[1024];
	unsigned long long ticks;
	long hz = sysconf(_SC_CLK_TCK);
	const char *p;
	FILE *f;
	int field;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	if (!(f = fopen(path, "re")))
		return false;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	if (!p || hz <= 0)
		return false;
	/* Field 3 (state) follows ") "; the start is field 22: the 20th
	 * space on from there precedes it. */
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return false;
	return ticks == start_ns / (1000000000ull / (uint64_t)hz);
}

static void resume_held(int held_fd)
{
	uint32_t pid, *prev = NULL, next;
	uint64_t start;

	while (!bpf_map_get_next_key(held_fd, prev, &next)) {
		pid = next;
		prev = &pid;
		if (!bpf_map_lookup_elem(held_fd, &pid, &start) &&
		    same_process(pid, start))
			kill((pid_t)pid, SIGCONT);
	}
}

/* The guard's whole life: wait for the daemon's end to close. */
_Noreturn static void guard_run(void)
{
	uint64_t missing;
	char c;

	prctl(PR_SET_NAME, "memwatchd-guard");
	/* Ctrl-C in a terminal reaches the whole process group, systemd's
	 * stop the whole cgroup: the guard ignores them, and ends once the
	 * daemon has. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	privs__drop(PRIVS_BIT(CAP_KILL), &missing);
	while (read(PIPE_FD, &c, 1) < 0 && errno == EINTR)
		;
	resume_held(HELD_FD);
	_exit(0);
}

/* The child's side of guard__start: nothing of the daemon's but the map
 * and the pipe (the database, sockets and links stay the daemon's). */
_Noreturn static void guard_child(int held_fd, int pipe_fd)
{
	int h = fcntl(held_fd, F_DUPFD_CLOEXEC, 10);
	int p = fcntl(pipe_fd, F_DUPFD_CLOEXEC, 10);
	sigset_t all;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (h < 0 || p < 0 || dup2(h, HELD_FD) < 0 || dup2(p, PIPE_FD) < 0)
		_exit(1);
	close_range(PIPE_FD + 1, ~0u, 0);
	guard_run();
}

struct guard *guard__start(int held_fd)
{
	struct guard *g;
	int fds[2], err;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return NULL;
	pid = fork();
	if (pid == 0)
		guard_child(held_fd, fds[0]);
	err = errno;
	close(fds[0]);
	if (pid < 0) {
		close(fds[1]);
		errno = err;
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		/* The closed pipe ends the guard at once. */
		close(fds[1]);
		waitpid(pid, NULL, 0);
		errno = ENOMEM;
		return NULL;
	}
	g->pid = pid;
	g->fd = fds[1];
	return g;
}

void guard__stop(struct guard *g)
{
	if (!g)
		return;
	close(g->fd);
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(g);
}
