/*
 * mi_api.c - mimalloc's own API (mimalloc.h, libmimalloc-dev), all
 * balanced, around one planted per-thread leak made with mi_malloc. Linked
 * with -lmimalloc (which also makes mimalloc the process's malloc).
 *
 *   mi_api [THREADS=8] [SIZE=4096]
 *
 * One key is created with pthread_key_create(&key, NULL). THREADS threads
 * are created in one batch. Each runs mi_api_round() MI_ROUNDS (4) times;
 * one round is, in this order:
 *
 *   p = mi_malloc(100);                      mi_free(p);
 *   p = mi_zalloc(100);                      mi_free(p);
 *   p = mi_calloc(10, 24);                   mi_free(p);
 *   p = mi_mallocn(10, 24);                  mi_free(p);
 *   p = mi_malloc(100);  p = mi_realloc(p, 1000);        mi_free(p);
 *   p = mi_mallocn(10, 24);  p = mi_reallocn(p, 40, 24);
 *                                            mi_free_size(p, 960);
 *   p = mi_malloc_aligned(192, 64);          mi_free_aligned(p, 64);
 *   p = mi_zalloc_aligned(320, 128);         mi_free_size_aligned(p, 320, 128);
 *   p = mi_malloc(100);                      mi_free_size(p, 100);
 *
 * that is 9 allocations, 2 reallocations (both grow the block past its
 * size class, so both move it) and 9 frees per round. Per worker: 36
 * allocations (mi_malloc 12, mi_zalloc 4, mi_calloc 4, mi_mallocn 8,
 * mi_malloc_aligned 4, mi_zalloc_aligned 4), 8 reallocations (mi_realloc
 * 4, mi_reallocn 4) and 36 frees (mi_free 20, mi_free_size 8,
 * mi_free_aligned 4, mi_free_size_aligned 4): nothing left live.
 *
 * Then the planted leak: mi_api_alloc(SIZE) calls mi_malloc(SIZE), fills
 * the block and stores it with pthread_setspecific; nobody frees it. The
 * threads then wait on a barrier, so that all of them are alive at once,
 * and return. Main joins them, frees its own thread-id array (one calloc
 * and one free, which are mimalloc's too), sleeps 1.5 s and exits 0.
 *
 * So at exit every worker thread has exactly 1 live block of SIZE bytes,
 * allocated by mi_malloc in mi_api_alloc (37 mi_malloc-family
 * allocations, 8 reallocations, 36 frees per worker), and memwatch must
 * report exactly THREADS findings of kind tls-outlived-thread, one per
 * worker, each of SIZE bytes, at site mi_api_alloc. Nothing else.
 *
 * Inside libmimalloc.so.2 (2.0.9) some of these are one function or call
 * each other (a tracer probing several must count each block once):
 * mi_malloc and malloc are one address, mi_free and free are one address;
 * mi_free_size, mi_free_aligned and mi_free_size_aligned end in mi_free
 * (tail jumps through the PLT); mi_mallocn, mi_realloc, mi_reallocn,
 * mi_malloc_aligned and mi_zalloc_aligned jump to their mi_heap_* forms,
 * and a moving mi_realloc frees the old block with a call to mi_free.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <mimalloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "mi_api"
#define MI_ROUNDS 4
#define SMALL 100
#define GROWN 1000
#define COUNT 10
#define GROWN_COUNT 40
#define ELEM 24

void *mi_api_alloc(size_t size);

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
		wl_die(PROG, "mimalloc returned NULL for %zu bytes", n);
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
__attribute__((noinline)) static void mi_api_round(void)
{
	void *p;

	p = use_block(mi_malloc(SMALL), SMALL, 1, 0);
	mi_free(p);

	p = use_block(mi_zalloc(SMALL), SMALL, 1, 1);
	mi_free(p);

	p = use_block(mi_calloc(COUNT, ELEM), COUNT * ELEM, 1, 1);
	mi_free(p);

	p = use_block(mi_mallocn(COUNT, ELEM), COUNT * ELEM, 1, 0);
	mi_free(p);

	p = use_block(mi_malloc(SMALL), SMALL, 1, 0);
	p = use_block(mi_realloc(p, GROWN), GROWN, 1, 0);
	mi_free(p);

	p = use_block(mi_mallocn(COUNT, ELEM), COUNT * ELEM, 1, 0);
	p = use_block(mi_reallocn(p, GROWN_COUNT, ELEM), GROWN_COUNT * ELEM, 1,
		      0);
	mi_free_size(p, GROWN_COUNT * ELEM);

	p = use_block(mi_malloc_aligned(192, 64), 192, 64, 0);
	mi_free_aligned(p, 64);

	p = use_block(mi_zalloc_aligned(320, 128), 320, 128, 1);
	mi_free_size_aligned(p, 320, 128);

	p = use_block(mi_malloc(SMALL), SMALL, 1, 0);
	mi_free_size(p, SMALL);
}

/* The leaking allocation: its name is the site the tests assert. */
__attribute__((noinline)) void *mi_api_alloc(size_t size)
{
	void *p = mi_malloc(size);

	if (!p)
		wl_die(PROG, "mi_malloc(%zu) failed", size);
	memset(p, 0xa5, size);
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	int r;

	for (r = 0; r < MI_ROUNDS; r++)
		mi_api_round();
	mi_api_alloc(block_size);
	pthread_barrier_wait(&all_set);
	return arg;
}

int main(int argc, char **argv)
{
	return wl_tls_leak_main(PROG, argc, argv, &block_size, &key, &all_set,
				worker);
}
