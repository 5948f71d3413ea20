/*
 * rules_orphan.c - the thread-orphan rule: blocks a thread allocated that
 * are still live orphan_age after it exited, grouped by allocating site
 * (stack). A site is flagged once it has left blocks behind in
 * orphan_min_threads exited threads, and in orphan_share percent of the
 * exited threads that allocated at it: a per-thread leak leaves blocks
 * in nearly every one, a cache or free list (a runtime keeping a few
 * blocks of a few of hundreds of exited threads) in a few. Severity from
 * that share: medium from orphan_share_medium on, low below; high when
 * the stack runs through a C++ thread_local initializer, which makes it
 * TLS by construction. A site whose blocks other threads free
 * (producer/consumer hand-off) is not flagged unless TLS by its stack.
 *
 * The finding's numbers are the blocks left behind still live, and the
 * exited threads still holding them, made current at each flush
 * (orphan__review). It resolves once they are all gone (freed by other
 * threads, or dropped at exec), and the site's evidence starts again
 * from nothing; or once the share fell under orphan_share (the first
 * threads of a free list that fills leave their blocks, those after do
 * not), the site keeping its counts: a new finding only if the share
 * climbs back.
 *
 * Invariants: a thread with orphan_pending is on the orphan queue
 * exactly once; a site's orphan_live_blocks is the count of its live
 * blocks marked orphan, and its ostat->owners maps each exited thread
 * holding some to how many (engine_check.c checks the count).
 *
 * Below rules.c; calls rules_finding.c and engine_site.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

/*
 * Who holds and who frees a site's left-behind blocks (site_stat.ostat),
 * made when its first block is left behind; counts since the site's
 * evidence last began (orphan_reset).
 */
struct orphan_stat {
	struct hmap
	    owners; /* exited thread idx -> its live left-behind blocks */
	struct hmap freers; /* tid -> 1: the threads that freed one */
	uint64_t freed;	    /* left-behind blocks freed */
	uint64_t gone;	    /* ... and dropped without a free (exec, loss) */
};

void orphan__proc_fini(struct proc *p)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&p->site_stats, &pos, &k, &v)) {
		struct orphan_stat *os = ((struct site_stat *)v)->ostat;

		if (!os)
			continue;
		hmap__fini(&os->owners);
		hmap__fini(&os->freers);
		free(os);
	}
}

/* t allocated at site idx: remembered until it exits. */
void rules__alloc_site_slow(struct thread *t, uint32_t idx)
{
	if (!hmap__get(&t->alloc_sites, idx))
		hmap__put(&t->alloc_sites, idx, (void *)1);
}

void rules__thread_fini(struct thread *t)
{
	hmap__fini(&t->alloc_sites);
	if (t->growth)
		t->growth->thread = NULL;
}

/* One more exited thread that allocated at site idx. */
static void orphan_exited_at(struct proc *p, uint64_t idx)
{
	if (idx && idx < p->site_at.len && p->site_at.items[idx])
		((struct site_stat *)p->site_at.items[idx])->exited_threads++;
}

/* t exited on its own: one more exited thread for each site it
 * allocated at. It allocates nothing more. */
static void count_exited(struct proc *p, struct thread *t)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	for (uint32_t w = 0; w < THREAD_SITE_BITS / 64; w++)
		for (uint64_t m = t->site_bits[w]; m; m &= m - 1)
			orphan_exited_at(p,
					 w * 64 + (uint32_t)__builtin_ctzll(m));
	while (hmap__next(&t->alloc_sites, &pos, &k, &v))
		orphan_exited_at(p, k);
	memset(t->site_bits, 0, sizeof(t->site_bits));
	hmap__fini(&t->alloc_sites);
}

void rules__thread_exit(struct engine *e, struct proc *p, struct thread *t,
			uint64_t ts)
{
	/* A TLS-only trace sees no free: leftovers and growth are beyond
	 * it. */
	if (t->orphan_pending || p->row.mode == MW_MODE_TLS)
		return;
	t->exit_ordinal = ++p->orphan_exits;
	/* Nothing live: it left nothing behind, wherever it allocated. */
	if (!t->blocks) {
		count_exited(p, t);
		return;
	}
	t->orphan_pending = true;
	t->orphan_deadline = ts + e->cfg.orphan_age_ns;
	t->orphan_next = NULL;
	if (p->orphan_tail)
		p->orphan_tail->orphan_next = t;
	else
		p->orphan_head = t;
	p->orphan_tail = t;
}

static bool ss_tls_init(struct engine *e, struct proc *p, struct site_stat *ss)
{
	return site__stack_flags(e, p, ss->stack) & MW_STACK_TLS_INIT;
}

/* The threads that left blocks behind at ss are at least pct percent
 * of the exited threads that allocated at it (never more than all: a
 * thread whose sites were not all remembered, out of memory, still
 * counts once), and of every thread of the process that exited on its
 * own since the first of them (judged yet or not: one still within
 * orphan_age only makes a finding less likely); at the process's end,
 * of every thread that exited in it: those judged then had no time to
 * see their blocks freed, like the last threads of a JVM leaving what
 * its free lists keep. The second share tells a runtime's
 * free list from a leak: HotSpot gives an exiting thread's JNI handle
 * blocks to a list the next threads take them from, without malloc, so
 * of the threads that allocated there nearly all leave theirs, but
 * they are a few of all those that came and went; a per-thread leak
 * leaves one in every thread that runs its code. */
static bool orphan_share_at(const struct proc *p, const struct site_stat *ss,
			    uint32_t pct)
{
	uint64_t exited = ss->exited_threads > ss->orphan_threads
			      ? ss->exited_threads
			      : ss->orphan_threads;
	uint64_t judged = p->orphan_final ? p->orphan_exits
					  : p->orphan_exits - ss->exits_base;

	if (judged < ss->orphan_threads)
		judged = ss->orphan_threads;
	return exited && (uint64_t)ss->orphan_threads * 100 >= pct * exited &&
	       (uint64_t)ss->orphan_threads * 100 >= pct * judged;
}

static uint32_t orphan_severity(struct engine *e, struct proc *p,
				struct site_stat *ss)
{
	if (ss_tls_init(e, p, ss))
		return MW_SEV_HIGH;
	return orphan_share_at(p, ss, e->cfg.orphan_share_medium) ? MW_SEV_MEDIUM
							       : MW_SEV_LOW;
}

static struct orphan_stat *ostat_get(struct site_stat *ss)
{
	if (!ss->ostat && (ss->ostat = calloc(1, sizeof(*ss->ostat)))) {
		hmap__init(&ss->ostat->owners);
		hmap__init(&ss->ostat->freers);
	}
	return ss->ostat;
}

/* Make a's numbers the site's current ones: the blocks left behind that
 * are still live, the exited threads still holding them, the severity
 * from the share. Touched only if something changed. */
static void orphan_numbers(struct engine *e, struct proc *p,
			   struct site_stat *ss, struct agg *a)
{
	struct mw_finding_row r = a->row;
	bool tls = ss_tls_init(e, p, ss);
	uint64_t exited = ss->exited_threads > ss->orphan_threads
			      ? ss->exited_threads
			      : ss->orphan_threads;

	r.count = ss->orphan_live_blocks;
	r.bytes = ss->orphan_live_bytes;
	r.threads = ss->ostat ? (uint32_t)ss->ostat->owners.len : 0;
	r.severity = orphan_severity(e, p, ss);
	snprintf(r.detail, sizeof(r.detail),
		 "%" PRIu64 " block(s) left behind by %u of %" PRIu64
		 " exited thread(s) that allocated here%s; %" PRIu64
		 " (%" PRIu64 " bytes) still live",
		 ss->orphan_blocks, ss->orphan_threads, exited,
		 tls ? ", under a C++ thread_local initializer" : "", r.count,
		 r.bytes);
	if (r.count == a->row.count && r.bytes == a->row.bytes &&
	    r.threads == a->row.threads && r.severity == a->row.severity &&
	    !strcmp(r.detail, a->row.detail))
		return;
	a->row = r;
	agg__touch(p, a);
}

static void orphan_update(struct engine *e, struct proc *p,
			  struct site_stat *ss, const struct block *last,
			  uint64_t now)
{
	struct agg *a = ss->orphan;

	if (!a) {
		if (ss->orphan_threads < e->cfg.orphan_min_threads ||
		    !orphan_share_at(p, ss, e->cfg.orphan_share))
			return;
		/* Handed to other threads that free them: not leftovers. */
		if (!ss_tls_init(e, p, ss) && ss->cross_frees)
			return;
		/* orphan_check counted complete blocks only. */
		a = agg__new(e, p, MW_FIND_THREAD_ORPHAN,
			     orphan_severity(e, p, ss), ss->stack, ss->site,
			     now, now);
		if (!a)
			return;
		a->ss = ss;
		ss->orphan = a;
	}
	agg__block(p, a, last);
	a->row.trigger_ts = block_owner(p, last)->row.exit_ts;
	a->row.last_ts = now;
	orphan_numbers(e, p, ss, a);
	agg__touch(p, a);
}

/* The thread exited orphan_age ago: what it allocated and is still live
 * was left behind. Grouped by site, so each site counts the thread
 * once. */
void orphan__check(struct engine *e, struct proc *p, struct thread *t,
		   uint64_t now)
{
	struct hmap seen;
	size_t pos = 0;
	uint64_t k;
	void *v;

	count_exited(p, t);
	hmap__init(&seen);
	for (struct block *b = thread_blocks(p, t); b; b = block_tnext(p, b)) {
		struct site_stat *ss = block_ss(p, b);
		struct orphan_stat *os;
		uintptr_t n;

		/* One-block TLS findings already name it. The loader's
		 * dynamic TLS blocks belong to glibc, which keeps them with
		 * the thread's cached stack for the next thread. */
		if (b->reported || b->orphan ||
		    (site__stack_flags(e, p, ss->stack) & MW_STACK_TLS_DYNAMIC))
			continue;
		/* Allocated before an event was lost: its free may be
		 * that event. Not evidence, and not counted. */
		if (!proc_complete_since(p, b->ts))
			continue;
		/* Out of memory, the block is not counted rather than
		 * counted where its free could not be followed. */
		if (!(os = ostat_get(ss)))
			continue;
		n = (uintptr_t)hmap__get(&os->owners, t->idx);
		if (hmap__put(&os->owners, t->idx, (void *)(n + 1)))
			continue;
		b->orphan = true;
		ss->orphan_blocks++;
		ss->orphan_bytes += b->size;
		ss->orphan_live_bytes += b->size;
		ss->orphan_live_blocks++;
		/* Remember the newest block of the site for the finding. */
		hmap__put(&seen, ss->key, b);
	}
	while (hmap__next(&seen, &pos, &k, &v)) {
		struct block *b = v;

		struct site_stat *ss = block_ss(p, b);

		if (!ss->orphan_threads)
			ss->exits_base = t->exit_ordinal - 1;
		ss->orphan_threads++;
		orphan_update(e, p, ss, b, now);
	}
	hmap__fini(&seen);
	t->orphan_pending = false;
	thread_touch(t); /* so that a flush may release it */
}

void orphan__freed(struct proc *p, const struct thread *t,
		   const struct block *b)
{
	struct orphan_stat *os = block_ss(p, b)->ostat;

	if (os && !hmap__get(&os->freers, t->row.tid))
		hmap__put(&os->freers, t->row.tid, (void *)1);
}

void rules__block_removed(struct engine *e, struct proc *p,
			  const struct block *b, const struct thread *freer)
{
	struct site_stat *ss = block_ss(p, b);
	struct orphan_stat *os = ss->ostat;
	uintptr_t n;

	/* Gone without a free seen: the finding that names it stays
	 * open, as nothing says the program let go of it. */
	if (b->reported && !freer)
		free(hmap__del(&p->held, b->serial));
	if (!b->orphan)
		return;
	ss->orphan_live_blocks--;
	if (!os)
		return;
	if (freer)
		os->freed++;
	else
		os->gone++;
	n = (uintptr_t)hmap__get(&os->owners, b->owner);
	if (n > 1)
		hmap__put(&os->owners, b->owner, (void *)(n - 1));
	else
		hmap__del(&os->owners, b->owner);
}

/* --- resolution ---------------------------------------------------------- */

/* ss's left-behind evidence starts again from nothing: a new finding
 * needs orphan_min_threads new threads. */
static void orphan_reset(struct site_stat *ss)
{
	ss->orphan_threads = 0;
	ss->exited_threads = 0;
	ss->orphan_blocks = 0;
	ss->orphan_bytes = 0;
	if (ss->ostat) {
		hmap__fini(&ss->ostat->freers);
		ss->ostat->freed = ss->ostat->gone = 0;
	}
}

void orphan__review(struct engine *e, struct proc *p, struct agg *a,
		    uint64_t now)
{
	struct site_stat *ss = a->ss;
	struct orphan_stat *os = ss->ostat;

	if (!ss->orphan_live_blocks) {
		uint64_t freers = os ? os->freers.len : 0;

		orphan_numbers(e, p, ss, a);
		if (os && os->gone)
			finding__resolve(
			    &a->row, now,
			    "all %" PRIu64 " block(s) gone: %" PRIu64
			    " freed (by %" PRIu64 " other thread(s)), %" PRIu64
			    " with no free seen (exec, or a lost free)",
			    ss->orphan_blocks, os->freed, freers, os->gone);
		else
			finding__resolve(&a->row, now,
					 "all %" PRIu64
					 " block(s) freed (by %" PRIu64
					 " other thread(s))",
					 ss->orphan_blocks, freers);
		orphan_reset(ss);
	} else if (!orphan_share_at(p, ss, e->cfg.orphan_share)) {
		orphan_numbers(e, p, ss, a);
		finding__resolve(
		    &a->row, now,
		    "only %u of %u exited threads that allocated here "
		    "(of %" PRIu64 " that exited) left blocks (under %u%%): "
		    "kept by design",
		    ss->orphan_threads, ss->exited_threads,
		    p->orphan_exits - ss->exits_base, e->cfg.orphan_share);
	} else {
		orphan_numbers(e, p, ss, a);
		return;
	}
	ss->orphan = NULL;
	agg__touch(p, a);
}
