/*
 * mwreplay.c - replay a text event stream through the engine and print
 * what it found: golden tests and demos, no eBPF, no store, no root.
 *
 *   mwreplay [--grace MS] [--persist-age MS] [FILE]
 *
 * FILE (default stdin) has one item per line; '#' starts a comment and
 * blank lines are ignored. T is a time in milliseconds (a fraction of up
 * to 6 digits is allowed), turned into nanoseconds for the engine.
 *
 *   attach T pid=N [comm=NAME]     start tracing pid
 *   detach T pid=N                 stop tracing pid
 *   tick T                         decide candidates due by T
 *   flush T                        flush; print the findings it handed over
 *   end T                          tick and flush at T, then print the
 *                                  thread rows and a summary
 *   classify 0xHEX FLAG[,FLAG]     a stack with that frame has those
 *                                  flags: tls_init, tls_dynamic
 *   T TYPE pid=N [tid=N] [addr=0xHEX] [size=N] [old=0xHEX] [site=0xHEX]
 *          [key=N] [code=N] [count=N] [comm=NAME] [group]
 *          [stack=0xHEX,0xHEX...] [base=0xHEX] [path=P]
 *          [internal] [unmapped] [locked] [blocked] [delegated] [watched]
 *          [pool] [checked]
 *
 * TYPE is an event type as mw_event_type_name() spells it: alloc free
 * realloc thread_start thread_exit proc_exit exec key_create key_delete
 * tls_set lost module_load module_unload module_unloaded pool_overlap. tid
 * defaults to pid; "group" sets MW_EVF_GROUP_EXIT, "internal"
 * MW_EVF_INTERNAL, "unmapped" MW_EVF_UNMAPPED, "locked", "blocked",
 * "delegated", "watched" and "pool" MW_EVF_LOCKED, _BLOCKED, _DELEGATED,
 * _WATCHED and _POOL (a pool_overlap's path= is its two functions, comma-separated),
 * "checked" MW_EVF_LINK_CHECKED (a tls_set whose old= and code= say what
 * the collector found). stack= gives the allocating frames, site=
 * defaulting to the first. Module events take old= (the handle), addr=
 * and size= (the span).
 * Required: alloc addr+size, free addr, realloc addr+size (old 0 means
 * malloc), key_create/key_delete key, tls_set key+addr, lost count (pid 0
 * is "unknown pid"). Events may come in any time order.
 *
 * Options --orphan-age MS, --orphan-threads N, --orphan-share PCT,
 * --orphan-share-medium PCT, --sample MS, --growth-samples N,
 * --growth-min KB and --growth-horizon MS set the rules over time, as
 * memwatchd's options of the same names do; the horizon is 0 (at once)
 * unless given.
 *
 * Output, at each flush, its findings sorted by (pid, tid, addr):
 *   finding kind=K pid=N tid=N key=N gen=N addr=0xH size=N site=0xH
 *           alloc_tid=N found=MS [count=N bytes=N threads=N sev=S]
 *           [resolved=MS reason="TEXT"]
 * the first bracketed part for findings about a site or thread over time
 * (thread-orphan, thread-growth, site-growth, bad-free, allocator-race,
 * tls-overwritten), each printed again whenever its evidence changed; the
 * second once a finding is resolved (a one-block finding is printed again
 * then).
 * and at end, the last row handed for each thread sorted by (pid, tid),
 * then the number of distinct findings so far and the live blocks of the
 * last process rows:
 *   thread pid=N tid=N state=S allocs=N frees=N cross_frees=N
 *          unknown_frees=N live_blocks=N live_bytes=N
 *   summary findings=N live_blocks=N
 *
 * Malformed input: "mwreplay: FILE:LINE: problem" on stderr, exit 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "hash.h"
#include "recsink.h"

#define NS_PER_MS ((uint64_t)1000000)

struct rproc {
	struct mw_process_row row;
	bool seen;
	struct hmap threads; /* tid -> struct mw_thread_row, last handed */
};

#define MAX_CLASSES 64

struct replay {
	const char *file;
	unsigned long line;
	uint64_t class_ip[MAX_CLASSES];
	uint32_t class_flags[MAX_CLASSES];
	int nclasses;
	struct engine *e;
	struct hmap procs; /* proc_id -> struct rproc */
	struct recsink
	    rs; /* what the engine flushed (rs.last: the last flush) */
	struct hmap ids;   /* finding ids printed so far */
	uint64_t findings;
};

static void die(struct replay *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void die(struct replay *r, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mwreplay: %s:%lu: ", r->file, r->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		fprintf(stderr, "mwreplay: out of memory\n");
		exit(1);
	}
	return p;
}

/* --- the last row per process and thread, over the flushes -------------- */

static struct rproc *rproc_get(struct replay *r, uint64_t proc_id)
{
	struct rproc *p = hmap__get(&r->procs, proc_id);

	if (p)
		return p;
	p = xcalloc(1, sizeof(*p));
	hmap__init(&p->threads);
	if (hmap__put(&r->procs, proc_id, p)) {
		fprintf(stderr, "mwreplay: out of memory\n");
		exit(1);
	}
	return p;
}

/* Keep the process and thread rows of the flush just committed: each
 * replaces the one before it. */
static void keep_rows(struct replay *r)
{
	const struct recsink_rows *w = &r->rs.last;

	for (size_t i = 0; i < w->procs.n; i++) {
		struct rproc *p = rproc_get(r, w->procs.v[i].id);

		p->row = w->procs.v[i];
		p->seen = true;
	}
	for (size_t i = 0; i < w->threads.n; i++) {
		const struct mw_thread_row *row = &w->threads.v[i];
		struct rproc *p = rproc_get(r, row->proc_id);
		struct mw_thread_row *t = hmap__get(&p->threads, row->tid);

		if (!t) {
			t = xcalloc(1, sizeof(*t));
			if (hmap__put(&p->threads, row->tid, t))
				die(r, "out of memory");
		}
		*t = *row;
	}
}

/* --- output ------------------------------------------------------------- */

static void print_ms(uint64_t ns)
{
	uint64_t frac = ns % NS_PER_MS;
	char buf[8];
	int n;

	printf("%" PRIu64, ns / NS_PER_MS);
	if (!frac)
		return;
	n = snprintf(buf, sizeof(buf), "%06" PRIu64, frac);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	printf(".%s", buf);
}

static int finding_cmp(const void *a, const void *b)
{
	const struct mw_finding_row *x = a;
	const struct mw_finding_row *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

static bool over_time(uint32_t kind)
{
	return kind == MW_FIND_THREAD_ORPHAN || kind == MW_FIND_THREAD_GROWTH ||
	       kind == MW_FIND_SITE_GROWTH || kind == MW_FIND_BAD_FREE ||
	       kind == MW_FIND_ALLOCATOR_RACE ||
	       kind == MW_FIND_TLS_OVERWRITTEN;
}

static void do_flush(struct replay *r, uint64_t now)
{
	int err = engine__flush(r->e, now, &recsink__sink, &r->rs);
	struct recsink_rows *w = &r->rs.last;

	if (err)
		die(r, "flush: %s", strerror(-err));
	keep_rows(r);
	if (w->findings.n)
		qsort(w->findings.v, w->findings.n, sizeof(w->findings.v[0]),
		      finding_cmp);
	for (size_t i = 0; i < w->findings.n; i++) {
		const struct mw_finding_row *f = &w->findings.v[i];

		printf("finding kind=%s pid=%u tid=%u key=%u gen=%u "
		       "addr=0x%" PRIx64 " size=%" PRIu64 " site=0x%" PRIx64
		       " alloc_tid=%u found=",
		       mw_finding_kind_name(f->kind), f->pid, f->tid, f->key,
		       f->generation, f->addr, f->size, f->site, f->alloc_tid);
		print_ms(f->found_ts);
		if (over_time(f->kind))
			printf(" count=%" PRIu64 " bytes=%" PRIu64
			       " threads=%u sev=%s",
			       f->count, f->bytes, f->threads,
			       mw_severity_name(f->severity));
		if (f->resolved_ts) {
			printf(" resolved=");
			print_ms(f->resolved_ts);
			printf(" reason=\"%s\"", f->resolved_reason);
		}
		putchar('\n');
	}
	for (size_t i = 0; i < w->findings.n; i++) {
		const struct mw_finding_row *f = &w->findings.v[i];

		/* A finding over time is printed at each update; count it
		 * once. */
		if (!hmap__get(&r->ids, f->id)) {
			if (hmap__put(&r->ids, f->id, (void *)1))
				die(r, "out of memory");
			r->findings++;
		}
	}
}

static int thread_cmp(const void *a, const void *b)
{
	const struct mw_thread_row *x = *(void *const *)a;
	const struct mw_thread_row *y = *(void *const *)b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->proc_id != y->proc_id)
		return x->proc_id < y->proc_id ? -1 : 1;
	return 0;
}

static void do_end(struct replay *r, uint64_t now)
{
	struct vec rows = {0};
	uint64_t live = 0, k, tk;
	size_t pos = 0, tpos;
	void *v, *tv;

	engine__tick(r->e, now);
	do_flush(r, now);
	while (hmap__next(&r->procs, &pos, &k, &v)) {
		struct rproc *p = v;

		if (p->seen)
			live += p->row.live_blocks;
		tpos = 0;
		while (hmap__next(&p->threads, &tpos, &tk, &tv))
			if (vec__push(&rows, tv))
				die(r, "out of memory");
	}
	qsort(rows.items, rows.len, sizeof(void *), thread_cmp);
	for (size_t i = 0; i < rows.len; i++) {
		const struct mw_thread_row *t = rows.items[i];

		printf("thread pid=%u tid=%u state=%s allocs=%" PRIu64
		       " frees=%" PRIu64 " cross_frees=%" PRIu64
		       " unknown_frees=%" PRIu64 " live_blocks=%" PRIu64
		       " live_bytes=%" PRIu64 "\n",
		       t->pid, t->tid, mw_thread_state_name(t->state),
		       t->allocs, t->frees, t->cross_frees, t->unknown_frees,
		       t->live_blocks, t->live_bytes);
	}
	printf("summary findings=%" PRIu64 " live_blocks=%" PRIu64 "\n",
	       r->findings, live);
	vec__fini(&rows);
}

/* --- parsing -------------------------------------------------------------- */

/* Milliseconds, with up to 6 decimals, to nanoseconds. */
static uint64_t parse_time(struct replay *r, const char *s)
{
	uint64_t ms = 0, frac = 0, scale = NS_PER_MS;
	const char *c = s;

	if (*c < '0' || *c > '9')
		die(r, "bad time '%s'", s);
	for (; *c >= '0' && *c <= '9'; c++) {
		if (ms > (UINT64_MAX / NS_PER_MS - 9) / 10)
			die(r, "time '%s' out of range", s);
		ms = ms * 10 + (uint64_t)(*c - '0');
	}
	if (*c == '.') {
		c++;
		if (*c < '0' || *c > '9')
			die(r, "bad time '%s'", s);
		for (; *c >= '0' && *c <= '9'; c++) {
			if (scale == 1)
				die(r, "time '%s' finer than a nanosecond", s);
			scale /= 10;
			frac += (uint64_t)(*c - '0') * scale;
		}
	}
	if (*c)
		die(r, "bad time '%s'", s);
	return ms * NS_PER_MS + frac;
}

static uint64_t parse_u64(struct replay *r, const char *name, const char *s,
			  int base, uint64_t max)
{
	unsigned long long v;
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		die(r, "bad number '%s' for %s", s, name);
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || end == s)
		die(r, "bad number '%s' for %s", s, name);
	if (v > max)
		die(r, "%s=%s out of range", name, s);
	return v;
}

static int32_t parse_i32(struct replay *r, const char *name, const char *s)
{
	long long v;
	char *end;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < INT32_MIN || v > INT32_MAX)
		die(r, "bad number '%s' for %s", s, name);
	return (int32_t)v;
}

static uint32_t event_type(struct replay *r, const char *name)
{
	for (uint32_t t = 1; t < MW_EV_TYPE_MAX; t++)
		if (!strcmp(mw_event_type_name(t), name))
			return t;
	die(r, "unknown event type '%s'", name);
}

enum {
	F_PID = 1 << 0,
	F_TID = 1 << 1,
	F_ADDR = 1 << 2,
	F_SIZE = 1 << 3,
	F_OLD = 1 << 4,
	F_SITE = 1 << 5,
	F_KEY = 1 << 6,
	F_CODE = 1 << 7,
	F_COUNT = 1 << 8,
	F_COMM = 1 << 9,
	F_GROUP = 1 << 10,
	F_STACK = 1 << 11,
	F_BASE = 1 << 12,
	F_PATH = 1 << 13,
	F_INTERNAL = 1 << 14,
	F_UNMAPPED = 1 << 15,
	F_CHECKED = 1 << 16,
};

/* Frames of the event being parsed; the engine copies them. */
static uint64_t frames[MW_EV_MAX_FRAMES];
static char path_buf[256];

/* Parse name=value fields into ev; return the set of fields present. */
static unsigned parse_fields(struct replay *r, char **tok, int ntok,
			     struct mw_event *ev)
{
	unsigned have = 0;

	for (int i = 0; i < ntok; i++) {
		char *name = tok[i], *val = strchr(tok[i], '=');
		unsigned f;

		if (!strcmp(name, "group")) {
			f = F_GROUP;
			ev->flags |= MW_EVF_GROUP_EXIT;
			goto seen;
		}
		if (!strcmp(name, "internal")) {
			f = F_INTERNAL;
			ev->flags |= MW_EVF_INTERNAL;
			goto seen;
		}
		if (!strcmp(name, "unmapped")) {
			f = F_UNMAPPED;
			ev->flags |= MW_EVF_UNMAPPED;
			goto seen;
		}
		if (!strcmp(name, "checked")) {
			f = F_CHECKED;
			ev->flags |= MW_EVF_LINK_CHECKED;
			goto seen;
		}
		if (!strcmp(name, "locked") || !strcmp(name, "blocked") ||
		    !strcmp(name, "delegated") || !strcmp(name, "watched") ||
		    !strcmp(name, "pool")) {
			/* Flags of the allocator race: no field bit (they
			 * may come together), each once by its own check. */
			uint32_t flag = !strcmp(name, "locked")	 ? MW_EVF_LOCKED
					: !strcmp(name, "blocked") ? MW_EVF_BLOCKED
					: !strcmp(name, "delegated")
					    ? MW_EVF_DELEGATED
					: !strcmp(name, "watched") ? MW_EVF_WATCHED
								   : MW_EVF_POOL;

			if (ev->flags & flag)
				die(r, "field '%s' given twice", name);
			ev->flags |= flag;
			continue;
		}
		if (!val)
			die(r, "expected name=value, got '%s'", name);
		*val++ = '\0';
		if (!strcmp(name, "pid")) {
			f = F_PID;
			ev->pid = (uint32_t)parse_u64(r, name, val, 10,
						      UINT32_MAX);
		} else if (!strcmp(name, "tid")) {
			f = F_TID;
			ev->tid = (uint32_t)parse_u64(r, name, val, 10,
						      UINT32_MAX);
		} else if (!strcmp(name, "addr")) {
			f = F_ADDR;
			ev->addr = parse_u64(r, name, val, 0, UINT64_MAX);
		} else if (!strcmp(name, "size")) {
			f = F_SIZE;
			ev->size = parse_u64(r, name, val, 10, UINT64_MAX);
		} else if (!strcmp(name, "old")) {
			f = F_OLD;
			ev->old_addr = parse_u64(r, name, val, 0, UINT64_MAX);
		} else if (!strcmp(name, "site")) {
			f = F_SITE;
			ev->site = parse_u64(r, name, val, 0, UINT64_MAX);
		} else if (!strcmp(name, "key")) {
			f = F_KEY;
			ev->key = (uint32_t)parse_u64(r, name, val, 10,
						      UINT32_MAX);
		} else if (!strcmp(name, "code")) {
			f = F_CODE;
			ev->code = parse_i32(r, name, val);
		} else if (!strcmp(name, "count")) {
			f = F_COUNT;
			ev->count = parse_u64(r, name, val, 10, UINT64_MAX);
		} else if (!strcmp(name, "stack")) {
			char *save = NULL, *fr;

			f = F_STACK;
			ev->nframes = 0;
			for (fr = strtok_r(val, ",", &save); fr;
			     fr = strtok_r(NULL, ",", &save)) {
				if (ev->nframes == MW_EV_MAX_FRAMES)
					die(r, "more than %d frames",
					    MW_EV_MAX_FRAMES);
				frames[ev->nframes++] =
					parse_u64(r, name, fr, 0, UINT64_MAX);
			}
			if (!ev->nframes)
				die(r, "stack= needs frames");
			ev->frames = frames;
		} else if (!strcmp(name, "base")) {
			f = F_BASE;
			ev->base = parse_u64(r, name, val, 0, UINT64_MAX);
		} else if (!strcmp(name, "path")) {
			f = F_PATH;
			snprintf(path_buf, sizeof(path_buf), "%s", val);
			ev->path = path_buf;
		} else if (!strcmp(name, "comm")) {
			f = F_COMM;
			if (strlen(val) >= MW_COMM_MAX)
				die(r, "comm '%s' longer than %d characters",
				    val, MW_COMM_MAX - 1);
			strcpy(ev->comm, val);
		} else {
			die(r, "unknown field '%s'", name);
		}
	seen:
		if (have & f)
			die(r, "field '%s' given twice", name);
		have |= f;
	}
	return have;
}

static void require(struct replay *r, unsigned have, unsigned need,
		    const char *what)
{
	static const char *const names[] = {
		"pid",	 "tid",	 "addr", "size", "old",	 "site",
		"key",	 "code", "count", "comm", "group", "stack",
		"base",	 "path", "internal", "unmapped"};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((need & (1u << i)) && !(have & (1u << i)))
			die(r, "%s needs %s=", what, names[i]);
}

static void do_event(struct replay *r, uint64_t ts, const char *type,
		     char **tok, int ntok)
{
	struct mw_event ev = {0};
	unsigned have, need = F_PID;
	int err;

	ev.type = event_type(r, type);
	ev.ts = ts;
	have = parse_fields(r, tok, ntok, &ev);
	switch (ev.type) {
	case MW_EV_ALLOC:
	case MW_EV_REALLOC:
		need |= F_ADDR | F_SIZE;
		break;
	case MW_EV_FREE:
		need |= F_ADDR;
		break;
	case MW_EV_KEY_CREATE:
	case MW_EV_KEY_DELETE:
		need |= F_KEY;
		break;
	case MW_EV_TLS_SET:
		need |= F_KEY | F_ADDR;
		break;
	case MW_EV_LOST:
		need |= F_COUNT;
		break;
	case MW_EV_MODULE_LOAD:
	case MW_EV_MODULE_UNLOAD:
		need |= F_OLD | F_ADDR | F_SIZE;
		break;
	case MW_EV_MODULE_UNLOADED:
		need |= F_OLD;
		break;
	}
	require(r, have, need, type);
	if ((have & F_STACK) && !(have & F_SITE))
		ev.site = frames[0];
	if (ev.type == MW_EV_FREE && !ev.addr)
		die(r, "free of address 0");
	if (!(have & F_TID))
		ev.tid = ev.pid;
	err = engine__feed(r->e, &ev);
	if (err)
		die(r, "engine refused the event: %s", strerror(-err));
}

static void do_line(struct replay *r, char *line)
{
	char *tok[32], *save = NULL, *t, *hash = strchr(line, '#');
	int n = 0;
	uint64_t ts;

	if (hash)
		*hash = '\0';
	for (t = strtok_r(line, " \t\r\n", &save); t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == (int)(sizeof(tok) / sizeof(tok[0])))
			die(r, "too many fields");
		tok[n++] = t;
	}
	if (!n)
		return;
	if (!strcmp(tok[0], "attach") || !strcmp(tok[0], "detach")) {
		struct mw_event ev = {0};
		unsigned have;
		int err;

		if (n < 2)
			die(r, "%s needs a time", tok[0]);
		ts = parse_time(r, tok[1]);
		have = parse_fields(r, tok + 2, n - 2, &ev);
		require(r, have, F_PID, tok[0]);
		if (have & ~(F_PID | F_COMM))
			die(r, "%s takes only pid= and comm=", tok[0]);
		if (tok[0][0] == 'a')
			err = engine__attach(r->e, ev.pid,
					     (have & F_COMM) ? ev.comm : NULL,
					     ts, NULL);
		else
			err = engine__detach(r->e, ev.pid, ts);
		if (err)
			die(r, "%s pid=%u: %s", tok[0], ev.pid, strerror(-err));
		return;
	}
	if (!strcmp(tok[0], "classify")) {
		char *save = NULL, *fl;
		uint32_t flags = 0;

		if (n != 3)
			die(r, "classify takes an address and flags");
		if (r->nclasses == MAX_CLASSES)
			die(r, "more than %d classify lines", MAX_CLASSES);
		for (fl = strtok_r(tok[2], ",", &save); fl;
		     fl = strtok_r(NULL, ",", &save)) {
			if (!strcmp(fl, "tls_init"))
				flags |= MW_STACK_TLS_INIT;
			else if (!strcmp(fl, "tls_dynamic"))
				flags |= MW_STACK_TLS_DYNAMIC;
			else
				die(r, "unknown stack flag '%s'", fl);
		}
		r->class_ip[r->nclasses] =
			parse_u64(r, "classify", tok[1], 0, UINT64_MAX);
		r->class_flags[r->nclasses++] = flags;
		return;
	}
	if (!strcmp(tok[0], "tick") || !strcmp(tok[0], "flush") ||
	    !strcmp(tok[0], "end")) {
		if (n != 2)
			die(r, "%s takes exactly one time", tok[0]);
		ts = parse_time(r, tok[1]);
		if (tok[0][0] == 't')
			engine__tick(r->e, ts);
		else if (tok[0][0] == 'f')
			do_flush(r, ts);
		else
			do_end(r, ts);
		return;
	}
	if (n < 2)
		die(r, "expected 'T TYPE field=value...'");
	ts = parse_time(r, tok[0]);
	do_event(r, ts, tok[1], tok + 2, n - 2);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: mwreplay [--grace MS] [--persist-age MS] "
		"[--orphan-age MS]\n"
		"                [--orphan-threads N] [--orphan-share PCT] "
		"[--orphan-share-medium PCT]\n"
		"                [--sample MS] [--growth-samples N] "
		"[--growth-min KB]\n"
		"                [--growth-horizon MS] [FILE]\n");
	exit(2);
}

static uint32_t classify(void *ctx, uint32_t pid, const uint64_t *fr,
			 uint32_t n)
{
	struct replay *r = ctx;
	uint32_t flags = 0;

	for (uint32_t i = 0; i < n; i++)
		for (int c = 0; c < r->nclasses; c++)
			if (r->class_ip[c] == fr[i])
				flags |= r->class_flags[c];
	return flags;
}

static uint64_t option_num(const char *val, uint64_t max)
{
	struct replay r = {.file = "(options)"};

	if (!val)
		usage();
	return parse_u64(&r, "option", val, 10, max);
}

static uint64_t option_ms(const char *opt, const char *val)
{
	struct replay r = {.file = "(options)"};

	if (!val)
		usage();
	(void)opt;
	return parse_time(&r, val);
}

int main(int argc, char **argv)
{
	/* Growth at once unless --growth-horizon says: replayed streams
	 * are seconds long. */
	struct engine_config cfg = {
		.grace_ns = ENGINE_DEFAULT_GRACE_NS,
		.persist_age_ns = ENGINE_DEFAULT_PERSIST_AGE_NS,
		.growth_horizon_ns = ENGINE_GROWTH_AT_ONCE,
	};
	struct replay r = {0};
	const char *path = NULL;
	char *line = NULL;
	size_t cap = 0;
	FILE *in = stdin;
	size_t pos = 0;
	uint64_t k;
	void *v;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--grace")) {
			cfg.grace_ns = option_ms(argv[i], argv[i + 1]);
			i++;
		} else if (!strcmp(argv[i], "--persist-age")) {
			cfg.persist_age_ns = option_ms(argv[i], argv[i + 1]);
			i++;
		} else if (!strcmp(argv[i], "--orphan-age")) {
			cfg.orphan_age_ns = option_ms(argv[i], argv[i + 1]);
			i++;
		} else if (!strcmp(argv[i], "--orphan-threads")) {
			cfg.orphan_min_threads =
				(uint32_t)option_num(argv[i + 1], UINT32_MAX);
			i++;
		} else if (!strcmp(argv[i], "--orphan-share")) {
			cfg.orphan_share = (uint32_t)option_num(argv[i + 1], 100);
			i++;
		} else if (!strcmp(argv[i], "--orphan-share-medium")) {
			cfg.orphan_share_medium =
				(uint32_t)option_num(argv[i + 1], 100);
			i++;
		} else if (!strcmp(argv[i], "--sample")) {
			cfg.sample_ns = option_ms(argv[i], argv[i + 1]);
			i++;
		} else if (!strcmp(argv[i], "--growth-samples")) {
			cfg.growth_samples = (uint32_t)option_num(
				argv[i + 1], ENGINE_MAX_SAMPLES);
			i++;
		} else if (!strcmp(argv[i], "--growth-horizon")) {
			cfg.growth_horizon_ns = option_ms(argv[i], argv[i + 1]);
			if (!cfg.growth_horizon_ns)
				cfg.growth_horizon_ns = ENGINE_GROWTH_AT_ONCE;
			i++;
		} else if (!strcmp(argv[i], "--growth-min")) {
			cfg.growth_min_bytes =
				option_num(argv[i + 1], 1ull << 40) * 1024;
			i++;
		} else if (!strcmp(argv[i], "-h") ||
			   !strcmp(argv[i], "--help")) {
			usage();
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage();
		} else if (!path) {
			path = argv[i];
		} else {
			usage();
		}
	}
	if (path && strcmp(path, "-")) {
		in = fopen(path, "r");
		if (!in) {
			fprintf(stderr, "mwreplay: %s: %s\n", path,
				strerror(errno));
			return 1;
		}
		r.file = path;
	} else {
		r.file = "<stdin>";
	}
	cfg.classify = classify;
	cfg.classify_ctx = &r;
	r.e = engine__new(&cfg, 1);
	if (!r.e) {
		fprintf(stderr, "mwreplay: out of memory\n");
		return 1;
	}
	hmap__init(&r.procs);
	hmap__init(&r.ids);
	while (getline(&line, &cap, in) >= 0) {
		r.line++;
		do_line(&r, line);
	}
	if (ferror(in)) {
		fprintf(stderr, "mwreplay: %s: read error\n", r.file);
		return 1;
	}
	free(line);
	if (in != stdin)
		fclose(in);

	while (hmap__next(&r.procs, &pos, &k, &v)) {
		struct rproc *p = v;
		size_t tpos = 0;
		uint64_t tk;
		void *tv;

		while (hmap__next(&p->threads, &tpos, &tk, &tv))
			free(tv);
		hmap__fini(&p->threads);
		free(p);
	}
	hmap__fini(&r.procs);
	hmap__fini(&r.ids);
	recsink__reset(&r.rs);
	engine__free(r.e);
	return fflush(stdout) ? 1 : 0;
}
