/*
 * export.h - memwatchctl export: what the store holds, in formats other
 * tools read (pprof and folded stacks through pprof.h, CSV here; JSON is
 * memwatchctl's own --json output). They go to the output file
 * (outfile.h).
 *
 * Errors are negative errnos.
 */
#ifndef MEMWATCH_EXPORT_H
#define MEMWATCH_EXPORT_H

#include <stdio.h>

#include "pprof.h"
#include "store.h"

/* Add the live blocks of the processes f selects (f: pid) to p, by
 * allocating stack, with every frame symbolized as far as the store
 * knows it. */
int export__profile(struct store *s, const struct store_filter *f,
		    struct pprof *p);

/* Findings and live blocks as CSV (RFC 4180): a header row, then one row
 * each, with the fields of `memwatchctl --json findings` and `--json
 * live`, nested objects flattened (site.function is site_function).
 * f as those commands take it; limit 0 is every row. out is the output
 * file (outfile__open): a failed write stops the rows with its error. */
int export__csv_findings(struct store *s, const struct store_filter *f,
			 FILE *out);
int export__csv_live(struct store *s, const struct store_filter *f, FILE *out);

#endif
