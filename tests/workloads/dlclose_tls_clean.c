/*
 * dlclose_tls_clean.c - the correct version of dlclose_tls: the workers
 * give their per-thread data of the plugin back before it is unloaded.
 *
 *   dlclose_tls_clean [WORKERS=4] [ROUNDS=3] [SIZE=2048]
 *
 * Uses libmwtlsmod.so (tests/workloads/tls_module.c), found next to this
 * executable. WORKERS threads are created once and live until the end,
 * parked on barriers with main between steps. ROUNDS times, main:
 *   1. dlopens the library (its ELF constructor creates a pthread key);
 *   2. lets every worker call tlsmod_use(SIZE) once: the worker mallocs
 *      SIZE bytes in tlsmod_buffer_alloc, keeps the pointer in the
 *      library's __thread variable and binds it to the key;
 *   3. lets every worker call tlsmod_release(): the worker clears the
 *      key's value (pthread_setspecific NULL) and frees its buffer;
 *   4. dlcloses the library (its ELF destructor deletes the key, which no
 *      thread holds a value in any more) and checks it was unloaded.
 * After the last round, main sleeps 1 s with the workers alive, then lets
 * them return, joins them, and sleeps 1.5 s: the same timeline as
 * dlclose_tls.
 *
 * memwatch must report no finding at all (no tls-outlived-module, no
 * tls-outlived-key, no tls-outlived-thread, no thread-orphan). Each
 * worker allocates and frees its buffers; the only block it leaves live
 * when it exits is glibc's 8-byte block for its instance of the library's
 * TLS in the last round (malloc'd by ld-linux's allocate_dtv_entry under
 * __tls_get_addr: a MW_STACK_TLS_DYNAMIC stack), which glibc frees when
 * it reuses or trims the dead thread's cached stack, here only at process
 * exit. That is glibc's bookkeeping, not a leak: no finding for it.
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

#define PROG "dlclose_tls_clean"
#define LIBNAME "libmwtlsmod.so"

typedef int (*use_fn)(size_t size);

static size_t block_size;
static use_fn tlsmod_use; /* valid between dlopen and dlclose only */
static int (*tlsmod_release)(void);
static int stopping;
/* tlsmod_use calls that allocated, tlsmod_release calls that freed */
static long allocated, released;
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
		/* Second step of the round: give the buffer back. */
		pthread_barrier_wait(&go);
		if (tlsmod_release()) {
			pthread_mutex_lock(&count_lock);
			released++;
			pthread_mutex_unlock(&count_lock);
		}
		pthread_barrier_wait(&done);
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
		tlsmod_release = (int (*)(void))dlsym(lib, "tlsmod_release");
		if (!tlsmod_release)
			wl_die(PROG, "dlsym tlsmod_release: %s", dlerror());
		allocated = released = 0;
		pthread_barrier_wait(&go);
		pthread_barrier_wait(&done);
		pthread_barrier_wait(&go);
		/* After this, every worker is back in our code, parked. */
		pthread_barrier_wait(&done);
		if (allocated != nworkers || released != nworkers)
			wl_die(PROG, "round %ld: %ld allocated, %ld released, "
			       "%ld workers", r, allocated, released, nworkers);
		tlsmod_use = NULL;
		tlsmod_release = NULL;
		if (dlclose(lib))
			wl_die(PROG, "dlclose: %s", dlerror());
		lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
		if (lib)
			wl_die(PROG, "%s still loaded after dlclose", LIBNAME);
	}

	wl_sleep_ms(1000);
	stopping = 1;
	pthread_barrier_wait(&go);
	for (i = 0; i < nworkers; i++)
		wl_check(PROG, pthread_join(tids[i], NULL), "pthread_join");
	pthread_barrier_destroy(&go);
	pthread_barrier_destroy(&done);
	free(tids);

	wl_sleep_ms(1500);
	return 0;
}
