// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * memwatch.bpf.c - the probes: malloc family, TLS keys, thread and process
 * lifecycle, for the processes in the targets map only.
 *
 * Uprobes are attached per traced pid by user space; the targets check
 * keeps the scheduler tracepoints (which fire for every task) cheap.
 *
 * Entry/return pairing: an entry probe stores what the return probe needs
 * in pending[tid], with the stack pointer at entry. A probed function that
 * calls another probed function (glibc's realloc(NULL, n) calls malloc,
 * realloc(p, 0) calls free) runs on a deeper stack, so a pending entry
 * with a higher sp than ours means "we are nested: the outer call
 * reports". The return probe of the outer call sees sp above the stored
 * one (the return address has been popped); inner returns never do.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "memwatch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SIGNAL_GROUP_EXIT 0x00000004

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);  /* tgid */
	__type(value, __u8); /* MW_TARGET_* */
} targets SEC(".maps");

struct pending {
	__u64 sp;
	__u64 size;
	__u64 arg; /* old pointer, out-pointer or destructor */
	__u64 site;
	__u32 type;
	__u32 wrapped; /* called by a wrapper: site is the wrapper's caller */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tid */
	__type(value, struct pending);
} pending SEC(".maps");

/* dlopen and dlclose allocate and free on their way: their entries live
 * apart from pending so that those calls are not taken as nested. */
struct pending_dl {
	__u64 handle; /* dlclose's argument; 0 for dlopen */
	__u64 base;   /* the module's l_addr */
	__u64 file;   /* struct file * mapped at base on entry, or 0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct pending_dl);
} pending_dl SEC(".maps");

/*
 * The allocator-race probes: a call of a user's --alloc/--free pair in
 * flight, by tid. Written by its own thread at entry and return; read by
 * the other threads of its pair, which look for it when they enter (a
 * torn read costs one overlap its names, never a false one: the entry
 * must be in flight and of the same process and pair).
 */
struct pair_call {
	__u64 sp;	 /* at entry; 0: not in flight */
	__u64 site;	 /* its call site */
	__u64 nvcsw;	 /* the thread's voluntary switches at entry */
	__u64 other_site; /* the call in flight when this one entered */
	__u32 tgid;
	__u32 other_tid; /* 0: none was */
	__u8 pair;
	__u8 fn;
	__u8 other_fn;
	__u8 flags;	 /* MW_RECF_LOCKED, MW_RECF_DELEGATED */
	__u8 watched;	 /* began with the process's locks probed */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct pair_call);
} pair_calls SEC(".maps");

/* Processes whose lock functions the collector probed for the pairs
 * (tgid -> 1): it does so at the first overlap it is told of, so that
 * a process whose pools never overlap pays nothing for them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} pool_locks SEC(".maps");

/* A pair of one process: the last thread that entered it, and whether any
 * call of it ever took a lock. LRU: a process gone leaves its entries to
 * be evicted; an entry evicted under a live pair only forgets its last
 * enterer (one overlap unseen). */
struct pair_key {
	__u32 tgid;
	__u32 pair;
};

struct pair_state {
	__u32 last_tid;
	__u32 locked;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pair_key);
	__type(value, struct pair_state);
} pairs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MW_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Lost records by process (tgid): sized by the collector to its
 * targets. Never evicted, so that every loss stays counted: one that
 * finds it full goes to loss.any instead. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct mw_lost);
} lost SEC(".maps");

/* Processes to attach whose report (MW_REC_SPAWN) found the ring buffer
 * full: tgid -> its mode. They run on untraced, and user space attaches
 * them late from here (collector__take_missed). LRU: a flood of them
 * evicts the oldest, which the loss counters still count. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} missed SEC(".maps");

/* Processes held stopped until user space resumes them: tgid -> the
 * start time of the process (task->start_boottime, ns), so that a pid
 * used again is told apart. memwatchd's guard (daemon/guard.c) resumes
 * every one still here if the daemon dies first. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} held SEC(".maps");

struct mw_loss loss;

/* Set by the collector before load: user frames per allocation, 0 for
 * none (the call site alone). At most MW_MAX_FRAMES. */
const volatile __u32 stack_frames = MW_MAX_FRAMES;

/* Set by the collector before load: the reader is woken once this much
 * waits in the ring buffer. Waking it for every record would cost the
 * traced thread more than the record itself; the daemon also drains the
 * buffer on its 100 ms timer. Records somebody waits for (a process
 * stopped at exec) always wake it. */
const volatile __u32 wakeup_bytes = 1 << 20;

/*
 * Set by the collector before load when memwatchd runs in a pid namespace
 * other than the initial one (a container): that namespace's nsfs device
 * and inode. Every pid then reaches user space, and is looked up in the
 * targets map, as that namespace numbers it; a task it cannot see gets 0,
 * never a target. 0 (the host): the kernel's own numbers, at no cost.
 */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;

#define PIDNS_MAX_LEVEL 8

/* The current task's tgid << 32 | pid, as memwatchd's namespace sees it. */
static __always_inline __u64 cur_ids(void)
{
	struct bpf_pidns_info ns;

	if (!pidns_ino)
		return bpf_get_current_pid_tgid();
	if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
		return 0;
	return (__u64)ns.tgid << 32 | ns.pid;
}

/* The number of pid p in memwatchd's namespace, 0 if it has none. */
static __always_inline __u32 ns_nr(struct pid *p)
{
	unsigned int level = BPF_CORE_READ(p, level);

	for (unsigned int i = 0; i < PIDNS_MAX_LEVEL; i++) {
		struct upid up;

		if (i > level)
			break;
		if (bpf_core_read(&up, sizeof(up), &p->numbers[i]))
			break;
		if (BPF_CORE_READ(up.ns, ns.inum) == pidns_ino)
			return up.nr;
	}
	return 0;
}

/* Task t's tgid << 32 | pid, as memwatchd's namespace sees it. */
static __always_inline __u64 task_ids(struct task_struct *t)
{
	if (!pidns_ino)
		return (__u64)BPF_CORE_READ(t, tgid) << 32 |
		       (__u32)BPF_CORE_READ(t, pid);
	return (__u64)ns_nr(BPF_CORE_READ(t, group_leader, thread_pid)) << 32 |
	       ns_nr(BPF_CORE_READ(t, thread_pid));
}

static __always_inline __u64 rb_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
}

/* Entry kinds stored in pending.type. */
enum {
	P_ALLOC = 1,	/* size; return value is the block */
	P_MEMALIGN,	/* arg = void **memptr; 0 return means success */
	P_REALLOC,	/* arg = old pointer */
	P_KEY_CREATE,	/* arg = pthread_key_t *, size = destructor */
	P_FREE,		/* arg = the block: a free-like call in flight */
	P_WRAP,		/* site: a wrapper's caller (see wrap_enter) */
};

/* How far below a wrapper's entry its own malloc call runs, at most: a
 * pending P_WRAP further away is stale (the wrapper never got there). */
#define WRAP_MAX_DEPTH 512

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

static __always_inline void lost_add(struct mw_lost *l, __u64 now)
{
	__sync_fetch_and_add(&l->count, 1);
	if (!l->first_ts)
		l->first_ts = now;
	if (now > l->last_ts)
		l->last_ts = now;
}

/*
 * A record of process pid is lost, for reason idx (enum mw_counter): count
 * it per CPU, for pid (or for nobody known when the lost map is full),
 * and only then bump loss.seq, so that a reader that saw the new seq finds
 * the loss counted. Every record made from now on carries that seq.
 */
static __always_inline void lose(__u32 pid, __u32 idx)
{
	__u64 now = bpf_ktime_get_ns();
	struct mw_lost *l, zero = {};

	count(idx);
	l = bpf_map_lookup_elem(&lost, &pid);
	if (!l) {
		bpf_map_update_elem(&lost, &pid, &zero, BPF_NOEXIST);
		l = bpf_map_lookup_elem(&lost, &pid);
	}
	lost_add(l ? l : &loss.any, now);
	__sync_fetch_and_add(&loss.seq, 1);
}

static __always_inline int traced(__u32 pid)
{
	return bpf_map_lookup_elem(&targets, &pid) != NULL;
}

static __always_inline void emit_flags(const struct mw_record *tmpl,
				       __u64 flags)
{
	struct mw_record *r;

	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		lose(tmpl->pid, MW_CNT_DROPPED);
		return;
	}
	__builtin_memcpy(r, tmpl, sizeof(*r));
	bpf_ringbuf_submit(r, flags);
	count(MW_CNT_EMITTED);
}

static __always_inline void emit(const struct mw_record *tmpl)
{
	emit_flags(tmpl, rb_flags());
}

static __always_inline __u64 return_address(struct pt_regs *ctx)
{
	__u64 ra = 0;

#if defined(__TARGET_ARCH_x86)
	/* At the first instruction the return address is on top of the
	 * stack. */
	bpf_probe_read_user(&ra, sizeof(ra), (void *)PT_REGS_SP(ctx));
#else
	ra = PT_REGS_RET(ctx);
#endif
	return ra;
}

static __always_inline void rec_init(struct mw_record *r, __u32 type,
				     __u64 id)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->type = type;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->ts = bpf_ktime_get_ns();
	r->lost_seq = (__u32)loss.seq;
}

/* The current thread's voluntary context switches: a call that slept
 * in the kernel (a contended lock) has more at its return. */
static __always_inline __u64 cur_nvcsw(void)
{
	return BPF_CORE_READ((struct task_struct *)bpf_get_current_task(),
			     nvcsw);
}

/*
 * A call of a user's pair enters (cookie: MW_COOKIE_PAIR and _FN set).
 * The pair's last enterer, if its own call is still in flight, is inside
 * the pair now: this call overlaps it. The call is remembered until its
 * return (pair_exit); a call of the pair made inside another (an
 * allocation nested in a free) is part of the outer one.
 */
static __always_inline void pair_enter(struct pt_regs *ctx, __u64 id,
				       __u64 cookie)
{
	struct pair_key k = {.tgid = id >> 32, .pair = MW_COOKIE_PAIR(cookie)};
	struct pair_call *pc, *o, c = {};
	struct pair_state *st, zero = {};
	__u64 sp = PT_REGS_SP(ctx);
	__u32 tid = (__u32)id, other;

	pc = bpf_map_lookup_elem(&pair_calls, &tid);
	if (pc && pc->sp > sp)
		return; /* nested in a call of a pair: that one counts */
	st = bpf_map_lookup_elem(&pairs, &k);
	if (!st) {
		bpf_map_update_elem(&pairs, &k, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&pairs, &k);
		if (!st) {
			count(MW_CNT_POOL_FULL);
			return;
		}
	}
	other = st->last_tid;
	st->last_tid = tid;
	c.sp = sp;
	c.site = return_address(ctx);
	c.nvcsw = cur_nvcsw();
	c.tgid = k.tgid;
	c.pair = k.pair;
	c.fn = MW_COOKIE_FN(cookie);
	c.watched = bpf_map_lookup_elem(&pool_locks, &k.tgid) != NULL;
	if (other && other != tid) {
		o = bpf_map_lookup_elem(&pair_calls, &other);
		if (o && o->sp && o->tgid == k.tgid && o->pair == k.pair) {
			c.other_tid = other;
			c.other_site = o->site;
			c.other_fn = o->fn;
		}
	}
	if (pc) {
		__builtin_memcpy(pc, &c, sizeof(c));
		return;
	}
	if (bpf_map_update_elem(&pair_calls, &tid, &c, BPF_NOEXIST))
		count(MW_CNT_POOL_FULL);
}

/* Something a probe sees inside the current thread's pair call (sp below
 * its entry's): a lock taken, the allocator reached. */
static __always_inline void pair_mark(__u32 tid, __u64 sp, __u8 flag)
{
	struct pair_call *pc = bpf_map_lookup_elem(&pair_calls, &tid);

	if (pc && pc->sp > sp)
		pc->flags |= flag;
}

/*
 * A call of a pair returns. If it entered while another thread was
 * inside, the overlap is reported with what this call did: took a lock,
 * slept, reached the allocator. Whether the pair ever took a lock goes
 * with it, so that one unlocked path of a locked pool is not taken for
 * an unlocked pool.
 */
static __always_inline void pair_exit(struct pt_regs *ctx)
{
	__u64 id = cur_ids();
	__u32 tid = (__u32)id;
	struct pair_call *pc = bpf_map_lookup_elem(&pair_calls, &tid);
	struct pair_state *st;
	struct pair_key k;
	struct mw_record r;
	__u32 flags;

	if (!pc || !pc->sp || PT_REGS_SP(ctx) <= pc->sp)
		return;
	pc->sp = 0; /* consumed */
	flags = pc->flags;
	if (cur_nvcsw() != pc->nvcsw)
		flags |= MW_RECF_BLOCKED;
	k.tgid = pc->tgid;
	k.pair = pc->pair;
	st = bpf_map_lookup_elem(&pairs, &k);
	if (st && (flags & MW_RECF_LOCKED))
		st->locked = 1;
	if (!pc->other_tid)
		return;
	if (st && st->locked)
		flags |= MW_RECF_LOCKED;
	if (pc->watched)
		flags |= MW_RECF_WATCHED;
	rec_init(&r, MW_REC_POOL_OVERLAP, id);
	r.flags = flags;
	r.site = pc->site;
	r.old_addr = pc->other_site;
	r.key = pc->other_tid;
	r.code = MW_POOL_CODE(pc->pair, pc->fn, pc->other_fn);
	emit(&r);
}

/*
 * Store p as tid's pending entry. A thread's entry is written in place
 * once it exists (only that thread touches it; sched_process_exit
 * deletes it): a hash update per call would cost more than the lookup.
 */
static __always_inline void
pending_set(__u32 pid, __u32 tid, struct pending *slot, const struct pending *p)
{
	if (slot) {
		__builtin_memcpy(slot, p, sizeof(*p));
		return;
	}
	/* The call will not be reported: a loss like a full ring buffer. */
	if (bpf_map_update_elem(&pending, &tid, p, BPF_NOEXIST))
		lose(pid, MW_CNT_PENDING_FULL);
}

static __always_inline int enter(struct pt_regs *ctx, __u32 type, __u64 size,
				 __u64 arg)
{
	__u64 id = cur_ids();
	__u32 tid = (__u32)id;
	__u64 sp = PT_REGS_SP(ctx);
	struct pending *old, p = {};

	if (!traced(id >> 32))
		return 0;
	old = bpf_map_lookup_elem(&pending, &tid);
	/* With stacks, an allocation's return probe walks from its call
	 * site: reading it here would be one more read of user memory. */
	if (!stack_frames || type == P_KEY_CREATE)
		p.site = return_address(ctx);
	if (old && old->sp > sp) {
		if (old->type != P_WRAP) {
			/* nested in a probed call that will report; a pair's
			 * call that reaches the allocator delegates to it */
			pair_mark(tid, sp, MW_RECF_DELEGATED);
			return 0;
		}
		/* Called by a wrapper: reported as its caller's (a P_WRAP
		 * far above is stale: replaced). */
		if (old->sp - sp <= WRAP_MAX_DEPTH) {
			p.site = old->site;
			p.wrapped = 1;
		}
	}
	p.sp = sp;
	p.size = size;
	p.arg = arg;
	p.type = type;
	pending_set(id >> 32, tid, old, &p);
	return 0;
}

/* Take the pending entry this return belongs to, if it is the outer one. */
static __always_inline int leave(struct pt_regs *ctx, __u32 type,
				 struct pending *out)
{
	__u32 tid = (__u32)cur_ids();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);

	if (!p || p->type != type || PT_REGS_SP(ctx) <= p->sp)
		return 0;
	__builtin_memcpy(out, p, sizeof(*out));
	/* Consumed: an entry of no type, below every stack. */
	p->type = 0;
	p->sp = 0;
	return 1;
}

/* Where an allocation record is built before it is copied, at its real
 * length, into the ring buffer. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_stack_record);
} scratch SEC(".maps");

/*
 * An allocation record with its user stack, from a return probe. There the
 * registers are those of the caller just after the call returned, so the
 * kernel's frame-pointer walk starts at the call site itself: frames[0] is
 * the site, and it is there even when the caller keeps no frame pointer.
 * Only the frames walked travel: most stacks are short (code without frame
 * pointers ends the walk), and the ring buffer holds that many more.
 */

/* Set by the collector before load: bytes of user stack copied for
 * unwinding (MW_STACK_COPY at most, a power of 2), 0 for none. */
const volatile __u32 unwind_bytes = 0;

/* See memwatch.h: the executable ranges of processes whose stacks are
 * keyed, written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct mw_exec_ranges);
} exec_ranges SEC(".maps");

/* Processes between their exec and user space's read of the new image's
 * ranges (see on_exec), with how many copies they may still send then,
 * each unwound alone: a program's first calls (libc's getpwuid from main)
 * get their whole stacks although no ranges key them yet. User space
 * deletes the entry when it writes the ranges. */
#define EXEC_YOUNG_COPIES 128
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} exec_young SEC(".maps");

/* Stack keys whose copy was sent. LRU: an evicted key is sent again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mw_stack_key);
	__type(value, __u8);
} stack_seen SEC(".maps");

/* Call sites from which the frame-pointer walk was found whole. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mw_stack_key);
	__type(value, __u8);
} fp_sites SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_unwind_record);
} uscratch SEC(".maps");

struct scan_ctx {
	struct mw_unwind_record *u;
	struct mw_exec_ranges *x;
	__u64 h;
	__u32 words;
};

/* Is v inside one of x's ranges? A binary search: they are sorted. */
static __always_inline bool in_exec(const struct mw_exec_ranges *x, __u64 v)
{
	__u32 lo = 0, hi = x->n;

	if (v < x->lo || v >= x->hi)
		return false;
	if (hi > MW_EXEC_RANGES)
		hi = MW_EXEC_RANGES;
	for (int k = 0; k < 6; k++) {
		__u32 mid;

		if (lo >= hi)
			break;
		mid = (lo + hi) / 2;
		if (x->start[mid & (MW_EXEC_RANGES - 1)] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && v < x->end[(lo - 1) & (MW_EXEC_RANGES - 1)];
}

/*
 * The frame-pointer walk where a process's executable ranges are known,
 * in place of the kernel's (bpf_get_stack, x86's perf_callchain_user):
 * the same frames, from the frame record at rbp, the return address
 * and then the caller's record, but it stops where a saved frame
 * pointer leaves the stack (0 at _start and clone3; junk where a
 * function without frame pointers, glibc's __libc_start_call_main or
 * start_thread, used rbp) instead of reading there: the kernel reads
 * and takes the fault, 12% of a traced malloc+free loop's time on a
 * machine whose trap costs 1 us (docs/PERFORMANCE.md), and what it
 * reads there is junk. A return address in no file (a pending
 * uretprobe's trampoline, which kernels from 6.13 replace with the real
 * one; JIT code) gives -1: the kernel's walk is taken for that record.
 * Copies' records and plain ones both take this walk, so a site's
 * stacks are one (fp_sites is decided on the copies' frames).
 */
struct fp_ctx {
	__u64 *frames;	    /* MW_MAX_FRAMES of them, in a map's value */
	struct mw_record *r; /* r->nframes: the count, kept in the map */
	struct mw_exec_ranges *x;
	__u64 bp, lo, hi;
	__u32 max;
	int done; /* 1: the stack ends here; -1: the kernel's walk instead */
};

static long fp_frame(__u32 i, void *arg)
{
	struct fp_ctx *w = arg;
	__u64 rec[2], idx;
	__u32 n = w->r->nframes;

	if (n >= w->max || n >= MW_MAX_FRAMES || w->bp < w->lo ||
	    w->bp > w->hi - sizeof(rec) || (w->bp & 7) ||
	    bpf_probe_read_user(rec, sizeof(rec), (void *)w->bp)) {
		w->done = 1;
		return 1;
	}
	if (!in_exec(w->x, rec[1])) {
		w->done = -1;
		return 1;
	}
	idx = n;
	asm volatile("" : "+r"(idx));
	w->frames[idx & (MW_MAX_FRAMES - 1)] = rec[1];
	w->r->nframes = n + 1;
	w->lo = w->bp + sizeof(rec);
	w->bp = rec[0];
	return 0;
}

/* frames and r->nframes by the walk above from ctx, at most max frames;
 * bytes of frames as bpf_get_stack returns them, or the kernel's walk's
 * where the walk above cannot go (x NULL: no ranges). */
static __always_inline long fp_stack(struct pt_regs *ctx, __u64 *frames,
				     struct mw_record *r,
				     struct mw_exec_ranges *x, __u32 max)
{
	struct fp_ctx w = {};

	if (max > MW_MAX_FRAMES)
		max = MW_MAX_FRAMES;
	if (!max)
		return 0;
	if (x) {
		w.frames = frames;
		w.r = r;
		w.x = x;
		w.bp = PT_REGS_FP(ctx);
		w.lo = PT_REGS_SP(ctx);
		w.hi = w.lo + MW_WALK_SPAN;
		w.max = max;
		frames[0] = PT_REGS_IP(ctx);
		r->nframes = 1;
		bpf_loop(MW_MAX_FRAMES, fp_frame, &w, 0);
		if (w.done > 0)
			return (long)r->nframes * sizeof(__u64);
	}
	return bpf_get_stack(ctx, frames, max * sizeof(__u64),
			     BPF_F_USER_STACK);
}

/* Walk the user stack into s (from_entry: at a function's first
 * instruction, where the walk misses our caller: put it back from the
 * return address in r.site), then send the record at its real length.
 * x: the process's executable ranges, for fp_stack, or NULL. */
static __always_inline void submit_with_stack(struct pt_regs *ctx,
					      struct mw_stack_record *s,
					      bool walk, bool from_entry,
					      struct mw_exec_ranges *x)
{
	__u32 bytes = stack_frames * sizeof(__u64);
	long n = 0;
	__u64 len;

	if (bytes > sizeof(s->frames))
		bytes = sizeof(s->frames);
	if (walk && bytes) {
		n = fp_stack(ctx, s->frames, &s->r, x, bytes / sizeof(__u64));
		if (n < 0) {
			count(MW_CNT_NO_STACK);
			n = 0;
		}
	}
	if (from_entry && n > 0)
		s->frames[0] = s->r.site;
	/* At a return the walk starts at the real call site; the return
	 * address seen at entry is the uretprobe trampoline when the call
	 * was tail-called from another probed function. */
	if (!from_entry && n > 0 && !(s->r.flags & MW_RECF_WRAPPED))
		s->r.site = s->frames[0];
	s->r.nframes = n / sizeof(__u64);
	len = sizeof(s->r) + (__u64)s->r.nframes * sizeof(__u64);
	if (len > sizeof(*s))
		len = sizeof(*s);
	if (bpf_ringbuf_output(&events, s, len, rb_flags())) {
		lose(s->r.pid, MW_CNT_DROPPED);
		return;
	}
	count(MW_CNT_EMITTED);
}

/* bpf_loop's body: word i of the copy into the key if it looks like code. */
static long scan_word(__u32 i, void *arg)
{
	struct scan_ctx *c = arg;
	__u64 v, idx = i;

	if (i >= c->words)
		return 1;
	/* The mask the verifier needs, kept from clang's range reasoning. */
	asm volatile("" : "+r"(idx));
	idx &= MW_STACK_COPY / 8 - 1;
	v = ((__u64 *)c->u->stack)[idx];
	if (in_exec(c->x, v)) {
		c->h = (c->h ^ v) * 0x9e3779b97f4a7c15ull + i;
		c->h ^= c->h >> 31;
	}
	return 0;
}

/* The allocation being reported, for the walk and the copy below (BPF
 * calls take five arguments at most). */
struct alloc_args {
	__u32 type;
	__u32 pad;
	__u64 addr, old_addr;
	__u64 need; /* the code address the walk found no rule for */
};

/*
 * An allocation record of a process with executable ranges, from a return
 * probe: the frame-pointer walk, then the stack copy and its key; the copy
 * travels only with the key's first record (see memwatch.h). Returns false
 * when it sent nothing and the plain record should go instead.
 */
static __always_inline int emit_alloc_unwind(struct pt_regs *ctx, struct alloc_args *a,
				 const struct pending *p,
				 struct mw_exec_ranges *x)
{
	__u32 zero = 0, len = unwind_bytes, bytes = stack_frames * 8;
	struct mw_unwind_record *u = bpf_map_lookup_elem(&uscratch, &zero);
	struct mw_stack_key sk = {};
	struct scan_ctx sc = {};
	__u64 sp = PT_REGS_SP(ctx), size;
	long n;

	if (!u || !a || !p)
		return 0;
	rec_init(&u->r, a->type, cur_ids());
	u->r.addr = a->addr;
	u->r.old_addr = a->old_addr;
	u->r.size = p->size;
	u->r.site = p->site;
	if (p->wrapped)
		u->r.flags |= MW_RECF_WRAPPED;
	if (bytes > sizeof(u->frames))
		bytes = sizeof(u->frames);
	n = fp_stack(ctx, u->frames, &u->r, x, bytes / sizeof(__u64));
	if (n < 0) {
		count(MW_CNT_NO_STACK);
		n = 0;
	}
	if (n > 0 && !p->wrapped)
		u->r.site = u->frames[0];
	u->r.nframes = n / sizeof(__u64);
	u->ip = PT_REGS_IP(ctx);
	u->need_ip = a->need;
	u->sp = sp;
	u->bp = PT_REGS_FP(ctx);
#if defined(__TARGET_ARCH_x86)
	u->bx = ctx->bx;
	u->r12 = ctx->r12;
	u->r13 = ctx->r13;
	u->r14 = ctx->r14;
	u->r15 = ctx->r15;
#endif
	/* All or nothing: a copy reaching past the stack's mapping fails,
	 * so shorter ones are tried (a shallow main thread): each ends a
	 * page lower, since the mapping ends at a page's end; the longest
	 * that reads has all the frames there are. (Halving cut the copy
	 * short of _start's frames by up to 4 KiB, as the stack's top
	 * fell.) MW_STACK_COPY spans three pages at most. */
	for (int t = 0; t < 4; t++) {
		__u64 end, want;

		if (len > MW_STACK_COPY)
			len = MW_STACK_COPY;
		if (len < 256) {
			len = 0;
			break;
		}
		/* One register, checked where it is used: clang otherwise
		 * passes an unchecked copy of len, which the verifier
		 * refuses. */
		want = len;
		asm volatile("" : "+r"(want));
		if (want <= MW_STACK_COPY &&
		    !bpf_probe_read_user(u->stack, want, (void *)sp))
			break;
		end = (sp + len - 1) & ~4095ull;
		len = end > sp ? (__u32)(end - sp) : 0;
	}
	if (!len)
		return 0;
	u->r.flags |= MW_RECF_STACK_KEY;
	if (!x) {
		/* Between an exec and the new image's ranges: the copy
		 * alone, key 0 of generation 0, which no ranges have (so
		 * never cached, never taught: collector_unwind.c). */
		u->stack_key = 0;
		u->gen = 0;
		u->copy_len = len;
		u->r.flags |= MW_RECF_STACK_COPY;
		goto send;
	}
	sc.u = u;
	sc.x = x;
	sc.words = len / 8;
	sc.h = u->ip ^ ((__u64)x->gen << 32) ^ len;
	bpf_loop(MW_STACK_COPY / 8, scan_word, &sc, 0);
	u->stack_key = sc.h;
	u->gen = x->gen;
	u->copy_len = 0;
	sk.pid = u->r.pid;
	sk.key = sc.h;
	if (!bpf_map_lookup_elem(&stack_seen, &sk)) {
		__u8 one = 1;

		bpf_map_update_elem(&stack_seen, &sk, &one, BPF_ANY);
		u->copy_len = len;
		u->r.flags |= MW_RECF_STACK_COPY;
	}
send:
	size = offsetof(struct mw_unwind_record, stack) + u->copy_len;
	if (size > sizeof(*u))
		size = sizeof(*u);
	if (bpf_ringbuf_output(&events, u, size, rb_flags())) {
		/* The copy is lost with it: let the next one carry it. */
		if (u->copy_len && x)
			bpf_map_delete_elem(&stack_seen, &sk);
		lose(u->r.pid, MW_CNT_DROPPED);
		return 1;
	}
	count(MW_CNT_EMITTED);
	return 1;
}

/* See memwatch.h: the rules learned from unwound copies. LRU: a rule
 * evicted is learned again from the next copy that needs it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mw_cfa_key);
	__type(value, struct mw_cfa_rule);
} cfa_rules SEC(".maps");

struct walk_ctx {
	struct mw_stack_record *s;
	struct mw_exec_ranges *x;
	__u64 ip, sp, bp;
	__u64 lo, hi; /* where frames may be: MW_WALK_SPAN above sp */
	__u32 pid, gen, max;
	int done; /* 1: the stack ends here; -1: a frame without a rule */
};

/*
 * bpf_loop's body: frame i at w->ip, then to its caller by ip's rule. The
 * stack ends where the unwinder of a copy ends it: the outermost frame, a
 * return into no file (JIT code: the frame is not taken), a CFA that
 * does not climb or a read that fails, or the frames' limit.
 * Nothing is read but at a CFA a rule gave, so the walk never reads junk
 * (the kernel's frame-pointer walk does, past the last frame-pointer
 * frame: a faulting read, microseconds on some machines).
 */
static long walk_frame(__u32 i, void *arg)
{
	struct walk_ctx *w = arg;
	struct mw_cfa_key k = {.pid = w->pid, .gen = w->gen, .ip = w->ip};
	struct mw_cfa_rule *r;
	__u64 cfa, ra = 0, bp = 0, idx;
	/* The count lives in the map's record, not on the stack: the
	 * verifier follows a stack counter value by value through every
	 * turn (a state per count and branch), a map's value it does not. */
	__u32 n = w->s->r.nframes;

	if (n >= w->max || n >= MW_MAX_FRAMES) {
		w->done = 1;
		return 1;
	}
	r = bpf_map_lookup_elem(&cfa_rules, &k);
	if (!r && n && (w->x->flags & MW_RANGES_SETTLED) &&
	    !in_exec(w->x, w->ip)) {
		w->done = 1; /* a return into no file */
		return 1;
	}
	if (!r || (!n && r->kind == MW_CFA_NOFILE)) {
		w->done = -1;
		return 1;
	}
	if (r->kind == MW_CFA_NOFILE) {
		w->done = 1;
		return 1;
	}
	idx = n;
	/* The mask the verifier needs, kept from clang's range reasoning. */
	asm volatile("" : "+r"(idx));
	w->s->frames[idx & (MW_MAX_FRAMES - 1)] = w->ip;
	w->s->r.nframes = n + 1;
	if (r->kind == MW_CFA_END) {
		w->done = 1;
		return 1;
	}
	cfa = (r->kind == MW_CFA_BP ? w->bp : w->sp) + (__s64)r->off;
	if (cfa <= w->sp || cfa > w->hi ||
	    bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8))) {
		w->done = 1;
		return 1;
	}
	if (r->bp_off) {
		__u64 at = cfa + (__s64)r->bp_off;

		if (at < w->lo || at + 8 > w->hi ||
		    bpf_probe_read_user(&bp, sizeof(bp), (void *)at)) {
			w->done = 1;
			return 1;
		}
		w->bp = bp;
	}
	w->sp = cfa;
	w->ip = ra;
	if (!ra) {
		w->done = 1;
		return 1;
	}
	return 0;
}

/*
 * An allocation record of a process with executable ranges, its stack
 * walked by learned rules. Returns false when a frame had no rule and
 * nothing was sent: the copy goes instead, and teaches that rule.
 */
static __always_inline int emit_alloc_walked(struct pt_regs *ctx, struct alloc_args *a,
				 const struct pending *p,
				 struct mw_exec_ranges *x)
{
	__u32 zero = 0;
	struct mw_stack_record *s = bpf_map_lookup_elem(&scratch, &zero);
	struct walk_ctx w = {};
	__u64 len;
	__u32 n;

	if (!s || !a || !p || !x)
		return 0;
	w.s = s;
	w.x = x;
	w.ip = PT_REGS_IP(ctx);
	w.sp = PT_REGS_SP(ctx);
	w.bp = PT_REGS_FP(ctx);
	w.lo = w.sp;
	w.hi = w.sp + MW_WALK_SPAN;
	w.pid = cur_ids() >> 32;
	w.gen = x->gen;
	w.max = stack_frames;
	s->r.nframes = 0;
	bpf_loop(MW_MAX_FRAMES, walk_frame, &w, 0);
	if (w.done < 0) {
		a->need = w.ip;
		return 0;
	}
	n = s->r.nframes;
	if (!n || n > MW_MAX_FRAMES)
		return 0;
	rec_init(&s->r, a->type, cur_ids());
	s->r.addr = a->addr;
	s->r.old_addr = a->old_addr;
	s->r.size = p->size;
	s->r.site = p->wrapped ? p->site : s->frames[0];
	s->r.flags = MW_RECF_CFA_WALK | (p->wrapped ? MW_RECF_WRAPPED : 0);
	s->r.nframes = n;
	len = sizeof(s->r) + (__u64)n * sizeof(__u64);
	if (len > sizeof(*s))
		len = sizeof(*s);
	if (bpf_ringbuf_output(&events, s, len, rb_flags())) {
		lose(s->r.pid, MW_CNT_DROPPED);
		return 1;
	}
	count(MW_CNT_EMITTED);
	return 1;
}

static __always_inline void emit_alloc(struct pt_regs *ctx, __u32 type,
				       __u64 addr, __u64 old_addr,
				       const struct pending *p)
{
	struct mw_exec_ranges *fx = NULL; /* for the frame-pointer walk */
	__u32 zero = 0;
	struct mw_stack_record *s;

	if (unwind_bytes && stack_frames) {
		__u32 pid = cur_ids() >> 32;
		struct mw_exec_ranges *x = bpf_map_lookup_elem(&exec_ranges,
							       &pid);
		struct mw_stack_key fk = {.pid = pid,
					  .key = PT_REGS_IP(ctx)};

		struct alloc_args a = {.type = type, .addr = addr,
				       .old_addr = old_addr};

		__u8 *how = x && x->n ? bpf_map_lookup_elem(&fp_sites, &fk)
				      : NULL;

		/* A site is walked by rules only once its first copy was
		 * unwound (MW_SITE_WALK), so that all its records have the
		 * stack that copy gave; one whose frame-pointer walk is
		 * whole keeps that walk (MW_SITE_FP: the walk by rules would
		 * reach one or two outer frames more); until then, copies;
		 * between an exec and the new ranges, copies alone. */
		__u32 *left = x ? NULL : bpf_map_lookup_elem(&exec_young, &pid);

		if (x && x->n)
			fx = x;

		if (!(how && *how == MW_SITE_FP) &&
		    ((x && x->n) ||
		     (left && *left && *left <= EXEC_YOUNG_COPIES)) &&
		    ((x && how && *how == MW_SITE_WALK &&
		      emit_alloc_walked(ctx, &a, p, x)) ||
		     emit_alloc_unwind(ctx, &a, p, x))) {
			if (left)
				__sync_fetch_and_add(left, -1);
			return;
		}
	}
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return;
	rec_init(&s->r, type, cur_ids());
	s->r.addr = addr;
	s->r.old_addr = old_addr;
	s->r.size = p->size;
	s->r.site = p->site;
	if (p->wrapped)
		s->r.flags |= MW_RECF_WRAPPED;
	submit_with_stack(ctx, s, true, false, fx);
}

static __always_inline int alloc_ret(struct pt_regs *ctx, __u64 ret)
{
	struct pending p;

	if (!leave(ctx, P_ALLOC, &p))
		return 0;
	emit_alloc(ctx, MW_REC_ALLOC, ret, 0, &p);
	return 0;
}

static __always_inline __u64 mul_size(__u64 n, __u64 size)
{
	__u64 prod = n * size;

	/* calloc-style overflow fails in the allocator; report 0 then. The
	 * barrier stops clang from turning the check into a 128-bit multiply,
	 * which BPF lacks. */
	asm volatile("" : "+r"(prod));
	if (n && prod / n != size)
		return 0;
	return prod;
}

SEC("uprobe")
int BPF_KPROBE(malloc_enter, __u64 size)
{
	return enter(ctx, P_ALLOC, size, 0);
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, __u64 n, __u64 size)
{
	return enter(ctx, P_ALLOC, mul_size(n, size), 0);
}

SEC("uprobe")
int BPF_KPROBE(aligned_enter, __u64 align, __u64 size)
{
	/* aligned_alloc(align, size) and memalign(align, size) */
	return enter(ctx, P_ALLOC, size, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_exit, __u64 ret)
{
	return alloc_ret(ctx, ret);
}

SEC("uprobe")
int BPF_KPROBE(posix_memalign_enter, __u64 memptr, __u64 align, __u64 size)
{
	return enter(ctx, P_MEMALIGN, size, memptr);
}

SEC("uretprobe")
int BPF_KRETPROBE(posix_memalign_exit, int ret)
{
	struct pending p;
	__u64 addr = 0;

	if (!leave(ctx, P_MEMALIGN, &p) || ret != 0)
		return 0;
	if (bpf_probe_read_user(&addr, sizeof(addr), (void *)p.arg))
		return 0;
	emit_alloc(ctx, MW_REC_ALLOC, addr, 0, &p);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, __u64 ptr, __u64 size)
{
	return enter(ctx, P_REALLOC, size, ptr);
}

SEC("uprobe")
int BPF_KPROBE(reallocarray_enter, __u64 ptr, __u64 n, __u64 size)
{
	return enter(ctx, P_REALLOC, mul_size(n, size), ptr);
}

SEC("uretprobe")
int BPF_KRETPROBE(realloc_exit, __u64 ret)
{
	struct pending p;

	if (!leave(ctx, P_REALLOC, &p))
		return 0;
	emit_alloc(ctx, MW_REC_REALLOC, ret, p.arg, &p);
	return 0;
}

/*
 * Is a free of ptr at stack pointer sp part of a probed call in flight
 * that reports it? Deeper calls are (realloc(p, 0) freeing, operator
 * delete calling free). A free-like call tail-calling the next one
 * (mimalloc's sized delete jumps to mi_free) runs at the same sp, so for
 * those the block itself must match too.
 */
static __always_inline bool free_nested(const struct pending *p, __u64 sp,
					__u64 ptr)
{
	if (!p || p->type == P_WRAP)
		return false;
	return p->sp > sp ||
	       (p->type == P_FREE && p->sp == sp && p->arg == ptr);
}

static __always_inline void emit_free(struct pt_regs *ctx, __u64 id,
				      __u64 ptr, __u32 pair)
{
	struct mw_record r;

	rec_init(&r, MW_REC_FREE, id);
	r.addr = ptr;
	if (pair) {
		r.flags = MW_RECF_POOL;
		r.key = pair;
	}
	r.site = return_address(ctx);
	emit(&r);
}

SEC("uprobe")
int BPF_KPROBE(free_enter, __u64 ptr)
{
	__u64 id = cur_ids();

	__u32 tid = (__u32)id;

	if (!ptr || !traced(id >> 32))
		return 0;
	if (free_nested(bpf_map_lookup_elem(&pending, &tid), PT_REGS_SP(ctx),
			ptr)) {
		pair_mark(tid, PT_REGS_SP(ctx), MW_RECF_DELEGATED);
		return 0;
	}
	emit_free(ctx, id, ptr, 0);
	return 0;
}

/* Argument n (1-based, as in MW_COOKIE) of a probed function. Each
 * case reads its register through a barrier: merged into one load at a
 * computed offset, the verifier would refuse the context access. */
#define ARG_CASE(i, reg)                                                     \
	case i:                                                              \
		v = reg;                                                     \
		asm volatile("" : "+r"(v));                                  \
		break
static __always_inline __u64 arg_n(struct pt_regs *ctx, __u32 n)
{
	__u64 v = 0;

	switch (n) {
		ARG_CASE(1, PT_REGS_PARM1(ctx));
		ARG_CASE(2, PT_REGS_PARM2(ctx));
		ARG_CASE(3, PT_REGS_PARM3(ctx));
		ARG_CASE(4, PT_REGS_PARM4(ctx));
		ARG_CASE(5, PT_REGS_PARM5(ctx));
#if defined(PT_REGS_PARM6)
		ARG_CASE(6, PT_REGS_PARM6(ctx));
#elif defined(__TARGET_ARCH_x86)
		ARG_CASE(6, ctx->r9); /* libbpf 1.1 stops at the fifth */
#endif
	}
	return v;
}

static __always_inline __u64 cookie_size(struct pt_regs *ctx, __u64 cookie)
{
	__u64 size = arg_n(ctx, MW_COOKIE_SIZE(cookie));

	if (MW_COOKIE_COUNT(cookie))
		size = mul_size(arg_n(ctx, MW_COOKIE_COUNT(cookie)), size);
	return size;
}

/*
 * The generic allocator programs: any function that returns a new block
 * (xalloc), moves one (xrealloc) or releases one (xfree), with its
 * arguments where the attach cookie says. A call that reaches another
 * probed function (jemalloc's operator new falling back to malloc, a
 * user's xmalloc calling malloc) is reported once, by the outer call: see
 * the pending comment at the top.
 */
SEC("uprobe")
int BPF_KPROBE(xalloc_enter)
{
	return enter(ctx, P_ALLOC, cookie_size(ctx, bpf_get_attach_cookie(ctx)),
		     0);
}

SEC("uprobe")
int BPF_KPROBE(xrealloc_enter)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);

	return enter(ctx, P_REALLOC, cookie_size(ctx, cookie),
		     arg_n(ctx, MW_COOKIE_PTR(cookie)));
}

/*
 * A user's --alloc and --realloc functions of a pair tracked for races
 * (MW_COOKIE_PAIR set): the generic programs, and the pair's entry and
 * return (pair_enter, pair_exit). Separate programs, so that the C++
 * operators and allocator APIs pay nothing for them.
 */
SEC("uprobe")
int BPF_KPROBE(pool_alloc_enter)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 id = cur_ids();

	enter(ctx, P_ALLOC, cookie_size(ctx, cookie), 0);
	if (traced(id >> 32))
		pair_enter(ctx, id, cookie);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(pool_alloc_exit, __u64 ret)
{
	alloc_ret(ctx, ret);
	pair_exit(ctx);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(pool_realloc_enter)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 id = cur_ids();

	enter(ctx, P_REALLOC, cookie_size(ctx, cookie),
	      arg_n(ctx, MW_COOKIE_PTR(cookie)));
	if (traced(id >> 32))
		pair_enter(ctx, id, cookie);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(pool_realloc_exit, __u64 ret)
{
	struct pending p;

	if (leave(ctx, P_REALLOC, &p))
		emit_alloc(ctx, MW_REC_REALLOC, ret, p.arg, &p);
	pair_exit(ctx);
	return 0;
}

/*
 * A lock taken (pthread_mutex_lock and kin, probed only in a process whose
 * pairs overlapped: see pool_locks): inside a pair's call, it says the
 * pool serializes its callers. Outside one it costs a lookup.
 */
SEC("uprobe")
int BPF_KPROBE(pool_lock_enter)
{
	__u64 id = cur_ids();

	if (traced(id >> 32))
		pair_mark((__u32)id, PT_REGS_SP(ctx), MW_RECF_LOCKED);
	return 0;
}

/*
 * A wrapper that allocates for its caller: libstdc++'s operator new, which
 * calls malloc, and glibc's strdup. Neither keeps a frame pointer, so the
 * stack walked at malloc's return skips the wrapper's caller, the site
 * that matters. Its entry leaves the caller's call site pending; the
 * malloc it makes takes it (see enter()) and reports the block as the
 * caller's. No return probe: the malloc's own return reports.
 */
SEC("uprobe")
int BPF_KPROBE(wrap_enter)
{
	__u64 id = cur_ids();
	__u64 sp = PT_REGS_SP(ctx);
	__u32 tid = (__u32)id;
	struct pending *old, p = {};

	if (!traced(id >> 32))
		return 0;
	old = bpf_map_lookup_elem(&pending, &tid);
	if (old && old->sp > sp)
		return 0; /* operator new[] calling operator new: the outer */
	p.sp = sp;
	p.type = P_WRAP;
	p.site = return_address(ctx);
	pending_set(id >> 32, tid, old, &p);
	return 0;
}

/* A free-like call reports at entry, like free, and stays pending until
 * it returns, so the free it may reach inside is not reported again;
 * pair: the user's pool it frees into (0: none). */
static __always_inline void xfree_report(struct pt_regs *ctx, __u64 id,
					 __u64 ptr, __u32 pair)
{
	__u64 sp = PT_REGS_SP(ctx);
	__u32 tid = (__u32)id;
	struct pending *old, p = {};

	old = bpf_map_lookup_elem(&pending, &tid);
	if (free_nested(old, sp, ptr))
		return;
	emit_free(ctx, id, ptr, pair);
	p.sp = sp;
	p.arg = ptr;
	p.type = P_FREE;
	pending_set(id >> 32, tid, old, &p);
}

SEC("uprobe")
int BPF_KPROBE(xfree_enter)
{
	__u64 id = cur_ids();
	__u64 ptr = arg_n(ctx, MW_COOKIE_PTR(bpf_get_attach_cookie(ctx)));

	if (ptr && traced(id >> 32))
		xfree_report(ctx, id, ptr, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(xfree_exit)
{
	struct pending p;

	leave(ctx, P_FREE, &p);
	return 0;
}

/* A user's --free function of a pair tracked for races: xfree's work, its
 * free marked as the pair's (MW_RECF_POOL), and the pair's entry and
 * return. Every call of the pair counts, a free of NULL too: it runs the
 * pool's code all the same. */
SEC("uprobe")
int BPF_KPROBE(pool_free_enter)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 id = cur_ids();
	__u64 ptr = arg_n(ctx, MW_COOKIE_PTR(cookie));

	if (!traced(id >> 32))
		return 0;
	pair_enter(ctx, id, cookie);
	if (ptr)
		xfree_report(ctx, id, ptr, MW_COOKIE_PAIR(cookie));
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(pool_free_exit)
{
	struct pending p;

	leave(ctx, P_FREE, &p);
	pair_exit(ctx);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(key_create_enter, __u64 keyp, __u64 destructor)
{
	return enter(ctx, P_KEY_CREATE, destructor, keyp);
}

SEC("uretprobe")
int BPF_KRETPROBE(key_create_exit, int ret)
{
	struct mw_record r;
	struct pending p;
	__u32 key;

	if (!leave(ctx, P_KEY_CREATE, &p) || ret != 0)
		return 0;
	/* The key exists only once pthread_key_create returned 0. */
	if (bpf_probe_read_user(&key, sizeof(key), (void *)p.arg))
		return 0;
	rec_init(&r, MW_REC_KEY_CREATE, cur_ids());
	r.key = key;
	r.addr = p.size;
	r.site = p.site;
	emit(&r);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(key_delete_enter, __u32 key)
{
	__u64 id = cur_ids();
	struct mw_record r;

	if (!traced(id >> 32))
		return 0;
	rec_init(&r, MW_REC_KEY_DELETE, id);
	r.key = key;
	r.site = return_address(ctx);
	emit(&r);
	return 0;
}

/*
 * The usable size of a glibc malloc block from its chunk header, the word
 * before it: chunk size in the high bits, IS_MMAPPED in bit 1. Anything
 * implausible (another allocator, not a heap block) gives 0.
 */
static __always_inline __u64 glibc_usable_size(__u64 p)
{
	__u64 head = 0, size;

	if (p < 4096 || (p & 0xf) ||
	    bpf_probe_read_user(&head, sizeof(head), (void *)(p - 8)))
		return 0;
	size = head & ~7ull;
	if (size < 32 || size > (1ull << 40) || (size & 0xf))
		return 0;
	return size - ((head & 2) ? 16 : 8);
}

/*
 * A TLS-only target's pthread_setspecific: the value's size from the
 * allocator's metadata, and the stack that set it (from the entry, where
 * the frame-pointer walk begins with our caller's caller, so frames[0] is
 * put back from the return address).
 */
static __always_inline void emit_tls_set_sized(struct pt_regs *ctx, __u64 id,
					       __u32 key, __u64 value)
{
	__u32 zero = 0;
	struct mw_stack_record *s = bpf_map_lookup_elem(&scratch, &zero);

	if (!s)
		return;
	rec_init(&s->r, MW_REC_TLS_SET, id);
	s->r.key = key;
	s->r.addr = value;
	s->r.site = return_address(ctx);
	s->r.flags = MW_RECF_SIZED;
	s->r.size = value ? glibc_usable_size(value) : 0;
	submit_with_stack(ctx, s, value != 0, true, NULL);
}

/*
 * The value each (thread, key) of a full-mode target last set, so that a
 * new value can be checked for a link to the old one. LRU: stale pairs
 * (exited threads) go first, and a pair forgotten is a set left unchecked
 * (no MW_RECF_LINK_CHECKED), never a wrong answer; the engine also checks
 * old_addr against the value it knows.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);   /* tid << 32 | key */
	__type(value, __u64); /* the value set, never 0 */
} tls_values SEC(".maps");

/*
 * Byte offset of the first word among the first n (at most MW_LINK_WORDS)
 * of the block at value that equals old, -1 if none. Word by word: a word
 * of an aligned block never crosses a page, so the scan stops at the
 * first unreadable one instead of losing a whole chunk.
 */
static __always_inline __s32 link_offset(__u64 value, __u64 old, __u32 n)
{
	for (__u32 i = 0; i < MW_LINK_WORDS; i++) {
		__u64 w = 0;

		if (i >= n || bpf_probe_read_user(&w, sizeof(w),
						  (void *)(value + i * 8)))
			break;
		if (w == old)
			return (__s32)(i * 8);
	}
	return -1;
}

/* Full mode: remember value for (tid, key), and check it against the old
 * one (see MW_RECF_LINK_CHECKED). */
static __always_inline void tls_link_check(struct mw_record *r, __u64 value)
{
	__u64 k = (__u64)r->tid << 32 | r->key;
	__u64 *old = bpf_map_lookup_elem(&tls_values, &k);
	__u64 words;

	r->flags |= MW_RECF_LINK_CHECKED;
	r->code = -1;
	if (!value) {
		bpf_map_delete_elem(&tls_values, &k);
		return;
	}
	if (old && *old != value) {
		/* Not past the block's end when glibc says where it is. */
		words = glibc_usable_size(value) / 8;
		if (!words || words > MW_LINK_WORDS)
			words = MW_LINK_WORDS;
		r->old_addr = *old;
		r->code = link_offset(value, *old, (__u32)words);
	}
	if (old)
		*old = value;
	else
		bpf_map_update_elem(&tls_values, &k, &value, BPF_ANY);
}

SEC("uprobe")
int BPF_KPROBE(setspecific_enter, __u32 key, __u64 value)
{
	__u64 id = cur_ids();
	__u32 pid = id >> 32;
	__u8 *mode = bpf_map_lookup_elem(&targets, &pid);
	struct mw_record r;

	if (!mode)
		return 0;
	if ((*mode & MW_TARGET_MODE) == MW_TARGET_TLS) {
		emit_tls_set_sized(ctx, id, key, value);
		return 0;
	}
	rec_init(&r, MW_REC_TLS_SET, id);
	r.key = key;
	r.addr = value;
	r.site = return_address(ctx);
	tls_link_check(&r, value);
	emit(&r);
	return 0;
}

/* --- modules ---------------------------------------------------------------- */

/*
 * A dlopen handle is the module's struct link_map, whose first members
 * are public ABI (<link.h>): l_addr, the load bias, then l_name.
 */
static __always_inline void emit_module(__u32 type, __u64 handle)
{
	struct mw_path_record *m;
	__u64 name = 0;

	m = bpf_ringbuf_reserve(&events, sizeof(*m), 0);
	if (!m) {
		lose(cur_ids() >> 32, MW_CNT_DROPPED);
		return;
	}
	rec_init(&m->r, type, cur_ids());
	m->r.old_addr = handle;
	m->path[0] = '\0';
	if (bpf_probe_read_user(&m->r.addr, sizeof(m->r.addr),
				(void *)handle) ||
	    bpf_probe_read_user(&name, sizeof(name), (void *)(handle + 8)) ||
	    bpf_probe_read_user_str(m->path, sizeof(m->path), (void *)name) < 0)
		m->path[0] = '\0';
	bpf_ringbuf_submit(m, 0);
	count(MW_CNT_EMITTED);
}

SEC("uprobe")
int BPF_KPROBE(dlopen_enter)
{
	__u64 id = cur_ids();
	__u32 tid = (__u32)id;
	struct pending_dl p = {};

	if (!traced(id >> 32))
		return 0;
	/* Full: its load goes unreported. */
	if (bpf_map_update_elem(&pending_dl, &tid, &p, BPF_ANY))
		lose(id >> 32, MW_CNT_DL_FULL);
	return 0;
}

static long vma_file(struct task_struct *task, struct vm_area_struct *vma,
		     void *data)
{
	*(__u64 *)data = (__u64)BPF_CORE_READ(vma, vm_file);
	return 0;
}

/* The file mapped at addr in the current process, 0 if none (or the
 * address space was busy: then we do not know, and say nothing). */
static __always_inline __u64 file_at(__u64 addr)
{
	__u64 file = 0;

	bpf_find_vma(bpf_get_current_task_btf(), addr, vma_file, &file, 0);
	return file;
}

SEC("uretprobe")
int BPF_KRETPROBE(dlopen_exit, __u64 handle)
{
	__u32 tid = (__u32)cur_ids();
	struct pending_dl *p = bpf_map_lookup_elem(&pending_dl, &tid);

	if (!p || p->handle)
		return 0;
	bpf_map_delete_elem(&pending_dl, &tid);
	if (handle)
		emit_module(MW_REC_MODULE_LOAD, handle);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(dlclose_enter, __u64 handle)
{
	__u64 id = cur_ids();
	__u32 tid = (__u32)id;
	struct pending_dl p = {.handle = handle};

	if (!traced(id >> 32) || !handle)
		return 0;
	/* Read the link_map now: it is freed by the time dlclose returns. */
	emit_module(MW_REC_MODULE_UNLOAD, handle);
	if (!bpf_probe_read_user(&p.base, sizeof(p.base), (void *)handle))
		p.file = file_at(p.base);
	if (bpf_map_update_elem(&pending_dl, &tid, &p, BPF_ANY))
		lose(id >> 32, MW_CNT_DL_FULL);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(dlclose_exit, int ret)
{
	__u64 id = cur_ids();
	__u32 tid = (__u32)id;
	struct pending_dl *p = bpf_map_lookup_elem(&pending_dl, &tid);
	struct mw_record r;

	if (!p || !p->handle)
		return 0;
	rec_init(&r, MW_REC_MODULE_UNLOADED, id);
	r.old_addr = p->handle;
	r.code = ret;
	/* glibc keeps a module whose thread_local destructors are still
	 * registered, or that others depend on: unloaded means its first
	 * mapping is gone now, in this thread, race-free. */
	if (p->file && file_at(p->base) != p->file)
		r.flags |= MW_RECF_UNMAPPED;
	bpf_map_delete_elem(&pending_dl, &tid);
	emit(&r);
	return 0;
}

/* --- anonymous memory ---------------------------------------------------------- */

/*
 * The exit tracepoints of the four system calls that change a process's
 * anonymous memory (kprobes and fexit are not available everywhere). The
 * collector attaches them only while a process is traced in full mode:
 * any syscall tracepoint sends every system call on the host through the
 * kernel's slow path. The arguments are read from the task's saved user
 * registers, which the system call leaves as they were.
 */
#define MAP_ANONYMOUS_ 0x20
#define MAP_SHARED_ 0x01
#define MAP_STACK_ 0x20000

/* The result of a system call that failed: errors are small negative
 * numbers; any address is above. */
static __always_inline bool sys_failed(long ret)
{
	return ret < 0 && ret > -4096;
}

/* Argument n (1-based) of the current system call, from the user
 * registers the kernel saved at its entry (x86-64: the fourth is r10). */
static __always_inline __u64 sys_arg(struct pt_regs *u, int n)
{
	switch (n) {
	case 1:
		return BPF_CORE_READ(u, di);
	case 2:
		return BPF_CORE_READ(u, si);
	case 3:
		return BPF_CORE_READ(u, dx);
	}
	return BPF_CORE_READ(u, r10);
}

static __always_inline struct pt_regs *user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

static __always_inline int mm_emit(__u32 type, __u64 addr, __u64 size,
				   __u64 old_addr, __u64 old_size)
{
	__u64 id = cur_ids();
	struct mw_record r;

	rec_init(&r, type, id);
	r.addr = addr;
	r.size = size;
	r.old_addr = old_addr;
	r.site = old_size; /* MW_REC_MREMAP keeps the old length there */
	emit(&r);
	return 0;
}

static __always_inline bool mm_traced(long ret)
{
	return !sys_failed(ret) && traced(cur_ids() >> 32);
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int mmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	struct pt_regs *u;
	__u64 flags;

	if (!mm_traced(ret))
		return 0;
	u = user_regs();
	flags = sys_arg(u, 4);
	/* Private anonymous memory only: files and shared memory are not
	 * the allocator's, and thread stacks are glibc's. */
	if (!(flags & MAP_ANONYMOUS_) || (flags & MAP_SHARED_) ||
	    (flags & MAP_STACK_))
		return 0;
	return mm_emit(MW_REC_MMAP, ret, sys_arg(u, 2), 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_munmap")
int munmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *u;

	if (!mm_traced(ctx->ret))
		return 0;
	u = user_regs();
	return mm_emit(MW_REC_MUNMAP, sys_arg(u, 1), sys_arg(u, 2), 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_brk")
int brk_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (!mm_traced(ctx->ret))
		return 0;
	return mm_emit(MW_REC_BRK, ctx->ret, 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_mremap")
int mremap_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *u;

	if (!mm_traced(ctx->ret))
		return 0;
	u = user_regs();
	return mm_emit(MW_REC_MREMAP, ctx->ret, sys_arg(u, 3), sys_arg(u, 1),
		       sys_arg(u, 2));
}

#define SIGSTOP_ 19
#define PIDTYPE_TGID_ 1

/* Linux 6.13: a signal to another task, here the child of a fork. Weak, so
 * that the object loads on older kernels: the one program that calls it
 * (on_fork_task) is loaded only where the kernel has it (the collector
 * asks the kernel's BTF, daemon/features.c). */
extern int bpf_send_signal_task(struct task_struct *task, int sig,
				enum pid_type type, __u64 value) __ksym __weak;

/* How spawn() holds the process it reports. */
enum hold {
	HOLD_SELF,  /* the current task's process (bpf_send_signal) */
	HOLD_CHILD, /* a child of a fork, not yet run (bpf_send_signal_task) */
	HOLD_NONE,  /* none: the process is attached as it runs */
};

/*
 * Report a process to attach (tmpl, an MW_REC_SPAWN record) and stop it
 * until user space has attached and sends SIGCONT: child, a new child of
 * a fork (HOLD_CHILD), or the current task's process (HOLD_SELF). The
 * record is reserved before the stop, so that a program is never stopped
 * without the report that resumes it: when the ring buffer is full the
 * program runs on untraced, the loss is counted on it, and it goes to
 * missed, to be attached late. A stop that fails leaves it running; it is
 * reported all the same (a SIGCONT to a running process does nothing). A
 * held process is in held until the daemon has resumed it.
 */
static __always_inline void spawn(const struct mw_record *tmpl,
				  struct task_struct *child, enum hold how)
{
	struct mw_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	__u32 pid = tmpl->pid;
	__u8 mode = (__u8)tmpl->code;
	__u64 start;

	if (!r) {
		bpf_map_update_elem(&missed, &pid, &mode, BPF_ANY);
		lose(pid, MW_CNT_DROPPED);
		return;
	}
	/* Held only once the guard can find it: a full map means no stop
	 * (the daemon still attaches, the program running meanwhile). */
	start = how == HOLD_CHILD
			? BPF_CORE_READ(child, start_boottime)
			: BPF_CORE_READ(bpf_get_current_task_btf(), group_leader,
					start_boottime);
	if (how != HOLD_NONE &&
	    !bpf_map_update_elem(&held, &pid, &start, BPF_ANY)) {
		if (how == HOLD_CHILD)
			bpf_send_signal_task(child, SIGSTOP_, PIDTYPE_TGID_,
					     0);
		else
			bpf_send_signal(SIGSTOP_);
	}
	__builtin_memcpy(r, tmpl, sizeof(*r));
	bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
	count(MW_CNT_EMITTED);
}

static __always_inline void spawn_init(struct mw_record *r, __u32 tgid,
				       __u8 mode, const char *comm)
{
	rec_init(r, MW_REC_SPAWN, 0);
	r->pid = tgid;
	r->tid = tgid;
	r->code = mode & MW_TARGET_MODE;
	r->flags = MW_RECF_FORKED;
	bpf_probe_read_kernel_str(r->comm, sizeof(r->comm), comm);
}

/*
 * Children of followed targets to hold from their own context, where the
 * kernel has no bpf_send_signal_task (before 6.13): tgid -> the parent's
 * target mode. on_fork adds the child; the child takes itself out on its
 * first return to user space (child_return), or on_exit does if it dies
 * before.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} hold_child SEC(".maps");

/* Are the child_return programs loaded (set by the collector)? Without
 * them (no syscall tracepoints) a followed child is reported from its
 * parent's fork and not held: it is attached while it already runs. */
const volatile bool hold_in_child = false;

/*
 * A followed target forked: its child is stopped before its first user
 * instruction and reported, to be attached and resumed.
 *
 * task: with bpf_send_signal_task the SIGSTOP is queued now, before the
 * child first runs, and taken on its return from the fork; it is queued
 * before the report, so the daemon's SIGCONT always comes after it.
 * Without it, the child is noted in hold_child and does the same from its
 * own context (child_return): the report cannot go first there, or the
 * daemon's SIGCONT could come before the child stopped itself.
 */
static __always_inline void follow_child(struct task_struct *child,
					 __u32 tgid, __u8 mode, bool task)
{
	struct mw_record r;

	if (!task && hold_in_child &&
	    !bpf_map_update_elem(&hold_child, &tgid, &mode, BPF_ANY))
		return;
	spawn_init(&r, tgid, mode, child->comm);
	/* Not held from its context (hold_child full, or no way to hold it
	 * there): reported all the same, to be attached as it runs. */
	spawn(&r, child, task ? HOLD_CHILD : HOLD_NONE);
}

/*
 * A new process returns to user space for the first time, from fork,
 * vfork, clone or clone3 (the tracepoint fires in the child too, with 0
 * returned, before the signals pending are taken): if it is a followed
 * target's child, stop it here, before its first instruction, and report
 * it.
 */
static __always_inline int child_return(long ret)
{
	__u64 ids;
	__u32 tgid;
	__u8 *mode, m;
	struct mw_record r;

	if (ret != 0)
		return 0;
	ids = cur_ids();
	tgid = ids >> 32;
	if (tgid != (__u32)ids)
		return 0; /* a new thread: its process is no new child */
	mode = bpf_map_lookup_elem(&hold_child, &tgid);
	if (!mode)
		return 0;
	m = *mode;
	bpf_map_delete_elem(&hold_child, &tgid);
	spawn_init(&r, tgid, m, bpf_get_current_task_btf()->comm);
	spawn(&r, NULL, HOLD_SELF);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone")
int clone_exit(struct trace_event_raw_sys_exit *ctx)
{
	return child_return(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int clone3_exit(struct trace_event_raw_sys_exit *ctx)
{
	return child_return(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_fork")
int fork_exit(struct trace_event_raw_sys_exit *ctx)
{
	return child_return(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_vfork")
int vfork_exit(struct trace_event_raw_sys_exit *ctx)
{
	return child_return(ctx->ret);
}

/* --- lifecycle ------------------------------------------------------------ */

/* A fork or a new thread (in the parent's context); task: hold a followed
 * child with bpf_send_signal_task. */
static __always_inline int fork_event(struct task_struct *parent,
				      struct task_struct *child, bool task)
{
	__u64 ids = task_ids(child);
	__u32 tgid = ids >> 32;
	__u32 ptgid = task_ids(parent) >> 32;
	struct mw_record r;

	if (tgid != ptgid) {
		/* A new process: followed if its parent's target says so. */
		__u8 *mode = bpf_map_lookup_elem(&targets, &ptgid);

		if (mode && (*mode & MW_TARGET_FOLLOW))
			follow_child(child, tgid, *mode, task);
		return 0;
	}
	if (!traced(tgid))
		return 0;
	rec_init(&r, MW_REC_THREAD_START, 0);
	r.pid = tgid;
	r.tid = (__u32)ids;
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), child->comm);
	emit(&r);
	return 0;
}

/* Exactly one of the two is loaded (the collector chooses): on_fork_task
 * where the kernel has bpf_send_signal_task (6.13), on_fork elsewhere. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork_task, struct task_struct *parent,
	     struct task_struct *child)
{
	return fork_event(parent, child, true);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	return fork_event(parent, child, false);
}

/*
 * A thread ends. The report must come before any thread that joins it
 * runs on: a joiner woken first can delete a key or free what the exited
 * thread's destructors already let go, and the engine would see those
 * out of order. The joiner wakes in exit_mm (clear_child_tid's futex
 * wake). Linux 6.16 moved sched_process_exit before exit_mm; before it,
 * the tracepoint fires after, and exit_mm_release, called first thing in
 * exit_mm for every exiting task, is the hook instead (on_exit_mm, loaded
 * where the daemon finds the late tracepoint). The one that is loaded
 * calls this with the exiting task, which is current.
 */
static __always_inline int thread_exit(struct task_struct *task)
{
	__u64 ids = task_ids(task);
	__u32 tgid = ids >> 32;
	struct signal_struct *sig;
	struct mw_record r;
	int live;

	/* A followed child killed before it first ran: no longer waited
	 * for (the programs that wait for it, where they are loaded). */
	if (hold_in_child && tgid == (__u32)ids)
		bpf_map_delete_elem(&hold_child, &tgid);
	if (!traced(tgid))
		return 0;
	sig = BPF_CORE_READ(task, signal);
	/* signal->live was decremented before exit_mm: zero means this is
	 * the last thread of the group. */
	live = BPF_CORE_READ(sig, live.counter);
	rec_init(&r, MW_REC_THREAD_EXIT, 0);
	r.pid = tgid;
	r.tid = (__u32)ids;
	/* A thread that dies inside a probed call leaves its entry. */
	bpf_map_delete_elem(&pending, &r.tid);
	bpf_map_delete_elem(&pending_dl, &r.tid);
	bpf_map_delete_elem(&pair_calls, &r.tid);
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), task->comm);
	if (live == 0 || (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT))
		r.flags |= MW_RECF_GROUP_EXIT;
	/* exec kills the other threads too; they die with the old image. */
	if (bpf_core_field_exists(sig->group_exec_task) &&
	    BPF_CORE_READ(sig, group_exec_task))
		r.flags |= MW_RECF_GROUP_EXIT;
	emit(&r);
	if (live == 0) {
		rec_init(&r, MW_REC_PROC_EXIT, 0);
		r.pid = tgid;
		r.tid = (__u32)ids;
		r.code = BPF_CORE_READ(task, exit_code);
		bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), task->comm);
		emit(&r);
		/* The pid may be reused by an untraced process. */
		bpf_map_delete_elem(&targets, &tgid);
		bpf_map_delete_elem(&pool_locks, &tgid);
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
	return thread_exit(task);
}

SEC("fentry/exit_mm_release")
int BPF_PROG(on_exit_mm, struct task_struct *task, struct mm_struct *mm)
{
	return thread_exit(task);
}

/* Executables and command names whose new processes are traced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct mw_watch_exe);
	__type(value, __u8);
} watch_exe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[MW_COMM_LEN]);
	__type(value, __u8);
} watch_comm SEC(".maps");

/* cgroup v2 ids (the group directory's inode) whose processes, and their
 * descendants', are traced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8);
} watch_cgroup SEC(".maps");

#define CGROUP_DEPTH 16

/* systemd units by name, whose processes are traced: systemd makes a
 * unit's group anew, with a new id, each time it starts the unit, and
 * the service's first process execs at once, before memwatchd could
 * learn the new id. So a process is also matched by the name of its
 * group, or of the group's parents up to UNIT_DEPTH levels (a unit with
 * Delegate= makes groups below its own). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[MW_UNIT_LEN]);
	__type(value, __u8);
} watch_unit SEC(".maps");

#define UNIT_DEPTH 4

/* kernfs_node's parent is __parent since Linux 6.15 (RCU), parent before. */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

static __always_inline __u8 *watched_unit(struct task_struct *p)
{
	struct kernfs_node *kn = BPF_CORE_READ(p, cgroups, dfl_cgrp, kn);

	for (int i = 0; i < UNIT_DEPTH && kn; i++) {
		char name[MW_UNIT_LEN] = {};
		const char *s = BPF_CORE_READ(kn, name);
		__u8 *mode;

		if (bpf_probe_read_kernel_str(name, sizeof(name), s) <= 0)
			break;
		mode = bpf_map_lookup_elem(&watch_unit, name);
		if (mode)
			return mode;
		kn = kn_parent(kn);
	}
	return NULL;
}

/* Is the current task in a watched cgroup, or below one? */
/* The mode of the watched group the current task is in, or NULL. */
static __always_inline __u8 *watched_cgroup(void)
{
	for (int i = 0; i < CGROUP_DEPTH; i++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(i);
		__u8 *mode;

		if (!id)
			break;
		mode = bpf_map_lookup_elem(&watch_cgroup, &id);
		if (mode)
			return mode;
	}
	return NULL;
}

/*
 * A process that just exec'ed a watched program is stopped before its
 * first instruction, so that not one allocation passes before the probes
 * are in place; user space attaches, then sends SIGCONT.
 */
static __always_inline void watch_exec(struct task_struct *p, __u64 ids)
{
	__u32 tgid = ids >> 32;
	struct mw_watch_exe key = {};
	char comm[MW_COMM_LEN] = {};
	struct mw_record r;

	__u8 *mode;

	key.ino = BPF_CORE_READ(p, mm, exe_file, f_inode, i_ino);
	key.dev = BPF_CORE_READ(p, mm, exe_file, f_inode, i_sb, s_dev);
	bpf_probe_read_kernel_str(comm, sizeof(comm), p->comm);
	mode = bpf_map_lookup_elem(&watch_exe, &key);
	if (!mode)
		mode = bpf_map_lookup_elem(&watch_comm, comm);
	if (!mode)
		mode = watched_cgroup();
	if (!mode)
		mode = watched_unit(p);
	if (!mode)
		return;
	if (!tgid)
		return; /* not in memwatchd's pid namespace */
	rec_init(&r, MW_REC_SPAWN, 0);
	r.code = *mode;
	r.pid = tgid;
	r.tid = (__u32)ids;
	__builtin_memcpy(r.comm, comm, sizeof(comm));
	spawn(&r, NULL, HOLD_SELF);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p)
{
	__u64 ids = task_ids(p);
	__u32 tgid = ids >> 32;
	struct mw_record r;

	if (!traced(tgid)) {
		watch_exec(p, ids);
		return 0;
	}
	/* The old image's ranges would key the new one's stacks: none
	 * until user space reads the new ones, so it is woken at once:
	 * left to the next batch, a program's first 100 ms of allocations
	 * (thousands: ld.so's, libc's, its own start) kept the one frame
	 * the frame-pointer walk finds. Until then their copies go
	 * alone (exec_young). */
	bpf_map_delete_elem(&exec_ranges, &tgid);
	if (unwind_bytes) {
		__u32 copies = EXEC_YOUNG_COPIES;

		bpf_map_update_elem(&exec_young, &tgid, &copies, BPF_ANY);
	}
	rec_init(&r, MW_REC_EXEC, 0);
	r.pid = tgid;
	r.tid = (__u32)ids;
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), p->comm);
	emit_flags(&r, BPF_RB_FORCE_WAKEUP);
	return 0;
}
