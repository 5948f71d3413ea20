/*
 * custom_alloc.c - an application's own allocators, which a tracer only
 * sees when it is told about them: an xmalloc-style wrapper over malloc,
 * and a private arena over one mmap'ed region that never calls malloc.
 * One planted per-thread leak comes from the arena.
 *
 *   custom_alloc [THREADS=8] [SIZE=4096]
 *
 * The two pairs, external, noinline and used, so that their symbols are
 * in the executable's .symtab:
 *  - app_xmalloc(size) / app_xfree(p): malloc and free plus a check (die
 *    on NULL; ignore a NULL free), each a real call of malloc or free;
 *  - arena_alloc(a, size) / arena_free(a, p): the size and the pointer are
 *    the SECOND argument (the first is the arena). The arena is one
 *    anonymous mmap, made by main before the threads start, cut into
 *    fixed slots of roundup(max(SIZE, 192), 64) bytes, 64-byte aligned,
 *    for THREADS * 5 slots; a mutex guards a bump index and a free list of
 *    returned slots (linked through their first word). It is never
 *    unmapped: it is the program's heap until exit.
 *
 * One key is created with pthread_key_create(&key, NULL). THREADS threads
 * are created in one batch. Each runs CA_ROUNDS (2) rounds of:
 * xmalloc_batch(), 4 app_xmalloc(256) then 4 app_xfree, and arena_batch(),
 * 4 arena_alloc(&arena, 192) then 4 arena_free; so 8 app_xmalloc/app_xfree
 * pairs (2048 bytes) and 8 arena_alloc/arena_free pairs (1536 bytes) per
 * worker, all freed again.
 *
 * Then the planted leak: custom_alloc_alloc(SIZE) calls
 * arena_alloc(&arena, SIZE), fills the slot and stores it with
 * pthread_setspecific; nobody frees it. The threads then wait on a
 * barrier, so that all of them are alive at once, and return. Main joins
 * them, frees its thread-id array (one calloc, one free: main's only
 * malloc-family calls), sleeps 1.5 s and exits 0.
 *
 * What a tracer sees per worker thread, by what it probes:
 *  (a) malloc/free only: 8 mallocs of 256 bytes, site app_xmalloc (the
 *      caller of malloc), and 8 frees from app_xfree; the arena, and so
 *      the leak, is invisible: 0 live blocks at exit, no finding.
 *  (b) malloc/free plus app_xmalloc:1/app_xfree:1: the same 8 blocks, each
 *      reported once (malloc nested in app_xmalloc and free nested in
 *      app_xfree are the same blocks), site xmalloc_batch (the caller of
 *      app_xmalloc); 8 allocations, 8 frees, 0 live blocks, no finding.
 *  (c) plus arena_alloc:2/arena_free:2: also 8 arena blocks of 192 bytes,
 *      site arena_batch, all freed, and the leak: 17 allocations, 16 frees,
 *      exactly 1 live block of SIZE bytes at site custom_alloc_alloc (the
 *      caller of arena_alloc). memwatch must then report exactly THREADS
 *      findings of kind tls-outlived-thread, one per worker, each of SIZE
 *      bytes, at site custom_alloc_alloc, and nothing else.
 * Slots are reused across threads (the free list is shared), so an
 * address freed by one thread may come back from arena_alloc in another.
 * Not counted above: glibc's own malloc calls, e.g. the free of a
 * thread's tcache (and of the chunks cached in it) at thread exit.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "workload.h"

#define PROG "custom_alloc"
#define CA_ROUNDS 2
#define BATCH 4
#define XM_SIZE 256
#define ARENA_SIZE 192
#define ARENA_ALIGN 64

struct arena {
	pthread_mutex_t lock;
	unsigned char *base; /* the mmap'ed region */
	size_t slot_size;    /* a multiple of ARENA_ALIGN */
	size_t nslots;
	size_t next;	 /* slots handed out by the bump index so far */
	void *free_list; /* returned slots, linked through their first word */
};

void *app_xmalloc(size_t size);
void app_xfree(void *p);
void *arena_alloc(struct arena *a, size_t size);
void arena_free(struct arena *a, void *p);
void *custom_alloc_alloc(size_t size);

static struct arena arena = {.lock = PTHREAD_MUTEX_INITIALIZER};
static pthread_key_t key;
static size_t block_size;
static pthread_barrier_t all_set;
static void *volatile last_block;

/* The xmalloc pattern: malloc that never returns NULL. */
__attribute__((noinline, used)) void *app_xmalloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "app_xmalloc(%zu): out of memory", size);
	return p;
}

__attribute__((noinline, used)) void app_xfree(void *p)
{
	if (!p)
		return;
	free(p);
}

/* Maps the region: nslots slots of slot_size bytes, untouched for now. */
static void arena_init(struct arena *a, size_t slot_size, size_t nslots)
{
	void *base;

	a->slot_size =
	    (slot_size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	a->nslots = nslots;
	if (a->nslots > SIZE_MAX / a->slot_size)
		wl_die(PROG, "arena of %zu slots of %zu bytes is too big",
		       a->nslots, a->slot_size);
	base = mmap(NULL, a->slot_size * a->nslots, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		wl_die(PROG, "mmap of %zu bytes: %s", a->slot_size * a->nslots,
		       strerror(errno));
	a->base = base;
}

/* One slot for size bytes (1 to slot_size), or NULL. Never calls malloc. */
__attribute__((noinline, used)) void *arena_alloc(struct arena *a, size_t size)
{
	void *p = NULL;

	if (size == 0 || size > a->slot_size)
		return NULL;
	pthread_mutex_lock(&a->lock);
	if (a->free_list) {
		p = a->free_list;
		a->free_list = *(void **)p;
	} else if (a->next < a->nslots) {
		p = a->base + a->next * a->slot_size;
		a->next++;
	}
	pthread_mutex_unlock(&a->lock);
	return p;
}

__attribute__((noinline, used)) void arena_free(struct arena *a, void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)a->base;

	if (!p)
		return;
	if ((uintptr_t)p < (uintptr_t)a->base ||
	    off >= a->slot_size * a->nslots || off % a->slot_size)
		wl_die(PROG, "arena_free(%p): not a slot of the arena", p);
	pthread_mutex_lock(&a->lock);
	*(void **)p = a->free_list;
	a->free_list = p;
	pthread_mutex_unlock(&a->lock);
}

/* Makes every block escape, so no allocation can be elided. */
__attribute__((noinline)) static void use_block(void *p, size_t n)
{
	memset(p, 0x3c, n);
	last_block = p;
}

/* BATCH app_xmalloc(XM_SIZE), then BATCH app_xfree. */
__attribute__((noinline)) static void xmalloc_batch(void)
{
	void *p[BATCH];
	int i;

	for (i = 0; i < BATCH; i++) {
		p[i] = app_xmalloc(XM_SIZE);
		use_block(p[i], XM_SIZE);
	}
	for (i = 0; i < BATCH; i++)
		app_xfree(p[i]);
}

/* BATCH arena_alloc(&arena, ARENA_SIZE), then BATCH arena_free. */
__attribute__((noinline)) static void arena_batch(void)
{
	void *p[BATCH];
	int i;

	for (i = 0; i < BATCH; i++) {
		p[i] = arena_alloc(&arena, ARENA_SIZE);
		if (!p[i])
			wl_die(PROG, "arena_alloc(%d) failed", ARENA_SIZE);
		use_block(p[i], ARENA_SIZE);
	}
	for (i = 0; i < BATCH; i++)
		arena_free(&arena, p[i]);
}

/* The leaking allocation: its name is the site the tests assert. */
__attribute__((noinline)) void *custom_alloc_alloc(size_t size)
{
	void *p = arena_alloc(&arena, size);

	if (!p)
		wl_die(PROG, "arena_alloc(%zu) failed", size);
	memset(p, 0xa5, size);
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	int r;

	for (r = 0; r < CA_ROUNDS; r++) {
		xmalloc_batch();
		arena_batch();
	}
	custom_alloc_alloc(block_size);
	pthread_barrier_wait(&all_set);
	return arg;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=8] [SIZE=4096]";
	long nthreads = wl_arg(argc, argv, 1, 8, 1, 1000, usage);

	block_size = (size_t)wl_arg(argc, argv, 2, 4096, 1, 1L << 30, usage);

	wl_wait_for_start(PROG);
	/* Each worker holds at most BATCH slots, then its leaked one. */
	arena_init(&arena, block_size > ARENA_SIZE ? block_size : ARENA_SIZE,
		   (size_t)nthreads * (BATCH + 1));
	wl_run_batch(PROG, nthreads, &key, &all_set, worker);

	/* Stay alive past the grace period (0.5 s by default). */
	wl_hold();
	return 0;
}
