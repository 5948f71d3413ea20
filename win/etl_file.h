/*
 * etl_file.h - an offline reader of ETW trace files (.etl): the files
 * real Windows machines record (xperf, WPR, PerfView, the kernel logger,
 * the relogger), read on any OS. Portable C: no Windows headers, every
 * field read little-endian at a checked offset.
 *
 * The file is a sequence of WMI buffers, one processor's events each;
 * etl_file__open reads the whole file into memory, decompresses its
 * MS-XCA buffers (xca.h), checks every record's header, indexes the
 * records and sorts them by time stamp, so that etl_file__next gives the
 * events of all processors merged in time order. Stack walks are given
 * with the event they belong to: inline (StackWalk events, extended-data
 * stack traces) or cached (StackWalk key references resolved through the
 * key definitions the trace holds, wherever they are in the file). What
 * the trace says it lost (the header's counts, buffers flagged as having
 * lost events) is in etl_info; nothing the reader cannot decode is passed
 * over silently: a record it cannot read is an error naming the buffer
 * and offset.
 */
#ifndef MW_WIN_ETL_FILE_H
#define MW_WIN_ETL_FILE_H

#include <stddef.h>
#include <stdint.h>

struct etl_file;

/* What a record's header carries, by its family. */
enum etl_kind {
	ETL_KIND_SYSTEM,   /* kernel: SYSTEM, COMPACT or PERFINFO header, hook id */
	ETL_KIND_EVENT,    /* EVENT_HEADER: provider GUID, event descriptor */
	ETL_KIND_CLASSIC,  /* EVENT_TRACE_HEADER (MOF): GUID, class type */
	ETL_KIND_INSTANCE, /* EVENT_INSTANCE_HEADER: class type, no GUID */
};

/* Where an event's stack came from. */
enum etl_stack_src {
	ETL_STACK_NONE,
	ETL_STACK_INLINE, /* StackWalk_Event records (hook 0x1820) */
	ETL_STACK_CACHED, /* StackWalk key references, keys resolved */
	ETL_STACK_EXT,    /* EVENT_HEADER extended data, STACK_TRACE32/64 */
};

#define ETL_NO_ID UINT32_MAX /* a header without a pid or tid */
#define ETL_STACK_MAX 256    /* frames given; deeper stacks are cut */

/* Kernel hook ids the reader itself knows: group << 8 | type. */
#define ETL_HOOK_HEADER 0x0000
#define ETL_HOOK_STACKWALK 0x1820
#define ETL_HOOK_STACK_KEY_DELETE 0x1823
#define ETL_HOOK_STACK_KEY_RUNDOWN 0x1824
#define ETL_HOOK_STACK_KEY_KERNEL 0x1825
#define ETL_HOOK_STACK_KEY_USER 0x1826

struct etl_guid {
	uint32_t d1;
	uint16_t d2, d3;
	uint8_t d4[8];
};

struct etl_event {
	enum etl_kind kind;
	uint8_t header_type; /* TRACE_HEADER_TYPE_* as found in the file */
	uint8_t ptr_size;    /* 4 or 8: the width of pointers in the payload */
	uint16_t hook_id;    /* SYSTEM: group << 8 | type */
	uint16_t version;    /* SYSTEM, CLASSIC: the header's version */
	struct etl_guid provider; /* EVENT, CLASSIC */
	uint16_t id;              /* EVENT */
	uint8_t opcode;           /* EVENT: opcode; CLASSIC, INSTANCE: class type */
	uint8_t level;
	uint16_t task;
	uint64_t keyword;
	uint32_t pid, tid; /* ETL_NO_ID when the header has none (PERFINFO) */
	uint16_t cpu;
	uint64_t timestamp; /* raw, in the trace's clock */
	int64_t time_ns;    /* since the session start (the header event) */
	uint64_t file_offset; /* of the record, in its (decompressed) buffer's bytes */
	const uint8_t *data;  /* the payload: valid until the next call */
	uint32_t len;
	/* The stack, innermost frame first (kernel frames, then user). */
	enum etl_stack_src stack_src;
	uint32_t stack_pid, stack_tid; /* as the StackWalk records say */
	uint32_t depth;
	int stack_unresolved; /* a key reference no definition matched */
	const uint64_t *stack;
};

struct etl_info {
	/* TRACE_LOGFILE_HEADER, the file's first event */
	uint32_t buffer_size, version, provider_version, ncpu;
	uint32_t timer_resolution, max_file_size, log_file_mode;
	uint32_t buffers_written, pointer_size, events_lost, cpu_mhz;
	uint32_t clock_type, buffers_lost;
	uint64_t end_time, boot_time, perf_freq, start_time; /* FILETIMEs, Hz */
	uint64_t start_ticks; /* the header event's time stamp: start_time */
	uint64_t clock_freq;  /* time stamp ticks a second, by clock_type */
	/* what reading found */
	uint64_t buffers, buffers_compressed;
	uint64_t buffers_events_lost; /* ETW_BUFFER_FLAG_EVENTS_LOST */
	uint64_t buffers_flag_lost;   /* ETW_BUFFER_FLAG_BUFFER_LOST */
	uint64_t records;             /* every record, stack walks included */
	uint64_t events;              /* what etl_file__next gives */
	uint64_t stack_records;       /* StackWalk events and key references */
	uint64_t stack_attached;      /* of those, given with their event */
	uint64_t stack_orphans;       /* given as events of their own */
	uint64_t key_definitions;     /* 0x1823, 0x1824 records */
	uint64_t keys_unresolved;     /* references no definition matched */
};

/* Read a file / a buffer (copied). NULL and errno on failure; for a file
 * that is no ETW trace or is damaged, errno is EBADMSG and
 * etl_file__last_error(NULL) says what and where. */
struct etl_file *etl_file__open(const char *path);
struct etl_file *etl_file__open_mem(const void *buf, size_t len);

/* The next event in time order: 1, 0 at the end, or a negative errno. */
int etl_file__next(struct etl_file *f, struct etl_event *ev);

/* Back to the first event. */
void etl_file__rewind(struct etl_file *f);

const struct etl_info *etl_file__info(const struct etl_file *f);

/* The last error's description, for f or, with NULL, for the last open
 * that failed in this thread. */
const char *etl_file__last_error(const struct etl_file *f);

void etl_file__close(struct etl_file *f);

#endif
