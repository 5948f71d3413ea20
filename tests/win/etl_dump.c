/*
 * etl_dump.c - the ETW file reader's (win/etl_file.h) test tool: prints a
 * trace's events in time order and what reading it found, for
 * tests/win/etl.sh to check against what others decoded.
 *
 *   etl_dump [--hex] [--stacks] [--counts] FILE.etl
 *   etl_dump --decode FILE.etl
 *
 * One line per event:
 *   E <ms since start> cpu=N pid=N tid=N sys hook=0xGGTT v=N len=N
 *   E <ms> cpu=N pid=N tid=N ev {GUID} id=N v=N op=N task=N len=N
 *   E <ms> cpu=N pid=N tid=N mof {GUID} type=N v=N len=N
 * then " stack=inline|cached|ext depth=N" (and " unresolved"), then with
 * --hex " data=HEX", with --stacks " frames=0x..,0x..". Then one "count"
 * line per hook id or provider and event, and "info" lines.
 *
 * --decode feeds the events to the Windows collector's decoder instead
 * (win/etl_feed.h, win/etw_decode.h) and prints the normalized events it
 * makes, one a line: "D TYPE pid=N tid=N utc=YYYY-MM-DD HH:MM:SS.mmm
 * code=N frames=N path=..", then the decoder's counts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "etl_feed.h"
#include "etl_file.h"

struct count {
	char key[80];
	uint64_t n;
};

static struct count *counts;
static size_t ncounts, capcounts;

static int bump(const char *key)
{
	for (size_t i = 0; i < ncounts; i++)
		if (!strcmp(counts[i].key, key))
			return (int)++counts[i].n;
	if (ncounts == capcounts) {
		size_t n = capcounts ? capcounts * 2 : 64;
		struct count *c = realloc(counts, n * sizeof(*c));
		if (!c)
			return -ENOMEM;
		counts = c;
		capcounts = n;
	}
	snprintf(counts[ncounts].key, sizeof(counts[ncounts].key), "%s", key);
	counts[ncounts++].n = 1;
	return 1;
}

static void guid_str(const struct etl_guid *g, char *out, size_t len)
{
	snprintf(out, len, "{%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x}",
		 g->d1, g->d2, g->d3, g->d4[0], g->d4[1], g->d4[2], g->d4[3],
		 g->d4[4], g->d4[5], g->d4[6], g->d4[7]);
}

static const char *src_name(enum etl_stack_src s)
{
	switch (s) {
	case ETL_STACK_INLINE: return "inline";
	case ETL_STACK_CACHED: return "cached";
	case ETL_STACK_EXT: return "ext";
	default: return "none";
	}
}

static void print_decoded(const struct mw_event *e)
{
	time_t secs = (time_t)(e->ts / 1000000000u);
	struct tm tm;
	char when[32] = "?";

	if (gmtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("D %s pid=%u tid=%u utc=%s.%03u code=%d frames=%u path=%s\n",
	       mw_event_type_name(e->type), e->pid, e->tid, when,
	       (unsigned)(e->ts / 1000000u % 1000u), e->code, e->nframes,
	       e->path ? e->path : "");
}

/* The trace through the decoder, each normalized event printed as it is
 * due: the decoder holds some (stacks, thread stops) for a while. */
static int decode(struct etl_file *f)
{
	const struct etl_info *in = etl_file__info(f);
	struct etw_decoder_config cfg = { .clock = etl_feed__clock(in) };
	struct etw_decoder *d = etw_decoder__new(&cfg);
	static uint8_t stack[16 + ETL_STACK_MAX * 8];
	struct etw_decoder_stats st;
	struct etl_event ev;
	struct etw_record r;
	struct mw_event out;
	uint64_t n = 0;
	int err;

	if (!d)
		return -ENOMEM;
	while ((err = etl_file__next(f, &ev)) > 0) {
		if (!etl_feed__kernel(&ev, stack, sizeof(stack), &r))
			etl_feed__record(&ev, &r);
		if ((err = etw_decoder__push(d, &r)) && err != -EBADMSG)
			break;
		if (etl_feed__stack(&ev, stack, sizeof(stack), &r) &&
		    (err = etw_decoder__push(d, &r)) && err != -EBADMSG)
			break;
		while (etw_decoder__pop(d, etw_clock__ns(&cfg.clock, ev.timestamp), &out) > 0) {
			print_decoded(&out);
			n++;
		}
	}
	while (err >= 0 && etw_decoder__pop(d, UINT64_MAX, &out) > 0) {
		print_decoded(&out);
		n++;
	}
	etw_decoder__stats(d, &st);
	printf("info decoded events=%" PRIu64 " records=%" PRIu64 " ignored=%" PRIu64
	       " bad=%" PRIu64 " stacks=%" PRIu64 " stackless=%" PRIu64 " stray_stacks=%" PRIu64 "\n",
	       n, st.records, st.ignored, st.bad, st.stacks, st.stackless, st.stray_stacks);
	etw_decoder__free(d);
	return err < 0 ? err : 0;
}

int main(int argc, char **argv)
{
	int hex = 0, stacks = 0, only_counts = 0, decoding = 0, i, err;
	const char *path = NULL;
	struct etl_event ev;
	char key[80], g[40];

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--hex"))
			hex = 1;
		else if (!strcmp(argv[i], "--stacks"))
			stacks = 1;
		else if (!strcmp(argv[i], "--counts"))
			only_counts = 1;
		else if (!strcmp(argv[i], "--decode"))
			decoding = 1;
		else if (argv[i][0] == '-' || path) {
			fprintf(stderr, "usage: etl_dump [--hex] [--stacks] [--counts] [--decode] FILE.etl\n");
			return 2;
		} else
			path = argv[i];
	}
	if (!path) {
		fprintf(stderr, "usage: etl_dump [--hex] [--stacks] [--counts] [--decode] FILE.etl\n");
		return 2;
	}
	struct etl_file *f = etl_file__open(path);
	if (!f) {
		fprintf(stderr, "etl_dump: %s: %s\n", path, etl_file__last_error(NULL));
		return 1;
	}
	if (decoding) {
		err = decode(f);
		if (err < 0)
			fprintf(stderr, "etl_dump: %s: %s\n", path,
				err == -ENOMEM ? "out of memory" : etl_file__last_error(f));
		etl_file__close(f);
		return err < 0;
	}
	while ((err = etl_file__next(f, &ev)) > 0) {
		if (ev.kind == ETL_KIND_SYSTEM)
			snprintf(key, sizeof(key), "sys hook=0x%04x", ev.hook_id);
		else if (ev.kind == ETL_KIND_EVENT) {
			guid_str(&ev.provider, g, sizeof(g));
			snprintf(key, sizeof(key), "ev %s id=%u", g, ev.id);
		} else {
			guid_str(&ev.provider, g, sizeof(g));
			snprintf(key, sizeof(key), "%s %s type=%u",
				 ev.kind == ETL_KIND_CLASSIC ? "mof" : "instance", g, ev.opcode);
		}
		if (bump(key) < 0) {
			fprintf(stderr, "etl_dump: out of memory\n");
			return 1;
		}
		if (only_counts)
			continue;
		printf("E %.3f cpu=%u pid=%d tid=%d %s", ev.time_ns / 1e6, ev.cpu,
		       (int32_t)ev.pid, (int32_t)ev.tid, key);
		if (ev.kind == ETL_KIND_EVENT)
			printf(" v=%u op=%u task=%u", ev.version, ev.opcode, ev.task);
		else
			printf(" v=%u", ev.version);
		printf(" len=%u", ev.len);
		if (ev.stack_src != ETL_STACK_NONE) {
			printf(" stack=%s depth=%u", src_name(ev.stack_src), ev.depth);
			if (ev.stack_pid != ETL_NO_ID)
				printf(" spid=%d stid=%d", (int32_t)ev.stack_pid, (int32_t)ev.stack_tid);
			if (ev.stack_unresolved)
				printf(" unresolved");
		}
		if (hex) {
			printf(" data=");
			for (uint32_t j = 0; j < ev.len; j++)
				printf("%02x", ev.data[j]);
		}
		if (stacks && ev.depth) {
			printf(" frames=");
			for (uint32_t j = 0; j < ev.depth; j++)
				printf("%s0x%" PRIx64, j ? "," : "", ev.stack[j]);
		}
		printf("\n");
	}
	if (err < 0) {
		fprintf(stderr, "etl_dump: %s: %s\n", path, etl_file__last_error(f));
		etl_file__close(f);
		return 1;
	}
	for (size_t j = 0; j < ncounts; j++)
		printf("count %s %" PRIu64 "\n", counts[j].key, counts[j].n);
	const struct etl_info *in = etl_file__info(f);
	printf("info header buffer_size=%u version=0x%x provider_version=%u ncpu=%u pointer_size=%u clock=%u perf_freq=%" PRIu64
	       " buffers_written=%u events_lost=%u buffers_lost=%u start_time=%" PRIu64 "\n",
	       in->buffer_size, in->version, in->provider_version, in->ncpu, in->pointer_size,
	       in->clock_type, in->perf_freq, in->buffers_written, in->events_lost,
	       in->buffers_lost, in->start_time);
	printf("info read buffers=%" PRIu64 " compressed=%" PRIu64 " flagged_events_lost=%" PRIu64
	       " flagged_buffer_lost=%" PRIu64 " records=%" PRIu64 " events=%" PRIu64
	       " stack_records=%" PRIu64 " stack_attached=%" PRIu64 " stack_orphans=%" PRIu64
	       " key_definitions=%" PRIu64 " keys_unresolved=%" PRIu64 "\n",
	       in->buffers, in->buffers_compressed, in->buffers_events_lost, in->buffers_flag_lost,
	       in->records, in->events, in->stack_records, in->stack_attached, in->stack_orphans,
	       in->key_definitions, in->keys_unresolved);
	etl_file__close(f);
	free(counts);
	return 0;
}
