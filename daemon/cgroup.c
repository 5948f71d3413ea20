/* cgroup.c - cgroup v2 targets; see cgroup.h. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup.h"

/* Where cgroup2 is mounted: /sys/fs/cgroup on a unified host,
 * /sys/fs/cgroup/unified on a hybrid one. */
int cgroup__mount(char *buf, size_t len)
{
	char line[PATH_MAX + 128], dev[64], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	int found = 0;

	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %4095s %63s", dev, dir, type) == 3 &&
		    !strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", dir);
			found = 1;
		}
	fclose(f);
	return found ? 0 : -ENODEV;
}

int cgroup__resolve(const char *arg, bool unit, char *path, size_t len,
		    uint64_t *id)
{
	char mnt[PATH_MAX];
	struct stat st;
	int err;

	if (!arg[0] || strstr(arg, ".."))
		return -EINVAL;
	if (unit || arg[0] != '/' || stat(arg, &st)) {
		if ((err = cgroup__mount(mnt, sizeof(mnt))))
			return err;
		if (unit && !strchr(arg, '/'))
			snprintf(path, len, "%s/system.slice/%s", mnt, arg);
		else
			snprintf(path, len, "%s/%s", mnt,
				 arg[0] == '/' ? arg + 1 : arg);
	} else {
		snprintf(path, len, "%s", arg);
	}
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* A directory with cgroup.procs is a group of a cgroup fs. */
	{
		char procs[PATH_MAX + 16];

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
		if (stat(procs, &st))
			return -ENOENT;
	}
	stat(path, &st);
	*id = st.st_ino;
	return 0;
}

int cgroup__each_pid(const char *path, void (*cb)(void *ctx, uint32_t pid),
		     void *ctx)
{
	char sub[PATH_MAX];
	struct dirent *de;
	unsigned long pid;
	DIR *dir;
	FILE *f;

	snprintf(sub, sizeof(sub), "%s/cgroup.procs", path);
	f = fopen(sub, "re");
	if (!f)
		return -errno;
	while (fscanf(f, "%lu", &pid) == 1)
		cb(ctx, (uint32_t)pid);
	fclose(f);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)))
		if (de->d_type == DT_DIR && de->d_name[0] != '.') {
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			cgroup__each_pid(sub, cb, ctx);
		}
	closedir(dir);
	return 0;
}

int cgroup__of(uint32_t pid, char *buf, size_t len)
{
	char path[64], line[4096];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "%s", line + 3);
			found = 1;
		}
	fclose(f);
	return found ? 0 : -ENOENT;
}

uint32_t cgroup__nspid(uint32_t pid)
{
	char path[64], line[512];
	uint32_t nspid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p, *save = NULL;

		if (strncmp(line, "NSpid:", 6))
			continue;
		/* The last column is the innermost namespace's pid. */
		for (p = strtok_r(line + 6, " \t\n", &save); p;
		     p = strtok_r(NULL, " \t\n", &save))
			nspid = (uint32_t)strtoul(p, NULL, 10);
		break;
	}
	fclose(f);
	return nspid;
}
