/*
 * fuzz_engine.c - libFuzzer harness of the analysis engine (engine/engine*.c,
 * engine/rules.c): arbitrary sequences of events and engine calls, through
 * the engine's public API only, as the daemon makes them.
 *
 * The input is a program of one-byte opcodes, each followed by the bytes
 * its arguments take (struct reader below; a short input ends the
 * program). Arguments are folded into small ranges (3 pids, 5 threads
 * each, 32 addresses, 4 keys, 8 call sites) so that events collide: the
 * same block freed twice, a key deleted while threads hold it, a tid
 * reused, a process exec'ing with TLS bindings. Time only goes forward,
 * in steps that cross the rules' deadlines (grace, orphan age, samples).
 *
 * After every step the harness aborts (a crash libFuzzer reports) when:
 *  - engine__check (engine/engine_check.c) finds a broken invariant: a
 *    counter that went below zero, live bytes that are not the sum of the
 *    live blocks (per process, thread and site), totals that are not the
 *    sums over processes;
 *  - a finding flushed to the sink names an object the engine never
 *    handed to the sink: a process (or the wrong pid for it), a thread,
 *    a key generation, a stack, or a site the engine never handed, or an
 *    address, pid or call site no event ever carried.
 * A flush may be told to fail at its Nth callback, to exercise rollback.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "recsink.h"

#define MS 1000000ull
#define MAX_KNOWN 8192

/* What the sink was handed and what the events carried: each a set of
 * up to three numbers, searched linearly (inputs are short). */
struct set {
	uint64_t v[MAX_KNOWN][3];
	size_t n;
	bool full; /* stop checking against it */
};

static struct {
	struct set procs;    /* proc_id, pid */
	struct set threads;  /* proc_id, tid */
	struct set keys;     /* proc_id, key, generation */
	struct set stacks;   /* stack id */
	struct set sites;    /* proc_id, ip */
	struct set fed_ips;  /* pid, ip: sites and frames events carried */
	struct set fed_addr; /* pid, addr: addresses events carried */
} S;

/* The rows flushed (tests/support/recsink.h); a flush may fail at its Nth
 * row (RS.fail_at). */
static struct recsink RS;

static void set_add(struct set *s, uint64_t a, uint64_t b, uint64_t c)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i][0] == a && s->v[i][1] == b && s->v[i][2] == c)
			return;
	if (s->n == MAX_KNOWN) {
		s->full = true;
		return;
	}
	s->v[s->n][0] = a;
	s->v[s->n][1] = b;
	s->v[s->n][2] = c;
	s->n++;
}

static bool set_has(const struct set *s, uint64_t a, uint64_t b, uint64_t c)
{
	if (s->full)
		return true;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i][0] == a && s->v[i][1] == b && s->v[i][2] == c)
			return true;
	return false;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
violated(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_engine: invariant violated: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* Forget the last input: only the counts (the sets are large). */
static void reset(void)
{
	struct set *sets[] = {&S.procs, &S.threads, &S.keys,	&S.stacks,
			      &S.sites, &S.fed_ips, &S.fed_addr};

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		sets[i]->n = 0;
		sets[i]->full = false;
	}
	recsink__reset(&RS);
}

/* --- the sink ------------------------------------------------------------- */

static int sink_begin(void *ctx)
{
	return recsink__sink.begin(ctx);
}

static int sink_commit(void *ctx)
{
	return recsink__sink.commit(ctx);
}

static void sink_rollback(void *ctx)
{
	recsink__sink.rollback(ctx);
}

/* Each row is checked as it comes and recorded by the shared sink, which
 * counts it and fails the one numbered RS.fail_at. */
static int sink_process(void *ctx, const struct mw_process_row *r)
{
	set_add(&S.procs, r->id, r->pid, 0);
	return recsink__sink.process(ctx, r);
}

static int sink_thread(void *ctx, const struct mw_thread_row *r)
{
	set_add(&S.threads, r->proc_id, r->tid, 0);
	return recsink__sink.thread(ctx, r);
}

static int sink_key(void *ctx, const struct mw_key_row *r)
{
	set_add(&S.keys, r->proc_id, r->key, r->generation);
	return recsink__sink.key(ctx, r);
}

static int sink_binding(void *ctx, const struct mw_binding_row *r)
{
	return recsink__sink.binding(ctx, r);
}

static int sink_block_add(void *ctx, const struct mw_block_row *r)
{
	if (!set_has(&S.fed_addr, r->pid, r->addr, 0))
		violated("block row at %#llx, never allocated by pid %u",
			 (unsigned long long)r->addr, r->pid);
	return recsink__sink.block_add(ctx, r);
}

static int sink_block_del(void *ctx, uint64_t serial)
{
	return recsink__sink.block_del(ctx, serial);
}

static int sink_finding(void *ctx, const struct mw_finding_row *r)
{
	/* Checked once the flush has handed everything (check_findings):
	 * the rows a finding names may come after it in the same flush. */
	return recsink__sink.finding(ctx, r);
}

static int sink_site(void *ctx, uint64_t proc_id, uint32_t pid, uint64_t ip)
{
	if (!set_has(&S.fed_ips, pid, ip, 0))
		violated("site %#llx of pid %u: no event carried it",
			 (unsigned long long)ip, pid);
	set_add(&S.sites, proc_id, ip, 0);
	return recsink__sink.site(ctx, proc_id, pid, ip);
}

static int sink_stack(void *ctx, const struct mw_stack_row *r)
{
	set_add(&S.stacks, r->id, 0, 0);
	return recsink__sink.stack(ctx, r);
}

static const struct engine_sink sink = {
    .begin = sink_begin,
    .commit = sink_commit,
    .rollback = sink_rollback,
    .process = sink_process,
    .thread = sink_thread,
    .key = sink_key,
    .binding = sink_binding,
    .block_add = sink_block_add,
    .block_del = sink_block_del,
    .finding = sink_finding,
    .site = sink_site,
    .stack = sink_stack,
};

static bool tls_kind(uint32_t kind)
{
	return kind == MW_FIND_TLS_OUTLIVED_THREAD ||
	       kind == MW_FIND_TLS_OUTLIVED_KEY ||
	       kind == MW_FIND_TLS_OVERWRITTEN ||
	       kind == MW_FIND_TLS_OUTLIVED_MODULE;
}

/* Every finding of the flush just committed names objects the sink was
 * handed. */
static void check_findings(void)
{
	for (size_t i = 0; i < RS.last.findings.n; i++) {
		const struct mw_finding_row *f = &RS.last.findings.v[i];

		if (!f->kind || f->kind >= MW_FIND_KIND_MAX)
			violated("finding %llu: kind %u",
				 (unsigned long long)f->id, f->kind);
		if (!set_has(&S.procs, f->proc_id, f->pid, 0))
			violated("finding %llu: process %llu (pid %u) unknown",
				 (unsigned long long)f->id,
				 (unsigned long long)f->proc_id, f->pid);
		if (f->tid && !set_has(&S.threads, f->proc_id, f->tid, 0))
			violated("finding %llu: thread %u unknown",
				 (unsigned long long)f->id, f->tid);
		if (f->alloc_tid &&
		    !set_has(&S.threads, f->proc_id, f->alloc_tid, 0))
			violated("finding %llu: allocating thread %u unknown",
				 (unsigned long long)f->id, f->alloc_tid);
		if (tls_kind(f->kind) && f->generation &&
		    !set_has(&S.keys, f->proc_id, f->key, f->generation))
			violated("finding %llu: key %u generation %u unknown",
				 (unsigned long long)f->id, f->key,
				 f->generation);
		if (f->stack_id && !set_has(&S.stacks, f->stack_id, 0, 0))
			violated("finding %llu: stack %llu unknown",
				 (unsigned long long)f->id,
				 (unsigned long long)f->stack_id);
		if (f->site && !set_has(&S.sites, f->proc_id, f->site, 0))
			violated("finding %llu: site %#llx unknown",
				 (unsigned long long)f->id,
				 (unsigned long long)f->site);
		if (f->addr && !set_has(&S.fed_addr, f->pid, f->addr, 0))
			violated("finding %llu: address %#llx never seen",
				 (unsigned long long)f->id,
				 (unsigned long long)f->addr);
	}
}

/* --- the program ---------------------------------------------------------- */

struct reader {
	const uint8_t *p;
	size_t left;
};

static bool take(struct reader *r, uint8_t *b)
{
	if (!r->left)
		return false;
	*b = *r->p++;
	r->left--;
	return true;
}

/* The classifier: a stack's flags from its innermost frame. */
static uint32_t classify(void *ctx, uint32_t pid, const uint64_t *frames,
			 uint32_t n)
{
	return (uint32_t)(frames[0] >> 2) & 3;
}

/* Some call sites are the C library's. */
static bool internal(void *ctx, uint32_t pid, uint64_t ip)
{
	return (ip >> 2) % 5 == 4;
}

static uint32_t pid_of(uint8_t b)
{
	return 1 + b % 3;
}

static uint32_t tid_of(uint32_t pid, uint8_t b)
{
	return pid * 10 + b % 5; /* pid * 10 is the main thread */
}

static uint64_t addr_of(uint8_t b)
{
	return 0x10000 + (uint64_t)(b % 32) * 0x40;
}

static uint64_t site_of(uint8_t b)
{
	return 0x401000 + (uint64_t)(b % 8) * 4;
}

enum op {
	OP_ATTACH,
	OP_DETACH,
	OP_ALLOC,
	OP_FREE,
	OP_REALLOC,
	OP_THREAD_START,
	OP_THREAD_EXIT,
	OP_PROC_EXIT,
	OP_EXEC,
	OP_KEY_CREATE,
	OP_KEY_DELETE,
	OP_TLS_SET,
	OP_MODULE,
	OP_MM,
	OP_LOST,
	OP_TICK,
	OP_FLUSH,
	OP_CONFIG,
	OP_MAX,
};

static const struct engine_config base_cfg = {
    .grace_ns = 200 * MS,
    .persist_age_ns = 300 * MS,
    .classify = classify,
    .internal = internal,
    .orphan_age_ns = 400 * MS,
    .orphan_min_threads = 2,
    .growth_samples = 3,
    .sample_ns = 100 * MS,
    .growth_min_bytes = 64,
    .recent_frees = 8,
    .retention_min_bytes = 4096,
    .flush_max_rows = 4,
    /* Small bounds, so that events are refused at them too. */
    .max_blocks = 24,
    .max_threads = 6,
    .max_keys = 3,
};

/* One event, its arguments from the input. Returns false at its end. */
static bool event(struct engine *e, struct reader *r, uint8_t op, uint64_t now)
{
	uint64_t frames[MW_EV_MAX_FRAMES];
	struct mw_event ev = {.ts = now};
	uint8_t a, b, c, d;

	if (!take(r, &a) || !take(r, &b) || !take(r, &c) || !take(r, &d))
		return false;
	ev.pid = pid_of(a);
	ev.tid = tid_of(ev.pid, a >> 2);
	ev.flags = (a & 0x80) ? MW_EVF_INTERNAL : 0;
	ev.addr = addr_of(b);
	ev.size = (uint64_t)c * ((d & 3) == 3 ? 4096 : 1);
	ev.site = site_of(d >> 2);
	ev.key = d % 4;
	snprintf(ev.comm, sizeof(ev.comm), "c%u", b % 4);
	/* An allocating stack: 0 to 3 frames, the call site first. */
	ev.nframes = (d >> 5) & 3;
	for (uint32_t i = 0; i < ev.nframes; i++)
		frames[i] = site_of((uint8_t)(d + c * i));
	if (ev.nframes)
		frames[0] = ev.site;
	ev.frames = frames;
	switch (op) {
	case OP_ALLOC:
		ev.type = MW_EV_ALLOC;
		if (!(c & 0x7f))
			ev.addr = 0; /* a failed allocation */
		break;
	case OP_FREE:
		ev.type = MW_EV_FREE;
		break;
	case OP_REALLOC:
		ev.type = MW_EV_REALLOC;
		ev.old_addr = (c & 1) ? 0 : addr_of(c >> 1);
		if ((d & 0x10))
			ev.addr = ev.old_addr; /* in place */
		if (!(c & 0x3e))
			ev.addr = 0; /* failed, or realloc(p, 0) */
		break;
	case OP_THREAD_START:
		ev.type = MW_EV_THREAD_START;
		break;
	case OP_THREAD_EXIT:
		ev.type = MW_EV_THREAD_EXIT;
		ev.flags = (b & 1) ? MW_EVF_GROUP_EXIT : 0;
		break;
	case OP_PROC_EXIT:
		ev.type = MW_EV_PROC_EXIT;
		ev.code = (int8_t)c;
		break;
	case OP_EXEC:
		ev.type = MW_EV_EXEC;
		break;
	case OP_KEY_CREATE:
		ev.type = MW_EV_KEY_CREATE;
		ev.addr = (b & 1) ? site_of(b) : 0; /* destructor */
		break;
	case OP_KEY_DELETE:
		ev.type = MW_EV_KEY_DELETE;
		break;
	case OP_TLS_SET:
		ev.type = MW_EV_TLS_SET;
		if (!(b & 0xe0))
			ev.addr = 0; /* clears the slot */
		if (c & 1)
			ev.flags |= MW_EVF_SIZED;
		if (c & 2) { /* as the eBPF collector checks for a link */
			ev.flags |= MW_EVF_LINK_CHECKED;
			ev.old_addr = addr_of(d);
			ev.code = (c & 4) ? (int32_t)(d & 0x78) : -1;
		}
		break;
	case OP_MODULE:
		/* Two modules, handles 0xa0 and 0xb0, mapped around the
		 * addresses blocks have. */
		ev.type = MW_EV_MODULE_LOAD + b % 3;
		ev.old_addr = (c & 1) ? 0xb0 : 0xa0;
		ev.addr = addr_of(c);
		ev.size = (uint64_t)d * 0x20;
		ev.base = ev.addr;
		ev.path = (c & 1) ? "/lib/b.so" : "/lib/a.so";
		ev.code = (d & 1) ? -1 : 0;
		if (d & 2)
			ev.flags |= MW_EVF_UNMAPPED;
		break;
	case OP_MM:
		ev.type = MW_EV_MMAP + b % 4;
		ev.addr = 0x7f0000000000ull + (uint64_t)(c % 16) * 0x10000;
		ev.size = (uint64_t)(d % 16 + 1) * 0x1000;
		ev.old_addr = 0x7f0000000000ull + (uint64_t)(d % 16) * 0x10000;
		ev.count = (uint64_t)(c % 4 + 1) * 0x1000;
		break;
	case OP_LOST:
		ev.type = MW_EV_LOST;
		ev.count = c;
		if (b & 1)
			ev.pid = 0; /* unknown owner */
		break;
	}
	for (uint32_t i = 0; i < ev.nframes; i++)
		set_add(&S.fed_ips, ev.pid, frames[i], 0);
	set_add(&S.fed_ips, ev.pid, ev.site, 0);
	set_add(&S.fed_addr, ev.pid, ev.addr, 0);
	engine__feed(e, &ev);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size};
	struct engine_config cfg;
	char why[512];
	uint64_t now = 1000 * MS, proc_id;
	struct engine *e;
	uint8_t op, a, b;
	int o;

	reset();
	e = engine__new(&base_cfg, 1);
	if (!e)
		return 0;
	while (take(&r, &op)) {
		/* Time goes forward by 0 to 127 * 10 ms at each step. */
		now += (uint64_t)(op >> 1 & 0x7f) * 10 * MS;
		/* Odd opcodes are events, even ones anything. */
		o = (op & 1) ? OP_ALLOC + (op >> 1) % (OP_MAX - OP_ALLOC)
			     : (op >> 1) % OP_MAX;
		switch (o) {
		case OP_ATTACH:
			if (!take(&r, &a))
				goto out;
			engine__attach(e, pid_of(a), (a & 4) ? "prog" : NULL,
				       now, &proc_id);
			if (a & 8)
				engine__set_mode(e, pid_of(a), MW_MODE_TLS);
			if (a & 16)
				engine__set_identity(e, pid_of(a), a,
						     "/a.slice");
			break;
		case OP_DETACH:
			if (!take(&r, &a))
				goto out;
			engine__detach(e, pid_of(a), now);
			break;
		case OP_TICK:
			engine__tick(e, now);
			break;
		case OP_FLUSH:
			if (!take(&r, &a))
				goto out;
			RS.fail_at = a & 0x80 ? a & 0x3f : 0;
			if (!engine__flush(e, now, &sink, &RS))
				check_findings();
			RS.fail_at = 0;
			break;
		case OP_CONFIG:
			if (!take(&r, &a) || !take(&r, &b))
				goto out;
			cfg = base_cfg;
			cfg.grace_ns = (uint64_t)a * 10 * MS;
			cfg.orphan_age_ns = (uint64_t)b * 10 * MS;
			cfg.growth_samples = a % 20; /* some out of range */
			cfg.flush_max_rows = b % 8;
			cfg.max_blocks = a % 4 ? 24 : 0; /* 0: no bound */
			cfg.max_threads = b % 4 ? 6 : 0;
			engine__set_config(e, &cfg);
			break;
		default:
			if (!event(e, &r, (uint8_t)o, now))
				goto out;
		}
		if (engine__check(e, why, sizeof(why)))
			violated("%s", why);
	}
out:
	/* Everything left: flushed and checked too. */
	engine__tick(e, now + 3600000 * MS);
	for (int i = 0; i < 64; i++) {
		if (!engine__flush(e, now, &sink, &RS))
			check_findings();
		if (!engine__flush_more(e))
			break;
	}
	if (engine__check(e, why, sizeof(why)))
		violated("%s", why);
	engine__free(e);
	return 0;
}
