/*
 * collector_probe.c - the collector's probe tables (the functions it
 * probes, with their programs and classes; the user's own), the offsets
 * of those functions in a file, and where in each function its probe
 * costs least.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "allocator.h"
#include "collector_int.h"
#include "elfsym.h"
#include "insn.h"
#include "memwatch.h"

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

_Static_assert(sizeof(probes) / sizeof(probes[0]) == NPROBES,
	       "NPROBES (collector_int.h) counts probes[]");

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
				p->enter_off == PROG(xfree_enter) ||
				p->enter_off == PROG(pool_free_enter)
			? 1
			: 2,
		p->required};
	return n;
}

/* The offsets of probes[] in the ELF file at path, cached. */
const uint64_t *collector_probe__resolve(struct collector *c, const char *path)
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
	if (e == PROG(wrap_enter) || e == PROG(dlopen_enter) ||
	    e == PROG(pool_lock_enter))
		return 0;
	if (e == PROG(xalloc_enter) || e == PROG(xrealloc_enter) ||
	    e == PROG(xfree_enter) || e == PROG(pool_alloc_enter) ||
	    e == PROG(pool_realloc_enter) || e == PROG(pool_free_enter))
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
 * The probes of one module: all of them in libc, the malloc family
 * and the allocator API in an allocator (which must export a malloc/free
 * pair, or it is not replacing anything). A required probe missing in
 * libc fails.
 */
int collector_probe__module(struct collector *c, bool tls_only,
			    const struct module_path *m, struct req *reqs)
{
	uint64_t offs[NPROBES];
	const uint64_t *o = collector_probe__resolve(c, m->path);
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
		if (tls_only && p->cls != PC_LIBC)
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
			      !(tls_only && probes[j].cls != PC_LIBC);
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
	return n;
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
	if (!c->npairs || (kind != COLLECTOR_FREE && c->pair_freed)) {
		c->npairs++;
		c->pair_freed = false;
	}
	if (kind == COLLECTOR_FREE)
		c->pair_freed = true;
	u = &c->custom[c->ncustom++];
	u->pair = (uint8_t)c->npairs;
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

/*
 * The locks a pool may serialize its callers with. Probed by
 * pool_lock_enter in a process whose pairs overlapped (collector__locks):
 * one taken inside a call of the pair says that pool has a lock
 * (docs/RULES.md, allocator-race).
 */
static const char *const lock_funcs[] = {
    "pthread_mutex_lock",     "pthread_mutex_trylock",
    "pthread_mutex_timedlock", "pthread_mutex_clocklock",
    "pthread_spin_lock",      "pthread_spin_trylock",
    "pthread_rwlock_wrlock",  "pthread_rwlock_trywrlock",
    "pthread_rwlock_timedwrlock", "pthread_rwlock_clockwrlock",
    "mtx_lock",		      "mtx_timedlock",
    "mtx_trylock",	      "sem_wait",
};

#define NLOCKS (sizeof(lock_funcs) / sizeof(lock_funcs[0]))
_Static_assert(NLOCKS <= (size_t)CUSTOM_REQS,
	       "CUSTOM_REQS has room for the locks");

/* Does the instruction at off in the file at path carry a lock prefix
 * (which x86 uprobes refuse)? */
static bool lock_prefixed(const char *path, uint64_t off)
{
	uint8_t b = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return true;
	if (pread(fd, &b, 1, (off_t)off) != 1)
		b = 0xf0;
	close(fd);
	return b == 0xf0;
}

/* A name probes[] knows: an allocator's API, thread-safe by contract. */
static bool known_api(const char *func)
{
	for (size_t i = 0; i < NPROBES; i++)
		if (!strcmp(probes[i].func, func))
			return true;
	return false;
}

/*
 * u as the pair's program: the generic one with the pair's entry and
 * return (pool_*_enter/exit), its cookie naming the pair and u's index.
 */
static void as_pool(const struct collector *c, const struct custom *u,
		    struct probe *q)
{
	size_t e = q->enter_off;

	q->cookie |= MW_COOKIE_POOL(u->pair, (uint64_t)(u - c->custom));
	if (e == PROG(xalloc_enter)) {
		q->enter_off = PROG(pool_alloc_enter);
		q->exit_off = PROG(pool_alloc_exit);
	} else if (e == PROG(xrealloc_enter)) {
		q->enter_off = PROG(pool_realloc_enter);
		q->exit_off = PROG(pool_realloc_exit);
	} else {
		q->enter_off = PROG(pool_free_enter);
		q->exit_off = PROG(pool_free_exit);
	}
}

int collector_probe__custom(struct collector *c, const char *path,
			    struct req *reqs)
{
	const char *names[MAX_CUSTOM];
	uint64_t offs[MAX_CUSTOM];
	const char *base = strrchr(path, '/');
	/* A known allocator's file: its functions are thread-safe. */
	bool safe = allocator__thread_safe_file(base ? base + 1 : path);
	int n = 0;

	for (int i = 0; i < c->ncustom; i++)
		names[i] = c->custom[i].func;
	if (elfsym__resolve(path, names, c->ncustom, offs))
		return 0; /* not an ELF file we can read: nothing to probe */
	for (int i = 0; i < c->ncustom; i++) {
		const struct custom *u = &c->custom[i];
		struct probe q = u->p;
		uint64_t off;

		if (!offs[i])
			continue;
		off = c->at_entry ? offs[i] : place(path, offs[i], &q);
		if (!safe && !known_api(u->func))
			as_pool(c, u, &q);
		n = add_req(reqs, n, &q, off);
	}
	return n;
}

int collector_probe__locks(const char *path, struct req *reqs)
{
	const int nlocks = (int)NLOCKS;
	uint64_t offs[NLOCKS];
	int n = 0;

	if (elfsym__resolve(path, lock_funcs, nlocks, offs))
		return 0;
	for (int i = 0; i < nlocks; i++) {
		struct probe q = {lock_funcs[i], 0, PC_LIBC, 0,
				  PROG(pool_lock_enter), 0};
		uint64_t at = offs[i], off;
		bool dup = false;

		/* Aliases (one function, two names) are probed once. */
		for (int j = 0; j < i; j++)
			dup |= offs[j] == at;
		if (!at || dup)
			continue;
		/* Past a first instruction uprobes refuse (a lock prefix:
		 * pthread_spin_lock's lock decl) if the decoder can; one
		 * left there would fail the link of every lock. */
		off = place(path, at, &q);
		if (off == at && lock_prefixed(path, at))
			continue;
		n = add_req(reqs, n, &q, off);
	}
	return n;
}
