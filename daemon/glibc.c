/*
 * glibc.c - glibc's libc in a traced process; see glibc.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "elfsym.h"
#include "glibc.h"
#include "procfs.h"

bool glibc__is_libc(const char *base)
{
	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5);
}

/* --- keys created before we attached ------------------------------------- */

/* glibc's table of keys, exported to libthread_db as __pthread_keys:
 * PTHREAD_KEYS_MAX of { uintptr_t seq; void (*destr)(void *); }, a key in
 * use while its seq is odd. */
#define GLIBC_KEYS_MAX 1024

struct glibc_key {
	uint64_t seq;
	uint64_t destr;
};

struct libc_load {
	uint32_t pid;
	uint64_t base;
	char path[PATH_MAX];
};

/* The mapping of libc's file offset 0: stops the walk there. */
static int libc_map(void *ctx, const struct procfs_map *m)
{
	struct libc_load *l = ctx;

	if (m->path[0] != '/' || m->offset ||
	    !glibc__is_libc(strrchr(m->path, '/') + 1))
		return 0;
	/* libc's first segment is at link-time address 0. */
	l->base = m->start;
	snprintf(l->path, sizeof(l->path), "/proc/%u/root%s", l->pid, m->path);
	return 1;
}

int glibc__each_key(uint32_t pid,
		    void (*cb)(void *ctx, uint32_t key, uint64_t destr),
		    void *ctx)
{
	static struct glibc_key keys[GLIBC_KEYS_MAX];
	struct libc_load l = {.pid = pid};
	uint64_t vaddr;
	struct iovec local, remote;
	int err;

	err = procfs__each_map(pid, libc_map, &l);
	if (err < 0)
		return err;
	if (!err)
		return -ENOENT;
	if ((err = elfsym__object(l.path, "__pthread_keys", &vaddr)))
		return err;
	local.iov_base = keys;
	local.iov_len = sizeof(keys);
	remote.iov_base = (void *)(uintptr_t)(l.base + vaddr);
	remote.iov_len = sizeof(keys);
	if (process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0) !=
	    (ssize_t)sizeof(keys))
		return -errno;
	for (uint32_t k = 0; k < GLIBC_KEYS_MAX; k++)
		if (keys[k].seq & 1)
			cb(ctx, k, keys[k].destr);
	return 0;
}
