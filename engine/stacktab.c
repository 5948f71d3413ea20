/* stacktab.c - deduplicated allocation stacks; see stacktab.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stacktab.h"

void stacktab__init(struct stacktab *t)
{
	hmap__init(&t->by_hash);
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
	*created = true;
	return s;
}
