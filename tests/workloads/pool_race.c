/*
 * pool_race.c - seed 004's bug: an application's own allocator pair
 * (pool_alloc/pool_free, a free list over one mmap'ed region) used by
 * several threads without a lock. Compiled with -DMW_CLEAN it is
 * pool_race_clean, the fix the seed proposes: the same pool and threads,
 * every list operation under one pthread mutex taken inside the pair.
 *
 *   pool_race [THREADS=4] [ROUNDS=400] [MODE=pool]
 *   pool_race_clean [THREADS=4] [ROUNDS=400] [MODE=pool]
 *
 * MODE "malloc": pool_alloc and pool_free only call malloc and free (a
 * thread-safe pair: glibc serializes what it must), the same threads and
 * calls otherwise.
 *
 * The pool: slots of SLOT bytes, 64-byte aligned, cut from one anonymous
 * mmap made before the threads start; pool_alloc pops the free list (or
 * takes the next unused slot), pool_free pushes a slot back. The list
 * links live in a slot's first word, which nobody else writes, and only
 * ever hold NULL or a slot: a raced list hands a slot out twice or loses
 * one, but never a pointer outside the region, so the program does not
 * crash (the pool has room for every slot to be lost once).
 *
 * THREADS threads run ROUNDS rounds of: BATCH pool_alloc(SLOT) calls into
 * their own row (from pool_race_fill), a barrier, BATCH pool_free calls
 * of the blocks the next thread allocated (from pool_race_drain: frees
 * from a thread other than the allocating one), a barrier. All threads
 * are in pool_alloc, and then in pool_free, at the same time: the pair's
 * calls overlap from the first round. (In the unlocked pool, each
 * thread's first pool_alloc of a round also spins inside, 2 s at most,
 * until every worker is inside: on a machine whose CPUs are busy elsewhere, the
 * workers ran one after another and no call overlapped another, in CI.
 * A spin, not sched_yield: a call that gives up its CPU looks like one
 * waiting for a lock, which the rule rightly excuses.)
 * Main joins them, sleeps 1.5 s and exits 0.
 *
 * memwatchd --alloc pool_alloc --free pool_free must report an
 * allocator-race finding for pool_race (MODE pool) naming pool_alloc or
 * pool_free and two of the workers; none for pool_race_clean (the mutex
 * inside the pair) nor for MODE malloc (the pair delegates to malloc).
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

#ifdef MW_CLEAN
#define PROG "pool_race_clean"
#else
#define PROG "pool_race"
#endif
#define BATCH 16
#define SLOT 64
#define MAX_THREADS 64

void *pool_alloc(size_t size);
void pool_free(void *p);

static struct {
	unsigned char *base;
	size_t nslots, next;
	void *free_list;
#ifdef MW_CLEAN
	pthread_mutex_t lock;
#endif
} pool = {
#ifdef MW_CLEAN
    .lock = PTHREAD_MUTEX_INITIALIZER,
#endif
};

static int use_malloc;
static long nthreads, rounds;
#ifndef MW_CLEAN
/* The rendezvous in pool_alloc: the worker's round, the round it last
 * met the others in, and how many arrivals there have been in all. */
static __thread long round_now, met_round = -1;
static long arrived;
#endif
static void *rows[MAX_THREADS][BATCH];
static pthread_barrier_t step;

static void pool_lock(void)
{
#ifdef MW_CLEAN
	pthread_mutex_lock(&pool.lock);
#endif
}

static void pool_unlock(void)
{
#ifdef MW_CLEAN
	pthread_mutex_unlock(&pool.lock);
#endif
}

/* A slot, or NULL when the region is used up. */
__attribute__((noinline, used)) void *pool_alloc(size_t size)
{
	void *p = NULL;

	if (use_malloc)
		return malloc(size);
	if (size > SLOT)
		return NULL;
#ifndef MW_CLEAN
	if (met_round != round_now) {
		uint64_t t0 = wl_now_ns();
		long want = (round_now + 1) * nthreads;

		met_round = round_now;
		__atomic_add_fetch(&arrived, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&arrived, __ATOMIC_SEQ_CST) < want &&
		       wl_now_ns() - t0 < 2000000000ull)
			__builtin_ia32_pause();
	}
#endif
	pool_lock();
	if (pool.free_list) {
		p = pool.free_list;
		pool.free_list = *(void *volatile *)p;
	} else if (pool.next < pool.nslots) {
		p = pool.base + pool.next++ * SLOT;
	}
	pool_unlock();
	return p;
}

__attribute__((noinline, used)) void pool_free(void *p)
{
	if (use_malloc) {
		free(p);
		return;
	}
	if (!p)
		return;
	pool_lock();
	*(void *volatile *)p = pool.free_list;
	pool.free_list = p;
	pool_unlock();
}

/* Fill this thread's row: BATCH allocations, the block's first word left
 * to the pool. */
__attribute__((noinline)) static void pool_race_fill(void **row)
{
	for (int i = 0; i < BATCH; i++) {
		row[i] = pool_alloc(SLOT);
		if (row[i])
			memset((char *)row[i] + sizeof(void *), 0x5a,
			       SLOT - sizeof(void *));
	}
}

/* Free the next thread's row. */
__attribute__((noinline)) static void pool_race_drain(void **row)
{
	for (int i = 0; i < BATCH; i++) {
		pool_free(row[i]);
		row[i] = NULL;
	}
}

static void *worker(void *arg)
{
	long me = (long)(intptr_t)arg;

	for (long r = 0; r < rounds; r++) {
#ifndef MW_CLEAN
		round_now = r;
#endif
		pool_race_fill(rows[me]);
		pthread_barrier_wait(&step);
		pool_race_drain(rows[(me + 1) % nthreads]);
		pthread_barrier_wait(&step);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=4] [ROUNDS=400] [MODE=pool|malloc]";
	pthread_t tids[MAX_THREADS];
	void *base;

	nthreads = wl_arg(argc, argv, 1, 4, 2, MAX_THREADS, usage);
	rounds = wl_arg(argc, argv, 2, 400, 1, 1000000, usage);
	if (argc > 3) {
		if (strcmp(argv[3], "pool") && strcmp(argv[3], "malloc"))
			wl_die(PROG, "usage: %s %s", PROG, usage);
		use_malloc = !strcmp(argv[3], "malloc");
	}
	wl_wait_for_start(PROG);
	/* Room for every slot in use, and for each to be lost once per
	 * round by a raced list. */
	pool.nslots = (size_t)nthreads * BATCH * (size_t)(rounds + 1);
	base = mmap(NULL, pool.nslots * SLOT, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		wl_die(PROG, "mmap: %s", strerror(errno));
	pool.base = base;
	wl_check(PROG, pthread_barrier_init(&step, NULL, (unsigned)nthreads),
		 "pthread_barrier_init");
	for (long i = 0; i < nthreads; i++)
		wl_check(
		    PROG,
		    pthread_create(&tids[i], NULL, worker, (void *)(intptr_t)i),
		    "pthread_create");
	for (long i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	wl_hold();
	return 0;
}
