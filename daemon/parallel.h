/*
 * parallel.h - run a blocking call on each of several objects at once.
 *
 * Removing a uprobe or a tracepoint program waits for the kernel's grace
 * periods; waits that overlap share one, so n removals made at once cost
 * about one wait instead of n, and the daemon's loop is held that much
 * less.
 */
#ifndef MEMWATCH_PARALLEL_H
#define MEMWATCH_PARALLEL_H

/* Call fn(items[i]) for each non-NULL items[i], i < n, each on a thread
 * of its own, and return once all have returned. An item whose thread
 * cannot be started is done on the calling thread. fn must not touch
 * what the caller's other threads use. */
void parallel__each(void (*fn)(void *), void *const *items, int n);

#endif
