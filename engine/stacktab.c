/* stacktab.c - deduplicated allocation stacks; see stacktab.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stacktab.h"

void stacktab__init(struct stacktab *t)
{
	hmap__init(&t->by_hash);
	hmap__init(&t->fan_count);
	hmap__init(&t->fan_seen);
	t->count = 0;
}

void stacktab__fini(struct stacktab *t)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(&t->by_hash, &pos, &k, &v)) {
		struct mw_stack *s = v;

		while (s) {
			struct mw_stack *next = s->next;

			free(s);
			s = next;
		}
	}
	hmap__fini(&t->by_hash);
	hmap__fini(&t->fan_count);
	hmap__fini(&t->fan_seen);
	t->count = 0;
}

/* FNV-1a over the frame words: cheap, and good enough for a table whose
 * collisions are resolved by comparing frames. */
static uint64_t frames_hash(const uint64_t *frames, uint32_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint32_t i = 0; i < n; i++) {
		h ^= frames[i];
		h *= 0x100000001b3ull;
	}
	return h ^ n;
}

/* The hash of a prefix of depth + 1 frames, from the one of depth frames
 * (h 0 for none). */
static uint64_t prefix_hash(uint64_t h, uint64_t frame, uint32_t depth)
{
	return hash__mix(h ^ hash__mix(frame + depth));
}

/* Count frames[i + 1] above each prefix frames[0 .. i] of a new stack.
 * Out of memory only undercounts, which makes no wrapper. */
static void fan_add(struct stacktab *t, const uint64_t *frames, uint32_t n)
{
	uint64_t h = 0;

	for (uint32_t i = 0; i + 1 < n && i < STACKTAB_FAN_DEPTH; i++) {
		uint64_t pair;
		uintptr_t c;

		h = prefix_hash(h, frames[i], i);
		pair = prefix_hash(h, frames[i + 1], STACKTAB_FAN_DEPTH + 1);
		if (hmap__get(&t->fan_seen, pair))
			continue;
		if (hmap__put(&t->fan_seen, pair, (void *)1))
			return;
		c = (uintptr_t)hmap__get(&t->fan_count, h);
		hmap__put(&t->fan_count, h, (void *)(c + 1));
	}
}

uint32_t stacktab__fanout(const struct stacktab *t, const uint64_t *frames,
			  uint32_t n, uint32_t *out, uint32_t max)
{
	uint64_t h = 0;
	uint32_t i;

	for (i = 0; i < max && i + 1 < n && i < STACKTAB_FAN_DEPTH; i++) {
		h = prefix_hash(h, frames[i], i);
		out[i] = (uint32_t)(uintptr_t)hmap__get(&t->fan_count, h);
	}
	return i;
}

struct mw_stack *stacktab__intern(struct stacktab *t, const uint64_t *frames,
				  uint32_t n, bool *created)
{
	uint64_t h = frames_hash(frames, n);
	struct mw_stack *first = hmap__get(&t->by_hash, h), *s;

	*created = false;
	for (s = first; s; s = s->next)
		if (s->nframes == n &&
		    !memcmp(s->frames, frames, n * sizeof(*frames)))
			return s;
	s = calloc(1, sizeof(*s) + n * sizeof(*frames));
	if (!s)
		return NULL;
	s->hash = h;
	s->nframes = n;
	memcpy(s->frames, frames, n * sizeof(*frames));
	if (first) {
		/* Behind the head, so the map keeps pointing at it. */
		s->next = first->next;
		first->next = s;
	} else if (hmap__put(&t->by_hash, h, s)) {
		free(s);
		return NULL;
	}
	t->count++;
	fan_add(t, frames, n);
	*created = true;
	return s;
}
