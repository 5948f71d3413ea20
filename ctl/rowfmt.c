/*
 * rowfmt.c - rows written as JSON and CSV from their descriptions; see
 * rowfmt.h. JSON through json.c (its layout and string escaping); the
 * CSV field escaping is here, memwatchctl's only one.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "rowfmt.h"
#include "text.h"

static const char *label(const struct mw_col *c)
{
	return c->label ? c->label : c->name;
}

/* The column's number, whatever its width. */
static uint64_t number(const struct mw_col *c, const void *row)
{
	const void *v = mw_col__field(c, row);

	switch (c->type) {
	case MW_COL_U64:
		return *(const uint64_t *)v;
	case MW_COL_U32:
		return *(const uint32_t *)v;
	case MW_COL_I32:
		return (uint64_t)(int64_t) * (const int32_t *)v;
	}
	return 0;
}

/* The frames of a MW_COL_FRAMES column, and how many. */
static const uint64_t *frames(const struct mw_col *c, const void *row,
			      uint32_t *n)
{
	uint32_t max = c->size / sizeof(uint64_t);

	*n = *(const uint32_t *)((const char *)row + c->count);
	if (*n > max)
		*n = max;
	return mw_col__field(c, row);
}

/* The text of a text column, or of a number shown as a word. */
static const char *text_of(const struct mw_col *c, const void *row, char *buf,
			   size_t len)
{
	if (c->flags & MW_COL_VIRTUAL)
		return c->derive(row, buf, len);
	if (c->name_of)
		return c->name_of((uint32_t)number(c, row));
	return mw_col__field(c, row);
}

/* The site row a site column shows: site, or a zero one at its ip. */
static const struct mw_site_row *site_of(const struct mw_col *c,
					 const void *row,
					 const struct mw_site_row *site,
					 struct mw_site_row *none)
{
	if (site)
		return site;
	memset(none, 0, sizeof(*none));
	none->ip = number(c, row);
	return none;
}

void rowfmt__rfc3339(char *buf, size_t len, uint64_t ns)
{
	const uint64_t sec = 1000000000ull;
	uint64_t s = ns / sec, days = s / 86400, sod = s % 86400;
	/* The civil date of a day count, by eras of 400 years (146097
	 * days) counted from 0000-03-01, so that the leap day ends a year:
	 * no table, no time zone, the same on every OS. */
	uint64_t z = days + 719468, era = z / 146097, doe = z % 146097;
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	uint64_t mp = (5 * doy + 2) / 153;
	uint64_t d = doy - (153 * mp + 2) / 5 + 1;
	uint64_t m = mp < 10 ? mp + 3 : mp - 9;
	uint64_t y = era * 400 + yoe + (m <= 2);

	snprintf(buf, len,
		 "%04" PRIu64 "-%02" PRIu64 "-%02" PRIu64 "T%02" PRIu64
		 ":%02" PRIu64 ":%02" PRIu64 ".%09" PRIu64 "Z",
		 y, m, d, sod / 3600, sod / 60 % 60, sod % 60, ns % sec);
}

void rowfmt__json_time(struct json *j, const char *label, uint64_t ns)
{
	char key[64], t[ROWFMT_TIME_LEN], n[24];

	snprintf(key, sizeof(key), "%s_ns", label);
	json__key(j, label);
	if (ns) {
		rowfmt__rfc3339(t, sizeof(t), ns);
		json__str(j, t);
	} else {
		json__null(j);
	}
	json__key(j, key);
	if (ns) {
		snprintf(n, sizeof(n), "%" PRIu64, ns);
		json__str(j, n);
	} else {
		json__null(j);
	}
}

/* Shown as null (CSV: an empty field): a value the row has not (has), or
 * a number 0 meaning none (MW_COL_NULL0). */
static bool shown_null(const struct mw_col *c, const void *row)
{
	if (c->has && !c->has(row))
		return true;
	return (c->flags & MW_COL_NULL0) && c->type != MW_COL_TEXT &&
	       c->type != MW_COL_FRAMES && !c->name_of && !number(c, row);
}

static void json_frames(struct json *j, const struct mw_col *c, const void *row)
{
	uint32_t n;
	const uint64_t *v = frames(c, row, &n);

	json__open(j, '[');
	for (uint32_t i = 0; i < n; i++)
		json__hex(j, v[i]);
	json__close(j, ']');
}

void rowfmt__json_fields(struct json *j, const struct mw_row_desc *d,
			 const void *row, const struct mw_site_row *site)
{
	for (unsigned i = 0; i < d->ncols; i++) {
		const struct mw_col *c = &d->cols[i];
		struct mw_site_row none;
		char buf[128];

		if (c->flags & MW_COL_HIDDEN)
			continue;
		if (c->flags & MW_COL_TIME) {
			rowfmt__json_time(j, label(c), number(c, row));
			continue;
		}
		json__key(j, label(c));
		if (shown_null(c, row))
			json__null(j);
		else if (c->flags & MW_COL_SITE)
			rowfmt__json(j, &mw_site_desc,
				     site_of(c, row, site, &none), NULL);
		else if (c->type == MW_COL_FRAMES)
			json_frames(j, c, row);
		else if (c->type == MW_COL_TEXT || c->name_of)
			json__str(j, text_of(c, row, buf, sizeof(buf)));
		else if (c->flags & MW_COL_HEX)
			json__hex(j, number(c, row));
		else if (c->type == MW_COL_I32)
			json__i64(j, (int64_t)number(c, row));
		else
			json__u64(j, number(c, row));
	}
}

void rowfmt__json(struct json *j, const struct mw_row_desc *d, const void *row,
		  const struct mw_site_row *site)
{
	json__open(j, '{');
	rowfmt__json_fields(j, d, row, site);
	json__close(j, '}');
}

void rowfmt__json_site(struct json *j, uint64_t ip,
		       const struct mw_site_row *site)
{
	struct mw_site_row none;

	if (!site) {
		memset(&none, 0, sizeof(none));
		none.ip = ip;
		site = &none;
	}
	rowfmt__json(j, &mw_site_desc, site, NULL);
}

/*
 * A text field, RFC 4180: quoted when it holds a comma, a quote, CR, LF
 * (or any control byte), quotes doubled. Bytes that are not valid UTF-8
 * become U+FFFD, one each, as in the JSON output, and so do control
 * characters other than tab, CR and LF.
 */
static void csv_str(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	bool quote = false;

	for (const unsigned char *p = u; *p; p++)
		quote |= *p == ',' || *p == '"' || *p < 0x20 || *p == 0x7f;
	if (quote)
		fputc('"', f);
	while (*u) {
		unsigned n = text__utf8_len(u);

		/* Line breaks and tabs stay (quoted); a control character a
		 * terminal acts on (ESC, C1's CSI) must not reach one from
		 * `cat findings.csv`: U+FFFD as well. */
		if (!n || (text__is_control(u, n) && *u != '\t' && *u != '\r' &&
			   *u != '\n')) {
			fputs("\xef\xbf\xbd", f);
			u += n ? n : 1;
			continue;
		}
		if (*u == '"')
			fputc('"', f);
		fwrite(u, 1, (size_t)n, f);
		u += n;
	}
	if (quote)
		fputc('"', f);
}

/* The CSV fields of row, a site column's flattened; *first: none yet. */
static void csv_fields(FILE *f, const struct mw_row_desc *d, const void *row,
		       const struct mw_site_row *site, bool *first)
{
	for (unsigned i = 0; i < d->ncols; i++) {
		const struct mw_col *c = &d->cols[i];
		struct mw_site_row none;
		char buf[128];

		if (c->flags & MW_COL_HIDDEN)
			continue;
		if (c->flags & MW_COL_SITE) {
			csv_fields(f, &mw_site_desc,
				   site_of(c, row, site, &none), NULL, first);
			continue;
		}
		if (!*first)
			fputc(',', f);
		*first = false;
		if (c->flags & MW_COL_TIME) {
			char t[ROWFMT_TIME_LEN];
			uint64_t ns = number(c, row);

			/* As in JSON: the time, then its number; empty if 0. */
			if (ns) {
				rowfmt__rfc3339(t, sizeof(t), ns);
				fprintf(f, "%s,%" PRIu64, t, ns);
			} else {
				fputc(',', f);
			}
		} else if (shown_null(c, row)) {
			continue; /* an empty field */
		} else if (c->type == MW_COL_FRAMES) {
			uint32_t n;
			const uint64_t *v = frames(c, row, &n);

			for (uint32_t k = 0; k < n; k++)
				fprintf(f, "%s0x%" PRIx64, k ? " " : "", v[k]);
		} else if (c->type == MW_COL_TEXT || c->name_of) {
			csv_str(f, text_of(c, row, buf, sizeof(buf)));
		} else if (c->flags & MW_COL_HEX) {
			fprintf(f, "0x%" PRIx64, number(c, row));
		} else if (c->type == MW_COL_I32) {
			fprintf(f, "%" PRId64, (int64_t)number(c, row));
		} else {
			fprintf(f, "%" PRIu64, number(c, row));
		}
	}
}

static void csv_labels(FILE *f, const struct mw_row_desc *d, const char *prefix,
		       bool *first)
{
	for (unsigned i = 0; i < d->ncols; i++) {
		const struct mw_col *c = &d->cols[i];

		if (c->flags & MW_COL_HIDDEN)
			continue;
		if (c->flags & MW_COL_SITE) {
			char p[64];

			snprintf(p, sizeof(p), "%s_", label(c));
			csv_labels(f, &mw_site_desc, p, first);
			continue;
		}
		fprintf(f, "%s%s%s", *first ? "" : ",", prefix, label(c));
		if (c->flags & MW_COL_TIME)
			fprintf(f, ",%s%s_ns", prefix, label(c));
		*first = false;
	}
}

void rowfmt__csv_header(FILE *f, const struct mw_row_desc *d)
{
	bool first = true;

	csv_labels(f, d, "", &first);
	fputs("\r\n", f);
}

void rowfmt__csv(FILE *f, const struct mw_row_desc *d, const void *row,
		 const struct mw_site_row *site)
{
	bool first = true;

	csv_fields(f, d, row, site, &first);
	fputs("\r\n", f);
}
