/*
 * metrics_int.h - what the pieces of memwatchd's Prometheus export share:
 * the state the page is rendered from (metrics.c) and the counters each
 * flush adds to (metrics_flush.c). Not for other users: metrics.h is the
 * interface.
 */
#ifndef MEMWATCH_METRICS_INT_H
#define MEMWATCH_METRICS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "hash.h"
#include "metrics.h"
#include "strbuf.h"

#define NS 1000000000.0
#define MAX_TARGETS 256

struct metrics_http;

/* Flush duration histogram bounds, in seconds. */
static const double flush_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				       0.1,   0.25,   0.5,   1,	   2.5,	  5};
#define NBUCKETS (sizeof(flush_buckets) / sizeof(flush_buckets[0]))

#define NSEV (MW_SEV_HIGH + 1)
#define NSTATE (MW_PROC_DETACHED + 1)

/* How an open finding is counted: open, or quiet (docs/RULES.md,
 * "Living with findings"). */
enum quiet {
	Q_OPEN = 0,
	Q_SUPPRESSED = 1, /* a suppression rule matched it */
	Q_ACKED = 2,	  /* acknowledged (memwatchctl ack): it stays so */
	NQUIET,
};

/* A finding handed in the flush under way. */
struct staged_finding {
	uint64_t id, proc_id;
	uint32_t kind, severity;
	bool resolved;
	bool suppressed;
};

/* An open finding counted in metrics.open: what it was counted as. */
struct open_finding {
	uint64_t proc_id;
	uint32_t kind, severity;
	uint32_t quiet; /* enum quiet */
};

struct target {
	char kind[8];
	char *name;
	bool tls;
};

struct metrics {
	struct metrics_config cfg;
	const struct engine *engine;
	struct metrics_http *http; /* NULL: no HTTP server */
	double start_time; /* s since the Unix epoch */
	/* Findings made since start, by kind and severity: counted once
	 * each, when the flush that hands them over commits. */
	uint64_t findings[MW_FIND_KIND_MAX][NSEV];
	/* Findings over time (see one_block_kind) already counted: id ->
	 * proc_id, forgotten once their process is gone. */
	struct hmap counted;
	/* Findings open now, by kind and severity, of those handed over
	 * since start; and those that resolved since start, by kind. An
	 * open finding is held in open (id -> struct open_finding) while
	 * its process is, to move it when its severity changes or it
	 * resolves; a process gone leaves its findings open. */
	uint64_t open_n[NQUIET][MW_FIND_KIND_MAX][NSEV]; /* by enum quiet */
	uint64_t resolved[MW_FIND_KIND_MAX];
	struct hmap open;
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
	/* NULL: none. Not const: the per-site series name their call
	 * sites with it (metrics_site.c). */
	struct symbolizer *sym;
	const struct collector *col;		 /* NULL: none */
	const uint64_t *shed; /* processes detached at --max-memory-mb */
	const struct kernel *kernel; /* NULL: none */
};

/* "# HELP" and "# TYPE" of a family (metrics_format.c). */
void metrics__family(struct strbuf *b, const char *name, const char *type,
		     const char *help);
/* s as a label value, escaped (metrics_format.c). */
void metrics__label(struct strbuf *b, const char *s);
/* A process's labels, without braces: pid, comm and its systemd unit
 * (its cgroup's; "" outside one), which follows from the process and so
 * adds no series (metrics_format.c). */
void metrics__proc_labels(struct strbuf *b, const struct mw_process_row *r);
/* Render the whole page into b, from what the engine holds now and the
 * counters above (metrics.c); b->oom says it failed. */
void metrics__render(const struct metrics *m, struct strbuf *b);
/* The per-site families: the top_sites call sites of each traced process
 * holding the most live bytes (metrics_site.c). */
void metrics__render_sites(const struct metrics *m, struct strbuf *b);

#endif
