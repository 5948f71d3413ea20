/* access.c - who may use memwatchd; see access.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "proto.h"

int access__group(gid_t *gid)
{
	/* An error reading the group database counts as no group: the
	 * safe side, root alone. */
	struct group *gr = getgrnam(MW_GROUP);

	if (!gr)
		return -ENOENT;
	*gid = gr->gr_gid;
	return 0;
}

int access__restrict(const char *path, bool have_group, gid_t gid, mode_t mode)
{
	/* Root's alone first, then the group's: nobody else's between. */
	if (chmod(path, mode & 0700))
		return -errno;
	if (!have_group)
		return 0;
	if (fchownat(AT_FDCWD, path, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) ||
	    chmod(path, mode))
		return -errno;
	return 0;
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
