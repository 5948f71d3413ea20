/*
 * etl_dump.c - the ETW file reader's (win/etl_file.h) test tool: prints a
 * trace's events in time order and what reading it found, for
 * tests/win/etl.sh to check against what others decoded.
 *
 *   etl_dump [--hex] [--stacks] [--counts] FILE.etl
 *
 * One line per event:
 *   E <ms since start> cpu=N pid=N tid=N sys hook=0xGGTT v=N len=N
 *   E <ms> cpu=N pid=N tid=N ev {GUID} id=N v=N op=N task=N len=N
 *   E <ms> cpu=N pid=N tid=N mof {GUID} type=N v=N len=N
 * then " stack=inline|cached|ext depth=N" (and " unresolved"), then with
 * --hex " data=HEX", with --stacks " frames=0x..,0x..". Then one "count"
 * line per hook id or provider and event, and "info" lines.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
	int hex = 0, stacks = 0, only_counts = 0, i, err;
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
		else if (argv[i][0] == '-' || path) {
			fprintf(stderr, "usage: etl_dump [--hex] [--stacks] [--counts] FILE.etl\n");
			return 2;
		} else
			path = argv[i];
	}
	if (!path) {
		fprintf(stderr, "usage: etl_dump [--hex] [--stacks] [--counts] FILE.etl\n");
		return 2;
	}
	struct etl_file *f = etl_file__open(path);
	if (!f) {
		fprintf(stderr, "etl_dump: %s: %s\n", path, etl_file__last_error(NULL));
		return 1;
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
