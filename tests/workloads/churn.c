/*
 * churn.c - a long-running, allocation-heavy program whose output proves
 * it ran correctly: the victim of the detach test.
 *
 *   churn [ROUNDS=40] [THREADS=4] [OPS=2000]
 *
 * ROUNDS times: start THREADS threads; each does OPS malloc/realloc/free
 * steps driven by a generator seeded from (round, thread), writes data
 * into its blocks, reads it back into a checksum, and keeps a TLS object
 * in a key with a destructor; main joins them and then sleeps 100 ms. So
 * the program runs for at least ROUNDS/10 seconds (4 s by default)
 * whatever the speed of the machine, and is inside malloc, free, realloc,
 * pthread_setspecific or thread start/exit almost all the time.
 *
 * It prints one line, "churn: rounds=R threads=T ops=O checksum=X", where
 * X depends only on the arguments, then exits 0; a block whose content
 * changed under it is reported and makes it exit 1. The detach test
 * attaches memwatchd to it, stops memwatchd mid-run, and checks that the
 * line and the exit status are those of an untraced run.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "churn"
#define LIVE 16 /* blocks each thread keeps at a time */

struct job {
	pthread_t thread;
	uint64_t seed;
	uint64_t sum;
};

static pthread_key_t obj_key;
static long ops;

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void free_obj(void *p)
{
	free(p);
}

/* Fold a block into the checksum after checking the pattern we wrote. */
static uint64_t consume(const unsigned char *p, size_t size, uint64_t seed,
			uint64_t sum)
{
	for (size_t i = 0; i < size; i++) {
		unsigned char want = (unsigned char)(seed + i * 31);

		if (p[i] != want)
			wl_die(PROG, "block %p changed at byte %zu",
			       (const void *)p, i);
		sum = (sum ^ p[i]) * 0x100000001b3ULL;
	}
	return sum;
}

static void *run(void *arg)
{
	struct job *j = arg;
	unsigned char *blk[LIVE] = { 0 };
	size_t len[LIVE] = { 0 };
	uint64_t tag[LIVE] = { 0 };
	uint64_t rng = j->seed, sum = 0xcbf29ce484222325ULL;
	uint64_t *obj = malloc(sizeof(*obj));

	if (!obj)
		wl_die(PROG, "out of memory");
	*obj = j->seed;
	wl_check(PROG, pthread_setspecific(obj_key, obj), "pthread_setspecific");

	for (long op = 0; op < ops; op++) {
		uint64_t r = next_rand(&rng);
		int i = (int)(r % LIVE);
		size_t size = 1 + (r >> 8) % 512;

		if (blk[i] && (r >> 20) % 2) {
			/* realloc keeps the common prefix; check only that. */
			size_t keep = len[i] < size ? len[i] : size;
			unsigned char *q = realloc(blk[i], size);

			if (!q)
				wl_die(PROG, "out of memory");
			sum = consume(q, keep, tag[i], sum);
			blk[i] = q;
		} else {
			if (blk[i]) {
				sum = consume(blk[i], len[i], tag[i], sum);
				free(blk[i]);
			}
			blk[i] = malloc(size);
			if (!blk[i])
				wl_die(PROG, "out of memory");
		}
		len[i] = size;
		tag[i] = r >> 32;
		for (size_t b = 0; b < size; b++)
			blk[i][b] = (unsigned char)(tag[i] + b * 31);
	}
	for (int i = 0; i < LIVE; i++) {
		if (blk[i]) {
			sum = consume(blk[i], len[i], tag[i], sum);
			free(blk[i]);
		}
	}
	j->sum = sum ^ *(uint64_t *)pthread_getspecific(obj_key);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[ROUNDS=40] [THREADS=4] [OPS=2000]";
	long rounds = wl_arg(argc, argv, 1, 40, 1, 1000000, usage);
	long nthreads = wl_arg(argc, argv, 2, 4, 1, 1000, usage);
	uint64_t total = 0, busy = 0;
	struct job *jobs;

	ops = wl_arg(argc, argv, 3, 2000, 0, 1000000000L, usage);

	wl_wait_for_start(PROG);
	jobs = calloc((size_t)nthreads, sizeof(*jobs));
	if (!jobs)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_key_create(&obj_key, free_obj),
		 "pthread_key_create");
	for (long r = 0; r < rounds; r++) {
		uint64_t t0 = wl_now_ns();

		for (long t = 0; t < nthreads; t++) {
			jobs[t].seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(r + 1) +
				       (uint64_t)t * 0xbf58476d1ce4e5b9ULL + 1;
			wl_check(PROG, pthread_create(&jobs[t].thread, NULL,
						      run, &jobs[t]),
				 "pthread_create");
		}
		/* Sums are combined in thread order: the result is fixed. */
		for (long t = 0; t < nthreads; t++) {
			wl_check(PROG, pthread_join(jobs[t].thread, NULL),
				 "pthread_join");
			total = (total * 31) ^ jobs[t].sum;
		}
		busy += wl_now_ns() - t0;
		wl_sleep_ms(100);
	}
	free(jobs);
	/* For benchmarks: the rounds' work, without the sleeps. */
	wl_elapsed_write(busy);
	printf("churn: rounds=%ld threads=%ld ops=%ld checksum=%016llx\n",
	       rounds, nthreads, ops, (unsigned long long)total);
	return 0;
}
