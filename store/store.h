/*
 * store.h - the SQLite store: the only code that includes sqlite3.h.
 *
 * The daemon writes through it in batched transactions (WAL mode);
 * memwatchctl reads through it read-only. The schema lives in schema/ as
 * numbered migrations applied in order under PRAGMA user_version.
 *
 * Errors are negative errnos. store__open returns NULL and sets errno:
 *   ENOENT   the database does not exist (read-only open)
 *   EBADMSG  not a memwatch database, or corrupt
 *   EBUSY    locked by another writer
 *   EPROTO   written by a newer memwatch (user_version too high)
 *   EACCES, EROFS, ENOSPC, ... as the OS said
 * store__strerror() gives the wording for those codes.
 */
#ifndef MEMWATCH_STORE_H
#define MEMWATCH_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "rows.h"

struct store;

enum store_flags {
	STORE_RDONLY = 0x1,	/* memwatchctl: never writes, never creates */
};

struct store *store__open(const char *path, unsigned flags);
void store__close(struct store *s);
const char *store__strerror(int err);
int store__schema_version(struct store *s);

/* Writer side (daemon). */
int store__begin(struct store *s);
int store__commit(struct store *s);
int store__rollback(struct store *s);
/* First serial not yet used by any row: the engine's counter seed. */
int store__next_serial(struct store *s, uint64_t *serial);
/* Processes a previous daemon left TRACING are DETACHED as of now. */
int store__close_stale(struct store *s, uint64_t now);
int store__put_process(struct store *s, const struct mw_process_row *r);
int store__put_thread(struct store *s, const struct mw_thread_row *r);
int store__put_key(struct store *s, const struct mw_key_row *r);
int store__put_binding(struct store *s, const struct mw_binding_row *r);
/* A block written (again) or deleted moves its site's and its (site,
 * thread)'s summary rows (site_usage, site_thread_usage), written at
 * store__commit; outside a transaction, each call is one of its own. */
int store__add_block(struct store *s, const struct mw_block_row *r);
int store__del_block(struct store *s, uint64_t serial);
int store__put_finding(struct store *s, const struct mw_finding_row *r);
/* Finding id acknowledged at ts with note (may be ""); written again
 * over an earlier acknowledgement. 0, -ENOENT (no such finding) or
 * -errno. */
int store__ack_finding(struct store *s, uint64_t id, uint64_t ts,
		       const char *note);
/* Finding id's suppression rule ("" none), matched again after a reload
 * of the rules. 0, -ENOENT or -errno. */
int store__set_suppressed(struct store *s, uint64_t id, const char *rule);
int store__put_site(struct store *s, const struct mw_site_row *r);
int store__has_site(struct store *s, uint64_t proc_id, uint64_t ip);
int store__put_stack(struct store *s, const struct mw_stack_row *r);
/*
 * The writer's file is still at path: 0; -ENOENT once it was removed,
 * -ESTALE when another file took its place. Either way SQLite refuses to
 * write to the unlinked file: writes fail until store__recreate.
 */
int store__gone(struct store *s, const char *path);
/* After -ENOENT: a new file at path holding everything committed, written
 * from now on. 0 or -errno (the old file stays in use; try again). */
int store__recreate(struct store *s, const char *path);

/* --- retention (daemon/retention.c) ------------------------------------ */

/*
 * Retention removes the rows of processes no longer traced, in two
 * levels. STORE_PRUNE_RAW: their threads, keys, TLS bindings and live
 * blocks (site_usage follows, in the same step), and the stacks and sites
 * none of their findings needs; the process row stays, marked pruned, its
 * counters as they were at its end. STORE_PRUNE_ALL: everything, the
 * findings, stacks, sites and the process row last. Rows go in an order
 * that never leaves one pointing at a removed one (bindings before
 * blocks, blocks before threads, the process row last), so readers see a
 * consistent database between steps.
 */
enum store_prune_level {
	STORE_PRUNE_RAW = 1,
	STORE_PRUNE_ALL = 2,
};

/* Rows removed, by table (not counting site_usage's, which follow). */
struct store_pruned {
	uint64_t bindings, blocks, keys, threads, stacks, sites, findings;
	uint64_t processes;
};

uint64_t store_pruned__sum(const struct store_pruned *n);
void store_pruned__add(struct store_pruned *to, const struct store_pruned *n);

/*
 * The process that ended first among those that ended before `before`
 * (ns since the epoch, end_ts) and have rows left at this level, skipping
 * those held(ctx, id) says are still held (NULL: none is). 0 and its id,
 * -ENOENT when there is none, or another -errno.
 */
int store__prune_candidate(struct store *s, enum store_prune_level level,
			   uint64_t before,
			   bool (*held)(void *ctx, uint64_t proc_id),
			   void *ctx, uint64_t *proc_id);
/*
 * One step: remove at most max_rows rows of process proc_id at this level,
 * in one transaction (which first records the serial floor, so that no id
 * is handed out again: store__next_serial). Returns 1 once nothing is
 * left at that level (the row is then marked pruned at now, or removed),
 * 0 when more is, or -errno (nothing removed). Adds what it removed to n.
 */
int store__prune_process(struct store *s, uint64_t proc_id,
			 enum store_prune_level level, uint32_t max_rows,
			 uint64_t now, struct store_pruned *n);

/* The size of the database, from the file system and from SQLite. */
struct store_size {
	uint64_t file_bytes;	/* the database file, as stat says */
	uint64_t wal_bytes;	/* its write-ahead log; 0 when none */
	uint64_t page_size;
	uint64_t pages;		/* in the database, free ones included */
	uint64_t free_pages;	/* on the free list: reused before it grows */
	bool incremental;	/* auto_vacuum=INCREMENTAL: free pages can
				   go back to the file system */
};

int store__size(struct store *s, struct store_size *z);
/* Give up to pages free pages back (the file shrinks at the next
 * checkpoint). 0 or -errno; a no-op unless incremental. */
int store__vacuum_step(struct store *s, uint32_t pages);
/* Copy the write-ahead log into the database and truncate it to 0
 * bytes, without waiting: -EBUSY when a reader still needs part of it
 * (try again later). */
int store__checkpoint(struct store *s);
/* Turn a database created without incremental vacuum into one with it:
 * a VACUUM, which rewrites the whole file (and needs as much free space
 * again). 0 or -errno. */
int store__make_incremental(struct store *s);

/* Reader side (memwatchctl). pid 0 = all processes. Callbacks return 0
 * to go on, non-zero to stop (that value is returned). site is NULL when
 * the site was never symbolized. */
struct store_filter {
	uint32_t pid;
	uint32_t kind;		/* findings: 0 = all kinds */
	uint64_t since;		/* findings: last seen (last_ts) >= since, 0 = all */
	uint64_t limit;		/* 0 = no limit */
	uint64_t id;		/* findings: this one only, 0 = all */
	uint32_t severity;	/* findings: at least this, 0 = all */
	uint32_t state;		/* findings: enum store_finding_state */
	uint32_t sort;		/* findings: enum store_finding_sort */
};

/* The order findings are read in: by id (the order they were found in),
 * or the largest first by last seen, bytes or count (ties: the newest id
 * first), so that with a limit the rows kept are the N newest or
 * largest. */
enum store_finding_sort {
	STORE_SORT_ID = 0,
	STORE_SORT_TIME = 1,	/* last_ts, newest first */
	STORE_SORT_BYTES = 2,
	STORE_SORT_COUNT = 3,
};

/* Which findings a filter selects by their state (mw_finding_state). */
enum store_finding_state {
	STORE_FINDINGS_ALL = 0,
	/* resolved_ts 0, neither suppressed nor acknowledged */
	STORE_FINDINGS_OPEN = 1,
	STORE_FINDINGS_RESOLVED = 2,
	/* resolved_ts 0, suppressed, not acknowledged */
	STORE_FINDINGS_SUPPRESSED = 3,
	/* resolved_ts 0, acknowledged */
	STORE_FINDINGS_ACKNOWLEDGED = 4,
};

int store__each_process(struct store *s, const struct store_filter *f,
			int (*cb)(void *ctx, const struct mw_process_row *r),
			void *ctx);
int store__each_thread(struct store *s, const struct store_filter *f,
		       int (*cb)(void *ctx, const struct mw_thread_row *r),
		       void *ctx);
int store__each_key(struct store *s, const struct store_filter *f,
		    int (*cb)(void *ctx, const struct mw_key_row *r),
		    void *ctx);
int store__each_block(struct store *s, const struct store_filter *f,
		      int (*cb)(void *ctx, const struct mw_block_row *r,
				const struct mw_site_row *site),
		      void *ctx);
int store__each_finding(struct store *s, const struct store_filter *f,
			int (*cb)(void *ctx, const struct mw_finding_row *r,
				  const struct mw_site_row *site),
			void *ctx);

/* One stack or site by identity; -ENOENT when not stored. */
int store__get_stack(struct store *s, uint64_t id, struct mw_stack_row *r);
int store__get_site(struct store *s, uint64_t proc_id, uint64_t ip,
		    struct mw_site_row *r);

/* --- queries for memwatchctl top and thread ---------------------------- */

/* One process by id (a serial, not a pid); -ENOENT when not stored. */
int store__get_process(struct store *s, uint64_t proc_id,
		       struct mw_process_row *r);

enum store_top_flags {
	STORE_TOP_BLOCKS = 0x1,		/* rank by blocks, not bytes */
	STORE_TOP_PER_THREAD = 0x2,	/* one row per (thread, site) */
};

struct store_top {
	unsigned flags;		/* enum store_top_flags */
	uint64_t now;		/* reference time of processes still traced */
	uint64_t window;	/* growth window in ns; 0: no growth sums */
};

/*
 * What one allocation site holds, summed over the blocks live_blocks
 * stores: blocks older than the persist age, and every block live at
 * process exit. Blocks freed before that are gone from the table, so the
 * growth sums count only blocks that are still live. ref_ts is the
 * moment ages and windows are measured from: the process's end (exit or
 * detach) once tracing stopped, else store_top.now.
 */
struct store_site_usage {
	uint64_t proc_id;
	uint64_t site;
	uint32_t pid;
	uint32_t tid;		/* STORE_TOP_PER_THREAD only, else 0 */
	uint64_t blocks;
	uint64_t bytes;
	uint64_t oldest_ts;	/* ts of the site's oldest live block */
	uint64_t ref_ts;
	uint64_t threads;	/* distinct allocating threads */
	uint64_t new_bytes;	/* allocated in (ref_ts - window, ref_ts] */
	uint64_t prev_bytes;	/* in (ref_ts - 2 window, ref_ts - window] */
};

/* Sites by live bytes (or blocks), most first; f: pid and limit. */
int store__each_site_usage(struct store *s, const struct store_filter *f,
			   const struct store_top *q,
			   int (*cb)(void *ctx,
				     const struct store_site_usage *u,
				     const struct mw_site_row *site),
			   void *ctx);

/* Every thread with this tid, newest first: a tid may name threads of
 * several processes, and several threads of one process as tids are
 * reused. f: pid only. */
int store__each_thread_tid(struct store *s, const struct store_filter *f,
			   uint32_t tid,
			   int (*cb)(void *ctx, const struct mw_thread_row *r),
			   void *ctx);

/* The TLS bindings and the live blocks (largest first; f: limit) of one
 * thread: t as a thread reader gave it. */
int store__each_thread_binding(struct store *s, const struct mw_thread_row *t,
			       int (*cb)(void *ctx,
					 const struct mw_binding_row *r),
			       void *ctx);
int store__each_thread_block(struct store *s, const struct store_filter *f,
			     const struct mw_thread_row *t,
			     int (*cb)(void *ctx, const struct mw_block_row *r,
				       const struct mw_site_row *site),
			     void *ctx);

/* --- queries for memwatchctl export ------------------------------------ */

/* What the live blocks of one allocating stack hold, in one process. */
struct store_stack_usage {
	uint64_t proc_id;
	uint32_t pid;
	uint32_t pad;
	uint64_t stack_id;	/* 0: the blocks have no stack */
	uint64_t site;		/* the call site: the stack's frames[0] */
	uint64_t blocks;
	uint64_t bytes;
};

/* Live blocks (as live_blocks stores them) summed by stack, most bytes
 * first; stack is NULL when the blocks have none or it is not stored.
 * f: pid only. */
int store__each_stack_usage(struct store *s, const struct store_filter *f,
			    int (*cb)(void *ctx,
				      const struct store_stack_usage *u,
				      const struct mw_stack_row *stack),
			    void *ctx);

#endif
