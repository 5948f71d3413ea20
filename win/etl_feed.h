/*
 * etl_feed.h - the events of an ETW trace file (etl_file.h) as the
 * records the decoder takes (etw_decode.h), so that a trace recorded on a
 * Windows machine goes through the same decoder, engine and store as a
 * live session's events. Portable.
 *
 * Kernel events of the file's SYSTEM and PERFINFO headers become classic
 * records of their group's provider: the Heap group (0x10) the Heap Trace
 * Provider, StackWalk (0x18) the kernel's stack walks, the others a
 * provider the decoder does not know. A stack the reader gave with an
 * event becomes a StackWalk record after it, as a live session delivers
 * it.
 */
#ifndef MW_WIN_ETL_FEED_H
#define MW_WIN_ETL_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "etl_file.h"
#include "etw_decode.h"

/* The decoder's clock for this file: its ticks to Unix-epoch ns. */
struct etw_clock etl_feed__clock(const struct etl_info *info);

/* ev as a record: r->data points into ev's payload. */
void etl_feed__record(const struct etl_event *ev, struct etw_record *r);

/*
 * ev, a kernel Thread or Process event of the file (the classic kernel
 * logger's, group 0x05 and 0x03), as the Microsoft-Windows-Kernel-Process
 * record the decoder knows, the one a live session gets: Thread Start and
 * DCStart (rundown) as ThreadStart, Thread End as ThreadStop (their
 * payloads begin alike: ProcessId, ThreadId), Process End as ProcessStop
 * (its exit status, into buf, cap bytes). 1 when *r is set; 0 for any
 * other event, the rundown's DCEnd ones included (still running).
 */
int etl_feed__kernel(const struct etl_event *ev, uint8_t *buf, size_t cap,
		     struct etw_record *r);

/* ev's stack, if it has one, as a StackWalk record whose payload is
 * written to buf (cap bytes): 1 when *r is set, 0 when ev has no stack. */
int etl_feed__stack(const struct etl_event *ev, uint8_t *buf, size_t cap,
		    struct etw_record *r);

#endif
