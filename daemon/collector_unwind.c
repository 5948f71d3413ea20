/*
 * collector_unwind.c - the collector's stacks without frame pointers: the
 * exec_ranges map the BPF side keys stacks with, the stacks unwound by
 * key (daemon/unwind.c), and the fp_sites map of call sites whose
 * frame-pointer walk was found whole (bpf/memwatch.h says how they fit).
 *
 * Invariants: a key's frames are cached only from its copy, unwound;
 * a keyed record whose frames are not here (its copy was lost, or the
 * cache was emptied) keeps its frame-pointer walk and has its key
 * removed from stack_seen, so that the next record of that stack carries
 * the copy again. A process's cached stacks go when its address space
 * changes (exec, a module loaded) or it exits, and its exec_ranges change
 * generation then, so that no key made before matches.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collector_int.h"
#include "procfs.h"
#include "unwind.h"

/* Stacks cached at most; past it the cache starts again empty. */
#define MAX_CACHED 65536

static uint64_t cache_key(uint32_t pid, uint64_t key)
{
	return hash__mix(key ^ ((uint64_t)pid << 32 | pid));
}

static void cache_clear(struct collector *c)
{
	uint64_t k;
	void *v;

	for (size_t i = 0; hmap__next(&c->ustacks, &i, &k, &v);)
		free(v);
	hmap__fini(&c->ustacks);
	hmap__init(&c->ustacks);
}

void collector_unwind__fini(struct collector *c)
{
	uint64_t k;
	void *v;

	for (size_t i = 0; hmap__next(&c->uranges, &i, &k, &v);)
		free(v);
	hmap__fini(&c->uranges);
	hmap__fini(&c->norule);
	cache_clear(c);
	unwinder__free(c->unwinder);
	c->unwinder = NULL;
}

/* The ranges being read: executable file mappings. */
struct ranges_ctx {
	struct mw_exec_ranges *x;
	uint64_t start[1024], end[1024];
	uint32_t n;
};

static int range_of_map(void *ctx, const struct procfs_map *m)
{
	struct ranges_ctx *r = ctx;

	/* JIT code and the vdso have no CFI the unwinder reads. */
	if (m->perms[2] != 'x' || m->path[0] != '/' || r->n == 1024)
		return 0;
	if (r->n && r->end[r->n - 1] == m->start)
		r->end[r->n - 1] = m->end;
	else {
		r->start[r->n] = m->start;
		r->end[r->n++] = m->end;
	}
	return 0;
}

/* Merge the two closest neighbours until n fit: words between them count
 * as code too, which costs a stack copy now and then, never a wrong key. */
static void ranges_fit(struct ranges_ctx *r)
{
	while (r->n > MW_EXEC_RANGES) {
		uint32_t best = 0;

		for (uint32_t i = 1; i + 1 < r->n; i++)
			if (r->start[i + 1] - r->end[i] <
			    r->start[best + 1] - r->end[best])
				best = i;
		r->end[best] = r->end[best + 1];
		memmove(&r->start[best + 1], &r->start[best + 2],
			(r->n - best - 2) * sizeof(r->start[0]));
		memmove(&r->end[best + 1], &r->end[best + 2],
			(r->n - best - 2) * sizeof(r->end[0]));
		r->n--;
	}
}

static void ranges_drop(struct collector *c, uint32_t pid)
{
	free(hmap__del(&c->uranges, pid));
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.exec_ranges), &pid);
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.exec_young), &pid);
}

/* The ranges of a process as last written, and when they were read. */
struct uranges {
	struct mw_exec_ranges x;
	uint64_t read_ns;
	uint64_t settle_ns; /* when the process is 2 s old (mono_ns) */
};

/* A process's age past which its libraries are taken as mapped. */
#define SETTLE_NS 2000000000ull

/* Fine-grained: it times single unwinds (memwatch_unwind_seconds_total),
 * and is read per copy only, never per record. */
static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void collector_unwind__ranges(struct collector *c, uint32_t pid)
{
	struct uranges *ur;
	struct mw_exec_ranges *x;
	struct ranges_ctx *r;

	if (!c->unwind_bytes)
		return;
	r = calloc(1, sizeof(*r));
	ur = hmap__get(&c->uranges, pid);
	if (!ur) {
		ur = calloc(1, sizeof(*ur));
		if (ur && hmap__put(&c->uranges, pid, ur)) {
			free(ur);
			ur = NULL;
		}
		if (ur) {
			uint64_t age = 0;

			/* 2 s after its start; unknown: now. */
			ur->settle_ns = mono_ns();
			if (!procfs__age(pid, &age) && age < SETTLE_NS)
				ur->settle_ns += SETTLE_NS - age;
		}
	}
	x = ur ? &ur->x : NULL;
	if (!r || !x || procfs__each_map(pid, range_of_map, r) || !r->n) {
		/* Unknown: frame pointers only for it. */
		ranges_drop(c, pid);
		free(r);
		return;
	}
	ranges_fit(r);
	ur->read_ns = mono_ns();
	memset(x, 0, sizeof(*x));
	if (ur->read_ns >= ur->settle_ns)
		x->flags |= MW_RANGES_SETTLED;
	x->n = r->n;
	x->gen = ++c->ranges_gen;
	x->lo = r->start[0];
	x->hi = r->end[r->n - 1];
	memcpy(x->start, r->start, r->n * sizeof(x->start[0]));
	memcpy(x->end, r->end, r->n * sizeof(x->end[0]));
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.exec_ranges), &pid,
				x, BPF_ANY))
		ranges_drop(c, pid);
	else /* its stacks keyed again: no more copies alone */
		bpf_map_delete_elem(bpf_map__fd(c->skel->maps.exec_young),
				    &pid);
	free(r);
}

/* Is v inside x's ranges? */
static bool in_ranges(const struct mw_exec_ranges *x, uint64_t v)
{
	for (uint32_t i = 0; i < x->n; i++)
		if (v >= x->start[i] && v < x->end[i])
			return true;
	return false;
}

/*
 * May s, unwound from u, be cached under u's key? Only if the key was made
 * with the ranges written last and every return address of s (frames[1]
 * on) lies in them, so was in the key. A frame outside them ends s there
 * (junk past the stack's end, JIT code, the vdso: nothing unwinds past
 * those anyway), unless it is in a file the process maps that the ranges
 * lack (a library mapped since they were read): then they are read
 * again, once a second at most, and s is this record's alone.
 */
static bool key_covers(struct collector *c, const struct mw_unwind_record *u,
		       struct ustack *s)
{
	struct uranges *x = hmap__get(&c->uranges, u->r.pid);
	uint64_t now;

	if (!x || x->x.gen != u->gen)
		return false;
	for (uint32_t i = 1; i < s->n; i++) {
		if (in_ranges(&x->x, s->frames[i]))
			continue;
		if (!unwinder__in_file(c->unwinder, u->r.pid, s->frames[i])) {
			s->n = i;
			return true;
		}
		now = mono_ns();
		if (now - x->read_ns >= 1000000000ull)
			collector_unwind__ranges(c, u->r.pid);
		return false;
	}
	return true;
}

/* pid's cached stacks and Dwfl, gone. */
static void forget(struct collector *c, uint32_t pid)
{
	uint64_t k, *gone;
	size_t n = 0;
	void *v;

	if (c->unwinder)
		unwinder__forget(c->unwinder, pid);
	if (!c->ustacks.len)
		return;
	/* No change to the map during a walk: the keys first. */
	gone = malloc(c->ustacks.len * sizeof(*gone));
	if (!gone) {
		cache_clear(c);
		return;
	}
	for (size_t i = 0; hmap__next(&c->ustacks, &i, &k, &v);)
		if (((struct ustack *)v)->pid == pid)
			gone[n++] = k;
	for (size_t i = 0; i < n; i++)
		free(hmap__del(&c->ustacks, gone[i]));
	free(gone);
}

void collector_unwind__gone(struct collector *c, uint32_t pid)
{
	if (!c->unwind_bytes)
		return;
	forget(c, pid);
	ranges_drop(c, pid);
}

void collector_unwind__changed(struct collector *c, uint32_t pid)
{
	if (!c->unwind_bytes)
		return;
	forget(c, pid);
	collector_unwind__ranges(c, pid);
}

/*
 * Is the frame-pointer walk fp[0..nfp) the stack dw[0..ndw) unwound from
 * the same copy? The same frames as far as both go, the walk missing at
 * most the two outermost (glibc's __libc_start_main and _start, or
 * clone3, below a start frame glibc built without frame pointers), and
 * at least one caller found by the walk: a walk that stopped at the call
 * site proves nothing, and would match any stack two frames deep (a
 * shallow thread's), after which every stack from that site, however
 * deep, would keep one frame (sqlite's memory functions did).
 */
static bool fp_whole(const uint64_t *fp, uint32_t nfp, const uint64_t *dw,
		     uint32_t ndw)
{
	uint32_t n = nfp < ndw ? nfp : ndw;

	if (nfp < 2 || ndw > nfp + 2)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (fp[i] != dw[i])
			return false;
	return true;
}

/*
 * Teach the BPF side s's rules (bpf/memwatch.h, cfa_rules): s was just
 * unwound from u's copy with the maps of u's generation. A frame whose
 * CFI is more than a rule ends the teaching there: stacks through it
 * keep sending copies, or keep the frame-pointer walk (fp_sites).
 */
static bool learn(struct collector *c, const struct mw_unwind_record *u,
		  const struct ustack *s)
{
	struct uranges *x = hmap__get(&c->uranges, u->r.pid);
	int fd = bpf_map__fd(c->skel->maps.cfa_rules);

	if (!x || x->x.gen != u->gen)
		return false; /* the maps changed since: its rules may be old */
	for (uint32_t i = 0; i < s->n; i++) {
		struct mw_cfa_key k = {.pid = u->r.pid, .gen = u->gen,
				       .ip = s->frames[i]};
		struct unwind_rule r;
		struct mw_cfa_rule v;

		if (unwinder__rule(c->unwinder, u->r.pid, s->frames[i], !i,
				   &r))
			return false;
		v = (struct mw_cfa_rule){.kind = r.kind, .off = r.off,
					 .bp_off = r.bp_off};
		/* An old one stays: records sent before it was written ask
		 * for it again. */
		if (!bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST))
			c->rules_learned++;
		else if (errno != EEXIST)
			return false;
	}
	return true;
}

/*
 * Unwind u's copy into s. Returns 1 when s may be cached under u's key,
 * 0 when it is this record's alone, -errno when there is no stack.
 */
static int unwind_copy(struct collector *c, const struct mw_unwind_record *u,
		       uint32_t copy_len, struct ustack *s)
{
	struct unwind_regs regs = {u->ip,  u->sp,  u->bp,  u->bx,
				   u->r12, u->r13, u->r14, u->r15};
	int n;

	if (!c->unwinder)
		c->unwinder = unwinder__new();
	if (!c->unwinder)
		return -ENOMEM;
	n = unwinder__stack(c->unwinder, u->r.pid, u->r.tid, &regs, u->stack,
			    copy_len, s->frames, c->stack_frames);
	c->unwound++;
	if (n <= 0) {
		c->unwind_failed++;
		return n < 0 ? n : -ENOENT;
	}
	s->pid = u->r.pid;
	s->key = u->stack_key;
	s->n = (uint32_t)n;
	/* Where the frame-pointer walk is whole, the site keeps that walk
	 * and sends no copy, and this record has it too, so that the site
	 * has one stack (the walk by rules, going one or two outer frames
	 * further, would give another to some of its records). Else, once
	 * every frame's rule is known, the site is walked by rules, which
	 * give what unwinding its copies gives. */
	if (fp_whole((const uint64_t *)u->frames, u->r.nframes, s->frames,
		     s->n)) {
		struct mw_stack_key fk = {.pid = u->r.pid, .key = u->ip};
		uint8_t how = MW_SITE_FP;

		bpf_map_update_elem(bpf_map__fd(c->skel->maps.fp_sites), &fk,
				    &how, BPF_ANY);
		s->n = u->r.nframes;
		memcpy(s->frames, u->frames, s->n * sizeof(s->frames[0]));
	} else if (learn(c, u, s)) {
		struct mw_stack_key fk = {.pid = u->r.pid, .key = u->ip};
		uint8_t how = MW_SITE_WALK;

		bpf_map_update_elem(bpf_map__fd(c->skel->maps.fp_sites), &fk,
				    &how, BPF_NOEXIST);
	}
	return key_covers(c, u, s);
}

/*
 * The walk found no rule for u->need_ip: write it, from the CFI there, if
 * the maps are still those of u's generation. An address outside the
 * executable files as read after the record was made is in none (JIT
 * code): its rule says the stack ends there. Outside them as read before,
 * it may be in a library mapped since (ld.so at a program's start): the
 * ranges are read again (once a second at most, 10 a second while the
 * process is young), which changes the generation, so that the next
 * copy is unwound with the new maps. One that cannot be made is
 * remembered (norule), so that the records of a stack through code
 * without simple CFI do not each look it up again.
 */
static void teach(struct collector *c, const struct mw_unwind_record *u)
{
	struct uranges *x = hmap__get(&c->uranges, u->r.pid);
	struct mw_cfa_key k = {.pid = u->r.pid, .gen = u->gen,
			       .ip = u->need_ip};
	uint64_t nk = hash__mix(u->need_ip ^ ((uint64_t)u->gen << 32 |
					      u->r.pid));
	struct mw_cfa_rule v = {.kind = MW_CFA_NOFILE};
	struct unwind_rule r;

	if (!x || x->x.gen != u->gen || !c->unwinder ||
	    hmap__get(&c->norule, nk))
		return;
	if (!in_ranges(&x->x, u->need_ip)) {
		uint64_t now = mono_ns();
		bool young = now < x->settle_ns;

		if (x->read_ns < u->r.ts) {
			/* Read again; once settled, as it comes of age. */
			if (now - x->read_ns >=
				(young ? 100000000ull : 1000000000ull) ||
			    (!young && !(x->x.flags & MW_RANGES_SETTLED)))
				collector_unwind__ranges(c, u->r.pid);
			return;
		}
	} else if (unwinder__rule(c->unwinder, u->r.pid, u->need_ip,
				  u->need_ip == u->ip, &r)) {
		if (c->norule.len >= MAX_CACHED) {
			hmap__fini(&c->norule);
			hmap__init(&c->norule);
		}
		hmap__put(&c->norule, nk, (void *)1);
		return;
	} else {
		v = (struct mw_cfa_rule){.kind = r.kind, .off = r.off,
					 .bp_off = r.bp_off};
	}
	if (!bpf_map_update_elem(bpf_map__fd(c->skel->maps.cfa_rules), &k, &v,
				 BPF_NOEXIST))
		c->rules_learned++;
}

/*
 * Unwinding runs on the daemon's one loop: a burst of new stacks (a
 * program starting, under an emulator) must not keep it from the ring
 * buffer and the socket. Past UNWIND_BUDGET_NS of unwinding in a second,
 * records keep their frame-pointer walk and their keys are let go, so
 * that a copy comes again later.
 */
#define UNWIND_BUDGET_NS 250000000ull

static bool over_budget(struct collector *c)
{
	uint64_t now = mono_ns();

	if (now - c->unwind_window_ns >= 1000000000ull) {
		c->unwind_window_ns = now;
		c->unwind_spent_ns = 0;
	}
	if (c->unwind_spent_ns < UNWIND_BUDGET_NS)
		return false;
	c->unwind_skipped++;
	return true;
}

void collector_unwind__event(struct collector *c, struct mw_event *ev)
{
	const struct mw_unwind_record *u = c->dbuf.unwind;
	uint64_t ck;
	struct ustack *s;

	if (!u)
		return;
	ck = cache_key(u->r.pid, u->stack_key);
	s = hmap__get(&c->ustacks, ck);
	if (s && (s->pid != u->r.pid || s->key != u->stack_key))
		s = NULL; /* another key mixed to the same: not ours */
	if (!s && c->dbuf.copy_len && !over_budget(c)) {
		uint64_t t0 = mono_ns();
		int cache = unwind_copy(c, u, c->dbuf.copy_len, &c->one);

		t0 = mono_ns() - t0;
		c->unwind_spent_ns += t0;
		c->unwind_total_ns += t0;

		s = cache >= 0 ? &c->one : NULL;
		if (cache > 0) {
			struct ustack *keep = malloc(sizeof(*keep));

			if (c->ustacks.len >= MAX_CACHED)
				cache_clear(c);
			if (keep) {
				*keep = c->one;
				free(hmap__del(&c->ustacks, ck));
				if (hmap__put(&c->ustacks, ck, keep))
					free(keep);
			}
		}
		if (cache <= 0) {
			/* Unwound for this record alone, or not at all:
			 * the next of its key brings a copy again. */
			struct mw_stack_key sk = {.pid = u->r.pid,
						  .key = u->stack_key};

			bpf_map_delete_elem(
			    bpf_map__fd(c->skel->maps.stack_seen), &sk);
		}
	} else if (!s) {
		struct mw_stack_key sk = {.pid = u->r.pid, .key = u->stack_key};

		c->unwind_missed++;
		bpf_map_delete_elem(bpf_map__fd(c->skel->maps.stack_seen), &sk);
	}
	if (u->need_ip)
		teach(c, u);
	if (!s)
		return; /* the walk stays */
	memcpy(c->dbuf.frames, s->frames, s->n * sizeof(s->frames[0]));
	decode__frames(&c->dbuf, ev, c->dbuf.frames, s->n,
		       u->r.flags & MW_RECF_WRAPPED);
}

void collector__unwind_stats(const struct collector *c,
			     struct collector_unwind_stats *out)
{
	*out = (struct collector_unwind_stats){
	    .unwound = c->unwound,
	    .failed = c->unwind_failed,
	    .missed = c->unwind_missed,
	    .skipped = c->unwind_skipped,
	    .walked = c->walked,
	    .rules = c->rules_learned,
	    .spent_ns = c->unwind_total_ns,
	};
}
