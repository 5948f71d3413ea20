/*
 * rowfmt.h - a row written from its table's description (rows.h): as
 * memwatchctl --json writes it, through ctl/json.c's writer, and as a CSV
 * record with its header, as memwatchctl export writes them. Columns in
 * the description's order; hidden ones left out; a site column
 * (MW_COL_SITE) as its site row, nested in JSON (a zero row with its ip
 * when site is NULL, as memwatchctl shows an unsymbolized site),
 * flattened as site_LABEL in CSV. So a new column is written once, in
 * its description.
 */
#ifndef MEMWATCH_ROWFMT_H
#define MEMWATCH_ROWFMT_H

#include <stdio.h>

#include "json.h"
#include "rows.h"

/*
 * The keys and values of row, inside an object the caller opened (so
 * that it can add its own after them: explain adds the stack).
 */
void rowfmt__json_fields(struct json *j, const struct mw_row_desc *d,
			 const void *row, const struct mw_site_row *site);
/* The object of row: '{', its fields, '}'. */
void rowfmt__json(struct json *j, const struct mw_row_desc *d, const void *row,
		  const struct mw_site_row *site);
/* The object of the site at ip: site, or a zero row with ip if NULL. */
void rowfmt__json_site(struct json *j, uint64_t ip,
		       const struct mw_site_row *site);

/* ns since the epoch as RFC 3339 in UTC, to the ns:
 * "2026-12-07T21:34:25.123456789Z" (31 bytes with its NUL). Fixed
 * width, so such strings sort as the times do. */
#define ROWFMT_TIME_LEN 32
void rowfmt__rfc3339(char *buf, size_t len, uint64_t ns);
/* The two keys and values of a time, as a row's time columns have them:
 * label as RFC 3339, label_ns as a string of the number; null both if 0. */
void rowfmt__json_time(struct json *j, const char *label, uint64_t ns);

/* The header record: the labels, comma-separated, CRLF-terminated. */
void rowfmt__csv_header(FILE *f, const struct mw_row_desc *d);
/* The record of row, CRLF-terminated (RFC 4180). */
void rowfmt__csv(FILE *f, const struct mw_row_desc *d, const void *row,
		 const struct mw_site_row *site);

#endif
