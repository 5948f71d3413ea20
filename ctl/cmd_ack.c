/*
 * cmd_ack.c - memwatchctl ack ID [--note TEXT]: memwatchd marks a finding
 * acknowledged (kept and counted, never shown as open again), with the
 * time and the note. Through the control socket, as memwatchctl writes
 * nothing to the database itself.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "parse.h"
#include "proto.h"

int cmd_ack(int argc, char **argv)
{
	struct mw_msg_ack a;
	const char *note = opt.note ? opt.note : "";
	char msg[256];
	uint64_t id;
	int rc;

	if (argc != 1)
		die(EXIT_USAGE, "usage: memwatchctl ack ID [--note TEXT]");
	if (parse__u64(argv[0], INT64_MAX, &id) || !id)
		die(EXIT_USAGE, "ack: invalid finding id '%s'", argv[0]);
	if (strlen(note) >= sizeof(a.note))
		die(EXIT_USAGE, "--note: longer than %u bytes",
		    (unsigned)sizeof(a.note) - 1);
	memset(&a, 0, sizeof(a));
	a.id = id;
	memcpy(a.note, note, strlen(note));
	rc = client__request(MW_MSG_ACK, &a, sizeof(a), NULL, 0, msg,
			     sizeof(msg), false);
	if (rc)
		die(EXIT_RUNTIME, "%s", msg);
	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "id");
		json__u64(&J, id);
		json__key(&J, "result");
		json__str(&J, "acknowledged");
		json__close(&J, '}');
		json__end(&J);
	} else {
		printf("finding %" PRIu64 " acknowledged\n", id);
	}
	return 0;
}
