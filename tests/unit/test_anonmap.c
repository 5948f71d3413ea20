/*
 * test_anonmap.c - unit tests of the anonymous-memory set (engine/anonmap.c):
 * merging, partial unmaps, splits, the heap break, and a randomized check
 * against a page bitmap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anonmap.h"
#include "unit.h"

#define PG 4096ull

static void test_add_merge(void)
{
	struct anonmap m;

	anonmap__init(&m);
	CHECK(anonmap__add(&m, 10 * PG, 2 * PG) == 0);
	CHECK(anonmap__add(&m, 20 * PG, 2 * PG) == 0);
	CHECK_U64(m.n, 2);
	/* Touching and overlapping both: one range, counted once. */
	CHECK(anonmap__add(&m, 12 * PG, 9 * PG) == 0);
	CHECK_U64(m.n, 1);
	CHECK_U64(anonmap__bytes(&m), 12 * PG);
	CHECK(anonmap__add(&m, 10 * PG, 12 * PG) == 0);
	CHECK_U64(anonmap__bytes(&m), 12 * PG);
	anonmap__fini(&m);
}

static void test_remove_split(void)
{
	struct anonmap m;

	anonmap__init(&m);
	anonmap__add(&m, 10 * PG, 10 * PG);
	/* A hole in the middle splits; edges trim. */
	CHECK(anonmap__remove(&m, 14 * PG, 2 * PG));
	CHECK_U64(m.n, 2);
	CHECK_U64(anonmap__bytes(&m), 8 * PG);
	CHECK(anonmap__remove(&m, 9 * PG, 2 * PG));
	CHECK_U64(anonmap__bytes(&m), 7 * PG);
	CHECK(anonmap__remove(&m, 19 * PG, 5 * PG));
	CHECK_U64(anonmap__bytes(&m), 6 * PG);
	/* Outside anything: nothing removed (a file mapping, say). */
	CHECK(!anonmap__remove(&m, 40 * PG, PG));
	CHECK(anonmap__remove(&m, 0, 100 * PG));
	CHECK_U64(m.n, 0);
	CHECK_U64(anonmap__bytes(&m), 0);
	anonmap__fini(&m);
}

static void test_brk(void)
{
	struct anonmap m;

	anonmap__init(&m);
	anonmap__brk(&m, 0x1000000);
	CHECK_U64(anonmap__bytes(&m), 0);
	anonmap__brk(&m, 0x1000000 + 33 * PG);
	CHECK_U64(anonmap__bytes(&m), 33 * PG);
	anonmap__brk(&m, 0x1000000 + 3 * PG); /* trimmed */
	CHECK_U64(anonmap__bytes(&m), 3 * PG);
	anonmap__fini(&m);
}

/* Random adds and removes against one bit per page. */
static void test_random(void)
{
	enum { PAGES = 512 };
	static unsigned char bit[PAGES];
	struct anonmap m;
	uint64_t rng = 0x616e6f6e6d6170ull;
	int bad = 0;

	anonmap__init(&m);
	memset(bit, 0, sizeof(bit));
	for (int i = 0; i < 20000 && !bad; i++) {
		uint64_t a, n, set = 0;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		a = rng % PAGES;
		n = 1 + (rng >> 20) % 24;
		if (a + n > PAGES)
			n = PAGES - a;
		if ((rng >> 40) & 1) {
			anonmap__add(&m, a * PG, n * PG);
			memset(bit + a, 1, n);
		} else {
			anonmap__remove(&m, a * PG, n * PG);
			memset(bit + a, 0, n);
		}
		for (int p = 0; p < PAGES; p++)
			set += bit[p];
		if (anonmap__bytes(&m) != set * PG)
			bad = 1;
		for (uint32_t r = 0; r + 1 < m.n && !bad; r++)
			if (m.r[r].end >= m.r[r + 1].start)
				bad = 2; /* adjacent ranges must have merged */
	}
	CHECK(bad == 0);
	anonmap__fini(&m);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_add_merge),
    UNIT_CASE(test_remove_split),
    UNIT_CASE(test_brk),
    UNIT_CASE(test_random),
};

int main(int argc, char **argv)
{
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
