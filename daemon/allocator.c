/*
 * allocator.c - the allocators memwatch knows besides glibc's malloc;
 * see allocator.h.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "allocator.h"
#include "elfsym.h"
#include "procfs.h"

/*
 * Allocators that replace glibc's malloc by exporting malloc, free and
 * the rest (LD_PRELOAD, or linked in). Each found is probed next to libc,
 * for the malloc family only: a call is reported by whichever
 * implementation runs it, so nothing is counted twice. They are looked
 * for in the target's maps and, for a program not started yet (-- CMD),
 * in its LD_PRELOAD and its executable's DT_NEEDED. Probing every
 * allocator installed would cost each target a dozen uprobes more, and
 * each costs time to remove.
 */
static const struct {
	const char *prefix; /* file name prefix */
	const char *name;   /* for people */
	const char *soname; /* as Debian installs it */
} allocators[] = {
	{"libmimalloc.so", "mimalloc", "libmimalloc.so.2"},
	{"libjemalloc.so", "jemalloc", "libjemalloc.so.2"},
	{"libtcmalloc_minimal.so", "tcmalloc", "libtcmalloc_minimal.so.4"},
	{"libtcmalloc.so", "tcmalloc", "libtcmalloc.so.4"},
	{"libtcmalloc_and_profiler.so", "tcmalloc",
	 "libtcmalloc_and_profiler.so.4"},
};

#define NALLOCATORS (sizeof(allocators) / sizeof(allocators[0]))

static int allocator_of(const char *base)
{
	for (size_t i = 0; i < NALLOCATORS; i++)
		if (!strncmp(base, allocators[i].prefix,
			     strlen(allocators[i].prefix)))
			return (int)i;
	return -1;
}

const char *allocator__of_file(const char *base)
{
	int a = allocator_of(base);

	return a >= 0 ? allocators[a].name : NULL;
}

int allocator__thread_safe_file(const char *base)
{
	static const char *const runtimes[] = {"libc.so", "libc-",
					       "libstdc++.so", "libc++.so"};

	if (allocator_of(base) >= 0)
		return 1;
	for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++)
		if (!strncmp(base, runtimes[i], strlen(runtimes[i])))
			return 1;
	return 0;
}

/*
 * An allocator linked into the executable at path (Redis embeds jemalloc
 * with its je_ prefix), by the API it defines; dflt when none. The last
 * answer is kept: this is asked at every tick for a while after exec.
 */
static const char *exe_allocator(const char *path, const char *dflt)
{
	static const char *const names[] = {"je_malloc", "mallocx",
					    "mi_malloc", "tc_malloc"};
	static const char *const which[] = {"jemalloc", "jemalloc",
					    "mimalloc", "tcmalloc"};
	static struct {
		dev_t dev;
		ino_t ino;
		const char *name;
	} last;
	uint64_t offs[4];
	struct stat st;

	if (stat(path, &st))
		return dflt;
	if (last.name && last.dev == st.st_dev && last.ino == st.st_ino)
		return last.name;
	last.dev = st.st_dev;
	last.ino = st.st_ino;
	last.name = dflt;
	if (!elfsym__resolve(path, names, 4, offs))
		for (int i = 0; i < 4; i++)
			if (offs[i]) {
				last.name = which[i];
				break;
			}
	return last.name;
}

/* The first allocator mapped, as 1 + its index in allocators[]. */
static int allocator_map(void *ctx, const struct procfs_map *m)
{
	const char *p = strrchr(m->path, '/');

	return p ? allocator_of(p + 1) + 1 : 0;
}

const char *allocator__of_process(uint32_t pid)
{
	char exe[64];
	const char *name = "glibc";
	int a = procfs__each_map(pid, allocator_map, NULL);

	if (a < 0)
		return NULL;
	if (a > 0)
		return allocators[a - 1].name;
	snprintf(exe, sizeof(exe), "/proc/%u/exe", pid);
	return exe_allocator(exe, name);
}
