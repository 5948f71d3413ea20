/* hash.c - the engine's hash map and vector; see hash.h. */
#include <errno.h>
#include <stdlib.h>

#include "hash.h"

static size_t slot_of(uint64_t key, size_t cap)
{
	/* Fibonacci hashing: addresses are aligned and tids are dense, so
	 * mix the bits before masking. */
	key ^= key >> 29;
	key *= 0x9e3779b97f4a7c15ull;
	key ^= key >> 32;
	return (size_t)key & (cap - 1);
}

void hmap__init(struct hmap *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->len = 0;
}

void hmap__fini(struct hmap *m)
{
	free(m->slots);
	hmap__init(m);
}

void *hmap__get(const struct hmap *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		const struct hmap_slot *s = &m->slots[i];

		if (!s->val)
			return NULL;
		if (s->key == key)
			return s->val;
	}
}

static void insert_fresh(struct hmap_slot *slots, size_t cap, uint64_t key,
			 void *val)
{
	size_t i = slot_of(key, cap);

	while (slots[i].val)
		i = (i + 1) & (cap - 1);
	slots[i].key = key;
	slots[i].val = val;
}

static int grow(struct hmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	struct hmap_slot *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].val)
			insert_fresh(ns, ncap, m->slots[i].key,
				     m->slots[i].val);
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

int hmap__put(struct hmap *m, uint64_t key, void *val)
{
	if (!val)
		return -EINVAL;
	/* Keep the load at or below 3/4 so probe runs stay short. */
	if ((m->len + 1) * 4 > m->cap * 3) {
		int err = grow(m);

		if (err)
			return err;
	}
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		struct hmap_slot *s = &m->slots[i];

		if (!s->val) {
			s->key = key;
			s->val = val;
			m->len++;
			return 0;
		}
		if (s->key == key) {
			s->val = val;
			return 0;
		}
	}
}

void *hmap__del(struct hmap *m, uint64_t key)
{
	size_t mask = m->cap - 1, i, j;
	void *val;

	if (!m->cap)
		return NULL;
	for (i = slot_of(key, m->cap);; i = (i + 1) & mask) {
		if (!m->slots[i].val)
			return NULL;
		if (m->slots[i].key == key)
			break;
	}
	val = m->slots[i].val;
	/* Backward-shift: pull later entries of the run into the hole when
	 * their home slot does not lie cyclically in (i, j]. */
	for (j = (i + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
		size_t home = slot_of(m->slots[j].key, m->cap);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].val = NULL;
	m->slots[i].key = 0;
	m->len--;
	return val;
}

int hmap__next(const struct hmap *m, size_t *pos, uint64_t *key, void **val)
{
	for (; *pos < m->cap; (*pos)++) {
		if (m->slots[*pos].val) {
			*key = m->slots[*pos].key;
			*val = m->slots[*pos].val;
			(*pos)++;
			return 1;
		}
	}
	return 0;
}

int vec__push(struct vec *v, void *item)
{
	if (v->len == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 16;
		void **n = realloc(v->items, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		v->items = n;
		v->cap = ncap;
	}
	v->items[v->len++] = item;
	return 0;
}

void vec__fini(struct vec *v)
{
	free(v->items);
	v->items = NULL;
	v->len = v->cap = 0;
}
