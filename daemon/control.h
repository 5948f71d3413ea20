/*
 * control.h - the daemon's control socket (common/proto.h): one request per
 * connection, validated exactly, answered from the epoll loop.
 */
#ifndef MEMWATCH_CONTROL_H
#define MEMWATCH_CONTROL_H

#include <stddef.h>
#include <stdint.h>

struct control;

/*
 * Handle one valid request. Return 0 and fill reply and reply_len (at most
 * MW_PROTO_MAX_PAYLOAD bytes), or a negative errno and a one-line message
 * in msg.
 */
typedef int (*control_handler)(void *ctx, uint16_t type, const void *req,
			       uint32_t req_len, void *reply,
			       uint32_t *reply_len, char *msg, size_t msglen);

/* Listen on path, a socket for root and group MW_GROUP (0660), or root
 * alone (0600) when the group does not exist. NULL and errno set on
 * failure. */
struct control *control__open(const char *path);
void control__close(struct control *c);
int control__fd(const struct control *c);
/* Accept and answer one pending client: h sees only requests that are
 * well-formed and that this client may make (status: root and the
 * group; the rest: root); the others get an error reply. Errors concern
 * that client only and are returned for the caller to log. */
int control__serve(struct control *c, control_handler h, void *ctx);

#endif
