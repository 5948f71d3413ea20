/*
 * rows.h - the records the engine hands to its sink and the store
 * persists: one struct per table of schema/.
 *
 * Identity: every process, block and finding gets a serial from the
 * engine's counter, which the daemon seeds from the store
 * (store__next_serial), so serials are unique within one database across
 * daemon restarts. OS pids are reused; serials are not.
 * Times are ns since the Unix epoch; 0 means "not yet".
 */
#ifndef MEMWATCH_ROWS_H
#define MEMWATCH_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

enum mw_proc_state {
	MW_PROC_TRACING = 1,	/* the daemon is attached */
	MW_PROC_EXITED = 2,	/* the process exited while traced */
	MW_PROC_DETACHED = 3,	/* tracing stopped, the process may live on */
};

enum mw_trace_mode {
	MW_MODE_FULL = 1,	/* allocations, frees and TLS */
	MW_MODE_TLS = 2,	/* TLS functions only: malloc untouched */
};

enum mw_thread_state {
	MW_THREAD_ALIVE = 1,
	MW_THREAD_EXITED = 2,	/* exited on its own (pthread_exit, return) */
	MW_THREAD_GONE = 3,	/* died with its process (exit_group, signal) */
};

enum mw_key_state {
	MW_KEY_LIVE = 1,
	MW_KEY_DELETED = 2,
};

enum mw_finding_kind {
	MW_FIND_TLS_OUTLIVED_THREAD = 1,
	MW_FIND_TLS_OUTLIVED_KEY = 2,
	MW_FIND_TLS_OVERWRITTEN = 3,
	MW_FIND_THREAD_ORPHAN = 4,
	MW_FIND_TLS_OUTLIVED_MODULE = 5,
	MW_FIND_THREAD_GROWTH = 6,
	MW_FIND_SITE_GROWTH = 7,
	MW_FIND_ALLOCATOR_RETENTION = 8,
	MW_FIND_BAD_FREE = 9,
	MW_FIND_ALLOCATOR_RACE = 10,
	MW_FIND_KIND_MAX,
};

#define MW_CGROUP_MAX 192

struct mw_process_row {
	uint64_t id;
	uint32_t pid;
	uint32_t state;		/* enum mw_proc_state */
	char comm[MW_COMM_MAX];
	uint64_t start_ts;	/* tracing started */
	uint64_t end_ts;	/* exit or detach */
	int32_t exit_code;
	uint32_t threads;	/* threads seen */
	uint64_t allocs;
	uint64_t frees;
	uint64_t live_blocks;
	uint64_t live_bytes;
	uint64_t unknown_frees;	/* frees of blocks never seen allocated */
	uint64_t lost;		/* events lost while this process was traced */
	uint64_t findings;
	uint32_t mode;		/* enum mw_trace_mode */
	uint32_t pad;
	char allocator[MW_COMM_MAX]; /* "glibc", "mimalloc", ...; may be "" */
	uint32_t nspid;		/* pid in its own pid namespace; 0: unknown */
	uint32_t pad2;
	char cgroup[MW_CGROUP_MAX]; /* cgroup v2 path; "" when unknown */
	/* Incomplete trace: events the engine refused at its bounds
	 * (--max-blocks, --max-threads, --max-keys), and the window in which
	 * events were lost or refused, first to latest (0 when none was).
	 * A finding that needs an event of that window is withheld (counted
	 * in withheld), never reported; see docs/RELIABILITY.md. */
	uint64_t dropped;
	uint64_t incomplete_from, incomplete_to;
	uint64_t withheld;
};

struct mw_thread_row {
	uint64_t proc_id;
	uint32_t pid;
	uint32_t tid;
	uint32_t state;		/* enum mw_thread_state */
	uint32_t pad;
	char comm[MW_COMM_MAX];
	uint64_t start_ts;	/* first seen; with tid, the thread's identity */
	uint64_t exit_ts;
	uint64_t allocs;
	uint64_t frees;		/* of blocks seen allocated */
	uint64_t alloc_bytes;
	uint64_t free_bytes;
	uint64_t cross_frees;	/* frees of blocks another thread allocated */
	uint64_t unknown_frees;
	uint64_t live_blocks;	/* blocks this thread allocated, still live */
	uint64_t live_bytes;
};

struct mw_key_row {
	uint64_t proc_id;
	uint32_t pid;
	uint32_t key;
	uint32_t generation;	/* 1 for the first create of this key id */
	uint32_t state;		/* enum mw_key_state */
	uint32_t create_tid;	/* 0 when the key predates tracing */
	uint32_t pad;
	uint64_t destructor;
	uint64_t create_ts;
	uint64_t delete_ts;
	uint64_t bindings;	/* threads holding a non-NULL value */
};

/* One thread's value for one key. value 0 means the slot was cleared. */
struct mw_binding_row {
	uint64_t proc_id;
	uint32_t pid;
	uint32_t tid;
	uint32_t key;
	uint32_t generation;
	uint64_t value;
	uint64_t block;		/* serial of the live block value points to, or 0 */
	uint64_t size;		/* that block's size */
	uint64_t set_ts;
};

/* A block that lived past the persist age, or was live at process exit. */
struct mw_block_row {
	uint64_t serial;
	uint64_t proc_id;
	uint32_t pid;
	uint32_t tid;
	uint64_t addr;
	uint64_t size;
	uint64_t ts;
	uint64_t site;
	uint64_t stack_id;	/* 0: no stack */
};

enum mw_severity {
	MW_SEV_LOW = 1,		/* worth a look; may be by design */
	MW_SEV_MEDIUM = 2,	/* memory grows or is lost; not TLS-proven */
	MW_SEV_HIGH = 3,	/* proven: the block is unreachable by design */
};

#define MW_DETAIL_MAX 160
#define MW_REASON_MAX 96
/* A suppression rule's name, "FILE:LINE" (engine/suppress.h). */
#define MW_RULE_MAX 48
/* An acknowledgement's note (memwatchctl ack --note). */
#define MW_NOTE_MAX 256

struct mw_finding_row {
	uint64_t id;
	uint32_t kind;		/* enum mw_finding_kind */
	uint32_t pid;
	uint64_t proc_id;
	uint32_t tid;		/* thread whose slot held the block */
	uint32_t key;
	uint32_t generation;
	uint32_t alloc_tid;	/* thread that allocated the block */
	uint64_t block;		/* block serial */
	uint64_t addr;
	uint64_t size;
	uint64_t site;
	uint64_t alloc_ts;
	uint64_t trigger_ts;	/* thread exit or key delete */
	uint64_t found_ts;
	uint64_t stack_id;	/* allocating stack, 0 when unknown */
	/* Evidence. A one-block finding has count 1, bytes = size, one
	 * thread and first_ts = last_ts = found_ts; a finding about a site
	 * or thread over time keeps its id and grows these. */
	uint32_t severity;	/* enum mw_severity */
	uint32_t threads;	/* distinct threads involved */
	uint64_t count;		/* blocks (or frees) involved */
	uint64_t bytes;
	uint64_t first_ts;
	uint64_t last_ts;
	char detail[MW_DETAIL_MAX]; /* one line for people, may be empty */
	/* Resolved: its evidence went away (its blocks freed, its growth
	 * given back) at resolved_ts, for resolved_reason. 0: open. A
	 * resolved finding never opens again (docs/RULES.md). */
	uint64_t resolved_ts;
	char resolved_reason[MW_REASON_MAX];
	/* Suppressed: the rule of the suppressions file that matched it
	 * when it was last written, "FILE:LINE"; "" none (docs/RULES.md,
	 * "Living with findings"). Not the engine's: the daemon sets it. */
	char suppressed[MW_RULE_MAX];
	/* Acknowledged by people (memwatchctl ack) at ack_ts, 0: not, with
	 * a note, may be empty. Written by the daemon's ack request alone:
	 * the engine's rows leave them as they are stored. */
	uint64_t ack_ts;
	char ack_note[MW_NOTE_MAX];
};

/* What the stack classifier saw in an allocating stack. */
enum mw_stack_flags {
	/* Through a C++ thread_local initializer or wrapper, or the
	 * registration of a thread_local destructor. */
	MW_STACK_TLS_INIT = 0x1,
	/* Through the dynamic loader's allocation of a module's TLS block
	 * (__tls_get_addr). */
	MW_STACK_TLS_DYNAMIC = 0x2,
};

/*
 * The culprit of an allocating stack, in the same flags: frames[0 ..
 * culprit) are allocation wrappers (xmalloc, zmalloc, operator new, ...),
 * frames[culprit] is the first frame that is not, the site findings, top
 * and the pprof export name. Bits 8-11 hold culprit (0: frame 0, no
 * wrapper), bits 16-31 why each of the first MW_WRAP_MAX frames was taken
 * as a wrapper, two bits each (enum mw_wrap_why). See daemon/wrapper.h.
 */
#define MW_WRAP_MAX 8
#define MW_STACK_CULPRIT_SHIFT 8
#define MW_STACK_CULPRIT_MASK 0xfu
#define MW_STACK_WHY_SHIFT 16

enum mw_wrap_why {
	MW_WRAP_NONE = 0,    /* not a wrapper */
	MW_WRAP_BUILTIN = 1, /* on the built-in list of common runtimes */
	MW_WRAP_USER = 2,    /* matched a --wrapper regular expression */
	MW_WRAP_AUTO = 3,    /* recognised from the stacks (docs/RULES.md) */
};

/* The index of the culprit frame flags say (< MW_WRAP_MAX + 1). */
static inline uint32_t mw_stack_culprit(uint32_t flags)
{
	return (flags >> MW_STACK_CULPRIT_SHIFT) & MW_STACK_CULPRIT_MASK;
}

/* Why frame i was taken as a wrapper (enum mw_wrap_why). */
static inline uint32_t mw_stack_wrap_why(uint32_t flags, uint32_t i)
{
	if (i >= mw_stack_culprit(flags) || i >= MW_WRAP_MAX)
		return MW_WRAP_NONE;
	return (flags >> (MW_STACK_WHY_SHIFT + 2 * i)) & 3u;
}

/* flags with frames[0 .. n) taken as wrappers for why[0 .. n). */
static inline uint32_t mw_stack_set_culprit(uint32_t flags, uint32_t n,
					    const uint8_t *why)
{
	flags &= 0xffu;
	if (n > MW_WRAP_MAX)
		n = MW_WRAP_MAX;
	flags |= n << MW_STACK_CULPRIT_SHIFT;
	for (uint32_t i = 0; i < n; i++)
		flags |= (uint32_t)(why[i] & 3u) << (MW_STACK_WHY_SHIFT + 2 * i);
	return flags;
}

/* The word for a wrapper's reason: "built-in", "--wrapper", "automatic". */
const char *mw_wrap_why_name(uint32_t why);

/* A deduplicated allocating stack: frames[0] is the call site. */
struct mw_stack_row {
	uint64_t proc_id;
	uint64_t id;
	uint32_t pid;
	uint32_t flags;		/* enum mw_stack_flags */
	uint32_t nframes;
	uint32_t pad;
	uint64_t frames[MW_EV_MAX_FRAMES];
};

#define MW_SITE_STR 256

/* A call site, symbolized by the daemon. Empty strings: unknown. */
struct mw_site_row {
	uint64_t proc_id;
	uint64_t ip;
	uint64_t offset;	/* ip - function start, when function is known */
	uint32_t line;
	uint32_t pad;
	char module[MW_SITE_STR];
	char function[MW_SITE_STR];
	char file[MW_SITE_STR];
};

const char *mw_finding_kind_name(uint32_t kind);
int mw_finding_kind_parse(const char *name); /* -EINVAL if unknown */
const char *mw_proc_state_name(uint32_t state);
const char *mw_thread_state_name(uint32_t state);
const char *mw_key_state_name(uint32_t state);
const char *mw_severity_name(uint32_t sev);
const char *mw_mode_name(uint32_t mode);
/* A finding's state: "resolved" (resolved_ts), else "acknowledged"
 * (ack_ts), else "suppressed" (suppressed), else "open". */
const char *mw_finding_state(const struct mw_finding_row *f);
int mw_severity_parse(const char *name); /* -EINVAL if unknown */

/* --- row descriptions (rows.c) ------------------------------------------- */

/*
 * One description per table: for each column of the row struct, its
 * name in schema/, its C type, where it is in the struct, and how it is
 * written and shown. The store builds its statements, binds and reads
 * from these (store/store_row.c), and memwatchctl (ctl/rowfmt.c) writes
 * a row as JSON or CSV, so a new column is described once, here, besides
 * its migration in schema/ and its field in the struct above.
 * Columns are in the order people see them (memwatchctl --json, CSV);
 * SQL does not care about the order.
 */
enum mw_col_type {
	MW_COL_U64 = 1, /* uint64_t, stored as SQLite's signed integer */
	MW_COL_U32,	/* uint32_t */
	MW_COL_I32,	/* int32_t, stored sign-extended */
	MW_COL_TEXT,	/* char[size], NUL-terminated; stored as TEXT */
	/* uint64_t[MW_EV_MAX_FRAMES], stored as TEXT: lower-case hex
	 * separated by spaces; its count is the row's nframes. */
	MW_COL_FRAMES,
};

enum mw_col_flags {
	MW_COL_KEY = 0x01,     /* the table's key: an upsert's conflict target */
	MW_COL_KEEP = 0x02,    /* written by the first insert; upserts keep it */
	/* ns since the Unix epoch, 0: not yet. Shown as two fields: LABEL,
	 * an RFC 3339 string in UTC to the ns, and LABEL_ns, the number as a
	 * string (JSON readers such as jq 1.6 round integers past 2^53);
	 * both null (CSV: empty) when 0. */
	MW_COL_TIME = 0x04,
	MW_COL_HIDDEN = 0x08,  /* stored, never shown (JSON, CSV) */
	MW_COL_NULL0 = 0x10,   /* shown as null (CSV: empty) when 0 */
	MW_COL_HEX = 0x20,     /* shown as "0x..." (an address) */
	MW_COL_SITE = 0x40,    /* an ip: shown as its sites row, nested (JSON)
				  or flattened as site_LABEL (CSV) */
	MW_COL_VIRTUAL = 0x80, /* shown only, made from the row by derive:
				  no column in the database */
};

struct mw_col {
	const char *name;  /* the column in schema/ */
	const char *label; /* its name in JSON and CSV; NULL: name */
	uint8_t type;	   /* enum mw_col_type */
	uint8_t since;	   /* the migration that added it (schema/NNN_) */
	uint16_t flags;	   /* enum mw_col_flags */
	uint16_t offset;   /* offsetof the field in the row struct */
	uint16_t size;	   /* sizeof the field */
	/* A number shown as the word for it (mw_*_name); NULL: the number. */
	const char *(*name_of)(uint32_t v);
	/* MW_COL_VIRTUAL: the text shown, made from the row into buf. */
	const char *(*derive)(const void *row, char *buf, size_t len);
	/* MW_COL_FRAMES: offsetof the uint32_t count of frames. */
	uint16_t count;
	/* NULL, or whether row has a value here: shown as null (CSV: empty)
	 * when not (a finding's key when it is about no key). */
	int (*has)(const void *row);
};

enum mw_row_flags {
	/* Written with INSERT OR REPLACE, not an upsert: a row is written
	 * whole, once, and no trigger watches the table. */
	MW_ROW_REPLACE = 0x1,
};

struct mw_row_desc {
	const char *table; /* in schema/ */
	size_t size;	   /* sizeof the row struct */
	unsigned flags;	   /* enum mw_row_flags */
	unsigned ncols;
	const struct mw_col *cols;
};

extern const struct mw_row_desc mw_process_desc;
extern const struct mw_row_desc mw_thread_desc;
extern const struct mw_row_desc mw_key_desc;
extern const struct mw_row_desc mw_binding_desc;
extern const struct mw_row_desc mw_block_desc;
extern const struct mw_row_desc mw_finding_desc;
extern const struct mw_row_desc mw_stack_desc;
extern const struct mw_row_desc mw_site_desc;

/* The column's field in row. */
static inline void *mw_col__field(const struct mw_col *c, const void *row)
{
	return (char *)row + c->offset;
}

/* Every description, for the tests that check them all. */
extern const struct mw_row_desc *const mw_row_descs[];
extern const size_t mw_row_descs_count;


#endif
