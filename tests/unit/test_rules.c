/*
 * test_rules.c - unit tests of the rules over time (engine/rules.c):
 * thread-orphan, site-growth, thread-growth and bad-free, fed through the
 * engine like the daemon feeds it, and flushed into the recording sink
 * (tests/support/recsink.h).
 *
 * Times in the helpers are milliseconds; the engine sees nanoseconds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "events.h"
#include "recsink.h"
#include "unit.h"

#define MS(x) ((uint64_t)(x) * 1000000ull)
#define PID 200u

/* The newest row of each finding id (R.findings), as the store's upsert
 * keeps them. */
static struct recsink R;

static struct engine *E;

/* Stacks whose third frame is TLS_FRAME run through a TLS initializer. */
#define TLS_FRAME 0x4444ull

static uint32_t classify(void *ctx, uint32_t pid, const uint64_t *frames,
			 uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (frames[i] == TLS_FRAME)
			return MW_STACK_TLS_INIT;
	return 0;
}

/* Frees from this call site are the C library's own. */
#define LIBC_FREE_SITE 0x7f00000f000ull

static unsigned internal_calls;

static bool internal(void *ctx, uint32_t pid, uint64_t ip)
{
	internal_calls++;
	return ip == LIBC_FREE_SITE;
}

/* The growth rules' horizon: at once unless a case sets one. */
static uint64_t horizon_ns = ENGINE_GROWTH_AT_ONCE;

static void setup(void)
{
	struct engine_config cfg = {
		.growth_horizon_ns = horizon_ns,
		.grace_ns = MS(500),
		.persist_age_ns = MS(1000),
		.classify = classify,
		.internal = internal,
		.orphan_age_ns = MS(2000),
		.orphan_min_threads = 3,
		.growth_samples = 4,
		.sample_ns = MS(500),
		.growth_min_bytes = 64 * 1024,
		.recent_frees = 4,
	};

	recsink__reset(&R);
	E = engine__new(&cfg, 1);
	if (!E)
		abort();
	CHECK(engine__attach(E, PID, "rules", 0, NULL) == 0);
}

static void teardown(void)
{
	engine__free(E);
	E = NULL;
	recsink__reset(&R);
}

static void feed(struct mw_event ev)
{
	CHECK(engine__feed(E, &ev) == 0);
}

/* An allocation from a two- or three-frame stack: site, caller[, tls]. */
static void al(uint32_t tid, uint64_t t, uint64_t addr, uint64_t size,
	       uint64_t site, bool tls)
{
	uint64_t frames[3] = {site, 0x3333, TLS_FRAME};
	struct mw_event ev = ev_alloc(PID, tid, MS(t), addr, size, site);

	ev.nframes = tls ? 3 : 2;
	ev.frames = frames;
	feed(ev);
}

static void fr(uint32_t tid, uint64_t t, uint64_t addr, uint64_t site,
	       uint32_t flags)
{
	struct mw_event ev = ev_free(PID, tid, MS(t), addr, site);

	ev.flags = flags;
	feed(ev);
}

static void tstart(uint32_t tid, uint64_t t)
{
	feed(ev_make(MW_EV_THREAD_START, PID, tid, MS(t)));
}

static void texit(uint32_t tid, uint64_t t, uint32_t flags)
{
	feed(ev_thread_exit(PID, tid, MS(t), flags));
}

static void tick(uint64_t t)
{
	engine__tick(E, MS(t));
	CHECK(engine__flush(E, MS(t), &recsink__sink, &R) == 0);
}

static const struct mw_finding_row *of_kind(uint32_t kind, int nth)
{
	for (size_t i = 0; i < R.findings.n; i++)
		if (R.findings.v[i].kind == kind && nth-- == 0)
			return &R.findings.v[i];
	return NULL;
}

/* --- thread-orphan -------------------------------------------------------- */

/* Four threads each leave one block from a TLS-initializer stack: flagged
 * once the third thread's leftovers are judged, then updated. */
static void test_orphan_tls_site(void)
{
	const struct mw_finding_row *f;
	uint64_t id;

	setup();
	for (uint32_t i = 0; i < 4; i++) {
		tstart(201 + i, 10 * i);
		al(201 + i, 10 * i + 1, 0x1000 * (i + 1), 128, 0x401000, true);
		/* A block it frees itself is no leftover. */
		al(201 + i, 10 * i + 2, 0x9000 + i * 0x10, 16, 0x402000,
		   false);
		fr(201 + i, 10 * i + 3, 0x9000 + i * 0x10, 0x405000, 0);
		texit(201 + i, 100 * i + 100, 0);
	}
	tick(2199); /* only the first thread is due */
	CHECK(of_kind(MW_FIND_THREAD_ORPHAN, 0) == NULL);
	tick(2300);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f != NULL);
	if (!f)
		goto out;
	id = f->id;
	CHECK_U64(f->severity, MW_SEV_HIGH);
	CHECK_U64(f->count, 3);
	CHECK_U64(f->bytes, 384);
	CHECK_U64(f->threads, 3);
	CHECK_U64(f->site, 0x401000);
	CHECK(f->stack_id != 0);
	CHECK(strstr(f->detail, "thread_local") != NULL);
	tick(2400);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f && f->id == id && f->count == 4 && f->threads == 4);
	CHECK(of_kind(MW_FIND_THREAD_ORPHAN, 1) == NULL);
	CHECK_U64(R.findings.n, 1);
out:
	teardown();
}

/* Blocks handed to a long-lived consumer that frees some of them are
 * hand-offs, not leftovers; a thread that died with its process leaves
 * nothing behind. */
static void test_orphan_handoff_and_group_exit(void)
{
	setup();
	for (uint32_t i = 0; i < 5; i++) {
		tstart(201 + i, i);
		al(201 + i, i + 1, 0x1000 * (i + 1), 64, 0x401000, false);
		al(201 + i, i + 1, 0x800000 + 0x1000 * i, 64, 0x401000,
		   false);
		texit(201 + i, i + 2, 0);
	}
	/* The consumer (the main thread) frees half of what it got. */
	for (uint32_t i = 0; i < 5; i++)
		fr(PID, 50, 0x800000 + 0x1000 * i, 0x405000, 0);
	tstart(300, 60);
	al(300, 61, 0x500000, 64, 0x406000, false);
	texit(300, 62, MW_EVF_GROUP_EXIT);
	tick(5000);
	CHECK_U64(R.findings.n, 0);
	teardown();
}

/* Without a TLS stack and without hand-offs, leftovers in enough threads
 * are flagged, medium; at process exit everything pending is judged. */
static void test_orphan_plain_at_exit(void)
{
	const struct mw_finding_row *f;

	setup();
	for (uint32_t i = 0; i < 3; i++) {
		tstart(201 + i, i);
		al(201 + i, i + 1, 0x1000 * (i + 1), 100, 0x401000, false);
		texit(201 + i, i + 2, 0);
	}
	tick(100);
	CHECK_U64(R.findings.n, 0);
	feed(ev_proc_exit(PID, MS(200), 0));
	CHECK(engine__flush(E, MS(200), &recsink__sink, &R) == 0);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f && f->severity == MW_SEV_MEDIUM && f->count == 3 &&
	      f->bytes == 300);
	teardown();
}

/* Short-lived threads hand their blocks to two consumers that free them
 * three seconds later, after the orphan age: a thread-orphan finding
 * while they wait, its numbers current as they are freed, resolved once
 * the last is, naming the two freeing threads. The same pattern again
 * makes no new finding: its blocks are freed by other threads. */
static void test_orphan_handoff_resolves(void)
{
	const struct mw_finding_row *f;
	uint64_t id;

	setup();
	tstart(300, 0);
	tstart(301, 0);
	for (uint32_t i = 0; i < 10; i++) {
		tstart(201 + i, 10 * i);
		al(201 + i, 10 * i + 1, 0x1000 * (i + 1), 64, 0x401000, false);
		al(201 + i, 10 * i + 2, 0x800000 + 0x1000 * i, 64, 0x401000,
		   false);
		texit(201 + i, 10 * i + 5, 0);
	}
	tick(2500);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f != NULL);
	if (!f)
		goto out;
	id = f->id;
	CHECK_U64(f->count, 20);
	CHECK_U64(f->bytes, 1280);
	CHECK_U64(f->threads, 10);
	CHECK_U64(f->resolved_ts, 0);
	/* Half freed: the same finding, its numbers current. */
	for (uint32_t i = 0; i < 10; i++)
		fr(300, 3000 + i, 0x1000 * (i + 1), 0x405000, 0);
	tick(3100);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f && f->id == id && f->count == 10 && f->bytes == 640 &&
	      f->threads == 10 && !f->resolved_ts);
	CHECK(f && strstr(f->detail, "10 (640 bytes) still live") != NULL);
	/* All of them freed, by another consumer: resolved. */
	for (uint32_t i = 0; i < 10; i++)
		fr(301, 3200 + i, 0x800000 + 0x1000 * i, 0x405000, 0);
	tick(3300);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f && f->id == id);
	if (!f)
		goto out;
	CHECK_U64(f->resolved_ts, MS(3300));
	CHECK_U64(f->count, 0);
	CHECK_U64(f->bytes, 0);
	CHECK_U64(f->threads, 0);
	CHECK_STR(f->resolved_reason,
		  "all 20 block(s) freed (by 2 other thread(s))");
	/* Resolved stays resolved; the pattern again is no new finding. */
	for (uint32_t i = 0; i < 5; i++) {
		tstart(211 + i, 4000 + i);
		al(211 + i, 4001 + i, 0x1000 * (i + 1), 64, 0x401000, false);
		texit(211 + i, 4002 + i, 0);
	}
	tick(7000);
	tick(7500);
	CHECK_U64(R.findings.n, 1);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f && f->resolved_ts == MS(3300));
out:
	teardown();
}

/* A real leak (nothing ever frees the blocks) stays open, flush after
 * flush. */
static void test_orphan_leak_stays_open(void)
{
	const struct mw_finding_row *f;

	setup();
	for (uint32_t i = 0; i < 5; i++) {
		tstart(201 + i, i);
		al(201 + i, i + 1, 0x1000 * (i + 1), 100, 0x401000, false);
		texit(201 + i, i + 2, 0);
	}
	for (uint64_t t = 2500; t <= 10000; t += 500)
		tick(t);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f && !f->resolved_ts && f->count == 5 && f->bytes == 500 &&
	      f->threads == 5 && f->severity == MW_SEV_MEDIUM);
	CHECK_U64(R.findings.n, 1);
	teardown();
}

/* n threads allocate and free at one site; those whose index is in
 * leak[] keep one block of it (and exit with it). Ticks past every
 * orphan deadline. */
static void share_run(uint32_t n, bool (*leaks)(uint32_t i))
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t tid = 1000 + i;

		tstart(tid, 10 * i);
		al(tid, 10 * i + 1, 0x100000 + 0x100 * i, 48, 0x401000, false);
		if (!leaks(i))
			fr(tid, 10 * i + 2, 0x100000 + 0x100 * i, 0x405000, 0);
		texit(tid, 10 * i + 3, 0);
		if (i % 20 == 19)
			tick(10 * i + 4);
	}
	tick(10 * n + 2500);
	tick(10 * n + 3000);
}

static bool three_of_200(uint32_t i)
{
	return i == 50 || i == 100 || i == 150;
}

static bool every_one(uint32_t i)
{
	(void)i;
	return true;
}

static bool two_of_three(uint32_t i)
{
	return i % 3 != 0;
}

/*
 * The share of exiting threads that left blocks: a cache or free list
 * keeping one block of 3 of 200 threads is no finding; 50 threads each
 * leaving one is a per-thread leak, medium (every one of them); 2 of
 * every 3 is low (over --orphan-share, under --orphan-share-medium).
 */
static void test_orphan_share(void)
{
	const struct mw_finding_row *f;

	setup();
	share_run(200, three_of_200);
	CHECK_U64(R.findings.n, 0);
	teardown();

	setup();
	share_run(50, every_one);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f && f->severity == MW_SEV_MEDIUM && f->count == 50 &&
	      f->threads == 50 && !f->resolved_ts);
	CHECK(f && strstr(f->detail, "by 50 of 50 exited thread(s)") != NULL);
	CHECK_U64(R.findings.n, 1);
	teardown();

	setup();
	share_run(60, two_of_three);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f && f->severity == MW_SEV_LOW && f->count == 40 &&
	      f->threads == 40 && !f->resolved_ts);
	CHECK_U64(R.findings.n, 1);
	teardown();
}

/* A runtime's free list filled without malloc (HotSpot's JNI handle
 * blocks): the first 10 of 100 threads allocate at the site and leave
 * their block, the 90 after take one from the list and allocate nothing
 * there. Of the threads that allocated there all left one, but they are
 * a tenth of those that exited: no finding. Every thread leaving one
 * still is. */
static void test_orphan_free_list(void)
{
	setup();
	for (uint32_t i = 0; i < 100; i++) {
		tstart(201 + i, i * 10);
		if (i < 10)
			al(201 + i, i * 10 + 1, 0x1000 * (i + 1), 100,
			   0x401000, false);
		/* what every thread does and gives back */
		al(201 + i, i * 10 + 2, 0x900000, 64, 0x402000, false);
		fr(201 + i, i * 10 + 3, 0x900000, 0x405000, 0);
		texit(201 + i, i * 10 + 4, 0);
	}
	tick(1000);
	tick(3500);
	CHECK_U64(R.findings.n, 0);
	teardown();

	setup();
	for (uint32_t i = 0; i < 100; i++) {
		tstart(201 + i, i * 10);
		al(201 + i, i * 10 + 1, 0x1000 * (i + 1), 100, 0x401000, false);
		texit(201 + i, i * 10 + 4, 0);
	}
	tick(1000);
	tick(3500);
	CHECK(of_kind(MW_FIND_THREAD_ORPHAN, 0) != NULL);
	teardown();
}

/* The first threads of a free list all leave their block (it fills),
 * those after do not: a finding while the share says per-thread leak,
 * resolved once it no longer does, its blocks still live. */
static void test_orphan_share_falls(void)
{
	const struct mw_finding_row *f;

	setup();
	for (uint32_t i = 0; i < 3; i++) {
		tstart(201 + i, i);
		al(201 + i, i + 1, 0x1000 * (i + 1), 100, 0x401000, false);
		texit(201 + i, i + 2, 0);
	}
	tick(2500);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f && !f->resolved_ts && f->severity == MW_SEV_MEDIUM);
	for (uint32_t i = 0; i < 10; i++) {
		tstart(301 + i, 3000 + i);
		al(301 + i, 3001 + i, 0x9000, 100, 0x401000, false);
		fr(301 + i, 3001 + i, 0x9000, 0x405000, 0);
		texit(301 + i, 3002 + i, 0);
	}
	tick(3100);
	f = of_kind(MW_FIND_THREAD_ORPHAN, 0);
	CHECK(f && f->resolved_ts == MS(3100) && f->count == 3);
	CHECK(f && strstr(f->resolved_reason, "only 3 of 13 exited threads") !=
		       NULL);
	CHECK_U64(R.findings.n, 1);
	teardown();
}

/* A one-block finding resolves when its block is freed, naming the
 * freeing thread; one whose block is never freed stays open. */
static void test_one_block_resolves(void)
{
	const struct mw_finding_row *f;

	setup();
	feed(ev_key_create(PID, PID, MS(1), 1, 0));
	for (uint32_t i = 0; i < 2; i++) {
		tstart(201 + i, 2);
		al(201 + i, 3, 0x1000 * (i + 1), 64, 0x401000, false);
		feed(ev_tls_set(PID, 201 + i, MS(4), 1, 0x1000 * (i + 1)));
		texit(201 + i, 5, 0);
	}
	tick(600);
	CHECK_U64(R.findings.n, 2);
	f = of_kind(MW_FIND_TLS_OUTLIVED_THREAD, 0);
	CHECK(f && !f->resolved_ts);
	fr(PID, 700, 0x1000, 0x405000, 0);
	tick(800);
	CHECK_U64(R.findings.n, 2);
	for (size_t i = 0; i < R.findings.n; i++) {
		f = &R.findings.v[i];
		if (f->addr == 0x1000) {
			CHECK_U64(f->resolved_ts, MS(700));
			CHECK_STR(f->resolved_reason,
				  "block freed by thread 200");
		} else {
			CHECK_U64(f->resolved_ts, 0);
		}
	}
	teardown();
}

/* --- growth ---------------------------------------------------------------- */

/* One site gains 64 KiB per half second in a long-lived thread: both the
 * site and the thread grow; a flat site next to it does not. */
static void test_growth(void)
{
	const struct mw_finding_row *s, *t;
	uint64_t t0 = 0;
	uint64_t sid;

	setup();
	tstart(201, 0);
	for (int i = 0; i < 5; i++) {
		/* flat: one block allocated and freed each round */
		al(201, t0 + 1, 0x100000, 4096, 0x402000, false);
		fr(201, t0 + 2, 0x100000, 0x405000, 0);
		al(201, t0 + 3, 0x200000 + (uint64_t)i * 0x10000, 64 * 1024,
		   0x401000, false);
		tick(t0 + 10); /* first tick only arms the sampler */
		t0 += 500;
	}
	/* The tick at 10 arms the sampler; samples at 510, 1010, 1510 and
	 * 2010 see 128, 192, 256 and 320 KiB: growth at each step. */
	s = of_kind(MW_FIND_SITE_GROWTH, 0);
	t = of_kind(MW_FIND_THREAD_GROWTH, 0);
	CHECK(s != NULL && t != NULL);
	if (!s || !t)
		goto out;
	CHECK_U64(s->site, 0x401000);
	CHECK_U64(s->bytes, 320 * 1024);
	CHECK_U64(s->count, 5);
	CHECK(strstr(s->detail, "grew from 131072 to 327680") != NULL);
	CHECK_U64(t->tid, 201);
	CHECK_U64(t->site, 0x401000);
	CHECK_U64(R.findings.n, 2);
	sid = s->id;
	/* It goes on growing: the same finding, updated. */
	al(201, t0 + 1, 0x300000, 64 * 1024, 0x401000, false);
	tick(t0 + 10);
	s = of_kind(MW_FIND_SITE_GROWTH, 0);
	CHECK(s && s->id == sid && s->bytes == 384 * 1024);
	CHECK_U64(R.findings.n, 2);
	/* Its blocks freed down to where the growth began: both resolve. */
	for (int i = 1; i < 5; i++)
		fr(201, t0 + 20, 0x200000 + (uint64_t)i * 0x10000, 0x405000, 0);
	fr(201, t0 + 20, 0x300000, 0x405000, 0);
	tick(t0 + 30);
	s = of_kind(MW_FIND_SITE_GROWTH, 0);
	t = of_kind(MW_FIND_THREAD_GROWTH, 0);
	CHECK(s && s->id == sid && s->resolved_ts == MS(t0 + 30) &&
	      s->bytes == 64 * 1024 && s->count == 1);
	CHECK(s && strstr(s->resolved_reason, "site live bytes back to 65536") !=
		       NULL);
	CHECK(t && t->resolved_ts == MS(t0 + 30));
	CHECK_U64(R.findings.n, 2);
out:
	teardown();
}

/* grow_for(tid, t0, ms, step): tid allocates step bytes (0: nothing)
 * at each 500 ms tick for ms from t0, sampled as it goes; returns the
 * time after. Blocks at distinct addresses from 0x10000000 + t0 pages. */
static uint64_t grow_for(uint32_t tid, uint64_t t0, uint64_t ms,
			 uint64_t step)
{
	for (uint64_t t = 0; t < ms; t += 500) {
		if (step)
			al(tid, t0 + t + 3, 0x10000000 + (t0 + t) * 0x1000,
			   step, 0x401000, false);
		tick(t0 + t + 10);
	}
	return t0 + ms;
}

/* With a horizon (4 s here): growth seen is followed, no finding until
 * it went on that long; a growth that levels off in its second half is
 * none (a cache filled, data loaded); one that goes on is low at one
 * horizon, medium once it grew again over a second. */
static void test_growth_horizon(void)
{
	const struct mw_finding_row *s;
	uint64_t t;

	horizon_ns = MS(4000);
	/* Levels off: 3 s of growth, then flat for 5 s. */
	setup();
	tstart(201, 0);
	t = grow_for(201, 0, 3000, 64 * 1024);
	t = grow_for(201, t, 5000, 0);
	CHECK_U64(R.findings.n, 0);
	teardown();
	/* Goes on: found low once the horizon is past, medium later. */
	setup();
	tstart(201, 0);
	t = grow_for(201, 0, 3500, 64 * 1024);
	CHECK_U64(R.findings.n, 0); /* seen, not yet a finding */
	t = grow_for(201, t, 3000, 64 * 1024);
	s = of_kind(MW_FIND_SITE_GROWTH, 0);
	CHECK(s != NULL);
	if (s) {
		CHECK_U64(s->severity, MW_SEV_LOW);
		CHECK(strstr(s->detail, "site live bytes grew from") != NULL);
	}
	CHECK(of_kind(MW_FIND_THREAD_GROWTH, 0) != NULL);
	t = grow_for(201, t, 6000, 64 * 1024);
	s = of_kind(MW_FIND_SITE_GROWTH, 0);
	CHECK(s && s->severity == MW_SEV_MEDIUM);
	CHECK_U64(R.findings.n, 2);
	teardown();
	horizon_ns = ENGINE_GROWTH_AT_ONCE;
}

/* A horizon shorter than the samples that show growth (1 s against
 * 4 samples 500 ms apart): the watch starts 1.5 s back, at the first of
 * them, and its half-way point is the sample there, not the one just
 * taken, which made every steady growth look levelled off (no finding
 * ever). Low, then medium. */
static void test_growth_short_horizon(void)
{
	const struct mw_finding_row *s;
	uint64_t t;

	horizon_ns = MS(1000);
	setup();
	tstart(201, 0);
	t = grow_for(201, 0, 2500, 64 * 1024);
	s = of_kind(MW_FIND_SITE_GROWTH, 0);
	CHECK(s && s->severity == MW_SEV_LOW);
	t = grow_for(201, t, 2500, 64 * 1024);
	s = of_kind(MW_FIND_SITE_GROWTH, 0);
	CHECK(s && s->severity == MW_SEV_MEDIUM);
	teardown();
	horizon_ns = ENGINE_GROWTH_AT_ONCE;
}

/* Growth that stops, or stays under the minimum, is no finding. */
static void test_no_growth(void)
{
	uint64_t t0 = 0;

	setup();
	tstart(201, 0);
	for (int i = 0; i < 8; i++) {
		/* 16 KiB a step: 48 KiB over three steps, under 64 KiB */
		al(201, t0 + 1, 0x200000 + (uint64_t)i * 0x10000, 16 * 1024,
		   0x401000, false);
		tick(t0 + 10);
		t0 += 500;
	}
	CHECK_U64(R.findings.n, 0);
	teardown();
}

/* --- bad-free ---------------------------------------------------------------- */

static void test_bad_free(void)
{
	const struct mw_finding_row *f;

	setup();
	tstart(201, 0);
	tstart(202, 0);
	/* Allocated by 201, freed by 202, then freed again by 201. */
	al(201, 1, 0x1000, 32, 0x401000, false);
	fr(202, 2, 0x1000, 0x407000, 0);
	fr(201, 3, 0x1000, 0x407000, 0);
	/* Unknown frees alone are not flagged (blocks from before the
	 * attach), nor are the C library's own. */
	fr(201, 4, 0x7000, 0x408000, 0);
	al(201, 5, 0x2000, 32, 0x401000, false);
	fr(201, 6, 0x2000, 0x409000, 0);
	fr(201, 7, 0x2000, 0x409000, MW_EVF_INTERNAL);
	/* Freed, allocated again, freed: no double free. */
	al(201, 8, 0x3000, 32, 0x401000, false);
	fr(201, 9, 0x3000, 0x40a000, 0);
	al(201, 10, 0x3000, 32, 0x401000, false);
	fr(201, 11, 0x3000, 0x40a000, 0);
	tick(20);
	CHECK_U64(R.findings.n, 1);
	f = of_kind(MW_FIND_BAD_FREE, 0);
	CHECK(f != NULL);
	if (f) {
		CHECK_U64(f->site, 0x407000);
		CHECK_U64(f->severity, MW_SEV_HIGH);
		CHECK_U64(f->count, 1);
		CHECK_U64(f->addr, 0x1000);
		CHECK_U64(f->tid, 201);
		CHECK(strstr(f->detail, "1 double free(s)") != NULL);
		CHECK(strstr(f->detail, "1 of 1 frees") != NULL);
	}
	teardown();
}

/* The C library freeing an address again (its tcache at thread exit) is
 * not the program's double free; the engine asks only about frees of
 * unknown blocks. */
static void test_bad_free_internal_site(void)
{
	setup();
	internal_calls = 0;
	tstart(201, 0);
	al(201, 1, 0x1000, 32, 0x401000, false);
	fr(201, 2, 0x1000, 0x407000, 0);
	CHECK_U64(internal_calls, 0);
	fr(201, 3, 0x1000, LIBC_FREE_SITE, 0);
	CHECK_U64(internal_calls, 1);
	tick(10);
	CHECK_U64(R.findings.n, 0);
	teardown();
}

/* The memory of freed addresses is bounded: past recent_frees (4 here)
 * the oldest is forgotten, and freeing it again is an unknown free. */
static void test_bad_free_bounded(void)
{
	setup();
	tstart(201, 0);
	for (int i = 0; i < 6; i++) {
		al(201, 1, 0x1000 + (uint64_t)i * 0x100, 8, 0x401000, false);
		fr(201, 2, 0x1000 + (uint64_t)i * 0x100, 0x407000, 0);
	}
	fr(201, 3, 0x1000, 0x407000, 0); /* forgotten: unknown */
	tick(10);
	CHECK_U64(R.findings.n, 0);
	fr(201, 4, 0x1500, 0x407000, 0); /* remembered: double */
	tick(20);
	CHECK_U64(R.findings.n, 1);
	teardown();
}

/* Once events were lost, evidence over time cannot be trusted: a lost
 * allocation of a freed address would make its next free look double. */
static void test_no_new_findings_after_loss(void)
{
	setup();
	tstart(201, 0);
	al(201, 1, 0x1000, 32, 0x401000, false);
	fr(201, 2, 0x1000, 0x407000, 0);
	feed((struct mw_event){.type = MW_EV_LOST, .pid = PID, .count = 3,
			       .ts = MS(3)});
	fr(201, 4, 0x1000, 0x407000, 0);
	tick(10);
	CHECK_U64(R.findings.n, 0);
	teardown();
}

/* Growth seen in samples that all came after the latest loss is judged;
 * a window that began before it is withheld. */
static void test_growth_after_loss(void)
{
	struct engine_stats st;
	uint64_t t0 = 0;

	setup();
	tstart(201, 0);
	for (int i = 0; i < 6; i++) {
		al(201, t0 + 3, 0x200000 + (uint64_t)i * 0x10000, 64 * 1024,
		   0x401000, false);
		if (i == 1)
			feed((struct mw_event){.type = MW_EV_LOST,
					       .pid = PID,
					       .count = 1,
					       .ts = MS(t0 + 90),
					       .addr = MS(t0 + 80)});
		tick(t0 + 10);
		/* Samples at 510 .. 2010: the window of four began at 510,
		 * before the loss at 590. */
		if (i == 4)
			CHECK_U64(R.findings.n, 0);
		t0 += 500;
	}
	/* The window 1010 .. 2510 came after it. */
	CHECK(of_kind(MW_FIND_SITE_GROWTH, 0) != NULL);
	CHECK(of_kind(MW_FIND_THREAD_GROWTH, 0) != NULL);
	engine__stats(E, &st);
	CHECK_U64(st.withheld, 2);
	teardown();
}

/* --- allocator-retention ------------------------------------------------ */

static void mmap_ev(uint32_t tid, uint64_t t, uint64_t addr, uint64_t len)
{
	feed((struct mw_event){.type = MW_EV_MMAP, .pid = PID, .tid = tid,
			       .ts = MS(t), .addr = addr, .size = len});
}

/* Each half second a thread exits and the process maps 16 MiB more that
 * nobody allocates from: kept for two windows in a row, it is retention,
 * named after the allocator. */
static void test_retention(void)
{
	const struct mw_finding_row *f;

	setup();
	CHECK(engine__set_allocator(E, PID, "glibc") == 0);
	tick(10);
	for (uint32_t i = 0; i < 8; i++) {
		uint64_t t0 = 500 * (i + 1);

		tstart(300 + i, t0 - 400);
		mmap_ev(300 + i, t0 - 300, 0x7f0000000000ull + (i << 24),
			16ull << 20);
		texit(300 + i, t0 - 200, 0);
		tick(t0 + 10);
	}
	f = of_kind(MW_FIND_ALLOCATOR_RETENTION, 0);
	CHECK(f != NULL);
	if (f) {
		CHECK_U64(f->severity, MW_SEV_MEDIUM);
		CHECK_U64(f->bytes, 128ull << 20);
		CHECK(strstr(f->detail, "glibc:") != NULL);
	}
	teardown();
}

/* One burst of mappings (a few threads started at once, their arenas
 * made once) is a fixed cost; unmapped memory is no retention either. */
static void test_no_retention(void)
{
	setup();
	tick(10);
	for (uint32_t i = 0; i < 4; i++) {
		tstart(300 + i, 100);
		mmap_ev(300 + i, 101, 0x7f0000000000ull + (i << 26),
			64ull << 20);
		texit(300 + i, 200, 0);
	}
	for (uint32_t i = 0; i < 10; i++) {
		uint64_t t0 = 500 * (i + 1);

		tstart(400 + i, t0 - 400);
		mmap_ev(400 + i, t0 - 300, 0x7e0000000000ull, 32ull << 20);
		feed((struct mw_event){.type = MW_EV_MUNMAP, .pid = PID,
				       .tid = 400 + i, .ts = MS(t0 - 250),
				       .addr = 0x7e0000000000ull,
				       .size = 32ull << 20});
		texit(400 + i, t0 - 200, 0);
		tick(t0 + 10);
	}
	CHECK_U64(R.findings.n, 0);
	teardown();
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_orphan_tls_site),
    UNIT_CASE(test_orphan_handoff_and_group_exit),
    UNIT_CASE(test_orphan_plain_at_exit),
    UNIT_CASE(test_orphan_handoff_resolves),
    UNIT_CASE(test_orphan_leak_stays_open),
    UNIT_CASE(test_orphan_share),
    UNIT_CASE(test_orphan_share_falls),
    UNIT_CASE(test_orphan_free_list),
    UNIT_CASE(test_one_block_resolves),
    UNIT_CASE(test_growth),
    UNIT_CASE(test_growth_horizon),
    UNIT_CASE(test_growth_short_horizon),
    UNIT_CASE(test_no_growth),
    UNIT_CASE(test_bad_free),
    UNIT_CASE(test_bad_free_bounded),
    UNIT_CASE(test_bad_free_internal_site),
    UNIT_CASE(test_no_new_findings_after_loss),
    UNIT_CASE(test_growth_after_loss),
    UNIT_CASE(test_retention),
    UNIT_CASE(test_no_retention),
};

int main(int argc, char **argv)
{
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
