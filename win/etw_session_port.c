/*
 * etw_session_port.c - the parts of an ETW session that are plain
 * arithmetic, kept apart from etw_session.c (Windows only) so that they
 * build and are tested natively too: the heap provider's filter
 * descriptor and the session's lost-event counters (see etw_decode.h).
 */
#include "etw_decode.h"

/* --- session setup ----------------------------------------------------- */

size_t etw_heap_ext(uint32_t *dw, size_t max, const uint32_t *pids,
		    size_t npids)
{
	/* header; pids item: header + pids; stack item: header + 2 hooks */
	size_t n = 1 + 1 + npids + 1 + 2, k = 0;

	if (n > max || n > 0xffff || !npids)
		return 0;
	dw[k++] = (uint32_t)n | 2u << 16;
	dw[k++] = (uint32_t)(1 + npids) | MW_ETW_EXT_PIDS << 16;
	for (size_t i = 0; i < npids; i++)
		dw[k++] = pids[i];
	dw[k++] = 3u | MW_ETW_EXT_STACKWALK_FILTER << 16;
	dw[k++] = MW_ETW_HOOK_HEAP_ALLOC;
	dw[k++] = MW_ETW_HOOK_HEAP_REALLOC;
	return k;
}

/* --- lost events ------------------------------------------------------------
 */

uint64_t etw_loss__update(struct etw_loss *seen, uint32_t events,
			  uint32_t log_buffers, uint32_t rt_buffers)
{
	/* Unsigned 32-bit differences survive one wrap of a counter. */
	uint64_t lost = (uint32_t)(events - seen->events) +
			(uint64_t)(uint32_t)(log_buffers - seen->log_buffers) +
			(uint32_t)(rt_buffers - seen->rt_buffers);

	seen->events = events;
	seen->log_buffers = log_buffers;
	seen->rt_buffers = rt_buffers;
	return lost;
}
