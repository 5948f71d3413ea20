/*
 * test_engine.c - unit tests of the engine object (engine/engine.c): the
 * processes and threads it traces (tid reuse, a thread start with its
 * exit lost, untraced pids, exec, detach, attach), lost events and the
 * bounds (max_blocks, max_threads, max_keys), the memory estimate and the
 * statistics. The engine's other pieces have files of their own:
 * test_engine_block.c (the live set), test_engine_tls.c (the TLS rules),
 * test_engine_site.c (sites and stacks), test_engine_flush.c (failing
 * flushes), test_rules.c (the rules over time); test_engine_random.c
 * checks a random run of them all against a model.
 *
 * The engine is fed hand-made events and flushed into the recording sink
 * through the fixture the engine's tests share
 * (tests/support/engine_fixture.h), which also keeps a model of the
 * store.
 *
 * Times in the helpers are milliseconds; the engine sees nanoseconds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "unit.h"

/* --- tids, processes, lost events --------------------------------------- */

/* The newest thread the model of the store holds for (proc_id, tid). */
static const struct mw_thread_row *st_thread(uint64_t proc_id, uint32_t tid)
{
	return hmap__get(&M.st_threads, proc_id << 32 | tid);
}

static void test_tid_reuse(void)
{
	const struct mw_thread_row *old, *cur;
	const struct mw_process_row *p;

	setup(500, 1000);
	attach(PID, 0);
	tstart(101, 1);
	al(101, 2, 0x1000, 64, SITE1);
	texit(101, 3);	 /* leaves 0x1000 live */
	tstart(101, 4);	 /* the tid is reused */
	al(101, 5, 0x2000, 32, SITE1);
	CHECK(flush_at(6) == 0);
	old = thread_in(&R.last, PID, 101, MS(1));
	cur = thread_in(&R.last, PID, 101, MS(4));
	CHECK(old && cur);
	if (old && cur) {
		CHECK_U64(old->state, MW_THREAD_EXITED);
		CHECK_U64(old->allocs, 1);
		CHECK_U64(old->live_blocks, 1);
		CHECK_U64(old->live_bytes, 64);
		CHECK_U64(cur->state, MW_THREAD_ALIVE);
		CHECK_U64(cur->allocs, 1);
		CHECK_U64(cur->live_blocks, 1);
		CHECK_U64(cur->live_bytes, 32);
	}
	fr(101, 7, 0x1000); /* the new 101 frees the old one's block */
	CHECK(flush_at(8) == 0);
	old = thread_in(&R.last, PID, 101, MS(1));
	cur = thread_in(&R.last, PID, 101, MS(4));
	CHECK(old && cur);
	if (old && cur) {
		CHECK_U64(old->allocs, 1);
		CHECK_U64(old->frees, 0);
		CHECK_U64(old->live_blocks, 0);
		CHECK_U64(old->live_bytes, 0);
		CHECK_U64(cur->allocs, 1);
		CHECK_U64(cur->frees, 1);
		CHECK_U64(cur->cross_frees, 1);
		CHECK_U64(cur->free_bytes, 64);
		CHECK_U64(cur->live_blocks, 1);
		CHECK_U64(cur->live_bytes, 32);
	}
	p = last_proc(PID);
	CHECK(p && p->threads == 2 && p->live_blocks == 1 && p->live_bytes == 32);
	teardown();
}

/*
 * After a tid is reused, a change to the dead thread's row (a cross free
 * of a block it left) is handed over after the live thread's row. The
 * threads table is keyed (proc_id, tid, start_ts) so that it cannot
 * overwrite the live thread's row.
 */
static void test_tid_reuse_store_keeps_live_thread(void)
{
	const struct mw_thread_row *t;

	setup(500, 1000);
	attach(PID, 0);
	tstart(101, 1);
	al(101, 2, 0x1000, 64, SITE1);
	texit(101, 3);
	tstart(101, 4);
	al(101, 5, 0x2000, 32, SITE1);
	CHECK(flush_at(6) == 0);
	fr(101, 7, 0x1000);
	CHECK(flush_at(8) == 0);
	t = st_thread(P, 101);
	CHECK(t != NULL);
	if (t) {
		CHECK_U64(t->start_ts, MS(4));
		CHECK_U64(t->state, MW_THREAD_ALIVE);
		CHECK_U64(t->live_bytes, 32);
	}
	teardown();
}

static void test_thread_start_with_lost_exit(void)
{
	const struct mw_thread_row *old;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	tstart(101, 1);
	al(101, 2, 0x1000, 64, SITE1);
	tset(101, 3, 1, 0x1000);
	tstart(101, 10); /* the exit of the first 101 was lost */
	CHECK_U64(stats().pending, 0);
	CHECK(tick_flush(2000) == 0);
	old = thread_in(&R.last, PID, 101, MS(1));
	CHECK(old && old->state == MW_THREAD_GONE && old->exit_ts == MS(10));
	CHECK(thread_in(&R.last, PID, 101, MS(10)) != NULL);
	CHECK_U64(M.st_findings.len, 0);
	teardown();
}

static void test_untraced_ignored(void)
{
	struct engine_stats st;

	setup(500, 0);
	attach(PID, 0);
	CHECK(flush_at(1) == 0);
	CHECK(feed((struct mw_event){.type = MW_EV_ALLOC, .pid = 200,
				     .tid = 201, .ts = MS(2), .addr = 0x1000,
				     .size = 8}) == 0);
	CHECK(feed((struct mw_event){.type = MW_EV_KEY_CREATE, .pid = 200,
				     .tid = 201, .ts = MS(2), .key = 1}) == 0);
	CHECK(feed((struct mw_event){.type = MW_EV_TLS_SET, .pid = 200,
				     .tid = 201, .ts = MS(2), .key = 1,
				     .addr = 0x1000}) == 0);
	CHECK(feed((struct mw_event){.type = MW_EV_THREAD_EXIT, .pid = 200,
				     .tid = 201, .ts = MS(3)}) == 0);
	CHECK(feed((struct mw_event){.type = MW_EV_PROC_EXIT, .pid = 200,
				     .tid = 200, .ts = MS(3)}) == 0);
	CHECK(!engine__is_traced(E, 200));
	CHECK(engine__is_traced(E, PID));
	CHECK(tick_flush(9000) == 0);
	CHECK_U64(R.last.procs.n, 0);
	CHECK_U64(R.last.threads.n, 0);
	CHECK_U64(R.last.keys.n, 0);
	CHECK_U64(R.last.adds.n, 0);
	CHECK_U64(R.last.findings.n, 0);
	st = stats();
	CHECK_U64(st.events, 5);
	CHECK_U64(st.processes, 1);
	CHECK_U64(st.live_blocks, 0);
	CHECK_U64(st.pending, 0);
	teardown();
}

static void test_exec_drops_live_set(void)
{
	const struct mw_process_row *p;
	uint64_t serial = 0;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 1, 0x1000, 64, SITE1);
	CHECK(flush_at(1001) == 0);
	CHECK(add_in(&R.last, 0x1000) != NULL);
	if (add_in(&R.last, 0x1000))
		serial = add_in(&R.last, 0x1000)->serial;
	al(102, 1500, 0x2000, 32, SITE1);
	tset(102, 1501, 1, 0x2000);
	al(101, 1502, 0x3000, 16, SITE1);
	tset(101, 1503, 1, 0x3000);
	texit(101, 1600); /* a candidate waiting out its grace */
	CHECK_U64(stats().pending, 1);
	FEED(.type = MW_EV_EXEC, .pid = PID, .tid = 102, .ts = MS(1700),
	     .comm = "newimage");
	CHECK_U64(stats().pending, 0);
	CHECK_U64(stats().live_blocks, 0);
	CHECK(flush_at(1800) == 0);
	CHECK(del_in(&R.last, serial));
	CHECK_U64(R.last.adds.n, 0);
	p = last_proc(PID);
	CHECK(p != NULL);
	if (p) {
		CHECK_STR(p->comm, "newimage");
		CHECK_U64(p->live_blocks, 0);
		CHECK_U64(p->live_bytes, 0);
		CHECK_U64(p->state, MW_PROC_TRACING);
	}
	CHECK(last_thread(102) && last_thread(102)->live_blocks == 0);
	CHECK(last_thread(101) && last_thread(101)->live_bytes == 0);
	CHECK(last_binding(102, 1) && last_binding(102, 1)->value == 0);
	CHECK_U64(M.st_blocks.len, 0);
	/* Nothing of the old image is ever a finding. */
	CHECK(tick_flush(5000) == 0);
	texit(102, 5001);
	pexit(5002, 0);
	CHECK(flush_at(5003) == 0);
	CHECK_U64(M.st_findings.len, 0);
	teardown();
}

static void test_detach(void)
{
	const struct mw_process_row *p;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 64, SITE1);
	tset(101, 3, 1, 0x1000);
	texit(101, 1000);
	CHECK(engine__detach(E, PID, MS(1100)) == 0);
	CHECK(engine__detach(E, PID, MS(1100)) == -ESRCH);
	CHECK(!engine__is_traced(E, PID));
	CHECK_U64(stats().processes, 0);
	CHECK_U64(stats().pending, 0);
	CHECK(tick_flush(5000) == 0);
	p = last_proc(PID);
	CHECK(p != NULL);
	if (p) {
		CHECK_U64(p->state, MW_PROC_DETACHED);
		CHECK_U64(p->end_ts, MS(1100));
		CHECK_U64(p->findings, 0);
	}
	CHECK_U64(R.last.findings.n, 0);
	/* Events after detach are ignored. */
	al(101, 5001, 0x2000, 8, SITE1);
	CHECK(tick_flush(9000) == 0);
	CHECK_U64(R.last.procs.n, 0);
	CHECK_U64(M.st_findings.len, 0);
	teardown();
}

static void test_lost_events(void)
{
	const struct mw_process_row *a, *b;

	setup(500, 1000);
	attach(PID, 0);
	attach(200, 0);
	FEED(.type = MW_EV_LOST, .pid = PID, .count = 5, .ts = MS(1));
	FEED(.type = MW_EV_LOST, .pid = 0, .count = 7, .ts = MS(2));
	FEED(.type = MW_EV_LOST, .pid = 300, .count = 11, .ts = MS(3));
	CHECK(flush_at(4) == 0);
	a = last_proc(PID);
	b = last_proc(200);
	CHECK(a && b);
	if (a && b) {
		CHECK_U64(a->lost, 12);
		CHECK_U64(b->lost, 7);
	}
	CHECK_U64(stats().lost, 23);
	CHECK_U64(stats().events, 3);
	teardown();
}

/* --- incomplete traces and bounds (docs/RELIABILITY.md) ------------------ */

static void setup_bounds(uint32_t max_blocks, uint32_t max_threads,
			 uint32_t max_keys)
{
	struct engine_config cfg = {
		.grace_ns = MS(500),
		.persist_age_ns = MS(1000),
		.orphan_min_threads = UINT32_MAX,
		.growth_min_bytes = UINT64_MAX,
		.max_blocks = max_blocks,
		.max_threads = max_threads,
		.max_keys = max_keys,
	};

	rec_reset();
	E = engine__new(&cfg, 1000);
	if (!E)
		abort();
	P = 0;
}

static void lost(uint32_t pid, uint64_t first, uint64_t last, uint64_t n)
{
	FEED(.type = MW_EV_LOST, .pid = pid, .count = n, .ts = MS(last),
	     .addr = first ? MS(first) : 0);
}

/* A TLS block allocated before a loss may have been freed by a lost
 * event: its thread's exit decides nothing, the finding is withheld. */
static void test_loss_withholds_older_block(void)
{
	const struct mw_process_row *pr;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 3, 0);
	al(101, 2, 0x1000, 64, SITE1);
	tset(101, 3, 3, 0x1000);
	lost(PID, 4, 5, 2); /* the free and the slot cleared, say */
	texit(101, 1000);
	CHECK(tick_flush(2000) == 0);
	CHECK_U64(R.last.findings.n, 0);
	CHECK_U64(stats().findings, 0);
	CHECK_U64(stats().withheld, 1);
	CHECK_U64(stats().pending, 0);
	pr = last_proc(PID);
	CHECK(pr != NULL);
	if (pr) {
		CHECK_U64(pr->lost, 2);
		CHECK_U64(pr->incomplete_from, MS(4));
		CHECK_U64(pr->incomplete_to, MS(5));
		CHECK_U64(pr->withheld, 1);
		CHECK_U64(pr->findings, 0);
	}
	teardown();
}

/* Everything about a block comes after its allocation: one allocated
 * after the latest loss is judged as usual. */
static void test_loss_keeps_newer_block(void)
{
	setup(500, 1000);
	attach(PID, 0);
	lost(PID, 1, 5, 9);
	kcreate(PID, 6, 3, 0);
	al(101, 6, 0x1000, 64, SITE1);
	tset(101, 7, 3, 0x1000);
	texit(101, 1000);
	CHECK(tick_flush(2000) == 0);
	CHECK_U64(R.last.findings.n, 1);
	CHECK_U64(stats().withheld, 0);
	/* A loss at the very time of the allocation: withheld. */
	al(102, 3000, 0x2000, 64, SITE1);
	tset(102, 3001, 3, 0x2000);
	lost(PID, 3000, 3000, 1);
	texit(102, 4000);
	CHECK(tick_flush(5000) == 0);
	CHECK_U64(R.last.findings.n, 0);
	CHECK_U64(stats().withheld, 1);
	teardown();
}

/* A loss nobody can be named for (pid 0) makes every process incomplete;
 * the first loss time defaults to the start of tracing. */
static void test_loss_unattributed(void)
{
	const struct mw_process_row *a, *b;

	setup(500, 1000);
	attach(PID, 10);
	attach(200, 20);
	lost(0, 0, 30, 4);
	CHECK(flush_at(40) == 0);
	a = last_proc(PID);
	b = last_proc(200);
	CHECK(a && b);
	if (a && b) {
		CHECK_U64(a->incomplete_from, MS(10));
		CHECK_U64(a->incomplete_to, MS(30));
		CHECK_U64(b->incomplete_from, MS(20));
		CHECK_U64(b->incomplete_to, MS(30));
		CHECK_U64(a->lost + b->lost, 8);
	}
	CHECK_U64(stats().lost, 4);
	/* A loss whose time the collector cannot tell: from then on,
	 * nothing of the process is judged. */
	FEED(.type = MW_EV_LOST, .pid = PID, .count = 1);
	CHECK(flush_at(50) == 0);
	a = last_proc(PID);
	CHECK(a && a->incomplete_to == (uint64_t)INT64_MAX);
	teardown();
}

/* --max-blocks: an allocation past it is dropped and counted, the
 * process incomplete from then on; its free is unknown, never evidence
 * of a bad free; the blocks kept stay exact. */
static void test_max_blocks(void)
{
	const struct mw_process_row *pr;

	setup_bounds(2, 0, 0);
	attach(PID, 0);
	kcreate(PID, 1, 3, 0);
	al(101, 2, 0x1000, 64, SITE1);
	tset(101, 3, 3, 0x1000);
	al(101, 4, 0x2000, 64, SITE1);
	al(101, 5, 0x3000, 64, SITE1); /* past the bound */
	CHECK_U64(stats().live_blocks, 2);
	CHECK_U64(stats().dropped, 1);
	/* The same address again replaces, it does not count twice. */
	al(101, 6, 0x2000, 32, SITE1);
	CHECK_U64(stats().dropped, 1);
	fr(101, 7, 0x3000);
	fr(101, 8, 0x3000);
	texit(101, 1000);
	CHECK(tick_flush(2000) == 0);
	/* 0x1000 was allocated before the drop: withheld. */
	CHECK_U64(R.last.findings.n, 0);
	CHECK_U64(stats().withheld, 1);
	pr = last_proc(PID);
	CHECK(pr != NULL);
	if (pr) {
		CHECK_U64(pr->dropped, 1);
		CHECK_U64(pr->lost, 0);
		CHECK_U64(pr->live_blocks, 2);
		CHECK_U64(pr->incomplete_from, MS(5));
		CHECK_U64(pr->incomplete_to, MS(5));
		CHECK_U64(pr->unknown_frees, 2);
	}
	/* Room again: a block allocated after the drop is judged. */
	fr(101, 2100, 0x2000);
	al(102, 2200, 0x4000, 64, SITE1);
	tset(102, 2201, 3, 0x4000);
	texit(102, 3000);
	CHECK(tick_flush(4000) == 0);
	CHECK_U64(R.last.findings.n, 1);
	teardown();
}

/* --max-threads: a thread past it is not kept; its events are dropped
 * and counted, the process incomplete. */
static void test_max_threads(void)
{
	const struct mw_process_row *pr;

	setup_bounds(0, 2, 0);
	attach(PID, 0);
	tstart(101, 1);
	tstart(102, 1);
	tstart(103, 2);			  /* dropped */
	al(103, 3, 0x1000, 64, SITE1);	  /* dropped */
	FEED(.type = MW_EV_THREAD_EXIT, .pid = PID, .tid = 104, .ts = MS(4));
	CHECK_U64(stats().dropped, 3);
	CHECK_U64(stats().live_blocks, 0);
	texit(102, 5);
	CHECK(tick_flush(10) == 0);
	CHECK(last_thread(103) == NULL);
	pr = last_proc(PID);
	CHECK(pr != NULL);
	if (pr) {
		CHECK_U64(pr->dropped, 3);
		CHECK_U64(pr->incomplete_from, MS(2));
		CHECK_U64(pr->incomplete_to, MS(4));
	}
	/* 102 exited: room for one more. */
	tstart(105, 20);
	al(105, 21, 0x2000, 64, SITE1);
	CHECK_U64(stats().live_blocks, 1);
	CHECK_U64(stats().dropped, 3);
	teardown();
}

/* --max-keys: a key past it is not kept; creating or setting it is
 * dropped and counted; keys kept work as before. */
static void test_max_keys(void)
{
	const struct mw_process_row *pr;

	setup_bounds(0, 0, 1);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	kcreate(PID, 2, 2, 0); /* dropped */
	al(101, 3, 0x1000, 64, SITE1);
	tset(101, 4, 2, 0x1000); /* dropped: no such key */
	CHECK_U64(stats().dropped, 2);
	kdelete(PID, 5, 1);
	kcreate(PID, 6, 1, 0); /* the same id again: no new key */
	CHECK_U64(stats().dropped, 2);
	CHECK(tick_flush(10) == 0);
	CHECK(last_key(2, 1) == NULL);
	CHECK(last_key(1, 2) != NULL);
	pr = last_proc(PID);
	CHECK(pr && pr->dropped == 2 && pr->incomplete_to == MS(4));
	texit(101, 100);
	CHECK(tick_flush(1000) == 0);
	CHECK_U64(stats().findings, 0);
	teardown();
}

/* The memory estimate grows with what a process holds and names the
 * process holding the most. */
static void test_memory_estimate(void)
{
	uint64_t m0, m1, bytes;
	uint32_t pid;

	setup(500, 1000);
	attach(PID, 0);
	attach(200, 0);
	m0 = engine__memory(E, &pid, &bytes);
	for (uint64_t i = 0; i < 1000; i++)
		al(101, 1, 0x100000 + i * 64, 64, SITE1);
	m1 = engine__memory(E, &pid, &bytes);
	CHECK(m1 >= m0 + 1000 * 48);
	CHECK_U64(pid, PID);
	CHECK(bytes >= 1000 * 48 && bytes <= m1);
	engine__detach(E, PID, MS(2));
	CHECK(engine__memory(E, &pid, &bytes) < m1);
	CHECK_U64(pid, 200);
	teardown();
}

static void test_attach_idempotent(void)
{
	uint64_t a, b = 0;

	setup(500, 1000);
	a = attach(PID, 0);
	CHECK(engine__attach(E, PID, "other", MS(5), &b) == 0);
	CHECK_U64(a, b);
	CHECK_U64(stats().processes, 1);
	CHECK(flush_at(6) == 0);
	CHECK(last_proc(PID) && !strcmp(last_proc(PID)->comm, "prog"));
	CHECK(last_proc(PID) && last_proc(PID)->start_ts == 0);
	CHECK(engine__detach(E, 999, MS(7)) == -ESRCH);
	teardown();
}

/* --- stats ----------------------------------------------------------------- */

static void test_stats_lifecycle(void)
{
	struct engine_stats st;

	setup(500, 1000);
	attach(PID, 0);
	attach(200, 0);
	kcreate(PID, 1, 1, 0);			/* 1 */
	al(101, 2, 0x1000, 8, SITE1);		/* 2 */
	al(101, 2, 0x2000, 8, SITE1);		/* 3 */
	al(101, 2, 0x3000, 8, SITE1);		/* 4 */
	fr(101, 3, 0x3000);			/* 5 */
	tset(101, 3, 1, 0x1000);		/* 6 */
	texit(101, 4);				/* 7 */
	FEED(.type = MW_EV_ALLOC, .pid = 200, .tid = 200, .ts = MS(4),
	     .addr = 0x1000, .size = 8);	/* 8 */
	/* Lost before the blocks were allocated: they are judged. */
	FEED(.type = MW_EV_LOST, .pid = 0, .count = 3, .ts = MS(1)); /* 9 */
	st = stats();
	CHECK_U64(st.events, 9);
	CHECK_U64(st.lost, 3);
	CHECK_U64(st.processes, 2);
	CHECK_U64(st.live_blocks, 3);
	CHECK_U64(st.pending, 1);
	CHECK_U64(st.findings, 0);
	engine__tick(E, MS(504));
	st = stats();
	CHECK_U64(st.pending, 0);
	CHECK_U64(st.findings, 1);
	pexit(600, 0);				/* 10 */
	CHECK(flush_at(601) == 0);
	st = stats();
	CHECK_U64(st.events, 10);
	CHECK_U64(st.processes, 1);
	/* Only pid 200 is traced now, with its one block. */
	CHECK_U64(st.live_blocks, 1);
	CHECK(engine__detach(E, 200, MS(700)) == 0);
	CHECK(flush_at(701) == 0);
	st = stats();
	CHECK_U64(st.processes, 0);
	CHECK_U64(st.live_blocks, 0);
	CHECK_U64(st.findings, 1);
	CHECK_U64(st.pending, 0);
	teardown();
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_tid_reuse),
    UNIT_CASE(test_tid_reuse_store_keeps_live_thread),
    UNIT_CASE(test_thread_start_with_lost_exit),
    UNIT_CASE(test_untraced_ignored),
    UNIT_CASE(test_exec_drops_live_set),
    UNIT_CASE(test_detach),
    UNIT_CASE(test_lost_events),
    UNIT_CASE(test_loss_withholds_older_block),
    UNIT_CASE(test_loss_keeps_newer_block),
    UNIT_CASE(test_loss_unattributed),
    UNIT_CASE(test_max_blocks),
    UNIT_CASE(test_max_threads),
    UNIT_CASE(test_max_keys),
    UNIT_CASE(test_memory_estimate),
    UNIT_CASE(test_attach_idempotent),
    UNIT_CASE(test_stats_lifecycle),
};

int main(int argc, char **argv)
{
	engine_fixture__init(&unit_failed_now);
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
