/*
 * etw_decode.h - the Windows collector's pure part: ETW records in,
 * normalized events (common/event.h) out, for the same engine the eBPF
 * collector feeds.
 *
 * Portable C with no Windows header: the live session code
 * (win/etw_session.c) copies each EVENT_RECORD into a struct etw_record,
 * and the tests build the same records byte for byte on Linux and under
 * wine. Three pieces, used in this order:
 *  - etw_merge: the heap session and the kernel-process session arrive on
 *    two consumer threads; records are merged by time stamp, each held
 *    until it is reorder_ticks old, so that a late buffer of one session
 *    still goes in its place.
 *  - etw_decoder: decodes the Heap Trace Provider, StackWalk and
 *    Microsoft-Windows-Kernel-Process, pairs each allocation with its
 *    stack (same thread, same raw time stamp), and marks the thread stops
 *    that were part of their process's exit.
 *  - etw_loss: a session's lost-event counters into lost-event counts.
 * None of them calls TDH: payloads are decoded by fixed layouts
 * (win/etw_defs.h).
 */
#ifndef MEMWATCH_ETW_DECODE_H
#define MEMWATCH_ETW_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etw_defs.h"
#include "event.h"

/* The fields of an EVENT_RECORD the decoder reads. */
struct etw_record {
	struct etw_guid provider; /* EventHeader.ProviderId */
	uint16_t flags;		  /* EventHeader.Flags (MW_ETW_HDR_*) */
	uint16_t id;		  /* EventDescriptor.Id */
	uint8_t opcode;		  /* EventDescriptor.Opcode */
	uint8_t version;	  /* EventDescriptor.Version */
	uint16_t pad;
	uint32_t pid; /* EventHeader.ProcessId: who logged it */
	uint32_t tid; /* EventHeader.ThreadId */
	uint64_t ts;  /* EventHeader.TimeStamp, raw (session clock ticks) */
	const uint8_t *data; /* UserData */
	uint32_t len;	     /* UserDataLength */
};

bool etw_guid__eq(const struct etw_guid *a, const struct etw_guid *b);

/* Raw ticks to wall time: ref_ticks was ref_ns (ns since the Unix epoch);
 * freq ticks make a second. */
struct etw_clock {
	uint64_t freq;
	uint64_t ref_ticks;
	uint64_t ref_ns;
};

uint64_t etw_clock__ns(const struct etw_clock *c, uint64_t ticks);
uint64_t etw_clock__ticks(const struct etw_clock *c, uint64_t ns);

/* --- merge ----------------------------------------------------------- */

struct etw_merge;

struct etw_merge *etw_merge__new(uint64_t reorder_ticks);
void etw_merge__free(struct etw_merge *m);
/* Keeps a copy of r and its payload. 0 or -ENOMEM. */
int etw_merge__push(struct etw_merge *m, const struct etw_record *r);
/* The same, taking r's payload without a copy: r->data is owned, a
 * malloc'ed buffer (or NULL) the merge frees, even on error. */
int etw_merge__take(struct etw_merge *m, const struct etw_record *r,
		    uint8_t *owned);
/* The oldest record (ties in push order) once it is reorder_ticks older
 * than now_ticks; UINT64_MAX takes everything. 1: *r is set, valid until
 * the next call; 0: nothing is due. */
int etw_merge__pop(struct etw_merge *m, uint64_t now_ticks,
		   struct etw_record *r);
uint64_t etw_merge__count(const struct etw_merge *m);

/* --- decode ---------------------------------------------------------- */

/* Zero fields take the defaults below. */
struct etw_decoder_config {
	struct etw_clock clock;
	/* An allocation waits this long for its StackWalk event; a later
	 * event of the same thread ends the wait at once. */
	uint64_t stack_wait_ns;
	/* A ThreadStop waits this long for its process's ProcessStop: if it
	 * comes, the thread died with its process (MW_EVF_GROUP_EXIT). */
	uint64_t exit_hold_ns;
};

#define ETW_DEFAULT_STACK_WAIT_NS (100ull * 1000 * 1000)
#define ETW_DEFAULT_EXIT_HOLD_NS (500ull * 1000 * 1000)

struct etw_decoder_stats {
	uint64_t records;	  /* pushed */
	uint64_t ignored;	  /* other providers, opcodes and events */
	uint64_t bad;		  /* payload too short: skipped */
	uint64_t stacks;	  /* allocations paired with their stack */
	uint64_t stackless;	  /* allocations whose stack never came */
	uint64_t stray_stacks;	  /* stacks of no allocation we hold */
	uint64_t destroyed_frees; /* frees made for a destroyed heap */
};

struct etw_decoder;

struct etw_decoder *etw_decoder__new(const struct etw_decoder_config *cfg);
void etw_decoder__free(struct etw_decoder *d);
/* Decode only the records of watched pids (all while none is). 0 or
 * -ENOMEM. */
int etw_decoder__watch(struct etw_decoder *d, uint32_t pid, bool on);
/* Decode one record (data is copied as needed). 0, -ENOMEM, or -EBADMSG
 * for a payload shorter than its layout (counted, skipped). */
int etw_decoder__push(struct etw_decoder *d, const struct etw_record *r);
/* A module loaded before tracing began (the collector lists them): known
 * for trimming stacks and naming sites, no event. */
int etw_decoder__add_module(struct etw_decoder *d, uint32_t pid, uint64_t base,
			    uint64_t size, const char *path);
/* The next normalized event due at now_ns (wall ns); UINT64_MAX drains.
 * 1: *ev is set, its frames and path valid until the next call; 0: none. */
int etw_decoder__pop(struct etw_decoder *d, uint64_t now_ns,
		     struct mw_event *ev);
/* The module of pid holding ip, loaded or unloaded since; its path and
 * base. NULL when none is known. */
const char *etw_decoder__module_of(const struct etw_decoder *d, uint32_t pid,
				   uint64_t ip, uint64_t *base);
/* Forget pid's modules and heaps (after its last rows are flushed). */
void etw_decoder__forget(struct etw_decoder *d, uint32_t pid);
void etw_decoder__stats(const struct etw_decoder *d,
			struct etw_decoder_stats *st);

/* --- session setup ----------------------------------------------------- */

/* The extension block of a heap session for npids pids (etw_defs.h), into
 * dw: its length in DWORDs, or 0 when max is too small. Stacks are walked
 * for HeapAlloc and HeapReAlloc. */
size_t etw_heap_ext(uint32_t *dw, size_t max, const uint32_t *pids,
		    size_t npids);

/* --- lost events ------------------------------------------------------ */

/* A session's counters (EVENT_TRACE_PROPERTIES) as last seen. */
struct etw_loss {
	uint32_t events;      /* EventsLost */
	uint32_t log_buffers; /* LogBuffersLost */
	uint32_t rt_buffers;  /* RealTimeBuffersLost */
};

/* Events lost since the last call: events dropped, plus one at least for
 * each buffer lost (ETW does not say how many events a lost buffer held,
 * so this is a lower bound). The counters are 32-bit and may wrap. */
uint64_t etw_loss__update(struct etw_loss *seen, uint32_t events,
			  uint32_t log_buffers, uint32_t rt_buffers);

#endif
