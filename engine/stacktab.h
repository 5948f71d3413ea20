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

struct stacktab {
	struct hmap by_hash; /* hash -> first struct mw_stack of that hash */
	uint64_t count;
};

void stacktab__init(struct stacktab *t);
void stacktab__fini(struct stacktab *t);
/* The table's copy of frames[0..n), n >= 1, added if new (then *created
 * is true and id and flags are the caller's to set). NULL: no memory. */
struct mw_stack *stacktab__intern(struct stacktab *t, const uint64_t *frames,
				  uint32_t n, bool *created);

#endif
