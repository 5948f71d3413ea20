/*
 * store_sql.c - the SQLite plumbing every piece of the store uses: result
 * codes as errnos, one-shot statements, running a prepared write, and
 * the readers' preparing, stepping and column reads. See store_int.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "store_int.h"

/* SQLite result codes to the errnos store.h promises. */
int errno_of(int rc)
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

int exec_sql(sqlite3 *db, const char *sql)
{
	return errno_of(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/* A pragma or query that returns one integer. */
int query_int(sqlite3 *db, const char *sql, int64_t *out)
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

int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return errno_of(rc);
}

uint64_t col_u64(sqlite3_stmt *st, int i)
{
	return (uint64_t)sqlite3_column_int64(st, i);
}

void col_str(sqlite3_stmt *st, int i, char *dst, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/*
 * Prepare a reader. Filters are bound by name (:pid, :kind, :since,
 * :limit) so each query writes "(:pid = 0 OR pid = :pid)" once.
 */
/* sql's statement from the cache, handed out; NULL if it has none free. */
static sqlite3_stmt *cache_take(struct store *s, const char *sql)
{
	for (unsigned i = 0; i < READ_CACHE_MAX; i++) {
		struct read_cache *c = &s->rcache[i];

		if (c->sql && !c->busy && !strcmp(c->sql, sql)) {
			c->busy = true;
			return c->st;
		}
	}
	return NULL;
}

/* Keep st, just prepared from sql, handed out, in place of the next
 * entry not handed out; if every one is, st stays uncached. */
static void cache_put(struct store *s, const char *sql, sqlite3_stmt *st)
{
	for (unsigned n = 0; n < READ_CACHE_MAX; n++) {
		struct read_cache *c = &s->rcache[s->rcache_next];
		char *copy;

		s->rcache_next = (s->rcache_next + 1) % READ_CACHE_MAX;
		if (c->busy)
			continue;
		if (!(copy = strdup(sql)))
			return;
		free(c->sql);
		sqlite3_finalize(c->st);
		*c = (struct read_cache){copy, st, true};
		return;
	}
}

void read_done(struct store *s, sqlite3_stmt *st)
{
	if (!st)
		return;
	for (unsigned i = 0; i < READ_CACHE_MAX; i++) {
		struct read_cache *c = &s->rcache[i];

		if (c->st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			c->busy = false;
			return;
		}
	}
	sqlite3_finalize(st);
}

void read_cache__fini(struct store *s)
{
	for (unsigned i = 0; i < READ_CACHE_MAX; i++) {
		sqlite3_finalize(s->rcache[i].st);
		free(s->rcache[i].sql);
		s->rcache[i] = (struct read_cache){0};
	}
}

int prepare_read(struct store *s, const char *sql, const struct store_filter *f,
		 sqlite3_stmt **out)
{
	static const struct store_filter none;
	sqlite3_stmt *st;
	int rc, i;

	/* Written on every path: NULL, which read_done takes, if there is
	 * no statement. */
	*out = NULL;
	if (!(st = cache_take(s, sql))) {
		rc = sqlite3_prepare_v3(s->db, sql, -1,
					SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (rc != SQLITE_OK)
			return errno_of(rc);
		cache_put(s, sql, st);
	}
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
int walk(struct store *s, sqlite3_stmt *st,
	 int (*row_cb)(sqlite3_stmt *, void *), void *arg)
{
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((ret = row_cb(st, arg)))
			break;
	if (!ret && rc != SQLITE_DONE)
		ret = errno_of(rc);
	read_done(s, st);
	return ret;
}
