/*
 * control.c - see control.h.
 *
 * Clients get 1 s to send a request; the loop is never blocked longer.
 * A stale socket file left by a dead daemon is replaced, but only if it
 * is a socket nobody answers on: never another daemon's live socket, and
 * never a file that is not a socket.
 *
 * Who may ask what (access.h): the socket is root's and group MW_GROUP's
 * (0660), or root's alone (0600) when there is no such group, and each
 * request is checked again against the credentials the kernel recorded
 * for the client: status for root and the group, everything else for
 * root. The file mode alone would not do: a mode widened by hand, or a
 * connection made by root and handed to someone else, must not widen who
 * is served (the credentials are those of whoever called connect).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "access.h"
#include "control.h"
#include "frame.h"
#include "paths.h"
#include "proto.h"

struct control {
	int fd;
	char *path;
	bool have_group; /* MW_GROUP exists: its members may query */
	gid_t gid;
};

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	size_t len = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, len + 1);
	return 0;
}

static int remove_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, err;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (!err)
		return -EADDRINUSE;
	return unlink(path) ? -errno : 0;
}

struct control *control__open(const char *path)
{
	struct control *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa;
	int err;

	if (!c)
		return NULL;
	c->fd = -1;
	c->have_group = !access__group(&c->gid);
	if ((err = fill_addr(&sa, path)) || (err = remove_stale(path, &sa)))
		goto fail;
	c->path = strdup(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!c->path || c->fd < 0) {
		err = c->path ? -errno : -ENOMEM;
		goto fail;
	}
	/* Nobody connects before the mode is set: listen comes last. */
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		goto fail;
	}
	err = access__restrict(path, c->have_group, c->gid, 0660);
	if (!err && listen(c->fd, 16))
		err = -errno;
	if (err) {
		unlink(path);
		goto fail;
	}
	return c;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	free(c);
	errno = -err;
	return NULL;
}

void control__close(struct control *c)
{
	if (!c)
		return;
	close(c->fd);
	unlink(c->path);
	free(c->path);
	free(c);
}

int control__fd(const struct control *c)
{
	return c->fd;
}

static uint32_t expected_len(uint16_t type)
{
	switch (type) {
	case MW_MSG_STATUS:
	case MW_MSG_RELOAD:
		return 0;
	case MW_MSG_ATTACH:
	case MW_MSG_DETACH:
		return sizeof(struct mw_msg_pid);
	case MW_MSG_WATCH:
	case MW_MSG_UNWATCH:
		return sizeof(struct mw_msg_watch);
	case MW_MSG_ACK:
		return sizeof(struct mw_msg_ack);
	}
	return UINT32_MAX;
}

static const char *const type_names[] = {
	[MW_MSG_ATTACH] = "attach",
	[MW_MSG_DETACH] = "detach",
	[MW_MSG_WATCH] = "attach",
	[MW_MSG_UNWATCH] = "detach",
	[MW_MSG_RELOAD] = "reload",
	[MW_MSG_ACK] = "ack",
};

/*
 * May the client ask for type? Queries (status) need root or the group,
 * everything else root. Returns 0, or -EACCES and the reason in msg.
 */
static int allowed(const struct control *c, int fd, uint16_t type, char *msg,
		   size_t len)
{
	uid_t uid;
	enum access_level have = access__peer(fd, c->have_group, c->gid, &uid);
	enum access_level need =
	    type == MW_MSG_STATUS ? ACCESS_QUERY : ACCESS_ADMIN;

	if (have >= need)
		return 0;
	if (need == ACCESS_ADMIN)
		snprintf(msg, len, "permission denied: %s needs root",
			 type < sizeof(type_names) / sizeof(type_names[0]) &&
				 type_names[type]
			     ? type_names[type]
			     : "this request");
	else
		snprintf(msg, len,
			 "permission denied: uid %u is neither root nor in "
			 "group '%s'",
			 (unsigned)uid, MW_GROUP);
	return -EACCES;
}

int control__serve(struct control *c, control_handler h, void *ctx)
{
	static char req[MW_PROTO_MAX_PAYLOAD], out[MW_PROTO_MAX_PAYLOAD];
	struct timeval tv = {.tv_sec = 1};
	struct mw_msg_hdr hdr;
	char msg[256] = "";
	uint32_t out_len = 0;
	int fd, err, status;

	fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN ? 0 : -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	err = frame__read(fd, &hdr, sizeof(hdr));
	if (err)
		goto out;
	if (!frame__hdr_ok(&hdr)) {
		snprintf(msg, sizeof(msg), "bad magic or protocol version");
		status = -EPROTO;
	} else if (expected_len(hdr.type) == UINT32_MAX) {
		/* Before the length: an unknown type's "expected" length
		 * is no length, and a client announcing UINT32_MAX bytes
		 * must never have them read into req. */
		snprintf(msg, sizeof(msg), "unknown message type %u",
			 hdr.type);
		status = -EOPNOTSUPP;
	} else if (hdr.len != expected_len(hdr.type)) {
		snprintf(msg, sizeof(msg),
			 "bad length %u for message type %u", hdr.len,
			 hdr.type);
		status = -EPROTO;
	} else if ((err = frame__read(fd, req, hdr.len))) {
		goto out;
	} else {
		status = allowed(c, fd, hdr.type, msg, sizeof(msg));
		if (!status)
			status = h(ctx, hdr.type, req, hdr.len, out, &out_len,
				   msg, sizeof(msg));
	}
	if (status)
		err = frame__send(fd, hdr.type, status, msg,
				  (uint32_t)strlen(msg));
	else
		err = frame__send(fd, hdr.type, 0, out, out_len);
out:
	close(fd);
	return err;
}
