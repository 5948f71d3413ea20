/*
 * deep_stack.c - blocks allocated 30 calls deep, for the stacks of code
 * built without frame pointers (make builds it twice: deep_stack with
 * -O2 -fomit-frame-pointer, deep_stack_fp with frame pointers).
 *
 *   deep_stack [THREADS=4] [PAIRS=0]
 *
 * Each of THREADS threads recurses 30 calls deep (deep_recurse) and at
 * the bottom leaks one block in each of four ways, a leaf function each:
 * deep_leak_malloc (malloc), deep_leak_strdup (glibc's strdup, a
 * wrapper), deep_leak_fopen (fopen, which mallocs inside glibc) and
 * deep_leak_qsort (malloc from deep_cmp, a qsort callback called by
 * glibc's sort). Every thread's four stacks are the same as the other
 * threads': memwatch must show one stack per leaf, each 30 deep_recurse
 * frames deep, holding THREADS blocks. The blocks stay live to the end
 * (kept in a global array); main joins the threads, stays 1.5 s (wl_hold: memwatchd reads
 * the live process's maps to unwind) and exits 0. Honours
 * MW_WAIT_FILE; prints nothing.
 *
 * With PAIRS, for make bench: each thread also makes PAIRS malloc+free
 * pairs at the bottom (deep_pairs), each of a stack the same as the last,
 * and the time of that work goes to MW_ELAPSED_FILE (workload.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "deep_stack"
#define DEPTH 30
#define MAX_THREADS 64

void deep_leak_malloc(int t);
void deep_leak_strdup(int t);
void deep_leak_fopen(int t);
void deep_leak_qsort(int t);
void deep_pairs(long n);
int deep_recurse(int n, int t);

static void *keep[MAX_THREADS][4];
static volatile int sink;
static __thread int sorting; /* the thread's index + 1 while it sorts */

__attribute__((noinline)) void deep_leak_malloc(int t)
{
	keep[t][0] = malloc(1000);
}

__attribute__((noinline)) void deep_leak_strdup(int t)
{
	static const char text[] = "a string strdup copies for its caller, "
				   "1001 bytes with padding";
	char buf[1001];

	memset(buf, 'x', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	memcpy(buf, text, sizeof(text) - 1);
	keep[t][1] = strdup(buf);
}

__attribute__((noinline)) void deep_leak_fopen(int t)
{
	keep[t][2] = fopen("/dev/null", "r");
}

__attribute__((noinline)) static int deep_cmp(const void *a, const void *b)
{
	int t = sorting - 1;

	if (t >= 0 && !keep[t][3])
		keep[t][3] = malloc(1003);
	return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) void deep_leak_qsort(int t)
{
	int v[64];

	for (int i = 0; i < 64; i++)
		v[i] = (i * 37) % 64;
	sorting = t + 1;
	qsort(v, 64, sizeof(v[0]), deep_cmp);
	sorting = 0;
	sink = v[0];
}

__attribute__((noinline)) void deep_pairs(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = malloc(64);

		sink = (int)(long)p;
		free(p);
	}
}

static long pairs;

/* Not a tail call: the store after it keeps every frame. */
__attribute__((noinline)) int deep_recurse(int n, int t)
{
	if (n == 1) {
		deep_leak_malloc(t);
		deep_leak_strdup(t);
		deep_leak_fopen(t);
		deep_leak_qsort(t);
		deep_pairs(pairs);
	} else {
		deep_recurse(n - 1, t);
	}
	sink = n;
	return n;
}

static void *worker(void *arg)
{
	deep_recurse(DEPTH, (int)(long)arg);
	sink = 0;
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS] [PAIRS]";
	long n = wl_arg(argc, argv, 1, 4, 1, MAX_THREADS, usage);
	pthread_t th[MAX_THREADS];
	uint64_t start;

	pairs = wl_arg(argc, argv, 2, 0, 0, 100000000, usage);
	wl_wait_for_start(PROG);
	start = wl_now_ns();
	for (long i = 0; i < n; i++)
		wl_check(PROG, pthread_create(&th[i], NULL, worker, (void *)i),
			 "pthread_create");
	for (long i = 0; i < n; i++)
		wl_check(PROG, pthread_join(th[i], NULL), "pthread_join");
	/* Alive while the daemon unwinds: it reads the process's maps. */
	wl_hold();
	if (pairs)
		wl_elapsed_report(start);
	return 0;
}
