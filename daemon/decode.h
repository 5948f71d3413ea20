/*
 * decode.h - ring-buffer records (bpf/memwatch.h) to normalized events
 * (common/event.h): the collector's decoding, apart from libbpf and the
 * collector's state, so that it can be tested and fuzzed alone
 * (tests/fuzz/fuzz_decode.c).
 *
 * The bytes come from the kernel, but the decoder trusts nothing in them:
 * a record shorter than its type needs, an unknown type or a frame count
 * larger than the record are skipped or clipped, never read past.
 */
#ifndef MEMWATCH_DECODE_H
#define MEMWATCH_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "event.h"
#include "memwatch.h"

/* What a decoded event may point into besides the record itself. */
struct decode_buf {
	/* A module record's private copy, its path NUL-terminated. */
	struct mw_path_record module;
	/* The stack of an allocation a wrapper made for its caller. */
	uint64_t frames[MW_MAX_FRAMES];
	/* A record with a stack key (MW_RECF_STACK_KEY), or NULL; the
	 * bytes of its stack copy that arrived (0: none). */
	const struct mw_unwind_record *unwind;
	uint32_t copy_len;
	uint64_t stack[MW_MAX_FRAMES]; /* decode__frames' own copy */
};

/*
 * Decode the record of size bytes at data into ev; wall_offset maps the
 * record's CLOCK_MONOTONIC time to wall time. ev->frames and ev->path
 * point into data or buf: valid while both are. A module load or unload
 * record with its path comes back with ev->path set and ev->addr 0: the
 * caller finds where the module is mapped from buf->module (its l_addr
 * and path). Returns 0, or -EINVAL for a record that is not ours to
 * interpret (too short, unknown type): skip it.
 */
int decode__record(const void *data, size_t size, uint64_t wall_offset,
		   struct decode_buf *buf, struct mw_event *ev);

/* Give ev (an allocation's, ev->site set) the stack frames[0..n),
 * innermost first, as the record's walk would be given: for a wrapped
 * allocation (MW_RECF_WRAPPED) the wrapper's frame gives way to its
 * caller's call site. frames may be buf->frames. */
void decode__frames(struct decode_buf *buf, struct mw_event *ev,
		    const uint64_t *frames, uint32_t n, bool wrapped);

#endif
