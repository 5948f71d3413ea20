/*
 * test_symindex.c - the sorted symbol index (daemon/symindex.c) must name
 * what libdwfl names, on Debian's own libraries: for every sized function
 * symbol, its first, middle and last byte and the byte after it, the
 * index's answer (where it decides) is libdwfl's dwfl_module_addrinfo
 * answer, name, offset and size; and it decides nearly all of those inside a
 * function (what return addresses are), or it would not be the fast
 * path it is for. The byte after a function may be padding that only a
 * sizeless symbol could name: the index may leave those to libdwfl.
 */
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <glob.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "symindex.h"
#include "unit.h"

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

/* Compare index and libdwfl on every STEP-th function of file (libdwfl
 * takes a scan of the table per address); MIN_DECIDED: the share
 * (percent) of addresses inside functions the index must decide. */
static void compare(const char *file, int step, int min_decided)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC), n;
	uint64_t asked = 0, decided = 0, wrong = 0, inside = 0, inside_ok = 0;
	int funcs = 0;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	struct symindex *x;

	CHECK(fd >= 0);
	if (fd < 0) {
		printf("  cannot open \"%s\"\n", file);
		return;
	}
	dwfl = dwfl_begin(&callbacks);
	CHECK(dwfl != NULL);
	dwfl_report_begin(dwfl);
	/* As the symbolizer does: at bias 0, the module takes fd. */
	mod = dwfl_report_elf(dwfl, file, file, fd, 0, false);
	dwfl_report_end(dwfl, NULL, NULL);
	CHECK(mod != NULL);
	if (!mod)
		goto out;
	x = symindex__new(mod);
	CHECK(x != NULL);
	n = dwfl_module_getsymtab(mod);
	for (int i = 1; x && i < n; i++) {
		GElf_Sym sym;
		GElf_Addr a;
		const char *nm = dwfl_module_getsym_info(mod, i, &sym, &a,
							 NULL, NULL, NULL);
		uint64_t probe[4];

		if (!nm || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    !sym.st_size || funcs++ % step)
			continue;
		probe[0] = a;
		probe[1] = a + sym.st_size / 2;
		probe[2] = a + sym.st_size - 1;
		probe[3] = a + sym.st_size;
		for (int k = 0; k < 4; k++) {
			GElf_Off doff = 0;
			GElf_Sym dsym;
			uint64_t off = 0, size = 0;
			bool ok;
			const char *want = dwfl_module_addrinfo(
				mod, probe[k], &doff, &dsym, NULL, NULL, NULL);
			/* With its size, as wrapper.c asks it. */
			const char *got = symindex__find_sized(x, probe[k], &off,
							       &size, &ok);

			asked++;
			inside += k < 3;
			if (!ok)
				continue;
			decided++;
			inside_ok += k < 3;
			if ((!want) != (!got) ||
			    (want && (strcmp(want, got) || doff != off ||
				      dsym.st_size != size))) {
				if (wrong++ < 5)
					printf("  %s at 0x%" PRIx64 ": index "
					       "\"%s\"+%" PRIu64 ", libdwfl "
					       "\"%s\"+%" PRIu64 "\n",
					       file, probe[k], got ? got : "",
					       off, want ? want : "",
					       (uint64_t)doff);
			}
		}
	}
	printf("  %s: %" PRIu64 " addresses, %" PRIu64 " decided by the "
	       "index (%" PRIu64 " of %" PRIu64 " inside functions), %" PRIu64
	       " named otherwise than libdwfl\n",
	       file, asked, decided, inside_ok, inside, wrong);
	CHECK(asked > 1000);
	CHECK_U64(wrong, 0);
	CHECK(inside_ok * 100 >= inside * (uint64_t)min_decided);
	symindex__free(x);
out:
	dwfl_end(dwfl);
}

/* The first path glob finds: the libraries' place is Debian's. */
static char *first(const char *pattern)
{
	glob_t g;
	char *p = NULL;

	if (!glob(pattern, 0, NULL, &g) && g.gl_pathc)
		p = strdup(g.gl_pathv[0]);
	globfree(&g);
	if (!p)
		printf("  nothing matches \"%s\"\n", pattern);
	return p;
}

static void run(const char *pattern, int step, int min_decided)
{
	char *p = first(pattern);

	CHECK(p != NULL);
	if (p)
		compare(p, step, min_decided);
	free(p);
}

static void test_libc(void)
{
	run("/usr/lib/x86_64-linux-gnu/libc.so.6", 2, 95);
}

static void test_libstdcxx(void)
{
	run("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", 2, 95);
}

/* Some 60,000 C++ symbols: the library that made the index worth it. */
static void test_libjvm(void)
{
	run("/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so", 24, 95);
}

/* A program with a full .symtab (this test itself, -g). */
static void test_self(void)
{
	compare("/proc/self/exe", 1, 95);
}

static const struct unit_case cases[] = {
	UNIT_CASE(test_libc),
	UNIT_CASE(test_libstdcxx),
	UNIT_CASE(test_libjvm),
	UNIT_CASE(test_self),
};

int main(int argc, char **argv)
{
	elf_version(EV_CURRENT);
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
