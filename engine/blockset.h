/*
 * blockset.h - where a process's live blocks are kept: one array of fixed
 * 48-byte records, found by address through an index of 32-bit slots.
 *
 * A traced process can hold tens of millions of live blocks, so a block
 * costs memwatchd what its record and its index slot cost, and nothing
 * else: no allocator header, no pointers. Records refer to each other
 * (and to their thread and site) by 32-bit indices; index 0 is never a
 * block, so 0 means "none" in every link.
 *
 * Invariant: a pointer to a block stays valid until the next
 * blockset__add, which may move the array (glibc's realloc remaps a large
 * array instead of copying it). Indices never change while a block lives.
 */
#ifndef MEMWATCH_BLOCKSET_H
#define MEMWATCH_BLOCKSET_H

#include <stddef.h>
#include <stdint.h>

struct block {
	uint64_t addr;
	uint64_t size;
	uint64_t ts;
	uint64_t serial : 56;  /* its row's id in the store */
	uint64_t used : 1;     /* a live block, not a free record */
	uint64_t queued : 1;   /* its row must be (re)written */
	uint64_t stored : 1;   /* its row is in the store */
	uint64_t reported : 1; /* a one-block finding names it */
	uint64_t orphan : 1;   /* counted as left behind by its owner */
	uint32_t owner;	       /* thread index (engine_int.h) */
	uint32_t ss;	       /* site_stat index (engine_int.h) */
	uint32_t tprev, tnext; /* the owner's blocks; free list when !used */
};

struct blockset {
	struct block *v; /* v[0] unused */
	uint32_t len;	 /* records in use or on the free list, + 1 */
	uint32_t cap;
	uint32_t free;	 /* first free record, 0 = none */
	uint32_t n;	 /* live blocks */
	uint32_t *slots; /* block index, 0 = empty; linear probing */
	uint32_t mask;	 /* slots - 1; slots is 0 or a power of two */
};

void blockset__init(struct blockset *s);
void blockset__fini(struct blockset *s);

static inline struct block *blockset__at(const struct blockset *s, uint32_t i)
{
	return i ? &s->v[i] : NULL;
}

static inline uint32_t blockset__idx(const struct blockset *s,
				     const struct block *b)
{
	return (uint32_t)(b - s->v);
}

/* The live block at addr, or NULL. */
struct block *blockset__get(const struct blockset *s, uint64_t addr);
/* A new zeroed block at addr (which must not be live), used and indexed;
 * NULL with errno ENOMEM (or ENOSPC past 2^32 - 2 blocks). */
struct block *blockset__add(struct blockset *s, uint64_t addr);
/* Unindex and free b's record. */
void blockset__del(struct blockset *s, struct block *b);
/* Iterate: for (uint32_t i = 0; (b = blockset__next(s, &i));) ... Blocks
 * must not be added during the walk; deleting the one returned is fine. */
struct block *blockset__next(const struct blockset *s, uint32_t *pos);
/* Bytes held, for the daemon's self-accounting. */
size_t blockset__bytes(const struct blockset *s);

#endif
