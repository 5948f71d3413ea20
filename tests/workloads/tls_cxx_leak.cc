/*
 * tls_cxx_leak.cc - a C++ thread_local object that owns a heap buffer and
 * has no destructor, under thread churn.
 *
 *   tls_cxx_leak [ROUNDS=50] [THREADS=4] [SIZE=512]
 *
 * One namespace-scope `thread_local TlsBuffer tls_buffer`. Its constructor
 * calls cxx_tls_buffer_alloc(SIZE), which mallocs SIZE bytes and fills
 * them; the class has no destructor (the bug: the author forgot it), so
 * the compiler registers nothing with __cxa_thread_atexit and the buffer
 * is simply forgotten when the thread exits. Because the variable needs
 * dynamic initialisation, g++ emits a TLS init function for it:
 * _ZTH10tls_buffer, a global alias of the TU-local __tls_init at the same
 * address (gdb names the frame __tls_init). Every access goes through the
 * wrapper _ZTW10tls_buffer, which g++ inlines at -O1, so the allocation
 * stack is cxx_tls_buffer_alloc <- TlsBuffer::TlsBuffer <- __tls_init
 * (_ZTH10tls_buffer) <- touch_tls_buffer <- worker <- start_thread. The
 * main thread never touches tls_buffer.
 *
 * ROUNDS times: create THREADS threads; each touches tls_buffer once (so
 * it is constructed exactly once per thread: one malloc of SIZE bytes),
 * waits on a barrier so the batch is alive at once, and returns; main
 * joins the batch. 10000 threads in all: `tls_cxx_leak 2500 4` or
 * `tls_cxx_leak 100 100`.
 *
 * So exactly ROUNDS*THREADS blocks leak (200 by default), one per worker
 * thread, each of SIZE bytes, allocated in cxx_tls_buffer_alloc, none of
 * them ever passed to pthread_setspecific and none freed by anyone. The
 * site function is extern "C", so its symbol is exactly
 * cxx_tls_buffer_alloc, and it calls malloc itself (operator new would
 * make the first frame libstdc++'s).
 *
 * memwatch must report exactly one finding: kind thread-orphan, severity
 * high (the allocating stack runs through a C++ thread_local initializer,
 * which makes the block TLS by construction), site cxx_tls_buffer_alloc,
 * with ROUNDS*THREADS threads, ROUNDS*THREADS blocks and
 * ROUNDS*THREADS*SIZE bytes when every worker has been judged. Nothing
 * else: no tls-outlived-thread (no key is involved). The orphan rule
 * needs at least --orphan-threads (default 3) exited threads, so
 * ROUNDS*THREADS must be 3 or more, and judges a thread --orphan-age
 * (default 2 s) after its exit, on the daemon's 0.5 s tick: main sleeps
 * 3 s after the last join so that every worker is judged while the
 * process is alive.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "tls_cxx_leak"

extern "C" void *cxx_tls_buffer_alloc(size_t size);

static size_t block_size;
static pthread_barrier_t batch_alive;

/* The leaking allocation: its name is the site the tests assert. */
extern "C" __attribute__((noinline)) void *cxx_tls_buffer_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	memset(p, 0xc1, size);
	return p;
}

struct TlsBuffer {
	unsigned char *buf;
	size_t size;

	__attribute__((noinline)) TlsBuffer()
		: buf(static_cast<unsigned char *>(
			  cxx_tls_buffer_alloc(block_size))),
		  size(block_size)
	{
	}
	/* BUG: no ~TlsBuffer() { free(buf); } - buf leaks at thread exit. */
};

/* Not static: keeps the _ZTH/_ZTW symbols the header talks about. */
thread_local TlsBuffer tls_buffer;

/* The first call in a thread runs the TLS init function. */
__attribute__((noinline)) static unsigned touch_tls_buffer(void)
{
	tls_buffer.buf[tls_buffer.size - 1] ^= 0x5a;
	return tls_buffer.buf[0];
}

static void *worker(void *arg)
{
	if (touch_tls_buffer() != 0xc1)
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

	/* Stay alive past the orphan age: see the comment at the top. */
	wl_sleep_ms(3000);
	return 0;
}
