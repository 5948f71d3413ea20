/*
 * handoff_late.c - blocks handed from short-lived threads to others that
 * free them seconds later: a thread-orphan finding while they wait, which
 * memwatch must resolve once they are freed.
 *
 *   handoff_late [PRODUCERS=6] [ITEMS=8] [SIZE=200] [HOLD_MS=3000] [FREE=1]
 *
 * PRODUCERS threads, created in one batch, each malloc ITEMS blocks of
 * SIZE bytes in handoff_item_alloc, put them in a shared table (under a
 * mutex) and exit. Main joins them and holds the table HOLD_MS (longer
 * than the daemon's default orphan age of 2 s plus a 0.5 s tick, so the
 * blocks are judged left behind while live, and no thread has freed one
 * of that site before: not the hand-off the rule exempts). Then, with
 * FREE=1, two short-lived freer threads free half of the table each; main
 * sleeps 1.5 s (the daemon flushes in that time) and exits.
 *
 * Exact numbers (defaults): 48 blocks of 200 bytes from handoff_item_alloc
 * by 6 exited threads, all freed by 2 other threads. memwatch must make
 * one thread-orphan finding for handoff_item_alloc (6 of 6 exited threads
 * that allocated there left blocks: medium) and, with FREE=1, resolve it
 * ("all 48 block(s) freed (by 2 other thread(s))"), its count and bytes 0;
 * with FREE=0 it stays open with 48 blocks and 9600 bytes (a real leak).
 * No other finding. No pthread key, no thread_local.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "handoff_late"

void *handoff_item_alloc(long producer, long seq);

static long nproducers, nitems;
static size_t item_size;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void **table;
static long ntable;

__attribute__((noinline)) void *handoff_item_alloc(long producer, long seq)
{
	unsigned char *it = malloc(item_size);

	if (!it)
		wl_die(PROG, "malloc(%zu) failed", item_size);
	memset(it, (int)((producer + seq) & 0xff), item_size);
	return it;
}

static void *producer(void *arg)
{
	long p = (long)(intptr_t)arg;

	for (long i = 0; i < nitems; i++) {
		void *it = handoff_item_alloc(p, i);

		pthread_mutex_lock(&lock);
		table[ntable++] = it;
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

/* Free one half of the table: arg 0 the first, 1 the second. */
static void *freer(void *arg)
{
	long half = (long)(intptr_t)arg, mid = ntable / 2;
	long from = half ? mid : 0, to = half ? ntable : mid;

	for (long i = from; i < to; i++)
		free(table[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage =
	    "[PRODUCERS=6] [ITEMS=8] [SIZE=200] [HOLD_MS=3000] [FREE=1]";
	pthread_t *prods, fr[2];
	long hold_ms, do_free;

	nproducers = wl_arg(argc, argv, 1, 6, 1, 1000, usage);
	nitems = wl_arg(argc, argv, 2, 8, 1, 1000000, usage);
	item_size = (size_t)wl_arg(argc, argv, 3, 200, 1, 1L << 30, usage);
	hold_ms = wl_arg(argc, argv, 4, 3000, 0, 600000, usage);
	do_free = wl_arg(argc, argv, 5, 1, 0, 1, usage);

	table = calloc((size_t)(nproducers * nitems), sizeof(*table));
	prods = calloc((size_t)nproducers, sizeof(*prods));
	if (!table || !prods)
		wl_die(PROG, "out of memory");
	wl_wait_for_start(PROG);
	for (long i = 0; i < nproducers; i++)
		wl_check(PROG,
			 pthread_create(&prods[i], NULL, producer,
					(void *)(intptr_t)i),
			 "pthread_create");
	for (long i = 0; i < nproducers; i++)
		wl_check(PROG, pthread_join(prods[i], NULL), "pthread_join");
	free(prods);
	if (ntable != nproducers * nitems)
		wl_die(PROG, "table holds %ld blocks, want %ld", ntable,
		       nproducers * nitems);

	/* The producers are gone; their blocks outlive the orphan age. */
	wl_sleep_ms(hold_ms);
	if (do_free) {
		for (long i = 0; i < 2; i++)
			wl_check(PROG,
				 pthread_create(&fr[i], NULL, freer,
						(void *)(intptr_t)i),
				 "pthread_create");
		for (long i = 0; i < 2; i++)
			wl_check(PROG, pthread_join(fr[i], NULL),
				 "pthread_join");
	}
	/* The daemon flushes (and judges the finding again) meanwhile. */
	wl_sleep_ms(1500);
	return 0;
}
