/*
 * hash.h - an open-addressing hash map from uint64_t keys to non-NULL
 * pointers, and a growable pointer vector: the engine's containers.
 *
 * Linear probing with backward-shift deletion, so there are no tombstones
 * and lookups stay short however many blocks come and go. A slot is empty
 * when its value is NULL, which is why values must never be NULL; any key,
 * 0 included, is allowed.
 */
#ifndef MEMWATCH_HASH_H
#define MEMWATCH_HASH_H

#include <stddef.h>
#include <stdint.h>

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

#endif
