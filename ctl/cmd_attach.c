/*
 * cmd_attach.c - memwatchctl attach and detach: memwatchd starts or stops
 * tracing a process, or watching every process of a target (an
 * executable, a command name, a cgroup, a systemd unit).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "parse.h"
#include "proto.h"

static uint32_t parse_pid(const char *what, const char *s)
{
	uint64_t v;

	if (parse__u64(s, INT32_MAX, &v) || !v)
		die(EXIT_USAGE, "%s: invalid pid '%s'", what, s);
	return (uint32_t)v;
}

/* memwatchctl attach|detach exe|comm|cgroup|unit NAME */
static int watch_request(const char *cmd, uint16_t type, uint32_t kind,
			 const char *noun, const char *name)
{
	struct mw_msg_watch w;
	char msg[256], path[PATH_MAX];
	int rc;

	memset(&w, 0, sizeof(w));
	w.kind = kind;
	w.mode = opt.tls ? MW_MODE_TLS : MW_MODE_FULL;
	/* memwatchd's working directory is not ours. */
	if (kind == MW_WATCH_EXE && name[0] != '/') {
		if (!realpath(name, path))
			die(EXIT_USAGE, "exe '%s': %s", name, strerror(errno));
		name = path;
	}
	if (!name[0] || strlen(name) >= sizeof(w.name))
		die(EXIT_USAGE, "%s: invalid %s name '%s'", cmd, noun, name);
	memcpy(w.name, name, strlen(name));
	rc = client__request(type, &w, sizeof(w), NULL, 0, msg, sizeof(msg),
			     false);
	if (rc)
		die(EXIT_RUNTIME, "%s", msg);
	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, noun);
		json__str(&J, name);
		json__key(&J, "result");
		json__str(&J, type == MW_MSG_WATCH ? "watching" : "unwatched");
		json__close(&J, '}');
		json__end(&J);
	} else {
		printf("%s %s '%s'\n",
		       type == MW_MSG_WATCH ? "watching" : "stopped watching",
		       noun, name);
	}
	return 0;
}

/* memwatchctl attach|detach PID, or a target by name. */
static int target_request(const char *cmd, uint16_t type, int argc, char **argv)
{
	static const struct {
		const char *noun;
		uint32_t kind;
	} nouns[] = {
	    {"exe", MW_WATCH_EXE},
	    {"comm", MW_WATCH_COMM},
	    {"cgroup", MW_WATCH_CGROUP},
	    {"unit", MW_WATCH_UNIT},
	};
	struct mw_msg_pid mp = {0};
	char msg[256];
	int rc;

	if (opt.tls && type != MW_MSG_ATTACH)
		die(EXIT_USAGE, "--tls: only for attach");
	if (argc == 2) {
		for (size_t i = 0; i < sizeof(nouns) / sizeof(nouns[0]); i++)
			if (!strcmp(argv[0], nouns[i].noun))
				return watch_request(
				    cmd,
				    type == MW_MSG_ATTACH ? MW_MSG_WATCH
							  : MW_MSG_UNWATCH,
				    nouns[i].kind, nouns[i].noun, argv[1]);
		if (strcmp(argv[0], "pid"))
			die(EXIT_USAGE,
			    "%s: unknown target '%s' (pid, exe, comm, cgroup, "
			    "unit)",
			    cmd, argv[0]);
		argv++;
		argc--;
	}
	if (argc != 1)
		die(EXIT_USAGE,
		    "usage: memwatchctl %s [pid] PID | exe PATH | comm NAME | "
		    "cgroup PATH | unit NAME",
		    cmd);
	mp.pid = parse_pid(cmd, argv[0]);
	mp.mode = opt.tls ? MW_MODE_TLS : MW_MODE_FULL;
	rc = client__request(type, &mp, sizeof(mp), NULL, 0, msg, sizeof(msg),
			     false);
	if (rc)
		die(EXIT_RUNTIME, "%s", msg);
	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "pid");
		json__u64(&J, mp.pid);
		json__key(&J, "result");
		json__str(&J, type == MW_MSG_ATTACH ? "attached" : "detached");
		json__close(&J, '}');
		json__end(&J);
	} else {
		printf("%s pid %u\n",
		       type == MW_MSG_ATTACH ? "attached to" : "detached from",
		       mp.pid);
	}
	return 0;
}

int cmd_attach(int argc, char **argv)
{
	return target_request("attach", MW_MSG_ATTACH, argc, argv);
}

int cmd_detach(int argc, char **argv)
{
	return target_request("detach", MW_MSG_DETACH, argc, argv);
}
