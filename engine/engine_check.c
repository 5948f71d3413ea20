/*
 * engine_check.c - engine__check: the engine's bookkeeping invariants,
 * verified by walking everything it holds. For the fuzzer
 * (tests/fuzz/fuzz_engine.c) and the unit tests, never on the daemon's
 * hot path: it costs a walk of every live block. Kept apart from
 * engine.c so that checking never touches the code that changes state.
 *
 * What holds after every engine call:
 *  - a process's live_blocks/live_bytes are the count and sum of the
 *    blocks in its live set, and so are, over the blocks each owns, every
 *    thread's and, over the blocks of each site, every site's (and its
 *    blocks left behind, their count and bytes);
 *  - every block names a thread and a site that exist, and is found at
 *    its address;
 *  - the engine's totals (live blocks, pending candidates, processes)
 *    are the sums over the traced processes;
 *  - no counter went below zero: a u64 that wrapped is larger than any
 *    count or sum of sizes below COUNTER_MAX can reach.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine_int.h"

/* Counters above this wrapped below zero: sizes that large (2^62 bytes)
 * are no allocation, and no caller feeds 2^62 events. */
#define COUNTER_MAX (1ull << 62)

static int __attribute__((format(printf, 3, 4)))
bad(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

#define CHECK_MAX(what, v, pid)                                                \
	do {                                                                   \
		if ((uint64_t)(v) >= COUNTER_MAX)                              \
			return bad(why, len, "pid %u: %s %llu wrapped", (pid), \
				   (what), (unsigned long long)(v));           \
	} while (0)

static int check_thread(const struct proc *p, const struct thread *t, char *why,
			size_t len)
{
	const struct mw_thread_row *r = &t->row;
	uint64_t n = 0, bytes = 0;
	uint32_t pid = p->row.pid;

	CHECK_MAX("thread allocs", r->allocs, pid);
	CHECK_MAX("thread frees", r->frees, pid);
	CHECK_MAX("thread alloc_bytes", r->alloc_bytes, pid);
	CHECK_MAX("thread free_bytes", r->free_bytes, pid);
	CHECK_MAX("thread cross_frees", r->cross_frees, pid);
	CHECK_MAX("thread unknown_frees", r->unknown_frees, pid);
	CHECK_MAX("thread live_blocks", r->live_blocks, pid);
	CHECK_MAX("thread live_bytes", r->live_bytes, pid);
	if (t->proc != p)
		return bad(why, len, "pid %u tid %u: thread of another process",
			   pid, r->tid);
	if (!t->idx || t->idx >= p->threads_at.len ||
	    p->threads_at.items[t->idx] != t)
		return bad(why, len,
			   "pid %u tid %u: thread index %u is not its", pid,
			   r->tid, t->idx);
	for (const struct block *b = thread_blocks(p, t); b;
	     b = block_tnext(p, b)) {
		if (!b->used || b->owner != t->idx)
			return bad(why, len,
				   "pid %u tid %u: block %#llx on its list is "
				   "not its own",
				   pid, r->tid, (unsigned long long)b->addr);
		if (++n > p->blocks.n)
			return bad(why, len, "pid %u tid %u: block list loops",
				   pid, r->tid);
		bytes += b->size;
	}
	if (n != r->live_blocks || bytes != r->live_bytes)
		return bad(why, len,
			   "pid %u tid %u: live %llu blocks %llu bytes, its "
			   "blocks sum to %llu %llu",
			   pid, r->tid, (unsigned long long)r->live_blocks,
			   (unsigned long long)r->live_bytes,
			   (unsigned long long)n, (unsigned long long)bytes);
	return 0;
}

/* Sums over the blocks of each site, by site index. */
struct site_sum {
	uint64_t n, bytes, orphan, orphans;
};

static int check_sites(const struct proc *p, char *why, size_t len)
{
	struct site_sum *sum = calloc(p->site_at.len + 1, sizeof(*sum));
	uint32_t pid = p->row.pid;
	const struct block *b;
	int err = 0;

	if (!sum)
		return bad(why, len, "out of memory");
	/* check_proc saw every block's ss in range. */
	for (uint32_t pos = 0; (b = blockset__next(&p->blocks, &pos));) {
		sum[b->ss].n++;
		sum[b->ss].bytes += b->size;
		if (b->orphan) {
			sum[b->ss].orphan += b->size;
			sum[b->ss].orphans++;
		}
	}
	for (size_t i = 1; i < p->site_at.len && !err; i++) {
		const struct site_stat *ss = p->site_at.items[i];

		if (!ss)
			continue;
		if (ss->live_blocks >= COUNTER_MAX ||
		    ss->live_bytes >= COUNTER_MAX ||
		    ss->orphan_live_bytes >= COUNTER_MAX ||
		    ss->orphan_bytes >= COUNTER_MAX ||
		    sum[i].n != ss->live_blocks ||
		    sum[i].bytes != ss->live_bytes ||
		    sum[i].orphan != ss->orphan_live_bytes ||
		    sum[i].orphans != ss->orphan_live_blocks)
			err = bad(why, len,
				  "pid %u site %#llx: live %llu blocks %llu "
				  "bytes (%llu orphaned in %llu), its blocks "
				  "sum to %llu %llu (%llu in %llu)",
				  pid, (unsigned long long)ss->site,
				  (unsigned long long)ss->live_blocks,
				  (unsigned long long)ss->live_bytes,
				  (unsigned long long)ss->orphan_live_bytes,
				  (unsigned long long)ss->orphan_live_blocks,
				  (unsigned long long)sum[i].n,
				  (unsigned long long)sum[i].bytes,
				  (unsigned long long)sum[i].orphan,
				  (unsigned long long)sum[i].orphans);
	}
	free(sum);
	return err;
}

static int check_proc(const struct proc *p, char *why, size_t len)
{
	const struct mw_process_row *r = &p->row;
	uint64_t n = 0, bytes = 0, tn = 0, tbytes = 0;
	const struct block *b;
	size_t pos = 0;
	uint64_t k;
	void *v;
	int err;

	CHECK_MAX("allocs", r->allocs, r->pid);
	CHECK_MAX("frees", r->frees, r->pid);
	CHECK_MAX("live_blocks", r->live_blocks, r->pid);
	CHECK_MAX("live_bytes", r->live_bytes, r->pid);
	CHECK_MAX("unknown_frees", r->unknown_frees, r->pid);
	CHECK_MAX("lost", r->lost, r->pid);
	CHECK_MAX("findings", r->findings, r->pid);
	CHECK_MAX("pending candidates", p->ncands - p->cand_head, r->pid);
	for (uint32_t i = 0; (b = blockset__next(&p->blocks, &i));) {
		if (blockset__get(&p->blocks, b->addr) != b)
			return bad(why, len,
				   "pid %u: block %#llx not found at "
				   "its address",
				   r->pid, (unsigned long long)b->addr);
		if (!b->owner || b->owner >= p->threads_at.len ||
		    !p->threads_at.items[b->owner])
			return bad(why, len,
				   "pid %u: block %#llx has no thread", r->pid,
				   (unsigned long long)b->addr);
		if (!b->ss || b->ss >= p->site_at.len ||
		    !p->site_at.items[b->ss])
			return bad(why, len, "pid %u: block %#llx has no site",
				   r->pid, (unsigned long long)b->addr);
		n++;
		bytes += b->size;
	}
	if (n != p->blocks.n || n != r->live_blocks || bytes != r->live_bytes)
		return bad(why, len,
			   "pid %u: live %llu blocks %llu bytes, the live set "
			   "holds %llu (%u) blocks of %llu bytes",
			   r->pid, (unsigned long long)r->live_blocks,
			   (unsigned long long)r->live_bytes,
			   (unsigned long long)n, p->blocks.n,
			   (unsigned long long)bytes);
	for (const struct thread *t = p->all_threads; t; t = t->all_next) {
		if ((err = check_thread(p, t, why, len)))
			return err;
		tn += t->row.live_blocks;
		tbytes += t->row.live_bytes;
	}
	if (tn != n || tbytes != bytes)
		return bad(why, len,
			   "pid %u: its threads own %llu blocks of %llu bytes, "
			   "its live set holds %llu of %llu",
			   r->pid, (unsigned long long)tn,
			   (unsigned long long)tbytes, (unsigned long long)n,
			   (unsigned long long)bytes);
	while (hmap__next(&p->threads, &pos, &k, &v)) {
		const struct thread *t = v;

		if (!t->in_map || t->row.tid != k)
			return bad(why, len,
				   "pid %u: tid %llu maps to thread "
				   "%u",
				   r->pid, (unsigned long long)k, t->row.tid);
	}
	return check_sites(p, why, len);
}

int engine__check(const struct engine *e, char *why, size_t len)
{
	uint64_t live = 0, pending = 0, nprocs = 0;
	size_t pos = 0;
	uint64_t k;
	void *v;
	int err;

	CHECK_MAX("engine live_blocks", e->st.live_blocks, 0u);
	CHECK_MAX("engine pending", e->st.pending, 0u);
	CHECK_MAX("engine processes", e->st.processes, 0u);
	CHECK_MAX("engine stacks", e->st.stacks, 0u);
	while (hmap__next(&e->procs, &pos, &k, &v)) {
		const struct proc *p = v;

		if (p->row.pid != k || p->ended)
			return bad(why, len, "pid %llu maps to %s process %u",
				   (unsigned long long)k,
				   p->ended ? "an ended" : "another",
				   p->row.pid);
		if ((err = check_proc(p, why, len)))
			return err;
		live += p->row.live_blocks;
		pending += p->ncands - p->cand_head;
		nprocs++;
	}
	for (const struct proc *p = e->ended; p; p = p->ended_next)
		if ((err = check_proc(p, why, len)))
			return err;
	if (live != e->st.live_blocks || pending != e->st.pending ||
	    nprocs != e->st.processes)
		return bad(why, len,
			   "engine: %llu live blocks, %llu pending, %llu "
			   "processes; its processes sum to %llu, %llu, %llu",
			   (unsigned long long)e->st.live_blocks,
			   (unsigned long long)e->st.pending,
			   (unsigned long long)e->st.processes,
			   (unsigned long long)live,
			   (unsigned long long)pending,
			   (unsigned long long)nprocs);
	return 0;
}
