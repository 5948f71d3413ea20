/*
 * store_write.c - the writers the engine's sink uses (store_sink.c): one
 * upsert per table, prepared once at open and bound for each row (no
 * SQL is ever built from values). Rows are upserts, so the engine may
 * hand the same row over again after a failed flush.
 */
#include <stdio.h>

#include "store_int.h"

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

int store_write__prepare(struct store *s)
{
	for (int i = 0; i < ST_MAX; i++) {
		int rc = sqlite3_prepare_v3(s->db, write_sql[i], -1,
					    SQLITE_PREPARE_PERSISTENT,
					    &s->st[i], NULL);

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
