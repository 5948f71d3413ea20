/*
 * demo_leaky.c - the program `make demo` traces: a toy server with the
 * classic thread-per-request TLS leak.
 *
 *   demo_leaky [REQUESTS=20]
 *
 * Each request is handled on a fresh thread. A handler formats its reply
 * in a per-thread scratch buffer that it creates lazily on first use
 * (request_scratch_buffer, 16 KiB of malloc) and keeps in a pthread key
 * created WITHOUT a destructor. That is the bug: when the handler thread
 * exits, nothing frees its scratch buffer. Handlers also keep per-thread
 * statistics (request_stats_get) in a second key that HAS a destructor,
 * written correctly: those objects are freed at thread exit.
 *
 * memwatch must report REQUESTS findings of kind tls-outlived-thread, each
 * of 16384 bytes, allocated in request_scratch_buffer, and nothing for the
 * statistics objects. The program prints one line when it starts and one
 * when it is done, then sleeps 1.5 s so the findings are decided while it
 * is still running.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "demo_leaky"
#define SCRATCH_SIZE (16 * 1024)

struct request_stats {
	unsigned long handled;
	unsigned long bytes_out;
};

struct request {
	pthread_t thread;
	unsigned id;
	uint32_t checksum; /* of the reply, for the final line */
};

char *request_scratch_buffer(void);
struct request_stats *request_stats_get(void);

static pthread_key_t scratch_key; /* BUG: created without a destructor */
static pthread_key_t stats_key;	  /* correct: its destructor frees */

/* This thread's scratch buffer, allocated on first use. */
__attribute__((noinline)) char *request_scratch_buffer(void)
{
	char *buf = pthread_getspecific(scratch_key);

	if (buf)
		return buf;
	buf = malloc(SCRATCH_SIZE);
	if (!buf)
		wl_die(PROG, "out of memory");
	buf[0] = '\0';
	wl_check(PROG, pthread_setspecific(scratch_key, buf),
		 "pthread_setspecific");
	return buf;
}

static void stats_free(void *p)
{
	free(p);
}

/* This thread's statistics, allocated on first use; freed by stats_key. */
__attribute__((noinline)) struct request_stats *request_stats_get(void)
{
	struct request_stats *st = pthread_getspecific(stats_key);

	if (st)
		return st;
	st = calloc(1, sizeof(*st));
	if (!st)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_setspecific(stats_key, st),
		 "pthread_setspecific");
	return st;
}

static void *handle_request(void *arg)
{
	struct request *req = arg;
	char *reply = request_scratch_buffer();
	struct request_stats *st = request_stats_get();
	uint32_t sum = 2166136261u; /* FNV-1a over the reply */
	int len;

	len = snprintf(reply, SCRATCH_SIZE,
		       "HTTP/1.0 200 OK\r\nX-Request: %u\r\n\r\nhello #%u\n",
		       req->id, req->id);
	for (int i = 0; i < len; i++)
		sum = (sum ^ (unsigned char)reply[i]) * 16777619u;
	req->checksum = sum;
	st->handled++;
	st->bytes_out += (unsigned long)len;
	return NULL;
}

int main(int argc, char **argv)
{
	long n = wl_arg(argc, argv, 1, 20, 1, 10000, "[REQUESTS=20]");
	struct request *reqs;
	uint32_t total = 0;

	wl_wait_for_start(PROG);
	printf("demo_leaky: serving %ld requests, one thread each\n", n);
	fflush(stdout);
	reqs = calloc((size_t)n, sizeof(*reqs));
	if (!reqs)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_key_create(&scratch_key, NULL),
		 "pthread_key_create");
	wl_check(PROG, pthread_key_create(&stats_key, stats_free),
		 "pthread_key_create");
	for (long i = 0; i < n; i++) {
		reqs[i].id = (unsigned)i + 1;
		wl_check(PROG, pthread_create(&reqs[i].thread, NULL,
					      handle_request, &reqs[i]),
			 "pthread_create");
	}
	for (long i = 0; i < n; i++) {
		wl_check(PROG, pthread_join(reqs[i].thread, NULL),
			 "pthread_join");
		total ^= reqs[i].checksum;
	}
	free(reqs);
	printf("demo_leaky: served %ld requests (reply checksum %08x)\n", n,
	       total);
	fflush(stdout);
	/* Linger like a server would, past memwatchd's grace period. */
	wl_hold();
	return 0;
}
