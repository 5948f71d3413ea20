/*
 * engine.c - the engine object, the traced processes and their threads:
 * attach, exec, exit and detach, thread start and exit, and the dispatch
 * of each event and tick to the piece it concerns (engine_int.h lists
 * them, with which may call which).
 *
 * Per traced process the engine keeps:
 *  - blocks: address -> block (size, owner thread, time, site, serial),
 *    engine_block.c;
 *  - threads: tid -> thread, whose row holds exact counters;
 *  - keys: key id -> the current generation of that key, engine_tls.c;
 *  - bindings: (tid, key) -> the value that thread set for that key,
 *    engine_tls.c.
 *
 * Invariants:
 *  - a thread struct lives while it is in the tid map, owns live blocks,
 *    or waits to be flushed; all of them are on the process's thread list;
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "engine_int.h"

struct engine *engine__new(const struct engine_config *cfg,
			   uint64_t first_serial)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->cfg = *cfg;
	engine_config__defaults(&e->cfg);
	e->serial = first_serial ? first_serial : 1;
	hmap__init(&e->procs);
	return e;
}

void proc__free(struct proc *p)
{
	if (!p)
		return;
	tls__fini(p);
	while (p->all_threads) {
		struct thread *t = p->all_threads;

		p->all_threads = t->all_next;
		rules__thread_fini(t);
		free(t);
	}
	block__fini(p);
	vec__fini(&p->threads_at);
	vec__fini(&p->threads_free);
	hmap__fini(&p->threads);
	module__fini(p);
	anonmap__fini(&p->anon);
	rules__proc_fini(p);
	race__proc_fini(p);
	site__fini(p);
	vec__fini(&p->dirty_threads);
	free(p);
}

void engine__free(struct engine *e)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	if (!e)
		return;
	while (hmap__next(&e->procs, &pos, &k, &v))
		proc__free(v);
	hmap__fini(&e->procs);
	while (e->ended) {
		struct proc *p = e->ended;

		e->ended = p->ended_next;
		proc__free(p);
	}
	free(e);
}

static void copy_comm(char *dst, const char *src)
{
	size_t n = 0;

	if (src)
		for (; n < MW_COMM_MAX - 1 && src[n]; n++)
			dst[n] = src[n];
	dst[n] = '\0';
}

int engine__attach(struct engine *e, uint32_t pid, const char *comm,
		   uint64_t now, uint64_t *proc_id)
{
	struct proc *p = hmap__get(&e->procs, pid);
	int err;

	if (p) {
		if (proc_id)
			*proc_id = p->row.id;
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->row.id = e->serial++;
	p->row.pid = pid;
	p->row.state = MW_PROC_TRACING;
	p->row.mode = MW_MODE_FULL;
	p->row.start_ts = now;
	site__init(p);
	hmap__init(&p->modules);
	anonmap__init(&p->anon);
	rules__proc_init(e, p);
	race__proc_init(p);
	copy_comm(p->row.comm, comm);
	p->dirty = true;
	err = hmap__put(&e->procs, pid, p);
	if (err) {
		free(p);
		return err;
	}
	e->st.processes++;
	if (proc_id)
		*proc_id = p->row.id;
	return 0;
}

int engine__set_mode(struct engine *e, uint32_t pid, uint32_t mode)
{
	struct proc *p = hmap__get(&e->procs, pid);

	if (!p)
		return -ESRCH;
	if (mode != MW_MODE_FULL && mode != MW_MODE_TLS)
		return -EINVAL;
	p->row.mode = mode;
	p->dirty = true;
	return 0;
}

int engine__set_identity(struct engine *e, uint32_t pid, uint32_t nspid,
			 const char *cgroup)
{
	struct proc *p = hmap__get(&e->procs, pid);
	size_t n = 0;

	if (!p)
		return -ESRCH;
	p->row.nspid = nspid;
	for (; cgroup && n < sizeof(p->row.cgroup) - 1 && cgroup[n]; n++)
		p->row.cgroup[n] = cgroup[n];
	p->row.cgroup[n] = '\0';
	p->dirty = true;
	return 0;
}

int engine__set_allocator(struct engine *e, uint32_t pid, const char *name)
{
	struct proc *p = hmap__get(&e->procs, pid);
	size_t n = 0;

	if (!p)
		return -ESRCH;
	for (; name && n < sizeof(p->row.allocator) - 1 && name[n]; n++)
		p->row.allocator[n] = name[n];
	p->row.allocator[n] = '\0';
	p->dirty = true;
	return 0;
}

int engine__is_traced(const struct engine *e, uint32_t pid)
{
	return hmap__get(&e->procs, pid) != NULL;
}

/* --- threads ------------------------------------------------------------- */

/* Give t an index in p->threads_at, by which its blocks name it. */
static int thread_index(struct proc *p, struct thread *t)
{
	if (p->threads_free.len) {
		t->idx = (uint32_t)(uintptr_t)
				 p->threads_free.items[--p->threads_free.len];
		p->threads_at.items[t->idx] = t;
		return 0;
	}
	/* Index 0 means none. */
	if (!p->threads_at.len && vec__push(&p->threads_at, NULL))
		return -ENOMEM;
	if (p->threads_at.len > UINT32_MAX || vec__push(&p->threads_at, t))
		return -ENOMEM;
	t->idx = (uint32_t)(p->threads_at.len - 1);
	return 0;
}

static void thread_unindex(struct proc *p, struct thread *t)
{
	p->threads_at.items[t->idx] = NULL;
	/* Cannot fail for want of memory when the last push made room:
	 * there are never more free indices than indices. On failure the
	 * index is just not reused. */
	vec__push(&p->threads_free, (void *)(uintptr_t)t->idx);
	t->idx = 0;
}

static struct thread *thread_new(struct proc *p, uint32_t tid, uint64_t ts,
				 const char *comm)
{
	struct thread *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (thread_index(p, t) || hmap__put(&p->threads, tid, t)) {
		if (t->idx)
			thread_unindex(p, t);
		free(t);
		return NULL;
	}
	t->proc = p;
	t->in_map = true;
	t->row.proc_id = p->row.id;
	t->row.pid = p->row.pid;
	t->row.tid = tid;
	t->row.state = MW_THREAD_ALIVE;
	t->row.start_ts = ts;
	copy_comm(t->row.comm, comm);
	t->all_next = p->all_threads;
	if (p->all_threads)
		p->all_threads->all_prev = t;
	p->all_threads = t;
	p->row.threads++;
	thread_touch(t);
	return t;
}

/* May p hold one more thread? If not, the event at ts that needs it is
 * dropped. */
static bool thread_room(struct engine *e, struct proc *p, uint64_t ts)
{
	if (!e->cfg.max_threads || p->threads.len < e->cfg.max_threads)
		return true;
	proc_drop(e, p, ts);
	return false;
}

/* Unlink a thread that is off the map, owns nothing and was flushed. */
void thread__release(struct thread *t)
{
	struct proc *p = t->proc;

	if (t->all_prev)
		t->all_prev->all_next = t->all_next;
	else
		p->all_threads = t->all_next;
	if (t->all_next)
		t->all_next->all_prev = t->all_prev;
	thread_unindex(p, t);
	rules__thread_fini(t);
	free(t);
}

static void thread_end(struct engine *e, struct proc *p, struct thread *t,
		       uint64_t ts, bool group, const char *comm)
{
	tls__thread_end(e, p, t, ts, group);
	t->row.state = group ? MW_THREAD_GONE : MW_THREAD_EXITED;
	t->row.exit_ts = ts;
	if (!group) {
		p->exits++;
		rules__thread_exit(e, p, t, ts);
	}
	if (comm && comm[0])
		copy_comm(t->row.comm, comm);
	if (t->in_map) {
		hmap__del(&p->threads, t->row.tid);
		t->in_map = false;
	}
	thread_touch(t);
}

/* --- processes ----------------------------------------------------------- */

static void proc_end(struct engine *e, struct proc *p, uint32_t state,
		     uint64_t ts)
{
	size_t pos = 0;
	uint64_t k;
	void *v;
	struct vec alive = {0};

	p->row.state = state;
	p->row.end_ts = ts;
	if (state == MW_PROC_EXITED) {
		tls__decide(e, p, ts, true);
		while (hmap__next(&p->threads, &pos, &k, &v))
			vec__push(&alive, v);
		for (size_t i = 0; i < alive.len; i++)
			thread_end(e, p, alive.items[i], ts, true, NULL);
		vec__fini(&alive);
		rules__tick(e, p, ts, true);
	} else {
		tls__drop_cands(e, p);
	}
	p->dirty = true;
	p->ended = true;
	/* Its blocks are no longer in any traced process's live set. */
	e->st.live_blocks -= p->row.live_blocks;
	hmap__del(&e->procs, p->row.pid);
	p->ended_next = e->ended;
	e->ended = p;
	e->st.processes--;
}

static void proc_exec(struct engine *e, struct proc *p,
		      const struct mw_event *ev)
{
	/* The old image is gone with everything it allocated: none of it
	 * leaked, so drop it without findings. */
	struct block *b;

	for (uint32_t i = 0; (b = blockset__next(&p->blocks, &i));)
		block__remove(e, p, b, NULL);
	tls__exec(e, p);
	module__fini(p);
	anonmap__fini(&p->anon);
	if (ev->comm[0])
		copy_comm(p->row.comm, ev->comm);
	p->dirty = true;
}

int engine__detach(struct engine *e, uint32_t pid, uint64_t now)
{
	struct proc *p = hmap__get(&e->procs, pid);

	if (!p)
		return -ESRCH;
	proc_end(e, p, MW_PROC_DETACHED, now);
	return 0;
}

int engine__feed(struct engine *e, const struct mw_event *ev)
{
	struct proc *p;
	struct thread *t;

	e->st.events++;
	if (ev->type == MW_EV_LOST) {
		size_t pos = 0;
		uint64_t last;
		uint64_t k;
		void *v;

		/* A loss of unknown time (a collector that cannot say) may
		 * be any time from now on: nothing is judged again. */
		last = ev->ts ? ev->ts : ENGINE_TS_FOREVER;
		e->st.lost += ev->count;
		if (ev->pid) {
			p = hmap__get(&e->procs, ev->pid);
			if (p) {
				p->row.lost += ev->count;
				proc_lose(p, ev->addr, last);
			}
			return 0;
		}
		/* Unknown owner: every traced process may be missing it. */
		while (hmap__next(&e->procs, &pos, &k, &v)) {
			p = v;
			p->row.lost += ev->count;
			proc_lose(p, ev->addr, last);
		}
		return 0;
	}
	p = hmap__get(&e->procs, ev->pid);
	if (!p)
		return 0;
	p->dirty = true;
	switch (ev->type) {
	case MW_EV_PROC_EXIT:
		p->row.exit_code = ev->code;
		proc_end(e, p, MW_PROC_EXITED, ev->ts);
		return 0;
	case MW_EV_EXEC:
		proc_exec(e, p, ev);
		return 0;
	case MW_EV_THREAD_START:
		t = hmap__get(&p->threads, ev->tid);
		if (t) /* its exit was lost: the tid was reused */
			thread_end(e, p, t, ev->ts, true, NULL);
		if (!thread_room(e, p, ev->ts))
			return 0;
		return thread_new(p, ev->tid, ev->ts, ev->comm) ? 0 : -ENOMEM;
	case MW_EV_THREAD_EXIT:
		t = hmap__get(&p->threads, ev->tid);
		if (!t && !thread_room(e, p, ev->ts))
			return 0;
		if (!t)
			t = thread_new(p, ev->tid, ev->ts, ev->comm);
		if (!t)
			return -ENOMEM;
		thread_end(e, p, t, ev->ts, ev->flags & MW_EVF_GROUP_EXIT,
			   ev->comm);
		return 0;
	case MW_EV_ALLOC:
	case MW_EV_FREE:
	case MW_EV_REALLOC:
	case MW_EV_KEY_CREATE:
	case MW_EV_KEY_DELETE:
	case MW_EV_TLS_SET:
	case MW_EV_MODULE_LOAD:
	case MW_EV_MODULE_UNLOAD:
	case MW_EV_MODULE_UNLOADED:
	case MW_EV_POOL_OVERLAP:
		break;
	case MW_EV_MMAP:
		anonmap__add(&p->anon, ev->addr, ev->size);
		return 0;
	case MW_EV_MUNMAP:
		anonmap__remove(&p->anon, ev->addr, ev->size);
		return 0;
	case MW_EV_BRK:
		anonmap__brk(&p->anon, ev->addr);
		return 0;
	case MW_EV_MREMAP:
		/* Only a move of memory we count as anonymous stays so. */
		if (anonmap__remove(&p->anon, ev->old_addr, ev->count))
			anonmap__add(&p->anon, ev->addr, ev->size);
		return 0;
	default:
		return -EINVAL;
	}
	t = hmap__get(&p->threads, ev->tid);
	if (!t && !thread_room(e, p, ev->ts))
		return 0;
	t = t ? t : thread_new(p, ev->tid, ev->ts, NULL);
	if (!t)
		return -ENOMEM;
	switch (ev->type) {
	case MW_EV_ALLOC:
		block__alloc(e, p, t, ev);
		break;
	case MW_EV_FREE:
		if (ev->flags & MW_EVF_POOL)
			race__free(e, p, t, ev);
		block__free(e, p, t, ev->addr, ev);
		break;
	case MW_EV_POOL_OVERLAP:
		race__overlap(e, p, t, ev);
		break;
	case MW_EV_REALLOC:
		block__realloc(e, p, t, ev);
		break;
	case MW_EV_KEY_CREATE:
		tls__key_create(e, p, ev);
		break;
	case MW_EV_KEY_DELETE:
		/* A library deleting its key as it is unloaded leaves the
		 * values of live threads behind with the library: that is the
		 * module's leak. */
		tls__key_delete(e, p, ev,
				module__key_unloading(p, ev->key, ev->tid)
				    ? MW_FIND_TLS_OUTLIVED_MODULE
				    : MW_FIND_TLS_OUTLIVED_KEY);
		break;
	case MW_EV_TLS_SET:
		tls__set(e, p, t, ev);
		break;
	case MW_EV_MODULE_LOAD:
	case MW_EV_MODULE_UNLOAD:
	case MW_EV_MODULE_UNLOADED:
		module__event(e, p, t, ev);
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

void engine__tick(struct engine *e, uint64_t now)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&e->procs, &pos, &k, &v)) {
		tls__decide(e, v, now, false);
		rules__tick(e, v, now, false);
	}
}

void engine__stats(const struct engine *e, struct engine_stats *st)
{
	*st = e->st;
}

static uint64_t hmap_bytes(const struct hmap *m, size_t each)
{
	return m->cap * sizeof(struct hmap_slot) + m->len * each;
}

/*
 * What p's tables take: records and indexes by their capacity, the
 * objects they point to by their size. Stacks count their frames at
 * MW_EV_MAX_FRAMES / 2 each (not tracked one by one); free-call-site
 * statistics and the recent-frees ring at 64 bytes an entry.
 */
static uint64_t proc_memory(const struct engine *e, const struct proc *p)
{
	uint64_t n = sizeof(*p);

	n += blockset__bytes(&p->blocks);
	n += p->fifo.cap * sizeof(uint64_t) + p->cap_dels * sizeof(uint64_t);
	n += p->cap_cands * sizeof(struct cand);
	n += hmap_bytes(&p->threads, sizeof(struct thread));
	n += p->threads_at.cap * sizeof(void *);
	n += hmap_bytes(&p->keys, sizeof(struct key));
	n += hmap_bytes(&p->bindings, sizeof(struct binding));
	n += hmap_bytes(&p->modules, sizeof(struct module));
	n += hmap_bytes(&p->site_stats, sizeof(struct site_stat));
	n += p->site_at.cap * sizeof(void *);
	n += hmap_bytes(&p->free_stats, 64);
	n += hmap_bytes(&p->pools, 0) + hmap_bytes(&p->races, 0) +
	     race__memory(p);
	n += hmap_bytes(&p->recent, 0);
	if (p->recent_ring)
		n += (uint64_t)e->cfg.recent_frees * sizeof(uint64_t);
	n += p->aggs.len * sizeof(struct agg);
	n += hmap_bytes(&p->held, sizeof(struct finding));
	n += p->stacks.count * (sizeof(struct mw_stack) +
				MW_EV_MAX_FRAMES / 2 * sizeof(uint64_t));
	n += hmap_bytes(&p->stacks.by_hash, 0);
	n += hmap_bytes(&p->stacks.fan_count, 0);
	n += hmap_bytes(&p->stacks.fan_seen, 0);
	return n;
}

uint64_t engine__memory(const struct engine *e, uint32_t *pid, uint64_t *bytes)
{
	uint64_t total = sizeof(*e) + hmap_bytes(&e->procs, 0), m;
	size_t pos = 0;
	uint64_t k;
	void *v;

	*pid = 0;
	*bytes = 0;
	while (hmap__next(&e->procs, &pos, &k, &v)) {
		m = proc_memory(e, v);
		total += m;
		if (m > *bytes) {
			*bytes = m;
			*pid = (uint32_t)k;
		}
	}
	return total;
}
