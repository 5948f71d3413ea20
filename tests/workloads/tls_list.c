/*
 * tls_list.c - a per-thread list whose head lives in TLS, the pattern
 * where every pthread_setspecific replaces a live value that is not
 * leaked: the new head links the old one. Compiled with -DMW_CLEAN it is
 * tls_list_clean, the correct version; the plain build forgets the link.
 *
 *   tls_list [THREADS=4] [NODES=2000]
 *   tls_list_clean [THREADS=4] [NODES=2000]
 *
 * Both builds: one key is created with pthread_key_create(&key,
 * free_list), whose destructor frees the list from the head it is given.
 * THREADS threads are created in one batch; each pushes NODES nodes with
 * tls_list_push (tls_list_clean_push in tls_list_clean), which mallocs a
 * 48-byte node whose link is its last word (offset 40, not the first),
 * sets node->next and stores the node as the new head with
 * pthread_setspecific. Then the workers wait on a barrier with main,
 * which sleeps 1 s (times MW_TIME_SCALE) while they stay alive holding
 * their lists, longer than memwatchd's grace; then main releases them and
 * they return, and glibc runs free_list on each head. Main stays alive
 * 1.5 s after joining them (wl_hold).
 *
 * tls_list_clean: node->next = pthread_getspecific(key), the old head.
 * Every old head stays reachable from the new one and free_list frees
 * them all: memwatch must report no finding at all (no tls-overwritten
 * for the THREADS * (NODES - 1) replaced heads), and every worker must
 * end with zero live blocks.
 *
 * tls_list: node->next = NULL (the bug): each push drops the old head,
 * which nothing references any more, and free_list frees the last node
 * alone. memwatch must report one tls-overwritten row for the key and the
 * site tls_list_push, count THREADS * (NODES - 1) (7996 by default) over
 * THREADS threads, 48 bytes each, and nothing else: the dropped nodes are
 * decided while their threads live, so they are no thread-orphan.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#ifdef MW_CLEAN
#define PROG "tls_list_clean"
/* The clean twin's site has a name of its own. */
#define tls_list_push tls_list_clean_push
#else
#define PROG "tls_list"
#endif

/* 48 bytes, the link last: a push is found wherever the node keeps it. */
struct node {
	char payload[40];
	struct node *next;
};

void *tls_list_push(void);

static pthread_key_t key;
static long nodes;
/* All workers plus main: "every node is pushed" and "you may exit". */
static pthread_barrier_t all_set, release;

/* The key's destructor: glibc calls it with the head on the exiting
 * thread. */
static void free_list(void *head)
{
	struct node *n = head;

	while (n) {
		struct node *next = n->next;

		free(n);
		n = next;
	}
}

/* The push: its name is the site the tests assert. */
__attribute__((noinline)) void *tls_list_push(void)
{
	struct node *n = malloc(sizeof(*n));

	if (!n)
		wl_die(PROG, "malloc(%zu) failed", sizeof(*n));
	memset(n->payload, 0x4c, sizeof(n->payload));
#ifdef MW_CLEAN
	n->next = pthread_getspecific(key);
#else
	/* BUG: the old head is dropped, not linked. */
	n->next = NULL;
#endif
	wl_check(PROG, pthread_setspecific(key, n), "pthread_setspecific");
	return n;
}

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < nodes; i++)
		tls_list_push();
	pthread_barrier_wait(&all_set);
	pthread_barrier_wait(&release);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=4] [NODES=2000]";
	long nthreads = wl_arg(argc, argv, 1, 4, 1, 1000, usage);
	const char *scale = getenv("MW_TIME_SCALE");
	unsigned parties = (unsigned)nthreads + 1;
	pthread_t *tids;
	long i;

	nodes = wl_arg(argc, argv, 2, 2000, 1, 1000000, usage);
	wl_wait_for_start(PROG);
	tids = calloc((size_t)nthreads, sizeof(*tids));
	if (!tids)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_key_create(&key, free_list),
		 "pthread_key_create");
	wl_check(PROG, pthread_barrier_init(&all_set, NULL, parties),
		 "pthread_barrier_init");
	wl_check(PROG, pthread_barrier_init(&release, NULL, parties),
		 "pthread_barrier_init");
	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");

	pthread_barrier_wait(&all_set);
	/* The replaced heads outlive the grace while their thread lives. */
	wl_sleep_ms(1000 * (scale && atol(scale) > 0 ? atol(scale) : 1));
	pthread_barrier_wait(&release);

	for (i = 0; i < nthreads; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&all_set);
	pthread_barrier_destroy(&release);
	free(tids);

	/* Stay alive past the grace period: see the comment at the top. */
	wl_hold();
	return 0;
}
