/*
 * tls_cxx_clean.cc - the correct version of tls_cxx_leak: the same
 * thread_local object owning a heap buffer, with a destructor that frees
 * it, under the same thread churn.
 *
 *   tls_cxx_clean [ROUNDS=50] [THREADS=4] [SIZE=512]
 *
 * One namespace-scope `thread_local TlsBuffer tls_buffer`. Its constructor
 * calls cxx_tls_clean_alloc(SIZE), which mallocs SIZE bytes and fills
 * them; its destructor frees them. Because the class has a non-trivial
 * destructor, the TLS init function (_ZTH10tls_buffer, alias of
 * __tls_init) registers it with __cxa_thread_atexit, which libstdc++
 * forwards to glibc's __cxa_thread_atexit_impl: glibc callocs one small
 * dtor_list node per thread for that (site __cxa_thread_atexit_impl, in
 * libc) and, at thread exit, __call_tls_dtors runs ~TlsBuffer on the
 * exiting thread and then frees the node. So each worker thread makes
 * two allocations and frees both before it is gone.
 *
 * ROUNDS times: create THREADS threads; each touches tls_buffer once,
 * waits on a barrier so the batch is alive at once, and returns; main
 * joins the batch. 10000 threads in all: `tls_cxx_clean 2500 4`.
 *
 * memwatch must report no finding at all (no thread-orphan although both
 * blocks of every worker were allocated under a C++ thread_local
 * initializer: they are freed before the thread is gone), and every
 * worker thread must end with zero live blocks. Main sleeps 3 s after the
 * last join, like tls_cxx_leak (longer than the 2 s default orphan age
 * plus a tick), so a wrongly decided finding would have the time to
 * appear.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "tls_cxx_clean"

extern "C" void *cxx_tls_clean_alloc(size_t size);

static size_t block_size;
static pthread_barrier_t batch_alive;

extern "C" __attribute__((noinline)) void *cxx_tls_clean_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	memset(p, 0xc2, size);
	return p;
}

struct TlsBuffer {
	unsigned char *buf;
	size_t size;

	__attribute__((noinline)) TlsBuffer()
		: buf(static_cast<unsigned char *>(
			  cxx_tls_clean_alloc(block_size))),
		  size(block_size)
	{
	}
	/* Run by glibc's __call_tls_dtors on the exiting thread. */
	__attribute__((noinline)) ~TlsBuffer()
	{
		free(buf);
	}
};

thread_local TlsBuffer tls_buffer;

__attribute__((noinline)) static unsigned touch_tls_buffer(void)
{
	tls_buffer.buf[tls_buffer.size - 1] ^= 0x5a;
	return tls_buffer.buf[0];
}

static void *worker(void *arg)
{
	if (touch_tls_buffer() != 0xc2)
		wl_die(PROG, "thread_local buffer not initialised");
	pthread_barrier_wait(&batch_alive);
	return arg;
}

int main(int argc, char **argv)
{
	const char *usage = "[ROUNDS=50] [THREADS=4] [SIZE=512]";
	long rounds = wl_arg(argc, argv, 1, 50, 1, 100000, usage);
	long nthreads = wl_arg(argc, argv, 2, 4, 1, 1000, usage);
	pthread_t *tids;
	long r, i;

	block_size = (size_t)wl_arg(argc, argv, 3, 512, 1, 1L << 30, usage);

	wl_wait_for_start(PROG);
	tids = static_cast<pthread_t *>(
		calloc((size_t)nthreads, sizeof(*tids)));
	if (!tids)
		wl_die(PROG, "out of memory");
	wl_check(PROG,
		 pthread_barrier_init(&batch_alive, NULL, (unsigned)nthreads),
		 "pthread_barrier_init");
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < nthreads; i++)
			wl_check(PROG,
				 pthread_create(&tids[i], NULL, worker, NULL),
				 "pthread_create");
		for (i = 0; i < nthreads; i++)
			wl_check(PROG, pthread_join(tids[i], NULL),
				 "pthread_join");
	}
	pthread_barrier_destroy(&batch_alive);
	free(tids);

	wl_sleep_ms(3000);
	return 0;
}
