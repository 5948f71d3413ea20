/*
 * fuzz_etl.c - libFuzzer harness of the ETW trace file reader
 * (win/etl_file.c, with win/xca.c's LZ77): the input is a whole .etl
 * file, of any length.
 *
 * etl_file__open_mem must never read outside the file or the buffers it
 * decompresses (ASan watches every byte; the reader works on its own
 * copy, a heap block of exactly the input's length), and:
 *  - a file it refuses is EBADMSG or ENOMEM, with a one-line reason;
 *  - a file it reads gives exactly info->events events, in time stamp
 *    order, each payload inside the reader's memory (ASan reads it all),
 *    each stack at most ETL_STACK_MAX frames; the counts add up (stack
 *    records attached or given as events, every record accounted for);
 *  - rewound, it gives the same events again.
 * A violation calls abort(), which libFuzzer reports.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl_file.h"

static void __attribute__((noreturn)) violated(const char *what)
{
	fprintf(stderr, "fuzz_etl: %s\n", what);
	abort();
}

/* Every event once; a sum over their bytes, so that each is read. */
static uint64_t walk(struct etl_file *f, uint64_t *n)
{
	struct etl_event ev;
	uint64_t sum = 0, last = 0;
	int err;

	*n = 0;
	while ((err = etl_file__next(f, &ev)) > 0) {
		if (*n && ev.timestamp < last)
			violated("events out of time stamp order");
		last = ev.timestamp;
		if (ev.depth > ETL_STACK_MAX || (ev.depth && !ev.stack))
			violated("a stack deeper than ETL_STACK_MAX or without frames");
		if (ev.ptr_size != 4 && ev.ptr_size != 8)
			violated("a pointer size neither 4 nor 8");
		for (uint32_t i = 0; i < ev.len; i++)
			sum += ev.data[i];
		for (uint32_t i = 0; i < ev.depth; i++)
			sum += ev.stack[i];
		sum += ev.pid + ev.tid + ev.cpu + (uint64_t)ev.time_ns;
		(*n)++;
	}
	if (err < 0)
		violated("an event that opened could not be read again");
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct etl_file *f = etl_file__open_mem(data, size);
	uint64_t n, n2, sum, sum2;

	if (!f) {
		const char *why = etl_file__last_error(NULL);
		if (errno != EBADMSG && errno != ENOMEM)
			violated("refused with an errno other than EBADMSG or ENOMEM");
		if (!why[0] || strchr(why, '\n'))
			violated("refused without a one-line reason");
		return 0;
	}
	const struct etl_info *in = etl_file__info(f);
	sum = walk(f, &n);
	if (n != in->events)
		violated("the events given are not info->events");
	if (in->stack_attached + in->stack_orphans != in->stack_records)
		violated("stack records neither attached nor given");
	if (in->records != in->events - in->stack_orphans + in->stack_records +
				   in->key_definitions)
		violated("records not accounted for");
	etl_file__rewind(f);
	sum2 = walk(f, &n2);
	if (n2 != n || sum2 != sum)
		violated("rewound, the events differ");
	etl_file__close(f);
	return 0;
}
