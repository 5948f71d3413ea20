/*
 * collector.c - the eBPF collector; see collector.h. This file: the
 * object (loading the BPF programs), the ring buffer, and records to
 * events; collector_int.h lists the others.
 *
 * Load order: open -> size maps -> load -> attach. The scheduler
 * tracepoints are attached once for all processes (they filter on the
 * targets map); uprobes are attached per traced pid, so untraced
 * processes never pay a trap.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench.skel.h"
#include "collector_int.h"
#include "decode.h"
#include "elfsym.h"
#include "hash.h"
#include "kfeature.h"
#include "memwatch.h"
#include "memwatch.skel.h"
#include "uprobe.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t collector__wall(const struct collector *c, uint64_t mono_ns)
{
	return wall_of(c, mono_ns);
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

/* A pool overlap's two functions by name, this call's first (event.h):
 * the record numbers them among the user's functions. */
static void pool_names(struct collector *c, const struct mw_record *r,
		       struct mw_event *ev)
{
	uint32_t fn = (uint32_t)r->code >> 8 & 0xff,
		 other = (uint32_t)r->code >> 16 & 0xff;

	snprintf(c->pool_names, sizeof(c->pool_names), "%s,%s",
		 fn < (uint32_t)c->ncustom ? c->custom[fn].func : "?",
		 other < (uint32_t)c->ncustom ? c->custom[other].func : "?");
	ev->path = c->pool_names;
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
	if ((ev.type == MW_EV_ALLOC || ev.type == MW_EV_REALLOC) &&
	    (((const struct mw_record *)data)->flags & MW_RECF_CFA_WALK))
		c->walked++;
	if (ev.path) /* a module's: where it is mapped */
		module_event(&c->dbuf.module, &ev);
	if (ev.type == MW_EV_POOL_OVERLAP) {
		pool_names(c, data, &ev);
		/* Its pairs overlap: whether they lock is worth a probe. A
		 * failure leaves its overlaps unwatched: no evidence. */
		if (!(ev.flags & MW_EVF_WATCHED))
			collector__locks(c, ev.pid);
	}
	if (c->dbuf.unwind)
		collector_unwind__event(c, &ev);
	else if (ev.type == MW_EV_EXEC || ev.type == MW_EV_MODULE_LOAD ||
		 ev.type == MW_EV_MODULE_UNLOADED)
		collector_unwind__changed(c, ev.pid);
	else if (ev.type == MW_EV_PROC_EXIT)
		collector_unwind__gone(c, ev.pid);
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

/*
 * Load-time choices by the kernel's features (kfeature.h), so that one
 * object loads on every supported kernel: of the two fork programs, the
 * one that holds a followed child with bpf_send_signal_task where the
 * kernel has it (6.13), the other elsewhere, with the programs holding
 * the child from its own context; the syscall tracepoint programs only
 * where there are syscall tracepoints; uprobe_multi links where the
 * kernel has them.
 */
static void choose_programs(struct collector *c, uint32_t kf)
{
	struct memwatch_bpf *s = c->skel;
	bool systp = kf & (1u << MW_KF_SYSCALL_TP);
	struct bpf_program *mm[] = {s->progs.mmap_exit, s->progs.munmap_exit,
				    s->progs.brk_exit, s->progs.mremap_exit};
	struct bpf_program *hold[] = {s->progs.clone_exit,
				      s->progs.clone3_exit,
				      s->progs.fork_exit, s->progs.vfork_exit};

	/* A thread's end where a joining thread has not woken yet
	 * (thread_exit in memwatch.bpf.c). */
	c->exit_fentry = !(kf & (1u << MW_KF_EXIT_TP_EARLY)) &&
			 kf & (1u << MW_KF_EXIT_FENTRY);
	bpf_program__set_autoload(s->progs.on_exit, !c->exit_fentry);
	bpf_program__set_autoload(s->progs.on_exit_mm, c->exit_fentry);
	c->signal_task = kf & (1u << MW_KF_SIGNAL_TASK);
	c->hold_in_child = !c->signal_task && systp;
	c->mm_loaded = systp;
	bpf_program__set_autoload(s->progs.on_fork_task, c->signal_task);
	bpf_program__set_autoload(s->progs.on_fork, !c->signal_task);
	for (size_t i = 0; i < sizeof(mm) / sizeof(mm[0]); i++)
		bpf_program__set_autoload(mm[i], systp);
	for (size_t i = 0; i < sizeof(hold) / sizeof(hold[0]); i++)
		bpf_program__set_autoload(hold[i], c->hold_in_child);
	s->rodata->hold_in_child = c->hold_in_child;
	c->multi = uprobe__prepare(s->obj,
				   kf & (1u << MW_KF_UPROBE_MULTI)) > 0;
}

/* Open the programs in c->skel, size them and load those kernel
 * features kf allow. Returns 0 or -errno; c->skel may then be left to
 * destroy. */
static int load_programs(struct collector *c,
			 const struct collector_opts *opts, uint32_t kf)
{
	struct stat ns;

	c->skel = memwatch_bpf__open();
	if (!c->skel)
		return -errno;
	bpf_map__set_max_entries(c->skel->maps.events, opts->ringbuf_bytes);
	bpf_map__set_max_entries(c->skel->maps.targets, opts->max_targets);
	bpf_map__set_max_entries(c->skel->maps.pending, opts->max_pending);
	bpf_map__set_max_entries(c->skel->maps.lost, c->max_lost);
	c->skel->rodata->wakeup_bytes = opts->ringbuf_bytes / 16;
	c->skel->rodata->stack_frames = opts->stack_frames;
	c->skel->rodata->unwind_bytes = c->unwind_bytes;
	/* In a pid namespace of its own (a container), memwatchd names
	 * processes as it sees them: the programs translate (cur_ids). The
	 * initial namespace's inode is fixed (PROC_PID_INIT_INO). */
	if (!stat("/proc/self/ns/pid", &ns) && ns.st_ino != 0xEFFFFFFCu) {
		c->skel->rodata->pidns_dev = ns.st_dev;
		c->skel->rodata->pidns_ino = ns.st_ino;
	}
	choose_programs(c, kf);
	return memwatch_bpf__load(c->skel);
}

uint32_t collector__refused(const struct collector *c, int *err)
{
	*err = c->refused_err;
	return c->refused;
}

struct collector *collector__new(const struct collector_opts *opts,
				 collector_cb cb, void *ctx)
{
	struct collector *c = calloc(1, sizeof(*c));
	struct bpf_link **fork, **exit;
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
	c->stack_frames = opts->stack_frames;
	/* A power of two the BPF side can copy (memwatch.h). */
	for (c->unwind_bytes = MW_STACK_COPY;
	     c->unwind_bytes > opts->unwind_bytes; c->unwind_bytes /= 2)
		;
	if (c->unwind_bytes < 256 || !c->stack_frames)
		c->unwind_bytes = 0;
	hmap__init(&c->ustacks);
	hmap__init(&c->uranges);
	hmap__init(&c->norule);
	c->targets = calloc(opts->max_targets, sizeof(*c->targets));
	c->wall_offset = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	if (!c->targets || c->ncpus <= 0) {
		err = c->ncpus < 0 ? c->ncpus : -ENOMEM;
		goto fail;
	}
	/* One entry per target, and as many again for processes that
	 * lose records before they are attached (their exec is reported)
	 * or after: such entries are taken and removed at once. */
	c->max_lost = opts->max_targets * 2;
	hmap__init(&c->lost_taken);
	c->lost_keys = calloc(c->max_lost, sizeof(*c->lost_keys));
	if (!c->lost_keys) {
		err = -ENOMEM;
		goto fail;
	}
	err = load_programs(c, opts, opts->kfeatures);
	if (err && c->exit_fentry) {
		/* The kernel has the function and refused the trampoline
		 * (a sandbox's policy, lockdown): the tracepoint then. */
		c->refused = 1u << MW_KF_EXIT_FENTRY;
		c->refused_err = err;
		memwatch_bpf__destroy(c->skel);
		c->skel = NULL;
		err = load_programs(c, opts,
				    opts->kfeatures & ~c->refused);
	}
	if (err)
		goto fail;
	if (c->floor) {
		/* Prepared like the real programs: they go where those
		 * would. */
		c->bench = bench_bpf__open();
		if (!c->bench) {
			err = -errno;
			goto fail;
		}
		uprobe__prepare(c->bench->obj, c->multi);
		err = bench_bpf__load(c->bench);
		if (err)
			goto fail;
		c->floor_enter = c->bench->progs.empty_enter;
		c->floor_exit = c->bench->progs.empty_exit;
	}
	fork = c->signal_task ? &c->skel->links.on_fork_task
			      : &c->skel->links.on_fork;
	*fork = bpf_program__attach(c->signal_task ? c->skel->progs.on_fork_task
						   : c->skel->progs.on_fork);
	exit = c->exit_fentry ? &c->skel->links.on_exit_mm
			      : &c->skel->links.on_exit;
	*exit = bpf_program__attach(c->exit_fentry ? c->skel->progs.on_exit_mm
						   : c->skel->progs.on_exit);
	c->skel->links.on_exec = bpf_program__attach(c->skel->progs.on_exec);

	if (!*fork || !*exit || !c->skel->links.on_exec) {
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

void collector__free(struct collector *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->ntargets; i++)
		collector_attach__unlink(&c->targets[i]);
	ring_buffer__free(c->rb);
	collector_unwind__fini(c);
	memwatch_bpf__destroy(c->skel);
	bench_bpf__destroy(c->bench);
	hmap__fini(&c->lost_taken);
	free(c->lost_keys);
	free(c->targets);
	free(c);
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
