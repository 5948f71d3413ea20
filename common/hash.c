/* hash.c - the engine's hash map and vector; see hash.h. */
#include <errno.h>
#include <stdlib.h>

#include "hash.h"

static size_t slot_of(uint64_t key, size_t cap)
{
	return (size_t)hash__mix(key) & (cap - 1);
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

void *hmap__get_new(struct hmap *m, uint64_t key, size_t size, bool *made)
{
	void *v = hmap__get(m, key);

	if (made)
		*made = false;
	if (v)
		return v;
	if (!(v = calloc(1, size)))
		return NULL;
	if (hmap__put(m, key, v)) {
		free(v);
		return NULL;
	}
	if (made)
		*made = true;
	return v;
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

/* Move the items to a ring of ncap (>= len) slots, head at 0. */
static int deque_resize(struct deque *d, size_t ncap)
{
	uint64_t *n = malloc(ncap * sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < d->len; i++)
		n[i] = deque__at(d, i);
	free(d->items);
	d->items = n;
	d->cap = ncap;
	d->head = 0;
	return 0;
}

static int deque_room(struct deque *d)
{
	return d->len < d->cap ? 0 : deque_resize(d, d->cap ? d->cap * 2 : 64);
}

int deque__push_back(struct deque *d, uint64_t item)
{
	int err = deque_room(d);

	if (err)
		return err;
	d->items[(d->head + d->len++) & (d->cap - 1)] = item;
	return 0;
}

int deque__push_front(struct deque *d, uint64_t item)
{
	int err = deque_room(d);

	if (err)
		return err;
	d->head = (d->head - 1) & (d->cap - 1);
	d->items[d->head] = item;
	d->len++;
	return 0;
}

/* Give memory back once a burst is over: halve a ring under 1/4 full. A
 * failed shrink keeps the bigger ring, which is still correct. */
static void deque_shrink(struct deque *d)
{
	size_t ncap = d->cap;

	while (ncap > 64 && d->len * 4 < ncap)
		ncap /= 2;
	if (ncap != d->cap)
		deque_resize(d, ncap);
}

void deque__pop_front(struct deque *d, size_t n)
{
	if (n > d->len)
		n = d->len;
	d->head = (d->head + n) & (d->cap ? d->cap - 1 : 0);
	d->len -= n;
	deque_shrink(d);
}

size_t deque__filter(struct deque *d, int (*keep)(void *ctx, uint64_t item),
		     void *ctx)
{
	size_t kept = 0, gone;

	for (size_t i = 0; i < d->len; i++) {
		uint64_t it = deque__at(d, i);

		if (keep(ctx, it))
			d->items[(d->head + kept++) & (d->cap - 1)] = it;
	}
	gone = d->len - kept;
	d->len = kept;
	deque_shrink(d);
	return gone;
}

void deque__fini(struct deque *d)
{
	free(d->items);
	d->items = NULL;
	d->head = d->len = d->cap = 0;
}
