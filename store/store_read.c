/*
 * store_read.c - memwatchctl's readers of each table's rows (processes,
 * threads, keys, live blocks, findings, stacks, sites), with a site's
 * symbol joined where a row names one. Unsigned 64-bit values are stored
 * as SQLite's signed integers and cast back on reading.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

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

int thread_row(sqlite3_stmt *st, void *arg)
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

const struct mw_site_row *site_cols(sqlite3_stmt *st, int i, uint64_t proc_id,
				    uint64_t ip, struct mw_site_row *site)
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

int block_row(sqlite3_stmt *st, void *arg)
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
void parse_frames(struct mw_stack_row *r, const char *p)
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
