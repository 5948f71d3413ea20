/*
 * cmd_top.c - memwatchctl top: allocation sites by the live bytes or
 * blocks they hold, per process or per thread, with their growth.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "rowfmt.h"

/* The growth window of top: NEW_10S and PREV_10S. */
#define TOP_WINDOW_NS (10 * 1000000000ull)
#define TOP_DEFAULT_LIMIT 20

static int top_cb(void *ctx, const struct store_site_usage *u,
		  const struct mw_site_row *site)
{
	struct table *t = ctx;

	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "pid");
		json__u64(&J, u->pid);
		if (opt.top.flags & STORE_TOP_PER_THREAD) {
			json__key(&J, "tid");
			json__u64(&J, u->tid);
		}
		json__key(&J, "site");
		rowfmt__json_site(&J, u->site, site);
		json__key(&J, "blocks");
		json__u64(&J, u->blocks);
		json__key(&J, "bytes");
		json__u64(&J, u->bytes);
		rowfmt__json_time(&J, "oldest_ts", u->oldest_ts);
		json__key(&J, "threads");
		json__u64(&J, u->threads);
		json__key(&J, "new_10s");
		json__u64(&J, u->new_bytes);
		json__key(&J, "prev_10s");
		json__u64(&J, u->prev_bytes);
		json__close(&J, '}');
	} else {
		char pid[16], tid[16], blocks[24], bytes[24], age[24], thr[24],
		    nw[24], prev[24], where[3 * MW_SITE_STR];

		snprintf(pid, sizeof(pid), "%u", u->pid);
		snprintf(tid, sizeof(tid), "%u", u->tid);
		snprintf(blocks, sizeof(blocks), "%" PRIu64, u->blocks);
		output__size(bytes, sizeof(bytes), u->bytes);
		output__age(age, sizeof(age), u->ref_ts, u->oldest_ts);
		snprintf(thr, sizeof(thr), "%" PRIu64, u->threads);
		output__size(nw, sizeof(nw), u->new_bytes);
		output__size(prev, sizeof(prev), u->prev_bytes);
		output__site(where, sizeof(where), u->site, site);
		if (opt.top.flags & STORE_TOP_PER_THREAD)
			table__row(t, pid, tid, where, blocks, bytes, age, thr,
				   nw, prev);
		else
			table__row(t, pid, where, blocks, bytes, age, thr, nw,
				   prev);
	}
	return 0;
}

int cmd_top(int argc, char **argv)
{
	bool per_thread = opt.top.flags & STORE_TOP_PER_THREAD;
	struct table t = {.ncols = per_thread ? 9 : 8,
			  .head = {"PID", "SITE", "BLOCKS", "BYTES", "OLDEST",
				   "THREADS", "NEW_10S", "PREV_10S"}};
	struct store_filter f = opt.filter;
	struct store *s;
	int err;

	ctl__no_args("top", argc);
	if (per_thread) {
		static const char *const head[] = {
		    "PID",    "TID",	 "SITE",    "BLOCKS",  "BYTES",
		    "OLDEST", "THREADS", "NEW_10S", "PREV_10S"};

		memcpy(t.head, head, sizeof(head));
	}
	if (!f.limit)
		f.limit = TOP_DEFAULT_LIMIT;
	opt.top.now = ctl__now_ns();
	opt.top.window = TOP_WINDOW_NS;
	s = ctl__open_db();
	output__list_begin();
	err = store__each_site_usage(s, &f, &opt.top, top_cb, &t);
	store__close(s);
	output__list_end(&t, err);
	return 0;
}
