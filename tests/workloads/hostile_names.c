/*
 * hostile_names.c - threads whose names are what a hostile program would
 * choose: escape sequences, quotes, backslashes, newlines, bytes that are
 * not UTF-8. memwatch takes these names (and the program's path, which
 * tests/e2e/security.sh makes hostile too) from the kernel and must
 * carry them to its logs, database, tables, JSON, CSV and metrics
 * without any of them breaking a line, a quote or a terminal.
 *
 *   hostile_names
 *
 * Four threads, started in one batch, each name themselves (the kernel
 * keeps 15 bytes), then allocate a block of 4096 + i bytes in
 * hostile_names_alloc and keep it in a pthread key that has no
 * destructor, and return. memwatch must report exactly 4 findings of
 * kind tls-outlived-thread, one per thread, each naming its thread by
 * its name. main sleeps (wl_hold) before exiting. Honours MW_WAIT_FILE;
 * prints each thread's name, as bytes in hex, one per line.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "hostile_names"
#define NTHREADS 4

void *hostile_names_alloc(size_t size);

/* At most 15 bytes each: the kernel's TASK_COMM_LEN less its NUL. */
static const char *const names[NTHREADS] = {
    "\x1b[31mRED\xc2\x9b"
    "0m\x07",			  /* colours, C1 CSI (U+009B), a bell */
    "q\"u'o\\te,;|",		  /* quotes, backslash, CSV and shell */
    "nl\nta\tcr\rdel\x7f",	  /* line breaks, tab, DEL */
    "x\xff\xc0\xaf\xed\xa0\x80y", /* 0xff, overlong '/', surrogate */
};

static pthread_key_t key;
static pthread_barrier_t all_set;
static int next_index;

/* The leaking allocation: its name is the site the test asserts. */
__attribute__((noinline)) void *hostile_names_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	int i = __atomic_fetch_add(&next_index, 1, __ATOMIC_RELAXED);

	(void)arg;
	wl_check(PROG, pthread_setname_np(pthread_self(), names[i]),
		 "pthread_setname_np");
	hostile_names_alloc(4096 + (size_t)i);
	pthread_barrier_wait(&all_set);
	return NULL;
}

int main(void)
{
	wl_wait_for_start(PROG);
	for (int i = 0; i < NTHREADS; i++) {
		for (const unsigned char *s = (const unsigned char *)names[i];
		     *s; s++)
			printf("%02x", *s);
		printf("\n");
	}
	fflush(stdout);
	wl_run_batch(PROG, NTHREADS, &key, &all_set, worker);
	wl_hold();
	return 0;
}
