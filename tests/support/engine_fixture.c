/*
 * engine_fixture.c - the fixture of the engine's unit tests
 * (tests/unit/test_engine*.c); see engine_fixture.h.
 *
 * Times in the helpers are milliseconds; the engine sees nanoseconds.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"

/* A failed check in a helper fails the case that called it. unit.h keeps
 * that case's flag (unit_failed_now) static to each test file, so a test
 * file hands its flag over (engine_fixture__init) and the helpers' checks
 * set it, with the message unit.h's CHECK prints. */
static int *failed_now;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("  %s:%d: check failed: %s\n", __FILE__,        \
			       __LINE__, #cond);                               \
			if (!failed_now)                                       \
				no_init();                                     \
			*failed_now = 1;                                       \
		}                                                              \
	} while (0)

/* A failure no case would see: loud. */
static void no_init(void)
{
	fflush(stdout);
	fprintf(stderr, "engine_fixture__init was not called\n");
	abort();
}

void engine_fixture__init(int *failed)
{
	failed_now = failed;
}

/* --- the recording sink and a model of the store ------------------------- */

/* Rows are recorded by the shared sink (tests/support/recsink.c); each
 * committed flush is also applied to a model of what a store keyed like
 * the schema would hold. */
struct recsink R;

struct model M;

static void *dup_mem(const void *p, size_t n)
{
	void *d = malloc(n);

	if (!d)
		abort();
	memcpy(d, p, n);
	return d;
}

static void hmap_put_owned(struct hmap *m, uint64_t k, void *v)
{
	free(hmap__del(m, k));
	if (hmap__put(m, k, v))
		abort();
}

static void hmap_free_all(struct hmap *m)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (hmap__next(m, &pos, &k, &v))
		free(v);
	hmap__fini(m);
}

static uint64_t site_key(uint64_t proc_id, uint64_t ip)
{
	return proc_id << 44 ^ ip;
}

static void store_apply(void *ctx, const struct recsink_rows *w)
{
	struct model *r = ctx;

	for (size_t i = 0; i < w->procs.n; i++) {
		size_t j;

		for (j = 0; j < r->st_procs.n; j++)
			if (r->st_procs.v[j].id == w->procs.v[i].id)
				break;
		if (j < r->st_procs.n)
			r->st_procs.v[j] = w->procs.v[i];
		else
			RECSINK_PUSH(r->st_procs, w->procs.v[i]);
	}
	for (size_t i = 0; i < w->threads.n; i++) {
		const struct mw_thread_row *t = &w->threads.v[i];

		const struct mw_thread_row *had =
			hmap__get(&r->st_threads, t->proc_id << 32 | t->tid);

		/* The table is keyed (proc_id, tid, start_ts): a reused
		 * tid's older thread has a row of its own, and never
		 * replaces the newer one this model keeps per tid. */
		if (had && had->start_ts > t->start_ts)
			continue;
		hmap_put_owned(&r->st_threads, t->proc_id << 32 | t->tid,
			       dup_mem(t, sizeof(*t)));
	}
	for (size_t i = 0; i < w->keys.n; i++) {
		const struct mw_key_row *k = &w->keys.v[i];
		size_t j;

		for (j = 0; j < r->st_keys.n; j++)
			if (r->st_keys.v[j].proc_id == k->proc_id &&
			    r->st_keys.v[j].key == k->key &&
			    r->st_keys.v[j].generation == k->generation)
				break;
		if (j < r->st_keys.n)
			r->st_keys.v[j] = *k;
		else
			RECSINK_PUSH(r->st_keys, *k);
	}
	for (size_t i = 0; i < w->bindings.n; i++) {
		const struct mw_binding_row *b = &w->bindings.v[i];
		size_t j;

		for (j = 0; j < r->st_bindings.n; j++)
			if (r->st_bindings.v[j].proc_id == b->proc_id &&
			    r->st_bindings.v[j].tid == b->tid &&
			    r->st_bindings.v[j].key == b->key)
				break;
		if (j < r->st_bindings.n)
			r->st_bindings.v[j] = *b;
		else
			RECSINK_PUSH(r->st_bindings, *b);
	}
	/* The engine hands deletes before adds within one flush. */
	for (size_t i = 0; i < w->dels.n; i++)
		free(hmap__del(&r->st_blocks, w->dels.v[i]));
	for (size_t i = 0; i < w->adds.n; i++)
		hmap_put_owned(&r->st_blocks, w->adds.v[i].serial,
			       dup_mem(&w->adds.v[i], sizeof(w->adds.v[i])));
	for (size_t i = 0; i < w->findings.n; i++)
		hmap_put_owned(&r->st_findings, w->findings.v[i].id,
			       dup_mem(&w->findings.v[i],
				       sizeof(w->findings.v[i])));
	for (size_t i = 0; i < w->sites.n; i++) {
		uint64_t k = site_key(w->sites.v[i].proc_id, w->sites.v[i].ip);
		uint64_t *cnt = hmap__get(&r->st_sites, k);

		if (cnt) {
			(*cnt)++;
		} else {
			uint64_t one = 1;

			hmap_put_owned(&r->st_sites, k,
				       dup_mem(&one, sizeof(one)));
		}
	}
}

void rec_reset(void)
{
	recsink__reset(&R);
	free(M.st_procs.v);
	free(M.st_keys.v);
	free(M.st_bindings.v);
	hmap_free_all(&M.st_threads);
	hmap_free_all(&M.st_blocks);
	hmap_free_all(&M.st_findings);
	hmap_free_all(&M.st_sites);
	memset(&M, 0, sizeof(M));
	R.committed = store_apply;
	R.committed_ctx = &M;
}

/* --- the engine under test and event helpers ------------------------------ */

struct engine *E;
uint64_t P; /* proc id of PID */

/* The rules over time (rules.c) have their own tests (test_rules.c);
 * here they are kept quiet so that findings are the one-block rules'. */
void setup_rows(uint64_t grace_ms, uint64_t persist_ms, uint32_t flush_max_rows)
{
	struct engine_config cfg = {
		.grace_ns = MS(grace_ms),
		.persist_age_ns = MS(persist_ms),
		.orphan_min_threads = UINT32_MAX,
		.growth_min_bytes = UINT64_MAX,
		.flush_max_rows = flush_max_rows,
	};

	rec_reset();
	E = engine__new(&cfg, 1000);
	if (!E)
		abort();
	P = 0;
}

void setup(uint64_t grace_ms, uint64_t persist_ms)
{
	setup_rows(grace_ms, persist_ms, 0);
}

void teardown(void)
{
	engine__free(E);
	E = NULL;
	rec_reset();
}

uint64_t attach(uint32_t pid, uint64_t t)
{
	uint64_t id = 0;

	CHECK(engine__attach(E, pid, "prog", MS(t), &id) == 0);
	if (pid == PID)
		P = id;
	return id;
}

int feed(struct mw_event ev)
{
	return engine__feed(E, &ev);
}

void al(uint32_t tid, uint64_t t, uint64_t addr, uint64_t size, uint64_t site)
{
	CHECK(feed(ev_alloc(PID, tid, MS(t), addr, size, site)) == 0);
}

void fr(uint32_t tid, uint64_t t, uint64_t addr)
{
	CHECK(feed(ev_free(PID, tid, MS(t), addr, SITE3)) == 0);
}

void re(uint32_t tid, uint64_t t, uint64_t old, uint64_t addr, uint64_t size)
{
	CHECK(feed(ev_realloc(PID, tid, MS(t), old, addr, size, SITE2)) == 0);
}

void tstart(uint32_t tid, uint64_t t)
{
	struct mw_event ev = ev_make(MW_EV_THREAD_START, PID, tid, MS(t));

	strcpy(ev.comm, "worker");
	CHECK(feed(ev) == 0);
}

void texit(uint32_t tid, uint64_t t)
{
	CHECK(feed(ev_thread_exit(PID, tid, MS(t), 0)) == 0);
}

void kcreate(uint32_t tid, uint64_t t, uint32_t key, uint64_t dtor)
{
	CHECK(feed(ev_key_create(PID, tid, MS(t), key, dtor)) == 0);
}

void kdelete(uint32_t tid, uint64_t t, uint32_t key)
{
	CHECK(feed(ev_key_delete(PID, tid, MS(t), key)) == 0);
}

void tset(uint32_t tid, uint64_t t, uint32_t key, uint64_t value)
{
	CHECK(feed(ev_tls_set(PID, tid, MS(t), key, value)) == 0);
}

void pexit(uint64_t t, int32_t code)
{
	CHECK(feed(ev_proc_exit(PID, MS(t), code)) == 0);
}

int flush_at(uint64_t t)
{
	return engine__flush(E, MS(t), &recsink__sink, &R);
}

/* The daemon's loop: decide what is due, then flush. */
int tick_flush(uint64_t t)
{
	engine__tick(E, MS(t));
	return flush_at(t);
}

/* --- lookups in recorded rows ------------------------------------------- */

/* The last row handed for (pid, tid) in rows w; start_ts 0 = any. */
const struct mw_thread_row *thread_in(const struct recsink_rows *w,
				      uint32_t pid, uint32_t tid,
				      uint64_t start_ts)
{
	for (size_t i = w->threads.n; i-- > 0;) {
		const struct mw_thread_row *t = &w->threads.v[i];

		if (t->pid == pid && t->tid == tid &&
		    (!start_ts || t->start_ts == start_ts))
			return t;
	}
	return NULL;
}

const struct mw_thread_row *last_thread(uint32_t tid)
{
	return thread_in(&R.last, PID, tid, 0);
}

const struct mw_process_row *last_proc(uint32_t pid)
{
	for (size_t i = R.last.procs.n; i-- > 0;)
		if (R.last.procs.v[i].pid == pid)
			return &R.last.procs.v[i];
	return NULL;
}

const struct mw_key_row *last_key(uint32_t key, uint32_t gen)
{
	for (size_t i = R.last.keys.n; i-- > 0;)
		if (R.last.keys.v[i].pid == PID && R.last.keys.v[i].key == key &&
		    R.last.keys.v[i].generation == gen)
			return &R.last.keys.v[i];
	return NULL;
}

const struct mw_binding_row *last_binding(uint32_t tid, uint32_t key)
{
	for (size_t i = R.last.bindings.n; i-- > 0;)
		if (R.last.bindings.v[i].pid == PID &&
		    R.last.bindings.v[i].tid == tid &&
		    R.last.bindings.v[i].key == key)
			return &R.last.bindings.v[i];
	return NULL;
}

const struct mw_block_row *add_in(const struct recsink_rows *w, uint64_t addr)
{
	for (size_t i = 0; i < w->adds.n; i++)
		if (w->adds.v[i].addr == addr)
			return &w->adds.v[i];
	return NULL;
}

bool del_in(const struct recsink_rows *w, uint64_t serial)
{
	for (size_t i = 0; i < w->dels.n; i++)
		if (w->dels.v[i] == serial)
			return true;
	return false;
}

const struct mw_finding_row *finding_in(const struct recsink_rows *w,
					uint64_t addr)
{
	for (size_t i = 0; i < w->findings.n; i++)
		if (w->findings.v[i].addr == addr)
			return &w->findings.v[i];
	return NULL;
}

uint64_t st_site_count(uint64_t proc_id, uint64_t ip)
{
	uint64_t *c = hmap__get(&M.st_sites, site_key(proc_id, ip));

	return c ? *c : 0;
}

struct engine_stats stats(void)
{
	struct engine_stats st;

	engine__stats(E, &st);
	return st;
}
