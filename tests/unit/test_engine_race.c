/*
 * test_engine_race.c - unit tests of the allocator-race rule
 * (engine/engine_race.c): unlocked overlaps of a user's pair make one
 * finding per pair of call sites once the pool has enough of them; a
 * pool that ever locked or slept, and calls that reached the allocator,
 * never do; frees through the pair by other threads are counted into the
 * detail; pairs and processes are kept apart.
 *
 * The engine is fed hand-made events and flushed into the recording sink
 * through the fixture the engine's tests share
 * (tests/support/engine_fixture.h).
 *
 * Times in the helpers are milliseconds; the engine sees nanoseconds.
 */
#include <stdint.h>
#include <string.h>

#include "engine_fixture.h"
#include "unit.h"

#define FILL 0x401100ull  /* pool_alloc's call site */
#define DRAIN 0x401200ull /* pool_free's call site */

/* Thread tid's call at site, of pair pair, entered while thread other
 * was inside the pair at other_site, with the locks probed; flags
 * MW_EVF_LOCKED etc. */
static void overlap(uint32_t tid, uint64_t t, uint64_t site, uint32_t other,
		    uint64_t other_site, uint32_t pair, uint32_t flags)
{
	uint64_t frames[2] = {site, other_site};

	FEED(.type = MW_EV_POOL_OVERLAP, .pid = PID, .tid = tid, .ts = MS(t),
	     .site = site, .old_addr = other_site, .key = other,
	     .code = (int32_t)pair, .flags = flags | MW_EVF_WATCHED,
	     .frames = frames,
	     .nframes = 2,
	     .path = site == FILL ? "pool_alloc,pool_free"
				  : "pool_free,pool_alloc");
}

/* A free through pair's --free function by tid. */
static void pool_free(uint32_t tid, uint64_t t, uint64_t addr, uint32_t pair)
{
	FEED(.type = MW_EV_FREE, .pid = PID, .tid = tid, .ts = MS(t),
	     .addr = addr, .site = DRAIN, .key = pair, .flags = MW_EVF_POOL);
}

static int races(const struct recsink_rows *w)
{
	int n = 0;

	for (size_t i = 0; i < w->findings.n; i++)
		n += w->findings.v[i].kind == MW_FIND_ALLOCATOR_RACE;
	return n;
}

static const struct mw_finding_row *race_at(uint64_t site)
{
	for (size_t i = 0; i < R.findings.n; i++)
		if (R.findings.v[i].kind == MW_FIND_ALLOCATOR_RACE &&
		    R.findings.v[i].site == site)
			return &R.findings.v[i];
	return NULL;
}

static void test_unlocked_overlaps(void)
{
	const struct mw_finding_row *f;
	const struct mw_stack_row *st = NULL;

	setup(500, 0);
	attach(PID, 0);
	tstart(101, 0);
	tstart(102, 0);
	/* Two overlaps: not yet (one could be a call whose lock was not
	 * seen yet). */
	overlap(101, 1, FILL, 102, DRAIN, 1, 0);
	overlap(102, 2, DRAIN, 101, FILL, 1, 0);
	CHECK(tick_flush(10) == 0);
	CHECK(races(&R.last) == 0);
	/* The third: one finding for the two sites, either way round. */
	overlap(101, 20, FILL, 102, DRAIN, 1, 0);
	CHECK(tick_flush(30) == 0);
	CHECK(races(&R.last) == 1);
	f = race_at(FILL);
	CHECK(f != NULL);
	if (f) {
		CHECK_U64(f->severity, MW_SEV_HIGH);
		CHECK_U64(f->tid, 101);
		CHECK_U64(f->alloc_tid, 102);
		CHECK_U64(f->count, 3);
		CHECK_U64(f->threads, 2);
		CHECK(strstr(f->detail, "pool_alloc (thread 101) ran while "
					"pool_free (thread 102) was inside") !=
		      NULL);
		CHECK(strstr(f->detail, "3x here, 3x in pool") != NULL);
		for (size_t i = 0; i < R.stacks.n; i++)
			if (R.stacks.v[i].id == f->stack_id)
				st = &R.stacks.v[i];
		/* Its stack is the two call sites, both handed as sites. */
		CHECK(st && st->nframes == 2 && st->frames[0] == FILL &&
		      st->frames[1] == DRAIN);
		CHECK(st_site_count(P, DRAIN) == 1);
	}
	/* Evidence grows on the same row. */
	overlap(102, 40, DRAIN, 101, FILL, 1, 0);
	CHECK(tick_flush(50) == 0);
	CHECK(races(&R.last) == 1);
	f = race_at(FILL);
	CHECK(f && f->count == 4 && f->tid == 101 && f->alloc_tid == 102);
	CHECK_U64(R.findings.n, 1);
	teardown();
}

/* Overlaps begun before the process's locks were probed are no evidence:
 * they may have locked unseen. */
static void test_unwatched_no_evidence(void)
{
	uint64_t frames[2] = {FILL, DRAIN};

	setup(500, 0);
	attach(PID, 0);
	tstart(101, 0);
	tstart(102, 0);
	for (int i = 0; i < 10; i++)
		FEED(.type = MW_EV_POOL_OVERLAP, .pid = PID, .tid = 101,
		     .ts = MS(1 + i), .site = FILL, .old_addr = DRAIN,
		     .key = 102, .code = 1, .frames = frames, .nframes = 2,
		     .path = "pool_alloc,pool_free");
	CHECK(tick_flush(20) == 0);
	CHECK_U64(R.findings.n, 0);
	overlap(101, 21, FILL, 102, DRAIN, 1, 0);
	overlap(101, 22, FILL, 102, DRAIN, 1, 0);
	CHECK(tick_flush(30) == 0);
	CHECK_U64(R.findings.n, 0);
	overlap(101, 31, FILL, 102, DRAIN, 1, 0);
	CHECK(tick_flush(40) == 0);
	CHECK(races(&R.last) == 1);
	CHECK(race_at(FILL) && race_at(FILL)->count == 3);
	teardown();
}

/* A pool whose calls take a lock overlaps at entry all the time (one
 * thread waits inside): never a race; nor is a pool whose call slept. */
static void test_locked_pool_silent(void)
{
	setup(500, 0);
	attach(PID, 0);
	tstart(101, 0);
	tstart(102, 0);
	tstart(103, 0);
	overlap(101, 1, FILL, 102, FILL, 1, MW_EVF_LOCKED);
	for (int i = 0; i < 10; i++)
		overlap(102, 2 + i, FILL, 101, DRAIN, 1, 0);
	/* Pair 2 slept once: serialized as well. */
	overlap(103, 20, FILL, 101, FILL, 2, MW_EVF_BLOCKED);
	for (int i = 0; i < 10; i++)
		overlap(103, 21 + i, FILL, 102, DRAIN, 2, 0);
	CHECK(tick_flush(100) == 0);
	CHECK_U64(R.findings.n, 0);
	teardown();
}

/* Calls that reached malloc or free delegated to a thread-safe
 * allocator: no evidence; the pool's own unlocked calls still are. */
static void test_delegated_calls(void)
{
	setup(500, 0);
	attach(PID, 0);
	tstart(101, 0);
	tstart(102, 0);
	for (int i = 0; i < 10; i++)
		overlap(101, 1 + i, FILL, 102, DRAIN, 1, MW_EVF_DELEGATED);
	CHECK(tick_flush(20) == 0);
	CHECK_U64(R.findings.n, 0);
	for (int i = 0; i < 3; i++)
		overlap(102, 30 + i, DRAIN, 101, DRAIN, 1, 0);
	CHECK(tick_flush(40) == 0);
	CHECK(races(&R.last) == 1);
	CHECK(race_at(DRAIN) != NULL);
	teardown();
}

/* Frees through the pool of blocks another thread allocated are counted
 * into the pool's findings; pairs are apart. */
static void test_cross_frees_and_pairs(void)
{
	const struct mw_finding_row *f;

	setup(500, 0);
	attach(PID, 0);
	tstart(101, 0);
	tstart(102, 0);
	al(101, 1, 0x1000, 64, FILL);
	al(101, 1, 0x2000, 64, FILL);
	al(102, 1, 0x3000, 64, FILL);
	pool_free(102, 2, 0x1000, 1);
	pool_free(102, 2, 0x3000, 1);
	/* Pair 2's overlaps never make pair 1 racy. */
	for (int i = 0; i < 2; i++)
		overlap(101, 3 + i, FILL, 102, DRAIN, 2, 0);
	overlap(101, 5, FILL, 102, DRAIN, 1, 0);
	overlap(101, 6, FILL, 102, DRAIN, 1, 0);
	CHECK(tick_flush(10) == 0);
	CHECK_U64(R.findings.n, 0);
	overlap(101, 11, FILL, 102, DRAIN, 1, 0);
	CHECK(tick_flush(20) == 0);
	f = race_at(FILL);
	CHECK(f != NULL);
	if (f)
		CHECK(strstr(f->detail, "; 1/2 frees cross-thread") != NULL);
	/* Another cross-thread free updates the row. */
	pool_free(102, 21, 0x2000, 1);
	CHECK(tick_flush(30) == 0);
	f = race_at(FILL);
	CHECK(f && strstr(f->detail, "; 2/3 frees cross-thread") != NULL);
	CHECK(races(&R.last) == 1);
	teardown();
}

/* A process whose events were lost before the overlaps began gets no
 * new finding from them (what the trace missed may be the lock). */
static void test_incomplete_withheld(void)
{
	setup(500, 0);
	attach(PID, 0);
	tstart(101, 0);
	tstart(102, 0);
	FEED(.type = MW_EV_LOST, .pid = PID, .ts = MS(5), .addr = MS(1),
	     .count = 1);
	for (int i = 0; i < 3; i++)
		overlap(101, 2 + i, FILL, 102, DRAIN, 1, 0);
	CHECK(tick_flush(10) == 0);
	CHECK_U64(R.findings.n, 0);
	CHECK(stats().withheld >= 1);
	/* Evidence after the loss counts. */
	overlap(101, 20, FILL, 102, DRAIN, 1, 0);
	CHECK(tick_flush(30) == 0);
	CHECK(races(&R.last) == 1);
	teardown();
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_unlocked_overlaps),
    UNIT_CASE(test_unwatched_no_evidence),
    UNIT_CASE(test_locked_pool_silent),
    UNIT_CASE(test_delegated_calls),
    UNIT_CASE(test_cross_frees_and_pairs),
    UNIT_CASE(test_incomplete_withheld),
};

int main(int argc, char **argv)
{
	engine_fixture__init(&unit_failed_now);
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
