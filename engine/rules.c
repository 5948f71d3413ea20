/*
 * rules.c - the rules that judge sites and threads over time, rather
 * than one block at a grace deadline, on the statistics of engine_site.c:
 *
 *  - thread-orphan: blocks a thread allocated that are still live
 *    orphan_age after it exited, grouped by allocating site (stack). A
 *    site is flagged once it has left blocks behind in orphan_min_threads
 *    exited threads, so that what is flagged grows with thread churn. A
 *    site whose blocks other threads free (producer/consumer hand-off) is
 *    not flagged unless its stack runs through a C++ thread_local
 *    initializer, which makes it TLS by construction (severity high).
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
 * Each such finding is one row (struct agg) whose evidence is updated as
 * it grows; its id never changes. A process whose events were lost gets
 * no new ones from evidence that began before the latest loss (see
 * agg_new). Invariant: a thread with orphan_pending is on the orphan
 * queue exactly once.
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

/* --- aggregated findings ---------------------------------------------------- */

void agg_touch(struct proc *p, struct agg *a)
{
	if (!a->dirty && !vec__push(&p->dirty_aggs, a))
		a->dirty = true;
}

/*
 * A new finding over time whose evidence began at since, or NULL. None
 * when events of the process were lost or refused at or after since
 * (engine_int.h): a lost free makes a block look live forever, a lost
 * allocation makes its free look unknown or double, so such evidence
 * would accuse the program of what the trace missed. The rule is asked
 * again at its next trigger; a finding made earlier is still updated.
 */
struct agg *agg_new(struct engine *e, struct proc *p, uint32_t kind,
		    uint32_t severity, struct mw_stack *st, uint64_t site,
		    uint64_t since, uint64_t now)
{
	struct agg *a;

	if (!proc_complete_since(p, since)) {
		proc_withhold(e, p);
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	if (vec__push(&p->aggs, a)) {
		free(a);
		return NULL;
	}
	hmap__init(&a->tids);
	a->stack = st;
	a->row.id = e->serial++;
	a->row.kind = kind;
	a->row.severity = severity;
	a->row.pid = p->row.pid;
	a->row.proc_id = p->row.id;
	a->row.site = site;
	a->row.stack_id = st ? st->id : 0;
	a->row.found_ts = now;
	a->row.first_ts = now;
	a->row.last_ts = now;
	p->row.findings++;
	p->dirty = true;
	e->st.findings++;
	return a;
}

void agg_thread(struct agg *a, uint32_t tid)
{
	if (!hmap__get(&a->tids, tid))
		hmap__put(&a->tids, tid, (void *)1);
	a->row.threads = (uint32_t)a->tids.len;
}

/* Name the block a finding points at for people: its thread, address,
 * size and time. */
static void agg_block(const struct proc *p, struct agg *a,
		      const struct block *b)
{
	a->row.tid = block_owner(p, b)->row.tid;
	a->row.alloc_tid = a->row.tid;
	a->row.block = b->serial;
	a->row.addr = b->addr;
	a->row.size = b->size;
	a->row.alloc_ts = b->ts;
}

/* --- frees ------------------------------------------------------------------ */

static struct free_stat *fs_get(struct proc *p, uint64_t ip)
{
	struct free_stat *fs = hmap__get(&p->free_stats, ip);

	if (fs)
		return fs;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NULL;
	if (hmap__put(&p->free_stats, ip, fs)) {
		free(fs);
		return NULL;
	}
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

	if (fs) {
		fs->frees++;
		if (block_owner(p, b) != t)
			fs->cross_frees++;
		if (fs->bad) {
			fs->bad->row.last_ts = ts;
			agg_touch(p, fs->bad);
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
		    agg_new(e, p, MW_FIND_BAD_FREE, MW_SEV_HIGH, NULL, ev->site,
			    proc_incomplete(p) ? 0 : ev->ts, ev->ts);
		if (!fs->bad)
			return;
	}
	if (twice) {
		fs->bad->row.tid = t->row.tid;
		fs->bad->row.addr = ev->addr;
	}
	agg_thread(fs->bad, t->row.tid);
	bad_free_detail(fs->bad, fs);
	fs->bad->row.last_ts = ev->ts;
	agg_touch(p, fs->bad);
}

/* --- thread-orphan ---------------------------------------------------------- */

void rules__thread_exit(struct engine *e, struct proc *p, struct thread *t,
			uint64_t ts)
{
	/* A TLS-only trace sees no free: leftovers and growth are beyond
	 * it. */
	if (t->orphan_pending || !t->blocks || p->row.mode == MW_MODE_TLS)
		return;
	t->orphan_pending = true;
	t->orphan_deadline = ts + e->cfg.orphan_age_ns;
	t->orphan_next = NULL;
	if (p->orphan_tail)
		p->orphan_tail->orphan_next = t;
	else
		p->orphan_head = t;
	p->orphan_tail = t;
}

static bool ss_tls_init(struct engine *e, struct proc *p,
			struct site_stat *ss)
{
	return site__stack_flags(e, p, ss->stack) & MW_STACK_TLS_INIT;
}

static void orphan_update(struct engine *e, struct proc *p,
			  struct site_stat *ss, const struct block *last,
			  uint64_t now)
{
	bool tls = ss_tls_init(e, p, ss);
	struct agg *a = ss->orphan;

	if (!a) {
		if (ss->orphan_threads < e->cfg.orphan_min_threads)
			return;
		/* Handed to other threads that free them: not leftovers. */
		if (!tls && ss->cross_frees)
			return;
		/* orphan_check counted complete blocks only. */
		a = agg_new(e, p, MW_FIND_THREAD_ORPHAN,
			    tls ? MW_SEV_HIGH : MW_SEV_MEDIUM, ss->stack,
			    ss->site, now, now);
		if (!a)
			return;
		ss->orphan = a;
	}
	agg_block(p, a, last);
	a->row.threads = ss->orphan_threads;
	a->row.count = ss->orphan_blocks;
	a->row.bytes = ss->orphan_bytes;
	a->row.trigger_ts = block_owner(p, last)->row.exit_ts;
	a->row.last_ts = now;
	snprintf(a->row.detail, sizeof(a->row.detail),
		 "%" PRIu64 " block(s) left behind by %u exited thread(s)%s; "
		 "%" PRIu64 " bytes of them still live",
		 ss->orphan_blocks, ss->orphan_threads,
		 tls ? ", allocated under a C++ thread_local initializer" : "",
		 ss->orphan_live_bytes);
	agg_touch(p, a);
}

/* The thread exited orphan_age ago: what it allocated and is still live
 * was left behind. Grouped by site, so each site counts the thread
 * once. */
static void orphan_check(struct engine *e, struct proc *p, struct thread *t,
			 uint64_t now)
{
	struct hmap seen;
	size_t pos = 0;
	uint64_t k;
	void *v;

	hmap__init(&seen);
	for (struct block *b = thread_blocks(p, t); b; b = block_tnext(p, b)) {
		struct site_stat *ss = block_ss(p, b);

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
		b->orphan = true;
		ss->orphan_blocks++;
		ss->orphan_bytes += b->size;
		ss->orphan_live_bytes += b->size;
		/* Remember the newest block of the site for the finding. */
		hmap__put(&seen, ss->key, b);
	}
	while (hmap__next(&seen, &pos, &k, &v)) {
		struct block *b = v;

		block_ss(p, b)->orphan_threads++;
		orphan_update(e, p, block_ss(p, b), b, now);
	}
	hmap__fini(&seen);
	t->orphan_pending = false;
	thread_touch(t); /* so that a flush may release it */
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

static void growth_detail(struct agg *a, const struct engine *e,
			  const uint64_t *s, uint32_t n, const char *what)
{
	uint32_t want = e->cfg.growth_samples;
	uint64_t from = s[n - want], to = s[n - 1];
	uint64_t ms = (want - 1) * e->cfg.sample_ns / NS_PER_MS;

	snprintf(a->row.detail, sizeof(a->row.detail),
		 "%s live bytes grew from %" PRIu64 " to %" PRIu64
		 " over %" PRIu64 " ms (%" PRIu64 " bytes/s)",
		 what, from, to, ms, ms ? (to - from) * 1000 / ms : 0);
}

/* When the first of the last n samples was taken (sites and threads are
 * sampled with their process, engine_int.h); 0 if unknown. Growth seen
 * in samples taken after a loss is complete: a free lost before them
 * only adds the same bytes to each. */
static uint64_t window_start(const struct proc *p, uint32_t n)
{
	return n && n <= p->nsamples ? p->s_ts[p->nsamples - n] : 0;
}

static void site_sample(struct engine *e, struct proc *p, struct site_stat *ss,
			uint64_t now)
{
	struct agg *a;

	sample_push(ss->samples, &ss->nsamples, ss->live_bytes);
	if (!growing(ss->samples, ss->nsamples, e->cfg.growth_samples,
		     e->cfg.growth_min_bytes))
		return;
	a = ss->growth;
	if (!a) {
		a = agg_new(e, p, MW_FIND_SITE_GROWTH, MW_SEV_MEDIUM, ss->stack,
			    ss->site, window_start(p, e->cfg.growth_samples),
			    now);
		if (!a)
			return;
		ss->growth = a;
	}
	a->row.tid = a->row.alloc_tid = ss->last_tid;
	a->row.addr = ss->last_addr;
	a->row.size = ss->last_size;
	a->row.alloc_ts = ss->last_ts;
	a->row.block = ss->last_serial;
	agg_thread(a, ss->last_tid);
	a->row.count = ss->live_blocks;
	a->row.bytes = ss->live_bytes;
	a->row.last_ts = now;
	growth_detail(a, e, ss->samples, ss->nsamples, "site");
	agg_touch(p, a);
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

		sum = hmap__get(&bytes, key);
		if (!sum) {
			sum = calloc(1, sizeof(*sum));
			if (!sum || hmap__put(&bytes, key, sum)) {
				free(sum);
				continue;
			}
		}
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

	sample_push(t->samples, &t->nsamples, t->row.live_bytes);
	if (!growing(t->samples, t->nsamples, e->cfg.growth_samples,
		     e->cfg.growth_min_bytes) ||
	    !(top = thread_top_site(p, t)))
		return;
	tss = block_ss(p, top);
	if (!a) {
		a = agg_new(e, p, MW_FIND_THREAD_GROWTH, MW_SEV_MEDIUM,
			    tss->stack, tss->site,
			    window_start(p, e->cfg.growth_samples), now);
		if (!a)
			return;
		t->growth = a;
	}
	agg_block(p, a, top);
	agg_thread(a, t->row.tid);
	a->stack = tss->stack;
	a->row.site = tss->site;
	a->row.stack_id = tss->stack ? tss->stack->id : 0;
	a->row.count = t->row.live_blocks;
	a->row.bytes = t->row.live_bytes;
	a->row.last_ts = now;
	growth_detail(a, e, t->samples, t->nsamples, "thread");
	agg_touch(p, a);
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
		a = agg_new(e, p, MW_FIND_ALLOCATOR_RETENTION, MW_SEV_MEDIUM,
			    NULL, 0, window_start(p, 2 * want - 1), now);
		if (!a)
			return;
		p->retention = a;
	}
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
	agg_touch(p, a);
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
	while (p->orphan_head &&
	       (all || p->orphan_head->orphan_deadline <= now)) {
		struct thread *t = p->orphan_head;

		p->orphan_head = t->orphan_next;
		if (!p->orphan_head)
			p->orphan_tail = NULL;
		orphan_check(e, p, t, now);
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

/* --- flush ------------------------------------------------------------------ */

int rules__flush_emit(struct engine *e, struct proc *p,
		      const struct engine_sink *sink, void *ctx)
{
	int err;

	for (size_t i = 0; i < p->dirty_aggs.len; i++) {
		struct agg *a = p->dirty_aggs.items[i];

		if ((err = site__emit_stack(e, p, sink, ctx, a->stack)) ||
		    (err = sink->finding(ctx, &a->row)) ||
		    (err = site__emit(p, sink, ctx, a->row.site)))
			return err;
	}
	return 0;
}

void rules__flush_commit(struct proc *p)
{
	for (size_t i = 0; i < p->dirty_aggs.len; i++) {
		struct agg *a = p->dirty_aggs.items[i];

		a->dirty = false;
	}
	p->dirty_aggs.len = 0;
}
