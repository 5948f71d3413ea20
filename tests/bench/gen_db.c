/*
 * gen_db.c - a synthetic memwatch database shaped like a busy fleet host,
 * to time memwatchctl's queries on it (tests/bench/query.sh).
 *
 *   gen_db [OPTIONS] DB
 *
 * The schema is the real one: the file is created with store__open(),
 * which applies every schema/NNN_*.sql migration. The rows are then
 * bulk-loaded through memwatchd's own statements (made from the rows'
 * descriptions, common/rows.c, by store/store_row.c; prepared once,
 * bound per row) in transactions of --batch rows, journal and fsync off, so
 * whatever the schema does on insert (indexes) is paid here as memwatchd
 * pays it, and shows in the rates printed. The summaries memwatchd writes
 * at each commit (site_usage, site_thread_usage: store/store_usage.c) are
 * summed from the blocks once they are all in.
 *
 * --churn N then writes the way memwatchd does, through the store itself
 * (store__open: WAL, synchronous=NORMAL; SQLite's default cache;
 * store__del_block and store__add_block in transactions of --churn-batch
 * rows, each commit writing the summaries): N times, a random stored
 * block is freed (deleted) and a new one stored, as the daemon's flushes
 * do on a host in steady state. Its rate is what each live_blocks write
 * costs the daemon on a table that big. --reuse churns a DB generated
 * before (with the same options) instead, so that runs can be compared
 * on one file (a copy of it, since the churn changes it).
 *
 * The shape (defaults): 200 processes, most still traced; 1,000,000
 * threads over them, skewed (a few processes churn most of them), most
 * exited; 3,000 allocation sites, 2 stacks each; 10,000,000 live blocks
 * over the sites by a Zipf law (the top 10 sites hold about half of
 * them), each site's blocks in exited threads (thread-orphan style), in
 * a process's pooled live threads, or in its main thread; pthread keys
 * and the live threads' bindings; 3,000 findings of every kind. Times
 * span the last 24 h before --now; a block's serial follows its time.
 * Everything comes from --seed: the same options give the same rows.
 *
 * Prints each phase's time and rate, the row counts and the file size.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rows.h"
#include "store.h"
#include "store_int.h"

#define NS 1000000000ull

static struct {
	uint64_t blocks, threads, procs, sites, stacks_per_site, findings;
	uint64_t keys_per_proc, batch, seed, now;
	uint64_t churn, churn_batch, churn_cache;
	int force, reuse;
	const char *sql[16];
	int nsql;
} opt = {
	.blocks = 10000000,
	.threads = 1000000,
	.procs = 200,
	.sites = 3000,
	.stacks_per_site = 2,
	.findings = 3000,
	.keys_per_proc = 8,
	.batch = 100000,
	.churn_batch = 10000,
	.churn_cache = 2000,
	.seed = 1,
};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "gen_db: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- random numbers: splitmix64, reproducible from --seed ---------------- */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static uint64_t rnd(uint64_t n)
{
	return n ? rnd64() % n : 0;
}

static double rnd01(void)
{
	return (double)(rnd64() >> 11) / 9007199254740992.0;
}

/* Fisher-Yates: a random permutation of 0..n-1. */
static uint32_t *permutation(uint32_t n)
{
	uint32_t *v = xcalloc(n, sizeof(*v));

	for (uint32_t i = 0; i < n; i++)
		v[i] = i;
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = (uint32_t)rnd(i), t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
	return v;
}

/*
 * Split total into n parts, each at least min, the rest by Zipf weights
 * 1/rank^s over a random order of the parts.
 */
static uint64_t *zipf_split(uint64_t total, uint32_t n, double s, uint64_t min)
{
	uint64_t *out = xcalloc(n, sizeof(*out)), given = 0;
	uint32_t *rank = permutation(n);
	double sum = 0;

	for (uint32_t i = 0; i < n; i++)
		sum += 1.0 / pow(rank[i] + 1.0, s);
	for (uint32_t i = 0; i < n; i++) {
		out[i] = min + (uint64_t)((double)(total - min * n) *
					  (1.0 / pow(rank[i] + 1.0, s)) / sum);
		given += out[i];
	}
	/* Rounding leftovers go to the largest part. */
	for (uint32_t i = 0; i < n; i++)
		if (rank[i] == 0)
			out[i] += total - given;
	free(rank);
	return out;
}

/* --- the host being generated -------------------------------------------- */

enum site_kind {
	SITE_ORPHAN,	/* blocks left in exited threads, thread after thread */
	SITE_POOL,	/* blocks held by the pooled live threads */
	SITE_MAIN,	/* blocks of the main thread (caches, globals) */
};

struct proc {
	uint64_t id;
	uint32_t pid, state;
	uint64_t start, end;	/* end 0: still traced */
	uint32_t first_thread, nthreads, nalive;
	uint32_t first_site, nsites;
	char comm[MW_COMM_MAX];
	const char *exe;
	uint64_t live_blocks, live_bytes, allocs, frees, findings;
};

struct site {
	uint32_t proc;
	uint32_t kind;
	uint64_t ip;
	uint64_t base_size;
	int fixed_size;
	uint64_t first_stack;
};

/* Threads: structure of arrays, 1M of each. */
static struct {
	uint32_t *proc, *tid, *live_blocks;
	uint64_t *live_bytes, *max_ts, *last_block, *last_addr, *last_size;
} th;

static struct proc *procs;
static struct site *sites;
static double *site_cdf;
static uint64_t serial = 1;

static uint64_t proc_life_end(const struct proc *p)
{
	return p->end ? p->end : opt.now;
}

/* The start of exited thread j (0-based, by start time) of p: they
 * start evenly over the process's life, so a block of time ts can pick
 * a thread that was running then. */
static uint64_t exited_start(const struct proc *p, uint32_t j)
{
	uint32_t n = p->nthreads - p->nalive;

	return p->start + (uint64_t)((double)(proc_life_end(p) - p->start) *
				     j / (n ? n : 1));
}

static const char *const exes[] = {
	"/usr/sbin/nginx", "/usr/bin/java", "/usr/lib/postgresql/15/bin/postgres",
	"/usr/bin/memcached", "/usr/bin/redis-server", "/usr/bin/python3.11",
	"/usr/local/bin/envoy", "/usr/sbin/mysqld", "/opt/app/bin/api-server",
	"/usr/bin/node", "/opt/app/bin/indexer", "/usr/sbin/haproxy",
};

static const char *const libs[] = {
	"/usr/lib/x86_64-linux-gnu/libc.so.6",
	"/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
	"/usr/lib/x86_64-linux-gnu/libssl.so.3",
	"/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
	"/usr/lib/x86_64-linux-gnu/libprotobuf.so.32",
	"/usr/lib/x86_64-linux-gnu/libz.so.1",
	"/opt/app/lib/libplugin.so",
};

static const char *const functions[] = {
	"conn_new", "buf_alloc", "request_parse", "session_create",
	"cache_insert", "worker_init", "tls_ctx_new", "json_parse_object",
	"log_format", "queue_push", "strdup", "xmalloc", "arena_new",
	"_ZN5cache4Pool8allocateEm", "_ZN3net10Connection4readEv",
	"_ZNSt6vectorIcSaIcEE17_M_realloc_insertEv",
	"_ZN6worker12thread_stateC2Ev", "_ZN2db6Cursor5fetchEi",
	"CRYPTO_zalloc", "deflateInit2_",
};

static const char *const files[] = {
	"src/net/conn.c", "src/util/buf.c", "src/http/parse.c", "src/session.c",
	"src/cache/pool.cc", "src/worker.cc", "src/db/cursor.cc",
	"src/queue.c",
};

/* --- writing ------------------------------------------------------------- */

static sqlite3 *db;
static uint64_t in_txn;

static void exec(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		die("%s: %s", sql, msg ? msg : sqlite3_errmsg(db));
}

static sqlite3_stmt *prepare(const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
			       NULL) != SQLITE_OK)
		die("%s: %s", sql, sqlite3_errmsg(db));
	return st;
}

/* Run a bound statement; commit every --batch rows. */
static void step(sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		die("insert: %s", sqlite3_errmsg(db));
	sqlite3_reset(st);
	if (++in_txn >= opt.batch) {
		exec("COMMIT");
		exec("BEGIN");
		in_txn = 0;
	}
}

/* The statement memwatchd writes a row of d with (store_write.c). */
static sqlite3_stmt *prepare_row(const struct mw_row_desc *d)
{
	struct sql_text t = {0};

	row_sql__write(&t, d);
	if (t.bad)
		die("%s: SQL text too long", d->table);
	return prepare(t.text);
}

/* Bind row (of the table st writes) and run it. */
static void put_row(sqlite3_stmt *st, const struct mw_row_desc *d,
		    const void *row)
{
	row__bind(st, d, row);
	step(st);
}

static double phase_start;

static void phase_begin(void)
{
	phase_start = mono();
}

static void phase_end(const char *what, uint64_t rows)
{
	double dt = mono() - phase_start;

	printf("  %-10s %10" PRIu64 " rows %8.2f s %10.0f rows/s\n", what,
	       rows, dt, dt > 0 ? (double)rows / dt : 0.0);
	fflush(stdout);
}

/* --- the generation ------------------------------------------------------- */

static void make_procs(void)
{
	uint64_t *nthreads = zipf_split(opt.threads, (uint32_t)opt.procs, 1.0, 1);
	uint64_t *nsites = zipf_split(opt.sites, (uint32_t)opt.procs, 0.5, 1);
	uint64_t day = 24 * 3600 * NS;
	uint32_t t = 0, s = 0;

	procs = xcalloc(opt.procs, sizeof(*procs));
	for (uint32_t i = 0; i < opt.procs; i++) {
		struct proc *p = &procs[i];
		uint64_t r = rnd(100);
		const char *base;

		p->id = serial++;
		p->pid = 1000 + i * 17 + (uint32_t)rnd(17);
		p->exe = exes[rnd(sizeof(exes) / sizeof(exes[0]))];
		base = strrchr(p->exe, '/') + 1;
		snprintf(p->comm, sizeof(p->comm), "%s", base);
		p->start = opt.now - day + rnd(6 * 3600 * NS);
		/* 85% still traced, 10% exited, 5% detached. */
		p->state = r < 85 ? MW_PROC_TRACING
			 : r < 95 ? MW_PROC_EXITED
				  : MW_PROC_DETACHED;
		if (p->state != MW_PROC_TRACING)
			p->end = p->start + 3600 * NS +
				 rnd(opt.now - p->start - 3660 * NS);
		p->first_thread = t;
		p->nthreads = (uint32_t)nthreads[i];
		/* Main thread plus a pool of 1..63 live threads. */
		p->nalive = 1 + (uint32_t)rnd(64);
		if (p->nalive > p->nthreads)
			p->nalive = p->nthreads;
		t += p->nthreads;
		p->first_site = s;
		p->nsites = (uint32_t)nsites[i];
		s += p->nsites;
	}
	free(nthreads);
	free(nsites);
}

static void make_sites(void)
{
	uint64_t *weight = zipf_split(1000000000ull, (uint32_t)opt.sites, 1.2, 0);
	double sum = 0;

	sites = xcalloc(opt.sites, sizeof(*sites));
	site_cdf = xcalloc(opt.sites, sizeof(*site_cdf));
	for (uint32_t p = 0; p < opt.procs; p++) {
		for (uint32_t j = 0; j < procs[p].nsites; j++) {
			struct site *st = &sites[procs[p].first_site + j];
			uint64_t r = rnd(100);

			st->proc = p;
			st->kind = r < 50 ? SITE_ORPHAN
				 : r < 85 ? SITE_POOL
					  : SITE_MAIN;
			/* Executable sites low, libraries' high. */
			st->ip = (rnd(3) ? 0x555555554000ull + 0x1000 * rnd(4096)
					 : 0x7f3a12000000ull + 0x1000 * rnd(65536)) +
				 16 * j + 5;
			st->base_size = 16ull << rnd(12);
			st->fixed_size = rnd(10) < 3;
			st->first_stack = serial;
			serial += opt.stacks_per_site;
		}
	}
	for (uint32_t i = 0; i < opt.sites; i++) {
		sum += (double)weight[i];
		site_cdf[i] = sum;
	}
	for (uint32_t i = 0; i < opt.sites; i++)
		site_cdf[i] /= sum;
	free(weight);
}

static uint32_t pick_site(void)
{
	double u = rnd01();
	uint32_t lo = 0, hi = (uint32_t)opt.sites - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (site_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void write_sites_and_stacks(void)
{
	sqlite3_stmt *si = prepare_row(&mw_site_desc);
	sqlite3_stmt *sk = prepare_row(&mw_stack_desc);
	uint64_t nsites = 0, nstacks = 0;

	phase_begin();
	for (uint32_t i = 0; i < opt.sites; i++) {
		const struct site *st = &sites[i];
		const struct proc *p = &procs[st->proc];

		/* One site in ten was never symbolized: no row. */
		if (rnd(10)) {
			int lib = st->ip >= 0x7f0000000000ull;
			uint64_t r = rnd(100);
			struct mw_site_row row = {.proc_id = p->id, .ip = st->ip};

			snprintf(row.module, sizeof(row.module), "%s",
				 lib ? libs[rnd(sizeof(libs) / sizeof(libs[0]))]
				     : p->exe);
			snprintf(row.function, sizeof(row.function), "%s",
				 r < 90 ? functions[rnd(sizeof(functions) /
							sizeof(functions[0]))]
					: "");
			row.offset = r < 90 ? 4 + rnd(600) : 0;
			snprintf(row.file, sizeof(row.file), "%s",
				 r < 60 ? files[rnd(sizeof(files) /
						    sizeof(files[0]))]
					: "");
			row.line = (uint32_t)(r < 60 ? 10 + rnd(2000) : 0);
			put_row(si, &mw_site_desc, &row);
			nsites++;
		}
		for (uint64_t k = 0; k < opt.stacks_per_site; k++) {
			struct mw_stack_row row = {.id = st->first_stack + k,
						   .proc_id = p->id,
						   .pid = p->pid};
			uint32_t n = 4 + (uint32_t)rnd(13);

			/* The call site first; callers of the same process. */
			row.frames[0] = st->ip;
			for (uint32_t f = 1; f < n; f++) {
				const struct site *c =
					&sites[p->first_site + rnd(p->nsites)];

				row.frames[f] = rnd(3) ? c->ip + 0x40 * f
						       : 0x555555554000ull +
								 rnd(1 << 24);
			}
			row.nframes = n;
			row.flags = rnd(20) ? 0 : MW_STACK_TLS_INIT;
			put_row(sk, &mw_stack_desc, &row);
			nstacks++;
		}
	}
	sqlite3_finalize(si);
	sqlite3_finalize(sk);
	phase_end("sites", nsites);
	printf("  %-10s %10" PRIu64 " rows (with the sites)\n", "stacks",
	       nstacks);
}

/* A thread of p for a block of site st at time ts. */
static uint32_t pick_thread(const struct proc *p, const struct site *st,
			    uint64_t ts)
{
	uint32_t nexited = p->nthreads - p->nalive;

	if (st->kind == SITE_MAIN)
		return p->first_thread;
	if (st->kind == SITE_ORPHAN && nexited) {
		/* One of the threads that had started by ts, most likely one
		 * of the last few: exited threads come and go over time. */
		uint64_t life = proc_life_end(p) - p->start;
		uint32_t j = (uint32_t)((double)(ts - p->start) / (double)life *
					nexited);

		if (j >= nexited)
			j = nexited - 1;
		while (j && exited_start(p, j) > ts)
			j--;
		j -= (uint32_t)rnd(j < 8 ? j + 1 : 8);
		return p->first_thread + p->nalive + j;
	}
	return p->first_thread + (uint32_t)rnd(p->nalive);
}

/* Block i of N: its site by the Zipf law, its time from i (time follows
 * the serial), its thread from the site's kind. */
static void make_block(uint64_t i, uint64_t n, struct mw_block_row *r,
		       uint32_t *thread)
{
	uint32_t s = pick_site();
	const struct site *site = &sites[s];
	struct proc *p = &procs[site->proc];
	uint64_t life = proc_life_end(p) - p->start - 2 * NS;
	/* Block i is at i/N of its process's life, and at least 2 s
	 * before its end. */
	uint64_t ts = p->start + (uint64_t)((double)life *
					    ((double)i + rnd01()) / (double)n);
	uint32_t t = pick_thread(p, site, ts);

	r->serial = serial++;
	r->proc_id = p->id;
	r->pid = p->pid;
	r->tid = th.tid[t];
	r->size = site->fixed_size
			  ? site->base_size
			  : 16 + (site->base_size / 2 + rnd(site->base_size)) / 16 * 16;
	r->addr = 0x7f0000000000ull + ((uint64_t)site->proc << 32) +
		  16 * rnd(1ull << 27);
	r->ts = ts;
	r->site = site->ip;
	r->stack_id = site->first_stack + rnd(opt.stacks_per_site);
	*thread = t;
}

static sqlite3_stmt *prepare_block_insert(void)
{
	return prepare_row(&mw_block_desc);
}

static void bind_block(sqlite3_stmt *st, const struct mw_block_row *r)
{
	row__bind(st, &mw_block_desc, r);
}

static uint64_t first_block_serial;

static void write_blocks(void)
{
	sqlite3_stmt *st = prepare_block_insert();
	double chunk_t = mono();
	uint64_t chunk = opt.blocks >= 10 ? opt.blocks / 10 : opt.blocks;

	phase_begin();
	first_block_serial = serial;
	for (uint64_t i = 0; i < opt.blocks; i++) {
		struct mw_block_row r;
		uint32_t t;

		make_block(i, opt.blocks, &r, &t);
		bind_block(st, &r);
		step(st);
		th.live_blocks[t]++;
		th.live_bytes[t] += r.size;
		if (r.ts > th.max_ts[t])
			th.max_ts[t] = r.ts;
		th.last_block[t] = r.serial;
		th.last_addr[t] = r.addr;
		th.last_size[t] = r.size;
		procs[th.proc[t]].live_blocks++;
		procs[th.proc[t]].live_bytes += r.size;
		if (chunk && (i + 1) % chunk == 0) {
			double now = mono();

			printf("    %3" PRIu64 "%%  %10" PRIu64 " blocks,"
			       " last %" PRIu64 " at %.0f rows/s\n",
			       (i + 1) * 100 / opt.blocks, i + 1, chunk,
			       (double)chunk / (now - chunk_t));
			fflush(stdout);
			chunk_t = now;
		}
	}
	sqlite3_finalize(st);
	phase_end("blocks", opt.blocks);
	/* What memwatchd's commits would have summed (store_usage.c). */
	phase_begin();
	exec("INSERT INTO site_thread_usage (proc_id, site, tid, pid, blocks,"
	     " bytes) SELECT proc_id, site, tid, pid, count(*), sum(size)"
	     " FROM live_blocks GROUP BY proc_id, site, tid, pid");
	exec("INSERT INTO site_usage (proc_id, site, pid, blocks, bytes,"
	     " threads) SELECT proc_id, site, pid, sum(blocks), sum(bytes),"
	     " count(*) FROM site_thread_usage GROUP BY proc_id, site, pid");
	phase_end("summaries", opt.blocks);
}

/*
 * memwatchd's steady state on this table: a stored block is freed (its
 * row deleted) and a new one stored, --churn times, written as the daemon
 * writes. The counters of threads and processes are left as they were:
 * this is about the cost of the writes, after the rows were generated.
 */
/* A store call of the churn, which must succeed. */
static void store_ok(int err, const char *what)
{
	if (err)
		die("churn: %s: %s", what, store__strerror(err));
}

static void churn(const char *path)
{
	uint8_t *gone = xcalloc(opt.blocks / 8 + 1, 1);
	uint64_t left = opt.blocks, n = 0, in_batch = 0;
	struct store *s;
	char pragma[64];

	/* memwatchd's connection (store/store.c: WAL, synchronous=NORMAL,
	 * its statements), and SQLite's default cache unless
	 * --churn-cache. */
	if (!(s = store__open(path, 0)))
		die("%s: %s", path, store__strerror(errno));
	snprintf(pragma, sizeof(pragma), "PRAGMA cache_size=-%" PRIu64,
		 opt.churn_cache);
	store_ok(exec_sql(s->db, pragma), "cache_size");
	if (opt.reuse) {
		/* The generated blocks' serials follow each other from the
		 * lowest; those an earlier churn freed are deleted again,
		 * as no-ops. New serials from the store's, as memwatchd's. */
		int64_t first = 0;

		store_ok(query_int(s->db, "SELECT min(serial) FROM live_blocks",
				   &first),
			 "first serial");
		first_block_serial = (uint64_t)first;
		store_ok(store__next_serial(s, &serial), "next serial");
	}
	store_ok(store__begin(s), "begin");
	phase_begin();
	for (uint64_t i = 0; i < opt.churn; i++) {
		struct mw_block_row r;
		uint32_t t;

		if (left) {
			uint64_t k;

			do
				k = rnd(opt.blocks);
			while (gone[k / 8] & (1u << (k % 8)));
			gone[k / 8] |= (uint8_t)(1u << (k % 8));
			left--;
			store_ok(store__del_block(s, first_block_serial + k),
				 "delete");
			n++;
			in_batch++;
		}
		/* New blocks are the host's latest: at the end of time. */
		make_block(opt.blocks - 1, opt.blocks, &r, &t);
		store_ok(store__add_block(s, &r), "write");
		n++;
		if (++in_batch >= opt.churn_batch) {
			store_ok(store__commit(s), "commit");
			store_ok(store__begin(s), "begin");
			in_batch = 0;
		}
	}
	store_ok(store__commit(s), "commit");
	phase_end("churn", n);
	printf("  %-10s %" PRIu64 " frees and %" PRIu64 " new blocks, WAL,"
	       " %" PRIu64 " rows per transaction, %" PRIu64 " KiB cache\n",
	       "", n - opt.churn, opt.churn, opt.churn_batch, opt.churn_cache);
	store_ok(exec_sql(s->db, "PRAGMA wal_checkpoint(TRUNCATE)"),
		 "checkpoint");
	store__close(s);
	free(gone);
}

static void write_threads(void)
{
	sqlite3_stmt *st = prepare_row(&mw_thread_desc);

	phase_begin();
	for (uint32_t i = 0; i < opt.procs; i++) {
		struct proc *p = &procs[i];
		uint64_t pend = proc_life_end(p);

		for (uint32_t j = 0; j < p->nthreads; j++) {
			uint32_t t = p->first_thread + j;
			uint64_t start, exit_ts = 0, frees, avg;
			uint32_t state = MW_THREAD_ALIVE;
			char comm[MW_COMM_MAX];
			struct mw_thread_row row = {0};

			if (j < p->nalive) {
				start = p->start + (j ? rnd(60 * NS) : 0);
				if (p->state == MW_PROC_EXITED) {
					state = MW_THREAD_GONE;
					exit_ts = p->end;
				}
			} else {
				start = exited_start(p, j - p->nalive);
				exit_ts = start + NS / 100 + rnd(60 * NS);
				if (th.max_ts[t] >= exit_ts)
					exit_ts = th.max_ts[t] + 1 + rnd(NS);
				if (exit_ts > pend)
					exit_ts = pend;
				state = MW_THREAD_EXITED;
			}
			if (j == 0)
				snprintf(comm, sizeof(comm), "%s", p->comm);
			else
				snprintf(comm, sizeof(comm), "%.8s-%u",
					 j < p->nalive ? "pool" : "worker",
					 j % 100000);
			frees = th.live_blocks[t] * rnd(20) + rnd(50);
			avg = th.live_blocks[t]
				      ? th.live_bytes[t] / th.live_blocks[t]
				      : 64;
			row.proc_id = p->id;
			row.tid = th.tid[t];
			row.pid = p->pid;
			row.state = state;
			snprintf(row.comm, sizeof(row.comm), "%s", comm);
			row.start_ts = start;
			row.exit_ts = exit_ts;
			row.allocs = th.live_blocks[t] + frees;
			row.frees = frees;
			row.alloc_bytes = th.live_bytes[t] + frees * avg;
			row.free_bytes = frees * avg;
			row.cross_frees = frees / 20;
			row.unknown_frees = rnd(50) ? 0 : rnd(5);
			row.live_blocks = th.live_blocks[t];
			row.live_bytes = th.live_bytes[t];
			put_row(st, &mw_thread_desc, &row);
			p->allocs += th.live_blocks[t] + frees;
			p->frees += frees;
		}
	}
	sqlite3_finalize(st);
	phase_end("threads", opt.threads);
}

/* Keys of each process and the live threads' bindings. */
static void write_keys(void)
{
	sqlite3_stmt *sk = prepare_row(&mw_key_desc);
	sqlite3_stmt *sb = prepare_row(&mw_binding_desc);
	uint64_t nkeys = 0, nbind = 0;

	phase_begin();
	for (uint32_t i = 0; i < opt.procs; i++) {
		const struct proc *p = &procs[i];
		uint32_t nk = (uint32_t)rnd(2 * opt.keys_per_proc + 1);

		for (uint32_t k = 0; k < nk; k++) {
			/* One key in five was deleted and created again. */
			uint32_t gens = rnd(5) ? 1 : 2;
			uint64_t bindings = 0;

			for (uint32_t t = 0; t < p->nalive; t++) {
				uint32_t ti = p->first_thread + t;
				uint64_t value = th.last_block[ti]
							 ? th.last_addr[ti]
							 : 0x7e0000000000ull + 16 * rnd(1 << 20);

				struct mw_binding_row b = {
					.proc_id = p->id,
					.tid = th.tid[ti],
					.key = k,
					.generation = gens,
					.pid = p->pid,
					.value = value,
					.block = th.last_block[ti],
					.size = th.last_size[ti],
					.set_ts = th.max_ts[ti] ? th.max_ts[ti]
								: p->start + NS,
				};

				if (rnd(2))
					continue;
				put_row(sb, &mw_binding_desc, &b);
				bindings++;
				nbind++;
			}
			for (uint32_t g = 1; g <= gens; g++) {
				struct mw_key_row key = {
					.proc_id = p->id,
					.key = k,
					.generation = g,
					.pid = p->pid,
					.state = g < gens ? MW_KEY_DELETED
							  : MW_KEY_LIVE,
					.create_tid = th.tid[p->first_thread],
				};

				key.destructor = rnd(3) ? 0x555555560000ull +
								  rnd(1 << 16)
							: 0;
				key.create_ts = p->start + g * NS;
				key.delete_ts =
					g < gens ? p->start + g * NS + NS : 0;
				key.bindings = g == gens ? bindings : 0;
				put_row(sk, &mw_key_desc, &key);
				nkeys++;
			}
		}
	}
	sqlite3_finalize(sk);
	sqlite3_finalize(sb);
	phase_end("keys", nkeys);
	printf("  %-10s %10" PRIu64 " rows (with the keys)\n", "bindings",
	       nbind);
}

static void write_findings(void)
{
	/* Kinds by how often a fleet host sees them. */
	static const struct {
		uint32_t kind, weight, severity;
	} kinds[] = {
		{MW_FIND_TLS_OUTLIVED_THREAD, 35, MW_SEV_HIGH},
		{MW_FIND_TLS_OUTLIVED_KEY, 8, MW_SEV_HIGH},
		{MW_FIND_TLS_OVERWRITTEN, 15, MW_SEV_HIGH},
		{MW_FIND_THREAD_ORPHAN, 12, MW_SEV_MEDIUM},
		{MW_FIND_TLS_OUTLIVED_MODULE, 4, MW_SEV_HIGH},
		{MW_FIND_THREAD_GROWTH, 8, MW_SEV_MEDIUM},
		{MW_FIND_SITE_GROWTH, 8, MW_SEV_MEDIUM},
		{MW_FIND_ALLOCATOR_RETENTION, 3, MW_SEV_LOW},
		{MW_FIND_BAD_FREE, 7, MW_SEV_MEDIUM},
	};
	sqlite3_stmt *st = prepare_row(&mw_finding_desc);
	uint32_t total = 0;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		total += kinds[i].weight;
	phase_begin();
	for (uint64_t n = 0; n < opt.findings; n++) {
		uint32_t w = (uint32_t)rnd(total), k = 0;
		/* Busy processes have more findings: pick by a thread. */
		uint32_t t = (uint32_t)rnd(opt.threads);
		struct proc *p = &procs[th.proc[t]];
		const struct site *site = &sites[p->first_site + rnd(p->nsites)];
		uint64_t pend = proc_life_end(p);
		uint64_t first = p->start + rnd(pend - p->start - 2 * NS);
		uint64_t last = first + rnd(pend - first);
		int tls, over_time;
		char detail[MW_DETAIL_MAX];
		uint64_t count = 1, threads = 1;
		struct mw_finding_row row = {0};

		while (w >= kinds[k].weight)
			w -= kinds[k++].weight;
		tls = kinds[k].kind <= MW_FIND_TLS_OVERWRITTEN ||
		      kinds[k].kind == MW_FIND_TLS_OUTLIVED_MODULE;
		over_time = !tls;
		detail[0] = '\0';
		if (over_time) {
			count = 2 + rnd(5000);
			threads = kinds[k].kind == MW_FIND_THREAD_ORPHAN
					  ? 2 + rnd(count)
					  : 1;
			if (kinds[k].kind == MW_FIND_THREAD_ORPHAN)
				snprintf(detail, sizeof(detail),
					 "left by %" PRIu64 " of %" PRIu64
					 " exited threads",
					 threads, threads + rnd(100));
			else if (kinds[k].kind == MW_FIND_ALLOCATOR_RETENTION)
				snprintf(detail, sizeof(detail),
					 "anonymous memory +%" PRIu64
					 " MiB while %" PRIu64
					 " threads exited; live set flat",
					 16 + rnd(2048), 100 + rnd(10000));
			else if (kinds[k].kind == MW_FIND_BAD_FREE)
				snprintf(detail, sizeof(detail),
					 "%" PRIu64 " frees of unknown blocks, %"
					 PRIu64 " of other threads' blocks",
					 count, rnd(count));
			else
				snprintf(detail, sizeof(detail),
					 "grew %" PRIu64 " blocks over %" PRIu64
					 " samples", count, 3 + rnd(20));
		} else {
			last = first;
		}
		row.id = serial++;
		row.kind = kinds[k].kind;
		row.proc_id = p->id;
		row.pid = p->pid;
		row.tid = th.tid[t];
		row.key = tls ? (uint32_t)rnd(16) : 0;
		row.generation = tls ? 1 + (uint32_t)rnd(2) : 0;
		row.alloc_tid = th.tid[t];
		row.block = tls ? th.last_block[t] : 0;
		row.addr = th.last_addr[t] ? th.last_addr[t]
					   : 0x7f0000000000ull + 16 * rnd(1 << 24);
		row.size = site->base_size;
		row.site = site->ip;
		row.alloc_ts = first - rnd(NS);
		row.trigger_ts = first;
		row.found_ts = first + NS / 2;
		row.stack_id = site->first_stack;
		row.severity = kinds[k].severity;
		row.count = count;
		row.bytes = count * site->base_size;
		row.threads = (uint32_t)threads;
		row.first_ts = first;
		row.last_ts = last;
		snprintf(row.detail, sizeof(row.detail), "%s", detail);
		put_row(st, &mw_finding_desc, &row);
		p->findings++;
	}
	sqlite3_finalize(st);
	phase_end("findings", opt.findings);
}

static void write_procs(void)
{
	sqlite3_stmt *st = prepare_row(&mw_process_desc);
	static const char *const allocators[] = {"glibc", "glibc", "glibc",
						 "jemalloc", "tcmalloc",
						 "mimalloc"};

	phase_begin();
	for (uint32_t i = 0; i < opt.procs; i++) {
		const struct proc *p = &procs[i];
		char cgroup[MW_CGROUP_MAX];
		int container = rnd(3) == 0;
		struct mw_process_row row = {0};

		if (container)
			snprintf(cgroup, sizeof(cgroup),
				 "/system.slice/docker-%016" PRIx64 "%016" PRIx64
				 "%016" PRIx64 "%016" PRIx64 ".scope",
				 rnd64(), rnd64(), rnd64(), rnd64());
		else
			snprintf(cgroup, sizeof(cgroup),
				 "/system.slice/%s.service", p->comm);
		row.id = p->id;
		row.pid = p->pid;
		row.state = p->state;
		snprintf(row.comm, sizeof(row.comm), "%s", p->comm);
		row.start_ts = p->start;
		row.end_ts = p->end;
		row.exit_code = p->state == MW_PROC_EXITED ? (int32_t)rnd(3) : 0;
		row.threads = p->nthreads;
		row.allocs = p->allocs;
		row.frees = p->frees;
		row.live_blocks = p->live_blocks;
		row.live_bytes = p->live_bytes;
		row.unknown_frees = rnd(10) ? 0 : rnd(100);
		row.lost = rnd(10) ? 0 : rnd(1000);
		row.findings = p->findings;
		row.mode = rnd(10) ? MW_MODE_FULL : MW_MODE_TLS;
		snprintf(row.allocator, sizeof(row.allocator), "%s",
			 allocators[rnd(sizeof(allocators) /
					sizeof(allocators[0]))]);
		row.nspid = container ? 1 + (uint32_t)rnd(200) : p->pid;
		snprintf(row.cgroup, sizeof(row.cgroup), "%s", cgroup);
		put_row(st, &mw_process_desc, &row);
	}
	sqlite3_finalize(st);
	phase_end("processes", opt.procs);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gen_db [OPTIONS] DB\n"
		"A synthetic memwatch database (schema from schema/*.sql).\n"
		"  --blocks N      live blocks (10000000)\n"
		"  --threads N     threads, most exited (1000000)\n"
		"  --procs N       processes (200)\n"
		"  --sites N       allocation sites (3000)\n"
		"  --stacks N      stacks per site (2)\n"
		"  --findings N    findings of every kind (3000)\n"
		"  --keys N        pthread keys per process, on average (8)\n"
		"  --seed N        random seed (1)\n"
		"  --now NS        the host's present, ns since the epoch "
		"(default: now)\n"
		"  --batch N       rows per transaction (100000)\n"
		"  --churn N       then free N stored blocks and store N new"
		" ones, written\n"
		"                  as memwatchd writes (WAL, synchronous=NORMAL,"
		" default\n"
		"                  cache), and time it (0)\n"
		"  --churn-batch N rows per transaction while churning (10000)\n"
		"  --churn-cache K SQLite cache while churning, KiB (2000,"
		" memwatchd's)\n"
		"  --sql SQL       run SQL once the schema is in place, before"
		" loading\n"
		"                  (repeatable; e.g. drop an index to time"
		" inserts without it)\n"
		"  --force         replace DB if it exists\n"
		"  --reuse         churn DB, generated before with the same"
		" options, only\n");
}

static uint64_t parse_n(const char *name, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !*s || *s == '-')
		die("%s: invalid number '%s'", name, s);
	return v;
}

int main(int argc, char **argv)
{
	enum { O_BLOCKS = 256, O_THREADS, O_PROCS, O_SITES, O_STACKS,
	       O_FINDINGS, O_KEYS, O_SEED, O_NOW, O_BATCH, O_CHURN, O_CHURN_BATCH, O_CHURN_CACHE, O_SQL,
	       O_FORCE, O_REUSE };
	static const struct option lo[] = {
		{"blocks", required_argument, NULL, O_BLOCKS},
		{"threads", required_argument, NULL, O_THREADS},
		{"procs", required_argument, NULL, O_PROCS},
		{"sites", required_argument, NULL, O_SITES},
		{"stacks", required_argument, NULL, O_STACKS},
		{"findings", required_argument, NULL, O_FINDINGS},
		{"keys", required_argument, NULL, O_KEYS},
		{"seed", required_argument, NULL, O_SEED},
		{"now", required_argument, NULL, O_NOW},
		{"batch", required_argument, NULL, O_BATCH},
		{"churn", required_argument, NULL, O_CHURN},
		{"churn-batch", required_argument, NULL, O_CHURN_BATCH},
		{"churn-cache", required_argument, NULL, O_CHURN_CACHE},
		{"sql", required_argument, NULL, O_SQL},
		{"force", no_argument, NULL, O_FORCE},
		{"reuse", no_argument, NULL, O_REUSE},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *path;
	struct store *s;
	struct stat sb;
	double t0;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_BLOCKS: opt.blocks = parse_n("--blocks", optarg); break;
		case O_THREADS: opt.threads = parse_n("--threads", optarg); break;
		case O_PROCS: opt.procs = parse_n("--procs", optarg); break;
		case O_SITES: opt.sites = parse_n("--sites", optarg); break;
		case O_STACKS: opt.stacks_per_site = parse_n("--stacks", optarg); break;
		case O_FINDINGS: opt.findings = parse_n("--findings", optarg); break;
		case O_KEYS: opt.keys_per_proc = parse_n("--keys", optarg); break;
		case O_SEED: opt.seed = parse_n("--seed", optarg); break;
		case O_NOW: opt.now = parse_n("--now", optarg); break;
		case O_BATCH: opt.batch = parse_n("--batch", optarg); break;
		case O_CHURN: opt.churn = parse_n("--churn", optarg); break;
		case O_CHURN_BATCH:
			opt.churn_batch = parse_n("--churn-batch", optarg);
			break;
		case O_CHURN_CACHE:
			opt.churn_cache = parse_n("--churn-cache", optarg);
			break;
		case O_FORCE: opt.force = 1; break;
		case O_REUSE: opt.reuse = 1; break;
		case O_SQL:
			if (opt.nsql == (int)(sizeof(opt.sql) / sizeof(opt.sql[0])))
				die("--sql: too many");
			opt.sql[opt.nsql++] = optarg;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	path = argv[optind];
	if (!opt.procs || opt.procs > 100000 || opt.threads < opt.procs ||
	    opt.threads > UINT32_MAX / 2 || opt.sites < opt.procs ||
	    opt.sites > 10000000 || !opt.stacks_per_site || !opt.batch ||
	    !opt.churn_batch || !opt.churn_cache || (opt.churn && !opt.blocks))
		die("need 1 <= procs <= 100000, procs <= threads, "
		    "procs <= sites, stacks >= 1, batches >= 1, blocks to "
		    "churn");
	if (!opt.now) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		opt.now = (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
	}
	if (opt.now < 48 * 3600 * NS)
		die("--now: too early");
	rng_state = opt.seed;
	if (opt.reuse && (stat(path, &sb) || !opt.churn || opt.force))
		die("--reuse: needs --churn and a DB that exists (%s), not"
		    " --force", path);
	if (!opt.reuse && !stat(path, &sb)) {
		if (!opt.force)
			die("%s exists (--force replaces it)", path);
		if (unlink(path))
			die("%s: %s", path, strerror(errno));
	}
	if (!opt.reuse) {
		/* A WAL a previous run left would be replayed into the
		 * new file. */
		static const char *const sides[] = {"-wal", "-shm"};

		for (size_t i = 0; i < 2; i++) {
			char side[4096];

			snprintf(side, sizeof(side), "%s%s", path, sides[i]);
			unlink(side);
		}
	}

	t0 = mono();
	/* The real schema: store__open applies schema/NNN_*.sql. */
	s = store__open(path, 0);
	if (!s)
		die("%s: %s", path, store__strerror(errno));
	printf("%s: schema version %d\n", path, store__schema_version(s));
	store__close(s);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		die("%s: %s", path, sqlite3_errmsg(db));
	/* For loading only: memwatchd keeps WAL and synchronous=NORMAL. */
	if (!opt.reuse) {
		exec("PRAGMA journal_mode=OFF");
		exec("PRAGMA synchronous=OFF");
		exec("PRAGMA cache_size=-1048576");
	}
	for (int i = 0; i < opt.nsql; i++) {
		printf("  sql: %s\n", opt.sql[i]);
		exec(opt.sql[i]);
	}
	printf("generating: %" PRIu64 " processes, %" PRIu64 " threads, %" PRIu64
	       " sites, %" PRIu64 " blocks, %" PRIu64 " findings; seed %" PRIu64
	       ", %" PRIu64 " rows per transaction\n",
	       opt.procs, opt.threads, opt.sites, opt.blocks, opt.findings,
	       opt.seed, opt.batch);

	th.proc = xcalloc(opt.threads, sizeof(*th.proc));
	th.tid = xcalloc(opt.threads, sizeof(*th.tid));
	th.live_blocks = xcalloc(opt.threads, sizeof(*th.live_blocks));
	th.live_bytes = xcalloc(opt.threads, sizeof(*th.live_bytes));
	th.max_ts = xcalloc(opt.threads, sizeof(*th.max_ts));
	th.last_block = xcalloc(opt.threads, sizeof(*th.last_block));
	th.last_addr = xcalloc(opt.threads, sizeof(*th.last_addr));
	th.last_size = xcalloc(opt.threads, sizeof(*th.last_size));
	make_procs();
	/* Tids: the main thread's is the pid; the others count up from
	 * above every pid, processes' threads interleaved as on a host. */
	{
		uint32_t next = 1000 + (uint32_t)opt.procs * 17 + 1000;

		for (uint32_t i = 0; i < opt.procs; i++) {
			th.proc[procs[i].first_thread] = i;
			th.tid[procs[i].first_thread] = procs[i].pid;
		}
		/* Round-robin over the processes that still have threads
		 * to number, so tids interleave. */
		uint32_t *done = xcalloc(opt.procs, sizeof(*done));
		uint64_t left = opt.threads - opt.procs;

		for (uint32_t i = 0; i < opt.procs; i++)
			done[i] = 1;
		while (left) {
			for (uint32_t i = 0; i < opt.procs && left; i++) {
				struct proc *p = &procs[i];
				uint32_t n = 1 + (uint32_t)rnd(
					1 + p->nthreads / 50000);

				while (n-- && done[i] < p->nthreads) {
					uint32_t t = p->first_thread + done[i]++;

					th.proc[t] = i;
					th.tid[t] = next++;
					left--;
				}
			}
		}
		free(done);
	}
	make_sites();
	if (opt.reuse) {
		/* The model above is only for the new blocks' shape. */
		sqlite3_close(db);
		churn(path);
		printf("churned in %.1f s: %s\n", mono() - t0, path);
		return 0;
	}

	exec("BEGIN");
	write_sites_and_stacks();
	write_blocks();
	write_threads();
	write_keys();
	write_findings();
	write_procs();
	if (opt.churn) {
		exec("COMMIT");
		sqlite3_close(db);
		churn(path);
		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
		    SQLITE_OK)
			die("%s: %s", path, sqlite3_errmsg(db));
		exec("BEGIN");
	}
	exec("COMMIT");
	/* Left as memwatchd leaves its database. */
	exec("PRAGMA journal_mode=WAL");
	sqlite3_close(db);

	if (stat(path, &sb))
		die("%s: %s", path, strerror(errno));
	printf("generated in %.1f s: %s, %.1f MiB\n", mono() - t0, path,
	       (double)sb.st_size / 1048576.0);
	return 0;
}
