/*
 * recsink.c - the recording sink of the tests (recsink.h): every row the
 * engine hands, kept per flush and over the committed flushes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "recsink.h"

void recsink__grow(void **v, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	void *nv = realloc(*v, ncap * size);

	if (!nv)
		abort();
	*v = nv;
	*cap = ncap;
}

void recsink_rows__clear(struct recsink_rows *w)
{
	w->procs.n = w->threads.n = w->keys.n = w->bindings.n = 0;
	w->adds.n = w->dels.n = w->findings.n = w->sites.n = 0;
	w->stacks.n = 0;
}

void recsink_rows__free(struct recsink_rows *w)
{
	free(w->procs.v);
	free(w->threads.v);
	free(w->keys.v);
	free(w->bindings.v);
	free(w->adds.v);
	free(w->dels.v);
	free(w->findings.v);
	free(w->sites.v);
	free(w->stacks.v);
	memset(w, 0, sizeof(*w));
}

void recsink__reset(struct recsink *r)
{
	void (*committed)(void *, const struct recsink_rows *) = r->committed;
	void *committed_ctx = r->committed_ctx;

	recsink_rows__free(&r->cur);
	recsink_rows__free(&r->last);
	free(r->findings.v);
	free(r->stacks.v);
	memset(r, 0, sizeof(*r));
	r->committed = committed;
	r->committed_ctx = committed_ctx;
}

const struct mw_finding_row *recsink__finding(const struct recsink *r,
					      uint64_t id)
{
	for (size_t i = 0; i < r->findings.n; i++)
		if (r->findings.v[i].id == id)
			return &r->findings.v[i];
	return NULL;
}

const struct mw_stack_row *recsink__stack(const struct recsink *r, uint64_t id)
{
	for (size_t i = 0; i < r->stacks.n; i++)
		if (r->stacks.v[i].id == id)
			return &r->stacks.v[i];
	return NULL;
}

/* Take one of the next *n failures. */
static bool take(int *n)
{
	if (*n <= 0)
		return false;
	(*n)--;
	return true;
}

/* Count a row callback: -EIO for the one numbered fail_at. */
static int row_call(struct recsink *r)
{
	return r->fail_at && ++r->calls == r->fail_at ? -EIO : 0;
}

static int s_begin(void *ctx)
{
	struct recsink *r = ctx;

	if (take(&r->fail_begin))
		return -EIO;
	r->begins++;
	r->calls = 0;
	recsink_rows__clear(&r->cur);
	return 0;
}

/* The committed rows joined to the views over all flushes. */
static void keep(struct recsink *r, const struct recsink_rows *w)
{
	for (size_t i = 0; i < w->findings.n; i++) {
		const struct mw_finding_row *f = &w->findings.v[i];
		struct mw_finding_row *had =
		    (struct mw_finding_row *)recsink__finding(r, f->id);

		if (had)
			*had = *f;
		else
			RECSINK_PUSH(r->findings, *f);
	}
	for (size_t i = 0; i < w->stacks.n; i++)
		RECSINK_PUSH(r->stacks, w->stacks.v[i]);
}

static int s_commit(void *ctx)
{
	struct recsink *r = ctx;
	struct recsink_rows tmp;

	if (take(&r->fail_commit))
		return -EIO;
	r->commits++;
	tmp = r->last;
	r->last = r->cur;
	r->cur = tmp;
	recsink_rows__clear(&r->cur);
	keep(r, &r->last);
	if (r->committed)
		r->committed(r->committed_ctx, &r->last);
	return 0;
}

static void s_rollback(void *ctx)
{
	struct recsink *r = ctx;

	r->rollbacks++;
}

static int s_process(void *ctx, const struct mw_process_row *row)
{
	struct recsink *r = ctx;
	int err = row_call(r);

	if (err)
		return err;
	RECSINK_PUSH(r->cur.procs, *row);
	return 0;
}

static int s_thread(void *ctx, const struct mw_thread_row *row)
{
	struct recsink *r = ctx;
	int err = row_call(r);

	if (err)
		return err;
	if (take(&r->fail_thread))
		return -EIO;
	RECSINK_PUSH(r->cur.threads, *row);
	return 0;
}

static int s_key(void *ctx, const struct mw_key_row *row)
{
	struct recsink *r = ctx;
	int err = row_call(r);

	if (err)
		return err;
	RECSINK_PUSH(r->cur.keys, *row);
	return 0;
}

static int s_binding(void *ctx, const struct mw_binding_row *row)
{
	struct recsink *r = ctx;
	int err = row_call(r);

	if (err)
		return err;
	RECSINK_PUSH(r->cur.bindings, *row);
	return 0;
}

static int s_block_add(void *ctx, const struct mw_block_row *row)
{
	struct recsink *r = ctx;
	int err = row_call(r);

	if (err)
		return err;
	if (take(&r->fail_block_add))
		return -EIO;
	RECSINK_PUSH(r->cur.adds, *row);
	return 0;
}

static int s_block_del(void *ctx, uint64_t serial)
{
	struct recsink *r = ctx;
	int err = row_call(r);

	if (err)
		return err;
	RECSINK_PUSH(r->cur.dels, serial);
	return 0;
}

static int s_finding(void *ctx, const struct mw_finding_row *row)
{
	struct recsink *r = ctx;
	int err = row_call(r);

	if (err)
		return err;
	if (take(&r->fail_finding))
		return -EIO;
	RECSINK_PUSH(r->cur.findings, *row);
	return 0;
}

static int s_site(void *ctx, uint64_t proc_id, uint32_t pid, uint64_t ip)
{
	struct recsink *r = ctx;
	struct recsink_site c = {proc_id, pid, ip};
	int err = row_call(r);

	if (err)
		return err;
	r->site_calls++;
	if (take(&r->fail_site))
		return -EIO;
	RECSINK_PUSH(r->cur.sites, c);
	return 0;
}

static int s_stack(void *ctx, const struct mw_stack_row *row)
{
	struct recsink *r = ctx;
	int err = row_call(r);

	if (err)
		return err;
	if (take(&r->fail_stack))
		return -EIO;
	RECSINK_PUSH(r->cur.stacks, *row);
	return 0;
}

const struct engine_sink recsink__sink = {
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .process = s_process,
    .thread = s_thread,
    .key = s_key,
    .binding = s_binding,
    .block_add = s_block_add,
    .block_del = s_block_del,
    .finding = s_finding,
    .site = s_site,
    .stack = s_stack,
};
