/*
 * symindex.c - see symindex.h.
 *
 * Which symbol libdwfl names for an address (dwfl_module_addrsym.c,
 * elfutils 0.188), and so which one this index names:
 *   - global and weak symbols first: a local one only when none of them
 *     covers the address;
 *   - among those covering it, the one starting closest below it;
 *   - at the same start, the stronger binding (global over weak over
 *     local), and at equal binding the first in the table.
 * A sized symbol covers [value, value + size). A sizeless one may cover
 * anything up to the next symbol or its section's end: those cases go
 * back to libdwfl (decided false), rare for code.
 *
 * Invariant: syms is sorted by (start, rank descending, index), so the
 * best symbol at a start comes first among those at that start.
 */
#include <errno.h>
#include <gelf.h>
#include <stdlib.h>

#include "hash.h"
#include "symindex.h"

struct sym {
	uint64_t start, size;
	uint64_t sec_end; /* sizeless ones: where their section ends */
	const char *name;
	int rank;  /* 2 global, 1 weak, 0 local */
	int index; /* in the module's table: the tie-break */
};

struct symindex {
	struct sym *syms;     /* sized */
	/* back[i]: the last j < i whose symbol ends above syms[i].start, or
	 * -1. Every symbol below i that covers an address at or above
	 * syms[i].start is on the chain i, back[i], back[back[i]]...: so a
	 * lookup visits the few symbols that overlap, not every one within
	 * the largest symbol's size (V8's 86 KB tables made that thousands). */
	int *back;
	struct sym *unsized;  /* sizeless, sorted by start */
	int n, nunsized;
	struct hmap slow; /* address -> struct slow_name: libdwfl's answers */
};

struct slow_name {
	const char *name; /* libdwfl's, valid while its module is; or NULL */
	uint64_t off, size;
};

#define MAX_SLOW 65536 /* answers kept; past it, the cache starts again */

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->rank != y->rank)
		return y->rank - x->rank;
	return x->index - y->index;
}

static int bind_rank(int bind)
{
	switch (bind) {
	case STB_GLOBAL:
	case STB_GNU_UNIQUE:
		return 2;
	case STB_WEAK:
		return 1;
	default:
		return 0;
	}
}

/* Where section shndx of mod's ELF file ends, as a module address; 0
 * when unknown (then the symbol is taken to reach anywhere above). */
static uint64_t section_end(Dwfl_Module *mod, GElf_Word shndx)
{
	GElf_Addr bias = 0;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	Elf_Scn *scn = elf ? elf_getscn(elf, shndx) : NULL;
	GElf_Shdr sh;

	if (!scn || !gelf_getshdr(scn, &sh))
		return 0;
	return sh.sh_addr + sh.sh_size + bias;
}

/*
 * back[] of syms (sorted by start), in one pass with a stack of indices:
 * one whose symbol ends at or below a start is never an answer again
 * (later starts are higher), so it is popped for good; the top left is
 * the last symbol ending above the start.
 */
static int *back_links(const struct sym *syms, int n)
{
	int *back = malloc(((size_t)n + 1) * sizeof(*back));
	int *stack = malloc(((size_t)n + 1) * sizeof(*stack));
	int top = 0;

	if (!back || !stack) {
		free(back);
		free(stack);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		while (top && syms[stack[top - 1]].start +
					  syms[stack[top - 1]].size <=
				  syms[i].start)
			top--;
		back[i] = top ? stack[top - 1] : -1;
		stack[top++] = i;
	}
	free(stack);
	return back;
}

struct symindex *symindex__new(Dwfl_Module *mod)
{
	struct symindex *x;
	int n = dwfl_module_getsymtab(mod);

	if (n <= 0) {
		errno = ENOENT;
		return NULL;
	}
	if ((x = calloc(1, sizeof(*x))))
		hmap__init(&x->slow);
	if (!x ||
	    !(x->syms = calloc((size_t)n, sizeof(*x->syms))) ||
	    !(x->unsized = calloc((size_t)n, sizeof(*x->unsized)))) {
		symindex__free(x);
		errno = ENOMEM;
		return NULL;
	}
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr,
							   &shndx, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info);
		struct sym s;

		/* libdwfl skips these too: no name, not defined here, or
		 * not an address (sections, files, TLS offsets). */
		if (!name || !*name || shndx == SHN_UNDEF ||
		    type == STT_SECTION || type == STT_FILE || type == STT_TLS)
			continue;
		s = (struct sym){
			.start = addr,
			.size = sym.st_size,
			.name = name,
			.rank = bind_rank(GELF_ST_BIND(sym.st_info)),
			.index = i,
		};
		if (!s.size) {
			s.sec_end = shndx == SHN_ABS ? 0 : section_end(mod, shndx);
			x->unsized[x->nunsized++] = s;
			continue;
		}
		x->syms[x->n++] = s;
	}
	qsort(x->syms, (size_t)x->n, sizeof(*x->syms), sym_cmp);
	qsort(x->unsized, (size_t)x->nunsized, sizeof(*x->unsized), sym_cmp);
	if (!(x->back = back_links(x->syms, x->n))) {
		symindex__free(x);
		errno = ENOMEM;
		return NULL;
	}
	return x;
}

static void slow_clear(struct symindex *x)
{
	uint64_t k;
	void *v;

	for (size_t i = 0; hmap__next(&x->slow, &i, &k, &v);)
		free(v);
	hmap__fini(&x->slow);
	hmap__init(&x->slow);
}

void symindex__free(struct symindex *x)
{
	if (!x)
		return;
	slow_clear(x);
	hmap__fini(&x->slow);
	free(x->syms);
	free(x->back);
	free(x->unsized);
	free(x);
}

/* The index of the last of syms[0, n) starting at or below addr, or -1. */
static int last_at_or_below(const struct sym *syms, int n, uint64_t addr)
{
	int lo = 0, hi = n - 1, found = -1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (syms[mid].start <= addr) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

/* A sizeless symbol in addr's section starts at or below addr, at or
 * above floor: libdwfl might name it. */
static bool unsized_near(const struct symindex *x, uint64_t addr,
			 uint64_t floor)
{
	int i = last_at_or_below(x->unsized, x->nunsized, addr);

	for (; i >= 0 && x->unsized[i].start >= floor; i--) {
		const struct sym *s = &x->unsized[i];

		if (!s->sec_end || addr < s->sec_end)
			return true;
	}
	return false;
}

const char *symindex__find(const struct symindex *x, uint64_t addr,
			   uint64_t *off, bool *decided)
{
	uint64_t size;

	return symindex__find_sized(x, addr, off, &size, decided);
}

const char *symindex__find_sized(const struct symindex *x, uint64_t addr,
				 uint64_t *off, uint64_t *size, bool *decided)
{
	const struct sym *best[2] = {NULL, NULL}; /* [0] local, [1] other */
	const struct sym *s;
	int i = last_at_or_below(x->syms, x->n, addr);

	/* Walk down the chain of symbols that may cover addr (back[]).
	 * Sorted: the first met of a class is the closest start; at one
	 * start the best rank and index are met last (walking down), so
	 * they replace. */
	for (; i >= 0; i = x->back[i]) {
		const struct sym **b;

		s = &x->syms[i];
		b = &best[s->rank > 0];
		if (addr - s->start >= s->size)
			continue;
		if (!*b || s->start == (*b)->start)
			*b = s;
	}
	s = best[1] ? best[1] : best[0];
	*decided = !unsized_near(x, addr, s ? s->start : 0);
	if (!s || !*decided)
		return NULL;
	*off = addr - s->start;
	*size = s->size;
	return s->name;
}

const char *symindex__name(struct symindex *x, Dwfl_Module *mod,
			   uint64_t addr, uint64_t *off, uint64_t *size)
{
	struct slow_name *hit;
	const char *name;
	bool decided;
	GElf_Off o = 0;
	GElf_Sym sym;

	name = symindex__find_sized(x, addr, off, size, &decided);
	if (decided)
		return name;
	if ((hit = hmap__get(&x->slow, addr))) {
		*off = hit->off;
		*size = hit->size;
		return hit->name;
	}
	name = dwfl_module_addrinfo(mod, addr, &o, &sym, NULL, NULL, NULL);
	*off = o;
	*size = name ? sym.st_size : 0;
	if (x->slow.len >= MAX_SLOW)
		slow_clear(x);
	if ((hit = malloc(sizeof(*hit)))) {
		*hit = (struct slow_name){name, *off, *size};
		if (hmap__put(&x->slow, addr, hit))
			free(hit);
	}
	return name;
}
