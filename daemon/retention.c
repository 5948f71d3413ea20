/*
 * retention.c - memwatchd's retention; see retention.h.
 *
 * A cycle runs one step per timer tick that did not flush, each step one
 * transaction sized to take about RETENTION_STEP_NS (its row budget
 * follows the time the last steps took), so the loop is soon back at its
 * ring buffer. A cycle goes through its phases in order:
 *
 *   AGE or SIZE   remove rows, one process at a time, oldest end first;
 *   VACUUM        give the free pages back (incremental vacuum);
 *   CHECKPOINT    empty the write-ahead log, so the file really shrinks;
 *
 * then logs once, at info level, what it removed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "retention.h"

#define MS (1000ull * 1000)
#define DAY_NS (24ull * 3600 * 1000 * MS)
#define AGE_CHECK_NS (60000 * MS)
#define SIZE_CHECK_NS (1000 * MS)
/* After an error, or a limit the processes still traced keep us over. */
#define BACKOFF_NS (60000 * MS)
#define MIN_ROWS 32u
#define MAX_ROWS 100000u
#define MIN_PAGES 16u
#define MAX_PAGES 65536u

enum phase {
	PH_IDLE,
	PH_AGE,
	PH_SIZE,
	PH_VACUUM,
	PH_CHECKPOINT,
};

struct retention {
	struct store *store;
	const struct engine *engine;
	const char *db;
	struct retention_config cfg;
	struct retention_stats st;
	enum phase phase;
	uint64_t next_age_check, next_size_check; /* monotonic ns */
	/* The process being pruned (0: pick one) and how far. */
	uint64_t proc_id;
	enum store_prune_level level;
	uint32_t rows, pages; /* a step's budget, adapted */
	/* The cycle under way. */
	bool by_size;
	struct store_pruned cyc;
	uint64_t cyc_raw, cyc_pages, cyc_steps, cyc_ns, cyc_max_ns, cyc_start;
	uint64_t cyc_bytes; /* file and log at its start */
	bool stuck;	    /* over the limit with nothing left to remove */
	bool cycle_done;    /* ended at this tick: to be logged */
	bool failed;	    /* ... on an error */
	int err;	    /* the last error logged, logged once */
	/* Ids of the processes the engine holds, sorted. */
	uint64_t *held;
	size_t nheld, cap;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* What the size limit is measured on; see retention.h. */
static uint64_t db_size(const struct store_size *z)
{
	if (z->incremental)
		return z->file_bytes + z->wal_bytes;
	return (z->pages - z->free_pages) * z->page_size + z->wal_bytes;
}

struct retention *retention__new(struct store *store,
				 const struct engine *engine, const char *db,
				 const struct retention_config *cfg)
{
	struct retention *r = calloc(1, sizeof(*r));
	struct store_size z;
	int err;

	if (!r)
		return NULL;
	r->store = store;
	r->engine = engine;
	r->db = db;
	r->cfg = *cfg;
	r->rows = 256;
	r->pages = 256;
	/* Without the sizes, nothing to convert: the checks will say why. */
	if (!cfg->max_db_mb || store__size(store, &z) || z.incremental)
		return r;
	if (z.file_bytes + z.wal_bytes <= (uint64_t)RETENTION_CONVERT_MAX_MB
					      << 20) {
		uint64_t t0 = mono_ns();

		err = store__make_incremental(store);
		if (err)
			log_warnx("database '%s': cannot turn on incremental "
				  "vacuum: %s; its file will not shrink",
				  db, store__strerror(err));
		else
			log_info("database '%s': incremental vacuum turned on "
				 "(%.1f MiB rewritten in %.2f s)",
				 db, mib(z.file_bytes + z.wal_bytes),
				 (double)(mono_ns() - t0) / 1e9);
	} else {
		log_warnx("database '%s' (%.0f MiB) predates incremental "
			  "vacuum: --max-db-mb bounds the pages in use, but "
			  "the file will not shrink until converted, with "
			  "memwatchd stopped: sqlite3 '%s' 'PRAGMA "
			  "auto_vacuum=INCREMENTAL; VACUUM'",
			  db, mib(z.file_bytes + z.wal_bytes), db);
	}
	return r;
}

void retention__free(struct retention *r)
{
	if (!r)
		return;
	free(r->held);
	free(r);
}

void retention__configure(struct retention *r,
			  const struct retention_config *cfg)
{
	r->cfg = *cfg;
	/* New limits are looked at from the next tick. */
	r->next_age_check = r->next_size_check = 0;
	r->stuck = false;
}

const struct retention_stats *retention__stats(const struct retention *r)
{
	return &r->st;
}

/* --- the processes the engine holds ------------------------------------ */

static int add_held(void *ctx, const struct engine_proc_view *pv)
{
	struct retention *r = ctx;

	if (r->nheld == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		uint64_t *p = realloc(r->held, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->held = p;
		r->cap = cap;
	}
	r->held[r->nheld++] = pv->row->id;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool is_held(void *ctx, uint64_t proc_id)
{
	struct retention *r = ctx;

	/* held is NULL until a process is: bsearch and qsort take no NULL
	 * base, even for 0 elements. */
	return r->nheld && bsearch(&proc_id, r->held, r->nheld,
				   sizeof(*r->held), cmp_u64) != NULL;
}

/* The oldest process with rows left at level that ended before `before`;
 * 0 and r->proc_id set, -ENOENT, or -errno. */
static int pick(struct retention *r, enum store_prune_level level,
		uint64_t before)
{
	int err;

	r->nheld = 0;
	if ((err = engine__each_process(r->engine, add_held, r)))
		return err;
	if (r->nheld)
		qsort(r->held, r->nheld, sizeof(*r->held), cmp_u64);
	err = store__prune_candidate(r->store, level, before, is_held, r,
				     &r->proc_id);
	if (!err)
		r->level = level;
	return err;
}

/* The age cutoffs at now: rows of processes ended before them go. */
static uint64_t cutoff(uint64_t now, uint32_t days)
{
	uint64_t age = (uint64_t)days * DAY_NS;

	return days && now > age ? now - age : 0;
}

/* Pick the next process an age cycle prunes: everything of those past
 * keep_findings_days first, then the raw rows of those past keep_days. */
static int pick_by_age(struct retention *r, uint64_t now)
{
	uint64_t all = cutoff(now, r->cfg.keep_findings_days);
	uint64_t raw = cutoff(now, r->cfg.keep_days);
	int err = -ENOENT;

	if (all)
		err = pick(r, STORE_PRUNE_ALL, all);
	if (err == -ENOENT && raw)
		err = pick(r, STORE_PRUNE_RAW, raw);
	return err;
}

/* Over the limit: the raw rows of the process that ended first, then,
 * once no raw rows are left, everything of it. */
static int pick_by_size(struct retention *r)
{
	int err = pick(r, STORE_PRUNE_RAW, UINT64_MAX);

	if (err == -ENOENT)
		err = pick(r, STORE_PRUNE_ALL, UINT64_MAX);
	return err;
}

/* --- a cycle ---------------------------------------------------------- */

static void begin_cycle(struct retention *r, enum phase phase,
			const struct store_size *z)
{
	r->phase = phase;
	r->by_size = phase == PH_SIZE;
	r->proc_id = 0;
	memset(&r->cyc, 0, sizeof(r->cyc));
	r->cyc_raw = r->cyc_pages = r->cyc_steps = r->cyc_ns = 0;
	r->cyc_max_ns = 0;
	r->cyc_start = mono_ns();
	r->cyc_bytes = z ? z->file_bytes + z->wal_bytes : 0;
	if (!z) {
		struct store_size now;

		if (!store__size(r->store, &now))
			r->cyc_bytes = now.file_bytes + now.wal_bytes;
	}
}

/* "10 blocks, 2 threads" of the rows a cycle removed. */
static void describe(char *buf, size_t len, const struct store_pruned *n)
{
	const struct {
		const char *name;
		uint64_t v;
	} t[] = {
	    {"blocks", n->blocks},     {"bindings", n->bindings},
	    {"keys", n->keys},	       {"threads", n->threads},
	    {"stacks", n->stacks},     {"sites", n->sites},
	    {"findings", n->findings},
	};
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]) && o < len; i++)
		if (t[i].v)
			o += (size_t)snprintf(
			    buf + o, len - o, "%s%llu %s", o ? ", " : "",
			    (unsigned long long)t[i].v, t[i].name);
}

/* The cycle ended (its phases done, or failed): log once what it did. */
static void log_cycle(struct retention *r)
{
	struct store_size z;
	uint64_t after = 0;
	char what[256];

	r->st.cycles++;
	/* A limit only traced processes' rows are over is looked at
	 * every minute: said once (step), not each time. */
	if (!store_pruned__sum(&r->cyc) && !r->cyc_pages)
		return;
	if (!store__size(r->store, &z))
		after = z.file_bytes + z.wal_bytes;
	describe(what, sizeof(what), &r->cyc);
	log_info(
	    "retention (%s): removed %llu rows%s%s%s: raw rows of %llu "
	    "processes, everything of %llu; database %.1f -> "
	    "%.1f MiB (%llu free pages given back); %llu steps in %.3f s, "
	    "%.2f ms on average, longest %.2f ms",
	    r->by_size ? "size" : "age",
	    (unsigned long long)store_pruned__sum(&r->cyc), what[0] ? " (" : "",
	    what, what[0] ? ")" : "", (unsigned long long)r->cyc_raw,
	    (unsigned long long)r->cyc.processes, mib(r->cyc_bytes), mib(after),
	    (unsigned long long)r->cyc_pages, (unsigned long long)r->cyc_steps,
	    (double)(mono_ns() - r->cyc_start) / 1e9,
	    r->cyc_steps ? (double)r->cyc_ns / (double)r->cyc_steps / 1e6 : 0.0,
	    (double)r->cyc_max_ns / 1e6);
}

static void end_cycle(struct retention *r)
{
	r->phase = PH_IDLE;
	r->proc_id = 0;
	r->cycle_done = true;
}

/* A step failed: say so once, drop the cycle, and look again later. */
static void failed(struct retention *r, const char *what, int err)
{
	if (err != r->err)
		log_warnx("retention: cannot %s: %s", what,
			  store__strerror(err));
	r->err = err;
	if (r->phase != PH_IDLE) {
		r->failed = true;
		end_cycle(r);
	}
	r->next_age_check = r->next_size_check = mono_ns() + BACKOFF_NS;
}

/* The next budget: scaled so a step takes about RETENTION_STEP_NS, at
 * most doubled or halved at once. Grows only on a step that used all of
 * it (a short one says nothing about a bigger one). */
static uint32_t adapt(uint32_t budget, uint64_t done, uint64_t ns, uint32_t min,
		      uint32_t max)
{
	double want;

	if (!done || !ns || (done < budget && ns <= RETENTION_STEP_NS))
		return budget;
	want = (double)RETENTION_STEP_NS * (double)done / (double)ns;
	if (want > 2.0 * budget)
		want = 2.0 * budget;
	if (want < budget / 2.0)
		want = budget / 2.0;
	if (want < min)
		want = min;
	if (want > max)
		want = max;
	return (uint32_t)want;
}

/* Remove one step's rows of the process being pruned (picking one if
 * none is): 0 done something, -ENOENT nothing left to pick, or -errno. */
static int remove_step(struct retention *r, uint64_t now)
{
	struct store_pruned got = {0};
	uint64_t t0, n;
	int err;

	if (!r->proc_id) {
		err = r->by_size ? pick_by_size(r) : pick_by_age(r, now);
		if (err)
			return err;
	}
	t0 = mono_ns();
	err = store__prune_process(r->store, r->proc_id, r->level, r->rows, now,
				   &got);
	if (err < 0)
		return err;
	n = store_pruned__sum(&got);
	store_pruned__add(&r->cyc, &got);
	store_pruned__add(&r->st.rows, &got);
	if (err == 1) {
		if (r->level == STORE_PRUNE_RAW) {
			r->cyc_raw++;
			r->st.raw_processes++;
		}
		log_debug("retention: %s rows of process %llu removed",
			  r->level == STORE_PRUNE_RAW ? "raw" : "all",
			  (unsigned long long)r->proc_id);
		r->proc_id = 0;
	}
	r->rows = adapt(r->rows, n, mono_ns() - t0, MIN_ROWS, MAX_ROWS);
	return 0;
}

/* A cycle's step by its phase. */
static void step(struct retention *r, uint64_t now)
{
	struct store_size z;
	uint64_t limit = (uint64_t)r->cfg.max_db_mb << 20, t0, n;
	int err;

	switch (r->phase) {
	case PH_IDLE:
		return;
	case PH_AGE:
		err = remove_step(r, now);
		if (err == -ENOENT)
			r->phase = PH_VACUUM;
		else if (err)
			failed(r, "remove old rows", err);
		return;
	case PH_SIZE:
		if ((err = store__size(r->store, &z))) {
			failed(r, "measure the database", err);
			return;
		}
		if (!limit || (z.pages - z.free_pages) * z.page_size <=
				  RETENTION_LOW_WATER(limit)) {
			r->phase = PH_VACUUM;
			return;
		}
		err = remove_step(r, now);
		if (err == -ENOENT) {
			/* Only processes still traced are left. */
			if (!r->stuck)
				log_warnx("retention: database '%s' over "
					  "--max-db-mb %u with only the rows "
					  "of processes still traced left; "
					  "trying again every minute",
					  r->db, r->cfg.max_db_mb);
			r->stuck = true;
			r->next_size_check = mono_ns() + BACKOFF_NS;
			r->phase = PH_VACUUM;
		} else if (err) {
			failed(r, "remove rows", err);
		}
		return;
	case PH_VACUUM:
		if ((err = store__size(r->store, &z))) {
			failed(r, "measure the database", err);
			return;
		}
		if (!z.incremental || !z.free_pages) {
			r->phase = PH_CHECKPOINT;
			return;
		}
		t0 = mono_ns();
		if ((err = store__vacuum_step(r->store, r->pages))) {
			failed(r, "give free pages back", err);
			return;
		}
		n = z.free_pages < r->pages ? z.free_pages : r->pages;
		r->st.vacuumed_pages += n;
		r->cyc_pages += n;
		r->pages =
		    adapt(r->pages, n, mono_ns() - t0, MIN_PAGES, MAX_PAGES);
		return;
	case PH_CHECKPOINT:
		/* Readers in the middle of the log keep it: the next
		 * cycle truncates it. */
		err = store__checkpoint(r->store);
		if (err && err != -EBUSY) {
			failed(r, "checkpoint the log", err);
			return;
		}
		if (err)
			log_debug("retention: the log is in use, kept");
		end_cycle(r);
		return;
	}
}

/* Is a cycle due? Starts one if so. */
static void check(struct retention *r, uint64_t now, uint64_t mono)
{
	uint64_t limit = (uint64_t)r->cfg.max_db_mb << 20;
	struct store_size z;
	int err;

	if ((r->cfg.keep_days || r->cfg.keep_findings_days) &&
	    mono >= r->next_age_check) {
		r->next_age_check = mono + AGE_CHECK_NS;
		/* Its first step picks again: a cycle of its own. */
		err = pick_by_age(r, now);
		if (!err) {
			begin_cycle(r, PH_AGE, NULL);
			return;
		}
		if (err != -ENOENT) {
			failed(r, "look for old rows", err);
			return;
		}
	}
	if (!limit || mono < r->next_size_check)
		return;
	r->next_size_check = mono + SIZE_CHECK_NS;
	if ((err = store__size(r->store, &z))) {
		failed(r, "measure the database", err);
		return;
	}
	if (db_size(&z) <= limit) {
		if (r->stuck)
			log_warnx("retention: database '%s' under --max-db-mb "
				  "%u again",
				  r->db, r->cfg.max_db_mb);
		r->stuck = false;
		return;
	}
	if (r->stuck)
		r->next_size_check = mono + BACKOFF_NS;
	begin_cycle(r, PH_SIZE, &z);
}

static const char *const phase_names[] = {
    [PH_IDLE] = "check",
    [PH_AGE] = "removal (age)",
    [PH_SIZE] = "removal (size)",
    [PH_VACUUM] = "vacuum",
    [PH_CHECKPOINT] = "checkpoint",
};

void retention__tick(struct retention *r, uint64_t now)
{
	uint64_t t0 = mono_ns(), ns;
	bool busy = r->phase != PH_IDLE;
	enum phase was = r->phase;

	if (busy)
		step(r, now);
	else
		check(r, now, t0);
	ns = mono_ns() - t0;
	if (ns > 2 * RETENTION_STEP_NS)
		log_debug("retention: a %s step took %.1f ms", phase_names[was],
			  (double)ns / 1e6);
	/* What the loop waited on retention, checks included. */
	if (ns > r->st.step_max_ns)
		r->st.step_max_ns = ns;
	if (!busy && r->phase == PH_IDLE)
		return;
	r->st.steps++;
	r->st.step_ns += ns;
	r->cyc_steps++;
	r->cyc_ns += ns;
	if (ns > r->cyc_max_ns)
		r->cyc_max_ns = ns;
	if (r->cycle_done) {
		log_cycle(r);
		if (!r->failed)
			r->err = 0;
		r->cycle_done = r->failed = false;
	}
}
