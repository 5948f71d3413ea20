/*
 * pool_cache.c - a thread pool whose per-thread cache grows without bound:
 * nothing outlives its owner, but each thread's live set grows steadily
 * for as long as it works. Compiled with -DMW_CLEAN it is
 * pool_cache_clean, the correct version: the same pool and the same
 * tasks, but each thread's cache is bounded and evicts (and frees) its
 * oldest entries, so the live set stays flat.
 *
 *   pool_cache [THREADS=4] [TASKS=4000] [SECONDS=4] [SIZE=1024]
 *   pool_cache_clean [THREADS=4] [TASKS=4000] [SECONDS=4] [SIZE=1024]
 *
 * Both builds: THREADS pool threads are created once and do not exit
 * before the end of the observed window. TASKS tasks are spread evenly
 * over SECONDS: task i is due at start + i*SECONDS/TASKS and belongs to
 * thread i % THREADS, which sleeps until it is due and then runs it.
 * Running a task adds its result to the thread's cache (a linked list
 * whose head is a __thread variable, not a pthread key, so no key binding
 * changes per task): one malloc of SIZE bytes in pool_cache_grow
 * (pool_cache_clean_grow in pool_cache_clean). When the window ends
 * (start + SECONDS) the pool shuts down: each thread frees its whole
 * cache and returns, main joins them and sleeps 0.8 s before exiting (no
 * thread dies holding a block, so there is no grace to wait for: this is
 * only so the last flush sees the drop).
 *
 * pool_cache: the cache is never trimmed (the bug).
 *
 * So during the window each thread's live set grows linearly, by
 * TASKS*SIZE/(THREADS*SECONDS) bytes a second (250 KiB/s by default), all
 * from pool_cache_grow, the site's by THREADS times that (1000 KiB/s),
 * and right before shutdown the caches hold exactly TASKS blocks of SIZE
 * bytes (4000 x 1024 by default), thread t holding the tasks t,
 * t+THREADS, ... (1000 each by default).
 *
 * memwatch must report exactly THREADS + 1 findings: one thread-growth
 * per pool thread (THREADS of them), each naming pool_cache_grow as the
 * site holding most of the thread's live bytes, and one site-growth for
 * pool_cache_grow (the site grows as the sum of the threads). Nothing
 * else: no TLS kind (no block is bound to a key), no thread-orphan (each
 * thread frees its cache before it exits), no bad-free. Every pool thread
 * ends with zero live blocks. The defaults are sized for the daemon's
 * defaults: a growth finding needs 6 samples 0.5 s apart that increase at
 * every step (2.5 s of growth, 3 s counting the phase of the first
 * sample) and by 256 KiB in all; SECONDS=4 leaves a margin, and each
 * thread gains 625 KiB over those 2.5 s.
 *
 * pool_cache_clean (-DMW_CLEAN): pool_cache_clean_grow, after adding the
 * new entry, frees the entries beyond the newest CACHE_CAP (16). Each
 * thread reaches the cap after its first 16 tasks (64 ms by default) and
 * from then on frees one block per block it allocates.
 *
 * memwatch must report no finding at all: no thread-growth, no
 * site-growth (each thread's live set stays at min(tasks run, 16) blocks
 * of SIZE bytes, 17 for an instant between a malloc and its eviction:
 * flat once every thread is past its 16th task), no TLS kind, no
 * thread-orphan, no bad-free. Every pool thread ends with zero live
 * blocks.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workload.h"

#ifdef MW_CLEAN
#define PROG "pool_cache_clean"
#define CACHE_CAP 16
/* The clean twin's site has a name of its own. */
#define pool_cache_grow pool_cache_clean_grow
#define FILL_BYTE 0x71
#else
#define PROG "pool_cache"
#define FILL_BYTE 0x70
#endif

struct entry {
	struct entry *next;
	long task;
	uint64_t result;
};

struct entry *pool_cache_grow(long task, uint64_t result);

static long nthreads, ntasks;
static size_t block_size;
static uint64_t start_ns, period_ns, window_ns;
/* All pool threads plus main: "the window is over". */
static pthread_barrier_t window_end;

/* The thread's cache: newest first. */
static __thread struct entry *cache_head;
static __thread long cache_len;


/* The (growing) allocation: its name is the site the tests assert. */
__attribute__((noinline)) struct entry *pool_cache_grow(long task,
							 uint64_t result)
{
	struct entry *e = malloc(block_size);
#ifdef MW_CLEAN
	struct entry *last, *old;
	long n;
#endif

	if (!e)
		wl_die(PROG, "malloc(%zu) failed", block_size);
	memset(e, FILL_BYTE, block_size);
	e->task = task;
	e->result = result;
	/* BUG in pool_cache: nothing ever evicts an entry (see MW_CLEAN). */
	e->next = cache_head;
	cache_head = e;
	cache_len++;
#ifdef MW_CLEAN
	if (cache_len <= CACHE_CAP)
		return e;
	/* Evict everything past the newest CACHE_CAP entries. */
	for (last = cache_head, n = 1; n < CACHE_CAP; n++)
		last = last->next;
	while ((old = last->next)) {
		last->next = old->next;
		free(old);
		cache_len--;
	}
#endif
	return e;
}

static uint64_t run_task(long task)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)task;
	int i;

	for (i = 0; i < 64; i++)
		h = (h ^ (uint64_t)i) * 0x100000001b3ULL;
	if (cache_head)
		h ^= cache_head->result;
	return h;
}

static void pool_cache_drain(void)
{
	struct entry *e;

	while ((e = cache_head)) {
		cache_head = e->next;
		free(e);
		cache_len--;
	}
}

static void *pool_thread(void *arg)
{
	long t = (long)(intptr_t)arg, i, want = 0;

	for (i = t; i < ntasks; i += nthreads) {
		wl_sleep_until_ns(start_ns + (uint64_t)i * period_ns);
		pool_cache_grow(i, run_task(i));
#ifdef MW_CLEAN
		if (want < CACHE_CAP)
			want++;
#else
		want++;
#endif
	}
	pthread_barrier_wait(&window_end);
	if (cache_len != want)
		wl_die(PROG, "thread %ld: cache holds %ld, want %ld", t,
		       cache_len, want);
	pool_cache_drain();
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=4] [TASKS=4000] [SECONDS=4] [SIZE=1024]";
	long seconds;
	pthread_t *tids;
	long i;

	nthreads = wl_arg(argc, argv, 1, 4, 1, 1000, usage);
	ntasks = wl_arg(argc, argv, 2, 4000, 1, 100000000, usage);
	seconds = wl_arg(argc, argv, 3, 4, 1, 3600, usage);
	block_size = (size_t)wl_arg(argc, argv, 4, 1024,
				    (long)sizeof(struct entry), 1L << 30,
				    usage);
	window_ns = (uint64_t)seconds * 1000000000ULL;
	period_ns = window_ns / (uint64_t)ntasks;

	wl_wait_for_start(PROG);
	tids = calloc((size_t)nthreads, sizeof(*tids));
	if (!tids)
		wl_die(PROG, "out of memory");
	wl_check(PROG,
		 pthread_barrier_init(&window_end, NULL,
				      (unsigned)nthreads + 1),
		 "pthread_barrier_init");
	start_ns = wl_now_ns();
	for (i = 0; i < nthreads; i++)
		wl_check(PROG,
			 pthread_create(&tids[i], NULL, pool_thread,
					(void *)(intptr_t)i),
			 "pthread_create");

	wl_sleep_until_ns(start_ns + window_ns);
	pthread_barrier_wait(&window_end);
	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&window_end);
	free(tids);

	wl_sleep_ms(800);
	return 0;
}
