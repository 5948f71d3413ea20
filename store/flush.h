/*
 * flush.h - the flusher: the engine's rows into the store, one flush at a
 * time, for memwatchd and the Windows collector (win/memwatchw.c) alike.
 *
 * One flush hands the store at most the engine's flush_max_rows block
 * rows (engine_config), so that a burst of long-lived blocks never holds
 * the caller away from its events for long; what is left is the caller's
 * to flush soon, at its next turn (engine__flush_more). Only at the end
 * (flusher__flush_all) are flushes run back to back.
 *
 * A flush that fails leaves the engine's state as it was: the next one
 * hands the same rows over again. The caller is told when flushes start
 * failing, fail otherwise, or succeed again, never at every flush, so it
 * logs each state once.
 */
#ifndef MEMWATCH_FLUSH_H
#define MEMWATCH_FLUSH_H

#include <stdint.h>

#include "engine.h"
#include "store_sink.h"

struct flusher {
	struct engine *engine;
	/* The store, how its new sites are named, who hears of findings;
	 * sink.ctx is also the ctx of the callbacks below. */
	struct store_sink_ctx sink;
	/* Before and after each engine__flush, end with its result: for
	 * metrics, and on success to let go of what was kept only until
	 * the flush. Either may be NULL. */
	void (*begin)(void *ctx);
	void (*end)(void *ctx, int err);
	/* A flush failed with err (store__strerror), after one that did
	 * not or failed otherwise; or, err 0, one succeeded after one that
	 * failed. May be NULL. */
	void (*changed)(void *ctx, int err);
	int err; /* the last flush's: 0 or a negative store error */
};

/* One flush: everything changed since the last, block rows up to the
 * engine's budget. Returns 0 or the store's negative error. */
int flusher__flush(struct flusher *f, uint64_t now);
/* Flush until nothing is left (engine__flush_more) or one fails: at the
 * end, when nothing else waits. Returns 0 or the first error. */
int flusher__flush_all(struct flusher *f, uint64_t now);

#endif
