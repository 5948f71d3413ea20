/*
 * engine_race.c - the allocator-race rule: a user's allocator pair
 * (--alloc/--free, one pool) run by two threads at once without a lock.
 *
 * The collector reports each call of a pair that entered while another
 * thread was inside the same pair (MW_EV_POOL_OVERLAP), with what that
 * call did inside: took a lock (pthread_mutex_lock and kin), slept in the
 * kernel (a contended lock), reached the process's allocator. Entry
 * overlaps happen with a lock inside the functions too (both threads are
 * in the function, one waits), so an overlap is evidence of a race only
 * when the pool shows no sign of serializing its callers:
 *
 *  - a pool any of whose calls took a lock or slept is serialized: never
 *    flagged (the evidence is the pool's, not the call's: a fast path
 *    that returns before the lock is still the locked pool's);
 *  - a call that reached malloc or free delegated to a thread-safe
 *    allocator: it is no evidence either way (a pair that only wraps
 *    malloc and free is thread-safe, however often its calls overlap);
 *  - what is left is an unlocked overlap. A pool with RACE_MIN_OVERLAPS of
 *    them and nothing serialized gets one finding per pair of call sites,
 *    updated as evidence grows.
 *
 * Frees through the pool's --free function of blocks another thread
 * allocated are counted into its findings' detail: on their own they are
 * no race (a locked pool takes them safely), with unlocked overlaps they
 * are what corrupts the pool's lists.
 *
 * Invariant: a race's agg, once made, belongs to the process's aggs
 * (rules.c frees it); races and pools are freed here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

/* Unlocked overlaps a pool shows before it is flagged: one could be a
 * call whose lock we did not see yet; a racing pool shows many. */
#define RACE_MIN_OVERLAPS 3

#define FN_MAX 64

/* Pairs of call sites kept per process: their square could be large in a
 * program calling its pool from everywhere. Past it, overlaps still count
 * in their pool and in the findings already made. */
#define RACE_MAX_SITE_PAIRS 4096

struct pool {
	uint32_t pair;
	uint64_t overlaps;   /* unlocked, not delegated */
	uint64_t serialized; /* overlaps whose pool locked or slept */
	uint64_t delegated;  /* overlaps whose call reached the allocator */
	uint64_t unwatched;  /* overlaps begun before the locks were probed */
	uint64_t frees, cross_frees;
};

struct race {
	struct pool *pool;
	uint64_t site, other;	 /* as first seen: the entering call's first */
	uint32_t tid, other_tid; /* the latest overlap's */
	uint64_t count;
	char fn[FN_MAX], other_fn[FN_MAX];
	struct agg *agg;
};

void race__proc_init(struct proc *p)
{
	hmap__init(&p->pools);
	hmap__init(&p->races);
}

static void free_all(struct hmap *m)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(m, &pos, &k, &v))
		free(v);
	hmap__fini(m);
}

uint64_t race__memory(const struct proc *p)
{
	return p->pools.len * sizeof(struct pool) +
	       p->races.len * sizeof(struct race);
}

void race__proc_fini(struct proc *p)
{
	free_all(&p->races);
	free_all(&p->pools);
}

static struct pool *pool_get(struct proc *p, uint32_t pair)
{
	bool made;
	struct pool *pl = hmap__get_new(&p->pools, pair, sizeof(*pl), &made);

	if (made)
		pl->pair = pair;
	return pl;
}

/* One race per pool and unordered pair of call sites. */
static uint64_t race_key(uint32_t pair, uint64_t a, uint64_t b)
{
	uint64_t lo = a < b ? a : b, hi = a < b ? b : a;

	return hash__mix(hash__mix(lo) ^ hi) ^ pair;
}

/* The two function names of a pool_overlap event (event.h). */
static void split_names(const char *path, char *fn, char *other)
{
	const char *sp = path ? strchr(path, ',') : NULL;
	size_t n;

	if (!sp) {
		snprintf(fn, FN_MAX, "%s", path && path[0] ? path : "?");
		snprintf(other, FN_MAX, "?");
		return;
	}
	n = (size_t)(sp - path);
	snprintf(fn, FN_MAX, "%.*s", (int)(n < FN_MAX ? n : FN_MAX - 1), path);
	snprintf(other, FN_MAX, "%s", sp[1] ? sp + 1 : "?");
}

static struct race *race_get(struct proc *p, struct pool *pl,
			     const struct mw_event *ev)
{
	uint64_t k = race_key(pl->pair, ev->site, ev->old_addr);
	struct race *r = hmap__get(&p->races, k);

	if (r || p->races.len >= RACE_MAX_SITE_PAIRS)
		return r;
	if (!(r = hmap__get_new(&p->races, k, sizeof(*r), NULL)))
		return NULL;
	r->pool = pl;
	r->site = ev->site;
	r->other = ev->old_addr;
	split_names(ev->path, r->fn, r->other_fn);
	return r;
}

static bool pool_racy(const struct pool *pl)
{
	return !pl->serialized && pl->overlaps >= RACE_MIN_OVERLAPS;
}

static void race_detail(struct race *r)
{
	struct agg *a = r->agg;
	char buf[2 * FN_MAX + 160];
	size_t n;

	/* Long names are cut at the row's width, not refused. */
	snprintf(buf, sizeof(buf),
		 "%s (thread %u) ran while %s (thread %u) was inside, no "
		 "lock: %" PRIu64 "x here, %" PRIu64 "x in pool; %" PRIu64
		 "/%" PRIu64 " frees cross-thread",
		 r->fn, r->tid, r->other_fn, r->other_tid, r->count,
		 r->pool->overlaps, r->pool->cross_frees, r->pool->frees);
	n = strlen(buf);
	if (n >= sizeof(a->row.detail))
		n = sizeof(a->row.detail) - 1;
	memcpy(a->row.detail, buf, n);
	a->row.detail[n] = '\0';
	a->row.tid = r->tid;
	a->row.alloc_tid = r->other_tid;
	a->row.count = r->count;
}

void race__overlap(struct engine *e, struct proc *p, struct thread *t,
		   const struct mw_event *ev)
{
	struct pool *pl = pool_get(p, (uint32_t)ev->code);
	struct race *r;

	if (!pl)
		return;
	if (ev->flags & (MW_EVF_LOCKED | MW_EVF_BLOCKED)) {
		pl->serialized++;
		return;
	}
	/* Begun before the process's locks were probed: whether it took
	 * one is unknown. */
	if (!(ev->flags & MW_EVF_WATCHED)) {
		pl->unwatched++;
		return;
	}
	if (ev->flags & MW_EVF_DELEGATED) {
		pl->delegated++;
		return;
	}
	pl->overlaps++;
	r = race_get(p, pl, ev);
	if (!r)
		return;
	r->count++;
	/* The latest threads, in the orientation first seen. */
	r->tid = ev->site == r->site ? ev->tid : ev->key;
	r->other_tid = ev->site == r->site ? ev->key : ev->tid;
	if (!r->agg) {
		if (!pool_racy(pl))
			return;
		r->agg =
		    agg__new(e, p, MW_FIND_ALLOCATOR_RACE, MW_SEV_HIGH,
			    site__stack(e, p, ev), r->site, ev->ts, ev->ts);
		if (!r->agg)
			return;
		r->agg->row.trigger_ts = ev->ts;
	}
	agg__thread(r->agg, ev->tid);
	agg__thread(r->agg, ev->key);
	race_detail(r);
	r->agg->row.last_ts = ev->ts;
	agg__touch(p, r->agg);
}

void race__free(struct engine *e, struct proc *p, struct thread *t,
		const struct mw_event *ev)
{
	struct pool *pl = pool_get(p, ev->key);
	struct block *b = blockset__get(&p->blocks, ev->addr);
	size_t pos = 0;
	uint64_t k;
	void *v;

	if (!pl)
		return;
	pl->frees++;
	if (!b || block_owner(p, b) == t)
		return;
	pl->cross_frees++;
	/* The pool's findings say it: they are few. */
	while (hmap__next(&p->races, &pos, &k, &v)) {
		struct race *r = v;

		if (r->pool == pl && r->agg) {
			race_detail(r);
			agg__touch(p, r->agg);
		}
	}
}
