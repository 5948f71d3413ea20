/*
 * options.h - memwatchd's settings (config.h), from its command line and
 * its configuration file.
 *
 * The configuration file holds the same settings as the command line, one
 * per line, named as the long option without its dashes:
 *
 *     # memwatchd.conf
 *     exe /usr/sbin/nginx
 *     unit redis.service
 *     alloc app_xmalloc:1
 *     grace 500
 *
 * `--config FILE` reads FILE where it stands on the command line, so the
 * options after it override it. Every error names its place: "FILE:LINE:
 * problem" in the file, "--option: problem" on the command line.
 */
#ifndef MEMWATCH_OPTIONS_H
#define MEMWATCH_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* memwatchd --help, on f (options_usage.c). */
void options__usage(FILE *f);
/* Fill o from the command line (and the files it names with --config).
 * A bad setting prints one line naming it and exits 2. */
void options__parse(struct options *o, int argc, char **argv);
/*
 * Read the settings again as cur was read: its command line, with the
 * files it names as they are now (memwatchd's reload). Returns 0 and
 * next, or -EINVAL and the one-line error in msg (next then holds
 * nothing), never exiting.
 */
int options__reload(const struct options *cur, struct options *next, char *msg,
		    size_t len);
/* cur takes next's settings. The strings cur held are kept until
 * options__free(cur): what was set up from them may point at them. */
void options__replace(struct options *cur, struct options *next);
/* Free the strings o owns (not o). Accepts NULL. */
void options__free(struct options *o);

#endif
