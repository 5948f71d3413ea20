/*
 * test_engine_check.c - unit tests of engine__check (engine/engine_check.c),
 * the invariant checker tests/fuzz/fuzz_engine.c runs after every step:
 * it passes on states the engine makes, and fires on states broken by
 * hand, one invariant at a time (a fuzzer whose checker never fires
 * proves nothing). Also the regression the fuzzer found: a block resized
 * in place kept its site's old size, and its free wrapped the site's
 * live bytes below zero.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "engine_int.h"
#include "events.h"
#include "unit.h"

#define MS(x) ((uint64_t)(x)*1000000ull)
#define PID 100u
#define SITE 0x401136ull

static void feed(struct engine *e, uint32_t type, uint32_t tid, uint64_t addr,
		 uint64_t size, uint64_t ts)
{
	struct mw_event ev = ev_make(type, PID, tid, MS(ts));

	ev.addr = addr;
	ev.size = size;
	ev.site = SITE;
	engine__feed(e, &ev);
}

/* An engine holding two threads' blocks, one resized in place. */
static struct engine *made(void)
{
	struct engine_config cfg = {0};
	struct engine *e = engine__new(&cfg, 1);
	struct mw_event r =
	    ev_realloc(PID, 101, MS(4), 0x1000, 0x1000, 500, SITE);
	uint64_t id;

	engine__attach(e, PID, "prog", MS(1), &id);
	feed(e, MW_EV_THREAD_START, 102, 0, 0, 1);
	feed(e, MW_EV_ALLOC, 101, 0x1000, 10, 2);
	feed(e, MW_EV_ALLOC, 102, 0x2000, 20, 3);
	feed(e, MW_EV_ALLOC, 102, 0x3000, 30, 3);
	engine__feed(e, &r);
	return e;
}

static struct proc *proc_of(struct engine *e)
{
	return hmap__get(&e->procs, PID);
}

/* Every block here comes from SITE: the process's one site. */
static struct site_stat *the_site(struct proc *p)
{
	return p->site_at.len == 2 ? p->site_at.items[1] : NULL;
}

static bool fires(struct engine *e, const char *what)
{
	char why[512] = "";
	int err = engine__check(e, why, sizeof(why));

	if (err != -EINVAL || !strstr(why, what)) {
		printf("  engine__check: %d '%s', expected -EINVAL and '%s'\n",
		       err, why, what);
		return false;
	}
	return true;
}

static void test_clean_states_pass(void)
{
	struct engine *e = made();
	char why[512] = "";

	CHECK(engine__check(e, why, sizeof(why)) == 0);
	feed(e, MW_EV_FREE, 101, 0x2000, 0, 5);
	feed(e, MW_EV_THREAD_EXIT, 102, 0, 0, 6);
	engine__tick(e, MS(10000));
	CHECK(engine__check(e, why, sizeof(why)) == 0);
	feed(e, MW_EV_PROC_EXIT, 0, 0, 0, 10001);
	CHECK(engine__check(e, why, sizeof(why)) == 0);
	if (why[0])
		printf("  %s\n", why);
	engine__free(e);
}

/* The bug: realloc in place, then free, wrapped the site's bytes. */
static void test_resized_in_place_then_freed(void)
{
	struct engine *e = made();
	struct proc *p = proc_of(e);
	struct site_stat *ss;
	char why[512] = "";

	feed(e, MW_EV_FREE, 101, 0x1000, 0, 5);
	ss = the_site(p);
	CHECK(ss != NULL);
	if (ss) {
		CHECK_U64(ss->live_blocks, 2);
		CHECK_U64(ss->live_bytes, 50);
	}
	CHECK(engine__check(e, why, sizeof(why)) == 0);
	engine__free(e);
}

static void test_fires_on_live_bytes(void)
{
	struct engine *e = made();

	proc_of(e)->row.live_bytes += 1;
	CHECK(fires(e, "the live set holds"));
	engine__free(e);
}

static void test_fires_on_thread_sum(void)
{
	struct engine *e = made();
	struct thread *t = hmap__get(&proc_of(e)->threads, 102);

	t->row.live_blocks--;
	CHECK(fires(e, "tid 102"));
	engine__free(e);
}

static void test_fires_on_wrapped_counter(void)
{
	struct engine *e = made();

	proc_of(e)->row.frees -= 5; /* below zero */
	CHECK(fires(e, "frees"));
	engine__free(e);
}

static void test_fires_on_site_sum(void)
{
	struct engine *e = made();
	struct site_stat *ss = the_site(proc_of(e));

	CHECK(ss != NULL);
	if (ss)
		ss->live_bytes -= 10;
	CHECK(fires(e, "site 0x401136"));
	engine__free(e);
}

static void test_fires_on_engine_totals(void)
{
	struct engine *e = made();

	e->st.pending--; /* was 0: wraps */
	CHECK(fires(e, "engine pending"));
	e->st.pending = 0;
	e->st.live_blocks++;
	CHECK(fires(e, "engine:"));
	engine__free(e);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_clean_states_pass),
    UNIT_CASE(test_resized_in_place_then_freed),
    UNIT_CASE(test_fires_on_live_bytes),
    UNIT_CASE(test_fires_on_thread_sum),
    UNIT_CASE(test_fires_on_wrapped_counter),
    UNIT_CASE(test_fires_on_site_sum),
    UNIT_CASE(test_fires_on_engine_totals),
};

int main(int argc, char **argv)
{
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
