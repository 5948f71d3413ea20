/*
 * collector_int.h - what the collector's own files (collector*.c) share:
 * the collector object, its targets, the probes and the modules they go
 * in. Nothing else includes it.
 *
 * The files, each calling only those below it (no call back up):
 *   collector.c         the object, the ring buffer, records to events
 *   collector_cmd.c     -- CMD: allocators of a program about to start
 *   collector_attach.c  targets: attach, detach, uprobe and mm links
 *   collector_probe.c   probe tables, symbols, where a probe goes
 *   collector_module.c  which files to probe in a process
 *   collector_loss.c    losses, counters, the missed and held maps
 *   collector_watch.c   the watch maps, following forks
 *   collector_unwind.c  stacks without frame pointers: ranges, unwinding
 */
#ifndef MEMWATCH_COLLECTOR_INT_H
#define MEMWATCH_COLLECTOR_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collector.h"
#include "decode.h"
#include "hash.h"
#include "memwatch.skel.h"

struct bench_bpf;

/* Which modules a probe is looked for in. */
enum probe_class {
	PC_LIBC,   /* libc (or a static program): TLS keys, modules */
	PC_MALLOC, /* the malloc family: libc and every allocator */
	PC_API,	   /* an allocator's own API and C++ operators: allocators */
	PC_WRAP,   /* wrappers that malloc for their caller: libc, runtimes */
};

/* One probed function: entry program, optional return program, and the
 * attach cookie of the generic programs (where its arguments are). */
struct probe {
	const char *func;
	uint8_t required; /* in libc: attaching fails without it */
	uint8_t cls;	  /* enum probe_class */
	uint64_t cookie;
	size_t enter_off; /* offsetof struct memwatch_bpf progs */
	size_t exit_off;
};

/* A program of the skeleton by its offset in struct memwatch_bpf, +1 so
 * that 0 means "no program" (see probes[]). */
#define PROG(name) (offsetof(struct memwatch_bpf, progs.name) + 1)

static inline struct bpf_program *prog_at(struct memwatch_bpf *skel, size_t off)
{
	return *(struct bpf_program **)((char *)skel + off - 1);
}

#define MAX_MODULES 8 /* libc and allocators probed per target */

/* Entries of probes[] (collector_probe.c checks it). */
#define NPROBES 102
#define MAX_CUSTOM 32 /* --alloc, --realloc and --free functions */

struct target {
	uint32_t pid;
	bool tls_only;
	bool follow; /* its forks are followed (collector__follow) */
	bool locks;  /* its lock functions are probed (collector__locks) */
	int nlinks;
	int cap;
	struct uplink **links;
};

/* A function named by the user (--alloc, --realloc, --free). */
struct custom {
	char func[128];
	struct probe p;
	uint8_t pair; /* its pair (1-based), as MW_COOKIE_PAIR */
};

/* Offsets of probes[] in a file, by its identity: every process on a
 * host usually maps the same libc and allocators. */
struct sym_cache {
	dev_t dev;
	ino_t ino;
	uint64_t offsets[NPROBES];
};

/* A stack unwound from a copy (collector_unwind.c), of process pid's
 * stack key. */
struct ustack {
	uint32_t pid;
	uint32_t n;
	uint64_t key;
	uint64_t frames[MW_MAX_FRAMES];
};

struct collector {
	struct memwatch_bpf *skel;
	struct sym_cache cache[MAX_MODULES];
	unsigned cache_next; /* the slot to replace next */
	struct ring_buffer *rb;
	collector_cb cb;
	void *ctx;
	struct target *targets;
	int ntargets;
	int max_targets;
	struct custom custom[MAX_CUSTOM];
	int ncustom;
	/* Pairs among them: an --alloc or --realloc after a --free starts
	 * the next pair (collector__add_function). */
	int npairs;
	bool pair_freed; /* the current pair has its --free */
	bool multi; /* uprobe_multi links (uprobe.h) */
	bool floor, at_entry; /* collector_opts.bench_* */
	/* With floor: bpf/bench.bpf.c's empty programs, loaded for it
	 * alone, and attached in place of every probe's. */
	struct bench_bpf *bench;
	struct bpf_program *floor_enter, *floor_exit;
	struct decode_buf dbuf; /* what on_record's events point into */
	char pool_names[2 * 128 + 2]; /* a pool overlap's functions */
	uint64_t wall_offset;
	/* Losses taken from the kernel side: loss.seq then, and the lost
	 * map's counts by pid (as pointers) and loss.any's count. */
	uint32_t lost_seq;
	struct hmap lost_taken;
	uint64_t any_taken;
	uint64_t lost_total; /* every loss taken */
	uint32_t max_lost;   /* the lost map's size */
	uint32_t *lost_keys; /* max_lost of them, for a walk of the map */
	int mm_err; /* attaching the mm tracepoints, last time */
	/* Loaded where the kernel has syscall tracepoints (kfeature.h):
	 * the mm programs, and without bpf_send_signal_task the programs
	 * that hold a followed child from its own context. */
	bool mm_loaded, hold_in_child;
	bool signal_task; /* on_fork_task, not on_fork, is loaded */
	bool exit_fentry; /* on_exit_mm, not on_exit, is loaded */
	uint32_t refused; /* kernel features found whose programs failed */
	int refused_err;  /* the -errno of that load */
	int ncpus;
	char why[PATH_MAX + 128];
	/* Stacks without frame pointers (collector_unwind.c). */
	uint32_t unwind_bytes; /* collector_opts.unwind_bytes */
	uint32_t stack_frames; /* collector_opts.stack_frames */
	struct unwinder *unwinder;
	struct hmap ustacks;   /* stacks unwound, by process and key */
	struct hmap norule;    /* code addresses without a rule for the walk */
	struct hmap uranges;   /* pid -> its exec_ranges as last written */
	struct ustack one; /* the stack of the record at hand */
	uint32_t ranges_gen;
	uint64_t unwound, unwind_failed, unwind_missed, unwind_skipped;
	uint64_t walked;	       /* records walked by learned rules */
	uint64_t rules_learned; /* rules written to cfa_rules */
	uint64_t unwind_window_ns, unwind_spent_ns; /* the budget's second */
	uint64_t unwind_total_ns;		    /* all of it */
};

/* What a module is to the process, and so which probes go in it. */
enum module_kind {
	MOD_LIBC,      /* the TLS and module functions, malloc, wrappers */
	MOD_ALLOCATOR, /* malloc and the allocator's own API */
	MOD_RUNTIME,   /* a C++ runtime: its operator new wrappers */
};

/* A module to probe in a process. */
struct module_path {
	char path[PATH_MAX];
	int kind;    /* enum module_kind */
	int lenient; /* a program, not libc: it has what it links, no more */
};

/* One uprobe to place: a program at an offset of the module at hand. */
struct req {
	size_t prog_off;
	uint64_t off;
	uint64_t cookie;
	const char *func;
	uint8_t ret;	  /* a return probe */
	uint8_t phase;	  /* attach order: returns, frees, the rest */
	uint8_t required; /* failing to attach it fails the module */
};

static inline struct target *target_find(struct collector *c, uint32_t pid)
{
	for (int i = 0; i < c->ntargets; i++)
		if (c->targets[i].pid == pid)
			return &c->targets[i];
	return NULL;
}

/* collector__wall, for the files collector.c calls: they do not call
 * back into it. */
static inline uint64_t wall_of(const struct collector *c, uint64_t mono_ns)
{
	return mono_ns + c->wall_offset;
}

/* collector_probe.c, for collector_attach.c and collector.c. */
/* The offsets of probes[] in the ELF file at path, cached; NULL when it
 * cannot be read. */
const uint64_t *collector_probe__resolve(struct collector *c, const char *path);
/* The uprobes to place in module m (2 * NPROBES at most) of a target
 * (traced for TLS alone when tls_only). Returns how many, or -errno with
 * c->why set. */
int collector_probe__module(struct collector *c, bool tls_only,
			    const struct module_path *m, struct req *reqs);
/* The uprobes of the user's functions the ELF file at path defines
 * (CUSTOM_REQS at most). Returns how many. */
#define CUSTOM_REQS (2 * MAX_CUSTOM)
int collector_probe__custom(struct collector *c, const char *path,
			    struct req *reqs);
/* The uprobes of the lock functions (pthread_mutex_lock and kin) the ELF
 * file at path defines, for the allocator race (CUSTOM_REQS at most). */
int collector_probe__locks(const char *path, struct req *reqs);

/* collector_module.c, for collector_attach.c and collector_cmd.c. */
/* The kind of module a library is by its file name, -1 if none. */
int collector_module__kind(const char *base);
/* The modules to probe in pid, libc first, from its maps. Returns how
 * many, or -errno; -ENOENT without a glibc. */
int collector_module__find(uint32_t pid, struct module_path *mods);
/* The same for a process that just exec'ed, before its loader mapped
 * them: from its DT_NEEDED and LD_PRELOAD. */
int collector_module__plan(uint32_t pid, struct module_path *mods);
/* 1 and m filled if the executable at path carries its own malloc and
 * free, else 0. */
int collector_module__exe(const char *path, struct module_path *m);

/* collector_attach.c, for collector.c and collector_cmd.c. */
/* Remove t's uprobes, at once. */
void collector_attach__unlink(struct target *t);
/* Attach the probes of module m to target t. Returns 0 or -errno, with
 * c->why set. */
int collector_attach__module(struct collector *c, struct target *t,
			     const struct module_path *m);
/* Probe the user's functions wherever t has them; exe: the program the
 * loader has not run yet, or NULL. Returns 0 or -errno. */
int collector_attach__custom(struct collector *c, struct target *t,
			     const char *exe);
/* Mark t followed and put the child-context hold in place where it is
 * needed (before 6.13). Returns 0 or -errno. */
int collector_attach__follow(struct collector *c, struct target *t);

/* collector_unwind.c, for collector.c and collector_attach.c. */
/* Write pid's executable ranges into exec_ranges (a new generation). */
void collector_unwind__ranges(struct collector *c, uint32_t pid);
/* pid's address space changed (exec, dlopen): ranges read again, cached
 * stacks dropped. */
void collector_unwind__changed(struct collector *c, uint32_t pid);
/* pid is no longer traced or has exited. */
void collector_unwind__gone(struct collector *c, uint32_t pid);
/* ev was just decoded: give it the stack unwound for its key, if any. */
void collector_unwind__event(struct collector *c, struct mw_event *ev);
void collector_unwind__fini(struct collector *c);

#endif
