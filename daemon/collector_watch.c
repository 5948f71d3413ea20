/*
 * collector_watch.c - the watch maps: processes to stop at exec and
 * report (MW_EV_SPAWN) by executable, command name, cgroup or unit, and
 * the targets whose forks are followed.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collector_int.h"
#include "memwatch.h"

/* Add (mode set) or remove (mode 0) a key of a watch map. */
static int watch_update(struct bpf_map *map, const void *key, uint8_t mode)
{
	int fd = bpf_map__fd(map);

	if (!mode)
		return bpf_map_delete_elem(fd, key) ? -errno : 0;
	return bpf_map_update_elem(fd, key, &mode, BPF_ANY) ? -errno : 0;
}

static uint8_t watch_mode(enum collector_watch how)
{
	return how == COLLECTOR_UNWATCH ? 0
	       : how == COLLECTOR_WATCH_TLS ? MW_TARGET_TLS
					     : MW_TARGET_FULL;
}

int collector__watch_exe(struct collector *c, const char *path,
			 enum collector_watch how)
{
	struct mw_watch_exe key = {0};
	struct stat st;

	if (stat(path, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	/* The kernel's own dev_t encoding, as the BPF side reads it. */
	key.dev = ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev);
	key.ino = st.st_ino;
	return watch_update(c->skel->maps.watch_exe, &key, watch_mode(how));
}

int collector__watch_comm(struct collector *c, const char *comm,
			  enum collector_watch how)
{
	char key[MW_COMM_LEN] = {0};

	if (!comm[0] || strlen(comm) >= MW_COMM_LEN)
		return -EINVAL;
	memcpy(key, comm, strlen(comm) + 1);
	return watch_update(c->skel->maps.watch_comm, key, watch_mode(how));
}

int collector__watch_cgroup(struct collector *c, uint64_t id,
			    enum collector_watch how)
{
	return watch_update(c->skel->maps.watch_cgroup, &id, watch_mode(how));
}

int collector__watch_unit(struct collector *c, const char *unit,
			  enum collector_watch how)
{
	char key[MW_UNIT_LEN] = {0};
	const char *base = strrchr(unit, '/');

	base = base ? base + 1 : unit;
	if (!base[0] || strlen(base) >= MW_UNIT_LEN)
		return -EINVAL;
	memcpy(key, base, strlen(base) + 1);
	return watch_update(c->skel->maps.watch_unit, key, watch_mode(how));
}

int collector__follow(struct collector *c, uint32_t pid)
{
	int fd = bpf_map__fd(c->skel->maps.targets);
	struct target *t = target_find(c, pid);
	uint8_t mode;
	int err;

	if (!t || bpf_map_lookup_elem(fd, &pid, &mode))
		return t ? -errno : -ESRCH;
	/* The hold is in place before the first fork it must see. */
	if ((err = collector_attach__follow(c, t)))
		return err;
	mode |= MW_TARGET_FOLLOW;
	if (bpf_map_update_elem(fd, &pid, &mode, BPF_EXIST))
		return -errno;
	return 0;
}
