/*
 * plant.c - the planted TLS leak of the real-program suite
 * (tests/e2e/real_*.sh): a library LD_PRELOAD'd into a program nobody
 * here wrote, which leaks one block per thread through a pthread key of
 * its own, as a buggy plugin or instrumentation library would.
 *
 * - Its key has no destructor, and nothing ever frees a value.
 * - Every thread the program creates stores a fresh block in it first
 *   thing (pthread_create is interposed: the start routine is wrapped),
 *   the main thread at load, and a forked child's main thread right after
 *   fork (pthread_atfork), so worker processes leak as their threads do.
 * - At exit (the library's destructor, run by exit()) the key is deleted
 *   while the exiting thread still holds its value.
 *
 * So a thread that ends leaves its block behind (tls-outlived-thread), and
 * a process that ends through exit() deletes the key under a held value
 * (tls-outlived-key). Either way the block was allocated in
 * mw_plant_leak(), the culprit a finding must name. Each block is
 * MW_PLANT_SIZE bytes, a size the test recognises.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MW_PLANT_SIZE 3331

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *,
			 void *(*)(void *), void *);

struct plant_start {
	void *(*fn)(void *);
	void *arg;
};

static pthread_key_t plant_key;
static int plant_ready;

/* The leak: a block stored in this thread's slot and never freed. Not
 * static and not inlined, so that its name is the allocation's call
 * site. */
__attribute__((noinline, visibility("default"))) void mw_plant_leak(void)
{
	void *p;

	if (!plant_ready)
		return;
	p = malloc(MW_PLANT_SIZE);
	if (!p)
		return;
	memset(p, 0x5a, MW_PLANT_SIZE);
	pthread_setspecific(plant_key, p);
}

static void *plant_thread(void *arg)
{
	struct plant_start s = *(struct plant_start *)arg;

	free(arg);
	mw_plant_leak();
	return s.fn(s.arg);
}

/* The program's pthread_create, through the next definition (glibc's):
 * the thread runs plant_thread first, then the program's routine. */
int pthread_create(pthread_t *t, const pthread_attr_t *attr,
		   void *(*fn)(void *), void *arg)
{
	static create_fn next;
	struct plant_start *s;
	int r;

	if (!next)
		next = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
	if (!next)
		return EAGAIN;
	s = malloc(sizeof(*s));
	if (!s)
		return EAGAIN;
	s->fn = fn;
	s->arg = arg;
	r = next(t, attr, plant_thread, s);
	if (r)
		free(s);
	return r;
}

__attribute__((constructor)) static void plant_load(void)
{
	if (pthread_key_create(&plant_key, NULL))
		return;
	plant_ready = 1;
	pthread_atfork(NULL, NULL, mw_plant_leak);
	mw_plant_leak();
}

__attribute__((destructor)) static void plant_unload(void)
{
	if (plant_ready) {
		plant_ready = 0;
		pthread_key_delete(plant_key);
	}
}
