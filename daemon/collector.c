/*
 * collector.c - the eBPF collector; see collector.h.
 *
 * Load order: open -> size maps -> load -> attach. The scheduler
 * tracepoints are attached once for all processes (they filter on the
 * targets map); uprobes are attached per traced pid, so untraced
 * processes never pay a trap.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "allocator.h"
#include "collector.h"
#include "decode.h"
#include "elfsym.h"
#include "glibc.h"
#include "hash.h"
#include "insn.h"
#include "memwatch.h"
#include "memwatch.skel.h"
#include "parallel.h"
#include "procfs.h"
#include "uprobe.h"

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

#define PROG(name) (offsetof(struct memwatch_bpf, progs.name) + 1)

/* The generic programs (memwatch.bpf.c): arguments by number, 1-based;
 * size is arg[size] * arg[count] when count is not 0. */
#define XALLOC(f, size, count)                                               \
	{f, 0, PC_API, MW_COOKIE(0, size, count), PROG(xalloc_enter),        \
	 PROG(alloc_exit)}
#define XREALLOC(f, ptr, size, count)                                        \
	{f, 0, PC_API, MW_COOKIE(ptr, size, count), PROG(xrealloc_enter),    \
	 PROG(realloc_exit)}
#define WRAP(f) {f, 0, PC_WRAP, 0, PROG(wrap_enter), 0}
#define XFREE(f, ptr)                                                        \
	{f, 0, PC_API, MW_COOKIE(ptr, 0, 0), PROG(xfree_enter),              \
	 PROG(xfree_exit)}

/*
 * Offsets are stored +1 so that 0 means "no program".
 * Attach order matters on a running process: return probes go first, then
 * the free-like entries, then the rest (see attach_reqs()): every block we
 * see allocated is also seen freed; otherwise tcache's LIFO reuse hands
 * out addresses we still believe live.
 * Functions at one address (aliases: mimalloc's mi_malloc is malloc) are
 * probed once, as the first entry naming them: malloc and free first.
 */
static const struct probe probes[] = {
	{"free", 1, PC_MALLOC, 0, PROG(free_enter), 0},
	{"malloc", 1, PC_MALLOC, 0, PROG(malloc_enter), PROG(alloc_exit)},
	{"calloc", 1, PC_MALLOC, 0, PROG(calloc_enter), PROG(alloc_exit)},
	{"realloc", 1, PC_MALLOC, 0, PROG(realloc_enter), PROG(realloc_exit)},
	{"reallocarray", 0, PC_MALLOC, 0, PROG(reallocarray_enter),
	 PROG(realloc_exit)},
	{"posix_memalign", 0, PC_MALLOC, 0, PROG(posix_memalign_enter),
	 PROG(posix_memalign_exit)},
	{"aligned_alloc", 0, PC_MALLOC, 0, PROG(aligned_enter),
	 PROG(alloc_exit)},
	{"memalign", 0, PC_MALLOC, 0, PROG(aligned_enter), PROG(alloc_exit)},
	{"valloc", 0, PC_MALLOC, 0, PROG(malloc_enter), PROG(alloc_exit)},
	{"pvalloc", 0, PC_MALLOC, 0, PROG(malloc_enter), PROG(alloc_exit)},
	{"pthread_key_create", 1, PC_LIBC, 0, PROG(key_create_enter),
	 PROG(key_create_exit)},
	{"pthread_key_delete", 1, PC_LIBC, 0, PROG(key_delete_enter), 0},
	{"pthread_setspecific", 1, PC_LIBC, 0, PROG(setspecific_enter), 0},
	/* In libc since glibc 2.34; older programs get them from libdl,
	 * which is not probed (yet): no module events there. */
	{"dlopen", 0, PC_LIBC, 0, PROG(dlopen_enter), PROG(dlopen_exit)},
	{"dlclose", 0, PC_LIBC, 0, PROG(dlclose_enter), PROG(dlclose_exit)},
	/*
	 * C++ operators, where an allocator defines them: jemalloc, tcmalloc
	 * and mimalloc inline their fast path into operator new and delete,
	 * which then never reach malloc. libstdc++'s own operators call
	 * malloc and free, so they are not probed. Sized delete takes the
	 * size second: the block is the first argument of every delete.
	 */
	XALLOC("_Znwm", 1, 0),
	XALLOC("_Znam", 1, 0),
	XALLOC("_ZnwmRKSt9nothrow_t", 1, 0),
	XALLOC("_ZnamRKSt9nothrow_t", 1, 0),
	XALLOC("_ZnwmSt11align_val_t", 1, 0),
	XALLOC("_ZnamSt11align_val_t", 1, 0),
	XALLOC("_ZnwmSt11align_val_tRKSt9nothrow_t", 1, 0),
	XALLOC("_ZnamSt11align_val_tRKSt9nothrow_t", 1, 0),
	XFREE("_ZdlPv", 1),
	XFREE("_ZdaPv", 1),
	XFREE("_ZdlPvm", 1),
	XFREE("_ZdaPvm", 1),
	XFREE("_ZdlPvRKSt9nothrow_t", 1),
	XFREE("_ZdaPvRKSt9nothrow_t", 1),
	XFREE("_ZdlPvSt11align_val_t", 1),
	XFREE("_ZdaPvSt11align_val_t", 1),
	XFREE("_ZdlPvmSt11align_val_t", 1),
	XFREE("_ZdaPvmSt11align_val_t", 1),
	XFREE("_ZdlPvSt11align_val_tRKSt9nothrow_t", 1),
	XFREE("_ZdaPvSt11align_val_tRKSt9nothrow_t", 1),
	/* jemalloc's own API, unprefixed (Debian) and with the je_ prefix a
	 * program embedding jemalloc gives it (Redis). */
	XALLOC("mallocx", 1, 0),
	XREALLOC("rallocx", 1, 2, 0),
	XFREE("dallocx", 1),
	XFREE("sdallocx", 1),
	XALLOC("je_malloc", 1, 0),
	XALLOC("je_calloc", 2, 1),
	XREALLOC("je_realloc", 1, 2, 0),
	XFREE("je_free", 1),
	{"je_posix_memalign", 0, PC_API, 0, PROG(posix_memalign_enter),
	 PROG(posix_memalign_exit)},
	XALLOC("je_aligned_alloc", 2, 0),
	XALLOC("je_memalign", 2, 0),
	XALLOC("je_valloc", 1, 0),
	XALLOC("je_mallocx", 1, 0),
	XREALLOC("je_rallocx", 1, 2, 0),
	XFREE("je_dallocx", 1),
	XFREE("je_sdallocx", 1),
	/* mimalloc's API: most of it are aliases or thin wrappers of the
	 * above; the heap variants take the heap first. */
	XALLOC("mi_malloc", 1, 0),
	XALLOC("mi_zalloc", 1, 0),
	XALLOC("mi_calloc", 2, 1),
	XALLOC("mi_mallocn", 2, 1),
	XALLOC("mi_malloc_small", 1, 0),
	XALLOC("mi_zalloc_small", 1, 0),
	XALLOC("mi_malloc_aligned", 1, 0),
	XALLOC("mi_malloc_aligned_at", 1, 0),
	XALLOC("mi_zalloc_aligned", 1, 0),
	XALLOC("mi_zalloc_aligned_at", 1, 0),
	XALLOC("mi_calloc_aligned", 2, 1),
	XALLOC("mi_calloc_aligned_at", 2, 1),
	XALLOC("mi_new", 1, 0),
	XALLOC("mi_new_aligned", 1, 0),
	XALLOC("mi_new_nothrow", 1, 0),
	XALLOC("mi_new_aligned_nothrow", 1, 0),
	XALLOC("mi_new_n", 2, 1),
	XALLOC("mi_heap_malloc", 2, 0),
	XALLOC("mi_heap_zalloc", 2, 0),
	XALLOC("mi_heap_calloc", 3, 2),
	XALLOC("mi_heap_mallocn", 3, 2),
	XALLOC("mi_heap_malloc_small", 2, 0),
	XALLOC("mi_heap_malloc_aligned", 2, 0),
	XALLOC("mi_heap_zalloc_aligned", 2, 0),
	XREALLOC("mi_realloc", 1, 2, 0),
	XREALLOC("mi_reallocf", 1, 2, 0),
	XREALLOC("mi_rezalloc", 1, 2, 0),
	XREALLOC("mi_reallocn", 1, 3, 2),
	XREALLOC("mi_recalloc", 1, 3, 2),
	XREALLOC("mi_realloc_aligned", 1, 2, 0),
	XREALLOC("mi_rezalloc_aligned", 1, 2, 0),
	XREALLOC("mi_heap_realloc", 2, 3, 0),
	XREALLOC("mi_heap_reallocf", 2, 3, 0),
	XREALLOC("mi_heap_rezalloc", 2, 3, 0),
	XREALLOC("mi_new_realloc", 1, 2, 0),
	XREALLOC("mi_new_reallocn", 1, 3, 2),
	XFREE("mi_free", 1),
	XFREE("mi_free_size", 1),
	XFREE("mi_free_aligned", 1),
	XFREE("mi_free_size_aligned", 1),
	XFREE("mi_cfree", 1),
	/* Wrappers that call malloc for their caller and keep no frame
	 * pointer, so that a stack walk from malloc skips the caller (see
	 * wrap_enter): libstdc++'s and libc++'s global operator new, which
	 * an allocator that defines its own replaces (PC_API above), and
	 * glibc's strdup. */
	WRAP("_Znwm"),
	WRAP("_Znam"),
	WRAP("_ZnwmRKSt9nothrow_t"),
	WRAP("_ZnamRKSt9nothrow_t"),
	WRAP("_ZnwmSt11align_val_t"),
	WRAP("_ZnamSt11align_val_t"),
	WRAP("_ZnwmSt11align_val_tRKSt9nothrow_t"),
	WRAP("_ZnamSt11align_val_tRKSt9nothrow_t"),
	WRAP("strdup"),
	WRAP("strndup"),
};

#define MAX_MODULES 8 /* libc and allocators probed per target */
#define LIB_DIR "/usr/lib/x86_64-linux-gnu/"

#define NPROBES (sizeof(probes) / sizeof(probes[0]))
#define MAX_CUSTOM 32 /* --alloc, --realloc and --free functions */

struct target {
	uint32_t pid;
	bool tls_only;
	int nlinks;
	int cap;
	struct uplink **links;
};

/* A function named by the user (--alloc, --realloc, --free). */
struct custom {
	char func[128];
	struct probe p;
};

/* Offsets of probes[] in a file, by its identity: every process on a
 * host usually maps the same libc and allocators. */
struct sym_cache {
	dev_t dev;
	ino_t ino;
	uint64_t offsets[NPROBES];
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
	bool multi; /* uprobe_multi links (uprobe.h) */
	bool floor, at_entry; /* collector_opts.bench_* */
	struct decode_buf dbuf; /* what on_record's events point into */
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
	int ncpus;
	char why[PATH_MAX + 128];
};

static struct bpf_program *prog_at(struct memwatch_bpf *skel, size_t off)
{
	return *(struct bpf_program **)((char *)skel + off - 1);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t collector__wall(const struct collector *c, uint64_t mono_ns)
{
	return mono_ns + c->wall_offset;
}

int collector__mm_error(const struct collector *c)
{
	return c->mm_err;
}

uint64_t collector__now(const struct collector *c)
{
	return collector__wall(c, clock_ns(CLOCK_MONOTONIC));
}

/* Fill a module event from its record: the span of its mappings from the
 * ELF file itself, as the program may have unmapped it by now. */
static void module_event(const struct mw_path_record *m, struct mw_event *ev)
{
	char file[PATH_MAX];
	uint64_t lo, hi;

	if (m->path[0] != '/')
		return;
	snprintf(file, sizeof(file), "/proc/%u/root%s", m->r.pid, m->path);
	if (elfsym__layout(file, &lo, &hi) && elfsym__layout(m->path, &lo, &hi))
		return;
	ev->base = m->r.addr;
	ev->addr = m->r.addr + lo;
	ev->size = hi - lo;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct collector *c = ctx;
	struct mw_event ev;

	/* Made after a loss not yet taken: the loss goes first, so that
	 * the process is known incomplete before this event is judged. */
	if (size >= sizeof(struct mw_record) &&
	    (int32_t)(((const struct mw_record *)data)->lost_seq -
		      c->lost_seq) > 0)
		collector__take_lost(c);
	if (decode__record(data, size, c->wall_offset, &c->dbuf, &ev))
		return 0; /* not ours to interpret: skip, never crash */
	if (ev.path) /* a module's: where it is mapped */
		module_event(&c->dbuf.module, &ev);
	c->cb(c->ctx, &ev);
	return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	return 0;
}

static int libbpf_debug(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	return vfprintf(stderr, fmt, ap);
}

struct collector *collector__new(const struct collector_opts *opts,
				 collector_cb cb, void *ctx)
{
	struct collector *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return NULL;
	/* libbpf reports failures we handle and log ourselves. */
	libbpf_set_print(opts->debug ? libbpf_debug : libbpf_quiet);
	c->cb = cb;
	c->ctx = ctx;
	c->max_targets = (int)opts->max_targets; /* 65536 at most: options.c */
	c->floor = opts->bench_floor;
	c->at_entry = opts->bench_at_entry;
	c->ncpus = libbpf_num_possible_cpus();
	c->targets = calloc(opts->max_targets, sizeof(*c->targets));
	c->wall_offset = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	if (!c->targets || c->ncpus <= 0) {
		err = c->ncpus < 0 ? c->ncpus : -ENOMEM;
		goto fail;
	}
	c->skel = memwatch_bpf__open();
	if (!c->skel) {
		err = -errno;
		goto fail;
	}
	bpf_map__set_max_entries(c->skel->maps.events, opts->ringbuf_bytes);
	bpf_map__set_max_entries(c->skel->maps.targets, opts->max_targets);
	bpf_map__set_max_entries(c->skel->maps.pending, opts->max_pending);
	/* One entry per target, and as many again for processes that
	 * lose records before they are attached (their exec is reported)
	 * or after: such entries are taken and removed at once. */
	c->max_lost = opts->max_targets * 2;
	bpf_map__set_max_entries(c->skel->maps.lost, c->max_lost);
	hmap__init(&c->lost_taken);
	c->lost_keys = calloc(c->max_lost, sizeof(*c->lost_keys));
	if (!c->lost_keys) {
		err = -ENOMEM;
		goto fail;
	}
	c->skel->rodata->wakeup_bytes = opts->ringbuf_bytes / 16;
	c->skel->rodata->stack_frames = opts->stack_frames;
	/* In a pid namespace of its own (a container), memwatchd names
	 * processes as it sees them: the programs translate (cur_ids). The
	 * initial namespace's inode is fixed (PROC_PID_INIT_INO). */
	{
		struct stat ns;

		if (!stat("/proc/self/ns/pid", &ns) &&
		    ns.st_ino != 0xEFFFFFFCu) {
			c->skel->rodata->pidns_dev = ns.st_dev;
			c->skel->rodata->pidns_ino = ns.st_ino;
		}
	}
	c->multi = uprobe__prepare(c->skel->obj) > 0;
	err = memwatch_bpf__load(c->skel);
	if (err)
		goto fail;
	c->skel->links.on_fork =
		bpf_program__attach(c->skel->progs.on_fork);
	c->skel->links.on_exit = bpf_program__attach(c->skel->progs.on_exit);
	c->skel->links.on_exec = bpf_program__attach(c->skel->progs.on_exec);

	if (!c->skel->links.on_fork || !c->skel->links.on_exit ||
	    !c->skel->links.on_exec) {
		err = -errno;
		goto fail;
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events), on_record,
				 c, NULL);
	if (!c->rb) {
		err = -errno;
		goto fail;
	}
	return c;
fail:
	collector__free(c);
	errno = -err;
	return NULL;
}

static void target_unlink(struct target *t)
{
	uprobe__detach_all(t->links, t->nlinks);
	free(t->links);
	t->links = NULL;
	t->nlinks = t->cap = 0;
}

void collector__free(struct collector *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->ntargets; i++)
		target_unlink(&c->targets[i]);
	ring_buffer__free(c->rb);
	memwatch_bpf__destroy(c->skel);
	hmap__fini(&c->lost_taken);
	free(c->lost_keys);
	free(c->targets);
	free(c);
}

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

static bool class_in(int kind, int cls)
{
	switch (kind) {
	case MOD_LIBC:
		return cls == PC_LIBC || cls == PC_MALLOC || cls == PC_WRAP;
	case MOD_ALLOCATOR:
		return cls == PC_MALLOC || cls == PC_API;
	default:
		return cls == PC_WRAP;
	}
}

/* The kind of module a library is by its file name, -1 if none. */
static int module_kind(const char *base)
{
	if (allocator__of_file(base))
		return MOD_ALLOCATOR;
	if (!strncmp(base, "libstdc++.so", 12) || !strncmp(base, "libc++.so", 9))
		return MOD_RUNTIME;
	return -1;
}

static int add_module(struct module_path *mods, int n, const char *path,
		      int kind)
{
	struct stat a, b;

	if (n == MAX_MODULES || stat(path, &a))
		return n;
	for (int i = 0; i < n; i++)
		if (!stat(mods[i].path, &b) && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			return n;
	snprintf(mods[n].path, sizeof(mods[n].path), "%s", path);
	mods[n].kind = kind;
	mods[n].lenient = 0;
	return n + 1;
}

struct maps_scan {
	uint32_t pid;
	struct module_path *mods;
	int n;
	int have_libc;
};

static int module_map(void *ctx, const struct procfs_map *m)
{
	struct maps_scan *ms = ctx;
	char path[PATH_MAX];
	const char *base;

	if (m->path[0] != '/')
		return 0;
	base = strrchr(m->path, '/') + 1;
	snprintf(path, sizeof(path), "/proc/%u/root%s", ms->pid, m->path);
	if (!ms->have_libc && glibc__is_libc(base)) {
		snprintf(ms->mods[0].path, sizeof(ms->mods[0].path), "%s", path);
		ms->mods[0].kind = MOD_LIBC;
		ms->have_libc = 1;
	} else if (module_kind(base) >= 0) {
		ms->n = add_module(ms->mods, ms->n, path, module_kind(base));
	}
	return 0;
}

/*
 * The modules to probe in pid, libc first, from its maps (through
 * /proc/PID/root, for processes in other mount namespaces). Returns how
 * many, or -errno; -ENOENT without a glibc.
 */
static int find_modules(uint32_t pid, struct module_path *mods)
{
	struct maps_scan ms = {.pid = pid, .mods = mods, .n = 1};
	int err = procfs__each_map(pid, module_map, &ms);

	if (err)
		return err;
	if (!ms.have_libc)
		return -ENOENT;
	return ms.n;
}

static struct target *target_find(struct collector *c, uint32_t pid)
{
	for (int i = 0; i < c->ntargets; i++)
		if (c->targets[i].pid == pid)
			return &c->targets[i];
	return NULL;
}

static int lib_in_root(uint32_t pid, const char *name, char *out, size_t len);

/* The anonymous-memory programs' links, in skeleton order. */
static struct bpf_link **mm_link(struct collector *c, int i)
{
	struct bpf_link **links[] = {
		&c->skel->links.mmap_exit, &c->skel->links.munmap_exit,
		&c->skel->links.brk_exit, &c->skel->links.mremap_exit};

	return links[i];
}

static struct bpf_program *mm_prog(struct collector *c, int i)
{
	struct bpf_program *progs[] = {
		c->skel->progs.mmap_exit, c->skel->progs.munmap_exit,
		c->skel->progs.brk_exit, c->skel->progs.mremap_exit};

	return progs[i];
}

#define NMM 4
#define TRACEFS "/sys/kernel/tracing"

static void link_destroy(void *l)
{
	bpf_link__destroy(l);
}

/* Remove the tracepoints, at once (parallel.h): removing each waits. */
static void mm_unlink(struct collector *c)
{
	struct bpf_link *l[NMM];

	for (int i = 0; i < NMM; i++) {
		l[i] = *mm_link(c, i);
		*mm_link(c, i) = NULL;
	}
	parallel__each(link_destroy, (void *const *)l, NMM);
}

/*
 * The anonymous-memory tracepoints are attached while some process is
 * traced in full mode (they feed the allocator-retention rule, which TLS
 * mode does not run), and removed with the last: while any syscall
 * tracepoint is on, every system call on the host takes the kernel's
 * slow path. tracefs is mounted if it is not: the tracepoints' ids are
 * read there.
 */
static int mm_update(struct collector *c)
{
	bool want = false;

	for (int i = 0; i < c->ntargets; i++)
		want |= !c->targets[i].tls_only;
	if (want == (*mm_link(c, 0) != NULL))
		return 0;
	mm_unlink(c);
	if (!want)
		return 0;
	if (access(TRACEFS "/events", F_OK))
		mount("nodev", TRACEFS, "tracefs", 0, NULL);
	for (int i = 0; i < NMM; i++) {
		*mm_link(c, i) = bpf_program__attach(mm_prog(c, i));
		if (!*mm_link(c, i)) {
			int err = -errno;

			mm_unlink(c);
			return err;
		}
	}
	return 0;
}

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

static int add_req(struct req *reqs, int n, const struct probe *p,
		   uint64_t off)
{
	/* Return probe first: an entry without its return would leave a
	 * stale pending entry. */
	if (p->exit_off)
		reqs[n++] = (struct req){p->exit_off, off, p->cookie, p->func,
					 1, 0, p->required};
	reqs[n++] = (struct req){
		p->enter_off, off, p->cookie, p->func, 0,
		p->enter_off == PROG(free_enter) ||
				p->enter_off == PROG(xfree_enter)
			? 1
			: 2,
		p->required};
	return n;
}

static int req_cmp(const void *a, const void *b)
{
	const struct req *x = a, *y = b;

	if (x->phase != y->phase)
		return x->phase - y->phase;
	if (x->prog_off != y->prog_off)
		return x->prog_off < y->prog_off ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

static int target_add_link(struct target *t, struct uplink *l)
{
	if (t->nlinks == t->cap) {
		int cap = t->cap ? 2 * t->cap : 16;
		/* An array of pointers: sizeof(*links) is a pointer's size,
		 * as meant, which clang-tidy 14 takes for a mistake. */
		struct uplink **links =
		    /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
		    realloc(t->links, (size_t)cap * sizeof(*links));

		if (!links)
			return -ENOMEM;
		t->links = links;
		t->cap = cap;
	}
	t->links[t->nlinks++] = l;
	return 0;
}

/*
 * Attach reqs[0..n) in the file at path: one link per program, in phase
 * order. A program that fails to attach fails the whole call when one of
 * its functions is required, and is skipped otherwise.
 */
static int attach_reqs(struct collector *c, struct target *t,
		       const char *path, struct req *reqs, int n)
{
	uint64_t offs[n > 0 ? n : 1], cookies[n > 0 ? n : 1];

	qsort(reqs, (size_t)n, sizeof(*reqs), req_cmp);
	for (int i = 0, j; i < n; i = j) {
		const char *required = NULL;
		struct uplink *l;
		int k = 0, err;

		for (j = i; j < n && reqs[j].prog_off == reqs[i].prog_off &&
			    reqs[j].ret == reqs[i].ret;
		     j++) {
			offs[k] = reqs[j].off;
			cookies[k++] = reqs[j].cookie;
			if (reqs[j].required && !required)
				required = reqs[j].func;
		}
		l = uprobe__attach(
			c->floor ? (reqs[i].ret ? c->skel->progs.empty_exit
						: c->skel->progs.empty_enter)
				 : prog_at(c->skel, reqs[i].prog_off),
			c->multi, t->pid, path, offs, cookies, k, reqs[i].ret);
		if (!l) {
			err = -errno;
			if (!required)
				continue;
			snprintf(c->why, sizeof(c->why),
				 "cannot attach to %s in '%s': %s", required,
				 path, strerror(-err));
			return err;
		}
		if ((err = target_add_link(t, l))) {
			uprobe__detach(l);
			return err;
		}
	}
	return 0;
}

/* The offsets of probes[] in the ELF file at path, cached. */
static const uint64_t *resolve(struct collector *c, const char *path)
{
	const char *names[NPROBES];
	struct sym_cache *e;
	struct stat st;

	if (stat(path, &st))
		return NULL;
	for (int i = 0; i < MAX_MODULES; i++)
		if (c->cache[i].ino && c->cache[i].dev == st.st_dev &&
		    c->cache[i].ino == st.st_ino)
			return c->cache[i].offsets;
	e = &c->cache[c->cache_next++ % MAX_MODULES];
	for (size_t i = 0; i < NPROBES; i++)
		names[i] = probes[i].func;
	if (elfsym__resolve(path, names, NPROBES, e->offsets)) {
		e->ino = 0;
		return NULL;
	}
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	return e->offsets;
}

/* The register that holds argument n (1-based) on x86-64. */
static uint32_t arg_reg(unsigned n)
{
	static const uint8_t regs[] = {INSN_RDI, INSN_RSI, INSN_RDX,
				       INSN_RCX, INSN_R8,  INSN_R9};

	return n >= 1 && n <= 6 ? INSN_REG(regs[n - 1]) : 0;
}

/*
 * The registers p's entry program reads at its probe (see insn.h). A
 * return probe shares the entry's breakpoint and needs the return
 * address at [rsp], which insn__place always keeps.
 */
static uint32_t probe_keep(const struct probe *p)
{
	const uint32_t args = arg_reg(1) | arg_reg(2) | arg_reg(3) |
			      arg_reg(4) | arg_reg(5) | arg_reg(6);
	size_t e = p->enter_off;

	if (e == PROG(free_enter) || e == PROG(malloc_enter) ||
	    e == PROG(key_delete_enter) || e == PROG(dlclose_enter))
		return arg_reg(1);
	if (e == PROG(calloc_enter) || e == PROG(aligned_enter) ||
	    e == PROG(realloc_enter) || e == PROG(key_create_enter))
		return arg_reg(1) | arg_reg(2);
	if (e == PROG(reallocarray_enter) || e == PROG(posix_memalign_enter))
		return arg_reg(1) | arg_reg(2) | arg_reg(3);
	/* setspecific_enter walks the stack by frame pointer (%rbp). */
	if (e == PROG(setspecific_enter))
		return arg_reg(1) | arg_reg(2) | INSN_REG(5);
	if (e == PROG(wrap_enter) || e == PROG(dlopen_enter))
		return 0;
	if (e == PROG(xalloc_enter) || e == PROG(xrealloc_enter) ||
	    e == PROG(xfree_enter))
		return arg_reg(MW_COOKIE_PTR(p->cookie)) |
		       arg_reg(MW_COOKIE_SIZE(p->cookie)) |
		       arg_reg(MW_COOKIE_COUNT(p->cookie));
	return args;
}

/* The argument number register r passes (1-6), or 0. */
static unsigned reg_arg(unsigned r)
{
	static const uint8_t regs[] = {INSN_RDI, INSN_RSI, INSN_RDX,
				       INSN_RCX, INSN_R8,  INSN_R9};

	for (unsigned i = 0; i < 6; i++)
		if (regs[i] == r)
			return i + 1;
	return 0;
}

/*
 * p as a generic program (xalloc_enter, xrealloc_enter, xfree_enter)
 * whose cookie names where its arguments are: the fixed malloc-family
 * programs read fixed registers. Returns false for those that cannot be.
 */
static bool as_generic(struct probe *p)
{
	size_t e = p->enter_off;

	if (e == PROG(xalloc_enter) || e == PROG(xrealloc_enter) ||
	    e == PROG(xfree_enter))
		return true;
	if (e == PROG(malloc_enter))
		p->cookie = MW_COOKIE(0, 1, 0);
	else if (e == PROG(calloc_enter))
		p->cookie = MW_COOKIE(0, 2, 1);
	else if (e == PROG(aligned_enter))
		p->cookie = MW_COOKIE(0, 2, 0);
	else if (e == PROG(realloc_enter))
		p->cookie = MW_COOKIE(1, 2, 0);
	else if (e == PROG(reallocarray_enter))
		p->cookie = MW_COOKIE(1, 3, 2);
	else
		return false;
	p->enter_off = e == PROG(realloc_enter) || e == PROG(reallocarray_enter)
			       ? PROG(xrealloc_enter)
			       : PROG(xalloc_enter);
	return true;
}

/* Argument number n (0: none) of a probe whose registers moved. */
static unsigned moved_arg(unsigned n, const uint8_t at[16])
{
	return n ? reg_arg(at[(arg_reg(n) ? __builtin_ctz(arg_reg(n)) : 0)])
		 : 0;
}

/*
 * Where in the function at file offset off of path p's probes cost
 * least: its first emulated instruction that keeps what p reads, or its
 * entry. Where an argument register is overwritten first but a copy of
 * it survives in another argument register (mimalloc's malloc moves its
 * size to %rsi), p becomes a generic program reading it there.
 */
static uint64_t place(const char *path, uint64_t off, struct probe *p)
{
	struct probe g = *p;
	uint8_t code[64], at[16];
	size_t to;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return off;
	n = pread(fd, code, sizeof(code), (off_t)off);
	close(fd);
	if (n <= 0)
		return off;
	to = insn__place(code, (size_t)n, probe_keep(p));
	if (to || !as_generic(&g))
		return off + to;
	to = insn__place_moved(code, (size_t)n, probe_keep(p), at);
	if (!to)
		return off;
	{
		unsigned ptr = moved_arg(MW_COOKIE_PTR(g.cookie), at);
		unsigned size = moved_arg(MW_COOKIE_SIZE(g.cookie), at);
		unsigned count = moved_arg(MW_COOKIE_COUNT(g.cookie), at);

		/* Every argument it reads must be in an argument register. */
		if ((MW_COOKIE_PTR(g.cookie) && !ptr) ||
		    (MW_COOKIE_SIZE(g.cookie) && !size) ||
		    (MW_COOKIE_COUNT(g.cookie) && !count))
			return off;
		g.cookie = MW_COOKIE(ptr, size, count);
	}
	*p = g;
	return off + to;
}

/* probes[] indexes of the malloc/free pairs an allocator exports: it
 * must have one, or it is not allocating anything. */
static bool has_pair(const uint64_t *offs)
{
	static const char *const pairs[][2] = {
		{"malloc", "free"},
		{"je_malloc", "je_free"},
		{"mi_malloc", "mi_free"},
	};
	int found = 0;

	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		found = 0;
		for (size_t i = 0; i < NPROBES; i++)
			if (offs[i] && (!strcmp(probes[i].func, pairs[k][0]) ||
					!strcmp(probes[i].func, pairs[k][1])))
				found++;
		if (found == 2)
			return true;
	}
	return false;
}

/*
 * Attach the probes of one module: all of them in libc, the malloc family
 * and the allocator API in an allocator (which must export a malloc/free
 * pair, or it is not replacing anything). A required probe missing in
 * libc fails.
 */
static int attach_module(struct collector *c, struct target *t,
			 const struct module_path *m)
{
	uint64_t offs[NPROBES];
	struct req reqs[2 * NPROBES];
	const uint64_t *o = resolve(c, m->path);
	int n = 0;

	if (!o)
		return m->kind != MOD_LIBC ? 0 : -ENOEXEC;
	/* A copy: resolving another file may reuse the cache slot. */
	memcpy(offs, o, sizeof(offs));
	if (m->kind == MOD_ALLOCATOR && !has_pair(offs))
		return 0;
	for (size_t i = 0; i < NPROBES; i++) {
		const struct probe *p = &probes[i];
		uint64_t off = offs[i];
		int dup = 0;

		if (!class_in(m->kind, p->cls))
			continue;
		if (t->tls_only && p->cls != PC_LIBC)
			continue;
		if (!off) {
			if (p->required && m->kind == MOD_LIBC && !m->lenient) {
				snprintf(c->why, sizeof(c->why),
					 "no %s in '%s'", p->func, m->path);
				return -ENOENT;
			}
			continue;
		}
		/* Aliases share an entry: probe it once or it reports
		 * every call twice. */
		for (size_t j = 0; j < i && !dup; j++)
			dup = offs[j] == off && class_in(m->kind, probes[j].cls) &&
			      !(t->tls_only && probes[j].cls != PC_LIBC);
		if (!dup) {
			struct probe q = *p;

			if (!c->at_entry)
				off = place(m->path, off, &q);
			n = add_req(reqs, n, &q, off);
		}
	}
	if (m->lenient)
		for (int i = 0; i < n; i++)
			reqs[i].required = 0;
	return attach_reqs(c, t, m->path, reqs, n);
}

/* --- functions the user named (--alloc, --realloc, --free) -------------- */

int collector__add_function(struct collector *c, enum collector_fn kind,
			    const char *func, unsigned ptr_arg,
			    unsigned size_arg, unsigned count_arg)
{
	struct custom *u;

	if (ptr_arg > MW_MAX_ARG || size_arg > MW_MAX_ARG ||
	    count_arg > MW_MAX_ARG || !func[0] ||
	    strlen(func) >= sizeof(u->func) ||
	    (kind != COLLECTOR_FREE && !size_arg) ||
	    (kind != COLLECTOR_ALLOC && !ptr_arg))
		return -EINVAL;
	if (c->ncustom == MAX_CUSTOM)
		return -E2BIG;
	u = &c->custom[c->ncustom++];
	snprintf(u->func, sizeof(u->func), "%s", func);
	u->p.func = u->func;
	u->p.cls = PC_API;
	u->p.cookie = MW_COOKIE(ptr_arg, size_arg, count_arg);
	switch (kind) {
	case COLLECTOR_ALLOC:
		u->p.enter_off = PROG(xalloc_enter);
		u->p.exit_off = PROG(alloc_exit);
		break;
	case COLLECTOR_REALLOC:
		u->p.enter_off = PROG(xrealloc_enter);
		u->p.exit_off = PROG(realloc_exit);
		break;
	case COLLECTOR_FREE:
		u->p.enter_off = PROG(xfree_enter);
		u->p.exit_off = PROG(xfree_exit);
		break;
	}
	return 0;
}

/* Files already looked at for one target, by identity. */
struct seen {
	int n;
	struct {
		dev_t dev;
		ino_t ino;
	} f[256];
};

static bool seen_before(struct seen *s, const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return true;
	for (int i = 0; i < s->n; i++)
		if (s->f[i].dev == st.st_dev && s->f[i].ino == st.st_ino)
			return true;
	if (s->n < (int)(sizeof(s->f) / sizeof(s->f[0]))) {
		s->f[s->n].dev = st.st_dev;
		s->f[s->n++].ino = st.st_ino;
	}
	return false;
}

/* Probe the user's functions that the ELF file at path defines. */
static int attach_custom_file(struct collector *c, struct target *t,
			      struct seen *s, const char *path)
{
	const char *names[MAX_CUSTOM];
	uint64_t offs[MAX_CUSTOM];
	struct req reqs[2 * MAX_CUSTOM];
	int n = 0;

	if (seen_before(s, path))
		return 0;
	for (int i = 0; i < c->ncustom; i++)
		names[i] = c->custom[i].func;
	if (elfsym__resolve(path, names, c->ncustom, offs))
		return 0; /* not an ELF file we can read: nothing to probe */
	for (int i = 0; i < c->ncustom; i++) {
		struct probe q = c->custom[i].p;

		if (!offs[i])
			continue;
		n = add_req(reqs, n, &q,
			    c->at_entry ? offs[i] : place(path, offs[i], &q));
	}
	return attach_reqs(c, t, path, reqs, n);
}

struct custom_scan {
	struct collector *c;
	struct target *t;
	struct seen seen;
	int err;
};

static int custom_needed(void *ctx, const char *name)
{
	struct custom_scan *cs = ctx;
	const char *base = strrchr(name, '/');
	char path[PATH_MAX];

	base = base ? base + 1 : name;
	if (name[0] == '/')
		snprintf(path, sizeof(path), "/proc/%u/root%s", cs->t->pid,
			 name);
	else if (lib_in_root(cs->t->pid, base, path, sizeof(path)))
		return 0;
	cs->err = attach_custom_file(cs->c, cs->t, &cs->seen, path);
	return cs->err;
}

static int custom_map(void *ctx, const struct procfs_map *m)
{
	struct custom_scan *cs = ctx;
	char path[PATH_MAX];

	if (m->path[0] != '/')
		return 0;
	snprintf(path, sizeof(path), "/proc/%u/root%s", cs->t->pid, m->path);
	cs->err = attach_custom_file(cs->c, cs->t, &cs->seen, path);
	return cs->err;
}

/*
 * Probe the user's functions wherever pid has them: its executable and
 * every file it maps; for a program the loader has not run yet (exe set),
 * that executable and the libraries it needs.
 */
static int attach_custom(struct collector *c, struct target *t,
			 const char *exe)
{
	struct custom_scan *cs;
	char path[PATH_MAX];
	int err;

	if (!c->ncustom || t->tls_only)
		return 0;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	cs->c = c;
	cs->t = t;
	if (!exe) {
		snprintf(path, sizeof(path), "/proc/%u/exe", t->pid);
		exe = path;
	}
	cs->err = attach_custom_file(c, t, &cs->seen, exe);
	if (!cs->err)
		elfsym__each_needed(exe, custom_needed, cs);
	if (!cs->err)
		procfs__each_map(t->pid, custom_map, cs);
	err = cs->err;
	free(cs);
	return err;
}

static int find_exe(const char *name, char *out, size_t len);
static int plan_modules(uint32_t pid, struct module_path *mods);

/*
 * An executable that carries its own malloc and free: a static binary
 * (glibc's malloc, TLS and all: probed like libc), or a dynamic one with
 * an allocator linked in (probed for the malloc family, next to libc).
 * Returns 1 and fills m when path is one, else 0.
 */
static int exe_module(const char *path, struct module_path *m)
{
	static const char *const names[] = {"malloc", "free", "je_malloc",
					    "je_free", "mi_malloc", "mi_free"};
	uint64_t offs[6];
	int dyn, pair = 0;

	if (elfsym__resolve(path, names, 6, offs))
		return 0;
	for (int i = 0; i < 6; i += 2)
		pair |= offs[i] && offs[i + 1];
	dyn = pair ? elfsym__dynamic(path) : -1;
	if (dyn < 0)
		return 0;
	/* A static program has glibc's malloc, or none we know. */
	if (!dyn && !(offs[0] && offs[1]))
		return 0;
	snprintf(m->path, sizeof(m->path), "%s", path);
	m->kind = dyn ? MOD_ALLOCATOR : MOD_LIBC;
	m->lenient = 1;
	return 1;
}

int collector__attach(struct collector *c, uint32_t pid, bool tls_only,
		      const char **why)
{
	struct module_path mods[MAX_MODULES];
	struct target *t;
	uint8_t mode = tls_only ? MW_TARGET_TLS : MW_TARGET_FULL;
	int n, err;

	*why = NULL;
	memset(mods, 0, sizeof(mods));
	if (target_find(c, pid))
		return 0;
	if (c->ntargets == c->max_targets) {
		*why = "as many targets as --max-targets allows";
		return -ENOSPC;
	}
	n = find_modules(pid, mods);
	if (n == -ENOENT)
		n = plan_modules(pid, mods);
	if (n == -ENOENT) {
		/* No glibc to come either: a static binary? */
		char exe[64];

		snprintf(exe, sizeof(exe), "/proc/%u/exe", pid);
		if (exe_module(exe, &mods[0]) && mods[0].kind == MOD_LIBC)
			n = 1;
	} else if (n > 0 && n < MAX_MODULES) {
		char exe[64];

		snprintf(exe, sizeof(exe), "/proc/%u/exe", pid);
		n += exe_module(exe, &mods[n]);
	}
	if (n < 0) {
		*why = n == -ENOENT ? "no glibc mapped in the process"
				    : "cannot read its memory map";
		return n;
	}
	if (!resolve(c, mods[0].path)) {
		*why = "cannot read the symbols of its libc";
		return -ENOEXEC;
	}
	t = &c->targets[c->ntargets];
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->tls_only = tls_only;
	/* TLS only: libc's TLS and module functions, no allocator at all. */
	if (tls_only)
		n = 1;
	/* Filter first: probes that fire before the last attach are
	 * accounted like any event of a process we joined mid-run. */
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.targets), &pid, &mode,
				BPF_ANY)) {
		*why = "cannot add it to the targets map";
		return -errno;
	}
	/* Allocators before libc: free goes first in each (see probes[]),
	 * and a replacing allocator's free is the one that runs. */
	snprintf(c->why, sizeof(c->why), "cannot attach its probes");
	for (int i = n - 1; i >= 0; i--) {
		err = attach_module(c, t, &mods[i]);
		if (err) {
			*why = c->why;
			goto fail;
		}
	}
	err = attach_custom(c, t, NULL);
	if (err) {
		*why = c->why;
		goto fail;
	}
	c->ntargets++;
	/* Without them the allocator-retention rule sees nothing: not a
	 * reason to refuse the target. */
	c->mm_err = mm_update(c);
	return 0;
fail:
	target_unlink(t);
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.targets), &pid);
	return err;
}

int collector__detach(struct collector *c, uint32_t pid)
{
	struct target *t = target_find(c, pid);

	if (!t)
		return -ESRCH;
	/* Stop the filter first so a half-detached process emits nothing. */
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.targets), &pid);
	target_unlink(t);
	*t = c->targets[--c->ntargets];
	c->mm_err = mm_update(c);
	return 0;
}

int collector__ntargets(const struct collector *c)
{
	return c->ntargets;
}

uint32_t collector__target(const struct collector *c, int i)
{
	return c->targets[i].pid;
}

int collector__fd(const struct collector *c)
{
	return ring_buffer__epoll_fd(c->rb);
}

int collector__drain(struct collector *c)
{
	int n = ring_buffer__consume(c->rb);

	return n < 0 ? n : 0;
}

/* Hand the loss of count records of pid (0: of nobody known), the first
 * and the latest at first_ts and last_ts (CLOCK_MONOTONIC), to the
 * engine. */
static void lost_feed(struct collector *c, uint32_t pid, uint64_t count,
		      uint64_t first_ts, uint64_t last_ts)
{
	struct mw_event ev = {
		.type = MW_EV_LOST,
		.pid = pid,
		.count = count,
		.ts = collector__wall(c, last_ts),
		.addr = first_ts ? collector__wall(c, first_ts) : 0,
	};

	c->lost_total += count;
	c->cb(c->ctx, &ev);
}

/*
 * Take the losses the kernel side counted since the last call, and feed
 * them as MW_EV_LOST, one per process. loss.seq is read first: the
 * programs bump it after counting, so every loss it stands for is found
 * in the map or in loss.any. An entry of a process that is not a target
 * is taken and removed in one step (BPF_MAP_LOOKUP_AND_DELETE_ELEM), so
 * that a loss counted meanwhile starts a new entry and is never missed.
 */
uint64_t collector__take_lost(struct collector *c)
{
	volatile struct mw_loss *g = &c->skel->bss->loss;
	uint32_t seq = (uint32_t)g->seq, *prev = NULL;
	uint64_t before = c->lost_total, any;
	int fd = bpf_map__fd(c->skel->maps.lost);
	uint32_t n = 0;
	bool short_of_memory = false;

	if (seq == c->lost_seq)
		return 0;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	/* Keys first, then values: removing entries during a walk would
	 * restart it. The map holds max_lost keys at most. */
	while (n < c->max_lost &&
	       !bpf_map_get_next_key(fd, prev, &c->lost_keys[n])) {
		prev = &c->lost_keys[n];
		n++;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pid = c->lost_keys[i];
		uint64_t taken = (uintptr_t)hmap__get(&c->lost_taken, pid);
		bool gone = !target_find(c, pid);
		struct mw_lost l;

		if (gone ? bpf_map_lookup_and_delete_elem(fd, &pid, &l)
			 : bpf_map_lookup_elem(fd, &pid, &l))
			continue;
		if (gone) {
			hmap__del(&c->lost_taken, pid);
		} else if (l.count > taken &&
			   hmap__put(&c->lost_taken, pid,
				     (void *)(uintptr_t)l.count)) {
			/* What is fed is remembered first: fed and then
			 * forgotten (no memory for the entry), it would be
			 * fed again. Left for the next call instead, which
			 * lost_seq left as it was makes happen. */
			short_of_memory = true;
			continue;
		}
		if (l.count > taken)
			lost_feed(c, pid, l.count - taken, l.first_ts,
				  l.last_ts);
	}
	if (!short_of_memory)
		c->lost_seq = seq;
	any = g->any.count;
	if (any > c->any_taken) {
		lost_feed(c, 0, any - c->any_taken, g->any.first_ts,
			  g->any.last_ts);
		c->any_taken = any;
	}
	return c->lost_total - before;
}

_Static_assert(MW_COLLECTOR_COUNTERS == MW_CNT_MAX, "collector.h counters");

void collector__counters(const struct collector *c, uint64_t *out)
{
	uint64_t vals[c->ncpus];

	for (uint32_t idx = 0; idx < MW_CNT_MAX; idx++) {
		out[idx] = 0;
		if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.counters),
					&idx, vals))
			continue;
		for (int i = 0; i < c->ncpus; i++)
			out[idx] += vals[i];
	}
}

void collector__resumed(struct collector *c, uint32_t pid)
{
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.held), &pid);
}

int collector__held_fd(const struct collector *c)
{
	return bpf_map__fd(c->skel->maps.held);
}

int collector__take_missed(struct collector *c,
			   void (*cb)(void *ctx, uint32_t pid, bool tls_only),
			   void *ctx)
{
	int fd = bpf_map__fd(c->skel->maps.missed), n = 0;
	uint32_t pid;
	uint8_t mode;

	/* Each entry is taken and removed in one step; a walk from the
	 * start each time, as removal would restart it anyway. The map is
	 * empty but after a loss: one syscall per tick. */
	while (!bpf_map_get_next_key(fd, NULL, &pid)) {
		if (bpf_map_lookup_and_delete_elem(fd, &pid, &mode))
			break;
		cb(ctx, pid, (mode & MW_TARGET_MODE) == MW_TARGET_TLS);
		n++;
	}
	return n;
}

uint64_t collector__lost_taken(const struct collector *c)
{
	return c->lost_total;
}

/* --- allocators of a program about to start --------------------------- */

struct cmd_scan {
	struct collector *c;
	struct target *t;
	int err;
};

/* name is a preloaded or needed library: probe it if it is an
 * allocator. Bare names are looked up where Debian installs libraries. */
static int scan_lib(void *ctx, const char *name)
{
	struct cmd_scan *cs = ctx;
	struct module_path m = {0};
	const char *base = strrchr(name, '/');

	base = base ? base + 1 : name;
	m.kind = module_kind(base);
	if (m.kind < 0)
		return 0;
	if (name[0] == '/')
		snprintf(m.path, sizeof(m.path), "%s", name);
	else
		snprintf(m.path, sizeof(m.path), LIB_DIR "%s", name);
	if (access(m.path, R_OK))
		return 0;
	cs->err = attach_module(cs->c, cs->t, &m);
	return cs->err;
}

static void scan_preload(struct cmd_scan *cs, const char *list)
{
	char buf[4096], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok_r(buf, " :", &save); tok && !cs->err;
	     tok = strtok_r(NULL, " :", &save))
		scan_lib(cs, tok);
}

/* The executable execvp would run for name. */
static int find_exe(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char buf[4096], *save = NULL;

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK) ? -errno : 0;
	}
	snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/bin:/bin");
	for (char *dir = strtok_r(buf, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", dir, name);
		if (!access(out, X_OK))
			return 0;
	}
	return -ENOENT;
}

int collector__attach_cmd(struct collector *c, uint32_t pid, char *const *cmd)
{
	struct cmd_scan cs = {.c = c, .t = target_find(c, pid)};
	const char *preload = getenv("LD_PRELOAD");
	char exe[PATH_MAX];
	int i = 0;

	if (!cs.t)
		return -ESRCH;
	if (cs.t->tls_only)
		return 0;
	/* `env [-i] [NAME=VALUE]... PROG`: its assignments reach PROG. */
	if (cmd[0] && !strcmp(strrchr(cmd[0], '/') ? strrchr(cmd[0], '/') + 1
						    : cmd[0], "env")) {
		for (i = 1; cmd[i] && (cmd[i][0] == '-' || strchr(cmd[i], '='));
		     i++) {
			if (!strcmp(cmd[i], "-i"))
				preload = NULL;
			else if (!strncmp(cmd[i], "LD_PRELOAD=", 11))
				preload = cmd[i] + 11;
		}
	}
	if (preload)
		scan_preload(&cs, preload);
	if (!cs.err && cmd[i] && !find_exe(cmd[i], exe, sizeof(exe))) {
		struct module_path m;

		elfsym__each_needed(exe, scan_lib, &cs);
		/* Its own malloc: all our probes in it if it is static, the
		 * malloc family if it is dynamic. */
		if (!cs.err && exe_module(exe, &m))
			cs.err = attach_module(c, cs.t, &m);
		if (!cs.err)
			cs.err = attach_custom(c, cs.t, exe);
	}
	return cs.err;
}

/* --- programs just exec'ed: their libraries are not mapped yet ----------- */

struct plan {
	uint32_t pid;
	struct module_path *mods;
	int n;
	int have_libc;
};

/* Where a needed library would be found, inside the process's root. */
static int lib_in_root(uint32_t pid, const char *name, char *out, size_t len)
{
	static const char *const dirs[] = {
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
		"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
		"/lib64", "/usr/lib64", "/lib", "/usr/lib",
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, len, "/proc/%u/root%s/%s", pid, dirs[i], name);
		if (!access(out, R_OK))
			return 0;
	}
	return -ENOENT;
}

static int plan_lib(void *ctx, const char *name)
{
	struct plan *pl = ctx;
	const char *base = strrchr(name, '/');
	char path[PATH_MAX];

	base = base ? base + 1 : name;
	if (!strcmp(base, "libc.so.6") && !pl->have_libc) {
		if (lib_in_root(pl->pid, base, path, sizeof(path)))
			return 0;
		snprintf(pl->mods[0].path, sizeof(pl->mods[0].path), "%s", path);
		pl->mods[0].kind = MOD_LIBC;
		pl->have_libc = 1;
	} else if (module_kind(base) >= 0) {
		if (name[0] == '/')
			snprintf(path, sizeof(path), "/proc/%u/root%s", pl->pid,
				 name);
		else if (lib_in_root(pl->pid, base, path, sizeof(path)))
			return 0;
		pl->n = add_module(pl->mods, pl->n, path, module_kind(base));
	}
	return 0;
}

/*
 * The modules a process that just exec'ed will map, before the loader has
 * mapped them: libc and allocators from its executable's DT_NEEDED and its
 * LD_PRELOAD. Uprobes on a file apply to the mappings made later.
 */
static int plan_modules(uint32_t pid, struct module_path *mods)
{
	struct plan pl = {.pid = pid, .mods = mods, .n = 1};
	char exe[PATH_MAX], env[64], buf[32768];
	ssize_t len;
	FILE *f;

	snprintf(exe, sizeof(exe), "/proc/%u/exe", pid);
	if (elfsym__each_needed(exe, plan_lib, &pl))
		return -ENOENT;
	snprintf(env, sizeof(env), "/proc/%u/environ", pid);
	f = fopen(env, "re");
	if (f) {
		len = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len > 0 ? len : 0] = '\0';
		for (char *v = buf; v < buf + len; v += strlen(v) + 1) {
			char *save = NULL;

			if (strncmp(v, "LD_PRELOAD=", 11))
				continue;
			for (char *t = strtok_r(v + 11, " :", &save); t;
			     t = strtok_r(NULL, " :", &save))
				plan_lib(&pl, t);
			break;
		}
	}
	return pl.have_libc ? pl.n : -ENOENT;
}

/* Add (mode set) or remove (mode 0) a key of a watch map. */
static int watch_update(struct bpf_map *map, const void *key, uint8_t mode)
{
	int fd = bpf_map__fd(map);

	if (!mode)
		return bpf_map_delete_elem(fd, key) ? -errno : 0;
	return bpf_map_update_elem(fd, key, &mode, BPF_ANY) ? -errno : 0;
}

static uint8_t watch_mode(enum collector_watch how)
{
	return how == COLLECTOR_UNWATCH ? 0
	       : how == COLLECTOR_WATCH_TLS ? MW_TARGET_TLS
					     : MW_TARGET_FULL;
}

int collector__watch_exe(struct collector *c, const char *path,
			 enum collector_watch how)
{
	struct mw_watch_exe key = {0};
	struct stat st;

	if (stat(path, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	/* The kernel's own dev_t encoding, as the BPF side reads it. */
	key.dev = ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev);
	key.ino = st.st_ino;
	return watch_update(c->skel->maps.watch_exe, &key, watch_mode(how));
}

int collector__watch_comm(struct collector *c, const char *comm,
			  enum collector_watch how)
{
	char key[MW_COMM_LEN] = {0};

	if (!comm[0] || strlen(comm) >= MW_COMM_LEN)
		return -EINVAL;
	memcpy(key, comm, strlen(comm) + 1);
	return watch_update(c->skel->maps.watch_comm, key, watch_mode(how));
}

int collector__watch_cgroup(struct collector *c, uint64_t id,
			    enum collector_watch how)
{
	return watch_update(c->skel->maps.watch_cgroup, &id, watch_mode(how));
}

int collector__watch_unit(struct collector *c, const char *unit,
			  enum collector_watch how)
{
	char key[MW_UNIT_LEN] = {0};
	const char *base = strrchr(unit, '/');

	base = base ? base + 1 : unit;
	if (!base[0] || strlen(base) >= MW_UNIT_LEN)
		return -EINVAL;
	memcpy(key, base, strlen(base) + 1);
	return watch_update(c->skel->maps.watch_unit, key, watch_mode(how));
}

int collector__follow(struct collector *c, uint32_t pid)
{
	int fd = bpf_map__fd(c->skel->maps.targets);
	uint8_t mode;

	if (bpf_map_lookup_elem(fd, &pid, &mode))
		return -errno;
	mode |= MW_TARGET_FOLLOW;
	if (bpf_map_update_elem(fd, &pid, &mode, BPF_EXIST))
		return -errno;
	return 0;
}
