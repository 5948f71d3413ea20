/*
 * config.h - memwatchd's settings as plain values: what options.c fills
 * from the command line and the configuration file, and what the daemon's
 * parts are set up from (the metrics and retention settings are theirs,
 * handed to metrics__new and retention__new as they are).
 *
 * It includes no header of the daemon's parts, so that the settings parse
 * and link without them (tests/fuzz/fuzz_config.c links options.c, the
 * parse helpers and the log); the parts include it instead. The engine's
 * settings are engine.h's own struct, from the layer below the daemon,
 * whose defaults options.c reads (macros only: nothing to link).
 */
#ifndef MEMWATCH_CONFIG_H
#define MEMWATCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define MAX_PIDS 64
#define MAX_WATCH 16
#define MAX_FUNCTIONS 32
/* --wrapper expressions at most (wrapper.h's WRAPPER_MAX_USER). */
#define MAX_WRAPPERS 32
/* --wrapper-callers by default (wrapper.h's WRAPPER_DEFAULT_CALLERS). */
#define OPT_DEFAULT_WRAPPER_CALLERS 8u

/* A string the settings own: a value from a file, a function name. */
struct suppressions;

struct opt_str {
	struct opt_str *next;
	char s[];
};

/* The BPF side's bounds by default: --ringbuf-mb, --max-targets,
 * --max-pending. */
#define OPT_DEFAULT_RINGBUF_MB 16
#define OPT_DEFAULT_MAX_TARGETS 1024
#define OPT_DEFAULT_MAX_PENDING 65536

/*
 * What a function named by --alloc, --realloc or --free does, and its
 * argument numbers' bound: the values of the collector's enum collector_fn
 * and COLLECTOR_MAX_ARG (collector.h), which memwatchd.c hands them to as
 * they are.
 */
enum opt_fn_kind { OPT_FN_ALLOC, OPT_FN_REALLOC, OPT_FN_FREE };
#define OPT_MAX_ARG 6

/* --alloc, --realloc, --free: a function of the traced programs. */
struct opt_function {
	unsigned kind; /* enum opt_fn_kind */
	const char *func;
	unsigned ptr_arg, size_arg, count_arg; /* 1-based; 0 = none */
};

/* --metrics-*: the Prometheus export (metrics.h). */
#define METRICS_DEFAULT_LISTEN "127.0.0.1:19464"
#define METRICS_DEFAULT_THREADS 20
#define METRICS_MAX_THREADS 10000
/* --metrics-sites: per process, so at most this many series each. */
#define METRICS_DEFAULT_SITES 10
#define METRICS_MAX_SITES 1000

struct metrics_config {
	const char *listen;   /* ADDR:PORT; NULL: no HTTP server */
	bool listen_explicit; /* set by the user: failing to listen is fatal
				 (the default address only warns) */
	const char *textfile; /* NULL: none */
	unsigned top_threads; /* per-thread series, at most */
	unsigned top_sites;   /* per-site series of each process, at most */
	const char *db;	      /* the database, whose size is exported */
};

/* --keep-*, --max-db-mb: retention (retention.h). */
#define RETENTION_DEFAULT_KEEP_DAYS 7
#define RETENTION_DEFAULT_KEEP_FINDINGS_DAYS 90
#define RETENTION_MAX_DAYS 36500
/* Below this the write-ahead log alone (4 MiB between checkpoints)
 * would keep the database over its limit. */
#define RETENTION_MIN_DB_MB 16
#define RETENTION_MAX_DB_MB (16u << 20)

struct retention_config {
	uint32_t keep_days;	     /* raw rows; 0: forever */
	uint32_t keep_findings_days; /* findings, process rows; 0: forever */
	uint32_t max_db_mb;	     /* MiB; 0: no limit */
};

struct options {
	const char *db;
	const char *socket;
	uint32_t pids[MAX_PIDS];
	bool tls_pids[MAX_PIDS]; /* attach pids[i] in TLS-only mode */
	int npids;
	bool tls_cmd;		     /* CMD, --exe and --comm: TLS only */
	bool no_follow;		     /* CMD's and --pid's children untraced */
	const char *exes[MAX_WATCH]; /* --exe */
	int nexes;
	const char *comms[MAX_WATCH]; /* --comm */
	int ncomms;
	const char *cgroups[MAX_WATCH]; /* --cgroup, --unit */
	bool units[MAX_WATCH];		/* cgroups[i] is a unit name */
	int ncgroups;
	struct opt_function functions[MAX_FUNCTIONS];
	int nfunctions;
	/* --wrapper: regular expressions naming allocation wrappers;
	 * --wrapper-callers: callers that make one automatically (0: off). */
	const char *wrappers[MAX_WRAPPERS];
	int nwrappers;
	uint32_t wrapper_callers;
	struct engine_config ecfg; /* rule settings; 0 = engine default */
	int verbose;
	int log_level; /* LOG_ERR .. LOG_DEBUG: --log-level, raised by -v */
	bool check_config; /* --check-config: validate, then exit */
	bool features;	   /* --features: print the kernel's, then exit */
	bool bench_floor, bench_at_entry; /* collector_opts.bench_* */
	uint32_t stack_frames;		  /* collector_opts.stack_frames */
	uint32_t unwind_bytes;		  /* collector_opts.unwind_bytes */
	/* Bounds (docs/RELIABILITY.md): the BPF side's, read at start-up
	 * only, and the daemon's memory (0: no limit). The engine's are in
	 * ecfg.max_*. */
	uint32_t ringbuf_mb, max_targets, max_pending;
	uint32_t max_memory_mb;
	struct metrics_config metrics; /* --metrics-*; its db is db */
	struct retention_config retention; /* --keep-*, --max-db-mb */
	/* --suppressions: the file, and its rules (engine/suppress.h);
	 * NULL: none. */
	const char *suppressions;
	struct suppressions *supp;
	/* --events-json: findings as JSON lines, "-" standard output;
	 * NULL: none. Read at start-up only. */
	const char *events_json;
	char **cmd;
	int argc; /* the command line, read again by options__reload */
	char **argv;
	struct opt_str *strs; /* what options__free frees */
};

#endif
