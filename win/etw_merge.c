/*
 * etw_merge.c - the heap session's and the kernel-process session's
 * records into one stream ordered by time stamp (see etw_decode.h,
 * etw_merge): a binary min-heap by (time stamp, arrival), released once
 * a record is older than the reorder window.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etw_decode.h"

struct merge_rec {
	struct etw_record r;
	uint64_t seq;
	uint8_t *copy;
};

struct etw_merge {
	uint64_t reorder;
	uint64_t seq;
	struct merge_rec *heap; /* a binary min-heap by (ts, seq) */
	size_t len, cap;
	uint8_t *out; /* the payload of the record last popped */
};

struct etw_merge *etw_merge__new(uint64_t reorder_ticks)
{
	struct etw_merge *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->reorder = reorder_ticks;
	return m;
}

void etw_merge__free(struct etw_merge *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->len; i++)
		free(m->heap[i].copy);
	free(m->heap);
	free(m->out);
	free(m);
}

static bool merge_less(const struct merge_rec *a, const struct merge_rec *b)
{
	return a->r.ts < b->r.ts || (a->r.ts == b->r.ts && a->seq < b->seq);
}

int etw_merge__take(struct etw_merge *m, const struct etw_record *r,
		    uint8_t *owned)
{
	struct merge_rec x = {.r = *r, .seq = m->seq++, .copy = owned};
	size_t i;

	if (m->len == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 256;
		void *n = realloc(m->heap, ncap * sizeof(*m->heap));

		if (!n) {
			free(owned);
			return -ENOMEM;
		}
		m->heap = n;
		m->cap = ncap;
	}
	x.r.data = owned;
	for (i = m->len++; i; i = (i - 1) / 2) {
		if (!merge_less(&x, &m->heap[(i - 1) / 2]))
			break;
		m->heap[i] = m->heap[(i - 1) / 2];
	}
	m->heap[i] = x;
	return 0;
}

int etw_merge__push(struct etw_merge *m, const struct etw_record *r)
{
	uint8_t *copy = NULL;

	if (r->len) {
		copy = malloc(r->len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, r->data, r->len);
	}
	return etw_merge__take(m, r, copy);
}

int etw_merge__pop(struct etw_merge *m, uint64_t now_ticks,
		   struct etw_record *r)
{
	struct merge_rec top, last;
	size_t i = 0;

	if (!m->len)
		return 0;
	top = m->heap[0];
	if (now_ticks != UINT64_MAX &&
	    (now_ticks < m->reorder || top.r.ts > now_ticks - m->reorder))
		return 0;
	last = m->heap[--m->len];
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= m->len)
			break;
		if (c + 1 < m->len && merge_less(&m->heap[c + 1], &m->heap[c]))
			c++;
		if (!merge_less(&m->heap[c], &last))
			break;
		m->heap[i] = m->heap[c];
		i = c;
	}
	if (m->len)
		m->heap[i] = last;
	free(m->out);
	m->out = top.copy;
	*r = top.r;
	return 1;
}

uint64_t etw_merge__count(const struct etw_merge *m)
{
	return m->len;
}
