/*
 * cmd_status.c - memwatchctl status: the daemon, asked over the control
 * socket if it runs, and the processes the database holds; and
 * memwatchctl --version, which says what the daemon found of the kernel.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "kfeature.h"
#include "proto.h"
#include "rowfmt.h"
#include "text.h"
#include "version.h"

struct status_ctx {
	struct table t;
};

static int status_process(void *ctx, const struct mw_process_row *r)
{
	struct status_ctx *c = ctx;

	if (opt.json) {
		rowfmt__json(&J, &mw_process_desc, r, NULL);
	} else {
		char pid[16], comm[64], thr[16], blocks[24], bytes[24],
		    find[24], lost[24], held[24], start[32], alloc[64];

		snprintf(pid, sizeof(pid), "%u", r->pid);
		text__safe(comm, sizeof(comm), r->comm);
		text__safe(alloc, sizeof(alloc),
			   r->allocator[0] ? r->allocator : "-");
		snprintf(thr, sizeof(thr), "%u", r->threads);
		snprintf(blocks, sizeof(blocks), "%" PRIu64, r->live_blocks);
		output__size(bytes, sizeof(bytes), r->live_bytes);
		snprintf(find, sizeof(find), "%" PRIu64, r->findings);
		snprintf(lost, sizeof(lost), "%" PRIu64, r->lost + r->dropped);
		snprintf(held, sizeof(held), "%" PRIu64, r->withheld);
		output__time(start, sizeof(start), r->start_ts);
		table__row(&c->t, pid, comm, mw_proc_state_name(r->state),
			   mw_mode_name(r->mode), alloc, thr, blocks, bytes,
			   find, lost, held, start);
	}
	return 0;
}

/* The kernel the daemon runs on, and what it does without each optional
 * feature missing there (common/kfeature.h). */
static void kernel_text(const struct mw_msg_status *st)
{
	char rel[sizeof(st->kernel_release)];

	text__safe(rel, sizeof(rel), st->kernel_release);
	printf("kernel: Linux %s", rel);
	for (int f = 0, n = 0; f < MW_KF_MAX; f++)
		if (!(st->kfeatures & (1u << f)))
			printf("%s%s", n++ ? ", " : "; missing: ",
			       mw_kfeature(f)->name);
	printf("\n");
	for (int f = 0; f < MW_KF_MAX; f++)
		if (!(st->kfeatures & (1u << f)))
			printf("  without %s: %s\n", mw_kfeature(f)->name,
			       mw_kfeature(f)->without);
}

static void kernel_json(const struct mw_msg_status *st)
{
	char rel[sizeof(st->kernel_release)];

	memcpy(rel, st->kernel_release, sizeof(rel));
	rel[sizeof(rel) - 1] = '\0';
	json__key(&J, "kernel");
	json__open(&J, '{');
	json__key(&J, "release");
	json__str(&J, rel);
	json__key(&J, "features");
	json__open(&J, '{');
	for (int f = 0; f < MW_KF_MAX; f++) {
		json__key(&J, mw_kfeature(f)->name);
		json__bool(&J, st->kfeatures & (1u << f));
	}
	json__close(&J, '}');
	json__key(&J, "degraded");
	json__open(&J, '[');
	for (int f = 0; f < MW_KF_MAX; f++) {
		if (st->kfeatures & (1u << f))
			continue;
		json__open(&J, '{');
		json__key(&J, "feature");
		json__str(&J, mw_kfeature(f)->name);
		json__key(&J, "without");
		json__str(&J, mw_kfeature(f)->without);
		json__close(&J, '}');
	}
	json__close(&J, ']');
	json__close(&J, '}');
}

int cmd_status(int argc, char **argv)
{
	struct status_ctx c = {
	    .t = {.ncols = 12,
		  .head = {"PID", "COMM", "STATE", "MODE", "MALLOC", "THREADS",
			   "LIVE_BLOCKS", "LIVE_BYTES", "FINDINGS", "LOST",
			   "WITHHELD", "STARTED"}},
	};
	struct mw_msg_status st;
	char msg[256];
	struct store *s;
	int rc, err;

	ctl__no_args("status", argc);
	rc = client__request(MW_MSG_STATUS, NULL, 0, &st, sizeof(st), msg,
			     sizeof(msg), true);
	if (rc && rc != -EHOSTDOWN)
		die(EXIT_RUNTIME, "memwatchd: %s", msg);
	s = ctl__open_db();
	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "daemon");
		if (rc) {
			json__null(&J);
		} else {
			json__open(&J, '{');
			json__key(&J, "pid");
			json__u64(&J, st.daemon_pid);
			rowfmt__json_time(&J, "started_ts", st.started_ts);
			json__key(&J, "events");
			json__u64(&J, st.events);
			json__key(&J, "lost");
			json__u64(&J, st.lost);
			json__key(&J, "live_blocks");
			json__u64(&J, st.live_blocks);
			json__key(&J, "findings");
			json__u64(&J, st.findings);
			json__key(&J, "targets");
			json__open(&J, '[');
			for (uint32_t i = 0;
			     i < st.ntargets && i < MW_STATUS_MAX_TARGETS; i++)
				json__u64(&J, st.targets[i]);
			json__close(&J, ']');
			json__key(&J, "pruned_rows");
			json__u64(&J, st.pruned_rows);
			json__key(&J, "pruned_raw_processes");
			json__u64(&J, st.pruned_raw_processes);
			json__key(&J, "pruned_processes");
			json__u64(&J, st.pruned_processes);
			json__key(&J, "prune_step_max_ns");
			json__u64(&J, st.prune_step_max_ns);
			kernel_json(&st);
			json__close(&J, '}');
		}
		json__key(&J, "processes");
		json__open(&J, '[');
	} else if (rc) {
		printf("daemon: not running (socket %s)\n", opt.socket);
	} else {
		char started[32];

		output__time(started, sizeof(started), st.started_ts);
		printf("daemon: pid %u, running since %s, %" PRIu64
		       " events, %" PRIu64 " lost, %" PRIu64
		       " live blocks, %" PRIu64 " findings\n",
		       st.daemon_pid, started, st.events, st.lost,
		       st.live_blocks, st.findings);
		printf("targets:");
		for (uint32_t i = 0;
		     i < st.ntargets && i < MW_STATUS_MAX_TARGETS; i++)
			printf(" %u", st.targets[i]);
		printf("%s\n", st.ntargets ? "" : " none");
		kernel_text(&st);
		printf("retention: %" PRIu64
		       " rows removed: raw rows of %" PRIu64
		       " processes, everything of %" PRIu64
		       "; longest step %.1f ms\n",
		       st.pruned_rows, st.pruned_raw_processes,
		       st.pruned_processes, (double)st.prune_step_max_ns / 1e6);
	}
	err = store__each_process(s, &opt.filter, status_process, &c);
	store__close(s);
	if (err)
		ctl__query_failed(err);
	if (opt.json) {
		json__close(&J, ']');
		json__close(&J, '}');
		json__end(&J);
	} else {
		printf("database: %s\n\n", opt.db);
		table__print(&c.t);
	}
	return 0;
}

/* --- --version --------------------------------------------------------- */

/* libbpf as memwatch was built with: its headers', the same make that
 * built memwatchd (memwatchctl itself loads no BPF). None on Windows. */
#if defined(__has_include)
#if __has_include(<bpf/libbpf_version.h>)
#include <bpf/libbpf_version.h>
#endif
#endif
#ifndef _WIN32
#include <unistd.h>
#endif

static void version_libbpf(char *buf, size_t len)
{
#ifdef LIBBPF_MAJOR_VERSION
	snprintf(buf, len, "%d.%d", LIBBPF_MAJOR_VERSION,
		 LIBBPF_MINOR_VERSION);
#else
	snprintf(buf, len, "none");
#endif
}

int cmd_version(void)
{
	struct mw_msg_status st;
	char lib[32], msg[256], why[320];
	int rc = -EHOSTDOWN;

	/* The kernel features are the running daemon's probe's (memwatchd
	 * --features): it alone loads BPF. Not being allowed to ask it is
	 * no error here, only something to say. */
#ifndef _WIN32
	if (access(opt.socket, W_OK) && errno != ENOENT)
		snprintf(why, sizeof(why),
			 "memwatchd's socket %s: %s: memwatchd --features "
			 "probes them",
			 opt.socket, strerror(errno));
	else
#endif
	{
		rc = client__request(MW_MSG_STATUS, NULL, 0, &st, sizeof(st),
				     msg, sizeof(msg), true);
		if (rc == -EHOSTDOWN)
			snprintf(why, sizeof(why),
				 "memwatchd is not running (socket %s): "
				 "memwatchd --features probes them",
				 opt.socket);
		else if (rc)
			snprintf(why, sizeof(why), "memwatchd: %s", msg);
	}
	version_libbpf(lib, sizeof(lib));
	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "version");
		json__str(&J, VERSION);
		json__key(&J, "libbpf");
		json__str(&J, lib);
		if (rc) {
			json__key(&J, "kernel");
			json__null(&J);
			json__key(&J, "kernel_unknown");
			json__str(&J, why);
		} else {
			kernel_json(&st);
		}
		json__close(&J, '}');
		json__end(&J);
		return 0;
	}
	printf("memwatchctl %s\n", VERSION);
	printf("libbpf %s (memwatch built with it)\n", lib);
	if (rc) {
		printf("kernel features: unknown, %s\n", why);
		return 0;
	}
	printf("kernel features, as memwatchd (pid %u) found them:\n",
	       st.daemon_pid);
	printf("  found:");
	for (int f = 0; f < MW_KF_MAX; f++)
		if (st.kfeatures & (1u << f))
			printf(" %s", mw_kfeature(f)->name);
	printf("\n");
	kernel_text(&st);
	return 0;
}
