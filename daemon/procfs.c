/*
 * procfs.c - reading /proc/PID/maps and stat; see procfs.h.
 *
 * A line is "start-end perms offset major:minor inode" then, padded with
 * spaces, the path if there is one. The path is taken as the rest of the
 * line, so that one holding spaces stays whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procfs.h"

int procfs__each_map(uint32_t pid,
		     int (*cb)(void *ctx, const struct procfs_map *m),
		     void *ctx)
{
	char name[64], line[PATH_MAX + 256];
	int ret = 0;
	FILE *f;

	snprintf(name, sizeof(name), "/proc/%u/maps", pid);
	f = fopen(name, "re");
	if (!f)
		return -errno;
	while (!ret && fgets(line, sizeof(line), f)) {
		unsigned long long start, end, offset, inode;
		struct procfs_map m;
		int path = 0;

		/* The space before %n skips the padding, and the newline
		 * of a line without a path. */
		if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start,
			   &end, m.perms, &offset, &m.dev_major, &m.dev_minor,
			   &inode, &path) != 7 ||
		    !path)
			continue;
		line[path + strcspn(line + path, "\n")] = '\0';
		m.start = start;
		m.end = end;
		m.offset = offset;
		m.inode = inode;
		m.path = line + path;
		ret = cb(ctx, &m);
	}
	fclose(f);
	return ret;
}

/* Where a needed library would be found, inside the process's root. */
int procfs__find_lib(uint32_t pid, const char *name, char *out, size_t len)
{
	static const char *const dirs[] = {
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
		"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
		"/lib64", "/usr/lib64", "/lib", "/usr/lib",
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, len, "/proc/%u/root%s/%s", pid, dirs[i], name);
		if (!access(out, R_OK))
			return 0;
	}
	return -ENOENT;
}

int procfs__age(uint32_t pid, uint64_t *ns)
{
	char path[64], buf[1024], *p;
	unsigned long long start;
	long hz = sysconf(_SC_CLK_TCK);
	struct timespec now;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* After the command's ')' (which may hold anything): state is
	 * field 3, starttime field 22. */
	p = strrchr(buf, ')');
	if (!p || hz <= 0 ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
			  "%*u %*d %*d %*d %*d %*d %*d %llu",
		   &start) != 1 ||
	    clock_gettime(CLOCK_BOOTTIME, &now))
		return -EIO;
	start = start * (1000000000ull / (unsigned long long)hz);
	*ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	*ns = *ns > start ? *ns - start : 0;
	return 0;
}
