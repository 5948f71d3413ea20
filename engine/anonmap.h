/*
 * anonmap.h - the anonymous memory one process has mapped, as the kernel
 * saw its mmap, munmap, mremap and brk: the set of private anonymous
 * ranges (thread stacks left out) and the heap's extent. Allocators take
 * their arenas, segments and large blocks from here, so this is what an
 * allocator holds, next to what the program holds (its live set).
 *
 * Invariant: ranges are sorted, disjoint and non-empty; bytes is the sum
 * of their lengths.
 */
#ifndef MEMWATCH_ANONMAP_H
#define MEMWATCH_ANONMAP_H

#include <stdbool.h>
#include <stdint.h>

struct anon_range {
	uint64_t start, end; /* [start, end) */
};

struct anonmap {
	struct anon_range *r;
	uint32_t n, cap;
	uint64_t bytes;	    /* in ranges */
	uint64_t brk_base;  /* first break seen, 0 before */
	uint64_t brk_cur;
};

void anonmap__init(struct anonmap *m);
void anonmap__fini(struct anonmap *m);
/* Add [start, start + len); overlapping parts count once. 0 or -ENOMEM. */
int anonmap__add(struct anonmap *m, uint64_t start, uint64_t len);
/* Remove whatever of [start, start + len) is in the set; returns true if
 * anything was. Out of memory for a split, the whole range goes. */
bool anonmap__remove(struct anonmap *m, uint64_t start, uint64_t len);
/* The program break is now brk (the first call sets the base). */
void anonmap__brk(struct anonmap *m, uint64_t brk);
/* Mapped anonymous bytes: ranges plus the heap grown past its base. */
uint64_t anonmap__bytes(const struct anonmap *m);

#endif
