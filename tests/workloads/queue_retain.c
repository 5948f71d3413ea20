/*
 * queue_retain.c - a work queue that keeps every finished task: one
 * allocation site's live bytes grow steadily, across threads. Compiled
 * with -DMW_CLEAN it is queue_retain_clean, the correct version: the same
 * producer, workers and tasks, but a worker frees each task once it is
 * done, so the live set stays flat.
 *
 *   queue_retain [WORKERS=3] [TASKS=4000] [SECONDS=4] [SIZE=1024]
 *   queue_retain_clean [WORKERS=3] [TASKS=4000] [SECONDS=4] [SIZE=1024]
 *
 * Both builds: one producer thread and WORKERS worker threads are created
 * once and do not exit before the end of the observed window. The
 * producer enqueues TASKS tasks spread evenly over SECONDS (task i at
 * start + i*SECONDS/TASKS); each task is one malloc of SIZE bytes in
 * queue_payload_alloc (queue_payload_clean_alloc in queue_retain_clean),
 * the queue link and the payload in the same block. The workers dequeue
 * tasks and checksum the payload. When the window ends (start + SECONDS,
 * every task done), main checks TASKS tasks were done, then lets the
 * producer and the workers return, joins them and sleeps 0.8 s before
 * exiting (no thread dies holding a block, so there is no grace to wait
 * for).
 *
 * queue_retain: the workers append each finished task to a global "done"
 * list that nothing ever trims (the bug): no block is freed during the
 * window. When the window ends, main checks the done list holds TASKS
 * tasks and frees them all (shutdown), and only then do the producer and
 * the workers return.
 *
 * So during the window the live bytes of queue_payload_alloc grow
 * linearly, by TASKS*SIZE/SECONDS bytes a second (1000 KiB/s by
 * default), and right before shutdown exactly TASKS blocks of SIZE bytes
 * are live (4000 x 1024 by default), all allocated by the producer.
 *
 * memwatch must report exactly two findings: one site-growth for
 * queue_payload_alloc, and one thread-growth for the producer thread
 * (memwatch counts a block in its allocating thread's live set, and the
 * producer allocated every retained block; the finding names
 * queue_payload_alloc). No thread-growth for the workers or main (they
 * allocate nothing that stays), no TLS kind, no thread-orphan (the
 * producer exits only after the shutdown freed its blocks), no bad-free.
 * The frees at shutdown are cross-thread frees (main frees the
 * producer's blocks), which are normal. Every thread ends with zero live
 * blocks. The defaults are sized for the daemon's defaults: a growth
 * finding needs 6 samples 0.5 s apart that increase at every step (2.5 s
 * of growth, 3 s counting the phase of the first sample) and by 256 KiB
 * in all; SECONDS=4 leaves a margin.
 *
 * queue_retain_clean (-DMW_CLEAN): a worker counts each finished task and
 * frees it: every block is allocated by the producer and freed by a
 * worker (TASKS cross-thread frees, which are normal).
 *
 * memwatch must report no finding at all: no site-growth, no
 * thread-growth (at any time only the few queued or in-process tasks are
 * live), no TLS kind, no thread-orphan, no bad-free. Every thread ends
 * with zero live blocks.
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
#define PROG "queue_retain_clean"
/* The clean twin's site has a name of its own. */
#define queue_payload_alloc queue_payload_clean_alloc
#else
#define PROG "queue_retain"
#endif

struct task {
	struct task *next;
	long id;
	uint64_t sum;
	unsigned char payload[];
};

struct task *queue_payload_alloc(long id);

static long nworkers, ntasks;
static size_t block_size;
static uint64_t start_ns, period_ns, window_ns;

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_ready = PTHREAD_COND_INITIALIZER;
static struct task *queue_head, *queue_tail;
static int producer_done;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
#ifndef MW_CLEAN
static struct task *done_list;
#endif
static long done_count;

/* Producer, workers and main: "the window is over", "all freed". */
static pthread_barrier_t window_end, torn_down;


/* The (growing) allocation: its name is the site the tests assert. */
__attribute__((noinline)) struct task *queue_payload_alloc(long id)
{
	struct task *t = malloc(block_size);
	size_t i, n = block_size - sizeof(*t);

	if (!t)
		wl_die(PROG, "malloc(%zu) failed", block_size);
	t->next = NULL;
	t->id = id;
	t->sum = 0;
	for (i = 0; i < n; i++)
		t->payload[i] = (unsigned char)(id + i);
	return t;
}

static void *producer(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < ntasks; i++) {
		struct task *t;

		wl_sleep_until_ns(start_ns + (uint64_t)i * period_ns);
		t = queue_payload_alloc(i);
		pthread_mutex_lock(&queue_lock);
		if (queue_tail)
			queue_tail->next = t;
		else
			queue_head = t;
		queue_tail = t;
		pthread_cond_signal(&queue_ready);
		pthread_mutex_unlock(&queue_lock);
	}
	pthread_mutex_lock(&queue_lock);
	producer_done = 1;
	pthread_cond_broadcast(&queue_ready);
	pthread_mutex_unlock(&queue_lock);

	pthread_barrier_wait(&window_end);
	pthread_barrier_wait(&torn_down);
	return NULL;
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct task *t;
		size_t i, n = block_size - sizeof(*t);

		pthread_mutex_lock(&queue_lock);
		while (!queue_head && !producer_done)
			pthread_cond_wait(&queue_ready, &queue_lock);
		t = queue_head;
		if (t) {
			queue_head = t->next;
			if (!queue_head)
				queue_tail = NULL;
		}
		pthread_mutex_unlock(&queue_lock);
		if (!t)
			break;

		for (i = 0; i < n; i++)
			t->sum = t->sum * 31 + t->payload[i];

#ifdef MW_CLEAN
		pthread_mutex_lock(&done_lock);
		done_count++;
		pthread_mutex_unlock(&done_lock);
		free(t);
#else
		/* BUG: finished tasks are kept forever. */
		pthread_mutex_lock(&done_lock);
		t->next = done_list;
		done_list = t;
		done_count++;
		pthread_mutex_unlock(&done_lock);
#endif
	}
	pthread_barrier_wait(&window_end);
	pthread_barrier_wait(&torn_down);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[WORKERS=3] [TASKS=4000] [SECONDS=4] [SIZE=1024]";
	unsigned parties;
	long seconds;
	pthread_t *tids;
#ifndef MW_CLEAN
	struct task *t;
#endif
	long i;

	nworkers = wl_arg(argc, argv, 1, 3, 1, 1000, usage);
	ntasks = wl_arg(argc, argv, 2, 4000, 1, 100000000, usage);
	seconds = wl_arg(argc, argv, 3, 4, 1, 3600, usage);
	block_size = (size_t)wl_arg(argc, argv, 4, 1024,
				    (long)sizeof(struct task), 1L << 30, usage);
	window_ns = (uint64_t)seconds * 1000000000ULL;
	period_ns = window_ns / (uint64_t)ntasks;
	parties = (unsigned)nworkers + 2;

	wl_wait_for_start(PROG);
	tids = calloc((size_t)nworkers + 1, sizeof(*tids));
	if (!tids)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_barrier_init(&window_end, NULL, parties),
		 "pthread_barrier_init");
	wl_check(PROG, pthread_barrier_init(&torn_down, NULL, parties),
		 "pthread_barrier_init");
	start_ns = wl_now_ns();
	for (i = 0; i < nworkers; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");
	wl_check(PROG, pthread_create(&tids[nworkers], NULL, producer, NULL),
		 "pthread_create");

	wl_sleep_until_ns(start_ns + window_ns);
	pthread_barrier_wait(&window_end);
	if (done_count != ntasks)
		wl_die(PROG, "%ld tasks done, want %ld", done_count, ntasks);
#ifndef MW_CLEAN
	/* Shutdown: only now is the done list emptied. */
	while ((t = done_list)) {
		done_list = t->next;
		free(t);
	}
#endif
	pthread_barrier_wait(&torn_down);

	for (i = 0; i <= nworkers; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&window_end);
	pthread_barrier_destroy(&torn_down);
	free(tids);

	wl_sleep_ms(800);
	return 0;
}
