/*
 * elfsym.h - function symbols to file offsets, for placing uprobes.
 *
 * Uprobes are placed by file offset. glibc exports several versions of a
 * symbol at one address (pthread_key_create@GLIBC_2.2.5 and @@GLIBC_2.34)
 * and aliases (aligned_alloc and memalign), so callers must attach once
 * per distinct offset, not once per name.
 */
#ifndef MEMWATCH_ELFSYM_H
#define MEMWATCH_ELFSYM_H

#include <stdint.h>

/* For each of names[0..n), the file offset of that function's entry in
 * the ELF file at path, or 0 when absent. Returns 0 or -errno. */
int elfsym__resolve(const char *path, const char *const *names, int n,
		    uint64_t *offsets);

/* The span of the ELF file's PT_LOAD segments, as virtual addresses
 * before relocation (page-aligned). Returns 0 or -errno. */
int elfsym__layout(const char *path, uint64_t *lo, uint64_t *hi);

/* 1 if the ELF file at path names a program interpreter (it is linked
 * dynamically), 0 if not, -errno. */
int elfsym__dynamic(const char *path);

/* The link-time address of the data object name in the ELF file at path.
 * Returns 0, -ENOENT when absent, or -errno. */
int elfsym__object(const char *path, const char *name, uint64_t *vaddr);

/* Call cb for each DT_NEEDED name of the ELF file at path; stops when cb
 * returns non-zero. Returns 0 or -errno. */
int elfsym__each_needed(const char *path, int (*cb)(void *ctx, const char *name),
			void *ctx);

#endif
