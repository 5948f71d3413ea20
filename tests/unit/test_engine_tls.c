/*
 * test_engine_tls.c - unit tests of the TLS state and rules
 * (engine/engine_tls.c): tls-outlived-thread (grace, destructors, group
 * exit, process exit), tls-outlived-key, key reuse and generations,
 * pthread_setspecific overwriting or clearing a value, a finding reported
 * once, the binding rows, a key created before tracing began, and lists
 * whose head lives in TLS (pushes are no overwrite; tls-overwritten is
 * one row per key and site).
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

/* --- tls-outlived-thread ------------------------------------------------- */

static void texit_group(uint32_t tid, uint64_t t)
{
	CHECK(feed(ev_thread_exit(PID, tid, MS(t), MW_EVF_GROUP_EXIT)) == 0);
}

static void test_thread_rule_fires_after_grace_only(void)
{
	const struct mw_finding_row *f;
	const struct mw_thread_row *t;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 3, 0);
	tstart(101, 1);
	al(101, 2, 0x1000, 64, SITE1);
	tset(101, 3, 3, 0x1000);
	texit(101, 1000);
	CHECK(flush_at(1000) == 0);
	t = last_thread(101);
	CHECK(t && t->state == MW_THREAD_EXITED && t->exit_ts == MS(1000));
	/* The thread's slot is gone: its binding row is cleared. */
	CHECK(last_binding(101, 3) && last_binding(101, 3)->value == 0);
	CHECK_U64(stats().pending, 1);

	/* One ns short of the grace: nothing. */
	engine__tick(E, MS(1500) - 1);
	CHECK(flush_at(1500) == 0);
	CHECK_U64(R.last.findings.n, 0);
	CHECK_U64(stats().pending, 1);
	/* Flushing alone never decides. */
	CHECK(flush_at(9000) == 0);
	CHECK_U64(R.last.findings.n, 0);

	CHECK(tick_flush(1500) == 0);
	CHECK_U64(R.last.findings.n, 1);
	f = finding_in(&R.last, 0x1000);
	CHECK(f != NULL);
	if (f) {
		CHECK_U64(f->kind, MW_FIND_TLS_OUTLIVED_THREAD);
		CHECK_U64(f->pid, PID);
		CHECK_U64(f->proc_id, P);
		CHECK_U64(f->tid, 101);
		CHECK_U64(f->key, 3);
		CHECK_U64(f->generation, 1);
		CHECK_U64(f->alloc_tid, 101);
		CHECK_U64(f->size, 64);
		CHECK_U64(f->site, SITE1);
		CHECK_U64(f->alloc_ts, MS(2));
		CHECK_U64(f->trigger_ts, MS(1000));
		CHECK_U64(f->found_ts, MS(1500));
		CHECK(f->id != 0 && f->id != P);
	}
	CHECK(last_proc(PID) && last_proc(PID)->findings == 1);
	CHECK_U64(stats().pending, 0);
	CHECK_U64(stats().findings, 1);
	/* Decided once. */
	CHECK(tick_flush(5000) == 0);
	CHECK_U64(R.last.findings.n, 0);
	CHECK_U64(stats().findings, 1);
	teardown();
}

static void test_thread_rule_freed_within_grace(void)
{
	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 64, SITE1);
	tset(101, 3, 1, 0x1000);
	texit(101, 1000);
	fr(PID, 1499, 0x1000); /* main frees it just after */
	CHECK(tick_flush(1500) == 0);
	CHECK(tick_flush(9000) == 0);
	CHECK_U64(stats().findings, 0);
	CHECK_U64(stats().pending, 0);
	CHECK_U64(M.st_findings.len, 0);
	teardown();
}

static void test_thread_rule_destructor_frees(void)
{
	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0x401136); /* pthread_key_create(&k, free) */
	tstart(101, 2);
	al(101, 3, 0x1000, 64, SITE1);
	tset(101, 4, 1, 0x1000);
	/* glibc runs the destructor in the exiting thread. */
	fr(101, 999, 0x1000);
	texit(101, 1000);
	CHECK(tick_flush(2000) == 0);
	CHECK_U64(M.st_findings.len, 0);
	CHECK(last_key(1, 1) != NULL);
	CHECK(last_key(1, 1) && last_key(1, 1)->destructor == 0x401136);
	CHECK(last_key(1, 1) && last_key(1, 1)->create_tid == PID);
	CHECK(last_key(1, 1) && last_key(1, 1)->create_ts == MS(1));
	teardown();
}

static void test_thread_rule_not_on_group_exit(void)
{
	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 64, SITE1);
	al(102, 2, 0x2000, 64, SITE1);
	tset(101, 3, 1, 0x1000);
	tset(102, 3, 1, 0x2000);
	texit_group(101, 1000);
	texit_group(102, 1000);
	CHECK_U64(stats().pending, 0);
	CHECK(tick_flush(5000) == 0);
	CHECK(last_thread(101) && last_thread(101)->state == MW_THREAD_GONE);
	pexit(5001, 0);
	CHECK(flush_at(5002) == 0);
	CHECK_U64(M.st_findings.len, 0);
	CHECK_U64(stats().findings, 0);
	teardown();
}

static void test_proc_exit_decides_pending(void)
{
	const struct mw_finding_row *f;
	const struct mw_process_row *p;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	kcreate(PID, 1, 2, 0);
	al(101, 2, 0x1000, 64, SITE1);
	al(102, 2, 0x2000, 32, SITE2);
	tset(101, 3, 1, 0x1000);
	tset(102, 3, 2, 0x2000);
	texit(101, 1000);
	kdelete(PID, 1001, 2);
	CHECK_U64(stats().pending, 2);
	pexit(1002, 3); /* well within the grace */
	CHECK_U64(stats().pending, 0);
	CHECK(flush_at(1002) == 0);
	CHECK_U64(R.last.findings.n, 2);
	f = finding_in(&R.last, 0x1000);
	CHECK(f && f->kind == MW_FIND_TLS_OUTLIVED_THREAD);
	CHECK(f && f->found_ts == MS(1002) && f->trigger_ts == MS(1000));
	f = finding_in(&R.last, 0x2000);
	CHECK(f && f->kind == MW_FIND_TLS_OUTLIVED_KEY);
	CHECK(f && f->found_ts == MS(1002) && f->tid == 102 && f->key == 2);
	p = last_proc(PID);
	CHECK(p != NULL);
	if (p) {
		CHECK_U64(p->state, MW_PROC_EXITED);
		CHECK_U64(p->exit_code, 3);
		CHECK_U64(p->end_ts, MS(1002));
		CHECK_U64(p->findings, 2);
	}
	/* 102 was still alive: it died with the process. */
	CHECK(last_thread(102) && last_thread(102)->state == MW_THREAD_GONE);
	CHECK(last_thread(101) && last_thread(101)->state == MW_THREAD_EXITED);
	CHECK_U64(stats().processes, 0);
	teardown();
}

/* --- tls-outlived-key, key reuse, setspecific --------------------------- */

static void test_key_rule_live_threads(void)
{
	const struct mw_finding_row *f;
	const struct mw_key_row *k;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 5, 0x401136);
	al(101, 2, 0x1000, 1024, SITE1);
	al(102, 2, 0x2000, 1024, SITE1);
	al(103, 2, 0x3000, 1024, SITE1);
	tset(101, 3, 5, 0x1000);
	tset(102, 3, 5, 0x2000);
	tset(103, 3, 5, 0x3000);
	CHECK(flush_at(4) == 0);
	CHECK(last_key(5, 1) && last_key(5, 1)->bindings == 3);
	kdelete(PID, 1000, 5);
	fr(103, 1200, 0x3000); /* 103 cleans up in time */
	CHECK(tick_flush(1499) == 0);
	CHECK_U64(R.last.findings.n, 0);
	k = last_key(5, 1);
	CHECK(k != NULL);
	if (k) {
		CHECK_U64(k->state, MW_KEY_DELETED);
		CHECK_U64(k->delete_ts, MS(1000));
		CHECK_U64(k->bindings, 0);
	}
	CHECK(tick_flush(1500) == 0);
	CHECK_U64(R.last.findings.n, 2);
	for (uint32_t tid = 101; tid <= 102; tid++) {
		f = finding_in(&R.last, 0x1000 * (tid - 100));
		CHECK(f != NULL);
		if (!f)
			continue;
		CHECK_U64(f->kind, MW_FIND_TLS_OUTLIVED_KEY);
		CHECK_U64(f->tid, tid);
		CHECK_U64(f->alloc_tid, tid);
		CHECK_U64(f->key, 5);
		CHECK_U64(f->generation, 1);
		CHECK_U64(f->size, 1024);
		CHECK_U64(f->trigger_ts, MS(1000));
	}
	/* The threads live on, then exit: no second finding. */
	CHECK(last_thread(101) == NULL ||
	      last_thread(101)->state == MW_THREAD_ALIVE);
	texit(101, 2000);
	texit(102, 2000);
	CHECK(tick_flush(9000) == 0);
	CHECK_U64(R.last.findings.n, 0);
	CHECK_U64(stats().findings, 2);
	teardown();
}

static void test_key_reuse_generations(void)
{
	const struct mw_key_row *k;
	const struct mw_binding_row *b;
	const struct mw_finding_row *f;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 7, 0);
	al(101, 2, 0xa000, 10, SITE1);
	al(102, 2, 0xc000, 30, SITE1);
	tset(101, 2, 7, 0xa000);
	tset(102, 2, 7, 0xc000); /* never freed: a key finding, gen 1 */
	kdelete(PID, 10, 7);
	fr(101, 11, 0xa000);
	tset(101, 11, 7, 0xd000); /* on a deleted key: refused */
	kcreate(PID, 12, 7, 0);	  /* the same id again */
	al(101, 13, 0xb000, 20, SITE2);
	tset(101, 13, 7, 0xb000);
	CHECK(flush_at(14) == 0);
	k = last_key(7, 1);
	CHECK(k && k->state == MW_KEY_DELETED && k->bindings == 0);
	k = last_key(7, 2);
	CHECK(k != NULL);
	if (k) {
		CHECK_U64(k->state, MW_KEY_LIVE);
		CHECK_U64(k->create_ts, MS(12));
		CHECK_U64(k->bindings, 1);
	}
	b = last_binding(101, 7);
	CHECK(b != NULL);
	if (b) {
		CHECK_U64(b->generation, 2);
		CHECK_U64(b->value, 0xb000);
		CHECK_U64(b->size, 20);
		CHECK_U64(b->set_ts, MS(13));
	}
	/* Both threads exit: only 101 holds a gen-2 value. */
	texit(101, 100);
	texit(102, 100);
	CHECK(tick_flush(1000) == 0);
	CHECK_U64(M.st_findings.len, 2);
	f = finding_in(&R.last, 0xc000);
	CHECK(f && f->kind == MW_FIND_TLS_OUTLIVED_KEY);
	CHECK(f && f->generation == 1 && f->tid == 102);
	f = finding_in(&R.last, 0xb000);
	CHECK(f && f->kind == MW_FIND_TLS_OUTLIVED_THREAD);
	CHECK(f && f->generation == 2 && f->key == 7 && f->tid == 101);
	CHECK(finding_in(&R.last, 0xa000) == NULL);
	teardown();
}

static void test_setspecific_overwrite(void)
{
	const struct mw_binding_row *b;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 10, SITE1);
	al(101, 2, 0x2000, 20, SITE1);
	tset(101, 3, 1, 0x1000);
	tset(101, 4, 1, 0x2000); /* replaces; 0x1000 stays live */
	CHECK(flush_at(5) == 0);
	b = last_binding(101, 1);
	CHECK(b && b->value == 0x2000 && b->size == 20);
	CHECK(last_key(1, 1) && last_key(1, 1)->bindings == 1);
	texit(101, 10);
	/* The overwritten block, after its grace; then the last value. */
	CHECK(tick_flush(503) == 0);
	CHECK_U64(R.last.findings.n, 0);
	CHECK(tick_flush(504) == 0);
	CHECK_U64(R.last.findings.n, 1);
	CHECK(finding_in(&R.last, 0x1000) != NULL &&
	      finding_in(&R.last, 0x1000)->kind == MW_FIND_TLS_OVERWRITTEN &&
	      finding_in(&R.last, 0x1000)->severity == MW_SEV_MEDIUM);
	CHECK(tick_flush(600) == 0);
	CHECK_U64(R.last.findings.n, 1);
	CHECK(finding_in(&R.last, 0x2000) != NULL &&
	      finding_in(&R.last, 0x2000)->kind == MW_FIND_TLS_OUTLIVED_THREAD);
	teardown();
}

/* Freeing the old value right after replacing it is the usual order: no
 * finding. Setting the same value again is no overwrite. */
static void test_setspecific_overwrite_freed(void)
{
	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 10, SITE1);
	al(101, 2, 0x2000, 20, SITE1);
	tset(101, 3, 1, 0x1000);
	tset(101, 3, 1, 0x1000);
	tset(101, 4, 1, 0x2000);
	fr(101, 5, 0x1000);
	tset(101, 6, 1, 0);
	fr(101, 6, 0x2000);
	CHECK(tick_flush(2000) == 0);
	CHECK_U64(R.last.findings.n, 0);
	CHECK_U64(stats().findings, 0);
	teardown();
}

static void test_setspecific_null_clears(void)
{
	const struct mw_binding_row *b;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 10, SITE1);
	tset(101, 3, 1, 0x1000);
	CHECK(flush_at(4) == 0);
	tset(101, 5, 1, 0);
	CHECK(flush_at(6) == 0);
	b = last_binding(101, 1);
	CHECK(b && b->value == 0);
	CHECK(last_key(1, 1) && last_key(1, 1)->bindings == 0);
	texit(101, 10);
	CHECK(tick_flush(9000) == 0);
	CHECK_U64(M.st_findings.len, 0);
	CHECK_U64(stats().pending, 0);
	teardown();
}

static void test_address_reuse_unbound(void)
{
	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 10, SITE1);
	tset(101, 3, 1, 0x1000);
	fr(101, 4, 0x1000);
	al(101, 5, 0x1000, 99, SITE2); /* same address, a new block */
	al(102, 5, 0x2000, 10, SITE1);
	tset(102, 6, 1, 0x2000);
	fr(102, 7, 0x2000);
	al(103, 8, 0x2000, 10, SITE1); /* reused by another thread */
	texit(101, 10);
	texit(102, 10);
	CHECK(tick_flush(9000) == 0);
	CHECK_U64(M.st_findings.len, 0);
	CHECK_U64(stats().pending, 0);
	teardown();
}

static void test_report_once(void)
{
	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	kcreate(PID, 1, 2, 0);
	kcreate(PID, 1, 3, 0);
	/* One block under two keys of one thread; key 1 deleted, then the
	 * thread exits. */
	al(101, 2, 0x1000, 10, SITE1);
	tset(101, 3, 1, 0x1000);
	tset(101, 3, 2, 0x1000);
	/* One block shared by two threads' slots. */
	al(102, 2, 0x2000, 20, SITE1);
	tset(102, 3, 3, 0x2000);
	tset(103, 3, 3, 0x2000);
	texit(102, 1000);
	kdelete(PID, 1000, 1);
	texit(101, 1100);
	texit(103, 1100);
	CHECK(tick_flush(1550) == 0);
	CHECK_U64(R.last.findings.n, 2);
	CHECK(finding_in(&R.last, 0x1000) &&
	      finding_in(&R.last, 0x1000)->kind == MW_FIND_TLS_OUTLIVED_KEY);
	CHECK(finding_in(&R.last, 0x2000) &&
	      finding_in(&R.last, 0x2000)->tid == 102);
	CHECK(tick_flush(9000) == 0);
	pexit(9001, 0);
	CHECK(flush_at(9002) == 0);
	CHECK_U64(M.st_findings.len, 2);
	CHECK_U64(stats().findings, 2);
	CHECK_U64(stats().pending, 0);
	teardown();
}

/* A finding's block resized in place is the same block: not reported
 * again when another slot holding it dies. */
static void test_report_once_after_realloc_in_place(void)
{
	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 10, SITE1);
	tset(101, 3, 1, 0x1000);
	tset(102, 3, 1, 0x1000);
	texit(101, 10);
	CHECK(tick_flush(510) == 0);
	CHECK_U64(R.last.findings.n, 1);
	re(102, 600, 0x1000, 0x1000, 20);
	texit(102, 700);
	CHECK(tick_flush(5000) == 0);
	CHECK_U64(R.last.findings.n, 0);
	CHECK_U64(stats().findings, 1);
	teardown();
}

static void test_key_predates_tracing(void)
{
	const struct mw_key_row *k;

	setup(500, 1000);
	attach(PID, 0);
	al(101, 2, 0x1000, 10, SITE1);
	tset(101, 3, 9, 0x1000); /* key 9 was created before attach */
	CHECK(flush_at(4) == 0);
	k = last_key(9, 1);
	CHECK(k != NULL);
	if (k) {
		CHECK_U64(k->state, MW_KEY_LIVE);
		CHECK_U64(k->create_tid, 0);
		CHECK_U64(k->create_ts, 0);
		CHECK_U64(k->bindings, 1);
	}
	kdelete(PID, 10, 9);
	CHECK(tick_flush(510) == 0);
	CHECK(finding_in(&R.last, 0x1000) &&
	      finding_in(&R.last, 0x1000)->kind == MW_FIND_TLS_OUTLIVED_KEY);
	teardown();
}

static void test_binding_row(void)
{
	const struct mw_binding_row *b;
	const struct mw_block_row *blk;

	setup(500, 0);
	attach(PID, 0);
	kcreate(PID, 1, 4, 0);
	al(101, 2, 0x1000, 48, SITE1);
	tset(101, 3, 4, 0x1000);
	tset(102, 3, 4, 0x5555); /* not a block we know */
	CHECK(flush_at(4) == 0);
	blk = add_in(&R.last, 0x1000);
	b = last_binding(101, 4);
	CHECK(b && blk);
	if (b && blk) {
		CHECK_U64(b->proc_id, P);
		CHECK_U64(b->generation, 1);
		CHECK_U64(b->value, 0x1000);
		CHECK_U64(b->block, blk->serial);
		CHECK_U64(b->size, 48);
		CHECK_U64(b->set_ts, MS(3));
	}
	b = last_binding(102, 4);
	CHECK(b && b->value == 0x5555 && b->block == 0 && b->size == 0);
	CHECK(last_key(4, 1) && last_key(4, 1)->bindings == 2);
	texit(102, 5);
	CHECK(tick_flush(1000) == 0);
	CHECK_U64(R.last.findings.n, 0);
	teardown();
}

/* --- lists in TLS and tls-overwritten rows ------------------------------ */

/* pthread_setspecific as the eBPF collector reports it: old is the value
 * it knew the thread had set (0: none), code where the new value holds
 * old (-1: nowhere it looked). */
static void tset_checked(uint32_t tid, uint64_t t, uint32_t key,
			 uint64_t value, uint64_t old, int32_t code)
{
	struct mw_event ev = ev_tls_set(PID, tid, MS(t), key, value);

	ev.flags |= MW_EVF_LINK_CHECKED;
	ev.old_addr = old;
	ev.code = code;
	CHECK(feed(ev) == 0);
}

/* The findings in R.last of kind. */
static size_t nkind(uint32_t kind)
{
	size_t n = 0;

	for (size_t i = 0; i < R.last.findings.n; i++)
		n += R.last.findings.v[i].kind == kind;
	return n;
}

/* r->next = pthread_getspecific(k); pthread_setspecific(k, r): every old
 * head stays reachable from the new one. 1000 pushes, no finding; the
 * link may be anywhere in the node. Popping (the head's next set back,
 * the head freed) is no overwrite either. */
static void test_tls_list_push(void)
{
	uint64_t head = 0;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	for (uint64_t i = 0; i < 1000; i++) {
		uint64_t node = 0x100000 + i * 0x40;

		al(101, 2, node, 48, SITE1);
		/* Nodes whose next pointer is the third word, then the
		 * first. */
		tset_checked(101, 2, 1, node, head, head ? (i < 500 ? 16 : 0)
							  : -1);
		head = node;
	}
	CHECK_U64(stats().pending, 0);
	/* Pop two: the slot gets the next node back, the head is freed. */
	tset_checked(101, 3, 1, head - 0x40, head, -1);
	fr(101, 3, head);
	tset_checked(101, 3, 1, head - 0x80, head - 0x40, -1);
	fr(101, 3, head - 0x40);
	CHECK(tick_flush(1000) == 0);
	CHECK_U64(R.last.findings.n, 0);
	CHECK_U64(stats().findings, 0);
	CHECK_U64(stats().pending, 0);
	CHECK(last_binding(101, 1) && last_binding(101, 1)->value ==
					      head - 0x80);
	teardown();
}

/* N values dropped at one site, by two threads: one row for (key, site),
 * count N, handed again with the same id as evidence grows. Another site
 * and another key have rows of their own. */
static void test_tls_overwrite_one_row(void)
{
	const struct mw_finding_row *f;
	uint64_t id;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	kcreate(PID, 1, 2, 0);
	for (uint32_t tid = 101; tid <= 102; tid++)
		for (uint64_t i = 0; i <= 300; i++) {
			uint64_t v = 0x100000 * tid + i * 0x100;

			al(tid, 2, v, 64, SITE1);
			tset_checked(tid, 2, 1, v, i ? v - 0x100 : 0, -1);
		}
	CHECK_U64(stats().pending, 600);
	CHECK(tick_flush(1000) == 0);
	CHECK_U64(R.last.findings.n, 1);
	f = R.last.findings.n ? &R.last.findings.v[0] : NULL;
	CHECK(f != NULL);
	if (!f) {
		teardown();
		return;
	}
	id = f->id;
	CHECK_U64(f->kind, MW_FIND_TLS_OVERWRITTEN);
	CHECK_U64(f->severity, MW_SEV_MEDIUM);
	CHECK_U64(f->count, 600);
	CHECK_U64(f->bytes, 600 * 64);
	CHECK_U64(f->threads, 2);
	CHECK_U64(f->key, 1);
	CHECK_U64(f->generation, 1);
	CHECK_U64(f->site, SITE1);
	CHECK_U64(f->size, 64);
	CHECK_U64(f->first_ts, MS(1000));
	CHECK_U64(f->last_ts, MS(1000));
	CHECK_U64(stats().findings, 1);
	CHECK(last_proc(PID) && last_proc(PID)->findings == 1);

	/* Ten more at the same site, then one at another site and one of
	 * another key. */
	for (uint64_t i = 301; i <= 310; i++) {
		uint64_t v = 0x100000 * 101 + i * 0x100;

		al(101, 2000, v, 64, SITE1);
		tset_checked(101, 2000, 1, v, v - 0x100, -1);
	}
	al(101, 2000, 0x900000, 32, SITE2);
	tset_checked(101, 2000, 1, 0x900000, 0x100000 * 101 + 310 * 0x100,
		     -1);
	al(101, 2000, 0x910000, 32, SITE2);
	tset_checked(101, 2000, 1, 0x910000, 0x900000, -1);
	al(103, 2000, 0x920000, 16, SITE1);
	tset_checked(103, 2000, 2, 0x920000, 0, -1);
	al(103, 2000, 0x930000, 16, SITE1);
	tset_checked(103, 2000, 2, 0x930000, 0x920000, -1);
	CHECK(tick_flush(3000) == 0);
	CHECK_U64(R.last.findings.n, 3);
	for (size_t i = 0; i < R.last.findings.n; i++) {
		f = &R.last.findings.v[i];
		CHECK_U64(f->kind, MW_FIND_TLS_OVERWRITTEN);
		if (f->id == id) {
			CHECK_U64(f->count, 611);
			CHECK_U64(f->bytes, 611 * 64);
			CHECK_U64(f->first_ts, MS(1000));
			CHECK_U64(f->last_ts, MS(3000));
			CHECK_U64(f->addr, 0x100000 * 101 + 310 * 0x100);
		} else if (f->key == 1) {
			CHECK_U64(f->site, SITE2);
			CHECK_U64(f->count, 1);
			CHECK_U64(f->addr, 0x900000);
		} else {
			CHECK_U64(f->key, 2);
			CHECK_U64(f->count, 1);
			CHECK_U64(f->tid, 103);
		}
	}
	CHECK_U64(stats().findings, 3);
	/* Nothing new: no row is handed again. */
	CHECK(tick_flush(4000) == 0);
	CHECK_U64(R.last.findings.n, 0);
	teardown();
}

/*
 * Pushes and overwrites mixed in one thread: only what was dropped
 * counts, and the row resolves once all it counts are freed. A link past the end of the new block is another block's word;
 * a collector that remembered another old value than the engine's says
 * nothing (not judged); one that does not check (no flag) is taken at its
 * word: every replacement is judged.
 */
static void test_tls_push_and_overwrite_mixed(void)
{
	const struct mw_finding_row *f;

	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 32, SITE1);
	tset_checked(101, 2, 1, 0x1000, 0, -1);
	al(101, 3, 0x1100, 32, SITE1);
	tset_checked(101, 3, 1, 0x1100, 0x1000, 0); /* push */
	al(101, 4, 0x1200, 32, SITE1);
	tset_checked(101, 4, 1, 0x1200, 0x1100, -1); /* drops 0x1100 */
	al(101, 5, 0x1300, 32, SITE1);
	tset_checked(101, 5, 1, 0x1300, 0x1200, 24); /* push */
	al(101, 6, 0x1400, 16, SITE1);
	tset_checked(101, 6, 1, 0x1400, 0x1300, 16); /* past its end */
	al(101, 7, 0x1500, 32, SITE1);
	tset_checked(101, 7, 1, 0x1500, 0x9999, -1); /* not this old */
	al(101, 8, 0x1600, 32, SITE1);
	tset(101, 8, 1, 0x1600); /* unchecked: 0x1500 dropped */
	CHECK_U64(stats().pending, 3);
	CHECK(tick_flush(1000) == 0);
	CHECK_U64(nkind(MW_FIND_TLS_OVERWRITTEN), 1);
	f = finding_in(&R.last, 0x1500);
	CHECK(f && f->count == 3 && f->bytes == 96 && f->threads == 1 &&
	      f->tid == 101 && !f->resolved_ts);
	CHECK_U64(stats().findings, 1);
	/* Its blocks freed, the row resolves at the last one, and what is
	 * dropped afterwards makes a new row. */
	fr(102, 1100, 0x1100);
	fr(102, 1100, 0x1300);
	CHECK(flush_at(1100) == 0);
	f = finding_in(&R.last, 0x1500);
	CHECK(f && f->count == 3 && !f->resolved_ts);
	fr(102, 1200, 0x1500);
	CHECK(flush_at(1200) == 0);
	f = finding_in(&R.last, 0x1500);
	CHECK(f && f->count == 3 && f->resolved_ts == MS(1200));
	al(101, 1300, 0x1700, 32, SITE1);
	tset_checked(101, 1300, 1, 0x1700, 0x1600, -1);
	CHECK(tick_flush(2000) == 0);
	f = finding_in(&R.last, 0x1600);
	CHECK(f && f->count == 1 && !f->resolved_ts);
	CHECK_U64(stats().findings, 2);
	teardown();
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_thread_rule_fires_after_grace_only),
    UNIT_CASE(test_thread_rule_freed_within_grace),
    UNIT_CASE(test_thread_rule_destructor_frees),
    UNIT_CASE(test_thread_rule_not_on_group_exit),
    UNIT_CASE(test_proc_exit_decides_pending),
    UNIT_CASE(test_key_rule_live_threads),
    UNIT_CASE(test_key_reuse_generations),
    UNIT_CASE(test_setspecific_overwrite),
    UNIT_CASE(test_setspecific_overwrite_freed),
    UNIT_CASE(test_setspecific_null_clears),
    UNIT_CASE(test_address_reuse_unbound),
    UNIT_CASE(test_report_once),
    UNIT_CASE(test_report_once_after_realloc_in_place),
    UNIT_CASE(test_key_predates_tracing),
    UNIT_CASE(test_binding_row),
    UNIT_CASE(test_tls_list_push),
    UNIT_CASE(test_tls_overwrite_one_row),
    UNIT_CASE(test_tls_push_and_overwrite_mixed),
};

int main(int argc, char **argv)
{
	engine_fixture__init(&unit_failed_now);
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
