/*
 * test_wrapper.c - unit tests of allocation wrappers (daemon/wrapper.c):
 * the built-in list, --wrapper expressions (mangled and demangled C++),
 * the automatic rule on a stack's fan-out and its guards, the culprit's
 * encoding in a stack's flags (common/rows.h), and the fan-out the
 * engine's stack table counts (engine/stacktab.c).
 */
#include <errno.h>
#include <stdint.h>

#include "rows.h"
#include "stacktab.h"
#include "unit.h"
#include "wrapper.h"

static void test_builtin_list(void)
{
	static const char *const yes[] = {
	    "zmalloc",	      "ztrymalloc_usable",
	    "zcalloc",	      "xmalloc",
	    "strdup",	      "__strndup",
	    "g_malloc0",      "g_strdup_printf",
	    "ngx_palloc",     "ngx_pcalloc",
	    "ngx_alloc",      "PyMem_Malloc",
	    "PyObject_Malloc", "_Znwm",
	    "_ZnwmRKSt9nothrow_t", "_Znam",
	    /* os::malloc(unsigned long, MEMFLAGS, NativeCallStack const&) */
	    "_ZN2os6mallocEm8MEMFLAGSRK15NativeCallStack",
	    "_Z12AllocateHeapm8MEMFLAGSN13AllocFailStrategy13AllocFailEnumE",
	    /* std::allocator, __gnu_cxx::new_allocator, std::vector */
	    "_ZNSaIcE8allocateEm",
	    "_ZN9__gnu_cxx13new_allocatorIiE8allocateEmPKv",
	    "_ZNSt6vectorIiSaIiEE9push_backERKi",
	    "_ZN4node6MallocIcEEPT_m", "sqlite3DbMallocRawNN", "palloc0",
	    "AllocSetContextCreateInternal",
	    "_ZN9ChunkPool8allocateEmN17AllocFailStrategy13AllocFailEnumE",
	    "_ZN5ArenaC2E8MEMFLAGSm",
	};
	static const char *const no[] = {
	    "main", "my_xmalloc", "my_zmalloc", "leak_per_thread",
	    "start_thread", "_ZN3foo3barEv", "malloc_usable_size_helper",
	    "createObject", "",
	    /* Whoever grows an arena does not own its chunks. */
	    "_ZN5Arena4growEmN17AllocFailStrategy13AllocFailEnumE",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (wrappers__match(NULL, yes[i]) != MW_WRAP_BUILTIN)
			printf("  not built in: %s\n", yes[i]);
		CHECK_U64(wrappers__match(NULL, yes[i]), MW_WRAP_BUILTIN);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (wrappers__match(NULL, no[i]))
			printf("  built in: %s\n", no[i]);
		CHECK_U64(wrappers__match(NULL, no[i]), MW_WRAP_NONE);
	}
	CHECK_U64(wrappers__match(NULL, NULL), MW_WRAP_NONE);
}

static void test_user_regex(void)
{
	struct wrappers *w = wrappers__new(0);
	char err[128];

	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_U64(wrappers__add(w, "^my_.malloc$", err, sizeof(err)), 0);
	/* As people write C++ names: matched against the demangled name. */
	CHECK_U64(wrappers__add(w, "^pool::grab\\(", err, sizeof(err)), 0);
	CHECK_U64(wrappers__match(w, "my_xmalloc"), MW_WRAP_USER);
	CHECK_U64(wrappers__match(w, "my_zmalloc"), MW_WRAP_USER);
	CHECK_U64(wrappers__match(w, "my_xmalloc2"), MW_WRAP_NONE);
	CHECK_U64(wrappers__match(w, "_ZN4pool4grabEm"), MW_WRAP_USER);
	CHECK_U64(wrappers__match(w, "_ZN4pool5grab2Em"), MW_WRAP_NONE);
	/* The built-in list comes first. */
	CHECK_U64(wrappers__match(w, "zmalloc"), MW_WRAP_BUILTIN);
	/* A bad expression says why; nothing is added. */
	err[0] = '\0';
	CHECK_U64(wrappers__add(w, "my_(x", err, sizeof(err)), -EINVAL);
	CHECK(err[0] != '\0');
	CHECK_U64(wrappers__add(w, "", err, sizeof(err)), -EINVAL);
	CHECK_U64(wrappers__check("a[", err, sizeof(err)), -EINVAL);
	CHECK_U64(wrappers__check("^x(malloc|calloc)$", err, sizeof(err)), 0);
	/* What glibc's regcomp would blow up on, refused with a reason: an
	 * interval (copies, nested ones multiplied), a back-reference, a
	 * very long expression. A literal brace is fine. */
	{
		char big[WRAPPER_MAX_LEN + 2];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		err[0] = '\0';
		CHECK_U64(wrappers__check("((a{1000}){1000}){1000}", err,
					  sizeof(err)), -EINVAL);
		CHECK(strstr(err, "interval") != NULL);
		CHECK_U64(wrappers__check("(a)\\1", err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "back-reference") != NULL);
		CHECK_U64(wrappers__check(big, err, sizeof(err)), -EINVAL);
		CHECK_U64(wrappers__check(big + 1, err, sizeof(err)), 0);
		CHECK_U64(wrappers__check("\\{lambda", err, sizeof(err)), 0);
	}
	for (int i = 2; i < WRAPPER_MAX_USER; i++)
		CHECK_U64(wrappers__add(w, "q", err, sizeof(err)), 0);
	CHECK_U64(wrappers__add(w, "q", err, sizeof(err)), -ENOSPC);
	wrappers__free(w);
}

/* The culprit of a stack of named frames, fan-out fan. */
static uint32_t culprit(const struct wrappers *w, const char *const *names,
			const uint64_t *sizes, uint32_t n, const uint32_t *fan,
			uint32_t nfan, uint8_t *why)
{
	struct wrap_frame f[16];

	for (uint32_t i = 0; i < n; i++)
		f[i] = (struct wrap_frame){names[i], sizes ? sizes[i] : 64, 0};
	return wrappers__culprit(w, f, n, fan, nfan, why);
}

static void test_culprit_builtin_and_user(void)
{
	static const char *const redis[] = {"ztrymalloc_usable", "zmalloc",
					    "createObject", "main"};
	static const char *const user[] = {"my_zmalloc", "my_xmalloc",
					   "caller_3", "main"};
	static const uint32_t fan1[] = {1, 1, 1};
	struct wrappers *w = wrappers__new(0);
	uint8_t why[MW_WRAP_MAX] = {0};
	char err[64];

	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_U64(culprit(w, redis, NULL, 4, fan1, 3, why), 2);
	CHECK_U64(why[0], MW_WRAP_BUILTIN);
	CHECK_U64(why[1], MW_WRAP_BUILTIN);
	/* Not a wrapper by name, and automatic wrappers are off. */
	CHECK_U64(culprit(w, user, NULL, 4, fan1, 3, why), 0);
	CHECK_U64(wrappers__add(w, "^my_.malloc$", err, sizeof(err)), 0);
	CHECK_U64(culprit(w, user, NULL, 4, fan1, 3, why), 2);
	CHECK_U64(why[0], MW_WRAP_USER);
	CHECK_U64(why[1], MW_WRAP_USER);
	/* The last frame is never peeled; a stack of wrappers only names
	 * its outermost. */
	CHECK_U64(culprit(w, redis, NULL, 2, fan1, 1, why), 1);
	CHECK_U64(culprit(w, redis, NULL, 1, fan1, 0, why), 0);
	wrappers__free(w);
}

static void test_culprit_unknown_frame_stops(void)
{
	static const char *const names[] = {"zmalloc", NULL, "zmalloc",
					    "caller"};
	static const uint32_t fan[] = {20, 20, 20};
	struct wrappers *w = wrappers__new(WRAPPER_DEFAULT_CALLERS);
	uint8_t why[MW_WRAP_MAX];

	/* Frame 1 is code nobody can name: it is the culprit. */
	CHECK_U64(culprit(w, names, NULL, 4, fan, 3, why), 1);
	wrappers__free(w);
}

/* A stripped binary's static helper under a named wrapper of the same
 * file (PostgreSQL: palloc -> AllocSetAlloc -> malloc) is the wrapper's
 * own code; of another file, or of none known, it stops the peeling. */
static void test_culprit_inner_unnamed(void)
{
	enum { PG = 1, LIB = 2 };
	static const struct wrap_frame pg[] = {
	    {NULL, 0, PG}, {"palloc", 80, PG}, {NULL, 0, PG}, {"main", 90, PG}};
	static const struct wrap_frame two[] = {{NULL, 0, PG},
						{NULL, 0, PG},
						{"palloc", 80, PG},
						{"exec_simple_query", 900, PG},
						{"main", 90, PG}};
	static const struct wrap_frame three[] = {
	    {NULL, 0, PG}, {NULL, 0, PG}, {NULL, 0, PG}, {"palloc", 80, PG},
	    {"main", 90, PG}};
	static const struct wrap_frame other[] = {
	    {NULL, 0, LIB}, {"palloc", 80, PG}, {"caller", 90, PG},
	    {"main", 90, PG}};
	static const struct wrap_frame nofile[] = {
	    {NULL, 0, 0}, {"palloc", 80, 0}, {"caller", 90, 0}};
	static const struct wrap_frame not_wrapper[] = {
	    {NULL, 0, PG}, {"ExecInitNode", 800, PG}, {"main", 90, PG}};
	static const struct wrap_frame last[] = {{NULL, 0, PG},
						 {"palloc", 80, PG}};
	static const uint32_t fan[] = {1, 1, 1, 1};
	struct wrappers *w = wrappers__new(WRAPPER_DEFAULT_CALLERS);
	uint8_t why[MW_WRAP_MAX] = {0};

	CHECK(w != NULL);
	if (!w)
		return;
	/* The culprit is palloc's caller, even unnamed itself. */
	CHECK_U64(wrappers__culprit(w, pg, 4, fan, 3, why), 2);
	CHECK_U64(why[0], MW_WRAP_BUILTIN);
	CHECK_U64(why[1], MW_WRAP_BUILTIN);
	CHECK_U64(wrappers__culprit(w, two, 5, fan, 4, why), 3);
	/* Past WRAPPER_INNER_MAX unnamed frames: not taken as inner. */
	CHECK_U64(wrappers__culprit(w, three, 5, fan, 4, why), 0);
	CHECK_U64(wrappers__culprit(w, other, 4, fan, 3, why), 0);
	CHECK_U64(wrappers__culprit(w, nofile, 3, fan, 2, why), 0);
	CHECK_U64(wrappers__culprit(w, not_wrapper, 3, fan, 2, why), 0);
	/* The wrapper must have a caller to name. */
	CHECK_U64(wrappers__culprit(w, last, 2, fan, 1, why), 0);
	wrappers__free(w);
}

static void test_culprit_automatic(void)
{
	/* my_xmalloc -> my_zmalloc -> malloc, called from many sites. */
	static const char *const chain[] = {"my_zmalloc", "my_xmalloc",
					    "caller_3", "main",
					    "__libc_start_call_main"};
	static const uint64_t small[] = {48, 40, 300, 2000, 100};
	static const uint64_t big[] = {48, 4000, 300, 2000, 100};
	static const uint64_t unsized[] = {48, 0, 300, 2000, 100};
	static const uint32_t fan_many[] = {1, 10, 1, 1};
	static const uint32_t fan_few[] = {1, 3, 1, 1};
	static const uint32_t fan_split[] = {2, 10, 1, 1};
	static const uint32_t fan_direct[] = {9, 1, 1, 1};
	/* A single-caller chain three deep is no wrapper. */
	static const uint32_t fan_deep[] = {1, 1, 12, 1};
	struct wrappers *w = wrappers__new(8);
	struct wrappers *off = wrappers__new(0);
	uint8_t why[MW_WRAP_MAX] = {0};

	CHECK(w && off);
	if (!w || !off)
		return;
	CHECK_U64(culprit(w, chain, small, 5, fan_many, 4, why), 2);
	CHECK_U64(why[0], MW_WRAP_AUTO);
	CHECK_U64(why[1], MW_WRAP_AUTO);
	/* Fewer distinct callers than the threshold: no wrapper. */
	CHECK_U64(culprit(w, chain, small, 5, fan_few, 4, why), 0);
	/* The inner function has two callers: not a straight chain. */
	CHECK_U64(culprit(w, chain, small, 5, fan_split, 4, why), 0);
	/* A function called straight from many sites: one frame. */
	CHECK_U64(culprit(w, chain, small, 5, fan_direct, 4, why), 1);
	CHECK_U64(culprit(w, chain, small, 5, fan_deep, 4, why), 0);
	/* A large function, or one of unknown size, does work of its own. */
	CHECK_U64(culprit(w, chain, big, 5, fan_many, 4, why), 0);
	CHECK_U64(culprit(w, chain, unsized, 5, fan_many, 4, why), 0);
	/* No fan-out known (the process is gone): no automatic wrapper. */
	CHECK_U64(culprit(w, chain, small, 5, fan_many, 0, why), 0);
	/* --wrapper-callers 0 */
	CHECK_U64(culprit(off, chain, small, 5, fan_many, 4, why), 0);
	wrappers__free(w);
	wrappers__free(off);
}

static void test_culprit_builtin_then_automatic(void)
{
	/* operator new (built in) below an automatic wrapper. */
	static const char *const names[] = {"_Znwm", "make_buf", "user_a",
					    "main"};
	static const uint32_t fan[] = {1, 9, 1};
	struct wrappers *w = wrappers__new(8);
	uint8_t why[MW_WRAP_MAX] = {0};

	CHECK_U64(culprit(w, names, NULL, 4, fan, 3, why), 2);
	CHECK_U64(why[0], MW_WRAP_BUILTIN);
	CHECK_U64(why[1], MW_WRAP_AUTO);
	wrappers__free(w);
}

static void test_flags_encoding(void)
{
	uint8_t why[MW_WRAP_MAX] = {MW_WRAP_BUILTIN, MW_WRAP_USER,
				    MW_WRAP_AUTO, MW_WRAP_AUTO};
	uint32_t f = mw_stack_set_culprit(MW_STACK_TLS_INIT, 4, why);

	CHECK_U64(f & 0xff, MW_STACK_TLS_INIT);
	CHECK_U64(mw_stack_culprit(f), 4);
	CHECK_U64(mw_stack_wrap_why(f, 0), MW_WRAP_BUILTIN);
	CHECK_U64(mw_stack_wrap_why(f, 1), MW_WRAP_USER);
	CHECK_U64(mw_stack_wrap_why(f, 3), MW_WRAP_AUTO);
	CHECK_U64(mw_stack_wrap_why(f, 4), MW_WRAP_NONE);
	CHECK_STR(mw_wrap_why_name(MW_WRAP_AUTO), "automatic");
	CHECK_STR(mw_wrap_why_name(MW_WRAP_USER), "--wrapper");
	/* At most MW_WRAP_MAX frames, all with their reason. */
	memset(why, MW_WRAP_AUTO, sizeof(why));
	f = mw_stack_set_culprit(0, 12, why);
	CHECK_U64(mw_stack_culprit(f), MW_WRAP_MAX);
	CHECK_U64(mw_stack_wrap_why(f, MW_WRAP_MAX - 1), MW_WRAP_AUTO);
	CHECK_U64(mw_stack_culprit(mw_stack_set_culprit(f, 0, why)), 0);
}

static void test_stacktab_fanout(void)
{
	struct stacktab t;
	uint32_t out[STACKTAB_FAN_DEPTH] = {0};
	bool created;

	stacktab__init(&t);
	/* 0x10 (in zmalloc) <- 0x20 (in xmalloc) <- ten callers. */
	for (uint64_t c = 0; c < 10; c++) {
		uint64_t fr[] = {0x10, 0x20, 0x100 + c, 0x900};

		CHECK(stacktab__intern(&t, fr, 4, &created) != NULL);
		CHECK(created);
		/* The same stack again counts nothing. */
		CHECK(stacktab__intern(&t, fr, 4, &created) != NULL);
		CHECK(!created);
	}
	{
		uint64_t fr[] = {0x10, 0x20, 0x105, 0x901};
		uint64_t other[] = {0x30, 0x40};

		/* Another stack above a known prefix of three. */
		CHECK(stacktab__intern(&t, fr, 4, &created) != NULL);
		CHECK(stacktab__intern(&t, other, 2, &created) != NULL);
		CHECK_U64(stacktab__fanout(&t, fr, 4, out, STACKTAB_FAN_DEPTH),
			  3);
		CHECK_U64(out[0], 1);
		CHECK_U64(out[1], 10);
		CHECK_U64(out[2], 2);
		CHECK_U64(stacktab__fanout(&t, other, 2, out, 4), 1);
		CHECK_U64(out[0], 1);
		/* One frame: nothing above it to count. */
		CHECK_U64(stacktab__fanout(&t, other, 1, out, 4), 0);
	}
	stacktab__fini(&t);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_builtin_list),
    UNIT_CASE(test_user_regex),
    UNIT_CASE(test_culprit_builtin_and_user),
    UNIT_CASE(test_culprit_unknown_frame_stops),
    UNIT_CASE(test_culprit_inner_unnamed),
    UNIT_CASE(test_culprit_automatic),
    UNIT_CASE(test_culprit_builtin_then_automatic),
    UNIT_CASE(test_flags_encoding),
    UNIT_CASE(test_stacktab_fanout),
};

int main(int argc, char **argv)
{
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
