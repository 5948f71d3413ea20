/*
 * fuzz_control.c - libFuzzer harness of the control socket's protocol
 * (daemon/control.c, common/proto.h): the input is everything one client
 * sends on one connection.
 *
 * The harness listens with control__open on a socket in a private temp
 * directory, connects, writes the input, shuts its side down (a client
 * that sends less than it announced is seen at once, not after the 1 s
 * timeout) and lets control__serve answer, with a stub daemon handler.
 * Never a crash, and exactly:
 *  - fewer bytes than a header, or than the payload announced: no
 *    handler call, no reply;
 *  - a bad magic or version: -EPROTO; an unknown type: -EOPNOTSUPP; a
 *    length other than its type's: -EPROTO; none reaches the handler;
 *  - a well-formed request reaches the handler with its type and exact
 *    length (or, for a client neither root nor in the group, -EACCES);
 *  - every reply is one header (magic, version, the request's type) and
 *    exactly len bytes, len at most MW_PROTO_MAX_PAYLOAD, its status the
 *    handler's; an error's payload is one non-empty line.
 * The stub checks what memwatchd's handler checks (a watch name is
 * NUL-terminated and not empty) and refuses the rest with -EINVAL.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "proto.h"

static struct {
	struct control *ctl;
	char dir[80];
	char path[108]; /* sun_path's size */
	int calls;
	uint16_t type;
	uint32_t len;
	int status;
} S;

static void __attribute__((noreturn)) violated(const char *what)
{
	fprintf(stderr, "fuzz_control: %s\n", what);
	abort();
}

static int handler(void *ctx, uint16_t type, const void *req, uint32_t len,
		   void *reply, uint32_t *reply_len, char *msg, size_t msglen)
{
	const struct mw_msg_watch *w = req;
	struct mw_msg_status st = {.daemon_pid = 1, .ntargets = 1};

	S.calls++;
	S.type = type;
	S.len = len;
	S.status = 0;
	switch (type) {
	case MW_MSG_STATUS:
		memcpy(reply, &st, sizeof(st));
		*reply_len = sizeof(st);
		break;
	case MW_MSG_WATCH:
	case MW_MSG_UNWATCH:
		if (!memchr(w->name, '\0', sizeof(w->name)) || !w->name[0]) {
			snprintf(msg, msglen, "invalid name");
			S.status = -EINVAL;
		}
		break;
	case MW_MSG_ATTACH:
	case MW_MSG_DETACH:
		if (!((const struct mw_msg_pid *)req)->pid) {
			snprintf(msg, msglen, "invalid pid 0");
			S.status = -EINVAL;
		}
		break;
	}
	return S.status;
}

/* The socket and its directory go when the fuzzer exits. */
static void cleanup(void)
{
	control__close(S.ctl);
	rmdir(S.dir);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	/* $TMPDIR: a test's own temp dir, removed with it even when the
	 * harness dies before cleanup runs. */
	if (snprintf(S.dir, sizeof(S.dir), "%s/fuzz_control.XXXXXX",
		     tmp && *tmp ? tmp : "/tmp") >= (int)sizeof(S.dir))
		abort();
	if (!mkdtemp(S.dir))
		abort();
	snprintf(S.path, sizeof(S.path), "%s/sock", S.dir);
	S.ctl = control__open(S.path);
	if (!S.ctl) {
		perror("fuzz_control: control__open");
		abort();
	}
	atexit(cleanup);
}

static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	return got;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[sizeof(struct mw_msg_hdr) + MW_PROTO_MAX_PAYLOAD + 64];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct mw_msg_hdr req, rep;
	int fd, want;
	size_t got;

	if (size > 65536)
		return 0;
	if (!S.ctl)
		setup();
	memcpy(sa.sun_path, S.path, strlen(S.path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	shutdown(fd, SHUT_WR);
	S.calls = 0;
	control__serve(S.ctl, handler, NULL);
	got = read_all(fd, out, sizeof(out));
	close(fd);

	/* What the request deserves. */
	if (size < sizeof(req)) {
		want = 1; /* no reply */
	} else {
		memcpy(&req, data, sizeof(req));
		if (req.magic != MW_PROTO_MAGIC ||
		    req.version != MW_PROTO_VERSION)
			want = -EPROTO;
		else if (expected_len(req.type) == UINT32_MAX)
			want = -EOPNOTSUPP;
		else if (req.len != expected_len(req.type))
			want = -EPROTO;
		else if (size - sizeof(req) < req.len)
			want = 1;
		else
			want = 0; /* the handler's answer */
	}
	if (want != 0 && S.calls)
		violated("a malformed request reached the handler");
	if (want == 1) {
		if (got)
			violated("a reply to an incomplete request");
		return 0;
	}
	if (got < sizeof(rep))
		violated("no reply header");
	memcpy(&rep, out, sizeof(rep));
	if (rep.magic != MW_PROTO_MAGIC || rep.version != MW_PROTO_VERSION ||
	    rep.type != req.type)
		violated("reply header does not match");
	if (rep.len > MW_PROTO_MAX_PAYLOAD || got != sizeof(rep) + rep.len)
		violated("reply length is not what follows it");
	if (want == 0 && S.calls == 1) {
		if (S.type != req.type || S.len != req.len)
			violated("handler saw another type or length");
		if (rep.status != S.status)
			violated("reply status is not the handler's");
	} else if (want == 0) {
		if (S.calls || rep.status != -EACCES || !geteuid())
			violated("a request neither served nor refused");
	} else if (rep.status != want) {
		violated("malformed request got another status");
	}
	if (rep.status &&
	    (!rep.len || memchr(out + sizeof(rep), '\n', rep.len) ||
	     memchr(out + sizeof(rep), '\0', rep.len)))
		violated("error reply is not one line");
	return 0;
}
