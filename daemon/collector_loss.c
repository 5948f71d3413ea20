/*
 * collector_loss.c - what the kernel side lost, and the maps of the
 * processes it stopped: losses taken from the lost map and fed as
 * MW_EV_LOST, the kernel's counters, the processes whose report to
 * attach was lost (missed) and those still stopped (held).
 */
#include <stdbool.h>
#include <stdint.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collector_int.h"
#include "hash.h"
#include "memwatch.h"

/* Hand the loss of count records of pid (0: of nobody known), the first
 * and the latest at first_ts and last_ts (CLOCK_MONOTONIC), to the
 * engine. */
static void lost_feed(struct collector *c, uint32_t pid, uint64_t count,
		      uint64_t first_ts, uint64_t last_ts)
{
	struct mw_event ev = {
		.type = MW_EV_LOST,
		.pid = pid,
		.count = count,
		.ts = wall_of(c, last_ts),
		.addr = first_ts ? wall_of(c, first_ts) : 0,
	};

	c->lost_total += count;
	c->cb(c->ctx, &ev);
}

/*
 * Take the losses the kernel side counted since the last call, and feed
 * them as MW_EV_LOST, one per process. loss.seq is read first: the
 * programs bump it after counting, so every loss it stands for is found
 * in the map or in loss.any. An entry of a process that is not a target
 * is taken and removed in one step (BPF_MAP_LOOKUP_AND_DELETE_ELEM), so
 * that a loss counted meanwhile starts a new entry and is never missed.
 */
uint64_t collector__take_lost(struct collector *c)
{
	volatile struct mw_loss *g = &c->skel->bss->loss;
	uint32_t seq = (uint32_t)g->seq, *prev = NULL;
	uint64_t before = c->lost_total, any;
	int fd = bpf_map__fd(c->skel->maps.lost);
	uint32_t n = 0;
	bool short_of_memory = false;

	if (seq == c->lost_seq)
		return 0;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	/* Keys first, then values: removing entries during a walk would
	 * restart it. The map holds max_lost keys at most. */
	while (n < c->max_lost &&
	       !bpf_map_get_next_key(fd, prev, &c->lost_keys[n])) {
		prev = &c->lost_keys[n];
		n++;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pid = c->lost_keys[i];
		uint64_t taken = (uintptr_t)hmap__get(&c->lost_taken, pid);
		bool gone = !target_find(c, pid);
		struct mw_lost l;

		if (gone ? bpf_map_lookup_and_delete_elem(fd, &pid, &l)
			 : bpf_map_lookup_elem(fd, &pid, &l))
			continue;
		if (gone) {
			hmap__del(&c->lost_taken, pid);
		} else if (l.count > taken &&
			   hmap__put(&c->lost_taken, pid,
				     (void *)(uintptr_t)l.count)) {
			/* What is fed is remembered first: fed and then
			 * forgotten (no memory for the entry), it would be
			 * fed again. Left for the next call instead, which
			 * lost_seq left as it was makes happen. */
			short_of_memory = true;
			continue;
		}
		if (l.count > taken)
			lost_feed(c, pid, l.count - taken, l.first_ts,
				  l.last_ts);
	}
	if (!short_of_memory)
		c->lost_seq = seq;
	any = g->any.count;
	if (any > c->any_taken) {
		lost_feed(c, 0, any - c->any_taken, g->any.first_ts,
			  g->any.last_ts);
		c->any_taken = any;
	}
	return c->lost_total - before;
}

_Static_assert(MW_COLLECTOR_COUNTERS == MW_CNT_MAX, "collector.h counters");

void collector__counters(const struct collector *c, uint64_t *out)
{
	uint64_t vals[c->ncpus];

	for (uint32_t idx = 0; idx < MW_CNT_MAX; idx++) {
		out[idx] = 0;
		if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.counters),
					&idx, vals))
			continue;
		for (int i = 0; i < c->ncpus; i++)
			out[idx] += vals[i];
	}
}

void collector__resumed(struct collector *c, uint32_t pid)
{
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.held), &pid);
}

int collector__held_fd(const struct collector *c)
{
	return bpf_map__fd(c->skel->maps.held);
}

int collector__take_missed(struct collector *c,
			   void (*cb)(void *ctx, uint32_t pid, bool tls_only),
			   void *ctx)
{
	int fd = bpf_map__fd(c->skel->maps.missed), n = 0;
	uint32_t pid;
	uint8_t mode;

	/* Each entry is taken and removed in one step; a walk from the
	 * start each time, as removal would restart it anyway. The map is
	 * empty but after a loss: one syscall per tick. */
	while (!bpf_map_get_next_key(fd, NULL, &pid)) {
		if (bpf_map_lookup_and_delete_elem(fd, &pid, &mode))
			break;
		cb(ctx, pid, (mode & MW_TARGET_MODE) == MW_TARGET_TLS);
		n++;
	}
	return n;
}

uint64_t collector__lost_taken(const struct collector *c)
{
	return c->lost_total;
}
