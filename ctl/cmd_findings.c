/*
 * cmd_findings.c - memwatchctl findings (the leaks found: the open ones,
 * or with --resolved or --all those whose evidence went away, with when
 * and why) and explain ID (one finding: its evidence, its state and
 * symbolized stack).
 */
#include <inttypes.h>
#include <stdio.h>

#include "ctl.h"
#include "parse.h"
#include "rowfmt.h"
#include "text.h"

static int finding_cb(void *ctx, const struct mw_finding_row *r,
		      const struct mw_site_row *site)
{
	struct table *t = ctx;

	if (opt.json) {
		rowfmt__json(&J, &mw_finding_desc, r, site);
	} else {
		char id[24], pid[16], tid[16], key[24], addr[24], size[24],
		    count[24], bytes[24], when[32], where[3 * MW_SITE_STR],
		    resolved[32], reason[3 * MW_REASON_MAX];

		snprintf(id, sizeof(id), "%" PRIu64, r->id);
		snprintf(pid, sizeof(pid), "%u", r->pid);
		snprintf(tid, sizeof(tid), "%u", r->tid);
		if (r->generation)
			snprintf(key, sizeof(key), "%u/%u", r->key,
				 r->generation);
		else
			snprintf(key, sizeof(key), "-");
		snprintf(addr, sizeof(addr), "0x%" PRIx64, r->addr);
		output__size(size, sizeof(size), r->size);
		snprintf(count, sizeof(count), "%" PRIu64, r->count);
		output__size(bytes, sizeof(bytes), r->bytes);
		output__time(when, sizeof(when), r->last_ts);
		output__site(where, sizeof(where), r->site, site);
		output__time(resolved, sizeof(resolved), r->resolved_ts);
		text__safe(reason, sizeof(reason),
			   r->resolved_ts ? r->resolved_reason : "-");
		table__row(t, id, mw_finding_kind_name(r->kind),
			   mw_severity_name(r->severity), pid, tid, key, addr,
			   size, count, bytes, when, mw_finding_state(r),
			   resolved, where, reason);
	}
	return 0;
}

int cmd_findings(int argc, char **argv)
{
	/* Every column for -o; shown, the state, when and why resolved
	 * (last: it is the longest) unless only open ones are listed. */
	struct table t = {.ncols = 15,
			  .head = {"ID", "KIND", "SEV", "PID", "TID", "KEY/GEN",
				   "ADDRESS", "SIZE", "COUNT", "BYTES", "LAST",
				   "STATE", "RESOLVED", "SITE", "REASON"}};
	struct store *s;
	int err;

	if (opt.filter.state == STORE_FINDINGS_OPEN)
		t.shown = "ID,KIND,SEV,PID,TID,KEY/GEN,ADDRESS,SIZE,COUNT,"
			  "BYTES,LAST,SITE";
	ctl__no_args("findings", argc);
	s = ctl__open_db();
	output__list_begin();
	err = store__each_finding(s, &opt.filter, finding_cb, &t);
	store__close(s);
	output__list_end(&t, err);
	return 0;
}

/* --- explain ----------------------------------------------------------- */

struct explain {
	bool found;
	struct mw_finding_row f;
	struct mw_site_row site;
	bool has_site;
};

static int explain_cb(void *ctx, const struct mw_finding_row *r,
		      const struct mw_site_row *site)
{
	struct explain *x = ctx;

	x->found = true;
	x->f = *r;
	x->has_site = site != NULL;
	if (site)
		x->site = *site;
	return 1;
}

static const char *stack_flags_text(uint32_t flags)
{
	if ((flags & MW_STACK_TLS_INIT) && (flags & MW_STACK_TLS_DYNAMIC))
		return "through a C++ thread_local initializer and dynamic TLS";
	if (flags & MW_STACK_TLS_INIT)
		return "through a C++ thread_local initializer";
	if (flags & MW_STACK_TLS_DYNAMIC)
		return "dynamic TLS allocated by the loader";
	return "";
}

static void explain_text(const struct explain *x, struct store *s)
{
	const struct mw_finding_row *f = &x->f;
	char t1[32], t2[32], t3[32], b1[24], b2[24], where[3 * MW_SITE_STR],
	    detail[3 * MW_NOTE_MAX];
	struct mw_stack_row st;
	const char *tls;
	uint32_t culprit;

	printf("finding %" PRIu64 ": %s, severity %s\n", f->id,
	       mw_finding_kind_name(f->kind), mw_severity_name(f->severity));
	printf("  process   pid %u\n", f->pid);
	printf("  thread    %u (allocated by %u)\n", f->tid, f->alloc_tid);
	if (f->generation)
		printf("  key       %u, generation %u\n", f->key,
		       f->generation);
	output__time(t1, sizeof(t1), f->alloc_ts);
	output__size(b1, sizeof(b1), f->size);
	output__size(b2, sizeof(b2), f->bytes);
	printf("  block     0x%" PRIx64 ", %s bytes, allocated %s\n",
	       f->addr, b1, t1);
	output__time(t1, sizeof(t1), f->trigger_ts);
	output__time(t2, sizeof(t2), f->first_ts);
	output__time(t3, sizeof(t3), f->last_ts);
	printf("  evidence  %" PRIu64 " block(s), %s"
	       " bytes, %u thread(s); triggered %s, first seen %s, last %s\n",
	       f->count, b2, f->threads, t1, t2, t3);
	if (f->detail[0]) {
		text__safe(detail, sizeof(detail), f->detail);
		printf("  detail    %s\n", detail);
	}
	if (f->resolved_ts) {
		output__time(t1, sizeof(t1), f->resolved_ts);
		text__safe(detail, sizeof(detail), f->resolved_reason);
		printf("  state     resolved %s: %s\n", t1, detail);
	} else {
		printf("  state     %s\n", mw_finding_state(f));
	}
	if (f->suppressed[0]) {
		text__safe(detail, sizeof(detail), f->suppressed);
		printf("  suppressed by the rule at %s\n", detail);
	}
	if (f->ack_ts) {
		output__time(t1, sizeof(t1), f->ack_ts);
		text__safe(detail, sizeof(detail), f->ack_note);
		printf("  acknowledged %s%s%s\n", t1, detail[0] ? ": " : "",
		       detail);
	}
	output__site(where, sizeof(where), f->site,
		     x->has_site ? &x->site : NULL);
	printf("  site      %s\n", where);
	if (!f->stack_id || store__get_stack(s, f->stack_id, &st)) {
		printf("  stack     not recorded\n");
		return;
	}
	tls = stack_flags_text(st.flags);
	printf("  stack     %u frame(s)%s%s\n", st.nframes, tls[0] ? ", " : "",
	       tls);
	culprit = mw_stack_culprit(st.flags);
	if (culprit && culprit < st.nframes)
		printf("  wrappers  frames #0-#%u allocate for their caller: the "
		       "site is frame #%u\n",
		       culprit - 1, culprit);
	for (uint32_t i = 0; i < st.nframes; i++) {
		struct mw_site_row fs;
		int have = !store__get_site(s, st.proc_id, st.frames[i], &fs);
		uint32_t why = mw_stack_wrap_why(st.flags, i);

		output__site(where, sizeof(where), st.frames[i],
			     have ? &fs : NULL);
		if (why)
			printf("    #%-2u %s  [wrapper: %s]\n", i, where,
			       mw_wrap_why_name(why));
		else
			printf("    #%-2u %s\n", i, where);
	}
}

static void explain_json(const struct explain *x, struct store *s)
{
	struct mw_stack_row st;
	bool have_stack =
	    x->f.stack_id && !store__get_stack(s, x->f.stack_id, &st);

	json__open(&J, '{');
	rowfmt__json_fields(&J, &mw_finding_desc, &x->f,
			    x->has_site ? &x->site : NULL);
	json__key(&J, "stack");
	json__open(&J, '{');
	json__key(&J, "tls_init");
	json__bool(&J, have_stack && (st.flags & MW_STACK_TLS_INIT));
	json__key(&J, "tls_dynamic");
	json__bool(&J, have_stack && (st.flags & MW_STACK_TLS_DYNAMIC));
	json__key(&J, "culprit_frame");
	json__u64(&J, have_stack ? mw_stack_culprit(st.flags) : 0);
	json__key(&J, "frames");
	json__open(&J, '[');
	for (uint32_t i = 0; have_stack && i < st.nframes; i++) {
		struct mw_site_row fs;
		int have = !store__get_site(s, st.proc_id, st.frames[i], &fs);

		rowfmt__json_site(&J, st.frames[i], have ? &fs : NULL);
	}
	json__close(&J, ']');
	/* Why each frame below the culprit was taken as a wrapper. */
	json__key(&J, "wrappers");
	json__open(&J, '[');
	for (uint32_t i = 0; have_stack && i < st.nframes &&
			     mw_stack_wrap_why(st.flags, i);
	     i++)
		json__str(&J, mw_wrap_why_name(mw_stack_wrap_why(st.flags, i)));
	json__close(&J, ']');
	json__close(&J, '}');
	json__close(&J, '}');
	json__end(&J);
}

int cmd_explain(int argc, char **argv)
{
	struct store_filter f = {0};
	struct explain x = {0};
	struct store *s;
	uint64_t id;
	int err;

	if (argc != 1)
		die(EXIT_USAGE, "usage: memwatchctl explain ID");
	if (parse__u64(argv[0], INT64_MAX, &id) || !id)
		die(EXIT_USAGE, "explain: invalid finding id '%s'", argv[0]);
	f.id = id;
	s = ctl__open_db();
	err = store__each_finding(s, &f, explain_cb, &x);
	if (err < 0) {
		store__close(s);
		ctl__query_failed(err);
	}
	if (!x.found) {
		store__close(s);
		die(EXIT_RUNTIME, "no finding with id '%s'", argv[0]);
	}
	if (opt.json)
		explain_json(&x, s);
	else
		explain_text(&x, s);
	store__close(s);
	return 0;
}
