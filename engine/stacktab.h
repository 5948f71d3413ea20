/*
 * stacktab.h - one process's allocation stacks, deduplicated.
 *
 * A program allocates from a few thousand distinct stacks, millions of
 * times; blocks and findings point to one shared copy. Stacks live as long
 * as their table: a process's table goes with the process.
 */
#ifndef MEMWATCH_STACKTAB_H
#define MEMWATCH_STACKTAB_H

#include <stdbool.h>
#include <stdint.h>

#include "hash.h"

/* How far a stack has got towards the store, see engine_flush.c. */
enum mw_stack_state {
	MW_STACK_NEW = 0,	/* never handed to a sink */
	MW_STACK_PENDING,	/* handed in the flush under way */
	MW_STACK_STORED,	/* committed */
};

struct mw_stack {
	uint64_t id;		/* engine serial, set by the caller */
	uint64_t hash;
	struct mw_stack *next;	/* same hash, other frames */
	uint32_t flags;		/* enum mw_stack_flags, set by the caller */
	uint32_t nframes;
	uint8_t state;		/* enum mw_stack_state */
	bool classified;	/* flags are set */
	uint64_t frames[];
};

/*
 * How far up a stack the fan-out is kept: the frames where allocation
 * wrappers are looked for automatically (daemon/wrapper.c).
 */
#define STACKTAB_FAN_DEPTH 4

struct stacktab {
	struct hmap by_hash; /* hash -> first struct mw_stack of that hash */
	uint64_t count;
	/* The fan-out above each prefix of the stacks, for depths 1 ..
	 * STACKTAB_FAN_DEPTH: fan_count maps a prefix's hash to how many
	 * distinct next frames were seen above it (as a pointer, never 0),
	 * fan_seen holds each (prefix, next frame) pair seen. Both only
	 * grow, as the stacks do. */
	struct hmap fan_count;
	struct hmap fan_seen;
};

void stacktab__init(struct stacktab *t);
void stacktab__fini(struct stacktab *t);
/* The table's copy of frames[0..n), n >= 1, added if new (then *created
 * is true and id and flags are the caller's to set). NULL: no memory. */
struct mw_stack *stacktab__intern(struct stacktab *t, const uint64_t *frames,
				  uint32_t n, bool *created);
/*
 * The fan-out of frames[0..n): out[i], for i < max and i + 1 < n, is how
 * many distinct return addresses were seen as frame i + 1 in the table's
 * stacks whose frames 0 .. i are frames[0 .. i] (a call site's distinct
 * callers, given what is below it). Returns how many out[] were set.
 */
uint32_t stacktab__fanout(const struct stacktab *t, const uint64_t *frames,
			  uint32_t n, uint32_t *out, uint32_t max);

#endif
