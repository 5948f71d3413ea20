/*
 * export.h - memwatchctl export: what the store holds, in formats other
 * tools read (pprof and folded stacks through pprof.h, CSV here; JSON is
 * memwatchctl's own --json output), and the output file they go to.
 *
 * The output is written atomically: into a temporary file next to the
 * target, renamed over it once complete. Whatever ends the program
 * before that (an error, exit(), SIGINT, SIGTERM, SIGHUP) removes the
 * temporary file, so a failed export leaves nothing half-written.
 *
 * Errors are negative errnos.
 */
#ifndef MEMWATCH_EXPORT_H
#define MEMWATCH_EXPORT_H

#include <stdio.h>

#include "pprof.h"
#include "store.h"

/* Open the output: path NULL or "-" is stdout; an existing device or
 * fifo is written directly; else a temporary file that export__commit
 * renames to path. -EISDIR, -ENOENT, -ENOTDIR, ... as the OS said. One
 * output at a time. */
int export__open(const char *path, FILE **out);
/* Flush and close it, and rename it into place (stdout: flush only).
 * On error the temporary file is removed. */
int export__commit(void);
/* Remove the temporary file, if any. Also runs at exit. */
void export__abort(void);
/* The error writing the output met so far, or 0: tells a failed write
 * from a failed query when an export stops half-way. */
int export__write_error(void);

/* Add the live blocks of the processes f selects (f: pid) to p, by
 * allocating stack, with every frame symbolized as far as the store
 * knows it. */
int export__profile(struct store *s, const struct store_filter *f,
		    struct pprof *p);

/* Findings and live blocks as CSV (RFC 4180): a header row, then one row
 * each, with the fields of `memwatchctl --json findings` and `--json
 * live`, nested objects flattened (site.function is site_function).
 * f as those commands take it; limit 0 is every row. */
int export__csv_findings(struct store *s, const struct store_filter *f,
			 FILE *out);
int export__csv_live(struct store *s, const struct store_filter *f, FILE *out);

#endif
