/*
 * engine_module.c - the modules a process dlopen'ed (handle -> where it
 * is mapped) and the module rules: a module unloaded while threads live
 * leaves behind what they hold for it, the values of the keys it owns
 * and the blocks of its C++ thread_local objects, each a
 * tls-outlived-module candidate (engine_tls.c). A key it deletes as it
 * goes is its own leak too (module__key_unloading, asked by
 * engine__feed).
 */
#include <stdbool.h>
#include <stdlib.h>

#include "engine_int.h"

static bool in_module(const struct module *m, uint64_t addr)
{
	return addr >= m->start && addr < m->end;
}

void module__fini(struct proc *p)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&p->modules, &pos, &k, &v))
		free(v);
	hmap__fini(&p->modules);
	p->unloading = NULL;
}

/* Key id belongs to the module being unloaded by thread tid: its
 * destructor, or the code that created it, lives there. */
bool module__key_unloading(const struct proc *p, uint32_t id, uint32_t tid)
{
	const struct key *k = hmap__get(&p->keys, id);
	const struct module *m = p->unloading;

	return k && m && p->unloading_tid == tid &&
	       ((k->row.destructor && in_module(m, k->row.destructor)) ||
		(k->create_site && in_module(m, k->create_site)));
}

static struct module *module_get(struct proc *p, const struct mw_event *ev)
{
	bool made;
	struct module *m =
	    hmap__get_new(&p->modules, ev->old_addr, sizeof(*m), &made);

	if (!m)
		return NULL;
	if (made)
		m->handle = ev->old_addr;
	/* The collector may not have read the file (a deleted library):
	 * keep what an earlier event said. */
	if (ev->size) {
		m->start = ev->addr;
		m->end = ev->addr + ev->size;
	}
	return m;
}

/* A block of a C++ thread_local of module m: allocated under a TLS
 * initializer, from m's code. (The loader's own dynamic TLS blocks are
 * not counted: glibc frees them at the thread's next __tls_get_addr or
 * exit.) */
static bool module_tls_block(struct engine *e, struct proc *p,
			     const struct module *m, const struct block *b)
{
	struct mw_stack *st = block_ss(p, b)->stack;

	if (!(site__stack_flags(e, p, st) & MW_STACK_TLS_INIT))
		return false;
	for (uint32_t i = 0; i < st->nframes; i++)
		if (in_module(m, st->frames[i]))
			return true;
	return false;
}

/* Module m is gone while threads live: what they hold for it is left
 * behind. */
static void module_unloaded(struct engine *e, struct proc *p, struct module *m,
			    uint64_t ts)
{
	struct vec doomed = {0};
	struct block *blk;
	size_t pos = 0;
	uint64_t id;
	void *v;

	/* Values of keys the module owns and did not delete. */
	while (hmap__next(&p->bindings, &pos, &id, &v)) {
		struct binding *b = v;
		struct key *k = hmap__get(&p->keys, b->row.key);

		if (k && k->row.generation == b->row.generation &&
		    k->row.destructor && in_module(m, k->row.destructor))
			vec__push(&doomed, b);
	}
	for (size_t i = 0; i < doomed.len; i++)
		tls__cand_push(e, p, doomed.items[i],
			       MW_FIND_TLS_OUTLIVED_MODULE, ts);
	/* Its thread_local objects' blocks in threads that still live. */
	doomed.len = 0;
	for (uint32_t i = 0; (blk = blockset__next(&p->blocks, &i));)
		if (block_owner(p, blk)->in_map &&
		    module_tls_block(e, p, m, blk))
			vec__push(&doomed, blk);
	for (size_t i = 0; i < doomed.len; i++) {
		blk = doomed.items[i];
		tls__cand_push_block(e, p, blk, MW_FIND_TLS_OUTLIVED_MODULE,
				     block_owner(p, blk)->row.tid, 0, 0, ts);
	}
	vec__fini(&doomed);
	hmap__del(&p->modules, m->handle);
	free(m);
}

void module__event(struct engine *e, struct proc *p, struct thread *t,
		   const struct mw_event *ev)
{
	struct module *m;

	switch (ev->type) {
	case MW_EV_MODULE_LOAD:
		module_get(p, ev);
		break;
	case MW_EV_MODULE_UNLOAD:
		p->unloading = module_get(p, ev);
		p->unloading_tid = t->row.tid;
		break;
	case MW_EV_MODULE_UNLOADED:
		m = p->unloading;
		p->unloading = NULL;
		if (!m || m->handle != ev->old_addr || ev->code)
			break;
		/* The mappings say whether it went, not a count of opens:
		 * glibc keeps a module others depend on, or whose
		 * thread_local destructors are still registered. */
		if (ev->flags & MW_EVF_UNMAPPED)
			module_unloaded(e, p, m, ev->ts);
		break;
	}
}
