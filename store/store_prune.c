/*
 * store_prune.c - retention's deletions (daemon/retention.c): the rows of
 * processes no longer traced, removed a bounded step at a time; see
 * store.h.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>

#include "store_int.h"

/*
 * Retention's statements (store__prune_process), bound with ?1 the
 * process and ?2 the rows a statement may still delete. Each deletes
 * through a LIMITed subquery on an index led by proc_id, so a step costs
 * what it deletes, however big the tables are. The live_blocks rows
 * deleted are returned, and taken out of the summaries (store_usage.c,
 * written by the step's commit).
 */
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
		      " LIMIT ?2) RETURNING proc_id, site, tid, pid, size",
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
	if (i == PR_BLOCKS) {
		n = 0;
		if ((err = usage__rows(s, st, -1, &n)))
			return err;
	} else {
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return errno_of(rc);
		n = (uint64_t)sqlite3_changes64(s->db);
	}
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
