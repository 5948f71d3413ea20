/*
 * syscalls.c - N cheap system calls (getppid), nothing else: what every
 * process on the host pays per system call while memwatchd's syscall
 * tracepoints are attached, traced or not.
 *
 *   syscalls [N=1000000]
 *
 * Prints nothing, exits 0; MW_ELAPSED_FILE: see workload.h.
 */
#include <sys/syscall.h>
#include <unistd.h>

#include "workload.h"

int main(int argc, char **argv)
{
	long n = wl_arg(argc, argv, 1, 1000000, 1, 1L << 40, "[N=1000000]");
	uint64_t start = wl_now_ns();

	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	wl_elapsed_report(start);
	return 0;
}
