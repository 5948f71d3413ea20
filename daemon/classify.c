/*
 * classify.c - the engine's classifiers of stacks and call sites
 * (engine_config's classify and internal), which name code addresses
 * through the daemon's symbolizer, and take the culprit of a stack past
 * its allocation wrappers (wrapper.c).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "memwatchd.h"
#include "symbolizer.h"
#include "wrapper.h"

/* Does a name say "C++ thread_local initialization or registration"?
 * _ZTH/_ZTW are the Itanium ABI's TLS init and wrapper functions, and
 * GCC's __tls_init is what _ZTH aliases. */
static bool tls_init_name(const char *f)
{
	return !strncmp(f, "_ZTH", 4) || !strncmp(f, "_ZTW", 4) ||
	       !strcmp(f, "__tls_init") ||
	       !strncmp(f, "__cxa_thread_atexit", 19);
}

/*
 * The engine's stack classifier: symbolize the frames of a stack seen for
 * the first time. Dynamic TLS is allocated by ld.so itself (frames[0] is
 * in the loader) when a thread first touches a module's __thread data.
 * The same names, with the engine's fan-out of the process's stacks, say
 * which top frames are allocation wrappers (wrapper.c): the culprit, in
 * the flags' high bits.
 */
uint32_t daemon__classify_stack(void *ctx, uint32_t pid, const uint64_t *frames,
			       uint32_t n)
{
	struct daemon *d = ctx;
	/* The first frames' names, copied: the symbolizer's are valid
	 * until its next call. */
	char names[MW_WRAP_MAX + 1][128];
	struct wrap_frame wf[MW_WRAP_MAX + 1];
	uint32_t fan[MW_WRAP_MAX], nfan, nw = 0, flags = 0;
	uint8_t why[MW_WRAP_MAX];

	for (uint32_t i = 0; i < n; i++) {
		uint64_t size = 0;
		uintptr_t file = 0;
		const char *f = symbolizer__symbol(d->sym, pid, frames[i], &size,
						   &file);

		if (i <= MW_WRAP_MAX) {
			snprintf(names[i], sizeof(names[i]), "%s", f ? f : "");
			wf[i] = (struct wrap_frame){f ? names[i] : NULL, size,
						    file};
			nw = i + 1;
		}
		if (!f)
			continue;
		if (tls_init_name(f))
			flags |= MW_STACK_TLS_INIT;
		if (!strcmp(f, "__tls_get_addr") || !strcmp(f, "___tls_get_addr"))
			flags |= MW_STACK_TLS_DYNAMIC;
	}
	if (n && symbolizer__is_loader(d->sym, pid, frames[0]))
		flags |= MW_STACK_TLS_DYNAMIC;
	nfan = engine__stack_fanout(d->engine, pid, frames, n, fan,
				    MW_WRAP_MAX);
	nw = wrappers__culprit(d->wrappers, wf, nw, fan, nfan, why);
	return mw_stack_set_culprit(flags, nw, why);
}

/*
 * A free of an unknown block is the program's bad free only when its call
 * site is the program's code. Not glibc's: at thread exit it frees each
 * block left in the thread's tcache once more, and the tcache itself,
 * which no malloc call returned. Nor code in no file the maps showed: a
 * library ld.so mapped after the maps were read (at exec), in a process
 * gone before they could be read again, may well be libc, and whose code
 * it is cannot be told.
 */
bool daemon__internal_site(void *ctx, uint32_t pid, uint64_t ip)
{
	struct symbolizer *sym = ((struct daemon *)ctx)->sym;

	return !symbolizer__in_file(sym, pid, ip) ||
	       symbolizer__in_runtime(sym, pid, ip);
}
