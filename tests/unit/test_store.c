/*
 * test_store.c - unit tests of the SQLite store (store/) on real
 * database files in a temp dir: migrations, upserts, readers, the rows'
 * descriptions (common/rows.c) against the schema, and that bad files
 * are refused and left exactly as they were. Foreign and locked
 * databases are made with the sqlite3 shell, so that store/ stays the
 * only code that includes sqlite3.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "unit.h"

extern const size_t mw_migrations_count;

static char dir[64];
static char path[128];

static void fresh(const char *name)
{
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

/* A new database at name, open; NULL (and a failed check) if not. */
static struct store *open_fresh(const char *name)
{
	struct store *s;

	fresh(name);
	s = store__open(path, 0);
	CHECK(s != NULL);
	return s;
}

static int count_cb(void *ctx, const void *r)
{
	(*(int *)ctx)++;
	return 0;
}

static int count_proc(void *ctx, const struct mw_process_row *r)
{
	return count_cb(ctx, r);
}

static int count_thread(void *ctx, const struct mw_thread_row *r)
{
	return count_cb(ctx, r);
}

static int count_key(void *ctx, const struct mw_key_row *r)
{
	return count_cb(ctx, r);
}

static int count_block(void *ctx, const struct mw_block_row *r,
		       const struct mw_site_row *site)
{
	return count_cb(ctx, r);
}

static struct mw_finding_row last_finding;
static struct mw_site_row last_site;
static int last_had_site;

static int keep_finding(void *ctx, const struct mw_finding_row *r,
			const struct mw_site_row *site)
{
	(*(int *)ctx)++;
	last_finding = *r;
	last_had_site = site != NULL;
	if (site)
		last_site = *site;
	return 0;
}

static struct mw_thread_row last_thread;

static int keep_thread(void *ctx, const struct mw_thread_row *r)
{
	(*(int *)ctx)++;
	last_thread = *r;
	return 0;
}

/* Run SQL on path with the sqlite3 shell. */
static int sqlite_shell(const char *sql)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' '%s'", path, sql);
	return system(cmd);
}

static void write_file(const char *p, const char *text, int times)
{
	FILE *f = fopen(p, "w");

	for (int i = 0; i < times; i++)
		fputs(text, f);
	fclose(f);
}

static int same_file(const char *a, const char *b)
{
	FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
	int ca, cb, same = fa && fb;

	while (same && (ca = fgetc(fa)) == (cb = fgetc(fb)) && ca != EOF)
		;
	if (same)
		same = ca == cb;
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

static void test_create_and_migrate(void)
{
	struct stat st;
	struct store *s;

	s = open_fresh("new.db");
	if (!s)
		return;
	CHECK_U64(store__schema_version(s), mw_migrations_count);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	store__close(s);
	/* Opening again migrates nothing and keeps the version. */
	s = store__open(path, 0);
	CHECK(s && store__schema_version(s) == (int)mw_migrations_count);
	store__close(s);
}

static void test_rows_roundtrip(void)
{
	struct mw_process_row p = {.id = 1, .pid = 100, .state = MW_PROC_TRACING,
				   .comm = "srv", .start_ts = 5,
				   .allocs = 10, .frees = 4, .live_blocks = 6,
				   .live_bytes = 600, .findings = 1};
	struct mw_thread_row t = {.proc_id = 1, .pid = 100, .tid = 101,
				  .state = MW_THREAD_EXITED, .comm = "w",
				  .start_ts = 6, .exit_ts = 9, .allocs = 3,
				  .live_blocks = 1, .live_bytes = 64};
	struct mw_key_row k = {.proc_id = 1, .pid = 100, .key = 0,
			       .generation = 1, .state = MW_KEY_LIVE,
			       .destructor = 0x401000};
	struct mw_block_row b = {.serial = 2, .proc_id = 1, .pid = 100,
				 .tid = 101, .addr = 0x7fffdeadb000ull,
				 .size = 64, .ts = 7, .site = 0x401234};
	struct mw_finding_row f = {.id = 3, .kind = MW_FIND_TLS_OUTLIVED_THREAD,
				   .pid = 100, .proc_id = 1, .tid = 101,
				   .alloc_tid = 101, .block = 2,
				   .addr = 0x7fffdeadb000ull, .size = 64,
				   .site = 0x401234, .found_ts = 11};
	struct mw_site_row site = {.proc_id = 1, .ip = 0x401234, .offset = 15,
				   .line = 40, .module = "/bin/srv",
				   .function = "make_buf", .file = "srv.c"};
	struct store_filter all = {0}, other = {.pid = 999};
	struct store *s;
	uint64_t serial = 0;
	int n;

	s = open_fresh("rows.db");
	if (!s)
		return;
	CHECK(store__begin(s) == 0);
	CHECK(store__put_process(s, &p) == 0);
	CHECK(store__put_thread(s, &t) == 0);
	CHECK(store__put_key(s, &k) == 0);
	CHECK(store__add_block(s, &b) == 0);
	CHECK(store__put_finding(s, &f) == 0);
	CHECK(store__has_site(s, 1, 0x401234) == 0);
	CHECK(store__put_site(s, &site) == 0);
	CHECK(store__has_site(s, 1, 0x401234) == 1);
	CHECK(store__commit(s) == 0);

	/* Upserts update in place. */
	p.live_blocks = 7;
	t.live_bytes = 128;
	CHECK(store__put_process(s, &p) == 0);
	CHECK(store__put_thread(s, &t) == 0);
	n = 0;
	CHECK(store__each_thread(s, &all, keep_thread, &n) == 0);
	CHECK_U64(n, 1);
	CHECK_U64(last_thread.live_bytes, 128);
	/* A reused tid is a second thread, not an overwrite. */
	t.start_ts = 20;
	CHECK(store__put_thread(s, &t) == 0);
	n = 0;
	CHECK(store__each_thread(s, &all, count_thread, &n) == 0);
	CHECK_U64(n, 2);

	n = 0;
	CHECK(store__each_process(s, &all, count_proc, &n) == 0);
	CHECK_U64(n, 1);
	n = 0;
	CHECK(store__each_process(s, &other, count_proc, &n) == 0);
	CHECK_U64(n, 0);
	n = 0;
	CHECK(store__each_key(s, &all, count_key, &n) == 0);
	CHECK_U64(n, 1);
	n = 0;
	CHECK(store__each_finding(s, &all, keep_finding, &n) == 0);
	CHECK_U64(n, 1);
	CHECK_U64(last_finding.addr, 0x7fffdeadb000ull);
	CHECK_U64(last_finding.kind, MW_FIND_TLS_OUTLIVED_THREAD);
	CHECK(last_had_site);
	CHECK_STR(last_site.function, "make_buf");
	CHECK_U64(last_site.line, 40);
	/* Filters: kind and since. */
	{
		struct store_filter fk = {.kind = MW_FIND_TLS_OUTLIVED_KEY};
		struct store_filter fs = {.since = 12};

		n = 0;
		CHECK(store__each_finding(s, &fk, keep_finding, &n) == 0);
		CHECK_U64(n, 0);
		n = 0;
		CHECK(store__each_finding(s, &fs, keep_finding, &n) == 0);
		CHECK_U64(n, 0);
	}
	/* States: open until resolved (the upsert writes when and why),
	 * then resolved; all is both. */
	{
		struct store_filter fo = {.state = STORE_FINDINGS_OPEN};
		struct store_filter fr = {.state = STORE_FINDINGS_RESOLVED};

		n = 0;
		CHECK(store__each_finding(s, &fo, keep_finding, &n) == 0);
		CHECK_U64(n, 1);
		n = 0;
		CHECK(store__each_finding(s, &fr, keep_finding, &n) == 0);
		CHECK_U64(n, 0);
		f.resolved_ts = 12;
		snprintf(f.resolved_reason, sizeof(f.resolved_reason),
			 "block freed by thread 100");
		CHECK(store__put_finding(s, &f) == 0);
		n = 0;
		CHECK(store__each_finding(s, &fo, keep_finding, &n) == 0);
		CHECK_U64(n, 0);
		n = 0;
		CHECK(store__each_finding(s, &fr, keep_finding, &n) == 0);
		CHECK_U64(n, 1);
		CHECK_U64(last_finding.resolved_ts, 12);
		CHECK_STR(last_finding.resolved_reason,
			  "block freed by thread 100");
		n = 0;
		CHECK(store__each_finding(s, &all, keep_finding, &n) == 0);
		CHECK_U64(n, 1);
	}

	CHECK(store__next_serial(s, &serial) == 0);
	CHECK_U64(serial, 4);
	CHECK(store__del_block(s, 2) == 0);
	n = 0;
	CHECK(store__each_block(s, &all, count_block, &n) == 0);
	CHECK_U64(n, 0);
	CHECK(store__close_stale(s, 99) == 0);
	store__close(s);

	/* Committed rows survive a close and a read-only reopen. */
	s = store__open(path, STORE_RDONLY);
	CHECK(s != NULL);
	if (!s)
		return;
	n = 0;
	CHECK(store__each_finding(s, &all, keep_finding, &n) == 0);
	CHECK_U64(n, 1);
	store__close(s);
}


static void test_stacks_and_evidence(void)
{
	struct mw_stack_row st = {.proc_id = 1, .id = 7, .pid = 100,
				  .flags = MW_STACK_TLS_INIT, .nframes = 3,
				  .frames = {0x401234, 0x7f0000001000ull,
					     0xffffffffffffff00ull}};
	struct mw_finding_row f = {.id = 8, .kind = MW_FIND_TLS_OUTLIVED_THREAD,
				   .pid = 100, .proc_id = 1, .tid = 101,
				   .size = 64, .site = 0x401234, .found_ts = 11,
				   .stack_id = 7, .severity = MW_SEV_MEDIUM,
				   .threads = 5, .count = 12, .bytes = 768,
				   .first_ts = 3, .last_ts = 11,
				   .detail = "left by 5 of 6 exited threads"};
	struct mw_site_row site = {.proc_id = 1, .ip = 0x7f0000001000ull,
				   .function = "worker"};
	struct store_filter high = {.severity = MW_SEV_HIGH};
	struct store_filter by_id = {.id = 8}, other_id = {.id = 9};
	struct mw_stack_row got;
	struct mw_site_row gs;
	struct store *s;
	int n;

	s = open_fresh("stacks.db");
	if (!s)
		return;
	CHECK(store__begin(s) == 0);
	CHECK(store__put_stack(s, &st) == 0);
	CHECK(store__put_finding(s, &f) == 0);
	CHECK(store__put_site(s, &site) == 0);
	CHECK(store__commit(s) == 0);
	store__close(s);

	s = store__open(path, STORE_RDONLY);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(store__get_stack(s, 7, &got) == 0);
	CHECK_U64(got.nframes, 3);
	CHECK_U64(got.frames[0], 0x401234);
	CHECK_U64(got.frames[2], 0xffffffffffffff00ull);
	CHECK_U64(got.flags, MW_STACK_TLS_INIT);
	CHECK_U64(got.proc_id, 1);
	CHECK(store__get_stack(s, 99, &got) == -ENOENT);
	CHECK(store__get_site(s, 1, 0x7f0000001000ull, &gs) == 0);
	CHECK_STR(gs.function, "worker");
	CHECK(store__get_site(s, 1, 0x1, &gs) == -ENOENT);
	n = 0;
	CHECK(store__each_finding(s, &by_id, keep_finding, &n) == 0);
	CHECK_U64(n, 1);
	CHECK_U64(last_finding.stack_id, 7);
	CHECK_U64(last_finding.severity, MW_SEV_MEDIUM);
	CHECK_U64(last_finding.threads, 5);
	CHECK_U64(last_finding.count, 12);
	CHECK_U64(last_finding.bytes, 768);
	CHECK_U64(last_finding.first_ts, 3);
	CHECK_STR(last_finding.detail, "left by 5 of 6 exited threads");
	n = 0;
	CHECK(store__each_finding(s, &other_id, keep_finding, &n) == 0);
	CHECK_U64(n, 0);
	n = 0;
	CHECK(store__each_finding(s, &high, keep_finding, &n) == 0);
	CHECK_U64(n, 0);
	store__close(s);
}

/* Findings by state (schema/011): open, suppressed, acknowledged and
 * resolved apart; an acknowledgement kept through the engine's upserts;
 * an unknown id -ENOENT. */
static void test_ack_and_states(void)
{
	struct mw_finding_row f = {.kind = MW_FIND_THREAD_ORPHAN, .pid = 100,
				   .proc_id = 1, .severity = MW_SEV_LOW,
				   .count = 1, .last_ts = 5};
	static const struct {
		uint32_t state;
		int n;
	} want[] = {{STORE_FINDINGS_OPEN, 1},	    {STORE_FINDINGS_SUPPRESSED, 1},
		    {STORE_FINDINGS_ACKNOWLEDGED, 2}, {STORE_FINDINGS_RESOLVED, 1},
		    {STORE_FINDINGS_ALL, 5}};
	struct store_filter one = {.id = 1};
	struct store *s = open_fresh("ack.db");
	int n;

	if (!s)
		return;
	CHECK(store__begin(s) == 0);
	for (uint64_t id = 1; id <= 5; id++) {
		f.id = id;
		snprintf(f.suppressed, sizeof(f.suppressed), "%s",
			 id == 2 || id == 4 ? "s.supp:1" : "");
		f.resolved_ts = id == 5 ? 9 : 0;
		CHECK(store__put_finding(s, &f) == 0);
	}
	CHECK(store__commit(s) == 0);
	/* 3 acknowledged, and 4 (suppressed too): acknowledged wins. */
	CHECK(store__ack_finding(s, 3, 77, "known cache") == 0);
	CHECK(store__ack_finding(s, 4, 78, "") == 0);
	CHECK(store__ack_finding(s, 6, 79, "x") == -ENOENT);
	/* The engine writes 3 again, knowing nothing of the ack. */
	f.id = 3;
	f.suppressed[0] = '\0';
	f.resolved_ts = 0;
	f.count = 2;
	CHECK(store__put_finding(s, &f) == 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct store_filter by = {.state = want[i].state};

		n = 0;
		CHECK(store__each_finding(s, &by, keep_finding, &n) == 0);
		CHECK_U64(n, want[i].n);
	}
	one.id = 3;
	n = 0;
	CHECK(store__each_finding(s, &one, keep_finding, &n) == 0);
	CHECK_U64(last_finding.ack_ts, 77);
	CHECK_STR(last_finding.ack_note, "known cache");
	CHECK_U64(last_finding.count, 2);
	CHECK_STR(mw_finding_state(&last_finding), "acknowledged");
	one.id = 2;
	CHECK(store__each_finding(s, &one, keep_finding, &n) == 0);
	CHECK_STR(mw_finding_state(&last_finding), "suppressed");
	CHECK_STR(last_finding.suppressed, "s.supp:1");
	store__close(s);
}

/* A database a previous memwatch wrote at version 1 is migrated in place
 * and its findings read with their evidence filled in. */
static void test_migrate_from_v1(void)
{
	struct store_filter all = {0};
	struct store *s;
	int n = 0;
	char cmd[512];

	fresh("v1.db");
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 '%s' < schema/001_init.sql && sqlite3 '%s' "
		 "'PRAGMA user_version=1; INSERT INTO processes (id, pid,"
		 " state, start_ts) VALUES (1, 100, 2, 1); INSERT INTO findings"
		 " VALUES (2, 1, 1, 100, 101, 0, 1, 101, 3, 4096, 64, 4660, 5,"
		 " 6, 7);'",
		 path, path);
	CHECK(system(cmd) == 0);
	s = store__open(path, 0);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_U64(store__schema_version(s), mw_migrations_count);
	CHECK(store__each_finding(s, &all, keep_finding, &n) == 0);
	CHECK_U64(n, 1);
	CHECK_U64(last_finding.size, 64);
	CHECK_U64(last_finding.bytes, 64);
	CHECK_U64(last_finding.count, 1);
	CHECK_U64(last_finding.severity, MW_SEV_HIGH);
	CHECK_U64(last_finding.last_ts, 7);
	CHECK_U64(last_finding.stack_id, 0);
	store__close(s);
}

static void test_rdonly_missing(void)
{
	struct store *s;

	fresh("missing.db");
	errno = 0;
	s = store__open(path, STORE_RDONLY);
	CHECK(s == NULL);
	CHECK_U64(errno, ENOENT);
	CHECK(access(path, F_OK) != 0); /* never created */
}

static void test_garbage_untouched(void)
{
	char copy[160];
	struct store *s;

	fresh("garbage.db");
	write_file(path, "hello, this is not sqlite\n", 100);
	snprintf(copy, sizeof(copy), "%s.orig", path);
	write_file(copy, "hello, this is not sqlite\n", 100);
	errno = 0;
	s = store__open(path, STORE_RDONLY);
	CHECK(s == NULL);
	CHECK_U64(errno, EBADMSG);
	errno = 0;
	s = store__open(path, 0);
	CHECK(s == NULL);
	CHECK_U64(errno, EBADMSG);
	CHECK(same_file(path, copy));
}

static void test_foreign_sqlite(void)
{
	struct store *s;

	fresh("foreign.db");
	CHECK(sqlite_shell("CREATE TABLE t(x);") == 0);
	errno = 0;
	s = store__open(path, 0);
	CHECK(s == NULL);
	CHECK_U64(errno, EBADMSG);
}

static void test_newer_version(void)
{
	struct store *s;

	fresh("newer.db");
	s = store__open(path, 0);
	store__close(s);
	CHECK(sqlite_shell("PRAGMA user_version = 999;") == 0);
	errno = 0;
	s = store__open(path, 0);
	CHECK(s == NULL);
	CHECK_U64(errno, EPROTO);
	errno = 0;
	s = store__open(path, STORE_RDONLY);
	CHECK(s == NULL);
	CHECK_U64(errno, EPROTO);
}

static void test_locked_writer(void)
{
	char cmd[512];
	struct store *s;
	FILE *holder;

	s = open_fresh("locked.db");
	if (!s)
		return;
	/* Another writer holds the write lock for 4 s. */
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 '%s' 'BEGIN IMMEDIATE; SELECT 1;' "
		 "'.shell sleep 4' 'ROLLBACK;' >/dev/null",
		 path);
	holder = popen(cmd, "r");
	CHECK(holder != NULL);
	usleep(500 * 1000);
	/* Waits out the 2 s busy timeout, then says who is in the way. */
	CHECK_U64(store__begin(s), (uint64_t)-EBUSY);
	if (holder)
		pclose(holder);
	CHECK(store__begin(s) == 0);
	CHECK(store__commit(s) == 0);
	store__close(s);
	CHECK_STR(store__strerror(-EBUSY),
		  "database is locked by another writer");
}

/* --- queries for memwatchctl top and thread ------------------------------ */

#define MAX_KEPT 16

static struct store_site_usage kept_usage[MAX_KEPT];
static int kept_usage_site[MAX_KEPT];	/* 1: came with a site row */
static char kept_usage_fn[MAX_KEPT][MW_SITE_STR];

static int keep_usage(void *ctx, const struct store_site_usage *u,
		      const struct mw_site_row *site)
{
	int *n = ctx;

	if (*n < MAX_KEPT) {
		kept_usage[*n] = *u;
		kept_usage_site[*n] = site != NULL;
		snprintf(kept_usage_fn[*n], MW_SITE_STR, "%s",
			 site ? site->function : "");
	}
	(*n)++;
	return 0;
}

static struct mw_thread_row kept_threads[MAX_KEPT];

static int keep_threads(void *ctx, const struct mw_thread_row *r)
{
	int *n = ctx;

	if (*n < MAX_KEPT)
		kept_threads[*n] = *r;
	(*n)++;
	return 0;
}

static struct mw_block_row kept_blocks[MAX_KEPT];

static int keep_blocks(void *ctx, const struct mw_block_row *r,
		       const struct mw_site_row *site)
{
	int *n = ctx;

	if (*n < MAX_KEPT)
		kept_blocks[*n] = *r;
	(*n)++;
	return 0;
}

static struct mw_binding_row kept_binding;

static int keep_binding(void *ctx, const struct mw_binding_row *r)
{
	(*(int *)ctx)++;
	kept_binding = *r;
	return 0;
}

static int stop_at_first(void *ctx, const struct store_site_usage *u,
			 const struct mw_site_row *site)
{
	(*(int *)ctx)++;
	return 7;
}

/*
 * Two processes: pid 100 ended at t=100, pid 200 still traced (its ages
 * and windows run to q.now). Window 10: "new" is (90, 100], "prev" is
 * (80, 90], so the block at exactly 90 is prev and the one at 70 neither.
 */
static void test_site_usage(void)
{
	struct mw_process_row p1 = {.id = 1, .pid = 100,
				    .state = MW_PROC_EXITED, .start_ts = 1,
				    .end_ts = 100};
	struct mw_process_row p2 = {.id = 2, .pid = 200,
				    .state = MW_PROC_TRACING, .start_ts = 1};
	const struct mw_block_row blocks[] = {
		/* site 0x10 of pid 100: 3 blocks, 250 bytes, 2 threads */
		{.serial = 10, .proc_id = 1, .pid = 100, .tid = 101,
		 .size = 100, .ts = 95, .site = 0x10},
		{.serial = 11, .proc_id = 1, .pid = 100, .tid = 102,
		 .size = 100, .ts = 85, .site = 0x10},
		{.serial = 12, .proc_id = 1, .pid = 100, .tid = 102,
		 .size = 50, .ts = 70, .site = 0x10},
		/* site 0x20 of pid 100: 5 blocks, 41 bytes, 1 thread */
		{.serial = 13, .proc_id = 1, .pid = 100, .tid = 101,
		 .size = 10, .ts = 91, .site = 0x20},
		{.serial = 14, .proc_id = 1, .pid = 100, .tid = 101,
		 .size = 10, .ts = 92, .site = 0x20},
		{.serial = 15, .proc_id = 1, .pid = 100, .tid = 101,
		 .size = 10, .ts = 93, .site = 0x20},
		{.serial = 16, .proc_id = 1, .pid = 100, .tid = 101,
		 .size = 10, .ts = 100, .site = 0x20},
		{.serial = 17, .proc_id = 1, .pid = 100, .tid = 101,
		 .size = 1, .ts = 90, .site = 0x20},
		/* the same ip in pid 200 is another site */
		{.serial = 18, .proc_id = 2, .pid = 200, .tid = 201,
		 .size = 1000, .ts = 1000, .site = 0x10},
	};
	struct mw_site_row site = {.proc_id = 1, .ip = 0x10, .offset = 4,
				   .function = "make_buf", .file = "srv.c",
				   .line = 12};
	struct store_top q = {.now = 1005, .window = 10};
	struct store_filter all = {0}, p100 = {.pid = 100},
			    top1 = {.limit = 1}, nobody = {.pid = 999};
	struct store *s;
	int n;

	s = open_fresh("top.db");
	if (!s)
		return;
	CHECK(store__begin(s) == 0);
	CHECK(store__put_process(s, &p1) == 0);
	CHECK(store__put_process(s, &p2) == 0);
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		CHECK(store__add_block(s, &blocks[i]) == 0);
	CHECK(store__put_site(s, &site) == 0);
	CHECK(store__commit(s) == 0);
	store__close(s);

	s = store__open(path, STORE_RDONLY);
	CHECK(s != NULL);
	if (!s)
		return;

	/* By bytes: pid 200's site first, then 0x10 and 0x20 of pid 100. */
	n = 0;
	CHECK(store__each_site_usage(s, &all, &q, keep_usage, &n) == 0);
	CHECK_U64(n, 3);
	CHECK_U64(kept_usage[0].pid, 200);
	CHECK_U64(kept_usage[0].bytes, 1000);
	CHECK_U64(kept_usage[0].ref_ts, 1005);
	CHECK_U64(kept_usage[0].new_bytes, 1000);
	CHECK(!kept_usage_site[0]);	/* pid 200's 0x10 is not symbolized */
	CHECK_U64(kept_usage[1].pid, 100);
	CHECK_U64(kept_usage[1].site, 0x10);
	CHECK_U64(kept_usage[1].tid, 0);
	CHECK_U64(kept_usage[1].blocks, 3);
	CHECK_U64(kept_usage[1].bytes, 250);
	CHECK_U64(kept_usage[1].threads, 2);
	CHECK_U64(kept_usage[1].oldest_ts, 70);
	CHECK_U64(kept_usage[1].ref_ts, 100);
	CHECK_U64(kept_usage[1].new_bytes, 100);
	CHECK_U64(kept_usage[1].prev_bytes, 100);
	CHECK(kept_usage_site[1]);
	CHECK_STR(kept_usage_fn[1], "make_buf");
	CHECK_U64(kept_usage[2].site, 0x20);
	CHECK_U64(kept_usage[2].blocks, 5);
	CHECK_U64(kept_usage[2].bytes, 41);
	CHECK_U64(kept_usage[2].threads, 1);
	CHECK_U64(kept_usage[2].oldest_ts, 90);
	/* ts 100 = the end itself is new; ts 90 is the window's edge. */
	CHECK_U64(kept_usage[2].new_bytes, 40);
	CHECK_U64(kept_usage[2].prev_bytes, 1);
	CHECK(!kept_usage_site[2]);

	/* By blocks the order turns over. */
	q.flags = STORE_TOP_BLOCKS;
	n = 0;
	CHECK(store__each_site_usage(s, &all, &q, keep_usage, &n) == 0);
	CHECK_U64(n, 3);
	CHECK_U64(kept_usage[0].site, 0x20);
	CHECK_U64(kept_usage[1].site, 0x10);
	CHECK_U64(kept_usage[1].pid, 100);
	CHECK_U64(kept_usage[2].pid, 200);

	/* Filters: pid and limit; the limit keeps the top row. */
	q.flags = 0;
	n = 0;
	CHECK(store__each_site_usage(s, &p100, &q, keep_usage, &n) == 0);
	CHECK_U64(n, 2);
	CHECK_U64(kept_usage[0].bytes, 250);
	n = 0;
	CHECK(store__each_site_usage(s, &top1, &q, keep_usage, &n) == 0);
	CHECK_U64(n, 1);
	CHECK_U64(kept_usage[0].pid, 200);
	n = 0;
	CHECK(store__each_site_usage(s, &nobody, &q, keep_usage, &n) == 0);
	CHECK_U64(n, 0);

	/* Per thread: (thread, site) rows, each of one thread. */
	q.flags = STORE_TOP_PER_THREAD;
	n = 0;
	CHECK(store__each_site_usage(s, &p100, &q, keep_usage, &n) == 0);
	CHECK_U64(n, 3);
	CHECK_U64(kept_usage[0].tid, 102);
	CHECK_U64(kept_usage[0].site, 0x10);
	CHECK_U64(kept_usage[0].blocks, 2);
	CHECK_U64(kept_usage[0].bytes, 150);
	CHECK_U64(kept_usage[0].threads, 1);
	CHECK_U64(kept_usage[0].prev_bytes, 100);
	CHECK_U64(kept_usage[0].new_bytes, 0);
	CHECK_U64(kept_usage[1].tid, 101);
	CHECK_U64(kept_usage[1].site, 0x10);
	CHECK_U64(kept_usage[1].bytes, 100);
	CHECK_U64(kept_usage[2].tid, 101);
	CHECK_U64(kept_usage[2].site, 0x20);
	CHECK_U64(kept_usage[2].bytes, 41);

	/* Window 0: no growth sums at all. */
	q.flags = 0;
	q.window = 0;
	n = 0;
	CHECK(store__each_site_usage(s, &p100, &q, keep_usage, &n) == 0);
	CHECK_U64(n, 2);
	CHECK_U64(kept_usage[0].new_bytes + kept_usage[0].prev_bytes +
			  kept_usage[1].new_bytes + kept_usage[1].prev_bytes,
		  0);

	/* A callback's non-zero return stops the walk and comes back. */
	n = 0;
	CHECK_U64(store__each_site_usage(s, &all, &q, stop_at_first, &n), 7);
	CHECK_U64(n, 1);
	store__close(s);
}

/* Run top on s with flags and filter into kept_usage; the row count. */
static int top_rows(struct store *s, const struct store_filter *f,
		    unsigned flags)
{
	struct store_top q = {.flags = flags, .now = 1000, .window = 10};
	int n = 0;

	CHECK(store__each_site_usage(s, f, &q, keep_usage, &n) == 0);
	return n;
}

/*
 * What top ranks by is kept by the writer as blocks come and go (schema
 * 005, store/store_usage.c): a delete takes a block out, a block written again with another
 * site or size moves, a site or (site, thread) left with no block is
 * gone. A site whose blocks carry two pids (memwatchd never writes one)
 * counts a tid once, and --pid sees only its own pid's blocks.
 */
static void test_site_usage_upkeep(void)
{
	struct mw_process_row p = {.id = 1, .pid = 100, .state = MW_PROC_EXITED,
				   .start_ts = 1, .end_ts = 100};
	struct mw_block_row b10 = {.serial = 10, .proc_id = 1, .pid = 100,
				   .tid = 101, .size = 100, .ts = 90,
				   .site = 0x10};
	struct mw_block_row b11 = {.serial = 11, .proc_id = 1, .pid = 100,
				   .tid = 102, .size = 50, .ts = 95,
				   .site = 0x10};
	struct mw_block_row b12 = {.serial = 12, .proc_id = 1, .pid = 100,
				   .tid = 101, .size = 10, .ts = 50,
				   .site = 0x20};
	struct mw_block_row b20 = {.serial = 20, .proc_id = 1, .pid = 100,
				   .tid = 101, .size = 5, .ts = 60,
				   .site = 0x30};
	struct mw_block_row b21 = {.serial = 21, .proc_id = 1, .pid = 300,
				   .tid = 101, .size = 7, .ts = 99,
				   .site = 0x30};
	struct store_filter all = {0}, p300 = {.pid = 300};
	struct store *s;

	s = open_fresh("upkeep.db");
	if (!s)
		return;
	CHECK(store__begin(s) == 0);
	CHECK(store__put_process(s, &p) == 0);
	CHECK(store__add_block(s, &b10) == 0);
	CHECK(store__add_block(s, &b11) == 0);
	CHECK(store__add_block(s, &b12) == 0);
	CHECK(store__commit(s) == 0);
	CHECK_U64(top_rows(s, &all, 0), 2);
	CHECK_U64(kept_usage[0].site, 0x10);
	CHECK_U64(kept_usage[0].blocks, 2);
	CHECK_U64(kept_usage[0].bytes, 150);
	CHECK_U64(kept_usage[0].threads, 2);
	CHECK_U64(kept_usage[0].oldest_ts, 90);
	CHECK_U64(kept_usage[0].new_bytes, 50);
	CHECK_U64(kept_usage[0].prev_bytes, 100);
	CHECK_U64(kept_usage[1].site, 0x20);
	CHECK_U64(kept_usage[1].bytes, 10);

	/* Freed: one block and one thread less. */
	CHECK(store__del_block(s, 11) == 0);
	CHECK_U64(top_rows(s, &all, 0), 2);
	CHECK_U64(kept_usage[0].blocks, 1);
	CHECK_U64(kept_usage[0].bytes, 100);
	CHECK_U64(kept_usage[0].threads, 1);
	CHECK_U64(top_rows(s, &all, STORE_TOP_PER_THREAD), 2);

	/* Written again under its serial, with another site and size:
	 * site 0x10 has no block left. */
	b10.site = 0x20;
	b10.size = 30;
	CHECK(store__add_block(s, &b10) == 0);
	CHECK_U64(top_rows(s, &all, 0), 1);
	CHECK_U64(kept_usage[0].site, 0x20);
	CHECK_U64(kept_usage[0].blocks, 2);
	CHECK_U64(kept_usage[0].bytes, 40);
	CHECK_U64(kept_usage[0].threads, 1);
	CHECK_U64(kept_usage[0].oldest_ts, 50);
	CHECK_U64(top_rows(s, &all, STORE_TOP_PER_THREAD), 1);
	CHECK_U64(kept_usage[0].tid, 101);
	CHECK_U64(kept_usage[0].blocks, 2);
	/* The same row again changes nothing. */
	CHECK(store__add_block(s, &b10) == 0);
	CHECK_U64(top_rows(s, &all, 0), 1);
	CHECK_U64(kept_usage[0].blocks, 2);
	CHECK_U64(kept_usage[0].bytes, 40);

	CHECK(store__del_block(s, 10) == 0);
	CHECK(store__del_block(s, 12) == 0);
	CHECK_U64(top_rows(s, &all, 0), 0);
	CHECK_U64(top_rows(s, &all, STORE_TOP_PER_THREAD), 0);

	/* Two pids on one site: tid 101 is one thread, not two. */
	CHECK(store__add_block(s, &b20) == 0);
	CHECK(store__add_block(s, &b21) == 0);
	CHECK_U64(top_rows(s, &all, 0), 1);
	CHECK_U64(kept_usage[0].pid, 100);
	CHECK_U64(kept_usage[0].blocks, 2);
	CHECK_U64(kept_usage[0].bytes, 12);
	CHECK_U64(kept_usage[0].threads, 1);
	CHECK_U64(kept_usage[0].oldest_ts, 60);
	CHECK_U64(top_rows(s, &p300, 0), 1);
	CHECK_U64(kept_usage[0].pid, 300);
	CHECK_U64(kept_usage[0].blocks, 1);
	CHECK_U64(kept_usage[0].bytes, 7);
	CHECK_U64(kept_usage[0].oldest_ts, 99);
	CHECK_U64(kept_usage[0].new_bytes, 7);
	CHECK_U64(top_rows(s, &p300, STORE_TOP_PER_THREAD), 1);
	CHECK_U64(kept_usage[0].bytes, 7);
	store__close(s);
}

/* memwatchctl never migrates: a database memwatchd left at version 4
 * (no site_usage) still answers top, from its blocks. */
static void test_site_usage_v4(void)
{
	struct store_filter all = {0};
	struct store *s;
	char cmd[768];

	fresh("v4.db");
	snprintf(cmd, sizeof(cmd),
		 "cat schema/001_init.sql schema/002_stacks_evidence.sql"
		 " schema/003_process_mode.sql schema/004_process_identity.sql"
		 " | sqlite3 '%s' && sqlite3 '%s' 'PRAGMA user_version=4;"
		 " INSERT INTO processes (id, pid, state, start_ts, end_ts)"
		 " VALUES (1, 100, 2, 1, 100); INSERT INTO live_blocks (serial,"
		 " proc_id, pid, tid, addr, size, ts, site) VALUES"
		 " (10, 1, 100, 101, 0, 100, 95, 16), (11, 1, 100, 102, 0, 50,"
		 " 85, 16), (12, 1, 100, 101, 0, 10, 50, 32);'",
		 path, path);
	CHECK(system(cmd) == 0);
	s = store__open(path, STORE_RDONLY);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_U64(store__schema_version(s), 4);
	CHECK_U64(top_rows(s, &all, 0), 2);
	CHECK_U64(kept_usage[0].site, 16);
	CHECK_U64(kept_usage[0].blocks, 2);
	CHECK_U64(kept_usage[0].bytes, 150);
	CHECK_U64(kept_usage[0].threads, 2);
	CHECK_U64(kept_usage[0].oldest_ts, 85);
	CHECK_U64(kept_usage[0].new_bytes, 100);
	CHECK_U64(kept_usage[0].prev_bytes, 50);
	CHECK_U64(top_rows(s, &all, STORE_TOP_PER_THREAD), 3);
	CHECK_U64(kept_usage[0].tid, 101);
	CHECK_U64(kept_usage[0].bytes, 100);
	store__close(s);
}

/*
 * tid 101 names three threads: one of pid 200, and two of pid 100 (the
 * tid was reused at t=30). Blocks and bindings go to the thread of their
 * time; the first thread of a tid also takes what predates its start.
 */
static void test_thread_queries(void)
{
	struct mw_process_row p1 = {.id = 1, .pid = 100,
				    .state = MW_PROC_TRACING, .start_ts = 1,
				    .comm = "srv"};
	struct mw_process_row p2 = {.id = 2, .pid = 200,
				    .state = MW_PROC_EXITED, .start_ts = 1,
				    .end_ts = 9};
	const struct mw_thread_row threads[] = {
		{.proc_id = 1, .pid = 100, .tid = 101,
		 .state = MW_THREAD_EXITED, .start_ts = 10, .exit_ts = 20,
		 .live_blocks = 3, .live_bytes = 200},
		{.proc_id = 1, .pid = 100, .tid = 101, .state = MW_THREAD_ALIVE,
		 .start_ts = 30, .live_blocks = 1, .live_bytes = 32},
		{.proc_id = 2, .pid = 200, .tid = 101,
		 .state = MW_THREAD_GONE, .start_ts = 5, .exit_ts = 8},
		{.proc_id = 1, .pid = 100, .tid = 102, .state = MW_THREAD_ALIVE,
		 .start_ts = 11},
	};
	const struct mw_block_row blocks[] = {
		{.serial = 20, .proc_id = 1, .pid = 100, .tid = 101,
		 .addr = 0x1000, .size = 64, .ts = 12, .site = 0x10},
		{.serial = 21, .proc_id = 1, .pid = 100, .tid = 101,
		 .addr = 0x2000, .size = 128, .ts = 15, .site = 0x10},
		{.serial = 22, .proc_id = 1, .pid = 100, .tid = 101,
		 .addr = 0x3000, .size = 8, .ts = 5, .site = 0x10},
		{.serial = 23, .proc_id = 1, .pid = 100, .tid = 101,
		 .addr = 0x4000, .size = 32, .ts = 35, .site = 0x10},
		{.serial = 24, .proc_id = 2, .pid = 200, .tid = 101,
		 .addr = 0x5000, .size = 16, .ts = 6, .site = 0x10},
		{.serial = 25, .proc_id = 1, .pid = 100, .tid = 102,
		 .addr = 0x6000, .size = 4096, .ts = 12, .site = 0x10},
	};
	struct mw_binding_row b = {.proc_id = 1, .pid = 100, .tid = 101,
				   .key = 3, .generation = 2, .value = 0x4000,
				   .block = 23, .size = 32, .set_ts = 36};
	struct store_filter all = {0}, p200 = {.pid = 200}, two = {.limit = 2};
	struct mw_thread_row newest, first, other;
	struct mw_process_row got;
	struct store *s;
	int n;

	s = open_fresh("thread.db");
	if (!s)
		return;
	CHECK(store__begin(s) == 0);
	CHECK(store__put_process(s, &p1) == 0);
	CHECK(store__put_process(s, &p2) == 0);
	for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
		CHECK(store__put_thread(s, &threads[i]) == 0);
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		CHECK(store__add_block(s, &blocks[i]) == 0);
	CHECK(store__put_binding(s, &b) == 0);
	CHECK(store__commit(s) == 0);
	store__close(s);

	s = store__open(path, STORE_RDONLY);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(store__get_process(s, 1, &got) == 0);
	CHECK_U64(got.pid, 100);
	CHECK_STR(got.comm, "srv");
	CHECK(store__get_process(s, 2, &got) == 0);
	CHECK_U64(got.end_ts, 9);
	CHECK(store__get_process(s, 99, &got) == -ENOENT);

	/* Every thread of the tid, newest first. */
	n = 0;
	CHECK(store__each_thread_tid(s, &all, 101, keep_threads, &n) == 0);
	CHECK_U64(n, 3);
	if (n != 3) {
		store__close(s);
		return;
	}
	newest = kept_threads[0];
	first = kept_threads[1];
	other = kept_threads[2];
	CHECK_U64(newest.start_ts, 30);
	CHECK_U64(newest.state, MW_THREAD_ALIVE);
	CHECK_U64(first.start_ts, 10);
	CHECK_U64(first.live_bytes, 200);
	CHECK_U64(other.pid, 200);
	n = 0;
	CHECK(store__each_thread_tid(s, &p200, 101, keep_threads, &n) == 0);
	CHECK_U64(n, 1);
	CHECK_U64(kept_threads[0].pid, 200);
	n = 0;
	CHECK(store__each_thread_tid(s, &all, 999, keep_threads, &n) == 0);
	CHECK_U64(n, 0);

	/* The first thread: its own blocks and the one before its start,
	 * largest first; not the reused tid's, not pid 200's. */
	n = 0;
	CHECK(store__each_thread_block(s, &all, &first, keep_blocks, &n) == 0);
	CHECK_U64(n, 3);
	CHECK_U64(kept_blocks[0].size, 128);
	CHECK_U64(kept_blocks[0].addr, 0x2000);
	CHECK_U64(kept_blocks[1].size, 64);
	CHECK_U64(kept_blocks[2].size, 8);
	n = 0;
	CHECK(store__each_thread_block(s, &two, &first, keep_blocks, &n) == 0);
	CHECK_U64(n, 2);
	CHECK_U64(kept_blocks[1].size, 64);
	n = 0;
	CHECK(store__each_thread_block(s, &all, &newest, keep_blocks, &n) == 0);
	CHECK_U64(n, 1);
	CHECK_U64(kept_blocks[0].serial, 23);
	n = 0;
	CHECK(store__each_thread_block(s, &all, &other, keep_blocks, &n) == 0);
	CHECK_U64(n, 1);
	CHECK_U64(kept_blocks[0].serial, 24);

	/* The binding set at t=36 is the reused tid's, not the first's. */
	n = 0;
	CHECK(store__each_thread_binding(s, &newest, keep_binding, &n) == 0);
	CHECK_U64(n, 1);
	CHECK_U64(kept_binding.key, 3);
	CHECK_U64(kept_binding.generation, 2);
	CHECK_U64(kept_binding.value, 0x4000);
	CHECK_U64(kept_binding.block, 23);
	CHECK_U64(kept_binding.size, 32);
	CHECK_U64(kept_binding.set_ts, 36);
	CHECK_U64(kept_binding.pid, 100);
	n = 0;
	CHECK(store__each_thread_binding(s, &first, keep_binding, &n) == 0);
	CHECK_U64(n, 0);
	n = 0;
	CHECK(store__each_thread_binding(s, &other, keep_binding, &n) == 0);
	CHECK_U64(n, 0);
	store__close(s);
}

/* --- retention ------------------------------------------------------------ */

/* One integer from a query, by the sqlite3 shell; -1 on failure. */
static long long shell_int(const char *sql)
{
	char cmd[1024];
	long long v = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"%s\"", path, sql);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	pclose(f);
	return v;
}

static bool held_none(void *ctx, uint64_t proc_id)
{
	return false;
}

static bool held_one(void *ctx, uint64_t proc_id)
{
	return proc_id == *(uint64_t *)ctx;
}

/*
 * Process 100 ended (blocks, threads, keys, a binding, two stacks, sites,
 * one finding naming one of the stacks); process 5 is still traced. Raw
 * pruning of 100 in steps of 7 rows keeps the finding, its stack and the
 * sites it and its stack's frames name, and nothing else; pruning all of
 * it then leaves process 5 exactly as it was, and no id below the highest
 * ever used is handed out again.
 */
#define NBLOCKS 3000

static void fill_prune_db(struct store *s)
{
	struct mw_process_row old = {.id = 100, .pid = 42,
				     .state = MW_PROC_EXITED, .start_ts = 10,
				     .end_ts = 1000, .comm = "old"};
	struct mw_process_row live = {.id = 5, .pid = 43,
				      .state = MW_PROC_TRACING, .start_ts = 20,
				      .comm = "live"};
	struct mw_stack_row kept = {.proc_id = 100, .id = 90000, .pid = 42,
				    .nframes = 3,
				    .frames = {0x401000, 0x402000,
					       0xffffffffffffff00ull}};
	struct mw_stack_row unused = {.proc_id = 100, .id = 90001, .pid = 42,
				      .nframes = 2, .frames = {0x403000, 0x404000}};
	struct mw_finding_row f = {.id = 90002, .kind = MW_FIND_THREAD_ORPHAN,
				   .pid = 42, .proc_id = 100, .tid = 44,
				   .size = 64, .site = 0x405000, .found_ts = 900,
				   .stack_id = 90000, .severity = MW_SEV_MEDIUM,
				   .count = 1, .first_ts = 900, .last_ts = 900};
	const uint64_t sites[] = {0x401000, 0x402000, 0xffffffffffffff00ull,
				  0x403000, 0x404000, 0x405000};

	CHECK(store__begin(s) == 0);
	CHECK(store__put_process(s, &old) == 0);
	CHECK(store__put_process(s, &live) == 0);
	CHECK(store__put_stack(s, &kept) == 0);
	CHECK(store__put_stack(s, &unused) == 0);
	CHECK(store__put_finding(s, &f) == 0);
	for (size_t i = 0; i < sizeof(sites) / sizeof(sites[0]); i++) {
		struct mw_site_row site = {.proc_id = 100, .ip = sites[i],
					   .function = "fn"};

		CHECK(store__put_site(s, &site) == 0);
	}
	for (uint32_t t = 0; t < 4; t++) {
		struct mw_thread_row th = {.proc_id = 100, .pid = 42,
					   .tid = 44 + t,
					   .state = MW_THREAD_EXITED,
					   .start_ts = 11, .exit_ts = 999};
		struct mw_thread_row lt = th;

		lt.proc_id = 5;
		lt.pid = 43;
		lt.state = MW_THREAD_ALIVE;
		CHECK(store__put_thread(s, &th) == 0);
		CHECK(store__put_thread(s, &lt) == 0);
	}
	{
		struct mw_key_row k = {.proc_id = 100, .pid = 42, .key = 1,
				       .generation = 1, .state = MW_KEY_LIVE};
		struct mw_binding_row b = {.proc_id = 100, .pid = 42, .tid = 44,
					   .key = 1, .generation = 1,
					   .value = 0x7f0000000010ull,
					   .block = 1, .size = 64, .set_ts = 12};

		CHECK(store__put_key(s, &k) == 0);
		CHECK(store__put_binding(s, &b) == 0);
		k.proc_id = 5;
		k.pid = 43;
		b.proc_id = 5;
		b.pid = 43;
		CHECK(store__put_key(s, &k) == 0);
		CHECK(store__put_binding(s, &b) == 0);
	}
	for (uint64_t i = 0; i < NBLOCKS; i++) {
		struct mw_block_row b = {.serial = 1000 + i, .proc_id = 100,
					 .pid = 42, .tid = 44 + (uint32_t)(i % 4),
					 .addr = 0x7f0000000000ull + 64 * i,
					 .size = 64, .ts = 100 + i,
					 .site = 0x403000, .stack_id = 90001};

		CHECK(store__add_block(s, &b) == 0);
		if (i < 10) {
			b.serial = 10 + i;
			b.proc_id = 5;
			b.pid = 43;
			CHECK(store__add_block(s, &b) == 0);
		}
	}
	CHECK(store__commit(s) == 0);
}

static void test_prune_raw_then_all(void)
{
	struct store_filter all = {0};
	struct store_pruned n = {0};
	struct mw_stack_row st;
	struct mw_site_row site;
	struct mw_process_row pr;
	uint64_t id = 0, serial = 0, held = 100;
	struct store *s;
	int rc, steps = 0, cnt;

	s = open_fresh("prune.db");
	if (!s)
		return;
	fill_prune_db(s);

	/* Only the ended process, ended before the cutoff, not held. */
	CHECK(store__prune_candidate(s, STORE_PRUNE_RAW, 1000, held_none,
				     NULL, &id) == -ENOENT);
	CHECK(store__prune_candidate(s, STORE_PRUNE_RAW, 1001, held_none,
				     NULL, &id) == 0);
	CHECK_U64(id, 100);
	CHECK(store__prune_candidate(s, STORE_PRUNE_RAW, UINT64_MAX, held_one,
				     &held, &id) == -ENOENT);

	while ((rc = store__prune_process(s, 100, STORE_PRUNE_RAW, 7, 5555,
					  &n)) == 0 &&
	       steps < 10000)
		steps++;
	CHECK_U64(rc, 1);
	/* 7 rows a step at most. */
	CHECK(steps >= NBLOCKS / 7);
	CHECK_U64(n.blocks, NBLOCKS);
	CHECK_U64(n.threads, 4);
	CHECK_U64(n.keys, 1);
	CHECK_U64(n.bindings, 1);
	CHECK_U64(n.stacks, 1);
	CHECK_U64(n.sites, 2);
	CHECK_U64(n.findings, 0);
	CHECK_U64(n.processes, 0);

	/* What the finding needs is there for explain. */
	cnt = 0;
	CHECK(store__each_finding(s, &all, keep_finding, &cnt) == 0);
	CHECK_U64(cnt, 1);
	CHECK(last_had_site);
	CHECK(store__get_stack(s, 90000, &st) == 0);
	CHECK(store__get_stack(s, 90001, &st) == -ENOENT);
	CHECK(store__get_site(s, 100, 0x401000, &site) == 0);
	CHECK(store__get_site(s, 100, 0x402000, &site) == 0);
	CHECK(store__get_site(s, 100, 0xffffffffffffff00ull, &site) == 0);
	CHECK(store__get_site(s, 100, 0x403000, &site) == -ENOENT);
	CHECK(store__get_site(s, 100, 0x404000, &site) == -ENOENT);
	CHECK(store__get_process(s, 100, &pr) == 0);
	CHECK_U64(shell_int("SELECT pruned_ts FROM processes WHERE id = 100"),
		  5555);
	/* site_usage followed the blocks; the live process is whole. */
	CHECK_U64(shell_int("SELECT count(*) FROM site_usage WHERE proc_id = 100"),
		  0);
	CHECK_U64(shell_int("SELECT count(*) FROM site_thread_usage WHERE"
			    " proc_id = 100"),
		  0);
	CHECK_U64(shell_int("SELECT blocks FROM site_usage WHERE proc_id = 5"),
		  10);
	CHECK_U64(shell_int("SELECT count(*) FROM live_blocks WHERE proc_id = 5"),
		  10);
	CHECK_U64(shell_int("SELECT count(*) FROM threads WHERE proc_id = 5"), 4);
	CHECK_U64(shell_int("SELECT count(*) FROM tls_bindings WHERE"
			    " proc_id = 5"),
		  1);

	/* Raw rows are gone: no candidate at that level, one for all. */
	CHECK(store__prune_candidate(s, STORE_PRUNE_RAW, UINT64_MAX, held_none,
				     NULL, &id) == -ENOENT);
	CHECK(store__prune_candidate(s, STORE_PRUNE_ALL, UINT64_MAX, held_none,
				     NULL, &id) == 0);
	CHECK_U64(id, 100);
	memset(&n, 0, sizeof(n));
	CHECK(store__prune_process(s, 100, STORE_PRUNE_ALL, 1000, 6666, &n) ==
	      1);
	CHECK_U64(n.findings, 1);
	CHECK_U64(n.stacks, 1);
	CHECK_U64(n.sites, 4);
	CHECK_U64(n.processes, 1);
	CHECK_U64(store_pruned__sum(&n), 7);
	CHECK(store__get_process(s, 100, &pr) == -ENOENT);
	CHECK(store__prune_candidate(s, STORE_PRUNE_ALL, UINT64_MAX, held_none,
				     NULL, &id) == -ENOENT);
	/* The traced process's rows: still there, not a candidate. */
	CHECK(store__get_process(s, 5, &pr) == 0);
	CHECK_U64(shell_int("SELECT count(*) FROM live_blocks"), 10);
	/* The highest serial was the removed process's last block. */
	CHECK(store__next_serial(s, &serial) == 0);
	CHECK_U64(serial, 90003);
	store__close(s);
}

/* Free pages go back to the file system and the log is emptied: the
 * file shrinks. A database made without incremental vacuum is converted. */
static void test_prune_shrinks(void)
{
	struct store_size before, after;
	struct store_pruned n = {0};
	struct stat st;
	struct store *s;
	int rc;

	s = open_fresh("shrink.db");
	if (!s)
		return;
	fill_prune_db(s);
	CHECK(store__checkpoint(s) == 0);
	CHECK(store__size(s, &before) == 0);
	CHECK(before.incremental);
	CHECK_U64(before.wal_bytes, 0);
	CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == before.file_bytes);
	CHECK_U64(before.file_bytes, before.pages * before.page_size);
	while ((rc = store__prune_process(s, 100, STORE_PRUNE_ALL, 100000, 1,
					  &n)) == 0)
		;
	CHECK_U64(rc, 1);
	CHECK(store__size(s, &after) == 0);
	CHECK(after.free_pages > 0);
	while (after.free_pages) {
		uint64_t was = after.free_pages;

		CHECK(store__vacuum_step(s, 4) == 0);
		CHECK(store__size(s, &after) == 0);
		CHECK(after.free_pages < was);
		if (after.free_pages >= was)
			break;
	}
	CHECK(store__checkpoint(s) == 0);
	CHECK(store__size(s, &after) == 0);
	CHECK_U64(after.wal_bytes, 0);
	CHECK(after.file_bytes < before.file_bytes);
	CHECK_U64(after.file_bytes, after.pages * after.page_size);
	store__close(s);

	/* Version 1 made by the shell: no incremental vacuum until
	 * converted, its rows kept. */
	{
		char cmd[512];

		fresh("old.db");
		snprintf(cmd, sizeof(cmd),
			 "sqlite3 '%s' < schema/001_init.sql && sqlite3 '%s' "
			 "'PRAGMA user_version=1; INSERT INTO processes (id,"
			 " pid, state, start_ts) VALUES (1, 100, 2, 1);'",
			 path, path);
		CHECK(system(cmd) == 0);
	}
	s = store__open(path, 0);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(store__size(s, &before) == 0);
	CHECK(!before.incremental);
	CHECK(store__make_incremental(s) == 0);
	CHECK(store__size(s, &after) == 0);
	CHECK(after.incremental);
	CHECK_U64(shell_int("SELECT count(*) FROM processes"), 1);
	store__close(s);
}

/* --- row descriptions (common/rows.c) against the schema ------------------ */

struct column {
	char name[32];
	char type[16];
	int pk;
};

/* The columns of table in the database at db, by the sqlite3 shell. */
static int table_columns(const char *db, const char *table,
			 struct column *c, int max)
{
	char cmd[512];
	int n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "sqlite3 -separator ' ' '%s' \"SELECT name, type, pk FROM"
		 " pragma_table_info('%s')\"",
		 db, table);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (n < max && fscanf(f, "%31s %15s %d", c[n].name, c[n].type,
				 &c[n].pk) == 3)
		n++;
	pclose(f);
	return n;
}

static const struct column *find_column(const struct column *c, int n,
					const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return &c[i];
	return NULL;
}

static size_t type_size(const struct mw_col *c)
{
	switch (c->type) {
	case MW_COL_U64:
		return 8;
	case MW_COL_U32:
	case MW_COL_I32:
		return 4;
	case MW_COL_FRAMES:
		return MW_EV_MAX_FRAMES * 8;
	}
	return c->size; /* text: any size */
}

/*
 * Each description against the schema the migrations make, at every
 * version: a column is there from the migration its since names on, with
 * a type its C type fits, KEY exactly on the primary key; in the struct
 * where it says; and at the latest version every column a table has is
 * described (but processes.pruned_ts, retention's own).
 */
static void test_rows_schema(void)
{
	struct store *s = open_fresh("rows_schema.db");
	char db[160], cmd[512];

	store__close(s);
	for (size_t v = 1; v <= mw_migrations_count + 1; v++) {
		bool latest = v > mw_migrations_count;

		if (latest) {
			/* The database store__open migrated. */
			snprintf(db, sizeof(db), "%s", path);
		} else {
			snprintf(db, sizeof(db), "%s/schema_v%zu.db", dir, v);
			unlink(db);
			snprintf(cmd, sizeof(cmd),
				 "ls schema/*.sql | sort | head -n %zu |"
				 " xargs cat | sqlite3 '%s'",
				 v, db);
			CHECK(system(cmd) == 0);
		}
		for (size_t t = 0; t < mw_row_descs_count; t++) {
			const struct mw_row_desc *d = mw_row_descs[t];
			struct column cols[64];
			int n = table_columns(db, d->table, cols, 64);
			int described = 0;

			for (unsigned i = 0; i < d->ncols; i++) {
				const struct mw_col *c = &d->cols[i];
				const struct column *k;
				bool want = latest || c->since <= v;
				bool text = c->type == MW_COL_TEXT ||
					    c->type == MW_COL_FRAMES;

				if (c->flags & MW_COL_VIRTUAL) {
					CHECK(!find_column(cols, n, c->name));
					CHECK(c->derive != NULL);
					continue;
				}
				CHECK(c->offset + c->size <= d->size);
				CHECK_U64(c->size, type_size(c));
				k = find_column(cols, n, c->name);
				if (!!k != want) {
					printf("  %s.%s at version %zu: %s\n",
					       d->table, c->name, v,
					       k ? "there too early" : "missing");
					unit_failed_now = 1;
				}
				if (!k)
					continue;
				described++;
				CHECK_STR(k->type, text ? "TEXT" : "INTEGER");
				if (!!(c->flags & MW_COL_KEY) != (k->pk > 0)) {
					printf("  %s.%s: KEY is not the primary"
					       " key\n", d->table, c->name);
					unit_failed_now = 1;
				}
			}
			if (latest && described != n - (d == &mw_process_desc)) {
				printf("  %s: %d columns, %d described\n",
				       d->table, n, described);
				unit_failed_now = 1;
			}
			if (latest && d == &mw_process_desc)
				CHECK(find_column(cols, n, "pruned_ts") != NULL);
		}
	}
}

/* A row of d with every described field set, each differently: numbers
 * past 32 and 63 bits signed, text with quotes. */
static void sample_row(const struct mw_row_desc *d, void *row, int seed)
{
	memset(row, 0, d->size);
	for (unsigned i = 0; i < d->ncols; i++) {
		const struct mw_col *c = &d->cols[i];
		void *v = mw_col__field(c, row);
		int k = seed + (int)i + 1;

		switch (c->type) {
		case MW_COL_U64:
			*(uint64_t *)v = 0x100000001ULL * (uint64_t)k;
			break;
		case MW_COL_U32:
			*(uint32_t *)v = 0x80000000u + (uint32_t)k;
			break;
		case MW_COL_I32:
			*(int32_t *)v = -k;
			break;
		case MW_COL_TEXT:
			if (!(c->flags & MW_COL_VIRTUAL))
				snprintf(v, c->size, "t'\"%d", k);
			break;
		case MW_COL_FRAMES: {
			uint64_t *f = v;

			*(uint32_t *)((char *)row + c->count) = 3;
			f[0] = 0x401000 + (uint64_t)k;
			f[1] = UINT64_MAX - (uint64_t)k;
			f[2] = 0;
			break;
		}
		}
	}
}

/* Every stored field of a and b the same. */
static void check_same_row(const struct mw_row_desc *d, const void *a,
			   const void *b)
{
	for (unsigned i = 0; i < d->ncols; i++) {
		const struct mw_col *c = &d->cols[i];

		if (c->flags & MW_COL_VIRTUAL)
			continue;
		if (memcmp(mw_col__field(c, a), mw_col__field(c, b),
			   c->size)) {
			printf("  %s.%s read back differs\n", d->table,
			       c->name);
			unit_failed_now = 1;
		}
	}
}

static union {
	struct mw_process_row process;
	struct mw_thread_row thread;
	struct mw_key_row key;
	struct mw_binding_row binding;
	struct mw_block_row block;
	struct mw_finding_row finding;
} got;

static int got_process(void *ctx, const struct mw_process_row *r)
{
	got.process = *r;
	return 0;
}

static int got_thread(void *ctx, const struct mw_thread_row *r)
{
	got.thread = *r;
	return 0;
}

static int got_key(void *ctx, const struct mw_key_row *r)
{
	got.key = *r;
	return 0;
}

static int got_binding(void *ctx, const struct mw_binding_row *r)
{
	got.binding = *r;
	return 0;
}

static int got_block(void *ctx, const struct mw_block_row *r,
		     const struct mw_site_row *site)
{
	got.block = *r;
	return 0;
}

static int got_finding(void *ctx, const struct mw_finding_row *r,
		       const struct mw_site_row *site)
{
	got.finding = *r;
	return 0;
}

/* A row of each table through the store, bound and read by their
 * descriptions, and back the same; stored as the SQL always stored them. */
static void test_rows_desc_roundtrip(void)
{
	struct mw_process_row p;
	struct mw_thread_row t;
	struct mw_key_row k;
	struct mw_binding_row b;
	struct mw_block_row l;
	struct mw_finding_row f;
	struct mw_stack_row st, st2;
	struct mw_site_row si, si2;
	struct store_filter all = {0};
	struct store *s = open_fresh("rows_roundtrip.db");

	if (!s)
		return;
	sample_row(&mw_process_desc, &p, 0);
	sample_row(&mw_thread_desc, &t, 100);
	sample_row(&mw_key_desc, &k, 200);
	sample_row(&mw_binding_desc, &b, 300);
	sample_row(&mw_block_desc, &l, 400);
	sample_row(&mw_finding_desc, &f, 500);
	sample_row(&mw_stack_desc, &st, 600);
	sample_row(&mw_site_desc, &si, 700);
	CHECK(store__begin(s) == 0);
	CHECK(store__put_process(s, &p) == 0);
	CHECK(store__put_thread(s, &t) == 0);
	CHECK(store__put_key(s, &k) == 0);
	CHECK(store__put_binding(s, &b) == 0);
	CHECK(store__add_block(s, &l) == 0);
	CHECK(store__put_finding(s, &f) == 0);
	CHECK(store__put_stack(s, &st) == 0);
	CHECK(store__put_site(s, &si) == 0);
	CHECK(store__commit(s) == 0);

	CHECK(store__each_process(s, &all, got_process, NULL) == 0);
	check_same_row(&mw_process_desc, &p, &got.process);
	CHECK(store__each_thread(s, &all, got_thread, NULL) == 0);
	check_same_row(&mw_thread_desc, &t, &got.thread);
	CHECK(store__each_key(s, &all, got_key, NULL) == 0);
	check_same_row(&mw_key_desc, &k, &got.key);
	{
		struct mw_thread_row of = {.proc_id = b.proc_id, .tid = b.tid};

		CHECK(store__each_thread_binding(s, &of, got_binding, NULL) ==
		      0);
		check_same_row(&mw_binding_desc, &b, &got.binding);
	}
	CHECK(store__each_block(s, &all, got_block, NULL) == 0);
	check_same_row(&mw_block_desc, &l, &got.block);
	CHECK(store__each_finding(s, &all, got_finding, NULL) == 0);
	check_same_row(&mw_finding_desc, &f, &got.finding);
	CHECK(store__get_stack(s, st.id, &st2) == 0);
	check_same_row(&mw_stack_desc, &st, &st2);
	CHECK(store__get_site(s, si.proc_id, si.ip, &si2) == 0);
	check_same_row(&mw_site_desc, &si, &si2);

	/* The values as stored: signed 64-bit, sign-extended 32-bit, hex
	 * text of the frames. */
	CHECK(shell_int("SELECT exit_code = -22 AND nspid = 2147483655"
			" FROM processes") == 1);
	CHECK(shell_int("SELECT frames = '40125e fffffffffffffda1 0'"
			" FROM stacks") == 1);
	CHECK(shell_int("SELECT count(*) FROM live_blocks WHERE"
			" stack_id = 409 * 4294967297") == 1);
	store__close(s);
}

/* --- the summaries against the blocks ----------------------------------- */

/*
 * How many rows of site_thread_usage and site_usage differ from the same
 * figures summed from live_blocks by GROUP BY (missing, extra or wrong),
 * each way; printed when not 0.
 */
static long long usage_mismatches(void)
{
	static const char *const q[] = {
	    "SELECT count(*) FROM (SELECT proc_id, site, tid, pid, count(*),"
	    " sum(size) FROM live_blocks GROUP BY 1, 2, 3, 4 EXCEPT SELECT"
	    " proc_id, site, tid, pid, blocks, bytes FROM site_thread_usage)",
	    "SELECT count(*) FROM (SELECT proc_id, site, tid, pid, blocks,"
	    " bytes FROM site_thread_usage EXCEPT SELECT proc_id, site, tid,"
	    " pid, count(*), sum(size) FROM live_blocks GROUP BY 1, 2, 3, 4)",
	    "SELECT count(*) FROM (SELECT proc_id, site, pid, count(*),"
	    " sum(size), count(DISTINCT tid) FROM live_blocks GROUP BY 1, 2, 3"
	    " EXCEPT SELECT proc_id, site, pid, blocks, bytes, threads FROM"
	    " site_usage)",
	    "SELECT count(*) FROM (SELECT proc_id, site, pid, blocks, bytes,"
	    " threads FROM site_usage EXCEPT SELECT proc_id, site, pid,"
	    " count(*), sum(size), count(DISTINCT tid) FROM live_blocks"
	    " GROUP BY 1, 2, 3)",
	};
	long long sum = 0;

	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		long long n = shell_int(q[i]);

		if (n)
			printf("  summaries: %lld rows differ: %s\n", n, q[i]);
		sum += n < 0 ? 1 : n;
	}
	return sum;
}

static uint64_t usage_rng;

/* splitmix64: the same sequence on every run. */
static uint64_t usage_rnd(uint64_t n)
{
	uint64_t z = (usage_rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (z ^ (z >> 31)) % n;
}

#define USAGE_PROCS 3
#define USAGE_MAX 4096

/* A block of a random process, site and thread; now and then a second
 * pid on the process's sites (memwatchd never writes one: still exact). */
static void usage_block(struct mw_block_row *b, uint64_t serial)
{
	uint64_t p = 1 + usage_rnd(USAGE_PROCS);

	memset(b, 0, sizeof(*b));
	b->serial = serial;
	b->proc_id = p;
	b->pid = (uint32_t)(100 * p + (usage_rnd(50) ? 0 : 1));
	b->tid = (uint32_t)(100 * p + usage_rnd(5));
	b->site = 0x1000 + 0x10 * usage_rnd(6);
	b->size = 1 + usage_rnd(1 << 16);
	b->ts = 1000 + serial;
	b->addr = 0x10000 + 16 * serial;
}

/*
 * A random sequence of block writes, deletes and writes again (a block
 * resized in place; the same row handed over again; another site or
 * thread) across processes, sites and threads, in transactions that
 * commit or roll back, and outside any, with retention's steps between:
 * after each round, site_thread_usage and site_usage equal what
 * live_blocks sums to, exactly.
 */
static void test_usage_exact(void)
{
	static uint64_t live[USAGE_MAX], saved[USAGE_MAX];
	size_t nlive = 0, nsaved = 0;
	uint64_t serial = 1;
	struct store *s = open_fresh("usage.db");

	if (!s)
		return;
	usage_rng = 19;
	for (uint64_t p = 1; p <= USAGE_PROCS; p++) {
		struct mw_process_row r = {.id = p, .pid = (uint32_t)(100 * p),
					   .state = MW_PROC_EXITED,
					   .start_ts = 1, .end_ts = 100000};

		CHECK(store__put_process(s, &r) == 0);
	}
	for (int round = 0; round < 40; round++) {
		/* 1 in 8 rolled back, 1 in 8 outside a transaction. */
		uint64_t how = usage_rnd(8);
		bool tx = how != 0, rollback = how == 1;
		uint64_t nops = 1 + usage_rnd(60);

		if (tx) {
			CHECK(store__begin(s) == 0);
			memcpy(saved, live, nlive * sizeof(*live));
			nsaved = nlive;
		}
		for (uint64_t op = 0; op < nops; op++) {
			uint64_t what = usage_rnd(10);
			struct mw_block_row b;

			if (what < 5 || !nlive) {
				/* A new block. */
				if (nlive == USAGE_MAX)
					continue;
				usage_block(&b, serial);
				CHECK(store__add_block(s, &b) == 0);
				live[nlive++] = serial++;
			} else if (what < 7) {
				/* A block freed. */
				size_t i = (size_t)usage_rnd(nlive);

				CHECK(store__del_block(s, live[i]) == 0);
				live[i] = live[--nlive];
			} else if (what < 9) {
				/* Written again: a new size; 1 in 3 another
				 * site, thread or process too. */
				size_t i = (size_t)usage_rnd(nlive);

				usage_block(&b, live[i]);
				CHECK(store__add_block(s, &b) == 0);
				if (usage_rnd(3)) {
					b.size += 16;
					CHECK(store__add_block(s, &b) == 0);
				}
				/* The same row again changes nothing. */
				CHECK(store__add_block(s, &b) == 0);
			} else {
				/* Freed twice (or after retention took it):
				 * nothing to delete. */
				CHECK(store__del_block(s, serial + 1000) == 0);
			}
		}
		if (rollback) {
			CHECK(store__rollback(s) == 0);
			memcpy(live, saved, nsaved * sizeof(*live));
			nlive = nsaved;
		} else if (tx) {
			CHECK(store__commit(s) == 0);
		}
		/* Retention: a step of a few rows, now and then a whole
		 * process. Its blocks stay in live[]: deleting one again is a
		 * no-op, writing one again a new row. The last rounds
		 * only write. */
		if (round % 5 == 4 && round < 30) {
			struct store_pruned n = {0};
			uint64_t p = 1 + usage_rnd(USAGE_PROCS);
			int r;

			if (round % 15 == 14)
				while ((r = store__prune_process(
					    s, p, STORE_PRUNE_RAW, 5, 1, &n)) ==
				       0)
					;
			else
				r = store__prune_process(s, p, STORE_PRUNE_RAW,
							 5, 1, &n);
			CHECK(r >= 0);
			CHECK(n.blocks > 0 || r == 1);
		}
		CHECK_U64(usage_mismatches(), 0);
	}
	/* Not exact by being empty. */
	CHECK(shell_int("SELECT count(*) FROM live_blocks") > 100);
	CHECK(shell_int("SELECT count(*) FROM site_thread_usage") > 10);
	CHECK(shell_int("SELECT count(*) FROM site_usage WHERE threads > 1") >
	      1);
	CHECK(shell_int("SELECT count(DISTINCT proc_id) FROM site_usage") > 1);
	store__close(s);
}

/*
 * A database the triggers kept (the version before schema 011, made by
 * the shell as memwatch did, blocks written, rewritten and deleted) is
 * migrated: the triggers are gone, the summaries are as they were,
 * exact, and stay exact as the new writer goes on.
 */
static void test_usage_migrate(void)
{
	glob_t g;
	char cmd[2048];
	size_t o, before = 0;
	struct mw_block_row b = {.serial = 50, .proc_id = 1, .pid = 100,
				 .tid = 103, .size = 7, .ts = 60,
				 .site = 0x20};
	struct store *s;

	fresh("pre011.db");
	CHECK(glob("schema/*.sql", 0, NULL, &g) == 0);
	o = (size_t)snprintf(cmd, sizeof(cmd), "cat");
	for (size_t i = 0; i < g.gl_pathc; i++) {
		if (strcmp(g.gl_pathv[i], "schema/010") >= 0)
			continue;
		before++;
		o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, " %s",
				      g.gl_pathv[i]);
	}
	globfree(&g);
	CHECK(before >= 9);
	snprintf(cmd + o, sizeof(cmd) - o,
		 " | sqlite3 '%s' && sqlite3 '%s' 'PRAGMA user_version=%zu;"
		 " INSERT INTO processes (id, pid, state, start_ts, end_ts)"
		 " VALUES (1, 100, 2, 1, 100); INSERT INTO live_blocks (serial,"
		 " proc_id, pid, tid, addr, size, ts, site) VALUES"
		 " (10, 1, 100, 101, 0, 100, 95, 16), (11, 1, 100, 102, 0, 50,"
		 " 85, 16), (12, 1, 100, 101, 0, 10, 50, 32),"
		 " (13, 1, 100, 102, 0, 1, 50, 32), (14, 1, 100, 101, 0, 3, 50,"
		 " 16); DELETE FROM live_blocks WHERE serial = 13;"
		 " INSERT INTO live_blocks (serial, proc_id, pid, tid, addr,"
		 " size, ts, site) VALUES (12, 1, 100, 101, 0, 20, 50, 32)"
		 " ON CONFLICT DO UPDATE SET size = excluded.size;'",
		 path, path, before);
	CHECK(system(cmd) == 0);
	CHECK_U64(shell_int("SELECT count(*) FROM sqlite_master WHERE"
			    " type = 'trigger'"),
		  3);
	CHECK_U64(shell_int("SELECT threads FROM site_usage WHERE site = 16"),
		  2);
	s = store__open(path, 0);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_U64(store__schema_version(s), mw_migrations_count);
	CHECK_U64(shell_int("SELECT count(*) FROM sqlite_master WHERE"
			    " type = 'trigger'"),
		  0);
	CHECK_U64(shell_int("SELECT blocks * 1000 + bytes FROM site_usage"
			    " WHERE site = 16"),
		  3153);
	CHECK_U64(shell_int("SELECT bytes FROM site_thread_usage WHERE"
			    " site = 32"),
		  20);
	CHECK_U64(usage_mismatches(), 0);
	/* The writer goes on: a thread more on site 0x20, one less on 16. */
	CHECK(store__begin(s) == 0);
	CHECK(store__add_block(s, &b) == 0);
	CHECK(store__del_block(s, 11) == 0);
	CHECK(store__commit(s) == 0);
	CHECK_U64(shell_int("SELECT threads FROM site_usage WHERE site = 32"),
		  2);
	CHECK_U64(shell_int("SELECT threads FROM site_usage WHERE site = 16"),
		  1);
	CHECK_U64(usage_mismatches(), 0);
	store__close(s);
}

/* One line of text from the sqlite3 shell, into buf. */
static void shell_text(const char *sql, char *buf, size_t len)
{
	char cmd[1024];
	FILE *f;

	buf[0] = '\0';
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"%s\"", path, sql);
	f = popen(cmd, "r");
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	pclose(f);
}

static char top_text[2048];

/* top's rows as "site:tid:blocks:bytes;" each, in order. */
static int top_text_cb(void *ctx, const struct store_site_usage *u,
		       const struct mw_site_row *site)
{
	size_t o = strlen(top_text);

	snprintf(top_text + o, sizeof(top_text) - o, "%llu:%u:%llu:%llu;",
		 (unsigned long long)u->site, u->tid,
		 (unsigned long long)u->blocks, (unsigned long long)u->bytes);
	return 0;
}

/* top --per thread's first 12 rows against the same ranked from
 * live_blocks by GROUP BY, by bytes and by blocks. */
static void check_top_per_thread(struct store *s)
{
	static const char *const want_sql[2] = {
	    "SELECT group_concat(x, '') FROM (SELECT site || ':' || tid ||"
	    " ':' || count(*) || ':' || sum(size) || ';' AS x FROM live_blocks"
	    " GROUP BY proc_id, site, tid ORDER BY sum(size) DESC, count(*)"
	    " DESC, proc_id, tid, site LIMIT 12)",
	    "SELECT group_concat(x, '') FROM (SELECT site || ':' || tid ||"
	    " ':' || count(*) || ':' || sum(size) || ';' AS x FROM live_blocks"
	    " GROUP BY proc_id, site, tid ORDER BY count(*) DESC, sum(size)"
	    " DESC, proc_id, tid, site LIMIT 12)",
	};
	struct store_filter f = {.limit = 12};
	char want[2048];

	for (int by = 0; by < 2; by++) {
		struct store_top q = {.flags = STORE_TOP_PER_THREAD |
					       (by ? STORE_TOP_BLOCKS : 0),
				      .now = 1000000, .window = 10};

		top_text[0] = '\0';
		CHECK(store__each_site_usage(s, &f, &q, top_text_cb, NULL) ==
		      0);
		shell_text(want_sql[by], want, sizeof(want));
		CHECK(strlen(want) > 100);
		CHECK_STR(top_text, want);
	}
}

/*
 * top --per thread ranks site_thread_usage's rows as they are when no
 * site's blocks carry two pids, and sums them by (process, site, thread)
 * when one does: both give the ranking live_blocks gives.
 */
static void test_top_per_thread(void)
{
	struct store *s = open_fresh("per_thread.db");
	struct mw_block_row b;

	if (!s)
		return;
	usage_rng = 7;
	CHECK(store__begin(s) == 0);
	for (uint64_t serial = 1; serial <= 400; serial++) {
		usage_block(&b, serial);
		b.pid = (uint32_t)(100 * b.proc_id);
		CHECK(store__add_block(s, &b) == 0);
	}
	CHECK(store__commit(s) == 0);
	check_top_per_thread(s);
	/* A site of process 1 with a block of another pid. */
	usage_block(&b, 401);
	b.proc_id = 1;
	b.tid = 100;
	b.pid = 101;
	b.site = 0x1000;
	b.size = 1000000;
	CHECK(store__add_block(s, &b) == 0);
	check_top_per_thread(s);
	store__close(s);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_create_and_migrate),	 UNIT_CASE(test_rows_roundtrip),
    UNIT_CASE(test_stacks_and_evidence), UNIT_CASE(test_ack_and_states),
    UNIT_CASE(test_migrate_from_v1),
    UNIT_CASE(test_rdonly_missing),	 UNIT_CASE(test_garbage_untouched),
    UNIT_CASE(test_foreign_sqlite),	 UNIT_CASE(test_newer_version),
    UNIT_CASE(test_locked_writer),	 UNIT_CASE(test_site_usage),
    UNIT_CASE(test_site_usage_upkeep),	 UNIT_CASE(test_site_usage_v4),
    UNIT_CASE(test_thread_queries),	 UNIT_CASE(test_prune_raw_then_all),
    UNIT_CASE(test_prune_shrinks),	 UNIT_CASE(test_rows_schema),
    UNIT_CASE(test_rows_desc_roundtrip), UNIT_CASE(test_usage_exact),
    UNIT_CASE(test_usage_migrate),	 UNIT_CASE(test_top_per_thread),
};

int main(int argc, char **argv)
{
	int rc = unit_args(argc, argv, cases, UNIT_NCASES(cases));

	if (rc >= 0)
		return rc;
	snprintf(dir, sizeof(dir), "/tmp/mw-store-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("FAIL: setup: mkdtemp\n");
		return 1;
	}
	unit_run(cases, UNIT_NCASES(cases));
	{
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			printf("  note: could not remove %s\n", dir);
	}
	UNIT_EXIT();
}
