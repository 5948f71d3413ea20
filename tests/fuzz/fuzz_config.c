/*
 * fuzz_config.c - libFuzzer harness of memwatchd's settings
 * (daemon/options.c): the configuration file that --config names, and
 * the command line.
 *
 * The settings are read through options__reload, the path memwatchd's
 * reload (SIGHUP, memwatchctl reload) takes: it parses a command line
 * and the files it names as at start-up, but a bad setting comes back as
 * -EINVAL and its one-line message instead of exit(2), so the harness
 * sees every error. The first input byte picks what the rest is:
 *  - even: the whole configuration file (kept in a memfd, named as
 *    /proc/self/fd/N on the command line `memwatchd --config FILE`);
 *  - odd: command-line arguments, separated by NUL bytes.
 * Never a crash, a leak (ASan) or an exit, and:
 *  - an error's message is one non-empty line; from the file, it names
 *    the file and the line ("FILE:LINE: ...");
 *  - settings accepted are within the bounds the daemon relies on
 *    (counts of pids, targets and functions, argument numbers, comm
 *    lengths, rule settings).
 * Arguments that would make the real parser print help or the version
 * and exit (-h, -V and their long forms) are left out of the input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "options.h"

#define MAX_ARGS 64

static void __attribute__((noreturn))
violated(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz_config: %s: '%s'\n", what, msg);
	abort();
}

/* Would getopt_long take arg as --help or --version (or -h, -V)? */
static bool exits(const char *arg)
{
	size_t n = strlen(arg);

	if (!strcmp(arg, "--"))
		return false;
	if (arg[0] == '-' && arg[1] == '-')
		return n > 2 && (!strncmp(arg, "--help", n) ||
				 !strncmp(arg, "--version", n));
	return arg[0] == '-' && (strchr(arg, 'h') || strchr(arg, 'V'));
}

static void check_accepted(const struct options *o)
{
	if (o->npids < 0 || o->npids > MAX_PIDS)
		violated("pid count out of bounds", "");
	for (int i = 0; i < o->npids; i++)
		if (!o->pids[i] || o->pids[i] > INT32_MAX)
			violated("bad pid accepted", "");
	if (o->nexes > MAX_WATCH || o->ncomms > MAX_WATCH ||
	    o->ncgroups > MAX_WATCH || o->nfunctions > MAX_FUNCTIONS)
		violated("target count out of bounds", "");
	for (int i = 0; i < o->ncomms; i++)
		if (!o->comms[i][0] || strlen(o->comms[i]) > 15)
			violated("bad comm accepted", o->comms[i]);
	for (int i = 0; i < o->nfunctions; i++) {
		const struct opt_function *f = &o->functions[i];

		if (!f->func[0] || f->ptr_arg > 6 || f->size_arg > 6 ||
		    f->count_arg > 6 ||
		    (f->ptr_arg &&
		     (f->ptr_arg == f->size_arg || f->ptr_arg == f->count_arg)))
			violated("bad function accepted", f->func);
	}
	if (o->stack_frames > MW_EV_MAX_FRAMES)
		violated("stack frames out of bounds", "");
	if (o->ecfg.growth_samples &&
	    (o->ecfg.growth_samples < 2 ||
	     o->ecfg.growth_samples > ENGINE_MAX_SAMPLES))
		violated("growth samples out of bounds", "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	char *argv[MAX_ARGS + 2], *args = NULL, msg[1024] = "";
	struct options cur = {0}, next;
	int argc = 0, err;

	if (!size)
		return 0;
	if (fd < 0) {
		fd = memfd_create("memwatchd.conf", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	argv[argc++] = "memwatchd";
	if (!(data[0] & 1)) {
		if (ftruncate(fd, 0) ||
		    pwrite(fd, data + 1, size - 1, 0) != (ssize_t)(size - 1))
			abort();
		argv[argc++] = "--config";
		argv[argc++] = path;
	} else {
		/* NUL-separated arguments; the copy ends with a NUL. */
		args = malloc(size);
		if (!args)
			return 0;
		memcpy(args, data + 1, size - 1);
		args[size - 1] = '\0';
		for (char *a = args; a < args + size && argc < MAX_ARGS;
		     a += strlen(a) + 1) {
			if (exits(a))
				goto out;
			argv[argc++] = a;
		}
	}
	argv[argc] = NULL;
	cur.argc = argc;
	cur.argv = argv;
	err = options__reload(&cur, &next, msg, sizeof(msg));
	if (err) {
		if (err != -EINVAL)
			violated("error not -EINVAL", msg);
		if (!msg[0] || strchr(msg, '\n'))
			violated("error message not one line", msg);
		if (!(data[0] & 1) && strncmp(msg, path, strlen(path)) &&
		    strncmp(msg, "memwatchd: --config", 19))
			violated("file error without its place", msg);
	} else {
		check_accepted(&next);
		options__free(&next);
	}
out:
	free(args);
	return 0;
}
