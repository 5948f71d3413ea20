/*
 * procfs.h - reading a process's /proc/PID: its maps (one parser for every
 * place that looks at what a process has mapped: its libc, allocators,
 * executable mappings), the libraries in its root, and its age.
 */
#ifndef MEMWATCH_PROCFS_H
#define MEMWATCH_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* One line of /proc/PID/maps. */
struct procfs_map {
	uint64_t start, end; /* [start, end) */
	char perms[5];	     /* "r-xp" */
	uint64_t offset;     /* file offset of start */
	unsigned dev_major, dev_minor;
	uint64_t inode;
	/* The rest of the line, no newline: a file's path (first '/', with
	 * " (deleted)" after it once unlinked), "[heap]" and the like, or ""
	 * for anonymous memory. Valid during the callback only. */
	const char *path;
};

/* Call cb for each line of pid's maps, in address order, until it
 * returns non-zero: that value is returned. Returns 0 at the end, or
 * -errno when the maps cannot be opened. */
int procfs__each_map(uint32_t pid,
		     int (*cb)(void *ctx, const struct procfs_map *m),
		     void *ctx);

/* Where a library the process needs (name, a file name) would be found
 * inside its root (/proc/PID/root), in out. Returns 0 or -ENOENT. */
int procfs__find_lib(uint32_t pid, const char *name, char *out, size_t len);

/* How long ago pid started, in ns (from its stat's starttime). Returns 0
 * or -errno. */
int procfs__age(uint32_t pid, uint64_t *ns);

#endif
