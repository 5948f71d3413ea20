/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * memwatch.h - the ABI between memwatch.bpf.c and the Linux collector.
 *
 * One fixed-size record type travels through the ring buffer. Every field
 * is fixed-width with explicit padding, so the layout is the same for the
 * BPF target and for x86_64 user space. The record begins with its type.
 * Only the collector (daemon/collector.c) reads these records; everything
 * downstream sees the normalized struct mw_event of common/event.h.
 */
#ifndef MEMWATCH_BPF_ABI_H
#define MEMWATCH_BPF_ABI_H

#define MW_COMM_LEN 16
/* User stack frames an allocation record carries at most. */
#define MW_MAX_FRAMES 32

enum mw_rec_type {
	MW_REC_ALLOC = 1,      /* addr = block, size, site */
	MW_REC_FREE = 2,       /* addr = block, site */
	MW_REC_REALLOC = 3,    /* addr = new block, old_addr, size, site */
	MW_REC_THREAD_START = 4, /* comm */
	MW_REC_THREAD_EXIT = 5,  /* flags: MW_RECF_GROUP_EXIT, comm */
	MW_REC_PROC_EXIT = 6,    /* code = exit code */
	MW_REC_EXEC = 7,         /* comm */
	MW_REC_KEY_CREATE = 8,   /* key, addr = destructor */
	MW_REC_KEY_DELETE = 9,   /* key */
	MW_REC_TLS_SET = 10,     /* key, addr = value; full mode: old_addr, code */
	/* dlopen returned handle old_addr; addr = its l_addr (load bias);
	 * a struct mw_path_record with l_name. */
	MW_REC_MODULE_LOAD = 11,
	/* dlclose(old_addr) entered; addr = l_addr; a mw_path_record. */
	MW_REC_MODULE_UNLOAD = 12,
	/* that dlclose returned code. */
	MW_REC_MODULE_UNLOADED = 13,
	/* The kernel's view of anonymous memory (private, not a stack). */
	MW_REC_MMAP = 14,	/* addr, size */
	MW_REC_MUNMAP = 15,	/* addr, size */
	MW_REC_BRK = 16,	/* addr = the new break */
	/* old_addr, site = old length; addr, size = the new mapping */
	MW_REC_MREMAP = 17,
	/* An untraced process exec'ed a watched executable or comm; it is
	 * stopped (SIGSTOP) until user space attached and resumed it. */
	MW_REC_SPAWN = 18,	/* comm, code = MW_TARGET_* mode to trace it in */
	/* A call of a user's --alloc/--free pair entered while another
	 * thread was inside the same pair, and has returned: site = this
	 * call's call site, old_addr = the other call's, key = the other
	 * thread, code = MW_POOL_CODE(pair, this function, the other's),
	 * flags: MW_RECF_LOCKED/BLOCKED/DELEGATED. */
	MW_REC_POOL_OVERLAP = 19,
};

/* Key of the watch_unit map: a systemd unit's name, as its cgroup's
 * directory is named (NUL-padded). */
#define MW_UNIT_LEN 128

/* Key of the watch_exe map: an executable by its inode. dev is the
 * kernel's encoding (major << 20 | minor). The watch maps' values are
 * the MW_TARGET_* mode to trace a match in. */
struct mw_watch_exe {
	__u64 dev;
	__u64 ino;
};

/* The thread died because its whole process is exiting (exit_group, a
 * fatal signal, or it was the last thread): not a thread-level exit. */
#define MW_RECF_GROUP_EXIT 0x1
/* MW_REC_MODULE_UNLOADED: the module's file is no longer mapped. */
#define MW_RECF_UNMAPPED 0x2

struct mw_record {
	__u32 type;
	__u32 pid; /* tgid */
	__u32 tid;
	__u32 flags;
	__u64 ts; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 addr;
	__u64 size;
	__u64 old_addr;
	__u64 site; /* return address of the probed call */
	__u32 key;
	__s32 code;
	char comm[MW_COMM_LEN];
	__u32 nframes; /* frames[] entries that follow, alloc records only */
	/* The kernel side's count of lost records (mw_loss.seq, low 32
	 * bits) when this record was made: the collector reads the loss
	 * counts before it handles a record made after a loss. */
	__u32 lost_seq;
};

#define MW_PATH_LEN 256

/* Module records carry the module's path (l_name), NUL-terminated. */
struct mw_path_record {
	struct mw_record r;
	char path[MW_PATH_LEN];
};

/*
 * MW_REC_ALLOC and MW_REC_REALLOC records carry the allocating user stack
 * after the fixed part, taken at the return probe: frames[0] is the
 * allocation's call site, then its callers by frame-pointer walk. Only
 * r.nframes frames travel: the record is sizeof(r) + 8 * nframes long.
 */
struct mw_stack_record {
	struct mw_record r;
	__u64 frames[MW_MAX_FRAMES];
};

/*
 * Stacks without frame pointers (daemon/unwind.c). Where a process has an
 * exec_ranges entry and the allocation's call site is not known to walk
 * right by frame pointers (fp_sites), the return probe copies the top of
 * the user stack and keys it: a hash of every word of that copy that
 * falls in the process's executable ranges, with its offset. Return
 * addresses are such words, so the same call stack gives the same key and
 * a different one a different key, to the depth the copy reaches. The
 * first record of a key (per process, stack_seen) carries the copy and
 * the registers, for user space to unwind with the binaries' CFI; later
 * ones carry the key alone. Both carry the frame-pointer walk too, the
 * stack used when user space cannot unwind.
 */
#define MW_STACK_COPY 8192 /* bytes of stack copied at most, a power of 2 */
#define MW_EXEC_RANGES 32  /* executable ranges per process, merged to fit */

/* The record carries a stack key (stack_key): an mw_unwind_record. */
#define MW_RECF_STACK_KEY 0x800
/* It also carries the stack copy: its first of that key. */
#define MW_RECF_STACK_COPY 0x1000

struct mw_unwind_record {
	struct mw_record r;
	__u64 stack_key;
	/* The registers at the return, the caller's: the callee-saved
	 * ones, which the caller's frames' CFI may use. */
	__u64 ip, sp, bp, bx, r12, r13, r14, r15;
	__u32 copy_len;	  /* bytes of stack[] that travel: 0 or from sp */
	__u32 gen;	  /* of the exec_ranges the key was made with */
	__u64 need_ip;	  /* the walk by learned rules found none for it */
	__u64 frames[MW_MAX_FRAMES]; /* the frame-pointer walk, r.nframes */
	__u8 stack[MW_STACK_COPY];
};

/* Value of the exec_ranges map (by tgid): [start[i], end[i]) sorted, not
 * overlapping; gen changes whenever they do, so that keys made with other
 * ranges never match. */
struct mw_exec_ranges {
	__u32 n;
	__u32 gen;
	__u64 lo, hi; /* the span of them all */
	__u64 start[MW_EXEC_RANGES];
	__u64 end[MW_EXEC_RANGES];
	__u32 flags; /* MW_RANGES_* */
	__u32 pad;
};

/* Read once the process was 2 s old: past ld.so's mapping of its
 * libraries, an address outside them is in no file (JIT code), and the
 * walk by rules ends there without asking (a library loaded later
 * changes the generation first, at its dlopen). */
#define MW_RANGES_SETTLED 0x1

/* Key of stack_seen (value: a __u8) and of fp_sites (site = the call
 * site; value MW_SITE_FP: the frame-pointer walk from there is the whole
 * stack; MW_SITE_WALK: its first copy was unwound, the walk by learned
 * rules gives its stacks). */
#define MW_SITE_FP 1
#define MW_SITE_WALK 2
struct mw_stack_key {
	__u32 pid;
	__u32 pad;
	__u64 key;
};

/*
 * The walk by learned CFI rules: what daemon/unwind.c found unwinding
 * copies, put back where the BPF side can use it. For each code address
 * met in an unwound stack (the call site, then each return address), the
 * rule that takes a frame at it to its caller: CFA = sp or rbp + off, the
 * return address at CFA - 8, the caller's rbp at CFA + bp_off (0: rbp
 * unchanged). A rule is what the code's CFI says at that address, the
 * same the unwinder uses, so the walk gives the stack the unwinder would
 * from a copy reaching that deep. The return probe walks by these rules
 * alone: a frame whose address has no rule sends the copy as before,
 * naming that address (need_ip), and user space writes its rule. Keyed
 * by the exec_ranges generation too: a module loaded or unloaded makes
 * every rule of the process unknown again.
 */
struct mw_cfa_key {
	__u32 pid;
	__u32 gen; /* of the process's exec_ranges */
	__u64 ip;
};

enum {
	MW_CFA_SP = 1,	/* CFA = sp + off */
	MW_CFA_BP = 2,	/* CFA = rbp + off */
	MW_CFA_END = 3, /* the outermost frame: no caller (_start, clone3) */
	MW_CFA_NOFILE = 4, /* in no file (JIT code): the stack ends above */
};

struct mw_cfa_rule {
	__u32 kind;
	__s32 off;
	__s32 bp_off; /* the caller's rbp at CFA + bp_off; 0: unchanged */
	__u32 pad;
};

/* How far above the return probe's sp the walk looks for frames. */
#define MW_WALK_SPAN (1u << 20)

/* An allocation record whose frames came from the walk by learned rules
 * (an mw_stack_record). */
#define MW_RECF_CFA_WALK 0x2000

/* Values of the targets map: how a process is traced. */
#define MW_TARGET_FULL 1 /* allocations and TLS */
#define MW_TARGET_TLS 2	 /* TLS only: malloc and free are not probed */
#define MW_TARGET_MODE 0x0f	 /* the mode bits */
#define MW_TARGET_FOLLOW 0x10 /* flag: its forked children are targets too */

/* MW_REC_TLS_SET of a TLS-only target: size is the value's usable size,
 * read from glibc's chunk header (0 when it does not look like one), and
 * the record is a mw_stack_record with the setting stack. */
#define MW_RECF_SIZED 0x4
/* MW_REC_SPAWN of a child forked by a followed target (no exec). */
#define MW_RECF_FORKED 0x8
/*
 * MW_REC_TLS_SET of a full-mode target (always): old_addr is the value the
 * same thread last set for the key as the probe remembers it (0: none
 * known, or it forgot), and code is the byte offset of the first word of
 * the new value's block that equals old_addr, among its first
 * MW_LINK_WORDS words (fewer when glibc's chunk header says the block is
 * smaller), or -1 when none does or nothing was checked. A new list head
 * that links the old one (a push) is not an overwrite.
 */
#define MW_RECF_LINK_CHECKED 0x400
#define MW_LINK_WORDS 64
/* MW_REC_ALLOC/REALLOC made by a wrapper (operator new, strdup) for its
 * caller: site is the caller's call site, frames[0] is inside the
 * wrapper and frames[1] on are the walk above the caller's frame. */
#define MW_RECF_WRAPPED 0x10
/* MW_REC_POOL_OVERLAP: this call took a lock (pthread_mutex_lock and
 * kin) inside the pair, or some call of the pair ever did. */
#define MW_RECF_LOCKED 0x20
/* MW_REC_POOL_OVERLAP: this call slept in the kernel (a voluntary
 * context switch: a contended futex) inside the pair. */
#define MW_RECF_BLOCKED 0x40
/* MW_REC_POOL_OVERLAP: this call reached the process's allocator
 * (malloc, free or their kin ran inside it). */
#define MW_RECF_DELEGATED 0x80
/* MW_REC_FREE by a user's --free function: key is its pair. */
#define MW_RECF_POOL 0x100
/* MW_REC_POOL_OVERLAP: the call began after the process's lock functions
 * were probed (pool_locks): its LOCKED flag can be trusted. */
#define MW_RECF_WATCHED 0x200

/*
 * Attach cookie of the generic allocator programs (xalloc_enter,
 * xrealloc_enter, xfree_enter): where a function keeps its arguments, so
 * one program serves every allocator API (C++ operators, je_ and mi_
 * names, a user's --alloc/--free pair). Argument numbers are 1-based
 * (1 = first integer argument register), 0 = none. The block's size is
 * arg[size] times arg[count] when count is set.
 */
#define MW_COOKIE(ptr, size, count)                                          \
	((__u64)(ptr) | (__u64)(size) << 8 | (__u64)(count) << 16)
#define MW_COOKIE_PTR(c) ((__u32)(c)&0xff)
#define MW_COOKIE_SIZE(c) ((__u32)((c) >> 8) & 0xff)
#define MW_COOKIE_COUNT(c) ((__u32)((c) >> 16) & 0xff)
#define MW_MAX_ARG 6
/* A user's --alloc/--realloc/--free function (collector_probe.c) also
 * carries its pair (1-based; 0: not a pair tracked for races) and its
 * index among the user's functions, for the allocator-race probes. */
#define MW_COOKIE_POOL(pair, fn) ((__u64)(pair) << 24 | (__u64)(fn) << 32)
#define MW_COOKIE_PAIR(c) ((__u32)((c) >> 24) & 0xff)
#define MW_COOKIE_FN(c) ((__u32)((c) >> 32) & 0xff)
/* MW_REC_POOL_OVERLAP's code: the pair and both functions' indexes. */
#define MW_POOL_CODE(pair, fn, other_fn)                                     \
	((__s32)((pair) | (fn) << 8 | (other_fn) << 16))

/* Indexes into the per-CPU counters array. */
enum mw_counter {
	MW_CNT_EMITTED = 0,	 /* records submitted to the ring buffer */
	MW_CNT_DROPPED = 1,	 /* records that found the ring buffer full */
	MW_CNT_PENDING_FULL = 2, /* entry state lost: pending map full */
	MW_CNT_NO_STACK = 3,	 /* allocations whose stack walk failed */
	MW_CNT_DL_FULL = 4, /* dlopen/dlclose state lost: pending_dl full */
	/* A pair call's state lost (pair_calls or pairs full): an overlap
	 * it was part of goes unseen. Not a lost record: no finding rests
	 * on its absence. */
	MW_CNT_POOL_FULL = 5,
	MW_CNT_MAX = 6,
};

/* The counters that are losses: each one is also counted in the lost map
 * (per pid) or, when that map is full, in mw_loss.any. */
#define MW_CNT_IS_LOSS(i)                                                      \
	((i) == MW_CNT_DROPPED || (i) == MW_CNT_PENDING_FULL ||                \
	 (i) == MW_CNT_DL_FULL)

/*
 * Lost records of one process (value of the lost map, by tgid), or of
 * nobody known (mw_loss.any): how many, and when the first and the
 * latest were lost (bpf_ktime_get_ns). The counts only grow; the
 * collector remembers what it has already taken.
 */
struct mw_lost {
	__u64 count;
	__u64 first_ts;
	__u64 last_ts;
};

/* Global loss state (the BPF object's .bss, read by the collector
 * through its memory map). */
struct mw_loss {
	__u64 seq;	    /* every loss; bumped after it is counted */
	struct mw_lost any; /* losses the lost map had no room for */
};

#endif
