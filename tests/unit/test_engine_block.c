/*
 * test_engine_block.c - unit tests of the live set (engine/engine_block.c):
 * the exact counters of threads and processes, frees from another thread
 * and of blocks never seen, realloc in each of its forms, and the blocks
 * written to the store once persist_age old and deleted once freed.
 *
 * The engine is fed hand-made events and flushed into the recording sink
 * through the fixture the engine's tests share
 * (tests/support/engine_fixture.h), which also keeps a model of the
 * store.
 *
 * Times in the helpers are milliseconds; the engine sees nanoseconds.
 */
#include <stdint.h>

#include "engine_fixture.h"
#include "unit.h"

/* The row of pid's block at addr in the model of the store. */
static const struct mw_block_row *st_block_at(uint32_t pid, uint64_t addr)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&M.st_blocks, &pos, &k, &v)) {
		const struct mw_block_row *b = v;

		if (b->pid == pid && b->addr == addr)
			return b;
	}
	return NULL;
}

/* --- alloc / free counters ----------------------------------------------- */

static void test_counters_one_thread(void)
{
	const struct mw_thread_row *t;
	const struct mw_process_row *p;

	setup(500, 1000);
	attach(PID, 0);
	tstart(101, 0);
	al(101, 1, 0x1000, 10, SITE1);
	al(101, 2, 0x2000, 20, SITE1);
	al(101, 3, 0x3000, 30, SITE2);
	al(101, 4, 0, 50, SITE2); /* a failed malloc: not counted */
	fr(101, 5, 0x2000);
	CHECK(flush_at(10) == 0);

	t = last_thread(101);
	CHECK(t != NULL);
	if (t) {
		CHECK_U64(t->proc_id, P);
		CHECK_U64(t->state, MW_THREAD_ALIVE);
		CHECK_STR(t->comm, "worker");
		CHECK_U64(t->start_ts, MS(0));
		CHECK_U64(t->allocs, 3);
		CHECK_U64(t->frees, 1);
		CHECK_U64(t->alloc_bytes, 60);
		CHECK_U64(t->free_bytes, 20);
		CHECK_U64(t->cross_frees, 0);
		CHECK_U64(t->unknown_frees, 0);
		CHECK_U64(t->live_blocks, 2);
		CHECK_U64(t->live_bytes, 40);
	}
	p = last_proc(PID);
	CHECK(p != NULL);
	if (p) {
		CHECK_U64(p->id, P);
		CHECK_U64(p->state, MW_PROC_TRACING);
		CHECK_STR(p->comm, "prog");
		CHECK_U64(p->threads, 1);
		CHECK_U64(p->allocs, 3);
		CHECK_U64(p->frees, 1);
		CHECK_U64(p->live_blocks, 2);
		CHECK_U64(p->live_bytes, 40);
		CHECK_U64(p->unknown_frees, 0);
		CHECK_U64(p->findings, 0);
	}
	/* Nothing changed: the next flush hands nothing over. */
	CHECK(flush_at(20) == 0);
	CHECK_U64(R.last.procs.n, 0);
	CHECK_U64(R.last.threads.n, 0);
	teardown();
}

static void test_counters_per_thread(void)
{
	const struct mw_thread_row *a, *b;

	setup(500, 1000);
	attach(PID, 0);
	al(101, 1, 0x1000, 100, SITE1);
	al(102, 2, 0x2000, 7, SITE1);
	al(102, 3, 0x3000, 9, SITE1);
	al(101, 4, 0x4000, 1, SITE1);
	fr(102, 5, 0x3000);
	CHECK(flush_at(10) == 0);
	a = last_thread(101);
	b = last_thread(102);
	CHECK(a && b);
	if (a && b) {
		CHECK_U64(a->allocs, 2);
		CHECK_U64(a->alloc_bytes, 101);
		CHECK_U64(a->frees, 0);
		CHECK_U64(a->live_blocks, 2);
		CHECK_U64(a->live_bytes, 101);
		CHECK_U64(b->allocs, 2);
		CHECK_U64(b->alloc_bytes, 16);
		CHECK_U64(b->frees, 1);
		CHECK_U64(b->free_bytes, 9);
		CHECK_U64(b->live_blocks, 1);
		CHECK_U64(b->live_bytes, 7);
	}
	CHECK(last_proc(PID) && last_proc(PID)->threads == 2);
	CHECK(last_proc(PID) && last_proc(PID)->live_bytes == 108);
	teardown();
}

static void test_cross_thread_free(void)
{
	const struct mw_thread_row *a, *b;

	setup(500, 1000);
	attach(PID, 0);
	al(101, 1, 0x1000, 100, SITE1);
	al(101, 2, 0x2000, 50, SITE1);
	fr(102, 3, 0x1000);
	CHECK(flush_at(4) == 0);
	a = last_thread(101);
	b = last_thread(102);
	CHECK(a && b);
	if (a && b) {
		/* The freeing thread counts the free ... */
		CHECK_U64(b->frees, 1);
		CHECK_U64(b->free_bytes, 100);
		CHECK_U64(b->cross_frees, 1);
		CHECK_U64(b->allocs, 0);
		CHECK_U64(b->live_blocks, 0);
		CHECK_U64(b->live_bytes, 0);
		/* ... the allocating thread loses the live block. */
		CHECK_U64(a->frees, 0);
		CHECK_U64(a->free_bytes, 0);
		CHECK_U64(a->cross_frees, 0);
		CHECK_U64(a->live_blocks, 1);
		CHECK_U64(a->live_bytes, 50);
	}
	/* The allocating thread exits; a later cross free still updates
	 * its row. */
	texit(101, 5);
	CHECK(flush_at(6) == 0);
	fr(102, 7, 0x2000);
	CHECK(flush_at(8) == 0);
	a = last_thread(101);
	b = last_thread(102);
	CHECK(a && b);
	if (a && b) {
		CHECK_U64(a->state, MW_THREAD_EXITED);
		CHECK_U64(a->exit_ts, MS(5));
		CHECK_U64(a->live_blocks, 0);
		CHECK_U64(a->live_bytes, 0);
		CHECK_U64(b->frees, 2);
		CHECK_U64(b->cross_frees, 2);
		CHECK_U64(b->free_bytes, 150);
	}
	CHECK(last_proc(PID) && last_proc(PID)->live_blocks == 0);
	teardown();
}

static void test_unknown_free(void)
{
	const struct mw_thread_row *t;
	const struct mw_process_row *p;

	setup(500, 1000);
	attach(PID, 0);
	fr(101, 1, 0x9990);	/* never seen */
	al(101, 2, 0x1000, 8, SITE1);
	fr(101, 3, 0x1000);
	fr(101, 4, 0x1000);	/* double free: unknown by now */
	CHECK(flush_at(5) == 0);
	t = last_thread(101);
	CHECK(t != NULL);
	if (t) {
		/* frees counts blocks seen allocated; the rest are unknown. */
		CHECK_U64(t->frees, 1);
		CHECK_U64(t->unknown_frees, 2);
		CHECK_U64(t->free_bytes, 8);
		CHECK_U64(t->cross_frees, 0);
		CHECK_U64(t->live_blocks, 0);
	}
	p = last_proc(PID);
	CHECK(p != NULL);
	if (p) {
		CHECK_U64(p->frees, 1);
		CHECK_U64(p->unknown_frees, 2);
		CHECK_U64(p->live_blocks, 0);
	}
	teardown();
}

/* --- realloc --------------------------------------------------------------- */

static void test_realloc_null_old_is_malloc(void)
{
	const struct mw_thread_row *t;

	setup(500, 1000);
	attach(PID, 0);
	re(101, 1, 0, 0x1000, 32);
	re(101, 2, 0, 0, 64); /* realloc(NULL, 64) failed */
	CHECK(flush_at(3) == 0);
	t = last_thread(101);
	CHECK(t != NULL);
	if (t) {
		CHECK_U64(t->allocs, 1);
		CHECK_U64(t->alloc_bytes, 32);
		CHECK_U64(t->frees, 0);
		CHECK_U64(t->live_blocks, 1);
		CHECK_U64(t->live_bytes, 32);
	}
	teardown();
}

static void test_realloc_zero_frees(void)
{
	const struct mw_thread_row *t;

	setup(500, 1000);
	attach(PID, 0);
	al(101, 1, 0x1000, 40, SITE1);
	re(101, 2, 0x1000, 0, 0); /* realloc(p, 0) freed p */
	CHECK(flush_at(3) == 0);
	t = last_thread(101);
	CHECK(t != NULL);
	if (t) {
		CHECK_U64(t->allocs, 1);
		CHECK_U64(t->frees, 1);
		CHECK_U64(t->free_bytes, 40);
		CHECK_U64(t->unknown_frees, 0);
		CHECK_U64(t->live_blocks, 0);
		CHECK_U64(t->live_bytes, 0);
	}
	CHECK_U64(stats().live_blocks, 0);
	teardown();
}

static void test_realloc_failure_keeps_block(void)
{
	const struct mw_thread_row *t;
	const struct mw_finding_row *f;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 40, SITE1);
	tset(101, 3, 1, 0x1000);
	re(101, 4, 0x1000, 0, 1u << 30); /* failed: p untouched */
	CHECK(flush_at(5) == 0);
	t = last_thread(101);
	CHECK(t != NULL);
	if (t) {
		CHECK_U64(t->allocs, 1);
		CHECK_U64(t->frees, 0);
		CHECK_U64(t->live_blocks, 1);
		CHECK_U64(t->live_bytes, 40);
	}
	/* The binding still holds the block. */
	texit(101, 10);
	CHECK(tick_flush(600) == 0);
	f = finding_in(&R.last, 0x1000);
	CHECK(f != NULL);
	if (f) {
		CHECK_U64(f->size, 40);
		CHECK_U64(f->kind, MW_FIND_TLS_OUTLIVED_THREAD);
	}
	teardown();
}

static void test_realloc_moved(void)
{
	const struct mw_thread_row *a, *b;
	const struct mw_finding_row *f;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 40, SITE1);
	tset(101, 3, 1, 0x1000);
	re(102, 4, 0x1000, 0x2000, 80); /* moved, by another thread */
	CHECK(flush_at(5) == 0);
	a = last_thread(101);
	b = last_thread(102);
	CHECK(a && b);
	if (a && b) {
		CHECK_U64(a->live_blocks, 0);
		CHECK_U64(a->live_bytes, 0);
		CHECK_U64(b->frees, 1);
		CHECK_U64(b->free_bytes, 40);
		CHECK_U64(b->cross_frees, 1);
		CHECK_U64(b->allocs, 1);
		CHECK_U64(b->alloc_bytes, 80);
		CHECK_U64(b->live_blocks, 1);
		CHECK_U64(b->live_bytes, 80);
	}
	/* 101's slot still names the old address, which is no block any
	 * more: nothing leaked through it. */
	texit(101, 10);
	CHECK(tick_flush(1000) == 0);
	CHECK_U64(R.last.findings.n, 0);
	/* Bound after the move, the new block counts. */
	tset(102, 1001, 1, 0x2000);
	texit(102, 1002);
	CHECK(tick_flush(2000) == 0);
	CHECK_U64(R.last.findings.n, 1);
	f = finding_in(&R.last, 0x2000);
	CHECK(f != NULL);
	if (f) {
		CHECK_U64(f->size, 80);
		CHECK_U64(f->alloc_tid, 102);
		CHECK_U64(f->tid, 102);
		CHECK_U64(f->alloc_ts, MS(4));
	}
	teardown();
}

static void test_realloc_in_place_keeps_serial(void)
{
	const struct mw_block_row *b;
	const struct mw_thread_row *t;
	const struct mw_finding_row *f;
	uint64_t serial = 0;

	setup(500, 0); /* persist at once, to learn the serial */
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 40, SITE1);
	tset(101, 3, 1, 0x1000);
	CHECK(flush_at(4) == 0);
	b = add_in(&R.last, 0x1000);
	CHECK(b != NULL);
	if (b)
		serial = b->serial;
	CHECK(last_binding(101, 1) && last_binding(101, 1)->block == serial);

	re(102, 5, 0x1000, 0x1000, 200); /* grown in place */
	CHECK(flush_at(6) == 0);
	/* Same serial, written again with the new size: one upsert, never a
	 * delete (a delete then add could lose the row between flushes). */
	CHECK(!del_in(&R.last, serial));
	b = add_in(&R.last, 0x1000);
	CHECK(b != NULL);
	if (b) {
		CHECK_U64(b->serial, serial);
		CHECK_U64(b->size, 200);
		CHECK_U64(b->tid, 101);
		CHECK_U64(b->ts, MS(2));
	}
	CHECK(st_block_at(PID, 0x1000) && st_block_at(PID, 0x1000)->size == 200);
	t = last_thread(101);
	CHECK(t != NULL);
	if (t) {
		CHECK_U64(t->allocs, 1);
		CHECK_U64(t->frees, 0);
		CHECK_U64(t->live_blocks, 1);
		CHECK_U64(t->live_bytes, 200);
	}
	/* The binding still counts. */
	texit(101, 10);
	CHECK(tick_flush(510) == 0);
	f = finding_in(&R.last, 0x1000);
	CHECK(f != NULL);
	if (f) {
		CHECK_U64(f->block, serial);
		CHECK_U64(f->size, 200);
		CHECK_U64(f->alloc_tid, 101);
		CHECK_U64(f->alloc_ts, MS(2));
	}
	teardown();
}

/*
 * A persisted block resized in place is deleted from the store and put
 * back on the persist FIFO at its tail, behind younger blocks: the store
 * lacks a long-lived, live block until those younger blocks age.
 */
static void test_realloc_in_place_persisted_stays_stored(void)
{
	const struct mw_block_row *b;
	uint64_t serial = 0;

	setup(500, 1000);
	attach(PID, 0);
	al(101, 0, 0x1000, 64, SITE1);
	CHECK(flush_at(1000) == 0);
	b = add_in(&R.last, 0x1000);
	CHECK(b != NULL);
	if (b)
		serial = b->serial;
	al(101, 1500, 0x2000, 16, SITE1); /* young */
	re(101, 1600, 0x1000, 0x1000, 128);
	CHECK(flush_at(1700) == 0);
	/* The block is 1.7 s old and live: the store must hold it. */
	b = st_block_at(PID, 0x1000);
	CHECK(b != NULL);
	if (b) {
		CHECK_U64(b->serial, serial);
		CHECK_U64(b->size, 128);
	}
	teardown();
}

/* --- persistence ------------------------------------------------------- */

static void test_persist_age(void)
{
	const struct mw_block_row *b;
	uint64_t sa = 0;

	setup(500, 1000);
	attach(PID, 0);
	al(101, 0, 0xa000, 10, SITE1);
	al(102, 600, 0xb000, 20, SITE1);
	al(101, 700, 0xc000, 30, SITE2);
	al(101, 1500, 0xd000, 40, SITE2);
	CHECK(flush_at(999) == 0);
	CHECK_U64(R.last.adds.n, 0);
	CHECK(flush_at(1000) == 0);
	CHECK_U64(R.last.adds.n, 1);
	b = add_in(&R.last, 0xa000);
	CHECK(b != NULL);
	if (b) {
		sa = b->serial;
		CHECK_U64(b->proc_id, P);
		CHECK_U64(b->pid, PID);
		CHECK_U64(b->tid, 101);
		CHECK_U64(b->size, 10);
		CHECK_U64(b->ts, 0);
		CHECK_U64(b->site, SITE1);
	}
	CHECK(flush_at(1650) == 0);
	CHECK_U64(R.last.adds.n, 1);
	CHECK(add_in(&R.last, 0xb000) != NULL);
	fr(101, 1660, 0xa000); /* persisted: deleted */
	fr(101, 1670, 0xd000); /* young: never stored */
	CHECK(flush_at(1680) == 0);
	CHECK_U64(R.last.dels.n, 1);
	CHECK(del_in(&R.last, sa));
	CHECK_U64(R.last.adds.n, 0);
	al(101, 1685, 0xe000, 50, SITE3);
	pexit(1690, 0); /* the rest goes, young or not */
	CHECK(flush_at(1690) == 0);
	CHECK_U64(R.last.adds.n, 2);
	CHECK(add_in(&R.last, 0xc000) != NULL);
	CHECK(add_in(&R.last, 0xe000) != NULL);
	CHECK_U64(R.last.dels.n, 0);
	CHECK_U64(M.st_blocks.len, 3);
	CHECK(st_block_at(PID, 0xb000) && st_block_at(PID, 0xc000) &&
	      st_block_at(PID, 0xe000));
	teardown();
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_counters_one_thread),
    UNIT_CASE(test_counters_per_thread),
    UNIT_CASE(test_cross_thread_free),
    UNIT_CASE(test_unknown_free),
    UNIT_CASE(test_realloc_null_old_is_malloc),
    UNIT_CASE(test_realloc_zero_frees),
    UNIT_CASE(test_realloc_failure_keeps_block),
    UNIT_CASE(test_realloc_moved),
    UNIT_CASE(test_realloc_in_place_keeps_serial),
    UNIT_CASE(test_realloc_in_place_persisted_stays_stored),
    UNIT_CASE(test_persist_age),
};

int main(int argc, char **argv)
{
	engine_fixture__init(&unit_failed_now);
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
