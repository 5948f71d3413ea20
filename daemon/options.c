/*
 * options.c - memwatchd's command line and configuration file; see
 * options.h.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "event.h"
#include "listen.h"
#include "log.h"
#include "options.h"
#include "parse.h"
#include "paths.h"
#include "proto.h"
#include "suppress.h"
#include "version.h"

#define MS 1000000ull
#define MAX_LINE 4096
/* A suppressions file's size at most. */
#define MAX_SUPPRESSIONS_BYTES (4u << 20)

enum {
	OPT_DB = 256,
	OPT_SOCKET,
	OPT_PID,
	OPT_TLS_PID,
	OPT_TLS,
	OPT_NO_FOLLOW,
	OPT_EXE,
	OPT_COMM,
	OPT_CGROUP,
	OPT_UNIT,
	OPT_GRACE,
	OPT_AGE,
	OPT_FLUSH_ROWS,
	OPT_STACK_FRAMES,
	OPT_UNWIND_BYTES,
	OPT_ORPHAN_AGE,
	OPT_ORPHAN_THREADS,
	OPT_ORPHAN_SHARE,
	OPT_ORPHAN_SHARE_MEDIUM,
	OPT_SAMPLE,
	OPT_GROWTH_SAMPLES,
	OPT_GROWTH_MIN,
	OPT_GROWTH_HORIZON,
	OPT_RETENTION_MIN,
	OPT_ALLOC,
	OPT_REALLOC,
	OPT_FREE,
	OPT_WRAPPER,
	OPT_WRAPPER_CALLERS,
	OPT_CONFIG,
	OPT_CHECK_CONFIG,
	OPT_FEATURES,
	OPT_BENCH_FLOOR,
	OPT_BENCH_AT_ENTRY,
	OPT_LOG_LEVEL,
	OPT_METRICS_LISTEN,
	OPT_METRICS_TEXTFILE,
	OPT_METRICS_THREADS,
	OPT_METRICS_SITES,
	OPT_KEEP_DAYS,
	OPT_KEEP_FINDINGS_DAYS,
	OPT_MAX_DB_MB,
	OPT_RINGBUF_MB,
	OPT_MAX_TARGETS,
	OPT_MAX_PENDING,
	OPT_MAX_BLOCKS,
	OPT_MAX_THREADS,
	OPT_MAX_KEYS,
	OPT_MAX_MEMORY_MB,
	OPT_SUPPRESSIONS,
	OPT_EVENTS_JSON,
};

static const struct option longopts[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"pid", required_argument, NULL, OPT_PID},
    {"tls-pid", required_argument, NULL, OPT_TLS_PID},
    {"tls", no_argument, NULL, OPT_TLS},
    {"no-follow", no_argument, NULL, OPT_NO_FOLLOW},
    {"exe", required_argument, NULL, OPT_EXE},
    {"comm", required_argument, NULL, OPT_COMM},
    {"cgroup", required_argument, NULL, OPT_CGROUP},
    {"unit", required_argument, NULL, OPT_UNIT},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"persist-age", required_argument, NULL, OPT_AGE},
    {"flush-rows", required_argument, NULL, OPT_FLUSH_ROWS},
    {"stack-frames", required_argument, NULL, OPT_STACK_FRAMES},
    {"unwind-bytes", required_argument, NULL, OPT_UNWIND_BYTES},
    {"orphan-age", required_argument, NULL, OPT_ORPHAN_AGE},
    {"orphan-threads", required_argument, NULL, OPT_ORPHAN_THREADS},
    {"orphan-share", required_argument, NULL, OPT_ORPHAN_SHARE},
    {"orphan-share-medium", required_argument, NULL, OPT_ORPHAN_SHARE_MEDIUM},
    {"sample", required_argument, NULL, OPT_SAMPLE},
    {"growth-samples", required_argument, NULL, OPT_GROWTH_SAMPLES},
    {"growth-min", required_argument, NULL, OPT_GROWTH_MIN},
    {"growth-horizon", required_argument, NULL, OPT_GROWTH_HORIZON},
    {"retention-min", required_argument, NULL, OPT_RETENTION_MIN},
    {"alloc", required_argument, NULL, OPT_ALLOC},
    {"realloc", required_argument, NULL, OPT_REALLOC},
    {"free", required_argument, NULL, OPT_FREE},
    {"wrapper", required_argument, NULL, OPT_WRAPPER},
    {"wrapper-callers", required_argument, NULL, OPT_WRAPPER_CALLERS},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
    {"features", no_argument, NULL, OPT_FEATURES},
    {"bench-floor", no_argument, NULL, OPT_BENCH_FLOOR},
    {"bench-at-entry", no_argument, NULL, OPT_BENCH_AT_ENTRY},
    {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
    {"metrics-textfile", required_argument, NULL, OPT_METRICS_TEXTFILE},
    {"metrics-threads", required_argument, NULL, OPT_METRICS_THREADS},
    {"metrics-sites", required_argument, NULL, OPT_METRICS_SITES},
    {"keep-days", required_argument, NULL, OPT_KEEP_DAYS},
    {"keep-findings-days", required_argument, NULL, OPT_KEEP_FINDINGS_DAYS},
    {"max-db-mb", required_argument, NULL, OPT_MAX_DB_MB},
    {"ringbuf-mb", required_argument, NULL, OPT_RINGBUF_MB},
    {"max-targets", required_argument, NULL, OPT_MAX_TARGETS},
    {"max-pending", required_argument, NULL, OPT_MAX_PENDING},
    {"max-blocks", required_argument, NULL, OPT_MAX_BLOCKS},
    {"max-threads", required_argument, NULL, OPT_MAX_THREADS},
    {"max-keys", required_argument, NULL, OPT_MAX_KEYS},
    {"max-memory-mb", required_argument, NULL, OPT_MAX_MEMORY_MB},
    {"suppressions", required_argument, NULL, OPT_SUPPRESSIONS},
    {"events-json", required_argument, NULL, OPT_EVENTS_JSON},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"verbose", no_argument, NULL, 'v'},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {0},
};

/* Where the setting being applied comes from: "FILE:LINE: " in a file,
 * empty on the command line. */
static char where[PATH_MAX + 32];

/*
 * While options__reload runs, a bad setting must not end the daemon:
 * opt_error writes its line into reload_msg and jumps back there, which
 * closes the file being read and frees what the new settings hold.
 */
static jmp_buf *reload_jmp;
static char *reload_msg;
static size_t reload_len;
static FILE *config_file;  /* the file read_config reads, or NULL */
static char **config_line; /* and its line buffer, in its frame */

/* A bad setting: one line naming it, exit 2 as usage errors do. In a
 * file the line reads "FILE:LINE: name: problem", as compilers say it. */
static void __attribute__((noreturn, format(printf, 2, 3)))
opt_error(const char *name, const char *fmt, ...)
{
	char msg[PATH_MAX + 1024];
	va_list ap;
	int n;

	if (where[0])
		n = snprintf(msg, sizeof(msg), "%s%s%s", where,
			     name ? name : "", name ? ": " : "");
	else
		n = snprintf(msg, sizeof(msg), "memwatchd: %s%s%s",
			     name ? "--" : "", name ? name : "",
			     name ? ": " : "");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One line, whatever the setting quoted in it holds (a newline, a
	 * terminal escape): the message goes to the log or to memwatchctl
	 * as one line. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (reload_jmp) {
		snprintf(reload_msg, reload_len, "%s", msg);
		if (config_file) {
			fclose(config_file);
			free(*config_line);
			config_file = NULL;
		}
		where[0] = '\0';
		longjmp(*reload_jmp, 1);
	}
	fprintf(stderr, "%s%s\n", log_priority(LOG_ERR), msg);
	exit(2);
}

/* A copy of s that o owns: options__free frees it. */
static char *own(struct options *o, const char *s, size_t len)
{
	struct opt_str *c = malloc(sizeof(*c) + len + 1);

	if (!c)
		return NULL;
	memcpy(c->s, s, len);
	c->s[len] = '\0';
	c->next = o->strs;
	o->strs = c;
	return c->s;
}

/* The number arg gives for setting name, in [min, max]. */
static uint64_t num_opt(const char *name, const char *arg, uint64_t min,
			uint64_t max)
{
	uint64_t v;

	if (parse__u64(arg, max, &v) || v < min)
		opt_error(name, "invalid value '%s' (%llu to %llu)", arg,
			  (unsigned long long)min, (unsigned long long)max);
	return v;
}

/* The duration arg gives for setting name, in ns: a number of ms, or
 * with a unit (common/parse.h), from min_ms to max_ms. */
static uint64_t ms_opt(const char *name, const char *arg, uint64_t min_ms,
		       uint64_t max_ms)
{
	uint64_t v;

	if (parse__duration(arg, MS, max_ms * MS, &v) || v < min_ms * MS)
		opt_error(name,
			  "invalid value '%s' (%llu to %llu ms; units ms, s, "
			  "m, h)",
			  arg, (unsigned long long)min_ms,
			  (unsigned long long)max_ms);
	return v;
}

/* The size arg gives for setting name, in bytes: a number of units
 * bytes (1024: KiB, 1 << 20: MiB), or with a unit (K, M, G: binary),
 * from min to max units. */
static uint64_t size_opt(const char *name, const char *arg, uint64_t unit,
			 uint64_t min, uint64_t max)
{
	uint64_t v;

	if (parse__size(arg, unit, max * unit, &v) || v < min * unit)
		opt_error(name,
			  "invalid value '%s' (%llu to %llu %s; units K, M, "
			  "G)",
			  arg, (unsigned long long)min,
			  (unsigned long long)max,
			  unit == 1 ? "bytes" : unit == 1024 ? "KiB" : "MiB");
	return v;
}

/* A file memwatchd writes again and again (the textfile, the events'
 * JSON lines): a wrong directory is a mistake to report now, not a
 * warning in the log later. "-" is standard output where dash allows. */
static const char *out_path(const char *name, const char *arg, bool dash)
{
	const char *slash = strrchr(arg, '/');
	char dir[PATH_MAX];
	struct stat st;

	if (!arg[0] || (slash && !slash[1]))
		opt_error(name, "invalid file name '%s'", arg);
	if (dash && !strcmp(arg, "-"))
		return arg;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - arg) + 1 : 1,
		 slash ? arg : ".");
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		opt_error(name, "no directory '%s'", dir);
	return arg;
}

/* An argument number of a --alloc/--realloc/--free spec: "1" to "6". */
static unsigned arg_number(const char *name, const char *spec, const char **p)
{
	if (**p < '1' || **p > '0' + OPT_MAX_ARG)
		opt_error(name, "invalid argument number in '%s' (1 to %d)",
			  spec, OPT_MAX_ARG);
	return (unsigned)(*(*p)++ - '0');
}

/*
 * FUNC[:SIZE[*COUNT]] (alloc), FUNC[:PTR:SIZE[*COUNT]] (realloc),
 * FUNC[:PTR] (free): a function of the traced program and where its
 * arguments are.
 */
static void parse_function(struct options *o, int id, const char *name,
			   const char *spec)
{
	struct opt_function *f;
	const char *colon = strchr(spec, ':'), *p;
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	char *func;

	if (o->nfunctions == MAX_FUNCTIONS)
		opt_error(name, "at most %d functions", MAX_FUNCTIONS);
	if (!len || len > 127 || strcspn(spec, " \t") < len)
		opt_error(name, "invalid function name in '%s'", spec);
	func = own(o, spec, len);
	if (!func)
		opt_error(name, "out of memory");
	f = &o->functions[o->nfunctions];
	f->func = func;
	f->ptr_arg = f->size_arg = f->count_arg = 0;
	switch (id) {
	case OPT_ALLOC:
		f->kind = OPT_FN_ALLOC;
		f->size_arg = 1;
		break;
	case OPT_REALLOC:
		f->kind = OPT_FN_REALLOC;
		f->ptr_arg = 1;
		f->size_arg = 2;
		break;
	default:
		f->kind = OPT_FN_FREE;
		f->ptr_arg = 1;
		break;
	}
	if (colon) {
		p = colon + 1;
		if (id == OPT_REALLOC) {
			f->ptr_arg = arg_number(name, spec, &p);
			if (*p++ != ':')
				opt_error(name,
					  "expected FUNC:PTR:SIZE in '%s'",
					  spec);
		}
		if (id == OPT_FREE) {
			f->ptr_arg = arg_number(name, spec, &p);
		} else {
			f->size_arg = arg_number(name, spec, &p);
			if (*p == '*') {
				p++;
				f->count_arg = arg_number(name, spec, &p);
			}
		}
		if (*p)
			opt_error(name, "unexpected '%s' in '%s'", p, spec);
		if (f->ptr_arg &&
		    (f->ptr_arg == f->size_arg || f->ptr_arg == f->count_arg))
			opt_error(name, "one argument used twice in '%s'",
				  spec);
	}
	o->nfunctions++;
}

/* Does a --wrapper expression compile as daemon/wrapper.c compiles it?
 * 0, or -EINVAL with why in err. */
static int regex_check(const char *regex, char *err, size_t len)
{
	regex_t re;
	int rc;

	if (!regex[0]) {
		snprintf(err, len, "empty expression");
		return -EINVAL;
	}
	rc = regcomp(&re, regex, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		regerror(rc, &re, err, len);
		return -EINVAL;
	}
	regfree(&re);
	return 0;
}

static void read_config(struct options *o, const char *path);

/*
 * The suppressions file at path, parsed (engine/suppress.h) into o->supp
 * in place of any read before. A bad line is reported as the parser
 * names it, "FILE:LINE: problem", as a compiler would.
 */
static void read_suppressions(struct options *o, const char *name,
			      const char *path)
{
	char msg[sizeof(where)], *text = NULL;
	struct suppressions *s = NULL;
	size_t len = 0;
	FILE *f;
	int err = 0;

	f = fopen(path, "re");
	if (!f)
		opt_error(name, "cannot read '%s': %s", path, strerror(errno));
	text = malloc(MAX_SUPPRESSIONS_BYTES + 1);
	if (text)
		len = fread(text, 1, MAX_SUPPRESSIONS_BYTES + 1, f);
	if (!text)
		err = -ENOMEM;
	else if (ferror(f))
		err = -EIO;
	else if (len > MAX_SUPPRESSIONS_BYTES)
		err = -EFBIG;
	else
		err = suppressions__parse(path, text, len, &s, msg, sizeof(msg));
	fclose(f);
	free(text);
	if (err == -EINVAL) {
		/* The parser's line is the whole message. */
		snprintf(where, sizeof(where), "%s", msg);
		opt_error(NULL, "%s", "");
	}
	if (err)
		opt_error(name, "cannot read '%s': %s", path,
			  err == -EFBIG ? "larger than 4 MiB" : strerror(-err));
	suppressions__free(o->supp);
	o->supp = s;
	o->suppressions = path;
}

/* Apply one setting, from the command line or a file. */
static void apply(struct options *o, int id, const char *name, const char *arg)
{
	uint64_t v;

	switch (id) {
	case OPT_DB:
		o->db = arg;
		break;
	case OPT_SOCKET:
		o->socket = arg;
		break;
	case OPT_PID:
	case OPT_TLS_PID:
		if (parse__u64(arg, INT32_MAX, &v) || !v)
			opt_error(name, "invalid pid '%s'", arg);
		if (o->npids == MAX_PIDS)
			opt_error(name, "at most %d pids", MAX_PIDS);
		o->tls_pids[o->npids] = id == OPT_TLS_PID;
		o->pids[o->npids++] = (uint32_t)v;
		break;
	case OPT_TLS:
		o->tls_cmd = true;
		break;
	case OPT_NO_FOLLOW:
		o->no_follow = true;
		break;
	case OPT_EXE:
		if (!arg[0])
			opt_error(name, "empty path");
		if (o->nexes == MAX_WATCH)
			opt_error(name, "at most %d", MAX_WATCH);
		o->exes[o->nexes++] = arg;
		break;
	case OPT_CGROUP:
	case OPT_UNIT:
		if (!arg[0])
			opt_error(name, "empty name");
		if (o->ncgroups == MAX_WATCH)
			opt_error(name, "at most %d", MAX_WATCH);
		o->units[o->ncgroups] = id == OPT_UNIT;
		o->cgroups[o->ncgroups++] = arg;
		break;
	case OPT_COMM:
		if (!arg[0] || strlen(arg) > 15)
			opt_error(name,
				  "invalid name '%s' (1 to 15 bytes, as the "
				  "kernel keeps it)",
				  arg);
		if (o->ncomms == MAX_WATCH)
			opt_error(name, "at most %d", MAX_WATCH);
		o->comms[o->ncomms++] = arg;
		break;
	case OPT_GRACE:
		o->ecfg.grace_ns = ms_opt(name, arg, 0, 3600000);
		break;
	case OPT_AGE:
		o->ecfg.persist_age_ns = ms_opt(name, arg, 0, 3600000);
		break;
	case OPT_STACK_FRAMES:
		o->stack_frames = (uint32_t)num_opt(name, arg, 0, MW_EV_MAX_FRAMES);
		break;
	case OPT_UNWIND_BYTES:
		o->unwind_bytes = (uint32_t)size_opt(name, arg, 1, 0, 8192);
		break;
	case OPT_FLUSH_ROWS:
		o->ecfg.flush_max_rows =
		    (uint32_t)num_opt(name, arg, 0, 100000000);
		break;
	case OPT_ORPHAN_AGE:
		o->ecfg.orphan_age_ns = ms_opt(name, arg, 1, 3600000);
		break;
	case OPT_ORPHAN_THREADS:
		o->ecfg.orphan_min_threads =
		    (uint32_t)num_opt(name, arg, 1, 1000000);
		break;
	case OPT_ORPHAN_SHARE:
		o->ecfg.orphan_share = (uint32_t)num_opt(name, arg, 1, 100);
		break;
	case OPT_ORPHAN_SHARE_MEDIUM:
		o->ecfg.orphan_share_medium =
		    (uint32_t)num_opt(name, arg, 1, 100);
		break;
	case OPT_SAMPLE:
		o->ecfg.sample_ns = ms_opt(name, arg, 10, 3600000);
		break;
	case OPT_GROWTH_SAMPLES:
		o->ecfg.growth_samples =
		    (uint32_t)num_opt(name, arg, 2, ENGINE_MAX_SAMPLES);
		break;
	case OPT_GROWTH_MIN:
		o->ecfg.growth_min_bytes =
		    size_opt(name, arg, 1024, 1, 1ull << 30);
		break;
	case OPT_GROWTH_HORIZON:
		/* 0: at once, as soon as the window sees growth. */
		o->ecfg.growth_horizon_ns = ms_opt(name, arg, 0, 86400000);
		if (!o->ecfg.growth_horizon_ns)
			o->ecfg.growth_horizon_ns = ENGINE_GROWTH_AT_ONCE;
		break;
	case OPT_RETENTION_MIN:
		o->ecfg.retention_min_bytes =
		    size_opt(name, arg, 1ull << 20, 1, 1ull << 20);
		break;
	case OPT_ALLOC:
	case OPT_REALLOC:
	case OPT_FREE:
		parse_function(o, id, name, arg);
		break;
	case OPT_WRAPPER: {
		char why[128];

		if (o->nwrappers == MAX_WRAPPERS)
			opt_error(name, "at most %d expressions", MAX_WRAPPERS);
		if (regex_check(arg, why, sizeof(why)))
			opt_error(name, "invalid regular expression '%s': %s",
				  arg, why);
		o->wrappers[o->nwrappers++] = arg;
		break;
	}
	case OPT_WRAPPER_CALLERS:
		o->wrapper_callers = (uint32_t)num_opt(name, arg, 0, 1000000);
		break;
	case OPT_CONFIG:
		read_config(o, arg);
		break;
	case OPT_BENCH_FLOOR:
		o->bench_floor = true;
		break;
	case OPT_BENCH_AT_ENTRY:
		o->bench_at_entry = true;
		break;
	case OPT_CHECK_CONFIG:
		o->check_config = true;
		break;
	case OPT_FEATURES:
		o->features = true;
		break;
	case OPT_METRICS_LISTEN: {
		struct sockaddr_storage ss;
		socklen_t len;

		o->metrics.listen_explicit = true;
		if (!strcmp(arg, "none")) {
			o->metrics.listen = NULL;
			break;
		}
		if (listen__parse(arg, &ss, &len))
			opt_error(name,
				  "invalid address '%s' (ADDR:PORT, ADDR an "
				  "IPv4 address, [IPv6] or localhost; or "
				  "none)",
				  arg);
		o->metrics.listen = arg;
		break;
	}
	case OPT_METRICS_TEXTFILE:
		o->metrics.textfile = out_path(name, arg, false);
		break;
	case OPT_METRICS_THREADS:
		o->metrics.top_threads =
		    (unsigned)num_opt(name, arg, 0, METRICS_MAX_THREADS);
		break;
	case OPT_METRICS_SITES:
		o->metrics.top_sites =
		    (unsigned)num_opt(name, arg, 0, METRICS_MAX_SITES);
		break;
	case OPT_KEEP_DAYS:
		o->retention.keep_days =
		    (uint32_t)num_opt(name, arg, 0, RETENTION_MAX_DAYS);
		break;
	case OPT_KEEP_FINDINGS_DAYS:
		o->retention.keep_findings_days =
		    (uint32_t)num_opt(name, arg, 0, RETENTION_MAX_DAYS);
		break;
	case OPT_MAX_DB_MB:
		if (parse__size(arg, 1ull << 20,
				(uint64_t)RETENTION_MAX_DB_MB << 20, &v) ||
		    (v && v < (uint64_t)RETENTION_MIN_DB_MB << 20))
			opt_error(name,
				  "invalid value '%s' (0, or %u to %u MiB; "
				  "units K, M, G)",
				  arg, RETENTION_MIN_DB_MB,
				  RETENTION_MAX_DB_MB);
		o->retention.max_db_mb = (uint32_t)(v >> 20);
		break;
	case OPT_RINGBUF_MB:
		v = size_opt(name, arg, 1ull << 20, 1, 1024) >> 20;
		if (v & (v - 1))
			opt_error(name,
				  "invalid value '%s' (a power of two, "
				  "1 to 1024 MiB)",
				  arg);
		o->ringbuf_mb = (uint32_t)v;
		break;
	case OPT_MAX_TARGETS:
		o->max_targets = (uint32_t)num_opt(name, arg, 1, 65536);
		break;
	case OPT_MAX_PENDING:
		o->max_pending = (uint32_t)num_opt(name, arg, 1, 4194304);
		break;
	case OPT_MAX_BLOCKS:
		o->ecfg.max_blocks = (uint32_t)num_opt(name, arg, 1, 1u << 31);
		break;
	case OPT_MAX_THREADS:
		o->ecfg.max_threads = (uint32_t)num_opt(name, arg, 1, 1u << 24);
		break;
	case OPT_MAX_KEYS:
		o->ecfg.max_keys = (uint32_t)num_opt(name, arg, 1, 1u << 20);
		break;
	case OPT_MAX_MEMORY_MB:
		o->max_memory_mb =
		    (uint32_t)(size_opt(name, arg, 1ull << 20, 0, 1u << 24) >> 20);
		break;
	case OPT_EVENTS_JSON:
		o->events_json = out_path(name, arg, true);
		break;
	case OPT_SUPPRESSIONS:
		if (!arg[0])
			opt_error(name, "empty path");
		read_suppressions(o, name, arg);
		break;
	case OPT_LOG_LEVEL:
		o->log_level = log_level_parse(arg);
		if (o->log_level < 0)
			opt_error(name,
				  "invalid level '%s' (error, warning, info, "
				  "debug)",
				  arg);
		break;
	case 'v':
		o->verbose++;
		break;
	}
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/*
 * One setting per line: NAME [VALUE], NAME a long option without its
 * dashes. Blank lines and lines starting with '#' are skipped; a value
 * runs to the end of its line. A file cannot name another file, run a
 * command, or ask for help.
 */
static void read_config(struct options *o, const char *path)
{
	char saved[sizeof(where)], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	FILE *f;

	if (where[0])
		opt_error(NULL, "'config' is not allowed in a file");
	f = fopen(path, "re");
	if (!f)
		opt_error("config", "cannot read '%s': %s", path,
			  strerror(errno));
	config_file = f;
	config_line = &line;
	memcpy(saved, where, sizeof(where));
	while ((len = getline(&line, &cap, f)) >= 0) {
		const struct option *opt;
		char *name, *value;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u: ", path, lineno);
		if (len > MAX_LINE)
			opt_error(NULL, "line longer than %d bytes", MAX_LINE);
		if ((size_t)len != strlen(line))
			opt_error(NULL, "NUL byte in the line");
		line[strcspn(line, "\n")] = '\0';
		name = trim(line);
		if (!*name || *name == '#')
			continue;
		value = name + strcspn(name, " \t");
		if (*value)
			*value++ = '\0';
		value = trim(value);
		for (opt = longopts; opt->name; opt++)
			if (!strcmp(opt->name, name))
				break;
		if (!opt->name || opt->val == 'h' || opt->val == 'V' ||
		    opt->val == OPT_CONFIG || opt->val == OPT_CHECK_CONFIG ||
		    opt->val == OPT_FEATURES ||
		    opt->val == OPT_BENCH_FLOOR || opt->val == OPT_BENCH_AT_ENTRY)
			opt_error(NULL, "unknown setting '%s'", name);
		if (opt->has_arg == required_argument && !*value)
			opt_error(name, "needs a value");
		if (opt->has_arg == no_argument && *value)
			opt_error(name, "takes no value, got '%s'", value);
		value = own(o, value, strlen(value));
		if (!value)
			opt_error(name, "out of memory");
		apply(o, opt->val, name, value);
	}
	if (ferror(f))
		opt_error(NULL, "cannot read '%s'", path);
	free(line);
	fclose(f);
	config_file = NULL;
	config_line = NULL; /* it pointed into this frame */
	memcpy(where, saved, sizeof(where));
}

void options__parse(struct options *o, int argc, char **argv)
{
	int c, idx, level, v;

	o->argc = argc;
	o->argv = argv;
	o->log_level = LOG_WARNING;
	o->db = MW_DEFAULT_DB;
	o->socket = MW_DEFAULT_SOCKET;
	o->ecfg.grace_ns = ENGINE_DEFAULT_GRACE_NS;
	o->ecfg.persist_age_ns = ENGINE_DEFAULT_PERSIST_AGE_NS;
	o->ecfg.flush_max_rows = ENGINE_DEFAULT_FLUSH_ROWS;
	o->stack_frames = MW_EV_MAX_FRAMES;
	o->unwind_bytes = 8192;
	o->wrapper_callers = OPT_DEFAULT_WRAPPER_CALLERS;
	o->ringbuf_mb = OPT_DEFAULT_RINGBUF_MB;
	o->max_targets = OPT_DEFAULT_MAX_TARGETS;
	o->max_pending = OPT_DEFAULT_MAX_PENDING;
	o->ecfg.max_blocks = ENGINE_DEFAULT_MAX_BLOCKS;
	o->ecfg.max_threads = ENGINE_DEFAULT_MAX_THREADS;
	o->ecfg.max_keys = ENGINE_DEFAULT_MAX_KEYS;
	o->metrics.listen = METRICS_DEFAULT_LISTEN;
	o->metrics.top_threads = METRICS_DEFAULT_THREADS;
	o->metrics.top_sites = METRICS_DEFAULT_SITES;
	o->retention.keep_days = RETENTION_DEFAULT_KEEP_DAYS;
	o->retention.keep_findings_days = RETENTION_DEFAULT_KEEP_FINDINGS_DAYS;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+vVh", longopts, &idx)) != -1) {
		switch (c) {
		case 'V':
			printf("memwatchd %s\n", VERSION);
			exit(0);
		case 'h':
			options__usage(stdout);
			exit(0);
		case 'v':
			apply(o, c, "verbose", NULL);
			break;
		case '?':
		case ':':
			/* For a long option optopt is its value, no letter:
			 * name it as written (--tls=1, --db without a path). */
			if (optopt && strncmp(argv[optind - 1], "--", 2))
				opt_error(NULL,
					  "unknown or incomplete option '-%c' "
					  "(try 'memwatchd --help')",
					  optopt);
			opt_error(NULL,
				  "unknown or incomplete option '%s' (try "
				  "'memwatchd --help')",
				  argv[optind - 1]);
		default:
			apply(o, c, longopts[idx].name, optarg);
		}
	}
	o->metrics.db = o->db;
	if (optind < argc)
		o->cmd = &argv[optind];
	if (optind > 1 && !strcmp(argv[optind - 1], "--") && !o->cmd)
		opt_error(NULL, "'--' must be followed by a command");
	/* Each -v one level up from --log-level's: error, warning, info,
	 * debug. */
	for (level = o->log_level, v = o->verbose; v-- > 0;)
		level = level < LOG_WARNING ? LOG_WARNING
			: level < LOG_INFO  ? LOG_INFO
					    : LOG_DEBUG;
	o->log_level = level;
}

int options__reload(const struct options *cur, struct options *next, char *msg,
		    size_t len)
{
	jmp_buf jmp;

	memset(next, 0, sizeof(*next));
	if (setjmp(jmp)) {
		reload_jmp = NULL;
		options__free(next);
		memset(next, 0, sizeof(*next));
		return -EINVAL;
	}
	reload_jmp = &jmp;
	reload_msg = msg;
	reload_len = len;
	optind = 0; /* glibc: start over, as for a new argv */
	options__parse(next, cur->argc, cur->argv);
	reload_jmp = NULL;
	return 0;
}

void options__replace(struct options *cur, struct options *next)
{
	struct opt_str **tail = &next->strs;

	while (*tail)
		tail = &(*tail)->next;
	*tail = cur->strs;
	/* Nothing points into the rules: a match copies the rule's name. */
	suppressions__free(cur->supp);
	*cur = *next;
	memset(next, 0, sizeof(*next));
}

void options__free(struct options *o)
{
	if (o) {
		suppressions__free(o->supp);
		o->supp = NULL;
	}
	while (o && o->strs) {
		struct opt_str *c = o->strs;

		o->strs = c->next;
		free(c);
	}
}
