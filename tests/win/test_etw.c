/*
 * test_etw.c - tests of the Windows collector's decoder (win/etw_decode.c,
 * win/wintls.c) and of the engine fed by it, built twice from this one
 * file: natively on Linux (.output/tests/test_etw) and with mingw-w64
 * (.output/mingw/test_etw.exe, run under wine by tests/meta/windows.sh).
 *
 * Every payload is built byte by byte, as ETW lays it out (packed,
 * little-endian, pointer-sized fields 4 bytes wide in a 32-bit header),
 * in both layouts; a few are spelled out as literal bytes, so that a
 * builder bug cannot hide a decoder bug. The scenarios feed whole
 * recorded streams, the heap session's and the kernel-process session's
 * records interleaved by etw_merge, into the unchanged engine and assert
 * its findings.
 *
 * With --db PATH it runs the two scenarios the Windows collector exists
 * for (thread_local blocks left by 10,000 exited threads, a DLL unloaded
 * under live threads) only, and also writes what the engine flushes to
 * that SQLite database through the store and store_sink, as memwatchw
 * does: tests/meta/windows.sh then reads it with memwatchctl, the Linux
 * build and the Windows one under wine.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "etw_decode.h"
#include "recsink.h"
#include "store.h"
#include "store_sink.h"
#include "unit.h"
#include "wintls.h"
#ifdef _WIN32
#include "winsqlite.h"
#endif

#define FREQ 10000000ull /* a 10 MHz QPC, the common one */
#define EPOCH_NS 1700000000000000000ull
#define MS_TICKS(x) ((uint64_t)(x) * (FREQ / 1000))
#define PID 4242u
#define HDR64 (MW_ETW_HDR_64_BIT | MW_ETW_HDR_CLASSIC)
#define HDR32 (MW_ETW_HDR_32_BIT | MW_ETW_HDR_CLASSIC)

static const struct etw_guid g_heap = MW_ETW_HEAP_GUID;
static const struct etw_guid g_stack = MW_ETW_STACKWALK_GUID;
static const struct etw_guid g_kproc = MW_ETW_KPROC_GUID;

static struct etw_decoder_config dcfg(void)
{
	struct etw_decoder_config c = {0};

	c.clock.freq = FREQ;
	c.clock.ref_ticks = 0;
	c.clock.ref_ns = EPOCH_NS;
	return c;
}

static uint64_t ns_of(uint64_t ticks)
{
	return EPOCH_NS + ticks * (1000000000ull / FREQ);
}

/* --- payload builder ----------------------------------------------------- */

struct buf {
	uint8_t b[2048];
	uint32_t n;
	uint32_t psz;
};

static void put(struct buf *b, uint64_t v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		b->b[b->n++] = (uint8_t)(v >> (8 * i));
}

static void put_u32(struct buf *b, uint32_t v)
{
	put(b, v, 4);
}

static void put_u64(struct buf *b, uint64_t v)
{
	put(b, v, 8);
}

static void put_ptr(struct buf *b, uint64_t v)
{
	put(b, v, b->psz);
}

/* UTF-16LE of an ASCII or UTF-16 unit string, NUL-terminated. */
static void put_wstr(struct buf *b, const uint16_t *units, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(b, units[i], 2);
	put(b, 0, 2);
}

static void put_wascii(struct buf *b, const char *s)
{
	for (; *s; s++)
		put(b, (uint8_t)*s, 2);
	put(b, 0, 2);
}

static struct etw_record rec(const struct etw_guid *g, uint16_t flags,
			     uint16_t id, uint8_t opcode, uint8_t version,
			     uint32_t pid, uint32_t tid, uint64_t ts,
			     const struct buf *b)
{
	struct etw_record r;

	memset(&r, 0, sizeof(r));
	r.provider = *g;
	r.flags = flags;
	r.id = id;
	r.opcode = opcode;
	r.version = version;
	r.pid = pid;
	r.tid = tid;
	r.ts = ts;
	r.data = b ? b->b : NULL;
	r.len = b ? b->n : 0;
	return r;
}

static uint16_t hdr(uint32_t psz)
{
	return psz == 4 ? HDR32 : HDR64;
}

static struct etw_record heap_alloc(struct buf *b, uint32_t psz, uint32_t tid,
				    uint64_t ts, uint64_t heap, uint64_t size,
				    uint64_t addr)
{
	b->n = 0;
	b->psz = psz;
	put_ptr(b, heap);
	put_ptr(b, size);
	put_ptr(b, addr);
	put_u32(b, 3); /* MEMORY_FROM_MAINPATH */
	return rec(&g_heap, hdr(psz), 0, MW_ETW_HEAP_ALLOC, 2, PID, tid, ts, b);
}

static struct etw_record heap_free(struct buf *b, uint32_t psz, uint32_t tid,
				   uint64_t ts, uint64_t heap, uint64_t addr)
{
	b->n = 0;
	b->psz = psz;
	put_ptr(b, heap);
	put_ptr(b, addr);
	put_u32(b, 3);
	return rec(&g_heap, hdr(psz), 0, MW_ETW_HEAP_FREE, 2, PID, tid, ts, b);
}

static struct etw_record heap_realloc(struct buf *b, uint32_t psz, uint32_t tid,
				      uint64_t ts, uint64_t heap,
				      uint64_t new_addr, uint64_t old_addr,
				      uint64_t new_size, uint64_t old_size)
{
	b->n = 0;
	b->psz = psz;
	put_ptr(b, heap);
	put_ptr(b, new_addr);
	put_ptr(b, old_addr);
	put_ptr(b, new_size);
	put_ptr(b, old_size);
	put_u32(b, 2);
	return rec(&g_heap, hdr(psz), 0, MW_ETW_HEAP_REALLOC, 2, PID, tid, ts,
		   b);
}

static struct etw_record heap_handle(struct buf *b, uint32_t psz,
				     uint8_t opcode, uint32_t tid, uint64_t ts,
				     uint64_t heap)
{
	b->n = 0;
	b->psz = psz;
	put_ptr(b, heap);
	if (opcode == MW_ETW_HEAP_CREATE)
		put_u32(b, 0x2); /* HEAP_GROWABLE */
	return rec(&g_heap, hdr(psz), 0, opcode, 2, PID, tid, ts, b);
}

/* A stack walk as the kernel logs it: 64-bit on a 64-bit kernel, for a
 * 32-bit process too. */
static struct etw_record stackwalk(struct buf *b, uint32_t tid,
				   uint64_t event_ts, uint64_t log_ts,
				   const uint64_t *frames, uint32_t n)
{
	b->n = 0;
	b->psz = 8;
	put_u64(b, event_ts);
	put_u32(b, PID);
	put_u32(b, tid);
	for (uint32_t i = 0; i < n; i++)
		put_ptr(b, frames[i]);
	return rec(&g_stack, HDR64, 0, MW_ETW_STACKWALK_STACK, 2, PID, tid,
		   log_ts, b);
}

/* ThreadStart/ThreadStop v1, logged by another thread (of the system
 * process here): the ids are in the payload only. */
static struct etw_record kthread(struct buf *b, uint16_t id, uint32_t tid,
				 uint64_t ts)
{
	b->n = 0;
	b->psz = 8;
	put_u32(b, PID);
	put_u32(b, tid);
	for (int i = 0; i < 7; i++) /* stacks, start addresses, TEB */
		put_ptr(b, 0x7ff000000000ull + (uint64_t)i * 0x1000);
	put_u32(b, 0); /* SubProcessTag */
	if (id == MW_ETW_KPROC_THREAD_STOP)
		put_u64(b, 123456); /* CycleTime */
	return rec(&g_kproc, MW_ETW_HDR_64_BIT, id, id == 3 ? 1 : 2, 1, 4, 8,
		   ts, b);
}

static struct etw_record kimage(struct buf *b, uint32_t psz, uint16_t id,
				uint32_t tid, uint64_t ts, uint64_t base,
				uint64_t size, const char *name)
{
	b->n = 0;
	b->psz = psz;
	put_ptr(b, base);
	put_ptr(b, size);
	put_u32(b, PID);
	put_u32(b, 0xabcd);	/* ImageCheckSum */
	put_u32(b, 0x5f000000); /* TimeDateStamp */
	put_ptr(b, base);	/* DefaultBase */
	put_wascii(b, name);
	return rec(&g_kproc, psz == 4 ? MW_ETW_HDR_32_BIT : MW_ETW_HDR_64_BIT,
		   id, 0, 0, PID, tid, ts, b);
}

static struct etw_record kproc_stop(struct buf *b, uint8_t version, uint64_t ts,
				    uint32_t code)
{
	b->n = 0;
	b->psz = 8;
	put_u32(b, PID);
	if (version >= 2)
		put_u64(b, 77);		   /* ProcessSequenceNumber */
	put_u64(b, 133000000000000000ull); /* CreateTime */
	put_u64(b, 133000000100000000ull); /* ExitTime */
	put_u32(b, code);
	put_u32(b, 1);	/* TokenElevationType */
	put_u32(b, 42); /* HandleCount */
	put_u64(b, 1 << 20);
	put_u64(b, 1 << 21);
	b->b[b->n++] = 'a';
	b->b[b->n++] = 0;
	return rec(&g_kproc, MW_ETW_HDR_64_BIT, MW_ETW_KPROC_PROCESS_STOP, 2,
		   version, 4, 8, ts, b);
}

/* --- helpers ------------------------------------------------------------- */

static int pop_all(struct etw_decoder *d, uint64_t now, struct mw_event *evs,
		   uint64_t (*frames)[MW_EV_MAX_FRAMES], char (*paths)[64],
		   int max)
{
	struct mw_event ev;
	int n = 0;

	while (n < max && etw_decoder__pop(d, now, &ev) == 1) {
		evs[n] = ev;
		if (frames && ev.nframes)
			memcpy(frames[n], ev.frames,
			       ev.nframes * sizeof(uint64_t));
		if (paths) {
			paths[n][0] = '\0';
			if (ev.path)
				snprintf(paths[n], 64, "%s", ev.path);
		}
		n++;
	}
	return n;
}

/* Addresses of a fake 64-bit process: three modules. */
#define NTDLL 0x7ffb10000000ull
#define UCRT 0x7ffb0e000000ull
#define APP 0x140000000ull
#define KERNEL_IP 0xfffff80412345678ull

static void add_modules(struct etw_decoder *d, uint64_t ntdll, uint64_t ucrt,
			uint64_t app)
{
	CHECK(!etw_decoder__add_module(d, PID, ntdll, 0x200000,
				       "C:\\Windows\\System32\\ntdll.dll"));
	CHECK(!etw_decoder__add_module(d, PID, ucrt, 0x100000,
				       "C:\\Windows\\System32\\ucrtbase.dll"));
	CHECK(!etw_decoder__add_module(d, PID, app, 0x100000,
				       "C:\\srv\\app.exe"));
}

/* --- decoder tests ------------------------------------------------------- */

/* The Alloc payload of both layouts, as literal bytes: HeapHandle,
 * AllocSize, AllocAddress pointer-sized, SourceId u32. */
static void alloc_layout_literal(void)
{
	static const uint8_t p64[] = {
	    0x00, 0x00, 0x5a, 0x3b, 0x2d, 0x02, 0x00, 0x00, /* heap */
	    0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 48 */
	    0x70, 0x1d, 0x5a, 0x3b, 0x2d, 0x02, 0x00, 0x00, /* addr */
	    0x02, 0x00, 0x00, 0x00,			    /* LFH */
	};
	static const uint8_t p32[] = {
	    0x00, 0x00, 0x6f, 0x00, /* heap */
	    0x18, 0x00, 0x00, 0x00, /* 24 */
	    0x88, 0x05, 0x6f, 0x00, /* addr */
	    0x03, 0x00, 0x00, 0x00,
	};
	struct etw_decoder_config c = dcfg();
	struct etw_decoder *d = etw_decoder__new(&c);
	struct etw_record r;
	struct mw_event ev[4];
	struct buf b;

	memset(&b, 0, sizeof(b));
	memcpy(b.b, p64, sizeof(p64));
	b.n = sizeof(p64);
	r = rec(&g_heap, HDR64, 0, MW_ETW_HEAP_ALLOC, 2, PID, 11, 1000, &b);
	CHECK(!etw_decoder__push(d, &r));
	memcpy(b.b, p32, sizeof(p32));
	b.n = sizeof(p32);
	r = rec(&g_heap, HDR32, 0, MW_ETW_HEAP_ALLOC, 2, PID, 12, 1001, &b);
	CHECK(!etw_decoder__push(d, &r));
	/* No stack came: they wait stack_wait_ns, then go without. */
	CHECK_U64(pop_all(d, ns_of(1001), ev, NULL, NULL, 4), 0);
	CHECK_U64(pop_all(d, UINT64_MAX, ev, NULL, NULL, 4), 2);
	CHECK_U64(ev[0].type, MW_EV_ALLOC);
	CHECK_U64(ev[0].pid, PID);
	CHECK_U64(ev[0].tid, 11);
	CHECK_U64(ev[0].addr, 0x22d3b5a1d70ull);
	CHECK_U64(ev[0].size, 48);
	CHECK_U64(ev[0].ts, EPOCH_NS + 100000);
	CHECK_U64(ev[0].nframes, 0);
	CHECK_U64(ev[1].tid, 12);
	CHECK_U64(ev[1].addr, 0x6f0588);
	CHECK_U64(ev[1].size, 24);
	etw_decoder__free(d);
}

/* An allocation paired with its stack: kernel frames dropped, the heap
 * and C runtime frames on top trimmed, the call site first. */
static void alloc_with_stack(uint32_t psz)
{
	uint64_t base = psz == 4 ? 0x77000000ull : NTDLL;
	uint64_t ucrt = psz == 4 ? 0x76000000ull : UCRT;
	uint64_t app = psz == 4 ? 0x400000ull : APP;
	uint64_t frames[] = {
	    KERNEL_IP,	   KERNEL_IP + 0x40, /* the syscall */
	    base + 0x1234, base + 0x5678,    /* RtlAllocateHeap */
	    ucrt + 0x2222,		     /* malloc */
	    app + 0x1010,  app + 0x2020,     /* the program */
	    base + 0x9999,		     /* RtlUserThreadStart */
	};
	/* What a WOW64 walk adds: the 64-bit layer above 4 GiB. */
	uint64_t wow[] = {0x7ffb20001000ull};
	uint64_t got[4][MW_EV_MAX_FRAMES];
	struct etw_decoder_config c = dcfg();
	struct etw_decoder *d = etw_decoder__new(&c);
	struct etw_record r;
	struct mw_event ev[4];
	struct buf b, s;

	add_modules(d, base, ucrt, app);
	r = heap_alloc(&b, psz, 21, 5000, 0x1000000, 100, app + 0x80000);
	CHECK(!etw_decoder__push(d, &r));
	if (psz == 4) {
		/* the WOW64 frames sit between kernel and user frames */
		frames[1] = wow[0];
	}
	r = stackwalk(&s, 21, 5000, 5001, frames, 8);
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, ns_of(5001), ev, got, NULL, 4), 1);
	CHECK_U64(ev[0].type, MW_EV_ALLOC);
	CHECK_U64(ev[0].size, 100);
	CHECK_U64(ev[0].nframes, 3);
	CHECK_U64(got[0][0], app + 0x1010);
	CHECK_U64(got[0][1], app + 0x2020);
	CHECK_U64(got[0][2], base + 0x9999);
	CHECK_U64(ev[0].site, app + 0x1010);
	{
		struct etw_decoder_stats st;

		etw_decoder__stats(d, &st);
		CHECK_U64(st.stacks, 1);
		CHECK_U64(st.stackless, 0);
	}
	etw_decoder__free(d);
}

static void alloc_with_stack_64(void)
{
	alloc_with_stack(8);
}

static void alloc_with_stack_32(void)
{
	alloc_with_stack(4);
}

/* ReAlloc and Free in both layouts; a realloc's old block. */
static void realloc_free(uint32_t psz)
{
	struct etw_decoder_config c = dcfg();
	struct etw_decoder *d = etw_decoder__new(&c);
	struct etw_record r;
	struct mw_event ev[4];
	struct buf b;

	r = heap_realloc(&b, psz, 7, 100, 0x500000, 0x6a0000, 0x690000, 4096,
			 1024);
	CHECK_U64(b.n, psz * 5 + 4);
	CHECK(!etw_decoder__push(d, &r));
	r = heap_free(&b, psz, 7, 101, 0x500000, 0x6a0000);
	CHECK_U64(b.n, psz * 2 + 4);
	CHECK(!etw_decoder__push(d, &r));
	/* HeapFree(NULL) frees nothing. */
	r = heap_free(&b, psz, 7, 102, 0x500000, 0);
	CHECK(!etw_decoder__push(d, &r));
	/* The free, a later event of the same thread, ended the realloc's
	 * wait for a stack. */
	CHECK_U64(pop_all(d, ns_of(102), ev, NULL, NULL, 4), 2);
	CHECK_U64(ev[0].type, MW_EV_REALLOC);
	CHECK_U64(ev[0].addr, 0x6a0000);
	CHECK_U64(ev[0].old_addr, 0x690000);
	CHECK_U64(ev[0].size, 4096);
	CHECK_U64(ev[1].type, MW_EV_FREE);
	CHECK_U64(ev[1].addr, 0x6a0000);
	CHECK_U64(ev[1].tid, 7);
	etw_decoder__free(d);
}

static void realloc_free_64(void)
{
	realloc_free(8);
}

static void realloc_free_32(void)
{
	realloc_free(4);
}

/* An allocation holds what follows until its stack comes; a stack that
 * came first is kept for it. */
static void stack_order(void)
{
	struct etw_decoder_config c = dcfg();
	struct etw_decoder *d = etw_decoder__new(&c);
	uint64_t f[] = {APP + 0x10, APP + 0x20};
	uint64_t got[4][MW_EV_MAX_FRAMES];
	struct etw_record r;
	struct mw_event ev[4];
	struct buf b;

	r = heap_alloc(&b, 8, 1, 10, 0x10000, 8, 0x20000);
	CHECK(!etw_decoder__push(d, &r));
	/* Another thread frees something meanwhile: it waits behind. */
	r = heap_free(&b, 8, 2, 11, 0x10000, 0x30000);
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, ns_of(11), ev, NULL, NULL, 4), 0);
	r = stackwalk(&b, 1, 10, 12, f, 2);
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, ns_of(12), ev, got, NULL, 4), 2);
	CHECK_U64(ev[0].type, MW_EV_ALLOC);
	CHECK_U64(ev[0].nframes, 2);
	CHECK_U64(got[0][0], APP + 0x10);
	CHECK_U64(ev[1].type, MW_EV_FREE);
	/* The walk before its event. */
	r = stackwalk(&b, 3, 20, 20, f, 1);
	CHECK(!etw_decoder__push(d, &r));
	r = heap_alloc(&b, 8, 3, 20, 0x10000, 8, 0x40000);
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, ns_of(20), ev, NULL, NULL, 4), 1);
	CHECK_U64(ev[0].nframes, 1);
	CHECK_U64(ev[0].site, APP + 0x10);
	/* No walk at all: released once stack_wait_ns passed. */
	r = heap_alloc(&b, 8, 4, 30, 0x10000, 8, 0x50000);
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, ns_of(30) + ETW_DEFAULT_STACK_WAIT_NS - 1, ev,
			  NULL, NULL, 4),
		  0);
	CHECK_U64(pop_all(d, ns_of(30) + ETW_DEFAULT_STACK_WAIT_NS, ev, NULL,
			  NULL, 4),
		  1);
	CHECK_U64(ev[0].nframes, 0);
	etw_decoder__free(d);
}

/* Thread ids come from the payload; a stop is held, then released as a
 * thread's own exit, or before a reuse of its id. */
static void thread_events(void)
{
	struct etw_decoder_config c = dcfg();
	struct etw_decoder *d = etw_decoder__new(&c);
	struct etw_record r;
	struct mw_event ev[8];
	struct buf b;

	r = kthread(&b, MW_ETW_KPROC_THREAD_START, 900, MS_TICKS(1));
	CHECK_U64(b.n, 4 + 4 + 7 * 8 + 4);
	CHECK(!etw_decoder__push(d, &r));
	r = kthread(&b, MW_ETW_KPROC_THREAD_STOP, 900, MS_TICKS(2));
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, ns_of(MS_TICKS(2)), ev, NULL, NULL, 8), 1);
	CHECK_U64(ev[0].type, MW_EV_THREAD_START);
	CHECK_U64(ev[0].pid, PID);
	CHECK_U64(ev[0].tid, 900);
	CHECK_U64(ev[0].ts, ns_of(MS_TICKS(1)));
	CHECK_U64(pop_all(d, ns_of(MS_TICKS(2)) + ETW_DEFAULT_EXIT_HOLD_NS, ev,
			  NULL, NULL, 8),
		  1);
	CHECK_U64(ev[0].type, MW_EV_THREAD_EXIT);
	CHECK_U64(ev[0].tid, 900);
	CHECK_U64(ev[0].flags, 0);
	CHECK_U64(ev[0].ts, ns_of(MS_TICKS(2)));
	/* Id 901 stops and is reused at once: the exit goes first. */
	r = kthread(&b, MW_ETW_KPROC_THREAD_STOP, 901, MS_TICKS(3));
	CHECK(!etw_decoder__push(d, &r));
	r = kthread(&b, MW_ETW_KPROC_THREAD_START, 901, MS_TICKS(4));
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, ns_of(MS_TICKS(4)), ev, NULL, NULL, 8), 2);
	CHECK_U64(ev[0].type, MW_EV_THREAD_EXIT);
	CHECK_U64(ev[0].flags, 0);
	CHECK_U64(ev[1].type, MW_EV_THREAD_START);
	etw_decoder__free(d);
}

/* Threads that stop just before their process: group exits. ProcessStop
 * in its v0 and v2 layouts. */
static void process_exit(uint8_t version)
{
	struct etw_decoder_config c = dcfg();
	struct etw_decoder *d = etw_decoder__new(&c);
	struct etw_record r;
	struct mw_event ev[8];
	struct buf b;

	r = kthread(&b, MW_ETW_KPROC_THREAD_STOP, 31, MS_TICKS(10));
	CHECK(!etw_decoder__push(d, &r));
	r = kthread(&b, MW_ETW_KPROC_THREAD_STOP, 32, MS_TICKS(11));
	CHECK(!etw_decoder__push(d, &r));
	r = kproc_stop(&b, version, MS_TICKS(12), 0xc0000005u);
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, ns_of(MS_TICKS(12)), ev, NULL, NULL, 8), 3);
	CHECK_U64(ev[0].type, MW_EV_THREAD_EXIT);
	CHECK_U64(ev[0].tid, 31);
	CHECK_U64(ev[0].flags, MW_EVF_GROUP_EXIT);
	CHECK_U64(ev[1].tid, 32);
	CHECK_U64(ev[1].flags, MW_EVF_GROUP_EXIT);
	CHECK_U64(ev[2].type, MW_EV_PROC_EXIT);
	CHECK_U64(ev[2].pid, PID);
	CHECK_U64((uint32_t)ev[2].code, 0xc0000005u);
	etw_decoder__free(d);
}

static void process_exit_v0(void)
{
	process_exit(0);
}

static void process_exit_v2(void)
{
	process_exit(2);
}

/* ImageLoad/ImageUnload in both layouts, the name from UTF-16. */
static void image_events(uint32_t psz)
{
	/* "C:\Dü\€𝄞.dll": 2-, 3- and 4-byte UTF-8. */
	static const uint16_t name[] = {'C',  ':',    '\\',   'D',    0x00fc,
					'\\', 0x20ac, 0xd834, 0xdd1e, '.',
					'd',  'l',    'l'};
	struct etw_decoder_config c = dcfg();
	struct etw_decoder *d = etw_decoder__new(&c);
	uint64_t base = psz == 4 ? 0x10000000ull : 0x7ffb30000000ull, mb;
	char paths[8][64];
	struct etw_record r;
	struct mw_event ev[8];
	struct buf b;
	const char *m;

	b.n = 0;
	b.psz = psz;
	put_ptr(&b, base);
	put_ptr(&b, 0x24000);
	put_u32(&b, PID);
	put_u32(&b, 1);
	put_u32(&b, 2);
	put_ptr(&b, base);
	put_wstr(&b, name, sizeof(name) / sizeof(name[0]));
	CHECK_U64(b.n, psz * 3 + 12 + 14 * 2);
	r = rec(&g_kproc, psz == 4 ? MW_ETW_HDR_32_BIT : MW_ETW_HDR_64_BIT,
		MW_ETW_KPROC_IMAGE_LOAD, 0, 0, PID, 77, 50, &b);
	CHECK(!etw_decoder__push(d, &r));
	m = etw_decoder__module_of(d, PID, base + 0x100, &mb);
	CHECK_STR(m, "C:\\D\xc3\xbc\\\xe2\x82\xac\xf0\x9d\x84\x9e.dll");
	CHECK_U64(mb, base);
	r = kimage(&b, psz, MW_ETW_KPROC_IMAGE_UNLOAD, 78, 60, base, 0x24000,
		   "C:\\x.dll");
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, ns_of(60), ev, NULL, paths, 8), 3);
	CHECK_U64(ev[0].type, MW_EV_MODULE_LOAD);
	CHECK_U64(ev[0].tid, 77);
	CHECK_U64(ev[0].old_addr, base);
	CHECK_U64(ev[0].addr, base);
	CHECK_U64(ev[0].size, 0x24000);
	CHECK_STR(paths[0], "C:\\D\xc3\xbc\\\xe2\x82\xac\xf0\x9d\x84\x9e.dll");
	CHECK_U64(ev[1].type, MW_EV_MODULE_UNLOAD);
	CHECK_U64(ev[1].old_addr, base);
	CHECK_U64(ev[1].tid, 78);
	CHECK_U64(ev[2].type, MW_EV_MODULE_UNLOADED);
	CHECK_U64(ev[2].old_addr, base);
	CHECK_U64(ev[2].flags, MW_EVF_UNMAPPED);
	CHECK_U64(ev[2].code, 0);
	CHECK_STR(paths[2], "C:\\x.dll");
	/* Unloaded, still known for naming old sites. */
	CHECK(etw_decoder__module_of(d, PID, base + 0x100, NULL) != NULL);
	etw_decoder__free(d);
}

static void image_events_64(void)
{
	image_events(8);
}

static void image_events_32(void)
{
	image_events(4);
}

/* HeapDestroy frees the blocks of a heap created while traced. */
static void heap_destroy(void)
{
	struct etw_decoder_config c = dcfg();
	struct etw_decoder *d = etw_decoder__new(&c);
	struct etw_record r;
	struct mw_event ev[8];
	struct buf b;
	int n, frees = 0;

	r = heap_handle(&b, 8, MW_ETW_HEAP_CREATE, 5, 1, 0x9000000);
	CHECK(!etw_decoder__push(d, &r));
	for (int i = 0; i < 3; i++) {
		r = heap_alloc(&b, 8, 5, 2 + i, 0x9000000, 16,
			       0x9000100 + (uint64_t)i * 32);
		CHECK(!etw_decoder__push(d, &r));
	}
	/* one freed, one from another heap */
	r = heap_free(&b, 8, 5, 6, 0x9000000, 0x9000100);
	CHECK(!etw_decoder__push(d, &r));
	r = heap_alloc(&b, 8, 5, 7, 0x500000, 16, 0x500100);
	CHECK(!etw_decoder__push(d, &r));
	r = heap_handle(&b, 8, MW_ETW_HEAP_DESTROY, 5, 8, 0x9000000);
	CHECK(!etw_decoder__push(d, &r));
	n = pop_all(d, UINT64_MAX, ev, NULL, NULL, 8);
	CHECK_U64(n, 7);
	for (int i = 5; i < n; i++) {
		CHECK_U64(ev[i].type, MW_EV_FREE);
		CHECK(ev[i].addr == 0x9000120 || ev[i].addr == 0x9000140);
		frees++;
	}
	CHECK_U64(frees, 2);
	CHECK(ev[5].addr != ev[6].addr);
	etw_decoder__free(d);
}

/* Short payloads are refused and counted; other providers ignored. */
static void bad_payloads(void)
{
	static const struct etw_guid other =
	    MW_ETW_GUID(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
	struct etw_decoder_config c = dcfg();
	struct etw_decoder *d = etw_decoder__new(&c);
	struct etw_decoder_stats st;
	struct etw_record r;
	struct mw_event ev;
	struct buf b;

	r = heap_alloc(&b, 8, 1, 1, 1, 1, 1);
	r.len = 27;
	CHECK_U64(etw_decoder__push(d, &r), -EBADMSG);
	r = kthread(&b, MW_ETW_KPROC_THREAD_START, 5, 2);
	r.len = 7;
	CHECK_U64(etw_decoder__push(d, &r), -EBADMSG);
	r = kimage(&b, 8, MW_ETW_KPROC_IMAGE_LOAD, 1, 3, 0x1000, 0x1000,
		   "a.dll");
	r.len = 20;
	CHECK_U64(etw_decoder__push(d, &r), -EBADMSG);
	r = stackwalk(&b, 1, 1, 1, NULL, 0);
	r.len = 15;
	CHECK_U64(etw_decoder__push(d, &r), -EBADMSG);
	r = heap_alloc(&b, 8, 1, 1, 1, 1, 1);
	r.provider = other;
	CHECK_U64(etw_decoder__push(d, &r), 0);
	r = heap_alloc(&b, 8, 1, 1, 1, 1, 1);
	r.opcode = 0x30; /* SubsegmentAlloc: not ours */
	CHECK_U64(etw_decoder__push(d, &r), 0);
	etw_decoder__stats(d, &st);
	CHECK_U64(st.records, 6);
	CHECK_U64(st.bad, 4);
	CHECK_U64(st.ignored, 2);
	CHECK_U64(etw_decoder__pop(d, UINT64_MAX, &ev), 0);
	etw_decoder__free(d);
}

/* Only watched processes are decoded once one is watched. */
static void watch_filter(void)
{
	struct etw_decoder_config c = dcfg();
	struct etw_decoder *d = etw_decoder__new(&c);
	struct etw_record r;
	struct mw_event ev[4];
	struct buf b;

	CHECK(!etw_decoder__watch(d, PID + 1, true));
	r = kthread(&b, MW_ETW_KPROC_THREAD_START, 5, 2);
	CHECK(!etw_decoder__push(d, &r));
	r = heap_free(&b, 8, 5, 3, 1, 0x100);
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, UINT64_MAX, ev, NULL, NULL, 4), 0);
	CHECK(!etw_decoder__watch(d, PID, true));
	CHECK(!etw_decoder__push(d, &r));
	CHECK_U64(pop_all(d, UINT64_MAX, ev, NULL, NULL, 4), 1);
	etw_decoder__free(d);
}

/* Two sessions' records, each late by less than the window, come out in
 * time order; equal times keep their push order. */
static void merge_order(void)
{
	struct etw_merge *m = etw_merge__new(100);
	uint64_t in[] = {10, 30, 20, 50, 40, 30, 5};
	uint64_t want[] = {5, 10, 20, 30, 30, 40, 50};
	struct etw_record r, out;
	struct buf b;
	int n = 0;

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		b.n = 0;
		b.psz = 8;
		put_u64(&b, i);
		r = rec(&g_heap, HDR64, 0, 0, 0, 1, 1, in[i], &b);
		CHECK(!etw_merge__push(m, &r));
	}
	memset(&b, 0xee, sizeof(b.b)); /* the merge kept copies */
	CHECK_U64(etw_merge__pop(m, 104, &out), 0);
	CHECK_U64(etw_merge__pop(m, 105, &out), 1);
	CHECK_U64(out.ts, 5);
	while (etw_merge__pop(m, UINT64_MAX, &out) == 1) {
		n++;
		CHECK_U64(out.ts, want[n]);
		CHECK_U64(out.len, 8);
		if (out.ts == 30)
			CHECK_U64(out.data[0], n == 3 ? 1 : 5);
	}
	CHECK_U64(n, 6);
	CHECK_U64(etw_merge__count(m), 0);
	etw_merge__free(m);
}

static void loss_counters(void)
{
	struct etw_loss l = {0};

	CHECK_U64(etw_loss__update(&l, 0, 0, 0), 0);
	CHECK_U64(etw_loss__update(&l, 10, 1, 2), 13);
	CHECK_U64(etw_loss__update(&l, 10, 1, 2), 0);
	l.events = 0xfffffff0u;
	CHECK_U64(etw_loss__update(&l, 0x10, 1, 2), 0x20);
}

/* The heap session's extension block, DWORD by DWORD: PerfView's. */
static void heap_ext_block(void)
{
	const uint32_t want[] = {0x00020006, 0x00020002, 1234,
				 0x00030003, 0x1021,	 0x1022};
	const uint32_t pids[] = {1234, 99};
	uint32_t dw[8];

	CHECK_U64(etw_heap_ext(dw, 8, pids, 1), 6);
	for (int i = 0; i < 6; i++)
		CHECK_U64(dw[i], want[i]);
	CHECK_U64(etw_heap_ext(dw, 8, pids, 2), 7);
	CHECK_U64(dw[0], 0x00020007);
	CHECK_U64(dw[1], 0x00020003);
	CHECK_U64(dw[3], 99);
	CHECK_U64(etw_heap_ext(dw, 5, pids, 1), 0);
	CHECK_U64(etw_heap_ext(dw, 8, pids, 0), 0);
}

static void clock_conversion(void)
{
	struct etw_clock c = {FREQ, 1000, EPOCH_NS};

	CHECK_U64(etw_clock__ns(&c, 1000), EPOCH_NS);
	CHECK_U64(etw_clock__ns(&c, 1000 + FREQ), EPOCH_NS + 1000000000ull);
	CHECK_U64(etw_clock__ns(&c, 999), EPOCH_NS - 100);
	CHECK_U64(etw_clock__ticks(&c, EPOCH_NS + 1000000000ull), 1000 + FREQ);
	/* Large: a host up a year, 3 GHz ticks, no overflow. */
	c.freq = 3000000000ull;
	c.ref_ticks = 0;
	CHECK_U64(etw_clock__ns(&c, 3000000000ull * 86400 * 365),
		  EPOCH_NS + 1000000000ull * 86400 * 365);
}

static void tls_names(void)
{
	CHECK_U64(wintls__name_flags("__dyn_tls_init"), MW_STACK_TLS_INIT);
	CHECK_U64(wintls__name_flags("___dyn_tls_init@12"), MW_STACK_TLS_INIT);
	CHECK_U64(wintls__name_flags("__dyn_tls_on_demand_init"),
		  MW_STACK_TLS_INIT);
	CHECK_U64(wintls__name_flags("__emutls_get_address"),
		  MW_STACK_TLS_INIT);
	CHECK_U64(wintls__name_flags("_ZTW5cache"), MW_STACK_TLS_INIT);
	CHECK_U64(wintls__name_flags("__cxa_thread_atexit_impl"),
		  MW_STACK_TLS_INIT);
	CHECK_U64(wintls__name_flags("LdrpInitializeThread"),
		  MW_STACK_TLS_INIT);
	CHECK_U64(wintls__name_flags("LdrpCallTlsInitializers"),
		  MW_STACK_TLS_INIT);
	CHECK_U64(wintls__name_flags("__dyn_tls_initx"), 0);
	CHECK_U64(wintls__name_flags("RtlAllocateHeap"), 0);
	CHECK_U64(wintls__name_flags("main"), 0);
	CHECK_U64(wintls__name_flags(""), 0);
	CHECK_U64(wintls__name_flags(NULL), 0);
}

/* --- scenarios: recorded streams into the engine ----------------------------
 */

/* A symbol table: what dbghelp would say of the fake addresses. */
struct sym {
	uint64_t lo, hi;
	const char *name;
};

static const struct sym *syms;
static size_t nsyms;

static const char *sym_name(void *ctx, uint32_t pid, uint64_t ip)
{
	for (size_t i = 0; i < nsyms; i++)
		if (ip >= syms[i].lo && ip < syms[i].hi)
			return syms[i].name;
	return NULL;
}

/* What the engine flushed (tests/support/recsink.h): RS.findings the
 * newest row of each finding id, RS.stacks the stack rows. */
static struct recsink RS;

static const struct mw_stack_row *stack_row(uint64_t id)
{
	return recsink__stack(&RS, id);
}

static int nkind(uint32_t kind)
{
	int n = 0;

	for (size_t i = 0; i < RS.findings.n; i++)
		n += RS.findings.v[i].kind == kind;
	return n;
}

static const struct mw_finding_row *first_kind(uint32_t kind)
{
	for (size_t i = 0; i < RS.findings.n; i++)
		if (RS.findings.v[i].kind == kind)
			return &RS.findings.v[i];
	return NULL;
}

/* The live pipeline without the sessions: records pushed to the merge
 * (the two sessions interleaved), merged records decoded, events fed to
 * the engine, as win/memwatchw.c does. */
struct pipe {
	struct etw_merge *m;
	struct etw_decoder *d;
	struct engine *e;
	struct wintls cls;
	uint64_t last; /* ticks of the newest record pushed */
	uint64_t fed;
	int err;
};

/* --db: the store the scenarios also write to (store NULL: none). */
static struct store_sink_ctx STORE;

/* The engine's first serial: 1, or with --db the store's next, so that
 * two scenarios' rows never share an id. */
static uint64_t pipe_serial(void)
{
	uint64_t serial = 1;

	if (STORE.store)
		CHECK(!store__next_serial(STORE.store, &serial));
	return serial;
}

static void pipe_init(struct pipe *p, uint64_t orphan_min)
{
	struct etw_decoder_config c = dcfg();
	struct engine_config ec;
	uint64_t proc_id;

	memset(p, 0, sizeof(*p));
	memset(&ec, 0, sizeof(ec));
	recsink__reset(&RS);
	p->cls.name = sym_name;
	ec.classify = wintls__classify;
	ec.classify_ctx = &p->cls;
	ec.orphan_min_threads = (uint32_t)orphan_min;
	p->m = etw_merge__new(MS_TICKS(50)); /* pipe_run's cutoff too */
	p->d = etw_decoder__new(&c);
	p->e = engine__new(&ec, pipe_serial());
	CHECK(p->m && p->d && p->e);
	CHECK(!etw_decoder__watch(p->d, PID, true));
	CHECK(!engine__attach(p->e, PID, "app.exe", ns_of(0), &proc_id));
}

static void pipe_run(struct pipe *p, uint64_t now_ticks)
{
	struct etw_record r;
	struct mw_event ev;
	uint64_t cut;

	while (etw_merge__pop(p->m, now_ticks, &r) == 1)
		if (etw_decoder__push(p->d, &r))
			p->err++;
	/* As memwatchw: the decoder's now is the merge's cutoff. */
	cut = now_ticks == UINT64_MAX	 ? UINT64_MAX
	      : now_ticks > MS_TICKS(50) ? ns_of(now_ticks - MS_TICKS(50))
					 : ns_of(0);
	while (etw_decoder__pop(p->d, cut, &ev) == 1) {
		if (engine__feed(p->e, &ev))
			p->err++;
		p->fed++;
	}
}

/* As memwatchw's consumer threads: a copy of the payload, which the merge
 * takes. */
static void pipe_push(struct pipe *p, const struct etw_record *r)
{
	uint8_t *copy = r->len ? malloc(r->len) : NULL;

	if (r->len && copy)
		memcpy(copy, r->data, r->len);
	if ((r->len && !copy) || etw_merge__take(p->m, r, copy))
		p->err++;
	if (r->ts > p->last)
		p->last = r->ts;
}

/* Each row goes to RS and, with --db, through store_sink to STORE; a
 * flush commits to STORE first, so that RS keeps only what STORE took. */
static int tee_begin(void *ctx)
{
	int err = recsink__sink.begin(&RS);

	if (err)
		return err;
	return STORE.store ? store_sink.begin(&STORE) : 0;
}

static int tee_commit(void *ctx)
{
	int err = STORE.store ? store_sink.commit(&STORE) : 0;

	if (err)
		return err;
	return recsink__sink.commit(&RS);
}

static void tee_rollback(void *ctx)
{
	recsink__sink.rollback(&RS);
	if (STORE.store)
		store_sink.rollback(&STORE);
}

static int tee_process(void *ctx, const struct mw_process_row *row)
{
	int err = recsink__sink.process(&RS, row);

	if (err)
		return err;
	return STORE.store ? store_sink.process(&STORE, row) : 0;
}

static int tee_thread(void *ctx, const struct mw_thread_row *row)
{
	int err = recsink__sink.thread(&RS, row);

	if (err)
		return err;
	return STORE.store ? store_sink.thread(&STORE, row) : 0;
}

static int tee_key(void *ctx, const struct mw_key_row *row)
{
	int err = recsink__sink.key(&RS, row);

	if (err)
		return err;
	return STORE.store ? store_sink.key(&STORE, row) : 0;
}

static int tee_binding(void *ctx, const struct mw_binding_row *row)
{
	int err = recsink__sink.binding(&RS, row);

	if (err)
		return err;
	return STORE.store ? store_sink.binding(&STORE, row) : 0;
}

static int tee_block_add(void *ctx, const struct mw_block_row *row)
{
	int err = recsink__sink.block_add(&RS, row);

	if (err)
		return err;
	return STORE.store ? store_sink.block_add(&STORE, row) : 0;
}

static int tee_block_del(void *ctx, uint64_t serial)
{
	int err = recsink__sink.block_del(&RS, serial);

	if (err)
		return err;
	return STORE.store ? store_sink.block_del(&STORE, serial) : 0;
}

static int tee_finding(void *ctx, const struct mw_finding_row *row)
{
	int err = recsink__sink.finding(&RS, row);

	if (err)
		return err;
	return STORE.store ? store_sink.finding(&STORE, row) : 0;
}

static int tee_site(void *ctx, uint64_t proc_id, uint32_t pid, uint64_t ip)
{
	int err = recsink__sink.site(&RS, proc_id, pid, ip);

	if (err)
		return err;
	return STORE.store ? store_sink.site(&STORE, proc_id, pid, ip) : 0;
}

static int tee_stack(void *ctx, const struct mw_stack_row *row)
{
	int err = recsink__sink.stack(&RS, row);

	if (err)
		return err;
	return STORE.store ? store_sink.stack(&STORE, row) : 0;
}

/* The site's symbol, as memwatchw's dbghelp would give it. */
static void resolve_site(void *ctx, uint32_t pid, uint64_t ip,
			 struct mw_site_row *row)
{
	const char *name = sym_name(NULL, pid, ip);

	if (name)
		snprintf(row->function, sizeof(row->function), "%s", name);
}

static const struct engine_sink tee_sink = {
    .begin = tee_begin,
    .commit = tee_commit,
    .rollback = tee_rollback,
    .process = tee_process,
    .thread = tee_thread,
    .key = tee_key,
    .binding = tee_binding,
    .block_add = tee_block_add,
    .block_del = tee_block_del,
    .finding = tee_finding,
    .site = tee_site,
    .stack = tee_stack,
};

/* Run everything out, then let time pass and flush. */
static void pipe_finish(struct pipe *p, uint64_t later_ms)
{
	uint64_t now;

	pipe_run(p, UINT64_MAX);
	now = ns_of(p->last + MS_TICKS(later_ms));
	engine__tick(p->e, now);
	do
		CHECK(!engine__flush(p->e, now, &tee_sink, NULL));
	while (engine__flush_more(p->e));
}

/* Every allocation of a scenario went out with its stack. */
static void check_stacks(struct pipe *p, uint64_t n)
{
	struct etw_decoder_stats st;

	etw_decoder__stats(p->d, &st);
	CHECK_U64(st.stacks, n);
	CHECK_U64(st.stackless, 0);
	CHECK_U64(st.stray_stacks, 0);
	CHECK_U64(st.bad, 0);
}

static void pipe_fini(struct pipe *p)
{
	CHECK_U64(p->err, 0);
	etw_merge__free(p->m);
	etw_decoder__free(p->d);
	engine__free(p->e);
}

/*
 * (a) A server starts 10,000 threads; each thread's first use of a C++
 * thread_local runs its constructor, which allocates 64 bytes; the
 * thread_local has no destructor freeing it (the dynamically linked
 * allocator's block outlives the thread). Each thread also allocates and
 * frees a buffer. Stacks as MSVC makes them: ntdll's TLS callbacks call
 * the program's __dyn_tls_init.
 */
#define A_THREADS 10000
#define A_NTDLL(psz) ((psz) == 4 ? 0x77000000ull : NTDLL)
#define A_UCRT(psz) ((psz) == 4 ? 0x76000000ull : UCRT)
#define A_APP(psz) ((psz) == 4 ? 0x400000ull : APP)

static void scenario_a(uint32_t psz, bool leak, bool tls)
{
	uint64_t nt = A_NTDLL(psz), crt = A_UCRT(psz), app = A_APP(psz);
	const struct sym table[] = {
	    {nt + 0x1000, nt + 0x2000, "RtlAllocateHeap"},
	    {nt + 0x3000, nt + 0x4000, "LdrpCallTlsInitializers"},
	    {nt + 0x4000, nt + 0x5000, "LdrpInitializeThread"},
	    {nt + 0x6000, nt + 0x7000, "RtlUserThreadStart"},
	    {crt + 0x1000, crt + 0x2000, "_malloc_base"},
	    {app + 0x1000, app + 0x2000, "operator new"},
	    {app + 0x2000, app + 0x3000, "`dynamic initializer for 'cache''"},
	    {app + 0x3000, app + 0x4000, "__dyn_tls_init"},
	    {app + 0x4000, app + 0x5000, "worker"},
	    {app + 0x5000, app + 0x6000, "make_cache"},
	};
	/* The thread_local's constructor, under the TLS callback; without
	 * tls, the same block from an ordinary function. */
	const uint64_t tls_stack[] = {
	    KERNEL_IP,	  nt + 0x1100,	crt + 0x1100, app + 0x1100,
	    app + 0x2100, app + 0x3100, nt + 0x3100,  nt + 0x4100,
	};
	const uint64_t plain_stack[] = {
	    KERNEL_IP,	  nt + 0x1100,	crt + 0x1100, app + 0x1100,
	    app + 0x5100, app + 0x4100, nt + 0x6100,
	};
	const uint64_t buf_stack[] = {
	    KERNEL_IP, nt + 0x1100, crt + 0x1100, app + 0x4200, nt + 0x6100,
	};
	const struct mw_finding_row *f;
	const struct mw_stack_row *s;
	struct etw_record r;
	struct pipe p;
	struct buf b;
	uint64_t t = MS_TICKS(1);

	syms = table;
	nsyms = sizeof(table) / sizeof(table[0]);
	pipe_init(&p, 0);
	r = kimage(&b, 8, MW_ETW_KPROC_IMAGE_LOAD, 1, t, nt, 0x200000,
		   "C:\\Windows\\System32\\ntdll.dll");
	pipe_push(&p, &r);
	r = kimage(&b, 8, MW_ETW_KPROC_IMAGE_LOAD, 1, t + 1, crt, 0x100000,
		   "C:\\Windows\\System32\\ucrtbase.dll");
	pipe_push(&p, &r);
	r = kimage(&b, 8, MW_ETW_KPROC_IMAGE_LOAD, 1, t + 2, app, 0x100000,
		   "C:\\srv\\app.exe");
	pipe_push(&p, &r);
	for (uint32_t i = 0; i < A_THREADS; i++) {
		uint32_t tid = 1000 + 4 * i;
		uint64_t block = app + 0x10000000ull + (uint64_t)i * 0x100;
		uint64_t buffer = block + 0x80;

		t += MS_TICKS(1);
		r = kthread(&b, MW_ETW_KPROC_THREAD_START, tid, t);
		pipe_push(&p, &r);
		r = heap_alloc(&b, psz, tid, t + 10, 0x600000, 64, block);
		pipe_push(&p, &r);
		r = tls ? stackwalk(&b, tid, t + 10, t + 11, tls_stack, 8)
			: stackwalk(&b, tid, t + 10, t + 11, plain_stack, 7);
		pipe_push(&p, &r);
		r = heap_alloc(&b, psz, tid, t + 20, 0x600000, 4096, buffer);
		pipe_push(&p, &r);
		r = stackwalk(&b, tid, t + 20, t + 21, buf_stack, 5);
		pipe_push(&p, &r);
		r = heap_free(&b, psz, tid, t + 30, 0x600000, buffer);
		pipe_push(&p, &r);
		if (!leak) {
			r = heap_free(&b, psz, tid, t + 40, 0x600000, block);
			pipe_push(&p, &r);
		}
		r = kthread(&b, MW_ETW_KPROC_THREAD_STOP, tid, t + 50);
		pipe_push(&p, &r);
		/* The collector's loop runs now and then. */
		if (i % 64 == 0)
			pipe_run(&p, p.last);
	}
	pipe_finish(&p, 3000);
	CHECK_U64(p.fed, 3 + A_THREADS * (leak ? 5 : 6));
	check_stacks(&p, 2 * A_THREADS);
	if (!leak) {
		CHECK_U64(RS.findings.n, 0);
		pipe_fini(&p);
		return;
	}
	CHECK_U64(RS.findings.n, 1);
	f = first_kind(MW_FIND_THREAD_ORPHAN);
	CHECK(f != NULL);
	if (f) {
		CHECK_U64(f->pid, PID);
		CHECK_U64(f->threads, A_THREADS);
		CHECK_U64(f->count, A_THREADS);
		CHECK_U64(f->bytes, 64ull * A_THREADS);
		CHECK_U64(f->site, app + 0x1100);
		CHECK_U64(f->severity, tls ? MW_SEV_HIGH : MW_SEV_MEDIUM);
		CHECK((strstr(f->detail, "thread_local") != NULL) == tls);
		s = stack_row(f->stack_id);
		CHECK(s != NULL);
		if (s) {
			CHECK_U64(s->flags, tls ? MW_STACK_TLS_INIT : 0);
			CHECK_U64(s->frames[0], app + 0x1100);
			/* kernel, heap and C runtime frames trimmed */
			CHECK_U64(s->nframes, tls ? 5 : 4);
		}
	}
	pipe_fini(&p);
}

static void scenario_tls_threads_64(void)
{
	scenario_a(8, true, true);
}

static void scenario_tls_threads_32(void)
{
	scenario_a(4, true, true);
}

static void scenario_tls_threads_clean(void)
{
	scenario_a(8, false, true);
}

/* The same leak from no TLS machinery: an orphan, not TLS-proven. */
static void scenario_plain_orphans(void)
{
	scenario_a(8, true, false);
}

/*
 * (b) A plugin DLL allocates a per-thread block with LocalAlloc in
 * DllMain(DLL_THREAD_ATTACH) and keeps it in a TlsAlloc slot. The host
 * unloads the plugin while its 8 worker threads live on: nothing frees
 * their blocks any more (the DLL's DLL_PROCESS_DETACH frees only the
 * calling thread's). In the clean twin it frees every thread's block
 * before unloading.
 */
#define B_THREADS 8
#define PLUGIN 0x7ffb50000000ull
#define KBASE 0x7ffb0f000000ull

static void scenario_b(bool leak)
{
	const struct sym table[] = {
	    {NTDLL + 0x1000, NTDLL + 0x2000, "RtlAllocateHeap"},
	    {NTDLL + 0x2000, NTDLL + 0x3000, "LdrpCallInitRoutine"},
	    {NTDLL + 0x4000, NTDLL + 0x5000, "LdrpInitializeThread"},
	    {NTDLL + 0x6000, NTDLL + 0x7000, "RtlUserThreadStart"},
	    {KBASE + 0x1000, KBASE + 0x2000, "LocalAlloc"},
	    {PLUGIN + 0x1000, PLUGIN + 0x2000, "DllMain"},
	    {APP + 0x4000, APP + 0x5000, "worker"},
	};
	const uint64_t attach_stack[] = {
	    KERNEL_IP,	     NTDLL + 0x1100, KBASE + 0x1100,
	    PLUGIN + 0x1100, NTDLL + 0x2100, NTDLL + 0x4100,
	};
	const uint64_t work_stack[] = {
	    KERNEL_IP,
	    NTDLL + 0x1100,
	    APP + 0x4100,
	    NTDLL + 0x6100,
	};
	struct etw_record r;
	struct pipe p;
	struct buf b;
	uint64_t t = MS_TICKS(1);

	syms = table;
	nsyms = sizeof(table) / sizeof(table[0]);
	pipe_init(&p, 0);
	r = kimage(&b, 8, MW_ETW_KPROC_IMAGE_LOAD, 1, t, NTDLL, 0x200000,
		   "C:\\Windows\\System32\\ntdll.dll");
	pipe_push(&p, &r);
	r = kimage(&b, 8, MW_ETW_KPROC_IMAGE_LOAD, 1, t + 1, KBASE, 0x300000,
		   "C:\\Windows\\System32\\KernelBase.dll");
	pipe_push(&p, &r);
	r = kimage(&b, 8, MW_ETW_KPROC_IMAGE_LOAD, 1, t + 2, APP, 0x100000,
		   "C:\\srv\\host.exe");
	pipe_push(&p, &r);
	r = kimage(&b, 8, MW_ETW_KPROC_IMAGE_LOAD, 1, t + 3, PLUGIN, 0x40000,
		   "C:\\srv\\plugin.dll");
	pipe_push(&p, &r);
	for (uint32_t i = 0; i < B_THREADS; i++) {
		uint32_t tid = 2000 + 4 * i;

		t += MS_TICKS(1);
		r = kthread(&b, MW_ETW_KPROC_THREAD_START, tid, t);
		pipe_push(&p, &r);
		r = heap_alloc(&b, 8, tid, t + 10, 0x600000, 256,
			       0x5000000 + (uint64_t)i * 0x200);
		pipe_push(&p, &r);
		r = stackwalk(&b, tid, t + 10, t + 11, attach_stack, 6);
		pipe_push(&p, &r);
		/* ordinary work, kept by the program on purpose */
		r = heap_alloc(&b, 8, tid, t + 20, 0x600000, 100,
			       0x6000000 + (uint64_t)i * 0x200);
		pipe_push(&p, &r);
		r = stackwalk(&b, tid, t + 20, t + 21, work_stack, 4);
		pipe_push(&p, &r);
	}
	t += MS_TICKS(100);
	if (!leak)
		for (uint32_t i = 0; i < B_THREADS; i++) {
			r = heap_free(&b, 8, 1, t + i, 0x600000,
				      0x5000000 + (uint64_t)i * 0x200);
			pipe_push(&p, &r);
		}
	r = kimage(&b, 8, MW_ETW_KPROC_IMAGE_UNLOAD, 1, t + 100, PLUGIN,
		   0x40000, "C:\\srv\\plugin.dll");
	pipe_push(&p, &r);
	pipe_finish(&p, 1000);
	check_stacks(&p, 2 * B_THREADS);
	if (!leak) {
		CHECK_U64(RS.findings.n, 0);
		pipe_fini(&p);
		return;
	}
	CHECK_U64(RS.findings.n, B_THREADS);
	CHECK_U64(nkind(MW_FIND_TLS_OUTLIVED_MODULE), B_THREADS);
	for (size_t i = 0; i < RS.findings.n; i++) {
		const struct mw_finding_row *f = &RS.findings.v[i];

		CHECK_U64(f->size, 256);
		CHECK_U64(f->site, PLUGIN + 0x1100);
		CHECK_U64(f->alloc_tid, f->tid);
		CHECK(f->tid >= 2000 && f->tid < 2000 + 4 * B_THREADS);
		CHECK_U64(f->trigger_ts, ns_of(t + 100));
	}
	pipe_fini(&p);
}

static void scenario_dll_unload(void)
{
	scenario_b(true);
}

static void scenario_dll_unload_clean(void)
{
	scenario_b(false);
}

/*
 * (c) Threads that die with their process are no orphans: 4 threads each
 * keep a block from one site; ExitProcess ends them (their ThreadStops
 * just before the ProcessStop): no finding. The twin's threads end on
 * their own a second before the process exits: a thread-orphan.
 */
static void scenario_exit(bool with_process)
{
	const struct sym table[] = {
	    {APP + 0x4000, APP + 0x5000, "worker"},
	};
	const uint64_t stack[] = {KERNEL_IP, APP + 0x4100};
	struct etw_record r;
	struct pipe p;
	struct buf b;
	uint64_t t = MS_TICKS(1);

	syms = table;
	nsyms = 1;
	pipe_init(&p, 0);
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t tid = 3000 + 4 * i;

		r = kthread(&b, MW_ETW_KPROC_THREAD_START, tid, t + i);
		pipe_push(&p, &r);
		r = heap_alloc(&b, 8, tid, t + 10 + i, 0x600000, 512,
			       0x7000000 + (uint64_t)i * 0x400);
		pipe_push(&p, &r);
		r = stackwalk(&b, tid, t + 10 + i, t + 11 + i, stack, 2);
		pipe_push(&p, &r);
	}
	t += MS_TICKS(100);
	for (uint32_t i = 0; i < 4; i++) {
		r = kthread(&b, MW_ETW_KPROC_THREAD_STOP, 3000 + 4 * i, t + i);
		pipe_push(&p, &r);
	}
	/* The collector's loop runs on until the ProcessStop comes. */
	t += with_process ? MS_TICKS(1) : MS_TICKS(1000);
	pipe_run(&p, t);
	r = kproc_stop(&b, 2, t, 0);
	pipe_push(&p, &r);
	pipe_finish(&p, 3000);
	check_stacks(&p, 4);
	if (with_process) {
		CHECK_U64(RS.findings.n, 0);
	} else {
		CHECK_U64(RS.findings.n, 1);
		CHECK_U64(nkind(MW_FIND_THREAD_ORPHAN), 1);
		if (RS.findings.n)
			CHECK_U64(RS.findings.v[0].threads, 4);
	}
	pipe_fini(&p);
}

static void scenario_exit_with_process(void)
{
	scenario_exit(true);
}

static void scenario_exit_before_process(void)
{
	scenario_exit(false);
}

/* --db PATH: the two scenarios, also written to the database. */
static int run_to_store(const char *path)
{
#ifdef _WIN32
	char why[160];

	/* winsqlite3.dll is delay-loaded: a missing function would fault. */
	if (winsqlite__check(why, sizeof(why))) {
		fprintf(stderr, "test_etw: %s\n", why);
		return 1;
	}
#endif
	STORE.store = store__open(path, 0);
	if (!STORE.store) {
		fprintf(stderr, "test_etw: database '%s': %s\n", path,
			store__strerror(errno));
		return 1;
	}
	STORE.resolve = resolve_site;
	RUN(scenario_tls_threads_64);
	RUN(scenario_dll_unload);
	store__close(STORE.store);
	UNIT_EXIT();
}

static const struct unit_case cases[] = {
    UNIT_CASE(alloc_layout_literal),
    UNIT_CASE(alloc_with_stack_64),
    UNIT_CASE(alloc_with_stack_32),
    UNIT_CASE(realloc_free_64),
    UNIT_CASE(realloc_free_32),
    UNIT_CASE(stack_order),
    UNIT_CASE(thread_events),
    UNIT_CASE(process_exit_v0),
    UNIT_CASE(process_exit_v2),
    UNIT_CASE(image_events_64),
    UNIT_CASE(image_events_32),
    UNIT_CASE(heap_destroy),
    UNIT_CASE(bad_payloads),
    UNIT_CASE(watch_filter),
    UNIT_CASE(merge_order),
    UNIT_CASE(loss_counters),
    UNIT_CASE(heap_ext_block),
    UNIT_CASE(clock_conversion),
    UNIT_CASE(tls_names),
    UNIT_CASE(scenario_tls_threads_64),
    UNIT_CASE(scenario_tls_threads_32),
    UNIT_CASE(scenario_tls_threads_clean),
    UNIT_CASE(scenario_plain_orphans),
    UNIT_CASE(scenario_dll_unload),
    UNIT_CASE(scenario_dll_unload_clean),
    UNIT_CASE(scenario_exit_with_process),
    UNIT_CASE(scenario_exit_before_process),
};

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--db"))
		return run_to_store(argv[2]);
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
