/*
 * test_parallel.c - unit tests of daemon/parallel.c: every item done
 * once, NULLs skipped, and the calls really overlapping (what makes a
 * detach cost one grace period instead of one per link).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "parallel.h"
#include "unit.h"

struct item {
	int calls;
	int saw_all; /* every item had started while this one ran */
};

static atomic_int started;
static int nitems;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Start, then wait (3 s at most) until every item has started: done in
 * turn, the first would time out with only itself started. */
static void work(void *p)
{
	struct item *it = p;
	uint64_t until = now_ns() + 3000000000u;

	it->calls++;
	atomic_fetch_add(&started, 1);
	while (atomic_load(&started) < nitems && now_ns() < until)
		;
	it->saw_all = atomic_load(&started) == nitems;
}

static void test_all_at_once(void)
{
	struct item items[19] = {{0}};
	void *ptrs[19];

	for (int i = 0; i < 19; i++)
		ptrs[i] = &items[i];
	atomic_store(&started, 0);
	nitems = 19;
	parallel__each(work, ptrs, 19);
	for (int i = 0; i < 19; i++) {
		CHECK_U64(items[i].calls, 1);
		CHECK_U64(items[i].saw_all, 1);
	}
}

static void test_nulls_skipped(void)
{
	struct item a = {0}, b = {0};
	void *ptrs[] = {NULL, &a, NULL, &b, NULL};

	atomic_store(&started, 0);
	nitems = 2;
	parallel__each(work, ptrs, 5);
	CHECK_U64(a.calls, 1);
	CHECK_U64(b.calls, 1);
	CHECK_U64(atomic_load(&started), 2);
}

static void test_none(void)
{
	atomic_store(&started, 0);
	nitems = 0;
	parallel__each(work, NULL, 0);
	CHECK_U64(atomic_load(&started), 0);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_all_at_once),
    UNIT_CASE(test_nulls_skipped),
    UNIT_CASE(test_none),
};

int main(int argc, char **argv)
{
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
