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
#include <stdlib.h>
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
	bool have_group;
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
	/* Its own statement: as two arguments of one call, gid could be
	 * read before access__group set it (the order is unspecified, and
	 * gcc's gave the directories to group 0). */
	have_group = !access__group(&gid);
	err = access__restrict(dir, have_group, gid, 0750);
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

/* The rule of the suppressions in force that matches finding r at site
 * (its names), or NULL. */
static const char *match_rule(const struct daemon *d,
			      const struct mw_finding_row *r,
			      const struct mw_site_row *site)
{
	struct suppress_subject subj = {.kind = r->kind, .key = r->key};

	if (site) {
		subj.function = site->function;
		subj.module = site->module;
	}
	return suppressions__match(d->opts->supp, &subj);
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
	const char *rule = NULL;

	if (d->opts->supp) {
		struct mw_site_row site = {0};

		if (r->site)
			symbolizer__names(d->sym, r->pid, r->site, &site);
		rule = match_rule(d, r, r->site ? &site : NULL);
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

/* A finding whose rule changed with the reloaded suppressions: as it
 * was stored, and its new rule. */
struct rematch {
	struct mw_finding_row was;
	char rule[MW_RULE_MAX];
};

struct rematch_walk {
	const struct daemon *d;
	struct rematch *v;
	size_t n, cap;
	bool oom;
};

static int rematch_one(void *ctx, const struct mw_finding_row *r,
		       const struct mw_site_row *site)
{
	struct rematch_walk *w = ctx;
	const char *rule = match_rule(w->d, r, site);

	if (!strcmp(rule ? rule : "", r->suppressed))
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct rematch *p = realloc(w->v, cap * sizeof(*p));

		if (!p) {
			w->oom = true;
			return 1;
		}
		w->v = p;
		w->cap = cap;
	}
	w->v[w->n].was = *r;
	snprintf(w->v[w->n].rule, sizeof(w->v[w->n].rule), "%s",
		 rule ? rule : "");
	w->n++;
	return 0;
}

/*
 * The suppressions were reloaded: the findings open or suppressed in the
 * database are matched again (by the names their site rows hold, as
 * memwatchctl shows them), in one transaction, and counted again. An
 * acknowledged finding keeps its state, a resolved one its history.
 */
void daemon__suppress_again(struct daemon *d)
{
	struct rematch_walk w = {.d = d};
	struct store_filter f = {.state = STORE_FINDINGS_OPEN};
	size_t now_quiet = 0;
	int err;

	err = store__each_finding(d->store, &f, rematch_one, &w);
	f.state = STORE_FINDINGS_SUPPRESSED;
	if (err >= 0 && !w.oom)
		err = store__each_finding(d->store, &f, rematch_one, &w);
	if (err >= 0 && w.oom)
		err = -ENOMEM;
	if (!err && w.n && !(err = store__begin(d->store))) {
		for (size_t i = 0; i < w.n && !err; i++)
			err = store__set_suppressed(d->store, w.v[i].was.id,
						    w.v[i].rule);
		if (!err)
			err = store__commit(d->store);
		if (err)
			store__rollback(d->store);
	}
	if (err) {
		log_warnx("reload: cannot match the stored findings against "
			  "the suppressions again: %s",
			  store__strerror(err));
	} else {
		for (size_t i = 0; i < w.n; i++) {
			metrics__suppress(d->metrics, &w.v[i].was,
					  w.v[i].rule[0] != '\0',
					  w.v[i].was.found_ts >= d->started);
			now_quiet += w.v[i].rule[0] != '\0';
		}
		if (w.n)
			log_info("reload: %zu stored finding(s) suppressed, "
				 "%zu no longer",
				 now_quiet, w.n - now_quiet);
	}
	free(w.v);
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
