/* anonmap.c - anonymous mappings of one process; see anonmap.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "anonmap.h"

void anonmap__init(struct anonmap *m)
{
	memset(m, 0, sizeof(*m));
}

void anonmap__fini(struct anonmap *m)
{
	free(m->r);
	anonmap__init(m);
}

static int reserve(struct anonmap *m, uint32_t extra)
{
	uint32_t ncap;
	struct anon_range *nr;

	if (m->n + extra <= m->cap)
		return 0;
	ncap = m->cap ? m->cap * 2 : 16;
	while (ncap < m->n + extra)
		ncap *= 2;
	nr = realloc(m->r, ncap * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	m->r = nr;
	m->cap = ncap;
	return 0;
}

/* First range whose end is past addr. */
static uint32_t first_after(const struct anonmap *m, uint64_t addr)
{
	uint32_t lo = 0, hi = m->n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (m->r[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int anonmap__add(struct anonmap *m, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;
	uint32_t i, j;

	if (!len || end < start)
		return 0;
	if (reserve(m, 1))
		return -ENOMEM;
	/* Merge with every range it touches or overlaps. */
	i = first_after(m, start);
	if (i > 0 && m->r[i - 1].end == start)
		i--;
	for (j = i; j < m->n && m->r[j].start <= end; j++) {
		if (m->r[j].start < start)
			start = m->r[j].start;
		if (m->r[j].end > end)
			end = m->r[j].end;
		m->bytes -= m->r[j].end - m->r[j].start;
	}
	/* Ranges [i, j) become one. */
	if (j == i) {
		memmove(&m->r[i + 1], &m->r[i], (m->n - i) * sizeof(*m->r));
		m->n++;
	} else if (j > i + 1) {
		memmove(&m->r[i + 1], &m->r[j], (m->n - j) * sizeof(*m->r));
		m->n -= j - i - 1;
	}
	m->r[i].start = start;
	m->r[i].end = end;
	m->bytes += end - start;
	return 0;
}

bool anonmap__remove(struct anonmap *m, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;
	bool any = false;
	uint32_t i;

	if (!len || end < start)
		return false;
	for (i = first_after(m, start); i < m->n && m->r[i].start < end;) {
		struct anon_range *r = &m->r[i];

		any = true;
		if (r->start < start && r->end > end) {
			/* A hole in the middle: split. Out of memory, the
			 * whole range goes (an undercount, never a leak). */
			if (reserve(m, 1)) {
				m->bytes -= r->end - r->start;
				memmove(r, r + 1,
					(m->n - i - 1) * sizeof(*m->r));
				m->n--;
				return true;
			}
			r = &m->r[i];
			memmove(&m->r[i + 2], &m->r[i + 1],
				(m->n - i - 1) * sizeof(*m->r));
			m->n++;
			m->r[i + 1].start = end;
			m->r[i + 1].end = r->end;
			r->end = start;
			m->bytes -= end - start;
			return true;
		}
		if (r->start < start) {
			m->bytes -= r->end - start;
			r->end = start;
			i++;
		} else if (r->end > end) {
			m->bytes -= end - r->start;
			r->start = end;
			i++;
		} else {
			m->bytes -= r->end - r->start;
			memmove(r, r + 1, (m->n - i - 1) * sizeof(*m->r));
			m->n--;
		}
	}
	return any;
}

void anonmap__brk(struct anonmap *m, uint64_t brk)
{
	if (!brk)
		return;
	if (!m->brk_base)
		m->brk_base = brk;
	m->brk_cur = brk;
}

uint64_t anonmap__bytes(const struct anonmap *m)
{
	uint64_t heap = m->brk_cur > m->brk_base ? m->brk_cur - m->brk_base
						 : 0;

	return m->bytes + heap;
}
