/*
 * export.c - see export.h.
 */
#include <errno.h>
#include <stdio.h>

#include "export.h"
#include "outfile.h"
#include "rowfmt.h"

/* --- pprof and folded: live blocks by stack ---------------------------- */

struct profile_ctx {
	struct store *s;
	struct pprof *p;
};

/* The location of ip in process proc_id; its site is read from the
 * store the first time only. */
static int frame_location(struct profile_ctx *c, uint64_t proc_id, uint64_t ip,
			  uint64_t *id)
{
	struct pprof_frame fr = {
	    .addr = ip, .module = "", .function = "", .file = ""};
	struct mw_site_row site;
	int err;

	if ((*id = pprof__find_location(c->p, proc_id, ip)))
		return 0;
	err = store__get_site(c->s, proc_id, ip, &site);
	if (err && err != -ENOENT)
		return err;
	if (!err) {
		fr.module = site.module;
		fr.function = site.function;
		fr.file = site.file;
		fr.line = site.line;
	}
	return pprof__add_location(c->p, proc_id, &fr, id);
}

static int profile_cb(void *ctx, const struct store_stack_usage *u,
		      const struct mw_stack_row *stack)
{
	struct profile_ctx *c = ctx;
	uint64_t ips[MW_EV_MAX_FRAMES + 1], locs[MW_EV_MAX_FRAMES + 1];
	uint32_t n = 0, i = 0;
	int err;

	/* The leaf is the blocks' site, the one top ranks, so that both
	 * agree even for a stack stored without it (or not stored). That
	 * site is the stack's culprit, past its allocation wrappers: the
	 * wrappers' frames below it are left out, so that pprof's flat
	 * column names the culprit too (explain shows them). */
	ips[n++] = u->site;
	if (stack && stack->nframes) {
		uint32_t c = mw_stack_culprit(stack->flags);

		if (c < stack->nframes && stack->frames[c] == u->site)
			i = c + 1;
		else if (stack->frames[0] == u->site)
			i = 1;
	}
	for (; stack && i < stack->nframes && n < MW_EV_MAX_FRAMES + 1; i++)
		ips[n++] = stack->frames[i];
	for (i = 0; i < n; i++)
		if ((err = frame_location(c, u->proc_id, ips[i], &locs[i])))
			return err;
	return pprof__add_sample(c->p, locs, n, u->blocks, u->bytes, u->pid);
}

int export__profile(struct store *s, const struct store_filter *f,
		    struct pprof *p)
{
	struct profile_ctx c = {s, p};

	return store__each_stack_usage(s, f, profile_cb, &c);
}

/* --- CSV --------------------------------------------------------------- */

/* The header record, then each row's (rowfmt.c: the fields of --json,
 * the site flattened); a failed write stops the rows with its error. */
static int finding_row(void *ctx, const struct mw_finding_row *r,
		       const struct mw_site_row *site)
{
	rowfmt__csv(ctx, &mw_finding_desc, r, site);
	return outfile__write_error();
}

int export__csv_findings(struct store *s, const struct store_filter *f,
			 FILE *out)
{
	int err;

	rowfmt__csv_header(out, &mw_finding_desc);
	if ((err = outfile__write_error()))
		return err;
	return store__each_finding(s, f, finding_row, out);
}

static int block_row(void *ctx, const struct mw_block_row *r,
		     const struct mw_site_row *site)
{
	rowfmt__csv(ctx, &mw_block_desc, r, site);
	return outfile__write_error();
}

int export__csv_live(struct store *s, const struct store_filter *f, FILE *out)
{
	int err;

	rowfmt__csv_header(out, &mw_block_desc);
	if ((err = outfile__write_error()))
		return err;
	return store__each_block(s, f, block_row, out);
}
