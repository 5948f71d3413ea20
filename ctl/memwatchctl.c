/*
 * memwatchctl.c - query memwatch's database and control memwatchd.
 *
 *   memwatchctl [OPTIONS] COMMAND [ARGS]
 *
 * Queries (status, threads, live, keys, findings, explain, top, thread)
 * and export read the database read-only, so they work while the daemon
 * runs and after it stopped.
 * attach, detach, reload and the daemon part of status go through the
 * control socket. Tables for people; -j/--json for machines, errors
 * included: with --json an error is also printed as {"error": "..."} on
 * stdout.
 * Exit status: 0 ok, 1 runtime error, 2 usage error.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#endif
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "filter.h"
#include "json.h"
#include "parse.h"
#include "pprof.h"
#include "paths.h"
#include "proto.h"
#include "rows.h"
#include "store.h"
#include "text.h"

#include "version.h"
#ifdef _WIN32
#include "winsqlite.h"
#endif
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static struct {
	const char *db;
	const char *socket;
	bool json;
	bool json_errors; /* --json: errors as JSON on stdout too */
	bool pretty;
	bool tls; /* attach: TLS only */
	const char *output; /* export: -o FILE, NULL for stdout */
	struct store_filter filter;
	struct store_top top;	/* top: --by, --per */
} opt;

static struct json J;

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "memwatchctl: %s\n", msg);
	if (opt.json_errors) {
		struct json j;

		json__init(&j, stdout, false);
		json__open(&j, '{');
		json__key(&j, "error");
		json__str(&j, msg);
		json__close(&j, '}');
		json__end(&j);
	}
	exit(code);
}

/* --- text helpers ------------------------------------------------------ */

static void fmt_time(char *buf, size_t len, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!ns) {
		snprintf(buf, len, "-");
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* The C++ runtime's demangler (libstdc++, Itanium ABI). */
char *__cxa_demangle(const char *mangled, char *buf, size_t *len,
		     int *status);

/* A function name for people: C++ names demangled into buf, others as
 * they are. JSON keeps the symbol as the binary has it. */
static const char *pretty_function(const char *name, char *buf, size_t len)
{
	int status = -1;
	char *d;

	if (strncmp(name, "_Z", 2))
		return name;
	d = __cxa_demangle(name, NULL, NULL, &status);
	if (!d || status)
		return name;
	snprintf(buf, len, "%s", d);
	free(d);
	return buf;
}

static void fmt_site(char *buf, size_t len, uint64_t ip,
		     const struct mw_site_row *site)
{
	char raw[4 * MW_SITE_STR], fn[2 * MW_SITE_STR];
	const char *f = site ? pretty_function(site->function, fn, sizeof(fn))
			     : "";

	if (site && site->function[0] && site->file[0])
		snprintf(raw, sizeof(raw), "%s+0x%" PRIx64 " (%s:%u)", f,
			 site->offset, text__base_name(site->file), site->line);
	else if (site && site->function[0] && site->module[0])
		snprintf(raw, sizeof(raw), "%s+0x%" PRIx64 " (%s)", f,
			 site->offset, text__base_name(site->module));
	else if (site && site->function[0])
		snprintf(raw, sizeof(raw), "%s+0x%" PRIx64, f, site->offset);
	else if (site && site->module[0])
		snprintf(raw, sizeof(raw), "0x%" PRIx64 " (%s)", ip,
			 text__base_name(site->module));
	else
		snprintf(raw, sizeof(raw), "0x%" PRIx64, ip);
	text__safe(buf, len, raw);
}

/* --- tables ------------------------------------------------------------ */

#define TABLE_MAX_COLS 12

/* --limit all: no limit, for the commands that have a default one. */
#define LIMIT_ALL FILTER_LIMIT_ALL

struct table {
	int ncols;
	const char *head[TABLE_MAX_COLS];
	char **cells;
	size_t nrows, cap;
};

static void table_row(struct table *t, ...)
{
	va_list ap;

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = realloc(t->cells,
				   t->cap * (size_t)t->ncols * sizeof(char *));
		if (!t->cells)
			die(EXIT_RUNTIME, "out of memory");
	}
	va_start(ap, t);
	for (int i = 0; i < t->ncols; i++) {
		char *c = strdup(va_arg(ap, const char *));

		if (!c)
			die(EXIT_RUNTIME, "out of memory");
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = c;
	}
	va_end(ap);
	t->nrows++;
}

/* Print with aligned columns; the last column is not padded. */
static void table_print(struct table *t)
{
	size_t w[TABLE_MAX_COLS];

	for (int c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t l = strlen(t->cells[r * (size_t)t->ncols + (size_t)c]);

			if (l > w[c])
				w[c] = l;
		}
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *s = r ? t->cells[(r - 1) * (size_t)t->ncols +
						     (size_t)c]
					  : t->head[c];

			if (c == t->ncols - 1)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)w[c], s);
		}
	}
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* --- database ---------------------------------------------------------- */

static struct store *open_db(void)
{
	struct store *s;
#ifdef _WIN32
	char why[160];

	/* winsqlite3.dll is delay-loaded: a missing function would fault. */
	if (winsqlite__check(why, sizeof(why)))
		die(EXIT_RUNTIME, "%s", why);
#endif
	s = store__open(opt.db, STORE_RDONLY);
	if (!s)
		die(EXIT_RUNTIME, "database '%s': %s", opt.db,
		    store__strerror(errno));
	return s;
}

static void query_failed(int err)
{
	die(EXIT_RUNTIME, "database '%s': %s", opt.db, store__strerror(err));
}

/* --- control socket ---------------------------------------------------- */

#ifdef _WIN32
/*
 * memwatchw, the Windows collector, has no control socket: on Windows
 * memwatchctl reads databases only. A command that needs the daemon says
 * so; status, asking quietly, is told the daemon is not there.
 */
static int request(uint16_t type, const void *payload, uint32_t len,
		   void *reply, uint32_t reply_len, char *msg, size_t msglen,
		   bool quiet_connect)
{
	if (quiet_connect)
		return -EHOSTDOWN;
	die(EXIT_USAGE, "this command needs memwatchd, and on Windows "
			"memwatchctl reads a database only (--db)");
}
#else
static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPROTO;
		got += (size_t)n;
	}
	return 0;
}

/*
 * One request, one reply. Returns the reply status (0 or -errno from the
 * daemon), with an error message in msg; or dies on transport errors
 * unless quiet_connect and the daemon is simply not there (-ENOENT,
 * -ECONNREFUSED returned as -EHOSTDOWN).
 */
static int request(uint16_t type, const void *payload, uint32_t len,
		   void *reply, uint32_t reply_len, char *msg, size_t msglen,
		   bool quiet_connect)
{
	struct mw_msg_hdr h = {MW_PROTO_MAGIC, MW_PROTO_VERSION, type, len, 0};
	struct timeval tv = {.tv_sec = 5};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[MW_PROTO_MAX_PAYLOAD];
	int fd, err;

	if (strlen(opt.socket) >= sizeof(sa.sun_path))
		die(EXIT_USAGE, "--socket: path too long '%s'", opt.socket);
	memcpy(sa.sun_path, opt.socket, strlen(opt.socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(EXIT_RUNTIME, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = errno;
		close(fd);
		if (quiet_connect && (err == ENOENT || err == ECONNREFUSED))
			return -EHOSTDOWN;
		die(EXIT_RUNTIME, "cannot connect to memwatchd at '%s': %s",
		    opt.socket, strerror(err));
	}
	if (write(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) ||
	    (len && write(fd, payload, len) != (ssize_t)len))
		die(EXIT_RUNTIME, "cannot send to memwatchd at '%s': %s",
		    opt.socket, strerror(errno));
	err = read_full(fd, &h, sizeof(h));
	if (!err && (h.magic != MW_PROTO_MAGIC ||
		     h.version != MW_PROTO_VERSION || h.type != type ||
		     h.len > MW_PROTO_MAX_PAYLOAD))
		err = -EPROTO;
	if (!err)
		err = read_full(fd, buf, h.len);
	close(fd);
	if (err)
		die(EXIT_RUNTIME, "bad reply from memwatchd at '%s': %s",
		    opt.socket, strerror(-err));
	if (h.status < 0) {
		snprintf(msg, msglen, "%.*s", (int)h.len, buf);
		return h.status;
	}
	if (h.len != reply_len)
		die(EXIT_RUNTIME,
		    "bad reply from memwatchd at '%s': %u bytes, expected %u",
		    opt.socket, h.len, reply_len);
	if (reply_len) /* reply may be NULL then, which memcpy takes not */
		memcpy(reply, buf, reply_len);
	return 0;
}
#endif

/* --- commands ---------------------------------------------------------- */

static uint32_t parse_pid(const char *what, const char *s)
{
	uint64_t v;

	if (parse__u64(s, INT32_MAX, &v) || !v)
		die(EXIT_USAGE, "%s: invalid pid '%s'", what, s);
	return (uint32_t)v;
}

static void no_args(const char *cmd, int argc)
{
	if (argc)
		die(EXIT_USAGE, "%s: unexpected argument (try 'memwatchctl "
				"--help')",
		    cmd);
}

struct status_ctx {
	struct table t;
};

/*
 * A container's id from its cgroup path: the 64-hex-digit name docker,
 * containerd and podman give its group (docker-ID.scope, cri-containerd-
 * ID.scope, libpod-ID.scope, /docker/ID). "" when there is none.
 */
static const char *container_id(const char *cgroup, char *buf, size_t len)
{
	for (const char *p = cgroup; *p; p++) {
		size_t n = strspn(p, "0123456789abcdef");

		if (n == 64 && (p == cgroup || !isxdigit((unsigned char)p[-1]))) {
			snprintf(buf, len, "%.64s", p);
			return buf;
		}
		if (n)
			p += n - 1;
	}
	return "";
}

static int status_process(void *ctx, const struct mw_process_row *r)
{
	struct status_ctx *c = ctx;
	char cid[72];

	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "id");
		json__u64(&J, r->id);
		json__key(&J, "pid");
		json__u64(&J, r->pid);
		json__key(&J, "comm");
		json__str(&J, r->comm);
		json__key(&J, "state");
		json__str(&J, mw_proc_state_name(r->state));
		json__key(&J, "mode");
		json__str(&J, mw_mode_name(r->mode));
		json__key(&J, "allocator");
		json__str(&J, r->allocator);
		json__key(&J, "nspid");
		json__u64(&J, r->nspid);
		json__key(&J, "cgroup");
		json__str(&J, r->cgroup);
		json__key(&J, "container");
		json__str(&J, container_id(r->cgroup, cid, sizeof(cid)));
		json__key(&J, "threads");
		json__u64(&J, r->threads);
		json__key(&J, "allocs");
		json__u64(&J, r->allocs);
		json__key(&J, "frees");
		json__u64(&J, r->frees);
		json__key(&J, "unknown_frees");
		json__u64(&J, r->unknown_frees);
		json__key(&J, "live_blocks");
		json__u64(&J, r->live_blocks);
		json__key(&J, "live_bytes");
		json__u64(&J, r->live_bytes);
		json__key(&J, "findings");
		json__u64(&J, r->findings);
		json__key(&J, "lost");
		json__u64(&J, r->lost);
		json__key(&J, "dropped");
		json__u64(&J, r->dropped);
		json__key(&J, "incomplete_from_ts");
		json__u64(&J, r->incomplete_from);
		json__key(&J, "incomplete_to_ts");
		json__u64(&J, r->incomplete_to);
		json__key(&J, "withheld");
		json__u64(&J, r->withheld);
		json__key(&J, "exit_code");
		json__i64(&J, r->exit_code);
		json__key(&J, "start_ts");
		json__u64(&J, r->start_ts);
		json__key(&J, "end_ts");
		json__u64(&J, r->end_ts);
		json__close(&J, '}');
	} else {
		char pid[16], comm[64], thr[16], blocks[24], bytes[24],
			find[24], lost[24], held[24], start[32], alloc[64];

		snprintf(pid, sizeof(pid), "%u", r->pid);
		text__safe(comm, sizeof(comm), r->comm);
		text__safe(alloc, sizeof(alloc),
			  r->allocator[0] ? r->allocator : "-");
		snprintf(thr, sizeof(thr), "%u", r->threads);
		snprintf(blocks, sizeof(blocks), "%" PRIu64, r->live_blocks);
		snprintf(bytes, sizeof(bytes), "%" PRIu64, r->live_bytes);
		snprintf(find, sizeof(find), "%" PRIu64, r->findings);
		snprintf(lost, sizeof(lost), "%" PRIu64, r->lost + r->dropped);
		snprintf(held, sizeof(held), "%" PRIu64, r->withheld);
		fmt_time(start, sizeof(start), r->start_ts);
		table_row(&c->t, pid, comm, mw_proc_state_name(r->state),
			  mw_mode_name(r->mode), alloc, thr, blocks, bytes,
			  find, lost, held, start);
	}
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	struct status_ctx c = {
		.t = {.ncols = 12,
		      .head = {"PID", "COMM", "STATE", "MODE", "MALLOC",
			       "THREADS", "LIVE_BLOCKS", "LIVE_BYTES",
			       "FINDINGS", "LOST", "WITHHELD", "STARTED"}},
	};
	struct mw_msg_status st;
	char msg[256];
	struct store *s;
	int rc, err;

	no_args("status", argc);
	rc = request(MW_MSG_STATUS, NULL, 0, &st, sizeof(st), msg,
		     sizeof(msg), true);
	if (rc && rc != -EHOSTDOWN)
		die(EXIT_RUNTIME, "memwatchd: %s", msg);
	s = open_db();
	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "daemon");
		if (rc) {
			json__null(&J);
		} else {
			json__open(&J, '{');
			json__key(&J, "pid");
			json__u64(&J, st.daemon_pid);
			json__key(&J, "started_ts");
			json__u64(&J, st.started_ts);
			json__key(&J, "events");
			json__u64(&J, st.events);
			json__key(&J, "lost");
			json__u64(&J, st.lost);
			json__key(&J, "live_blocks");
			json__u64(&J, st.live_blocks);
			json__key(&J, "findings");
			json__u64(&J, st.findings);
			json__key(&J, "targets");
			json__open(&J, '[');
			for (uint32_t i = 0;
			     i < st.ntargets && i < MW_STATUS_MAX_TARGETS; i++)
				json__u64(&J, st.targets[i]);
			json__close(&J, ']');
			json__key(&J, "pruned_rows");
			json__u64(&J, st.pruned_rows);
			json__key(&J, "pruned_raw_processes");
			json__u64(&J, st.pruned_raw_processes);
			json__key(&J, "pruned_processes");
			json__u64(&J, st.pruned_processes);
			json__key(&J, "prune_step_max_ns");
			json__u64(&J, st.prune_step_max_ns);
			json__close(&J, '}');
		}
		json__key(&J, "processes");
		json__open(&J, '[');
	} else if (rc) {
		printf("daemon: not running (socket %s)\n", opt.socket);
	} else {
		char started[32];

		fmt_time(started, sizeof(started), st.started_ts);
		printf("daemon: pid %u, running since %s, %" PRIu64
		       " events, %" PRIu64 " lost, %" PRIu64
		       " live blocks, %" PRIu64 " findings\n",
		       st.daemon_pid, started, st.events, st.lost,
		       st.live_blocks, st.findings);
		printf("targets:");
		for (uint32_t i = 0; i < st.ntargets && i < MW_STATUS_MAX_TARGETS;
		     i++)
			printf(" %u", st.targets[i]);
		printf("%s\n", st.ntargets ? "" : " none");
		printf("retention: %" PRIu64 " rows removed: raw rows of %" PRIu64
		       " processes, everything of %" PRIu64
		       "; longest step %.1f ms\n",
		       st.pruned_rows, st.pruned_raw_processes,
		       st.pruned_processes, (double)st.prune_step_max_ns / 1e6);
	}
	err = store__each_process(s, &opt.filter, status_process, &c);
	store__close(s);
	if (err)
		query_failed(err);
	if (opt.json) {
		json__close(&J, ']');
		json__close(&J, '}');
		json__end(&J);
	} else {
		printf("database: %s\n\n", opt.db);
		table_print(&c.t);
	}
	return 0;
}

static void json_thread(const struct mw_thread_row *r)
{
	json__open(&J, '{');
	json__key(&J, "pid");
	json__u64(&J, r->pid);
	json__key(&J, "tid");
	json__u64(&J, r->tid);
	json__key(&J, "comm");
	json__str(&J, r->comm);
	json__key(&J, "state");
	json__str(&J, mw_thread_state_name(r->state));
	json__key(&J, "allocs");
	json__u64(&J, r->allocs);
	json__key(&J, "frees");
	json__u64(&J, r->frees);
	json__key(&J, "alloc_bytes");
	json__u64(&J, r->alloc_bytes);
	json__key(&J, "free_bytes");
	json__u64(&J, r->free_bytes);
	json__key(&J, "cross_frees");
	json__u64(&J, r->cross_frees);
	json__key(&J, "unknown_frees");
	json__u64(&J, r->unknown_frees);
	json__key(&J, "live_blocks");
	json__u64(&J, r->live_blocks);
	json__key(&J, "live_bytes");
	json__u64(&J, r->live_bytes);
	json__key(&J, "start_ts");
	json__u64(&J, r->start_ts);
	json__key(&J, "exit_ts");
	json__u64(&J, r->exit_ts);
	json__close(&J, '}');
}

static int thread_cb(void *ctx, const struct mw_thread_row *r)
{
	struct table *t = ctx;

	if (opt.json) {
		json_thread(r);
	} else {
		char pid[16], tid[16], comm[64], a[24], f[24], x[24], u[24],
			lb[24], lby[24];

		snprintf(pid, sizeof(pid), "%u", r->pid);
		snprintf(tid, sizeof(tid), "%u", r->tid);
		text__safe(comm, sizeof(comm), r->comm);
		snprintf(a, sizeof(a), "%" PRIu64, r->allocs);
		snprintf(f, sizeof(f), "%" PRIu64, r->frees);
		snprintf(x, sizeof(x), "%" PRIu64, r->cross_frees);
		snprintf(u, sizeof(u), "%" PRIu64, r->unknown_frees);
		snprintf(lb, sizeof(lb), "%" PRIu64, r->live_blocks);
		snprintf(lby, sizeof(lby), "%" PRIu64, r->live_bytes);
		table_row(t, pid, tid, comm, mw_thread_state_name(r->state), a,
			  f, x, u, lb, lby);
	}
	return 0;
}

static int cmd_threads(int argc, char **argv)
{
	struct table t = {.ncols = 10,
			  .head = {"PID", "TID", "COMM", "STATE", "ALLOCS", "FREES",
			   "CROSS_FREES", "UNKNOWN_FREES", "LIVE_BLOCKS",
			   "LIVE_BYTES"}};
	struct store *s;
	int err;

	no_args("threads", argc);
	s = open_db();
	if (opt.json)
		json__open(&J, '[');
	err = store__each_thread(s, &opt.filter, thread_cb, &t);
	store__close(s);
	if (err)
		query_failed(err);
	if (opt.json) {
		json__close(&J, ']');
		json__end(&J);
	} else {
		table_print(&t);
	}
	return 0;
}

static void json_site(uint64_t ip, const struct mw_site_row *site)
{
	json__open(&J, '{');
	json__key(&J, "ip");
	json__hex(&J, ip);
	json__key(&J, "function");
	json__str(&J, site ? site->function : "");
	json__key(&J, "offset");
	json__u64(&J, site ? site->offset : 0);
	json__key(&J, "module");
	json__str(&J, site ? site->module : "");
	json__key(&J, "file");
	json__str(&J, site ? site->file : "");
	json__key(&J, "line");
	json__u64(&J, site ? site->line : 0);
	json__close(&J, '}');
}

/* A live block; export.c writes the same fields as CSV. */
static void json_block(const struct mw_block_row *r,
		       const struct mw_site_row *site)
{
	json__open(&J, '{');
	json__key(&J, "serial");
	json__u64(&J, r->serial);
	json__key(&J, "pid");
	json__u64(&J, r->pid);
	json__key(&J, "tid");
	json__u64(&J, r->tid);
	json__key(&J, "address");
	json__hex(&J, r->addr);
	json__key(&J, "size");
	json__u64(&J, r->size);
	json__key(&J, "ts");
	json__u64(&J, r->ts);
	json__key(&J, "site");
	json_site(r->site, site);
	json__close(&J, '}');
}

static int block_cb(void *ctx, const struct mw_block_row *r,
		    const struct mw_site_row *site)
{
	struct table *t = ctx;

	if (opt.json) {
		json_block(r, site);
	} else {
		char pid[16], tid[16], addr[24], size[24], ts[32],
			where[3 * MW_SITE_STR];

		snprintf(pid, sizeof(pid), "%u", r->pid);
		snprintf(tid, sizeof(tid), "%u", r->tid);
		snprintf(addr, sizeof(addr), "0x%" PRIx64, r->addr);
		snprintf(size, sizeof(size), "%" PRIu64, r->size);
		fmt_time(ts, sizeof(ts), r->ts);
		fmt_site(where, sizeof(where), r->site, site);
		table_row(t, pid, tid, addr, size, ts, where);
	}
	return 0;
}

/* A live set can hold millions of blocks; printing them all takes
 * minutes and helps nobody, so live shows the largest LIVE_DEFAULT_LIMIT
 * unless --limit says otherwise (--limit all: every one). */
#define LIVE_DEFAULT_LIMIT 100

static int cmd_live(int argc, char **argv)
{
	struct table t = {.ncols = 6,
			  .head = {"PID", "TID", "ADDRESS", "SIZE", "ALLOCATED",
			   "SITE"}};
	struct store_filter f = opt.filter;
	struct store *s;
	int err;

	no_args("live", argc);
	if (!f.limit)
		f.limit = LIVE_DEFAULT_LIMIT;
	else if (f.limit == LIMIT_ALL)
		f.limit = 0;
	s = open_db();
	if (opt.json)
		json__open(&J, '[');
	err = store__each_block(s, &f, block_cb, &t);
	store__close(s);
	if (err)
		query_failed(err);
	if (opt.json) {
		json__close(&J, ']');
		json__end(&J);
	} else {
		table_print(&t);
		if (!opt.filter.limit && t.nrows == LIVE_DEFAULT_LIMIT)
			printf("(the %d largest; --limit N or --limit all for "
			       "more)\n",
			       LIVE_DEFAULT_LIMIT);
	}
	return 0;
}

static int key_cb(void *ctx, const struct mw_key_row *r)
{
	struct table *t = ctx;

	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "pid");
		json__u64(&J, r->pid);
		json__key(&J, "key");
		json__u64(&J, r->key);
		json__key(&J, "generation");
		json__u64(&J, r->generation);
		json__key(&J, "state");
		json__str(&J, mw_key_state_name(r->state));
		json__key(&J, "destructor");
		if (r->destructor)
			json__hex(&J, r->destructor);
		else
			json__null(&J);
		json__key(&J, "create_tid");
		json__u64(&J, r->create_tid);
		json__key(&J, "bindings");
		json__u64(&J, r->bindings);
		json__key(&J, "create_ts");
		json__u64(&J, r->create_ts);
		json__key(&J, "delete_ts");
		json__u64(&J, r->delete_ts);
		json__close(&J, '}');
	} else {
		char pid[16], key[16], gen[16], dtor[24], b[24], cts[32],
			dts[32];

		snprintf(pid, sizeof(pid), "%u", r->pid);
		snprintf(key, sizeof(key), "%u", r->key);
		snprintf(gen, sizeof(gen), "%u", r->generation);
		if (r->destructor)
			snprintf(dtor, sizeof(dtor), "0x%" PRIx64,
				 r->destructor);
		else
			snprintf(dtor, sizeof(dtor), "-");
		snprintf(b, sizeof(b), "%" PRIu64, r->bindings);
		fmt_time(cts, sizeof(cts), r->create_ts);
		fmt_time(dts, sizeof(dts), r->delete_ts);
		table_row(t, pid, key, gen, mw_key_state_name(r->state), dtor,
			  b, cts, dts);
	}
	return 0;
}

static int cmd_keys(int argc, char **argv)
{
	struct table t = {.ncols = 8,
			  .head = {"PID", "KEY", "GEN", "STATE", "DESTRUCTOR",
			   "BINDINGS", "CREATED", "DELETED"}};
	struct store *s;
	int err;

	no_args("keys", argc);
	s = open_db();
	if (opt.json)
		json__open(&J, '[');
	err = store__each_key(s, &opt.filter, key_cb, &t);
	store__close(s);
	if (err)
		query_failed(err);
	if (opt.json) {
		json__close(&J, ']');
		json__end(&J);
	} else {
		table_print(&t);
	}
	return 0;
}

/* The fields of a finding, inside an open JSON object. export.c writes
 * the same as CSV, in this order: change both (tests/e2e/export.sh
 * compares them). */
static void json_finding_fields(const struct mw_finding_row *r,
				const struct mw_site_row *site)
{
	json__key(&J, "id");
	json__u64(&J, r->id);
	json__key(&J, "kind");
	json__str(&J, mw_finding_kind_name(r->kind));
	json__key(&J, "severity");
	json__str(&J, mw_severity_name(r->severity));
	json__key(&J, "pid");
	json__u64(&J, r->pid);
	json__key(&J, "tid");
	json__u64(&J, r->tid);
	json__key(&J, "key");
	json__u64(&J, r->key);
	json__key(&J, "generation");
	json__u64(&J, r->generation);
	json__key(&J, "address");
	json__hex(&J, r->addr);
	json__key(&J, "size");
	json__u64(&J, r->size);
	json__key(&J, "site");
	json_site(r->site, site);
	json__key(&J, "stack_id");
	json__u64(&J, r->stack_id);
	json__key(&J, "alloc_tid");
	json__u64(&J, r->alloc_tid);
	json__key(&J, "alloc_ts");
	json__u64(&J, r->alloc_ts);
	json__key(&J, "trigger_ts");
	json__u64(&J, r->trigger_ts);
	json__key(&J, "found_ts");
	json__u64(&J, r->found_ts);
	json__key(&J, "count");
	json__u64(&J, r->count);
	json__key(&J, "bytes");
	json__u64(&J, r->bytes);
	json__key(&J, "threads");
	json__u64(&J, r->threads);
	json__key(&J, "first_ts");
	json__u64(&J, r->first_ts);
	json__key(&J, "last_ts");
	json__u64(&J, r->last_ts);
	json__key(&J, "detail");
	json__str(&J, r->detail);
}

static int finding_cb(void *ctx, const struct mw_finding_row *r,
		      const struct mw_site_row *site)
{
	struct table *t = ctx;

	if (opt.json) {
		json__open(&J, '{');
		json_finding_fields(r, site);
		json__close(&J, '}');
	} else {
		char id[24], pid[16], tid[16], key[24], addr[24], size[24],
			count[24], bytes[24], when[32], where[3 * MW_SITE_STR];

		snprintf(id, sizeof(id), "%" PRIu64, r->id);
		snprintf(pid, sizeof(pid), "%u", r->pid);
		snprintf(tid, sizeof(tid), "%u", r->tid);
		if (r->generation)
			snprintf(key, sizeof(key), "%u/%u", r->key,
				 r->generation);
		else
			snprintf(key, sizeof(key), "-");
		snprintf(addr, sizeof(addr), "0x%" PRIx64, r->addr);
		snprintf(size, sizeof(size), "%" PRIu64, r->size);
		snprintf(count, sizeof(count), "%" PRIu64, r->count);
		snprintf(bytes, sizeof(bytes), "%" PRIu64, r->bytes);
		fmt_time(when, sizeof(when), r->last_ts);
		fmt_site(where, sizeof(where), r->site, site);
		table_row(t, id, mw_finding_kind_name(r->kind),
			  mw_severity_name(r->severity), pid, tid, key, addr,
			  size, count, bytes, when, where);
	}
	return 0;
}

static int cmd_findings(int argc, char **argv)
{
	struct table t = {.ncols = 12,
			  .head = {"ID", "KIND", "SEV", "PID", "TID", "KEY/GEN",
				   "ADDRESS", "SIZE", "COUNT", "BYTES", "LAST",
				   "SITE"}};
	struct store *s;
	int err;

	no_args("findings", argc);
	s = open_db();
	if (opt.json)
		json__open(&J, '[');
	err = store__each_finding(s, &opt.filter, finding_cb, &t);
	store__close(s);
	if (err)
		query_failed(err);
	if (opt.json) {
		json__close(&J, ']');
		json__end(&J);
	} else {
		table_print(&t);
	}
	return 0;
}

/* --- explain ----------------------------------------------------------- */

struct explain {
	bool found;
	struct mw_finding_row f;
	struct mw_site_row site;
	bool has_site;
};

static int explain_cb(void *ctx, const struct mw_finding_row *r,
		      const struct mw_site_row *site)
{
	struct explain *x = ctx;

	x->found = true;
	x->f = *r;
	x->has_site = site != NULL;
	if (site)
		x->site = *site;
	return 1;
}

static const char *stack_flags_text(uint32_t flags)
{
	if ((flags & MW_STACK_TLS_INIT) && (flags & MW_STACK_TLS_DYNAMIC))
		return "through a C++ thread_local initializer and dynamic TLS";
	if (flags & MW_STACK_TLS_INIT)
		return "through a C++ thread_local initializer";
	if (flags & MW_STACK_TLS_DYNAMIC)
		return "dynamic TLS allocated by the loader";
	return "";
}

static void explain_text(const struct explain *x, struct store *s)
{
	const struct mw_finding_row *f = &x->f;
	char t1[32], t2[32], t3[32], where[3 * MW_SITE_STR],
		detail[3 * MW_DETAIL_MAX];
	struct mw_stack_row st;

	printf("finding %" PRIu64 ": %s, severity %s\n", f->id,
	       mw_finding_kind_name(f->kind), mw_severity_name(f->severity));
	printf("  process   pid %u\n", f->pid);
	printf("  thread    %u (allocated by %u)\n", f->tid, f->alloc_tid);
	if (f->generation)
		printf("  key       %u, generation %u\n", f->key,
		       f->generation);
	fmt_time(t1, sizeof(t1), f->alloc_ts);
	printf("  block     0x%" PRIx64 ", %" PRIu64 " bytes, allocated %s\n",
	       f->addr, f->size, t1);
	fmt_time(t1, sizeof(t1), f->trigger_ts);
	fmt_time(t2, sizeof(t2), f->first_ts);
	fmt_time(t3, sizeof(t3), f->last_ts);
	printf("  evidence  %" PRIu64 " block(s), %" PRIu64
	       " bytes, %u thread(s); triggered %s, first seen %s, last %s\n",
	       f->count, f->bytes, f->threads, t1, t2, t3);
	if (f->detail[0]) {
		text__safe(detail, sizeof(detail), f->detail);
		printf("  detail    %s\n", detail);
	}
	fmt_site(where, sizeof(where), f->site, x->has_site ? &x->site : NULL);
	printf("  site      %s\n", where);
	if (!f->stack_id || store__get_stack(s, f->stack_id, &st)) {
		printf("  stack     not recorded\n");
		return;
	}
	printf("  stack     %u frame(s)%s%s\n", st.nframes,
	       st.flags ? ", " : "", stack_flags_text(st.flags));
	for (uint32_t i = 0; i < st.nframes; i++) {
		struct mw_site_row fs;
		int have = !store__get_site(s, st.proc_id, st.frames[i], &fs);

		fmt_site(where, sizeof(where), st.frames[i], have ? &fs : NULL);
		printf("    #%-2u %s\n", i, where);
	}
}

static void explain_json(const struct explain *x, struct store *s)
{
	struct mw_stack_row st;
	bool have_stack =
		x->f.stack_id && !store__get_stack(s, x->f.stack_id, &st);

	json__open(&J, '{');
	json_finding_fields(&x->f, x->has_site ? &x->site : NULL);
	json__key(&J, "stack");
	json__open(&J, '{');
	json__key(&J, "tls_init");
	json__bool(&J, have_stack && (st.flags & MW_STACK_TLS_INIT));
	json__key(&J, "tls_dynamic");
	json__bool(&J, have_stack && (st.flags & MW_STACK_TLS_DYNAMIC));
	json__key(&J, "frames");
	json__open(&J, '[');
	for (uint32_t i = 0; have_stack && i < st.nframes; i++) {
		struct mw_site_row fs;
		int have = !store__get_site(s, st.proc_id, st.frames[i], &fs);

		json_site(st.frames[i], have ? &fs : NULL);
	}
	json__close(&J, ']');
	json__close(&J, '}');
	json__close(&J, '}');
	json__end(&J);
}

static int cmd_explain(int argc, char **argv)
{
	struct store_filter f = {0};
	struct explain x = {0};
	struct store *s;
	uint64_t id;
	int err;

	if (argc != 1)
		die(EXIT_USAGE, "usage: memwatchctl explain ID");
	if (parse__u64(argv[0], INT64_MAX, &id) || !id)
		die(EXIT_USAGE, "explain: invalid finding id '%s'", argv[0]);
	f.id = id;
	s = open_db();
	err = store__each_finding(s, &f, explain_cb, &x);
	if (err < 0) {
		store__close(s);
		query_failed(err);
	}
	if (!x.found) {
		store__close(s);
		die(EXIT_RUNTIME, "no finding with id '%s'", argv[0]);
	}
	if (opt.json)
		explain_json(&x, s);
	else
		explain_text(&x, s);
	store__close(s);
	return 0;
}

/* --- top and thread ---------------------------------------------------- */

/* The growth window of top: NEW_10S and PREV_10S. */
#define TOP_WINDOW_NS (10 * 1000000000ull)
#define TOP_DEFAULT_LIMIT 20
#define THREAD_DEFAULT_LIMIT 20

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* How long before ref ts was: 850ms, 12.3s, 5m03s, 2h01m, 3d04h. */
static void fmt_age(char *buf, size_t len, uint64_t ref, uint64_t ts)
{
	const uint64_t ms = 1000000, ds = 100000000, sec = 1000000000;
	uint64_t ns = ref > ts ? ref - ts : 0, s = ns / sec;

	if (!ts)
		snprintf(buf, len, "-");
	else if (s < 1)
		snprintf(buf, len, "%" PRIu64 "ms", ns / ms);
	else if (s < 60)
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "s", s, ns / ds % 10);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60,
			 s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600,
			 s / 60 % 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400,
			 s / 3600 % 24);
}

static int top_cb(void *ctx, const struct store_site_usage *u,
		  const struct mw_site_row *site)
{
	struct table *t = ctx;

	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "pid");
		json__u64(&J, u->pid);
		if (opt.top.flags & STORE_TOP_PER_THREAD) {
			json__key(&J, "tid");
			json__u64(&J, u->tid);
		}
		json__key(&J, "site");
		json_site(u->site, site);
		json__key(&J, "blocks");
		json__u64(&J, u->blocks);
		json__key(&J, "bytes");
		json__u64(&J, u->bytes);
		json__key(&J, "oldest_ts");
		json__u64(&J, u->oldest_ts);
		json__key(&J, "threads");
		json__u64(&J, u->threads);
		json__key(&J, "new_10s");
		json__u64(&J, u->new_bytes);
		json__key(&J, "prev_10s");
		json__u64(&J, u->prev_bytes);
		json__close(&J, '}');
	} else {
		char pid[16], tid[16], blocks[24], bytes[24], age[24], thr[24],
			nw[24], prev[24], where[3 * MW_SITE_STR];

		snprintf(pid, sizeof(pid), "%u", u->pid);
		snprintf(tid, sizeof(tid), "%u", u->tid);
		snprintf(blocks, sizeof(blocks), "%" PRIu64, u->blocks);
		snprintf(bytes, sizeof(bytes), "%" PRIu64, u->bytes);
		fmt_age(age, sizeof(age), u->ref_ts, u->oldest_ts);
		snprintf(thr, sizeof(thr), "%" PRIu64, u->threads);
		snprintf(nw, sizeof(nw), "%" PRIu64, u->new_bytes);
		snprintf(prev, sizeof(prev), "%" PRIu64, u->prev_bytes);
		fmt_site(where, sizeof(where), u->site, site);
		if (opt.top.flags & STORE_TOP_PER_THREAD)
			table_row(t, pid, tid, where, blocks, bytes, age, thr,
				  nw, prev);
		else
			table_row(t, pid, where, blocks, bytes, age, thr, nw,
				  prev);
	}
	return 0;
}

static int cmd_top(int argc, char **argv)
{
	bool per_thread = opt.top.flags & STORE_TOP_PER_THREAD;
	struct table t = {.ncols = per_thread ? 9 : 8,
			  .head = {"PID", "SITE", "BLOCKS", "BYTES", "OLDEST",
				   "THREADS", "NEW_10S", "PREV_10S"}};
	struct store_filter f = opt.filter;
	struct store *s;
	int err;

	no_args("top", argc);
	if (per_thread) {
		static const char *const head[] = {
			"PID", "TID", "SITE", "BLOCKS", "BYTES", "OLDEST",
			"THREADS", "NEW_10S", "PREV_10S"};

		memcpy(t.head, head, sizeof(head));
	}
	if (!f.limit)
		f.limit = TOP_DEFAULT_LIMIT;
	opt.top.now = now_ns();
	opt.top.window = TOP_WINDOW_NS;
	s = open_db();
	if (opt.json)
		json__open(&J, '[');
	err = store__each_site_usage(s, &f, &opt.top, top_cb, &t);
	store__close(s);
	if (err)
		query_failed(err);
	if (opt.json) {
		json__close(&J, ']');
		json__end(&J);
	} else {
		table_print(&t);
	}
	return 0;
}

struct thread_list {
	struct mw_thread_row *v;
	size_t n, cap;
};

static int thread_keep(void *ctx, const struct mw_thread_row *r)
{
	struct thread_list *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			die(EXIT_RUNTIME, "out of memory");
	}
	l->v[l->n++] = *r;
	return 0;
}

static int binding_cb(void *ctx, const struct mw_binding_row *r)
{
	struct table *t = ctx;

	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "key");
		json__u64(&J, r->key);
		json__key(&J, "generation");
		json__u64(&J, r->generation);
		json__key(&J, "value");
		json__hex(&J, r->value);
		json__key(&J, "block");
		json__u64(&J, r->block);
		json__key(&J, "size");
		json__u64(&J, r->size);
		json__key(&J, "set_ts");
		json__u64(&J, r->set_ts);
		json__close(&J, '}');
	} else {
		char key[16], gen[16], value[24], block[24], size[24], set[32];

		snprintf(key, sizeof(key), "%u", r->key);
		snprintf(gen, sizeof(gen), "%u", r->generation);
		snprintf(value, sizeof(value), "0x%" PRIx64, r->value);
		/* Block 0: the value points to no block memwatch saw live. */
		if (r->block) {
			snprintf(block, sizeof(block), "%" PRIu64, r->block);
			snprintf(size, sizeof(size), "%" PRIu64, r->size);
		} else {
			snprintf(block, sizeof(block), "-");
			snprintf(size, sizeof(size), "-");
		}
		fmt_time(set, sizeof(set), r->set_ts);
		table_row(t, key, gen, value, block, size, set);
	}
	return 0;
}

struct thread_blocks {
	struct table t;
	uint64_t ref;		/* ages are measured up to here */
};

static int thread_block_cb(void *ctx, const struct mw_block_row *r,
			   const struct mw_site_row *site)
{
	struct thread_blocks *b = ctx;
	char addr[24], size[24], age[24], where[3 * MW_SITE_STR];

	if (opt.json) {
		json_block(r, site);
		return 0;
	}
	snprintf(addr, sizeof(addr), "0x%" PRIx64, r->addr);
	snprintf(size, sizeof(size), "%" PRIu64, r->size);
	fmt_age(age, sizeof(age), b->ref, r->ts);
	fmt_site(where, sizeof(where), r->site, site);
	table_row(&b->t, addr, size, age, where);
	return 0;
}

static void thread_text_head(const struct mw_thread_row *r)
{
	char comm[64], t1[32], t2[32];

	text__safe(comm, sizeof(comm), r->comm);
	printf("thread %u of pid %u%s%s%s: %s\n", r->tid, r->pid,
	       comm[0] ? " (" : "", comm, comm[0] ? ")" : "",
	       mw_thread_state_name(r->state));
	fmt_time(t1, sizeof(t1), r->start_ts);
	fmt_time(t2, sizeof(t2), r->exit_ts);
	printf("  started   %s\n", t1);
	printf("  exited    %s\n", t2);
	printf("  allocs    %" PRIu64 " (%" PRIu64 " bytes)\n", r->allocs,
	       r->alloc_bytes);
	printf("  frees     %" PRIu64 " (%" PRIu64 " bytes), %" PRIu64
	       " cross-thread, %" PRIu64 " of unknown blocks\n",
	       r->frees, r->free_bytes, r->cross_frees, r->unknown_frees);
	printf("  live      %" PRIu64 " block(s), %" PRIu64 " bytes\n",
	       r->live_blocks, r->live_bytes);
}

/* One thread: its row, its TLS bindings, its largest live blocks. */
static int thread_show(struct store *s, const struct mw_thread_row *r,
		       const struct store_filter *f)
{
	struct table bt = {.ncols = 6,
			   .head = {"KEY", "GEN", "VALUE", "BLOCK", "SIZE",
				    "SET"}};
	struct thread_blocks b = {
		.t = {.ncols = 4, .head = {"ADDRESS", "SIZE", "AGE", "SITE"}},
	};
	struct mw_process_row p = {0};
	int err;

	/* A block's age: up to the end of tracing, or now if it goes on. */
	err = store__get_process(s, r->proc_id, &p);
	if (err && err != -ENOENT)
		return err;
	b.ref = !err && p.end_ts ? p.end_ts : now_ns();
	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "thread");
		json_thread(r);
		json__key(&J, "bindings");
		json__open(&J, '[');
	} else {
		thread_text_head(r);
	}
	if ((err = store__each_thread_binding(s, r, binding_cb, &bt)))
		return err;
	if (opt.json) {
		json__close(&J, ']');
		json__key(&J, "blocks");
		json__open(&J, '[');
	} else if (bt.nrows) {
		printf("\nTLS bindings:\n");
		table_print(&bt);
	} else {
		printf("\nTLS bindings: none\n");
	}
	if ((err = store__each_thread_block(s, f, r, thread_block_cb, &b)))
		return err;
	if (opt.json) {
		json__close(&J, ']');
		json__close(&J, '}');
	} else if (b.t.nrows) {
		printf("\nlive blocks, largest first (at most %" PRIu64 "):\n",
		       f->limit);
		table_print(&b.t);
	} else if (r->live_blocks) {
		/* The counters are exact; the table only has blocks old
		 * enough to be written. */
		printf("\nlive blocks: none stored yet (a block is stored "
		       "once older than\nthe persist age, or at process "
		       "exit)\n");
	} else {
		printf("\nlive blocks: none\n");
	}
	return 0;
}

static int cmd_thread(int argc, char **argv)
{
	struct thread_list l = {0};
	struct store_filter f = opt.filter;
	struct store *s;
	uint64_t tid;
	int err;

	if (argc != 1)
		die(EXIT_USAGE, "usage: memwatchctl thread TID");
	if (parse__u64(argv[0], INT32_MAX, &tid) || !tid)
		die(EXIT_USAGE, "thread: invalid tid '%s'", argv[0]);
	if (!f.limit)
		f.limit = THREAD_DEFAULT_LIMIT;
	s = open_db();
	/* All of them before printing anything: an unknown tid must leave
	 * only the error on stdout with --json. */
	err = store__each_thread_tid(s, &opt.filter, (uint32_t)tid,
				     thread_keep, &l);
	if (err) {
		store__close(s);
		query_failed(err);
	}
	if (!l.n) {
		store__close(s);
		if (opt.filter.pid)
			die(EXIT_RUNTIME,
			    "no thread '%s' of pid %u in the database",
			    argv[0], opt.filter.pid);
		die(EXIT_RUNTIME, "no thread '%s' in the database", argv[0]);
	}
	if (opt.json) {
		json__open(&J, '[');
	} else if (l.n > 1) {
		bool pids = false;

		for (size_t i = 1; i < l.n; i++)
			pids |= l.v[i].pid != l.v[0].pid;
		printf("tid %s names %zu threads, newest first%s\n\n", argv[0],
		       l.n, pids ? " (--pid PID shows one process's)" : "");
	}
	for (size_t i = 0; i < l.n && !err; i++) {
		if (i && !opt.json)
			printf("\n\n");
		err = thread_show(s, &l.v[i], &f);
	}
	store__close(s);
	free(l.v);
	if (err)
		query_failed(err);
	if (opt.json) {
		json__close(&J, ']');
		json__end(&J);
	}
	return 0;
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
	rc = request(type, &w, sizeof(w), NULL, 0, msg, sizeof(msg), false);
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
static int target_request(const char *cmd, uint16_t type, int argc,
			  char **argv)
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
	rc = request(type, &mp, sizeof(mp), NULL, 0, msg, sizeof(msg), false);
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

static int cmd_attach(int argc, char **argv)
{
	return target_request("attach", MW_MSG_ATTACH, argc, argv);
}

static int cmd_detach(int argc, char **argv)
{
	return target_request("detach", MW_MSG_DETACH, argc, argv);
}

/* memwatchctl reload: memwatchd reads its configuration again, as on
 * SIGHUP, but a bad file comes back here as its one-line error. */
static int cmd_reload(int argc, char **argv)
{
	char msg[256];
	int rc;

	no_args("reload", argc);
	rc = request(MW_MSG_RELOAD, NULL, 0, NULL, 0, msg, sizeof(msg), false);
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

/* --- export ----------------------------------------------------------- */

static const char *output_name(void)
{
	return opt.output && strcmp(opt.output, "-") ? opt.output : "stdout";
}

static void __attribute__((noreturn)) write_failed(int err)
{
	die(EXIT_RUNTIME, "cannot write '%s': %s", output_name(),
	    strerror(-err));
}

/* The output, -o FILE or stdout, or die. */
static FILE *export_open(void)
{
	FILE *f;
	int err = export__open(opt.output, &f);

	if (err)
		write_failed(err);
	return f;
}

/* Complete the output: FILE takes its place only now. */
static void export_close(void)
{
	int err = export__commit();

	if (err)
		write_failed(err);
}

/* pprof and folded: live blocks by stack, all read before the output is
 * opened, so that a failed query leaves no file. */
static int export_stacks(const char *fmt)
{
	struct pprof *p = pprof__new(now_ns());
	struct store *s;
	FILE *f;
	int err;

	if (!p)
		die(EXIT_RUNTIME, "out of memory");
	s = open_db();
	err = export__profile(s, &opt.filter, p);
	store__close(s);
	if (err == -ENOMEM)
		die(EXIT_RUNTIME, "out of memory");
	if (err)
		query_failed(err);
	f = export_open();
	if (!strcmp(fmt, "pprof"))
		err = pprof__write(p, f);
	else
		err = pprof__write_folded(p, f, pretty_function);
	pprof__free(p);
	if (err == -ENOMEM)
		die(EXIT_RUNTIME, "out of memory");
	if (err)
		write_failed(err);
	export_close();
	return 0;
}

/* csv and json of findings or live blocks: every row unless --limit. The
 * JSON is what --json findings and --json live print, by their code. */
static int export_table(const char *fmt, const char *what)
{
	bool findings = !strcmp(what, "findings");
	struct store_filter f;
	struct store *s;
	FILE *out;
	int err;

	if (!findings && strcmp(what, "live"))
		die(EXIT_USAGE,
		    "export %s: unknown table '%s' (findings, live)", fmt,
		    what);
	if (!opt.filter.limit)
		opt.filter.limit = LIMIT_ALL;
	/* The database first: if it cannot be read, no file is made. */
	s = open_db();
	out = export_open();
	if (!strcmp(fmt, "json")) {
		store__close(s);
		/* Their callbacks write JSON; errors stay as the user
		 * asked (on stdout as JSON only with --json). */
		opt.json = true;
		json__init(&J, out, opt.pretty);
		if (findings)
			cmd_findings(0, NULL);
		else
			cmd_live(0, NULL);
		export_close();
		return 0;
	}
	f = opt.filter;
	if (f.limit == LIMIT_ALL)
		f.limit = 0;
	err = findings ? export__csv_findings(s, &f, out)
		       : export__csv_live(s, &f, out);
	store__close(s);
	if (err && export__write_error())
		write_failed(export__write_error());
	if (err)
		query_failed(err);
	export_close();
	return 0;
}

static int cmd_export(int argc, char **argv)
{
	const char *fmt = argc ? argv[0] : "";

	if (!strcmp(fmt, "pprof") || !strcmp(fmt, "folded")) {
		if (argc > 1)
			die(EXIT_USAGE, "export %s: unexpected argument '%s'",
			    fmt, argv[1]);
		if (opt.filter.kind || opt.filter.since ||
		    opt.filter.severity || opt.filter.limit)
			die(EXIT_USAGE,
			    "export %s: only --pid selects what it exports",
			    fmt);
		/* A terminal would get binary garbage. */
		if (!strcmp(fmt, "pprof") && !strcmp(output_name(), "stdout") &&
		    isatty(STDOUT_FILENO))
			die(EXIT_USAGE, "export pprof: stdout is a terminal; "
					"write the profile to a file with -o "
					"FILE");
		return export_stacks(fmt);
	}
	if (!strcmp(fmt, "csv") || !strcmp(fmt, "json")) {
		if (argc != 2)
			die(EXIT_USAGE,
			    "usage: memwatchctl export %s findings|live "
			    "[-o FILE]",
			    fmt);
		return export_table(fmt, argv[1]);
	}
	if (!argc)
		die(EXIT_USAGE, "usage: memwatchctl export pprof|folded|"
				"csv|json [findings|live] [-o FILE]");
	die(EXIT_USAGE,
	    "export: unknown format '%s' (pprof, folded, csv, json)", fmt);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memwatchctl [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Commands (read the database; work while memwatchd runs and "
		"after):\n"
		"  status           the daemon (if running) and traced "
		"processes\n"
		"  threads          per-thread counters\n"
		"  live             live blocks older than the persist age,"
		"\n                   largest first (100 unless --limit)\n"
		"  keys             pthread keys and their bindings\n"
		"  findings         leaks found, newest evidence last\n"
		"  explain ID       one finding: its evidence and symbolized "
		"stack\n"
		"  top              allocation sites by the live bytes or "
		"blocks they hold\n                   (20 unless --limit); "
		"OLDEST: age of the oldest block;\n                   "
		"NEW_10S, PREV_10S: bytes allocated in the last 10 s\n"
		"                   of tracing and in the 10 s before, "
		"counting only\n                   blocks still live\n"
		"  thread TID       one thread: counters, TLS bindings, its "
		"largest live\n                   blocks (20 unless --limit); "
		"every thread with that\n                   tid, newest "
		"first, unless --pid narrows it\n"
		"  export pprof     live bytes and blocks by stack, as gzipped "
		"pprof\n                   (go tool pprof -top FILE); to "
		"stdout unless a terminal\n"
		"  export folded    the same as folded stacks, for "
		"flamegraph.pl, speedscope\n"
		"  export csv|json findings|live\n"
		"                   findings or every live block (unless "
		"--limit), as CSV\n                   or as --json prints "
		"them\n"
#ifdef _WIN32
		"Commands (talk to memwatchd; Linux only, as memwatchw has\n"
		"no control socket):\n"
#else
		"Commands (talk to memwatchd):\n"
#endif
		"  attach PID       start tracing a running process (with "
		"--tls:\n                   its TLS only, malloc untouched)\n"
		"  attach exe PATH | comm NAME | cgroup PATH | unit NAME\n"
		"                   the same for every process running PATH,"
		"\n                   named NAME, or in a group, now and "
		"started later\n"
		"  detach PID       stop tracing it\n"
		"  detach exe PATH | comm NAME | cgroup PATH | unit NAME\n"
		"                   stop watching that target and tracing "
		"its processes\n"
		"  reload           memwatchd reads its configuration again "
		"(as on SIGHUP)\n"
		"\n"
		"Options:\n"
		"  --db PATH        database (default %s)\n"
		"  --socket PATH    control socket (default %s)\n"
		"  -j, --json       JSON output, errors included\n"
		"  -p, --pretty     indented JSON (implies --json)\n"
		"  --pid PID        only this process\n"
		"  -o FILE          export: write FILE (complete or not at "
		"all), not stdout\n"
		"  --kind KIND      findings of this kind: tls-outlived-thread,"
		"\n                   tls-outlived-key, tls-overwritten, "
		"thread-orphan,\n                   tls-outlived-module, "
		"thread-growth, site-growth,\n                   "
		"allocator-retention, bad-free\n"
		"  --severity SEV   findings at least this severe (low, "
		"medium, high)\n"
		"  --since WHEN     findings found since a Unix time in "
		"seconds,\n                   or a duration ago: 30s, 5m, 2h, "
		"1d\n"
		"  --limit N|all    at most N rows (live: 100 unless "
		"--limit)\n"
		"  --by WHAT        top: rank sites by live bytes or blocks "
		"(bytes,\n                   blocks; default bytes)\n"
		"  --per WHAT       top: one row per site of each process or "
		"of each\n                   thread (process, thread; "
		"default process)\n"
		"  -V, --version    print the version\n"
		"  -h, --help       this help\n",
		MW_DEFAULT_DB, MW_DEFAULT_SOCKET);
}

/* A query option (filter.h), or exit with its error. */
static void set_filter(const char *name, const char *arg)
{
	char msg[512];

	if (filter__set(&opt.filter, &opt.top, name, arg,
			(uint64_t)time(NULL), msg, sizeof(msg)))
		die(EXIT_USAGE, "%s", msg);
}

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};

static const struct cmd cmds[] = {
	{"status", cmd_status}, {"threads", cmd_threads},
	{"live", cmd_live},	{"keys", cmd_keys},
	{"findings", cmd_findings}, {"explain", cmd_explain},
	{"top", cmd_top},	{"thread", cmd_thread},
	{"export", cmd_export},
	{"attach", cmd_attach},
	{"detach", cmd_detach},
	{"reload", cmd_reload},
};

int main(int argc, char **argv)
{
	enum { OPT_DB = 256, OPT_SOCKET, OPT_PID, OPT_KIND, OPT_SINCE,
	       OPT_LIMIT, OPT_SEVERITY, OPT_BY, OPT_PER, OPT_TLS };
	static const struct option longopts[] = {
		{"db", required_argument, NULL, OPT_DB},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"json", no_argument, NULL, 'j'},
		{"pretty", no_argument, NULL, 'p'},
		{"pid", required_argument, NULL, OPT_PID},
		{"kind", required_argument, NULL, OPT_KIND},
		{"since", required_argument, NULL, OPT_SINCE},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"severity", required_argument, NULL, OPT_SEVERITY},
		{"tls", no_argument, NULL, OPT_TLS},
		{"by", required_argument, NULL, OPT_BY},
		{"per", required_argument, NULL, OPT_PER},
		{"output", required_argument, NULL, 'o'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *kind = NULL, *since = NULL;
	int c;

#ifdef _WIN32
	/* The same bytes as on Linux, "\n" not "\r\n" (and pprof is binary):
	 * what a script reads does not depend on where memwatchctl ran. */
	_setmode(_fileno(stdout), _O_BINARY);
#endif
	opt.db = MW_DEFAULT_DB;
	opt.socket = MW_DEFAULT_SOCKET;
	/* --json is honoured for errors even in the option parsing below. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j") ||
		    !strcmp(argv[i], "--pretty") || !strcmp(argv[i], "-p"))
			opt.json = opt.json_errors = true;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jpVho:", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case OPT_DB:
			opt.db = optarg;
			break;
		case OPT_SOCKET:
			opt.socket = optarg;
			break;
		case 'j':
			opt.json = opt.json_errors = true;
			break;
		case 'p':
			opt.json = opt.json_errors = opt.pretty = true;
			break;
		case 'o':
			opt.output = optarg;
			break;
		case OPT_PID:
			set_filter("pid", optarg);
			break;
		case OPT_KIND:
			kind = optarg;
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_TLS:
			opt.tls = true;
			break;
		case OPT_SEVERITY:
			set_filter("severity", optarg);
			break;
		case OPT_LIMIT:
			set_filter("limit", optarg);
			break;
		case OPT_BY:
			set_filter("by", optarg);
			break;
		case OPT_PER:
			set_filter("per", optarg);
			break;
		case 'V':
			printf("memwatchctl %s\n", VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (optopt)
				die(EXIT_USAGE,
				    "unknown or incomplete option '-%c' (try "
				    "'memwatchctl --help')",
				    optopt);
			die(EXIT_USAGE,
			    "unknown or incomplete option '%s' (try "
			    "'memwatchctl --help')",
			    argv[optind - 1]);
		}
	}
	if (kind)
		set_filter("kind", kind);
	if (since)
		set_filter("since", since);
	json__init(&J, stdout, opt.pretty);
	if (optind >= argc)
		die(EXIT_USAGE, "no command given (try 'memwatchctl --help')");
	if (opt.output && strcmp(argv[optind], "export"))
		die(EXIT_USAGE, "-o: only for export");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[optind], cmds[i].name))
			return cmds[i].func(argc - optind - 1,
					    argv + optind + 1);
	die(EXIT_USAGE, "unknown command '%s' (try 'memwatchctl --help')",
	    argv[optind]);
}
