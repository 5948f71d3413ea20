/*
 * dlclose_tls.c - per-thread data of a plugin that is unloaded while the
 * threads that own the data live on. Compiled with -DMW_CLEAN it is
 * dlclose_tls_clean, the correct version: the workers give their
 * per-thread data of the plugin back before it is unloaded.
 *
 *   dlclose_tls [WORKERS=4] [ROUNDS=3] [SIZE=2048]
 *   dlclose_tls_clean [WORKERS=4] [ROUNDS=3] [SIZE=2048]
 *
 * Uses libmwtlsmod.so (tests/workloads/tls_module.c), found next to this
 * executable. WORKERS threads are created once and live until the end,
 * parked on barriers with main between steps. ROUNDS times, main:
 *   1. dlopens the library (its ELF constructor creates a pthread key
 *      whose destructor is in the library);
 *   2. lets every worker call tlsmod_use(SIZE) once: the worker mallocs
 *      SIZE bytes in tlsmod_buffer_alloc, keeps the pointer in the
 *      library's __thread variable (general-dynamic, via __tls_get_addr)
 *      and binds it to the key with pthread_setspecific;
 *   3. dlclose_tls_clean only: lets every worker call tlsmod_release():
 *      the worker clears the key's value (pthread_setspecific NULL) and
 *      frees its buffer;
 *   4. once all workers are back in this program's code, dlcloses the
 *      library while the workers still live: its ELF destructor deletes
 *      the key, and the library is unmapped. In dlclose_tls nobody freed
 *      the workers' buffers and nobody can any more (the bug); in
 *      dlclose_tls_clean no thread holds a value in the key any more. The
 *      program checks the library really was unloaded (dlopen RTLD_NOLOAD
 *      fails).
 * Each round gets a fresh key and a fresh, zeroed TLS instance in each
 * worker, so each worker allocates exactly one new buffer per round (the
 * program checks it, and in dlclose_tls_clean that each worker freed
 * it). After the last round, main sleeps 1 s with the workers alive, then
 * lets them return (they never call into the library again), joins them,
 * and sleeps 1.5 s: the same timeline in both builds.
 *
 * dlclose_tls: exactly WORKERS*ROUNDS blocks leak (12 by default): one per
 * worker per round, each of SIZE bytes, allocated in tlsmod_buffer_alloc
 * (in libmwtlsmod.so, which is no longer mapped when the leak is decided:
 * its symbols must come from what was mapped at allocation time), bound
 * to the key of that round. memwatch must report exactly those
 * WORKERS*ROUNDS findings, of kind tls-outlived-module: each block was
 * allocated by the module's code, bound to a key the module created, and
 * is still live after the module was unloaded (and its key deleted by
 * its destructor during dlclose) while its thread lives. That is one
 * finding per block: not a tls-outlived-key finding too for the same
 * block, and no tls-outlived-thread finding when the workers exit (the
 * key was deleted earlier, so glibc runs no destructor then). Nothing
 * else, in particular not for glibc's own block holding each worker's
 * instance of the library's TLS (8 bytes, one per worker per round,
 * malloc'd on the worker by ld-linux's allocate_dtv_entry under
 * __tls_get_addr called from tlsmod_use, so a MW_STACK_TLS_DYNAMIC
 * stack): glibc frees a round's block at the worker's first
 * __tls_get_addr of the next round, and the last round's block only when
 * it reuses or trims the dead thread's cached stack (never, here, before
 * the process exits). So each worker exits leaving one such block live:
 * that must not make a thread-orphan finding (the module buffers it
 * also leaves behind are already reported).
 *
 * dlclose_tls_clean (-DMW_CLEAN): memwatch must report no finding at all
 * (no tls-outlived-module, no tls-outlived-key, no tls-outlived-thread,
 * no thread-orphan). Each worker allocates and frees its buffers; the
 * only block it leaves live when it exits is glibc's 8-byte block for its
 * instance of the library's TLS in the last round (malloc'd by ld-linux's
 * allocate_dtv_entry under __tls_get_addr: a MW_STACK_TLS_DYNAMIC stack),
 * which glibc frees when it reuses or trims the dead thread's cached
 * stack, here only at process exit. That is glibc's bookkeeping, not a
 * leak: no finding for it.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workload.h"

#ifdef MW_CLEAN
#define PROG "dlclose_tls_clean"
#else
#define PROG "dlclose_tls"
#endif
#define LIBNAME "libmwtlsmod.so"

typedef int (*use_fn)(size_t size);

static size_t block_size;
static use_fn tlsmod_use; /* valid between dlopen and dlclose only */
#ifdef MW_CLEAN
static int (*tlsmod_release)(void);
#endif
static int stopping;
#ifdef MW_CLEAN
/* tlsmod_use calls that allocated, tlsmod_release calls that freed */
static long allocated, released;
#else
static long allocated; /* tlsmod_use calls that allocated, this round */
#endif
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
/* All workers plus main: "go" and "done", once per step. */
static pthread_barrier_t go, done;

/* The library's path: LIBNAME in the directory of this executable. */
static void library_path(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		wl_die(PROG, "readlink /proc/self/exe failed");
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		wl_die(PROG, "odd executable path %s", exe);
	*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/%s", exe, LIBNAME) >= len)
		wl_die(PROG, "path too long");
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_barrier_wait(&go);
		if (stopping)
			return NULL;
		if (tlsmod_use(block_size)) {
			pthread_mutex_lock(&count_lock);
			allocated++;
			pthread_mutex_unlock(&count_lock);
		}
		pthread_barrier_wait(&done);
#ifdef MW_CLEAN
		/* Second step of the round: give the buffer back. */
		pthread_barrier_wait(&go);
		if (tlsmod_release()) {
			pthread_mutex_lock(&count_lock);
			released++;
			pthread_mutex_unlock(&count_lock);
		}
		pthread_barrier_wait(&done);
#endif
	}
}

int main(int argc, char **argv)
{
	const char *usage = "[WORKERS=4] [ROUNDS=3] [SIZE=2048]";
	long nworkers = wl_arg(argc, argv, 1, 4, 1, 1000, usage);
	long rounds = wl_arg(argc, argv, 2, 3, 1, 10000, usage);
	unsigned parties = (unsigned)nworkers + 1;
	char path[PATH_MAX];
	pthread_t *tids;
	void *lib;
	long r, i;

	block_size = (size_t)wl_arg(argc, argv, 3, 2048, 1, 1L << 30, usage);
	library_path(path, sizeof(path));

	wl_wait_for_start(PROG);
	tids = calloc((size_t)nworkers, sizeof(*tids));
	if (!tids)
		wl_die(PROG, "out of memory");
	wl_check(PROG, pthread_barrier_init(&go, NULL, parties),
		 "pthread_barrier_init");
	wl_check(PROG, pthread_barrier_init(&done, NULL, parties),
		 "pthread_barrier_init");
	for (i = 0; i < nworkers; i++)
		wl_check(PROG, pthread_create(&tids[i], NULL, worker, NULL),
			 "pthread_create");

	for (r = 0; r < rounds; r++) {
		lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!lib)
			wl_die(PROG, "dlopen: %s", dlerror());
		tlsmod_use = (use_fn)dlsym(lib, "tlsmod_use");
		if (!tlsmod_use)
			wl_die(PROG, "dlsym tlsmod_use: %s", dlerror());
#ifdef MW_CLEAN
		tlsmod_release = (int (*)(void))dlsym(lib, "tlsmod_release");
		if (!tlsmod_release)
			wl_die(PROG, "dlsym tlsmod_release: %s", dlerror());
		allocated = released = 0;
		pthread_barrier_wait(&go);
		pthread_barrier_wait(&done);
#else
		allocated = 0;
#endif
		pthread_barrier_wait(&go);
		/* After this, every worker is back in our code, parked. */
		pthread_barrier_wait(&done);
#ifdef MW_CLEAN
		if (allocated != nworkers || released != nworkers)
			wl_die(PROG, "round %ld: %ld allocated, %ld released, "
			       "%ld workers", r, allocated, released, nworkers);
		tlsmod_use = NULL;
		tlsmod_release = NULL;
#else
		if (allocated != nworkers)
			wl_die(PROG, "round %ld: %ld of %ld workers allocated",
			       r, allocated, nworkers);
		tlsmod_use = NULL;
		/* BUG: the workers' buffers are still held. */
#endif
		if (dlclose(lib))
			wl_die(PROG, "dlclose: %s", dlerror());
		lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
		if (lib)
			wl_die(PROG, "%s still loaded after dlclose", LIBNAME);
	}

	/* The workers outlive the module by more than the grace. */
	wl_sleep_ms(1000);
	stopping = 1;
	pthread_barrier_wait(&go);
	for (i = 0; i < nworkers; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&go);
	pthread_barrier_destroy(&done);
	free(tids);

	/* Stay alive past the grace period: see the comment at the top. */
	wl_hold();
	return 0;
}
