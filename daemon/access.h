/*
 * access.h - who may use memwatchd: root for everything, and the members
 * of group MW_GROUP (common/paths.h), when it exists, for queries: the
 * control socket's status and reading the database. Nobody else.
 */
#ifndef MEMWATCH_ACCESS_H
#define MEMWATCH_ACCESS_H

#include <stdbool.h>
#include <sys/types.h>

enum access_level {
	ACCESS_NONE,
	ACCESS_QUERY, /* root, or in the group */
	ACCESS_ADMIN, /* root */
};

/* The group's id in *gid: 0, or -ENOENT when there is no such group. */
int access__group(gid_t *gid);
/*
 * Give a file memwatchd made to root and the group: group gid and mode
 * (0660 for the socket, 0640 for the database, 0750 for a directory), or
 * with no group (have_group false) to root alone, mode & 0700. Returns 0
 * or -errno;
 * -ENOENT when path does not exist, -ELOOP when it is a symbolic link
 * (never followed).
 */
int access__restrict(const char *path, bool have_group, gid_t gid, mode_t mode);
/*
 * What the process at the other end of a connected unix socket may do,
 * from the credentials the kernel recorded at connect(): its uid, its
 * gid and its supplementary groups (SO_PEERCRED, SO_PEERGROUPS; never
 * /proc/PID, whose pid may be another process by now). *uid gets its uid.
 */
enum access_level access__peer(int fd, bool have_group, gid_t gid, uid_t *uid);

#endif
