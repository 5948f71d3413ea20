/*
 * engine_flush.c - handing what changed to the sink, in one transaction:
 * each process's dirty rows (the process, threads, keys, bindings,
 * findings), the deletes of stored blocks since freed and the blocks
 * persist_age old (all of them at exit), within the flush's row budget
 * (flush_max_rows); what does not fit waits for the next flush, in the
 * same order. flush_emit changes nothing the sink's rollback would have
 * to undo but the pending marks of stacks and sites (site__settle); once
 * the sink commits, flush_commit marks everything handed over as clean
 * and frees what only waited to be written. Before any of it, the open
 * findings over time are judged again (rules__review): what a flush
 * hands over is current, and findings whose evidence went away are
 * handed over resolved.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static bool block_due(const struct engine *e, const struct proc *p,
		      const struct block *b, uint64_t now)
{
	/* At exit every block still live is written: it is what the
	 * process ended with. A detached process lives on, so its blocks
	 * follow the age rule like any other. */
	if (p->ended && p->row.state == MW_PROC_EXITED)
		return true;
	return b->ts + e->cfg.persist_age_ns <= now;
}

/* Hand p's changes to the sink without changing any engine state but the
 * pending site marks, which flush_abort takes back. */
static int flush_emit(struct engine *e, struct proc *p, uint64_t now,
		      const struct engine_sink *sink, void *ctx)
{
	int err = 0;

	if (p->dirty && (err = sink->process(ctx, &p->row)))
		return err;
	for (size_t i = 0; i < p->dirty_threads.len; i++) {
		struct thread *t = p->dirty_threads.items[i];

		if ((err = sink->thread(ctx, &t->row)))
			return err;
	}
	for (size_t i = 0; i < p->dirty_keys.len; i++) {
		struct key *k = p->dirty_keys.items[i];

		if ((err = sink->key(ctx, &k->row)))
			return err;
	}
	for (size_t i = 0; i < p->dirty_bindings.len; i++) {
		struct binding *b = p->dirty_bindings.items[i];

		if ((err = sink->binding(ctx, &b->row)))
			return err;
	}
	/* Deletes first, then writes, within the flush's row budget; what
	 * does not fit waits for the next flush, in the same order. A
	 * deleted serial is never written again: its block is gone. */
	p->fifo_walked = p->dels_walked = 0;
	p->flush_cut = false;
	for (; p->dels_walked < p->ndels; p->dels_walked++) {
		if (!e->flush_budget) {
			p->flush_cut = true;
			goto rest;
		}
		e->flush_budget--;
		if ((err = sink->block_del(ctx, p->dels[p->dels_walked])))
			return err;
	}
	for (; p->fifo_walked < p->fifo.len; p->fifo_walked++) {
		struct block *b =
		    fifo_block(p, deque__at(&p->fifo, p->fifo_walked));
		struct site_stat *ss;
		struct mw_block_row r;

		if (!b)
			continue;
		if (!block_due(e, p, b, now))
			break;
		if (!e->flush_budget) {
			p->flush_cut = true;
			break;
		}
		e->flush_budget--;
		ss = block_ss(p, b);
		r = (struct mw_block_row){
		    .serial = b->serial,
		    .proc_id = p->row.id,
		    .pid = p->row.pid,
		    .tid = block_owner(p, b)->row.tid,
		    .addr = b->addr,
		    .size = b->size,
		    .ts = b->ts,
		    .site = site__culprit(e, p, ss->stack, ss->site),
		    .stack_id = ss->stack ? ss->stack->id : 0,
		};
		if ((err = site__emit_stack(e, p, sink, ctx, ss->stack)) ||
		    (err = sink->block_add(ctx, &r)) ||
		    (err = site__emit(p, sink, ctx, r.site)))
			return err;
	}
rest:
	for (size_t i = 0; i < p->findings.len; i++) {
		struct finding *f = p->findings.items[i];

		f->row.site = site__culprit(e, p, f->stack, f->row.site);
		if ((err = site__emit_stack(e, p, sink, ctx, f->stack)) ||
		    (err = sink->finding(ctx, &f->row)) ||
		    (err = site__emit(p, sink, ctx, f->row.site)))
			return err;
	}
	return rules__flush_emit(e, p, sink, ctx);
}

/* The sink committed: mark everything handed over as clean. */
static void flush_commit(struct engine *e, struct proc *p, uint64_t now)
{
	size_t i;

	p->dirty = false;
	for (size_t i = 0; i < p->dirty_threads.len; i++) {
		struct thread *t = p->dirty_threads.items[i];

		t->dirty = false;
		if (!t->in_map && !t->row.live_blocks && !t->orphan_pending &&
		    !p->ended)
			thread__release(t);
	}
	p->dirty_threads.len = 0;
	for (size_t i = 0; i < p->dirty_keys.len; i++) {
		struct key *k = p->dirty_keys.items[i];

		k->dirty = false;
		if (!k->in_map)
			free(k);
	}
	p->dirty_keys.len = 0;
	for (size_t i = 0; i < p->dirty_bindings.len; i++) {
		struct binding *b = p->dirty_bindings.items[i];

		b->dirty = false;
		if (b->dead)
			free(b);
	}
	p->dirty_bindings.len = 0;
	/* What flush_emit walked was handed over: stale entries, and
	 * blocks now stored. */
	for (i = 0; i < p->fifo_walked; i++) {
		struct block *b = fifo_block(p, deque__at(&p->fifo, i));

		if (!b) {
			p->fifo_stale--;
			continue;
		}
		b->queued = 0;
		b->stored = 1;
	}
	deque__pop_front(&p->fifo, p->fifo_walked);
	if (p->dels_walked) {
		memmove(p->dels, p->dels + p->dels_walked,
			(p->ndels - p->dels_walked) * sizeof(*p->dels));
		p->ndels -= p->dels_walked;
	}
	/* A one-block finding whose block lives on is held, so that its
	 * free resolves it. */
	for (size_t i = 0; i < p->findings.len; i++)
		if (!rules__hold(p, p->findings.items[i]))
			free(p->findings.items[i]);
	p->findings.len = 0;
	rules__flush_commit(p);
	site__settle(p, true);
}

bool engine__flush_more(const struct engine *e)
{
	return e->flush_more;
}

int engine__flush(struct engine *e, uint64_t now,
		  const struct engine_sink *sink, void *ctx)
{
	size_t pos = 0;
	uint64_t k;
	void *v;
	int err;

	/* Every open finding over time judged again first: what is handed
	 * over is current. Idempotent, so a rolled-back flush loses
	 * nothing. */
	while (hmap__next(&e->procs, &pos, &k, &v))
		rules__review(e, v, now);
	for (struct proc *p = e->ended; p; p = p->ended_next)
		rules__review(e, p, now);
	pos = 0;
	if (sink->begin && (err = sink->begin(ctx)))
		return err;
	e->flush_budget =
	    e->cfg.flush_max_rows ? e->cfg.flush_max_rows : UINT64_MAX;
	while (hmap__next(&e->procs, &pos, &k, &v))
		if ((err = flush_emit(e, v, now, sink, ctx)))
			goto abort;
	for (struct proc *p = e->ended; p; p = p->ended_next)
		if ((err = flush_emit(e, p, now, sink, ctx)))
			goto abort;
	if (sink->commit && (err = sink->commit(ctx)))
		goto abort;

	e->flush_more = false;
	pos = 0;
	while (hmap__next(&e->procs, &pos, &k, &v)) {
		flush_commit(e, v, now);
		e->flush_more |= ((struct proc *)v)->flush_cut;
	}
	/* An ended process goes once all it had is written. */
	for (struct proc **pp = &e->ended; *pp;) {
		struct proc *p = *pp;

		flush_commit(e, p, now);
		if (p->flush_cut) {
			e->flush_more = true;
			pp = &p->ended_next;
			continue;
		}
		*pp = p->ended_next;
		e->st.stacks -= p->stacks.count;
		proc__free(p);
	}
	return 0;

abort:
	if (sink->rollback)
		sink->rollback(ctx);
	pos = 0;
	while (hmap__next(&e->procs, &pos, &k, &v))
		site__settle(v, false);
	for (struct proc *p = e->ended; p; p = p->ended_next)
		site__settle(p, false);
	return err;
}
