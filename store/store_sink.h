/*
 * store_sink.h - the engine's sink that writes its rows to a store: what
 * memwatchd and the Windows collector (win/memwatchw.c) both flush
 * through. The caller adds what differs between them: how a new site's
 * address is symbolized, and who else hears of each finding.
 */
#ifndef MEMWATCH_STORE_SINK_H
#define MEMWATCH_STORE_SINK_H

#include <stdint.h>

#include "engine.h"
#include "rows.h"
#include "store.h"

/* The ctx to pass with store_sink to engine__flush. */
struct store_sink_ctx {
	struct store *store;
	/* Fill the symbol of a site seen for the first time; row has its
	 * proc_id and ip. NULL: the address alone. */
	void (*resolve)(void *ctx, uint32_t pid, uint64_t ip,
			struct mw_site_row *row);
	/* Told of each finding before the store writes it, in a copy it
	 * may add to what the engine does not know (suppressed); may be
	 * NULL. */
	void (*on_finding)(void *ctx, struct mw_finding_row *r);
	void *ctx; /* for both */
};

extern const struct engine_sink store_sink;

#endif
