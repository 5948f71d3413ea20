/*
 * tls_module.c - libmwtlsmod.so, the plugin that dlclose_tls and
 * dlclose_tls_clean dlopen and dlclose. Not a program: the Makefile builds
 * it with -fPIC -shared into .output/workloads/libmwtlsmod.so (and leaves
 * it out of the workload programs).
 *
 * Per-thread state, two ways at once, as plugins often do:
 *   - tlsmod_buf, a __thread pointer in the general-dynamic TLS model, so
 *     every access from this dlopen'ed library calls __tls_get_addr (glibc
 *     gives each thread a fresh, zeroed instance each time the library is
 *     loaded: its dynamic TLS block);
 *   - a pthread key created by the library's ELF constructor, whose
 *     destructor (tlsmod_key_dtor) lives in the library and frees the
 *     thread's buffer if the thread exits while the library is loaded.
 *
 * tlsmod_use(SIZE): on the first call in a thread (per load), mallocs the
 * thread's buffer in tlsmod_buffer_alloc(SIZE), keeps it in tlsmod_buf and
 * binds it to the key with pthread_setspecific. Returns 1 if it allocated,
 * 0 if the thread already had its buffer.
 *
 * tlsmod_release(): frees the calling thread's buffer and clears both
 * tlsmod_buf and the key's value. Returns 1 if there was a buffer.
 *
 * The ELF destructor (run by dlclose) deletes the key. It cannot reach
 * other threads' buffers, so any buffer still held then is leaked: its
 * pointers were in the library's TLS and in the deleted key, both gone.
 * Deleting the key is what keeps the program alive: a live key whose
 * destructor points into the unmapped library would make glibc call
 * unmapped code when such a thread exits. It also means the key's
 * destructor never runs for a buffer dropped by dlclose.
 *
 * No dependency on the programs: it only uses libc.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "libmwtlsmod"

void *tlsmod_buffer_alloc(size_t size);
int tlsmod_use(size_t size);
int tlsmod_release(void);
void tlsmod_key_dtor(void *p);

/* Exported, and explicitly general-dynamic: accessed via __tls_get_addr. */
__thread unsigned char *tlsmod_buf
	__attribute__((tls_model("global-dynamic")));

static pthread_key_t tlsmod_key;

/* The key's destructor: runs on a thread exiting while we are loaded. */
void tlsmod_key_dtor(void *p)
{
	free(p);
	tlsmod_buf = NULL;
}

__attribute__((constructor)) static void tlsmod_init(void)
{
	wl_check(PROG, pthread_key_create(&tlsmod_key, tlsmod_key_dtor),
		 "pthread_key_create");
}

/* dlclose: the key goes, and with it every other thread's buffer. */
__attribute__((destructor)) static void tlsmod_fini(void)
{
	wl_check(PROG, pthread_key_delete(tlsmod_key), "pthread_key_delete");
}

/* The leaking allocation: its name is the site the tests assert. */
__attribute__((noinline)) void *tlsmod_buffer_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	memset(p, 0x6d, size);
	return p;
}

int tlsmod_use(size_t size)
{
	if (tlsmod_buf) {
		tlsmod_buf[0]++;
		return 0;
	}
	tlsmod_buf = tlsmod_buffer_alloc(size);
	wl_check(PROG, pthread_setspecific(tlsmod_key, tlsmod_buf),
		 "pthread_setspecific");
	return 1;
}

int tlsmod_release(void)
{
	if (!tlsmod_buf)
		return 0;
	wl_check(PROG, pthread_setspecific(tlsmod_key, NULL),
		 "pthread_setspecific");
	free(tlsmod_buf);
	tlsmod_buf = NULL;
	return 1;
}
