/*
 * wintls.c - Windows allocating stacks classified by their functions'
 * names (see wintls.h).
 *
 * The names, and why each means thread-local memory:
 *  - __dyn_tls_init, __dyn_tls_on_demand_init: the MSVC runtime's TLS
 *    callback and on-demand initializer that run C++ thread_local
 *    constructors for each thread;
 *  - __tlregdtor: MSVC registering a thread_local destructor;
 *  - __emutls_get_address: GCC's emulated TLS (mingw-w64) allocating a
 *    thread's copy of a __thread or thread_local variable;
 *  - _ZTH*, _ZTW*, __tls_init, __cxa_thread_atexit*: the Itanium C++ ABI
 *    (GCC, clang on mingw), as on Linux;
 *  - LdrpCallTlsInitializers, LdrpInitializeThread: ntdll running the TLS
 *    callbacks and DllMain(DLL_THREAD_ATTACH) of every module for a new
 *    thread: what a DLL allocates there is per thread, on its behalf.
 * ntdll's internal names need its public symbols (dbghelp with a symbol
 * path); without them those frames have no name and are not matched.
 * x86 decorations (a leading '_', '@N') are ignored.
 */
#include <stdbool.h>
#include <string.h>

#include "rows.h"
#include "wintls.h"

static const char *const tls_exact[] = {
    "__dyn_tls_init",	    "__dyn_tls_on_demand_init",
    "__tlregdtor",	    "__emutls_get_address",
    "__tls_init",	    "LdrpCallTlsInitializers",
    "LdrpInitializeThread",
};

static const char *const tls_prefix[] = {
    "_ZTH",
    "_ZTW",
    "__cxa_thread_atexit",
};

/* a equals b up to an x86 "@N" suffix on a. */
static bool same_name(const char *a, const char *b)
{
	size_t n = strlen(b);

	return !strncmp(a, b, n) && (!a[n] || a[n] == '@');
}

uint32_t wintls__name_flags(const char *f)
{
	if (!f || !*f)
		return 0;
	for (size_t i = 0; i < sizeof(tls_prefix) / sizeof(tls_prefix[0]); i++)
		if (!strncmp(f, tls_prefix[i], strlen(tls_prefix[i])))
			return MW_STACK_TLS_INIT;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sizeof(tls_exact) / sizeof(tls_exact[0]);
		     i++)
			if (same_name(f, tls_exact[i]))
				return MW_STACK_TLS_INIT;
		/* x86 C names carry one more leading underscore. */
		if (f[0] != '_')
			break;
		f++;
	}
	return 0;
}

uint32_t wintls__classify(void *ctx, uint32_t pid, const uint64_t *frames,
			  uint32_t n)
{
	const struct wintls *w = ctx;
	uint32_t flags = 0;

	for (uint32_t i = 0; i < n; i++)
		flags |= wintls__name_flags(w->name(w->ctx, pid, frames[i]));
	return flags;
}
