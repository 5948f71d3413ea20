/*
 * dbfile.c - memwatchd's database file: one daemon per file (its lock),
 * root's and the group's, in a directory made for it; written again when
 * removed under us; and the engine's rows flushed into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "emitter.h"
#include "log.h"
#include "memwatchd.h"
#include "metrics.h"
#include "paths.h"
#include "store.h"
#include "suppress.h"
#include "symbolizer.h"

/* --- the file -------------------------------------------------------- */

/*
 * One daemon per database: serials are seeded from the rows present, so
 * two writers would hand out the same ids. flock is independent of
 * SQLite's fcntl locks on Linux, and the fd stays open (never closed
 * before exit, which would also drop SQLite's own locks).
 */
int dbfile__lock(const char *path)
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
int dbfile__restrict(const char *db)
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
void dbfile__make_default_dir(const char *path, const char *deflt)
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
 * The database file removed under us (rm, a clean-up script): SQLite
 * refuses to write to an unlinked file, and no reader can see it. So
 * before each flush, copy it back to its path and write there from then
 * on; while that fails (no room, no directory), flushes fail too and the
 * engine keeps their rows: try again at the next flush. A file put in its
 * place is left alone. Each state is logged once, and the flush errors it
 * causes are not logged again.
 */
void daemon__check_db(struct daemon *d)
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
		if ((err = dbfile__restrict(path)))
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

/* --- flushing to it -------------------------------------------------- */

static void resolve_site(void *ctx, uint32_t pid, uint64_t ip,
			 struct mw_site_row *row)
{
	symbolizer__resolve(((struct daemon *)ctx)->sym, pid, ip, row);
}

/*
 * A finding about to be written: suppressed when a rule of the
 * suppressions file matches it (its site named from the symbol tables,
 * as the rules name functions and modules), then counted. Decided at
 * each write, so a finding written again after a reload follows the
 * rules in force.
 */
static void tell_finding(void *ctx, struct mw_finding_row *r)
{
	struct daemon *d = ctx;
	const struct suppressions *supp = d->opts->supp;
	const char *rule = NULL;

	if (supp) {
		struct mw_site_row site = {0};
		struct suppress_subject subj = {.kind = r->kind, .key = r->key};

		if (r->site) {
			symbolizer__names(d->sym, r->pid, r->site, &site);
			subj.function = site.function;
			subj.module = site.module;
		}
		rule = suppressions__match(supp, &subj);
	}
	snprintf(r->suppressed, sizeof(r->suppressed), "%s", rule ? rule : "");
	metrics__finding(d->metrics, r);
	emitter__finding(d->events, r);
}

static void flush_begin(void *ctx)
{
	metrics__flush_begin(((struct daemon *)ctx)->metrics);
	emitter__flush_begin(((struct daemon *)ctx)->events);
}

static void flush_end(void *ctx, int err)
{
	struct daemon *d = ctx;

	metrics__flush_end(d->metrics, err);
	emitter__flush_end(d->events, err, d->engine, d->store);
	if (err)
		return;
	/* A process that exited may have more rows waiting than a flush
	 * writes (flush_max_rows: a JVM's 10,000 live blocks at exit); their
	 * stacks and sites are named at the flush that writes them, from its
	 * maps, so those are kept until nothing waits (or the list is full:
	 * then names are lost, never memory). */
	if (engine__flush_more(d->engine) && d->ngone < MAX_PIDS)
		return;
	for (int i = 0; i < d->ngone; i++)
		symbolizer__forget(d->sym, d->gone[i]);
	d->ngone = 0;
}

/* Log a failure once until it changes or clears; the engine keeps
 * everything and the next flush tries again. */
static void flush_changed(void *ctx, int err)
{
	struct daemon *d = ctx;

	if (!err)
		log_warnx("writing to the database again");
	else if (!d->db_gone)
		log_warnx("cannot write to database '%s': %s; keeping "
			  "its rows in memory, trying again",
			  d->opts->db, store__strerror(err));
}

/* The flusher, once the store is open; resolve_site and tell_finding
 * reach the symbolizer and the metrics through d at each flush. */
void daemon__flush_init(struct daemon *d)
{
	d->flusher = (struct flusher){
		.engine = d->engine,
		.sink = {d->store, resolve_site, tell_finding, d},
		.begin = flush_begin,
		.end = flush_end,
		.changed = flush_changed,
	};
}

/* A site named again with the worker's answer: written over its row,
 * unless the row is gone (retention removed its process meanwhile). */
static int put_site_again(void *ctx, const struct mw_site_row *row)
{
	struct store *st = ctx;
	int have = store__has_site(st, row->proc_id, row->ip);

	if (have <= 0)
		return have;
	return store__put_site(st, row);
}

/* The sites the symbolizer's worker answered since the last flush, in a
 * transaction of their own after it: written once their first row was
 * (a flush that failed hands its sites over again, and those take the
 * answer at once, symbolizer.c). A failure keeps them for the next. */
static void rewrite_sites(struct daemon *d)
{
	int err;

	if (!symbolizer__rewrite_waiting(d->sym) || store__begin(d->store))
		return;
	err = symbolizer__rewrite(d->sym, put_site_again, d->store);
	if (!err)
		err = store__commit(d->store);
	if (err)
		store__rollback(d->store);
}

int daemon__flush(struct daemon *d, uint64_t now)
{
	int err = flusher__flush(&d->flusher, now);

	d->last_flush = now;
	if (!err)
		rewrite_sites(d);
	return err;
}
