/*
 * test_engine_flush.c - unit tests of the flush (engine/engine_flush.c)
 * into a sink that fails: a failed flush rolls back and hands the same
 * rows over again, and an exited process waits for a flush that succeeds.
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
#include <string.h>

#include "engine_fixture.h"
#include "unit.h"

/* --- failing sinks ----------------------------------------------------- */

static void finding_setup(void)
{
	setup(500, 0);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 64, SITE1);
	tset(101, 3, 1, 0x1000);
	texit(101, 4);
	engine__tick(E, MS(600));
}

static void test_flush_finding_fails_once(void)
{
	uint64_t id = 0;

	finding_setup();
	R.fail_finding = 1;
	CHECK(flush_at(600) == -EIO);
	CHECK_U64(R.rollbacks, 1);
	CHECK_U64(R.commits, 0);
	CHECK_U64(M.st_findings.len, 0);
	CHECK_U64(M.st_blocks.len, 0);
	CHECK(flush_at(601) == 0);
	CHECK_U64(R.commits, 1);
	CHECK_U64(R.last.findings.n, 1);
	if (R.last.findings.n)
		id = R.last.findings.v[0].id;
	CHECK(finding_in(&R.last, 0x1000) != NULL);
	CHECK(add_in(&R.last, 0x1000) != NULL);
	CHECK(last_thread(101) && last_thread(101)->allocs == 1);
	CHECK(last_proc(PID) && last_proc(PID)->findings == 1);
	CHECK_U64(M.st_findings.len, 1);
	CHECK(hmap__get(&M.st_findings, id) != NULL);
	CHECK_U64(st_site_count(P, SITE1), 1);
	/* Handed over: gone. */
	CHECK(flush_at(602) == 0);
	CHECK_U64(R.last.findings.n, 0);
	CHECK_U64(R.last.adds.n, 0);
	teardown();
}

static void test_flush_commit_fails_once(void)
{
	struct recsink_rows first = {0};
	uint64_t id = 0;

	finding_setup();
	R.fail_commit = 1;
	CHECK(flush_at(600) == -EIO);
	CHECK_U64(R.rollbacks, 1);
	first = R.cur;
	memset(&R.cur, 0, sizeof(R.cur));
	CHECK_U64(first.findings.n, 1);
	CHECK(first.adds.n == 1 && first.sites.n == 1);
	if (first.findings.n)
		id = first.findings.v[0].id;
	CHECK_U64(M.st_findings.len, 0);
	CHECK(flush_at(601) == 0);
	CHECK_U64(R.last.findings.n, 1);
	CHECK(R.last.findings.n && R.last.findings.v[0].id == id);
	CHECK(R.last.adds.n == 1 && first.adds.n == 1 &&
	      R.last.adds.v[0].serial == first.adds.v[0].serial);
	/* The site announced in the rolled-back flush is announced again. */
	CHECK_U64(R.last.sites.n, 1);
	CHECK_U64(st_site_count(P, SITE1), 1);
	CHECK_U64(R.last.threads.n, first.threads.n);
	CHECK_U64(R.last.keys.n, first.keys.n);
	CHECK_U64(R.last.bindings.n, first.bindings.n);
	CHECK_U64(R.last.procs.n, first.procs.n);
	recsink_rows__free(&first);
	teardown();
}

static void test_flush_fails_midway(void)
{
	finding_setup();
	R.fail_block_add = 1;
	CHECK(flush_at(600) == -EIO);
	R.fail_thread = 1;
	CHECK(flush_at(601) == -EIO);
	R.fail_site = 1;
	CHECK(flush_at(602) == -EIO);
	R.fail_begin = 1;
	CHECK(flush_at(603) == -EIO);
	CHECK_U64(R.rollbacks, 3);
	CHECK_U64(R.commits, 0);
	CHECK(flush_at(604) == 0);
	CHECK_U64(R.last.findings.n, 1);
	CHECK_U64(R.last.adds.n, 1);
	CHECK_U64(R.last.sites.n, 1);
	CHECK(last_thread(101) != NULL);
	CHECK_U64(M.st_findings.len, 1);
	teardown();
}

static void test_flush_fail_at_proc_exit(void)
{
	/* An exited process waits for a successful flush before it goes. */
	setup(500, 1000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 2, 0x1000, 64, SITE1);
	tset(101, 3, 1, 0x1000);
	texit(101, 4);
	pexit(5, 0);
	R.fail_finding = 1;
	CHECK(flush_at(6) == -EIO);
	CHECK(flush_at(7) == 0);
	CHECK_U64(R.last.findings.n, 1);
	CHECK_U64(R.last.adds.n, 1);
	CHECK(last_proc(PID) && last_proc(PID)->state == MW_PROC_EXITED);
	CHECK(flush_at(8) == 0);
	CHECK_U64(R.last.procs.n, 0);
	teardown();
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_flush_finding_fails_once),
    UNIT_CASE(test_flush_commit_fails_once),
    UNIT_CASE(test_flush_fails_midway),
    UNIT_CASE(test_flush_fail_at_proc_exit),
};

int main(int argc, char **argv)
{
	engine_fixture__init(&unit_failed_now);
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
