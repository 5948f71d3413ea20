/*
 * rules.c - the rules that judge sites and threads over time, rather
 * than one block at a grace deadline, on the statistics of engine_site.c:
 *
 *  - thread-orphan: blocks exited threads left behind, by site, judged
 *    orphan_age after each exit (rules_orphan.c, called from here).
 *  - thread-growth: a live thread's live bytes grew at every one of the
 *    last growth_samples - 1 sample steps, by growth_min_bytes in all.
 *    The finding names the site holding most of that thread's live bytes.
 *  - site-growth: the same test on one site's live bytes, across threads
 *    (a queue that keeps finished tasks' payloads).
 *  - allocator-retention: the process's anonymous mappings (kernel-side
 *    mmap/munmap/mremap/brk) grew over the growth window while threads
 *    exited and the live set did not: see retention_sample.
 *  - bad-free: a free call site that freed an address twice (freed,
 *    not allocated again, freed), the signature of a custom allocator
 *    raced by several threads. Its frees of unknown addresses and of
 *    blocks other threads allocated are counted as evidence.
 *
 * Each such finding is one row (struct agg, rules_finding.c) whose
 * evidence is updated as it grows; its id never changes. A process whose
 * events were lost gets no new ones from evidence that began before the
 * latest loss (see agg__new).
 *
 * Findings resolve. At each flush rules__review judges every open
 * finding over time again: its numbers are made current, and once its
 * evidence went away (thread-orphan: every block left behind is gone, or
 * the share of threads leaving blocks fell under orphan_share; growth:
 * the live bytes fell back to where the growth began; retention: the
 * anonymous memory did) it is resolved, with the time and the reason. A
 * one-block finding resolves at its block's free (rules__free). A
 * resolved finding stays resolved: its site, thread or process forgets
 * it, and evidence that comes back makes a new row. Resolved aggs are
 * freed once flushed; bad-free never resolves (the free happened).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

#define NS_PER_MS 1000000ull

struct free_stat {
	uint64_t ip;
	uint64_t frees, cross_frees, unknown_frees, double_frees;
	struct agg *bad;
};

void rules__proc_init(struct engine *e, struct proc *p)
{
	hmap__init(&p->free_stats);
	hmap__init(&p->recent);
	hmap__init(&p->held);
	p->next_sample = 0;
}

static void free_values(struct hmap *m)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(m, &pos, &k, &v))
		free(v);
	hmap__fini(m);
}

void rules__proc_fini(struct proc *p)
{
	/* Before site__fini frees the site_stats. */
	orphan__proc_fini(p);
	free_values(&p->held);
	free_values(&p->free_stats);
	hmap__fini(&p->recent);
	free(p->recent_ring);
	p->recent_ring = NULL;
	for (size_t i = 0; i < p->aggs.len; i++) {
		struct agg *a = p->aggs.items[i];

		hmap__fini(&a->tids);
		free(a);
	}
	vec__fini(&p->aggs);
	vec__fini(&p->dirty_aggs);
}

/* --- frees ------------------------------------------------------------------ */

static struct free_stat *fs_get(struct proc *p, uint64_t ip)
{
	bool made;
	struct free_stat *fs =
	    hmap__get_new(&p->free_stats, ip, sizeof(*fs), &made);

	if (made)
		fs->ip = ip;
	return fs;
}

/* Remember addr as freed, forgetting the oldest beyond recent_frees. */
static void recent_add(struct engine *e, struct proc *p, uint64_t addr)
{
	uint32_t n = e->cfg.recent_frees;
	uint64_t seq = p->recent_seq++, slot = seq % n;

	if (!p->recent_ring) {
		p->recent_ring = calloc(n, sizeof(*p->recent_ring));
		if (!p->recent_ring)
			return;
	}
	if (seq >= n) {
		uint64_t old = p->recent_ring[slot];
		void *v = hmap__get(&p->recent, old);

		/* Only if the map still holds that free, not a newer one. */
		if (v && (uint64_t)(uintptr_t)v == seq - n + 1)
			hmap__del(&p->recent, old);
	}
	p->recent_ring[slot] = addr;
	hmap__put(&p->recent, addr, (void *)(uintptr_t)(seq + 1));
}

void rules__free(struct engine *e, struct proc *p, struct thread *t,
		 const struct block *b, uint64_t ip, uint64_t ts)
{
	struct free_stat *fs = fs_get(p, ip);

	/* The block a one-block finding names is freed: resolved. */
	if (b->reported)
		finding__freed(p, t, b, ts);
	if (b->orphan)
		orphan__freed(p, t, b);

	if (fs) {
		fs->frees++;
		if (block_owner(p, b) != t)
			fs->cross_frees++;
		if (fs->bad) {
			fs->bad->row.last_ts = ts;
			agg__touch(p, fs->bad);
		}
	}
	recent_add(e, p, b->addr);
}

static void bad_free_detail(struct agg *a, const struct free_stat *fs)
{
	snprintf(a->row.detail, sizeof(a->row.detail),
		 "%" PRIu64 " double free(s), %" PRIu64
		 " free(s) of unknown addresses, %" PRIu64
		 " of %" PRIu64 " frees of blocks another thread allocated",
		 fs->double_frees, fs->unknown_frees, fs->cross_frees,
		 fs->frees);
	a->row.count = fs->double_frees + fs->unknown_frees;
}

void rules__unknown_free(struct engine *e, struct proc *p, struct thread *t,
			 const struct mw_event *ev)
{
	struct free_stat *fs = fs_get(p, ev->site);
	bool twice = hmap__get(&p->recent, ev->addr) != NULL;

	if (!fs)
		return;
	/* Once the trace is incomplete, a free of an unknown address is
	 * no evidence: its allocation may be what was lost. */
	if (!twice && proc_incomplete(p))
		return;
	if (twice) {
		fs->double_frees++;
		/* Once is enough to remember: a third free is a double
		 * free again only after another allocation. */
		hmap__del(&p->recent, ev->addr);
	} else {
		fs->unknown_frees++;
	}
	if (!fs->bad && !fs->double_frees)
		return;
	if (!fs->bad) {
		/* When the address was first freed is not kept: an
		 * allocation between the two frees may have been lost at any
		 * time, so an incomplete trace reports no new bad free. */
		fs->bad =
		    agg__new(e, p, MW_FIND_BAD_FREE, MW_SEV_HIGH, NULL,
			     ev->site, proc_incomplete(p) ? 0 : ev->ts, ev->ts);
		if (!fs->bad)
			return;
	}
	if (twice) {
		fs->bad->row.tid = t->row.tid;
		fs->bad->row.addr = ev->addr;
	}
	agg__thread(fs->bad, t->row.tid);
	bad_free_detail(fs->bad, fs);
	fs->bad->row.last_ts = ev->ts;
	agg__touch(p, fs->bad);
}

/* --- growth ----------------------------------------------------------------- */

static void sample_push(uint64_t *samples, uint32_t *n, uint64_t v)
{
	if (*n == ENGINE_MAX_SAMPLES) {
		memmove(samples, samples + 1,
			(ENGINE_MAX_SAMPLES - 1) * sizeof(*samples));
		(*n)--;
	}
	samples[(*n)++] = v;
}

/* Grew at each of the last want - 1 steps, by min in all. */
static bool growing(const uint64_t *s, uint32_t n, uint32_t want, uint64_t min)
{
	if (n < want)
		return false;
	s += n - want;
	for (uint32_t i = 1; i < want; i++)
		if (s[i] <= s[i - 1])
			return false;
	return s[want - 1] - s[0] >= min;
}

static void growth_detail(struct agg *a, const struct growth_watch *w,
			  uint64_t live, uint64_t now, const char *what)
{
	uint64_t ms = (now - w->since_ts) / NS_PER_MS;
	uint64_t from = w->since_bytes;

	snprintf(a->row.detail, sizeof(a->row.detail),
		 "%s live bytes grew from %" PRIu64 " to %" PRIu64
		 " over %" PRIu64 " ms (%" PRIu64 " bytes/s)",
		 what, from, live, ms,
		 ms && live > from ? (live - from) * 1000 / ms : 0);
}

/*
 * The growth rules' horizon. The short window (growing) only says
 * growth is seen: a program loading its data or warming a cache grows
 * like that too, then levels off. So growth seen is followed, and is a
 * finding once it went on for growth_horizon_ns: live bytes then at
 * least growth_min_bytes above where it began, and the second half of
 * the horizon adding at least a quarter of what the first half did (it
 * did not level off). Live bytes back at or under where it began end the
 * watch, and so does a horizon that levelled off: the next growth seen
 * starts a new one. Severity rises with the evidence: low once found,
 * medium when it grew by growth_min_bytes again over a second horizon.
 * Returns the severity to report now, 0 for none. found: a finding of
 * this watch is open. Under ENGINE_GROWTH_AT_ONCE the window alone
 * decides, at medium.
 */
static uint32_t growth_judge(const struct engine *e, struct growth_watch *w,
			     const uint64_t *s, uint32_t n, uint64_t live,
			     uint64_t now, bool found)
{
	uint32_t want = e->cfg.growth_samples;
	uint64_t h = e->cfg.growth_horizon_ns, min = e->cfg.growth_min_bytes;
	bool grow = growing(s, n, want, min);
	uint64_t el, first, second;

	if (!found && w->since_ts && live <= w->since_bytes)
		*w = (struct growth_watch){0};
	if (!w->since_ts || (h < e->cfg.sample_ns && !found)) {
		if (!grow)
			return 0;
		*w = (struct growth_watch){
			.since_ts = now - (uint64_t)(want - 1) * e->cfg.sample_ns,
			.since_bytes = s[n - want],
		};
	}
	if (h < e->cfg.sample_ns)
		return grow || found ? MW_SEV_MEDIUM : 0;
	el = now - w->since_ts;
	if (!w->mid && el >= h / 2) {
		/* The sample at the half-way point, or the first after it:
		 * the one just taken unless the watch began further back
		 * than h / 2, among the samples that showed the growth
		 * (s[n - 1] is now's, one sample_ns apart). */
		uint64_t back = el / e->cfg.sample_ns;
		uint64_t k = (h / 2 + e->cfg.sample_ns - 1) / e->cfg.sample_ns;

		w->mid_bytes = back < n && k < back ? s[n - 1 - back + k] : live;
		w->mid = true;
	}
	if (el < h)
		return 0;
	if (!found) {
		first = w->mid_bytes > w->since_bytes
				? w->mid_bytes - w->since_bytes
				: 0;
		second = live > w->mid_bytes ? live - w->mid_bytes : 0;
		if (live < w->since_bytes + min || second * 4 < first) {
			*w = (struct growth_watch){0};
			return 0;
		}
		w->found_bytes = live;
	}
	return el >= 2 * h && live >= w->found_bytes + min ? MW_SEV_MEDIUM
							    : MW_SEV_LOW;
}

/* When the first of the last n samples was taken (sites and threads are
 * sampled with their process, engine_int.h); 0 if unknown. Growth seen
 * in samples taken after a loss is complete: a free lost before them
 * only adds the same bytes to each. */
static uint64_t window_start(const struct proc *p, uint32_t n)
{
	return n && n <= p->nsamples ? p->s_ts[p->nsamples - n] : 0;
}

/* When a watched growth's evidence began, for agg__new's check of lost
 * events: the window's first sample at once, else the watch's start. */
static uint64_t growth_since(const struct engine *e, const struct proc *p,
			     const struct growth_watch *w)
{
	if (e->cfg.growth_horizon_ns < e->cfg.sample_ns)
		return window_start(p, e->cfg.growth_samples);
	return w->since_ts;
}

static void site_sample(struct engine *e, struct proc *p, struct site_stat *ss,
			uint64_t now)
{
	struct agg *a;
	uint32_t sev;

	sample_push(ss->samples, &ss->nsamples, ss->live_bytes);
	sev = growth_judge(e, &ss->gw, ss->samples, ss->nsamples,
			   ss->live_bytes, now, ss->growth != NULL);
	if (!sev)
		return;
	a = ss->growth;
	if (!a) {
		a = agg__new(e, p, MW_FIND_SITE_GROWTH, sev, ss->stack,
			     ss->site, growth_since(e, p, &ss->gw), now);
		if (!a)
			return;
		a->ss = ss;
		a->base = ss->gw.since_bytes;
		ss->growth = a;
	}
	if (a->row.severity != sev) {
		a->row.severity = sev;
		agg__touch(p, a);
	}
	if (ss->live_bytes > a->peak)
		a->peak = ss->live_bytes;
	a->row.tid = a->row.alloc_tid = ss->last_tid;
	a->row.addr = ss->last_addr;
	a->row.size = ss->last_size;
	a->row.alloc_ts = ss->last_ts;
	a->row.block = ss->last_serial;
	agg__thread(a, ss->last_tid);
	a->row.count = ss->live_blocks;
	a->row.bytes = ss->live_bytes;
	a->row.last_ts = now;
	growth_detail(a, &ss->gw, ss->live_bytes, now, "site");
	agg__touch(p, a);
}

/* The thread's newest block from the site that holds most of its live
 * bytes: where its growth comes from. */
static struct block *thread_top_site(struct proc *p, struct thread *t)
{
	struct hmap bytes;
	struct block *top = NULL;
	uint64_t best = 0, best_key = 0;
	size_t pos = 0;
	uint64_t k;
	void *v;

	hmap__init(&bytes);
	for (struct block *b = thread_blocks(p, t); b; b = block_tnext(p, b)) {
		uint64_t key = block_ss(p, b)->key, *sum;

		if ((sum = hmap__get_new(&bytes, key, sizeof(*sum), NULL)))
			*sum += b->size;
	}
	while (hmap__next(&bytes, &pos, &k, &v)) {
		if (*(uint64_t *)v > best) {
			best = *(uint64_t *)v;
			best_key = k;
		}
	}
	free_values(&bytes);
	for (struct block *b = thread_blocks(p, t); b && best;
	     b = block_tnext(p, b))
		if (block_ss(p, b)->key == best_key &&
		    (!top || b->ts > top->ts))
			top = b;
	return top;
}

static void thread_sample(struct engine *e, struct proc *p, struct thread *t,
			  uint64_t now)
{
	struct block *top;
	struct site_stat *tss;
	struct agg *a = t->growth;
	uint32_t sev;

	sample_push(t->samples, &t->nsamples, t->row.live_bytes);
	sev = growth_judge(e, &t->gw, t->samples, t->nsamples,
			   t->row.live_bytes, now, a != NULL);
	if (!sev || !(top = thread_top_site(p, t)))
		return;
	tss = block_ss(p, top);
	if (!a) {
		a = agg__new(e, p, MW_FIND_THREAD_GROWTH, sev, tss->stack,
			     tss->site, growth_since(e, p, &t->gw), now);
		if (!a)
			return;
		a->thread = t;
		a->base = t->gw.since_bytes;
		t->growth = a;
	}
	a->row.severity = sev;
	if (t->row.live_bytes > a->peak)
		a->peak = t->row.live_bytes;
	agg__block(p, a, top);
	agg__thread(a, t->row.tid);
	a->stack = tss->stack;
	a->row.site = tss->site;
	a->row.stack_id = tss->stack ? tss->stack->id : 0;
	a->row.count = t->row.live_blocks;
	a->row.bytes = t->row.live_bytes;
	a->row.last_ts = now;
	growth_detail(a, &t->gw, t->row.live_bytes, now, "thread");
	agg__touch(p, a);
}

static void push3(struct proc *p, uint64_t anon, uint64_t live, uint64_t exits,
		  uint64_t now)
{
	if (p->nsamples == ENGINE_MAX_SAMPLES) {
		size_t n = (ENGINE_MAX_SAMPLES - 1) * sizeof(uint64_t);

		memmove(p->s_anon, p->s_anon + 1, n);
		memmove(p->s_live, p->s_live + 1, n);
		memmove(p->s_exits, p->s_exits + 1, n);
		memmove(p->s_ts, p->s_ts + 1, n);
		p->nsamples--;
	}
	p->s_ts[p->nsamples] = now;
	p->s_anon[p->nsamples] = anon;
	p->s_live[p->nsamples] = live;
	p->s_exits[p->nsamples++] = exits;
}

/* One window of allocator-retention evidence, the growth_samples samples
 * ending at sample end: anonymous memory grew by retention_min_bytes at
 * least, threads exited, and the live set grew by less than a quarter of
 * that (a TLS-only trace has no live set to compare). */
static bool retained(const struct engine *e, const struct proc *p,
		     uint32_t end, uint64_t *grew, uint64_t *exits,
		     int64_t *live)
{
	uint32_t first = end + 1 - e->cfg.growth_samples;

	if (p->s_anon[end] < p->s_anon[first])
		return false;
	*grew = p->s_anon[end] - p->s_anon[first];
	*exits = p->s_exits[end] - p->s_exits[first];
	*live = (int64_t)(p->s_live[end] - p->s_live[first]);
	return *grew >= e->cfg.retention_min_bytes && *exits &&
	       (p->row.mode == MW_MODE_TLS || *live <= (int64_t)(*grew / 4));
}

/*
 * allocator-retention: the allocator keeps what dead threads used
 * (glibc's arenas, mimalloc's abandoned segments) when the evidence holds
 * for two growth windows in a row. One window is not enough: a program
 * that starts a few threads at once makes glibc create their arenas
 * once, and that is a fixed cost, not memory growing with thread churn.
 */
static void retention_sample(struct engine *e, struct proc *p, uint64_t now)
{
	uint32_t want = e->cfg.growth_samples, n;
	uint64_t grew, exits, g0, x0;
	int64_t live, l0;
	struct agg *a;

	push3(p, anonmap__bytes(&p->anon), p->row.live_bytes, p->exits, now);
	n = p->nsamples;
	if (n < 2 * want - 1 ||
	    !retained(e, p, n - 1, &grew, &exits, &live) ||
	    !retained(e, p, n - want, &g0, &x0, &l0))
		return;
	grew += g0;
	exits += x0;
	live += l0;
	a = p->retention;
	if (!a) {
		a = agg__new(e, p, MW_FIND_ALLOCATOR_RETENTION, MW_SEV_MEDIUM,
			     NULL, 0, window_start(p, 2 * want - 1), now);
		if (!a)
			return;
		a->base = p->s_anon[n - (2 * want - 1)];
		p->retention = a;
	}
	if (p->s_anon[n - 1] > a->peak)
		a->peak = p->s_anon[n - 1];
	a->row.count = exits;
	a->row.bytes = p->s_anon[n - 1];
	a->row.size = grew;
	a->row.threads = (uint32_t)exits;
	a->row.last_ts = now;
	snprintf(a->row.detail, sizeof(a->row.detail),
		 "%.16s: anon memory +%" PRIu64 " MiB (%" PRIu64
		 " MiB) in %" PRIu64 " ms, %" PRIu64
		 " threads exited, live set %+" PRId64 " KiB",
		 p->row.allocator[0] ? p->row.allocator : "allocator",
		 grew >> 20, p->s_anon[n - 1] >> 20,
		 (uint64_t)(2ull * (want - 1) * e->cfg.sample_ns / NS_PER_MS),
		 exits, live / 1024);
	agg__touch(p, a);
}

static void sample_all(struct engine *e, struct proc *p, uint64_t now)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	retention_sample(e, p, now);
	if (p->row.mode == MW_MODE_TLS)
		return;

	while (hmap__next(&p->site_stats, &pos, &k, &v))
		site_sample(e, p, v, now);
	pos = 0;
	while (hmap__next(&p->threads, &pos, &k, &v))
		thread_sample(e, p, v, now);
}

void rules__tick(struct engine *e, struct proc *p, uint64_t now, bool all)
{
	/* The process ended: threads judged now before their orphan_age
	 * had no time to see their blocks freed; the share they are held
	 * to is over every thread that exited in the process. */
	p->orphan_final = all;
	while (p->orphan_head &&
	       (all || p->orphan_head->orphan_deadline <= now)) {
		struct thread *t = p->orphan_head;

		p->orphan_head = t->orphan_next;
		if (!p->orphan_head)
			p->orphan_tail = NULL;
		orphan__check(e, p, t, now);
	}
	if (all)
		return;
	if (!p->next_sample)
		p->next_sample = now + e->cfg.sample_ns;
	if (now < p->next_sample)
		return;
	/* Late ticks take one sample: growth is judged per sample. */
	p->next_sample = now + e->cfg.sample_ns;
	sample_all(e, p, now);
}

/* --- resolution ------------------------------------------------------------- */

/* Growth given back: live bytes (now) at most where it began. */
static bool review_growth(struct proc *p, struct agg *a, uint64_t blocks,
			  uint64_t bytes, const char *what, uint64_t now)
{
	if (bytes <= a->base) {
		a->row.count = blocks;
		a->row.bytes = bytes;
		finding__resolve(&a->row, now,
			    "%s live bytes back to %" PRIu64 " (peak %" PRIu64
			    ", the growth began at %" PRIu64 ")",
			    what, bytes, a->peak, a->base);
		agg__touch(p, a);
		return true;
	}
	if (a->row.count != blocks || a->row.bytes != bytes) {
		a->row.count = blocks;
		a->row.bytes = bytes;
		agg__touch(p, a);
	}
	return false;
}

static void review_retention(struct proc *p, struct agg *a, uint64_t now)
{
	uint64_t anon = anonmap__bytes(&p->anon);

	if (anon <= a->base) {
		a->row.bytes = anon;
		finding__resolve(&a->row, now,
			    "anonymous memory back to %" PRIu64
			    " MiB (peak %" PRIu64 " MiB, it began at %" PRIu64
			    " MiB)",
			    anon >> 20, a->peak >> 20, a->base >> 20);
		p->retention = NULL;
		agg__touch(p, a);
	} else if (a->row.bytes != anon) {
		a->row.bytes = anon;
		agg__touch(p, a);
	}
}

void rules__review(struct engine *e, struct proc *p, uint64_t now)
{
	/* An ended process is judged as it ended: what it freed before
	 * its exit resolves, what it still held stays. */
	for (size_t i = 0; i < p->aggs.len; i++) {
		struct agg *a = p->aggs.items[i];
		struct thread *t = a->thread;

		if (a->row.resolved_ts)
			continue;
		switch (a->row.kind) {
		case MW_FIND_THREAD_ORPHAN:
			orphan__review(e, p, a, now);
			break;
		case MW_FIND_SITE_GROWTH:
			if (review_growth(p, a, a->ss->live_blocks,
					  a->ss->live_bytes, "site", now))
				a->ss->growth = NULL;
			break;
		case MW_FIND_THREAD_GROWTH:
			if (review_growth(p, a, t ? t->row.live_blocks : 0,
					  t ? t->row.live_bytes : 0, "thread",
					  now) &&
			    t)
				t->growth = NULL;
			break;
		case MW_FIND_ALLOCATOR_RETENTION:
			review_retention(p, a, now);
			break;
		}
	}
}

