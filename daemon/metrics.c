/*
 * metrics.c - memwatchd's Prometheus export; see metrics.h.
 *
 * Each scrape (and each textfile write) renders the whole page into one
 * growable buffer from what the engine holds now, plus the few counters
 * kept here: findings by kind and severity, processes whose tracing
 * ended, flush durations. The page is handed to libmicrohttpd, which
 * frees it once sent, so nothing outlives a scrape.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "memwatch.h"
#include "metrics.h"
#include "options.h"
#include "parse.h"
#include "text.h"

#define NS 1000000000.0
/* Scrapers are few; a slow or stuck one is dropped after this. */
#define MAX_CONNECTIONS 16
#define CONNECTION_TIMEOUT_S 10
#define MAX_TARGETS 256

/* Flush duration histogram bounds, in seconds. */
static const double flush_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				       0.1,   0.25,   0.5,   1,	   2.5,	  5};
#define NBUCKETS (sizeof(flush_buckets) / sizeof(flush_buckets[0]))

#define NSEV (MW_SEV_HIGH + 1)
#define NSTATE (MW_PROC_DETACHED + 1)

/* A finding handed in the flush under way. */
struct staged_finding {
	uint64_t id, proc_id;
	uint32_t kind, severity;
};

struct target {
	char kind[8];
	char *name;
	bool tls;
};

struct metrics {
	struct metrics_config cfg;
	const struct engine *engine;
	struct MHD_Daemon *mhd;
	int epfd;
	double start_time; /* s since the Unix epoch */
	/* Findings made since start, by kind and severity: counted once
	 * each, when the flush that hands them over commits. */
	uint64_t findings[MW_FIND_KIND_MAX][NSEV];
	/* Findings over time (see one_block_kind) already counted: id ->
	 * proc_id, forgotten once their process is gone. */
	struct hmap counted;
	struct staged_finding *staged;
	size_t nstaged, cap_staged;
	/* Processes whose tracing ended that the engine still holds (until
	 * their last rows are written): proc id -> state. */
	struct hmap held;
	uint64_t ended[NSTATE]; /* by enum mw_proc_state */
	struct target targets[MAX_TARGETS];
	int ntargets;
	/* The flush under way and all before it. */
	uint64_t flush_start;
	uint64_t flush_buckets[NBUCKETS];
	uint64_t flushes, flush_errors;
	double flush_seconds;
	int textfile_err; /* last error writing it, so it is logged once */
	const struct retention_stats *retention; /* NULL: none */
	const struct collector *col;		 /* NULL: none */
	const uint64_t *shed; /* processes detached at --max-memory-mb */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- the page buffer ------------------------------------------------------ */

struct buf {
	char *p;
	size_t len, cap;
	bool oom; /* a write failed: the page is incomplete */
};

static void buf_grow(struct buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 16384;
	char *p;

	while (cap < b->len + need + 1)
		cap *= 2;
	if (cap == b->cap)
		return;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void __attribute__((format(printf, 2, 3)))
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (int pass = 0; pass < 2; pass++) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt,
			      ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		buf_grow(b, (size_t)n);
		if (b->oom)
			return;
	}
}

/*
 * A label value: backslash, double quote and newline escaped as the
 * exposition format wants; other control characters (C1 too) and bytes
 * that are not UTF-8 (common/text.c: a comm or a cgroup path is whatever
 * bytes the program chose, and the kernel cuts a comm at 15 bytes,
 * mid-character maybe) become '?', so the page always parses.
 */
static void buf_label(struct buf *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		unsigned n;

		if (*u == '\\' || *u == '"') {
			buf_printf(b, "\\%c", *u++);
		} else if (*u == '\n') {
			buf_printf(b, "\\n");
			u++;
		} else if ((n = text__utf8_len(u)) && text__is_control(u, n)) {
			buf_printf(b, "?");
			u += n;
		} else if (n) {
			buf_printf(b, "%.*s", (int)n, (const char *)u);
			u += n;
		} else {
			buf_printf(b, "?");
			u++;
		}
	}
}

/* "# HELP" and "# TYPE" of a family. */
static void family(struct buf *b, const char *name, const char *type,
		   const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* --- processes and threads ------------------------------------------------ */

/* What the page says of one traced process, copied from its view. */
struct proc_sample {
	struct mw_process_row row;
	uint64_t anon_bytes, threads_alive, threads_exited;
};

struct proc_list {
	struct proc_sample *p;
	size_t n, cap;
	bool oom;
};

static int collect_proc(void *ctx, const struct engine_proc_view *pv)
{
	struct proc_list *l = ctx;

	if (pv->row->state != MW_PROC_TRACING)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct proc_sample *p = realloc(l->p, cap * sizeof(*p));

		if (!p) {
			l->oom = true;
			return -ENOMEM;
		}
		l->p = p;
		l->cap = cap;
	}
	l->p[l->n].row = *pv->row;
	l->p[l->n].anon_bytes = pv->anon_bytes;
	l->p[l->n].threads_alive = pv->threads_alive;
	l->p[l->n++].threads_exited = pv->threads_exited;
	return 0;
}

static void proc_labels(struct buf *b, const struct mw_process_row *r)
{
	buf_printf(b, "{pid=\"%u\",comm=\"", r->pid);
	buf_label(b, r->comm);
	buf_printf(b, "\"}");
}

/* The per-process families, each a value of each traced process. */
enum proc_field {
	PF_LIVE_BYTES,
	PF_LIVE_BLOCKS,
	PF_ANON_BYTES,
	PF_ALLOCS,
	PF_FREES,
	PF_UNKNOWN_FREES,
	PF_THREADS,
	PF_THREADS_STARTED,
	PF_THREADS_EXITED,
	PF_LOST,
	PF_DROPPED,
	PF_INCOMPLETE,
	PF_WITHHELD,
	PF_FINDINGS,
};

static const struct proc_family {
	enum proc_field field;
	const char *name, *type, *help;
} proc_families[] = {
    {PF_LIVE_BYTES, "memwatch_process_live_bytes", "gauge",
     "Bytes the process allocated and has not freed."},
    {PF_LIVE_BLOCKS, "memwatch_process_live_blocks", "gauge",
     "Blocks the process allocated and has not freed."},
    {PF_ANON_BYTES, "memwatch_process_anon_bytes", "gauge",
     "Private anonymous memory the process maps (heap, arenas, large "
     "blocks; thread stacks left out), full mode only."},
    {PF_ALLOCS, "memwatch_process_allocations_total", "counter",
     "Allocations seen since the daemon attached."},
    {PF_FREES, "memwatch_process_frees_total", "counter",
     "Frees of blocks seen allocated."},
    {PF_UNKNOWN_FREES, "memwatch_process_unknown_frees_total", "counter",
     "Frees of blocks never seen allocated."},
    {PF_THREADS, "memwatch_process_threads", "gauge",
     "Threads of the process running now."},
    {PF_THREADS_STARTED, "memwatch_process_threads_started_total", "counter",
     "Threads seen starting, or running when the daemon attached."},
    {PF_THREADS_EXITED, "memwatch_process_threads_exited_total", "counter",
     "Threads that exited on their own (not with their process)."},
    {PF_LOST, "memwatch_process_events_lost_total", "counter",
     "Events lost while the process was traced."},
    {PF_DROPPED, "memwatch_process_events_dropped_total", "counter",
     "Events the daemon refused at --max-blocks, --max-threads or "
     "--max-keys."},
    {PF_INCOMPLETE, "memwatch_process_incomplete", "gauge",
     "1 when events of the process were lost or dropped: findings that "
     "need them are withheld."},
    {PF_WITHHELD, "memwatch_process_findings_withheld_total", "counter",
     "Findings not reported because their evidence is incomplete."},
    {PF_FINDINGS, "memwatch_process_findings_total", "counter",
     "Findings about the process."},
};

static uint64_t proc_value(const struct proc_sample *s, enum proc_field f)
{
	switch (f) {
	case PF_LIVE_BYTES:
		return s->row.live_bytes;
	case PF_LIVE_BLOCKS:
		return s->row.live_blocks;
	case PF_ANON_BYTES:
		return s->anon_bytes;
	case PF_ALLOCS:
		return s->row.allocs;
	case PF_FREES:
		return s->row.frees;
	case PF_UNKNOWN_FREES:
		return s->row.unknown_frees;
	case PF_THREADS:
		return s->threads_alive;
	case PF_THREADS_STARTED:
		return s->row.threads;
	case PF_THREADS_EXITED:
		return s->threads_exited;
	case PF_LOST:
		return s->row.lost;
	case PF_DROPPED:
		return s->row.dropped;
	case PF_INCOMPLETE:
		return s->row.incomplete_to != 0;
	case PF_WITHHELD:
		return s->row.withheld;
	case PF_FINDINGS:
		return s->row.findings;
	}
	return 0;
}

static void render_processes(struct buf *b, const struct proc_list *l)
{
	uint64_t modes[3] = {0};

	family(b, "memwatch_process_info", "gauge",
	       "Traced processes: 1 each, labelled with what the daemon "
	       "knows of them.");
	for (size_t i = 0; i < l->n; i++) {
		const struct mw_process_row *r = &l->p[i].row;

		buf_printf(b, "memwatch_process_info{pid=\"%u\",comm=\"",
			   r->pid);
		buf_label(b, r->comm);
		buf_printf(b, "\",allocator=\"");
		buf_label(b, r->allocator[0] ? r->allocator : "unknown");
		buf_printf(b, "\",mode=\"%s\",nspid=\"%u\",cgroup=\"",
			   mw_mode_name(r->mode), r->nspid);
		buf_label(b, r->cgroup);
		buf_printf(b, "\"} 1\n");
		if (r->mode == MW_MODE_FULL || r->mode == MW_MODE_TLS)
			modes[r->mode]++;
	}
	family(b, "memwatch_processes_attached", "gauge",
	       "Processes the daemon is attached to, by trace mode.");
	buf_printf(b, "memwatch_processes_attached{mode=\"full\"} %llu\n",
		   (unsigned long long)modes[MW_MODE_FULL]);
	buf_printf(b, "memwatch_processes_attached{mode=\"tls\"} %llu\n",
		   (unsigned long long)modes[MW_MODE_TLS]);

	for (size_t f = 0; f < sizeof(proc_families) / sizeof(proc_families[0]);
	     f++) {
		const struct proc_family *pf = &proc_families[f];

		family(b, pf->name, pf->type, pf->help);
		for (size_t i = 0; i < l->n; i++) {
			buf_printf(b, "%s", pf->name);
			proc_labels(b, &l->p[i].row);
			buf_printf(b, " %llu\n",
				   (unsigned long long)proc_value(&l->p[i],
								  pf->field));
		}
	}
}

struct thread_sample {
	uint32_t pid, tid, state;
	char comm[MW_COMM_MAX];
	uint64_t live_bytes, live_blocks;
};

/* The top threads by live bytes: a min-heap of at most max, its root the
 * smallest kept. */
struct thread_top {
	struct thread_sample *h;
	size_t n, max;
	uint64_t seen;
};

/* a ranks below b: fewer live bytes, then the higher pid and tid, so
 * that ties always resolve the same way. */
static bool ranks_below(const struct thread_sample *a,
			const struct thread_sample *b)
{
	if (a->live_bytes != b->live_bytes)
		return a->live_bytes < b->live_bytes;
	if (a->pid != b->pid)
		return a->pid > b->pid;
	return a->tid > b->tid;
}

static void sift_down(struct thread_top *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i;
		struct thread_sample tmp;

		if (l < t->n && ranks_below(&t->h[l], &t->h[min]))
			min = l;
		if (r < t->n && ranks_below(&t->h[r], &t->h[min]))
			min = r;
		if (min == i)
			return;
		tmp = t->h[i];
		t->h[i] = t->h[min];
		t->h[min] = tmp;
		i = min;
	}
}

static int collect_thread(void *ctx, const struct mw_process_row *p,
			  const struct mw_thread_row *r)
{
	struct thread_top *t = ctx;
	struct thread_sample s = {
	    .pid = r->pid,
	    .tid = r->tid,
	    .state = r->state,
	    .live_bytes = r->live_bytes,
	    .live_blocks = r->live_blocks,
	};

	/* An exited thread holding nothing is only waiting to be
	 * released. */
	if (r->state != MW_THREAD_ALIVE && !r->live_blocks)
		return 0;
	t->seen++;
	if (!t->max)
		return 0;
	memcpy(s.comm, r->comm, sizeof(s.comm));
	s.comm[sizeof(s.comm) - 1] = '\0';
	if (t->n < t->max) {
		size_t i = t->n++;

		t->h[i] = s;
		while (i && ranks_below(&t->h[i], &t->h[(i - 1) / 2])) {
			struct thread_sample tmp = t->h[i];

			t->h[i] = t->h[(i - 1) / 2];
			t->h[(i - 1) / 2] = tmp;
			i = (i - 1) / 2;
		}
	} else if (ranks_below(&t->h[0], &s)) {
		t->h[0] = s;
		sift_down(t, 0);
	}
	return 0;
}

static int cmp_thread_desc(const void *a, const void *b)
{
	return ranks_below(a, b) ? 1 : ranks_below(b, a) ? -1 : 0;
}

static void render_threads(struct buf *b, const struct metrics *m)
{
	static const char *const names[] = {"memwatch_thread_live_bytes",
					    "memwatch_thread_live_blocks"};
	static const char *const helps[] = {
	    "Bytes the thread allocated that are still live, for the threads "
	    "holding the most only (see memwatch_threads_not_exported).",
	    "Blocks the thread allocated that are still live, for the same "
	    "threads."};
	struct thread_top t = {.max = m->cfg.top_threads};

	if (t.max) {
		t.h = calloc(t.max, sizeof(*t.h));
		if (!t.h) {
			b->oom = true;
			return;
		}
	}
	engine__each_thread(m->engine, collect_thread, &t);
	/* t.h is NULL with no thread: qsort takes no NULL base. */
	if (t.n)
		qsort(t.h, t.n, sizeof(*t.h), cmp_thread_desc);
	for (int f = 0; f < 2; f++) {
		family(b, names[f], "gauge", helps[f]);
		for (size_t i = 0; i < t.n; i++) {
			const struct thread_sample *s = &t.h[i];

			buf_printf(b, "%s{pid=\"%u\",tid=\"%u\",comm=\"",
				   names[f], s->pid, s->tid);
			buf_label(b, s->comm);
			buf_printf(b, "\",state=\"%s\"} %llu\n",
				   mw_thread_state_name(s->state),
				   (unsigned long long)(f ? s->live_blocks
							  : s->live_bytes));
		}
	}
	family(b, "memwatch_threads_not_exported", "gauge",
	       "Threads holding memory or running that have no "
	       "memwatch_thread_* series: beyond the top N by live bytes.");
	buf_printf(b, "memwatch_threads_not_exported %llu\n",
		   (unsigned long long)(t.seen - t.n));
	free(t.h);
}

/* --- the daemon itself ---------------------------------------------------- */

static uint64_t file_size(const char *path, const char *suffix)
{
	char p[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(p, sizeof(p), "%s%s", path, suffix) >= sizeof(p) ||
	    stat(p, &st))
		return 0;
	return (uint64_t)st.st_size;
}

static uint64_t rss_bytes(void)
{
	unsigned long size, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Retention's counters: rows removed by table, processes by level, the
 * time its steps took. */
static void render_retention(struct buf *b, const struct retention_stats *r)
{
	const struct {
		const char *table;
		uint64_t n;
	} t[] = {
		{"live_blocks", r->rows.blocks},   {"tls_bindings", r->rows.bindings},
		{"keys", r->rows.keys},		   {"threads", r->rows.threads},
		{"stacks", r->rows.stacks},	   {"sites", r->rows.sites},
		{"findings", r->rows.findings},	   {"processes", r->rows.processes},
	};

	family(b, "memwatch_database_pruned_rows_total", "counter",
	       "Rows retention removed from the database, by table "
	       "(--keep-days, --keep-findings-days, --max-db-mb).");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		buf_printf(b,
			   "memwatch_database_pruned_rows_total{table=\"%s\"} "
			   "%llu\n",
			   t[i].table, (unsigned long long)t[i].n);
	family(b, "memwatch_database_pruned_processes_total", "counter",
	       "Ended processes retention removed: their raw rows (threads, "
	       "keys, bindings, blocks), or all their rows.");
	buf_printf(b,
		   "memwatch_database_pruned_processes_total{rows=\"raw\"} "
		   "%llu\n"
		   "memwatch_database_pruned_processes_total{rows=\"all\"} "
		   "%llu\n",
		   (unsigned long long)r->raw_processes,
		   (unsigned long long)r->rows.processes);
	family(b, "memwatch_database_prune_seconds_total", "counter",
	       "Time retention's steps took, all of them.");
	buf_printf(b, "memwatch_database_prune_seconds_total %.6f\n",
		   (double)r->step_ns / NS);
	family(b, "memwatch_database_prune_step_max_seconds", "gauge",
	       "The longest time one retention step held the daemon's loop.");
	buf_printf(b, "memwatch_database_prune_step_max_seconds %.6f\n",
		   (double)r->step_max_ns / NS);
}

static void render_daemon(struct buf *b, const struct metrics *m)
{
	struct rusage ru;
	double cpu = 0;
	uint64_t cum = 0;

	if (!getrusage(RUSAGE_SELF, &ru))
		cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	family(b, "memwatch_build_info", "gauge",
	       "The memwatchd version running: always 1.");
	buf_printf(b, "memwatch_build_info{version=\"%s\"} 1\n", VERSION);
	family(b, "memwatch_daemon_start_time_seconds", "gauge",
	       "When the daemon started, in seconds since the Unix epoch.");
	buf_printf(b, "memwatch_daemon_start_time_seconds %.3f\n",
		   m->start_time);
	family(b, "memwatch_daemon_cpu_seconds_total", "counter",
	       "CPU time the daemon used, user and system.");
	buf_printf(b, "memwatch_daemon_cpu_seconds_total %.6f\n", cpu);
	family(b, "memwatch_daemon_resident_memory_bytes", "gauge",
	       "The daemon's resident memory.");
	buf_printf(b, "memwatch_daemon_resident_memory_bytes %llu\n",
		   (unsigned long long)rss_bytes());
	family(b, "memwatch_database_size_bytes", "gauge",
	       "Size of the database file and its write-ahead log.");
	buf_printf(b, "memwatch_database_size_bytes %llu\n",
		   (unsigned long long)file_size(m->cfg.db, "") +
		       file_size(m->cfg.db, "-wal"));
	family(b, "memwatch_flush_duration_seconds", "histogram",
	       "Time one flush of the engine's changes to the database "
	       "took.");
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += m->flush_buckets[i];
		buf_printf(b,
			   "memwatch_flush_duration_seconds_bucket{le=\"%g\"} "
			   "%llu\n",
			   flush_buckets[i], (unsigned long long)cum);
	}
	buf_printf(b,
		   "memwatch_flush_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		   "memwatch_flush_duration_seconds_sum %.6f\n"
		   "memwatch_flush_duration_seconds_count %llu\n",
		   (unsigned long long)m->flushes, m->flush_seconds,
		   (unsigned long long)m->flushes);
	family(b, "memwatch_flush_errors_total", "counter",
	       "Flushes the database refused; the engine keeps the changes "
	       "and hands them over again.");
	buf_printf(b, "memwatch_flush_errors_total %llu\n",
		   (unsigned long long)m->flush_errors);
	if (m->retention) {
		render_retention(b, m->retention);
	} else {
		struct retention_stats none = {0};

		render_retention(b, &none);
	}
}

/* Losses as the kernel counted them, and the bounds' counters. */
static void render_overload(struct buf *b, const struct metrics *m,
			    const struct engine_stats *st)
{
	static const char *const reason[MW_COLLECTOR_COUNTERS] = {
		[MW_CNT_DROPPED] = "ringbuf_full",
		[MW_CNT_PENDING_FULL] = "pending_full",
		[MW_CNT_DL_FULL] = "pending_dl_full",
	};
	uint64_t cnt[MW_COLLECTOR_COUNTERS] = {0}, bytes;
	uint32_t pid;

	if (m->col)
		collector__counters(m->col, cnt);
	family(b, "memwatch_bpf_records_total", "counter",
	       "Records the kernel side put in the ring buffer.");
	buf_printf(b, "memwatch_bpf_records_total %llu\n",
		   (unsigned long long)cnt[MW_CNT_EMITTED]);
	family(b, "memwatch_bpf_records_lost_total", "counter",
	       "Records the kernel side lost, counted in the kernel, by "
	       "reason.");
	for (int i = 0; i < MW_COLLECTOR_COUNTERS; i++)
		if (reason[i])
			buf_printf(b,
				   "memwatch_bpf_records_lost_total{reason="
				   "\"%s\"} %llu\n",
				   reason[i], (unsigned long long)cnt[i]);
	family(b, "memwatch_bpf_stack_walks_failed_total", "counter",
	       "Allocations reported without their stack (walk failed).");
	buf_printf(b, "memwatch_bpf_stack_walks_failed_total %llu\n",
		   (unsigned long long)cnt[MW_CNT_NO_STACK]);
	family(b, "memwatch_events_dropped_total", "counter",
	       "Events the daemon refused at --max-blocks, --max-threads or "
	       "--max-keys.");
	buf_printf(b, "memwatch_events_dropped_total %llu\n",
		   (unsigned long long)st->dropped);
	family(b, "memwatch_findings_withheld_total", "counter",
	       "Findings not reported because events they need were lost "
	       "or dropped.");
	buf_printf(b, "memwatch_findings_withheld_total %llu\n",
		   (unsigned long long)st->withheld);
	family(b, "memwatch_engine_memory_bytes", "gauge",
	       "The daemon's tables for the traced processes, estimated "
	       "(--max-memory-mb applies to it).");
	buf_printf(b, "memwatch_engine_memory_bytes %llu\n",
		   (unsigned long long)engine__memory(m->engine, &pid,
						      &bytes));
	family(b, "memwatch_processes_shed_total", "counter",
	       "Processes detached because the daemon passed "
	       "--max-memory-mb.");
	buf_printf(b, "memwatch_processes_shed_total %llu\n",
		   (unsigned long long)(m->shed ? *m->shed : 0));
}

/* --- the page ------------------------------------------------------------- */

static void render(struct metrics *m, struct buf *b)
{
	struct proc_list procs = {0};
	struct engine_stats st;

	engine__stats(m->engine, &st);
	render_daemon(b, m);

	family(b, "memwatch_events_total", "counter",
	       "Events the engine was fed.");
	buf_printf(b, "memwatch_events_total %llu\n",
		   (unsigned long long)st.events);
	family(b, "memwatch_events_lost_total", "counter",
	       "Events the kernel could not deliver (ring buffer or BPF map "
	       "full), as the daemon took them: equal to the sum of "
	       "memwatch_bpf_records_lost_total once quiet.");
	buf_printf(b, "memwatch_events_lost_total %llu\n",
		   (unsigned long long)st.lost);
	render_overload(b, m, &st);
	family(b, "memwatch_live_blocks", "gauge",
	       "Live blocks across the traced processes.");
	buf_printf(b, "memwatch_live_blocks %llu\n",
		   (unsigned long long)st.live_blocks);
	family(b, "memwatch_tls_candidates_pending", "gauge",
	       "TLS blocks whose thread or key died, waiting out the grace "
	       "period.");
	buf_printf(b, "memwatch_tls_candidates_pending %llu\n",
		   (unsigned long long)st.pending);
	family(b, "memwatch_stacks", "gauge",
	       "Distinct allocating stacks held.");
	buf_printf(b, "memwatch_stacks %llu\n", (unsigned long long)st.stacks);

	/* Every kind and severity from the start, at 0: a counter that
	 * first appears at 3 would hide its first increase. */
	family(b, "memwatch_findings_total", "counter",
	       "Findings made since the daemon started, by kind and "
	       "severity (a finding over time counts once).");
	for (uint32_t k = 1; k < MW_FIND_KIND_MAX; k++)
		for (uint32_t s = MW_SEV_LOW; s <= MW_SEV_HIGH; s++)
			buf_printf(b,
				   "memwatch_findings_total{kind=\"%s\","
				   "severity=\"%s\"} %llu\n",
				   mw_finding_kind_name(k), mw_severity_name(s),
				   (unsigned long long)m->findings[k][s]);
	family(b, "memwatch_process_ends_total", "counter",
	       "Processes no longer traced: they exited, or the daemon "
	       "detached from them while they ran.");
	buf_printf(b, "memwatch_process_ends_total{reason=\"exited\"} %llu\n",
		   (unsigned long long)m->ended[MW_PROC_EXITED]);
	buf_printf(b, "memwatch_process_ends_total{reason=\"detached\"} %llu\n",
		   (unsigned long long)m->ended[MW_PROC_DETACHED]);
	family(b, "memwatch_target_watched", "gauge",
	       "Targets watched by name: 1 each (processes running them are "
	       "attached as they start).");
	for (int i = 0; i < m->ntargets; i++) {
		buf_printf(b, "memwatch_target_watched{kind=\"%s\",target=\"",
			   m->targets[i].kind);
		buf_label(b, m->targets[i].name);
		buf_printf(b, "\",mode=\"%s\"} 1\n",
			   m->targets[i].tls ? "tls" : "full");
	}

	if (engine__each_process(m->engine, collect_proc, &procs) || procs.oom)
		b->oom = true;
	else
		render_processes(b, &procs);
	free(procs.p);
	render_threads(b, m);
}

/* --- HTTP ----------------------------------------------------------------- */

static const char index_page[] =
    "<html><head><title>memwatchd</title></head><body>\n"
    "<h1>memwatchd</h1><p><a href=\"/metrics\">Metrics</a></p>\n"
    "</body></html>\n";

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status,
			       const char *type, void *body, size_t len,
			       enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	if (type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_size, void **con_cls)
{
	static const char text[] = "text/plain; charset=utf-8";
	static char not_found[] = "not found: try /metrics\n";
	static char bad_method[] = "only GET and HEAD\n";
	static char no_memory[] = "out of memory\n";
	struct metrics *m = cls;
	struct buf b = {0};

	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, bad_method,
			       sizeof(bad_method) - 1, MHD_RESPMEM_PERSISTENT);
	if (!strcmp(url, "/"))
		return respond(c, MHD_HTTP_OK, "text/html; charset=utf-8",
			       (void *)index_page, sizeof(index_page) - 1,
			       MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics"))
		return respond(c, MHD_HTTP_NOT_FOUND, text, not_found,
			       sizeof(not_found) - 1, MHD_RESPMEM_PERSISTENT);
	render(m, &b);
	if (b.oom) {
		free(b.p);
		log_warnx("metrics: out of memory rendering the page");
		return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text,
			       no_memory, sizeof(no_memory) - 1,
			       MHD_RESPMEM_PERSISTENT);
	}
	/* MHD frees the page once it is sent, or when the client goes. */
	return respond(c, MHD_HTTP_OK,
		       "text/plain; version=0.0.4; charset=utf-8", b.p, b.len,
		       MHD_RESPMEM_MUST_FREE);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("metrics: %s", msg);
}

int metrics__parse_listen(const char *s, struct sockaddr_storage *ss,
			  socklen_t *len)
{
	char host[64];
	const char *colon, *h = s;
	size_t hlen;
	uint64_t port;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (!hlen || hlen >= sizeof(host) ||
	    parse__u64(colon + 1, 65535, &port) || !port)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (*s == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (!strcmp(host, "localhost"))
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
	}
	return 0;
}

/* A listening TCP socket on addr, or -errno. */
static int listen_on(const struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1, fd, err;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (const struct sockaddr *)ss, len) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Serve HTTP on cfg->listen. 0, or -errno for a failure the caller
 * reports. */
static int start_http(struct metrics *m)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	socklen_t len;
	int fd;

	if (metrics__parse_listen(m->cfg.listen, &ss, &len))
		return -EINVAL;
	fd = listen_on(&ss, len);
	if (fd < 0)
		return fd;
	/* No thread of its own: MHD_USE_EPOLL without an internal polling
	 * thread is driven by MHD_run from the daemon's loop. */
	m->mhd = MHD_start_daemon(
	    MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
		(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    0, NULL, NULL, on_http, m, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, m, MHD_OPTION_END);
	if (!m->mhd) {
		close(fd);
		return -EIO;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0)
		return -EIO;
	m->epfd = info->epoll_fd;
	return 0;
}

struct metrics *metrics__new(const struct metrics_config *cfg,
			     const struct engine *e)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct timespec now;
	int err;

	if (!m)
		return NULL;
	m->cfg = *cfg;
	m->engine = e;
	m->epfd = -1;
	hmap__init(&m->counted);
	hmap__init(&m->held);
	clock_gettime(CLOCK_REALTIME, &now);
	m->start_time = (double)now.tv_sec + now.tv_nsec / NS;
	if (m->cfg.top_threads > METRICS_MAX_THREADS)
		m->cfg.top_threads = METRICS_MAX_THREADS;
	if (!m->cfg.listen)
		return m;
	err = start_http(m);
	if (!err) {
		log_info("serving metrics on http://%s/metrics", m->cfg.listen);
		return m;
	}
	if (m->cfg.listen_explicit) {
		metrics__free(m);
		errno = -err;
		return NULL;
	}
	/* Only the default address: another daemon (or exporter) may hold
	 * it, and tracing matters more than this endpoint. */
	log_warnx("metrics: cannot listen on '%s': %s; no /metrics "
		  "(set metrics-listen)",
		  m->cfg.listen, strerror(-err));
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	m->mhd = NULL;
	m->epfd = -1;
	return m;
}

void metrics__overload(struct metrics *m, const struct collector *c,
		       const uint64_t *shed)
{
	if (!m)
		return;
	m->col = c;
	m->shed = shed;
}

void metrics__retention(struct metrics *m, const struct retention_stats *st)
{
	m->retention = st;
}

void metrics__free(struct metrics *m)
{
	if (!m)
		return;
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	for (int i = 0; i < m->ntargets; i++)
		free(m->targets[i].name);
	hmap__fini(&m->counted);
	free(m->staged);
	hmap__fini(&m->held);
	free(m);
}

int metrics__fd(const struct metrics *m)
{
	return m && m->mhd ? m->epfd : -1;
}

void metrics__serve(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG timeout;

	if (!m || !m->mhd)
		return;
	/* With edge-triggered sockets MHD may have work left that no fd
	 * will announce (a response ready to send): it says so with a zero
	 * timeout. A few rounds finish a scrape; the timer does the rest. */
	for (int i = 0; i < 8; i++) {
		MHD_run(m->mhd);
		if (MHD_get_timeout(m->mhd, &timeout) != MHD_YES || timeout)
			break;
	}
}

/* --- counting what flushes commit ----------------------------------------- */

/*
 * Kinds whose finding is about one block: the engine hands each over
 * once, so they need no memory of what was counted. A finding over time
 * (a site, a thread, an allocator) is handed over again whenever its
 * evidence grows; those are remembered by id while their process lives.
 */
static bool one_block_kind(uint32_t kind)
{
	return kind == MW_FIND_TLS_OUTLIVED_THREAD ||
	       kind == MW_FIND_TLS_OUTLIVED_KEY ||
	       kind == MW_FIND_TLS_OVERWRITTEN ||
	       kind == MW_FIND_TLS_OUTLIVED_MODULE;
}

struct ends {
	struct metrics *m;
	struct hmap now; /* the ended processes held now */
};

static int note_end(void *ctx, const struct engine_proc_view *pv)
{
	struct ends *x = ctx;
	uint32_t state = pv->row->state;

	if (state == MW_PROC_TRACING || state >= NSTATE)
		return 0;
	if (!hmap__get(&x->m->held, pv->row->id))
		x->m->ended[state]++;
	/* states are never 0: a valid value */
	hmap__put(&x->now, pv->row->id, (void *)(uintptr_t)state);
	return 0;
}

/* Forget the findings over time of processes the engine let go: they
 * will never be handed over again. */
static void forget_findings(struct metrics *m, const struct hmap *gone)
{
	struct vec ids = {0};
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&m->counted, &pos, &k, &v))
		if (hmap__get(gone, (uint64_t)(uintptr_t)v))
			vec__push(&ids, (void *)(uintptr_t)k);
	for (size_t i = 0; i < ids.len; i++)
		hmap__del(&m->counted, (uint64_t)(uintptr_t)ids.items[i]);
	vec__fini(&ids);
}

/*
 * A process whose tracing ended is counted when first seen ended; it
 * stays in the engine's hands until all its rows are written, which may
 * take more than one flush, and it has gone once it is no longer seen.
 */
static void count_ends(struct metrics *m)
{
	struct ends x = {.m = m};
	struct hmap gone;
	size_t pos = 0;
	uint64_t k;
	void *v;

	hmap__init(&x.now);
	hmap__init(&gone);
	engine__each_process(m->engine, note_end, &x);
	while (hmap__next(&m->held, &pos, &k, &v))
		if (!hmap__get(&x.now, k))
			hmap__put(&gone, k, v);
	if (gone.len)
		forget_findings(m, &gone);
	hmap__fini(&gone);
	hmap__fini(&m->held);
	m->held = x.now;
}

void metrics__flush_begin(struct metrics *m)
{
	if (!m)
		return;
	m->flush_start = mono_ns();
	m->nstaged = 0;
	count_ends(m);
}

void metrics__finding(struct metrics *m, const struct mw_finding_row *r)
{
	if (!m)
		return;
	if (m->nstaged == m->cap_staged) {
		size_t cap = m->cap_staged ? m->cap_staged * 2 : 64;
		struct staged_finding *p = realloc(m->staged, cap * sizeof(*p));

		if (!p)
			return; /* undercounted, never wrong otherwise */
		m->staged = p;
		m->cap_staged = cap;
	}
	m->staged[m->nstaged++] = (struct staged_finding){
	    .id = r->id,
	    .proc_id = r->proc_id,
	    .kind = r->kind,
	    .severity = r->severity,
	};
}

/* The flush committed: count what it handed over for the first time. */
static void count_committed(struct metrics *m)
{
	for (size_t i = 0; i < m->nstaged; i++) {
		const struct staged_finding *f = &m->staged[i];

		if (f->kind >= MW_FIND_KIND_MAX || f->severity >= NSEV)
			continue;
		if (!one_block_kind(f->kind)) {
			if (hmap__get(&m->counted, f->id))
				continue;
			/* proc ids are serials, never 0: a valid value */
			if (hmap__put(&m->counted, f->id,
				      (void *)(uintptr_t)f->proc_id))
				continue;
		}
		m->findings[f->kind][f->severity]++;
	}
}

/* Write the page to the textfile: a temporary file renamed over it, so
 * node_exporter never reads half a page. The temporary name does not end
 * in .prom, which node_exporter would read. */
static int write_textfile(struct metrics *m)
{
	char tmp[PATH_MAX];
	struct buf b = {0};
	size_t off = 0;
	int fd, err = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", m->cfg.textfile) >=
	    sizeof(tmp))
		return -ENAMETOOLONG;
	render(m, &b);
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	/* A new file each time, never one found there: in a directory others
	 * may write to, a file or hard link planted under the temporary name
	 * would be truncated and made world-readable. A name planted between
	 * the unlink and the open fails this write, harming nothing. */
	if (unlink(tmp) && errno != ENOENT) {
		err = -errno;
		goto cleanup;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0644);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	/* node_exporter runs as another user: readable by all, whatever
	 * the umask (the unit's is 0077). */
	if (fchmod(fd, 0644))
		err = -errno;
	while (!err && off < b.len) {
		ssize_t n = write(fd, b.p + off, b.len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, m->cfg.textfile))
		err = -errno;
	if (err)
		unlink(tmp);
cleanup:
	free(b.p);
	return err;
}

void metrics__flush_end(struct metrics *m, int err)
{
	double secs;
	size_t i;

	if (!m)
		return;
	secs = (double)(mono_ns() - m->flush_start) / NS;
	for (i = 0; i < NBUCKETS && secs > flush_buckets[i]; i++)
		;
	if (i < NBUCKETS)
		m->flush_buckets[i]++;
	m->flushes++;
	m->flush_seconds += secs;
	if (err)
		m->flush_errors++;
	else
		count_committed(m);
	m->nstaged = 0;
	if (!m->cfg.textfile)
		return;
	err = write_textfile(m);
	if (err && err != m->textfile_err)
		log_warnx("metrics: cannot write '%s': %s", m->cfg.textfile,
			  strerror(-err));
	else if (!err && m->textfile_err)
		log_info("metrics: writing '%s' again", m->cfg.textfile);
	m->textfile_err = err;
}

void metrics__watch(struct metrics *m, const char *kind, const char *name,
		    enum collector_watch how)
{
	int i;

	if (!m)
		return;
	for (i = 0; i < m->ntargets; i++)
		if (!strcmp(m->targets[i].kind, kind) &&
		    !strcmp(m->targets[i].name, name))
			break;
	if (how == COLLECTOR_UNWATCH) {
		if (i == m->ntargets)
			return;
		free(m->targets[i].name);
		m->targets[i] = m->targets[--m->ntargets];
		return;
	}
	if (i == m->ntargets) {
		if (m->ntargets == MAX_TARGETS)
			return; /* bounded: the rest have no series */
		m->targets[i].name = strdup(name);
		if (!m->targets[i].name)
			return;
		snprintf(m->targets[i].kind, sizeof(m->targets[i].kind), "%s",
			 kind);
		m->ntargets++;
	}
	m->targets[i].tls = how == COLLECTOR_WATCH_TLS;
}
