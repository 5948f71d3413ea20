/*
 * free_all.c - a busy, correct program: memwatch must find nothing in it.
 *
 *   free_all [THREADS=8] [ITERS=10000]
 *
 * THREADS threads are created in one batch and run concurrently. Each does
 * ITERS steps over a private table of slots, driven by its own seeded
 * generator (so every run does the same work): free what a slot holds,
 * then refill it with malloc, calloc, realloc (from NULL, growing and
 * shrinking), reallocarray, posix_memalign, aligned_alloc or strdup. About
 * one freed block in four is not freed by its owner but pushed onto a
 * mutex-protected queue, and every thread pops and frees blocks from that
 * queue: many blocks are freed by a thread other than the one that
 * allocated them. Each thread also keeps a per-thread object in a key
 * that has a destructor, and replaces it now and then (freeing the old
 * one itself); the destructor frees the last one at thread exit. At the
 * end each thread frees its slots, main joins them, frees whatever is
 * left on the queue and deletes the key (no thread holds a value then).
 *
 * memwatch must report no finding at all, and every block it saw
 * allocated must have been freed. The program counts its own allocations
 * and frees and exits 1 if they differ or a block was corrupted.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "free_all"
#define SLOTS 64
#define QUEUE_CAP 256
#define TLS_EVERY 500 /* steps between replacements of the TLS object */

struct slot {
	unsigned char *p;
	size_t size;
	unsigned char tag; /* every byte of the first min(size, 16) */
};

/* The per-thread object held in the key: itself and a buffer. */
struct tls_obj {
	char *name;
	size_t steps;
};

struct worker {
	pthread_t thread;
	unsigned id;
	uint64_t rng;
	unsigned long allocs, frees;
	struct slot slots[SLOTS];
};

static pthread_key_t obj_key;
static long iters;

/* Blocks in transit from the thread that allocated them to another. */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot queue[QUEUE_CAP];
static size_t queue_len;

/* Frees done by main (draining the queue) and by the key destructor. */
static unsigned long other_frees;
static pthread_mutex_t other_lock = PTHREAD_MUTEX_INITIALIZER;

static void count_other_frees(unsigned long n)
{
	pthread_mutex_lock(&other_lock);
	other_frees += n;
	pthread_mutex_unlock(&other_lock);
}

/* xorshift64*: tiny, deterministic per thread, good enough to mix ops. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void stamp(struct slot *s)
{
	memset(s->p, s->tag, s->size < 16 ? s->size : 16);
}

/* Check the stamp and free: a mismatch means the heap was damaged. */
static void check_and_free(struct slot *s)
{
	size_t n = s->size < 16 ? s->size : 16;

	for (size_t i = 0; i < n; i++)
		if (s->p[i] != s->tag)
			wl_die(PROG, "block %p corrupted", (void *)s->p);
	free(s->p);
	s->p = NULL;
}

/* Fill an empty slot with one of the allocation calls; 1 on success. */
static int refill(struct worker *w, struct slot *s, uint64_t r)
{
	size_t size = 1 + (r >> 16) % 2048;
	void *p = NULL;

	if ((r >> 40) % 64 == 0)
		size = 160 * 1024; /* now and then, above the mmap threshold */
	switch ((r >> 8) % 8) {
	case 0:
		p = malloc(size);
		break;
	case 1:
		p = calloc(size / 8 + 1, 8);
		size = (size / 8 + 1) * 8;
		break;
	case 2:
		p = realloc(NULL, size);
		break;
	case 3:
		p = reallocarray(NULL, size / 4 + 1, 4);
		size = (size / 4 + 1) * 4;
		break;
	case 4:
		if (posix_memalign(&p, 64, size))
			p = NULL;
		if (p && (uintptr_t)p % 64)
			wl_die(PROG, "posix_memalign: misaligned %p", p);
		break;
	case 5:
		size = (size + 255) & ~(size_t)255; /* a multiple of align */
		p = aligned_alloc(256, size);
		if (p && (uintptr_t)p % 256)
			wl_die(PROG, "aligned_alloc: misaligned %p", p);
		break;
	case 6: {
		char text[64];
		size_t len = 1 + (r >> 20) % (sizeof(text) - 1);

		memset(text, 'a' + (int)(r % 26), len);
		text[len] = '\0';
		p = strdup(text);
		size = len + 1;
		break;
	}
	default:
		/* Grow then shrink: two reallocs that may or may not move. */
		p = malloc(32);
		if (p) {
			void *q = realloc(p, size + 4096);

			if (!q) {
				free(p);
				p = NULL;
				break;
			}
			p = realloc(q, size);
			if (!p) {
				free(q);
				break;
			}
		}
		break;
	}
	if (!p)
		wl_die(PROG, "allocation of %zu bytes failed", size);
	w->allocs++;
	s->p = p;
	s->size = size;
	s->tag = (unsigned char)(1 + r % 250);
	stamp(s);
	return 1;
}

/* Hand a block to the queue; 0 when the queue is full. */
static int give_away(struct slot *s)
{
	int ok = 0;

	pthread_mutex_lock(&queue_lock);
	if (queue_len < QUEUE_CAP) {
		queue[queue_len++] = *s;
		ok = 1;
	}
	pthread_mutex_unlock(&queue_lock);
	if (ok)
		s->p = NULL;
	return ok;
}

/* Free one block from the queue, most likely another thread's. */
static int take_one(struct worker *w)
{
	struct slot s = { 0 };

	pthread_mutex_lock(&queue_lock);
	if (queue_len)
		s = queue[--queue_len];
	pthread_mutex_unlock(&queue_lock);
	if (!s.p)
		return 0;
	check_and_free(&s);
	w->frees++;
	return 1;
}

static void free_obj(void *v)
{
	struct tls_obj *o = v;

	free(o->name);
	free(o);
	count_other_frees(2);
}

/* Replace this thread's TLS object; the old one is freed right here. */
static void renew_obj(struct worker *w, size_t step)
{
	struct tls_obj *old = pthread_getspecific(obj_key);
	struct tls_obj *o = malloc(sizeof(*o));

	if (!o || !(o->name = malloc(32)))
		wl_die(PROG, "out of memory");
	w->allocs += 2;
	snprintf(o->name, 32, "worker-%u", w->id);
	o->steps = step;
	wl_check(PROG, pthread_setspecific(obj_key, o), "pthread_setspecific");
	if (old) {
		free(old->name);
		free(old);
		w->frees += 2;
	}
}

static void *run(void *arg)
{
	struct worker *w = arg;

	for (long step = 0; step < iters; step++) {
		uint64_t r = next_rand(&w->rng);
		struct slot *s = &w->slots[r % SLOTS];

		if (step % TLS_EVERY == 0)
			renew_obj(w, (size_t)step);
		if (s->p) {
			if ((r >> 4) % 4 != 0 || !give_away(s)) {
				check_and_free(s);
				w->frees++;
			}
		}
		if ((r >> 6) % 3 == 0)
			take_one(w);
		refill(w, s, r);
	}
	for (int i = 0; i < SLOTS; i++) {
		if (w->slots[i].p) {
			check_and_free(&w->slots[i]);
			w->frees++;
		}
	}
	/* The TLS object is left to the key's destructor on purpose. */
	return NULL;
}

int main(int argc, char **argv)
{
	const char *usage = "[THREADS=8] [ITERS=10000]";
	long nthreads = wl_arg(argc, argv, 1, 8, 1, 1000, usage);
	unsigned long allocs = 0, frees = 0;
	struct worker *ws;
	struct worker drain = { 0 };

	iters = wl_arg(argc, argv, 2, 10000, 0, 1000000000L, usage);

	wl_wait_for_start(PROG);
	ws = calloc((size_t)nthreads, sizeof(*ws));
	if (!ws)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_key_create(&obj_key, free_obj),
		 "pthread_key_create");
	for (long i = 0; i < nthreads; i++) {
		ws[i].id = (unsigned)i;
		ws[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		wl_check(PROG, pthread_create(&ws[i].thread, NULL, run, &ws[i]),
			 "pthread_create");
	}
	for (long i = 0; i < nthreads; i++) {
		wl_check(PROG, pthread_join(ws[i].thread, NULL), "pthread_join");
		allocs += ws[i].allocs;
		frees += ws[i].frees;
	}
	while (take_one(&drain))
		;
	frees += drain.frees + other_frees;
	wl_check(PROG, pthread_key_delete(obj_key), "pthread_key_delete");
	free(ws);

	if (allocs != frees)
		wl_die(PROG, "%lu allocations but %lu frees", allocs, frees);
	return 0;
}
