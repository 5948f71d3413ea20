/*
 * test_blockset.c - unit tests of the live-block store (engine/blockset.c)
 * and the deque the engine's persist FIFO uses (common/hash.c): a randomized
 * run of adds and deletes checked against a plain array after every step,
 * record reuse, iteration while deleting, and the deque's ends, filter
 * and shrinking.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blockset.h"
#include "hash.h"
#include "unit.h"

static void test_size(void)
{
	/* What a live block costs memwatchd: see docs/PERFORMANCE.md. */
	CHECK_U64(sizeof(struct block), 48);
}

static void test_add_get_del(void)
{
	struct blockset s;
	struct block *b;
	uint32_t i1, i2;

	blockset__init(&s);
	CHECK(blockset__get(&s, 0x1000) == NULL);
	b = blockset__add(&s, 0x1000);
	CHECK(b && b->used && b->addr == 0x1000 && !b->size && !b->tnext);
	i1 = blockset__idx(&s, b);
	CHECK(i1 != 0);
	b->size = 7;
	b = blockset__add(&s, 0x2000);
	i2 = blockset__idx(&s, b);
	CHECK(i2 != i1 && i2 != 0);
	CHECK_U64(blockset__get(&s, 0x1000)->size, 7);
	CHECK_U64(s.n, 2);
	blockset__del(&s, blockset__get(&s, 0x1000));
	CHECK(blockset__get(&s, 0x1000) == NULL);
	CHECK(blockset__get(&s, 0x2000) != NULL);
	/* The freed record is the next one used, zeroed. */
	b = blockset__add(&s, 0x3000);
	CHECK_U64(blockset__idx(&s, b), i1);
	CHECK_U64(b->size, 0);
	CHECK_U64(s.n, 2);
	blockset__fini(&s);
	blockset__fini(&s); /* twice is fine */
}

/* A small xorshift, so runs repeat. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_random_vs_array(void)
{
	enum { SLOTS = 5000, STEPS = 200000 };
	static uint64_t live[SLOTS]; /* address or 0, and its size */
	static uint64_t size[SLOTS];
	struct blockset s;
	uint64_t x = 88172645463325252ull, n = 0;
	int bad = 0;

	memset(live, 0, sizeof(live));
	blockset__init(&s);
	for (int step = 0; step < STEPS && !bad; step++) {
		uint32_t k = (uint32_t)(rnd(&x) % SLOTS);
		/* Aligned addresses, colliding in their low bits, as
		 * allocators hand out. */
		uint64_t addr = 0x7f0000000000ull + (uint64_t)k * 4096 * 16;
		struct block *b = blockset__get(&s, addr);

		if (live[k]) {
			if (!b || b->size != size[k])
				bad = 1;
			else
				blockset__del(&s, b), live[k] = 0, n--;
		} else {
			if (b)
				bad = 1;
			b = blockset__add(&s, addr);
			if (!b)
				bad = 1;
			else
				b->size = size[k] = rnd(&x), live[k] = addr,
				n++;
		}
		if (s.n != n)
			bad = 1;
		/* Now and then, every address agrees with the array. */
		if (step % 20000 == 0)
			for (uint32_t j = 0; j < SLOTS; j++) {
				uint64_t a =
				    0x7f0000000000ull + (uint64_t)j * 4096 * 16;

				b = blockset__get(&s, a);
				if (!!b != !!live[j] ||
				    (b && b->size != size[j]))
					bad = 1;
			}
	}
	CHECK(!bad);
	/* Iteration sees every live block once, and deleting the one it
	 * returned is allowed. */
	{
		uint64_t seen = 0;
		struct block *b;

		for (uint32_t i = 0; (b = blockset__next(&s, &i));) {
			seen++;
			blockset__del(&s, b);
		}
		CHECK_U64(seen, n);
		CHECK_U64(s.n, 0);
	}
	blockset__fini(&s);
}

static int keep_even(void *ctx, uint64_t v)
{
	(void)ctx;
	return !(v & 1);
}

static void test_deque(void)
{
	struct deque d = {0};

	for (uint64_t i = 0; i < 100; i++)
		CHECK(deque__push_back(&d, i) == 0);
	CHECK(deque__push_front(&d, 1000) == 0);
	CHECK_U64(d.len, 101);
	CHECK_U64(deque__at(&d, 0), 1000);
	CHECK_U64(deque__at(&d, 1), 0);
	CHECK_U64(deque__at(&d, 100), 99);
	deque__pop_front(&d, 2);
	CHECK_U64(deque__at(&d, 0), 1);
	/* 1..99: the 49 even ones stay, in order. */
	CHECK_U64(deque__filter(&d, keep_even, NULL), 50);
	CHECK_U64(d.len, 49);
	for (size_t i = 0; i < d.len; i++)
		CHECK_U64(deque__at(&d, i), 2 * (i + 1));
	/* A burst grows the ring; emptying it gives the memory back. */
	for (uint64_t i = 0; i < 100000; i++)
		deque__push_back(&d, i);
	CHECK(d.cap >= 100049);
	deque__pop_front(&d, d.len);
	CHECK_U64(d.len, 0);
	CHECK(d.cap <= 64);
	CHECK(deque__push_back(&d, 5) == 0);
	CHECK_U64(deque__at(&d, 0), 5);
	deque__fini(&d);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_size),
    UNIT_CASE(test_add_get_del),
    UNIT_CASE(test_random_vs_array),
    UNIT_CASE(test_deque),
};

int main(int argc, char **argv)
{
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
