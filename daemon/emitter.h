/*
 * emitter.h - findings as events, as Falco and Tetragon emit theirs: each
 * finding opened, changed in severity or resolved, once its flush is
 * committed, is written to the journal with structured fields
 * (MEMWATCH_KIND, MEMWATCH_SEVERITY, MEMWATCH_PID, MEMWATCH_COMM,
 * MEMWATCH_UNIT, MEMWATCH_SITE, MEMWATCH_BYTES, MEMWATCH_COUNT,
 * MEMWATCH_STACK, ...) when memwatchd's stderr is the journal, and with
 * --events-json as one JSON object a line to a file or standard output,
 * for Loki, Vector or a SIEM. Suppressed findings make no event.
 *
 * The finding is read back from the database as memwatchctl would show
 * it (its site, its stack, its state), its process's command and unit
 * from the engine.
 */
#ifndef MEMWATCH_EMITTER_H
#define MEMWATCH_EMITTER_H

#include <stdbool.h>

#include "engine.h"
#include "rows.h"
#include "store.h"

struct emitter;

/* json_path: a file appended to, "-" for standard output, NULL: none;
 * journal: write to the journal. NULL and errno set on failure (the
 * file cannot be opened). */
struct emitter *emitter__new(const char *json_path, bool journal);
void emitter__free(struct emitter *ev); /* accepts NULL */
/* Around each flush, as metrics__flush_*: findings handed in between
 * are staged, and written as events once the flush committed (err 0),
 * read from st, their processes from e. */
void emitter__flush_begin(struct emitter *ev);
void emitter__finding(struct emitter *ev, const struct mw_finding_row *r);
void emitter__flush_end(struct emitter *ev, int err, const struct engine *e,
		       struct store *st);

#endif
