/*
 * filter.h - memwatchctl's query options (--pid, --kind, --severity,
 * --since, --limit, --sort, --by, --per) into the store's filter and top query
 * (store/store.h). Apart from memwatchctl.c so that it is tested and
 * fuzzed alone (tests/fuzz/fuzz_filter.c), and portable: no OS calls,
 * the time comes from the caller.
 */
#ifndef MEMWATCH_FILTER_H
#define MEMWATCH_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* --limit all: no limit, for the commands that have a default one. */
#define FILTER_LIMIT_ALL UINT32_MAX

/*
 * Apply option name (without its dashes: "pid", "kind", ...) with its
 * argument arg to f (or, for "by" and "per", to top); now is the time in
 * seconds since the epoch, for a --since that is a duration ago. Returns
 * 0, or -EINVAL and a one-line message naming the option in msg.
 */
int filter__set(struct store_filter *f, struct store_top *top, const char *name,
		const char *arg, uint64_t now, char *msg, size_t len);

#endif
