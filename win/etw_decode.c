/*
 * etw_decode.c - ETW records into normalized events: the decoder (see
 * etw_decode.h; the merge of the two sessions is etw_merge.c, the
 * session's portable pieces etw_session_port.c).
 *
 * Invariants of the decoder:
 *  - Events leave in the order their records came (one FIFO), except a
 *    ThreadStop, which is held apart for exit_hold_ns: a ProcessStop of
 *    its process in that time marks it MW_EVF_GROUP_EXIT; a later record
 *    of the same thread id (a reused id) releases it first.
 *  - An allocation waits in the FIFO, and holds everything behind it,
 *    until its StackWalk comes (same thread, EventTimeStamp equal to its
 *    raw time stamp), a later record of its thread comes (ntdll logs the
 *    walk before the thread does anything else), or stack_wait_ns pass.
 *  - Blocks of a heap created while traced are remembered by heap: its
 *    HeapDestroy frees them all without one Free event each, so the
 *    decoder makes those frees.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etw_decode.h"
#include "hash.h"

bool etw_guid__eq(const struct etw_guid *a, const struct etw_guid *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static const struct etw_guid heap_guid = MW_ETW_HEAP_GUID;
static const struct etw_guid stack_guid = MW_ETW_STACKWALK_GUID;
static const struct etw_guid kproc_guid = MW_ETW_KPROC_GUID;

/* --- time ------------------------------------------------------------- */

/* a * b / c without overflow for the values of a clock (c < 2^32 * ...):
 * split a by c first. */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	return a / c * b + a % c * b / c;
}

uint64_t etw_clock__ns(const struct etw_clock *c, uint64_t ticks)
{
	uint64_t freq = c->freq ? c->freq : 1000000000ull;

	if (ticks >= c->ref_ticks)
		return c->ref_ns +
		       muldiv(ticks - c->ref_ticks, 1000000000ull, freq);
	return c->ref_ns - muldiv(c->ref_ticks - ticks, 1000000000ull, freq);
}

uint64_t etw_clock__ticks(const struct etw_clock *c, uint64_t ns)
{
	uint64_t freq = c->freq ? c->freq : 1000000000ull;

	if (ns >= c->ref_ns)
		return c->ref_ticks +
		       muldiv(ns - c->ref_ns, freq, 1000000000ull);
	return c->ref_ticks - muldiv(c->ref_ns - ns, freq, 1000000000ull);
}

/* --- maps of u64 to u64: common/hash.h's hmap, each value stored as a
 * pointer. Every value put here is non-zero (a heap handle, 1, a held
 * stop's seq + 1), so 0 from map_get means absent. */

static int map_put(struct hmap *m, uint64_t k, uint64_t v)
{
	return hmap__put(m, k, (void *)(uintptr_t)v);
}

static uint64_t map_get(const struct hmap *m, uint64_t k)
{
	return (uintptr_t)hmap__get(m, k);
}

/* --- payload reading ----------------------------------------------------- */

/* Little-endian fields, read one by one: payloads are packed. */
struct rd {
	const uint8_t *p;
	uint32_t len;
	uint32_t off;
	uint32_t psz; /* 4 or 8: a pointer-sized field */
	bool bad;
};

static void rd_init(struct rd *rd, const struct etw_record *r)
{
	rd->p = r->data;
	rd->len = r->data ? r->len : 0;
	rd->off = 0;
	rd->psz = (r->flags & MW_ETW_HDR_32_BIT) ? 4 : 8;
	rd->bad = false;
}

static uint64_t rd_uint(struct rd *rd, uint32_t n)
{
	uint64_t v = 0;

	if (rd->bad || rd->len - rd->off < n || rd->off > rd->len) {
		rd->bad = true;
		return 0;
	}
	for (uint32_t i = 0; i < n; i++)
		v |= (uint64_t)rd->p[rd->off + i] << (8 * i);
	rd->off += n;
	return v;
}

static uint32_t rd_u32(struct rd *rd)
{
	return (uint32_t)rd_uint(rd, 4);
}

static uint64_t rd_u64(struct rd *rd)
{
	return rd_uint(rd, 8);
}

static uint64_t rd_ptr(struct rd *rd)
{
	return rd_uint(rd, rd->psz);
}

/* A NUL-terminated UTF-16LE string into UTF-8 (a missing NUL ends it at
 * the payload's end). Unpaired surrogates become U+FFFD. */
static void rd_wstr(struct rd *rd, char *out, size_t size)
{
	size_t o = 0;

	while (!rd->bad && rd->len - rd->off >= 2) {
		uint32_t c = (uint32_t)rd_uint(rd, 2);

		if (!c)
			break;
		if (c >= 0xd800 && c < 0xdc00 && rd->len - rd->off >= 2) {
			uint32_t lo = rd->p[rd->off] | rd->p[rd->off + 1] << 8;

			if (lo >= 0xdc00 && lo < 0xe000) {
				rd->off += 2;
				c = 0x10000 + ((c - 0xd800) << 10) +
				    (lo - 0xdc00);
			} else {
				c = 0xfffd;
			}
		} else if (c >= 0xd800 && c < 0xe000) {
			c = 0xfffd;
		}
		if (c < 0x80 && o + 1 < size) {
			out[o++] = (char)c;
		} else if (c < 0x800 && o + 2 < size) {
			out[o++] = (char)(0xc0 | c >> 6);
			out[o++] = (char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000 && c >= 0x800 && o + 3 < size) {
			out[o++] = (char)(0xe0 | c >> 12);
			out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (c & 0x3f));
		} else if (c >= 0x10000 && o + 4 < size) {
			out[o++] = (char)(0xf0 | c >> 18);
			out[o++] = (char)(0x80 | ((c >> 12) & 0x3f));
			out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	if (size)
		out[o] = '\0';
}

/* --- decoder state ------------------------------------------------------- */

#define ETW_PATH_MAX 520

struct module {
	uint64_t base;
	uint64_t size;
	bool unloaded;
	bool allocator; /* heap or C runtime code: trimmed from stacks */
	char *path;
};

/* What the decoder keeps of one process. */
struct proc {
	uint32_t pid;
	struct module *mods;
	size_t nmods, capmods;
	/* Heaps created while traced: handle -> 1; and their live blocks:
	 * address -> heap handle. */
	struct hmap heaps;
	struct hmap blocks;
};

/* An event on its way out. */
struct out {
	struct mw_event ev;
	uint64_t raw_ts; /* to pair a StackWalk with it */
	bool waiting;	 /* for its stack */
	bool is32;	 /* a 32-bit process: user space ends at 4 GiB */
	char *path;	 /* module events: owned */
	uint64_t frames[MW_EV_MAX_FRAMES];
};

/* A ThreadStop held for exit_hold_ns. */
struct held {
	uint32_t pid, tid;
	uint64_t ts;
	bool gone; /* released early: skip */
};

/* A StackWalk that came before its event. */
#define STRAY_MAX 64
struct stray {
	uint32_t pid, tid;
	uint64_t raw_ts;
	uint32_t n;
	uint64_t frames[MW_ETW_STACKWALK_MAX];
};

struct etw_decoder {
	struct etw_decoder_config cfg;
	struct etw_decoder_stats st;
	struct proc *procs;
	size_t nprocs, capprocs;
	/* The FIFO: a ring of out. */
	struct out *q;
	size_t qhead, qlen, qcap;
	/* Held stops: a FIFO by time; seq of the first is hbase. */
	struct held *h;
	size_t hhead, hlen, hcap;
	uint64_t hbase;
	struct hmap held_by_tid; /* pid << 32 | tid -> seq + 1 */
	struct hmap watched;	   /* pid | 1 << 63 -> 1; empty: all */
	struct stray *stray;	   /* a ring of STRAY_MAX */
	size_t nstray, stray_next;
	struct out cur; /* the event last popped */
	uint64_t scratch[MW_ETW_STACKWALK_MAX];
};

struct etw_decoder *etw_decoder__new(const struct etw_decoder_config *cfg)
{
	struct etw_decoder *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->stray = calloc(STRAY_MAX, sizeof(*d->stray));
	if (!d->stray) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	d->cfg = *cfg;
	if (!d->cfg.stack_wait_ns)
		d->cfg.stack_wait_ns = ETW_DEFAULT_STACK_WAIT_NS;
	if (!d->cfg.exit_hold_ns)
		d->cfg.exit_hold_ns = ETW_DEFAULT_EXIT_HOLD_NS;
	if (!d->cfg.clock.freq)
		d->cfg.clock.freq = 1000000000ull;
	return d;
}

static void proc_fini(struct proc *p)
{
	for (size_t i = 0; i < p->nmods; i++)
		free(p->mods[i].path);
	free(p->mods);
	hmap__fini(&p->heaps);
	hmap__fini(&p->blocks);
}

void etw_decoder__free(struct etw_decoder *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nprocs; i++)
		proc_fini(&d->procs[i]);
	free(d->procs);
	for (size_t i = 0; i < d->qlen; i++)
		free(d->q[(d->qhead + i) % d->qcap].path);
	free(d->q);
	free(d->h);
	hmap__fini(&d->held_by_tid);
	hmap__fini(&d->watched);
	free(d->stray);
	free(d->cur.path);
	free(d);
}

void etw_decoder__stats(const struct etw_decoder *d,
			struct etw_decoder_stats *st)
{
	*st = d->st;
}

static struct proc *proc_find(const struct etw_decoder *d, uint32_t pid)
{
	for (size_t i = 0; i < d->nprocs; i++)
		if (d->procs[i].pid == pid)
			return &d->procs[i];
	return NULL;
}

static struct proc *proc_get(struct etw_decoder *d, uint32_t pid)
{
	struct proc *p = proc_find(d, pid);

	if (p)
		return p;
	if (d->nprocs == d->capprocs) {
		size_t ncap = d->capprocs ? d->capprocs * 2 : 8;
		void *n = realloc(d->procs, ncap * sizeof(*d->procs));

		if (!n)
			return NULL;
		d->procs = n;
		d->capprocs = ncap;
	}
	p = &d->procs[d->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return p;
}

void etw_decoder__forget(struct etw_decoder *d, uint32_t pid)
{
	struct proc *p = proc_find(d, pid);

	if (!p)
		return;
	proc_fini(p);
	*p = d->procs[--d->nprocs];
}

static uint64_t pid_key(uint32_t pid)
{
	return pid | 1ull << 63;
}

int etw_decoder__watch(struct etw_decoder *d, uint32_t pid, bool on)
{
	if (on)
		return map_put(&d->watched, pid_key(pid), 1);
	hmap__del(&d->watched, pid_key(pid));
	return 0;
}

/* Records about a process nobody watches are dropped here, so that the
 * decoder keeps no state for the rest of the host. */
static bool watched(const struct etw_decoder *d, uint32_t pid)
{
	return !d->watched.len || map_get(&d->watched, pid_key(pid));
}

/* --- modules ------------------------------------------------------------- */

/* Modules whose code allocates for its caller: the heap itself and the C
 * runtimes. Leading frames in them are not the call site. */
static const char *const allocator_modules[] = {
    "ntdll.dll",    "kernelbase.dll", "kernel32.dll",
    "ucrtbase.dll", "ucrtbased.dll",  "msvcrt.dll",
};

static bool is_allocator(const char *path)
{
	const char *base = path, *s;
	char low[64];
	size_t n;

	for (s = path; *s; s++)
		if (*s == '\\' || *s == '/')
			base = s + 1;
	n = strlen(base);
	if (n >= sizeof(low))
		return false;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)(base[i] >= 'A' && base[i] <= 'Z'
				    ? base[i] - 'A' + 'a'
				    : base[i]);
	for (size_t i = 0;
	     i < sizeof(allocator_modules) / sizeof(allocator_modules[0]); i++)
		if (!strcmp(low, allocator_modules[i]))
			return true;
	/* msvcr100.dll, msvcr120d.dll ...: the older C runtimes. */
	return !strncmp(low, "msvcr", 5) && strstr(low, ".dll");
}

static int module_add(struct proc *p, uint64_t base, uint64_t size,
		      const char *path)
{
	struct module *m = NULL;
	char *copy = strdup(path ? path : "");

	if (!copy)
		return -ENOMEM;
	/* A new image at the base of one unloaded replaces it. */
	for (size_t i = 0; i < p->nmods; i++)
		if (p->mods[i].base == base)
			m = &p->mods[i];
	if (!m) {
		if (p->nmods == p->capmods) {
			size_t ncap = p->capmods ? p->capmods * 2 : 16;
			void *n = realloc(p->mods, ncap * sizeof(*p->mods));

			if (!n) {
				free(copy);
				return -ENOMEM;
			}
			p->mods = n;
			p->capmods = ncap;
		}
		m = &p->mods[p->nmods++];
		m->path = NULL;
	}
	free(m->path);
	m->base = base;
	m->size = size;
	m->unloaded = false;
	m->path = copy;
	m->allocator = is_allocator(copy);
	return 0;
}

static const struct module *module_at(const struct proc *p, uint64_t ip,
				      bool loaded_only)
{
	const struct module *found = NULL;

	for (size_t i = 0; i < p->nmods; i++) {
		const struct module *m = &p->mods[i];

		if (ip < m->base || ip - m->base >= m->size)
			continue;
		if (!m->unloaded)
			return m;
		if (!loaded_only)
			found = m;
	}
	return found;
}

int etw_decoder__add_module(struct etw_decoder *d, uint32_t pid, uint64_t base,
			    uint64_t size, const char *path)
{
	struct proc *p = proc_get(d, pid);

	return p ? module_add(p, base, size, path) : -ENOMEM;
}

const char *etw_decoder__module_of(const struct etw_decoder *d, uint32_t pid,
				   uint64_t ip, uint64_t *base)
{
	const struct proc *p = proc_find(d, pid);
	const struct module *m = p ? module_at(p, ip, false) : NULL;

	if (!m)
		return NULL;
	if (base)
		*base = m->base;
	return m->path;
}

/* --- the FIFO --------------------------------------------------------------
 */

static struct out *q_at(struct etw_decoder *d, size_t i)
{
	return &d->q[(d->qhead + i) % d->qcap];
}

static struct out *q_push(struct etw_decoder *d, uint32_t type, uint32_t pid,
			  uint32_t tid, uint64_t raw_ts)
{
	struct out *o;

	if (d->qlen == d->qcap) {
		size_t ncap = d->qcap ? d->qcap * 2 : 256;
		struct out *n = malloc(ncap * sizeof(*n));

		if (!n)
			return NULL;
		for (size_t i = 0; i < d->qlen; i++)
			n[i] = *q_at(d, i);
		free(d->q);
		d->q = n;
		d->qcap = ncap;
		d->qhead = 0;
	}
	o = q_at(d, d->qlen++);
	memset(&o->ev, 0, sizeof(o->ev));
	o->ev.type = type;
	o->ev.pid = pid;
	o->ev.tid = tid;
	o->ev.ts = etw_clock__ns(&d->cfg.clock, raw_ts);
	o->raw_ts = raw_ts;
	o->waiting = false;
	o->is32 = false;
	o->path = NULL;
	return o;
}

/* Stack frames of a walk into o: user frames only, leading allocator
 * frames trimmed, at most MW_EV_MAX_FRAMES. */
static void set_frames(struct etw_decoder *d, struct out *o,
		       const uint64_t *frames, uint32_t n)
{
	const struct proc *p = proc_find(d, o->ev.pid);
	uint64_t user_max = o->is32 ? MW_ETW_USER_MAX_32 : MW_ETW_USER_MAX_64;
	uint32_t k = 0;
	bool leading = true;

	for (uint32_t i = 0; i < n && k < MW_EV_MAX_FRAMES; i++) {
		const struct module *m;

		if (!frames[i] || frames[i] >= user_max)
			continue;
		if (leading && p) {
			m = module_at(p, frames[i], true);
			if (m && m->allocator)
				continue;
		}
		leading = false;
		o->frames[k++] = frames[i];
	}
	o->ev.nframes = k;
	o->ev.site = k ? o->frames[0] : 0;
	o->waiting = false;
}

/* A later record of tid came: its allocations' stacks never will. */
static void end_waits(struct etw_decoder *d, uint32_t pid, uint32_t tid)
{
	for (size_t i = d->qlen; i-- > 0;) {
		struct out *o = q_at(d, i);

		if (o->waiting && o->ev.pid == pid && o->ev.tid == tid) {
			o->waiting = false;
			d->st.stackless++;
		}
	}
}

/* --- held thread stops ------------------------------------------------------
 */

static uint64_t tid_key(uint32_t pid, uint32_t tid)
{
	return (uint64_t)pid << 32 | tid | 1ull << 63;
}

static struct held *h_at(struct etw_decoder *d, size_t i)
{
	return &d->h[(d->hhead + i) % d->hcap];
}

static int hold_stop(struct etw_decoder *d, uint32_t pid, uint32_t tid,
		     uint64_t ts)
{
	struct held *h;

	if (d->hlen == d->hcap) {
		size_t ncap = d->hcap ? d->hcap * 2 : 64;
		struct held *n = malloc(ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < d->hlen; i++)
			n[i] = *h_at(d, i);
		free(d->h);
		d->h = n;
		d->hcap = ncap;
		d->hhead = 0;
	}
	if (map_put(&d->held_by_tid, tid_key(pid, tid),
			d->hbase + d->hlen + 1))
		return -ENOMEM;
	h = h_at(d, d->hlen++);
	h->pid = pid;
	h->tid = tid;
	h->ts = ts;
	h->gone = false;
	return 0;
}

/* Queue the held stop h as a thread exit. */
static int release(struct etw_decoder *d, struct held *h, bool group)
{
	struct out *o = q_push(d, MW_EV_THREAD_EXIT, h->pid, h->tid, 0);

	if (!o)
		return -ENOMEM;
	o->ev.ts = h->ts;
	o->ev.flags = group ? MW_EVF_GROUP_EXIT : 0;
	h->gone = true;
	hmap__del(&d->held_by_tid, tid_key(h->pid, h->tid));
	return 0;
}

/* Drop released stops from the front. */
static void h_trim(struct etw_decoder *d)
{
	while (d->hlen && h_at(d, 0)->gone) {
		d->hhead = (d->hhead + 1) % d->hcap;
		d->hlen--;
		d->hbase++;
	}
}

/* A record of (pid, tid) came: a stop held for that id goes first. */
static int release_tid(struct etw_decoder *d, uint32_t pid, uint32_t tid)
{
	uint64_t seq = map_get(&d->held_by_tid, tid_key(pid, tid));
	int err;

	if (!seq)
		return 0;
	err = release(d, h_at(d, (size_t)(seq - 1 - d->hbase)), false);
	h_trim(d);
	return err;
}

/* --- decoding --------------------------------------------------------------
 */

static void stray_put(struct etw_decoder *d, uint32_t pid, uint32_t tid,
		      uint64_t raw_ts, const uint64_t *frames, uint32_t n)
{
	struct stray *s = &d->stray[d->stray_next];

	d->stray_next = (d->stray_next + 1) % STRAY_MAX;
	if (d->nstray < STRAY_MAX)
		d->nstray++;
	s->pid = pid;
	s->tid = tid;
	s->raw_ts = raw_ts;
	s->n = n;
	memcpy(s->frames, frames, n * sizeof(*frames));
}

/* The stack of an allocation that came before it, if any. */
static bool stray_take(struct etw_decoder *d, struct out *o)
{
	for (size_t i = 0; i < d->nstray; i++) {
		struct stray *s = &d->stray[i];

		if (s->n && s->pid == o->ev.pid && s->tid == o->ev.tid &&
		    s->raw_ts == o->raw_ts) {
			set_frames(d, o, s->frames, s->n);
			s->n = 0;
			return true;
		}
	}
	return false;
}

static int on_stack(struct etw_decoder *d, const struct etw_record *r)
{
	struct rd rd;
	uint64_t raw_ts;
	uint32_t pid, tid, n = 0;

	rd_init(&rd, r);
	raw_ts = rd_u64(&rd);
	pid = rd_u32(&rd);
	tid = rd_u32(&rd);
	if (rd.bad)
		return -EBADMSG;
	while (n < MW_ETW_STACKWALK_MAX && rd.len - rd.off >= rd.psz)
		d->scratch[n++] = rd_ptr(&rd);
	for (size_t i = d->qlen; i-- > 0;) {
		struct out *o = q_at(d, i);

		if (o->waiting && o->ev.pid == pid && o->ev.tid == tid &&
		    o->raw_ts == raw_ts) {
			set_frames(d, o, d->scratch, n);
			d->st.stacks++;
			return 0;
		}
	}
	d->st.stray_stacks++;
	stray_put(d, pid, tid, raw_ts, d->scratch, n);
	return 0;
}

static int track_block(struct proc *p, uint64_t heap, uint64_t addr)
{
	if (!addr || !map_get(&p->heaps, heap))
		return 0;
	return map_put(&p->blocks, addr, heap);
}

/* HeapDestroy: every block of the heap goes with it. */
static int destroy_heap(struct etw_decoder *d, struct proc *p,
			const struct etw_record *r, uint64_t heap)
{
	for (size_t i = 0; i < p->blocks.cap;) {
		uint64_t addr = p->blocks.slots[i].key;
		struct out *o;

		if ((uintptr_t)p->blocks.slots[i].val != heap) {
			i++;
			continue;
		}
		o = q_push(d, MW_EV_FREE, r->pid, r->tid, r->ts);
		if (!o)
			return -ENOMEM;
		o->ev.addr = addr;
		d->st.destroyed_frees++;
		/* The delete shifts a later entry into slot i: look again. */
		hmap__del(&p->blocks, addr);
	}
	hmap__del(&p->heaps, heap);
	return 0;
}

static int on_heap(struct etw_decoder *d, const struct etw_record *r)
{
	struct proc *p = proc_get(d, r->pid);
	uint64_t heap, a, b, size;
	struct out *o;
	struct rd rd;
	uint32_t type;
	int err;

	if (!p)
		return -ENOMEM;
	rd_init(&rd, r);
	switch (r->opcode) {
	case MW_ETW_HEAP_CREATE:
		heap = rd_ptr(&rd);
		if (rd.bad)
			return -EBADMSG;
		return map_put(&p->heaps, heap ? heap : 1, 1);
	case MW_ETW_HEAP_DESTROY:
		heap = rd_ptr(&rd);
		if (rd.bad)
			return -EBADMSG;
		return map_get(&p->heaps, heap)
			   ? destroy_heap(d, p, r, heap)
			   : 0;
	case MW_ETW_HEAP_ALLOC:
		heap = rd_ptr(&rd);
		size = rd_ptr(&rd);
		a = rd_ptr(&rd);
		rd_u32(&rd); /* SourceId */
		b = 0;
		type = MW_EV_ALLOC;
		break;
	case MW_ETW_HEAP_REALLOC:
		heap = rd_ptr(&rd);
		a = rd_ptr(&rd); /* new */
		b = rd_ptr(&rd); /* old */
		size = rd_ptr(&rd);
		rd_ptr(&rd); /* OldSize */
		rd_u32(&rd);
		type = MW_EV_REALLOC;
		break;
	case MW_ETW_HEAP_FREE:
		rd_ptr(&rd); /* HeapHandle: the block is found by address */
		a = rd_ptr(&rd);
		rd_u32(&rd);
		if (rd.bad)
			return -EBADMSG;
		if (!a)
			return 0; /* HeapFree(h, 0, NULL) frees nothing */
		hmap__del(&p->blocks, a);
		o = q_push(d, MW_EV_FREE, r->pid, r->tid, r->ts);
		if (!o)
			return -ENOMEM;
		o->ev.addr = a;
		return 0;
	default:
		d->st.ignored++;
		return 0;
	}
	if (rd.bad)
		return -EBADMSG;
	if (type == MW_EV_REALLOC && b != a)
		hmap__del(&p->blocks, b);
	if ((err = track_block(p, heap, a)))
		return err;
	o = q_push(d, type, r->pid, r->tid, r->ts);
	if (!o)
		return -ENOMEM;
	o->ev.addr = a;
	o->ev.old_addr = b;
	o->ev.size = size;
	o->is32 = rd.psz == 4;
	o->waiting = !stray_take(d, o);
	return 0;
}

static int on_kproc(struct etw_decoder *d, const struct etw_record *r)
{
	char path[ETW_PATH_MAX];
	uint64_t base, size;
	uint32_t pid, tid;
	struct proc *p;
	struct out *o;
	struct rd rd;
	int err;

	rd_init(&rd, r);
	switch (r->id) {
	case MW_ETW_KPROC_THREAD_START:
	case MW_ETW_KPROC_THREAD_STOP:
		pid = rd_u32(&rd);
		tid = rd_u32(&rd);
		if (rd.bad)
			return -EBADMSG;
		if (!watched(d, pid))
			return 0;
		if ((err = release_tid(d, pid, tid)))
			return err;
		end_waits(d, pid, tid);
		if (r->id == MW_ETW_KPROC_THREAD_STOP)
			return hold_stop(d, pid, tid,
					 etw_clock__ns(&d->cfg.clock, r->ts));
		return q_push(d, MW_EV_THREAD_START, pid, tid, r->ts) ? 0
								      : -ENOMEM;
	case MW_ETW_KPROC_PROCESS_STOP:
		pid = rd_u32(&rd);
		if (r->version >= 2)
			rd_u64(&rd); /* ProcessSequenceNumber */
		rd_u64(&rd);	     /* CreateTime */
		rd_u64(&rd);	     /* ExitTime */
		base = rd_u32(&rd);  /* ExitCode */
		if (rd.bad)
			return -EBADMSG;
		if (!watched(d, pid))
			return 0;
		/* Its threads stopped just before: they died with it. */
		for (size_t i = 0; i < d->hlen; i++) {
			struct held *h = h_at(d, i);

			if (!h->gone && h->pid == pid &&
			    (err = release(d, h, true)))
				return err;
		}
		h_trim(d);
		o = q_push(d, MW_EV_PROC_EXIT, pid, 0, r->ts);
		if (!o)
			return -ENOMEM;
		o->ev.code = (int32_t)base;
		return 0;
	case MW_ETW_KPROC_IMAGE_LOAD:
	case MW_ETW_KPROC_IMAGE_UNLOAD:
		base = rd_ptr(&rd);
		size = rd_ptr(&rd);
		pid = rd_u32(&rd);
		rd_u32(&rd); /* ImageCheckSum */
		rd_u32(&rd); /* TimeDateStamp */
		rd_ptr(&rd); /* DefaultBase */
		rd_wstr(&rd, path, sizeof(path));
		if (rd.bad)
			return -EBADMSG;
		if (!watched(d, pid))
			return 0;
		/* The header names the loading thread when the process
		 * loads for itself; the kernel may log it elsewhere. */
		tid = r->pid == pid ? r->tid : 0;
		p = proc_get(d, pid);
		if (!p)
			return -ENOMEM;
		if (r->id == MW_ETW_KPROC_IMAGE_LOAD) {
			if ((err = module_add(p, base, size, path)))
				return err;
		} else {
			for (size_t i = 0; i < p->nmods; i++)
				if (p->mods[i].base == base)
					p->mods[i].unloaded = true;
		}
		for (int k = 0; k < (r->id == MW_ETW_KPROC_IMAGE_LOAD ? 1 : 2);
		     k++) {
			static const uint32_t types[2][2] = {
			    {MW_EV_MODULE_LOAD, 0},
			    {MW_EV_MODULE_UNLOAD, MW_EV_MODULE_UNLOADED},
			};

			o = q_push(d,
				   types[r->id == MW_ETW_KPROC_IMAGE_UNLOAD][k],
				   pid, tid, r->ts);
			if (!o || !(o->path = strdup(path)))
				return -ENOMEM;
			/* The image's load address is its handle. */
			o->ev.old_addr = base;
			o->ev.addr = base;
			o->ev.size = size;
			o->ev.base = base;
			if (k == 1)
				o->ev.flags = MW_EVF_UNMAPPED;
		}
		return 0;
	default:
		d->st.ignored++;
		return 0;
	}
}

int etw_decoder__push(struct etw_decoder *d, const struct etw_record *r)
{
	int err;

	d->st.records++;
	if (etw_guid__eq(&r->provider, &stack_guid)) {
		if (r->opcode != MW_ETW_STACKWALK_STACK) {
			d->st.ignored++;
			return 0;
		}
		err = on_stack(d, r);
	} else if (etw_guid__eq(&r->provider, &heap_guid)) {
		if (!watched(d, r->pid))
			return 0;
		/* A heap event of a thread ends its earlier waits, and a
		 * stop held for a reused thread id goes first. */
		if ((err = release_tid(d, r->pid, r->tid)))
			return err;
		end_waits(d, r->pid, r->tid);
		err = on_heap(d, r);
	} else if (etw_guid__eq(&r->provider, &kproc_guid)) {
		err = on_kproc(d, r);
	} else {
		d->st.ignored++;
		return 0;
	}
	if (err == -EBADMSG)
		d->st.bad++;
	return err;
}

int etw_decoder__pop(struct etw_decoder *d, uint64_t now_ns,
		     struct mw_event *ev)
{
	struct out *o;

	/* Stops whose process did not exit in time: the thread ended on
	 * its own. */
	while (d->hlen) {
		struct held *h = h_at(d, 0);

		if (!h->gone && now_ns != UINT64_MAX &&
		    (now_ns < d->cfg.exit_hold_ns ||
		     h->ts > now_ns - d->cfg.exit_hold_ns))
			break;
		if (!h->gone && release(d, h, false))
			return -ENOMEM;
		h_trim(d);
	}
	if (!d->qlen)
		return 0;
	o = q_at(d, 0);
	if (o->waiting) {
		if (now_ns != UINT64_MAX &&
		    (now_ns < d->cfg.stack_wait_ns ||
		     o->ev.ts > now_ns - d->cfg.stack_wait_ns))
			return 0;
		o->waiting = false;
		d->st.stackless++;
	}
	free(d->cur.path);
	d->cur = *o;
	d->qhead = (d->qhead + 1) % d->qcap;
	d->qlen--;
	*ev = d->cur.ev;
	ev->frames = ev->nframes ? d->cur.frames : NULL;
	ev->path = d->cur.path;
	return 1;
}
