/*
 * hash.h - an open-addressing hash map from uint64_t keys to non-NULL
 * pointers, a growable pointer vector and a deque of uint64_t: the
 * engine's containers.
 *
 * Linear probing with backward-shift deletion, so there are no tombstones
 * and lookups stay short however many blocks come and go. A slot is empty
 * when its value is NULL, which is why values must never be NULL; any key,
 * 0 included, is allowed.
 */
#ifndef MEMWATCH_HASH_H
#define MEMWATCH_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fibonacci hashing: addresses are aligned and tids are dense, so mix
 * the bits before masking. */
static inline uint64_t hash__mix(uint64_t key)
{
	key ^= key >> 29;
	key *= 0x9e3779b97f4a7c15ull;
	key ^= key >> 32;
	return key;
}

struct hmap_slot {
	uint64_t key;
	void *val;
};

struct hmap {
	struct hmap_slot *slots;
	size_t cap; /* 0 or a power of two */
	size_t len;
};

void hmap__init(struct hmap *m);
void hmap__fini(struct hmap *m);
void *hmap__get(const struct hmap *m, uint64_t key);
/* Insert or replace. Returns 0 or -ENOMEM. */
int hmap__put(struct hmap *m, uint64_t key, void *val);
/* The value at key; absent, a new zeroed one of size bytes (calloc) put
 * there, *made set. NULL when out of memory. The map owns nothing: the
 * caller frees values as it would its own. made may be NULL. */
void *hmap__get_new(struct hmap *m, uint64_t key, size_t size, bool *made);
/* Remove key; returns its value or NULL when absent. */
void *hmap__del(struct hmap *m, uint64_t key);

/* Iterate: for (size_t i = 0; hmap__next(m, &i, &k, &v);) ... The map must
 * not change during the walk. */
int hmap__next(const struct hmap *m, size_t *pos, uint64_t *key, void **val);

struct vec {
	void **items;
	size_t len;
	size_t cap;
};

int vec__push(struct vec *v, void *item);
void vec__fini(struct vec *v);

/* A double-ended queue of uint64_t in a ring: items[(head + i) & (cap -
 * 1)] is the i-th, cap 0 or a power of two. */
struct deque {
	uint64_t *items;
	size_t head, len, cap;
};

static inline uint64_t deque__at(const struct deque *d, size_t i)
{
	return d->items[(d->head + i) & (d->cap - 1)];
}

/* Returns 0 or -ENOMEM. */
int deque__push_back(struct deque *d, uint64_t item);
int deque__push_front(struct deque *d, uint64_t item);
void deque__pop_front(struct deque *d, size_t n);
/* Keep only the items keep() says yes to, in order; returns how many went.
 * The ring shrinks when it is mostly empty. */
size_t deque__filter(struct deque *d, int (*keep)(void *ctx, uint64_t item),
		     void *ctx);
void deque__fini(struct deque *d);

#endif
