/*
 * event.h - the normalized event: the one type every collector produces
 * (eBPF on Linux, ETW on Windows) and the engine consumes.
 *
 * Nothing downstream of a collector knows which collector produced an
 * event. Timestamps are nanoseconds on one monotonic clock that the
 * collector maps to wall time (ns since the Unix epoch), so that they can
 * be stored and compared with times taken by other tools.
 */
#ifndef MEMWATCH_EVENT_H
#define MEMWATCH_EVENT_H

#include <stdint.h>

#define MW_COMM_MAX 16
/* User stack frames an allocation event carries at most. */
#define MW_EV_MAX_FRAMES 32

enum mw_event_type {
	MW_EV_ALLOC = 1,	/* addr = block, size, site */
	MW_EV_FREE,		/* addr = block (never 0), site */
	MW_EV_REALLOC,		/* addr = new block or 0, old_addr, size, site */
	MW_EV_THREAD_START,	/* comm */
	MW_EV_THREAD_EXIT,	/* flags may hold MW_EVF_GROUP_EXIT */
	MW_EV_PROC_EXIT,	/* code = exit code or signal */
	MW_EV_EXEC,		/* the address space was replaced; comm */
	MW_EV_KEY_CREATE,	/* key, addr = destructor or 0 */
	MW_EV_KEY_DELETE,	/* key */
	/* key, addr = value (0 clears the slot); flags may hold
	 * MW_EVF_LINK_CHECKED, then old_addr and code */
	MW_EV_TLS_SET,
	/* count events were lost; pid 0 = unknown pid; ts the latest loss,
	 * addr the first (0: unknown) */
	MW_EV_LOST,
	/* dlopen returned: old_addr = handle, addr = start, size = extent of
	 * the module's mappings,
	 * path. */
	MW_EV_MODULE_LOAD,
	/* dlclose(old_addr) entered; the module's fields as for load. */
	MW_EV_MODULE_UNLOAD,
	/* that dlclose(old_addr) returned code; flags: MW_EVF_UNMAPPED. */
	MW_EV_MODULE_UNLOADED,
	/* Private anonymous memory, not stacks, as the kernel mapped it. */
	MW_EV_MMAP,		/* addr, size */
	MW_EV_MUNMAP,		/* addr, size */
	MW_EV_BRK,		/* addr = the program break now */
	MW_EV_MREMAP,		/* old_addr, count = old size; addr, size */
	/* An untraced process exec'ed a watched program and waits, stopped,
	 * to be attached and resumed; comm. Not for the engine. */
	MW_EV_SPAWN,
	/*
	 * A call of a user's allocator pair (--alloc/--free) entered while
	 * another thread was inside the same pair, and returned: tid's call
	 * at site, the other thread (key) at old_addr; code = the pair (per
	 * process, 1-based); frames = {site, old_addr}; path = the two
	 * functions' names, this call's first, separated by a comma;
	 * flags: MW_EVF_LOCKED, MW_EVF_BLOCKED, MW_EVF_DELEGATED, MW_EVF_WATCHED.
	 */
	MW_EV_POOL_OVERLAP,
	MW_EV_TYPE_MAX,
};

/* The thread exited as part of its whole process exiting. */
#define MW_EVF_GROUP_EXIT 0x1u
/* The call came from inside the C library or the dynamic loader (their
 * own bookkeeping, such as glibc emptying a thread's tcache at exit), not
 * from the program: a free of an unknown block there is not the
 * program's mistake. */
#define MW_EVF_INTERNAL 0x2u
/* tls_set of a TLS-only target: size is the value's usable size from the
 * allocator's metadata (0: unknown), frames the setting stack. */
#define MW_EVF_SIZED 0x8u
/* module_unloaded: the module's file is no longer mapped (glibc keeps a
 * module others use, or whose thread_local destructors are pending). */
#define MW_EVF_UNMAPPED 0x4u
/* spawn: the process was watched for TLS only (malloc left unprobed). */
#define MW_EVF_TLS_ONLY 0x10u
/* tls_set: the collector checked the new value's first words for the old
 * one. old_addr is the value it knew the thread last set for the key (0:
 * none), code the byte offset in the new value where old_addr is stored,
 * or -1 (not there, or not checked). Without the flag the collector knows
 * nothing of links (the engine then takes every replacement for an
 * overwrite). */
#define MW_EVF_LINK_CHECKED 0x400u

/* pool_overlap: this call took a lock inside the pair, or the pair ever
 * did: the pool serializes its callers. */
#define MW_EVF_LOCKED 0x20u
/* pool_overlap: this call slept in the kernel (a contended lock). */
#define MW_EVF_BLOCKED 0x40u
/* pool_overlap: this call reached the process's allocator (malloc, free)
 * inside the pair: it delegated, thread-safely. */
#define MW_EVF_DELEGATED 0x80u
/* free: through a user's --free function; key = its pair. */
#define MW_EVF_POOL 0x100u
/* pool_overlap: the call began with the process's locks probed, so
 * MW_EVF_LOCKED says whether it took one; without, it is no evidence
 * (the collector starts probing them at the first such overlap). */
#define MW_EVF_WATCHED 0x200u

struct mw_event {
	uint32_t type;
	uint32_t pid;
	uint32_t tid;
	uint32_t flags;
	uint64_t ts;
	uint64_t addr;
	uint64_t size;
	uint64_t old_addr;
	uint64_t site;
	uint64_t count;
	uint32_t key;
	int32_t code;
	char comm[MW_COMM_MAX]; /* NUL-terminated, may be empty */
	/* alloc and realloc: the allocating user stack, innermost first, so
	 * frames[0] is the call site; nframes 0 when the collector has none.
	 * Points into the collector's buffer: valid during engine__feed. */
	uint32_t nframes;
	uint32_t pad;
	const uint64_t *frames;
	uint64_t base;		/* module events: load bias (l_addr) */
	const char *path;	/* module events; NULL or "" when unknown */
};

const char *mw_event_type_name(uint32_t type);

#endif
