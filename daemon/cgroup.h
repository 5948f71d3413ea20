/*
 * cgroup.h - cgroup v2 targets: a group given by path or by systemd unit,
 * its id as the kernel reports it to BPF, and the processes in it now.
 */
#ifndef MEMWATCH_CGROUP_H
#define MEMWATCH_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the cgroup2 file system is mounted, into buf: 0, or -ENODEV if it
 * is not. */
int cgroup__mount(char *buf, size_t len);

/*
 * Resolve arg to a cgroup v2 directory: with unit, a systemd unit name
 * (its group is system.slice/NAME under the cgroup2 mount, or
 * user.slice/... when given with a slice: "user.slice/x.service");
 * otherwise a path, absolute in the file system or relative to the
 * cgroup2 mount. Fills path and id (the directory's inode, which BPF's
 * cgroup ids are). Returns 0, -ENOENT (no such group), -ENODEV (no cgroup2
 * mount) or -errno.
 */
int cgroup__resolve(const char *arg, bool unit, char *path, size_t len,
		    uint64_t *id);
/* Call cb for every process in the group at path and below it. */
int cgroup__each_pid(const char *path, void (*cb)(void *ctx, uint32_t pid),
		     void *ctx);

/* The cgroup v2 path pid is in (as /proc/PID/cgroup says, "/..."). */
int cgroup__of(uint32_t pid, char *buf, size_t len);
/* pid as its own pid namespace numbers it (its pid inside a container);
 * 0 when unknown. */
uint32_t cgroup__nspid(uint32_t pid);

#endif
