/* blockset.c - a process's live blocks; see blockset.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blockset.h"
#include "hash.h"

#define MIN_RECORDS 1024u
#define MIN_SLOTS 1024u

void blockset__init(struct blockset *s)
{
	memset(s, 0, sizeof(*s));
}

void blockset__fini(struct blockset *s)
{
	free(s->v);
	free(s->slots);
	blockset__init(s);
}

static uint32_t home(const struct blockset *s, uint64_t addr)
{
	return (uint32_t)hash__mix(addr) & s->mask;
}

struct block *blockset__get(const struct blockset *s, uint64_t addr)
{
	if (!s->slots)
		return NULL;
	for (uint32_t i = home(s, addr);; i = (i + 1) & s->mask) {
		uint32_t b = s->slots[i];

		if (!b)
			return NULL;
		if (s->v[b].addr == addr)
			return &s->v[b];
	}
}

static void slot_insert(struct blockset *s, uint32_t b)
{
	uint32_t i = home(s, s->v[b].addr);

	while (s->slots[i])
		i = (i + 1) & s->mask;
	s->slots[i] = b;
}

/* Keep the index at most 3/4 full, so probe runs stay short; at 4 bytes
 * a slot it costs 5.3 to 10.7 bytes a block. */
static int index_grow(struct blockset *s)
{
	uint32_t ncap = s->slots ? (s->mask + 1) * 2 : MIN_SLOTS;
	uint32_t *old = s->slots, ocap = s->slots ? s->mask + 1 : 0;

	if (!ncap)
		return -ENOSPC;
	s->slots = calloc(ncap, sizeof(*s->slots));
	if (!s->slots) {
		s->slots = old;
		return -ENOMEM;
	}
	s->mask = ncap - 1;
	for (uint32_t i = 0; i < ocap; i++)
		if (old[i])
			slot_insert(s, old[i]);
	free(old);
	return 0;
}

static int records_grow(struct blockset *s)
{
	uint32_t ncap = s->cap ? s->cap * 2 : MIN_RECORDS;
	struct block *nv;

	if (ncap <= s->cap)
		return -ENOSPC;
	nv = realloc(s->v, (size_t)ncap * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	s->v = nv;
	s->cap = ncap;
	if (!s->len)
		s->len = 1; /* v[0] is "none" */
	return 0;
}

struct block *blockset__add(struct blockset *s, uint64_t addr)
{
	uint32_t i;
	int err;

	if ((!s->slots ||
	     ((size_t)s->n + 1) * 4 > ((size_t)s->mask + 1) * 3) &&
	    (err = index_grow(s))) {
		errno = -err;
		return NULL;
	}
	if (s->free) {
		i = s->free;
		s->free = s->v[i].tnext;
	} else {
		if (s->len == s->cap && (err = records_grow(s))) {
			errno = -err;
			return NULL;
		}
		i = s->len++;
	}
	memset(&s->v[i], 0, sizeof(s->v[i]));
	s->v[i].addr = addr;
	s->v[i].used = 1;
	slot_insert(s, i);
	s->n++;
	return &s->v[i];
}

void blockset__del(struct blockset *s, struct block *b)
{
	uint32_t idx = blockset__idx(s, b), i, j;

	for (i = home(s, b->addr); s->slots[i] != idx; i = (i + 1) & s->mask)
		;
	/* Backward shift, as in hash.c: pull later entries of the run into
	 * the hole unless their home lies cyclically in (i, j]. */
	for (j = (i + 1) & s->mask; s->slots[j]; j = (j + 1) & s->mask) {
		uint32_t h = home(s, s->v[s->slots[j]].addr);

		if (((j - h) & s->mask) >= ((j - i) & s->mask)) {
			s->slots[i] = s->slots[j];
			i = j;
		}
	}
	s->slots[i] = 0;
	b->used = 0;
	b->tnext = s->free;
	s->free = idx;
	s->n--;
}

struct block *blockset__next(const struct blockset *s, uint32_t *pos)
{
	if (!*pos)
		*pos = 1;
	for (; *pos < s->len; (*pos)++)
		if (s->v[*pos].used)
			return &s->v[(*pos)++];
	return NULL;
}

size_t blockset__bytes(const struct blockset *s)
{
	return (size_t)s->len * sizeof(*s->v) +
	       (s->slots ? ((size_t)s->mask + 1) * sizeof(*s->slots) : 0);
}
