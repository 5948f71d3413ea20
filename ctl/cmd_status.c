/*
 * cmd_status.c - memwatchctl status: the daemon, asked over the control
 * socket if it runs, and the processes the database holds.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "proto.h"
#include "text.h"

struct status_ctx {
	struct table t;
};

/*
 * A container's id from its cgroup path: the 64-hex-digit name docker,
 * containerd and podman give its group (docker-ID.scope, cri-containerd-
 * ID.scope, libpod-ID.scope, /docker/ID). "" when there is none.
 */
static const char *container_id(const char *cgroup, char *buf, size_t len)
{
	for (const char *p = cgroup; *p; p++) {
		size_t n = strspn(p, "0123456789abcdef");

		if (n == 64 &&
		    (p == cgroup || !isxdigit((unsigned char)p[-1]))) {
			snprintf(buf, len, "%.64s", p);
			return buf;
		}
		if (n)
			p += n - 1;
	}
	return "";
}

static int status_process(void *ctx, const struct mw_process_row *r)
{
	struct status_ctx *c = ctx;
	char cid[72];

	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "id");
		json__u64(&J, r->id);
		json__key(&J, "pid");
		json__u64(&J, r->pid);
		json__key(&J, "comm");
		json__str(&J, r->comm);
		json__key(&J, "state");
		json__str(&J, mw_proc_state_name(r->state));
		json__key(&J, "mode");
		json__str(&J, mw_mode_name(r->mode));
		json__key(&J, "allocator");
		json__str(&J, r->allocator);
		json__key(&J, "nspid");
		json__u64(&J, r->nspid);
		json__key(&J, "cgroup");
		json__str(&J, r->cgroup);
		json__key(&J, "container");
		json__str(&J, container_id(r->cgroup, cid, sizeof(cid)));
		json__key(&J, "threads");
		json__u64(&J, r->threads);
		json__key(&J, "allocs");
		json__u64(&J, r->allocs);
		json__key(&J, "frees");
		json__u64(&J, r->frees);
		json__key(&J, "unknown_frees");
		json__u64(&J, r->unknown_frees);
		json__key(&J, "live_blocks");
		json__u64(&J, r->live_blocks);
		json__key(&J, "live_bytes");
		json__u64(&J, r->live_bytes);
		json__key(&J, "findings");
		json__u64(&J, r->findings);
		json__key(&J, "lost");
		json__u64(&J, r->lost);
		json__key(&J, "dropped");
		json__u64(&J, r->dropped);
		json__key(&J, "incomplete_from_ts");
		json__u64(&J, r->incomplete_from);
		json__key(&J, "incomplete_to_ts");
		json__u64(&J, r->incomplete_to);
		json__key(&J, "withheld");
		json__u64(&J, r->withheld);
		json__key(&J, "exit_code");
		json__i64(&J, r->exit_code);
		json__key(&J, "start_ts");
		json__u64(&J, r->start_ts);
		json__key(&J, "end_ts");
		json__u64(&J, r->end_ts);
		json__close(&J, '}');
	} else {
		char pid[16], comm[64], thr[16], blocks[24], bytes[24],
		    find[24], lost[24], held[24], start[32], alloc[64];

		snprintf(pid, sizeof(pid), "%u", r->pid);
		text__safe(comm, sizeof(comm), r->comm);
		text__safe(alloc, sizeof(alloc),
			   r->allocator[0] ? r->allocator : "-");
		snprintf(thr, sizeof(thr), "%u", r->threads);
		snprintf(blocks, sizeof(blocks), "%" PRIu64, r->live_blocks);
		snprintf(bytes, sizeof(bytes), "%" PRIu64, r->live_bytes);
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
			json__key(&J, "started_ts");
			json__u64(&J, st.started_ts);
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
