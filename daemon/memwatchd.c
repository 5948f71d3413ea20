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
#include <malloc.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "access.h"
#include "allocator.h"
#include "cgroup.h"
#include "collector.h"
#include "control.h"
#include "engine.h"
#include "glibc.h"
#include "guard.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "options.h"
#include "parse.h"
#include "privs.h"
#include "paths.h"
#include "proto.h"
#include "retention.h"
#include "store.h"
#include "store_sink.h"
#include "symbolizer.h"

#define TICK_NS (100ull * 1000 * 1000)
#define FLUSH_EVERY_NS (500ull * 1000 * 1000)
#define MS 1000000ull

#define MAX_CGWATCH 64

struct daemon {
	struct engine *engine;
	struct store *store;
	struct collector *col;
	struct symbolizer *sym;
	struct control *ctl;
	struct metrics *metrics; /* Prometheus export */
	struct guard *guard;	 /* resumes held processes if we die */
	struct retention *retention; /* pruning by age and size */
	struct options *opts;	 /* the settings in force */
	int epfd, sigfd, timerfd;
	pid_t child;
	int child_status;
	bool child_done;
	bool stop;
	uint64_t started;
	uint64_t last_flush;
	int flush_err; /* last flush error logged, so it is logged once */
	int db_gone;   /* likewise for the database file removed or replaced */
	int mm_err;    /* likewise for the mm tracepoints */
	/* Groups watched by name (--cgroup, --unit): systemd makes a unit's
	 * group anew at each start, with a new id, so each tick resolves
	 * the names again and moves a watch to its group's new id (0: the
	 * unit is not running, watched for when it starts). */
	struct cgwatch {
		char *name;
		uint32_t kind; /* MW_WATCH_CGROUP or MW_WATCH_UNIT */
		enum collector_watch how;
		uint64_t id;
	} cgw[MAX_CGWATCH];
	int ncgw;
	uint64_t shed; /* processes detached at --max-memory-mb */
	uint32_t gone[MAX_PIDS]; /* exited pids to forget after a flush */
	int ngone;
	/* pids that exec'ed: name their allocator at the next tick, once the
	 * loader has mapped it. */
	struct {
		uint32_t pid;
		uint64_t until; /* name it at every tick until then */
	} execed[MAX_PIDS];
	int nexeced;
};

static void drain(struct daemon *d);

/* --- the store sink -------------------------------------------------- */

static void resolve_site(void *ctx, uint32_t pid, uint64_t ip,
			 struct mw_site_row *row)
{
	symbolizer__resolve(((struct daemon *)ctx)->sym, pid, ip, row);
}

static void tell_finding(void *ctx, const struct mw_finding_row *r)
{
	metrics__finding(((struct daemon *)ctx)->metrics, r);
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

/*
 * A free of an unknown block is the program's bad free only when its call
 * site is the program's code. Not glibc's: at thread exit it frees each
 * block left in the thread's tcache once more, and the tcache itself,
 * which no malloc call returned. Nor code in no file the maps showed: a
 * library ld.so mapped after the maps were read (at exec), in a process
 * gone before they could be read again, may well be libc, and whose code
 * it is cannot be told.
 */
static bool internal_site(void *ctx, uint32_t pid, uint64_t ip)
{
	struct symbolizer *sym = ((struct daemon *)ctx)->sym;

	return !symbolizer__in_file(sym, pid, ip) ||
	       symbolizer__in_runtime(sym, pid, ip);
}


/*
 * The database file removed under us (rm, a clean-up script): SQLite
 * refuses to write to an unlinked file, and no reader can see it. So
 * before each flush, copy it back to its path and write there from then
 * on; while that fails (no room, no directory), flushes fail too and the
 * engine keeps their rows: try again at the next flush. A file put in its
 * place is left alone. Each state is logged once, and the flush errors it
 * causes are not logged again.
 */
static int restrict_db(const char *db);

static void check_db(struct daemon *d)
{
	const char *path = d->opts->db;
	int gone = store__gone(d->store, path), err;

	if (gone == -ESTALE && d->db_gone != gone)
		log_warnx("database '%s' was replaced by another file: not "
			  "writing to it; keeping rows in memory",
			  path);
	if (gone != -ENOENT) {
		d->db_gone = gone;
		return;
	}
	err = store__recreate(d->store, path);
	if (!err) {
		log_warnx("database '%s' was removed: written again with "
			  "every committed row",
			  path);
		d->db_gone = 0;
		/* The new file is root's alone: the group's members read
		 * it again only if it is theirs again. That takes being in
		 * the group (the unit's SupplementaryGroups=): CAP_CHOWN is
		 * dropped by then. */
		if ((err = restrict_db(path)))
			log_warnx("database '%s': cannot give it to group "
				  "'%s' again: %s; only root can read it",
				  path, MW_GROUP, strerror(-err));
		return;
	}
	if (d->db_gone != err)
		log_warnx("database '%s' was removed and cannot be written "
			  "again: %s; keeping its rows in memory, trying again",
			  path, strerror(-err));
	d->db_gone = err;
}

static int flush(struct daemon *d, uint64_t now)
{
	struct store_sink_ctx sc = {d->store, resolve_site, tell_finding, d};
	int err;

	metrics__flush_begin(d->metrics);
	err = engine__flush(d->engine, now, &store_sink, &sc);
	metrics__flush_end(d->metrics, err);
	d->last_flush = now;
	if (err) {
		/* Log a failure once until it changes or clears; the engine
		 * keeps everything and the next flush tries again. */
		if (err != d->flush_err && !d->db_gone)
			log_warnx("cannot write to database '%s': %s; keeping "
				  "its rows in memory, trying again",
				  d->opts->db, store__strerror(err));
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
static int process_exists(uint32_t pid);

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

static int detach(struct daemon *d, uint32_t pid, char *msg, size_t len);
static void on_spawn(struct daemon *d, uint32_t pid, bool tls_only);

/*
 * A daemon killed between a watched program's stop at exec and on_spawn's
 * SIGCONT leaves the program stopped for good. Such a program is stopped
 * with its dynamic loader mapped but not libc yet: no other stop happens
 * there (job control cannot act before the loader ran). So a watch that
 * finds one attaches and resumes it as on_spawn does. A static program, or a child
 * stopped at fork (collector__follow), stopped so looks like one stopped
 * by hand, and is left alone.
 */
static bool stopped_at_exec(uint32_t pid)
{
	char path[64], line[PATH_MAX + 128];
	bool loader = false, libc = false;
	const char *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	if (!(f = fopen(path, "re")))
		return false;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	if (!p || p[1] != ' ' || p[2] != 'T')
		return false;
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	if (!(f = fopen(path, "re")))
		return false;
	while (fgets(line, sizeof(line), f)) {
		loader |= strstr(line, "/ld-linux") || strstr(line, "/ld-musl");
		libc |= strstr(line, "/libc.so") || strstr(line, "/libc-");
	}
	fclose(f);
	return loader && !libc;
}

/* What a watch does to the processes it names that already run. */
struct found {
	struct daemon *d;
	enum collector_watch how;
};

static void found_one(void *ctx, uint32_t pid)
{
	struct found *f = ctx;
	struct daemon *d = f->d;
	char msg[512];

	if (pid == (uint32_t)getpid())
		return;
	if (f->how == COLLECTOR_UNWATCH) {
		if (engine__is_traced(d->engine, pid) &&
		    detach(d, pid, msg, sizeof(msg)))
			log_warnx("%s", msg);
		return;
	}
	if (engine__is_traced(d->engine, pid))
		return;
	if (stopped_at_exec(pid)) {
		log_info("pid %u was left stopped at exec: resuming it", pid);
		on_spawn(d, pid, f->how == COLLECTOR_WATCH_TLS);
		return;
	}
	if (attach(d, pid, f->how == COLLECTOR_WATCH_TLS, msg, sizeof(msg)))
		log_warnx("%s", msg);
	else
		collector__follow(d->col, pid);
}

/* Call found_one for each running process whose executable is exe (by
 * inode), or whose command name is comm. */
static void each_running(struct found *f, const struct stat *exe,
			 const char *comm)
{
	char path[64], c[MW_COMM_MAX];
	struct dirent *de;
	struct stat st;
	DIR *dir = opendir("/proc");

	if (!dir) {
		log_warn("/proc");
		return;
	}
	while ((de = readdir(dir))) {
		uint64_t pid;

		if (parse__u64(de->d_name, UINT32_MAX, &pid))
			continue;
		if (exe) {
			snprintf(path, sizeof(path), "/proc/%u/exe",
				 (uint32_t)pid);
			if (stat(path, &st) || st.st_dev != exe->st_dev ||
			    st.st_ino != exe->st_ino)
				continue;
		} else {
			read_comm((uint32_t)pid, c, sizeof(c));
			if (strcmp(c, comm))
				continue;
		}
		found_one(f, (uint32_t)pid);
	}
	closedir(dir);
}

static const char *const watch_names[] = {
	[MW_WATCH_EXE] = "exe",
	[MW_WATCH_COMM] = "comm",
	[MW_WATCH_CGROUP] = "cgroup",
	[MW_WATCH_UNIT] = "unit",
};

static struct cgwatch *cgwatch_find(struct daemon *d, uint32_t kind,
				    const char *name)
{
	for (int i = 0; i < d->ncgw; i++)
		if (d->cgw[i].kind == kind && !strcmp(d->cgw[i].name, name))
			return &d->cgw[i];
	return NULL;
}

/* Point w's watch at its group's id now (0: none), attaching what runs
 * in a group it moved to. Returns 0, or -errno from the collector. */
static int cgwatch_move(struct daemon *d, struct cgwatch *w, uint64_t id,
			const char *path)
{
	struct found f = {.d = d, .how = w->how};
	int err;

	if (id == w->id)
		return 0;
	if (id && (err = collector__watch_cgroup(d->col, id, w->how)))
		return err;
	if (w->id)
		collector__watch_cgroup(d->col, w->id, COLLECTOR_UNWATCH);
	w->id = id;
	if (id)
		cgroup__each_pid(path, found_one, &f);
	return 0;
}

/* watch() for a cgroup or unit. A unit that is not running is watched
 * for: it is attached when it starts (cgwatch_refresh). */
static int watch_group(struct daemon *d, uint32_t kind, const char *name,
		       enum collector_watch how, struct found *f)
{
	struct cgwatch *w = cgwatch_find(d, kind, name);
	char path[PATH_MAX];
	uint64_t id = 0;
	int err;

	if (how == COLLECTOR_UNWATCH && !w)
		return -ENOENT;
	/* By name as well: a unit's new group after a restart is caught at
	 * the first exec in it, before the next tick learns its id. */
	if (kind == MW_WATCH_UNIT &&
	    (err = collector__watch_unit(d->col, name, how)) &&
	    how != COLLECTOR_UNWATCH)
		return err;
	err = cgroup__resolve(name, kind == MW_WATCH_UNIT, path, sizeof(path),
			      &id);
	if (how == COLLECTOR_UNWATCH) {
		if (w->id)
			collector__watch_cgroup(d->col, w->id, how);
		if (!err)
			cgroup__each_pid(path, found_one, f);
		free(w->name);
		*w = d->cgw[--d->ncgw];
		return 0;
	}
	if (err && !(err == -ENOENT && kind == MW_WATCH_UNIT))
		return err;
	if (!w) {
		if (d->ncgw == MAX_CGWATCH)
			return -ENOSPC;
		w = &d->cgw[d->ncgw];
		*w = (struct cgwatch){.name = strdup(name), .kind = kind};
		if (!w->name)
			return -ENOMEM;
		d->ncgw++;
	}
	if (w->how != how && w->id) {
		/* A new mode: the same group, watched again. */
		w->how = how;
		if ((err = collector__watch_cgroup(d->col, w->id, how)))
			return err;
	}
	w->how = how;
	if (!id)
		log_warnx("unit '%s' is not running: watching for it to start",
			  name);
	/* w->name, new above, is kept in d->cgw until exit: the analyzer
	 * loses it through the compound literal and reports a leak. */
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
	return cgwatch_move(d, w, id, path);
}

/* At each tick: follow the watched units and groups to their groups of
 * now. A unit restarted gets a new group: its processes are held at exec
 * by the group's name meanwhile (collector__watch_unit); a process that
 * joins the new group without an exec is attached here. */
static void cgwatch_refresh(struct daemon *d)
{
	char path[PATH_MAX];

	for (int i = 0; i < d->ncgw; i++) {
		struct cgwatch *w = &d->cgw[i];
		uint64_t id = 0;
		int err;

		if (cgroup__resolve(w->name, w->kind == MW_WATCH_UNIT, path,
				    sizeof(path), &id))
			id = 0;
		if (id == w->id || (!id && w->kind == MW_WATCH_CGROUP))
			continue;
		if ((err = cgwatch_move(d, w, id, path)))
			log_warnx("%s '%s': cannot watch its new group: %s",
				  watch_names[w->kind], w->name,
				  strerror(-err));
		else if (id)
			log_info("watching %s '%s' in its new group",
				 watch_names[w->kind], w->name);
	}
}

/*
 * Watch a target by name (--exe, --comm, --cgroup, --unit, memwatchctl
 * attach exe|comm|cgroup|unit): from now on the kernel stops each new
 * match at exec (see on_spawn), and those already running are attached
 * here. Watching starts first, so a process started during the scan is
 * not missed; one found both ways is attached once. With
 * COLLECTOR_UNWATCH, stop watching and detach the processes it names.
 * Returns 0 or -errno and a one-line message.
 */
static int watch(struct daemon *d, uint32_t kind, const char *name,
		 enum collector_watch how, char *msg, size_t len)
{
	struct found f = {.d = d, .how = how};
	const char *what = watch_names[kind];
	struct stat st;
	int err;

	switch (kind) {
	case MW_WATCH_EXE:
		if (stat(name, &st)) {
			err = -errno;
			break;
		}
		if ((err = collector__watch_exe(d->col, name, how)))
			break;
		each_running(&f, &st, NULL);
		break;
	case MW_WATCH_COMM:
		if ((err = collector__watch_comm(d->col, name, how)))
			break;
		each_running(&f, NULL, name);
		break;
	default:
		err = watch_group(d, kind, name, how, &f);
		break;
	}
	if (err) {
		snprintf(msg, len, "%s '%s': %s", what, name,
			 err == -ENOENT && how == COLLECTOR_UNWATCH
				 ? "not watched"
			 : err == -ENOENT && kind >= MW_WATCH_CGROUP
				 ? "no such cgroup"
			 : err == -ENODEV ? "no cgroup2 file system"
			 : err == -EINVAL && kind == MW_WATCH_EXE
				 ? "not a regular file"
			 : err == -EINVAL ? "invalid name"
					  : strerror(-err));
		return err;
	}
	log_info("%s %s '%s'", how == COLLECTOR_UNWATCH ? "stopped watching"
							: "watching",
		 what, name);
	metrics__watch(d->metrics, what, name, how);
	return 0;
}

/* The targets the options name by name. */
static void watch_programs(struct daemon *d, const struct options *o)
{
	enum collector_watch how =
		o->tls_cmd ? COLLECTOR_WATCH_TLS : COLLECTOR_WATCH;
	char msg[PATH_MAX + 128];

	for (int i = 0; i < o->nexes; i++)
		if (watch(d, MW_WATCH_EXE, o->exes[i], how, msg, sizeof(msg)))
			fatalx("%s", msg);
	for (int i = 0; i < o->ncomms; i++)
		if (watch(d, MW_WATCH_COMM, o->comms[i], how, msg, sizeof(msg)))
			fatalx("%s", msg);
	for (int i = 0; i < o->ncgroups; i++)
		if (watch(d, o->units[i] ? MW_WATCH_UNIT : MW_WATCH_CGROUP,
			  o->cgroups[i], how, msg, sizeof(msg)))
			fatalx("%s", msg);
}

/* A watched program started and waits, stopped at exec: attach, then let
 * it run, whatever happened (it must never stay stopped because of us). */
static void on_spawn(struct daemon *d, uint32_t pid, bool tls_only)
{
	char msg[512];

	if (!engine__is_traced(d->engine, pid) &&
	    attach(d, pid, tls_only, msg, sizeof(msg))) {
		log_warnx("%s", msg);
	} else {
		/* Its allocator is named once the loader has mapped it;
		 * its own children are followed like it. */
		name_allocator_later(d, pid);
		collector__follow(d->col, pid);
	}
	if (kill((pid_t)pid, SIGCONT) && errno != ESRCH)
		log_warn("cannot resume pid %u", pid);
	collector__resumed(d->col, pid);
}

/* A watched program or followed child whose report (on_spawn) was lost
 * to a full ring buffer: it was not stopped and runs untraced. Attach it
 * now, late, as `memwatchctl attach PID` would; what it did before is
 * unknown, as for any process attached while it runs. */
static void on_missed(void *ctx, uint32_t pid, bool tls_only)
{
	struct daemon *d = ctx;
	char msg[512];

	if (engine__is_traced(d->engine, pid) || !process_exists(pid))
		return;
	log_warnx("pid %u started while events were lost: attaching it late",
		  pid);
	if (attach(d, pid, tls_only, msg, sizeof(msg)))
		log_warnx("%s", msg);
	else
		collector__follow(d->col, pid);
}

static void on_event(void *ctx, const struct mw_event *ev)
{
	struct daemon *d = ctx;

	if (ev->type == MW_EV_SPAWN) {
		on_spawn(d, ev->pid, ev->flags & MW_EVF_TLS_ONLY);
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
	int err = glibc__each_key(pid, seed_key, &ks);

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

		if (parse__u64(de->d_name, UINT32_MAX, &tid))
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
	engine__set_allocator(d->engine, pid, allocator__of_process(pid));
	{
		char cg[MW_CGROUP_MAX] = "";

		cgroup__of(pid, cg, sizeof(cg));
		engine__set_identity(d->engine, pid, cgroup__nspid(pid), cg);
	}
	seed_threads(d, pid, collector__now(d->col));
	seed_keys(d, pid, collector__now(d->col));
	log_info("attached to pid %u ('%s')%s", pid, comm,
		 tls_only ? " for TLS only" : "");
	err = collector__mm_error(d->col);
	if (err && err != d->mm_err)
		log_warnx("cannot attach the mmap/munmap/brk tracepoints: %s; "
			  "allocator-retention is off",
			  strerror(-err));
	d->mm_err = err;
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
	drain(d);
	engine__detach(d->engine, pid, collector__now(d->col));
	log_info("detached from pid %u", pid);
	return 0;
}

/* --- settings and reload --------------------------------------------- */

/*
 * What the settings name must exist: pids, executables, groups and
 * units. Returns 0, or -errno and one line naming the first that does
 * not. On a reload (old set), pids the old settings named already are
 * not checked: one of them exiting must not make the file unreloadable.
 */
static int targets_ok(const struct options *o, const struct options *old,
		      char *msg, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	uint64_t id;
	int err;

	for (int i = 0; i < o->npids; i++) {
		bool known = false;

		for (int j = 0; old && j < old->npids; j++)
			known |= old->pids[j] == o->pids[i];
		if (!known && !process_exists(o->pids[i])) {
			snprintf(msg, len, "no such process: '%u'", o->pids[i]);
			return -ESRCH;
		}
	}
	for (int i = 0; i < o->nexes; i++) {
		if (stat(o->exes[i], &st)) {
			err = -errno;
			snprintf(msg, len, "--exe '%s': %s", o->exes[i],
				 strerror(-err));
			return err;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(msg, len, "--exe '%s': not a regular file",
				 o->exes[i]);
			return -EINVAL;
		}
	}
	for (int i = 0; i < o->ncgroups; i++) {
		err = cgroup__resolve(o->cgroups[i], o->units[i], path,
				      sizeof(path), &id);
		/* A unit that is not running yet is watched for. */
		if (err == -ENOENT && o->units[i])
			continue;
		if (err) {
			snprintf(msg, len, "%s '%s': %s",
				 o->units[i] ? "unit" : "cgroup", o->cgroups[i],
				 err == -ENOENT	  ? "no such cgroup"
				 : err == -ENODEV ? "no cgroup2 file system"
						  : strerror(-err));
			return err;
		}
	}
	return 0;
}

/* The targets by name the settings hold, as (kind, name) pairs. */
struct named {
	uint32_t kind; /* enum mw_watch_kind */
	const char *name;
};

static int named_targets(const struct options *o, struct named *t)
{
	int n = 0;

	for (int i = 0; i < o->nexes; i++)
		t[n++] = (struct named){MW_WATCH_EXE, o->exes[i]};
	for (int i = 0; i < o->ncomms; i++)
		t[n++] = (struct named){MW_WATCH_COMM, o->comms[i]};
	for (int i = 0; i < o->ncgroups; i++)
		t[n++] = (struct named){o->units[i] ? MW_WATCH_UNIT
						    : MW_WATCH_CGROUP,
					o->cgroups[i]};
	return n;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Settings a reload cannot change, named when they did. */
static void warn_restart(const struct options *o, const struct options *n)
{
	bool fns = o->nfunctions != n->nfunctions;

	for (int i = 0; !fns && i < o->nfunctions; i++)
		fns = o->functions[i].kind != n->functions[i].kind ||
		      strcmp(o->functions[i].func, n->functions[i].func) ||
		      o->functions[i].ptr_arg != n->functions[i].ptr_arg ||
		      o->functions[i].size_arg != n->functions[i].size_arg ||
		      o->functions[i].count_arg != n->functions[i].count_arg;
	if (!same_str(o->db, n->db) || !same_str(o->socket, n->socket) || fns ||
	    o->stack_frames != n->stack_frames ||
	    !same_str(o->metrics.listen, n->metrics.listen) ||
	    !same_str(o->metrics.textfile, n->metrics.textfile) ||
	    o->metrics.top_threads != n->metrics.top_threads ||
	    o->ringbuf_mb != n->ringbuf_mb ||
	    o->max_targets != n->max_targets ||
	    o->max_pending != n->max_pending)
		log_warnx("reload: 'db', 'socket', 'alloc', 'realloc', 'free', "
			  "'stack-frames', 'metrics-*', 'ringbuf-mb', "
			  "'max-targets' and 'max-pending' changes take effect "
			  "at restart");
}

/*
 * Read the settings again (SIGHUP, memwatchctl reload) and apply what can
 * change while tracing: targets, rule thresholds, log level. Everything
 * is checked before anything changes, so a bad file leaves the running
 * settings whole: returns -errno and one line in msg. Nothing traced or
 * held is lost: targets no longer named are unwatched (their processes
 * detached, their rows kept), and every target named is watched again,
 * which applies a new --tls to processes started from now on and
 * follows an executable replaced since (watches go by inode).
 */
static int reload(struct daemon *d, char *msg, size_t len)
{
	struct named was[3 * MAX_WATCH], now[3 * MAX_WATCH];
	struct options next;
	struct options *o = d->opts;
	enum collector_watch how;
	char why[PATH_MAX + 128];
	int nwas, nnow, err;

	msg[0] = '\0';
	notify__reloading();
	if ((err = options__reload(o, &next, msg, len)) ||
	    (err = targets_ok(&next, o, msg, len)) ||
	    (err = engine__set_config(d->engine, &next.ecfg))) {
		if (err == -EINVAL && !msg[0])
			snprintf(msg, len, "invalid rule settings");
		options__free(&next);
		notify__ready("%s", "reload failed: running on as before");
		return err;
	}
	log_init(next.log_level);
	warn_restart(o, &next);
	nwas = named_targets(o, was);
	nnow = named_targets(&next, now);
	for (int i = 0; i < nwas; i++) {
		bool kept = false;

		for (int j = 0; j < nnow && !kept; j++)
			kept = was[i].kind == now[j].kind &&
			       !strcmp(was[i].name, now[j].name);
		if (!kept && watch(d, was[i].kind, was[i].name,
				   COLLECTOR_UNWATCH, why, sizeof(why)))
			log_warnx("reload: %s", why);
	}
	how = next.tls_cmd ? COLLECTOR_WATCH_TLS : COLLECTOR_WATCH;
	for (int i = 0; i < nnow; i++)
		if (watch(d, now[i].kind, now[i].name, how, why, sizeof(why)))
			log_warnx("reload: %s", why);
	for (int i = 0; i < o->npids; i++) {
		bool kept = false;

		for (int j = 0; j < next.npids && !kept; j++)
			kept = o->pids[i] == next.pids[j];
		if (!kept && engine__is_traced(d->engine, o->pids[i]) &&
		    detach(d, o->pids[i], why, sizeof(why)))
			log_warnx("reload: %s", why);
	}
	for (int i = 0; i < next.npids; i++)
		if (!engine__is_traced(d->engine, next.pids[i]) &&
		    attach(d, next.pids[i], next.tls_pids[i], why, sizeof(why)))
			log_warnx("reload: %s", why);
	options__replace(o, &next);
	retention__configure(d->retention, &o->retention);
	log_info("configuration reloaded");
	notify__ready("%s", "configuration reloaded");
	return 0;
}

/* --- control socket -------------------------------------------------- */

static int on_watch_request(struct daemon *d, uint16_t type,
			    const struct mw_msg_watch *w, char *msg,
			    size_t len)
{
	if (w->kind < MW_WATCH_EXE || w->kind > MW_WATCH_UNIT) {
		snprintf(msg, len, "invalid target kind %u", w->kind);
		return -EINVAL;
	}
	if (w->mode != MW_MODE_FULL && w->mode != MW_MODE_TLS) {
		snprintf(msg, len, "invalid mode %u", w->mode);
		return -EINVAL;
	}
	if (!memchr(w->name, '\0', sizeof(w->name)) || !w->name[0]) {
		snprintf(msg, len, "invalid %s name", watch_names[w->kind]);
		return -EINVAL;
	}
	return watch(d, w->kind, w->name,
		     type == MW_MSG_UNWATCH	? COLLECTOR_UNWATCH
		     : w->mode == MW_MODE_TLS ? COLLECTOR_WATCH_TLS
					      : COLLECTOR_WATCH,
		     msg, len);
}

static int on_request(void *ctx, uint16_t type, const void *req,
		      uint32_t req_len, void *reply, uint32_t *reply_len,
		      char *msg, size_t msglen)
{
	struct daemon *d = ctx;
	const struct mw_msg_pid *mp = req;
	struct mw_msg_status *st = reply;
	const struct retention_stats *rs;
	struct engine_stats es;
	int err;

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
		rs = retention__stats(d->retention);
		st->pruned_rows = store_pruned__sum(&rs->rows);
		st->pruned_raw_processes = rs->raw_processes;
		st->pruned_processes = rs->rows.processes;
		st->prune_step_max_ns = rs->step_max_ns;
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
		err = attach(d, mp->pid, mp->mode == MW_MODE_TLS, msg, msglen);
		break;
	case MW_MSG_DETACH:
		err = detach(d, mp->pid, msg, msglen);
		break;
	case MW_MSG_WATCH:
	case MW_MSG_UNWATCH:
		return on_watch_request(d, type, req, msg, msglen);
	case MW_MSG_RELOAD:
		err = reload(d, msg, msglen);
		if (err)
			log_warnx("cannot reload: %s", msg);
		return err;
	default:
		snprintf(msg, msglen, "unknown request type %u", type);
		return -EOPNOTSUPP;
	}
	/* What memwatchctl reads next (status, from the database) shows the
	 * process as attached or detached: its rows are written now rather
	 * than at the next flush. */
	if (!err)
		flush(d, collector__now(d->col));
	return err;
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
		notify__forget();
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

/* systemctl status shows it; sent only when it changed. */
static void notify_status(struct daemon *d)
{
	struct engine_stats es;

	engine__stats(d->engine, &es);
	notify__status("%d processes traced, %llu findings, %llu events lost",
		       collector__ntargets(d->col),
		       (unsigned long long)es.findings,
		       (unsigned long long)es.lost);
}

/*
 * Read the ring buffer, after counting what the kernel could not put in
 * it. A record dropped while the buffer was full came before some of
 * those now in it: the loss is fed first, so that the processes it
 * concerns are marked incomplete before an event that follows it (a free
 * whose allocation was dropped, say) can accuse them of anything. The
 * collector also takes the losses before any record made after one, and
 * once more after the read, so that what is judged at the next tick
 * knows every loss counted until then.
 */
static void drain(struct daemon *d)
{
	uint64_t before = collector__lost_taken(d->col), lost;

	collector__take_lost(d->col);
	collector__drain(d->col);
	collector__take_lost(d->col);
	lost = collector__lost_taken(d->col) - before;
	if (lost)
		log_warnx("%llu events lost (ring buffer or BPF map full)",
			  (unsigned long long)lost);
}

/*
 * --max-memory-mb: past it, the process whose tables take the most is
 * detached, as `memwatchctl detach` would: what was found stays, nothing
 * more is judged, so nothing false is reported. Keeping it traced with
 * parts of its state thrown away would make its frees unknown and its
 * leaks unprovable. Checked at every tick: it may be passed by what one
 * tick's events add.
 */
static void memory_check(struct daemon *d)
{
	uint64_t limit = (uint64_t)d->opts->max_memory_mb << 20, used, bytes;
	uint32_t pid;
	char msg[128];

	if (!limit)
		return;
	used = engine__memory(d->engine, &pid, &bytes);
	if (used <= limit || !pid)
		return;
	log_warnx("memory estimate %llu MiB passed --max-memory-mb %u: "
		  "detaching pid %u, which holds %llu MiB of it",
		  (unsigned long long)(used >> 20), d->opts->max_memory_mb, pid,
		  (unsigned long long)(bytes >> 20));
	/* Not the collector's (gone meanwhile): the engine's alone. */
	if (detach(d, pid, msg, sizeof(msg)))
		engine__detach(d->engine, pid, collector__now(d->col));
	d->shed++;
}

static void on_timer(struct daemon *d)
{
	uint64_t expirations, now;
	bool flushed = false;

	if (read(d->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	/* Records below the ring buffer's wakeup mark wait for us here. */
	drain(d);
	collector__take_missed(d->col, on_missed, d);
	cgwatch_refresh(d);
	now = collector__now(d->col);
	for (int i = 0; i < d->nexeced;) {
		const char *name = allocator__of_process(d->execed[i].pid);

		if (name)
			engine__set_allocator(d->engine, d->execed[i].pid,
					      name);
		if (!name || now >= d->execed[i].until)
			d->execed[i] = d->execed[--d->nexeced];
		else
			i++;
	}
	engine__tick(d->engine, now);
	memory_check(d);
	/* A flush cut short by --flush-rows goes on at the next tick, once
	 * the events that came meanwhile are in. */
	if (now - d->last_flush >= FLUSH_EVERY_NS ||
	    engine__flush_more(d->engine)) {
		check_db(d);
		flush(d, now);
		flushed = true;
	}
	/* Pruning steps go between flushes, never adding to one. */
	if (!flushed)
		retention__tick(d->retention, now);
	metrics__serve(d->metrics); /* its connection timeouts */
	notify_status(d);
	notify__watchdog();
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	char msg[PATH_MAX + 1024];
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
	case SIGHUP:
		if (reload(d, msg, sizeof(msg)))
			log_warnx("cannot reload: %s", msg);
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

	drain(d);
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
	do
		err = flush(d, now);
	while (!err && engine__flush_more(d->engine));
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
				drain(d);
			else if (fd == d->sigfd)
				on_signal(d);
			else if (fd == d->timerfd)
				on_timer(d);
			else if (fd == metrics__fd(d->metrics))
				metrics__serve(d->metrics);
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

/*
 * The database and its WAL files are root's and group MW_GROUP's (0640),
 * so that the group's members can query it with memwatchctl, or root's
 * alone (0600). SQLite gives the WAL files it makes later the mode and
 * owner of the database file.
 */
static int restrict_db(const char *db)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	bool have_group;
	char path[PATH_MAX];
	gid_t gid;
	int err;

	have_group = !access__group(&gid);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", db, suffixes[i]);
		err = access__restrict(path, have_group, gid, 0640);
		if (err && !(err == -ENOENT && i))
			return err;
	}
	return 0;
}

/* Create the parent directory of a default path; user-given paths must
 * already have theirs. One it creates is root's and the group's (0750),
 * or root's alone (0700): the group's members reach the socket and the
 * database through it, nobody else. One that exists is left as it is
 * (systemd's StateDirectory=, RuntimeDirectory=, or the package's). */
static void make_default_dir(const char *path, const char *deflt)
{
	char dir[PATH_MAX];
	char *slash;
	gid_t gid = 0;
	int err;

	if (strcmp(path, deflt))
		return;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = '\0';
	if (mkdir(dir, 0700)) {
		if (errno != EEXIST)
			fatal("cannot create '%s'", dir);
		return;
	}
	err = access__restrict(dir, !access__group(&gid), gid, 0750);
	if (err)
		fatalx("cannot give '%s' to root and group '%s': %s", dir,
		       MW_GROUP, strerror(-err));
}

/*
 * Start-up is over: the programs are loaded, the socket listens, the
 * first targets are attached and CMD is forked (with all of root's
 * capabilities, as it was given). Keep what attaching more needs.
 */
static void drop_privileges(void)
{
	uint64_t missing;
	int err;

	if ((err = privs__drop(PRIVS_RUNTIME, &missing)))
		fatalx("cannot drop capabilities: %s", strerror(-err));
	if (missing)
		log_info("capabilities it may need but does not have: %#llx",
			 (unsigned long long)missing);
}

/* What the daemon itself cost, for -v and `make bench`: its own CPU
 * (not its child's), per event, and its peak memory. */
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

int main(int argc, char **argv)
{
	struct collector_opts copts = {0};

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

	/* A traced process's blocks, their index and its persist FIFO are
	 * big arrays that double and halve. From mmap they grow by mremap,
	 * without a copy, and go back to the kernel when freed. A fixed
	 * threshold stops glibc from raising it after the first such free
	 * and carving them from the heap, where freed ones stay resident
	 * (about 10 bytes a block more, measured with live_hold). */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	options__parse(&o, argc, argv);
	log_init(o.log_level);
	check_pid_namespace();
	notify__init();
	d.opts = &o;
	copts.debug = o.log_level >= LOG_DEBUG;
	copts.bench_floor = o.bench_floor;
	copts.bench_at_entry = o.bench_at_entry;
	copts.stack_frames = o.stack_frames;
	copts.ringbuf_bytes = o.ringbuf_mb << 20;
	copts.max_targets = o.max_targets;
	copts.max_pending = o.max_pending;
	/* Check targets before touching anything. */
	if (targets_ok(&o, NULL, msg, sizeof(msg)))
		fatalx("%s", msg);
	if (o.check_config) {
		printf("configuration OK\n");
		options__free(&o);
		return 0;
	}
	if (geteuid() != 0)
		fatalx("must run as root: it loads eBPF programs");

	/* The database itself is root's and the group's (restrict_db). */
	make_default_dir(o.db, MW_DEFAULT_DB);
	make_default_dir(o.socket, MW_DEFAULT_SOCKET);
	d.store = store__open(o.db, 0);
	if (!d.store)
		fatalx("database '%s': %s", o.db, store__strerror(errno));
	err = lock_db(o.db);
	if (err == -EBUSY)
		fatalx("database '%s' is in use by another memwatchd", o.db);
	if (err < 0)
		fatalx("database '%s': %s", o.db, strerror(-err));
	if ((err = restrict_db(o.db)))
		fatalx("database '%s': cannot give it to root and group '%s': "
		       "%s",
		       o.db, MW_GROUP, strerror(-err));
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
	/* Before any watch can hold a process. */
	d.guard = guard__start(collector__held_fd(d.col));
	if (!d.guard)
		fatal("cannot start the guard process");
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
	if (metrics__fd(d.metrics) >= 0)
		epoll_add(&d, metrics__fd(d.metrics));

	for (int i = 0; i < o.npids; i++)
		if (attach(&d, o.pids[i], o.tls_pids[i], msg, sizeof(msg)))
			fatalx("%s", msg);
	watch_programs(&d, &o);
	if (o.cmd)
		d.child = spawn(&d, o.cmd, o.tls_cmd);
	drop_privileges();
	/* The first rows (processes) are visible at once. */
	flush(&d, d.started);
	notify__ready("%d processes traced", collector__ntargets(d.col));

	loop(&d);
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
	retention__free(d.retention);
	collector__free(d.col);
	engine__free(d.engine);
	symbolizer__free(d.sym);
	store__close(d.store);
	for (int i = 0; i < d.ncgw; i++)
		free(d.cgw[i].name);
	options__free(&o);
	return code;
}
