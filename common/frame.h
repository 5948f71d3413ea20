/*
 * frame.h - the control socket's framing (proto.h), written once for
 * both ends, memwatchd (daemon/control.c) and memwatchctl
 * (ctl/client.c): a message is one struct mw_msg_hdr and exactly hdr.len
 * bytes of payload.
 *
 * Reads and sends go on after EINTR and stop only when the whole header
 * or payload is through. A send never raises SIGPIPE (MSG_NOSIGNAL): a
 * peer that went away is -EPIPE, not the end of the sender. POSIX
 * sockets: nothing here on Windows, where memwatchctl has no control
 * socket.
 *
 * Errors are negative errnos; a peer that closes before all of a header
 * or payload came is -EPROTO.
 */
#ifndef MEMWATCH_FRAME_H
#define MEMWATCH_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Send one message: a header (this protocol's magic and version, type,
 * status, len) and the len bytes of payload. */
int frame__send(int fd, uint16_t type, int32_t status, const void *payload,
		uint32_t len);
/* Read exactly len bytes: a header, or the payload it announced. */
int frame__read(int fd, void *buf, size_t len);
/* Is h of this protocol: its magic and version? */
bool frame__hdr_ok(const struct mw_msg_hdr *h);
/*
 * Receive the reply to a request of this type: a header of this
 * protocol and type whose len is at most cap, into *h, then its payload
 * into buf. -EPROTO for any other header, its payload left unread.
 */
int frame__recv(int fd, uint16_t type, struct mw_msg_hdr *h, void *buf,
		size_t cap);

#endif
