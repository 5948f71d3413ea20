/*
 * cmd_threads.c - memwatchctl threads (every thread's counters) and
 * thread TID (one thread: its counters, TLS bindings and largest live
 * blocks).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"
#include "parse.h"
#include "rowfmt.h"
#include "text.h"

#define THREAD_DEFAULT_LIMIT 20

static int thread_cb(void *ctx, const struct mw_thread_row *r)
{
	struct table *t = ctx;

	if (opt.json) {
		rowfmt__json(&J, &mw_thread_desc, r, NULL);
	} else {
		char pid[16], tid[16], comm[64], a[24], f[24], x[24], u[24],
		    lb[24], lby[24];

		snprintf(pid, sizeof(pid), "%u", r->pid);
		snprintf(tid, sizeof(tid), "%u", r->tid);
		text__safe(comm, sizeof(comm), r->comm);
		snprintf(a, sizeof(a), "%" PRIu64, r->allocs);
		snprintf(f, sizeof(f), "%" PRIu64, r->frees);
		snprintf(x, sizeof(x), "%" PRIu64, r->cross_frees);
		snprintf(u, sizeof(u), "%" PRIu64, r->unknown_frees);
		snprintf(lb, sizeof(lb), "%" PRIu64, r->live_blocks);
		output__size(lby, sizeof(lby), r->live_bytes);
		table__row(t, pid, tid, comm, mw_thread_state_name(r->state), a,
			   f, x, u, lb, lby);
	}
	return 0;
}

int cmd_threads(int argc, char **argv)
{
	struct table t = {.ncols = 10,
			  .head = {"PID", "TID", "COMM", "STATE", "ALLOCS",
				   "FREES", "CROSS_FREES", "UNKNOWN_FREES",
				   "LIVE_BLOCKS", "LIVE_BYTES"}};
	struct store *s;
	int err;

	ctl__no_args("threads", argc);
	s = ctl__open_db();
	output__list_begin();
	err = store__each_thread(s, &opt.filter, thread_cb, &t);
	store__close(s);
	output__list_end(&t, err);
	return 0;
}

struct thread_list {
	struct mw_thread_row *v;
	size_t n, cap;
};

static int thread_keep(void *ctx, const struct mw_thread_row *r)
{
	struct thread_list *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			die(EXIT_RUNTIME, "out of memory");
	}
	l->v[l->n++] = *r;
	return 0;
}

static int binding_cb(void *ctx, const struct mw_binding_row *r)
{
	struct table *t = ctx;

	if (opt.json) {
		rowfmt__json(&J, &mw_binding_desc, r, NULL);
	} else {
		char key[16], gen[16], value[24], block[24], size[24], set[32];

		snprintf(key, sizeof(key), "%u", r->key);
		snprintf(gen, sizeof(gen), "%u", r->generation);
		snprintf(value, sizeof(value), "0x%" PRIx64, r->value);
		/* Block 0: the value points to no block memwatch saw live. */
		if (r->block) {
			snprintf(block, sizeof(block), "%" PRIu64, r->block);
			output__size(size, sizeof(size), r->size);
		} else {
			snprintf(block, sizeof(block), "-");
			snprintf(size, sizeof(size), "-");
		}
		output__time(set, sizeof(set), r->set_ts);
		table__row(t, key, gen, value, block, size, set);
	}
	return 0;
}

struct thread_blocks {
	struct table t;
	uint64_t ref; /* ages are measured up to here */
};

static int thread_block_cb(void *ctx, const struct mw_block_row *r,
			   const struct mw_site_row *site)
{
	struct thread_blocks *b = ctx;
	char addr[24], size[24], age[24], where[3 * MW_SITE_STR];

	if (opt.json) {
		rowfmt__json(&J, &mw_block_desc, r, site);
		return 0;
	}
	snprintf(addr, sizeof(addr), "0x%" PRIx64, r->addr);
	output__size(size, sizeof(size), r->size);
	output__age(age, sizeof(age), b->ref, r->ts);
	output__site(where, sizeof(where), r->site, site);
	table__row(&b->t, addr, size, age, where);
	return 0;
}

static void thread_text_head(const struct mw_thread_row *r)
{
	char comm[64], t1[32], t2[32], b1[24], b2[24], b3[24];

	text__safe(comm, sizeof(comm), r->comm);
	printf("thread %u of pid %u%s%s%s: %s\n", r->tid, r->pid,
	       comm[0] ? " (" : "", comm, comm[0] ? ")" : "",
	       mw_thread_state_name(r->state));
	output__time(t1, sizeof(t1), r->start_ts);
	output__time(t2, sizeof(t2), r->exit_ts);
	printf("  started   %s\n", t1);
	printf("  exited    %s\n", t2);
	output__size(b1, sizeof(b1), r->alloc_bytes);
	output__size(b2, sizeof(b2), r->free_bytes);
	output__size(b3, sizeof(b3), r->live_bytes);
	printf("  allocs    %" PRIu64 " (%s bytes)\n", r->allocs, b1);
	printf("  frees     %" PRIu64 " (%s bytes), %" PRIu64
	       " cross-thread, %" PRIu64 " of unknown blocks\n",
	       r->frees, b2, r->cross_frees, r->unknown_frees);
	printf("  live      %" PRIu64 " block(s), %s bytes\n",
	       r->live_blocks, b3);
}

/* One thread: its row, its TLS bindings, its largest live blocks. */
static int thread_show(struct store *s, const struct mw_thread_row *r,
		       const struct store_filter *f)
{
	struct table bt = {
	    .ncols = 6,
	    .head = {"KEY", "GEN", "VALUE", "BLOCK", "SIZE", "SET"}};
	struct thread_blocks b = {
	    .t = {.ncols = 4, .head = {"ADDRESS", "SIZE", "AGE", "SITE"}},
	};
	struct mw_process_row p = {0};
	int err;

	/* A block's age: up to the end of tracing, or now if it goes on. */
	err = store__get_process(s, r->proc_id, &p);
	if (err && err != -ENOENT)
		return err;
	b.ref = !err && p.end_ts ? p.end_ts : ctl__now_ns();
	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "thread");
		rowfmt__json(&J, &mw_thread_desc, r, NULL);
		json__key(&J, "bindings");
		json__open(&J, '[');
	} else {
		thread_text_head(r);
	}
	if ((err = store__each_thread_binding(s, r, binding_cb, &bt)))
		return err;
	if (opt.json) {
		json__close(&J, ']');
		json__key(&J, "blocks");
		json__open(&J, '[');
	} else if (bt.nrows) {
		printf("\nTLS bindings:\n");
		table__print(&bt);
	} else {
		printf("\nTLS bindings: none\n");
	}
	if ((err = store__each_thread_block(s, f, r, thread_block_cb, &b)))
		return err;
	if (opt.json) {
		json__close(&J, ']');
		json__close(&J, '}');
	} else if (b.t.nrows) {
		printf("\nlive blocks, largest first (at most %" PRIu64 "):\n",
		       f->limit);
		table__print(&b.t);
	} else if (r->live_blocks) {
		/* The counters are exact; the table only has blocks old
		 * enough to be written. */
		printf("\nlive blocks: none stored yet (a block is stored "
		       "once older than\nthe persist age, or at process "
		       "exit)\n");
	} else {
		printf("\nlive blocks: none\n");
	}
	return 0;
}

int cmd_thread(int argc, char **argv)
{
	struct thread_list l = {0};
	struct store_filter f = opt.filter;
	struct store *s;
	uint64_t tid;
	int err;

	if (argc != 1)
		die(EXIT_USAGE, "usage: memwatchctl thread TID");
	if (parse__u64(argv[0], INT32_MAX, &tid) || !tid)
		die(EXIT_USAGE, "thread: invalid tid '%s'", argv[0]);
	if (!f.limit)
		f.limit = THREAD_DEFAULT_LIMIT;
	s = ctl__open_db();
	/* All of them before printing anything: an unknown tid must leave
	 * only the error on stdout with --json. */
	err = store__each_thread_tid(s, &opt.filter, (uint32_t)tid, thread_keep,
				     &l);
	if (err) {
		store__close(s);
		ctl__query_failed(err);
	}
	if (!l.n) {
		store__close(s);
		if (opt.filter.pid)
			die(EXIT_RUNTIME,
			    "no thread '%s' of pid %u in the database", argv[0],
			    opt.filter.pid);
		die(EXIT_RUNTIME, "no thread '%s' in the database", argv[0]);
	}
	if (opt.json) {
		json__open(&J, '[');
	} else if (l.n > 1) {
		bool pids = false;

		for (size_t i = 1; i < l.n; i++)
			pids |= l.v[i].pid != l.v[0].pid;
		printf("tid %s names %zu threads, newest first%s\n\n", argv[0],
		       l.n, pids ? " (--pid PID shows one process's)" : "");
	}
	for (size_t i = 0; i < l.n && !err; i++) {
		if (i && !opt.json)
			printf("\n\n");
		err = thread_show(s, &l.v[i], &f);
	}
	store__close(s);
	free(l.v);
	if (err)
		ctl__query_failed(err);
	if (opt.json) {
		json__close(&J, ']');
		json__end(&J);
	}
	return 0;
}
