/*
 * custom_pool_clean.c - the correct version of custom_pool: the same pool
 * and the same three threads, but the trim holds the pool's lock, so each
 * cached object is freed exactly once.
 *
 *   custom_pool_clean [OBJS=8] [SIZE=48]
 *
 * The pool caches freed objects on a free list; pool_get pops one (or
 * mallocs a new one in custom_pool_clean_alloc when the list is empty)
 * and pool_put pushes one back. Trimming (custom_pool_clean_release)
 * detaches the whole list under the pool's mutex, then frees what it
 * detached. Three threads:
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

#define PROG "custom_pool_clean"
#define MAX_OBJS 4096

struct obj {
	struct obj *next;	/* on the pool's free list */
	unsigned long tag;
	unsigned char data[];
};

struct pool {
	pthread_mutex_t lock;	/* get, put and release all take it */
	struct obj *free_list;
	long cached;
};

struct obj *custom_pool_clean_alloc(void);
long custom_pool_clean_release(void);

static struct pool pool = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };
static long nobjs;
static size_t obj_size;
static long released[2];
static struct obj *loaded_objs[MAX_OBJS];
/* loaded, trimmed: loader + trimmers; first_done: the two trimmers. */
static pthread_barrier_t loaded, trimmed, first_done;

__attribute__((noinline)) struct obj *custom_pool_clean_alloc(void)
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
	return o ? o : custom_pool_clean_alloc();
}

static void pool_put(struct obj *o)
{
	pthread_mutex_lock(&pool.lock);
	o->next = pool.free_list;
	pool.free_list = o;
	pool.cached++;
	pthread_mutex_unlock(&pool.lock);
}

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
	pthread_barrier_wait(&trimmed);
	return NULL;
}

static void *trimmer(void *arg)
{
	int role = (int)(intptr_t)arg;

	pthread_barrier_wait(&loaded);
	if (role == 1)
		pthread_barrier_wait(&first_done);
	released[role] = custom_pool_clean_release();
	if (role == 0)
		pthread_barrier_wait(&first_done);
	pthread_barrier_wait(&trimmed);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[OBJS=8] [SIZE=48]";
	pthread_t load, trim[2];
	int r;

	nobjs = wl_arg(argc, argv, 1, 8, 2, MAX_OBJS, usage);
	obj_size = (size_t)wl_arg(argc, argv, 2, 48,
				  (long)sizeof(struct obj), 120, usage);

	wl_wait_for_start(PROG);
	wl_check(PROG, pthread_barrier_init(&loaded, NULL, 3),
		 "pthread_barrier_init");
	wl_check(PROG, pthread_barrier_init(&trimmed, NULL, 3),
		 "pthread_barrier_init");
	wl_check(PROG, pthread_barrier_init(&first_done, NULL, 2),
		 "pthread_barrier_init");
	wl_check(PROG, pthread_create(&load, NULL, loader, NULL),
		 "pthread_create");
	for (r = 0; r < 2; r++)
		wl_check(PROG,
			 pthread_create(&trim[r], NULL, trimmer,
					(void *)(intptr_t)r),
			 "pthread_create");
	wl_check(PROG, pthread_join(load, NULL), "pthread_join");
	for (r = 0; r < 2; r++)
		wl_check(PROG, pthread_join(trim[r], NULL), "pthread_join");
	if (released[0] != nobjs || released[1] != 0)
		wl_die(PROG, "trimmers freed %ld and %ld objects, "
		       "want %ld and 0", released[0], released[1], nobjs);
	pthread_barrier_destroy(&loaded);
	pthread_barrier_destroy(&trimmed);
	pthread_barrier_destroy(&first_done);

	wl_sleep_ms(1500);
	return 0;
}
