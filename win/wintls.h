/*
 * wintls.h - what a Windows allocating stack passes through, for the
 * engine's classifier (engine_classify_fn).
 *
 * ETW has no event for TlsAlloc, TlsSetValue, FlsAlloc or the C++
 * thread_local machinery, so thread-local memory is told by its stack: a
 * frame in a module's TLS callback, a DLL's thread attach, or the TLS
 * helpers of MSVC and GCC makes the stack MW_STACK_TLS_INIT. Portable:
 * the names come from a symbol source the caller gives (dbghelp in
 * memwatchw, a table in the tests).
 */
#ifndef MEMWATCH_WINTLS_H
#define MEMWATCH_WINTLS_H

#include <stdint.h>

/* The function holding ip in pid, undecorated, or NULL. */
typedef const char *(*wintls_name_fn)(void *ctx, uint32_t pid, uint64_t ip);

struct wintls {
	wintls_name_fn name;
	void *ctx;
};

/* enum mw_stack_flags of one function name. */
uint32_t wintls__name_flags(const char *function);
/* An engine_classify_fn: ctx is a struct wintls. */
uint32_t wintls__classify(void *ctx, uint32_t pid, const uint64_t *frames,
			  uint32_t nframes);

#endif
