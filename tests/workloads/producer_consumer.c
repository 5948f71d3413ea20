/*
 * producer_consumer.c - a correct program in which threads exit while
 * blocks they allocated are still live, held by another thread: memwatch
 * must find nothing in it.
 *
 *   producer_consumer [PRODUCERS=4] [ITEMS=64] [SIZE=256] [KEEP=4]
 *
 * One long-lived consumer thread and PRODUCERS producer threads, created
 * in one batch. Each producer mallocs ITEMS items of SIZE bytes in
 * pc_item_alloc, hands each one to the consumer through a mutex-protected
 * queue, and exits as soon as it has handed over its last item (possibly
 * before the consumer took them). The consumer stores every item whose
 * number within its producer is a multiple of KEEP in a table that lives
 * until the end (items 0, KEEP, 2*KEEP, ... of every producer) and frees
 * the others. So every producer has both kinds: blocks freed by another
 * thread and blocks kept by another thread after it exited. Main joins the
 * producers, waits until the consumer has taken every item, sleeps 3 s
 * (the kept blocks of the exited producers stay live all that time,
 * longer than the daemon's default orphan age of 2 s plus a 0.5 s tick,
 * so the thread-orphan rule looks at them while they are live), then
 * stops the consumer, which frees its table and returns; main joins it
 * and exits.
 *
 * Exact numbers (defaults): PRODUCERS*ITEMS = 256 items; the consumer
 * keeps PRODUCERS*ceil(ITEMS/KEEP) = 64 of them until the end and frees
 * 192 right away; all 256 frees are cross-thread frees (the consumer
 * frees producers' blocks). No pthread key, no thread_local.
 *
 * memwatch must report no finding at all: handing blocks to another
 * thread is normal, including a thread exiting while the blocks it
 * handed over are still live. In particular no thread-orphan, although
 * PRODUCERS (4, at least the 3 the rule wants by default) exited threads
 * each left ceil(ITEMS/KEEP) live blocks from pc_item_alloc behind: other
 * threads free that site's blocks (192 cross-thread frees before any
 * producer is judged), the hand-off the rule exempts (hence KEEP >= 2).
 * The producers must show as exited with ITEMS allocs each, and every thread
 * must end with zero live blocks (the exited producers' counts drop to
 * zero when the consumer frees the table).
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "producer_consumer"

struct item {
	struct item *next;
	long producer;
	long seq;		/* number within its producer */
	unsigned char payload[];
};

struct item *pc_item_alloc(long producer, long seq);

static long nproducers, nitems, keep_every;
static size_t item_size;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static struct item *queue_head, *queue_tail;
static long taken;		/* items the consumer has taken */
static int stopping;
static long kept_count;

__attribute__((noinline)) struct item *pc_item_alloc(long producer, long seq)
{
	struct item *it = malloc(item_size);

	if (!it)
		wl_die(PROG, "malloc(%zu) failed", item_size);
	memset(it->payload, (int)(seq & 0xff), item_size - sizeof(*it));
	it->next = NULL;
	it->producer = producer;
	it->seq = seq;
	return it;
}

static void *producer(void *arg)
{
	long p = (long)(intptr_t)arg, i;

	for (i = 0; i < nitems; i++) {
		struct item *it = pc_item_alloc(p, i);

		pthread_mutex_lock(&lock);
		if (queue_tail)
			queue_tail->next = it;
		else
			queue_head = it;
		queue_tail = it;
		pthread_cond_broadcast(&changed);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	long total = nproducers * nitems, n = 0, i;
	struct item **table;

	(void)arg;
	table = calloc((size_t)total, sizeof(*table));
	if (!table)
		wl_die(PROG, "out of memory");
	pthread_mutex_lock(&lock);
	for (;;) {
		struct item *it;

		while (!queue_head && !stopping)
			pthread_cond_wait(&changed, &lock);
		if (!queue_head)
			break;
		it = queue_head;
		queue_head = it->next;
		if (!queue_head)
			queue_tail = NULL;
		taken++;
		pthread_cond_broadcast(&changed);
		pthread_mutex_unlock(&lock);

		if (it->payload[0] != (unsigned char)(it->seq & 0xff))
			wl_die(PROG, "item %ld/%ld corrupted", it->producer,
			       it->seq);
		if (it->seq % keep_every == 0)
			table[n++] = it;
		else
			free(it);

		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);

	/* The end: the table goes. */
	kept_count = n;
	for (i = 0; i < n; i++)
		free(table[i]);
	free(table);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[PRODUCERS=4] [ITEMS=64] [SIZE=256] [KEEP=4]";
	long want_kept;
	pthread_t cons, *prods;
	long i;

	nproducers = wl_arg(argc, argv, 1, 4, 1, 1000, usage);
	nitems = wl_arg(argc, argv, 2, 64, 2, 1000000, usage);
	item_size = (size_t)wl_arg(argc, argv, 3, 256,
				   (long)sizeof(struct item) + 1, 1L << 30,
				   usage);
	keep_every = wl_arg(argc, argv, 4, 4, 2, 1000000, usage);
	want_kept = nproducers * ((nitems + keep_every - 1) / keep_every);

	wl_wait_for_start(PROG);
	prods = calloc((size_t)nproducers, sizeof(*prods));
	if (!prods)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_create(&cons, NULL, consumer, NULL),
		 "pthread_create");
	for (i = 0; i < nproducers; i++)
		wl_check(PROG,
			 pthread_create(&prods[i], NULL, producer,
					(void *)(intptr_t)i),
			 "pthread_create");
	for (i = 0; i < nproducers; i++)
		wl_check(PROG, pthread_join(prods[i], NULL), "pthread_join");
	free(prods);

	pthread_mutex_lock(&lock);
	while (taken < nproducers * nitems)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);

	/* The producers are gone; their kept blocks outlive the orphan age. */
	wl_sleep_ms(3000);

	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
	wl_check(PROG, pthread_join(cons, NULL), "pthread_join");
	if (kept_count != want_kept)
		wl_die(PROG, "consumer kept %ld items, want %ld", kept_count,
		       want_kept);
	return 0;
}
