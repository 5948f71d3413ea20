/* access.c - who may use memwatchd; see access.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "paths.h"
#include "proto.h"

int access__group(gid_t *gid)
{
	/* An error reading the group database counts as no group: the
	 * safe side, root alone. */
	/* At start-up only, before any other thread runs: nothing can call
	 * getgrnam at the same time. */
	/* cppcheck-suppress getgrnamCalled */
	struct group *gr = getgrnam(MW_GROUP);

	if (!gr)
		return -ENOENT;
	*gid = gr->gr_gid;
	return 0;
}

int access__restrict(const char *path, bool have_group, gid_t gid, mode_t mode)
{
	char self[64];
	struct stat st;
	int fd, err = 0;

	/*
	 * Through a descriptor of the file itself, never through a symbolic
	 * link: one planted in its place (a directory others may write to)
	 * would hand the link's target to the group. O_PATH opens a socket
	 * too; its /proc/self/fd entry is how to chmod what it names.
	 */
	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	/* Each -errno below is a different call's. */
	if (fstat(fd, &st))
		err = -errno; /* NOLINT(bugprone-branch-clone) */
	else if (S_ISLNK(st.st_mode))
		err = -ELOOP;
	/* Root's alone first, then the group's: nobody else's between. */
	else if (chmod(self, mode & 0700) ||
		 (have_group &&
		  (fchownat(fd, "", (uid_t)-1, gid, AT_EMPTY_PATH) ||
		   chmod(self, mode))))
		err = -errno;
	close(fd);
	return err;
}

/* Is gid among the peer's supplementary groups? */
static bool peer_in_group(int fd, gid_t gid)
{
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(small);
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len)) {
		/* ERANGE: len now says how much it needs. */
		if (errno != ERANGE || !(groups = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof(gid_t) && !found; i++)
		found = groups[i] == gid;
	if (groups != small)
		free(groups);
	return found;
}

enum access_level access__peer(int fd, bool have_group, gid_t gid, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	*uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    len != sizeof(cred))
		return ACCESS_NONE;
	*uid = cred.uid;
	if (cred.uid == 0)
		return ACCESS_ADMIN;
	if (have_group && (cred.gid == gid || peer_in_group(fd, gid)))
		return ACCESS_QUERY;
	return ACCESS_NONE;
}
