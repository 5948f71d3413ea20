/*
 * store_space.c - the database's size on disk, and giving the pages
 * retention freed back to the file system (daemon/retention.c,
 * --max-db-mb).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store_int.h"

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
