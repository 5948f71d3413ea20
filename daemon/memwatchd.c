/*
 * memwatchd.c - the memwatch daemon: collector -> engine -> store.
 *
 * One epoll loop serves the ring buffer, a signalfd, a timerfd and the
 * control socket, so the engine is only ever touched from this thread and
 * needs no locks. Every 100 ms the loop counts kernel-side losses, lets
 * the engine decide candidates whose grace ran out, and every
 * FLUSH_EVERY_NS it flushes what changed to SQLite in one transaction.
 * memwatchd.h says which file does what.
 *
 * `memwatchd -- CMD` forks CMD, holds it before exec until every probe
 * is attached (so its first allocation is seen), and exits with CMD's
 * status once CMD exited and everything was decided and flushed.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector.h"
#include "control.h"
#include "engine.h"
#include "emitter.h"
#include "guard.h"
#include "kfeature.h"
#include "log.h"
#include "memwatchd.h"
#include "metrics.h"
#include "notify.h"
#include "options.h"
#include "paths.h"
#include "privs.h"
#include "retention.h"
#include "store.h"
#include "symbolizer.h"
#include "wrapper.h"

static int child_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* Decide and write everything, detach from whatever still runs. */
/* How long the end waits for the symbolizer's worker. */
#define SETTLE_MS 5000

static int finish(struct daemon *d)
{
	uint64_t now;
	int err, left;

	daemon__drain(d);
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
	err = flusher__flush_all(&d->flusher, now);
	if (err)
		log_warnx("final write to the database failed; rows "
			  "committed before are intact");
	/* The source lines of the sites just written: the worker's, which
	 * a slow debuginfod server may hold up; not forever. */
	if (!err && (left = symbolizer__settle(d->sym, SETTLE_MS)))
		log_warnx("%d call sites keep their names without source "
			  "lines: the symbolizer did not answer in %d ms",
			  left, SETTLE_MS);
	if (!err)
		err = daemon__flush(d, now);
	return err;
}

/*
 * Start-up is over: the programs are loaded, the socket listens, the
 * first targets are attached and CMD is forked (with all of root's
 * capabilities, as it was given). Keep what attaching more needs.
 */
static void drop_privileges(const struct kernel *k)
{
	uint64_t keep = PRIVS_RUNTIME, missing;
	int err;

	/* Without uprobe_multi links each probe is a perf uprobe event,
	 * which the kernel opens only for CAP_SYS_ADMIN (CAP_PERFMON is not
	 * enough); at perf_event_paranoid 3 (Debian, Ubuntu) so is every
	 * perf event, the syscall tracepoints attached while targets come
	 * and go among them. kfeature.c says so. */
	if (!(k->found & 1u << MW_KF_UPROBE_MULTI) ||
	    !(k->found & 1u << MW_KF_PERF_PERFMON))
		keep |= PRIVS_BIT(CAP_SYS_ADMIN);
	if ((err = privs__drop(keep, &missing)))
		fatalx("cannot drop capabilities: %s", strerror(-err));
	if (missing)
		log_info("capabilities it may need but does not have: %#llx",
			 (unsigned long long)missing);
}

/* In a container, say which pids it deals in: its own namespace's. */
static void check_pid_namespace(void)
{
	char ns[64];
	ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);

	if (n <= 0)
		return;
	ns[n] = '\0';
	if (strcmp(ns, "pid:[4026531836]"))
		log_info("in pid namespace %s: processes are named by their "
			 "pids there; processes outside it are not seen",
			 ns);
}

/*
 * What the configuration needs of the kernel beyond the required
 * features (kernel__check): 0, or -ENOTSUP with one line in msg naming
 * the kernel and the feature. The degradations it can live with are
 * notes on stdout (--check-config) or warnings in the log (at start).
 */
static int kernel_needs(const struct options *o, const struct kernel *k,
			bool check, char *msg, size_t len)
{
	bool follow = o->nexes || o->ncomms || o->ncgroups;

	if (o->ncgroups && !(k->found & 1u << MW_KF_CGROUP2)) {
		snprintf(msg, len,
			 "Linux %s: cgroup2 missing: --cgroup and --unit need "
			 "a cgroup v2 hierarchy mounted",
			 k->release);
		return -ENOTSUP;
	}
	if (check && follow && !kernel__can_hold(k)) {
		snprintf(msg, len,
			 "Linux %s: send_signal_task and syscall_tracepoints "
			 "missing: the children of --exe, --comm, --cgroup "
			 "and --unit targets cannot be held before they "
			 "run",
			 k->release);
		return -ENOTSUP;
	}
	for (int f = 0; f < MW_KF_MAX; f++) {
		const struct mw_kfeature_info *i = mw_kfeature(f);

		if (k->found & (1u << f) || i->required)
			continue;
		if (check)
			printf("note: Linux %s: %s missing: %s\n", k->release,
			       i->name, i->without);
		else
			log_warnx("Linux %s: %s missing: %s", k->release,
				  i->name, i->without);
	}
	return 0;
}

/* What the daemon itself cost, for -v and `make bench`: its own CPU
 * (not its child's), per event, and its peak memory. */
static void report_usage(struct daemon *d)
{
	struct engine_stats es;
	struct rusage ru;
	double cpu;

	if (getrusage(RUSAGE_SELF, &ru))
		return;
	engine__stats(d->engine, &es);
	cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	log_info("usage: %llu events, %llu lost, cpu %.3f s (%.3f us per "
		 "event), peak rss %ld kB",
		 (unsigned long long)es.events, (unsigned long long)es.lost,
		 cpu, es.events ? cpu * 1e6 / (double)es.events : 0.0,
		 ru.ru_maxrss);
}

/*
 * debuginfod's cache, when DEBUGINFOD_URLS has libdw ask a server (in
 * the symbolizer's worker): in the state directory, with the database
 * at its default place, rather than root's home (read-only under the
 * unit, ProtectHome=). Before any thread starts: setenv is not safe
 * with another thread reading the environment.
 */
static void debuginfod_cache(const struct options *o)
{
	char dir[PATH_MAX];
	char *slash;

	if (strcmp(o->db, MW_DEFAULT_DB) || getenv("DEBUGINFOD_CACHE_PATH"))
		return;
	snprintf(dir, sizeof(dir), "%s", o->db);
	if (!(slash = strrchr(dir, '/')))
		return;
	snprintf(slash, sizeof(dir) - (size_t)(slash - dir), "/debuginfod");
	setenv("DEBUGINFOD_CACHE_PATH", dir, 0);
}

int main(int argc, char **argv)
{
	struct collector_opts copts = {0};

	struct engine_config ecfg;
	struct daemon d = {.epfd = -1, .sigfd = -1, .timerfd = -1};
	struct options o = {0};
	uint64_t serial;
	uint32_t refused;
	char msg[512];
	int err, code = 0;

	/* A traced process's blocks, their index and its persist FIFO are
	 * big arrays that double and halve. From mmap they grow by mremap,
	 * without a copy, and go back to the kernel when freed. A fixed
	 * threshold stops glibc from raising it after the first such free
	 * and carving them from the heap, where freed ones stay resident
	 * (about 10 bytes a block more, measured with live_hold). */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	options__parse(&o, argc, argv);
	log_init(o.log_level);
	/* The kernel first: a kernel memwatch cannot run on is refused in
	 * one line, exit 2, before anything is opened or loaded. */
	if (kernel__probe(&d.kernel, msg, sizeof(msg)))
		fatalx_status(2, "%s", msg);
	if (o.features) {
		kernel__print(&d.kernel, stdout);
		if (kernel__check(&d.kernel, msg, sizeof(msg)))
			fatalx_status(2, "%s", msg);
		options__free(&o);
		return 0;
	}
	check_pid_namespace();
	notify__init();
	d.opts = &o;
	copts.debug = o.log_level >= LOG_DEBUG;
	copts.bench_floor = o.bench_floor;
	copts.bench_at_entry = o.bench_at_entry;
	copts.stack_frames = o.stack_frames;
	copts.unwind_bytes = o.unwind_bytes;
	copts.ringbuf_bytes = o.ringbuf_mb << 20;
	copts.max_targets = o.max_targets;
	copts.max_pending = o.max_pending;
	copts.kfeatures = d.kernel.found;
	/* Check targets before touching anything. */
	if (daemon__check_targets(&o, NULL, msg, sizeof(msg)))
		fatalx("%s", msg);
	if (kernel__check(&d.kernel, msg, sizeof(msg)) ||
	    kernel_needs(&o, &d.kernel, o.check_config, msg, sizeof(msg)))
		fatalx_status(2, "%s", msg);
	if (o.check_config) {
		printf("configuration OK\n");
		options__free(&o);
		return 0;
	}
	if (geteuid() != 0)
		fatalx("must run as root: it loads eBPF programs");

	/* The database itself is root's and the group's (dbfile__restrict). */
	dbfile__make_default_dir(o.db, MW_DEFAULT_DB);
	dbfile__make_default_dir(o.socket, MW_DEFAULT_SOCKET);
	debuginfod_cache(&o);
	d.store = store__open(o.db, 0);
	if (!d.store)
		fatalx("database '%s': %s", o.db, store__strerror(errno));
	err = dbfile__lock(o.db);
	if (err == -EBUSY)
		fatalx("database '%s' is in use by another memwatchd", o.db);
	if (err < 0)
		fatalx("database '%s': %s", o.db, strerror(-err));
	if ((err = dbfile__restrict(o.db)))
		fatalx("database '%s': cannot give it to root and group '%s': "
		       "%s",
		       o.db, MW_GROUP, strerror(-err));
	if ((err = store__next_serial(d.store, &serial)))
		fatalx("database '%s': %s", o.db, store__strerror(err));
	ecfg = o.ecfg;
	ecfg.classify = daemon__classify_stack;
	ecfg.internal = daemon__internal_site;
	ecfg.classify_ctx = &d;
	d.sym = symbolizer__new();
	d.engine = engine__new(&ecfg, serial);
	d.wrappers = wrappers__new(o.wrapper_callers);
	if (!d.engine || !d.sym || !d.wrappers)
		fatal("out of memory");
	for (int i = 0; i < o.nwrappers; i++) {
		char why[128];

		/* options.c compiled each already. */
		if (wrappers__add(d.wrappers, o.wrappers[i], why, sizeof(why)))
			fatalx("wrapper '%s': %s", o.wrappers[i], why);
	}
	daemon__flush_init(&d);
	d.col = collector__new(&copts, daemon__on_event, &d);
	/* The probe found what they need: a failure here is the kernel
	 * refusing them (memwatchd -vv shows its verifier's log). */
	if (!d.col)
		fatal("Linux %s: cannot load the eBPF programs", d.kernel.release);
	refused = collector__refused(d.col, &err);
	for (int f = 0; f < MW_KF_MAX; f++)
		if (refused & (1u << f))
			log_warnx("Linux %s: %s: the kernel refused its "
				  "program (%s): %s",
				  d.kernel.release, mw_kfeature(f)->name,
				  strerror(-err), mw_kfeature(f)->without);
	/* What status and /metrics report is what runs. */
	d.kernel.found &= ~refused;
	/* Before any watch can hold a process. */
	d.guard = guard__start(collector__held_fd(d.col));
	if (!d.guard)
		fatal("cannot start the guard process");
	/* config.h keeps the settings free of the collector's header: its
	 * function kinds and argument bound must stay the collector's. */
	_Static_assert(OPT_FN_ALLOC == (int)COLLECTOR_ALLOC &&
			       OPT_FN_REALLOC == (int)COLLECTOR_REALLOC &&
			       OPT_FN_FREE == (int)COLLECTOR_FREE &&
			       OPT_MAX_ARG == COLLECTOR_MAX_ARG,
		       "config.h's function kinds are the collector's");
	for (int i = 0; i < o.nfunctions; i++) {
		const struct opt_function *f = &o.functions[i];

		if ((err = collector__add_function(d.col, f->kind, f->func,
						   f->ptr_arg, f->size_arg,
						   f->count_arg)))
			fatalx("function '%s': %s", f->func, strerror(-err));
	}
	d.started = collector__now(d.col);
	if ((err = store__close_stale(d.store, d.started)))
		fatalx("database '%s': %s", o.db, store__strerror(err));
	d.ctl = control__open(o.socket);
	if (!d.ctl)
		fatal("control socket '%s'", o.socket);
	d.metrics = metrics__new(&o.metrics, d.engine);
	if (!d.metrics)
		fatal("cannot serve metrics on '%s'", o.metrics.listen);
	d.retention = retention__new(d.store, d.engine, o.db, &o.retention);
	if (!d.retention)
		fatal("out of memory");
	metrics__retention(d.metrics, retention__stats(d.retention));
	metrics__overload(d.metrics, d.col, &d.shed);
	metrics__kernel(d.metrics, &d.kernel);
	metrics__symbolizer(d.metrics, d.sym);
	/* Findings as events: to the journal when we log there, and as
	 * JSON lines on request. Opened before privileges go. With
	 * neither, no emitter: each event reads its finding back from the
	 * store, work for nobody on the loop. */
	if (o.events_json || log_to_journal()) {
		d.events = emitter__new(o.events_json, log_to_journal());
		if (!d.events && o.events_json)
			fatal("--events-json: cannot open '%s'", o.events_json);
		if (!d.events)
			fatal("out of memory");
	}

	daemon__loop_init(&d);

	for (int i = 0; i < o.npids; i++) {
		if (daemon__attach(&d, o.pids[i], o.tls_pids[i], msg,
				   sizeof(msg)))
			fatalx("%s", msg);
		daemon__follow(&d, o.pids[i]);
	}
	daemon__watch_programs(&d, &o);
	if (o.cmd)
		d.child = daemon__spawn(&d, o.cmd, o.tls_cmd);
	drop_privileges(&d.kernel);
	/* The first rows (processes) are visible at once. */
	daemon__flush(&d, d.started);
	notify__ready("%d processes traced", collector__ntargets(d.col));

	daemon__loop(&d);
	notify__stopping();
	err = finish(&d);
	if (d.child_done)
		code = child_exit_code(d.child_status);
	else if (err)
		code = 1;
	report_usage(&d);
	control__close(d.ctl);
	guard__stop(d.guard);
	metrics__free(d.metrics);
	emitter__free(d.events);
	retention__free(d.retention);
	collector__free(d.col);
	engine__free(d.engine);
	symbolizer__free(d.sym);
	wrappers__free(d.wrappers);
	store__close(d.store);
	for (int i = 0; i < d.ncgw; i++)
		free(d.cgw[i].name);
	options__free(&o);
	return code;
}
