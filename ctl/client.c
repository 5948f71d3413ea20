/*
 * client.c - memwatchctl's side of the control socket (common/proto.h):
 * one request, one reply, to memwatchd; see ctl.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#ifndef _WIN32
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#endif
#include <unistd.h>

#include "ctl.h"
#include "frame.h"
#include "proto.h"

#ifdef _WIN32
/*
 * memwatchw, the Windows collector, has no control socket: on Windows
 * memwatchctl reads databases only. A command that needs the daemon says
 * so; status, asking quietly, is told the daemon is not there.
 */
int client__request(uint16_t type, const void *payload, uint32_t len,
		    void *reply, uint32_t reply_len, char *msg, size_t msglen,
		    bool quiet_connect)
{
	if (quiet_connect)
		return -EHOSTDOWN;
	die(EXIT_USAGE, "this command needs memwatchd, and on Windows "
			"memwatchctl reads a database only (--db)");
}
#else
int client__request(uint16_t type, const void *payload, uint32_t len,
		    void *reply, uint32_t reply_len, char *msg, size_t msglen,
		    bool quiet_connect)
{
	struct mw_msg_hdr h;
	/* Status answers at once; attach, detach and watch answer once the
	 * probes are in or out, which on a kernel without uprobe_multi links
	 * is one perf event per probe, each removal waiting out a grace
	 * period: seconds for a big process (docs/KERNELS.md). */
	struct timeval tv = {.tv_sec = type == MW_MSG_STATUS ? 5 : 30};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[MW_PROTO_MAX_PAYLOAD];
	int fd, err;

	if (strlen(opt.socket) >= sizeof(sa.sun_path))
		die(EXIT_USAGE, "--socket: path too long '%s'", opt.socket);
	memcpy(sa.sun_path, opt.socket, strlen(opt.socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(EXIT_RUNTIME, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = errno;
		close(fd);
		if (quiet_connect && (err == ENOENT || err == ECONNREFUSED))
			return -EHOSTDOWN;
		die(EXIT_RUNTIME, "cannot connect to memwatchd at '%s': %s",
		    opt.socket, strerror(err));
	}
	/* A daemon gone mid-request is an error, not a SIGPIPE (frame.h). */
	if ((err = frame__send(fd, type, 0, payload, len)))
		die(EXIT_RUNTIME, "cannot send to memwatchd at '%s': %s",
		    opt.socket, strerror(-err));
	err = frame__recv(fd, type, &h, buf, sizeof(buf));
	close(fd);
	if (err)
		die(EXIT_RUNTIME, "bad reply from memwatchd at '%s': %s",
		    opt.socket, strerror(-err));
	if (h.status < 0) {
		snprintf(msg, msglen, "%.*s", (int)h.len, buf);
		return h.status;
	}
	if (h.len != reply_len)
		die(EXIT_RUNTIME,
		    "bad reply from memwatchd at '%s': %u bytes, expected %u",
		    opt.socket, h.len, reply_len);
	if (reply_len) /* reply may be NULL then, which memcpy takes not */
		memcpy(reply, buf, reply_len);
	return 0;
}
#endif
