/*
 * queue_retain_clean.c - the correct version of queue_retain: the same
 * producer, workers and tasks, but a worker frees each task once it is
 * done, so the live set stays flat.
 *
 *   queue_retain_clean [WORKERS=3] [TASKS=4000] [SECONDS=4] [SIZE=1024]
 *
 * One producer thread and WORKERS worker threads are created once and do
 * not exit before the end of the observed window. The producer enqueues
 * TASKS tasks spread evenly over SECONDS; each task is one malloc of SIZE
 * bytes in queue_payload_clean_alloc. A worker dequeues a task, checksums
 * the payload, counts it and frees it: every block is allocated by the
 * producer and freed by a worker (TASKS cross-thread frees, which are
 * normal). When the window ends, main checks TASKS tasks were done; the
 * threads return, main joins them and sleeps 0.8 s before exiting.
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

#define PROG "queue_retain_clean"

struct task {
	struct task *next;
	long id;
	uint64_t sum;
	unsigned char payload[];
};

struct task *queue_payload_clean_alloc(long id);

static long nworkers, ntasks;
static size_t block_size;
static uint64_t start_ns, period_ns, window_ns;

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_ready = PTHREAD_COND_INITIALIZER;
static struct task *queue_head, *queue_tail;
static int producer_done;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static long done_count;

/* Producer, workers and main: "the window is over", "all freed". */
static pthread_barrier_t window_end, torn_down;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000ULL),
			       (long)(t % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

__attribute__((noinline)) struct task *queue_payload_clean_alloc(long id)
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

		sleep_until_ns(start_ns + (uint64_t)i * period_ns);
		t = queue_payload_clean_alloc(i);
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

		pthread_mutex_lock(&done_lock);
		done_count++;
		pthread_mutex_unlock(&done_lock);
		free(t);
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
	start_ns = now_ns();
	for (i = 0; i < nworkers; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");
	wl_check(PROG, pthread_create(&tids[nworkers], NULL, producer, NULL),
		 "pthread_create");

	sleep_until_ns(start_ns + window_ns);
	pthread_barrier_wait(&window_end);
	if (done_count != ntasks)
		wl_die(PROG, "%ld tasks done, want %ld", done_count, ntasks);
	pthread_barrier_wait(&torn_down);

	for (i = 0; i <= nworkers; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&window_end);
	pthread_barrier_destroy(&torn_down);
	free(tids);

	wl_sleep_ms(800);
	return 0;
}
