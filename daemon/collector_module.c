/*
 * collector_module.c - which files the collector probes in a process
 * (its modules): libc, the allocators and C++ runtimes it maps, or will
 * map when it has just exec'ed, and an executable with a malloc of its
 * own.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "allocator.h"
#include "collector_int.h"
#include "elfsym.h"
#include "glibc.h"
#include "procfs.h"

/* The kind of module a library is by its file name, -1 if none. */
int collector_module__kind(const char *base)
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
	} else if (collector_module__kind(base) >= 0) {
		ms->n = add_module(ms->mods, ms->n, path,
				   collector_module__kind(base));
	}
	return 0;
}

/*
 * The modules to probe in pid, libc first, from its maps (through
 * /proc/PID/root, for processes in other mount namespaces). Returns how
 * many, or -errno; -ENOENT without a glibc.
 */
int collector_module__find(uint32_t pid, struct module_path *mods)
{
	struct maps_scan ms = {.pid = pid, .mods = mods, .n = 1};
	int err = procfs__each_map(pid, module_map, &ms);

	if (err)
		return err;
	if (!ms.have_libc)
		return -ENOENT;
	return ms.n;
}


/*
 * An executable that carries its own malloc and free: a static binary
 * (glibc's malloc, TLS and all: probed like libc), or a dynamic one with
 * an allocator linked in (probed for the malloc family, next to libc).
 * Returns 1 and fills m when path is one, else 0.
 */
int collector_module__exe(const char *path, struct module_path *m)
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

/* --- programs just exec'ed: their libraries are not mapped yet ----------- */

struct plan {
	uint32_t pid;
	struct module_path *mods;
	int n;
	int have_libc;
};

static int plan_lib(void *ctx, const char *name)
{
	struct plan *pl = ctx;
	const char *base = strrchr(name, '/');
	char path[PATH_MAX];

	base = base ? base + 1 : name;
	if (!strcmp(base, "libc.so.6") && !pl->have_libc) {
		if (procfs__find_lib(pl->pid, base, path, sizeof(path)))
			return 0;
		snprintf(pl->mods[0].path, sizeof(pl->mods[0].path), "%s", path);
		pl->mods[0].kind = MOD_LIBC;
		pl->have_libc = 1;
	} else if (collector_module__kind(base) >= 0) {
		if (name[0] == '/')
			snprintf(path, sizeof(path), "/proc/%u/root%s", pl->pid,
				 name);
		else if (procfs__find_lib(pl->pid, base, path, sizeof(path)))
			return 0;
		pl->n = add_module(pl->mods, pl->n, path,
				   collector_module__kind(base));
	}
	return 0;
}

/*
 * The modules a process that just exec'ed will map, before the loader has
 * mapped them: libc and allocators from its executable's DT_NEEDED and its
 * LD_PRELOAD. Uprobes on a file apply to the mappings made later.
 */
int collector_module__plan(uint32_t pid, struct module_path *mods)
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
