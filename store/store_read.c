/*
 * store_read.c - memwatchctl's readers of each table's rows (processes,
 * threads, keys, live blocks, findings, stacks, sites), with a site's
 * symbol joined where a row names one. The columns selected and read are
 * the table's description's (store_row.c); the filters, joins and order
 * are written here. Unsigned 64-bit values are stored as SQLite's signed
 * integers and cast back on reading.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

int prepare_rows(struct store *s, const char *tail, const struct mw_row_desc *d,
		 const char *alias, bool site, const struct store_filter *f,
		 sqlite3_stmt **out)
{
	struct sql_text t = {0};

	*out = NULL;
	sql_text__lit(&t, "SELECT");
	/* Columns a migration this database has not had yet read as 0: a
	 * database memwatchd left older (memwatchctl never migrates). */
	row_sql__cols(&t, d, alias, s->version);
	if (site)
		row_sql__site(&t);
	sql_text__lit(&t, tail);
	return t.bad ? -EINVAL : prepare_read(s, t.text, f, out);
}

static int process_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct mw_process_row *) = w->cb;
	struct mw_process_row r = {0};

	row__read(st, 0, &mw_process_desc, &r);
	return cb(w->ctx, &r);
}

int store__each_process(struct store *s, const struct store_filter *f,
			int (*cb)(void *ctx, const struct mw_process_row *r),
			void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_rows(s,
			       " FROM processes WHERE (:pid = 0 OR pid = :pid)"
			       " ORDER BY id LIMIT :limit",
			       &mw_process_desc, NULL, false, f, &st);

	return err ? err : walk(s, st, process_row, &w);
}

int thread_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct mw_thread_row *) = w->cb;
	struct mw_thread_row r = {0};

	row__read(st, 0, &mw_thread_desc, &r);
	return cb(w->ctx, &r);
}

int store__each_thread(struct store *s, const struct store_filter *f,
		       int (*cb)(void *ctx, const struct mw_thread_row *r),
		       void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_rows(s,
			       " FROM threads WHERE (:pid = 0 OR pid = :pid)"
			       " ORDER BY proc_id, tid, start_ts LIMIT :limit",
			       &mw_thread_desc, NULL, false, f, &st);

	return err ? err : walk(s, st, thread_row, &w);
}

static int key_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct mw_key_row *) = w->cb;
	struct mw_key_row r = {0};

	row__read(st, 0, &mw_key_desc, &r);
	return cb(w->ctx, &r);
}

int store__each_key(struct store *s, const struct store_filter *f,
		    int (*cb)(void *ctx, const struct mw_key_row *r), void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err =
	    prepare_rows(s,
			 " FROM keys WHERE (:pid = 0 OR pid = :pid)"
			 " ORDER BY proc_id, key, generation LIMIT :limit",
			 &mw_key_desc, NULL, false, f, &st);

	return err ? err : walk(s, st, key_row, &w);
}

int block_row(sqlite3_stmt *st, void *arg)
{
	struct walk_ctx *w = arg;
	int (*cb)(void *, const struct mw_block_row *,
		  const struct mw_site_row *) = w->cb;
	struct mw_block_row r = {0};
	struct mw_site_row site;
	int i = row__read(st, 0, &mw_block_desc, &r);

	return cb(w->ctx, &r, site_cols(st, i, &site));
}

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
		err =
		    prepare_rows(s,
				 " FROM live_blocks b"
				 " LEFT JOIN sites s ON s.proc_id = b.proc_id"
				 " AND s.ip = b.site"
				 " ORDER BY b.size DESC, b.serial LIMIT :limit",
				 &mw_block_desc, "b", true, f, &st);
		return err ? err : walk(s, st, block_row, &c.w);
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
	read_done(s, st);
	for (size_t i = 0; !err && i < n; i++) {
		one = *f;
		one.id = ids[i];
		if (f->limit) {
			if (c.n >= f->limit)
				break;
			one.limit = f->limit - c.n;
		}
		err =
		    prepare_rows(s,
				 " FROM live_blocks b"
				 " LEFT JOIN sites s ON s.proc_id = b.proc_id"
				 " AND s.ip = b.site WHERE b.proc_id = :id"
				 " ORDER BY b.size DESC, b.serial LIMIT :limit",
				 &mw_block_desc, "b", true, &one, &st);
		if (!err)
			err = walk(s, st, block_row_counted, &c);
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
	int i = row__read(st, 0, &mw_finding_desc, &r);

	return cb(w->ctx, &r, site_cols(st, i, &site));
}

/* The findings' query, by state: [0] every one, [1] open, [2] resolved,
 * [3] none (resolved, suppressed or acknowledged ones asked of a
 * database too old to have them), [4] open in a database older than
 * schema/011 (which has no suppressed or acknowledged one), [5]
 * suppressed, [6] acknowledged; then its order. Written out, not bound,
 * so that the open ones in id order are read from their index
 * (schema/009). */
#define FINDINGS_FROM                                                          \
	" FROM findings f"                                                     \
	" LEFT JOIN sites s ON s.proc_id = f.proc_id AND s.ip = f.site"        \
	" WHERE (:pid = 0 OR f.pid = :pid)"                                    \
	" AND (:kind = 0 OR f.kind = :kind) AND f.last_ts >= :since"           \
	" AND f.severity >= :severity"
/* One finding by id, as its own term: "(:id = 0 OR f.id = :id)" keeps
 * SQLite from the primary key and scans the table, once per finding the
 * daemon's emitter reads back (100,000 findings: the epoll loop stalled
 * for seconds and the ring buffer overflowed). */
#define FINDINGS_ONE " AND f.id = :id"
static const char *const finding_states[] = {
	"",
	" AND f.resolved_ts = 0 AND f.suppressed = '' AND f.ack_ts = 0",
	" AND f.resolved_ts != 0",
	" AND 0",
	" AND f.resolved_ts = 0",
	" AND f.resolved_ts = 0 AND f.suppressed != '' AND f.ack_ts = 0",
	" AND f.resolved_ts = 0 AND f.ack_ts != 0",
};
/* By enum store_finding_sort. */
static const char *const finding_orders[] = {
	" ORDER BY f.id",
	" ORDER BY f.last_ts DESC, f.id DESC",
	" ORDER BY f.bytes DESC, f.id DESC",
	" ORDER BY f.count DESC, f.id DESC",
};

/* The query for state f->state of a database at version v. */
static int finding_query(const struct store_filter *f, int64_t v)
{
	switch (f ? f->state : STORE_FINDINGS_ALL) {
	case STORE_FINDINGS_OPEN:
		/* Older than schema/009: every finding is open. */
		return v >= SCHEMA_QUIET ? 1 : v >= SCHEMA_RESOLVED ? 4 : 0;
	case STORE_FINDINGS_RESOLVED:
		return v >= SCHEMA_RESOLVED ? 2 : 3;
	case STORE_FINDINGS_SUPPRESSED:
		return v >= SCHEMA_QUIET ? 5 : 3;
	case STORE_FINDINGS_ACKNOWLEDGED:
		return v >= SCHEMA_QUIET ? 6 : 3;
	default:
		return 0;
	}
}

int store__each_finding(struct store *s, const struct store_filter *f,
			int (*cb)(void *ctx, const struct mw_finding_row *r,
				  const struct mw_site_row *site),
			void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	struct sql_text tail = {0};
	sqlite3_stmt *st;
	int err;
	uint32_t sort = f ? f->sort : STORE_SORT_ID;

	if (sort >= sizeof(finding_orders) / sizeof(finding_orders[0]))
		return -EINVAL;
	/* Literals only (the table's), the values bound: sql_bound.awk. */
	sql_text__lit(&tail, FINDINGS_FROM);
	if (f && f->id)
		sql_text__lit(&tail, FINDINGS_ONE);
	sql_text__lit(&tail, finding_states[finding_query(f, s->version)]);
	sql_text__lit(&tail, finding_orders[sort]);
	sql_text__lit(&tail, " LIMIT :limit");
	if (tail.bad)
		return -EINVAL;
	err = prepare_rows(s, tail.text, &mw_finding_desc, "f", true, f, &st);
	return err ? err : walk(s, st, finding_row, &w);
}

/* Copy the one row asked for; 1 stops the walk there. */
static int copy_stack(sqlite3_stmt *st, void *arg)
{
	memset(arg, 0, sizeof(struct mw_stack_row));
	row__read(st, 0, &mw_stack_desc, arg);
	return 1;
}

int store__get_stack(struct store *s, uint64_t id, struct mw_stack_row *r)
{
	const struct store_filter one = {.id = id};
	sqlite3_stmt *st;
	int err = prepare_rows(s, " FROM stacks WHERE id = :id", &mw_stack_desc,
			       NULL, false, &one, &st);

	if (err)
		return err;
	err = walk(s, st, copy_stack, r);
	if (err == 1)
		return 0;
	return err ? err : -ENOENT;
}

static int copy_site(sqlite3_stmt *st, void *arg)
{
	memset(arg, 0, sizeof(struct mw_site_row));
	row__read(st, 0, &mw_site_desc, arg);
	return 1;
}

int store__get_site(struct store *s, uint64_t proc_id, uint64_t ip,
		    struct mw_site_row *r)
{
	sqlite3_stmt *st;
	int err = prepare_rows(s, " FROM sites WHERE proc_id = ?1 AND ip = ?2",
			       &mw_site_desc, NULL, false, NULL, &st);

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, (int64_t)proc_id);
	sqlite3_bind_int64(st, 2, (int64_t)ip);
	err = walk(s, st, copy_site, r);
	if (err == 1)
		return 0;
	return err ? err : -ENOENT;
}

static int copy_process(void *ctx, const struct mw_process_row *r)
{
	*(struct mw_process_row *)ctx = *r;
	return 1;
}

int store__get_process(struct store *s, uint64_t proc_id,
		       struct mw_process_row *r)
{
	const struct store_filter one = {.id = proc_id};
	struct walk_ctx w = {(void *)copy_process, r};
	sqlite3_stmt *st;
	int err = prepare_rows(s, " FROM processes WHERE id = :id",
			       &mw_process_desc, NULL, false, &one, &st);

	if (err)
		return err;
	err = walk(s, st, process_row, &w);
	if (err == 1)
		return 0;
	return err ? err : -ENOENT;
}
