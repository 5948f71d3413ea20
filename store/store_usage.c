/*
 * store_usage.c - site_usage and site_thread_usage, the summaries `top`
 * ranks (schema/005), kept exact by the writer itself: schema/010 dropped
 * the triggers that ran three statements for every live_blocks row.
 *
 * Every statement that writes or deletes live_blocks rows tells
 * usage__count each row's (proc_id, site, tid, pid) and its change in
 * blocks and bytes, read from the row as stored: a delete's RETURNING,
 * the row a block written again replaces. The changes are summed in
 * memory per key, and store__commit writes each (site, thread) and each
 * site touched once, in the same transaction, before COMMIT; a rollback
 * drops the sums with the rows. So whoever deletes or writes blocks
 * (the flush, retention) keeps the summaries exact without knowing of
 * them, and a flush pays per key touched, not per block.
 *
 * Invariants, at every commit: site_thread_usage holds one row per
 * (proc_id, site, tid, pid) that has live blocks, with their count and
 * bytes; site_usage one per (proc_id, site, pid), with theirs and
 * threads = its site_thread_usage rows. A row whose blocks reach 0 goes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* The statements, prepared at open (writers only). */
static const char *const usage_sql[U_MAX] = {
	[U_OLD] = "SELECT proc_id, site, tid, pid, size FROM live_blocks"
		  " WHERE serial = ?1",
	[U_DEL] = "DELETE FROM live_blocks WHERE serial = ?1"
		  " RETURNING proc_id, site, tid, pid, size",
	/* The new count, to tell a row that appears or goes. */
	[U_THREAD] = "INSERT INTO site_thread_usage (proc_id, site, tid, pid,"
		     " blocks, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		     " ON CONFLICT DO UPDATE SET blocks = blocks +"
		     " excluded.blocks, bytes = bytes + excluded.bytes"
		     " RETURNING blocks",
	[U_THREAD_GONE] = "DELETE FROM site_thread_usage WHERE proc_id = ?1"
			  " AND site = ?2 AND tid = ?3 AND pid = ?4",
	[U_SITE] = "INSERT INTO site_usage (proc_id, site, pid, blocks, bytes,"
		   " threads) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		   " ON CONFLICT DO UPDATE SET blocks = blocks +"
		   " excluded.blocks, bytes = bytes + excluded.bytes,"
		   " threads = threads + excluded.threads RETURNING blocks",
	[U_SITE_GONE] = "DELETE FROM site_usage WHERE proc_id = ?1"
			" AND site = ?2 AND pid = ?3",
};

/* A table of sums this big or more is freed once written: one big
 * flush does not keep its memory. */
#define USAGE_KEEP_CAP 4096

int usage__prepare(struct store *s)
{
	for (int i = 0; i < U_MAX; i++) {
		int rc = sqlite3_prepare_v3(s->db, usage_sql[i], -1,
					    SQLITE_PREPARE_PERSISTENT,
					    &s->ust[i], NULL);

		if (rc != SQLITE_OK)
			return errno_of(rc);
	}
	return 0;
}

void usage__fini(struct store *s)
{
	for (int i = 0; i < U_MAX; i++)
		sqlite3_finalize(s->ust[i]);
	free(s->threads.v);
	free(s->sites.v);
	memset(&s->threads, 0, sizeof(s->threads));
	memset(&s->sites, 0, sizeof(s->sites));
}

/* --- the sums: open addressing on the key, linear probing ------------- */

static uint64_t key_hash(const struct usage_sum *k)
{
	uint64_t h = k->proc_id * 0x9e3779b97f4a7c15ull;

	h ^= k->site + 0x7f4a7c159e3779b9ull + (h << 6) + (h >> 2);
	h ^= ((uint64_t)k->tid << 32 | k->pid) + (h << 6) + (h >> 2);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 29);
}

static bool same_key(const struct usage_sum *a, const struct usage_sum *b)
{
	return a->proc_id == b->proc_id && a->site == b->site &&
	       a->tid == b->tid && a->pid == b->pid;
}

/* The slot of k in t: its sum, or the empty slot where it goes. */
static struct usage_sum *slot(struct usage_table *t, const struct usage_sum *k)
{
	size_t i = (size_t)key_hash(k) & (t->cap - 1);

	while (t->v[i].used && !same_key(&t->v[i], k))
		i = (i + 1) & (t->cap - 1);
	return &t->v[i];
}

static int grow(struct usage_table *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64;
	struct usage_sum *old = t->v, *n = calloc(ncap, sizeof(*n));
	size_t ocap = t->cap;

	if (!n)
		return -ENOMEM;
	t->v = n;
	t->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].used)
			*slot(t, &old[i]) = old[i];
	free(old);
	return 0;
}

/* Add (blocks, bytes, threads) to k's sum in t. */
static int table_add(struct usage_table *t, const struct usage_sum *k,
		     int64_t blocks, int64_t bytes, int64_t threads)
{
	struct usage_sum *e;
	int err;

	/* At most half full: probes stay short. */
	if ((t->n + 1) * 2 > t->cap && (err = grow(t)))
		return err;
	e = slot(t, k);
	if (!e->used) {
		*e = *k;
		e->blocks = e->bytes = e->threads = 0;
		e->used = true;
		t->n++;
	}
	e->blocks += blocks;
	e->bytes += bytes;
	e->threads += threads;
	return 0;
}

static void table_clear(struct usage_table *t)
{
	if (t->cap >= USAGE_KEEP_CAP) {
		free(t->v);
		t->v = NULL;
		t->cap = 0;
	} else if (t->v) {
		memset(t->v, 0, t->cap * sizeof(*t->v));
	}
	t->n = 0;
}

void usage__clear(struct store *s)
{
	table_clear(&s->threads);
	table_clear(&s->sites);
}

int usage__count(struct store *s, uint64_t proc_id, uint64_t site,
		 uint32_t tid, uint32_t pid, int64_t blocks, int64_t bytes)
{
	struct usage_sum k = {
	    .proc_id = proc_id, .site = site, .tid = tid, .pid = pid};

	return table_add(&s->threads, &k, blocks, bytes, 0);
}

/* --- rows read back ------------------------------------------------------ */

int usage__rows(struct store *s, sqlite3_stmt *st, int64_t sign, uint64_t *n)
{
	int rc, err = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!err)
			err = usage__count(
			    s, col_u64(st, 0), col_u64(st, 1),
			    (uint32_t)sqlite3_column_int64(st, 2),
			    (uint32_t)sqlite3_column_int64(st, 3), sign,
			    sign * sqlite3_column_int64(st, 4));
		if (n)
			(*n)++;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return err ? err : errno_of(rc);
}

int usage__old_block(struct store *s, uint64_t serial)
{
	sqlite3_bind_int64(s->ust[U_OLD], 1, (int64_t)serial);
	return usage__rows(s, s->ust[U_OLD], -1, NULL);
}

int usage__del_block(struct store *s, uint64_t serial)
{
	sqlite3_bind_int64(s->ust[U_DEL], 1, (int64_t)serial);
	return usage__rows(s, s->ust[U_DEL], -1, NULL);
}

/* --- the sums written ---------------------------------------------------- */

/* Run upsert st bound with v[0..n) (key first, then the changes); the
 * row's new block count in *blocks. */
static int upsert(sqlite3_stmt *st, const int64_t *v, int n, int64_t *blocks)
{
	int rc;

	for (int i = 0; i < n; i++)
		sqlite3_bind_int64(st, i + 1, v[i]);
	*blocks = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*blocks = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return errno_of(rc);
}

/* Delete the row of st's table keyed by v[0..n). */
static int gone(sqlite3_stmt *st, const int64_t *v, int n)
{
	for (int i = 0; i < n; i++)
		sqlite3_bind_int64(st, i + 1, v[i]);
	return run(st);
}

/* (site, thread) sum e written; what it changes of its site summed. */
static int write_thread(struct store *s, const struct usage_sum *e)
{
	const int64_t v[] = {(int64_t)e->proc_id, (int64_t)e->site, e->tid,
			     e->pid, e->blocks, e->bytes};
	struct usage_sum site = *e;
	int64_t now, before;
	int err;

	if ((err = upsert(s->ust[U_THREAD], v, 6, &now)))
		return err;
	before = now - e->blocks;
	if (now <= 0 && (err = gone(s->ust[U_THREAD_GONE], v, 4)))
		return err;
	/* A thread of the site appears or goes. */
	site.tid = 0;
	return table_add(&s->sites, &site, e->blocks, e->bytes,
			 (now > 0) - (before > 0));
}

static int write_site(struct store *s, const struct usage_sum *e)
{
	const int64_t v[] = {(int64_t)e->proc_id, (int64_t)e->site, e->pid,
			     e->blocks, e->bytes, e->threads};
	int64_t now;
	int err;

	if ((err = upsert(s->ust[U_SITE], v, 6, &now)))
		return err;
	return now > 0 ? 0 : gone(s->ust[U_SITE_GONE], v, 3);
}

int usage__write(struct store *s)
{
	int err = 0;

	for (size_t i = 0; !err && i < s->threads.cap; i++) {
		const struct usage_sum *e = &s->threads.v[i];

		if (e->used && (e->blocks || e->bytes))
			err = write_thread(s, e);
	}
	for (size_t i = 0; !err && i < s->sites.cap; i++) {
		const struct usage_sum *e = &s->sites.v[i];

		if (e->used && (e->blocks || e->bytes || e->threads))
			err = write_site(s, e);
	}
	usage__clear(s);
	return err;
}
