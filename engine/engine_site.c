/*
 * engine_site.c - allocation sites: the stacks a process allocated from
 * (interned, classified lazily), the statistics of each site, and handing
 * stacks and sites to the sink once.
 *
 * A site is a stack, or the call site of an allocation without one. Its
 * site_stat lives as long as its process, at a fixed index of
 * proc->site_at, which is how blocks name theirs. Invariant: every block
 * in the live set has its site_stat (block_ss), and a site_stat's live
 * counters are the sums over its live blocks: the live set
 * (engine_block.c) reports each block added and removed here.
 *
 * The bottom of the engine's layers (engine_int.h): it calls no other
 * piece of the engine.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

/* A site_stat key that cannot clash between stack ids (engine serials,
 * small) and raw call sites (code addresses). */
static uint64_t ss_key(const struct mw_stack *st, uint64_t site)
{
	return st ? st->id : site ^ (1ull << 63);
}

void site__init(struct proc *p)
{
	stacktab__init(&p->stacks);
	hmap__init(&p->site_stats);
	p->site_at = (struct vec){0};
}

void site__fini(struct proc *p)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&p->site_stats, &pos, &k, &v))
		free(v);
	hmap__fini(&p->site_stats);
	vec__fini(&p->site_at);
	hmap__fini(&p->sites);
	stacktab__fini(&p->stacks);
	vec__fini(&p->stacks_pending);
}

/* --- stacks -------------------------------------------------------------- */

/* The process's copy of ev's stack, classified when first seen. */
struct mw_stack *site__stack(struct engine *e, struct proc *p,
			     const struct mw_event *ev)
{
	uint32_t n = ev->nframes;
	struct mw_stack *s;
	bool created;

	if (!n || !ev->frames)
		return NULL;
	if (n > MW_EV_MAX_FRAMES)
		n = MW_EV_MAX_FRAMES;
	s = stacktab__intern(&p->stacks, ev->frames, n, &created);
	if (s && created) {
		s->id = e->serial++;
		e->st.stacks++;
	}
	return s;
}

uint32_t site__stack_flags(struct engine *e, struct proc *p,
			   struct mw_stack *st)
{
	if (!st)
		return 0;
	if (!st->classified) {
		st->classified = true;
		if (e->cfg.classify)
			st->flags =
			    e->cfg.classify(e->cfg.classify_ctx, p->row.pid,
					    st->frames, st->nframes);
	}
	return st->flags;
}

uint64_t site__culprit(struct engine *e, struct proc *p, struct mw_stack *st,
		       uint64_t site)
{
	uint32_t c;

	if (!st || !st->nframes || st->frames[0] != site)
		return site;
	c = mw_stack_culprit(site__stack_flags(e, p, st));
	return c < st->nframes ? st->frames[c] : site;
}

uint32_t engine__stack_fanout(const struct engine *e, uint32_t pid,
			      const uint64_t *frames, uint32_t n,
			      uint32_t *out, uint32_t max)
{
	const struct proc *p = hmap__get(&e->procs, pid);

	/* An ended process's stacks are still classified at its last
	 * flushes. */
	for (const struct proc *q = e->ended; !p && q; q = q->ended_next)
		if (q->row.pid == pid)
			p = q;
	return p ? stacktab__fanout(&p->stacks, frames, n, out, max) : 0;
}

/* --- site statistics ----------------------------------------------------- */

struct site_stat *site__get(struct proc *p, struct mw_stack *st, uint64_t site)
{
	uint64_t k = ss_key(st, site);
	struct site_stat *ss = hmap__get(&p->site_stats, k);

	if (ss)
		return ss;
	/* Index 0 means none. */
	if (!p->site_at.len && vec__push(&p->site_at, NULL))
		return NULL;
	if (p->site_at.len > UINT32_MAX)
		return NULL;
	ss = calloc(1, sizeof(*ss));
	if (!ss)
		return NULL;
	if (vec__push(&p->site_at, ss)) {
		free(ss);
		return NULL;
	}
	if (hmap__put(&p->site_stats, k, ss)) {
		p->site_at.len--;
		free(ss);
		return NULL;
	}
	ss->idx = (uint32_t)(p->site_at.len - 1);
	ss->key = k;
	ss->site = site;
	ss->stack = st;
	return ss;
}

void site__block_added(struct proc *p, const struct block *b)
{
	struct site_stat *ss = block_ss(p, b);

	ss->live_blocks++;
	ss->live_bytes += b->size;
	ss->last_tid = block_owner(p, b)->row.tid;
	ss->last_addr = b->addr;
	ss->last_size = b->size;
	ss->last_ts = b->ts;
	ss->last_serial = b->serial;
}

void site__block_removed(struct proc *p, const struct block *b,
			 const struct thread *freer)
{
	struct site_stat *ss = block_ss(p, b);

	ss->live_blocks--;
	ss->live_bytes -= b->size;
	if (b->orphan)
		ss->orphan_live_bytes -= b->size;
	if (freer && freer != block_owner(p, b))
		ss->cross_frees++;
}

/* --- to the sink --------------------------------------------------------- */

int site__emit(struct proc *p, const struct engine_sink *sink, void *ctx,
	       uint64_t ip)
{
	int err;

	/* 0 is no site (a process-wide finding): nothing to describe. */
	if (!ip || !sink->site || hmap__get(&p->sites, ip))
		return 0;
	err = sink->site(ctx, p->row.id, p->row.pid, ip);
	if (err)
		return err;
	return hmap__put(&p->sites, ip, SITE_PENDING);
}

/* Hand st to the sink unless it was already: the stack row, then the
 * sites of its frames. */
int site__emit_stack(struct engine *e, struct proc *p,
		     const struct engine_sink *sink, void *ctx,
		     struct mw_stack *st)
{
	struct mw_stack_row r;
	int err;

	if (!st || st->state != MW_STACK_NEW || !sink->stack)
		return 0;
	memset(&r, 0, sizeof(r));
	r.proc_id = p->row.id;
	r.id = st->id;
	r.pid = p->row.pid;
	r.flags = site__stack_flags(e, p, st);
	r.nframes = st->nframes;
	memcpy(r.frames, st->frames, st->nframes * sizeof(r.frames[0]));
	if ((err = sink->stack(ctx, &r)))
		return err;
	if ((err = vec__push(&p->stacks_pending, st)))
		return err;
	st->state = MW_STACK_PENDING;
	for (uint32_t i = 0; i < st->nframes; i++)
		if ((err = site__emit(p, sink, ctx, st->frames[i])))
			return err;
	return 0;
}

void site__settle(struct proc *p, bool committed)
{
	size_t pos = 0;
	uint64_t k;
	void *v;
	struct vec undo = {0};

	while (hmap__next(&p->sites, &pos, &k, &v)) {
		if (v != SITE_PENDING)
			continue;
		if (committed)
			p->sites.slots[pos - 1].val = SITE_DONE;
		else
			vec__push(&undo, (void *)(uintptr_t)k);
	}
	for (size_t i = 0; i < undo.len; i++)
		hmap__del(&p->sites, (uint64_t)(uintptr_t)undo.items[i]);
	vec__fini(&undo);
	for (size_t i = 0; i < p->stacks_pending.len; i++) {
		struct mw_stack *st = p->stacks_pending.items[i];

		st->state = committed ? MW_STACK_STORED : MW_STACK_NEW;
	}
	p->stacks_pending.len = 0;
}
