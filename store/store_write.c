/*
 * store_write.c - the writers the engine's sink uses (store_sink.c): one
 * upsert per table, made from the table's description (store_row.c),
 * prepared once at open and bound for each row (no SQL is ever built
 * from values). Rows are upserts, so the engine may hand the same row
 * over again after a failed flush. A block written or deleted changes
 * the summaries too (store_usage.c), in the caller's transaction, or in
 * one of its own outside of one.
 */
#include <errno.h>

#include "store_int.h"

/* What each writer's statement does, with a row of which table. */
enum { W_WRITE, W_DELETE, W_EXISTS };

static const struct {
	const struct mw_row_desc *desc;
	int what;
} writers[ST_MAX] = {
    [ST_PROCESS] = {&mw_process_desc, W_WRITE},
    [ST_THREAD] = {&mw_thread_desc, W_WRITE},
    [ST_KEY] = {&mw_key_desc, W_WRITE},
    [ST_BINDING_PUT] = {&mw_binding_desc, W_WRITE},
    [ST_BINDING_DEL] = {&mw_binding_desc, W_DELETE},
    /* Its delete is store_usage.c's, which reads the row it deletes. */
    [ST_BLOCK_ADD] = {&mw_block_desc, W_WRITE},
    [ST_FINDING] = {&mw_finding_desc, W_WRITE},
    [ST_SITE] = {&mw_site_desc, W_WRITE},
    [ST_HAS_SITE] = {&mw_site_desc, W_EXISTS},
    [ST_STACK] = {&mw_stack_desc, W_WRITE},
};

/* The statement of writer i, from its table's description. */
static void writer_sql(struct sql_text *t, int i)
{
	const struct mw_row_desc *d = writers[i].desc;

	switch (writers[i].what) {
	case W_WRITE:
		row_sql__write(t, d);
		return;
	case W_DELETE:
		sql_text__lit(t, "DELETE FROM ");
		break;
	default:
		sql_text__lit(t, "SELECT 1 FROM ");
		break;
	}
	sql_text__name(t, d->table);
	sql_text__lit(t, " WHERE");
	row_sql__key(t, d);
}

int store_write__prepare(struct store *s)
{
	for (int i = 0; i < ST_MAX; i++) {
		struct sql_text t = {0};
		int rc;

		writer_sql(&t, i);
		if (t.bad)
			return -EINVAL;
		rc = sqlite3_prepare_v3(s->db, t.text, -1,
					SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
		if (rc != SQLITE_OK)
			return errno_of(rc);
	}
	return 0;
}

/* Bind 64-bit values in order from ?1; run a prepared write. */
static void bind_u64s(sqlite3_stmt *st, const uint64_t *v, int n)
{
	for (int i = 0; i < n; i++)
		sqlite3_bind_int64(st, i + 1, (int64_t)v[i]);
}

/* Bind row to writer i and run it. */
static int put_row(struct store *s, int i, const void *row)
{
	row__bind(s->st[i], writers[i].desc, row);
	return run(s->st[i]);
}

int store__put_process(struct store *s, const struct mw_process_row *r)
{
	return put_row(s, ST_PROCESS, r);
}

int store__put_thread(struct store *s, const struct mw_thread_row *r)
{
	return put_row(s, ST_THREAD, r);
}

int store__put_key(struct store *s, const struct mw_key_row *r)
{
	return put_row(s, ST_KEY, r);
}

int store__put_binding(struct store *s, const struct mw_binding_row *r)
{
	if (!r->value) {
		const uint64_t v[] = {r->proc_id, r->tid, r->key};

		bind_u64s(s->st[ST_BINDING_DEL], v, 3);
		return run(s->st[ST_BINDING_DEL]);
	}
	return put_row(s, ST_BINDING_PUT, r);
}

/* A block's write outside a transaction: in one of its own, so that the
 * summaries change with the row (as store__commit would write them;
 * store.c is not called back). */
static int own_begin(struct store *s, bool *own)
{
	*own = !s->in_tx;
	if (!*own)
		return 0;
	usage__clear(s);
	return exec_sql(s->db, "BEGIN IMMEDIATE");
}

static int own_end(struct store *s, bool own, int err)
{
	if (!own)
		return err;
	if (!err && !(err = usage__write(s)) &&
	    !(err = exec_sql(s->db, "COMMIT")))
		return 0;
	usage__clear(s);
	exec_sql(s->db, "ROLLBACK");
	return err;
}

int store__add_block(struct store *s, const struct mw_block_row *r)
{
	bool own;
	int err = own_begin(s, &own);

	/* Written again (a block resized in place, or a flush handed over
	 * again): the row it replaces leaves the summaries first. */
	if (!err && !(err = usage__old_block(s, r->serial)) &&
	    !(err = put_row(s, ST_BLOCK_ADD, r)))
		err = usage__count(s, r->proc_id, r->site, r->tid, r->pid, 1,
				   (int64_t)r->size);
	return own_end(s, own, err);
}

int store__del_block(struct store *s, uint64_t serial)
{
	bool own;
	int err = own_begin(s, &own);

	if (!err)
		err = usage__del_block(s, serial);
	return own_end(s, own, err);
}

int store__put_finding(struct store *s, const struct mw_finding_row *r)
{
	return put_row(s, ST_FINDING, r);
}

/* One finding's columns the engine's rows never write (their upserts
 * keep them: KEEP in common/rows.c). Each binds ?1 text, ?2 id, and the
 * acknowledgement ?3 its time. */
enum { UPDATE_ACK, UPDATE_SUPPRESSED };
static const char *const finding_updates[] = {
	[UPDATE_ACK] = "UPDATE findings SET ack_note = ?1, ack_ts = ?3"
		       " WHERE id = ?2",
	[UPDATE_SUPPRESSED] = "UPDATE findings SET suppressed = ?1"
			      " WHERE id = ?2",
};

/* -ENOENT when no finding has that id. */
static int update_finding(struct store *s, int which, uint64_t id,
			  const char *text, uint64_t ts)
{
	sqlite3_stmt *st;
	int rc, err;

	if (s->version < SCHEMA_QUIET)
		return -EROFS; /* never: the writer migrates at open */
	rc = sqlite3_prepare_v2(s->db, finding_updates[which], -1, &st, NULL);
	if (rc != SQLITE_OK)
		return errno_of(rc);
	sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (int64_t)id);
	if (which == UPDATE_ACK)
		sqlite3_bind_int64(st, 3, (int64_t)ts);
	rc = sqlite3_step(st);
	err = rc == SQLITE_DONE ? 0 : errno_of(rc);
	if (!err && !sqlite3_changes64(s->db))
		err = -ENOENT;
	sqlite3_finalize(st);
	return err;
}

/* An acknowledgement: the one write no row of the engine's makes. */
int store__ack_finding(struct store *s, uint64_t id, uint64_t ts,
		       const char *note)
{
	return update_finding(s, UPDATE_ACK, id, note, ts);
}

int store__set_suppressed(struct store *s, uint64_t id, const char *rule)
{
	return update_finding(s, UPDATE_SUPPRESSED, id, rule, 0);
}

int store__put_stack(struct store *s, const struct mw_stack_row *r)
{
	struct mw_stack_row c = *r;

	/* nframes as stored: the frames stored, MW_EV_MAX_FRAMES at most. */
	if (c.nframes > MW_EV_MAX_FRAMES)
		c.nframes = MW_EV_MAX_FRAMES;
	return put_row(s, ST_STACK, &c);
}

int store__put_site(struct store *s, const struct mw_site_row *r)
{
	return put_row(s, ST_SITE, r);
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
