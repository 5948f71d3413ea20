/*
 * custom_pool.c - a custom object pool (a free list over malloc) whose
 * trim runs without the pool's lock: two threads trimming at once free
 * the same objects, which another thread allocated. Compiled with
 * -DMW_CLEAN it is custom_pool_clean, the correct version: the same pool
 * and the same three threads, but the trim holds the pool's lock, so each
 * cached object is freed exactly once.
 *
 *   custom_pool [OBJS=8] [SIZE=48]
 *   custom_pool_clean [OBJS=8] [SIZE=48]
 *
 * Both builds: the pool caches freed objects on a free list; pool_get
 * pops one (or mallocs a new one in custom_pool_alloc when the list is
 * empty; custom_pool_clean_alloc in custom_pool_clean) and pool_put
 * pushes one back, both under the pool's mutex. Three threads: a loader
 * and two trimmers.
 *
 * custom_pool: trimming the pool (collect the cached objects, empty the
 * list, free them with custom_pool_release) reads and clears the list
 * WITHOUT the mutex: the bug. The race is played deterministically, with
 * barriers, by the three threads:
 *   - the loader takes OBJS objects from the empty pool (OBJS mallocs of
 *     SIZE bytes in custom_pool_alloc, on the loader), uses them and puts
 *     them all back; then it parks until the process exits (see MALLOC
 *     below);
 *   - two trimmers both collect the list before either empties it (the
 *     race window), so both hold the same OBJS objects; then the first
 *     trimmer frees them in custom_pool_release, and after it the second
 *     trimmer frees them again in custom_pool_release.
 * Main joins the trimmers, sleeps 1.5 s and exits 0 (the parked loader
 * dies with the process).
 *
 * Exact numbers: C = OBJS cross-thread frees (the first trimmer's frees,
 * each of a live block the loader allocated: legitimate on their own) and
 * D = OBJS double frees (the second trimmer's frees, each of a block the
 * first trimmer freed and nobody allocated again), all from the one free
 * call in custom_pool_release.
 *
 * memwatch must report exactly one finding: kind bad-free, for the free
 * call site in custom_pool_release, on the second trimmer thread (1
 * thread), with count D and the evidence "D double free(s), 0 free(s) of
 * unknown addresses, C of C frees of blocks another thread allocated"
 * (8, 0, 8 of 8 by default); the blocks are SIZE bytes, from
 * custom_pool_alloc on the loader. Nothing else: every block the loader
 * allocated was freed (once) by the first trimmer, so nothing leaks and
 * the loader, which never exits anyway, has zero live blocks; no TLS
 * kind, no growth. Thread counters: the loader has OBJS allocs; each
 * trimmer mallocs and frees TCACHE_FILL (16) blocks of SIZE bytes of its
 * own in trimmer_fill_tcache (see MALLOC); the first trimmer also has
 * OBJS cross-thread frees; the second trimmer's unknown frees are the D
 * double frees plus, like the first's, glibc's flush of its tcache at its
 * exit (internal frees, not the program's).
 *
 * MALLOC: the program must not crash, and glibc aborts on most double
 * frees. It does not notice this one: a free of a chunk of fastbin size
 * (SIZE up to 120 bytes) whose tcache bin is full goes to the fastbin of
 * the chunk's arena, where glibc only checks that the chunk is not already
 * at the top of the bin. So each trimmer first fills its tcache bin for
 * that size (trimmer_fill_tcache: 16 mallocs, then 16 frees, more than
 * glibc's 7-entry bin), and OBJS >= 2 makes consecutive frees differ. The
 * second pass leaves a cycle in that fastbin; any later malloc of that
 * size, or any consolidation, in that arena would crash. That arena is
 * the loader's (chunks go back to the arena that carved them), and only
 * the loader's thread uses it: so the loader never allocates, frees or
 * exits after loading, and nobody touches its objects after the second
 * pass. The program refuses to run (exit 2) under settings that would
 * defeat this: GLIBC_TUNABLES mentioning glibc.malloc, MALLOC_ARENA_MAX
 * or MALLOC_ARENA_TEST. It runs fine under valgrind (which reports the D
 * invalid frees).
 *
 * custom_pool_clean (-DMW_CLEAN): trimming (custom_pool_clean_release)
 * detaches the whole list under the pool's mutex, then frees what it
 * detached. The three threads:
 *   - the loader takes OBJS objects from the empty pool (OBJS mallocs of
 *     SIZE bytes, on the loader), uses them and puts them all back, then
 *     waits until the trims are over and returns;
 *   - two trimmers trim the pool, one after the other (sequenced with a
 *     barrier, so the counts below are per thread exact): the first
 *     detaches and frees all OBJS objects, the second finds the list
 *     empty and frees nothing.
 * Main joins the three threads, sleeps 1.5 s and exits 0.
 *
 * Exact numbers: C = OBJS cross-thread frees (the first trimmer frees the
 * loader's blocks, which is normal), D = 0 double frees.
 *
 * memwatch must report no finding at all (no bad-free: custom_pool_
 * clean_release frees OBJS blocks, all of them live and all allocated by
 * another thread, which is normal; no leak, no TLS kind). Thread
 * counters: the loader has OBJS allocs and ends with zero live blocks,
 * the first trimmer has OBJS cross-thread frees, the second no frees.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#ifdef MW_CLEAN
#define PROG "custom_pool_clean"
/* The clean twin's allocation site has a name of its own. */
#define custom_pool_alloc custom_pool_clean_alloc
#else
#define PROG "custom_pool"
#define TCACHE_FILL 16
#endif
#define MAX_OBJS 4096

struct obj {
	struct obj *next;	/* on the pool's free list */
	unsigned long tag;	/* never equal to glibc's tcache key */
	unsigned char data[];
};

struct pool {
	pthread_mutex_t lock;	/* get, put and the clean trim take it */
	struct obj *free_list;
	long cached;
};

struct obj *custom_pool_alloc(void);
#ifdef MW_CLEAN
long custom_pool_clean_release(void);
#else
void custom_pool_release(struct obj **batch, long n);
void trimmer_fill_tcache(void);
#endif

static struct pool pool = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };
static long nobjs;
static size_t obj_size;
#ifdef MW_CLEAN
static long released[2];
#else
/* What each trimmer collected: static, so the trimmers do not malloc. */
static struct obj *batch[2][MAX_OBJS];
static long collected[2];
#endif
static struct obj *loaded_objs[MAX_OBJS];
#ifdef MW_CLEAN
/* loaded, trimmed: loader + trimmers; first_done: the two trimmers. */
static pthread_barrier_t loaded, trimmed, first_done;
#else
/* loaded: loader + trimmers; raced, first_done: the two trimmers. */
static pthread_barrier_t loaded, raced, first_done;
#endif

/* The pool's allocation site: in custom_pool, the blocks freed twice. */
__attribute__((noinline)) struct obj *custom_pool_alloc(void)
{
	struct obj *o = malloc(obj_size);

	if (!o)
		wl_die(PROG, "malloc(%zu) failed", obj_size);
	memset(o, 0, obj_size);
	return o;
}

static struct obj *pool_get(void)
{
	struct obj *o;

	pthread_mutex_lock(&pool.lock);
	o = pool.free_list;
	if (o) {
		pool.free_list = o->next;
		pool.cached--;
	}
	pthread_mutex_unlock(&pool.lock);
	return o ? o : custom_pool_alloc();
}

static void pool_put(struct obj *o)
{
	pthread_mutex_lock(&pool.lock);
	o->next = pool.free_list;
	pool.free_list = o;
	pool.cached++;
	pthread_mutex_unlock(&pool.lock);
}

#ifdef MW_CLEAN
/* Detach the list under the lock, then free it: each object once. */
__attribute__((noinline)) long custom_pool_clean_release(void)
{
	struct obj *list, *o;
	long n = 0;

	pthread_mutex_lock(&pool.lock);
	list = pool.free_list;
	pool.free_list = NULL;
	pool.cached = 0;
	pthread_mutex_unlock(&pool.lock);
	while ((o = list)) {
		list = o->next;
		free(o);
		n++;
	}
	return n;
}
#else
/* BUG: the trim's two halves read and clear the list without the lock. */
static long pool_collect(struct obj **out)
{
	struct obj *o;
	long n = 0;

	for (o = pool.free_list; o && n < MAX_OBJS; o = o->next)
		out[n++] = o;
	return n;
}

static void pool_forget(void)
{
	pool.free_list = NULL;
	pool.cached = 0;
}

/* The free site of both the cross-thread frees and the double frees. */
__attribute__((noinline)) void custom_pool_release(struct obj **objs, long n)
{
	long i;

	for (i = 0; i < n; i++)
		free(objs[i]);
}

/* Fill this thread's tcache bin for obj_size: see MALLOC at the top. */
__attribute__((noinline)) void trimmer_fill_tcache(void)
{
	void *p[TCACHE_FILL];
	int i;

	for (i = 0; i < TCACHE_FILL; i++) {
		p[i] = malloc(obj_size);
		if (!p[i])
			wl_die(PROG, "malloc(%zu) failed", obj_size);
		/* Keep the compiler from eliding the malloc/free pairs. */
		__asm__ volatile("" : : "r"(p[i]) : "memory");
	}
	for (i = 0; i < TCACHE_FILL; i++)
		free(p[i]);
}
#endif

static void *loader(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < nobjs; i++) {
		loaded_objs[i] = pool_get();
		loaded_objs[i]->tag = 0x600d0000UL + (unsigned long)i;
	}
	for (i = 0; i < nobjs; i++)
		pool_put(loaded_objs[i]);
	pthread_barrier_wait(&loaded);
#ifdef MW_CLEAN
	pthread_barrier_wait(&trimmed);
#else
	/* Park for good: this thread's arena must never be used again. */
	for (;;)
		pause();
#endif
	return NULL;
}

static void *trimmer(void *arg)
{
	int role = (int)(intptr_t)arg;

#ifndef MW_CLEAN
	trimmer_fill_tcache();
#endif
	pthread_barrier_wait(&loaded);
#ifndef MW_CLEAN
	collected[role] = pool_collect(batch[role]);
	/* The race: both trimmers have read the list, neither cleared it. */
	pthread_barrier_wait(&raced);
	pool_forget();
#endif
	if (role == 1)
		pthread_barrier_wait(&first_done);
#ifdef MW_CLEAN
	released[role] = custom_pool_clean_release();
#else
	custom_pool_release(batch[role], collected[role]);
#endif
	if (role == 0)
		pthread_barrier_wait(&first_done);
#ifdef MW_CLEAN
	pthread_barrier_wait(&trimmed);
#endif
	return NULL;
}

#ifndef MW_CLEAN
/* Exit 2 under malloc settings that would turn the bug into a crash. */
static void check_malloc_settings(const char *argv0, const char *usage)
{
	const char *t = getenv("GLIBC_TUNABLES");

	if ((t && strstr(t, "glibc.malloc")) || getenv("MALLOC_ARENA_MAX") ||
	    getenv("MALLOC_ARENA_TEST")) {
		fprintf(stderr,
			"%s: needs glibc's default malloc settings (it "
			"double-frees on purpose); unset GLIBC_TUNABLES "
			"glibc.malloc.*, MALLOC_ARENA_MAX, MALLOC_ARENA_TEST\n"
			"usage: %s %s\n",
			PROG, argv0, usage);
		exit(2);
	}
}
#endif

int main(int argc, char **argv)
{
	const char *usage = "[OBJS=8] [SIZE=48]";
	pthread_t load, trim[2];
	int r;

	nobjs = wl_arg(argc, argv, 1, 8, 2, MAX_OBJS, usage);
	obj_size = (size_t)wl_arg(argc, argv, 2, 48,
				  (long)sizeof(struct obj), 120, usage);
#ifndef MW_CLEAN
	check_malloc_settings(argv[0], usage);
#endif

	wl_wait_for_start(PROG);
	wl_check(PROG, pthread_barrier_init(&loaded, NULL, 3),
		 "pthread_barrier_init");
#ifdef MW_CLEAN
	wl_check(PROG, pthread_barrier_init(&trimmed, NULL, 3),
		 "pthread_barrier_init");
#else
	wl_check(PROG, pthread_barrier_init(&raced, NULL, 2),
		 "pthread_barrier_init");
#endif
	wl_check(PROG, pthread_barrier_init(&first_done, NULL, 2),
		 "pthread_barrier_init");
	wl_check(PROG, pthread_create(&load, NULL, loader, NULL),
		 "pthread_create");
	for (r = 0; r < 2; r++)
		wl_check(PROG,
			 pthread_create(&trim[r], NULL, trimmer,
					(void *)(intptr_t)r),
			 "pthread_create");
#ifdef MW_CLEAN
	wl_check(PROG, pthread_join(load, NULL), "pthread_join");
#endif
	for (r = 0; r < 2; r++)
		wl_check(PROG, pthread_join(trim[r], NULL), "pthread_join");
#ifdef MW_CLEAN
	if (released[0] != nobjs || released[1] != 0)
		wl_die(PROG, "trimmers freed %ld and %ld objects, "
		       "want %ld and 0", released[0], released[1], nobjs);
	pthread_barrier_destroy(&loaded);
	pthread_barrier_destroy(&trimmed);
	pthread_barrier_destroy(&first_done);
#else
	for (r = 0; r < 2; r++)
		if (collected[r] != nobjs)
			wl_die(PROG, "trimmer %d collected %ld objects, "
			       "want %ld", r, collected[r], nobjs);
#endif

	/* Stay alive past the grace period: see the comment at the top. */
	wl_hold();
	return 0;
}
