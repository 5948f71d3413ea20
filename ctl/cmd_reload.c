/*
 * cmd_reload.c - memwatchctl reload: memwatchd reads its configuration
 * again.
 */
#include <stdio.h>

#include "ctl.h"
#include "proto.h"

/* memwatchctl reload: memwatchd reads its configuration again, as on
 * SIGHUP, but a bad file comes back here as its one-line error. */
int cmd_reload(int argc, char **argv)
{
	char msg[256];
	int rc;

	ctl__no_args("reload", argc);
	rc = client__request(MW_MSG_RELOAD, NULL, 0, NULL, 0, msg, sizeof(msg),
			     false);
	if (rc)
		die(EXIT_RUNTIME, "%s", msg);
	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "result");
		json__str(&J, "reloaded");
		json__close(&J, '}');
		json__end(&J);
	} else {
		printf("configuration reloaded\n");
	}
	return 0;
}
