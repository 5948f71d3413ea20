/*
 * glibc.h - what memwatch reads of glibc in a traced process: which of
 * its files is libc, and glibc's own table of pthread keys.
 */
#ifndef MEMWATCH_GLIBC_H
#define MEMWATCH_GLIBC_H

#include <stdbool.h>
#include <stdint.h>

/* base, a file name, is glibc's libc: libc.so.6, or libc-2.X.so of
 * glibc before 2.34. */
bool glibc__is_libc(const char *base);

/* Call cb for each pthread key in use in pid, with its destructor (0:
 * none), read from glibc's own table: keys created before we attached.
 * Returns 0 or -errno. */
int glibc__each_key(uint32_t pid,
		    void (*cb)(void *ctx, uint32_t key, uint64_t destr),
		    void *ctx);

#endif
