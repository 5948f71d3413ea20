/*
 * allocator.h - the allocators that replace glibc's malloc (mimalloc,
 * jemalloc, tcmalloc): known by their library's file name, or in an
 * executable that links one in by the API it defines; and which one a
 * process runs.
 */
#ifndef MEMWATCH_ALLOCATOR_H
#define MEMWATCH_ALLOCATOR_H

#include <stdint.h>

/* The allocator whose library has file name base (libjemalloc.so.2), by
 * name ("jemalloc"); NULL when it is none of them. */
const char *allocator__of_file(const char *base);

/*
 * Is the file with name base an allocator known to be thread-safe (glibc's
 * libc, mimalloc, jemalloc, tcmalloc, the C++ runtimes' operators)? A
 * user's --alloc/--free function found there is never judged for the
 * allocator race.
 */
int allocator__thread_safe_file(const char *base);

/* The malloc a process runs, by name: "glibc", "mimalloc", "jemalloc",
 * "tcmalloc"; NULL when its maps cannot be read. */
const char *allocator__of_process(uint32_t pid);

#endif
