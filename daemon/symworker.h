/*
 * symworker.h - the symbolizer's worker thread: the slow part of naming
 * a call site, off the epoll loop.
 *
 * What may take long is the separate debug information: a large .debug
 * file's DWARF (file:line), and debuginfod, which libdw asks over the
 * network, synchronously, when DEBUGINFOD_URLS is set. The loop asks
 * (symworker__ask), never waits, and takes the answers when the eventfd
 * (symworker__fd) is readable (symworker__take).
 *
 * A request names a file by the loop's id for it and an address in that
 * file (its link-time address), never a pid: a process gone meanwhile
 * still resolves. The first request of a file hands the worker a file
 * descriptor of its own for it. The worker owns every Dwfl it makes from
 * those; the loop never sees them, and the worker never sees the loop's
 * (symbolizer.c).
 */
#ifndef MEMWATCH_SYMWORKER_H
#define MEMWATCH_SYMWORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "rows.h"

struct symworker;

/* An answer: the function at addr of file (named: from the file's
 * symbols or its separate debug file), its offset, and its source
 * file:line (src empty: none found). */
struct symworker_res {
	uint64_t file, addr;
	uint64_t off;
	uint32_t line;
	bool named;
	char function[MW_SITE_STR];
	char src[MW_SITE_STR];
};

/* A worker with room for cap requests waiting; its thread starts at the
 * first request. NULL with errno set. */
struct symworker *symworker__new(int cap);
/* Stop it. A worker busy in a lookup (a hanging debuginfod server) is
 * left to finish it and free what it holds: this never waits for it. */
void symworker__free(struct symworker *w);
/* The eventfd readable while answers wait. */
int symworker__fd(const struct symworker *w);
/* Ask for addr of file. fd >= 0 on a file's first request: the worker
 * takes it when this returns 0 (name is the file's path, for libdw to
 * find its debug file by). -EAGAIN: the queue is full, nothing taken; another negative errno:
 * the thread cannot start. */
int symworker__ask(struct symworker *w, uint64_t file, int fd,
		   const char *name, uint64_t addr);
/* Up to max answers into out; returns how many. Clears the eventfd when
 * none is left. */
int symworker__take(struct symworker *w, struct symworker_res *out, int max);

#endif
