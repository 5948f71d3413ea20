/*
 * test_engine_site.c - unit tests of allocation sites and stacks
 * (engine/engine_site.c): each site handed to the sink once per process,
 * the site of a finding on a young block, and stacks interned, classified
 * when first needed and handed over once; the exporters' walk of the
 * sites holding live blocks (engine__each_site).
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

#include "engine_fixture.h"
#include "unit.h"

/* --- sites ------------------------------------------------------------- */

static void test_site_once_per_process(void)
{
	uint64_t q;

	setup(500, 0);
	attach(PID, 0);
	q = attach(200, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 1, 0x1000, 8, SITE1);
	al(101, 1, 0x2000, 8, SITE1);
	al(101, 1, 0x3000, 8, SITE2);
	CHECK(flush_at(2) == 0);
	CHECK_U64(R.site_calls, 2);
	al(101, 3, 0x4000, 8, SITE1);
	al(101, 3, 0x5000, 8, SITE3);
	tset(101, 3, 1, 0x1000);
	texit(101, 4);
	CHECK(tick_flush(1000) == 0);
	CHECK_U64(R.last.findings.n, 1);
	CHECK_U64(R.last.sites.n, 1); /* SITE3 only */
	CHECK(R.last.sites.n && R.last.sites.v[0].ip == SITE3);
	CHECK(feed((struct mw_event){.type = MW_EV_ALLOC, .pid = 200,
				     .tid = 200, .ts = MS(1001),
				     .addr = 0x1000, .size = 8,
				     .site = SITE1}) == 0);
	CHECK(flush_at(1002) == 0);
	CHECK_U64(R.last.sites.n, 1);
	CHECK(R.last.sites.n && R.last.sites.v[0].proc_id == q &&
	      R.last.sites.v[0].pid == 200);
	CHECK_U64(st_site_count(P, SITE1), 1);
	CHECK_U64(st_site_count(P, SITE2), 1);
	CHECK_U64(st_site_count(P, SITE3), 1);
	CHECK_U64(st_site_count(q, SITE1), 1);
	CHECK_U64(R.site_calls, 4);
	teardown();
}

static void test_site_of_young_finding(void)
{
	setup(500, 60000);
	attach(PID, 0);
	kcreate(PID, 1, 1, 0);
	al(101, 1, 0x1000, 8, 0x401234);
	tset(101, 2, 1, 0x1000);
	texit(101, 3);
	CHECK(flush_at(4) == 0);
	CHECK_U64(R.last.sites.n, 0); /* a young block: not announced */
	CHECK(tick_flush(600) == 0);
	CHECK_U64(R.last.adds.n, 0);
	CHECK_U64(R.last.findings.n, 1);
	CHECK_U64(R.last.sites.n, 1);
	CHECK(R.last.sites.n && R.last.sites.v[0].ip == 0x401234);
	teardown();
}

/* --- stacks ---------------------------------------------------------------- */

static unsigned classify_calls;

static uint32_t classify_tls(void *ctx, uint32_t pid, const uint64_t *frames,
			     uint32_t n)
{
	classify_calls++;
	for (uint32_t i = 0; i < n; i++)
		if (frames[i] == SITE3)
			return MW_STACK_TLS_INIT;
	return 0;
}

static void al_stack(uint32_t tid, uint64_t t, uint64_t addr, uint64_t size,
		     const uint64_t *frames, uint32_t n)
{
	FEED(.type = MW_EV_ALLOC, .pid = PID, .tid = tid, .ts = MS(t),
	     .addr = addr, .size = size, .site = frames[0], .nframes = n,
	     .frames = frames);
}

static void test_stacks_dedup_and_flush(void)
{
	static const uint64_t a[] = {SITE1, 0x401000, 0x402000};
	static const uint64_t b[] = {SITE1, 0x401000, SITE3};
	struct engine_config cfg = {
		.grace_ns = MS(500),
		.persist_age_ns = 0,
		.classify = classify_tls,
	};
	const struct mw_block_row *r1, *r2, *r3;
	const struct mw_finding_row *f;
	size_t site_before = 0;

	rec_reset();
	classify_calls = 0;
	E = engine__new(&cfg, 1000);
	attach(PID, 0);
	tstart(101, 0);
	al_stack(101, 1, 0x1000, 16, a, 3);
	al_stack(101, 2, 0x2000, 16, a, 3);
	al_stack(101, 3, 0x3000, 32, b, 3);
	/* Classifying symbolizes: done when a stack is first needed. */
	CHECK_U64(classify_calls, 0);
	CHECK_U64(stats().stacks, 2);
	/* A failed flush hands the stacks over again. */
	R.fail_stack = 1;
	CHECK(flush_at(10) == -EIO);
	CHECK(flush_at(10) == 0);
	CHECK_U64(R.last.stacks.n, 2);
	CHECK_U64(classify_calls, 2);
	r1 = add_in(&R.last, 0x1000);
	r2 = add_in(&R.last, 0x2000);
	r3 = add_in(&R.last, 0x3000);
	CHECK(r1 && r2 && r3);
	if (r1 && r2 && r3) {
		CHECK(r1->stack_id != 0);
		CHECK_U64(r1->stack_id, r2->stack_id);
		CHECK(r3->stack_id != r1->stack_id);
	}
	for (size_t i = 0; i < R.last.stacks.n; i++) {
		const struct mw_stack_row *st = &R.last.stacks.v[i];

		CHECK_U64(st->nframes, 3);
		CHECK_U64(st->proc_id, P);
		CHECK_U64(st->flags, st->frames[2] == SITE3 ? MW_STACK_TLS_INIT
							     : 0);
	}
	/* Every frame is a site the store gets to symbolize. */
	for (size_t i = 0; i < R.last.sites.n; i++)
		site_before += R.last.sites.v[i].ip == 0x402000;
	CHECK_U64(site_before, 1);
	/* A later finding names its stack, which is not handed again. */
	kcreate(101, 20, 1, 0);
	tset(101, 21, 1, 0x3000);
	texit(101, 30);
	CHECK(tick_flush(600) == 0);
	CHECK_U64(R.last.stacks.n, 0);
	f = finding_in(&R.last, 0x3000);
	CHECK(f != NULL);
	if (f && r3) {
		CHECK_U64(f->stack_id, r3->stack_id);
		CHECK_U64(f->severity, MW_SEV_HIGH);
		CHECK_U64(f->count, 1);
		CHECK_U64(f->bytes, 32);
	}
	/* Allocations without a stack still work. */
	al(101, 40, 0x4000, 8, SITE2);
	CHECK(flush_at(2000) == 0);
	r1 = add_in(&R.last, 0x4000);
	CHECK(r1 && r1->stack_id == 0);
	teardown();
}

/* --- the culprit past allocation wrappers ---------------------------------- */

#define WRAP_IN 0x7000	/* in the inner wrapper: its malloc call */
#define WRAP_OUT 0x7100 /* in the outer wrapper: its call of the inner */

/* The daemon's classifier, as a table: a stack through the two wrappers
 * has them as frames 0 and 1; the engine's fan-out is what it was told. */
static uint32_t fan_seen[4], nfan_seen;

static uint32_t classify_wrap(void *ctx, uint32_t pid, const uint64_t *frames,
			      uint32_t n)
{
	static const uint8_t why[2] = {MW_WRAP_AUTO, MW_WRAP_AUTO};

	nfan_seen = engine__stack_fanout(E, pid, frames, n, fan_seen, 4);
	if (n > 2 && frames[0] == WRAP_IN && frames[1] == WRAP_OUT)
		return mw_stack_set_culprit(0, 2, why);
	return 0;
}

static void test_culprit_past_wrappers(void)
{
	struct engine_config cfg = {
	    .grace_ns = MS(500),
	    .persist_age_ns = 0,
	    .classify = classify_wrap,
	};
	static const uint64_t a[] = {WRAP_IN, WRAP_OUT, 0x401000, 0x409000};
	static const uint64_t b[] = {WRAP_IN, WRAP_OUT, 0x402000, 0x409000};
	static const uint64_t plain[] = {0x403000, 0x409000};
	const struct mw_block_row *ra, *rb, *rp;
	const struct mw_finding_row *f;
	bool culprit_site = false;

	rec_reset();
	nfan_seen = 0;
	E = engine__new(&cfg, 1000);
	attach(PID, 0);
	tstart(101, 0);
	al_stack(101, 1, 0x1000, 16, a, 4);
	al_stack(101, 2, 0x2000, 16, b, 4);
	al_stack(101, 3, 0x3000, 16, plain, 2);
	CHECK(flush_at(10) == 0);
	/* The classifier saw the fan-out of the process's stacks. */
	CHECK_U64(nfan_seen, 1);
	CHECK_U64(fan_seen[0], 1);
	ra = add_in(&R.last, 0x1000);
	rb = add_in(&R.last, 0x2000);
	rp = add_in(&R.last, 0x3000);
	CHECK(ra && rb && rp);
	if (ra && rb && rp) {
		/* Blocks (and so top) name the culprit, each stack its own. */
		CHECK_U64(ra->site, 0x401000);
		CHECK_U64(rb->site, 0x402000);
		CHECK_U64(rp->site, 0x403000);
		CHECK(ra->stack_id != rb->stack_id);
	}
	for (size_t i = 0; i < R.last.sites.n; i++)
		culprit_site |= R.last.sites.v[i].ip == 0x401000;
	CHECK(culprit_site);
	/* A finding about a block of the first stack names its culprit. */
	kcreate(101, 20, 1, 0);
	tset(101, 21, 1, 0x1000);
	texit(101, 30);
	CHECK(tick_flush(600) == 0);
	f = finding_in(&R.last, 0x1000);
	CHECK(f != NULL);
	if (f && ra) {
		CHECK_U64(f->site, 0x401000);
		CHECK_U64(f->stack_id, ra->stack_id);
	}
	{
		uint32_t out[4];

		CHECK_U64(engine__stack_fanout(E, PID, a, 4, out, 4), 3);
		CHECK_U64(out[0], 1);
		CHECK_U64(out[1], 2);
		CHECK_U64(out[2], 1);
		CHECK_U64(engine__stack_fanout(E, PID + 1, a, 4, out, 4), 0);
	}
	teardown();
}


/* --- the exporters' walk (engine/engine_export.c) --------------------------- */

static struct {
	uint64_t ip, bytes, blocks;
	uint32_t pid;
} walked[16];
static size_t nwalked;

static int walk_site(void *ctx, const struct mw_process_row *p,
		     const struct engine_site_view *sv)
{
	(void)ctx;
	if (nwalked < sizeof(walked) / sizeof(walked[0]))
		walked[nwalked++] = (typeof(walked[0])){
		    .ip = sv->ip,
		    .bytes = sv->live_bytes,
		    .blocks = sv->live_blocks,
		    .pid = p->pid,
		};
	return 0;
}

/* What the walk says of ip: bytes, blocks (summed over its stacks) and
 * how many sites have it. */
static uint64_t walked_at(uint64_t ip, uint64_t *blocks, unsigned *n)
{
	uint64_t bytes = 0;

	*blocks = 0;
	*n = 0;
	nwalked = 0;
	CHECK(engine__each_site(E, walk_site, NULL) == 0);
	for (size_t i = 0; i < nwalked; i++) {
		if (walked[i].ip != ip)
			continue;
		CHECK_U64(walked[i].pid, PID);
		bytes += walked[i].bytes;
		*blocks += walked[i].blocks;
		(*n)++;
	}
	return bytes;
}

static void test_each_site(void)
{
	struct engine_config cfg = {
	    .grace_ns = MS(500),
	    .persist_age_ns = 0,
	    .classify = classify_wrap,
	};
	static const uint64_t a[] = {WRAP_IN, WRAP_OUT, 0x401000, 0x409000};
	static const uint64_t b[] = {WRAP_IN, WRAP_OUT, 0x402000, 0x409000};
	static const uint64_t plain[] = {0x403000, 0x409000};
	uint64_t blocks;
	unsigned n;

	rec_reset();
	E = engine__new(&cfg, 1000);
	attach(PID, 0);
	tstart(101, 0);
	al_stack(101, 1, 0x1000, 16, a, 4);
	al_stack(101, 2, 0x2000, 32, b, 4);
	al_stack(101, 3, 0x3000, 8, plain, 2);
	al_stack(101, 4, 0x4000, 8, plain, 2);
	fr(101, 5, 0x4000);
	/* Not yet classified: each stack at its first frame, the wrapper;
	 * live blocks only. */
	CHECK_U64(walked_at(WRAP_IN, &blocks, &n), 48);
	CHECK_U64(blocks, 2);
	CHECK_U64(n, 2);
	CHECK_U64(walked_at(0x403000, &blocks, &n), 8);
	CHECK_U64(blocks, 1);
	CHECK_U64(nwalked, 3);
	/* Classified at the flush: at the culprit, as the rows say. */
	CHECK(flush_at(10) == 0);
	CHECK_U64(walked_at(WRAP_IN, &blocks, &n), 0);
	CHECK_U64(walked_at(0x401000, &blocks, &n), 16);
	CHECK_U64(walked_at(0x402000, &blocks, &n), 32);
	/* A site whose blocks are all freed is left out. */
	fr(101, 11, 0x3000);
	CHECK_U64(walked_at(0x403000, &blocks, &n), 0);
	CHECK_U64(n, 0);
	CHECK_U64(nwalked, 2);
	teardown();
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_site_once_per_process),
    UNIT_CASE(test_stacks_dedup_and_flush),
    UNIT_CASE(test_culprit_past_wrappers),
    UNIT_CASE(test_site_of_young_finding),
    UNIT_CASE(test_each_site),
};

int main(int argc, char **argv)
{
	engine_fixture__init(&unit_failed_now);
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
