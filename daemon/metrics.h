/*
 * metrics.h - memwatchd's Prometheus export: a /metrics HTTP endpoint
 * (libmicrohttpd) and a node_exporter textfile, both rendered from the
 * engine's state in the text exposition format.
 *
 * The HTTP server has no thread of its own: its epoll fd joins the
 * daemon's one epoll loop, and metrics__serve runs it there, so a scrape
 * reads the engine from the thread that feeds it, without locks.
 *
 * Label cardinality is bounded: one series per traced process (and per
 * watched target), per-thread series for the top_threads threads
 * holding the most live bytes only, and per-site series for the
 * top_sites call sites of each process holding the most.
 */
#ifndef MEMWATCH_METRICS_H
#define MEMWATCH_METRICS_H

#include <stdbool.h>

#include "collector.h"
#include "config.h"
#include "engine.h"
#include "kernel.h"
#include "retention.h"
#include "rows.h"

struct metrics;

/* Start listening (when cfg->listen is set). NULL and errno set on
 * failure. The engine must outlive the metrics. */
struct metrics *metrics__new(const struct metrics_config *cfg,
			     const struct engine *e);
void metrics__free(struct metrics *m);
/* The fd to watch for input in the daemon's epoll loop; -1: none. */
int metrics__fd(const struct metrics *m);
/* Answer what the HTTP clients sent; call on input on metrics__fd and
 * at every timer tick (connection timeouts). */
void metrics__serve(struct metrics *m);

/*
 * Around every engine__flush: begin before it, end after it with its
 * result; findings the sink is handed in between go to
 * metrics__finding. What a flush hands over is counted only once it is
 * committed (err 0), as the engine hands it over again otherwise. end
 * also writes the textfile.
 */
void metrics__flush_begin(struct metrics *m);
void metrics__finding(struct metrics *m, const struct mw_finding_row *r);
void metrics__flush_end(struct metrics *m, int err);
/* Finding r, as it was stored, was acknowledged (memwatchctl ack):
 * counted as such while open, if it was counted (made since the start:
 * counted true). */
void metrics__ack(struct metrics *m, const struct mw_finding_row *r,
		  bool counted);
/* The same for r suppressed now, or no longer (the rules reloaded),
 * unless acknowledged. */
void metrics__suppress(struct metrics *m, const struct mw_finding_row *r,
		       bool suppressed, bool counted);

/* What retention did, rendered at each scrape from st (which must outlive
 * the metrics); NULL: nothing. */
void metrics__retention(struct metrics *m, const struct retention_stats *st);
struct symbolizer;
/* The symbolizer's worker requests, rendered at each scrape from s
 * (which must outlive m), which also names the per-site series' call
 * sites. */
void metrics__symbolizer(struct metrics *m, struct symbolizer *s);

/* The kernel's release and features to render from k (which must outlive
 * the metrics). */
void metrics__kernel(struct metrics *m, const struct kernel *k);

/* The kernel side's counters to render from c, and the count of
 * processes detached at --max-memory-mb from *shed (both must outlive
 * the metrics; NULL: none). */
void metrics__overload(struct metrics *m, const struct collector *c,
		       const uint64_t *shed);

/* A target by name is watched (kind "exe", "comm", "cgroup", "unit"),
 * or no longer with COLLECTOR_UNWATCH. */
void metrics__watch(struct metrics *m, const char *kind, const char *name,
		    enum collector_watch how);

#endif
