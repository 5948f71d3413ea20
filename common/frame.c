/* frame.c - the control socket's framing, both ends; see frame.h. */
#ifndef _WIN32
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"

/* All of buf, or an error: send() may take part of it. */
static int send_full(int fd, const void *buf, size_t len)
{
	size_t put = 0;

	while (put < len) {
		ssize_t n =
		    send(fd, (const char *)buf + put, len - put, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		put += (size_t)n;
	}
	return 0;
}

int frame__send(int fd, uint16_t type, int32_t status, const void *payload,
		uint32_t len)
{
	struct mw_msg_hdr h = {
	    .magic = MW_PROTO_MAGIC,
	    .version = MW_PROTO_VERSION,
	    .type = type,
	    .len = len,
	    .status = status,
	};
	int err = send_full(fd, &h, sizeof(h));

	return err ? err : send_full(fd, payload, len);
}

int frame__read(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPROTO;
		got += (size_t)n;
	}
	return 0;
}

bool frame__hdr_ok(const struct mw_msg_hdr *h)
{
	return h->magic == MW_PROTO_MAGIC && h->version == MW_PROTO_VERSION;
}

int frame__recv(int fd, uint16_t type, struct mw_msg_hdr *h, void *buf,
		size_t cap)
{
	int err = frame__read(fd, h, sizeof(*h));

	if (err)
		return err;
	if (!frame__hdr_ok(h) || h->type != type || h->len > cap)
		return -EPROTO;
	return frame__read(fd, buf, h->len);
}
#endif
