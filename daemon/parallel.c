/*
 * parallel.c - a thread per item, joined before returning; see
 * parallel.h.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "parallel.h"

struct job {
	void (*fn)(void *);
	void *item;
	pthread_t tid;
	bool started;
};

static void *job_run(void *arg)
{
	struct job *j = arg;

	j->fn(j->item);
	return NULL;
}

void parallel__each(void (*fn)(void *), void *const *items, int n)
{
	struct job *jobs = n > 0 ? calloc((size_t)n, sizeof(*jobs)) : NULL;

	for (int i = 0; i < n; i++) {
		if (!items[i])
			continue;
		if (jobs) {
			jobs[i] = (struct job){.fn = fn, .item = items[i]};
			jobs[i].started = !pthread_create(&jobs[i].tid, NULL,
							  job_run, &jobs[i]);
			if (jobs[i].started)
				continue;
		}
		fn(items[i]);
	}
	for (int i = 0; jobs && i < n; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].tid, NULL);
	free(jobs);
}
