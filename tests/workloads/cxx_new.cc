/*
 * cxx_new.cc - every replaceable operator new/delete a C++17 compiler
 * emits, all balanced, around one planted per-thread leak made with
 * ::operator new. One source, four binaries (see the Makefile):
 *
 *   cxx_new [THREADS=8] [SIZE=4096]            libstdc++'s operators
 *   cxx_new_jemalloc [THREADS=8] [SIZE=4096]   linked with -ljemalloc
 *   cxx_new_tcmalloc [THREADS=8] [SIZE=4096]   linked with -ltcmalloc_minimal
 *   cxx_new_mimalloc [THREADS=8] [SIZE=4096]   linked with -lmimalloc
 *
 * One key is created with pthread_key_create(&key, NULL). THREADS threads
 * are created in one batch. Each runs cxx_new_round() CXX_ROUNDS (4)
 * times; one round is these nine new/delete pairs, in this order (g++ 12,
 * -std=gnu++17, whose -fsized-deallocation is on by default since C++14;
 * Node is 48 bytes, Tracked 32 bytes with a non-trivial destructor, so
 * its arrays carry an 8-byte cookie, Aligned is alignas(64), 128 bytes):
 *
 *   expression                  operator new (bytes)     operator delete
 *   new Node; delete            _Znwm (48)               _ZdlPvm (48)
 *   new Node[8]; delete[]       _Znam (384)              _ZdaPv
 *   new Tracked[8]; delete[]    _Znam (264)              _ZdaPvm (264)
 *   new (nothrow) Node          _ZnwmRKSt9nothrow_t (48) _ZdlPvm (48)
 *   new (nothrow) Node[8]       _ZnamRKSt9nothrow_t      _ZdaPv
 *                                 (384)
 *   new Aligned; delete         _ZnwmSt11align_val_t     _ZdlPvmSt11align_val_t
 *                                 (128, align 64)          (128, align 64)
 *   new Aligned[4]; delete[]    _ZnamSt11align_val_t     _ZdaPvSt11align_val_t
 *                                 (512, align 64)          (align 64)
 *   new (nothrow) Aligned       _ZnwmSt11align_val_tRKSt9nothrow_t
 *                                 (128, align 64)        _ZdlPvmSt11align_val_t
 *   ::operator new(200);        _Znwm (200)              _ZdlPv
 *   ::operator delete(p)
 *
 * Every pointer goes through use_block(), a noinline function that writes
 * the block and stores its address in a volatile global, so g++ (which
 * may drop unused new/delete pairs since C++14, -fallocation-dce) keeps
 * every call. Per worker that is 36 pairs, 8384 bytes, all freed again:
 * 8 _Znwm, 8 _Znam, 4 each of the other five operator new, 8 _ZdlPvm,
 * 8 _ZdaPv, 4 _ZdaPvm, 8 _ZdlPvmSt11align_val_t, 4 _ZdaPvSt11align_val_t,
 * 4 _ZdlPv.
 *
 * Then the planted leak: cxx_new_alloc(SIZE) calls ::operator new(SIZE)
 * (the symbol _Znwm; cxx_new_alloc is extern "C", so the site's symbol is
 * exactly that), fills the block and stores it with
 * pthread_setspecific; nobody frees it. The threads then wait on a
 * barrier, so that all of them are alive at once, and return. Main joins
 * them, frees its own thread-id array (one calloc, one free), sleeps
 * 1.5 s and exits 0.
 *
 * So at exit every worker thread has exactly 1 live block of SIZE bytes,
 * allocated in cxx_new_alloc through _Znwm, and memwatch must report
 * exactly THREADS findings of kind tls-outlived-thread, one per worker,
 * each of SIZE bytes, at site cxx_new_alloc. Nothing else: the 36 pairs
 * per worker leave nothing live.
 *
 * Below the operators, per worker (37 operator new, 36 operator delete):
 *  - cxx_new (libstdc++ 12 over glibc): _Znam tail-jumps to _Znwm, the
 *    nothrow forms call the throwing ones, _Znwm calls malloc; the
 *    aligned forms end in aligned_alloc; every delete ends in free
 *    (_ZdlPvm, _ZdaPv, _ZdaPvm through _ZdlPv; the aligned ones through
 *    _ZdlPvSt11align_val_t). So a tracer of malloc/free sees, per worker,
 *    25 mallocs (24 + the leak), 12 aligned_allocs (64-byte aligned, of
 *    128, 512, 128 bytes per round) and 36 frees.
 *  - cxx_new_jemalloc, _tcmalloc, _mimalloc: the allocator's library
 *    comes before libstdc++, so every _Zn / _Zd symbol (the program's
 *    calls and libstdc++'s own) binds to it; inside it (Debian 12):
 *    tcmalloc 2.10 implements them all itself (the scalar and array
 *    forms share addresses): no malloc or free call. jemalloc 5.3.0
 *    implements the plain and nothrow new, _ZdlPvm and _ZdaPvm itself;
 *    its aligned new call aligned_alloc, _ZdlPv, _ZdaPv and
 *    _ZdaPvSt11align_val_t jump to free and _ZdlPvmSt11align_val_t to
 *    sdallocx (jemalloc's own, through the PLT): per worker 12
 *    aligned_allocs, 16 frees, 8 sdallocx, no malloc. mimalloc 2.0.9:
 *    _Znwm and _Znam are one address (not malloc's), _ZdlPv, _ZdaPv,
 *    free and mi_free are one address, _ZdlPvm and _ZdaPvm (that is
 *    mi_free_size) jump to mi_free, _ZnwmSt11align_val_t and
 *    _ZnamSt11align_val_t call mi_malloc_aligned, the aligned deletes end
 *    in mi_free: per worker
 *    no malloc, 36 entries into free (= mi_free). A tracer probing both
 *    levels must count each block once.
 * Not the program's: libstdc++'s emergency exception pool, allocated on
 * the main thread before main runs, and glibc's own allocations.
 *
 * Honours MW_WAIT_FILE (see workload.h) before allocating anything. Prints
 * nothing and exits 0 on success.
 */
#include <new>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PROG "cxx_new"
#define CXX_ROUNDS 4
#define ARR_N 8
#define ALIGNED_ARR_N 4
#define RAW_SIZE 200

extern "C" void *cxx_new_alloc(size_t size);

struct Node {
	long v[6];
};

static volatile long tracked_dtors;

struct Tracked {
	long v[4];
	/* Non-trivial: new Tracked[n] stores a cookie, delete[] is sized. */
	~Tracked()
	{
		tracked_dtors = tracked_dtors + 1;
	}
};

struct alignas(64) Aligned {
	unsigned char b[128];
};

static_assert(sizeof(Node) == 48, "Node is 48 bytes");
static_assert(sizeof(Tracked) == 32, "Tracked is 32 bytes");
static_assert(sizeof(Aligned) == 128, "Aligned is 128 bytes");

static pthread_key_t key;
static size_t block_size;
static pthread_barrier_t all_set;
static void *volatile last_block;

/* Makes every block escape, so no new/delete pair can be elided. */
__attribute__((noinline)) static void use_block(void *p, size_t n)
{
	if (!p)
		wl_die(PROG, "operator new returned NULL");
	memset(p, 0x5c, n);
	last_block = p;
}

/* One round: the nine pairs listed at the top, in that order. */
__attribute__((noinline)) static void cxx_new_round(void)
{
	Node *n = new Node;
	use_block(n, sizeof(*n));
	delete n;

	Node *na = new Node[ARR_N];
	use_block(na, sizeof(*na) * ARR_N);
	delete[] na;

	Tracked *ta = new Tracked[ARR_N];
	use_block(ta, sizeof(*ta) * ARR_N);
	delete[] ta;

	Node *nn = new (std::nothrow) Node;
	use_block(nn, sizeof(*nn));
	delete nn;

	Node *nna = new (std::nothrow) Node[ARR_N];
	use_block(nna, sizeof(*nna) * ARR_N);
	delete[] nna;

	Aligned *a = new Aligned;
	use_block(a, sizeof(*a));
	delete a;

	Aligned *aa = new Aligned[ALIGNED_ARR_N];
	use_block(aa, sizeof(*aa) * ALIGNED_ARR_N);
	delete[] aa;

	Aligned *an = new (std::nothrow) Aligned;
	use_block(an, sizeof(*an));
	delete an;

	void *raw = ::operator new(RAW_SIZE);
	use_block(raw, RAW_SIZE);
	::operator delete(raw);
}

/* The leaking allocation: its name is the site the tests assert. */
extern "C" __attribute__((noinline)) void *cxx_new_alloc(size_t size)
{
	void *p = ::operator new(size);

	memset(p, 0xa5, size);
	wl_check(PROG, pthread_setspecific(key, p), "pthread_setspecific");
	return p;
}

static void *worker(void *arg)
{
	int r;

	for (r = 0; r < CXX_ROUNDS; r++)
		cxx_new_round();
	cxx_new_alloc(block_size);
	pthread_barrier_wait(&all_set);
	return arg;
}

int main(int argc, char **argv)
{
	return wl_tls_leak_main(PROG, argc, argv, &block_size, &key, &all_set,
				worker);
}
