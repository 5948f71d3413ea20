/*
 * engine_fixture.h - the fixture of the engine's unit tests
 * (tests/unit/test_engine*.c, one file per piece of engine/): one engine
 * (E) fed hand-made events (events.h) for one process (PID) and flushed
 * into the recording sink (recsink.h, R): the rows of the transaction
 * under way (R.cur), the rows of the last committed flush (R.last), and
 * a model of what a store keyed like schema/001_init.sql would hold after
 * every committed flush (M.st_*). Failures are injected per callback
 * (R.fail_*) to check that a failed flush rolls back and hands the same
 * rows over again.
 *
 * A test file calls engine_fixture__init with its unit_failed_now (unit.h)
 * before running its cases, so that a failed check in a helper here
 * fails the case that called it.
 *
 * Times in the helpers are milliseconds; the engine sees nanoseconds.
 */
#ifndef MEMWATCH_ENGINE_FIXTURE_H
#define MEMWATCH_ENGINE_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "events.h"
#include "hash.h"
#include "recsink.h"

#define MS(x) ((uint64_t)(x)*1000000ull)
#define PID 100u
#define SITE1 0x4005d0ull
#define SITE2 0x4007a0ull
#define SITE3 0x400900ull

/* failed: the test file's unit_failed_now. */
void engine_fixture__init(int *failed);

/* --- the recording sink and a model of the store ------------------------- */

/* Rows are recorded by the shared sink (tests/support/recsink.c); each
 * committed flush is also applied to a model of what a store keyed like
 * the schema would hold. */
extern struct recsink R;

struct model {
	RECSINK_ARR(struct mw_process_row) st_procs;	/* by id */
	RECSINK_ARR(struct mw_key_row) st_keys;		/* by proc, key, gen */
	RECSINK_ARR(struct mw_binding_row) st_bindings; /* by proc, tid, key */
	struct hmap st_threads;	 /* proc << 32 | tid, newest */
	struct hmap st_blocks;	 /* serial */
	struct hmap st_findings; /* id */
	struct hmap st_sites;	 /* proc << 44 ^ ip -> count */
};

extern struct model M;

/* Empty the sink and the model; the model applies each commit. */
void rec_reset(void);

/* --- the engine under test and event helpers ------------------------------ */

extern struct engine *E;
extern uint64_t P; /* proc id of PID */

/* A new E (rec_reset first): grace, persist age and the flush's row
 * budget as given, the rules over time kept quiet. */
void setup_rows(uint64_t grace_ms, uint64_t persist_ms,
		uint32_t flush_max_rows);
void setup(uint64_t grace_ms, uint64_t persist_ms);
void teardown(void);

/* Attach pid at t; the proc id (also P when pid is PID). */
uint64_t attach(uint32_t pid, uint64_t t);
int feed(struct mw_event ev);

#define FEED(...) CHECK(feed((struct mw_event){__VA_ARGS__}) == 0)

/* Events of PID's thread tid at t (frees from SITE3, reallocs at SITE2),
 * each checked to be taken. */
void al(uint32_t tid, uint64_t t, uint64_t addr, uint64_t size, uint64_t site);
void fr(uint32_t tid, uint64_t t, uint64_t addr);
void re(uint32_t tid, uint64_t t, uint64_t old, uint64_t addr, uint64_t size);
void tstart(uint32_t tid, uint64_t t);
void texit(uint32_t tid, uint64_t t);
void kcreate(uint32_t tid, uint64_t t, uint32_t key, uint64_t dtor);
void kdelete(uint32_t tid, uint64_t t, uint32_t key);
void tset(uint32_t tid, uint64_t t, uint32_t key, uint64_t value);
void pexit(uint64_t t, int32_t code);

int flush_at(uint64_t t);
/* The daemon's loop: decide what is due, then flush. */
int tick_flush(uint64_t t);

/* --- lookups in recorded rows ------------------------------------------- */

/* The last row handed for (pid, tid) in rows w; start_ts 0 = any. */
const struct mw_thread_row *thread_in(const struct recsink_rows *w,
				      uint32_t pid, uint32_t tid,
				      uint64_t start_ts);
/* The newest row in R.last of PID's thread tid, of process pid, of
 * PID's key (key, gen), of PID's binding (tid, key); NULL when none. */
const struct mw_thread_row *last_thread(uint32_t tid);
const struct mw_process_row *last_proc(uint32_t pid);
const struct mw_key_row *last_key(uint32_t key, uint32_t gen);
const struct mw_binding_row *last_binding(uint32_t tid, uint32_t key);
const struct mw_block_row *add_in(const struct recsink_rows *w, uint64_t addr);
bool del_in(const struct recsink_rows *w, uint64_t serial);
const struct mw_finding_row *finding_in(const struct recsink_rows *w,
					uint64_t addr);
/* How many times the store was handed proc_id's site ip. */
uint64_t st_site_count(uint64_t proc_id, uint64_t ip);

struct engine_stats stats(void);

#endif
