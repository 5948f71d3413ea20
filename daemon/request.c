/*
 * request.c - memwatchctl's requests over the control socket: status,
 * attach, detach, watch, unwatch, reload and ack.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "engine.h"
#include "log.h"
#include "memwatchd.h"
#include "metrics.h"
#include "proto.h"
#include "retention.h"
#include "store.h"

static int on_watch_request(struct daemon *d, uint16_t type,
			    const struct mw_msg_watch *w, char *msg,
			    size_t len)
{
	if (w->kind < MW_WATCH_EXE || w->kind > MW_WATCH_UNIT) {
		snprintf(msg, len, "invalid target kind %u", w->kind);
		return -EINVAL;
	}
	if (w->mode != MW_MODE_FULL && w->mode != MW_MODE_TLS) {
		snprintf(msg, len, "invalid mode %u", w->mode);
		return -EINVAL;
	}
	if (!memchr(w->name, '\0', sizeof(w->name)) || !w->name[0]) {
		snprintf(msg, len, "invalid %s name", watch_names[w->kind]);
		return -EINVAL;
	}
	return daemon__watch(d, w->kind, w->name,
		     type == MW_MSG_UNWATCH	? COLLECTOR_UNWATCH
		     : w->mode == MW_MODE_TLS ? COLLECTOR_WATCH_TLS
					      : COLLECTOR_WATCH,
		     msg, len);
}

/* memwatchctl ack: the finding acknowledged in the database (the
 * daemon is its one writer), then counted so in the metrics. */
static int copy_finding(void *ctx, const struct mw_finding_row *r,
			const struct mw_site_row *site)
{
	(void)site;
	*(struct mw_finding_row *)ctx = *r;
	return 1;
}

static int on_ack(struct daemon *d, const struct mw_msg_ack *a, char *msg,
		  size_t len)
{
	struct store_filter one = {.id = a->id};
	struct mw_finding_row was = {0};
	bool have;
	int err;

	if (!a->id || a->id > INT64_MAX) {
		snprintf(msg, len, "invalid finding id '%llu'",
			 (unsigned long long)a->id);
		return -EINVAL;
	}
	if (!memchr(a->note, '\0', sizeof(a->note))) {
		snprintf(msg, len, "invalid note: not terminated");
		return -EINVAL;
	}
	/* As it was: what the metrics counted it as. */
	have = store__each_finding(d->store, &one, copy_finding, &was) == 1;
	err = store__ack_finding(d->store, a->id, collector__now(d->col),
				 a->note);
	if (err == -ENOENT) {
		snprintf(msg, len, "no finding with id '%llu'",
			 (unsigned long long)a->id);
		return err;
	}
	if (err) {
		snprintf(msg, len, "cannot write to database '%s': %s",
			 d->opts->db, store__strerror(err));
		return err;
	}
	if (have)
		metrics__ack(d->metrics, &was, was.found_ts >= d->started);
	log_info("finding %llu acknowledged", (unsigned long long)a->id);
	return 0;
}

int daemon__on_request(void *ctx, uint16_t type, const void *req,
		      uint32_t req_len, void *reply, uint32_t *reply_len,
		      char *msg, size_t msglen)
{
	struct daemon *d = ctx;
	const struct mw_msg_pid *mp = req;
	struct mw_msg_status *st = reply;
	const struct retention_stats *rs;
	struct engine_stats es;
	int err;

	switch (type) {
	case MW_MSG_STATUS:
		engine__stats(d->engine, &es);
		memset(st, 0, sizeof(*st));
		st->started_ts = d->started;
		st->events = es.events;
		st->lost = es.lost;
		st->live_blocks = es.live_blocks;
		st->findings = es.findings;
		st->daemon_pid = (uint32_t)getpid();
		rs = retention__stats(d->retention);
		st->pruned_rows = store_pruned__sum(&rs->rows);
		st->pruned_raw_processes = rs->raw_processes;
		st->pruned_processes = rs->rows.processes;
		st->prune_step_max_ns = rs->step_max_ns;
		snprintf(st->kernel_release, sizeof(st->kernel_release), "%s",
			 d->kernel.release);
		st->kfeatures = d->kernel.found;
		for (int i = 0; i < collector__ntargets(d->col) &&
				i < MW_STATUS_MAX_TARGETS;
		     i++)
			st->targets[st->ntargets++] = collector__target(d->col, i);
		*reply_len = sizeof(*st);
		return 0;
	case MW_MSG_ATTACH:
		if (!mp->pid || mp->pid > INT32_MAX) {
			snprintf(msg, msglen, "invalid pid '%u'", mp->pid);
			return -EINVAL;
		}
		err = daemon__attach(d, mp->pid, mp->mode == MW_MODE_TLS, msg,
				     msglen);
		break;
	case MW_MSG_DETACH:
		err = daemon__detach(d, mp->pid, msg, msglen);
		break;
	case MW_MSG_WATCH:
	case MW_MSG_UNWATCH:
		return on_watch_request(d, type, req, msg, msglen);
	case MW_MSG_RELOAD:
		err = daemon__reload(d, msg, msglen);
		if (err)
			log_warnx("cannot reload: %s", msg);
		return err;
	case MW_MSG_ACK:
		return on_ack(d, req, msg, msglen);
	default:
		snprintf(msg, msglen, "unknown request type %u", type);
		return -EOPNOTSUPP;
	}
	/* What memwatchctl reads next (status, from the database) shows the
	 * process as attached or detached: its rows are written now rather
	 * than at the next flush. */
	if (!err)
		daemon__flush(d, collector__now(d->col));
	return err;
}
