/*
 * store_query.c - memwatchctl's queries that sum or select across tables:
 * top (what each allocation site holds), one thread's rows (thread TID),
 * and live blocks by stack (export). Sort keys and filters are bound, no
 * SQL is built from options.
 */
#include <errno.h>
#include <string.h>

#include "store_int.h"

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
	return cb(w->ctx, &u, site_cols(st, 11, &site));
}

/*
 * top. The ranking reads site_usage, or site_thread_usage per thread:
 * what memwatchd keeps equal to live_blocks summed by (proc_id, site,
 * pid) and (proc_id, site, tid, pid) (store_usage.c; the triggers of
 * schema/005 before schema/010), a few thousand rows instead of every
 * block. Only the rows the limit keeps then read
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

/* The same order by a column named, without the CASE: 0.08 s instead of
 * 0.11 for a million rows. */
#define TOP_ORDER_BY(first, second)                                            \
	" ORDER BY " first " DESC, " second " DESC, proc_id, gtid, site"

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
	" AND b.ts > r.ref - 2 * :window AND b.ts <= r.ref - :window)"

/* After TOP_DETAIL, its site's columns (row_sql__site), then this. */
#define TOP_FROM                                                               \
	" FROM (SELECT u.*, coalesce((SELECT CASE WHEN"                        \
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
static const char top_v4_head[] =
	"SELECT b.proc_id, b.site, min(b.pid),"
	" CASE WHEN :per_thread THEN b.tid ELSE 0 END AS gtid,"
	" count(*) AS nblocks, sum(b.size) AS nbytes, min(b.ts),"
	" max(b.ref), count(DISTINCT b.tid),"
	" sum(CASE WHEN b.ts > b.ref - :window THEN b.size ELSE 0 END),"
	" sum(CASE WHEN b.ts > b.ref - 2 * :window"
	" AND b.ts <= b.ref - :window THEN b.size ELSE 0 END)";
/* After top_v4_head and its site's columns (row_sql__site). */
static const char top_v4_tail[] =
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

/* The statement: top_head, its site's columns (row_sql__site), top_tail. */
static const char *const top_head[4] = {
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
		       " AND (:pid = 0 OR t.pid = :pid)) END"),
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
	TOP_DETAIL(" AND b.tid = r.gtid", "1"),
	/* The same when no site's blocks carry two pids (what memwatchd
	 * writes): a row per (thread, site) already, ranked as it is, by
	 * bytes, then by blocks. The GROUP BY above costs 0.45 s on 850,000
	 * rows, these 0.08. */
	"WITH u AS (SELECT proc_id, site, pid, tid AS gtid, 1 AS npids,"
	" blocks AS nblocks, bytes AS nbytes FROM site_thread_usage"
	" WHERE (:pid = 0 OR pid = :pid)"
	TOP_ORDER_BY("nbytes", "nblocks") " LIMIT :limit)"
	TOP_DETAIL(" AND b.tid = r.gtid", "1"),
	"WITH u AS (SELECT proc_id, site, pid, tid AS gtid, 1 AS npids,"
	" blocks AS nblocks, bytes AS nbytes FROM site_thread_usage"
	" WHERE (:pid = 0 OR pid = :pid)"
	TOP_ORDER_BY("nblocks", "nbytes") " LIMIT :limit)"
	TOP_DETAIL(" AND b.tid = r.gtid", "1"),
};

static const char *const top_tail[4] = {
	TOP_FROM TOP_ORDER("r."),
	TOP_FROM TOP_ORDER("r."),
	TOP_FROM TOP_ORDER("r."),
	TOP_FROM TOP_ORDER("r."),
};

/* Does a (proc_id, site) of site_usage have rows of two pids? A few
 * thousand rows read. */
static const char top_two_pids[] =
	"SELECT EXISTS (SELECT 1 FROM site_usage GROUP BY proc_id, site"
	" HAVING count(*) > 1)";

int store__each_site_usage(struct store *s, const struct store_filter *f,
			   const struct store_top *q,
			   int (*cb)(void *ctx,
				     const struct store_site_usage *u,
				     const struct mw_site_row *site),
			   void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	int per_thread = !!(q->flags & STORE_TOP_PER_THREAD);
	int v4 = s->version < SCHEMA_SITE_USAGE;
	struct sql_text t = {0};
	int64_t two_pids = 1;
	sqlite3_stmt *st;
	int err;

	if (per_thread && !v4 &&
	    (err = query_int(s->db, top_two_pids, &two_pids)))
		return err;
	/* Per thread, ranked as stored unless a site has two pids. */
	if (per_thread && !two_pids)
		per_thread = q->flags & STORE_TOP_BLOCKS ? 3 : 2;
	sql_text__lit(&t, v4 ? top_v4_head : top_head[per_thread]);
	row_sql__site(&t);
	sql_text__lit(&t, v4 ? top_v4_tail : top_tail[per_thread]);
	err = t.bad ? -EINVAL : prepare_read(s, t.text, f, &st);
	if (err)
		return err;
	bind_named(st, ":per_thread", !!(q->flags & STORE_TOP_PER_THREAD));
	bind_named(st, ":by_blocks", !!(q->flags & STORE_TOP_BLOCKS));
	bind_named(st, ":now", (int64_t)q->now);
	bind_named(st, ":window", (int64_t)q->window);
	return walk(s, st, site_usage_row, &w);
}

int store__each_thread_tid(struct store *s, const struct store_filter *f,
			   uint32_t tid,
			   int (*cb)(void *ctx, const struct mw_thread_row *r),
			   void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_rows(s,
			       " FROM threads"
			       " WHERE tid = :tid AND (:pid = 0 OR pid = :pid)"
			       " ORDER BY start_ts DESC, proc_id DESC",
			       &mw_thread_desc, NULL, false, f, &st);

	if (err)
		return err;
	bind_named(st, ":tid", tid);
	return walk(s, st, thread_row, &w);
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

	row__read(st, 0, &mw_binding_desc, &r);
	return cb(w->ctx, &r);
}

int store__each_thread_binding(struct store *s, const struct mw_thread_row *t,
			       int (*cb)(void *ctx,
					 const struct mw_binding_row *r),
			       void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_rows(s,
			       " FROM tls_bindings WHERE" SAME_THREAD("set_ts")
			       " ORDER BY key",
			       &mw_binding_desc, NULL, false, NULL, &st);

	if (err)
		return err;
	bind_thread(st, t);
	return walk(s, st, binding_row, &w);
}

int store__each_thread_block(struct store *s, const struct store_filter *f,
			     const struct mw_thread_row *t,
			     int (*cb)(void *ctx, const struct mw_block_row *r,
				       const struct mw_site_row *site),
			     void *ctx)
{
	struct walk_ctx w = {(void *)cb, ctx};
	sqlite3_stmt *st;
	int err = prepare_rows(
		s,
		" FROM (SELECT * FROM live_blocks WHERE" SAME_THREAD("ts") ") b"
		" LEFT JOIN sites s ON s.proc_id = b.proc_id AND s.ip = b.site"
		" ORDER BY b.size DESC, b.serial LIMIT :limit",
		&mw_block_desc, "b", true, f, &st);

	if (err)
		return err;
	bind_thread(st, t);
	return walk(s, st, block_row, &w);
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
	row__read(st, 7, &mw_stack_desc, &stack);
	/* The process's pid as its blocks carry it. */
	stack.pid = u.pid;
	return cb(w->ctx, &u, &stack);
}

/* The groups of live_blocks by (process, stack, site), then their stack
 * row if stored (the stack's columns, row_sql__cols, come between). Grouping
 * by site as well keeps a block without a stack (stack_id 0) with the
 * others of its site only. */
#define STACK_USAGE_HEAD                                                       \
	"SELECT g.proc_id, g.pid, g.stack_id, g.site, g.blocks, g.bytes,"      \
	" st.id IS NOT NULL,"
#define STACK_USAGE_FROM(where)                                                \
	" FROM (SELECT proc_id, pid,"                                          \
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
	struct sql_text t = {0};
	sqlite3_stmt *st;
	int err;

	sql_text__lit(&t, STACK_USAGE_HEAD);
	row_sql__cols(&t, &mw_stack_desc, "st", s->version);
	sql_text__lit(&t,
		      f && f->pid
			      ? STACK_USAGE_FROM(" WHERE proc_id IN (SELECT id"
						 " FROM processes WHERE"
						 " pid = :pid) AND pid = :pid")
			      : STACK_USAGE_FROM(""));
	err = t.bad ? -EINVAL : prepare_read(s, t.text, f, &st);
	return err ? err : walk(s, st, stack_usage_row, &w);
}
