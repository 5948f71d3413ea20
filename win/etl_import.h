/*
 * etl_import.h - an ETW trace file (.etl) imported into a memwatch
 * database: its events through the Windows collector's decoder
 * (etw_decode.h, fed by etl_feed.h), the engine and the store's flusher,
 * as win/memwatchw.c does live, with the trace's time stamps as the
 * engine's clock. Portable: memwatchctl import runs it on Linux and on
 * Windows.
 *
 * The header names no engine type: memwatchctl (ctl/) reaches the engine
 * only through this call (docs/ARCHITECTURE.md, "The tree").
 */
#ifndef MW_WIN_ETL_IMPORT_H
#define MW_WIN_ETL_IMPORT_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* What an import read and wrote. */
struct etl_import_stats {
	uint64_t events;    /* the trace's events read */
	uint64_t decoded;   /* normalized events fed to the engine */
	uint64_t processes; /* processes the trace showed, as rows */
	uint64_t lost;	    /* events the trace says it lost (a buffer: 1) */
	uint64_t withheld;  /* findings withheld for lost evidence */
	uint64_t findings;
	uint64_t live_blocks; /* at the trace's end */
	uint64_t flushes;
	uint64_t first_ns, last_ns; /* the trace's span, Unix-epoch ns */
};

/*
 * Import the trace at path into st, a database just created (ids start
 * at its next serial). Returns 0, or a negative errno with why set to one
 * line saying what is wrong with the file or the database (without the
 * file's name): -EBADMSG for a file that is no readable ETW trace.
 */
int etl_import__run(const char *path, struct store *st,
		    struct etl_import_stats *stats, char *why, size_t len);

#endif
