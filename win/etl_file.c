/*
 * etl_file.c - ETW trace files read offline (etl_file.h).
 *
 * Layouts, from the public descriptions of the format (phnt's ntwmi.h,
 * Geoff Chappell's pages on WMI_BUFFER_HEADER and the trace headers) and
 * checked byte by byte against real traces (tests/meta/etl.sh):
 *
 *   WMI_BUFFER_HEADER, 0x48 bytes at the start of every buffer:
 *     0x00 BufferSize (bytes in the file)   0x04 SavedOffset (bytes used,
 *     header included, before any compression)   0x10 TimeStamp
 *     0x18 SequenceNumber   0x28 processor (UCHAR, or USHORT with
 *     ETW_BUFFER_FLAG_PROCESSOR_INDEX)   0x34 BufferFlag   0x36 BufferType
 *   A compressed buffer (flag 0x40) holds MS-XCA LZ77 after its header,
 *   which decompresses to SavedOffset - 0x48 bytes; buffers are not padded
 *   in the file then, each follows the last's BufferSize.
 *
 *   Records start at 0x48, each 8-byte aligned, until SavedOffset or a
 *   0xFFFFFFFF marker. Byte 2 of each is its header type, byte 3 has the
 *   0x80 bit (TRACE_HEADER_FLAG). SYSTEM (32 bytes), COMPACT (24) and
 *   PERFINFO (16) headers have the record's size at 4 and the hook id at
 *   6; EVENT_HEADER (80), EVENT_TRACE_HEADER (48) and EVENT_INSTANCE_HEADER
 *   (56) have it at 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl_file.h"
#include "xca.h"

#define BUF_HDR 0x48
#define BUF_FLAG_EVENTS_LOST 0x0002
#define BUF_FLAG_BUFFER_LOST 0x0004
#define BUF_FLAG_PROCESSOR_INDEX 0x0020
#define BUF_FLAG_COMPRESSED 0x0040
#define MAX_BUFFER (16u << 20)  /* ETW's largest buffer size */
#define END_MARKER 0xFFFFFFFFu
#define NONE UINT32_MAX

/* header types (TRACE_HEADER_TYPE_*) */
enum {
	HT_SYSTEM32 = 1, HT_SYSTEM64 = 2, HT_COMPACT32 = 3, HT_COMPACT64 = 4,
	HT_FULL32 = 10, HT_INSTANCE32 = 11, HT_PERFINFO32 = 16,
	HT_PERFINFO64 = 17, HT_EVENT32 = 18, HT_EVENT64 = 19, HT_FULL64 = 20,
	HT_INSTANCE64 = 21,
};

/* EVENT_HEADER flags and extended data types used */
#define EH_FLAG_EXTENDED 0x0001
#define EH_FLAG_32BIT 0x0020
#define EH_FLAG_64BIT 0x0040
#define EXT_STACK32 5
#define EXT_STACK64 6

struct buf {
	const uint8_t *data; /* the header and the records, decompressed */
	uint32_t end;        /* SavedOffset */
	uint16_t cpu;
	uint64_t file_off;
};

struct rec {
	uint64_t ts;
	uint32_t buf, off;
	uint32_t seq;   /* file order: ties keep it */
	uint32_t stack; /* first of its stack parts (sref), or NONE */
	uint32_t tid;
	uint16_t cpu;
};

struct sref { /* one StackWalk record given with an event */
	uint32_t buf, off;
	uint32_t next;
};

struct pend { /* a StackWalk record, until its event is found */
	uint64_t when, ts; /* its event's time stamp, its own */
	uint32_t tid, buf, off;
	uint16_t cpu;
};

struct keydef {
	uint64_t key, ts;
	uint32_t buf, off;
};

struct etl_file {
	uint8_t *mem; /* the file */
	size_t len;
	struct buf *bufs;
	size_t nbufs;
	uint8_t **owned; /* decompressed buffers */
	size_t nowned;
	struct rec *recs;
	size_t nrecs, caprecs, cursor;
	struct sref *srefs;
	size_t nsrefs, capsrefs;
	struct keydef *keys;
	size_t nkeys, capkeys;
	struct etl_info info;
	uint64_t t0, freq;
	uint64_t stack[ETL_STACK_MAX];
	char err[256];
};

static _Thread_local char open_err[256];

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint64_t rdptr(const uint8_t *p, unsigned ptr)
{
	return ptr == 4 ? rd32(p) : rd64(p);
}

#define FAIL(f, ...) (snprintf((f)->err, sizeof((f)->err), __VA_ARGS__), -EBADMSG)

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 256;
	while (n < need)
		n *= 2;
	void *p = realloc(*arr, n * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

/* One record's header read into ev (payload, not the stack). *size is the
 * record's size; returns 1 at the buffer's end marker. */
static int parse_rec(struct etl_file *f, uint32_t bi, uint32_t off,
		     struct etl_event *ev, uint32_t *size)
{
	const struct buf *b = &f->bufs[bi];
	const uint8_t *p = b->data + off;
	uint32_t room = b->end - off, hlen, sz;

	if (room >= 4 && rd32(p) == END_MARKER)
		return 1;
	if (room < 8)
		return FAIL(f, "buffer %u (file offset 0x%llx): record at 0x%x cut short",
			    bi, (unsigned long long)b->file_off, off);
	uint8_t type = p[2];
	if (!(p[3] & 0x80))
		return FAIL(f, "buffer %u (file offset 0x%llx): record at 0x%x has no trace header marker (%08x)",
			    bi, (unsigned long long)b->file_off, off, rd32(p));
	memset(ev, 0, sizeof(*ev));
	ev->header_type = type;
	ev->cpu = b->cpu;
	ev->pid = ev->tid = ETL_NO_ID;
	ev->stack_pid = ev->stack_tid = ETL_NO_ID;
	ev->file_offset = off;
	switch (type) {
	case HT_SYSTEM32: case HT_SYSTEM64:
	case HT_COMPACT32: case HT_COMPACT64:
	case HT_PERFINFO32: case HT_PERFINFO64:
		ev->kind = ETL_KIND_SYSTEM;
		hlen = type <= HT_SYSTEM64 ? 32 : type <= HT_COMPACT64 ? 24 : 16;
		sz = rd16(p + 4);
		ev->version = rd16(p);
		ev->hook_id = rd16(p + 6);
		ev->ptr_size = (type == HT_SYSTEM32 || type == HT_COMPACT32 ||
				type == HT_PERFINFO32) ? 4 : 8;
		break;
	case HT_EVENT32: case HT_EVENT64:
		ev->kind = ETL_KIND_EVENT;
		hlen = 80;
		sz = rd16(p);
		break;
	case HT_FULL32: case HT_FULL64:
		ev->kind = ETL_KIND_CLASSIC;
		hlen = 48;
		sz = rd16(p);
		ev->ptr_size = type == HT_FULL32 ? 4 : 8;
		break;
	case HT_INSTANCE32: case HT_INSTANCE64:
		ev->kind = ETL_KIND_INSTANCE;
		hlen = 56;
		sz = rd16(p);
		ev->ptr_size = type == HT_INSTANCE32 ? 4 : 8;
		break;
	default:
		return FAIL(f, "buffer %u (file offset 0x%llx): record at 0x%x has header type %u, which this reader does not know",
			    bi, (unsigned long long)b->file_off, off, type);
	}
	if (sz < hlen || sz > room)
		return FAIL(f, "buffer %u (file offset 0x%llx): record at 0x%x (header type %u) has size %u: %s",
			    bi, (unsigned long long)b->file_off, off, type, sz,
			    sz < hlen ? "less than its header" : "past the buffer's end");
	*size = sz;
	if (ev->kind == ETL_KIND_SYSTEM) {
		if (hlen == 16) {
			ev->timestamp = rd64(p + 8);
		} else {
			ev->tid = rd32(p + 8);
			ev->pid = rd32(p + 12);
			ev->timestamp = rd64(p + 16);
		}
	} else {
		ev->tid = rd32(p + 8);
		ev->pid = rd32(p + 12);
		ev->timestamp = rd64(p + 16);
	}
	if (ev->kind == ETL_KIND_EVENT || ev->kind == ETL_KIND_CLASSIC) {
		ev->provider.d1 = rd32(p + 24);
		ev->provider.d2 = rd16(p + 28);
		ev->provider.d3 = rd16(p + 30);
		memcpy(ev->provider.d4, p + 32, 8);
	}
	if (ev->kind == ETL_KIND_CLASSIC || ev->kind == ETL_KIND_INSTANCE) {
		ev->opcode = p[4];
		ev->level = p[5];
		ev->version = rd16(p + 6);
	}
	if (ev->kind == ETL_KIND_EVENT) {
		uint16_t flags = rd16(p + 4);
		ev->ptr_size = flags & EH_FLAG_32BIT ? 4 :
			       flags & EH_FLAG_64BIT ? 8 :
			       (uint8_t)f->info.pointer_size;
		ev->id = rd16(p + 40);
		ev->version = p[42];
		ev->level = p[44];
		ev->opcode = p[45];
		ev->task = rd16(p + 46);
		ev->keyword = rd64(p + 48);
		if (flags & EH_FLAG_EXTENDED) {
			/* Items of {u16 size, u16 type, u16 linkage, u16
			 * data size}, 8-byte aligned, while linkage bit 0. */
			uint32_t at = hlen;
			for (;;) {
				if (sz - at < 8)
					return FAIL(f, "buffer %u: record at 0x%x: extended data past the record's end",
						    bi, off);
				uint32_t isz = rd16(p + at + 2 + 4);
				uint16_t etype = rd16(p + at + 2);
				uint16_t link = rd16(p + at + 4);
				uint32_t total = (8 + isz + 7) & ~7u;
				if (total > sz - at)
					return FAIL(f, "buffer %u: record at 0x%x: extended item of %u bytes past the record's end",
						    bi, off, isz);
				if ((etype == EXT_STACK32 || etype == EXT_STACK64) && isz >= 8) {
					unsigned w = etype == EXT_STACK32 ? 4 : 8;
					uint32_t n = (isz - 8) / w;
					if (n > ETL_STACK_MAX)
						n = ETL_STACK_MAX;
					for (uint32_t i = 0; i < n; i++)
						f->stack[i] = rdptr(p + at + 16 + (size_t)i * w, w);
					ev->stack_src = ETL_STACK_EXT;
					ev->depth = n;
					ev->stack = f->stack;
				}
				at += total;
				if (!(link & 1))
					break;
			}
			hlen = at;
		}
	}
	if (!ev->ptr_size)
		ev->ptr_size = 8;
	ev->data = p + hlen;
	ev->len = sz - hlen;
	return 0;
}

static int is_stack_ref(const struct etl_event *ev)
{
	return ev->kind == ETL_KIND_SYSTEM &&
	       (ev->hook_id == ETL_HOOK_STACKWALK ||
		ev->hook_id == ETL_HOOK_STACK_KEY_KERNEL ||
		ev->hook_id == ETL_HOOK_STACK_KEY_USER);
}

static int is_key_def(const struct etl_event *ev)
{
	return ev->kind == ETL_KIND_SYSTEM &&
	       (ev->hook_id == ETL_HOOK_STACK_KEY_DELETE ||
		ev->hook_id == ETL_HOOK_STACK_KEY_RUNDOWN);
}

/* TRACE_LOGFILE_HEADER: the payload of the first record, hook 0. Offsets
 * past the two name pointers move with the pointer size. */
static int read_logfile_header(struct etl_file *f)
{
	struct etl_event ev;
	uint32_t size;
	struct etl_info *in = &f->info;

	if (f->nbufs == 0)
		return FAIL(f, "no buffer in the file");
	int err = parse_rec(f, 0, BUF_HDR, &ev, &size);
	if (err)
		return err < 0 ? err : FAIL(f, "the first buffer is empty");
	if (ev.kind != ETL_KIND_SYSTEM || ev.hook_id != ETL_HOOK_HEADER || ev.len < 0x38)
		return FAIL(f, "the first record is not a TRACE_LOGFILE_HEADER (header type %u, hook 0x%04x)",
			    ev.header_type, ev.hook_id);
	const uint8_t *d = ev.data;
	in->buffer_size = rd32(d);
	in->version = rd32(d + 4);
	in->provider_version = rd32(d + 8);
	in->ncpu = rd32(d + 0xc);
	in->end_time = rd64(d + 0x10);
	in->timer_resolution = rd32(d + 0x18);
	in->max_file_size = rd32(d + 0x1c);
	in->log_file_mode = rd32(d + 0x20);
	in->buffers_written = rd32(d + 0x24);
	in->pointer_size = rd32(d + 0x2c);
	in->events_lost = rd32(d + 0x30);
	in->cpu_mhz = rd32(d + 0x34);
	if (in->pointer_size != 4 && in->pointer_size != 8)
		return FAIL(f, "the logfile header says pointers are %u bytes", in->pointer_size);
	uint32_t tz = 0x38 + 2 * in->pointer_size, rest = tz + 176;
	if (ev.len < rest + 0x20)
		return FAIL(f, "the logfile header is %u bytes, too short for %u-byte pointers",
			    ev.len, in->pointer_size);
	in->boot_time = rd64(d + rest);
	in->perf_freq = rd64(d + rest + 8);
	in->start_time = rd64(d + rest + 0x10);
	in->clock_type = rd32(d + rest + 0x18);
	in->buffers_lost = rd32(d + rest + 0x1c);
	f->t0 = ev.timestamp;
	switch (in->clock_type) {
	case 2: f->freq = 10000000; break;   /* system time, 100 ns */
	case 3: f->freq = (uint64_t)in->cpu_mhz * 1000000; break; /* cycles */
	default: f->freq = in->perf_freq; break; /* QPC */
	}
	if (!f->freq)
		return FAIL(f, "the logfile header gives no clock frequency (clock type %u)",
			    in->clock_type);
	in->start_ticks = f->t0;
	in->clock_freq = f->freq;
	return 0;
}

/* The buffers: found, checked, decompressed. */
static int read_buffers(struct etl_file *f)
{
	size_t off = 0, cap = 0, ocap = 0;
	uint64_t total = 0, limit = (uint64_t)f->len * 64 + (64u << 20);

	while (off < f->len) {
		const uint8_t *h = f->mem + off;
		size_t room = f->len - off;
		if (room < BUF_HDR)
			return FAIL(f, "file offset 0x%zx: %zu bytes left, less than a buffer header (truncated file?)",
				    off, room);
		uint32_t bsize = rd32(h), saved = rd32(h + 4);
		uint16_t flags = rd16(h + 0x34);
		/* The first buffer says whether this is a trace at all: a
		 * size no buffer has is text or another format; a likely one
		 * past the end, a trace cut short (below). */
		if (!f->nbufs && (bsize < BUF_HDR || bsize > MAX_BUFFER))
			return FAIL(f, "not an ETW trace file: no WMI buffer at its start (a buffer size of %u bytes, in a file of %zu)",
				    bsize, f->len);
		if (bsize < BUF_HDR || bsize > room)
			return FAIL(f, "buffer %zu at file offset 0x%zx: size %u %s",
				    f->nbufs, off, bsize,
				    bsize < BUF_HDR ? "is less than its header" :
				    "goes past the end of the file (truncated file?)");
		if (saved == 0)
			saved = rd32(h + 0x30);
		if (saved < BUF_HDR || saved > MAX_BUFFER ||
		    (!(flags & BUF_FLAG_COMPRESSED) && saved > bsize))
			return FAIL(f, "buffer %zu at file offset 0x%zx: %u bytes used of %u",
				    f->nbufs, off, saved, bsize);
		if (grow((void **)&f->bufs, &cap, f->nbufs + 1, sizeof(*f->bufs)))
			return -ENOMEM;
		struct buf *b = &f->bufs[f->nbufs];
		b->file_off = off;
		b->cpu = flags & BUF_FLAG_PROCESSOR_INDEX ? rd16(h + 0x28) : h[0x28];
		b->end = saved;
		b->data = h;
		if (flags & BUF_FLAG_COMPRESSED) {
			size_t got;
			total += saved;
			if (total > limit)
				return FAIL(f, "buffer %zu: the buffers decompress to more than %llu bytes",
					    f->nbufs, (unsigned long long)limit);
			if (grow((void **)&f->owned, &ocap, f->nowned + 1, sizeof(*f->owned)))
				return -ENOMEM;
			uint8_t *d = malloc(saved);
			if (!d)
				return -ENOMEM;
			f->owned[f->nowned++] = d;
			memcpy(d, h, BUF_HDR);
			int err = xca__lz77_decompress(h + BUF_HDR, bsize - BUF_HDR,
						       d + BUF_HDR, saved - BUF_HDR, &got);
			if (err)
				return FAIL(f, "buffer %zu at file offset 0x%zx: its LZ77 data %s",
					    f->nbufs, off, err == -ENOSPC ?
					    "decompresses past the size its header gives" :
					    "is damaged or cut short");
			b->end = BUF_HDR + (uint32_t)got;
			b->data = d;
			f->info.buffers_compressed++;
		}
		if (flags & BUF_FLAG_EVENTS_LOST)
			f->info.buffers_events_lost++;
		if (flags & BUF_FLAG_BUFFER_LOST)
			f->info.buffers_flag_lost++;
		f->nbufs++;
		off += bsize;
	}
	f->info.buffers = f->nbufs;
	return 0;
}

static int add_rec(struct etl_file *f, uint64_t ts, uint32_t bi, uint32_t off,
		   uint32_t tid, uint16_t cpu)
{
	if (f->nrecs >= NONE - 1)
		return FAIL(f, "more than %u records", NONE - 1);
	if (grow((void **)&f->recs, &f->caprecs, f->nrecs + 1, sizeof(*f->recs)))
		return -ENOMEM;
	f->recs[f->nrecs] = (struct rec){ ts, bi, off, (uint32_t)f->nrecs, NONE, tid, cpu };
	f->nrecs++;
	return 0;
}

/* A StackWalk record goes with the event that has its time stamp and
 * thread (any thread, when that event's header has none: PERFINFO),
 * the one on its own processor first. Not the last event of that
 * processor: a user stack is walked when the thread returns to user
 * mode, its key reference logged later, on any processor. recs is
 * sorted by time stamp. */
static int attach_stack(struct etl_file *f, const struct pend *p, size_t nsorted)
{
	size_t lo = 0, hi = nsorted, pick = NONE;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->recs[mid].ts < p->when)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < nsorted && f->recs[i].ts == p->when; i++) {
		const struct rec *e = &f->recs[i];
		if (e->tid != ETL_NO_ID && e->tid != p->tid)
			continue;
		if (pick == NONE || (e->cpu == p->cpu && f->recs[pick].cpu != p->cpu))
			pick = i;
	}
	if (pick == NONE) {
		f->info.stack_orphans++;
		return add_rec(f, p->ts, p->buf, p->off, p->tid, p->cpu);
	}
	struct rec *e = &f->recs[pick];
	if (f->nsrefs >= NONE - 1)
		return FAIL(f, "more than %u stack records", NONE - 1);
	if (grow((void **)&f->srefs, &f->capsrefs, f->nsrefs + 1, sizeof(*f->srefs)))
		return -ENOMEM;
	f->srefs[f->nsrefs] = (struct sref){ p->buf, p->off, NONE };
	if (e->stack == NONE) {
		e->stack = (uint32_t)f->nsrefs;
	} else {
		uint32_t s = e->stack;
		while (f->srefs[s].next != NONE)
			s = f->srefs[s].next;
		f->srefs[s].next = (uint32_t)f->nsrefs;
	}
	f->nsrefs++;
	f->info.stack_attached++;
	return 0;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_key(const void *a, const void *b)
{
	const struct keydef *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->buf != y->buf ? (x->buf < y->buf ? -1 : 1) :
	       (x->off < y->off ? -1 : x->off > y->off);
}

static const struct keydef *find_key(const struct etl_file *f, uint64_t key, uint64_t ts);

static int index_records(struct etl_file *f)
{
	struct pend *pend = NULL;
	size_t npend = 0, cappend = 0;
	uint32_t size;
	int err = 0;

	for (uint32_t bi = 0; bi < f->nbufs; bi++) {
		uint32_t off = BUF_HDR;
		struct etl_event ev;
		while (off < f->bufs[bi].end) {
			err = parse_rec(f, bi, off, &ev, &size);
			if (err == 1)
				break;
			if (err)
				goto cleanup;
			f->info.records++;
			err = -ENOMEM;
			if (is_stack_ref(&ev) && ev.len >= 16) {
				f->info.stack_records++;
				if (grow((void **)&pend, &cappend, npend + 1, sizeof(*pend)))
					goto cleanup;
				pend[npend++] = (struct pend){ rd64(ev.data), ev.timestamp,
					rd32(ev.data + 12), bi, off, ev.cpu };
			} else if (is_key_def(&ev)) {
				f->info.key_definitions++;
				if (grow((void **)&f->keys, &f->capkeys, f->nkeys + 1,
					 sizeof(*f->keys)))
					goto cleanup;
				f->keys[f->nkeys++] = (struct keydef){
					ev.len >= ev.ptr_size ? rdptr(ev.data, ev.ptr_size) : 0,
					ev.timestamp, bi, off };
			} else if (add_rec(f, ev.timestamp, bi, off, ev.tid, ev.cpu)) {
				goto cleanup;
			}
			off += (size + 7) & ~7u;
		}
	}
	if (f->nrecs)
		qsort(f->recs, f->nrecs, sizeof(*f->recs), cmp_rec);
	size_t nsorted = f->nrecs;
	for (size_t i = 0; i < npend; i++) {
		err = attach_stack(f, &pend[i], nsorted);
		if (err)
			goto cleanup;
	}
	if (f->nrecs > nsorted)
		qsort(f->recs, f->nrecs, sizeof(*f->recs), cmp_rec);
	if (f->nkeys)
		qsort(f->keys, f->nkeys, sizeof(*f->keys), cmp_key);
	f->info.events = f->nrecs;
	/* Every key reference looked up once, so that the count of those
	 * left unresolved is known before the first event. */
	for (size_t i = 0; i < f->nsrefs; i++) {
		struct etl_event ref;
		if (parse_rec(f, f->srefs[i].buf, f->srefs[i].off, &ref, &size) ||
		    ref.hook_id == ETL_HOOK_STACKWALK)
			continue;
		if (ref.len < 16u + ref.ptr_size ||
		    !find_key(f, rdptr(ref.data + 16, ref.ptr_size), ref.timestamp))
			f->info.keys_unresolved++;
	}
	err = 0;
cleanup:
	free(pend);
	return err;
}

static struct etl_file *open_owned(uint8_t *mem, size_t len)
{
	struct etl_file *f = calloc(1, sizeof(*f));
	int err;

	if (!f) {
		free(mem);
		errno = ENOMEM;
		return NULL;
	}
	f->mem = mem;
	f->len = len;
	err = read_buffers(f);
	if (!err)
		err = read_logfile_header(f);
	if (!err)
		err = index_records(f);
	if (err) {
		if (err == -ENOMEM)
			snprintf(f->err, sizeof(f->err), "out of memory");
		snprintf(open_err, sizeof(open_err), "%s", f->err);
		etl_file__close(f);
		errno = -err;
		return NULL;
	}
	return f;
}

struct etl_file *etl_file__open_mem(const void *buf, size_t len)
{
	uint8_t *mem = malloc(len ? len : 1);

	if (!mem) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(mem, buf, len);
	return open_owned(mem, len);
}

struct etl_file *etl_file__open(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *mem = NULL;
	size_t len = 0, cap = 0, n;
	int err;

	if (!fp) {
		err = errno;
		snprintf(open_err, sizeof(open_err), "%s: %s", path, strerror(err));
		errno = err;
		return NULL;
	}
	for (;;) {
		if (grow((void **)&mem, &cap, len + 65536, 1)) {
			fclose(fp);
			free(mem);
			snprintf(open_err, sizeof(open_err), "%s: out of memory", path);
			errno = ENOMEM;
			return NULL;
		}
		n = fread(mem + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	err = ferror(fp) ? EIO : 0;
	fclose(fp);
	if (err) {
		free(mem);
		snprintf(open_err, sizeof(open_err), "%s: read error", path);
		errno = err;
		return NULL;
	}
	return open_owned(mem, len);
}

/* The definition of key that a reference at time ts means: the first one
 * logged at or after it (a key is defined when it leaves the cache). */
static const struct keydef *find_key(const struct etl_file *f, uint64_t key, uint64_t ts)
{
	size_t lo = 0, hi = f->nkeys;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct keydef *k = &f->keys[mid];
		if (k->key < key || (k->key == key && k->ts < ts))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->nkeys && f->keys[lo].key == key ? &f->keys[lo] : NULL;
}

static void add_frames(struct etl_file *f, struct etl_event *ev, const uint8_t *p,
		       uint32_t len, unsigned ptr)
{
	for (uint32_t i = 0; i + ptr <= len && ev->depth < ETL_STACK_MAX; i += ptr)
		f->stack[ev->depth++] = rdptr(p + i, ptr);
}

static void resolve_stack(struct etl_file *f, struct etl_event *ev, uint32_t s)
{
	struct etl_event part, def;
	uint32_t size;

	ev->stack = f->stack;
	for (; s != NONE; s = f->srefs[s].next) {
		if (parse_rec(f, f->srefs[s].buf, f->srefs[s].off, &part, &size))
			continue; /* read once already at open */
		ev->stack_pid = rd32(part.data + 8);
		ev->stack_tid = rd32(part.data + 12);
		if (part.hook_id == ETL_HOOK_STACKWALK) {
			ev->stack_src = ETL_STACK_INLINE;
			add_frames(f, ev, part.data + 16, part.len - 16, part.ptr_size);
			continue;
		}
		if (ev->stack_src == ETL_STACK_NONE)
			ev->stack_src = ETL_STACK_CACHED;
		const struct keydef *k = part.len >= 16u + part.ptr_size ?
			find_key(f, rdptr(part.data + 16, part.ptr_size), part.timestamp) : NULL;
		if (!k || parse_rec(f, k->buf, k->off, &def, &size) ||
		    def.len < def.ptr_size) {
			ev->stack_unresolved = 1;
			continue;
		}
		add_frames(f, ev, def.data + def.ptr_size, def.len - def.ptr_size, def.ptr_size);
	}
}

/* Whole seconds and the rest apart, so that no product overflows; a time
 * too far for int64_t nanoseconds (a damaged time stamp) saturates. */
static int64_t ticks_to_ns(uint64_t d, uint64_t freq)
{
	const uint64_t giga = 1000000000u;
	uint64_t secs = d / freq, rem = d % freq;

	if (secs > (uint64_t)INT64_MAX / giga - 1)
		return INT64_MAX;
	uint64_t frac = freq <= UINT64_MAX / giga ? rem * giga / freq : rem / (freq / giga);
	return (int64_t)(secs * giga + frac);
}

int etl_file__next(struct etl_file *f, struct etl_event *ev)
{
	uint32_t size;

	if (f->cursor >= f->nrecs)
		return 0;
	const struct rec *r = &f->recs[f->cursor++];
	int err = parse_rec(f, r->buf, r->off, ev, &size);
	if (err)
		return err < 0 ? err : -EBADMSG;
	uint64_t d = ev->timestamp - f->t0;
	int neg = ev->timestamp < f->t0;
	if (neg)
		d = f->t0 - ev->timestamp;
	ev->time_ns = neg ? -ticks_to_ns(d, f->freq) : ticks_to_ns(d, f->freq);
	if (r->stack != NONE)
		resolve_stack(f, ev, r->stack);
	return 1;
}

void etl_file__rewind(struct etl_file *f)
{
	f->cursor = 0;
}

const struct etl_info *etl_file__info(const struct etl_file *f)
{
	return &f->info;
}

const char *etl_file__last_error(const struct etl_file *f)
{
	return f ? f->err : open_err;
}

void etl_file__close(struct etl_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nowned; i++)
		free(f->owned[i]);
	free(f->owned);
	free(f->bufs);
	free(f->recs);
	free(f->srefs);
	free(f->keys);
	free(f->mem);
	free(f);
}
