/*
 * test_engine_random.c - the engine (engine/engine*.c) fed a long random
 * run of well-formed events and checked, flush after flush, against a
 * model of it written from the rules (randomized consistency), with and
 * without a row budget per flush.
 *
 * The engine is flushed into the recording sink through the fixture the
 * engine's tests share (tests/support/engine_fixture.h), whose model of
 * the store is checked too.
 *
 * Times in the model are nanoseconds, as the engine's.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "unit.h"

/* --- randomized consistency -------------------------------------------- */

/*
 * A shadow model written from the rules, not from the engine: live
 * blocks, thread instances (a tid may be reused), bindings, keys and
 * candidates. Events are random but well-formed, with timestamps that only
 * grow. After every flush each handed thread row must match the model's
 * instance exactly, the process row and stats must match the model, the
 * findings of the flush must be the model's (a one-block finding handed
 * over again, resolved, once its block is freed), and no counter may come near
 * wrapping.
 */
#define RT_PID 100u
#define RT_SLOTS 6
#define RT_KEYS 4
#define RT_POOL 1024
#define RT_EVENTS 100000
#define RT_GRACE MS(20)
#define RT_PERSIST MS(50)
#define TOO_BIG (1ull << 62)

struct rt_block {
	uint64_t id, addr, size, ts, site;
	size_t owner;
	bool reported;
	uint64_t found, fsize; /* reported: when, its size then, */
	uint32_t kind;	       /* and of what kind */
	size_t agg;	       /* tls-overwritten: its row's index + 1 */
};

struct rt_inst {
	uint32_t tid, state;
	uint64_t start_ts;
	uint64_t allocs, frees, alloc_bytes, free_bytes, cross, unknown;
	uint64_t live_blocks, live_bytes;
};

struct rt_bind {
	bool set;
	uint64_t value, block;
};

struct rt_cand {
	uint64_t addr, block, deadline;
	uint32_t kind, key, gen;
};

struct rt_find {
	uint64_t addr, size, found, count;
	uint32_t kind, alloc_tid;
	uint64_t resolved; /* when its block was freed; 0: open */
};

/* A tls-overwritten row: one per (key, generation, allocating site),
 * naming its latest block; closed once exec made its key another. */
struct rt_agg {
	uint32_t key, gen;
	uint64_t site;
	struct rt_find f;
	uint64_t live; /* the blocks it counts still live */
	bool dirty, closed;
};

struct rt {
	struct hmap blocks; /* addr -> struct rt_block */
	RECSINK_ARR(struct rt_inst) inst;
	long slot[RT_SLOTS]; /* instance index, -1 if none alive */
	struct rt_bind bind[RT_SLOTS][RT_KEYS + 1];
	int kstate[RT_KEYS + 1]; /* 0 unknown, 1 live, 2 deleted */
	uint32_t kgen[RT_KEYS + 1];
	RECSINK_ARR(struct rt_cand) cands;
	RECSINK_ARR(struct rt_find) found; /* since the last flush */
	RECSINK_ARR(struct rt_agg) aggs;
	uint64_t next_id, rng, now;
	uint64_t allocs, frees, unknown, live_blocks, live_bytes;
	uint64_t lost, all_lost, findings, events;
	/* The latest loss of RT_PID (engine_int.h): blocks allocated until
	 * then are not judged; withheld counts those decisions. */
	uint64_t incomplete_to, withheld;
	int bad; /* mismatches seen, to stop printing after a few */
};

static uint64_t rt_rand(struct rt *m, uint64_t n)
{
	/* xorshift64* */
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return (m->rng * 0x2545f4914f6cdd1dull >> 11) % n;
}

static uint64_t rt_pool_addr(uint64_t i)
{
	return 0x10000 + i * 0x100;
}

static void rt_feed(struct rt *m, struct mw_event ev)
{
	ev.ts = m->now;
	m->events++;
	if (engine__feed(E, &ev)) {
		unit_failed_now = 1;
		if (m->bad++ < 5)
			printf("  random: feed of %s failed\n",
			       mw_event_type_name(ev.type));
	}
}

static void rt_remove(struct rt *m, struct rt_block *b)
{
	struct rt_inst *o = &m->inst.v[b->owner];

	o->live_blocks--;
	o->live_bytes -= b->size;
	m->live_blocks--;
	m->live_bytes -= b->size;
	hmap__del(&m->blocks, b->addr);
	free(b);
}

static void rt_alloc(struct rt *m, int s, uint64_t addr, uint64_t size,
		     uint64_t site)
{
	struct rt_inst *t = &m->inst.v[m->slot[s]];
	struct rt_block *b, *old;

	if (!addr)
		return;
	t->allocs++;
	t->alloc_bytes += size;
	m->allocs++;
	old = hmap__get(&m->blocks, addr);
	if (old) /* its free was lost */
		rt_remove(m, old);
	b = calloc(1, sizeof(*b));
	if (!b)
		abort();
	b->id = ++m->next_id;
	b->addr = addr;
	b->size = size;
	b->ts = m->now;
	b->site = site;
	b->owner = (size_t)m->slot[s];
	if (hmap__put(&m->blocks, addr, b))
		abort();
	t->live_blocks++;
	t->live_bytes += size;
	m->live_blocks++;
	m->live_bytes += size;
}

/* b, which a finding names, is freed: the finding resolves. Handed over
 * once more, unless it was not handed over yet. */
static void rt_resolve(struct rt *m, const struct rt_block *b)
{
	struct rt_find f = {.addr = b->addr,
			    .size = b->fsize,
			    .found = b->found,
			    .count = 1,
			    .kind = b->kind,
			    .alloc_tid = m->inst.v[b->owner].tid,
			    .resolved = m->now};

	for (size_t i = 0; i < m->found.n; i++) {
		struct rt_find *w = &m->found.v[i];

		if (w->addr == b->addr && !w->resolved) {
			w->resolved = m->now;
			return;
		}
	}
	RECSINK_PUSH(m->found, f);
}

static void rt_agg_freed(struct rt *m, const struct rt_block *b);

static void rt_free(struct rt *m, int s, uint64_t addr)
{
	struct rt_inst *t = &m->inst.v[m->slot[s]];
	struct rt_block *b = hmap__get(&m->blocks, addr);

	if (!b) {
		t->unknown++;
		m->unknown++;
		return;
	}
	if (b->reported && b->kind == MW_FIND_TLS_OVERWRITTEN)
		rt_agg_freed(m, b);
	else if (b->reported)
		rt_resolve(m, b);
	t->frees++;
	m->frees++;
	t->free_bytes += b->size;
	if (b->owner != (size_t)m->slot[s])
		t->cross++;
	rt_remove(m, b);
}

static void rt_realloc(struct rt *m, int s, uint64_t old, uint64_t addr,
		       uint64_t size, uint64_t site)
{
	struct rt_block *b;

	if (!old) {
		rt_alloc(m, s, addr, size, site);
		return;
	}
	if (!addr) {
		if (!size)
			rt_free(m, s, old);
		return;
	}
	b = hmap__get(&m->blocks, old);
	if (b && addr == old) {
		struct rt_inst *o = &m->inst.v[b->owner];

		o->live_bytes = o->live_bytes - b->size + size;
		m->live_bytes = m->live_bytes - b->size + size;
		b->size = size;
		return;
	}
	rt_free(m, s, old);
	rt_alloc(m, s, addr, size, site);
}

static void rt_cand(struct rt *m, const struct rt_bind *bd, int k,
		    uint32_t kind)
{
	struct rt_block *b = hmap__get(&m->blocks, bd->value);
	struct rt_cand c;

	if (!b || !bd->block || b->id != bd->block || b->reported)
		return;
	c.addr = b->addr;
	c.block = b->id;
	c.deadline = m->now + RT_GRACE;
	c.kind = kind;
	c.key = (uint32_t)k;
	c.gen = m->kgen[k];
	RECSINK_PUSH(m->cands, c);
}

/* Block b, overwritten by c, counts in its row; f: as a one-block
 * finding. */
static void rt_agg_add(struct rt *m, const struct rt_cand *c,
		       struct rt_block *b, const struct rt_find *f)
{
	struct rt_agg *a = NULL, n = {0};

	for (size_t i = 0; i < m->aggs.n && !a; i++)
		if (!m->aggs.v[i].closed && m->aggs.v[i].key == c->key &&
		    m->aggs.v[i].gen == c->gen && m->aggs.v[i].site == b->site)
			a = &m->aggs.v[i];
	if (!a) {
		n.key = c->key;
		n.gen = c->gen;
		n.site = b->site;
		n.f.found = f->found;
		RECSINK_PUSH(m->aggs, n);
		a = &m->aggs.v[m->aggs.n - 1];
		m->findings++;
	}
	a->f.addr = f->addr;
	a->f.size = f->size;
	a->f.kind = f->kind;
	a->f.alloc_tid = f->alloc_tid;
	a->f.count++;
	a->live++;
	a->dirty = true;
	b->agg = (size_t)(a - m->aggs.v) + 1;
}

/* A block a row counts is freed: the row is handed again, resolved
 * once none it counts is live (and closed: new drops make a new row). */
static void rt_agg_freed(struct rt *m, const struct rt_block *b)
{
	struct rt_agg *a = &m->aggs.v[b->agg - 1];

	a->dirty = true;
	if (--a->live)
		return;
	a->f.resolved = m->now;
	a->closed = true;
}

static void rt_decide(struct rt *m, uint64_t now, bool all)
{
	size_t keep = 0;

	for (size_t i = 0; i < m->cands.n; i++) {
		struct rt_cand c = m->cands.v[i];
		struct rt_block *b;
		struct rt_find f;

		if (!all && c.deadline > now) {
			m->cands.v[keep++] = c;
			continue;
		}
		b = hmap__get(&m->blocks, c.addr);
		if (!b || b->id != c.block || b->reported)
			continue;
		if (m->incomplete_to && b->ts <= m->incomplete_to) {
			m->withheld++;
			continue;
		}
		b->reported = true;
		b->found = now;
		b->fsize = b->size;
		b->kind = c.kind;
		f.resolved = 0;
		f.addr = b->addr;
		f.size = b->size;
		f.found = now;
		f.count = 1;
		f.kind = c.kind;
		f.alloc_tid = m->inst.v[b->owner].tid;
		if (c.kind == MW_FIND_TLS_OVERWRITTEN) {
			rt_agg_add(m, &c, b, &f);
			continue;
		}
		RECSINK_PUSH(m->found, f);
		m->findings++;
	}
	m->cands.n = keep;
}

static void rt_thread_end(struct rt *m, int s, bool group)
{
	for (int k = 1; k <= RT_KEYS; k++) {
		if (m->bind[s][k].set && !group)
			rt_cand(m, &m->bind[s][k], k,
				MW_FIND_TLS_OUTLIVED_THREAD);
		m->bind[s][k].set = false;
	}
	m->inst.v[m->slot[s]].state = group ? MW_THREAD_GONE : MW_THREAD_EXITED;
	m->slot[s] = -1;
}

static void rt_thread_start(struct rt *m, int s)
{
	struct rt_inst t = {0};

	if (m->slot[s] >= 0)
		rt_thread_end(m, s, true);
	t.tid = RT_PID + 1 + (uint32_t)s;
	t.state = MW_THREAD_ALIVE;
	t.start_ts = m->now;
	RECSINK_PUSH(m->inst, t);
	m->slot[s] = (long)m->inst.n - 1;
}

static void rt_key_delete(struct rt *m, int k)
{
	if (m->kstate[k] == 0) {
		m->kstate[k] = 1;
		m->kgen[k] = 1;
	}
	m->kstate[k] = 2;
	for (int s = 0; s < RT_SLOTS; s++) {
		if (m->bind[s][k].set)
			rt_cand(m, &m->bind[s][k], k, MW_FIND_TLS_OUTLIVED_KEY);
		m->bind[s][k].set = false;
	}
}

static void rt_exec(struct rt *m)
{
	struct vec all = {0};
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&m->blocks, &pos, &k, &v))
		vec__push(&all, v);
	for (size_t i = 0; i < all.len; i++)
		rt_remove(m, all.items[i]);
	vec__fini(&all);
	memset(m->bind, 0, sizeof(m->bind));
	memset(m->kstate, 0, sizeof(m->kstate));
	memset(m->kgen, 0, sizeof(m->kgen));
	m->cands.n = 0;
	for (size_t i = 0; i < m->aggs.n; i++)
		m->aggs.v[i].closed = true;
}

/* A random live block's address, or 0 after a few misses. */
static uint64_t rt_live_addr(struct rt *m)
{
	for (int i = 0; i < 8; i++) {
		uint64_t a = rt_pool_addr(rt_rand(m, RT_POOL));

		if (hmap__get(&m->blocks, a))
			return a;
	}
	return 0;
}

static uint64_t rt_free_addr(struct rt *m)
{
	for (int i = 0; i < 8; i++) {
		uint64_t a = rt_pool_addr(rt_rand(m, RT_POOL));

		if (!hmap__get(&m->blocks, a))
			return a;
	}
	return 0;
}

static bool rt_row_ok(const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] > TOO_BIG)
			return false;
	return true;
}

#define RT_EXPECT(cond, ...)                                                 \
	do {                                                                 \
		if (!(cond)) {                                               \
			unit_failed_now = 1;                                 \
			if (m->bad++ < 10) {                                 \
				printf("  random @%" PRIu64 "ms: ",          \
				       m->now / 1000000);                    \
				printf(__VA_ARGS__);                         \
				printf("\n");                                \
			}                                                    \
		}                                                            \
	} while (0)

static int rt_find_cmp(const void *a, const void *b)
{
	const struct rt_find *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->found != y->found)
		return x->found < y->found ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->count != y->count)
		return x->count < y->count ? -1 : 1;
	return 0;
}

static void rt_check(struct rt *m, bool traced)
{
	struct engine_stats st;
	RECSINK_ARR(struct rt_find) got = {0};

	for (size_t i = 0; i < R.last.threads.n; i++) {
		const struct mw_thread_row *t = &R.last.threads.v[i];
		const struct rt_inst *w = NULL;
		uint64_t v[] = {t->allocs, t->frees, t->alloc_bytes,
				t->free_bytes, t->cross_frees,
				t->unknown_frees, t->live_blocks,
				t->live_bytes, t->start_ts, t->exit_ts};

		RT_EXPECT(rt_row_ok(v, sizeof(v) / sizeof(v[0])),
			  "thread %u: a counter near wrapping", t->tid);
		for (size_t j = m->inst.n; j-- > 0;)
			if (m->inst.v[j].tid == t->tid &&
			    m->inst.v[j].start_ts == t->start_ts) {
				w = &m->inst.v[j];
				break;
			}
		RT_EXPECT(w != NULL, "thread %u start %" PRIu64 ": unknown",
			  t->tid, t->start_ts);
		if (!w)
			continue;
		RT_EXPECT(t->live_bytes == w->live_bytes &&
				  t->live_blocks == w->live_blocks,
			  "thread %u: live %" PRIu64 "/%" PRIu64
			  ", model %" PRIu64 "/%" PRIu64,
			  t->tid, t->live_blocks, t->live_bytes,
			  w->live_blocks, w->live_bytes);
		RT_EXPECT(t->allocs == w->allocs && t->frees == w->frees &&
				  t->alloc_bytes == w->alloc_bytes &&
				  t->free_bytes == w->free_bytes &&
				  t->cross_frees == w->cross &&
				  t->unknown_frees == w->unknown,
			  "thread %u: counters differ from the model", t->tid);
		RT_EXPECT(t->state == w->state, "thread %u: state %u, model %u",
			  t->tid, t->state, w->state);
	}
	for (size_t i = 0; i < R.last.procs.n; i++) {
		const struct mw_process_row *p = &R.last.procs.v[i];
		uint64_t v[] = {p->allocs, p->frees, p->live_blocks,
				p->live_bytes, p->unknown_frees, p->lost,
				p->findings, p->threads};

		RT_EXPECT(rt_row_ok(v, sizeof(v) / sizeof(v[0])),
			  "process: a counter near wrapping");
		RT_EXPECT(p->allocs == m->allocs && p->frees == m->frees &&
				  p->unknown_frees == m->unknown,
			  "process: allocs/frees differ from the model");
		RT_EXPECT(p->live_blocks == m->live_blocks &&
				  p->live_bytes == m->live_bytes,
			  "process: live %" PRIu64 "/%" PRIu64
			  ", model %" PRIu64 "/%" PRIu64,
			  p->live_blocks, p->live_bytes, m->live_blocks,
			  m->live_bytes);
		RT_EXPECT(p->lost == m->lost, "process: lost %" PRIu64
			  ", model %" PRIu64, p->lost, m->lost);
		RT_EXPECT(p->findings == m->findings,
			  "process: findings %" PRIu64 ", model %" PRIu64,
			  p->findings, m->findings);
		RT_EXPECT(p->threads == m->inst.n, "process: threads %u, "
			  "model %zu", p->threads, m->inst.n);
	}
	for (size_t i = 0; i < R.last.keys.n; i++)
		RT_EXPECT(R.last.keys.v[i].bindings <= RT_SLOTS,
			  "key %u: %" PRIu64 " bindings", R.last.keys.v[i].key,
			  R.last.keys.v[i].bindings);
	/* Findings of this flush, against the model's. */
	for (size_t i = 0; i < R.last.findings.n; i++) {
		const struct mw_finding_row *f = &R.last.findings.v[i];
		struct rt_find g = {.addr = f->addr,
				    .size = f->size,
				    .found = f->found_ts,
				    .count = f->count,
				    .kind = f->kind,
				    .alloc_tid = f->alloc_tid,
				    .resolved = f->resolved_ts};

		RT_EXPECT(f->pid == RT_PID && f->tid > RT_PID &&
				  f->tid <= RT_PID + RT_SLOTS && f->key >= 1 &&
				  f->key <= RT_KEYS,
			  "finding: bad tid %u or key %u", f->tid, f->key);
		RECSINK_PUSH(got, g);
	}
	/* The rows whose evidence grew since the last flush. */
	for (size_t i = 0; i < m->aggs.n; i++) {
		if (!m->aggs.v[i].dirty)
			continue;
		m->aggs.v[i].dirty = false;
		RECSINK_PUSH(m->found, m->aggs.v[i].f);
	}
	/* qsort's base must not be NULL, even for 0 elements (UBSan). */
	if (got.n)
		qsort(got.v, got.n, sizeof(*got.v), rt_find_cmp);
	if (m->found.n)
		qsort(m->found.v, m->found.n, sizeof(*m->found.v), rt_find_cmp);
	RT_EXPECT(got.n == m->found.n, "%zu findings, model %zu", got.n,
		  m->found.n);
	for (size_t i = 0; i < got.n && i < m->found.n; i++) {
		const struct rt_find *g = &got.v[i], *w = &m->found.v[i];

		RT_EXPECT(g->addr == w->addr && g->size == w->size &&
				  g->found == w->found && g->kind == w->kind &&
				  g->alloc_tid == w->alloc_tid &&
				  g->count == w->count &&
				  g->resolved == w->resolved,
			  "finding 0x%" PRIx64 " size %" PRIu64 " kind %u "
			  "found %" PRIu64 " count %" PRIu64 " resolved %" PRIu64
			  ", model 0x%" PRIx64 " %" PRIu64 " %u %" PRIu64
			  " %" PRIu64 " %" PRIu64,
			  g->addr, g->size, g->kind, g->found, g->count,
			  g->resolved, w->addr, w->size, w->kind, w->found,
			  w->count, w->resolved);
	}
	free(got.v);
	m->found.n = 0;
	/* Every block the store holds is live, as the model has it; unless
	 * the flush's row budget left deletes for the next one. */
	if (!engine__flush_more(E)) {
		size_t pos = 0;
		uint64_t k;
		void *v;

		while (hmap__next(&M.st_blocks, &pos, &k, &v)) {
			const struct mw_block_row *b = v;
			const struct rt_block *w =
				hmap__get(&m->blocks, b->addr);

			RT_EXPECT(w && w->ts == b->ts && w->size == b->size &&
					  m->inst.v[w->owner].tid == b->tid,
				  "stored block 0x%" PRIx64 " (serial %" PRIu64
				  ") is not live", b->addr, b->serial);
		}
	}
	st = stats();
	RT_EXPECT(st.events == m->events, "stats: events %" PRIu64
		  ", model %" PRIu64, st.events, m->events);
	RT_EXPECT(st.lost == m->all_lost, "stats: lost");
	RT_EXPECT(st.withheld == m->withheld, "stats: withheld %" PRIu64
		  ", model %" PRIu64, st.withheld, m->withheld);
	RT_EXPECT(st.findings == m->findings, "stats: findings %" PRIu64
		  ", model %" PRIu64, st.findings, m->findings);
	if (traced) {
		RT_EXPECT(st.processes == 1, "stats: processes");
		RT_EXPECT(st.live_blocks == m->live_blocks,
			  "stats: live_blocks %" PRIu64 ", model %" PRIu64,
			  st.live_blocks, m->live_blocks);
		RT_EXPECT(st.pending == m->cands.n,
			  "stats: pending %" PRIu64 ", model %zu", st.pending,
			  m->cands.n);
	}
}

static void rt_step(struct rt *m)
{
	int s = (int)rt_rand(m, RT_SLOTS);
	uint32_t tid = RT_PID + 1 + (uint32_t)s;
	uint64_t r = rt_rand(m, 1000), a, b, size;
	int k = 1 + (int)rt_rand(m, RT_KEYS);

	m->now += 1000 + rt_rand(m, 199000);
	if (m->slot[s] < 0) {
		rt_thread_start(m, s);
		rt_feed(m, (struct mw_event){.type = MW_EV_THREAD_START,
					     .pid = RT_PID, .tid = tid});
		return;
	}
	if (r < 20) { /* an allocation over a live block: a lost free */
		a = rt_pool_addr(rt_rand(m, RT_POOL));
		size = 1 + rt_rand(m, 4096);
		rt_alloc(m, s, a, size, 0x400000 + r);
		rt_feed(m, (struct mw_event){.type = MW_EV_ALLOC,
					     .pid = RT_PID, .tid = tid,
					     .addr = a, .size = size,
					     .site = 0x400000 + r});
	} else if (r < 40) { /* unknown free */
		a = 0x900000 + rt_rand(m, 64) * 16;
		rt_free(m, s, a);
		rt_feed(m, (struct mw_event){.type = MW_EV_FREE, .pid = RT_PID,
					     .tid = tid, .addr = a});
	} else if (r < 140) { /* realloc, five ways */
		int how = (int)rt_rand(m, 5);

		a = how ? rt_live_addr(m) : 0;
		b = rt_free_addr(m);
		size = 1 + rt_rand(m, 8192);
		if (how && !a)
			return;
		if (how == 1) { /* realloc(p, 0) */
			b = 0;
			size = 0;
		} else if (how == 2) { /* failed */
			b = 0;
		} else if (how == 3) { /* in place */
			b = a;
		} else if (!b) {
			return;
		}
		rt_realloc(m, s, a, b, size, 0x400400);
		rt_feed(m, (struct mw_event){.type = MW_EV_REALLOC,
					     .pid = RT_PID, .tid = tid,
					     .addr = b, .old_addr = a,
					     .size = size, .site = 0x400400});
	} else if (r < 300) { /* setspecific */
		uint64_t pick = rt_rand(m, 10);
		/* How the collector checked for a link to the old value:
		 * not at all, found it at offset 8 of the new value (a
		 * push, unless the new block is smaller), did not find
		 * it, or checked a value it remembered wrong. */
		uint64_t link = rt_rand(m, 4);
		struct mw_event ev = {.type = MW_EV_TLS_SET, .pid = RT_PID,
				      .tid = tid, .key = (uint32_t)k};
		struct rt_block *blk;
		bool keeps = false;

		if (pick < 7)
			a = rt_live_addr(m);
		else if (pick < 8)
			a = 0;
		else
			a = 0xdead0000 + rt_rand(m, 64) * 16;
		ev.addr = a;
		blk = a ? hmap__get(&m->blocks, a) : NULL;
		if (link) {
			ev.flags = MW_EVF_LINK_CHECKED;
			ev.old_addr = m->bind[s][k].set ? m->bind[s][k].value
							: 0;
			ev.code = link == 1 ? 8 : -1;
			if (link == 3)
				ev.old_addr ^= 0x10;
			keeps = link == 3 ||
				(link == 1 && (!blk || blk->size >= 16));
		}
		if (m->kstate[k] != 2) {
			if (m->kstate[k] == 0) {
				m->kstate[k] = 1;
				m->kgen[k] = 1;
			}
			if (m->bind[s][k].set && a &&
			    m->bind[s][k].value != a && !keeps)
				rt_cand(m, &m->bind[s][k], k,
					MW_FIND_TLS_OVERWRITTEN);
			m->bind[s][k].set = a != 0;
			m->bind[s][k].value = a;
			m->bind[s][k].block = blk ? blk->id : 0;
		}
		rt_feed(m, ev);
	} else if (r < 330) { /* create when not live, else delete */
		if (m->kstate[k] == 1) {
			rt_key_delete(m, k);
			rt_feed(m, (struct mw_event){.type = MW_EV_KEY_DELETE,
						     .pid = RT_PID, .tid = tid,
						     .key = (uint32_t)k});
		} else {
			m->kgen[k] = m->kstate[k] ? m->kgen[k] + 1 : 1;
			m->kstate[k] = 1;
			rt_feed(m, (struct mw_event){.type = MW_EV_KEY_CREATE,
						     .pid = RT_PID, .tid = tid,
						     .key = (uint32_t)k});
		}
	} else if (r < 345) { /* delete, whatever the key's state */
		rt_key_delete(m, k);
		rt_feed(m, (struct mw_event){.type = MW_EV_KEY_DELETE,
					     .pid = RT_PID, .tid = tid,
					     .key = (uint32_t)k});
	} else if (r < 385) { /* thread exit, now and then a group exit */
		bool group = rt_rand(m, 10) == 0;

		rt_thread_end(m, s, group);
		rt_feed(m, (struct mw_event){.type = MW_EV_THREAD_EXIT,
					     .pid = RT_PID, .tid = tid,
					     .flags = group ? MW_EVF_GROUP_EXIT
							    : 0});
	} else if (r < 390) { /* a start whose exit was lost */
		rt_thread_start(m, s);
		rt_feed(m, (struct mw_event){.type = MW_EV_THREAD_START,
					     .pid = RT_PID, .tid = tid});
	} else if (r < 395) { /* lost events */
		static const uint32_t pids[] = {RT_PID, 0, 300};
		/* Mostly another process's: a loss of RT_PID withholds
		 * the findings of every block older than it, and the
		 * rules need blocks to judge. */
		uint32_t pid = pids[rt_rand(m, 20) ? 2 : rt_rand(m, 2)];
		uint64_t n = 1 + rt_rand(m, 100);

		m->all_lost += n;
		if (pid != 300) {
			m->lost += n;
			/* At time 0: a loss of unknown time. */
			if (!m->now)
				m->incomplete_to = INT64_MAX;
			else if (m->now > m->incomplete_to)
				m->incomplete_to = m->now;
		}
		rt_feed(m, (struct mw_event){.type = MW_EV_LOST, .pid = pid,
					     .count = n});
	} else if (r < 410) { /* an untraced process */
		rt_feed(m, (struct mw_event){.type = r & 1 ? MW_EV_ALLOC
							   : MW_EV_FREE,
					     .pid = 300, .tid = 301,
					     .addr = rt_pool_addr(r),
					     .size = 16});
	} else { /* churn: free a live block, or fill a free slot */
		a = rt_pool_addr(rt_rand(m, RT_POOL));
		if (hmap__get(&m->blocks, a)) {
			rt_free(m, s, a);
			rt_feed(m, (struct mw_event){.type = MW_EV_FREE,
						     .pid = RT_PID, .tid = tid,
						     .addr = a});
		} else {
			size = 1 + rt_rand(m, 4096);
			rt_alloc(m, s, a, size, 0x400000 + (r & 7));
			rt_feed(m, (struct mw_event){.type = MW_EV_ALLOC,
						     .pid = RT_PID, .tid = tid,
						     .addr = a, .size = size,
						     .site = 0x400000 +
							     (r & 7)});
		}
	}
}

/* A random run against the model; max_rows: the flush row budget. */
static void rt_run(uint32_t max_rows)
{
	struct rt *m = calloc(1, sizeof(*m));
	int flushes = 0;
	size_t pos = 0;
	uint64_t k;
	void *v;

	if (!m)
		abort();
	setup_rows(RT_GRACE / MS(1), RT_PERSIST / MS(1), max_rows);
	m->rng = 0x6d656d7761746368ull; /* fixed seed */
	m->now = MS(1);
	for (int s = 0; s < RT_SLOTS; s++)
		m->slot[s] = -1;
	CHECK(engine__attach(E, RT_PID, "random", m->now, NULL) == 0);
	for (int i = 1; i <= RT_EVENTS; i++) {
		rt_step(m);
		if (i == RT_EVENTS * 3 / 5) {
			rt_exec(m);
			rt_feed(m, (struct mw_event){.type = MW_EV_EXEC,
						     .pid = RT_PID,
						     .tid = RT_PID + 1});
		}
		if (i % 250 == 0) {
			engine__tick(E, m->now);
			rt_decide(m, m->now, false);
		}
		if (i % 997 == 0) {
			CHECK(engine__flush(E, m->now, &recsink__sink, &R) ==
			      0);
			rt_check(m, true);
		}
	}
	m->now += MS(1);
	for (int s = 0; s < RT_SLOTS; s++)
		if (m->slot[s] >= 0)
			rt_thread_end(m, s, true);
	rt_decide(m, m->now, true);
	rt_feed(m, (struct mw_event){.type = MW_EV_PROC_EXIT, .pid = RT_PID,
				     .tid = RT_PID});
	/* The ended process stays until all it had is written. */
	do {
		CHECK(engine__flush(E, m->now, &recsink__sink, &R) == 0);
		rt_check(m, false);
		flushes++;
	} while (engine__flush_more(E) && flushes < 1000000);
	/* 512 blocks live at exit cannot go 7 rows at a time in one. */
	CHECK(max_rows != 7 || flushes > 1);
	CHECK(!engine__flush_more(E));
	/* At exit every live block is in the store. */
	CHECK_U64(M.st_blocks.len, m->live_blocks);
	printf("  random: %" PRIu64 " events, %zu threads, %" PRIu64
	       " findings, %" PRIu64 " live at exit\n",
	       m->events, m->inst.n, m->findings, m->live_blocks);
	while (hmap__next(&m->blocks, &pos, &k, &v))
		free(v);
	hmap__fini(&m->blocks);
	free(m->inst.v);
	free(m->cands.v);
	free(m->found.v);
	free(m->aggs.v);
	free(m);
	teardown();
}

static void test_random_consistency(void)
{
	rt_run(0);
}

static void test_random_consistency_flush_budget(void)
{
	rt_run(7);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_random_consistency),
    UNIT_CASE(test_random_consistency_flush_budget),
};

int main(int argc, char **argv)
{
	engine_fixture__init(&unit_failed_now);
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
