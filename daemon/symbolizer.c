/*
 * symbolizer.c - see symbolizer.h.
 *
 * Invariant: a pmap's ranges are sorted by start and do not overlap; its
 * Dwfl, when built, reflects exactly those ranges (dwfl_gen == gen).
 */
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "symbolizer.h"

struct range {
	uint64_t start, end, pgoff;
	char *path;
	bool runtime; /* the C library or the dynamic loader */
	bool loader;  /* the dynamic loader */
	bool from_dlopen; /* start - pgoff is the load bias, whatever pgoff */
};

struct pmap {
	uint32_t pid;
	struct range *ranges;
	int nranges;
	unsigned gen, dwfl_gen;
	Dwfl *dwfl;
	uint64_t last_reload_ns;
};

struct symbolizer {
	struct pmap *maps;
	int nmaps, cap;
	struct pmap *last;
};

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

struct symbolizer *symbolizer__new(void)
{
	return calloc(1, sizeof(struct symbolizer));
}

static void pmap_clear(struct pmap *m)
{
	for (int i = 0; i < m->nranges; i++)
		free(m->ranges[i].path);
	free(m->ranges);
	m->ranges = NULL;
	m->nranges = 0;
	if (m->dwfl)
		dwfl_end(m->dwfl);
	m->dwfl = NULL;
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nmaps; i++)
		pmap_clear(&s->maps[i]);
	free(s->maps);
	free(s);
}

static struct pmap *pmap_get(struct symbolizer *s, uint32_t pid, int create)
{
	if (s->last && s->last->pid == pid)
		return s->last;
	for (int i = 0; i < s->nmaps; i++)
		if (s->maps[i].pid == pid)
			return s->last = &s->maps[i];
	if (!create)
		return NULL;
	if (s->nmaps == s->cap) {
		int ncap = s->cap ? s->cap * 2 : 8;
		struct pmap *n = realloc(s->maps, ncap * sizeof(*n));

		if (!n)
			return NULL;
		s->maps = n;
		s->cap = ncap;
	}
	s->last = &s->maps[s->nmaps++];
	memset(s->last, 0, sizeof(*s->last));
	s->last->pid = pid;
	return s->last;
}

void symbolizer__forget(struct symbolizer *s, uint32_t pid)
{
	struct pmap *m = pmap_get(s, pid, 0);

	if (!m)
		return;
	pmap_clear(m);
	*m = s->maps[--s->nmaps];
	s->last = NULL;
}

static const struct range *range_find(const struct pmap *m, uint64_t ip)
{
	int lo = 0, hi = m->nranges - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const struct range *r = &m->ranges[mid];

		if (ip < r->start)
			hi = mid - 1;
		else if (ip >= r->end)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/* glibc's own files: libc proper, the dynamic loader, and the stubs that
 * older glibc split out. */
static bool is_runtime(const char *path)
{
	const char *base = strrchr(path, '/');
	static const char *const prefixes[] = {"libc.so", "libc-", "ld-linux",
					       "ld-", "libpthread"};

	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(base, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

static bool is_loader(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "ld-", 3);
}

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

#define MAX_RANGES 4096

/*
 * Carry over the old ranges nothing new overlaps: modules unloaded since
 * (dlclose) whose blocks are still to be symbolized. The old array gives
 * up their paths. Returns the new count; the array stays sorted.
 */
static int keep_history(struct pmap *m, struct range **nrp, int n, int *cap)
{
	struct range *nr = *nrp;
	int nnew = n;

	for (int i = 0; i < m->nranges && n < MAX_RANGES; i++) {
		struct range *o = &m->ranges[i];
		bool overlap = false;

		for (int j = 0; j < nnew && !overlap; j++)
			overlap = o->start < nr[j].end && nr[j].start < o->end;
		if (overlap)
			continue;
		if (n == *cap) {
			int ncap = *cap * 2;
			struct range *t = realloc(nr, ncap * sizeof(*t));

			if (!t)
				break;
			nr = t;
			*cap = ncap;
		}
		nr[n++] = *o;
		o->path = NULL;
	}
	qsort(nr, (size_t)n, sizeof(*nr), range_cmp);
	*nrp = nr;
	return n;
}

/* Read the file-backed mappings of pid; keep the old ones on failure
 * (the process may be gone, and they are still right for its past). */
static void pmap_reload(struct pmap *m)
{
	char name[64], line[PATH_MAX + 256];
	struct range *nr = NULL;
	int n = 0, cap = 0;
	FILE *f;

	snprintf(name, sizeof(name), "/proc/%u/maps", m->pid);
	f = fopen(name, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end, pgoff;
		char perms[8];
		char *path = strchr(line, '/');

		if (!path || sscanf(line, "%llx-%llx %7s %llx", &start, &end,
				    perms, &pgoff) != 4)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (n == cap) {
			int ncap = cap ? cap * 2 : 32;
			struct range *t = realloc(nr, ncap * sizeof(*t));

			if (!t)
				break;
			nr = t;
			cap = ncap;
		}
		nr[n].start = start;
		nr[n].end = end;
		nr[n].pgoff = pgoff;
		nr[n].path = strdup(path);
		nr[n].runtime = is_runtime(path);
		nr[n].loader = is_loader(path);
		nr[n].from_dlopen = false;
		if (nr[n].path)
			n++;
	}
	fclose(f);
	if (!n) {
		free(nr);
		return;
	}
	n = keep_history(m, &nr, n, &cap);
	pmap_clear(m);
	m->ranges = nr;
	m->nranges = n;
	m->gen++;
}

void symbolizer__add_module(struct symbolizer *s, uint32_t pid,
			    const char *path, uint64_t base, uint64_t start,
			    uint64_t end)
{
	struct pmap *m = pmap_get(s, pid, 1);
	struct range r = {.start = start, .end = end, .pgoff = start - base};
	struct range *nr;
	int n = 0;

	if (!m || start >= end || start < base || m->nranges >= MAX_RANGES)
		return;
	for (int i = 0; i < m->nranges; i++)
		if (m->ranges[i].start == start && m->ranges[i].end == end &&
		    !strcmp(m->ranges[i].path, path))
			return; /* known already */
	r.path = strdup(path);
	nr = malloc((size_t)(m->nranges + 1) * sizeof(*nr));
	if (!r.path || !nr) {
		free(r.path);
		free(nr);
		return;
	}
	/* What it overlaps was unmapped to make room for it. */
	for (int i = 0; i < m->nranges; i++) {
		struct range *o = &m->ranges[i];

		if (o->start < end && start < o->end) {
			free(o->path);
			continue;
		}
		nr[n++] = *o;
	}
	r.runtime = is_runtime(path);
	r.loader = is_loader(path);
	r.from_dlopen = true;
	nr[n++] = r;
	qsort(nr, (size_t)n, sizeof(*nr), range_cmp);
	free(m->ranges);
	m->ranges = nr;
	m->nranges = n;
	m->gen++;
}

static uint64_t mono_coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void symbolizer__note(struct symbolizer *s, uint32_t pid, uint64_t ip)
{
	struct pmap *m = pmap_get(s, pid, 1);
	uint64_t now;

	if (!m || range_find(m, ip))
		return;
	/* JIT code and the like are never in a file: re-read the maps at
	 * most every 50 ms so such sites cost little. */
	now = mono_coarse_ns();
	if (m->last_reload_ns && now - m->last_reload_ns < 50000000ull)
		return;
	m->last_reload_ns = now;
	pmap_reload(m);
}

/* Report each file once, placed where its offset 0 was mapped. */
static Dwfl *pmap_dwfl(struct pmap *m)
{
	Dwfl *d;

	if (m->dwfl && m->dwfl_gen == m->gen)
		return m->dwfl;
	if (m->dwfl)
		dwfl_end(m->dwfl);
	m->dwfl = NULL;
	d = dwfl_begin(&dwfl_callbacks);
	if (!d)
		return NULL;
	dwfl_report_begin(d);
	for (int i = 0; i < m->nranges; i++) {
		const struct range *r = &m->ranges[i];
		int seen = 0;

		/* A file is reported once per load, at its bias: the
		 * start of its mapping of offset 0 (the later segments of a
		 * load map other offsets, some at other distances). */
		if (r->pgoff && !r->from_dlopen)
			continue;
		for (int j = 0; j < i && !seen; j++)
			seen = !strcmp(m->ranges[j].path, r->path) &&
			       m->ranges[j].start - m->ranges[j].pgoff ==
				       r->start - r->pgoff;
		if (seen)
			continue;
		/* Failures (deleted files, non-ELF mappings) just leave
		 * that module unknown. */
		dwfl_report_elf(d, r->path, r->path, -1, r->start - r->pgoff,
				false);
	}
	dwfl_report_end(d, NULL, NULL);
	m->dwfl = d;
	m->dwfl_gen = m->gen;
	return d;
}

static void copy_str(char *dst, const char *src)
{
	snprintf(dst, MW_SITE_STR, "%s", src ? src : "");
}

static const struct range *range_of(struct symbolizer *s, uint32_t pid,
				    uint64_t ip)
{
	struct pmap *m;

	symbolizer__note(s, pid, ip);
	m = pmap_get(s, pid, 0);
	return m ? range_find(m, ip ? ip - 1 : 0) : NULL;
}

bool symbolizer__in_runtime(struct symbolizer *s, uint32_t pid, uint64_t ip)
{
	const struct range *r = range_of(s, pid, ip);

	return r && r->runtime;
}

bool symbolizer__is_loader(struct symbolizer *s, uint32_t pid, uint64_t ip)
{
	const struct range *r = range_of(s, pid, ip);

	return r && r->loader;
}

const char *symbolizer__function(struct symbolizer *s, uint32_t pid,
				 uint64_t ip)
{
	struct pmap *m;
	Dwfl_Module *mod;
	Dwfl *d;
	uint64_t pc = ip ? ip - 1 : 0;

	symbolizer__note(s, pid, ip);
	m = pmap_get(s, pid, 0);
	if (!m || !range_find(m, pc) || !(d = pmap_dwfl(m)) ||
	    !(mod = dwfl_addrmodule(d, pc)))
		return NULL;
	return dwfl_module_addrname(mod, pc);
}

void symbolizer__resolve(struct symbolizer *s, uint32_t pid, uint64_t ip,
			 struct mw_site_row *row)
{
	struct pmap *m = pmap_get(s, pid, 1);
	const struct range *r;
	Dwfl_Module *mod;
	Dwfl_Line *line;
	GElf_Off off = 0;
	GElf_Sym sym;
	const char *name;
	Dwfl *d;
	/* ip is a return address: the call is just before it. */
	uint64_t pc = ip ? ip - 1 : 0;

	row->ip = ip;
	if (!m)
		return;
	if (!(r = range_find(m, pc))) {
		pmap_reload(m);
		r = range_find(m, pc);
	}
	if (!r)
		return;
	copy_str(row->module, r->path);
	d = pmap_dwfl(m);
	if (!d || !(mod = dwfl_addrmodule(d, pc)))
		return;
	name = dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
	if (name) {
		copy_str(row->function, name);
		row->offset = off + 1; /* relative to ip, not pc */
	}
	line = dwfl_module_getsrc(mod, pc);
	if (line) {
		int lineno = 0;
		const char *file =
			dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);

		if (file) {
			copy_str(row->file, file);
			row->line = lineno > 0 ? (uint32_t)lineno : 0;
		}
	}
}
