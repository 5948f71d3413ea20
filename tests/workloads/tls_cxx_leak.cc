/*
 * tls_cxx_leak.cc - a C++ thread_local object that owns a heap buffer and
 * has no destructor, under thread churn. Compiled with -DMW_CLEAN it is
 * tls_cxx_clean, the correct version: the same thread_local object
 * owning a heap buffer, with a destructor that frees it, under the same
 * thread churn.
 *
 *   tls_cxx_leak [ROUNDS=50] [THREADS=4] [SIZE=512]
 *   tls_cxx_clean [ROUNDS=50] [THREADS=4] [SIZE=512]
 *
 * Both builds: one namespace-scope `thread_local TlsBuffer tls_buffer`.
 * Its constructor calls cxx_tls_buffer_alloc(SIZE) (cxx_tls_clean_alloc
 * in tls_cxx_clean), which mallocs SIZE bytes and fills them. Because the
 * variable needs dynamic initialisation, g++ emits a TLS init function
 * for it: _ZTH10tls_buffer, a global alias of the TU-local __tls_init at
 * the same address (gdb names the frame __tls_init). Every access goes
 * through the wrapper _ZTW10tls_buffer, which g++ inlines at -O1, so the
 * allocation stack is cxx_tls_buffer_alloc <- TlsBuffer::TlsBuffer <-
 * __tls_init (_ZTH10tls_buffer) <- touch_tls_buffer <- worker <-
 * start_thread. The main thread never touches tls_buffer. The site
 * function is extern "C", so its symbol is exactly cxx_tls_buffer_alloc
 * (cxx_tls_clean_alloc), and it calls malloc itself (operator new would
 * make the first frame libstdc++'s).
 *
 * ROUNDS times: create THREADS threads; each touches tls_buffer once (so
 * it is constructed exactly once per thread: one malloc of SIZE bytes),
 * waits on a barrier so the batch is alive at once, and returns; main
 * joins the batch. 10000 threads in all: `tls_cxx_leak 2500 4` or
 * `tls_cxx_leak 100 100` (`tls_cxx_clean 2500 4`). Main sleeps 3 s after
 * the last join.
 *
 * tls_cxx_leak: the class has no destructor (the bug: the author forgot
 * it), so the compiler registers nothing with __cxa_thread_atexit and the
 * buffer is simply forgotten when the thread exits.
 *
 * So exactly ROUNDS*THREADS blocks leak (200 by default), one per worker
 * thread, each of SIZE bytes, allocated in cxx_tls_buffer_alloc, none of
 * them ever passed to pthread_setspecific and none freed by anyone.
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
 * tls_cxx_clean (-DMW_CLEAN): the destructor frees the buffer. Because
 * the class has a non-trivial destructor, the TLS init function
 * (_ZTH10tls_buffer, alias of __tls_init) registers it with
 * __cxa_thread_atexit, which libstdc++ forwards to glibc's
 * __cxa_thread_atexit_impl: glibc callocs one small dtor_list node per
 * thread for that (site __cxa_thread_atexit_impl, in libc) and, at thread
 * exit, __call_tls_dtors runs ~TlsBuffer on the exiting thread and then
 * frees the node. So each worker thread makes two allocations and frees
 * both before it is gone.
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

#ifdef MW_CLEAN
#define PROG "tls_cxx_clean"
/* The clean twin's site has a name of its own. */
#define cxx_tls_buffer_alloc cxx_tls_clean_alloc
#define FILL_BYTE 0xc2
#else
#define PROG "tls_cxx_leak"
#define FILL_BYTE 0xc1
#endif

extern "C" void *cxx_tls_buffer_alloc(size_t size);

static size_t block_size;
static pthread_barrier_t batch_alive;

/* The (leaking) allocation: its name is the site the tests assert. */
extern "C" __attribute__((noinline)) void *cxx_tls_buffer_alloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		wl_die(PROG, "malloc(%zu) failed", size);
	memset(p, FILL_BYTE, size);
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
#ifdef MW_CLEAN
	/* Run by glibc's __call_tls_dtors on the exiting thread. */
	__attribute__((noinline)) ~TlsBuffer()
	{
		free(buf);
	}
#else
	/* BUG: no ~TlsBuffer() { free(buf); } - buf leaks at thread exit. */
#endif
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
	if (touch_tls_buffer() != FILL_BYTE)
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
