/*
 * metrics_site.c - the per-site series of memwatchd's Prometheus export:
 * for each traced process, the --metrics-sites call sites holding the
 * most live bytes, labelled with the process (pid, comm, its systemd
 * unit) and the site (function, module), and a count of the sites left
 * out.
 *
 * A site here is what its labels say: several stacks, and several call
 * sites of one function, that name the same function in the same module
 * are one series, so that no two samples share a label set (Prometheus
 * rejects a page that has two). The engine's sites are taken at their
 * culprit (past allocation wrappers), merged by address, named from the
 * symbol tables (symbolizer__names: no DWARF, no worker, so a scrape
 * never waits), then merged by name and ranked. The work is a walk of
 * each process's live sites at every scrape: cheap next to the walk of
 * every thread the page already does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"
#include "symbolizer.h"
#include "text.h"

/* Label values are cut to these many bytes: a C++ name can be kilobytes,
 * and a label that long costs every sample of the series. */
#define FUNC_MAX 128
#define MODULE_MAX 64

struct site_sample {
	const struct mw_process_row *proc; /* the engine's, for this walk */
	uint64_t ip, bytes, blocks;
	char function[FUNC_MAX], module[MODULE_MAX];
};

struct site_list {
	struct site_sample *s;
	size_t n, cap;
	bool oom;
};

static int collect_site(void *ctx, const struct mw_process_row *p,
			const struct engine_site_view *sv)
{
	struct site_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct site_sample *s = realloc(l->s, cap * sizeof(*s));

		if (!s) {
			l->oom = true;
			return -ENOMEM;
		}
		l->s = s;
		l->cap = cap;
	}
	l->s[l->n++] = (struct site_sample){
	    .proc = p,
	    .ip = sv->ip,
	    .bytes = sv->live_bytes,
	    .blocks = sv->live_blocks,
	};
	return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_pid_ip(const void *pa, const void *pb)
{
	const struct site_sample *a = pa, *b = pb;
	int c = cmp_u64(a->proc->pid, b->proc->pid);

	return c ? c : cmp_u64(a->ip, b->ip);
}

static int cmp_pid_name(const void *pa, const void *pb)
{
	const struct site_sample *a = pa, *b = pb;
	int c = cmp_u64(a->proc->pid, b->proc->pid);

	if (!c)
		c = strcmp(a->module, b->module);
	return c ? c : strcmp(a->function, b->function);
}

/* Within a process: the most live bytes first, then by name, so that
 * ties always rank the same way. */
static int cmp_pid_bytes(const void *pa, const void *pb)
{
	const struct site_sample *a = pa, *b = pb;
	int c = cmp_u64(a->proc->pid, b->proc->pid);

	if (!c)
		c = cmp_u64(b->bytes, a->bytes);
	return c ? c : cmp_pid_name(pa, pb);
}

/* Merge neighbours equal under cmp into the first: n afterwards. */
static size_t merge(struct site_sample *s, size_t n,
		    int (*cmp)(const void *, const void *))
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		if (out && !cmp(&s[out - 1], &s[i])) {
			s[out - 1].bytes += s[i].bytes;
			s[out - 1].blocks += s[i].blocks;
			continue;
		}
		s[out++] = s[i];
	}
	return out;
}

static void name_site(struct symbolizer *sym, struct site_sample *s)
{
	struct mw_site_row row;

	memset(&row, 0, sizeof(row));
	if (sym)
		symbolizer__names(sym, s->proc->pid, s->ip, &row);
	/* Cut at a character's start, control bytes made '?'. */
	text__safe(s->function, sizeof(s->function),
		   row.function[0] ? row.function : "[unknown]");
	text__safe(s->module, sizeof(s->module),
		   row.module[0] ? text__base_name(row.module) : "[unknown]");
}

static void site_labels(struct strbuf *b, const struct site_sample *s)
{
	strbuf__printf(b, "{");
	metrics__proc_labels(b, s->proc);
	strbuf__printf(b, ",function=\"");
	metrics__label(b, s->function);
	strbuf__printf(b, "\",module=\"");
	metrics__label(b, s->module);
	strbuf__printf(b, "\"}");
}

void metrics__render_sites(const struct metrics *m, struct strbuf *b)
{
	static const char *const names[] = {"memwatch_site_live_bytes",
					    "memwatch_site_live_blocks"};
	static const char *const helps[] = {
	    "Bytes live from the call site (function, module) in the process, "
	    "for the --metrics-sites sites of each process holding the most "
	    "only (see memwatch_sites_not_exported).",
	    "Blocks live from the same call sites."};
	struct site_list l = {0};
	uint64_t left = 0;
	size_t n;

	/* --metrics-sites 0: no walk, no family. */
	if (!m->cfg.top_sites)
		return;
	if (engine__each_site(m->engine, collect_site, &l) || l.oom) {
		b->oom = true;
		free(l.s);
		return;
	}
	n = l.n;
	if (n) {
		qsort(l.s, n, sizeof(*l.s), cmp_pid_ip);
		n = merge(l.s, n, cmp_pid_ip);
		for (size_t i = 0; i < n; i++)
			name_site(m->sym, &l.s[i]);
		qsort(l.s, n, sizeof(*l.s), cmp_pid_name);
		n = merge(l.s, n, cmp_pid_name);
		qsort(l.s, n, sizeof(*l.s), cmp_pid_bytes);
	}
	for (int f = 0; f < 2; f++) {
		uint32_t pid = 0;
		unsigned rank = 0;

		metrics__family(b, names[f], "gauge", helps[f]);
		for (size_t i = 0; i < n; i++) {
			const struct site_sample *s = &l.s[i];

			if (!i || s->proc->pid != pid) {
				pid = s->proc->pid;
				rank = 0;
			}
			if (rank++ >= m->cfg.top_sites) {
				left += !f;
				continue;
			}
			strbuf__printf(b, "%s", names[f]);
			site_labels(b, s);
			strbuf__printf(b, " %llu\n",
				       (unsigned long long)(f ? s->blocks
							      : s->bytes));
		}
	}
	metrics__family(b, "memwatch_sites_not_exported", "gauge",
			"Call sites holding live blocks that have no "
			"memwatch_site_* series: beyond the top N of their "
			"process by live bytes.");
	strbuf__printf(b, "memwatch_sites_not_exported %llu\n",
		       (unsigned long long)left);
	free(l.s);
}
