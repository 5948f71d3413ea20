/*
 * store.c - the SQLite store; see store.h. The only file that includes
 * sqlite3.h.
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
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

extern const char *const mw_migrations[];
extern const size_t mw_migrations_count;

/* The schema version that brought site_usage (schema/005). */
#define SCHEMA_SITE_USAGE 5
/* processes.dropped, incomplete_from, incomplete_to, withheld. */
#define SCHEMA_INCOMPLETE 8
/* How long a writer waits for a lock (readers never block it in WAL
 * mode; another process opening the file may, briefly). */
#define BUSY_TIMEOUT_MS 2000

enum {
	ST_PROCESS,
	ST_THREAD,
	ST_KEY,
	ST_BINDING_PUT,
	ST_BINDING_DEL,
	ST_BLOCK_ADD,
	ST_BLOCK_DEL,
	ST_FINDING,
	ST_SITE,
	ST_HAS_SITE,
	ST_STACK,
	ST_MAX,
};

static const char *const write_sql[ST_MAX] = {
	[ST_PROCESS] =
		"INSERT INTO processes (id, pid, state, comm, start_ts, end_ts,"
		" exit_code, threads, allocs, frees, live_blocks, live_bytes,"
		" unknown_frees, lost, findings, mode, allocator, nspid, cgroup,"
		" dropped, incomplete_from, incomplete_to, withheld)"
		" VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,"
		" ?16,?17,?18,?19,?20,?21,?22,?23)"
		" ON CONFLICT(id) DO UPDATE SET state=?3, comm=?4, end_ts=?6,"
		" exit_code=?7, threads=?8, allocs=?9, frees=?10,"
		" live_blocks=?11, live_bytes=?12, unknown_frees=?13, lost=?14,"
		" findings=?15, mode=?16, allocator=?17, nspid=?18, cgroup=?19,"
		" dropped=?20, incomplete_from=?21, incomplete_to=?22,"
		" withheld=?23",
	[ST_THREAD] =
		"INSERT INTO threads (proc_id, tid, pid, state, comm, start_ts,"
		" exit_ts, allocs, frees, alloc_bytes, free_bytes, cross_frees,"
		" unknown_frees, live_blocks, live_bytes)"
		" VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)"
		" ON CONFLICT(proc_id, tid, start_ts) DO UPDATE SET state=?4,"
		" comm=?5, exit_ts=?7, allocs=?8, frees=?9, alloc_bytes=?10,"
		" free_bytes=?11, cross_frees=?12, unknown_frees=?13,"
		" live_blocks=?14, live_bytes=?15",
	[ST_KEY] = "INSERT INTO keys (proc_id, key, generation, pid, state,"
		   " create_tid, destructor, create_ts, delete_ts, bindings)"
		   " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
		   " ON CONFLICT(proc_id, key, generation) DO UPDATE SET"
		   " state=?5, create_tid=?6, destructor=?7, create_ts=?8,"
		   " delete_ts=?9, bindings=?10",
	[ST_BINDING_PUT] =
		"INSERT INTO tls_bindings (proc_id, tid, key, generation, pid,"
		" value, block, size, set_ts)"
		" VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)"
		" ON CONFLICT(proc_id, tid, key) DO UPDATE SET generation=?4,"
		" value=?6, block=?7, size=?8, set_ts=?9",
	[ST_BINDING_DEL] = "DELETE FROM tls_bindings WHERE proc_id=?1 AND"
			   " tid=?2 AND key=?3",
	/* An upsert, not INSERT OR REPLACE: the update fires the trigger
	 * that keeps site_usage right (schema/005), a replace's delete
	 * would not. */
	[ST_BLOCK_ADD] = "INSERT INTO live_blocks (serial, proc_id, pid, tid,"
			 " addr, size, ts, site, stack_id)"
			 " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)"
			 " ON CONFLICT(serial) DO UPDATE SET proc_id=?2, pid=?3,"
			 " tid=?4, addr=?5, size=?6, ts=?7, site=?8,"
			 " stack_id=?9",
	[ST_BLOCK_DEL] = "DELETE FROM live_blocks WHERE serial=?1",
	[ST_FINDING] =
		"INSERT INTO findings (id, kind, proc_id, pid, tid, key,"
		" generation, alloc_tid, block, addr, size, site, alloc_ts,"
		" trigger_ts, found_ts, stack_id, severity, count, bytes,"
		" threads, first_ts, last_ts, detail)"
		" VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,"
		" ?16,?17,?18,?19,?20,?21,?22,?23)"
		" ON CONFLICT(id) DO UPDATE SET kind=?2, tid=?5, alloc_tid=?8,"
		" block=?9, addr=?10, size=?11, site=?12, alloc_ts=?13,"
		" trigger_ts=?14, found_ts=?15, stack_id=?16, severity=?17,"
		" count=?18, bytes=?19, threads=?20, first_ts=?21, last_ts=?22,"
		" detail=?23",
	[ST_SITE] = "INSERT INTO sites (proc_id, ip, module, function, offset,"
		    " file, line) VALUES (?1,?2,?3,?4,?5,?6,?7)"
		    " ON CONFLICT(proc_id, ip) DO UPDATE SET module=?3,"
		    " function=?4, offset=?5, file=?6, line=?7",
	[ST_HAS_SITE] = "SELECT 1 FROM sites WHERE proc_id=?1 AND ip=?2",
	[ST_STACK] = "INSERT OR REPLACE INTO stacks (id, proc_id, pid, flags,"
		     " nframes, frames) VALUES (?1,?2,?3,?4,?5,?6)",
};

/* The highest serial the rows hold: the one store__next_serial starts
 * above, and the floor retention records before it removes rows. */
#define MAX_SERIAL_SQL                                                         \
	"max(coalesce((SELECT max(id) FROM processes),0),"                    \
	" coalesce((SELECT max(serial) FROM live_blocks),0),"                 \
	" coalesce((SELECT max(id) FROM findings),0),"                        \
	" coalesce((SELECT max(id) FROM stacks),0))"

/*
 * Retention's statements (store__prune_process), bound with ?1 the
 * process and ?2 the rows a statement may still delete. Each deletes
 * through a LIMITed subquery on an index led by proc_id, so a step costs
 * what it deletes, however big the tables are. live_blocks rows go by
 * DELETE, so that the triggers of schema/005 keep site_usage right.
 */
enum {
	PR_FLOOR,
	PR_BINDINGS,
	PR_BLOCKS,
	PR_KEYS,
	PR_THREADS,
	PR_STACKS_UNUSED,
	PR_SITES_UNUSED,
	PR_FINDINGS,
	PR_STACKS,
	PR_SITES,
	PR_MARK,
	PR_PROCESS,
	PR_CANDIDATE,
	PR_MAX,
};

static const char *const prune_sql[PR_MAX] = {
	[PR_FLOOR] = "INSERT INTO meta (name, value) SELECT 'serial_floor',"
		     MAX_SERIAL_SQL " WHERE true ON CONFLICT(name) DO UPDATE"
		     " SET value = max(value, excluded.value)",
	[PR_BINDINGS] = "DELETE FROM tls_bindings WHERE proc_id = ?1 AND"
			" (tid, key) IN (SELECT tid, key FROM tls_bindings"
			" WHERE proc_id = ?1 LIMIT ?2)",
	/* In the order of live_blocks_site, which needs no sort: a site's
	 * blocks by time, so mostly by serial, the table's own order.
	 * Deleting in the order of another index (by size, or by thread)
	 * dirties a table page per row: measured 2 to 3 times slower. */
	[PR_BLOCKS] = "DELETE FROM live_blocks WHERE serial IN (SELECT serial"
		      " FROM live_blocks WHERE proc_id = ?1 ORDER BY site, ts"
		      " LIMIT ?2)",
	[PR_KEYS] = "DELETE FROM keys WHERE proc_id = ?1 AND (key, generation)"
		    " IN (SELECT key, generation FROM keys WHERE proc_id = ?1"
		    " LIMIT ?2)",
	[PR_THREADS] = "DELETE FROM threads WHERE proc_id = ?1 AND"
		       " (tid, start_ts) IN (SELECT tid, start_ts FROM threads"
		       " WHERE proc_id = ?1 LIMIT ?2)",
	/* The stacks no finding of the process names. */
	[PR_STACKS_UNUSED] =
		"DELETE FROM stacks WHERE id IN (SELECT id FROM stacks"
		" WHERE proc_id = ?1 AND id NOT IN (SELECT stack_id FROM"
		" findings WHERE proc_id = ?1) LIMIT ?2)",
	/* The sites neither a finding's site nor a frame of a finding's
	 * stack: frames are stored as hex text (frames_text), which
	 * printf('%x') writes the same way. */
	[PR_SITES_UNUSED] =
		"WITH RECURSIVE f(rest, hex) AS (SELECT frames || ' ', ''"
		" FROM stacks WHERE proc_id = ?1 AND id IN (SELECT stack_id"
		" FROM findings WHERE proc_id = ?1) UNION ALL SELECT"
		" substr(rest, instr(rest, ' ') + 1), substr(rest, 1,"
		" instr(rest, ' ') - 1) FROM f WHERE rest != '')"
		" DELETE FROM sites WHERE proc_id = ?1 AND ip IN (SELECT ip"
		" FROM sites WHERE proc_id = ?1 AND ip NOT IN (SELECT site"
		" FROM findings WHERE proc_id = ?1) AND printf('%x', ip)"
		" NOT IN (SELECT hex FROM f) LIMIT ?2)",
	[PR_FINDINGS] = "DELETE FROM findings WHERE id IN (SELECT id FROM"
			" findings WHERE proc_id = ?1 LIMIT ?2)",
	[PR_STACKS] = "DELETE FROM stacks WHERE id IN (SELECT id FROM stacks"
		      " WHERE proc_id = ?1 LIMIT ?2)",
	[PR_SITES] = "DELETE FROM sites WHERE proc_id = ?1 AND ip IN (SELECT"
		     " ip FROM sites WHERE proc_id = ?1 LIMIT ?2)",
	[PR_MARK] = "UPDATE processes SET pruned_ts = ?2 WHERE id = ?1",
	[PR_PROCESS] = "DELETE FROM processes WHERE id = ?1",
	/* ?1 ended before, ?2 1: raw rows not removed yet, ?3 the state
	 * of processes still traced, which are never candidates (the
	 * daemon also skips those it still holds). */
	[PR_CANDIDATE] = "SELECT id FROM processes WHERE state != ?3 AND"
			 " end_ts < ?1 AND (?2 = 0 OR pruned_ts = 0)"
			 " ORDER BY end_ts, id LIMIT 64",
};

struct store {
	sqlite3 *db;
	int rdonly;
	int64_t version;	/* user_version once open */
	sqlite3_stmt *st[ST_MAX];
	sqlite3_stmt *prune[PR_MAX]; /* retention's, prepared on first use */
	dev_t dev;		     /* the writer's file, to notice it gone */
	ino_t ino;
};

/* SQLite result codes to the errnos store.h promises. */
static int errno_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_FORMAT:
		return -EBADMSG;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_ERROR:
		/* "no such table": a SQLite file, but not ours. */
		return -EBADMSG;
	}
	return -EIO;
}

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

static int exec_sql(sqlite3 *db, const char *sql)
{
	return errno_of(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/* A pragma or query that returns one integer. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	/* Written on every path, failures included. */
	*out = 0;
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return errno_of(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		*out = 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : errno_of(rc);
}

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
	for (int i = 0; i < ST_MAX; i++) {
		rc = sqlite3_prepare_v3(s->db, write_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
		if (rc != SQLITE_OK) {
			err = errno_of(rc);
			goto fail;
		}
	}
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
	sqlite3_close(s->db);
	free(s);
}

int store__begin(struct store *s)
{
	return exec_sql(s->db, "BEGIN IMMEDIATE");
}

int store__commit(struct store *s)
{
	return exec_sql(s->db, "COMMIT");
}

int store__rollback(struct store *s)
{
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

/* Bind 64-bit values in order from ?1; run a prepared write. */
static void bind_u64s(sqlite3_stmt *st, const uint64_t *v, int n)
{
	for (int i = 0; i < n; i++)
		sqlite3_bind_int64(st, i + 1, (int64_t)v[i]);
}

static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return errno_of(rc);
}

int store__put_process(struct store *s, const struct mw_process_row *r)
{
	sqlite3_stmt *st = s->st[ST_PROCESS];
	const uint64_t v[] = {r->id, r->pid, r->state};
	const uint64_t w[] = {r->start_ts, r->end_ts, (uint64_t)(int64_t)r->exit_code,
			      r->threads, r->allocs, r->frees,
			      r->live_blocks, r->live_bytes, r->unknown_frees,
			      r->lost, r->findings, r->mode};

	bind_u64s(st, v, 3);
	sqlite3_bind_text(st, 4, r->comm, -1, SQLITE_TRANSIENT);
	for (int i = 0; i < 12; i++)
		sqlite3_bind_int64(st, 5 + i, (int64_t)w[i]);
	sqlite3_bind_text(st, 17, r->allocator, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 18, r->nspid);
	sqlite3_bind_text(st, 19, r->cgroup, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 20, (int64_t)r->dropped);
	sqlite3_bind_int64(st, 21, (int64_t)r->incomplete_from);
	sqlite3_bind_int64(st, 22, (int64_t)r->incomplete_to);
	sqlite3_bind_int64(st, 23, (int64_t)r->withheld);
	return run(st);
}

int store__put_thread(struct store *s, const struct mw_thread_row *r)
{
	sqlite3_stmt *st = s->st[ST_THREAD];
	const uint64_t v[] = {r->proc_id, r->tid, r->pid, r->state};
	const uint64_t w[] = {r->start_ts, r->exit_ts, r->allocs, r->frees,
			      r->alloc_bytes, r->free_bytes, r->cross_frees,
			      r->unknown_frees, r->live_blocks, r->live_bytes};

	bind_u64s(st, v, 4);
	sqlite3_bind_text(st, 5, r->comm, -1, SQLITE_TRANSIENT);
	for (int i = 0; i < 10; i++)
		sqlite3_bind_int64(st, 6 + i, (int64_t)w[i]);
	return run(st);
}

int store__put_key(struct store *s, const struct mw_key_row *r)
{
	const uint64_t v[] = {r->proc_id,   r->key,	   r->generation,
			      r->pid,	    r->state,	   r->create_tid,
			      r->destructor, r->create_ts, r->delete_ts,
			      r->bindings};

	bind_u64s(s->st[ST_KEY], v, 10);
	return run(s->st[ST_KEY]);
}

int store__put_binding(struct store *s, const struct mw_binding_row *r)
{
	if (!r->value) {
		const uint64_t v[] = {r->proc_id, r->tid, r->key};

		bind_u64s(s->st[ST_BINDING_DEL], v, 3);
		return run(s->st[ST_BINDING_DEL]);
	}
	const uint64_t v[] = {r->proc_id, r->tid,   r->key,
			      r->generation, r->pid, r->value,
			      r->block,	     r->size, r->set_ts};

	bind_u64s(s->st[ST_BINDING_PUT], v, 9);
	return run(s->st[ST_BINDING_PUT]);
}

int store__add_block(struct store *s, const struct mw_block_row *r)
{
	const uint64_t v[] = {r->serial, r->proc_id, r->pid,
			      r->tid,	 r->addr,    r->size,
			      r->ts,	 r->site,    r->stack_id};

	bind_u64s(s->st[ST_BLOCK_ADD], v, 9);
	return run(s->st[ST_BLOCK_ADD]);
}

int store__del_block(struct store *s, uint64_t serial)
{
	bind_u64s(s->st[ST_BLOCK_DEL], &serial, 1);
	return run(s->st[ST_BLOCK_DEL]);
}

int store__put_finding(struct store *s, const struct mw_finding_row *r)
{
	const uint64_t v[] = {r->id,	    r->kind,	   r->proc_id,
			      r->pid,	    r->tid,	   r->key,
			      r->generation, r->alloc_tid, r->block,
			      r->addr,	    r->size,	   r->site,
			      r->alloc_ts,  r->trigger_ts, r->found_ts,
			      r->stack_id,  r->severity,   r->count,
			      r->bytes,	    r->threads,	   r->first_ts,
			      r->last_ts};
	sqlite3_stmt *st = s->st[ST_FINDING];

	bind_u64s(st, v, 22);
	sqlite3_bind_text(st, 23, r->detail, -1, SQLITE_TRANSIENT);
	return run(st);
}

/* frames as stored: lower-case hex, space-separated. */
static void frames_text(char *buf, size_t len, const uint64_t *frames,
			uint32_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%llx", i ? " " : "",
				      (unsigned long long)frames[i]);
}

int store__put_stack(struct store *s, const struct mw_stack_row *r)
{
	char text[MW_EV_MAX_FRAMES * 17 + 1];
	uint32_t n = r->nframes < MW_EV_MAX_FRAMES ? r->nframes
						   : MW_EV_MAX_FRAMES;
	const uint64_t v[] = {r->id, r->proc_id, r->pid, r->flags, n};
	sqlite3_stmt *st = s->st[ST_STACK];

	frames_text(text, sizeof(text), r->frames, n);
	bind_u64s(st, v, 5);
	sqlite3_bind_text(st, 6, text, -1, SQLITE_TRANSIENT);
	return run(st);
}

int store__put_site(struct store *s, const struct mw_site_row *r)
{
	sqlite3_stmt *st = s->st[ST_SITE];

	sqlite3_bind_int64(st, 1, (int64_t)r->proc_id);
	sqlite3_bind_int64(st, 2, (int64_t)r->ip);
	sqlite3_bind_text(st, 3, r->module, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, r->function, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (int64_t)r->offset);
	sqlite3_bind_text(st, 6, r->file, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, r->line);
	return run(st);
}

int store__has_site(struct store *s, uint64_t proc_id, uint64_t ip)
{
	sqlite3_stmt *st = s->st[ST_HAS_SITE];
	const uint64_t v[] = {proc_id, ip};
	int rc;

	bind_u64s(st, v, 2);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : errno_of(rc);
}

/* --- readers -------------------------------------------------------- */

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	return (uint64_t)sqlite3_column_int64(st, i);
}

static void col_str(sqlite3_stmt *st, int i, char *dst, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/*
 * Prepare a reader. Filters are bound by name (:pid, :kind, :since,
 * :limit) so each query writes "(:pid = 0 OR pid = :pid)" once.
 */
static int prepare_read(struct store *s, const char *sql,
			const struct store_filter *f, sqlite3_stmt **out)
{
	static const struct store_filter none;
	sqlite3_stmt *st;
	int rc, i;

	/* Written on every path: NULL, which sqlite3_finalize takes, if
	 * there is no statement. */
	*out = NULL;
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return errno_of(rc);
	if (!f)
		f = &none;
	if ((i = sqlite3_bind_parameter_index(st, ":pid")))
		sqlite3_bind_int64(st, i, f->pid);
	if ((i = sqlite3_bind_parameter_index(st, ":kind")))
		sqlite3_bind_int64(st, i, f->kind);
	if ((i = sqlite3_bind_parameter_index(st, ":since")))
		sqlite3_bind_int64(st, i, (int64_t)f->since);
	if ((i = sqlite3_bind_parameter_index(st, ":severity")))
		sqlite3_bind_int64(st, i, f->severity);
	if ((i = sqlite3_bind_parameter_index(st, ":id")))
		sqlite3_bind_int64(st, i, (int64_t)f->id);
	if ((i = sqlite3_bind_parameter_index(st, ":limit")))
		sqlite3_bind_int64(st, i, f->limit ? (int64_t)f->limit : -1);
	*out = st;
	return 0;
}

/* Step a reader to its end; row_cb turns the current row into a
 * callback. A callback's non-zero return stops the walk and is
 * returned. */
static int walk(sqlite3_stmt *st, int (*row_cb)(sqlite3_stmt *, void *),
		void *arg)
{
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((ret = row_cb(st, arg)))
			break;
	if (!ret && rc != SQLITE_DONE)
		ret = errno_of(rc);
	sqlite3_finalize(st);
	return ret;
}

struct walk_ctx {
	void *cb;
	void *ctx;
};

/* The columns process_row reads, in its order. */
#define PROCESS_COLS                                                           \
	" id, pid, state, comm, start_ts, end_ts, exit_code, threads,"       \
	" allocs, frees, live_blocks, live_bytes, unknown_frees, lost,"      \
	" findings, mode, allocator, nspid, cgroup, dropped,"                 \
	" incomplete_from, incomplete_to, withheld "
/* The same from a database older than 008_incomplete.sql, read-only. */
#define PROCESS_COLS_V7                                                        \
	" id, pid, state, comm, start_ts, end_ts, exit_code, threads,"       \
	" allocs, frees, live_blocks, live_bytes, unknown_frees, lost,"      \
	" findings, mode, allocator, nspid, cgroup, 0, 0, 0, 0 "

static int process_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct mw_process_row *) = w->cb;
	struct mw_process_row r = {0};

	r.id = col_u64(st, 0);
	r.pid = (uint32_t)col_u64(st, 1);
	r.state = (uint32_t)col_u64(st, 2);
	col_str(st, 3, r.comm, sizeof(r.comm));
	r.start_ts = col_u64(st, 4);
	r.end_ts = col_u64(st, 5);
	r.exit_code = (int32_t)sqlite3_column_int64(st, 6);
	r.threads = (uint32_t)col_u64(st, 7);
	r.allocs = col_u64(st, 8);
	r.frees = col_u64(st, 9);
	r.live_blocks = col_u64(st, 10);
	r.live_bytes = col_u64(st, 11);
	r.unknown_frees = col_u64(st, 12);
	r.lost = col_u64(st, 13);
	r.findings = col_u64(st, 14);
	r.mode = (uint32_t)col_u64(st, 15);
	col_str(st, 16, r.allocator, sizeof(r.allocator));
	r.nspid = (uint32_t)col_u64(st, 17);
	col_str(st, 18, r.cgroup, sizeof(r.cgroup));
	r.dropped = col_u64(st, 19);
	r.incomplete_from = col_u64(st, 20);
	r.incomplete_to = col_u64(st, 21);
	r.withheld = col_u64(st, 22);
	return cb(w->ctx, &r);
}

int store__each_process(struct store *s, const struct store_filter *f,
			int (*cb)(void *ctx, const struct mw_process_row *r),
			void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_read(
		s,
		s->version < SCHEMA_INCOMPLETE
			? "SELECT" PROCESS_COLS_V7 "FROM processes"
			  " WHERE (:pid = 0 OR pid = :pid) ORDER BY id"
			  " LIMIT :limit"
			: "SELECT" PROCESS_COLS "FROM processes"
			  " WHERE (:pid = 0 OR pid = :pid) ORDER BY id"
			  " LIMIT :limit",
		f, &st);

	return err ? err : walk(st, process_row, &w);
}

static int thread_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct mw_thread_row *) = w->cb;
	struct mw_thread_row r = {0};

	r.proc_id = col_u64(st, 0);
	r.tid = (uint32_t)col_u64(st, 1);
	r.pid = (uint32_t)col_u64(st, 2);
	r.state = (uint32_t)col_u64(st, 3);
	col_str(st, 4, r.comm, sizeof(r.comm));
	r.start_ts = col_u64(st, 5);
	r.exit_ts = col_u64(st, 6);
	r.allocs = col_u64(st, 7);
	r.frees = col_u64(st, 8);
	r.alloc_bytes = col_u64(st, 9);
	r.free_bytes = col_u64(st, 10);
	r.cross_frees = col_u64(st, 11);
	r.unknown_frees = col_u64(st, 12);
	r.live_blocks = col_u64(st, 13);
	r.live_bytes = col_u64(st, 14);
	return cb(w->ctx, &r);
}

int store__each_thread(struct store *s, const struct store_filter *f,
		       int (*cb)(void *ctx, const struct mw_thread_row *r),
		       void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_read(
		s,
		"SELECT proc_id, tid, pid, state, comm, start_ts, exit_ts,"
		" allocs, frees, alloc_bytes, free_bytes, cross_frees,"
		" unknown_frees, live_blocks, live_bytes FROM threads"
		" WHERE (:pid = 0 OR pid = :pid)"
		" ORDER BY proc_id, tid, start_ts LIMIT :limit",
		f, &st);

	return err ? err : walk(st, thread_row, &w);
}

static int key_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct mw_key_row *) = w->cb;
	struct mw_key_row r = {0};

	r.proc_id = col_u64(st, 0);
	r.key = (uint32_t)col_u64(st, 1);
	r.generation = (uint32_t)col_u64(st, 2);
	r.pid = (uint32_t)col_u64(st, 3);
	r.state = (uint32_t)col_u64(st, 4);
	r.create_tid = (uint32_t)col_u64(st, 5);
	r.destructor = col_u64(st, 6);
	r.create_ts = col_u64(st, 7);
	r.delete_ts = col_u64(st, 8);
	r.bindings = col_u64(st, 9);
	return cb(w->ctx, &r);
}

int store__each_key(struct store *s, const struct store_filter *f,
		    int (*cb)(void *ctx, const struct mw_key_row *r),
		    void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_read(
		s,
		"SELECT proc_id, key, generation, pid, state, create_tid,"
		" destructor, create_ts, delete_ts, bindings FROM keys"
		" WHERE (:pid = 0 OR pid = :pid)"
		" ORDER BY proc_id, key, generation LIMIT :limit",
		f, &st);

	return err ? err : walk(st, key_row, &w);
}

/* Columns SITE_COLS of a LEFT JOIN on sites, at index i. */
#define SITE_COLS                                                              \
	" s.ip IS NOT NULL, s.module, s.function, s.offset, s.file, s.line"

static const struct mw_site_row *site_cols(sqlite3_stmt *st, int i,
					   uint64_t proc_id, uint64_t ip,
					   struct mw_site_row *site)
{
	if (!sqlite3_column_int(st, i))
		return NULL;
	memset(site, 0, sizeof(*site));
	site->proc_id = proc_id;
	site->ip = ip;
	col_str(st, i + 1, site->module, sizeof(site->module));
	col_str(st, i + 2, site->function, sizeof(site->function));
	site->offset = col_u64(st, i + 3);
	col_str(st, i + 4, site->file, sizeof(site->file));
	site->line = (uint32_t)col_u64(st, i + 5);
	return site;
}

static int block_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct mw_block_row *,
		  const struct mw_site_row *) = w->cb;
	struct mw_block_row r = {0};
	struct mw_site_row site;

	r.serial = col_u64(st, 0);
	r.proc_id = col_u64(st, 1);
	r.pid = (uint32_t)col_u64(st, 2);
	r.tid = (uint32_t)col_u64(st, 3);
	r.addr = col_u64(st, 4);
	r.size = col_u64(st, 5);
	r.ts = col_u64(st, 6);
	r.site = col_u64(st, 7);
	r.stack_id = col_u64(st, 8);
	return cb(w->ctx, &r, site_cols(st, 9, r.proc_id, r.site, &site));
}

#define BLOCK_COLS                                                             \
	" b.serial, b.proc_id, b.pid, b.tid, b.addr, b.size, b.ts, b.site,"    \
	" b.stack_id,"

/* Counts the rows a walk handed over, for a limit across several. */
struct count_ctx {
	struct walk_ctx w;
	uint64_t n;
};

static int block_row_counted(sqlite3_stmt *st, void *arg)
{
	struct count_ctx *c = arg;

	c->n++;
	return block_row(st, &c->w);
}

/*
 * Every block, largest first, in the order of live_blocks_size
 * (schema/005), no sort. With a pid: its processes (a pid is reused),
 * newest first, each one's blocks largest first in the order of
 * live_blocks_proc_size (schema/007): one process at a time, as an IN
 * over several would sort all their blocks before the first row.
 */
int store__each_block(struct store *s, const struct store_filter *f,
		      int (*cb)(void *ctx, const struct mw_block_row *r,
				const struct mw_site_row *site),
		      void *ctx)
{
	struct count_ctx c = {{(void *)cb, ctx}, 0};
	struct store_filter one;
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int err, rc;

	if (!f || !f->pid) {
		err = prepare_read(s,
				   "SELECT" BLOCK_COLS SITE_COLS
				   " FROM live_blocks b"
				   " LEFT JOIN sites s ON s.proc_id = b.proc_id"
				   " AND s.ip = b.site"
				   " ORDER BY b.size DESC, b.serial LIMIT :limit",
				   f, &st);
		return err ? err : walk(st, block_row, &c.w);
	}
	err = prepare_read(s,
			   "SELECT id FROM processes WHERE pid = :pid"
			   " ORDER BY id DESC",
			   f, &st);
	if (err)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			uint64_t *nids = realloc(ids, ncap * sizeof(*nids));

			if (!nids) {
				err = -ENOMEM;
				break;
			}
			ids = nids;
			cap = ncap;
		}
		ids[n++] = col_u64(st, 0);
	}
	if (!err && rc != SQLITE_DONE)
		err = errno_of(rc);
	sqlite3_finalize(st);
	for (size_t i = 0; !err && i < n; i++) {
		one = *f;
		one.id = ids[i];
		if (f->limit) {
			if (c.n >= f->limit)
				break;
			one.limit = f->limit - c.n;
		}
		err = prepare_read(s,
				   "SELECT" BLOCK_COLS SITE_COLS
				   " FROM live_blocks b"
				   " LEFT JOIN sites s ON s.proc_id = b.proc_id"
				   " AND s.ip = b.site WHERE b.proc_id = :id"
				   " ORDER BY b.size DESC, b.serial LIMIT :limit",
				   &one, &st);
		if (!err)
			err = walk(st, block_row_counted, &c);
	}
	free(ids);
	return err;
}

static int finding_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct mw_finding_row *,
		  const struct mw_site_row *) = w->cb;
	struct mw_finding_row r = {0};
	struct mw_site_row site;

	r.id = col_u64(st, 0);
	r.kind = (uint32_t)col_u64(st, 1);
	r.proc_id = col_u64(st, 2);
	r.pid = (uint32_t)col_u64(st, 3);
	r.tid = (uint32_t)col_u64(st, 4);
	r.key = (uint32_t)col_u64(st, 5);
	r.generation = (uint32_t)col_u64(st, 6);
	r.alloc_tid = (uint32_t)col_u64(st, 7);
	r.block = col_u64(st, 8);
	r.addr = col_u64(st, 9);
	r.size = col_u64(st, 10);
	r.site = col_u64(st, 11);
	r.alloc_ts = col_u64(st, 12);
	r.trigger_ts = col_u64(st, 13);
	r.found_ts = col_u64(st, 14);
	r.stack_id = col_u64(st, 15);
	r.severity = (uint32_t)col_u64(st, 16);
	r.count = col_u64(st, 17);
	r.bytes = col_u64(st, 18);
	r.threads = (uint32_t)col_u64(st, 19);
	r.first_ts = col_u64(st, 20);
	r.last_ts = col_u64(st, 21);
	col_str(st, 22, r.detail, sizeof(r.detail));
	return cb(w->ctx, &r, site_cols(st, 23, r.proc_id, r.site, &site));
}

int store__each_finding(struct store *s, const struct store_filter *f,
			int (*cb)(void *ctx, const struct mw_finding_row *r,
				  const struct mw_site_row *site),
			void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_read(
		s,
		"SELECT f.id, f.kind, f.proc_id, f.pid, f.tid, f.key,"
		" f.generation, f.alloc_tid, f.block, f.addr, f.size, f.site,"
		" f.alloc_ts, f.trigger_ts, f.found_ts, f.stack_id,"
		" f.severity, f.count, f.bytes, f.threads, f.first_ts,"
		" f.last_ts, f.detail," SITE_COLS
		" FROM findings f"
		" LEFT JOIN sites s ON s.proc_id = f.proc_id AND s.ip = f.site"
		" WHERE (:pid = 0 OR f.pid = :pid)"
		" AND (:kind = 0 OR f.kind = :kind) AND f.last_ts >= :since"
		" AND f.severity >= :severity AND (:id = 0 OR f.id = :id)"
		" ORDER BY f.id LIMIT :limit",
		f, &st);

	return err ? err : walk(st, finding_row, &w);
}

/* Append the frames of stacks.frames (as frames_text wrote them) to r. */
static void parse_frames(struct mw_stack_row *r, const char *p)
{
	while (p && *p && r->nframes < MW_EV_MAX_FRAMES) {
		char *end;
		unsigned long long v = strtoull(p, &end, 16);

		if (end == p)
			break;
		r->frames[r->nframes++] = v;
		p = end;
	}
}

int store__get_stack(struct store *s, uint64_t id, struct mw_stack_row *r)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db,
				    "SELECT proc_id, pid, flags, frames FROM"
				    " stacks WHERE id = ?1",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return errno_of(rc);
	sqlite3_bind_int64(st, 1, (int64_t)id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? -ENOENT : errno_of(rc);
	}
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->proc_id = col_u64(st, 0);
	r->pid = (uint32_t)col_u64(st, 1);
	r->flags = (uint32_t)col_u64(st, 2);
	parse_frames(r, (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	return 0;
}

int store__get_site(struct store *s, uint64_t proc_id, uint64_t ip,
		    struct mw_site_row *r)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db,
				    "SELECT 1," SITE_COLS " FROM sites s"
				    " WHERE s.proc_id = ?1 AND s.ip = ?2",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return errno_of(rc);
	sqlite3_bind_int64(st, 1, (int64_t)proc_id);
	sqlite3_bind_int64(st, 2, (int64_t)ip);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		site_cols(st, 1, proc_id, ip, r);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : errno_of(rc);
}


/* --- queries for memwatchctl top and thread ------------------------------ */

static int copy_process(void *ctx, const struct mw_process_row *r)
{
	*(struct mw_process_row *)ctx = *r;
	return 1;
}

int store__get_process(struct store *s, uint64_t proc_id,
		       struct mw_process_row *r)
{
	struct walk_ctx w = {(void *)copy_process, r};
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(
		s->db,
		s->version < SCHEMA_INCOMPLETE
			? "SELECT" PROCESS_COLS_V7 "FROM processes WHERE id = ?1"
			: "SELECT" PROCESS_COLS "FROM processes WHERE id = ?1",
		-1, &st, NULL);

	if (rc != SQLITE_OK)
		return errno_of(rc);
	sqlite3_bind_int64(st, 1, (int64_t)proc_id);
	rc = walk(st, process_row, &w);
	if (rc == 1)
		return 0;
	return rc ? rc : -ENOENT;
}

static void bind_named(sqlite3_stmt *st, const char *name, int64_t v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i)
		sqlite3_bind_int64(st, i, v);
}

static int site_usage_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct store_site_usage *,
		  const struct mw_site_row *) = w->cb;
	struct store_site_usage u = {0};
	struct mw_site_row site;

	u.proc_id = col_u64(st, 0);
	u.site = col_u64(st, 1);
	u.pid = (uint32_t)col_u64(st, 2);
	u.tid = (uint32_t)col_u64(st, 3);
	u.blocks = col_u64(st, 4);
	u.bytes = col_u64(st, 5);
	u.oldest_ts = col_u64(st, 6);
	u.ref_ts = col_u64(st, 7);
	u.threads = col_u64(st, 8);
	u.new_bytes = col_u64(st, 9);
	u.prev_bytes = col_u64(st, 10);
	return cb(w->ctx, &u, site_cols(st, 11, u.proc_id, u.site, &site));
}

/*
 * top. The ranking reads site_usage, or site_thread_usage per thread:
 * what the triggers of schema/005 keep equal to live_blocks summed by
 * (proc_id, site, pid) and (proc_id, site, tid, pid), a few thousand
 * rows instead of every block. Only the rows the limit keeps then read
 * live_blocks, through live_blocks_site: their oldest block, and their
 * bytes of the last two windows (the blocks of the last 2 windows only).
 * ref is the moment ages and windows are measured from: the process's
 * end once tracing stopped (a post-mortem "last 10 s" means the last
 * 10 s it was traced), else :now. npids is how many pids the group's
 * blocks carry, whatever --pid: 1 but for a (proc_id, site) whose blocks
 * disagree on their pid, which memwatchd never writes (a block has its
 * process's pid); such a group is still counted exactly, its threads
 * counted again and its blocks filtered by pid. Sort keys and filters
 * are bound, no SQL is built from options.
 */
#define TOP_ORDER(r)                                                           \
	" ORDER BY CASE WHEN :by_blocks THEN " r "nblocks ELSE " r "nbytes"    \
	" END DESC, " r "nbytes DESC, " r "nblocks DESC, " r "proc_id, " r     \
	"gtid, " r "site"

/* The blocks of the group r; and of its thread r.gtid per thread. */
#define TOP_BLOCKS(per_thread)                                                 \
	" FROM live_blocks b WHERE b.proc_id = r.proc_id AND b.site = r.site" \
	" AND (r.npids = 1 OR :pid = 0 OR b.pid = :pid)"                       \
	per_thread

#define TOP_DETAIL(per_thread, threads)                                        \
	" SELECT r.proc_id, r.site, r.pid, r.gtid, r.nblocks, r.nbytes,"       \
	" (SELECT min(b.ts)" TOP_BLOCKS(per_thread) "), r.ref, " threads ","   \
	" (SELECT coalesce(sum(b.size), 0)" TOP_BLOCKS(per_thread)             \
	" AND b.ts > r.ref - :window),"                                        \
	" (SELECT coalesce(sum(b.size), 0)" TOP_BLOCKS(per_thread)             \
	" AND b.ts > r.ref - 2 * :window AND b.ts <= r.ref - :window),"        \
	SITE_COLS " FROM (SELECT u.*, coalesce((SELECT CASE WHEN"              \
	" coalesce(p.end_ts, 0) > 0 THEN p.end_ts ELSE :now END FROM"          \
	" processes p WHERE p.id = u.proc_id), :now) AS ref FROM u) r"         \
	" LEFT JOIN sites s ON s.proc_id = r.proc_id AND s.ip = r.site"

/*
 * The same from the blocks alone, for a database older than schema 005
 * that memwatchd has not migrated yet (memwatchctl never writes): one
 * statement for both rankings and both groupings, the group key and the
 * sort key CASE expressions on bound flags. It reads and sorts every
 * block: seconds on millions of them.
 */
static const char top_sql_v4[] =
	"SELECT b.proc_id, b.site, min(b.pid),"
	" CASE WHEN :per_thread THEN b.tid ELSE 0 END AS gtid,"
	" count(*) AS nblocks, sum(b.size) AS nbytes, min(b.ts),"
	" max(b.ref), count(DISTINCT b.tid),"
	" sum(CASE WHEN b.ts > b.ref - :window THEN b.size ELSE 0 END),"
	" sum(CASE WHEN b.ts > b.ref - 2 * :window"
	" AND b.ts <= b.ref - :window THEN b.size ELSE 0 END),"
	SITE_COLS
	" FROM (SELECT lb.proc_id, lb.pid, lb.tid, lb.size, lb.ts,"
	" lb.site, CASE WHEN coalesce(p.end_ts, 0) > 0 THEN p.end_ts"
	" ELSE :now END AS ref FROM live_blocks lb"
	" LEFT JOIN processes p ON p.id = lb.proc_id"
	" WHERE (:pid = 0 OR lb.pid = :pid)) b"
	" LEFT JOIN sites s ON s.proc_id = b.proc_id AND s.ip = b.site"
	" GROUP BY b.proc_id, b.site, gtid"
	" ORDER BY CASE WHEN :by_blocks THEN nblocks ELSE nbytes END"
	" DESC, nbytes DESC, nblocks DESC, b.proc_id, gtid, b.site"
	" LIMIT :limit";

static const char *const top_sql[2] = {
	/* One row per site of each process. */
	"WITH u AS (SELECT proc_id, site, min(pid) AS pid, 0 AS gtid,"
	" CASE WHEN :pid = 0 THEN count(*) ELSE (SELECT count(*) FROM"
	" site_usage x WHERE x.proc_id = site_usage.proc_id"
	" AND x.site = site_usage.site) END AS npids,"
	" sum(blocks) AS nblocks, sum(bytes) AS nbytes,"
	" sum(threads) AS nthreads FROM site_usage"
	" WHERE (:pid = 0 OR pid = :pid) GROUP BY proc_id, site"
	TOP_ORDER("") " LIMIT :limit)"
	TOP_DETAIL("", "CASE WHEN r.npids = 1 THEN r.nthreads ELSE"
		       " (SELECT count(DISTINCT t.tid) FROM site_thread_usage t"
		       " WHERE t.proc_id = r.proc_id AND t.site = r.site"
		       " AND (:pid = 0 OR t.pid = :pid)) END")
	TOP_ORDER("r."),
	/* One row per (thread, site): one thread each. */
	"WITH u AS (SELECT proc_id, site, min(pid) AS pid, tid AS gtid,"
	" CASE WHEN :pid = 0 THEN count(*) ELSE (SELECT count(*) FROM"
	" site_thread_usage x WHERE x.proc_id = site_thread_usage.proc_id"
	" AND x.site = site_thread_usage.site"
	" AND x.tid = site_thread_usage.tid) END AS npids,"
	" sum(blocks) AS nblocks, sum(bytes) AS nbytes"
	" FROM site_thread_usage WHERE (:pid = 0 OR pid = :pid)"
	" GROUP BY proc_id, site, tid"
	TOP_ORDER("") " LIMIT :limit)"
	TOP_DETAIL(" AND b.tid = r.gtid", "1")
	TOP_ORDER("r."),
};

int store__each_site_usage(struct store *s, const struct store_filter *f,
			   const struct store_top *q,
			   int (*cb)(void *ctx,
				     const struct store_site_usage *u,
				     const struct mw_site_row *site),
			   void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_read(
		s,
		s->version < SCHEMA_SITE_USAGE ? top_sql_v4
			       : top_sql[!!(q->flags & STORE_TOP_PER_THREAD)],
		f, &st);

	if (err)
		return err;
	bind_named(st, ":per_thread", !!(q->flags & STORE_TOP_PER_THREAD));
	bind_named(st, ":by_blocks", !!(q->flags & STORE_TOP_BLOCKS));
	bind_named(st, ":now", (int64_t)q->now);
	bind_named(st, ":window", (int64_t)q->window);
	return walk(st, site_usage_row, &w);
}

int store__each_thread_tid(struct store *s, const struct store_filter *f,
			   uint32_t tid,
			   int (*cb)(void *ctx, const struct mw_thread_row *r),
			   void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_read(
		s,
		"SELECT proc_id, tid, pid, state, comm, start_ts, exit_ts,"
		" allocs, frees, alloc_bytes, free_bytes, cross_frees,"
		" unknown_frees, live_blocks, live_bytes FROM threads"
		" WHERE tid = :tid AND (:pid = 0 OR pid = :pid)"
		" ORDER BY start_ts DESC, proc_id DESC",
		f, &st);

	if (err)
		return err;
	bind_named(st, ":tid", tid);
	return walk(st, thread_row, &w);
}

/*
 * Bindings and blocks carry (proc_id, tid) but not the thread's start, so
 * when a process reused the tid they belong to the thread of that tid
 * that started last at or before their time. The first thread of a tid
 * also takes anything earlier than its start, so that a block is never
 * lost to none of them. ts_col is the time column; :proc, :tid, :start
 * are the thread's identity.
 */
#define SAME_THREAD(ts_col)                                                    \
	" proc_id = :proc AND tid = :tid AND " ts_col " >= (CASE WHEN EXISTS"  \
	" (SELECT 1 FROM threads t WHERE t.proc_id = :proc AND t.tid = :tid"   \
	" AND t.start_ts < :start) THEN :start ELSE 0 END) AND " ts_col " <"  \
	" coalesce((SELECT min(t.start_ts) FROM threads t WHERE"               \
	" t.proc_id = :proc AND t.tid = :tid AND t.start_ts > :start),"        \
	" 9223372036854775807)"

static void bind_thread(sqlite3_stmt *st, const struct mw_thread_row *t)
{
	bind_named(st, ":proc", (int64_t)t->proc_id);
	bind_named(st, ":tid", t->tid);
	bind_named(st, ":start", (int64_t)t->start_ts);
}

static int binding_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct mw_binding_row *) = w->cb;
	struct mw_binding_row r = {0};

	r.proc_id = col_u64(st, 0);
	r.tid = (uint32_t)col_u64(st, 1);
	r.key = (uint32_t)col_u64(st, 2);
	r.generation = (uint32_t)col_u64(st, 3);
	r.pid = (uint32_t)col_u64(st, 4);
	r.value = col_u64(st, 5);
	r.block = col_u64(st, 6);
	r.size = col_u64(st, 7);
	r.set_ts = col_u64(st, 8);
	return cb(w->ctx, &r);
}

int store__each_thread_binding(struct store *s, const struct mw_thread_row *t,
			       int (*cb)(void *ctx,
					 const struct mw_binding_row *r),
			       void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_read(
		s,
		"SELECT proc_id, tid, key, generation, pid, value, block, size,"
		" set_ts FROM tls_bindings WHERE" SAME_THREAD("set_ts")
		" ORDER BY key",
		NULL, &st);

	if (err)
		return err;
	bind_thread(st, t);
	return walk(st, binding_row, &w);
}

int store__each_thread_block(struct store *s, const struct store_filter *f,
			     const struct mw_thread_row *t,
			     int (*cb)(void *ctx, const struct mw_block_row *r,
				       const struct mw_site_row *site),
			     void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_read(
		s,
		"SELECT b.serial, b.proc_id, b.pid, b.tid, b.addr, b.size,"
		" b.ts, b.site, b.stack_id," SITE_COLS
		" FROM (SELECT * FROM live_blocks WHERE" SAME_THREAD("ts") ") b"
		" LEFT JOIN sites s ON s.proc_id = b.proc_id AND s.ip = b.site"
		" ORDER BY b.size DESC, b.serial LIMIT :limit",
		f, &st);

	if (err)
		return err;
	bind_thread(st, t);
	return walk(st, block_row, &w);
}

/* --- queries for memwatchctl export ------------------------------------- */

static int stack_usage_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct store_stack_usage *,
		  const struct mw_stack_row *) = w->cb;
	struct store_stack_usage u = {0};
	struct mw_stack_row stack;

	u.proc_id = col_u64(st, 0);
	u.pid = (uint32_t)col_u64(st, 1);
	u.stack_id = col_u64(st, 2);
	u.site = col_u64(st, 3);
	u.blocks = col_u64(st, 4);
	u.bytes = col_u64(st, 5);
	if (!sqlite3_column_int(st, 6))
		return cb(w->ctx, &u, NULL);
	memset(&stack, 0, sizeof(stack));
	stack.id = u.stack_id;
	stack.proc_id = u.proc_id;
	stack.pid = u.pid;
	stack.flags = (uint32_t)col_u64(st, 7);
	parse_frames(&stack, (const char *)sqlite3_column_text(st, 8));
	return cb(w->ctx, &u, &stack);
}

/* The groups of live_blocks by (process, stack, site), then their stack
 * row if stored. Grouping by site as well keeps a block without a stack
 * (stack_id 0) with the others of its site only. */
#define STACK_USAGE_SQL(where)                                                 \
	"SELECT g.proc_id, g.pid, g.stack_id, g.site, g.blocks, g.bytes,"      \
	" st.id IS NOT NULL, st.flags, st.frames FROM (SELECT proc_id, pid,"   \
	" stack_id, site, count(*) AS blocks, sum(size) AS bytes"              \
	" FROM live_blocks" where " GROUP BY proc_id, pid, stack_id, site) g"  \
	" LEFT JOIN stacks st ON st.id = g.stack_id"                           \
	" AND st.proc_id = g.proc_id AND g.stack_id != 0"                      \
	" ORDER BY g.bytes DESC, g.proc_id, g.stack_id, g.site"

/*
 * Every block is read once: export wants them all. With a pid, through
 * its processes' ids as store__each_block does, so that an index on
 * proc_id serves it.
 */
int store__each_stack_usage(struct store *s, const struct store_filter *f,
			    int (*cb)(void *ctx,
				      const struct store_stack_usage *u,
				      const struct mw_stack_row *stack),
			    void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_read(
		s,
		f && f->pid
			? STACK_USAGE_SQL(" WHERE proc_id IN (SELECT id FROM"
					  " processes WHERE pid = :pid)"
					  " AND pid = :pid")
			: STACK_USAGE_SQL(""),
		f, &st);

	return err ? err : walk(st, stack_usage_row, &w);
}

/* --- retention ------------------------------------------------------------ */

uint64_t store_pruned__sum(const struct store_pruned *n)
{
	return n->bindings + n->blocks + n->keys + n->threads + n->stacks +
	       n->sites + n->findings + n->processes;
}

void store_pruned__add(struct store_pruned *to, const struct store_pruned *n)
{
	to->bindings += n->bindings;
	to->blocks += n->blocks;
	to->keys += n->keys;
	to->threads += n->threads;
	to->stacks += n->stacks;
	to->sites += n->sites;
	to->findings += n->findings;
	to->processes += n->processes;
}

/* Retention's statement i, prepared once and kept. */
static int prune_stmt(struct store *s, int i, sqlite3_stmt **out)
{
	*out = NULL; /* written on every path */
	if (!s->prune[i]) {
		int rc = sqlite3_prepare_v3(s->db, prune_sql[i], -1,
					    SQLITE_PREPARE_PERSISTENT,
					    &s->prune[i], NULL);

		if (rc != SQLITE_OK)
			return errno_of(rc);
	}
	*out = s->prune[i];
	return 0;
}

int store__prune_candidate(struct store *s, enum store_prune_level level,
			   uint64_t before,
			   bool (*held)(void *ctx, uint64_t proc_id),
			   void *ctx, uint64_t *proc_id)
{
	sqlite3_stmt *st;
	int rc, err = prune_stmt(s, PR_CANDIDATE, &st);

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, before > INT64_MAX ? INT64_MAX
						     : (int64_t)before);
	sqlite3_bind_int(st, 2, level == STORE_PRUNE_RAW);
	sqlite3_bind_int(st, 3, MW_PROC_TRACING);
	err = -ENOENT;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t id = col_u64(st, 0);

		if (held && held(ctx, id))
			continue;
		*proc_id = id;
		err = 0;
		break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = errno_of(rc);
	sqlite3_reset(st);
	return err;
}

/* Run delete statement i for proc_id, at most *left rows: what it
 * deleted goes to *count and comes off *left. */
static int prune_rows(struct store *s, int i, uint64_t proc_id,
		      uint64_t *left, uint64_t *count)
{
	sqlite3_stmt *st;
	int rc, err = prune_stmt(s, i, &st);
	uint64_t n;

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, (int64_t)proc_id);
	sqlite3_bind_int64(st, 2, (int64_t)*left);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return errno_of(rc);
	n = (uint64_t)sqlite3_changes64(s->db);
	*count += n;
	*left -= n < *left ? n : *left;
	return 0;
}

/* Run statement i, bound with (a, b). */
static int prune_exec(struct store *s, int i, uint64_t a, uint64_t b)
{
	sqlite3_stmt *st = NULL;
	int err = prune_stmt(s, i, &st);

	if (err)
		return err;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, (int64_t)a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, (int64_t)b);
	return run(st);
}

int store__prune_process(struct store *s, uint64_t proc_id,
			 enum store_prune_level level, uint32_t max_rows,
			 uint64_t now, struct store_pruned *n)
{
	/* Tables in the order rows go: none is left pointing at a row
	 * already removed. */
	static const int raw[] = {PR_BINDINGS, PR_BLOCKS, PR_KEYS, PR_THREADS,
				  PR_STACKS_UNUSED, PR_SITES_UNUSED};
	static const int all[] = {PR_BINDINGS, PR_BLOCKS, PR_KEYS, PR_THREADS,
				  PR_FINDINGS, PR_STACKS, PR_SITES};
	const int *order = level == STORE_PRUNE_ALL ? all : raw;
	size_t norder = level == STORE_PRUNE_ALL ? sizeof(all) / sizeof(all[0])
						 : sizeof(raw) / sizeof(raw[0]);
	struct store_pruned got = {0};
	uint64_t left = max_rows ? max_rows : 1;
	int err;

	if ((err = store__begin(s)))
		return err;
	if ((err = prune_exec(s, PR_FLOOR, 0, 0)))
		goto fail;
	for (size_t i = 0; i < norder && left; i++) {
		uint64_t *count;

		switch (order[i]) {
		case PR_BINDINGS:
			count = &got.bindings;
			break;
		case PR_BLOCKS:
			count = &got.blocks;
			break;
		case PR_KEYS:
			count = &got.keys;
			break;
		case PR_THREADS:
			count = &got.threads;
			break;
		case PR_FINDINGS:
			count = &got.findings;
			break;
		case PR_STACKS:
		case PR_STACKS_UNUSED:
			count = &got.stacks;
			break;
		default:
			count = &got.sites;
			break;
		}
		if ((err = prune_rows(s, order[i], proc_id, &left, count)))
			goto fail;
	}
	/* Each table gave fewer rows than it was asked for: none is
	 * left. */
	if (left) {
		if (level == STORE_PRUNE_ALL) {
			err = prune_exec(s, PR_PROCESS, proc_id, 0);
			got.processes = (uint64_t)sqlite3_changes64(s->db);
		} else {
			err = prune_exec(s, PR_MARK, proc_id, now);
		}
		if (err)
			goto fail;
	}
	if ((err = store__commit(s)))
		goto fail;
	store_pruned__add(n, &got);
	return left ? 1 : 0;
fail:
	store__rollback(s);
	return err;
}

static uint64_t file_size(const char *path, const char *suffix)
{
	char p[4096];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return stat(p, &st) ? 0 : (uint64_t)st.st_size;
}

int store__size(struct store *s, struct store_size *z)
{
	const char *path = sqlite3_db_filename(s->db, "main");
	int64_t page_size, pages, free_pages, mode;
	int err;

	if ((err = query_int(s->db, "PRAGMA page_size", &page_size)) ||
	    (err = query_int(s->db, "PRAGMA page_count", &pages)) ||
	    (err = query_int(s->db, "PRAGMA freelist_count", &free_pages)) ||
	    (err = query_int(s->db, "PRAGMA auto_vacuum", &mode)))
		return err;
	memset(z, 0, sizeof(*z));
	if (path && path[0]) {
		z->file_bytes = file_size(path, "");
		z->wal_bytes = file_size(path, "-wal");
	}
	z->page_size = (uint64_t)page_size;
	z->pages = (uint64_t)pages;
	z->free_pages = (uint64_t)free_pages;
	z->incremental = mode == 2;
	return 0;
}

int store__vacuum_step(struct store *s, uint32_t pages)
{
	char sql[64];

	/* A pragma takes no bound parameter; pages is a number. */
	snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%u)",
		 pages ? pages : 1);
	return exec_sql(s->db, sql);
}

int store__checkpoint(struct store *s)
{
	sqlite3_stmt *st;
	int rc, busy = 0;

	/* TRUNCATE waits for readers to move to the latest snapshot: never
	 * here, where the daemon's loop would wait with it. */
	sqlite3_busy_timeout(s->db, 0);
	rc = sqlite3_prepare_v2(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", -1,
				&st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			busy = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return busy ? -EBUSY : 0;
	return errno_of(rc);
}

int store__make_incremental(struct store *s)
{
	int64_t mode = 0;
	int err;

	if ((err = exec_sql(s->db, "PRAGMA auto_vacuum=INCREMENTAL")) ||
	    (err = exec_sql(s->db, "VACUUM")) ||
	    (err = query_int(s->db, "PRAGMA auto_vacuum", &mode)))
		return err;
	return mode == 2 ? 0 : -EIO;
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
