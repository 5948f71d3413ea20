/*
 * collector_cmd.c - memwatchd -- CMD: the allocators a program about to
 * start will load (its LD_PRELOAD, its executable's DT_NEEDED, a malloc
 * of its own), probed before its maps can show them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector_int.h"
#include "elfsym.h"

#define LIB_DIR "/usr/lib/x86_64-linux-gnu/"

struct cmd_scan {
	struct collector *c;
	struct target *t;
	int err;
};

/* name is a preloaded or needed library: probe it if it is an
 * allocator. Bare names are looked up where Debian installs libraries. */
static int scan_lib(void *ctx, const char *name)
{
	struct cmd_scan *cs = ctx;
	struct module_path m = {0};
	const char *base = strrchr(name, '/');

	base = base ? base + 1 : name;
	m.kind = collector_module__kind(base);
	if (m.kind < 0)
		return 0;
	if (name[0] == '/')
		snprintf(m.path, sizeof(m.path), "%s", name);
	else
		snprintf(m.path, sizeof(m.path), LIB_DIR "%s", name);
	if (access(m.path, R_OK))
		return 0;
	cs->err = collector_attach__module(cs->c, cs->t, &m);
	return cs->err;
}

static void scan_preload(struct cmd_scan *cs, const char *list)
{
	char buf[4096], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok_r(buf, " :", &save); tok && !cs->err;
	     tok = strtok_r(NULL, " :", &save))
		scan_lib(cs, tok);
}

/* The executable execvp would run for name. */
static int find_exe(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char buf[4096], *save = NULL;

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK) ? -errno : 0;
	}
	snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/bin:/bin");
	for (char *dir = strtok_r(buf, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", dir, name);
		if (!access(out, X_OK))
			return 0;
	}
	return -ENOENT;
}

int collector__attach_cmd(struct collector *c, uint32_t pid, char *const *cmd)
{
	struct cmd_scan cs = {.c = c, .t = target_find(c, pid)};
	const char *preload = getenv("LD_PRELOAD");
	char exe[PATH_MAX];
	int i = 0;

	if (!cs.t)
		return -ESRCH;
	if (cs.t->tls_only)
		return 0;
	/* `env [-i] [NAME=VALUE]... PROG`: its assignments reach PROG. */
	if (cmd[0] && !strcmp(strrchr(cmd[0], '/') ? strrchr(cmd[0], '/') + 1
						    : cmd[0], "env")) {
		for (i = 1; cmd[i] && (cmd[i][0] == '-' || strchr(cmd[i], '='));
		     i++) {
			if (!strcmp(cmd[i], "-i"))
				preload = NULL;
			else if (!strncmp(cmd[i], "LD_PRELOAD=", 11))
				preload = cmd[i] + 11;
		}
	}
	if (preload)
		scan_preload(&cs, preload);
	if (!cs.err && cmd[i] && !find_exe(cmd[i], exe, sizeof(exe))) {
		struct module_path m;

		elfsym__each_needed(exe, scan_lib, &cs);
		/* Its own malloc: all our probes in it if it is static, the
		 * malloc family if it is dynamic. */
		if (!cs.err && collector_module__exe(exe, &m))
			cs.err = collector_attach__module(c, cs.t, &m);
		if (!cs.err)
			cs.err = collector_attach__custom(c, cs.t, exe);
	}
	return cs.err;
}
