/*
 * metrics_flush.c - what each flush of the engine adds to memwatchd's
 * Prometheus export: the findings it committed (counted once each, and
 * as open or resolved), the
 * processes whose tracing ended, its duration; and the node_exporter
 * textfile, written after it. See metrics.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics_int.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Kinds whose finding is about one block: the engine hands each over
 * once when found, and once more if its block is freed (resolved), which
 * count_open tells apart. A finding over time (a site, a thread, an
 * allocator) is handed over again whenever its evidence changes; those
 * are remembered by id while their process lives.
 */
static bool one_block_kind(uint32_t kind)
{
	return kind == MW_FIND_TLS_OUTLIVED_THREAD ||
	       kind == MW_FIND_TLS_OUTLIVED_KEY ||
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

/* Forget the findings of processes the engine let go: they will never
 * be handed over again (and those open stay open). */
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
	ids.len = 0;
	pos = 0;
	while (hmap__next(&m->open, &pos, &k, &v))
		if (hmap__get(gone, ((struct open_finding *)v)->proc_id))
			vec__push(&ids, (void *)(uintptr_t)k);
	for (size_t i = 0; i < ids.len; i++)
		free(hmap__del(&m->open, (uint64_t)(uintptr_t)ids.items[i]));
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
	    .resolved = r->resolved_ts != 0,
	    .suppressed = r->suppressed[0] != '\0',
	};
}

/*
 * The open count of f, handed over open or resolved: a finding first
 * handed open is counted open (and moved if its severity changed when
 * handed again) until handed resolved; one handed resolved first (made
 * and resolved within a flush) is only counted resolved. Returns whether
 * f was counted open before: a one-block finding is handed over twice,
 * found and resolved, and made once.
 */
static bool count_open(struct metrics *m, const struct staged_finding *f)
{
	struct open_finding *o = hmap__get(&m->open, f->id);
	uint32_t quiet = f->suppressed ? Q_SUPPRESSED : Q_OPEN;

	if (f->resolved) {
		m->resolved[f->kind]++;
		if (!o)
			return false;
		m->open_n[o->quiet][o->kind][o->severity]--;
		free(hmap__del(&m->open, f->id));
		return true;
	}
	if (o) {
		m->open_n[o->quiet][o->kind][o->severity]--;
		o->severity = f->severity;
		if (o->quiet != Q_ACKED)
			o->quiet = quiet;
		m->open_n[o->quiet][o->kind][o->severity]++;
		return true;
	}
	o = malloc(sizeof(*o));
	if (!o || hmap__put(&m->open, f->id, o)) {
		free(o); /* not held: undercounted when it resolves */
		return false;
	}
	*o = (struct open_finding){f->proc_id, f->kind, f->severity, quiet};
	m->open_n[quiet][f->kind][f->severity]++;
	return false;
}

/*
 * Finding r, as stored, now counted as quiet (enum quiet). Held in open:
 * moved there. A finding of a process gone is no longer held, but still
 * counted where it was last (a process gone leaves its findings open):
 * moved from what r says it was, when counted says it was counted (made
 * since the start, still open).
 */
static void requiet(struct metrics *m, const struct mw_finding_row *r,
		    uint32_t quiet, bool counted)
{
	struct open_finding *o = hmap__get(&m->open, r->id);
	uint32_t was;

	if (o) {
		if (o->quiet == Q_ACKED)
			return;
		m->open_n[o->quiet][o->kind][o->severity]--;
		o->quiet = quiet;
		m->open_n[o->quiet][o->kind][o->severity]++;
		return;
	}
	if (!counted || r->resolved_ts || r->ack_ts ||
	    r->kind >= MW_FIND_KIND_MAX || r->severity >= NSEV)
		return;
	was = r->suppressed[0] ? Q_SUPPRESSED : Q_OPEN;
	if (was == quiet || !m->open_n[was][r->kind][r->severity])
		return;
	m->open_n[was][r->kind][r->severity]--;
	m->open_n[quiet][r->kind][r->severity]++;
}

void metrics__ack(struct metrics *m, const struct mw_finding_row *r,
		  bool counted)
{
	if (m)
		requiet(m, r, Q_ACKED, counted);
}

void metrics__suppress(struct metrics *m, const struct mw_finding_row *r,
		       bool suppressed, bool counted)
{
	if (m)
		requiet(m, r, suppressed ? Q_SUPPRESSED : Q_OPEN, counted);
}

/* The flush committed: count what it handed over for the first time. */
static void count_committed(struct metrics *m)
{
	for (size_t i = 0; i < m->nstaged; i++) {
		const struct staged_finding *f = &m->staged[i];

		if (f->kind >= MW_FIND_KIND_MAX || f->severity >= NSEV)
			continue;
		if (count_open(m, f) && one_block_kind(f->kind))
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
	struct strbuf b = {0};
	size_t off = 0;
	int fd, err = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", m->cfg.textfile) >=
	    sizeof(tmp))
		return -ENAMETOOLONG;
	metrics__render(m, &b);
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
