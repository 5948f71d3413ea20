/*
 * rules_finding.c - the rows the rules over time make (struct agg): made
 * (unless the evidence may rest on lost events), updated, resolved and
 * handed to the sink; and the one-block findings of engine_tls.c and
 * engine_module.c held once flushed while their block lives, so that its
 * free resolves them.
 *
 * A finding's id never changes. Invariant: a resolved agg is pointed at
 * by nothing but proc->aggs (and the dirty list until flushed), and is
 * freed once flushed; a held one-block finding is open and its block,
 * found by address and serial, is live and reported. A tls-overwritten
 * row (made by engine_tls.c) resolves here when the last block it counts
 * is freed (proc->over_blocks).
 *
 * Below rules.c and rules_orphan.c; calls only engine_site.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine_int.h"

/* --- aggregated findings ------------------------------------------------- */

void agg__touch(struct proc *p, struct agg *a)
{
	if (!a->dirty && !vec__push(&p->dirty_aggs, a))
		a->dirty = true;
}

void finding__resolve(struct mw_finding_row *row, uint64_t ts, const char *fmt,
		      ...)
{
	va_list ap;

	row->resolved_ts = ts ? ts : 1;
	va_start(ap, fmt);
	vsnprintf(row->resolved_reason, sizeof(row->resolved_reason), fmt, ap);
	va_end(ap);
}

/*
 * A new finding over time whose evidence began at since, or NULL. None
 * when events of the process were lost or refused at or after since
 * (engine_int.h): a lost free makes a block look live forever, a lost
 * allocation makes its free look unknown or double, so such evidence
 * would accuse the program of what the trace missed. The rule is asked
 * again at its next trigger; a finding made earlier is still updated.
 */
struct agg *agg__new(struct engine *e, struct proc *p, uint32_t kind,
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

void agg__thread(struct agg *a, uint32_t tid)
{
	if (!hmap__get(&a->tids, tid))
		hmap__put(&a->tids, tid, (void *)1);
	a->row.threads = (uint32_t)a->tids.len;
}

/* Name the block a finding points at for people: its thread, address,
 * size and time. */
void agg__block(const struct proc *p, struct agg *a, const struct block *b)
{
	a->row.tid = block_owner(p, b)->row.tid;
	a->row.alloc_tid = a->row.tid;
	a->row.block = b->serial;
	a->row.addr = b->addr;
	a->row.size = b->size;
	a->row.alloc_ts = b->ts;
}

void agg__overwritten_detail(struct agg *a)
{
	snprintf(a->row.detail, sizeof(a->row.detail),
		 "%" PRIu64 " value(s) of key %u dropped unlinked and "
		 "unfreed by %u thread(s); %" PRIu64 " (%" PRIu64
		 " bytes) live",
		 a->row.count, a->row.key, a->row.threads, a->live_blocks,
		 a->live_bytes);
}

/* --- one-block findings -------------------------------------------------- */

/* The one-block finding naming block serial: held once flushed, else
 * still waiting on p->findings. NULL if none is open. */
static struct finding *finding_of(struct proc *p, uint64_t serial)
{
	struct finding *f = hmap__del(&p->held, serial);

	if (f) {
		if (vec__push(&p->findings, f)) {
			free(f);
			return NULL;
		}
		return f;
	}
	for (size_t i = 0; i < p->findings.len; i++) {
		f = p->findings.items[i];
		if (f->row.block == serial && !f->row.resolved_ts)
			return f;
	}
	return NULL;
}

bool rules__hold(struct proc *p, struct finding *f)
{
	const struct block *b;

	/* An ended process frees nothing more; a TLS-only trace sees no
	 * free. */
	if (f->row.resolved_ts || !f->row.block || p->ended ||
	    p->row.mode == MW_MODE_TLS)
		return false;
	b = blockset__get(&p->blocks, f->row.addr);
	if (!b || b->serial != f->row.block || !b->reported)
		return false;
	return !hmap__put(&p->held, f->row.block, f);
}

/* Block b, counted by a tls-overwritten row (engine_tls.c), is freed by
 * t: the row resolves once every block it counts is. */
static void overwritten_freed(struct proc *p, const struct thread *t,
			      const struct block *b, uint64_t ts)
{
	struct agg *a = hmap__del(&p->over_blocks, b->serial);
	uint64_t id;

	if (!a)
		return;
	a->live_blocks--;
	/* A realloc in place may have changed its size since. */
	a->live_bytes -= b->size < a->live_bytes ? b->size : a->live_bytes;
	if (!a->live_blocks) {
		a->live_bytes = 0;
		finding__resolve(&a->row, ts,
				 "every value it counts freed, the last by "
				 "thread %u",
				 t->row.tid);
		/* Resolved rows are freed once flushed; what is dropped
		 * from now on makes a new row. */
		id = (uint64_t)a->row.key << 32 | block_ss(p, b)->idx;
		if (hmap__get(&p->overwrites, id) == a)
			hmap__del(&p->overwrites, id);
	}
	agg__overwritten_detail(a);
	agg__touch(p, a);
}

void finding__freed(struct proc *p, const struct thread *t,
		    const struct block *b, uint64_t ts)
{
	struct finding *f = finding_of(p, b->serial);

	if (f)
		finding__resolve(
		    &f->row, ts, "block freed by thread %u%s", t->row.tid,
		    block_owner(p, b) == t ? ", which allocated it" : "");
	else
		overwritten_freed(p, t, b, ts);
}

/* --- flush --------------------------------------------------------------- */

int rules__flush_emit(struct engine *e, struct proc *p,
		      const struct engine_sink *sink, void *ctx)
{
	int err;

	for (size_t i = 0; i < p->dirty_aggs.len; i++) {
		struct agg *a = p->dirty_aggs.items[i];

		a->row.site = site__culprit(e, p, a->stack, a->row.site);
		if ((err = site__emit_stack(e, p, sink, ctx, a->stack)) ||
		    (err = sink->finding(ctx, &a->row)) ||
		    (err = site__emit(p, sink, ctx, a->row.site)))
			return err;
	}
	return 0;
}

/* A resolved agg was handed over: nothing points at it but p->aggs. */
static void agg_forget(struct proc *p, struct agg *a)
{
	for (size_t i = 0; i < p->aggs.len; i++) {
		if (p->aggs.items[i] != a)
			continue;
		p->aggs.items[i] = p->aggs.items[--p->aggs.len];
		hmap__fini(&a->tids);
		free(a);
		return;
	}
}

void rules__flush_commit(struct proc *p)
{
	for (size_t i = 0; i < p->dirty_aggs.len; i++) {
		struct agg *a = p->dirty_aggs.items[i];

		a->dirty = false;
		if (a->row.resolved_ts)
			agg_forget(p, a);
	}
	p->dirty_aggs.len = 0;
}
