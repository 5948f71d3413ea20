/*
 * live_hold.c - many live blocks at once, to measure the daemon's memory
 * per tracked block.
 *
 *   live_hold [BLOCKS=1000000] [SIZE=32] [HOLD_MS=1500]
 *
 * Allocates BLOCKS blocks of SIZE bytes, holds them all HOLD_MS, frees
 * them and exits 0. Prints nothing.
 */
#include <stdlib.h>

#include "workload.h"

#define PROG "live_hold"

int main(int argc, char **argv)
{
	const char *usage = "[BLOCKS=1000000] [SIZE=32] [HOLD_MS=1500]";
	long n = wl_arg(argc, argv, 1, 1000000, 0, 100000000, usage);
	long size = wl_arg(argc, argv, 2, 32, 1, 1L << 20, usage);
	long hold = wl_arg(argc, argv, 3, 1500, 0, 600000, usage);
	void **v;

	wl_wait_for_start(PROG);
	v = malloc((size_t)(n ? n : 1) * sizeof(*v));
	if (!v)
		wl_die(PROG, "out of memory");
	for (long i = 0; i < n; i++)
		if (!(v[i] = malloc((size_t)size)))
			wl_die(PROG, "out of memory");
	wl_sleep_ms(hold);
	for (long i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return 0;
}
