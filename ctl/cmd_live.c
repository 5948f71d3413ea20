/*
 * cmd_live.c - memwatchctl live: the live blocks the database holds,
 * largest first.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ctl.h"
#include "rowfmt.h"

static int block_cb(void *ctx, const struct mw_block_row *r,
		    const struct mw_site_row *site)
{
	struct table *t = ctx;

	if (opt.json) {
		rowfmt__json(&J, &mw_block_desc, r, site);
	} else {
		char pid[16], tid[16], addr[24], size[24], ts[32],
		    where[3 * MW_SITE_STR];

		snprintf(pid, sizeof(pid), "%u", r->pid);
		snprintf(tid, sizeof(tid), "%u", r->tid);
		snprintf(addr, sizeof(addr), "0x%" PRIx64, r->addr);
		output__size(size, sizeof(size), r->size);
		output__time(ts, sizeof(ts), r->ts);
		output__site(where, sizeof(where), r->site, site);
		table__row(t, pid, tid, addr, size, ts, where);
	}
	return 0;
}

/* A live set can hold millions of blocks; printing them all takes
 * minutes and helps nobody, so live shows the largest LIVE_DEFAULT_LIMIT
 * unless --limit says otherwise (--limit all: every one). */
#define LIVE_DEFAULT_LIMIT 100

int cmd_live(int argc, char **argv)
{
	struct table t = {
	    .ncols = 6,
	    .head = {"PID", "TID", "ADDRESS", "SIZE", "ALLOCATED", "SITE"}};
	struct store_filter f = opt.filter;
	struct store *s;
	size_t shown;
	int err;

	ctl__no_args("live", argc);
	if (!f.limit)
		f.limit = LIVE_DEFAULT_LIMIT;
	else if (f.limit == LIMIT_ALL)
		f.limit = 0;
	s = ctl__open_db();
	output__list_begin();
	err = store__each_block(s, &f, block_cb, &t);
	store__close(s);
	/* Counted before the table is printed: printing frees its rows. */
	shown = t.nrows;
	output__list_end(&t, err);
	if (!opt.json && !opt.filter.limit && shown == LIVE_DEFAULT_LIMIT)
		printf("(the %d largest; --limit N or --limit all for more)\n",
		       LIVE_DEFAULT_LIMIT);
	return 0;
}
