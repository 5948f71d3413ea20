/*
 * engine_tls.c - TLS state and the TLS rules. Per traced process:
 *  - keys: key id -> the current generation of that key;
 *  - bindings: (tid, key) -> the value that thread set for that key;
 *  - candidates: a block a slot let go of (its thread exited, its key
 *    was deleted, its module unloaded, its value overwritten), a finding
 *    if still live grace_ns later; and the one-block findings they made,
 *    until flushed;
 *  - tls-overwritten findings: one row per (key generation, allocating
 *    site) whose evidence grows, kept with the rows over time (p->aggs).
 *    A value replaced by one whose block links it (a list head kept in
 *    TLS: r->next = old) is still reachable: not a candidate.
 *
 * Invariant: a binding is in the bindings map and on its thread's list,
 * or is dead and waits on the dirty list to be flushed as a delete.
 * A binding remembers the serial of the block it pointed to, so a freed
 * and reused address never passes for the bound block.
 *
 * A TLS-only trace (MW_MODE_TLS) sees no malloc or free: the values set
 * are added to the live set here (engine_block.c), and taken out when
 * the slot lets them go.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static uint64_t binding_id(uint32_t tid, uint32_t key)
{
	return (uint64_t)tid << 32 | key;
}

static void key_touch(struct proc *p, struct key *k)
{
	if (!k->dirty && !vec__push(&p->dirty_keys, k))
		k->dirty = true;
}

static void binding_touch(struct proc *p, struct binding *b)
{
	if (!b->dirty && !vec__push(&p->dirty_bindings, b))
		b->dirty = true;
}

void tls__fini(struct proc *p)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&p->keys, &pos, &k, &v))
		free(v);
	pos = 0;
	while (hmap__next(&p->bindings, &pos, &k, &v))
		free(v);
	/* Keys and bindings off their maps wait only on the dirty lists. */
	for (size_t i = 0; i < p->dirty_keys.len; i++) {
		struct key *key = p->dirty_keys.items[i];

		if (!key->in_map)
			free(key);
	}
	for (size_t i = 0; i < p->dirty_bindings.len; i++) {
		struct binding *b = p->dirty_bindings.items[i];

		if (b->dead)
			free(b);
	}
	for (size_t i = 0; i < p->findings.len; i++)
		free(p->findings.items[i]);
	/* Its rows are on p->aggs, freed with them (rules.c). */
	hmap__fini(&p->overwrites);
	hmap__fini(&p->over_blocks);
	hmap__fini(&p->keys);
	hmap__fini(&p->bindings);
	vec__fini(&p->dirty_keys);
	vec__fini(&p->dirty_bindings);
	vec__fini(&p->findings);
	free(p->cands);
}

/* --- keys and bindings --------------------------------------------------- */

/* NULL when out of memory, or at max_keys (the event is dropped). */
static struct key *key_create(struct engine *e, struct proc *p, uint32_t id,
			      uint64_t ts, uint64_t event_ts, uint32_t tid,
			      uint64_t destructor, uint64_t site)
{
	struct key *old = hmap__get(&p->keys, id);
	struct key *k;

	if (!old && e->cfg.max_keys && p->keys.len >= e->cfg.max_keys) {
		proc_drop(e, p, event_ts);
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	if (hmap__put(&p->keys, id, k)) {
		free(k);
		return NULL;
	}
	k->in_map = true;
	k->row.proc_id = p->row.id;
	k->row.pid = p->row.pid;
	k->row.key = id;
	k->row.generation = old ? old->row.generation + 1 : 1;
	k->row.state = MW_KEY_LIVE;
	k->row.create_tid = tid;
	k->row.destructor = destructor;
	k->row.create_ts = ts;
	k->create_site = site;
	if (old) {
		/* A key id is reused after delete: the old generation keeps
		 * its row; free it now unless a flush still needs it. */
		old->in_map = false;
		if (!old->dirty)
			free(old);
	}
	key_touch(p, k);
	return k;
}

void tls__key_create(struct engine *e, struct proc *p,
		     const struct mw_event *ev)
{
	key_create(e, p, ev->key, ev->ts, ev->ts, ev->tid, ev->addr, ev->site);
}

static void binding_kill(struct proc *p, struct binding *b)
{
	struct thread *t = b->thread;
	struct key *k = hmap__get(&p->keys, b->row.key);

	hmap__del(&p->bindings, binding_id(b->row.tid, b->row.key));
	if (b->tprev)
		b->tprev->tnext = b->tnext;
	else
		t->bindings = b->tnext;
	if (b->tnext)
		b->tnext->tprev = b->tprev;
	b->tprev = b->tnext = NULL;
	if (k && k->row.generation == b->row.generation && k->row.bindings) {
		k->row.bindings--;
		key_touch(p, k);
	}
	b->dead = true;
	b->row.value = 0;
	binding_touch(p, b);
	if (!b->dirty)
		free(b); /* out of memory for the dirty list: drop quietly */
}

/* --- candidates ---------------------------------------------------------- */

/* Block blk, held through (tid, key, generation), is a candidate of kind:
 * a finding if still live grace_ns after ts. */
void tls__cand_push_block(struct engine *e, struct proc *p,
			  const struct block *blk, uint32_t kind, uint32_t tid,
			  uint32_t key, uint32_t generation, uint64_t ts)
{
	struct cand *c;

	if (blk->reported)
		return;
	if (p->ncands == p->cap_cands) {
		size_t live = p->ncands - p->cand_head;

		if (p->cand_head > live) {
			/* Reuse the decided prefix before growing. */
			memmove(p->cands, p->cands + p->cand_head,
				live * sizeof(*c));
			p->ncands = live;
			p->cand_head = 0;
		} else {
			size_t ncap = p->cap_cands ? p->cap_cands * 2 : 64;
			struct cand *n = realloc(p->cands, ncap * sizeof(*n));

			if (!n)
				return;
			p->cands = n;
			p->cap_cands = ncap;
		}
	}
	c = &p->cands[p->ncands++];
	c->addr = blk->addr;
	c->serial = blk->serial;
	c->trigger_ts = ts;
	c->deadline = ts + e->cfg.grace_ns;
	c->kind = kind;
	c->tid = tid;
	c->key = key;
	c->generation = generation;
	e->st.pending++;
}

/* The block a binding holds, if it is still that live block. */
void tls__cand_push(struct engine *e, struct proc *p, struct binding *b,
		    uint32_t kind, uint64_t ts)
{
	struct block *blk = blockset__get(&p->blocks, b->row.value);

	if (!blk || !b->row.block || blk->serial != b->row.block)
		return;
	tls__cand_push_block(e, p, blk, kind, b->row.tid, b->row.key,
			     b->row.generation, ts);
}

/*
 * The tls-overwritten row of c's key generation and b's allocating site,
 * made at the first such block: values a thread drops by setting another
 * usually come from one call path, and a row per value would bury the
 * finding (a thousand rows for one loop). NULL when out of memory.
 */
static struct agg *overwrite_agg(struct engine *e, struct proc *p,
				 const struct cand *c, const struct block *b,
				 uint64_t now)
{
	struct site_stat *ss = block_ss(p, b);
	uint64_t id = (uint64_t)c->key << 32 | ss->idx;
	struct agg *a = hmap__get(&p->overwrites, id);

	if (a && a->row.generation == c->generation)
		return a;
	/* None yet, or the previous generation's: that row is kept (on
	 * p->aggs) and no longer grows. */
	a = calloc(1, sizeof(*a));
	if (!a || vec__push(&p->aggs, a)) {
		free(a);
		return NULL;
	}
	hmap__init(&a->tids);
	hmap__put(&p->overwrites, id, a); /* out of memory: a row per value */
	a->stack = ss->stack;
	a->row.id = e->serial++;
	a->row.kind = MW_FIND_TLS_OVERWRITTEN;
	/* The old value may still be referenced from elsewhere than a
	 * link in the new one. */
	a->row.severity = MW_SEV_MEDIUM;
	a->row.pid = p->row.pid;
	a->row.proc_id = p->row.id;
	a->row.key = c->key;
	a->row.generation = c->generation;
	a->row.site = ss->site;
	a->row.stack_id = ss->stack ? ss->stack->id : 0;
	a->row.found_ts = a->row.first_ts = now;
	p->row.findings++;
	p->dirty = true;
	e->st.findings++;
	return a;
}

/* Block b, dropped from its slot by c, is still live: count it in its
 * row, which names it as the latest. */
static void overwrite_found(struct engine *e, struct proc *p,
			    const struct cand *c, struct block *b,
			    uint64_t now)
{
	struct agg *a = overwrite_agg(e, p, c, b, now);

	if (!a)
		return;
	b->reported = true;
	if (!hmap__get(&a->tids, c->tid))
		hmap__put(&a->tids, c->tid, (void *)1);
	a->row.threads = (uint32_t)a->tids.len;
	a->row.count++;
	a->row.bytes += b->size;
	a->row.tid = c->tid;
	a->row.alloc_tid = block_owner(p, b)->row.tid;
	a->row.block = b->serial;
	a->row.addr = b->addr;
	a->row.size = b->size;
	a->row.alloc_ts = b->ts;
	a->row.trigger_ts = c->trigger_ts;
	a->row.last_ts = now;
	/* Out of memory, its free goes unseen: the row stays open. */
	if (!hmap__put(&p->over_blocks, b->serial, a)) {
		a->live_blocks++;
		a->live_bytes += b->size;
	}
	agg__overwritten_detail(a);
	agg__touch(p, a);
}

static void cand_decide(struct engine *e, struct proc *p, const struct cand *c,
			uint64_t now)
{
	struct block *b = blockset__get(&p->blocks, c->addr);
	struct finding *fd;
	struct mw_finding_row *f;

	e->st.pending--;
	if (!b || b->serial != c->serial || b->reported)
		return; /* freed in time */
	/* Its free, or the slot letting it go, may be among what was
	 * lost: only a block allocated after the latest loss is judged. */
	if (!proc_complete_since(p, b->ts)) {
		proc_withhold(e, p);
		return;
	}
	if (c->kind == MW_FIND_TLS_OVERWRITTEN) {
		overwrite_found(e, p, c, b, now);
		return;
	}
	fd = calloc(1, sizeof(*fd));
	if (!fd || vec__push(&p->findings, fd)) {
		free(fd);
		return;
	}
	b->reported = true;
	fd->stack = block_ss(p, b)->stack;
	f = &fd->row;
	f->id = e->serial++;
	f->kind = c->kind;
	f->pid = p->row.pid;
	f->proc_id = p->row.id;
	f->tid = c->tid;
	f->key = c->key;
	f->generation = c->generation;
	f->alloc_tid = block_owner(p, b)->row.tid;
	f->block = b->serial;
	f->addr = b->addr;
	f->size = b->size;
	f->site = block_ss(p, b)->site;
	f->stack_id = fd->stack ? fd->stack->id : 0;
	f->alloc_ts = b->ts;
	f->trigger_ts = c->trigger_ts;
	f->found_ts = now;
	/* A value whose thread or key is gone cannot be reached through
	 * TLS. */
	f->severity = MW_SEV_HIGH;
	if (c->kind == MW_FIND_TLS_OUTLIVED_MODULE && !c->generation)
		snprintf(f->detail, sizeof(f->detail),
			 "thread_local block of an unloaded module, held by "
			 "live thread %u",
			 c->tid);
	f->threads = 1;
	f->count = 1;
	f->bytes = b->size;
	f->first_ts = f->last_ts = now;
	p->row.findings++;
	p->dirty = true;
	e->st.findings++;
}

/* Decide candidates due by now; all of them when the process ended. */
void tls__decide(struct engine *e, struct proc *p, uint64_t now, bool all)
{
	while (p->cand_head < p->ncands) {
		struct cand *c = &p->cands[p->cand_head];

		if (!all && c->deadline > now)
			break;
		p->cand_head++;
		cand_decide(e, p, c, now);
	}
	if (p->cand_head == p->ncands)
		p->cand_head = p->ncands = 0;
}

/* Forget every pending candidate: nothing more is judged. */
void tls__drop_cands(struct engine *e, struct proc *p)
{
	e->st.pending -= p->ncands - p->cand_head;
	p->cand_head = p->ncands = 0;
}

/* --- events -------------------------------------------------------------- */

/*
 * TLS only: a value leaves its slot and was, as far as this trace can
 * tell, released; forget its block (it was only ever known through the
 * slot).
 */
static void tls_value_released(struct engine *e, struct proc *p,
			       const struct binding *b)
{
	struct block *blk = blockset__get(&p->blocks, b->row.value);

	if (blk && blk->serial == b->row.block && !blk->reported)
		block__remove(e, p, blk, NULL);
}

/*
 * Whether ev, replacing b's value by another, is not to be judged an
 * overwrite: the new value holds the old one's address (a list push: the
 * old value is still reachable), or the collector checks links but did
 * not check this old value (it forgot the slot, or saw other events than
 * the engine did), so nothing is known. A link found past the end of the
 * new block, when the block is known, is a word of another block.
 */
static bool set_keeps_old(const struct proc *p, const struct binding *b,
			  const struct mw_event *ev)
{
	const struct block *nb;

	if (!(ev->flags & MW_EVF_LINK_CHECKED))
		return false;
	if (ev->old_addr != b->row.value)
		return true;
	if (ev->code < 0)
		return false;
	nb = blockset__get(&p->blocks, ev->addr);
	return !nb || (uint64_t)ev->code + sizeof(uint64_t) <= nb->size;
}

void tls__set(struct engine *e, struct proc *p, struct thread *t,
	      const struct mw_event *ev)
{
	uint64_t id = binding_id(t->row.tid, ev->key);
	struct binding *b = hmap__get(&p->bindings, id);
	struct key *k = hmap__get(&p->keys, ev->key);
	struct block *blk;

	if (k && k->row.state == MW_KEY_DELETED)
		return; /* glibc refuses to set a deleted key */
	if (!k) {
		/* A key created before we attached. */
		k = key_create(e, p, ev->key, 0, ev->ts, 0, 0, 0);
		if (!k)
			return;
	}
	/* Replacing a live block (not clearing the slot: freeing the old
	 * value first and then clearing is the usual order) starts its
	 * grace period; a new value that is the same block does not. A
	 * TLS-only trace sees no free, so it cannot tell and assumes the
	 * old value was released. */
	if (b && b->row.value != ev->addr) {
		if (p->row.mode == MW_MODE_TLS)
			tls_value_released(e, p, b);
		else if (ev->addr && !set_keeps_old(p, b, ev))
			tls__cand_push(e, p, b, MW_FIND_TLS_OVERWRITTEN,
				       ev->ts);
	}
	if (!ev->addr) {
		if (b)
			binding_kill(p, b);
		return;
	}
	/* TLS only: the value is known from here on, sized from the
	 * allocator's metadata, allocated where it was set. */
	if (p->row.mode == MW_MODE_TLS && !blockset__get(&p->blocks, ev->addr))
		block__add(e, p, t, ev->addr, ev->size, ev->ts, ev->site,
			   site__stack(e, p, ev));
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || hmap__put(&p->bindings, id, b)) {
			free(b);
			return;
		}
		b->thread = t;
		b->row.proc_id = p->row.id;
		b->row.pid = p->row.pid;
		b->row.tid = t->row.tid;
		b->row.key = ev->key;
		b->tnext = t->bindings;
		if (t->bindings)
			t->bindings->tprev = b;
		t->bindings = b;
		k->row.bindings++;
		key_touch(p, k);
	}
	blk = blockset__get(&p->blocks, ev->addr);
	b->row.generation = k->row.generation;
	b->row.value = ev->addr;
	b->row.block = blk ? blk->serial : 0;
	b->row.size = blk ? blk->size : 0;
	b->row.set_ts = ev->ts;
	binding_touch(p, b);
}

void tls__key_delete(struct engine *e, struct proc *p,
		     const struct mw_event *ev, uint32_t kind)
{
	struct key *k = hmap__get(&p->keys, ev->key);
	struct vec doomed = {0};
	size_t pos = 0;
	uint64_t id;
	void *v;

	if (!k) {
		k = key_create(e, p, ev->key, 0, ev->ts, 0, 0, 0);
		if (!k)
			return;
	}
	k->row.state = MW_KEY_DELETED;
	k->row.delete_ts = ev->ts;
	key_touch(p, k);
	while (hmap__next(&p->bindings, &pos, &id, &v)) {
		struct binding *b = v;

		if (b->row.key == ev->key)
			vec__push(&doomed, b);
	}
	for (size_t i = 0; i < doomed.len; i++) {
		tls__cand_push(e, p, doomed.items[i], kind, ev->ts);
		binding_kill(p, doomed.items[i]);
	}
	vec__fini(&doomed);
}

void tls__thread_end(struct engine *e, struct proc *p, struct thread *t,
		     uint64_t ts, bool group)
{
	/* A thread that dies with its process takes its TLS with it: that
	 * is process exit, not a thread-level leak. */
	while (t->bindings) {
		struct binding *b = t->bindings;
		/* binding_kill frees b after unlinking it from b->thread's
		 * list, and b->thread is t for every binding on t's list:
		 * the analyzer cannot know that invariant. */
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		struct key *k = hmap__get(&p->keys, b->row.key);

		/* TLS only: glibc calls the key's destructor on a non-NULL
		 * value at thread exit, and a destructor releases it. */
		if (p->row.mode == MW_MODE_TLS && k &&
		    k->row.generation == b->row.generation && k->row.destructor)
			tls_value_released(e, p, b);
		else if (!group)
			tls__cand_push(e, p, b, MW_FIND_TLS_OUTLIVED_THREAD,
				       ts);
		binding_kill(p, b);
	}
}

/* The process exec'ed: its old image's keys and bindings are gone, and
 * so is what its candidates could find. */
void tls__exec(struct engine *e, struct proc *p)
{
	struct vec all = {0};
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&p->bindings, &pos, &k, &v))
		vec__push(&all, v);
	for (size_t i = 0; i < all.len; i++)
		binding_kill(p, all.items[i]);
	all.len = 0;
	pos = 0;
	while (hmap__next(&p->keys, &pos, &k, &v))
		vec__push(&all, v);
	for (size_t i = 0; i < all.len; i++) {
		struct key *key = all.items[i];

		hmap__del(&p->keys, key->row.key);
		key->in_map = false;
		if (!key->dirty)
			free(key);
	}
	vec__fini(&all);
	tls__drop_cands(e, p);
	/* The new image's keys start again at generation 1: their
	 * tls-overwritten rows are new ones. */
	hmap__fini(&p->overwrites);
}
