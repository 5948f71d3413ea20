/*
 * store_int.h - what the pieces of the store share: the connection and
 * its prepared statements, and the SQLite plumbing of store_sql.c. Only
 * the store's own .c files include it; it includes sqlite3.h, which no
 * code outside store/ may.
 */
#ifndef MEMWATCH_STORE_INT_H
#define MEMWATCH_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store.h"

/* The schema version that brought site_usage (schema/005). */
#define SCHEMA_SITE_USAGE 5
/* The schema version that brought resolved findings (schema/009). */
#define SCHEMA_RESOLVED 9
/* ... that brought suppressed and acknowledged findings (schema/011). */
#define SCHEMA_QUIET 11
/* How long a writer waits for a lock (readers never block it in WAL
 * mode; another process opening the file may, briefly). */
#define BUSY_TIMEOUT_MS 2000

/* The writers' statements (store_write.c), prepared at open. */
enum {
	ST_PROCESS,
	ST_THREAD,
	ST_KEY,
	ST_BINDING_PUT,
	ST_BINDING_DEL,
	ST_BLOCK_ADD,
	ST_FINDING,
	ST_SITE,
	ST_HAS_SITE,
	ST_STACK,
	ST_MAX,
};

/* The highest serial the rows hold: the one store__next_serial starts
 * above, and the floor retention records before it removes rows. */
#define MAX_SERIAL_SQL                                                         \
	"max(coalesce((SELECT max(id) FROM processes),0),"                     \
	" coalesce((SELECT max(serial) FROM live_blocks),0),"                  \
	" coalesce((SELECT max(id) FROM findings),0),"                         \
	" coalesce((SELECT max(id) FROM stacks),0))"

/* Retention's statements (store_prune.c), prepared on first use. */
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

/* The summaries' statements (store_usage.c), prepared at open. */
enum {
	U_OLD,
	U_DEL,
	U_THREAD,
	U_THREAD_GONE,
	U_SITE,
	U_SITE_GONE,
	U_MAX,
};

/* A change to a summary row, summed until the commit: per (site, thread)
 * or, tid 0, per site. */
struct usage_sum {
	uint64_t proc_id, site;
	uint32_t tid, pid;
	int64_t blocks, bytes, threads;
	bool used; /* a key, not an empty slot */
};

/* Sums by key: open addressing, cap a power of two (or 0), half full at
 * most. */
struct usage_table {
	struct usage_sum *v;
	size_t cap, n;
};

#define READ_CACHE_MAX 16

struct store {
	sqlite3 *db;
	int rdonly;
	bool in_tx;	 /* between store__begin and its commit or rollback */
	int64_t version; /* user_version once open */
	sqlite3_stmt *st[ST_MAX];
	sqlite3_stmt *ust[U_MAX]; /* the summaries' (store_usage.c) */
	/* What this transaction changed of the summaries, not written yet. */
	struct usage_table threads, sites;
	sqlite3_stmt *prune[PR_MAX]; /* retention's, prepared on first use */
	/* Readers' statements kept prepared, by their SQL (prepare_read):
	 * the daemon reads a finding back for each event it emits, and
	 * preparing a statement costs more than running it. */
	struct read_cache {
		char *sql;
		sqlite3_stmt *st;
		bool busy; /* handed out, not yet given back (read_done) */
	} rcache[READ_CACHE_MAX];
	unsigned rcache_next; /* the entry replaced next, round robin */
	dev_t dev;		     /* the writer's file, to notice it gone */
	ino_t ino;
};

/* --- store_sql.c: SQLite plumbing ---------------------------------------- */

int errno_of(int rc);
int exec_sql(sqlite3 *db, const char *sql);
int query_int(sqlite3 *db, const char *sql, int64_t *out);
int run(sqlite3_stmt *st);
uint64_t col_u64(sqlite3_stmt *st, int i);
void col_str(sqlite3_stmt *st, int i, char *dst, size_t len);
/* A reader's statement for sql, f's values bound to its named
 * parameters; given back with read_done (walk does it). */
int prepare_read(struct store *s, const char *sql, const struct store_filter *f,
		 sqlite3_stmt **out);
void read_done(struct store *s, sqlite3_stmt *st);
void read_cache__fini(struct store *s);
int walk(struct store *s, sqlite3_stmt *st,
	 int (*row_cb)(sqlite3_stmt *, void *), void *arg);

/* A reader's callback and its ctx, for walk's row_cb. */
struct walk_ctx {
	void *cb;
	void *ctx;
};

/* --- store_write.c ------------------------------------------------------- */

/* Prepare the writers' statements into s->st. 0 or -errno. */
int store_write__prepare(struct store *s);

/* --- store_usage.c: site_usage and site_thread_usage --------------------- */

/* Prepare the summaries' statements into s->ust; free everything. */
int usage__prepare(struct store *s);
void usage__fini(struct store *s);
/* A block row's change to its (site, thread) summary, summed. */
int usage__count(struct store *s, uint64_t proc_id, uint64_t site,
		 uint32_t tid, uint32_t pid, int64_t blocks, int64_t bytes);
/* Step st to its end, each row it returns a block (proc_id, site, tid,
 * pid, size) counted sign times (-1: gone); *n (if not NULL) counts them.
 * st is reset. */
int usage__rows(struct store *s, sqlite3_stmt *st, int64_t sign, uint64_t *n);
/* The row serial had, if any, taken out of the summaries (it is about to
 * be written again). */
int usage__old_block(struct store *s, uint64_t serial);
/* Delete serial's row, taken out of the summaries. */
int usage__del_block(struct store *s, uint64_t serial);
/* Write the sums to the tables (before COMMIT), then forget them. */
int usage__write(struct store *s);
/* Forget the sums (a rollback). */
void usage__clear(struct store *s);

/* --- store_row.c: rows through their descriptions (common/rows.c) ------- */

/*
 * SQL text made from descriptions, never from values: only the three
 * sql_text__ calls write one (tests/e2e/sql_bound.awk holds the store's
 * files to that). bad: it overflowed or a name was not an identifier;
 * it must not be prepared then.
 */
struct sql_text {
	char text[4096];
	size_t len;
	bool bad;
};

/* A string literal: nothing else (sql_bound.awk). */
void sql_text__lit(struct sql_text *t, const char *lit);
/* An identifier, [a-z_][a-z0-9_]*: anything else makes t bad. */
void sql_text__name(struct sql_text *t, const char *name);
void sql_text__num(struct sql_text *t, unsigned n);

/* The list of the columns stored (all but the virtual ones): each as
 * alias.name, or the literal 0 or '' for one newer than the database's
 * version. */
void row_sql__cols(struct sql_text *t, const struct mw_row_desc *d,
		   const char *alias, int64_t version);
/* " k1 = ?1 AND k2 = ?2": the key columns, bound from ?1. */
void row_sql__key(struct sql_text *t, const struct mw_row_desc *d);
/* The row's insert: an upsert on its key columns that leaves those and
 * the KEEP ones as they are, or INSERT OR REPLACE (MW_ROW_REPLACE). */
void row_sql__write(struct sql_text *t, const struct mw_row_desc *d);
/* ", s.ip IS NOT NULL, s.COLS": a LEFT JOIN on sites s, for site_cols. */
void row_sql__site(struct sql_text *t);

/* Bind row's stored columns to ?1... in order. */
void row__bind(sqlite3_stmt *st, const struct mw_row_desc *d, const void *row);
/* Read row's stored columns from column i on; returns the index after. */
int row__read(sqlite3_stmt *st, int i, const struct mw_row_desc *d, void *row);
/* The site of row_sql__site's columns at i, or NULL when not stored. */
const struct mw_site_row *site_cols(sqlite3_stmt *st, int i,
				    struct mw_site_row *site);

/* --- store_read.c: what store_query.c shares ----------------------------- */

/*
 * Prepare "SELECT <d's columns, as alias.name>[<a site's, site>]<tail>"
 * with the filters of f bound (prepare_read). tail: FROM, WHERE, ORDER;
 * a string literal (tests/e2e/sql_bound.awk checks each call).
 */
int prepare_rows(struct store *s, const char *tail, const struct mw_row_desc *d,
		 const char *alias, bool site, const struct store_filter *f,
		 sqlite3_stmt **out);

int thread_row(sqlite3_stmt *st, void *arg);
int block_row(sqlite3_stmt *st, void *arg);

#endif
