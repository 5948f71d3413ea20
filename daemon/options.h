/*
 * options.h - memwatchd's settings, from its command line and its
 * configuration file.
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector.h"
#include "engine.h"
#include "metrics.h"
#include "retention.h"

#include "version.h"
#define MAX_PIDS 64
#define MAX_WATCH 16
#define MAX_FUNCTIONS 32

/* A string the settings own: a value from a file, a function name. */
struct opt_str {
	struct opt_str *next;
	char s[];
};

/* The BPF side's bounds by default: --ringbuf-mb, --max-targets,
 * --max-pending. */
#define OPT_DEFAULT_RINGBUF_MB 16
#define OPT_DEFAULT_MAX_TARGETS 1024
#define OPT_DEFAULT_MAX_PENDING 65536

/* --alloc, --realloc, --free: a function of the traced programs. */
struct opt_function {
	enum collector_fn kind;
	const char *func;
	unsigned ptr_arg, size_arg, count_arg; /* 1-based; 0 = none */
};

struct options {
	const char *db;
	const char *socket;
	uint32_t pids[MAX_PIDS];
	bool tls_pids[MAX_PIDS]; /* attach pids[i] in TLS-only mode */
	int npids;
	bool tls_cmd;		     /* CMD, --exe and --comm: TLS only */
	const char *exes[MAX_WATCH]; /* --exe */
	int nexes;
	const char *comms[MAX_WATCH]; /* --comm */
	int ncomms;
	const char *cgroups[MAX_WATCH]; /* --cgroup, --unit */
	bool units[MAX_WATCH];		/* cgroups[i] is a unit name */
	int ncgroups;
	struct opt_function functions[MAX_FUNCTIONS];
	int nfunctions;
	struct engine_config ecfg; /* rule settings; 0 = engine default */
	int verbose;
	int log_level; /* LOG_ERR .. LOG_DEBUG: --log-level, raised by -v */
	bool check_config; /* --check-config: validate, then exit */
	bool bench_floor, bench_at_entry; /* collector_opts.bench_* */
	uint32_t stack_frames;		  /* collector_opts.stack_frames */
	/* Bounds (docs/RELIABILITY.md): the BPF side's, read at start-up
	 * only, and the daemon's memory (0: no limit). The engine's are in
	 * ecfg.max_*. */
	uint32_t ringbuf_mb, max_targets, max_pending;
	uint32_t max_memory_mb;
	struct metrics_config metrics; /* --metrics-*; its db is db */
	struct retention_config retention; /* --keep-*, --max-db-mb */
	char **cmd;
	int argc; /* the command line, read again by options__reload */
	char **argv;
	struct opt_str *strs; /* what options__free frees */
};

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
