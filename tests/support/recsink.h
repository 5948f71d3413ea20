/*
 * recsink.h - the recording sink of the tests: an engine_sink (ctx: a
 * struct recsink) that keeps every row the engine hands it, for the tests
 * to look at once engine__flush returns. Unit tests, the golden replayer
 * (tests/mwreplay.c), the engine fuzzer and the ETW pipeline test all
 * flush into it; what one of them needs more (a store model, rows
 * printed as text, checks as rows come) is a thin layer over it.
 *
 * Views, each kept until recsink__reset:
 *   cur       the rows of the flush under way, kept after a rollback;
 *   last      the rows of the last committed flush;
 *   findings  the newest row of each finding id over the committed
 *             flushes, in the order ids first came (as the store's upsert
 *             keeps them);
 *   stacks    every stack row of the committed flushes.
 * Failures are injected per callback (fail_*: the next N calls fail) or
 * by count (fail_at: the row callback numbered fail_at fails), each with
 * -EIO; a flush that fails is rolled back by the engine and hands the
 * same rows over again.
 */
#ifndef MEMWATCH_RECSINK_H
#define MEMWATCH_RECSINK_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* A growable array; RECSINK_PUSH aborts when out of memory. */
#define RECSINK_ARR(T)                                                         \
	struct {                                                               \
		T *v;                                                          \
		size_t n, cap;                                                 \
	}

#define RECSINK_PUSH(a, x)                                                     \
	do {                                                                   \
		if ((a).n == (a).cap)                                          \
			recsink__grow((void **)&(a).v, &(a).cap,               \
				      sizeof(*(a).v));                         \
		(a).v[(a).n++] = (x);                                          \
	} while (0)

/* The arguments of one site callback. */
struct recsink_site {
	uint64_t proc_id;
	uint32_t pid;
	uint64_t ip;
};

/* The rows of one flush, in the order handed. */
struct recsink_rows {
	RECSINK_ARR(struct mw_process_row) procs;
	RECSINK_ARR(struct mw_thread_row) threads;
	RECSINK_ARR(struct mw_key_row) keys;
	RECSINK_ARR(struct mw_binding_row) bindings;
	RECSINK_ARR(struct mw_block_row) adds;
	RECSINK_ARR(uint64_t) dels;
	RECSINK_ARR(struct mw_finding_row) findings;
	RECSINK_ARR(struct recsink_site) sites;
	RECSINK_ARR(struct mw_stack_row) stacks;
};

struct recsink {
	struct recsink_rows cur;  /* the flush under way */
	struct recsink_rows last; /* the last committed flush */
	RECSINK_ARR(struct mw_finding_row) findings; /* newest per id */
	RECSINK_ARR(struct mw_stack_row) stacks;     /* all committed */
	int begins, commits, rollbacks;
	uint64_t site_calls; /* site callbacks, failed ones included */
	/* Fail the next N calls of a callback with -EIO. */
	int fail_begin, fail_commit, fail_finding, fail_block_add, fail_thread,
	    fail_site, fail_stack;
	/* Row callbacks (begin, commit and rollback are not rows) so far;
	 * the one numbered fail_at fails with -EIO (0: none). */
	unsigned calls, fail_at;
	/* Called with each flush's rows as it commits: a layer's model of
	 * what a store would hold. Kept by recsink__reset. */
	void (*committed)(void *ctx, const struct recsink_rows *rows);
	void *committed_ctx;
};

/* ctx: the struct recsink the rows go to. */
extern const struct engine_sink recsink__sink;

/* Free every row and forget every count; the hooks stay. */
void recsink__reset(struct recsink *r);
void recsink_rows__clear(struct recsink_rows *w);
void recsink_rows__free(struct recsink_rows *w);
/* The newest row of finding id, or NULL. */
const struct mw_finding_row *recsink__finding(const struct recsink *r,
					      uint64_t id);
/* The committed stack row id, or NULL. */
const struct mw_stack_row *recsink__stack(const struct recsink *r, uint64_t id);
/* For RECSINK_PUSH: double *cap (16 at first) and *v with it. */
void recsink__grow(void **v, size_t *cap, size_t size);

#endif
