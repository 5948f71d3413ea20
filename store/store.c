/*
 * store.c - the SQLite store; see store.h. store/ is the only code that
 * includes sqlite3.h. This file: the connection, opened, migrated,
 * closed, its transactions, and the file removed under the writer. The
 * writers are store_write.c's, the readers store_read.c's and
 * store_query.c's, retention store_prune.c's and store_space.c's; the
 * rows' SQL, binds and reads are made from their descriptions
 * (common/rows.c) by store_row.c.
 *
 * Writers: every statement is prepared once at open and bound for each
 * row (no SQL is ever built from values). Rows are upserts, so the
 * engine may hand the same row over again after a failed flush.
 * Readers: memwatchctl opens read-only and never creates or migrates; a
 * corrupt or foreign file is reported and left byte for byte as it was.
 * Unsigned 64-bit values are stored as SQLite's signed integers and cast
 * back on reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

extern const char *const mw_migrations[];
extern const size_t mw_migrations_count;

const char *store__strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case ENOENT:
		return "no such database";
	case EBADMSG:
		return "not a memwatch database, or corrupt";
	case EBUSY:
		return "database is locked by another writer";
	case EPROTO:
		return "database written by a newer memwatch";
	case ELOOP:
		return "it, its -wal or its -shm is a symbolic link: refused";
	}
	return strerror(err);
}

/* SQLite refuses a symbolic link as the database (3.31); winsqlite3 may be
 * older, and Windows has no links a user can plant (win/posix_compat.h). */
#ifdef _WIN32
#define OPEN_NOFOLLOW 0
#else
#define OPEN_NOFOLLOW SQLITE_OPEN_NOFOLLOW
#endif

int store__schema_version(struct store *s)
{
	int64_t v = 0;
	int err = query_int(s->db, "PRAGMA user_version", &v);

	return err ? err : (int)v;
}

/* Bring the schema up to date, one migration per transaction. */
static int migrate(struct store *s)
{
	int64_t version, tables;
	int err;

	/* Reading the header is where a foreign file first shows. */
	if ((err = query_int(s->db, "PRAGMA user_version", &version)) ||
	    (err = query_int(s->db, "SELECT count(*) FROM sqlite_master",
			     &tables)))
		return err;
	if (version > (int64_t)mw_migrations_count)
		return -EPROTO;
	/* A database with tables but no version is someone else's. */
	if (version == 0 && tables > 0)
		return -EBADMSG;
	/* A new file: pages that retention frees can go back to the file
	 * system (store__vacuum_step). Only possible before the first
	 * table exists; an older file needs store__make_incremental. */
	if (version == 0 &&
	    (err = exec_sql(s->db, "PRAGMA auto_vacuum=INCREMENTAL")))
		return err;
	for (size_t i = (size_t)version; i < mw_migrations_count; i++) {
		char pragma[64];

		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %zu",
			 i + 1);
		if ((err = exec_sql(s->db, "BEGIN IMMEDIATE")))
			return err;
		if ((err = exec_sql(s->db, mw_migrations[i])) ||
		    (err = exec_sql(s->db, pragma)) ||
		    (err = exec_sql(s->db, "COMMIT"))) {
			exec_sql(s->db, "ROLLBACK");
			return err;
		}
	}
	return 0;
}

static int check_readable(struct store *s)
{
	int64_t version, n;
	int err;

	if ((err = query_int(s->db, "PRAGMA user_version", &version)))
		return err;
	if (version > (int64_t)mw_migrations_count)
		return -EPROTO;
	if (version < 1)
		return -EBADMSG;
	s->version = version;
	/* Touch a table: a truncated or damaged file fails here. */
	return query_int(s->db, "SELECT count(*) FROM processes", &n);
}

/* Create the file ourselves, 0600 and not through a symlink, so the
 * database is never readable by others however the umask is set. */
static int create_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      0600);

	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	close(fd);
	return 0;
}

/* -ELOOP when path with suffix is a symbolic link, else 0. */
static int no_link(const char *path, const char *suffix)
{
	char p[4096];
	struct stat st;

	if ((size_t)snprintf(p, sizeof(p), "%s%s", path, suffix) >= sizeof(p))
		return -ENAMETOOLONG;
	return !lstat(p, &st) && S_ISLNK(st.st_mode) ? -ELOOP : 0;
}

struct store *store__open(const char *path, unsigned flags)
{
	struct store *s = calloc(1, sizeof(*s));
	struct stat st;
	int rc, err;

	if (!s)
		return NULL;
	s->rdonly = !!(flags & STORE_RDONLY);
	/* The writer (root) never follows a symbolic link: one planted where
	 * the database goes would make it write, or give to the group
	 * memwatch, a file of the attacker's choosing. Readers open what
	 * their user may read anyway. */
	if (s->rdonly ? stat(path, &st) : lstat(path, &st)) {
		if (errno != ENOENT || s->rdonly) {
			err = -errno;
			goto fail;
		}
		if ((err = create_file(path)))
			goto fail;
	} else if (S_ISLNK(st.st_mode)) {
		err = -ELOOP;
		goto fail;
	} else if (!S_ISREG(st.st_mode)) {
		err = -EBADMSG;
		goto fail;
	} else if (access(path, s->rdonly ? R_OK : R_OK | W_OK)) {
		err = -errno;
		goto fail;
	}
	/* SQLite opens its -wal and -shm without following links and fails
	 * on one, as "cannot open": say why first. */
	if (!s->rdonly && (err = no_link(path, "-wal")) < 0)
		goto fail;
	if (!s->rdonly && (err = no_link(path, "-shm")) < 0)
		goto fail;
	rc = sqlite3_open_v2(path, &s->db,
			     s->rdonly ? SQLITE_OPEN_READONLY
				       : SQLITE_OPEN_READWRITE | OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		err = errno_of(rc);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (s->rdonly) {
		if ((err = check_readable(s)))
			goto fail;
		return s;
	}
	/* Check before the first write: WAL mode would change the header
	 * of a file that is not ours. */
	if ((err = migrate(s)) ||
	    (err = exec_sql(s->db, "PRAGMA journal_mode=WAL")) ||
	    (err = exec_sql(s->db, "PRAGMA synchronous=NORMAL")))
		goto fail;
	s->version = (int64_t)mw_migrations_count;
	if (!stat(path, &st)) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	if ((err = store_write__prepare(s)) || (err = usage__prepare(s)))
		goto fail;
	return s;
fail:
	store__close(s);
	errno = -err;
	return NULL;
}

void store__close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST_MAX; i++)
		sqlite3_finalize(s->st[i]);
	for (int i = 0; i < PR_MAX; i++)
		sqlite3_finalize(s->prune[i]);
	usage__fini(s);
	read_cache__fini(s);
	sqlite3_close(s->db);
	free(s);
}

int store__begin(struct store *s)
{
	int err = exec_sql(s->db, "BEGIN IMMEDIATE");

	usage__clear(s);
	s->in_tx = !err;
	return err;
}

/* The summaries this transaction changed are written in it, last. On
 * failure the transaction stays open: the caller rolls back. */
int store__commit(struct store *s)
{
	int err = usage__write(s);

	if (err || (err = exec_sql(s->db, "COMMIT")))
		return err;
	s->in_tx = false;
	return 0;
}

int store__rollback(struct store *s)
{
	usage__clear(s);
	s->in_tx = false;
	return exec_sql(s->db, "ROLLBACK");
}

int store__next_serial(struct store *s, uint64_t *serial)
{
	int64_t max = 0;
	/* Rows retention removed may have held the highest serials: the
	 * floor it recorded keeps them from being handed out again. */
	int err = query_int(s->db,
			    "SELECT max(" MAX_SERIAL_SQL ", coalesce((SELECT"
			    " value FROM meta WHERE name = 'serial_floor'),"
			    " 0))",
			    &max);

	if (err)
		return err;
	*serial = (uint64_t)max + 1;
	return 0;
}

int store__close_stale(struct store *s, uint64_t now)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db,
				    "UPDATE processes SET state=?1, end_ts=?2"
				    " WHERE state=?3",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return errno_of(rc);
	sqlite3_bind_int(st, 1, MW_PROC_DETACHED);
	sqlite3_bind_int64(st, 2, (int64_t)now);
	sqlite3_bind_int(st, 3, MW_PROC_TRACING);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return errno_of(rc);
}

/* --- the file removed under the writer --------------------------------- */

int store__gone(struct store *s, const char *path)
{
	struct stat st;

	if (s->rdonly || (!s->dev && !s->ino))
		return 0;
	if (lstat(path, &st))
		return errno == ENOENT ? -ENOENT : 0;
	return st.st_dev == s->dev && st.st_ino == s->ino ? 0 : -ESTALE;
}

#ifndef _WIN32 /* the backup API is not in winsqlite3.def */
/*
 * Copy what the open, unlinked file holds into a new file at path and
 * write there from now on. SQLite reads an unlinked file but refuses to
 * write it (SQLITE_READONLY_DBMOVED), so flushes fail until this is done,
 * the engine keeping their rows. The copy is made under another name and
 * linked in whole, so no reader sees it half made. The write-ahead log
 * and its index are named after path: those of the removed file (if left
 * behind) are removed first, or the new file would read them; and the
 * old connection closes with them kept (PERSIST_WAL), or it would delete
 * the new file's by name. On failure the old connection stays in use and
 * nothing is left at path, so the caller can try again later.
 */
int store__recreate(struct store *s, const char *path)
{
	char tmp[PATH_MAX], aux[PATH_MAX];
	struct store *n = NULL, old;
	sqlite3_backup *b;
	sqlite3 *dst = NULL;
	int fd, rc, err, one = 1;

	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* A copy a failed attempt left: ours, made O_EXCL. */
	unlink(tmp);
	fd =
	    open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | OPEN_NOFOLLOW,
			     NULL);
	if (rc == SQLITE_OK) {
		b = sqlite3_backup_init(dst, "main", s->db, "main");
		if (!b) {
			rc = sqlite3_errcode(dst);
		} else {
			rc = sqlite3_backup_step(b, -1);
			if (rc == SQLITE_DONE)
				rc = sqlite3_backup_finish(b);
			else
				sqlite3_backup_finish(b);
		}
	}
	err = errno_of(rc);
	sqlite3_close(dst);
	if (!err) {
		snprintf(aux, sizeof(aux), "%s-wal", path);
		unlink(aux);
		snprintf(aux, sizeof(aux), "%s-shm", path);
		unlink(aux);
		/* Never over a file someone put there meanwhile. */
		if (link(tmp, path)) {
			err = -errno;
		} else if (!(n = store__open(path, 0))) {
			err = -errno;
			unlink(path);
		}
	}
	unlink(tmp);
	/* n too: an error whose errno was 0 must not pass for success. */
	if (err || !n)
		return err ? err : -EIO;
	sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	old = *s;
	*s = *n;
	*n = old;
	store__close(n);
	return 0;
}
#endif
