/*
 * wrapper.c - allocation wrappers: the built-in list, --wrapper
 * expressions and the automatic rule; see wrapper.h.
 *
 * The built-in list below is the one place the runtimes' wrappers are
 * named. Names are symbols as the symbolizer gives them: C as written,
 * C++ mangled (the Itanium ABI), so that matching needs no demangling.
 * An entry ending in '*' is a prefix. What goes on it: functions whose
 * job is to hand a new block to their caller, never a function that
 * keeps what it allocates (a cache, a pool's own bookkeeping): naming
 * the caller of such a function would be naming the wrong code.
 */
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rows.h"
#include "wrapper.h"

static const char *const builtin[] = {
    /* glibc and gnulib: blocks made for the caller. */
    "strdup", "strndup", "__strdup", "__strndup", "wcsdup", "asprintf",
    "vasprintf", "__asprintf", "__vasprintf_internal", "__vasprintf_chk",
    "__asprintf_chk", "getline", "getdelim", "__getdelim", "reallocarray",
    "__libc_reallocarray", "xmalloc", "xcalloc", "xzalloc", "xrealloc",
    "xnmalloc", "xnrealloc", "x2realloc", "x2nrealloc", "xcharalloc",
    "xmemdup", "xstrdup", "xstrndup", "ximalloc", "xicalloc", "xirealloc",
    "xizalloc", "xreallocarray",
    /* libstdc++: operator new (32- and 64-bit size_t, nothrow, aligned)
     * and new[]; the standard library's containers, strings, allocators
     * and smart pointers (std::, std::allocator, std::basic_string,
     * std::string, __gnu_cxx::new_allocator): the culprit is the code
     * that used them. */
    "_Znwm*", "_Znam*", "_Znwj*", "_Znaj*", "_ZNSt*", "_ZNKSt*", "_ZSt*",
    "_ZNSa*", "_ZNKSa*", "_ZNSb*", "_ZNSs*", "_ZNKSs*", "_ZN9__gnu_cxx*",
    "_ZNK9__gnu_cxx*",
    /* GLib */
    "g_malloc*", "g_try_malloc*", "g_realloc*", "g_try_realloc*",
    "g_memdup*", "g_strdup*", "g_strndup", "g_slice_alloc*",
    "g_slice_copy", "g_strconcat", "g_strjoin", "g_strjoinv",
    /* redis: zmalloc.c, and sds strings made for the caller */
    "zmalloc*", "zcalloc*", "zrealloc*", "ztrymalloc*", "ztrycalloc*",
    "ztryrealloc*", "zstrdup", "zmalloc_no_tcache", "sdsnewlen",
    "_sdsnewlen", "sdstrynewlen", "sdsnew", "sdsempty", "sdsdup",
    "sdsMakeRoomFor*", "_sdsMakeRoomFor", "sdscatlen", "sdscpylen",
    "sdsRemoveFreeSpace", "sdsResize",
    /* nginx: the heap and pools */
    "ngx_alloc", "ngx_calloc", "ngx_memalign", "ngx_palloc*", "ngx_pnalloc",
    "ngx_pcalloc", "ngx_pmemalign", "ngx_create_pool", "ngx_array_create",
    "ngx_array_push*", "ngx_list_create", "ngx_list_push", "ngx_pstrdup",
    /* HotSpot (the JVM): os::malloc, os::realloc, os::strdup,
     * AllocateHeap, ReallocateHeap, CHeapObj<F> and ResourceObj's
     * operator new, GrowableArray's and CHeapBitMap's storage; an arena's
     * chunks (ChunkPool, Chunk::operator new) up to the arena: its
     * constructor is a wrapper (the arena's owner is the culprit), its
     * growth is not (whoever made it grow does not own the chunk). */
    "_ZN2os6malloc*", "_ZN2os7realloc*", "_ZN2os6strdup*",
    "_ZN2os13strdup_check_oom*", "_Z12AllocateHeap*", "_Z14ReallocateHeap*",
    "_ZN8CHeapObjI*", "_ZN11ResourceObjnw*", "_ZN11ResourceObjna*",
    "_ZN27GrowableArrayCHeapAllocator8allocate*", "_ZN11CHeapBitMap*",
    "_ZN9ChunkPool8allocate*", "_ZN5ChunknwE*", "_ZN5ArenaC*",
    /* CPython */
    "PyMem_*", "_PyMem_*", "PyObject_Malloc", "PyObject_Calloc",
    "PyObject_Realloc", "_PyObject_Malloc", "_PyObject_Calloc",
    "_PyObject_Realloc", "pymalloc_alloc", "pymalloc_realloc",
    "_PyObject_GC_New*", "_PyObject_GC_Malloc", "_PyObject_GC_Calloc",
    "gc_alloc", "_PyObject_New*", "PyType_GenericAlloc",
    "_PyType_AllocNoTrack",
    /* node and V8, and libuv */
    "_ZN4node6Malloc*", "_ZN4node6Calloc*", "_ZN4node7Realloc*",
    "_ZN4node15UncheckedMalloc*", "_ZN4node15UncheckedCalloc*",
    "_ZN4node16UncheckedRealloc*", "_ZN2v88internal8Malloced*",
    "_ZN2v88internal13AllocWithRetry*",
    "_ZN2v88internal20AlignedAllocWithRetry*", "_ZN2v88internal6StrDup*",
    "_ZN2v88internal7StrNDup*", "_ZN2v88internal19AccountingAllocator*",
    "uv__malloc", "uv__calloc", "uv__realloc", "uv__reallocf", "uv__strdup",
    "uv__strndup",
    /* OpenSSL */
    "CRYPTO_malloc", "CRYPTO_zalloc", "CRYPTO_realloc",
    "CRYPTO_clear_realloc", "CRYPTO_strdup", "CRYPTO_strndup",
    "CRYPTO_memdup",
    /* SQLite */
    "sqlite3Malloc*", "sqlite3DbMalloc*", "sqlite3DbRealloc*",
    "sqlite3_malloc*", "sqlite3_realloc*", "sqlite3Realloc",
    "sqlite3MemMalloc", "sqlite3MemRealloc", "dbMallocRawFinish",
    "dbReallocFinish", "mallocWithAlarm", "sqlite3DbStrDup",
    "sqlite3DbStrNDup",
    /* PostgreSQL: memory contexts */
    "palloc*", "repalloc*", "MemoryContextAlloc*", "MemoryContextStrdup",
    "AllocSetAlloc*", "AllocSetRealloc", "GenerationAlloc*", "SlabAlloc*",
    "BumpAlloc*", "pstrdup", "pnstrdup", "psprintf", "pg_malloc*",
    "pg_realloc", "pg_strdup", "guc_malloc", "guc_realloc", "guc_strdup",
    /* ... and their creation: a context is its creator's */
    "AllocSetContextCreate*", "GenerationContextCreate",
    "SlabContextCreate", "BumpContextCreate",
};

struct wrappers {
	uint32_t min_callers;
	regex_t user[WRAPPER_MAX_USER];
	int nuser;
};

/* The C++ runtime's demangler (libstdc++, Itanium ABI). */
char *__cxa_demangle(const char *mangled, char *buf, size_t *len,
		     int *status);

struct wrappers *wrappers__new(uint32_t min_callers)
{
	struct wrappers *w = calloc(1, sizeof(*w));

	if (w)
		w->min_callers = min_callers;
	return w;
}

void wrappers__free(struct wrappers *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->nuser; i++)
		regfree(&w->user[i]);
	free(w);
}

/*
 * What regcomp and regexec may not be given: glibc expands an interval
 * ({n,m}) into n to m copies of what it repeats, nested ones multiplied
 * (a line of the configuration file took 2 GB, found by the config
 * fuzzer), and a back-reference (\1) makes matching exponential. A
 * symbol name needs neither: a literal brace is written \{.
 */
#define STR_(x) #x
#define STR(x) STR_(x)
static const char *unsafe(const char *regex)
{
	if (strlen(regex) > WRAPPER_MAX_LEN)
		return "longer than " STR(WRAPPER_MAX_LEN) " characters";
	for (const char *p = regex; *p; p++) {
		if (*p == '\\') {
			if (p[1] >= '1' && p[1] <= '9')
				return "back-references (\\1) are not supported";
			if (p[1])
				p++;
			continue;
		}
		if (*p == '{')
			return "intervals ({n,m}) are not supported: a literal "
			       "brace is \\{";
	}
	return NULL;
}

/* Compile regex into re; -EINVAL with why in err when it does not. */
static int compile(regex_t *re, const char *regex, char *err, size_t len)
{
	const char *why = unsafe(regex);
	int rc;

	if (why) {
		if (err && len)
			snprintf(err, len, "%s", why);
		return -EINVAL;
	}
	rc = regcomp(re, regex, REG_EXTENDED | REG_NOSUB);
	if (!rc)
		return 0;
	if (err && len)
		regerror(rc, re, err, len);
	return -EINVAL;
}

int wrappers__check(const char *regex, char *err, size_t len)
{
	regex_t re;

	if (!regex[0]) {
		snprintf(err, len, "empty expression");
		return -EINVAL;
	}
	if (compile(&re, regex, err, len))
		return -EINVAL;
	regfree(&re);
	return 0;
}

int wrappers__add(struct wrappers *w, const char *regex, char *err,
		  size_t len)
{
	if (w->nuser == WRAPPER_MAX_USER) {
		snprintf(err, len, "at most %d expressions", WRAPPER_MAX_USER);
		return -ENOSPC;
	}
	if (!regex[0]) {
		snprintf(err, len, "empty expression");
		return -EINVAL;
	}
	if (compile(&w->user[w->nuser], regex, err, len))
		return -EINVAL;
	w->nuser++;
	return 0;
}

static bool builtin_match(const char *name)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		const char *b = builtin[i];
		size_t n = strlen(b);

		if (b[n - 1] == '*' ? !strncmp(name, b, n - 1)
				    : !strcmp(name, b))
			return true;
	}
	return false;
}

/* Does a --wrapper expression match name, or, for C++, the name as
 * people write it (what memwatchctl shows)? */
static bool user_match(const struct wrappers *w, const char *name)
{
	char *dem = NULL;
	bool hit = false;
	int status;

	if (!w->nuser)
		return false;
	if (!strncmp(name, "_Z", 2))
		dem = __cxa_demangle(name, NULL, NULL, &status);
	for (int i = 0; i < w->nuser && !hit; i++)
		hit = !regexec(&w->user[i], name, 0, NULL, 0) ||
		      (dem && !regexec(&w->user[i], dem, 0, NULL, 0));
	free(dem);
	return hit;
}

uint32_t wrappers__match(const struct wrappers *w, const char *name)
{
	if (!name || !name[0])
		return MW_WRAP_NONE;
	if (builtin_match(name))
		return MW_WRAP_BUILTIN;
	if (w && user_match(w, name))
		return MW_WRAP_USER;
	return MW_WRAP_NONE;
}

/*
 * The automatic rule, at frame c: frames c .. j (j < c +
 * WRAPPER_AUTO_CHAIN) are one wrapper when each is a known function of at
 * most WRAPPER_AUTO_MAX_CODE bytes that no name makes a wrapper, frames c
 * .. j - 1 have a single caller each (the next frame of the chain), and
 * frame j has at least min_callers distinct callers. Returns j + 1, or c
 * when there is no such chain.
 */
static uint32_t auto_chain(const struct wrappers *w,
			   const struct wrap_frame *f, uint32_t n,
			   const uint32_t *fan, uint32_t nfan, uint32_t c)
{
	if (!w || !w->min_callers)
		return c;
	for (uint32_t j = c; j < c + WRAPPER_AUTO_CHAIN && j + 1 < n &&
			     j < nfan && j < MW_WRAP_MAX;
	     j++) {
		if (!f[j].name || !f[j].name[0] || !f[j].size ||
		    f[j].size > WRAPPER_AUTO_MAX_CODE)
			return c;
		if (j > c && wrappers__match(w, f[j].name))
			return c;
		if (fan[j] >= w->min_callers)
			return j + 1;
		if (fan[j] != 1)
			return c;
	}
	return c;
}

/*
 * Frames c .. j - 1 (at most WRAPPER_INNER_MAX) of unknown functions, all
 * in the file of frame j, a wrapper by its name with a caller of its own:
 * code the wrapper runs for its caller. Returns j, with the wrapper's
 * reason in *why, or c when there is no such run. A frame of no known
 * file never qualifies: it may be anyone's.
 */
static uint32_t inner_run(const struct wrappers *w,
			  const struct wrap_frame *f, uint32_t n, uint32_t c,
			  uint32_t *why)
{
	uint32_t j = c;

	while (j < n && j < c + WRAPPER_INNER_MAX && !(f[j].name && f[j].name[0]))
		j++;
	if (j == c || j + 1 >= n || !f[j].file)
		return c;
	*why = wrappers__match(w, f[j].name);
	if (*why == MW_WRAP_NONE)
		return c;
	for (uint32_t k = c; k < j; k++)
		if (f[k].file != f[j].file)
			return c;
	return j;
}

uint32_t wrappers__culprit(const struct wrappers *w,
			   const struct wrap_frame *f, uint32_t n,
			   const uint32_t *fan, uint32_t nfan, uint8_t *why)
{
	uint32_t c = 0;

	/* The last frame is never peeled: something must be named. */
	while (c + 1 < n && c < MW_WRAP_MAX) {
		uint32_t m = wrappers__match(w, f[c].name), next;

		if (m) {
			why[c++] = (uint8_t)m;
			continue;
		}
		next = inner_run(w, f, n, c, &m);
		if (next != c) {
			/* Peeled only with the wrapper itself: both must
			 * fit the flags' MW_WRAP_MAX frames. */
			if (next >= MW_WRAP_MAX)
				break;
			while (c < next)
				why[c++] = (uint8_t)m;
			continue;
		}
		next = auto_chain(w, f, n, fan, nfan, c);
		if (next == c)
			break;
		while (c < next)
			why[c++] = MW_WRAP_AUTO;
	}
	return c;
}
