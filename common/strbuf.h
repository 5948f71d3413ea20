/*
 * strbuf.h - a growable text buffer written with printf formats, for
 * pages rendered whole (memwatchd's /metrics) and handed over as one
 * malloc'd string. A write that cannot grow the buffer marks it oom and
 * every later write is dropped, so a writer checks once, at the end,
 * instead of after each line.
 */
#ifndef MEMWATCH_STRBUF_H
#define MEMWATCH_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

/* Zeroed: empty. p is NUL-terminated once anything was written; the
 * caller frees p. */
struct strbuf {
	char *p;
	size_t len, cap;
	bool oom; /* a write failed: the text is incomplete */
};

void strbuf__printf(struct strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
