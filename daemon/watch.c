/*
 * watch.c - targets watched by name: executables (by inode), command
 * names, cgroups and systemd units, from the options, a reload or
 * memwatchctl attach. The kernel holds each new match at exec for
 * targets.c; those that run already are attached here, and a watched
 * unit is followed to its new group after each restart.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "collector.h"
#include "engine.h"
#include "log.h"
#include "memwatchd.h"
#include "metrics.h"
#include "parse.h"
#include "procfs.h"
#include "proto.h"

/* What stopped_at_exec looks for in a process's maps. */
struct exec_maps {
	bool loader, libc;
};

static int exec_map(void *ctx, const struct procfs_map *m)
{
	struct exec_maps *em = ctx;

	em->loader |=
	    strstr(m->path, "/ld-linux") || strstr(m->path, "/ld-musl");
	em->libc |= strstr(m->path, "/libc.so") || strstr(m->path, "/libc-");
	return 0;
}

/*
 * A daemon killed between a watched program's stop at exec and
 * daemon__on_spawn's SIGCONT leaves the program stopped for good. Such a
 * program is stopped with its dynamic loader mapped but not libc yet: no
 * other stop happens there (job control cannot act before the loader
 * ran). So a watch that finds one attaches and resumes it as
 * daemon__on_spawn does. A static program, or a child stopped at fork
 * (collector__follow), stopped so looks like one stopped by hand, and is
 * left alone.
 */
static bool stopped_at_exec(uint32_t pid)
{
	char path[64], line[PATH_MAX + 128];
	struct exec_maps em = {false, false};
	const char *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	if (!(f = fopen(path, "re")))
		return false;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	if (!p || p[1] != ' ' || p[2] != 'T')
		return false;
	if (procfs__each_map(pid, exec_map, &em))
		return false;
	return em.loader && !em.libc;
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
		    daemon__detach(d, pid, msg, sizeof(msg)))
			log_warnx("%s", msg);
		return;
	}
	if (engine__is_traced(d->engine, pid))
		return;
	if (stopped_at_exec(pid)) {
		log_info("pid %u was left stopped at exec: resuming it", pid);
		daemon__on_spawn(d, pid, f->how == COLLECTOR_WATCH_TLS);
		return;
	}
	if (daemon__attach(d, pid, f->how == COLLECTOR_WATCH_TLS, msg,
			   sizeof(msg)))
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
			process__read_comm((uint32_t)pid, c, sizeof(c));
			if (strcmp(c, comm))
				continue;
		}
		found_one(f, (uint32_t)pid);
	}
	closedir(dir);
}

const char *const watch_names[] = {
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

/* daemon__watch() for a cgroup or unit. A unit that is not running is watched
 * for: it is attached when it starts (daemon__cgwatch_refresh). */
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
void daemon__cgwatch_refresh(struct daemon *d)
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
 * match at exec (see daemon__on_spawn), and those already running are attached
 * here. Watching starts first, so a process started during the scan is
 * not missed; one found both ways is attached once. With
 * COLLECTOR_UNWATCH, stop watching and detach the processes it names.
 * Returns 0 or -errno and a one-line message.
 */
int daemon__watch(struct daemon *d, uint32_t kind, const char *name,
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
void daemon__watch_programs(struct daemon *d, const struct options *o)
{
	enum collector_watch how =
		o->tls_cmd ? COLLECTOR_WATCH_TLS : COLLECTOR_WATCH;
	char msg[PATH_MAX + 128];

	for (int i = 0; i < o->nexes; i++)
		if (daemon__watch(d, MW_WATCH_EXE, o->exes[i], how, msg,
				  sizeof(msg)))
			fatalx("%s", msg);
	for (int i = 0; i < o->ncomms; i++)
		if (daemon__watch(d, MW_WATCH_COMM, o->comms[i], how, msg,
				  sizeof(msg)))
			fatalx("%s", msg);
	for (int i = 0; i < o->ncgroups; i++)
		if (daemon__watch(d,
				  o->units[i] ? MW_WATCH_UNIT : MW_WATCH_CGROUP,
				  o->cgroups[i], how, msg, sizeof(msg)))
			fatalx("%s", msg);
}
