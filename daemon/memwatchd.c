/*
 * memwatchd.c - the memwatch daemon: collector -> engine -> store.
 *
 * One epoll loop serves the ring buffer, a signalfd, a timerfd and the
 * control socket, so the engine is only ever touched from this thread and
 * needs no locks. Every 100 ms the loop counts kernel-side losses, lets
 * the engine decide candidates whose grace ran out, and every
 * FLUSH_EVERY_NS it flushes what changed to SQLite in one transaction.
 *
 * `memwatchd -- CMD` forks CMD, holds it before exec until every probe
 * is attached (so its first allocation is seen), and exits with CMD's
 * status once CMD exited and everything was decided and flushed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "collector.h"
#include "control.h"
#include "engine.h"
#include "log.h"
#include "proto.h"
#include "store.h"
#include "symbolizer.h"

#define VERSION "0.1.0"
#define TICK_NS (100ull * 1000 * 1000)
#define FLUSH_EVERY_NS (500ull * 1000 * 1000)
#define MAX_PIDS 64
#define MAX_WATCH 16
#define MS 1000000ull

struct daemon {
	struct engine *engine;
	struct store *store;
	struct collector *col;
	struct symbolizer *sym;
	struct control *ctl;
	int epfd, sigfd, timerfd;
	pid_t child;
	int child_status;
	bool child_done;
	bool stop;
	uint64_t started;
	uint64_t last_flush;
	int flush_err; /* last flush error logged, so it is logged once */
	uint32_t gone[MAX_PIDS]; /* exited pids to forget after a flush */
	int ngone;
	/* pids that exec'ed: name their allocator at the next tick, once the
	 * loader has mapped it. */
	struct {
		uint32_t pid;
		uint64_t until; /* name it at every tick until then */
	} execed[MAX_PIDS];
	int nexeced;
	bool tls_watch; /* --exe and --comm targets: TLS only */
};

struct options {
	const char *db;
	const char *socket;
	uint32_t pids[MAX_PIDS];
	bool tls_pids[MAX_PIDS]; /* attach pids[i] in TLS-only mode */
	int npids;
	bool tls_cmd;		 /* CMD, --exe and --comm: TLS only */
	const char *exes[MAX_WATCH];	/* --exe */
	int nexes;
	const char *comms[MAX_WATCH];	/* --comm */
	int ncomms;
	const char *cgroups[MAX_WATCH]; /* --cgroup, --unit */
	bool units[MAX_WATCH];		/* cgroups[i] is a unit name */
	int ncgroups;
	struct engine_config ecfg; /* rule settings; 0 = engine default */
	int verbose;
	char **cmd;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memwatchd [OPTIONS] [--pid PID]... [-- CMD [ARGS...]]\n"
		"\n"
		"Trace allocations, TLS keys and modules of processes with "
		"eBPF and report\nmemory that outlives its thread, key or "
		"module, grows, or is freed twice.\n"
		"\n"
		"  --pid PID          attach to a running process (repeatable)\n"
		"  --tls-pid PID      the same, watching TLS only: malloc and "
		"free\n                     stay untouched (repeatable)\n"
		"  --exe PATH         trace every process running PATH, now "
		"or\n                     started later (repeatable)\n"
		"  --comm NAME        the same by command name (repeatable)\n"
		"  --cgroup PATH      the same for a cgroup v2 group and "
		"below it\n                     (path, or relative to the "
		"cgroup2 mount)\n"
		"  --unit NAME        the same for a systemd unit's group\n"
		"  --tls              watch TLS only in CMD, --exe and --comm "
		"targets\n"
		"  -- CMD ARGS...     run CMD traced from its first allocation;"
		"\n                     exit with its status when it exits\n"
		"  --db PATH          database (default %s)\n"
		"  --socket PATH      control socket (default %s)\n"
		"  --grace MS         time a program has to free a TLS block "
		"after\n                     its thread or key died (default "
		"%llu)\n"
		"  --persist-age MS   write blocks to the database once they "
		"lived\n                     this long (default %llu)\n"
		"  --orphan-age MS    a block still live this long after its "
		"thread\n                     exited was left behind "
		"(default %llu)\n"
		"  --orphan-threads N flag a site once it left blocks behind "
		"in N\n                     exited threads (default %u)\n"
		"  --sample MS        live bytes sampled this often for the "
		"growth\n                     rules (default %llu)\n"
		"  --growth-samples N growth is N samples in a row growing "
		"(default %u)\n"
		"  --growth-min KB    ... by at least this much (default "
		"%llu)\n"
		"  --retention-min MB allocator-retention: anonymous memory "
		"grown\n                     this much per growth window, "
		"twice in a row\n                     (default %llu)\n"
		"  -v, --verbose      more log output (twice for debug)\n"
		"  -V, --version      print the version\n"
		"  -h, --help         this help\n",
		MW_DEFAULT_DB, MW_DEFAULT_SOCKET,
		ENGINE_DEFAULT_GRACE_NS / MS, ENGINE_DEFAULT_PERSIST_AGE_NS / MS,
		ENGINE_DEFAULT_ORPHAN_AGE_NS / MS,
		ENGINE_DEFAULT_ORPHAN_MIN_THREADS, ENGINE_DEFAULT_SAMPLE_NS / MS,
		ENGINE_DEFAULT_GROWTH_SAMPLES,
		ENGINE_DEFAULT_GROWTH_MIN_BYTES / 1024,
		ENGINE_DEFAULT_RETENTION_MIN_BYTES >> 20);
}

/* A bad command line: one line, exit 2 as usage errors do. */
static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("memwatchd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The number optarg gives for --name, in [min, max], or a usage error. */
static uint64_t num_opt(const char *name, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (parse_u64(optarg, max, &v) || v < min)
		usage_error("--%s: invalid value '%s' (%llu to %llu)", name,
			    optarg, (unsigned long long)min,
			    (unsigned long long)max);
	return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_DB = 256, OPT_SOCKET, OPT_PID, OPT_TLS_PID, OPT_TLS,
	       OPT_EXE, OPT_COMM, OPT_CGROUP, OPT_UNIT,
	       OPT_GRACE, OPT_AGE,
	       OPT_ORPHAN_AGE, OPT_ORPHAN_THREADS, OPT_SAMPLE,
	       OPT_GROWTH_SAMPLES, OPT_GROWTH_MIN, OPT_RETENTION_MIN };
	static const struct option longopts[] = {
		{"db", required_argument, NULL, OPT_DB},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"pid", required_argument, NULL, OPT_PID},
		{"tls-pid", required_argument, NULL, OPT_TLS_PID},
		{"tls", no_argument, NULL, OPT_TLS},
		{"exe", required_argument, NULL, OPT_EXE},
		{"comm", required_argument, NULL, OPT_COMM},
		{"cgroup", required_argument, NULL, OPT_CGROUP},
		{"unit", required_argument, NULL, OPT_UNIT},
		{"grace", required_argument, NULL, OPT_GRACE},
		{"persist-age", required_argument, NULL, OPT_AGE},
		{"orphan-age", required_argument, NULL, OPT_ORPHAN_AGE},
		{"orphan-threads", required_argument, NULL, OPT_ORPHAN_THREADS},
		{"sample", required_argument, NULL, OPT_SAMPLE},
		{"growth-samples", required_argument, NULL, OPT_GROWTH_SAMPLES},
		{"growth-min", required_argument, NULL, OPT_GROWTH_MIN},
		{"retention-min", required_argument, NULL, OPT_RETENTION_MIN},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	uint64_t v;
	int c;

	o->db = MW_DEFAULT_DB;
	o->socket = MW_DEFAULT_SOCKET;
	o->ecfg.grace_ns = ENGINE_DEFAULT_GRACE_NS;
	o->ecfg.persist_age_ns = ENGINE_DEFAULT_PERSIST_AGE_NS;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+vVh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DB:
			o->db = optarg;
			break;
		case OPT_SOCKET:
			o->socket = optarg;
			break;
		case OPT_PID:
		case OPT_TLS_PID:
			if (parse_u64(optarg, INT32_MAX, &v) || !v)
				usage_error("--%s: invalid pid '%s'",
					    c == OPT_PID ? "pid" : "tls-pid",
					    optarg);
			if (o->npids == MAX_PIDS)
				usage_error("--pid: at most %d pids", MAX_PIDS);
			o->tls_pids[o->npids] = c == OPT_TLS_PID;
			o->pids[o->npids++] = (uint32_t)v;
			break;
		case OPT_TLS:
			o->tls_cmd = true;
			break;
		case OPT_EXE:
			if (o->nexes == MAX_WATCH)
				usage_error("--exe: at most %d", MAX_WATCH);
			o->exes[o->nexes++] = optarg;
			break;
		case OPT_CGROUP:
		case OPT_UNIT:
			if (o->ncgroups == MAX_WATCH)
				usage_error("--%s: at most %d",
					    c == OPT_UNIT ? "unit" : "cgroup",
					    MAX_WATCH);
			o->units[o->ncgroups] = c == OPT_UNIT;
			o->cgroups[o->ncgroups++] = optarg;
			break;
		case OPT_COMM:
			if (!optarg[0] || strlen(optarg) > 15)
				usage_error("--comm: invalid name '%s' (1 to 15 "
					    "bytes, as the kernel keeps it)",
					    optarg);
			if (o->ncomms == MAX_WATCH)
				usage_error("--comm: at most %d", MAX_WATCH);
			o->comms[o->ncomms++] = optarg;
			break;
		case OPT_GRACE:
			o->ecfg.grace_ns = num_opt("grace", 0, 3600000) * MS;
			break;
		case OPT_AGE:
			o->ecfg.persist_age_ns =
				num_opt("persist-age", 0, 3600000) * MS;
			break;
		case OPT_ORPHAN_AGE:
			o->ecfg.orphan_age_ns =
				num_opt("orphan-age", 1, 3600000) * MS;
			break;
		case OPT_ORPHAN_THREADS:
			o->ecfg.orphan_min_threads =
				(uint32_t)num_opt("orphan-threads", 1, 1000000);
			break;
		case OPT_SAMPLE:
			o->ecfg.sample_ns = num_opt("sample", 10, 3600000) * MS;
			break;
		case OPT_GROWTH_SAMPLES:
			o->ecfg.growth_samples = (uint32_t)num_opt(
				"growth-samples", 2, ENGINE_MAX_SAMPLES);
			break;
		case OPT_GROWTH_MIN:
			o->ecfg.growth_min_bytes =
				num_opt("growth-min", 1, 1ull << 30) * 1024;
			break;
		case OPT_RETENTION_MIN:
			o->ecfg.retention_min_bytes =
				num_opt("retention-min", 1, 1ull << 20) << 20;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'V':
			printf("memwatchd %s\n", VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (optopt)
				usage_error("unknown or incomplete option '-%c' "
				       "(try 'memwatchd --help')",
				       optopt);
			usage_error("unknown or incomplete option '%s' (try "
			       "'memwatchd --help')",
			       argv[optind - 1]);
		}
	}
	if (optind < argc)
		o->cmd = &argv[optind];
	if (optind > 1 && !strcmp(argv[optind - 1], "--") && !o->cmd)
		usage_error("'--' must be followed by a command");
}

/* --- the store sink -------------------------------------------------- */

static int sink_begin(void *ctx)
{
	return store__begin(((struct daemon *)ctx)->store);
}

static int sink_commit(void *ctx)
{
	return store__commit(((struct daemon *)ctx)->store);
}

static void sink_rollback(void *ctx)
{
	store__rollback(((struct daemon *)ctx)->store);
}

static int sink_process(void *ctx, const struct mw_process_row *r)
{
	return store__put_process(((struct daemon *)ctx)->store, r);
}

static int sink_thread(void *ctx, const struct mw_thread_row *r)
{
	return store__put_thread(((struct daemon *)ctx)->store, r);
}

static int sink_key(void *ctx, const struct mw_key_row *r)
{
	return store__put_key(((struct daemon *)ctx)->store, r);
}

static int sink_binding(void *ctx, const struct mw_binding_row *r)
{
	return store__put_binding(((struct daemon *)ctx)->store, r);
}

static int sink_block_add(void *ctx, const struct mw_block_row *r)
{
	return store__add_block(((struct daemon *)ctx)->store, r);
}

static int sink_block_del(void *ctx, uint64_t serial)
{
	return store__del_block(((struct daemon *)ctx)->store, serial);
}

static int sink_finding(void *ctx, const struct mw_finding_row *r)
{
	return store__put_finding(((struct daemon *)ctx)->store, r);
}

static int sink_site(void *ctx, uint64_t proc_id, uint32_t pid, uint64_t ip)
{
	struct daemon *d = ctx;
	struct mw_site_row row;
	int have = store__has_site(d->store, proc_id, ip);

	if (have)
		return have < 0 ? have : 0;
	memset(&row, 0, sizeof(row));
	row.proc_id = proc_id;
	symbolizer__resolve(d->sym, pid, ip, &row);
	return store__put_site(d->store, &row);
}

static int sink_stack(void *ctx, const struct mw_stack_row *r)
{
	return store__put_stack(((struct daemon *)ctx)->store, r);
}

/* Does a name say "C++ thread_local initialization or registration"?
 * _ZTH/_ZTW are the Itanium ABI's TLS init and wrapper functions, and
 * GCC's __tls_init is what _ZTH aliases. */
static bool tls_init_name(const char *f)
{
	return !strncmp(f, "_ZTH", 4) || !strncmp(f, "_ZTW", 4) ||
	       !strcmp(f, "__tls_init") ||
	       !strncmp(f, "__cxa_thread_atexit", 19);
}

/*
 * The engine's stack classifier: symbolize the frames of a stack seen for
 * the first time. Dynamic TLS is allocated by ld.so itself (frames[0] is
 * in the loader) when a thread first touches a module's __thread data.
 */
static uint32_t classify_stack(void *ctx, uint32_t pid, const uint64_t *frames,
			       uint32_t n)
{
	struct daemon *d = ctx;
	uint32_t flags = 0;

	for (uint32_t i = 0; i < n; i++) {
		const char *f = symbolizer__function(d->sym, pid, frames[i]);

		if (!f)
			continue;
		if (tls_init_name(f))
			flags |= MW_STACK_TLS_INIT;
		if (!strcmp(f, "__tls_get_addr") || !strcmp(f, "___tls_get_addr"))
			flags |= MW_STACK_TLS_DYNAMIC;
	}
	if (n && symbolizer__is_loader(d->sym, pid, frames[0]))
		flags |= MW_STACK_TLS_DYNAMIC;
	return flags;
}

static bool internal_site(void *ctx, uint32_t pid, uint64_t ip)
{
	return symbolizer__in_runtime(((struct daemon *)ctx)->sym, pid, ip);
}

static const struct engine_sink store_sink = {
	.begin = sink_begin,
	.commit = sink_commit,
	.rollback = sink_rollback,
	.process = sink_process,
	.thread = sink_thread,
	.key = sink_key,
	.binding = sink_binding,
	.block_add = sink_block_add,
	.block_del = sink_block_del,
	.finding = sink_finding,
	.site = sink_site,
	.stack = sink_stack,
};

static int flush(struct daemon *d, uint64_t now)
{
	int err = engine__flush(d->engine, now, &store_sink, d);

	d->last_flush = now;
	if (err) {
		/* Log a failure once until it changes or clears; the engine
		 * keeps everything and the next flush tries again. */
		if (err != d->flush_err)
			log_warnx("cannot write to the database: %s",
				  store__strerror(err));
		d->flush_err = err;
		return err;
	}
	if (d->flush_err)
		log_warnx("writing to the database again");
	d->flush_err = 0;
	for (int i = 0; i < d->ngone; i++)
		symbolizer__forget(d->sym, d->gone[i]);
	d->ngone = 0;
	return 0;
}

/* --- events ---------------------------------------------------------- */

static int attach(struct daemon *d, uint32_t pid, bool tls_only, char *msg,
		  size_t len);
static void read_comm(uint32_t pid, char *comm, size_t len);

/* pid runs a new image: its loader maps its allocator in the first
 * moments, so name it at every tick for a second. */
static void name_allocator_later(struct daemon *d, uint32_t pid)
{
	if (d->nexeced == MAX_PIDS)
		return;
	d->execed[d->nexeced].pid = pid;
	d->execed[d->nexeced++].until =
		collector__now(d->col) + 1000 * MS;
}

/* Does running process pid match a --exe (by inode) or --comm target? */
static bool matches(uint32_t pid, const struct stat *exes, int nexes,
		    const struct options *o)
{
	char path[64], comm[MW_COMM_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	if (!stat(path, &st))
		for (int i = 0; i < nexes; i++)
			if (st.st_dev == exes[i].st_dev &&
			    st.st_ino == exes[i].st_ino)
				return true;
	read_comm(pid, comm, sizeof(comm));
	for (int i = 0; i < o->ncomms; i++)
		if (!strcmp(comm, o->comms[i]))
			return true;
	return false;
}

/* A process found in a watched group at start. */
static void attach_found(void *ctx, uint32_t pid)
{
	struct daemon *d = ctx;
	char msg[512];

	if (pid == (uint32_t)getpid() || engine__is_traced(d->engine, pid))
		return;
	if (attach(d, pid, d->tls_watch, msg, sizeof(msg)))
		log_warnx("%s", msg);
	else
		collector__follow(d->col, pid);
}

/*
 * --exe, --comm, --cgroup, --unit: from now on the kernel stops each new
 * match at exec
 * (see on_spawn); those already running are attached here. Watching
 * starts first, so a process started during the scan is not missed; one
 * found both ways is attached once.
 */
static void watch_programs(struct daemon *d, const struct options *o)
{
	struct stat exes[MAX_WATCH];
	struct dirent *de;
	DIR *dir;
	int err;

	d->tls_watch = o->tls_cmd;
	for (int i = 0; i < o->nexes; i++) {
		if (stat(o->exes[i], &exes[i]))
			fatal("--exe '%s'", o->exes[i]);
		if ((err = collector__watch_exe(d->col, o->exes[i])))
			fatalx("--exe '%s': %s", o->exes[i],
			       err == -EINVAL ? "not a regular file"
					      : strerror(-err));
	}
	for (int i = 0; i < o->ncomms; i++)
		if ((err = collector__watch_comm(d->col, o->comms[i])))
			fatalx("--comm '%s': %s", o->comms[i], strerror(-err));
	for (int i = 0; i < o->ncgroups; i++) {
		char path[PATH_MAX];
		uint64_t id;

		err = cgroup__resolve(o->cgroups[i], o->units[i], path,
				      sizeof(path), &id);
		if (err)
			fatalx("--%s '%s': %s",
			       o->units[i] ? "unit" : "cgroup", o->cgroups[i],
			       err == -ENOENT	? "no such cgroup"
			       : err == -ENODEV ? "no cgroup2 file system"
						: strerror(-err));
		if ((err = collector__watch_cgroup(d->col, id)))
			fatalx("--cgroup '%s': %s", o->cgroups[i],
			       strerror(-err));
		cgroup__each_pid(path, attach_found, d);
	}
	if (!o->nexes && !o->ncomms)
		return;
	dir = opendir("/proc");
	if (!dir)
		fatal("/proc");
	while ((de = readdir(dir))) {
		uint64_t pid;

		if (parse_u64(de->d_name, UINT32_MAX, &pid) ||
		    pid == (uint64_t)getpid() ||
		    engine__is_traced(d->engine, (uint32_t)pid) ||
		    !matches((uint32_t)pid, exes, o->nexes, o))
			continue;
		attach_found(d, (uint32_t)pid);
	}
	closedir(dir);
}

/* A watched program started and waits, stopped at exec: attach, then let
 * it run, whatever happened (it must never stay stopped because of us). */
static void on_spawn(struct daemon *d, uint32_t pid)
{
	char msg[512];

	if (!engine__is_traced(d->engine, pid) &&
	    attach(d, pid, d->tls_watch, msg, sizeof(msg))) {
		log_warnx("%s", msg);
	} else {
		/* Its allocator is named once the loader has mapped it;
		 * its own children are followed like it. */
		name_allocator_later(d, pid);
		collector__follow(d->col, pid);
	}
	if (kill((pid_t)pid, SIGCONT) && errno != ESRCH)
		log_warn("cannot resume pid %u", pid);
}

static void on_event(void *ctx, const struct mw_event *ev)
{
	struct daemon *d = ctx;

	if (ev->type == MW_EV_SPAWN) {
		on_spawn(d, ev->pid);
		return;
	}
	if (ev->type == MW_EV_ALLOC || ev->type == MW_EV_REALLOC)
		symbolizer__note(d->sym, ev->pid, ev->site);
	/* A new image: the old one's mappings would only shadow it. */
	if (ev->type == MW_EV_EXEC) {
		symbolizer__forget(d->sym, ev->pid);
		name_allocator_later(d, ev->pid);
	}
	if ((ev->type == MW_EV_MODULE_LOAD || ev->type == MW_EV_MODULE_UNLOAD) &&
	    ev->path && ev->size)
		symbolizer__add_module(d->sym, ev->pid, ev->path, ev->base,
				       ev->addr, ev->addr + ev->size);
	engine__feed(d->engine, ev);
	if (ev->type == MW_EV_PROC_EXIT) {
		/* The kernel already dropped its uprobes with its mm; free
		 * the links and remember to forget its maps once flushed. */
		if (!collector__detach(d->col, ev->pid))
			log_info("pid %u exited", ev->pid);
		if (d->ngone < MAX_PIDS)
			d->gone[d->ngone++] = ev->pid;
	}
}

static void read_comm(uint32_t pid, char *comm, size_t len)
{
	char path[64];
	FILE *f;

	comm[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, (int)len, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

static int process_exists(uint32_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%u", pid);
	return access(path, F_OK) == 0;
}

/* Threads that predate the attach, with their names, as if just seen
 * starting: "which thread" must be answerable for them too. */
struct key_seed {
	struct daemon *d;
	uint32_t pid;
	uint64_t now;
};

static void seed_key(void *ctx, uint32_t key, uint64_t destr)
{
	struct key_seed *ks = ctx;
	struct mw_event ev = {.type = MW_EV_KEY_CREATE, .pid = ks->pid,
			      .tid = ks->pid, .ts = ks->now, .key = key,
			      .addr = destr};

	engine__feed(ks->d->engine, &ev);
}

/* Keys the process created before we came: their destructors decide,
 * for a TLS-only trace, what happens to values at thread exit. */
static void seed_keys(struct daemon *d, uint32_t pid, uint64_t now)
{
	struct key_seed ks = {d, pid, now};
	int err = collector__each_key(pid, seed_key, &ks);

	if (err)
		log_debug("pid %u: cannot read its pthread keys: %s", pid,
			  strerror(-err));
}

static void seed_threads(struct daemon *d, uint32_t pid, uint64_t now)
{
	char path[64], comm_path[64 + 256 + 8];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%u/task", pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		struct mw_event ev = {.type = MW_EV_THREAD_START, .pid = pid};
		uint64_t tid;
		FILE *f;

		if (parse_u64(de->d_name, UINT32_MAX, &tid))
			continue;
		ev.tid = (uint32_t)tid;
		ev.ts = now;
		snprintf(comm_path, sizeof(comm_path), "%s/%s/comm", path,
			 de->d_name);
		f = fopen(comm_path, "re");
		if (f) {
			if (fgets(ev.comm, sizeof(ev.comm), f))
				ev.comm[strcspn(ev.comm, "\n")] = '\0';
			fclose(f);
		}
		engine__feed(d->engine, &ev);
	}
	closedir(dir);
}

/* Attach to pid; on failure fill msg with a one-line reason. */
static int attach(struct daemon *d, uint32_t pid, bool tls_only, char *msg,
		  size_t len)
{
	char comm[MW_COMM_MAX];
	const char *why;
	int err;

	if (!process_exists(pid)) {
		snprintf(msg, len, "no such process: '%u'", pid);
		return -ESRCH;
	}
	read_comm(pid, comm, sizeof(comm));
	err = collector__attach(d->col, pid, tls_only, &why);
	if (err) {
		snprintf(msg, len, "cannot attach to pid %u: %s (%s)", pid,
			 why ? why : "error", strerror(-err));
		return err;
	}
	err = engine__attach(d->engine, pid, comm, collector__now(d->col),
			     NULL);
	if (err) {
		collector__detach(d->col, pid);
		snprintf(msg, len, "cannot track pid %u: %s", pid,
			 strerror(-err));
		return err;
	}
	engine__set_mode(d->engine, pid, tls_only ? MW_MODE_TLS : MW_MODE_FULL);
	engine__set_allocator(d->engine, pid, collector__allocator(pid));
	{
		char cg[MW_CGROUP_MAX] = "";

		cgroup__of(pid, cg, sizeof(cg));
		engine__set_identity(d->engine, pid, cgroup__nspid(pid), cg);
	}
	seed_threads(d, pid, collector__now(d->col));
	seed_keys(d, pid, collector__now(d->col));
	log_info("attached to pid %u ('%s')%s", pid, comm,
		 tls_only ? " for TLS only" : "");
	return 0;
}

static int detach(struct daemon *d, uint32_t pid, char *msg, size_t len)
{
	int err = collector__detach(d->col, pid);

	if (err) {
		snprintf(msg, len, "pid %u is not traced", pid);
		return err;
	}
	/* Events already in the ring buffer belong to the traced period. */
	collector__drain(d->col);
	engine__detach(d->engine, pid, collector__now(d->col));
	log_info("detached from pid %u", pid);
	return 0;
}

/* --- control socket -------------------------------------------------- */

static int on_request(void *ctx, uint16_t type, const void *req,
		      uint32_t req_len, void *reply, uint32_t *reply_len,
		      char *msg, size_t msglen)
{
	struct daemon *d = ctx;
	const struct mw_msg_pid *mp = req;
	struct mw_msg_status *st = reply;
	struct engine_stats es;

	switch (type) {
	case MW_MSG_STATUS:
		engine__stats(d->engine, &es);
		memset(st, 0, sizeof(*st));
		st->started_ts = d->started;
		st->events = es.events;
		st->lost = es.lost;
		st->live_blocks = es.live_blocks;
		st->findings = es.findings;
		st->daemon_pid = (uint32_t)getpid();
		for (int i = 0; i < collector__ntargets(d->col) &&
				i < MW_STATUS_MAX_TARGETS;
		     i++)
			st->targets[st->ntargets++] = collector__target(d->col, i);
		*reply_len = sizeof(*st);
		return 0;
	case MW_MSG_ATTACH:
		if (!mp->pid || mp->pid > INT32_MAX) {
			snprintf(msg, msglen, "invalid pid '%u'", mp->pid);
			return -EINVAL;
		}
		return attach(d, mp->pid, mp->mode == MW_MODE_TLS, msg, msglen);
	case MW_MSG_DETACH:
		return detach(d, mp->pid, msg, msglen);
	}
	snprintf(msg, msglen, "unknown request type %u", type);
	return -EOPNOTSUPP;
}

/* --- running a command ----------------------------------------------- */

/*
 * Fork CMD stopped before exec: it waits on `go` until the probes are in
 * place, then execs; an exec failure comes back as errno over `status`,
 * which exec closes on success.
 */
static pid_t spawn(struct daemon *d, char **cmd, bool tls_cmd)
{
	int go[2], status[2], e = 0;
	char msg[512] = "";
	sigset_t none;
	ssize_t n;
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) || pipe2(status, O_CLOEXEC))
		fatal("pipe");
	pid = fork();
	if (pid < 0)
		fatal("fork");
	if (pid == 0) {
		char c;

		close(go[1]);
		close(status[0]);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		execvp(cmd[0], cmd);
		e = errno;
		if (write(status[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(status[1]);
	if (attach(d, (uint32_t)pid, tls_cmd, msg, sizeof(msg)) ||
	    collector__attach_cmd(d->col, (uint32_t)pid, cmd)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fatalx("%s", msg[0] ? msg : "cannot attach to its allocator");
	}
	if (write(go[1], "g", 1) != 1)
		fatal("cannot start '%s'", cmd[0]);
	close(go[1]);
	n = read(status[0], &e, sizeof(e));
	close(status[0]);
	if (n == sizeof(e)) {
		waitpid(pid, NULL, 0);
		errno = e;
		fprintf(stderr, "memwatchd: cannot execute '%s': %s\n", cmd[0],
			strerror(e));
		exit(127);
	}
	log_info("started '%s' as pid %d", cmd[0], pid);
	return pid;
}

/* --- the loop -------------------------------------------------------- */

static void on_timer(struct daemon *d)
{
	uint64_t expirations, lost, now;

	if (read(d->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	lost = collector__take_lost(d->col);
	if (lost) {
		struct mw_event ev = {.type = MW_EV_LOST, .count = lost};

		ev.ts = collector__now(d->col);
		engine__feed(d->engine, &ev);
		log_warnx("%llu events lost (ring buffer full)",
			  (unsigned long long)lost);
	}
	now = collector__now(d->col);
	for (int i = 0; i < d->nexeced;) {
		const char *name = collector__allocator(d->execed[i].pid);

		if (name)
			engine__set_allocator(d->engine, d->execed[i].pid,
					      name);
		if (!name || now >= d->execed[i].until)
			d->execed[i] = d->execed[--d->nexeced];
		else
			i++;
	}
	engine__tick(d->engine, now);
	if (now - d->last_flush >= FLUSH_EVERY_NS)
		flush(d, now);
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	int status;

	if (read(d->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	switch (si.ssi_signo) {
	case SIGCHLD:
		if (d->child > 0 && waitpid(d->child, &status, WNOHANG) ==
					    d->child) {
			d->child_status = status;
			d->child_done = true;
		}
		break;
	case SIGINT:
	case SIGTERM:
		log_info("stopping on signal %u", si.ssi_signo);
		d->stop = true;
		break;
	}
}

static int child_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* Decide and write everything, detach from whatever still runs. */
static int finish(struct daemon *d)
{
	uint64_t now;
	int err;

	collector__drain(d->col);
	now = collector__now(d->col);
	if (d->child_done && engine__is_traced(d->engine, (uint32_t)d->child)) {
		/* Its exit record was lost: it exited all the same. */
		struct mw_event ev = {
			.type = MW_EV_PROC_EXIT,
			.pid = (uint32_t)d->child,
			.tid = (uint32_t)d->child,
			.ts = now,
			.code = d->child_status,
		};

		engine__feed(d->engine, &ev);
	}
	while (collector__ntargets(d->col)) {
		uint32_t pid = collector__target(d->col, 0);

		collector__detach(d->col, pid);
		engine__detach(d->engine, pid, now);
	}
	engine__tick(d->engine, now);
	err = flush(d, now);
	if (err)
		log_warnx("final write to the database failed; rows "
			  "committed before are intact");
	return err;
}

static void loop(struct daemon *d)
{
	struct epoll_event evs[8];

	while (!d->stop && !d->child_done) {
		int n = epoll_wait(d->epfd, evs, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == collector__fd(d->col))
				collector__drain(d->col);
			else if (fd == d->sigfd)
				on_signal(d);
			else if (fd == d->timerfd)
				on_timer(d);
			else if (fd == control__fd(d->ctl)) {
				int err = control__serve(d->ctl, on_request, d);

				if (err)
					log_debug("control client: %s",
						  strerror(-err));
			}
		}
	}
}

static void epoll_add(struct daemon *d, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev))
		fatal("epoll_ctl");
}

/*
 * One daemon per database: serials are seeded from the rows present, so
 * two writers would hand out the same ids. flock is independent of
 * SQLite's fcntl locks on Linux, and the fd stays open (never closed
 * before exit, which would also drop SQLite's own locks).
 */
static int lock_db(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Create the parent directory of a default path; user-given paths must
 * already have theirs. */
static void make_default_dir(const char *path, const char *deflt, mode_t mode)
{
	char dir[PATH_MAX];
	char *slash;

	if (strcmp(path, deflt))
		return;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = '\0';
	if (mkdir(dir, mode) && errno != EEXIST)
		fatal("cannot create '%s'", dir);
}

int main(int argc, char **argv)
{
	struct collector_opts copts = {
		.ringbuf_bytes = 16u << 20,
		.max_targets = 1024,
		.max_pending = 65536,
	};

	struct engine_config ecfg;
	struct itimerspec its = {
		.it_interval.tv_nsec = TICK_NS,
		.it_value.tv_nsec = TICK_NS,
	};
	struct daemon d = {.epfd = -1, .sigfd = -1, .timerfd = -1};
	struct options o = {0};
	uint64_t serial;
	sigset_t mask;
	char msg[512];
	int err, code = 0;

	parse_options(argc, argv, &o);
	log_init(o.verbose);
	copts.debug = o.verbose >= 2;
	if (geteuid() != 0)
		fatalx("must run as root: it loads eBPF programs");
	/* Check targets before touching anything. */
	for (int i = 0; i < o.npids; i++)
		if (!process_exists(o.pids[i]))
			fatalx("no such process: '%u'", o.pids[i]);

	make_default_dir(o.db, MW_DEFAULT_DB, 0700);
	make_default_dir(o.socket, MW_DEFAULT_SOCKET, 0755);
	d.store = store__open(o.db, 0);
	if (!d.store)
		fatalx("database '%s': %s", o.db, store__strerror(errno));
	err = lock_db(o.db);
	if (err == -EBUSY)
		fatalx("database '%s' is in use by another memwatchd", o.db);
	if (err < 0)
		fatalx("database '%s': %s", o.db, strerror(-err));
	if ((err = store__next_serial(d.store, &serial)))
		fatalx("database '%s': %s", o.db, store__strerror(err));
	ecfg = o.ecfg;
	ecfg.classify = classify_stack;
	ecfg.internal = internal_site;
	ecfg.classify_ctx = &d;
	d.sym = symbolizer__new();
	d.engine = engine__new(&ecfg, serial);
	if (!d.engine || !d.sym)
		fatal("out of memory");
	d.col = collector__new(&copts, on_event, &d);
	if (!d.col)
		fatal("cannot load the eBPF programs");
	d.started = collector__now(d.col);
	if ((err = store__close_stale(d.store, d.started)))
		fatalx("database '%s': %s", o.db, store__strerror(err));
	d.ctl = control__open(o.socket);
	if (!d.ctl)
		fatal("control socket '%s'", o.socket);

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d.sigfd < 0 || d.timerfd < 0 || d.epfd < 0 ||
	    timerfd_settime(d.timerfd, 0, &its, NULL))
		fatal("cannot set up the event loop");
	epoll_add(&d, collector__fd(d.col));
	epoll_add(&d, d.sigfd);
	epoll_add(&d, d.timerfd);
	epoll_add(&d, control__fd(d.ctl));

	for (int i = 0; i < o.npids; i++)
		if (attach(&d, o.pids[i], o.tls_pids[i], msg, sizeof(msg)))
			fatalx("%s", msg);
	watch_programs(&d, &o);
	if (o.cmd)
		d.child = spawn(&d, o.cmd, o.tls_cmd);
	/* The first rows (processes) are visible at once. */
	flush(&d, d.started);

	loop(&d);
	err = finish(&d);
	if (d.child_done)
		code = child_exit_code(d.child_status);
	else if (err)
		code = 1;
	control__close(d.ctl);
	collector__free(d.col);
	engine__free(d.engine);
	symbolizer__free(d.sym);
	store__close(d.store);
	return code;
}
