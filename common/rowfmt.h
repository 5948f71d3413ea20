/*
 * rowfmt.h - a row written from its table's description (rows.h): as a
 * JSON object, byte for byte as memwatchctl --json writes it (ctl/json.c),
 * and as a CSV record with its header, as memwatchctl export writes them
 * (ctl/export.c). Columns in the description's order; hidden ones left
 * out; a site column (MW_COL_SITE) as its site row, nested in JSON (a
 * zero row with its ip when site is NULL, as memwatchctl shows an
 * unsymbolized site), flattened as site_LABEL in CSV.
 *
 * Into a FILE *: a buffer is fmemopen's or open_memstream's.
 */
#ifndef MEMWATCH_ROWFMT_H
#define MEMWATCH_ROWFMT_H

#include <stdbool.h>
#include <stdio.h>

#include "rows.h"

/*
 * The object of row, from '{' to '}'. pretty: indented two spaces a
 * level, as ctl/json.c does; depth is how many arrays and objects
 * enclose the object (struct json's depth where it goes), so that its
 * lines are indented as json.c's would be. What comes before it (a
 * separator, a key) is the caller's.
 */
void rowfmt__json(FILE *f, const struct mw_row_desc *d, const void *row,
		  const struct mw_site_row *site, bool pretty, int depth);

/* The header record: the labels, comma-separated, CRLF-terminated. */
void rowfmt__csv_header(FILE *f, const struct mw_row_desc *d);
/* The record of row, CRLF-terminated (RFC 4180). */
void rowfmt__csv(FILE *f, const struct mw_row_desc *d, const void *row,
		 const struct mw_site_row *site);

#endif
