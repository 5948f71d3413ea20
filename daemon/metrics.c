/*
 * metrics.c - memwatchd's Prometheus export: the page, and the export's
 * life; see metrics.h.
 *
 * Each scrape (and each textfile write) renders the whole page into one
 * growable buffer from what the engine holds now, plus the few counters
 * kept here: findings by kind and severity, processes whose tracing
 * ended, flush durations (metrics_flush.c counts them). The HTTP server
 * (metrics_http.c) hands the page to libmicrohttpd, which frees it once
 * sent, so nothing outlives a scrape.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kfeature.h"
#include "log.h"
#include "memwatch.h"
#include "metrics_http.h"
#include "metrics_int.h"
#include "symbolizer.h"
#include "version.h"

/* --- the exposition format (metrics_format.c) ---------------------------- */

/* Family name, one sample for every kind and severity, from the start at
 * 0: a counter that first appears at 3 would hide its first increase. */
static void by_kind_severity(struct strbuf *b, const char *name,
			     const char *type, const char *help,
			     const uint64_t (*v)[NSEV])
{
	metrics__family(b, name, type, help);
	for (uint32_t k = 1; k < MW_FIND_KIND_MAX; k++)
		for (uint32_t s = MW_SEV_LOW; s <= MW_SEV_HIGH; s++)
			strbuf__printf(b, "%s{kind=\"%s\",severity=\"%s\"} %llu\n",
				       name, mw_finding_kind_name(k),
				       mw_severity_name(s),
				       (unsigned long long)v[k][s]);
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

static void proc_labels(struct strbuf *b, const struct mw_process_row *r)
{
	strbuf__printf(b, "{");
	metrics__proc_labels(b, r);
	strbuf__printf(b, "}");
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

static void render_processes(struct strbuf *b, const struct proc_list *l)
{
	uint64_t modes[3] = {0};

	metrics__family(b, "memwatch_process_info", "gauge",
	       "Traced processes: 1 each, labelled with what the daemon "
	       "knows of them.");
	for (size_t i = 0; i < l->n; i++) {
		const struct mw_process_row *r = &l->p[i].row;

		strbuf__printf(b, "memwatch_process_info{");
		metrics__proc_labels(b, r);
		strbuf__printf(b, ",allocator=\"");
		metrics__label(b, r->allocator[0] ? r->allocator : "unknown");
		strbuf__printf(b, "\",mode=\"%s\",nspid=\"%u\",cgroup=\"",
			       mw_mode_name(r->mode), r->nspid);
		metrics__label(b, r->cgroup);
		strbuf__printf(b, "\"} 1\n");
		if (r->mode == MW_MODE_FULL || r->mode == MW_MODE_TLS)
			modes[r->mode]++;
	}
	metrics__family(b, "memwatch_processes_attached", "gauge",
	       "Processes the daemon is attached to, by trace mode.");
	strbuf__printf(b, "memwatch_processes_attached{mode=\"full\"} %llu\n",
		       (unsigned long long)modes[MW_MODE_FULL]);
	strbuf__printf(b, "memwatch_processes_attached{mode=\"tls\"} %llu\n",
		       (unsigned long long)modes[MW_MODE_TLS]);

	for (size_t f = 0; f < sizeof(proc_families) / sizeof(proc_families[0]);
	     f++) {
		const struct proc_family *pf = &proc_families[f];

		metrics__family(b, pf->name, pf->type, pf->help);
		for (size_t i = 0; i < l->n; i++) {
			strbuf__printf(b, "%s", pf->name);
			proc_labels(b, &l->p[i].row);
			strbuf__printf(b, " %llu\n",
				       (unsigned long long)proc_value(
					   &l->p[i], pf->field));
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

static void render_threads(struct strbuf *b, const struct metrics *m)
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
		metrics__family(b, names[f], "gauge", helps[f]);
		for (size_t i = 0; i < t.n; i++) {
			const struct thread_sample *s = &t.h[i];

			strbuf__printf(b, "%s{pid=\"%u\",tid=\"%u\",comm=\"",
				       names[f], s->pid, s->tid);
			metrics__label(b, s->comm);
			strbuf__printf(b, "\",state=\"%s\"} %llu\n",
				       mw_thread_state_name(s->state),
				       (unsigned long long)(f ? s->live_blocks
							      : s->live_bytes));
		}
	}
	metrics__family(b, "memwatch_threads_not_exported", "gauge",
	       "Threads holding memory or running that have no "
	       "memwatch_thread_* series: beyond the top N by live bytes.");
	strbuf__printf(b, "memwatch_threads_not_exported %llu\n",
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
static void render_retention(struct strbuf *b, const struct retention_stats *r)
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

	metrics__family(b, "memwatch_database_pruned_rows_total", "counter",
	       "Rows retention removed from the database, by table "
	       "(--keep-days, --keep-findings-days, --max-db-mb).");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		strbuf__printf(
		    b,
		    "memwatch_database_pruned_rows_total{table=\"%s\"} "
		    "%llu\n",
		    t[i].table, (unsigned long long)t[i].n);
	metrics__family(b, "memwatch_database_pruned_processes_total", "counter",
	       "Ended processes retention removed: their raw rows (threads, "
	       "keys, bindings, blocks), or all their rows.");
	strbuf__printf(b,
		       "memwatch_database_pruned_processes_total{rows=\"raw\"} "
		       "%llu\n"
		       "memwatch_database_pruned_processes_total{rows=\"all\"} "
		       "%llu\n",
		       (unsigned long long)r->raw_processes,
		       (unsigned long long)r->rows.processes);
	metrics__family(b, "memwatch_database_prune_seconds_total", "counter",
	       "Time retention's steps took, all of them.");
	strbuf__printf(b, "memwatch_database_prune_seconds_total %.6f\n",
		       (double)r->step_ns / NS);
	metrics__family(b, "memwatch_database_prune_step_max_seconds", "gauge",
	       "The longest time one retention step held the daemon's loop.");
	strbuf__printf(b, "memwatch_database_prune_step_max_seconds %.6f\n",
		       (double)r->step_max_ns / NS);
}

/* The symbolizer's worker (symworker.c): source lines and debug-file
 * names asked off the loop, and what a full queue dropped. */
static void render_symbolizer(struct strbuf *b, const struct metrics *m)
{
	struct symbolizer_stats st = {0};

	if (m->sym)
		symbolizer__get_stats(m->sym, &st);
	metrics__family(b, "memwatch_symbolize_requests_total", "counter",
	       "Call sites' source lines asked of the symbolizer's worker "
	       "thread, by result: queued, answered, or dropped (its queue "
	       "was full: the site keeps the name the loop found).");
	strbuf__printf(b,
		       "memwatch_symbolize_requests_total{result=\"queued\"} "
		       "%llu\n"
		       "memwatch_symbolize_requests_total{result=\"answered\"} "
		       "%llu\n"
		       "memwatch_symbolize_requests_total{result=\"dropped\"} "
		       "%llu\n",
		       (unsigned long long)st.asked,
		       (unsigned long long)st.answered,
		       (unsigned long long)st.dropped);
	metrics__family(b, "memwatch_symbolize_sites_rewritten_total", "counter",
	       "Site rows written again with the worker's answer.");
	strbuf__printf(b, "memwatch_symbolize_sites_rewritten_total %llu\n",
		       (unsigned long long)st.rewritten);
}

static void render_daemon(struct strbuf *b, const struct metrics *m)
{
	struct rusage ru;
	double cpu = 0;
	uint64_t cum = 0;

	if (!getrusage(RUSAGE_SELF, &ru))
		cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	metrics__family(b, "memwatch_build_info", "gauge",
	       "The memwatchd version running: always 1.");
	strbuf__printf(b, "memwatch_build_info{version=\"%s\"} 1\n", VERSION);
	if (m->kernel) {
		metrics__family(b, "memwatch_kernel_info", "gauge",
		       "The kernel memwatchd runs on: always 1.");
		strbuf__printf(b, "memwatch_kernel_info{release=\"");
		metrics__label(b, m->kernel->release);
		strbuf__printf(b, "\"} 1\n");
		metrics__family(b, "memwatch_kernel_feature", "gauge",
		       "1 if the kernel has the feature, 0 if memwatch does "
		       "without it (memwatchd --features says how).");
		for (int f = 0; f < MW_KF_MAX; f++)
			strbuf__printf(b,
				       "memwatch_kernel_feature{feature=\"%s\","
				       "required=\"%s\"} %d\n",
				       mw_kfeature(f)->name,
				       mw_kfeature(f)->required ? "yes" : "no",
				       !!(m->kernel->found & (1u << f)));
	}
	metrics__family(b, "memwatch_daemon_start_time_seconds", "gauge",
	       "When the daemon started, in seconds since the Unix epoch.");
	strbuf__printf(b, "memwatch_daemon_start_time_seconds %.3f\n",
		       m->start_time);
	metrics__family(b, "memwatch_daemon_cpu_seconds_total", "counter",
	       "CPU time the daemon used, user and system.");
	strbuf__printf(b, "memwatch_daemon_cpu_seconds_total %.6f\n", cpu);
	metrics__family(b, "memwatch_daemon_resident_memory_bytes", "gauge",
	       "The daemon's resident memory.");
	strbuf__printf(b, "memwatch_daemon_resident_memory_bytes %llu\n",
		       (unsigned long long)rss_bytes());
	metrics__family(b, "memwatch_database_size_bytes", "gauge",
	       "Size of the database file and its write-ahead log.");
	strbuf__printf(b, "memwatch_database_size_bytes %llu\n",
		       (unsigned long long)file_size(m->cfg.db, "") +
			   file_size(m->cfg.db, "-wal"));
	metrics__family(b, "memwatch_flush_duration_seconds", "histogram",
	       "Time one flush of the engine's changes to the database "
	       "took.");
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += m->flush_buckets[i];
		strbuf__printf(
		    b,
		    "memwatch_flush_duration_seconds_bucket{le=\"%g\"} "
		    "%llu\n",
		    flush_buckets[i], (unsigned long long)cum);
	}
	strbuf__printf(
	    b,
	    "memwatch_flush_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "memwatch_flush_duration_seconds_sum %.6f\n"
	    "memwatch_flush_duration_seconds_count %llu\n",
	    (unsigned long long)m->flushes, m->flush_seconds,
	    (unsigned long long)m->flushes);
	metrics__family(b, "memwatch_flush_errors_total", "counter",
	       "Flushes the database refused; the engine keeps the changes "
	       "and hands them over again.");
	strbuf__printf(b, "memwatch_flush_errors_total %llu\n",
		       (unsigned long long)m->flush_errors);
	if (m->retention) {
		render_retention(b, m->retention);
	} else {
		struct retention_stats none = {0};

		render_retention(b, &none);
	}
	render_symbolizer(b, m);
}

/* Stacks unwound from copies (code without frame pointers): what it
 * costs the loop, and how often a stack kept its frame-pointer walk. */
static void render_unwind(struct strbuf *b, const struct metrics *m)
{
	struct collector_unwind_stats u = {0};

	if (m->col)
		collector__unwind_stats(m->col, &u);
	metrics__family(b, "memwatch_unwind_stacks_total", "counter",
	       "Stacks of code without frame pointers, by result: ok, failed "
	       "(a copy unwound from .eh_frame, or no frame), missed (the "
	       "key's copy never came: the frame-pointer walk was kept), "
	       "skipped (over the loop's budget: the walk was kept), walked "
	       "(by the kernel, with rules learned from copies).");
	strbuf__printf(b,
		       "memwatch_unwind_stacks_total{result=\"ok\"} %llu\n"
		       "memwatch_unwind_stacks_total{result=\"failed\"} %llu\n"
		       "memwatch_unwind_stacks_total{result=\"missed\"} %llu\n"
		       "memwatch_unwind_stacks_total{result=\"skipped\"} %llu\n"
		       "memwatch_unwind_stacks_total{result=\"walked\"} %llu\n",
		       (unsigned long long)(u.unwound - u.failed),
		       (unsigned long long)u.failed,
		       (unsigned long long)u.missed,
		       (unsigned long long)u.skipped,
		       (unsigned long long)u.walked);
	metrics__family(b, "memwatch_unwind_rules_total", "counter",
	       "Unwinding rules of code addresses given to the kernel's walk, "
	       "learned from stack copies.");
	strbuf__printf(b, "memwatch_unwind_rules_total %llu\n",
		       (unsigned long long)u.rules);
	metrics__family(b, "memwatch_unwind_seconds_total", "counter",
	       "Time the daemon's loop spent unwinding stack copies.");
	strbuf__printf(b, "memwatch_unwind_seconds_total %.6f\n",
		       (double)u.spent_ns / 1e9);
}

/* Losses as the kernel counted them, and the bounds' counters. */
static void render_overload(struct strbuf *b, const struct metrics *m,
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
	metrics__family(b, "memwatch_bpf_records_total", "counter",
	       "Records the kernel side put in the ring buffer.");
	strbuf__printf(b, "memwatch_bpf_records_total %llu\n",
		       (unsigned long long)cnt[MW_CNT_EMITTED]);
	metrics__family(b, "memwatch_bpf_records_lost_total", "counter",
	       "Records the kernel side lost, counted in the kernel, by "
	       "reason.");
	for (int i = 0; i < MW_COLLECTOR_COUNTERS; i++)
		if (reason[i])
			strbuf__printf(b,
				       "memwatch_bpf_records_lost_total{reason="
				       "\"%s\"} %llu\n",
				       reason[i], (unsigned long long)cnt[i]);
	metrics__family(b, "memwatch_bpf_stack_walks_failed_total", "counter",
	       "Allocations reported without their stack (walk failed).");
	strbuf__printf(b, "memwatch_bpf_stack_walks_failed_total %llu\n",
		       (unsigned long long)cnt[MW_CNT_NO_STACK]);
	render_unwind(b, m);
	metrics__family(b, "memwatch_bpf_pool_state_lost_total", "counter",
	       "Calls of --alloc/--free pairs whose state found its map full: "
	       "an overlap they were part of went unseen.");
	strbuf__printf(b, "memwatch_bpf_pool_state_lost_total %llu\n",
		       (unsigned long long)cnt[MW_CNT_POOL_FULL]);
	metrics__family(b, "memwatch_events_dropped_total", "counter",
	       "Events the daemon refused at --max-blocks, --max-threads or "
	       "--max-keys.");
	strbuf__printf(b, "memwatch_events_dropped_total %llu\n",
		       (unsigned long long)st->dropped);
	metrics__family(b, "memwatch_findings_withheld_total", "counter",
	       "Findings not reported because events they need were lost "
	       "or dropped.");
	strbuf__printf(b, "memwatch_findings_withheld_total %llu\n",
		       (unsigned long long)st->withheld);
	metrics__family(b, "memwatch_engine_memory_bytes", "gauge",
	       "The daemon's tables for the traced processes, estimated "
	       "(--max-memory-mb applies to it).");
	strbuf__printf(
	    b, "memwatch_engine_memory_bytes %llu\n",
	    (unsigned long long)engine__memory(m->engine, &pid, &bytes));
	metrics__family(b, "memwatch_processes_shed_total", "counter",
	       "Processes detached because the daemon passed "
	       "--max-memory-mb.");
	strbuf__printf(b, "memwatch_processes_shed_total %llu\n",
		       (unsigned long long)(m->shed ? *m->shed : 0));
}

/* --- the page ------------------------------------------------------------- */

void metrics__render(const struct metrics *m, struct strbuf *b)
{
	struct proc_list procs = {0};
	struct engine_stats st;

	engine__stats(m->engine, &st);
	render_daemon(b, m);

	metrics__family(b, "memwatch_events_total", "counter",
	       "Events the engine was fed.");
	strbuf__printf(b, "memwatch_events_total %llu\n",
		       (unsigned long long)st.events);
	metrics__family(b, "memwatch_events_lost_total", "counter",
	       "Events the kernel could not deliver (ring buffer or BPF map "
	       "full), as the daemon took them: equal to the sum of "
	       "memwatch_bpf_records_lost_total once quiet.");
	strbuf__printf(b, "memwatch_events_lost_total %llu\n",
		       (unsigned long long)st.lost);
	render_overload(b, m, &st);
	metrics__family(b, "memwatch_live_blocks", "gauge",
	       "Live blocks across the traced processes.");
	strbuf__printf(b, "memwatch_live_blocks %llu\n",
		       (unsigned long long)st.live_blocks);
	metrics__family(b, "memwatch_tls_candidates_pending", "gauge",
	       "TLS blocks whose thread or key died, waiting out the grace "
	       "period.");
	strbuf__printf(b, "memwatch_tls_candidates_pending %llu\n",
		       (unsigned long long)st.pending);
	metrics__family(b, "memwatch_stacks", "gauge",
	       "Distinct allocating stacks held.");
	strbuf__printf(b, "memwatch_stacks %llu\n",
		       (unsigned long long)st.stacks);

	by_kind_severity(b, "memwatch_findings_total", "counter",
			 "Findings made since the daemon started, by kind and "
			 "severity (a finding over time counts once).",
			 m->findings);
	by_kind_severity(b, "memwatch_findings_open", "gauge",
			 "Findings open now (their evidence still there), "
			 "neither suppressed nor acknowledged, of those made "
			 "since the daemon started, by kind and severity.",
			 m->open_n[Q_OPEN]);
	by_kind_severity(b, "memwatch_findings_suppressed", "gauge",
			 "Findings open now that a rule of the suppressions "
			 "file matched, of those made since the daemon "
			 "started, by kind and severity.",
			 m->open_n[Q_SUPPRESSED]);
	by_kind_severity(b, "memwatch_findings_acknowledged", "gauge",
			 "Findings open now that people acknowledged "
			 "(memwatchctl ack), of those made since the daemon "
			 "started, by kind and severity.",
			 m->open_n[Q_ACKED]);
	metrics__family(b, "memwatch_findings_resolved_total", "counter",
	       "Findings resolved since the daemon started (their blocks "
	       "freed, their growth given back), by kind.");
	for (uint32_t k = 1; k < MW_FIND_KIND_MAX; k++)
		strbuf__printf(b,
			       "memwatch_findings_resolved_total{kind=\"%s\"} "
			       "%llu\n",
			       mw_finding_kind_name(k),
			       (unsigned long long)m->resolved[k]);
	metrics__family(b, "memwatch_process_ends_total", "counter",
	       "Processes no longer traced: they exited, or the daemon "
	       "detached from them while they ran.");
	strbuf__printf(b,
		       "memwatch_process_ends_total{reason=\"exited\"} %llu\n",
		       (unsigned long long)m->ended[MW_PROC_EXITED]);
	strbuf__printf(
	    b, "memwatch_process_ends_total{reason=\"detached\"} %llu\n",
	    (unsigned long long)m->ended[MW_PROC_DETACHED]);
	metrics__family(b, "memwatch_target_watched", "gauge",
	       "Targets watched by name: 1 each (processes running them are "
	       "attached as they start).");
	for (int i = 0; i < m->ntargets; i++) {
		strbuf__printf(b,
			       "memwatch_target_watched{kind=\"%s\",target=\"",
			       m->targets[i].kind);
		metrics__label(b, m->targets[i].name);
		strbuf__printf(b, "\",mode=\"%s\"} 1\n",
			       m->targets[i].tls ? "tls" : "full");
	}

	if (engine__each_process(m->engine, collect_proc, &procs) || procs.oom)
		b->oom = true;
	else
		render_processes(b, &procs);
	free(procs.p);
	render_threads(b, m);
	metrics__render_sites(m, b);
}

/* The HTTP server's page: the same as the textfile's. */
static void page(void *ctx, struct strbuf *b)
{
	metrics__render(ctx, b);
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
	hmap__init(&m->counted);
	hmap__init(&m->open);
	hmap__init(&m->held);
	clock_gettime(CLOCK_REALTIME, &now);
	m->start_time = (double)now.tv_sec + now.tv_nsec / NS;
	if (m->cfg.top_threads > METRICS_MAX_THREADS)
		m->cfg.top_threads = METRICS_MAX_THREADS;
	if (!m->cfg.listen)
		return m;
	m->http = metrics_http__new(m->cfg.listen, page, m);
	if (m->http) {
		log_info("serving metrics on http://%s/metrics", m->cfg.listen);
		return m;
	}
	err = -errno;
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

void metrics__symbolizer(struct metrics *m, struct symbolizer *s)
{
	m->sym = s;
}

void metrics__kernel(struct metrics *m, const struct kernel *k)
{
	m->kernel = k;
}

void metrics__free(struct metrics *m)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	if (!m)
		return;
	metrics_http__free(m->http);
	for (int i = 0; i < m->ntargets; i++)
		free(m->targets[i].name);
	hmap__fini(&m->counted);
	while (hmap__next(&m->open, &pos, &k, &v))
		free(v);
	hmap__fini(&m->open);
	free(m->staged);
	hmap__fini(&m->held);
	free(m);
}

int metrics__fd(const struct metrics *m)
{
	return m && m->http ? metrics_http__fd(m->http) : -1;
}

void metrics__serve(struct metrics *m)
{
	if (!m || !m->http)
		return;
	metrics_http__serve(m->http);
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
