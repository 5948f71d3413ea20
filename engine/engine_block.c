/*
 * engine_block.c - the live set: each process's blocks (address ->
 * size, owner thread, time, site, serial), the exact counters of the
 * threads and the process that own them, and the queues that carry their
 * rows to the store: the persist FIFO of blocks to write and the serials
 * of stored blocks since freed.
 *
 * Invariants:
 *  - a thread's live_blocks/live_bytes are the sum over blocks it owns;
 *  - a block is on the persist FIFO (queued, in time order) until its
 *    row is written; once stored, its free is queued as a delete. A
 *    block resized in place after it was stored is queued again (and
 *    still stored).
 *
 * Every block added or removed is told to its site (engine_site.c), and
 * every free to the bad-free rule (rules.c); neither calls back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "engine_int.h"

void block__fini(struct proc *p)
{
	blockset__fini(&p->blocks);
	deque__fini(&p->fifo);
	free(p->dels);
}

/* --- the queues to the store --------------------------------------------- */

static uint64_t fifo_entry(const struct proc *p, const struct block *b)
{
	return (uint64_t)blockset__idx(&p->blocks, b) << 32 |
	       (uint32_t)b->serial;
}

static int fifo_keep(void *ctx, uint64_t entry)
{
	return fifo_block(ctx, entry) != NULL;
}

/* b's entry went stale: drop stale entries once they are half the FIFO,
 * so it stays within twice the blocks queued. */
static void fifo_forget(struct proc *p)
{
	p->fifo_stale++;
	if (p->fifo_stale > 1024 && p->fifo_stale * 2 > p->fifo.len)
		p->fifo_stale -= deque__filter(&p->fifo, fifo_keep, p);
}

static int queue_del(struct proc *p, uint64_t serial)
{
	if (p->ndels == p->cap_dels) {
		size_t ncap = p->cap_dels ? p->cap_dels * 2 : 64;
		uint64_t *n = realloc(p->dels, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->dels = n;
		p->cap_dels = ncap;
	}
	p->dels[p->ndels++] = serial;
	return 0;
}

/* --- the live set -------------------------------------------------------- */

/* Take a block out of the live set, keeping every counter exact. freer is
 * the thread that freed it, NULL when it just drops out. */
void block__remove(struct engine *e, struct proc *p, struct block *b,
		   struct thread *freer)
{
	struct thread *owner = block_owner(p, b);

	if (b->orphan || b->reported)
		rules__block_removed(e, p, b, freer);
	site__block_removed(p, b, freer);
	if (b->tprev)
		blockset__at(&p->blocks, b->tprev)->tnext = b->tnext;
	else
		owner->blocks = b->tnext;
	if (b->tnext)
		blockset__at(&p->blocks, b->tnext)->tprev = b->tprev;
	if (b->queued)
		fifo_forget(p);
	if (b->stored)
		queue_del(p, b->serial);
	owner->row.live_blocks--;
	owner->row.live_bytes -= b->size;
	thread_touch(owner);
	p->row.live_blocks--;
	p->row.live_bytes -= b->size;
	e->st.live_blocks--;
	blockset__del(&p->blocks, b);
}

int block__add(struct engine *e, struct proc *p, struct thread *t,
	       uint64_t addr, uint64_t size, uint64_t ts, uint64_t site,
	       struct mw_stack *stack)
{
	struct block *old = blockset__get(&p->blocks, addr);
	struct site_stat *ss = site__get(p, stack, site);
	struct block *b;
	uint32_t idx;

	/* The same address handed out twice means its free was lost. */
	if (old)
		block__remove(e, p, old, NULL);
	if (e->cfg.max_blocks && p->blocks.n >= e->cfg.max_blocks) {
		proc_drop(e, p, ts);
		return -ENOSPC;
	}
	if (!ss || !(b = blockset__add(&p->blocks, addr)))
		return -ENOMEM;
	b->size = size;
	b->ts = ts;
	b->serial = e->serial++;
	b->owner = t->idx;
	b->ss = ss->idx;
	if (deque__push_back(&p->fifo, fifo_entry(p, b))) {
		blockset__del(&p->blocks, b);
		return -ENOMEM;
	}
	b->queued = 1;
	idx = blockset__idx(&p->blocks, b);
	b->tnext = t->blocks;
	if (t->blocks)
		blockset__at(&p->blocks, t->blocks)->tprev = idx;
	t->blocks = idx;
	site__block_added(p, b);
	rules__addr_reused(p, b->addr);
	rules__alloc_site(t, ss);
	t->row.live_blocks++;
	t->row.live_bytes += size;
	p->row.live_blocks++;
	p->row.live_bytes += size;
	e->st.live_blocks++;
	return 0;
}

/* --- events -------------------------------------------------------------- */

void block__alloc(struct engine *e, struct proc *p, struct thread *t,
		  const struct mw_event *ev)
{
	if (!ev->addr)
		return; /* a failed allocation */
	t->row.allocs++;
	t->row.alloc_bytes += ev->size;
	p->row.allocs++;
	block__add(e, p, t, ev->addr, ev->size, ev->ts, ev->site,
		   site__stack(e, p, ev));
	thread_touch(t);
}

void block__free(struct engine *e, struct proc *p, struct thread *t,
		 uint64_t addr, const struct mw_event *ev)
{
	struct block *b = blockset__get(&p->blocks, addr);

	thread_touch(t);
	/* Unknown frees are counted apart, so that a process's allocs -
	 * frees == live_blocks (less blocks resized in place). glibc frees
	 * its per-thread tcache this way at every thread exit. */
	if (!b) {
		t->row.unknown_frees++;
		p->row.unknown_frees++;
		if (!(ev->flags & MW_EVF_INTERNAL) &&
		    !(e->cfg.internal && e->cfg.internal(e->cfg.classify_ctx,
							 p->row.pid, ev->site)))
			rules__unknown_free(e, p, t, ev);
		return;
	}
	t->row.frees++;
	p->row.frees++;
	t->row.free_bytes += b->size;
	if (block_owner(p, b) != t)
		t->row.cross_frees++;
	rules__free(e, p, t, b, ev->site, ev->ts);
	block__remove(e, p, b, t);
}

void block__realloc(struct engine *e, struct proc *p, struct thread *t,
		    const struct mw_event *ev)
{
	struct block *b;

	if (!ev->old_addr) {
		block__alloc(e, p, t, ev);
		return;
	}
	if (!ev->addr) {
		/* realloc(p, 0) frees p; any other NULL is a failure that
		 * leaves p untouched. */
		if (!ev->size)
			block__free(e, p, t, ev->old_addr, ev);
		return;
	}
	b = blockset__get(&p->blocks, ev->old_addr);
	if (b && ev->addr == ev->old_addr) {
		struct thread *owner = block_owner(p, b);
		struct site_stat *ss = block_ss(p, b);

		/* Resized in place: the same block, so its serial (and any
		 * TLS binding to it) stays, and no alloc or free is counted.
		 * Its site's sums change too, or its free would take the new
		 * size from sums that hold the old one (and wrap). */
		owner->row.live_bytes += ev->size - b->size;
		p->row.live_bytes += ev->size - b->size;
		ss->live_bytes += ev->size - b->size;
		if (b->orphan)
			ss->orphan_live_bytes += ev->size - b->size;
		b->size = ev->size;
		thread_touch(owner);
		/* Write the new size again. It is older than every block
		 * still queued, so the head keeps the FIFO in time order;
		 * the upsert replaces the old row. (Out of memory, the old
		 * size stays in the store.) */
		if (!b->queued &&
		    !deque__push_front(&p->fifo, fifo_entry(p, b)))
			b->queued = 1;
		return;
	}
	block__free(e, p, t, ev->old_addr, ev);
	block__alloc(e, p, t, ev);
}
