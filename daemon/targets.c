/*
 * targets.c - the processes memwatchd traces: attaching to one (with the
 * threads and pthread keys it had already), detaching, the programs the
 * kernel holds at exec for us (spawn) and the command it runs itself,
 * and the collector's events about them, read from the ring buffer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "allocator.h"
#include "cgroup.h"
#include "collector.h"
#include "engine.h"
#include "glibc.h"
#include "log.h"
#include "memwatchd.h"
#include "notify.h"
#include "parse.h"
#include "symbolizer.h"

#define MS 1000000ull

/* --- events ---------------------------------------------------------- */

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

/* At each tick: name the allocator of the pids that exec'ed lately (see
 * name_allocator_later). */
void daemon__name_allocators(struct daemon *d, uint64_t now)
{
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
}

/* A watched program started and waits, stopped at exec: attach, then let
 * it run, whatever happened (it must never stay stopped because of us). */
void daemon__on_spawn(struct daemon *d, uint32_t pid, bool tls_only)
{
	char msg[512];

	if (!engine__is_traced(d->engine, pid) &&
	    daemon__attach(d, pid, tls_only, msg, sizeof(msg))) {
		log_warnx("%s", msg);
	} else {
		/* Its allocator is named once the loader has mapped it;
		 * its own children are followed like it. */
		name_allocator_later(d, pid);
		collector__follow(d->col, pid);
		symbolizer__track(d->sym, pid);
	}
	if (kill((pid_t)pid, SIGCONT) && errno != ESRCH)
		log_warn("cannot resume pid %u", pid);
	collector__resumed(d->col, pid);
}

void daemon__follow(struct daemon *d, uint32_t pid)
{
	int err;

	if (d->opts->no_follow)
		return;
	/* A child attached as it runs would miss its first allocations:
	 * then none, as for --no-follow (watched targets are refused at
	 * start on such a kernel instead: there following is the point). */
	if (!kernel__can_hold(&d->kernel)) {
		log_info("pid %u: its children are not followed: Linux %s "
			 "cannot hold them before they run",
			 pid, d->kernel.release);
		return;
	}
	if ((err = collector__follow(d->col, pid)))
		log_warnx("pid %u: its children are not followed: %s", pid,
			  strerror(-err));
}

/* A watched program or followed child whose report (daemon__on_spawn)
 * was lost to a full ring buffer: it was not stopped and runs untraced.
 * Attach it now, late, as `memwatchctl attach PID` would; what it did
 * before is unknown, as for any process attached while it runs. */
void daemon__on_missed(void *ctx, uint32_t pid, bool tls_only)
{
	struct daemon *d = ctx;
	char msg[512];

	if (engine__is_traced(d->engine, pid) || !process__exists(pid))
		return;
	log_warnx("pid %u started while events were lost: attaching it late",
		  pid);
	if (daemon__attach(d, pid, tls_only, msg, sizeof(msg)))
		log_warnx("%s", msg);
	else
		collector__follow(d->col, pid);
}

void daemon__on_event(void *ctx, const struct mw_event *ev)
{
	struct daemon *d = ctx;

	if (ev->type == MW_EV_SPAWN) {
		daemon__on_spawn(d, ev->pid, ev->flags & MW_EVF_TLS_ONLY);
		return;
	}
	/* Every event with a call site that may reach a finding: in TLS
	 * mode a value's site comes with pthread_setspecific alone. Unnoted,
	 * a site whose process exited before the flush stays unnamed. */
	if ((ev->type == MW_EV_ALLOC || ev->type == MW_EV_REALLOC ||
	     ev->type == MW_EV_TLS_SET) &&
	    ev->site)
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
		if (d->ngone == MAX_PIDS) {
			/* Full (flushes stopped short for long): the
			 * oldest are forgotten now. */
			for (int i = 0; i < d->ngone; i++)
				symbolizer__forget(d->sym, d->gone[i]);
			d->ngone = 0;
		}
		d->gone[d->ngone++] = ev->pid;
	}
}

void process__read_comm(uint32_t pid, char *comm, size_t len)
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

int process__exists(uint32_t pid)
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
int daemon__attach(struct daemon *d, uint32_t pid, bool tls_only, char *msg,
		  size_t len)
{
	char comm[MW_COMM_MAX];
	const char *why;
	int err;

	if (!process__exists(pid)) {
		snprintf(msg, len, "no such process: '%u'", pid);
		return -ESRCH;
	}
	process__read_comm(pid, comm, sizeof(comm));
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

int daemon__detach(struct daemon *d, uint32_t pid, char *msg, size_t len)
{
	int err = collector__detach(d->col, pid);

	if (err) {
		snprintf(msg, len, "pid %u is not traced", pid);
		return err;
	}
	/* Events already in the ring buffer belong to the traced period. */
	daemon__drain(d);
	engine__detach(d->engine, pid, collector__now(d->col));
	log_info("detached from pid %u", pid);
	return 0;
}

/* --- running a command ----------------------------------------------- */

/*
 * Fork CMD stopped before exec: it waits on `go` until the probes are in
 * place, then execs; an exec failure comes back as errno over `status`,
 * which exec closes on success.
 */
pid_t daemon__spawn(struct daemon *d, char **cmd, bool tls_cmd)
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
	if (daemon__attach(d, (uint32_t)pid, tls_cmd, msg, sizeof(msg)) ||
	    collector__attach_cmd(d->col, (uint32_t)pid, cmd)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fatalx("%s", msg[0] ? msg : "cannot attach to its allocator");
	}
	/* Its forks are followed from its first instruction on. */
	daemon__follow(d, (uint32_t)pid);
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

/* --- the ring buffer ------------------------------------------------- */

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
void daemon__drain(struct daemon *d)
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
