/*
 * symbolizer.c - see symbolizer.h.
 *
 * Two levels: per process, its file-backed mappings (struct pmap), each
 * knowing where its file's offset 0 sits in that process (map0); per
 * file, one Dwfl holding just that file at its link-time addresses
 * (struct fsym), shared by every process that maps it and kept by
 * build-id, so that the same library is read once for all, and a process
 * that exited still symbolizes from it.
 *
 * Invariant: a pmap's ranges are sorted by start and do not overlap.
 *
 * Everything here runs in the epoll loop, and does no network and no
 * DWARF: the loop's Dwfls find separate debug files only by build-id
 * on the local disk (dwfl_build_id_find_debuginfo, which never calls
 * debuginfod), and read only symbol tables. A site's source line, and
 * the names only a debug file elsewhere has (debuginfod), come from the
 * worker thread (symworker.c): a flush writes the site with what the
 * loop has at once (module, function from the file's own symbols) and
 * asks the worker; its answer comes back through the eventfd
 * (symbolizer__collect), is kept per file and address (struct symres),
 * and the sites that waited for it are handed to the daemon to write
 * again (symbolizer__rewrite). The worker owns its Dwfls and is told a
 * file by its id (fsym.serial) and a dup of its fd; the loop owns
 * everything in this file.
 */
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "procfs.h"
#include "symbolizer.h"
#include "symindex.h"
#include "symworker.h"

/* One ELF file: its build-id (or, without one, its inode) and a Dwfl
 * with just it, at its link-time addresses. */
struct fsym {
	unsigned char id[64];
	size_t idlen;	  /* 0: no build-id, identified by dev/ino */
	dev_t dev;
	ino_t ino;
	Dwfl *dwfl;	  /* NULL: not an ELF file we can read */
	Dwfl_Module *mod;
	uint64_t vaddr0;  /* link-time address of file offset 0 */
	struct symindex *syms; /* built at the first name asked */
	bool syms_tried;
	uint64_t serial;  /* the worker's name for it */
	int wfd;	  /* the worker's fd, until handed (-1: handed or none) */
	bool handed;
	/* link-time address + 1 -> struct symres (answered) or struct
	 * symwait (asked, the sites waiting for it) */
	struct hmap answers;
};

/* The worker's answer for one address of a file, its strings copied
 * (NULL: none): kept for as long as the file, one per site address. */
struct symres {
	bool done; /* vs struct symwait, which starts with false */
	uint32_t line;
	uint64_t off;
	char *function, *src;
};

/* An address asked of the worker, and the sites written without its
 * answer, to write again when it comes. */
struct symwait {
	bool done;
	struct vec rows; /* struct mw_site_row * */
};

#define MAX_FILES 1024

struct range {
	uint64_t start, end, pgoff;
	uint64_t map0;	  /* where its file's offset 0 is in this load */
	char *path;	  /* as the process sees it (its mount namespace) */
	dev_t dev;	  /* the mapped file's, from the maps (0: not known) */
	ino_t ino;
	struct fsym *file; /* found when read from the maps, else at first
			    * use */
	bool runtime; /* the C library or the dynamic loader */
	bool loader;  /* the dynamic loader */
};

struct pmap {
	uint32_t pid;
	struct range *ranges;
	int nranges;
	uint64_t last_reload_ns;
};

struct symbolizer {
	struct pmap *maps;
	int nmaps, cap;
	struct pmap *last;
	struct fsym *files[MAX_FILES];
	int nfiles;
	struct symworker *worker;
	int nwfd; /* fsym.wfd open */
	struct vec ready; /* struct mw_site_row *: answered, to write again */
	struct symbolizer_stats stats;
};

/* The loop's: local debug files by build-id only, never debuginfod
 * (dwfl_standard_find_debuginfo would ask it, in the loop). */
static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_build_id_find_debuginfo,
};

/* Requests waiting for the worker, at most: a flush of new sites asks
 * once per (file, address); beyond this they are dropped and counted,
 * and the sites keep the loop's names. */
#define WORKER_QUEUE 8192
/* Files' fds kept for the worker before it asked for them, at most. */
#define MAX_WFDS 256

struct symbolizer *symbolizer__new(void)
{
	struct symbolizer *s = calloc(1, sizeof(struct symbolizer));

	if (s && !(s->worker = symworker__new(WORKER_QUEUE))) {
		free(s);
		return NULL;
	}
	return s;
}

int symbolizer__fd(const struct symbolizer *s)
{
	return symworker__fd(s->worker);
}

void symbolizer__get_stats(const struct symbolizer *s,
			   struct symbolizer_stats *out)
{
	*out = s->stats;
}

static void answers_free(struct fsym *f)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&f->answers, &pos, &k, &v)) {
		struct symwait *sw = v;

		if (!sw->done) {
			for (size_t i = 0; i < sw->rows.len; i++)
				free(sw->rows.items[i]);
			vec__fini(&sw->rows);
		} else {
			free(((struct symres *)v)->function);
			free(((struct symres *)v)->src);
		}
		free(v);
	}
	hmap__fini(&f->answers);
}

static void pmap_clear(struct pmap *m)
{
	for (int i = 0; i < m->nranges; i++)
		free(m->ranges[i].path);
	free(m->ranges);
	m->ranges = NULL;
	m->nranges = 0;
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nmaps; i++)
		pmap_clear(&s->maps[i]);
	free(s->maps);
	symworker__free(s->worker);
	for (size_t i = 0; i < s->ready.len; i++)
		free(s->ready.items[i]);
	vec__fini(&s->ready);
	for (int i = 0; i < s->nfiles; i++) {
		answers_free(s->files[i]);
		if (s->files[i]->wfd >= 0)
			close(s->files[i]->wfd);
		symindex__free(s->files[i]->syms);
		if (s->files[i]->dwfl)
			dwfl_end(s->files[i]->dwfl);
		free(s->files[i]);
	}
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

static struct range *range_find(const struct pmap *m, uint64_t ip)
{
	int lo = 0, hi = m->nranges - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		struct range *r = &m->ranges[mid];

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

/*
 * Where each range's file has its offset 0 in this load: the mapping of
 * offset 0 itself, or for a later segment the last offset-0 mapping of
 * the same file below it (ranges are in address order, a load's segments
 * ascending).
 */
static void set_map0(struct range *r, int n)
{
	for (int i = 0; i < n; i++) {
		r[i].map0 = r[i].start - r[i].pgoff;
		if (!r[i].pgoff)
			continue;
		for (int j = i - 1; j >= 0; j--)
			if (!strcmp(r[j].path, r[i].path) && !r[j].pgoff) {
				r[i].map0 = r[j].start;
				break;
			}
	}
}

/* The file-backed mappings read so far. */
struct reload {
	struct range *nr;
	int n, cap;
};

static struct fsym *fsym_from_fd(struct symbolizer *s, int fd,
				 const char *name);

/* The cached file with this device and inode, or NULL. */
static struct fsym *fsym_find(const struct symbolizer *s, dev_t dev,
			      ino_t ino)
{
	for (int i = 0; i < s->nfiles; i++)
		if (s->files[i]->dev == dev && s->files[i]->ino == ino)
			return s->files[i];
	return NULL;
}

/*
 * The file range r of process pid maps, while the process lives: through
 * /proc/PID/map_files, the very file whatever its path says in the
 * daemon's mount namespace (a container's own root, a chroot, a file
 * deleted or replaced since). That needs CAP_CHECKPOINT_RESTORE (or
 * CAP_SYS_ADMIN); without it, or once the process is gone, r->file stays
 * NULL and range_file goes by the path.
 */
static void range_open(struct symbolizer *s, uint32_t pid, struct range *r)
{
	char name[80];
	int fd;

	if (r->file || (r->file = fsym_find(s, r->dev, r->ino)))
		return;
	snprintf(name, sizeof(name), "/proc/%u/map_files/%llx-%llx", pid,
		 (unsigned long long)r->start, (unsigned long long)r->end);
	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		r->file = fsym_from_fd(s, fd, r->path);
}

static int reload_map(void *ctx, const struct procfs_map *m)
{
	struct reload *rl = ctx;
	struct range *r;

	if (m->path[0] != '/')
		return 0;
	if (rl->n == rl->cap) {
		int ncap = rl->cap ? rl->cap * 2 : 32;
		struct range *t = realloc(rl->nr, ncap * sizeof(*t));

		if (!t)
			return 1; /* keep what was read */
		rl->nr = t;
		rl->cap = ncap;
	}
	r = &rl->nr[rl->n];
	r->start = m->start;
	r->end = m->end;
	r->pgoff = m->offset;
	r->path = strdup(m->path);
	r->dev = makedev(m->dev_major, m->dev_minor);
	r->ino = (ino_t)m->inode;
	r->runtime = is_runtime(m->path);
	r->loader = is_loader(m->path);
	r->file = NULL;
	if (r->path)
		rl->n++;
	return 0;
}

/* Read the file-backed mappings of pid; keep the old ones on failure
 * (the process may be gone, and they are still right for its past). */
static void pmap_reload(struct symbolizer *s, struct pmap *m)
{
	struct reload rl = {0};
	struct range *nr;
	int n, cap;

	if (procfs__each_map(m->pid, reload_map, &rl) < 0)
		return;
	nr = rl.nr;
	n = rl.n;
	cap = rl.cap;
	if (!n) {
		free(nr);
		return;
	}
	set_map0(nr, n);
	for (int i = 0; i < n; i++)
		range_open(s, m->pid, &nr[i]);
	n = keep_history(m, &nr, n, &cap);
	pmap_clear(m);
	m->ranges = nr;
	m->nranges = n;
}

void symbolizer__add_module(struct symbolizer *s, uint32_t pid,
			    const char *path, uint64_t base, uint64_t start,
			    uint64_t end)
{
	struct pmap *m = pmap_get(s, pid, 1);
	/* The first segment starts the span: offset 0, in the usual layout
	 * of a shared library. */
	struct range r = {.start = start, .end = end, .map0 = start};
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
	nr[n++] = r;
	qsort(nr, (size_t)n, sizeof(*nr), range_cmp);
	free(m->ranges);
	m->ranges = nr;
	m->nranges = n;
}

static uint64_t mono_coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void symbolizer__track(struct symbolizer *s, uint32_t pid)
{
	struct pmap *m = pmap_get(s, pid, 1);

	if (m)
		pmap_reload(s, m);
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
	pmap_reload(s, m);
}

/* The build-id of the ELF file open as fd; 0 when it has none. */
static size_t read_build_id(int fd, unsigned char *id, size_t max,
			    uint64_t *vaddr0)
{
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	const void *bid = NULL;
	ssize_t n = 0;
	size_t nph = 0;

	*vaddr0 = 0;
	if (!elf)
		return 0;
	if (elf_kind(elf) == ELF_K_ELF) {
		n = dwelf_elf_gnu_build_id(elf, &bid);
		if (elf_getphdrnum(elf, &nph))
			nph = 0;
		for (size_t i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) &&
			    ph.p_type == PT_LOAD) {
				*vaddr0 = ph.p_vaddr - ph.p_offset;
				break;
			}
		}
	}
	if (n > 0 && (size_t)n <= max)
		memcpy(id, bid, (size_t)n);
	else
		n = 0;
	elf_end(elf);
	return (size_t)n;
}

/* The cached file for the ELF file open as fd (which this consumes), read
 * the first time: by build-id, so the same library seen at other paths
 * (containers) or inodes is read once. name is its path as the process
 * sees it. NULL when it cannot be read. */
static struct fsym *fsym_from_fd(struct symbolizer *s, int fd,
				 const char *name)
{
	unsigned char id[64];
	struct stat st;
	struct fsym *f;
	uint64_t vaddr0;
	size_t idlen;

	if (fstat(fd, &st) || elf_version(EV_CURRENT) == EV_NONE) {
		close(fd);
		return NULL;
	}
	if ((f = fsym_find(s, st.st_dev, st.st_ino))) {
		close(fd);
		return f;
	}
	idlen = read_build_id(fd, id, sizeof(id), &vaddr0);
	for (int i = 0; idlen && i < s->nfiles; i++)
		if (s->files[i]->idlen == idlen &&
		    !memcmp(s->files[i]->id, id, idlen)) {
			close(fd);
			return s->files[i];
		}
	if (s->nfiles == MAX_FILES || !(f = calloc(1, sizeof(*f)))) {
		close(fd);
		return NULL;
	}
	memcpy(f->id, id, idlen);
	f->idlen = idlen;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->vaddr0 = vaddr0;
	f->serial = (uint64_t)s->nfiles + 1;
	/* The worker's own, handed at its first request: the module below
	 * takes fd, and may close it once the file is read. Not more than
	 * MAX_WFDS of them wait, so that files without sites to name never
	 * hold twice the fds (the worker then opens the path). */
	f->wfd = s->nwfd < MAX_WFDS ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (f->wfd >= 0)
		s->nwfd++;
	hmap__init(&f->answers);
	f->dwfl = dwfl_begin(&dwfl_callbacks);
	if (f->dwfl) {
		dwfl_report_begin(f->dwfl);
		/* At bias 0: addresses asked are link-time addresses. The
		 * module takes fd when it is made. */
		f->mod = dwfl_report_elf(f->dwfl, name, name, fd, 0, false);
		dwfl_report_end(f->dwfl, NULL, NULL);
		if (!f->mod) {
			dwfl_end(f->dwfl);
			f->dwfl = NULL;
		}
	}
	if (!f->mod) {
		close(fd);
		if (f->wfd >= 0) {
			close(f->wfd);
			s->nwfd--;
		}
		f->wfd = -1;
	}
	s->files[s->nfiles++] = f;
	return f;
}

/* The cached file at path, in the daemon's own mount namespace. */
static struct fsym *fsym_get(struct symbolizer *s, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	return fd < 0 ? NULL : fsym_from_fd(s, fd, path);
}

/* pc in range r to the file's link-time address, with its file. */
static struct fsym *range_file(struct symbolizer *s, struct range *r,
			       uint64_t pc, uint64_t *addr)
{
	if (!r->file)
		r->file = fsym_get(s, r->path);
	if (!r->file || !r->file->mod)
		return NULL;
	*addr = pc - r->map0 + r->file->vaddr0;
	return r->file;
}

/* The function at addr (a link-time address of f), its offset in *off
 * and its size in *size (0: unknown): from the file's sorted index, or
 * libdwfl where the index cannot tell. */
static const char *fsym_name(struct fsym *f, uint64_t addr, uint64_t *off,
			     uint64_t *size)
{
	GElf_Off o = 0;
	GElf_Sym sym;
	const char *name;

	*size = 0;
	if (!f->syms_tried) {
		f->syms_tried = true;
		f->syms = symindex__new(f->mod);
	}
	if (f->syms)
		return symindex__name(f->syms, f->mod, addr, off, size);
	name = dwfl_module_addrinfo(f->mod, addr, &o, &sym, NULL, NULL, NULL);
	*off = o;
	if (name)
		*size = sym.st_size;
	return name;
}

static void copy_str(char *dst, const char *src)
{
	snprintf(dst, MW_SITE_STR, "%s", src ? src : "");
}

static struct range *range_of(struct symbolizer *s, uint32_t pid,
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

bool symbolizer__in_file(struct symbolizer *s, uint32_t pid, uint64_t ip)
{
	return range_of(s, pid, ip) != NULL;
}

bool symbolizer__is_loader(struct symbolizer *s, uint32_t pid, uint64_t ip)
{
	const struct range *r = range_of(s, pid, ip);

	return r && r->loader;
}

const char *symbolizer__function(struct symbolizer *s, uint32_t pid,
				 uint64_t ip)
{
	uint64_t pc = ip ? ip - 1 : 0, addr, off, size;
	struct range *r = range_of(s, pid, ip);
	struct fsym *f;

	if (!r || !(f = range_file(s, r, pc, &addr)))
		return NULL;
	return fsym_name(f, addr, &off, &size);
}

const char *symbolizer__symbol(struct symbolizer *s, uint32_t pid,
			       uint64_t ip, uint64_t *size, uintptr_t *file)
{
	uint64_t pc = ip ? ip - 1 : 0, addr, off;
	struct range *r = range_of(s, pid, ip);
	struct fsym *f;

	*size = 0;
	*file = 0;
	if (!r || !(f = range_file(s, r, pc, &addr)))
		return NULL;
	*file = (uintptr_t)f;
	return fsym_name(f, addr, &off, size);
}

/* Put the worker's answer r into row: its name, from the debug file
 * too, over the loop's; its source line. */
static void fill_answer(struct mw_site_row *row, const struct symworker_res *r)
{
	if (r->named) {
		copy_str(row->function, r->function);
		row->offset = r->off + 1; /* relative to ip, not pc */
	}
	if (r->src[0]) {
		copy_str(row->file, r->src);
		row->line = r->line;
	}
}

/* path opened, if it is f's very file (the daemon's mount namespace
 * may name another file there): the worker's fd when none was kept. */
static int open_same(const char *path, const struct fsym *f)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd >= 0 && (fstat(fd, &st) || st.st_dev != f->dev ||
			st.st_ino != f->ino)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* row, as the loop named it, for address addr of f: completed from the
 * worker's answer when there is one; else the worker is asked (once per
 * address) and a copy of row waits for the answer. */
static void ask_worker(struct symbolizer *s, struct fsym *f, uint64_t addr,
		       const struct mw_site_row *row_in, struct mw_site_row *row)
{
	struct symwait *sw = hmap__get(&f->answers, addr + 1);
	struct mw_site_row *copy;
	int err;

	if (sw && sw->done) {
		const struct symres *sr = (const struct symres *)(void *)sw;

		if (sr->function) {
			copy_str(row->function, sr->function);
			row->offset = sr->off + 1;
		}
		if (sr->src) {
			copy_str(row->file, sr->src);
			row->line = sr->line;
		}
		return;
	}
	if (!sw) {
		int fd = f->handed ? -1 : f->wfd;

		if (!f->handed && fd < 0 &&
		    (fd = open_same(row_in->module, f)) < 0)
			return; /* no fd for the worker: the loop's names */
		err = symworker__ask(s->worker, f->serial, fd, row_in->module,
				     addr);
		if (err) {
			if (fd != f->wfd)
				close(fd);
			s->stats.dropped++;
			return;
		}
		s->stats.asked++;
		if (!f->handed) {
			if (f->wfd >= 0)
				s->nwfd--;
			f->handed = true;
			f->wfd = -1;
		}
		if (!(sw = calloc(1, sizeof(*sw))) ||
		    hmap__put(&f->answers, addr + 1, sw)) {
			free(sw);
			return; /* its answer will find nobody waiting */
		}
	}
	if ((copy = malloc(sizeof(*copy)))) {
		*copy = *row;
		if (vec__push(&sw->rows, copy))
			free(copy);
	}
}

/* Fill row's module and function for ip from the symbol tables; the
 * file and address the worker would take, or NULL. */
static struct fsym *resolve_names(struct symbolizer *s, uint32_t pid,
				  uint64_t ip, struct mw_site_row *row,
				  uint64_t *addr)
{
	struct pmap *m = pmap_get(s, pid, 1);
	struct range *r;
	struct fsym *f;
	uint64_t off = 0, size;
	const char *name;
	/* ip is a return address: the call is just before it. */
	uint64_t pc = ip ? ip - 1 : 0;

	row->ip = ip;
	if (!m)
		return NULL;
	if (!(r = range_find(m, pc))) {
		pmap_reload(s, m);
		r = range_find(m, pc);
	}
	if (!r)
		return NULL;
	copy_str(row->module, r->path);
	if (!(f = range_file(s, r, pc, addr)))
		return NULL;
	name = fsym_name(f, *addr, &off, &size);
	if (name) {
		copy_str(row->function, name);
		row->offset = off + 1; /* relative to ip, not pc */
	}
	return f;
}

void symbolizer__resolve(struct symbolizer *s, uint32_t pid, uint64_t ip,
			 struct mw_site_row *row)
{
	uint64_t addr;
	struct fsym *f = resolve_names(s, pid, ip, row, &addr);

	/* The source line, and names a debug file elsewhere has: the
	 * worker's. */
	if (f)
		ask_worker(s, f, addr, row, row);
}

void symbolizer__names(struct symbolizer *s, uint32_t pid, uint64_t ip,
		       struct mw_site_row *row)
{
	uint64_t addr;

	resolve_names(s, pid, ip, row, &addr);
}

static void symres_free(struct symres *sr)
{
	if (!sr)
		return;
	free(sr->function);
	free(sr->src);
	free(sr);
}

/* r kept, its strings copied; NULL when out of memory. */
static struct symres *symres_new(const struct symworker_res *r)
{
	struct symres *sr = calloc(1, sizeof(*sr));

	if (!sr)
		return NULL;
	sr->done = true;
	sr->off = r->off;
	sr->line = r->line;
	if ((r->named && !(sr->function = strdup(r->function))) ||
	    (r->src[0] && !(sr->src = strdup(r->src)))) {
		symres_free(sr);
		return NULL;
	}
	return sr;
}

/* The file whose worker id is serial (its index + 1). */
static struct fsym *fsym_by_serial(struct symbolizer *s, uint64_t serial)
{
	return serial && serial <= (uint64_t)s->nfiles ? s->files[serial - 1]
						       : NULL;
}

void symbolizer__collect(struct symbolizer *s)
{
	struct symworker_res *res = malloc(64 * sizeof(*res));
	int n;

	if (!res)
		return;
	while ((n = symworker__take(s->worker, res, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			struct fsym *f = fsym_by_serial(s, res[i].file);
			struct symwait *sw;
			struct symres *sr;

			s->stats.answered++;
			if (!f || !(sw = hmap__get(&f->answers,
						   res[i].addr + 1)) ||
			    sw->done)
				continue;
			for (size_t j = 0; j < sw->rows.len; j++) {
				struct mw_site_row *row = sw->rows.items[j];

				fill_answer(row, &res[i]);
				if (vec__push(&s->ready, row))
					free(row);
			}
			vec__fini(&sw->rows);
			free(sw);
			/* Kept for the sites of this address to come (other
			 * processes of the same file); without room, the
			 * next one asks again. */
			sr = symres_new(&res[i]);
			if (!sr || hmap__put(&f->answers, res[i].addr + 1, sr)) {
				symres_free(sr);
				hmap__del(&f->answers, res[i].addr + 1);
			}
		}
	}
	free(res);
}

int symbolizer__rewrite(struct symbolizer *s,
			int (*put)(void *ctx, const struct mw_site_row *row),
			void *ctx)
{
	size_t i;
	int err = 0;

	for (i = 0; i < s->ready.len; i++)
		if ((err = put(ctx, s->ready.items[i])))
			break;
	if (err)
		return err;
	for (i = 0; i < s->ready.len; i++)
		free(s->ready.items[i]);
	s->stats.rewritten += s->ready.len;
	s->ready.len = 0;
	return 0;
}

int symbolizer__settle(struct symbolizer *s, int ms)
{
	struct pollfd pfd = {.fd = symworker__fd(s->worker), .events = POLLIN};
	uint64_t end = mono_coarse_ns() + (uint64_t)ms * 1000000ull;

	for (;;) {
		uint64_t now;

		symbolizer__collect(s);
		if (s->stats.answered >= s->stats.asked)
			return 0;
		now = mono_coarse_ns();
		if (now >= end)
			break;
		if (poll(&pfd, 1, (int)((end - now) / 1000000ull) + 1) < 0 &&
		    errno != EINTR)
			break;
	}
	return (int)(s->stats.asked - s->stats.answered);
}

bool symbolizer__rewrite_waiting(const struct symbolizer *s)
{
	return s->ready.len > 0;
}
