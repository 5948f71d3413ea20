/*
 * deep_stack_cxx.cc - deep_stack.c's stacks in C++, through libstdc++
 * (built without frame pointers): make builds it with -O2
 * -fomit-frame-pointer (deep_stack_cxx) and with frame pointers
 * (deep_stack_cxx_fp).
 *
 *   deep_stack_cxx [THREADS=4]
 *
 * Each of THREADS threads recurses 30 calls deep (deep_recurse_cxx) and
 * at the bottom leaks a std::string grown by appends (operator new from
 * inside libstdc++'s string code: deep_leak_string) and a std::vector
 * grown by push_back (deep_leak_vector), both kept in a global array.
 * memwatch must show each growth's blocks under the leaf, 30
 * deep_recurse_cxx frames deep. main joins the threads, stays 1.5 s (wl_hold: memwatchd reads
 * the live process's maps to unwind) and exits 0.
 * Honours MW_WAIT_FILE; prints nothing.
 */
#include <pthread.h>
#include <string>
#include <vector>

#include "workload.h"

#define PROG "deep_stack_cxx"
#define DEPTH 30
#define MAX_THREADS 64

static std::string *strings[MAX_THREADS];
static std::vector<long> *vectors[MAX_THREADS];
static volatile int sink;

__attribute__((noinline)) void deep_leak_string(int t)
{
	std::string *s = new std::string();

	for (int i = 0; i < 40; i++)
		s->append("0123456789abcdef0123456789abcdef");
	strings[t] = s;
}

__attribute__((noinline)) void deep_leak_vector(int t)
{
	std::vector<long> *v = new std::vector<long>();

	for (long i = 0; i < 300; i++)
		v->push_back(i);
	vectors[t] = v;
}

/* Not a tail call: the store after it keeps every frame. */
__attribute__((noinline)) int deep_recurse_cxx(int n, int t)
{
	if (n == 1) {
		deep_leak_string(t);
		deep_leak_vector(t);
	} else {
		deep_recurse_cxx(n - 1, t);
	}
	sink = n;
	return n;
}

static void *worker(void *arg)
{
	deep_recurse_cxx(DEPTH, (int)(long)arg);
	sink = 0;
	return NULL;
}

int main(int argc, char **argv)
{
	long n = wl_arg(argc, argv, 1, 4, 1, MAX_THREADS, "[THREADS]");
	pthread_t th[MAX_THREADS];

	wl_wait_for_start(PROG);
	for (long i = 0; i < n; i++)
		wl_check(PROG, pthread_create(&th[i], NULL, worker, (void *)i),
			 "pthread_create");
	for (long i = 0; i < n; i++)
		wl_check(PROG, pthread_join(th[i], NULL), "pthread_join");
	/* Alive while the daemon unwinds: it reads the process's maps. */
	wl_hold();
	return 0;
}
