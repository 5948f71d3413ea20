/*
 * engine_int.h - the engine's inside, shared by its pieces. Nothing
 * outside engine/ includes this but the checker's unit test
 * (tests/unit/test_engine_check.c).
 *
 * The pieces, top to bottom. Each calls only pieces below it, so there
 * is no call cycle:
 *
 *   engine_flush.c   the flush: dirty rows, due blocks and deletes to the
 *                    sink, in one transaction; frees what only waited to
 *                    be written (calls engine.c, rules.c, engine_site.c)
 *   engine.c         the engine object, processes and threads, and the
 *                    dispatch of each event and tick to the pieces below
 *   engine_module.c  modules (dlopen/dlclose) and the module rules
 *                    (calls engine_tls.c, engine_site.c)
 *   engine_tls.c     keys, bindings, candidates and the TLS rules (calls
 *                    engine_block.c, engine_site.c)
 *   engine_block.c   the live set: blocks, their owners' counters, their
 *                    queues to the store (calls rules.c, engine_site.c)
 *   engine_race.c    the allocator-race rule over a user's pairs (calls
 *                    rules.c, engine_site.c)
 *   rules.c          the rules over time, and the bad-free rule (calls
 *                    rules_orphan.c, rules_finding.c, engine_site.c)
 *   rules_orphan.c   the thread-orphan rule (calls rules_finding.c,
 *                    engine_site.c)
 *   rules_finding.c  the rows the rules over time make, their
 *                    resolution, and one-block findings held until their
 *                    block's free (calls engine_site.c)
 *   engine_site.c    stacks, sites and their statistics (calls nothing)
 *
 * beside engine_config.c (defaults, called by engine.c), and
 * engine_export.c and engine_check.c, which only read the state.
 *
 * A lower piece never calls up. What an upper piece must learn of an
 * event a lower one handles is decided where the event is dispatched:
 * engine__feed asks engine_module.c whether a deleted key is the
 * unloading module's and tells engine_tls.c which finding its values
 * make; engine.c ends a thread's TLS (engine_tls.c) before the rules over
 * time see it exit (rules.c). The other way, each piece tells the ones
 * below it: the live set tells sites and the bad-free rule of every block
 * added, freed or removed. Bookkeeping every piece does (thread_touch,
 * proc_drop, ...) is inline here.
 */
#ifndef MEMWATCH_ENGINE_INT_H
#define MEMWATCH_ENGINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "anonmap.h"
#include "blockset.h"
#include "engine.h"
#include "hash.h"
#include "stacktab.h"

struct proc;
struct agg;
struct orphan_stat;

/*
 * What one allocation site (stack, or call site without one) holds and
 * did, for rules.c. Site stats live as long as their process, each at a
 * fixed index of proc->site_at, which is how blocks name theirs.
 */
/* A growth the short window saw, followed for growth_horizon_ns before
 * it may be a finding (rules.c, growth_judge). since_ts 0: none. */
struct growth_watch {
	uint64_t since_ts, since_bytes; /* where the growth began */
	uint64_t mid_bytes;		/* live bytes half a horizon on */
	uint64_t found_bytes;		/* live bytes when it was found */
	bool mid;
};

struct site_stat {
	uint64_t key;		/* stack id, or the call site with no stack */
	uint64_t site;
	struct mw_stack *stack; /* NULL without a stack */
	uint64_t live_blocks, live_bytes;
	uint64_t cross_frees;	/* its blocks freed by another thread */
	uint64_t orphan_blocks, orphan_bytes; /* left behind, ever */
	uint64_t orphan_live_bytes;	      /* of those, still live */
	uint64_t orphan_live_blocks;
	uint32_t orphan_threads;	/* exited threads that left blocks */
	uint32_t exited_threads;	/* exited threads that allocated here */
	/* proc->orphan_exits before the first thread that left blocks
	 * here exited (since the site's evidence last began). */
	uint64_t exits_base;
	struct orphan_stat *ostat;	/* rules.c: who holds and frees them */
	uint32_t last_tid;	/* the newest block's, for the finding */
	uint64_t last_addr, last_size, last_ts, last_serial;
	uint32_t nsamples;
	uint32_t idx; /* in proc->site_at; never 0 */
	uint64_t samples[ENGINE_MAX_SAMPLES];
	struct growth_watch gw;
	struct agg *orphan, *growth;
};

#define THREAD_SITE_BITS 512

struct thread {
	struct mw_thread_row row;
	struct proc *proc;
	struct binding *bindings; /* this thread's live bindings */
	uint32_t blocks;	  /* blocks it allocated, still live */
	uint32_t idx;		  /* in proc->threads_at; never 0 */
	struct thread *all_prev, *all_next;
	/* Exited on its own: its leftovers are judged at orphan_deadline
	 * (rules.c); until then the struct must stay. */
	struct thread *orphan_next;
	uint64_t orphan_deadline;
	/* Live bytes at the last samples (rules.c), oldest first. */
	uint64_t samples[ENGINE_MAX_SAMPLES];
	uint32_t nsamples;
	struct growth_watch gw;
	struct agg *growth;	/* its thread-growth finding, while open */
	uint64_t exit_ordinal;	/* its place in proc->orphan_exits */
	/* The sites (site_stat idx) it allocated at, for the share of
	 * exiting threads that left blocks (rules_orphan.c): the first
	 * THREAD_SITE_BITS in a bitmap, tested at each allocation for a few
	 * instructions (sites are numbered as first seen, so a program's
	 * hot sites are there), the others in a map. */
	uint64_t site_bits[THREAD_SITE_BITS / 64];
	struct hmap alloc_sites;
	bool orphan_pending;
	bool in_map;
	bool dirty;
};

struct key {
	struct mw_key_row row;
	uint64_t create_site; /* return address of pthread_key_create */
	bool in_map;
	bool dirty;
};

/* A module the program dlopen'ed: handle -> where it is mapped. */
struct module {
	uint64_t handle;
	uint64_t start, end; /* [start, end) */
};

struct binding {
	struct mw_binding_row row;
	struct thread *thread;
	struct binding *tprev, *tnext;
	bool dead;
	bool dirty;
};

/* A one-block finding waiting to be flushed, with the stack its row
 * names; once flushed, held (proc->held) while it is open and its block
 * live, so that the block's free resolves it (rules.c). */
struct finding {
	struct mw_finding_row row;
	struct mw_stack *stack;
};

/*
 * A finding about a site or a thread over time (rules.c): one row whose
 * evidence grows. It lives as long as its process; dirty when its row
 * must be written again.
 */
struct agg {
	struct mw_finding_row row;
	struct mw_stack *stack;
	struct hmap tids; /* distinct threads involved */
	/* What it is about, to judge it again at each flush (rules__review):
	 * the site (thread-orphan, site-growth) or thread (thread-growth);
	 * none for the process's allocator-retention and bad-free. */
	struct site_stat *ss;
	struct thread *thread;
	uint64_t base, peak; /* growth: the bytes it started from, at most */
	/* tls-overwritten: of the blocks it counts, those still live */
	uint64_t live_blocks, live_bytes;
	bool dirty;
};

struct cand {
	uint64_t addr;
	uint64_t serial;
	uint64_t deadline;
	uint64_t trigger_ts;
	uint32_t kind;
	uint32_t tid;
	uint32_t key;
	uint32_t generation;
};

/* Site map values: emitted in the flush under way, or committed. */
#define SITE_PENDING ((void *)1)
#define SITE_DONE ((void *)2)

struct proc {
	/* Threads that exited on their own (rules_orphan.c), counted at
	 * their exit: thread.exit_ordinal numbers them. */
	uint64_t orphan_exits;
	bool orphan_final; /* judging what the process's end left pending */
	struct mw_process_row row;
	struct blockset blocks;
	/* Blocks whose rows are due once persist_age old, oldest first:
	 * block index << 32 | the low 32 bits of its serial. An entry is
	 * stale once its block is gone (the serial no longer matches, or the
	 * block is no longer queued); fifo_stale counts those, and they are
	 * dropped when they reach the head or outnumber the rest. */
	struct deque fifo;
	size_t fifo_stale;
	/* The flush under way: FIFO entries and dels it walked, and whether
	 * the row budget cut it short. */
	size_t fifo_walked, dels_walked;
	bool flush_cut;
	struct hmap threads;
	/* Every thread struct by its idx (NULL where free; [0] is none),
	 * and the free indices. */
	struct vec threads_at;
	struct vec threads_free;
	struct hmap keys;
	struct hmap bindings;
	struct hmap sites;
	struct stacktab stacks;
	struct vec stacks_pending; /* handed in the flush under way */
	struct thread *all_threads;
	struct vec dirty_threads;
	struct vec dirty_keys;
	struct vec dirty_bindings;
	struct vec findings; /* struct finding *, not yet flushed */
	struct hmap held;    /* block serial -> its open struct finding */
	/* tls-overwritten rows (engine_tls.c), also on aggs: key << 32 |
	 * site_stat idx -> struct agg of that key's latest generation */
	struct hmap overwrites;
	/* serial of a live block a tls-overwritten row counts -> the row */
	struct hmap over_blocks;
	uint64_t *dels;	     /* serials of persisted blocks since freed */
	size_t ndels, cap_dels;
	struct cand *cands; /* FIFO by deadline, from cand_head */
	size_t cand_head, ncands, cap_cands;
	struct hmap modules;	  /* handle -> struct module */
	struct anonmap anon;	  /* what the kernel mapped for it */
	uint64_t exits;		  /* threads that exited on their own */
	struct module *unloading; /* between dlclose's entry and return */
	uint32_t unloading_tid;
	/* rules.c */
	struct hmap site_stats;	 /* stack id or call site -> site_stat */
	struct vec site_at;	 /* site_stat by idx; [0] is none */
	struct hmap free_stats;	 /* free call site -> free_stat */
	struct hmap recent;	 /* recently freed address -> seq + 1 */
	uint64_t *recent_ring;	 /* seq % cfg.recent_frees -> address */
	uint64_t recent_seq;
	struct thread *orphan_head, *orphan_tail; /* by deadline */
	struct vec aggs;	 /* struct agg *, open or not yet flushed */
	struct vec dirty_aggs;
	uint64_t next_sample;
	/* allocator-retention: anonymous bytes, live bytes, exits at each
	 * sample, oldest first */
	uint64_t s_anon[ENGINE_MAX_SAMPLES], s_live[ENGINE_MAX_SAMPLES],
		s_exits[ENGINE_MAX_SAMPLES];
	/* When each was taken: sites and threads are sampled at the same
	 * ticks, so their last n samples were taken at the last n of
	 * these. */
	uint64_t s_ts[ENGINE_MAX_SAMPLES];
	uint32_t nsamples;
	struct agg *retention;
	/* engine_race.c: a user's pairs by number, their races by pair and
	 * call sites */
	struct hmap pools;
	struct hmap races;
	struct proc *ended_next;
	bool dirty;
	bool ended; /* exited or detached: flush everything, then free */
};

struct engine {
	struct engine_config cfg;
	uint64_t serial;
	uint64_t flush_budget; /* block rows the flush under way may still hand */
	bool flush_more;       /* the last flush was cut short */
	struct hmap procs; /* pid -> traced proc */
	struct proc *ended;
	struct engine_stats st;
};

static inline struct thread *block_owner(const struct proc *p,
					 const struct block *b)
{
	return p->threads_at.items[b->owner];
}

static inline struct site_stat *block_ss(const struct proc *p,
					 const struct block *b)
{
	return p->site_at.items[b->ss];
}

/* The first of t's live blocks, or the one after b in t's list. */
static inline struct block *thread_blocks(const struct proc *p,
					  const struct thread *t)
{
	return blockset__at(&p->blocks, t->blocks);
}

static inline struct block *block_tnext(const struct proc *p,
					const struct block *b)
{
	return blockset__at(&p->blocks, b->tnext);
}

/*
 * An incomplete trace. Events of p were lost (ring buffer or BPF map
 * full) or refused (bounds) between row.incomplete_from and
 * row.incomplete_to. Whatever concerns a block (its free, a realloc, the
 * TLS slot that holds it or lets it go) happens after its allocation, so
 * evidence that began after incomplete_to is complete: a block allocated
 * then can be judged, an older one cannot. Invariant: incomplete_to is 0
 * exactly when nothing of p was lost or refused.
 */
/* incomplete_to of a loss whose time is unknown: judged never again
 * (INT64_MAX, as the store keeps it). */
#define ENGINE_TS_FOREVER ((uint64_t)INT64_MAX)

static inline bool proc_incomplete(const struct proc *p)
{
	return p->row.incomplete_to != 0;
}

static inline bool proc_complete_since(const struct proc *p, uint64_t ts)
{
	return !p->row.incomplete_to || ts > p->row.incomplete_to;
}

/*
 * Bookkeeping every piece does, inline: tiny, and on the hot path (a
 * thread is touched at every event).
 */
static inline void thread_touch(struct thread *t)
{
	if (!t->dirty && !vec__push(&t->proc->dirty_threads, t))
		t->dirty = true;
}

/* Events of p between first and last (first 0: unknown, since tracing
 * started) did not reach the engine: p is incomplete (above). */
static inline void proc_lose(struct proc *p, uint64_t first, uint64_t last)
{
	if (!first || first > last)
		first = p->row.start_ts < last ? p->row.start_ts : last;
	if (!p->row.incomplete_from || first < p->row.incomplete_from)
		p->row.incomplete_from = first;
	if (last > p->row.incomplete_to)
		p->row.incomplete_to = last;
	p->dirty = true;
}

/* An event of p at ts is refused at a bound: it is as good as lost. */
static inline void proc_drop(struct engine *e, struct proc *p, uint64_t ts)
{
	p->row.dropped++;
	e->st.dropped++;
	proc_lose(p, ts, ts);
}

/* A finding was not made because its evidence is incomplete. */
static inline void proc_withhold(struct engine *e, struct proc *p)
{
	p->row.withheld++;
	p->dirty = true;
	e->st.withheld++;
}

/* The block a FIFO entry (engine_block.c) stands for, or NULL when the
 * entry is stale. Inline: the flush walks the FIFO with it. */
static inline struct block *fifo_block(const struct proc *p, uint64_t entry)
{
	uint32_t i = (uint32_t)(entry >> 32);
	struct block *b;

	if (!i || i >= p->blocks.len)
		return NULL;
	b = blockset__at(&p->blocks, i);
	if (!b->used || !b->queued || (uint32_t)b->serial != (uint32_t)entry)
		return NULL;
	return b;
}

/* engine.c, for engine_flush.c: free an ended process; unlink and free
 * a thread that is off the map, owns nothing and was flushed. */
void proc__free(struct proc *p);
void thread__release(struct thread *t);

/* engine_module.c: modules and the module rules. */
void module__fini(struct proc *p);
/* The events: dlopen, dlclose's entry and return. */
void module__event(struct engine *e, struct proc *p, struct thread *t,
		   const struct mw_event *ev);
/* Key id belongs to the module being unloaded by thread tid. */
bool module__key_unloading(const struct proc *p, uint32_t id, uint32_t tid);

/* engine_tls.c: keys, bindings, candidates, the TLS rules. */
void tls__fini(struct proc *p);
/* The events: pthread_key_create, pthread_key_delete (kind: the finding
 * its bindings' blocks make if still live after the grace period),
 * pthread_setspecific by t. */
void tls__key_create(struct engine *e, struct proc *p,
		     const struct mw_event *ev);
void tls__key_delete(struct engine *e, struct proc *p,
		     const struct mw_event *ev, uint32_t kind);
void tls__set(struct engine *e, struct proc *p, struct thread *t,
	      const struct mw_event *ev);
/* Thread t ends: on its own, or with its whole process (group). */
void tls__thread_end(struct engine *e, struct proc *p, struct thread *t,
		     uint64_t ts, bool group);
void tls__exec(struct engine *e, struct proc *p);
void tls__drop_cands(struct engine *e, struct proc *p);
/* Block blk, held through (tid, key, generation), is a candidate of kind:
 * a finding if still live grace_ns after ts. */
void tls__cand_push_block(struct engine *e, struct proc *p,
			  const struct block *blk, uint32_t kind, uint32_t tid,
			  uint32_t key, uint32_t generation, uint64_t ts);
/* The same for the block binding b holds, if it is still that block. */
void tls__cand_push(struct engine *e, struct proc *p, struct binding *b,
		    uint32_t kind, uint64_t ts);
/* Decide candidates due by now; all of them when the process ended. */
void tls__decide(struct engine *e, struct proc *p, uint64_t now, bool all);

/* engine_block.c: the live set. */
void block__fini(struct proc *p);
/* Add a block at addr, made by t at site/stack; its old block at addr,
 * if any, drops out (its free was lost). -ENOSPC when p is at max_blocks
 * (the event is dropped), -ENOMEM. */
int block__add(struct engine *e, struct proc *p, struct thread *t,
	       uint64_t addr, uint64_t size, uint64_t ts, uint64_t site,
	       struct mw_stack *stack);
/* Take a block out of the live set, keeping every counter exact. freer is
 * the thread that freed it, NULL when it just drops out. */
void block__remove(struct engine *e, struct proc *p, struct block *b,
		   struct thread *freer);
/* The events: an allocation, a free of addr by t, a realloc. */
void block__alloc(struct engine *e, struct proc *p, struct thread *t,
		  const struct mw_event *ev);
void block__free(struct engine *e, struct proc *p, struct thread *t,
		 uint64_t addr, const struct mw_event *ev);
void block__realloc(struct engine *e, struct proc *p, struct thread *t,
		    const struct mw_event *ev);

/* rules.c: the rules over time, and the bad-free rule. */
void rules__proc_init(struct engine *e, struct proc *p);
void rules__proc_fini(struct proc *p);
/* A block is allocated at addr: the address is in use again, so a later
 * free of it is no double free. Inline: it runs at every allocation. */
static inline void rules__addr_reused(struct proc *p, uint64_t addr)
{
	if (p->recent.len)
		hmap__del(&p->recent, addr);
}
/* A free of a known block, at call site ip. */
void rules__free(struct engine *e, struct proc *p, struct thread *t,
		 const struct block *b, uint64_t ip, uint64_t ts);
/* A free of an address not in the live set. */
void rules__unknown_free(struct engine *e, struct proc *p, struct thread *t,
			 const struct mw_event *ev);
/* A thread exited on its own. */
void rules__thread_exit(struct engine *e, struct proc *p, struct thread *t,
			uint64_t ts);
/* The thread struct is about to be freed. */
void rules__thread_fini(struct thread *t);
/* t allocated at site ss: remembered for the share of exiting threads
 * that leave blocks behind. Inline: it runs at every allocation. */
void rules__alloc_site_slow(struct thread *t, uint32_t ss);
static inline void rules__alloc_site(struct thread *t,
				     const struct site_stat *ss)
{
	uint32_t i = ss->idx;

	if (i >= THREAD_SITE_BITS)
		rules__alloc_site_slow(t, i);
	else
		t->site_bits[i / 64] |= 1ull << (i % 64);
}
/* A block left behind by its thread, or named by a one-block finding,
 * leaves the live set; freer as for block__remove. */
void rules__block_removed(struct engine *e, struct proc *p,
			  const struct block *b, const struct thread *freer);
/* Judge every open finding over time again, at each flush: its numbers
 * made current, resolved once its evidence went away. */
void rules__review(struct engine *e, struct proc *p, uint64_t now);
/* A one-block finding was flushed: hold it while open and its block
 * lives (true), or not (false: the caller frees it). */
bool rules__hold(struct proc *p, struct finding *f);
/* Judge what is due by now; everything pending when all. */
void rules__tick(struct engine *e, struct proc *p, uint64_t now, bool all);

/* rules_orphan.c: the thread-orphan rule, for rules.c. */
void orphan__proc_fini(struct proc *p);
/* t exited orphan_age ago: judge what it left behind. */
void orphan__check(struct engine *e, struct proc *p, struct thread *t,
		   uint64_t now);
/* t frees b, a block left behind. */
void orphan__freed(struct proc *p, const struct thread *t,
		   const struct block *b);
/* Judge a's site again: numbers current, or resolved. */
void orphan__review(struct engine *e, struct proc *p, struct agg *a,
		    uint64_t now);

/* rules_finding.c: the rows of the rules over time, for rules.c and
 * rules_orphan.c. */
/* A new finding over time whose evidence began at since; NULL when
 * events of p may be missing since then (counted as withheld), or out
 * of memory. */
struct agg *agg__new(struct engine *e, struct proc *p, uint32_t kind,
		     uint32_t severity, struct mw_stack *st, uint64_t site,
		     uint64_t since, uint64_t now);
/* a must be written again at the next flush. */
void agg__touch(struct proc *p, struct agg *a);
/* A tls-overwritten row's detail, from its numbers now. */
void agg__overwritten_detail(struct agg *a);
/* One more distinct thread tid involved. */
void agg__thread(struct agg *a, uint32_t tid);
/* The block a finding names for people. */
void agg__block(const struct proc *p, struct agg *a, const struct block *b);
/* Mark row resolved at ts (0 passes as 1: never "open"), for the reason
 * given. */
void finding__resolve(struct mw_finding_row *row, uint64_t ts,
		      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* t frees b, which a one-block finding names: resolved. */
void finding__freed(struct proc *p, const struct thread *t,
		    const struct block *b, uint64_t ts);
int rules__flush_emit(struct engine *e, struct proc *p,
		      const struct engine_sink *sink, void *ctx);
void rules__flush_commit(struct proc *p);

/* engine_race.c: the allocator-race rule. */
void race__proc_init(struct proc *p);
void race__proc_fini(struct proc *p);
/* What p's pools and races take, for engine__memory. */
uint64_t race__memory(const struct proc *p);
/* A call of pair ev->code overlapped another thread's (MW_EV_POOL_OVERLAP). */
void race__overlap(struct engine *e, struct proc *p, struct thread *t,
		   const struct mw_event *ev);
/* A free through a pair's --free function (MW_EVF_POOL), before the live
 * set takes it. */
void race__free(struct engine *e, struct proc *p, struct thread *t,
		const struct mw_event *ev);

/* engine_site.c: stacks, sites and their statistics. */
void site__init(struct proc *p);
void site__fini(struct proc *p);
/* The process's copy of ev's stack, classified when first seen; NULL
 * without one. */
struct mw_stack *site__stack(struct engine *e, struct proc *p,
			     const struct mw_event *ev);
/* st's flags (enum mw_stack_flags), asking the classifier the first time:
 * lazily, as symbolizing is costly and most stacks never need it. */
uint32_t site__stack_flags(struct engine *e, struct proc *p,
			   struct mw_stack *st);
/* The site findings, block rows and top name for an allocation at site
 * with stack st: the stack's culprit frame, past its allocation wrappers
 * (the classifier says which, with the flags), when site is its frame 0;
 * else site itself. */
uint64_t site__culprit(struct engine *e, struct proc *p, struct mw_stack *st,
		       uint64_t site);
/* The site_stat of a stack (or of a call site without one), made the
 * first time; NULL when out of memory. */
struct site_stat *site__get(struct proc *p, struct mw_stack *st,
			    uint64_t site);
/* A block was added, its ss set: account it to its site. */
void site__block_added(struct proc *p, const struct block *b);
/* A block leaves the live set; freer is the freeing thread, or NULL when
 * the block just drops out (exec, a lost free). */
void site__block_removed(struct proc *p, const struct block *b,
			 const struct thread *freer);
/* Hand the site ip / the stack st (its row, then the sites of its
 * frames) to the sink unless it was already. */
int site__emit(struct proc *p, const struct engine_sink *sink, void *ctx,
	       uint64_t ip);
int site__emit_stack(struct engine *e, struct proc *p,
		     const struct engine_sink *sink, void *ctx,
		     struct mw_stack *st);
/* The flush's sink committed (the sites and stacks it was handed are
 * stored) or rolled back (they are new again). */
void site__settle(struct proc *p, bool committed);

/* engine_config.c, for engine.c: zero (or out of range) settings take
 * their defaults. */
void engine_config__defaults(struct engine_config *c);

#endif
