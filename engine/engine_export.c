/*
 * engine_export.c - read-only views of the engine's state for exporters
 * (the daemon's Prometheus metrics): processes and threads as the engine
 * holds them, without copying its tables. Kept apart from engine.c so
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
