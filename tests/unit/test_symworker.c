/*
 * test_symworker.c - the symbolizer's worker thread (daemon/symworker.c)
 * names an address of a file it was handed, from another thread: the
 * function, its offset and its source line (this test is built with -g),
 * a second address of the same file without a new fd, and an address of
 * a file it never got (unnamed, answered all the same); each answer
 * wakes the eventfd, and taking the last clears it. Ending it, idle
 * (joined) or never started, frees everything (the sanitized build's
 * leak check).
 */
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "symworker.h"
#include "unit.h"

static int target_line;
/* The line target starts on: DWARF may give its first bytes to it. */
enum { TARGET_DECL = __LINE__ + 2 };

__attribute__((noinline)) static int target(int x)
{
	target_line = __LINE__ + 1;
	return x * 3 + 1;
}

/* The main program's load bias: its link-time addresses are these less
 * the bias (a PIE). */
static int first_bias(struct dl_phdr_info *info, size_t size, void *ctx)
{
	(void)size;
	*(uintptr_t *)ctx = info->dlpi_addr;
	return 1;
}

/* Wait for one answer (10 s at most) into r. */
static bool take_one(struct symworker *w, struct symworker_res *r)
{
	struct pollfd p = {.fd = symworker__fd(w), .events = POLLIN};

	for (int i = 0; i < 100; i++) {
		if (symworker__take(w, r, 1) == 1)
			return true;
		poll(&p, 1, 100);
	}
	return false;
}

/* addr's source line as libdw gives it here, on the test's own file. */
static void libdw_line(uint64_t addr, struct symworker_res *out)
{
	static const Dwfl_Callbacks cb = {
	    .find_elf = dwfl_build_id_find_elf,
	    .find_debuginfo = dwfl_standard_find_debuginfo,
	};
	Dwfl *dwfl = dwfl_begin(&cb);
	Dwfl_Module *mod = NULL;
	Dwfl_Line *line;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), n = 0;
	const char *src;

	memset(out, 0, sizeof(*out));
	if (dwfl) {
		dwfl_report_begin(dwfl);
		mod = dwfl_report_elf(dwfl, "self", "/proc/self/exe", fd, 0,
				      false);
		dwfl_report_end(dwfl, NULL, NULL);
	}
	if (mod && (line = dwfl_module_getsrc(mod, addr)) &&
	    (src = dwfl_lineinfo(line, NULL, &n, NULL, NULL, NULL))) {
		snprintf(out->src, sizeof(out->src), "%s", src);
		out->line = n > 0 ? (uint32_t)n : 0;
	}
	if (!mod && fd >= 0)
		close(fd);
	if (dwfl)
		dwfl_end(dwfl);
}

static bool readable(struct symworker *w)
{
	struct pollfd p = {.fd = symworker__fd(w), .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

static void test_names_and_lines(void)
{
	struct symworker *w = symworker__new(4);
	struct symworker_res r, want;
	uintptr_t bias = 0;
	/* An address inside target, past its first instruction: a return
	 * address's call is before it, as the loop asks. */
	uint64_t addr;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	CHECK(target(1) == 4);
	dl_iterate_phdr(first_bias, &bias);
	addr = (uint64_t)((uintptr_t)target - bias) + 1;
	CHECK(w && fd >= 0);
	if (!w || fd < 0)
		return;
	CHECK(!readable(w));
	CHECK(symworker__ask(w, 7, fd, "/proc/self/exe", addr) == 0);
	CHECK(take_one(w, &r));
	CHECK_U64(r.file, 7);
	CHECK_U64(r.addr, addr);
	CHECK(r.named);
	CHECK_STR(r.function, "target");
	CHECK_U64(r.off, 1);
	/* What libdw answers in this thread, the same. */
	libdw_line(addr, &want);
	CHECK_STR(r.src, want.src);
	CHECK_U64(r.line, want.line);
#ifndef __clang__
	/* GCC's DWARF, which libdw 0.188 reads (not clang 14's DWARF 5 of
	 * the sanitized build: eu-addr2line finds no line in it either). */
	CHECK(strstr(r.src, "test_symworker.c") != NULL);
	CHECK(r.line >= TARGET_DECL && r.line <= (uint32_t)target_line);
#endif
	CHECK(!readable(w));

	/* The same file again: no fd, the worker kept its own. */
	CHECK(symworker__ask(w, 7, -1, NULL, addr) == 0);
	CHECK(take_one(w, &r));
	CHECK_STR(r.function, "target");

	/* A file never handed over: answered, unnamed. */
	CHECK(symworker__ask(w, 8, -1, NULL, addr) == 0);
	CHECK(take_one(w, &r));
	CHECK_U64(r.file, 8);
	CHECK(!r.named && !r.src[0]);
	symworker__free(w);
}

/* Ended before its thread ever started: nothing leaks, no thread. */
static void test_free_unstarted(void)
{
	struct symworker *w = symworker__new(2);

	CHECK(w != NULL);
	CHECK(w && !readable(w));
	symworker__free(w);
}

static const struct unit_case cases[] = {
	UNIT_CASE(test_names_and_lines),
	UNIT_CASE(test_free_unstarted),
};

int main(int argc, char **argv)
{
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
