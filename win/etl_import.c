/*
 * etl_import.c - an ETW trace file into a memwatch database
 * (etl_import.h): the file's events, in time order, through the decoder
 * into the engine, ticked and flushed as the trace's time advances, all
 * of it flushed at the end.
 *
 * What the live collector learns from the system, a trace says itself:
 *  - processes: those the trace shows, in a Process Start or DCStart
 *    (rundown) event, found in a first pass with their image name. Each
 *    is attached at its first event in the trace (a thread's or its
 *    own), so that its threads are counted from the trace's start even
 *    when the rundown naming it comes later (a circular logger's); again
 *    at its first event after it exited (its pid reused). A process
 *    whose first sign is a heap event is attached then, nameless if no
 *    process event names it. The Idle process (pid 0) is not one.
 *    Processes still running at the trace's end are detached there, as
 *    memwatchw detaches at its end;
 *  - losses: the header's EventsLost and BuffersLost and the buffers
 *    flagged as having lost events do not say when or whose, so every
 *    process is missing them, from the trace's start on: each process's
 *    lost count is the trace's, and findings resting on its evidence are
 *    withheld, as on the live path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "hash.h"
#include "etl_feed.h"
#include "etl_file.h"
#include "etl_import.h"
#include "flush.h"
#include "store.h"

/* Ticks and flushes every half second of the trace, as memwatchw does
 * every half second of its own. */
#define FLUSH_NS (500ull * 1000 * 1000)
#define GROUP_PROCESS 0x03
#define PROCESS_START 0x01
#define PROCESS_DCSTART 0x03
#define GROUP_THREAD 0x05

struct import {
	struct etl_file *f;
	struct etw_clock clock;
	struct etw_decoder *dec;
	struct engine *eng;
	struct flusher fl;
	uint64_t lost; /* the trace's own losses */
	uint64_t last_flush;
	struct hmap shown; /* pid -> its name (a malloc'ed MW_COMM_MAX) */
	struct etl_import_stats *st;
	char *why;
	size_t len;
};

static int fail(struct import *im, int err, const char *what)
{
	snprintf(im->why, im->len, "%s", what);
	return err;
}

/* Little-endian reads of a kernel payload, bounded. */
static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/*
 * A Process event's pid and image name (MOF Process_V2..V4: key, pid,
 * parent, session, exit status, [v3+: directory table base], [v4+:
 * flags], the user's SID, then the ANSI image name). 0, or -EBADMSG when
 * the pid is not there; a name that is not there is left empty.
 */
static int process_fields(const struct etl_event *ev, uint32_t *pid,
			  char *comm, size_t len)
{
	unsigned ptr = ev->ptr_size == 4 ? 4 : 8;
	uint32_t off = ptr + 16;

	comm[0] = '\0';
	if (ev->len < ptr + 4)
		return -EBADMSG;
	*pid = (uint32_t)le(ev->data + ptr, 4);
	if (ev->version >= 3)
		off += ptr;
	if (ev->version >= 4)
		off += 4;
	/* The SID: 4 zero bytes, or a TOKEN_USER (two pointers) and the
	 * SID itself, 8 bytes and 4 per sub-authority. */
	if (off + 4 > ev->len)
		return 0;
	if (le(ev->data + off, 4)) {
		if (off + 2 * ptr + 2 > ev->len)
			return 0;
		off += 2 * ptr + 8 + 4 * ev->data[off + 2 * ptr + 1];
	} else {
		off += 4;
	}
	for (size_t n = 0; off < ev->len && n + 1 < len && ev->data[off];
	     off++) {
		comm[n++] = (char)ev->data[off];
		comm[n] = '\0';
	}
	return 0;
}

/* The process a kernel Process or Thread event is about, from its
 * payload (its header names the thread that logged it): 1 when *pid is
 * set. */
static int about(const struct etl_event *ev, uint32_t *pid)
{
	unsigned ptr = ev->ptr_size == 4 ? 4 : 8;
	uint8_t group = (uint8_t)(ev->hook_id >> 8);

	if (ev->kind != ETL_KIND_SYSTEM)
		return 0;
	if (group == GROUP_THREAD && ev->len >= 4) {
		*pid = (uint32_t)le(ev->data, 4);
		return 1;
	}
	/* A process's end attaches nothing: it may follow the end a
	 * Kernel-Process ProcessStop told already. */
	if (group == GROUP_PROCESS && ev->len >= ptr + 4 &&
	    ((uint8_t)ev->hook_id == PROCESS_START ||
	     (uint8_t)ev->hook_id == PROCESS_DCSTART)) {
		*pid = (uint32_t)le(ev->data + ptr, 4);
		return 1;
	}
	return 0;
}

/* The first pass: every process a Start or DCStart event names, with
 * the first name given for its pid. */
static int find_processes(struct import *im)
{
	struct etl_event ev;
	char comm[MW_COMM_MAX], *c;
	uint32_t pid;
	int err;

	while ((err = etl_file__next(im->f, &ev)) > 0) {
		uint8_t type = (uint8_t)ev.hook_id;

		if (ev.kind != ETL_KIND_SYSTEM ||
		    ev.hook_id >> 8 != GROUP_PROCESS ||
		    (type != PROCESS_START && type != PROCESS_DCSTART))
			continue;
		if (process_fields(&ev, &pid, comm, sizeof(comm)))
			return fail(im, -EBADMSG,
				    "a process event too short for its pid");
		if (!pid || hmap__get(&im->shown, pid))
			continue;
		if (!(c = malloc(MW_COMM_MAX)))
			return fail(im, -ENOMEM, strerror(ENOMEM));
		memcpy(c, comm, MW_COMM_MAX);
		if (hmap__put(&im->shown, pid, c)) {
			free(c);
			return fail(im, -ENOMEM, strerror(ENOMEM));
		}
	}
	if (err < 0)
		return fail(im, err, etl_file__last_error(im->f));
	etl_file__rewind(im->f);
	return 0;
}

/* pid becomes a process of the database at ts (once). */
static int attach(struct import *im, uint32_t pid, const char *comm,
		  uint64_t ts)
{
	struct mw_event lost;
	uint64_t id;
	int err;

	if (!pid || engine__is_traced(im->eng, pid))
		return 0;
	if (!comm)
		comm = hmap__get(&im->shown, pid);
	if ((err = engine__attach(im->eng, pid, comm, ts, &id)) ||
	    (err = engine__set_allocator(im->eng, pid, "ntdll")))
		return err;
	im->st->processes++;
	if (!im->lost)
		return 0;
	memset(&lost, 0, sizeof(lost));
	lost.type = MW_EV_LOST;
	lost.pid = pid;
	lost.count = im->lost;
	lost.addr = im->st->first_ns; /* from the trace's start */
	lost.ts = 0;		      /* to any time: the trace cannot say */
	return engine__feed(im->eng, &lost);
}

/* Everything the decoder has due at now_ns into the engine. */
static int drain(struct import *im, uint64_t now_ns)
{
	struct mw_event ev;
	int n, err;

	while ((n = etw_decoder__pop(im->dec, now_ns, &ev)) == 1) {
		if ((ev.type == MW_EV_ALLOC || ev.type == MW_EV_REALLOC ||
		     ev.type == MW_EV_FREE) &&
		    (err = attach(im, ev.pid, NULL, ev.ts)))
			return err;
		/* An event the engine refuses is counted by it (dropped). */
		err = engine__feed(im->eng, &ev);
		if (err == -ENOMEM)
			return err;
		im->st->decoded++;
	}
	return n;
}

static int flush(struct import *im, uint64_t now)
{
	int err;

	engine__tick(im->eng, now);
	err = flusher__flush(&im->fl, now);
	im->st->flushes++;
	im->last_flush = now;
	return err;
}

/* One event of the trace into the decoder. */
static int push(struct import *im, const struct etl_event *ev)
{
	static uint8_t buf[16 + ETL_STACK_MAX * 8];
	struct etw_record r;
	uint64_t ns = etw_clock__ns(&im->clock, ev->timestamp);
	uint32_t pid;
	int err;

	if (about(ev, &pid) && hmap__get(&im->shown, pid) &&
	    (err = attach(im, pid, NULL, ns)))
		return err;
	if (!etl_feed__kernel(ev, buf, sizeof(buf), &r))
		etl_feed__record(ev, &r);
	err = etw_decoder__push(im->dec, &r);
	if (err && err != -EBADMSG)
		return err;
	if (etl_feed__stack(ev, buf, sizeof(buf), &r) &&
	    (err = etw_decoder__push(im->dec, &r)) && err != -EBADMSG)
		return err;
	if ((err = drain(im, ns)) < 0)
		return err;
	if (ns >= im->last_flush + FLUSH_NS || engine__flush_more(im->eng))
		return flush(im, ns);
	return 0;
}

static int collect_traced(void *ctx, const struct engine_proc_view *pv)
{
	uint32_t **at = ctx;

	if (pv->row->state == MW_PROC_TRACING)
		*(*at)++ = pv->row->pid;
	return 0;
}

/* The trace's end: what the decoder holds, then every process still
 * running detached, and everything flushed. */
static int finish(struct import *im, uint64_t end)
{
	struct engine_stats es;
	uint32_t *pids, *at;
	int err;

	if ((err = drain(im, UINT64_MAX)) < 0)
		return err;
	engine__tick(im->eng, end);
	engine__stats(im->eng, &es);
	im->st->live_blocks = es.live_blocks;
	pids = calloc(es.processes + 1, sizeof(*pids));
	if (!pids)
		return -ENOMEM;
	at = pids;
	engine__each_process(im->eng, collect_traced, &at);
	for (uint32_t *p = pids; p < at; p++)
		engine__detach(im->eng, *p, end);
	free(pids);
	/* A nanosecond on, so that blocks allocated at the very end are
	 * past the (1 ns) persist age and written too. */
	err = flusher__flush_all(&im->fl, end + 1);
	im->st->flushes++;
	engine__stats(im->eng, &es);
	im->st->findings = es.findings;
	im->st->withheld = es.withheld;
	return err;
}

static uint64_t trace_lost(const struct etl_info *in)
{
	uint64_t events = in->events_lost, buffers = in->buffers_lost;

	/* The header's counts and the flagged buffers may tell the same
	 * losses: the larger of each, a lost buffer as one event. */
	if (in->buffers_events_lost > events)
		events = in->buffers_events_lost;
	if (in->buffers_flag_lost > buffers)
		buffers = in->buffers_flag_lost;
	return events + buffers;
}

int etl_import__run(const char *path, struct store *st,
		    struct etl_import_stats *stats, char *why, size_t len)
{
	struct import im = {.st = stats, .why = why, .len = len};
	struct etw_decoder_config dcfg;
	struct engine_config ecfg;
	struct etl_event ev;
	uint64_t serial, ns;
	int err;

	memset(stats, 0, sizeof(*stats));
	hmap__init(&im.shown);
	if (len)
		why[0] = '\0';
	if ((err = store__next_serial(st, &serial)))
		return fail(&im, err, store__strerror(err));
	im.f = etl_file__open(path);
	if (!im.f) {
		err = -errno;
		return fail(&im, err, err == -EBADMSG
					  ? etl_file__last_error(NULL)
					  : strerror(-err));
	}
	im.clock = etl_feed__clock(etl_file__info(im.f));
	im.lost = trace_lost(etl_file__info(im.f));
	stats->lost = im.lost;
	stats->first_ns = stats->last_ns = im.last_flush =
	    etw_clock__ns(&im.clock, im.clock.ref_ticks);
	memset(&dcfg, 0, sizeof(dcfg));
	dcfg.clock = im.clock;
	memset(&ecfg, 0, sizeof(ecfg));
	/* The trace is whole: every block live at a flush is written, not
	 * only those older than a second, so the end leaves none out. */
	ecfg.persist_age_ns = 1;
	im.dec = etw_decoder__new(&dcfg);
	im.eng = engine__new(&ecfg, serial);
	if (!im.dec || !im.eng) {
		err = fail(&im, -ENOMEM, strerror(ENOMEM));
		goto out;
	}
	im.fl = (struct flusher){
	    .engine = im.eng,
	    .sink = {st, NULL, NULL, NULL},
	};
	if ((err = find_processes(&im)))
		goto out;
	while ((err = etl_file__next(im.f, &ev)) > 0) {
		stats->events++;
		ns = etw_clock__ns(&im.clock, ev.timestamp);
		if (ns > stats->last_ns)
			stats->last_ns = ns;
		if ((err = push(&im, &ev))) {
			if (!why[0])
				fail(&im, err,
				     err == -ENOMEM ? strerror(ENOMEM)
						    : store__strerror(err));
			goto out;
		}
	}
	if (err < 0) {
		fail(&im, err, etl_file__last_error(im.f));
		goto out;
	}
	if ((err = finish(&im, stats->last_ns)))
		fail(&im, err,
		     err == -ENOMEM ? strerror(ENOMEM) : store__strerror(err));
out:
	{
		size_t pos = 0;
		uint64_t k;
		void *v;

		while (hmap__next(&im.shown, &pos, &k, &v))
			free(v);
		hmap__fini(&im.shown);
	}
	engine__free(im.eng);
	etw_decoder__free(im.dec);
	etl_file__close(im.f);
	return err;
}
