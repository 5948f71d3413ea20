/*
 * je_api.c - jemalloc's non-standard API (mallocx, rallocx, sdallocx,
 * dallocx) next to its malloc, calloc, realloc and free, all balanced,
 * around one planted per-thread leak made with mallocx. One source, two
 * binaries (see the Makefile):
 *
 *   je_api_so [THREADS=8] [SIZE=4096]
 *   je_api [THREADS=8] [SIZE=4096]
 *
 * je_api_so is linked with Debian's libjemalloc.so.2 (-ljemalloc), whose
 * symbols have no prefix: the program calls mallocx, rallocx, ... and
 * jemalloc is also the process's malloc (libc's own allocations included).
 *
 * je_api (-DMW_JE_PREFIX) calls the same functions as je_mallocx,
 * je_rallocx, ..., je_malloc, je_calloc, je_realloc, je_free, and is
 * linked with libjemalloc_je.a, a copy of Debian's libjemalloc_pic.a whose
 * public symbols got a je_ prefix (objcopy --redefine-syms with
 * tests/workloads/je_prefix.syms) and without its C++ operators
 * (jemalloc_cpp.pic.o): jemalloc embedded in the executable the way Redis
 * embeds it. malloc and free stay glibc's, for libc and for nobody else
 * here: every block the workers allocate is jemalloc's (je_*), from the
 * executable's own text (main's thread-id array, from workload.h, is
 * glibc's). JE(name) names a
 * function in either build: name, or je_name.
 *
 * One key is created with pthread_key_create(&key, NULL). THREADS threads
 * are created in one batch. Each runs je_api_round() JE_ROUNDS (4) times;
 * one round is, in this order (JE() left out):
 *
 *   p = mallocx(100, 0);                dallocx(p, 0);
 *   p = mallocx(100, MALLOCX_ZERO);     sdallocx(p, 100, 0);
 *   p = mallocx(192, MALLOCX_ALIGN(64));
 *                                       sdallocx(p, 192, MALLOCX_ALIGN(64));
 *   p = mallocx(100, 0);  p = rallocx(p, 1000, 0);
 *                                       sdallocx(p, 1000, 0);
 *   p = malloc(100);  p = realloc(p, 1000);
 *                                       free(p);
 *   p = calloc(10, 24);                 free(p);
 *   p = malloc(100);                    free(p);
 *
 * that is 7 allocations, 2 reallocations (both grow the block past its
 * size class) and 7 frees per round. Per worker: 28 allocations (mallocx
 * 16, malloc 8, calloc 4), 8 reallocations (rallocx 4, realloc 4) and 28
 * frees (dallocx 4, sdallocx 12, free 12): nothing left live. In
 * libjemalloc these entry points do not call one another.
 *
 * Then the planted leak: je_api_alloc(SIZE) calls JE(mallocx)(SIZE, 0),
 * fills the block and stores it with pthread_setspecific; nobody frees
 * it. The threads then wait on a barrier, so that all of them are alive
 * at once, and return. Main joins them, frees its own thread-id array
 * (wl_run_batch: one calloc, one free), sleeps 1.5 s and exits 0.
 *
 * So at exit every worker thread has exactly 1 live block of SIZE bytes,
 * allocated by mallocx (je_mallocx) in je_api_alloc (29 allocations: 17
 * mallocx, 8 malloc, 4 calloc; 8 reallocations; 28 frees per worker), and
 * memwatch must report exactly THREADS findings of kind
 * tls-outlived-thread, one per worker, each of SIZE bytes, at site
 * je_api_alloc. Nothing else.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#ifdef MW_JE_PREFIX
/* jemalloc.h then declares the je_ names instead of mapping them away. */
#define JEMALLOC_NO_RENAME
#define JE(name) je_##name
#define PROG "je_api"
#else
#define JE(name) name
#define PROG "je_api_so"
#endif

#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define JE_ROUNDS 4
#define SMALL 100
#define GROWN 1000
#define COUNT 10
#define ELEM 24
#define ALIGNED 192

void *je_api_alloc(size_t size);

static pthread_key_t key;
static size_t block_size;
static pthread_barrier_t all_set;
static void *volatile last_block;

/* Checks a block (alignment, zeroing) and writes all of it. */
__attribute__((noinline)) static void *use_block(void *p, size_t n,
						 size_t align, int zeroed)
{
	size_t i;

	if (!p)
		wl_die(PROG, "jemalloc returned NULL for %zu bytes", n);
	if ((uintptr_t)p % align)
		wl_die(PROG, "%p is not %zu-byte aligned", p, align);
	for (i = 0; zeroed && i < n; i++)
		if (((unsigned char *)p)[i])
			wl_die(PROG, "block of %zu bytes is not zeroed", n);
	memset(p, 0x3c, n);
	last_block = p;
	return p;
}

/* One round: the calls listed at the top, in that order. */
__attribute__((noinline)) static void je_api_round(void)
{
	void *p;

	p = use_block(JE(mallocx)(SMALL, 0), SMALL, 1, 0);
	JE(dallocx)(p, 0);

	p = use_block(JE(mallocx)(SMALL, MALLOCX_ZERO), SMALL, 1, 1);
	JE(sdallocx)(p, SMALL, 0);

	p = use_block(JE(mallocx)(ALIGNED, MALLOCX_ALIGN(64)), ALIGNED, 64, 0);
	JE(sdallocx)(p, ALIGNED, MALLOCX_ALIGN(64));

	p = use_block(JE(mallocx)(SMALL, 0), SMALL, 1, 0);
	p = use_block(JE(rallocx)(p, GROWN, 0), GROWN, 1, 0);
	JE(sdallocx)(p, GROWN, 0);

	p = use_block(JE(malloc)(SMALL), SMALL, 1, 0);
	p = use_block(JE(realloc)(p, GROWN), GROWN, 1, 0);
	JE(free)(p);

	p = use_block(JE(calloc)(COUNT, ELEM), COUNT * ELEM, 1, 1);
	JE(free)(p);

	p = use_block(JE(malloc)(SMALL), SMALL, 1, 0);
	JE(free)(p);
}

/* The leaking allocation: its name is the site the tests assert. */
__attribute__((noinline)) void *je_api_alloc(size_t size)
{
	void *p = JE(mallocx)(size, 0);

	if (!p)
		wl_die(PROG, "mallocx(%zu) failed", size);
	memset(p, 0xa5, size);
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	int r;

	for (r = 0; r < JE_ROUNDS; r++)
		je_api_round();
	je_api_alloc(block_size);
	pthread_barrier_wait(&all_set);
	return arg;
}

int main(int argc, char **argv)
{
	return wl_tls_leak_main(PROG, argc, argv, &block_size, &key, &all_set,
				worker);
}
