/*
 * engine_export.c - read-only views of the engine's state for exporters
 * (the daemon's Prometheus metrics): processes, threads and allocation
 * sites as the engine holds them, without copying its tables. Kept apart from engine.c so
 * that exporting never touches the code that changes state.
 */
#include "engine_int.h"

static int each_view(struct proc *p,
		     int (*fn)(void *ctx, const struct engine_proc_view *pv),
		     void *ctx)
{
	struct engine_proc_view pv = {
	    .row = &p->row,
	    .anon_bytes = anonmap__bytes(&p->anon),
	    /* Threads leave the map when they exit or die. */
	    .threads_alive = p->threads.len,
	    .threads_exited = p->exits,
	};

	return fn(ctx, &pv);
}

int engine__each_process(const struct engine *e,
			 int (*fn)(void *ctx,
				   const struct engine_proc_view *pv),
			 void *ctx)
{
	size_t pos = 0;
	uint64_t k;
	void *v;
	int err;

	while (hmap__next(&e->procs, &pos, &k, &v))
		if ((err = each_view(v, fn, ctx)))
			return err;
	for (struct proc *p = e->ended; p; p = p->ended_next)
		if ((err = each_view(p, fn, ctx)))
			return err;
	return 0;
}

int engine__each_thread(const struct engine *e,
			int (*fn)(void *ctx, const struct mw_process_row *proc,
				  const struct mw_thread_row *t),
			void *ctx)
{
	size_t pos = 0;
	uint64_t k;
	void *v;
	int err;

	while (hmap__next(&e->procs, &pos, &k, &v)) {
		const struct proc *p = v;

		for (const struct thread *t = p->all_threads; t;
		     t = t->all_next)
			if ((err = fn(ctx, &p->row, &t->row)))
				return err;
	}
	return 0;
}

/* ss's call site as a flushed row names it, without classifying (a walk
 * changes nothing): site__culprit's answer for a classified stack. */
static uint64_t site_ip(const struct site_stat *ss)
{
	const struct mw_stack *st = ss->stack;
	uint32_t c;

	if (!st || !st->classified || !st->nframes ||
	    st->frames[0] != ss->site)
		return ss->site;
	c = mw_stack_culprit(st->flags);
	return c < st->nframes ? st->frames[c] : ss->site;
}

int engine__each_site(const struct engine *e,
		      int (*fn)(void *ctx, const struct mw_process_row *proc,
				const struct engine_site_view *sv),
		      void *ctx)
{
	size_t pos = 0;
	uint64_t k;
	void *v;
	int err;

	while (hmap__next(&e->procs, &pos, &k, &v)) {
		const struct proc *p = v;

		/* [0] is no site. */
		for (size_t i = 1; i < p->site_at.len; i++) {
			const struct site_stat *ss = p->site_at.items[i];
			struct engine_site_view sv;

			if (!ss || !ss->live_blocks)
				continue;
			sv.ip = site_ip(ss);
			sv.live_bytes = ss->live_bytes;
			sv.live_blocks = ss->live_blocks;
			if ((err = fn(ctx, &p->row, &sv)))
				return err;
		}
	}
	return 0;
}
