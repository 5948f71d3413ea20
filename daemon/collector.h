/*
 * collector.h - the Linux eBPF collector: loads memwatch.bpf.c, attaches
 * its uprobes to traced processes, and turns ring-buffer records into
 * normalized events (common/event.h). Nothing downstream sees BPF records.
 */
#ifndef MEMWATCH_COLLECTOR_H
#define MEMWATCH_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "event.h"

struct collector;

typedef void (*collector_cb)(void *ctx, const struct mw_event *ev);

struct collector_opts {
	uint32_t ringbuf_bytes; /* power of two, >= page size */
	uint32_t max_targets;
	uint32_t max_pending;	/* threads inside a probed call at once */
	int debug;		/* pass libbpf's own messages to stderr */
	/* Benchmarks only: run empty programs at every uprobe (the cost of
	 * the traps alone), and keep entry probes at function entries (the
	 * cost without insn__place). */
	bool bench_floor;
	bool bench_at_entry;
	/* User stack frames an allocation record carries, 0 to
	 * MW_EV_MAX_FRAMES; 0 keeps the call site alone (cheaper). */
	uint32_t stack_frames;
	/* Bytes of user stack copied to unwind stacks without frame
	 * pointers (bpf/memwatch.h), a power of two up to MW_STACK_COPY;
	 * 0: the frame-pointer walk alone. */
	uint32_t unwind_bytes;
	/* The kernel's features (1 << enum mw_kfeature, daemon/kernel.h):
	 * which programs are loaded, and how. */
	uint32_t kfeatures;
};

/* NULL and errno set on failure. */
struct collector *collector__new(const struct collector_opts *opts,
				 collector_cb cb, void *ctx);

/* The kernel features of collector_opts.kfeatures whose programs the
 * kernel refused to load, the others loaded in their place; *err gets
 * the -errno of the refusal. 0 when none were. */
uint32_t collector__refused(const struct collector *c, int *err);
void collector__free(struct collector *c);

/* Attach to pid: its allocator and TLS functions, or with tls_only its
 * TLS and module functions alone (malloc and free untouched). Returns 0
 * or -errno; on error *why names the problem (static string or buffer in
 * c). */
int collector__attach(struct collector *c, uint32_t pid, bool tls_only,
		      const char **why);
/* 0, or why the kernel-side mmap/munmap/mremap/brk tracepoints (the
 * allocator-retention rule's input, attached while a full-mode target
 * exists) could not be attached the last time they were needed: the
 * targets are traced all the same, without that rule. */
int collector__mm_error(const struct collector *c);
int collector__detach(struct collector *c, uint32_t pid);
/* pid, attached and not yet past exec, is about to run cmd: also probe
 * the allocators cmd will load (LD_PRELOAD, its executable's DT_NEEDED),
 * which its maps cannot show yet. */
int collector__attach_cmd(struct collector *c, uint32_t pid, char *const *cmd);
/* Trace every process that execs the executable at path from now on
 * (by its inode), or whose command name becomes comm: such a process is
 * stopped at exec and reported as MW_EV_SPAWN (with MW_EVF_TLS_ONLY when
 * watched for TLS only); attach it, then resume it with SIGCONT.
 * COLLECTOR_UNWATCH stops watching. Returns 0 or -errno (-EINVAL: not a
 * regular file, or a name longer than 15 bytes; -ENOENT: not watched). */
enum collector_watch {
	COLLECTOR_WATCH,
	COLLECTOR_WATCH_TLS,
	COLLECTOR_UNWATCH,
};
int collector__watch_exe(struct collector *c, const char *path,
			 enum collector_watch how);
int collector__watch_comm(struct collector *c, const char *comm,
			  enum collector_watch how);
/* The same for processes that exec inside cgroup v2 group id (its
 * directory's inode) or below it. */
int collector__watch_cgroup(struct collector *c, uint64_t id,
			    enum collector_watch how);
/* The same for processes that exec in a group named unit (a systemd
 * unit's, whatever its id: a restarted unit gets a new one) or below. */
int collector__watch_unit(struct collector *c, const char *unit,
			  enum collector_watch how);
/* Follow pid's forks: each new child process is stopped as it first runs
 * and reported as MW_EV_SPAWN, like a watched exec. */
int collector__follow(struct collector *c, uint32_t pid);
/* Probe pid's lock functions for the allocator race (once; see
 * collector_attach.c). */
int collector__locks(struct collector *c, uint32_t pid);
/* Periodic work (the daemon's timer): remove the child-context hold once
 * no target is followed and no child waits for it. */
void collector__tick(struct collector *c);
/* Also probe a function of the traced programs' own, in every target
 * traced in full mode from now on, wherever its executable or a library
 * it maps defines it: an allocator (returns a new block), a realloc
 * (moves ptr to a new block) or a free (releases ptr). Arguments by
 * number, 1 to 6 (0: none); a block's size is arg size_arg, times arg
 * count_arg when that is set. A call that reaches malloc or another
 * probed function is reported once, as this function's. Returns 0 or
 * -errno (-EINVAL: a bad argument number, -E2BIG: too many). */
enum collector_fn { COLLECTOR_ALLOC, COLLECTOR_REALLOC, COLLECTOR_FREE };
#define COLLECTOR_MAX_ARG 6
int collector__add_function(struct collector *c, enum collector_fn kind,
			    const char *func, unsigned ptr_arg,
			    unsigned size_arg, unsigned count_arg);
int collector__ntargets(const struct collector *c);
uint32_t collector__target(const struct collector *c, int i);

int collector__fd(const struct collector *c);
/* Deliver every record waiting in the ring buffer. */
int collector__drain(struct collector *c);
/*
 * Feed the records the kernel side lost since the last call to the
 * callback, as MW_EV_LOST events: one per process (pid 0: losses the
 * kernel could not attribute), ts the latest loss, addr the first (wall
 * time). Returns how many. Draining does it too, before any record made
 * after a loss; call it before a drain so that losses found no record
 * behind them are counted as well.
 */
uint64_t collector__take_lost(struct collector *c);
/* pid, reported by MW_EV_SPAWN, was resumed: no longer held (guard.h). */
void collector__resumed(struct collector *c, uint32_t pid);
/* The map of held processes, for the guard. */
int collector__held_fd(const struct collector *c);
/* Processes whose report to attach (MW_EV_SPAWN) was lost to a full ring
 * buffer: they were never stopped and run untraced. Hand each to cb,
 * once, with the mode it was to be traced in. Returns how many. */
int collector__take_missed(struct collector *c,
			   void (*cb)(void *ctx, uint32_t pid, bool tls_only),
			   void *ctx);
/* Every loss fed so far: equal to the kernel's loss counters (those
 * collector__counters reports for MW_CNT_IS_LOSS) once both are read
 * after the last loss. */
uint64_t collector__lost_taken(const struct collector *c);
/* The kernel side's counters (enum mw_counter in bpf/memwatch.h), summed
 * over CPUs: out has MW_COLLECTOR_COUNTERS entries. */
#define MW_COLLECTOR_COUNTERS 6
void collector__counters(const struct collector *c, uint64_t *out);

/* Wall-clock ns for a CLOCK_MONOTONIC ns value, on the collector's one
 * fixed offset, so event times and "now" compare. */
/* Stacks without frame pointers (collector_unwind.c), since the start:
 * copies unwound, those that gave no frame, records whose key's copy was
 * missing (lost or not yet back), copies let go over the loop's budget,
 * records the kernel walked by rules learned from copies, the rules
 * learned, and the loop's time spent unwinding. */
struct collector_unwind_stats {
	uint64_t unwound, failed, missed, skipped, walked, rules, spent_ns;
};
void collector__unwind_stats(const struct collector *c,
			     struct collector_unwind_stats *out);

uint64_t collector__wall(const struct collector *c, uint64_t mono_ns);
uint64_t collector__now(const struct collector *c);

#endif
