/* store_sink.c - the engine's rows into a store; see store_sink.h. */
#include <string.h>

#include "store_sink.h"

static struct store *st(void *ctx)
{
	return ((struct store_sink_ctx *)ctx)->store;
}

static int sink_begin(void *ctx)
{
	return store__begin(st(ctx));
}

static int sink_commit(void *ctx)
{
	return store__commit(st(ctx));
}

static void sink_rollback(void *ctx)
{
	store__rollback(st(ctx));
}

static int sink_process(void *ctx, const struct mw_process_row *r)
{
	return store__put_process(st(ctx), r);
}

static int sink_thread(void *ctx, const struct mw_thread_row *r)
{
	return store__put_thread(st(ctx), r);
}

static int sink_key(void *ctx, const struct mw_key_row *r)
{
	return store__put_key(st(ctx), r);
}

static int sink_binding(void *ctx, const struct mw_binding_row *r)
{
	return store__put_binding(st(ctx), r);
}

static int sink_block_add(void *ctx, const struct mw_block_row *r)
{
	return store__add_block(st(ctx), r);
}

static int sink_block_del(void *ctx, uint64_t serial)
{
	return store__del_block(st(ctx), serial);
}

static int sink_finding(void *ctx, const struct mw_finding_row *r)
{
	struct store_sink_ctx *c = ctx;
	struct mw_finding_row copy;

	if (!c->on_finding)
		return store__put_finding(c->store, r);
	copy = *r;
	c->on_finding(c->ctx, &copy);
	return store__put_finding(c->store, &copy);
}

/* A site is symbolized once per process: the first time a row names it. */
static int sink_site(void *ctx, uint64_t proc_id, uint32_t pid, uint64_t ip)
{
	struct store_sink_ctx *c = ctx;
	struct mw_site_row row;
	int have = store__has_site(c->store, proc_id, ip);

	if (have)
		return have < 0 ? have : 0;
	memset(&row, 0, sizeof(row));
	row.proc_id = proc_id;
	row.ip = ip;
	if (c->resolve)
		c->resolve(c->ctx, pid, ip, &row);
	return store__put_site(c->store, &row);
}

static int sink_stack(void *ctx, const struct mw_stack_row *r)
{
	return store__put_stack(st(ctx), r);
}

const struct engine_sink store_sink = {
    .begin = sink_begin,
    .commit = sink_commit,
    .rollback = sink_rollback,
    .process = sink_process,
    .thread = sink_thread,
    .key = sink_key,
    .binding = sink_binding,
    .block_add = sink_block_add,
    .block_del = sink_block_del,
    .finding = sink_finding,
    .site = sink_site,
    .stack = sink_stack,
};
