/*
 * collector_attach.c - the collector's targets: attaching a process
 * (the targets map, then the uprobes of each of its modules, in order)
 * and detaching it; the uprobe links of each target, and the
 * anonymous-memory tracepoints, kept while a full-mode target exists.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collector_int.h"
#include "elfsym.h"
#include "memwatch.h"
#include "parallel.h"
#include "procfs.h"
#include "uprobe.h"

void collector_attach__unlink(struct target *t)
{
	uprobe__detach_all(t->links, t->nlinks);
	free(t->links);
	t->links = NULL;
	t->nlinks = t->cap = 0;
}

#define NMM 4
#define NHOLD 4
#define NTP_MAX 4 /* the larger of the two */
#define TRACEFS "/sys/kernel/tracing"

/* The anonymous-memory programs and their links, in skeleton order. */
static void mm_progs(struct collector *c, struct bpf_program **progs,
		     struct bpf_link ***links)
{
	progs[0] = c->skel->progs.mmap_exit;
	progs[1] = c->skel->progs.munmap_exit;
	progs[2] = c->skel->progs.brk_exit;
	progs[3] = c->skel->progs.mremap_exit;
	links[0] = &c->skel->links.mmap_exit;
	links[1] = &c->skel->links.munmap_exit;
	links[2] = &c->skel->links.brk_exit;
	links[3] = &c->skel->links.mremap_exit;
}

/* The programs holding a followed child from its own context. */
static void hold_progs(struct collector *c, struct bpf_program **progs,
		       struct bpf_link ***links)
{
	progs[0] = c->skel->progs.clone_exit;
	progs[1] = c->skel->progs.clone3_exit;
	progs[2] = c->skel->progs.fork_exit;
	progs[3] = c->skel->progs.vfork_exit;
	links[0] = &c->skel->links.clone_exit;
	links[1] = &c->skel->links.clone3_exit;
	links[2] = &c->skel->links.fork_exit;
	links[3] = &c->skel->links.vfork_exit;
}

static void link_destroy(void *l)
{
	bpf_link__destroy(l);
}

/* Remove the n links, at once (parallel.h): removing each waits. */
static void tp_unlink(struct bpf_link ***links, int n)
{
	struct bpf_link *l[NTP_MAX];

	for (int i = 0; i < n; i++) {
		l[i] = *links[i];
		*links[i] = NULL;
	}
	parallel__each(link_destroy, (void *const *)l, n);
}

/*
 * Attach the n syscall tracepoint programs (want) or remove them: all or
 * none. They are attached only while needed: while any syscall
 * tracepoint is on, every system call on the host takes the kernel's
 * slow path. tracefs is mounted if it is not: the tracepoints' ids are
 * read there.
 */
static int tp_set(struct bpf_program **progs, struct bpf_link ***links,
		  int n, bool want)
{
	if (want == (*links[0] != NULL))
		return 0;
	tp_unlink(links, n);
	if (!want)
		return 0;
	if (access(TRACEFS "/events", F_OK))
		mount("nodev", TRACEFS, "tracefs", 0, NULL);
	for (int i = 0; i < n; i++) {
		*links[i] = bpf_program__attach(progs[i]);
		if (!*links[i]) {
			int err = -errno;

			tp_unlink(links, n);
			return err;
		}
	}
	return 0;
}

/*
 * The anonymous-memory tracepoints are attached while some process is
 * traced in full mode (they feed the allocator-retention rule, which TLS
 * mode does not run), and removed with the last. Where the kernel has no
 * syscall tracepoints they are not loaded (a degradation said at start).
 */
static int mm_update(struct collector *c)
{
	struct bpf_program *progs[NMM];
	struct bpf_link **links[NMM];
	bool want = false;

	if (!c->mm_loaded)
		return 0;
	for (int i = 0; i < c->ntargets; i++)
		want |= !c->targets[i].tls_only;
	mm_progs(c, progs, links);
	return tp_set(progs, links, NMM, want);
}

/*
 * The child-context hold (bpf/memwatch.bpf.c, child_return), where it is
 * loaded, is attached while some target's forks are followed, and after
 * the last until no child waits in hold_child: a child forked just before
 * its parent went still has to stop and be reported.
 */
static int hold_update(struct collector *c)
{
	struct bpf_program *progs[NHOLD];
	struct bpf_link **links[NHOLD];
	bool want = false;
	uint32_t key;

	if (!c->hold_in_child)
		return 0;
	for (int i = 0; i < c->ntargets; i++)
		want |= c->targets[i].follow;
	hold_progs(c, progs, links);
	if (!want && *links[0])
		want = !bpf_map_get_next_key(
		    bpf_map__fd(c->skel->maps.hold_child), NULL, &key);
	return tp_set(progs, links, NHOLD, want);
}

void collector__tick(struct collector *c)
{
	hold_update(c);
}

int collector_attach__follow(struct collector *c, struct target *t)
{
	int err;

	t->follow = true;
	err = hold_update(c);
	if (err)
		t->follow = false;
	return err;
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
		    c->floor ? (reqs[i].ret ? c->floor_exit : c->floor_enter)
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

/* Attach the probes of one module (collector_probe__module). */
int collector_attach__module(struct collector *c, struct target *t,
			     const struct module_path *m)
{
	struct req reqs[2 * NPROBES];
	int n = collector_probe__module(c, t->tls_only, m, reqs);

	if (n <= 0)
		return n;
	return attach_reqs(c, t, m->path, reqs, n);
}

/* --- functions the user named (--alloc, --realloc, --free) -------------- */

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

/* Probe the user's functions (or, with locks, the lock functions) that
 * the ELF file at path defines. */
static int attach_custom_file(struct collector *c, struct target *t,
			      struct seen *s, const char *path, bool locks)
{
	struct req reqs[CUSTOM_REQS];
	int n;

	if (seen_before(s, path))
		return 0;
	n = locks ? collector_probe__locks(path, reqs)
		  : collector_probe__custom(c, path, reqs);
	return attach_reqs(c, t, path, reqs, n);
}

struct custom_scan {
	struct collector *c;
	struct target *t;
	struct seen seen;
	bool locks;
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
	else if (procfs__find_lib(cs->t->pid, base, path, sizeof(path)))
		return 0;
	cs->err = attach_custom_file(cs->c, cs->t, &cs->seen, path, false);
	return cs->err;
}

static int custom_map(void *ctx, const struct procfs_map *m)
{
	struct custom_scan *cs = ctx;
	char path[PATH_MAX];

	if (m->path[0] != '/')
		return 0;
	snprintf(path, sizeof(path), "/proc/%u/root%s", cs->t->pid, m->path);
	cs->err = attach_custom_file(cs->c, cs->t, &cs->seen, path, cs->locks);
	return cs->err;
}

/*
 * Probe the user's functions wherever pid has them: its executable and
 * every file it maps; for a program the loader has not run yet (exe set),
 * that executable and the libraries it needs.
 */
int collector_attach__custom(struct collector *c, struct target *t,
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
	cs->err = attach_custom_file(c, t, &cs->seen, exe, false);
	if (!cs->err)
		elfsym__each_needed(exe, custom_needed, cs);
	if (!cs->err)
		procfs__each_map(t->pid, custom_map, cs);
	err = cs->err;
	free(cs);
	return err;
}

/*
 * Probe pid's lock functions for the allocator race, once: in every file
 * it maps (libc, or a static executable), then say so in pool_locks, so
 * that only calls of its pairs that begin after are judged. Done at the
 * first overlap of its pairs: a process whose pools never overlap pays
 * nothing, and one that does pays a uprobe per pthread_mutex_lock.
 */
int collector__locks(struct collector *c, uint32_t pid)
{
	struct target *t = target_find(c, pid);
	struct custom_scan *cs;
	uint8_t one = 1;
	int err;

	if (!t || t->locks || t->tls_only)
		return 0;
	t->locks = true; /* once, whatever happens */
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	cs->c = c;
	cs->t = t;
	cs->locks = true;
	procfs__each_map(pid, custom_map, cs);
	err = cs->err;
	free(cs);
	if (!err && bpf_map_update_elem(bpf_map__fd(c->skel->maps.pool_locks),
					&pid, &one, BPF_ANY))
		err = -errno;
	return err;
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
	n = collector_module__find(pid, mods);
	if (n == -ENOENT)
		n = collector_module__plan(pid, mods);
	if (n == -ENOENT) {
		/* No glibc to come either: a static binary? */
		char exe[64];

		snprintf(exe, sizeof(exe), "/proc/%u/exe", pid);
		if (collector_module__exe(exe, &mods[0]) &&
		    mods[0].kind == MOD_LIBC)
			n = 1;
	} else if (n > 0 && n < MAX_MODULES) {
		char exe[64];

		snprintf(exe, sizeof(exe), "/proc/%u/exe", pid);
		n += collector_module__exe(exe, &mods[n]);
	}
	if (n < 0) {
		*why = n == -ENOENT ? "no glibc mapped in the process"
				    : "cannot read its memory map";
		return n;
	}
	if (!collector_probe__resolve(c, mods[0].path)) {
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
	if (!tls_only)
		collector_unwind__ranges(c, pid);
	/* Allocators before libc: free goes first in each (see probes[]),
	 * and a replacing allocator's free is the one that runs. */
	snprintf(c->why, sizeof(c->why), "cannot attach its probes");
	for (int i = n - 1; i >= 0; i--) {
		err = collector_attach__module(c, t, &mods[i]);
		if (err) {
			*why = c->why;
			goto fail;
		}
	}
	err = collector_attach__custom(c, t, NULL);
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
	collector_attach__unlink(t);
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.targets), &pid);
	collector_unwind__gone(c, pid);
	return err;
}

int collector__detach(struct collector *c, uint32_t pid)
{
	struct target *t = target_find(c, pid);

	if (!t)
		return -ESRCH;
	/* Stop the filter first so a half-detached process emits nothing. */
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.targets), &pid);
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.pool_locks), &pid);
	collector_attach__unlink(t);
	collector_unwind__gone(c, pid);
	*t = c->targets[--c->ntargets];
	c->mm_err = mm_update(c);
	hold_update(c);
	return 0;
}
