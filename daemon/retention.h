/*
 * retention.h - memwatchd's retention: the database kept within an age
 * (--keep-days, --keep-findings-days) and a size (--max-db-mb) by
 * removing the rows of processes no longer traced, in small steps from
 * the daemon's timer, so that ingest never waits long on it.
 *
 * Age is counted from a process's end (its exit, or the detach): its raw
 * rows (threads, keys, bindings, blocks; store.h, STORE_PRUNE_RAW) go
 * keep_days after it, its findings, the stacks and sites they name and
 * its row keep_findings_days after it. Size is the database file plus its
 * write-ahead log; for a file created without incremental vacuum (by a
 * memwatchd before retention), whose free pages cannot go back to the
 * file system, the pages in use plus the log. Over max_db_mb, the raw
 * rows of the processes that ended first go first, then everything of
 * those processes, until the pages in use are under the low-water mark
 * (RETENTION_LOW_WATER); the free pages then go back to the file system
 * and the log is emptied, so the file shrinks. Rows of processes still
 * traced (the engine's) are never removed.
 */
#ifndef MEMWATCH_RETENTION_H
#define MEMWATCH_RETENTION_H

#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "store.h"

/* Where a size cycle stops removing rows: 10 % under the limit, and at
 * least the 4 MiB the write-ahead log grows to between checkpoints. */
#define RETENTION_LOW_WATER(limit)                                             \
	((limit) - ((limit) / 10 > (4ull << 20) ? (limit) / 10 : (4ull << 20)))

/* What retention did since the daemon started. */
struct retention_stats {
	struct store_pruned rows; /* removed, by table; .processes: rows
				     of processes removed entirely */
	uint64_t raw_processes;	  /* processes whose raw rows went */
	uint64_t cycles;	  /* prune cycles run */
	uint64_t steps;		  /* timer ticks that did some of it */
	uint64_t step_ns;	  /* their time, all of them */
	uint64_t step_max_ns;	  /* the longest one */
	uint64_t vacuumed_pages;  /* free pages given back */
};

struct retention;

/*
 * Retention over store, skipping the processes engine holds. db names the
 * database in messages. With a size limit, a database created without
 * incremental vacuum is converted here, once, if it is small enough that
 * the VACUUM this takes is short (RETENTION_CONVERT_MAX_MB: a VACUUM
 * rewrote 157 MiB in 1.0 s here); otherwise it is logged how to convert
 * it by hand. NULL and errno on failure.
 */
#define RETENTION_CONVERT_MAX_MB 256
struct retention *retention__new(struct store *store,
				 const struct engine *engine, const char *db,
				 const struct retention_config *cfg);
void retention__free(struct retention *r);
/* New settings (a reload): a cycle under way goes on under them. */
void retention__configure(struct retention *r,
			  const struct retention_config *cfg);
/*
 * What a step aims at. A row costs less in a bigger transaction, as the
 * rows of one process share pages: deleting 43,000 blocks of a process of
 * a 400,000-block database took 50 us a row in transactions of 100 rows,
 * 19 in 500, 12 in 2000 (tests/bench/gen_db, sqlite3 shell). 10 ms is
 * some 500 rows, 3,000 to 4,500 rows a second at 8 steps a second, and
 * little beside a flush (0.15 to 0.45 s at its row limit).
 */
#define RETENTION_STEP_NS (10ull * 1000 * 1000)
/*
 * Call at each timer tick that did not flush: checks whether pruning is
 * due (age every minute, size every second) and runs one bounded step of
 * a cycle under way, aiming at RETENTION_STEP_NS. now: the rows' clock,
 * ns since the Unix epoch.
 */
void retention__tick(struct retention *r, uint64_t now);
const struct retention_stats *retention__stats(const struct retention *r);

#endif
