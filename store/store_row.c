/*
 * store_row.c - a table's row written and read through its description
 * (common/rows.c): the SQL text of its statements, its binds, its reads.
 *
 * SQL text is built here from the descriptions' names alone, never from
 * a value: the only ways into a struct sql_text are sql_text__lit (a
 * string literal: tests/e2e/sql_bound.awk checks every call),
 * sql_text__name (an identifier, checked here character by character)
 * and sql_text__num (a number). Values are bound, ?1 for a row's first
 * stored column, in the description's order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Append n bytes of p; past the end, the text is bad. */
static void sql_text__put(struct sql_text *t, const char *p, size_t n)
{
	if (t->bad)
		return;
	if (t->len + n >= sizeof(t->text)) {
		t->bad = true;
		return;
	}
	memcpy(t->text + t->len, p, n);
	t->len += n;
	t->text[t->len] = '\0';
}

void sql_text__lit(struct sql_text *t, const char *lit)
{
	sql_text__put(t, lit, strlen(lit));
}

void sql_text__name(struct sql_text *t, const char *name)
{
	/* Nothing a quote, a space or a semicolon could close or end. */
	for (const char *p = name; *p; p++)
		if (!(*p == '_' || (*p >= 'a' && *p <= 'z') ||
		      (p > name && *p >= '0' && *p <= '9'))) {
			t->bad = true;
			return;
		}
	if (!*name)
		t->bad = true;
	sql_text__put(t, name, strlen(name));
}

void sql_text__num(struct sql_text *t, unsigned n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	sql_text__put(t, buf, (size_t)len);
}

/* Stored in the database: every column but the virtual ones. */
static bool stored(const struct mw_col *c)
{
	return !(c->flags & MW_COL_VIRTUAL);
}

/* How many columns are stored (all but the virtual ones). */
static int stored_cols(const struct mw_row_desc *d)
{
	int n = 0;

	for (unsigned i = 0; i < d->ncols; i++)
		n += stored(&d->cols[i]);
	return n;
}

void row_sql__cols(struct sql_text *t, const struct mw_row_desc *d,
		   const char *alias, int64_t version)
{
	bool first = true;

	for (unsigned i = 0; i < d->ncols; i++) {
		const struct mw_col *c = &d->cols[i];

		if (!stored(c))
			continue;
		sql_text__lit(t, first ? " " : ", ");
		first = false;
		/* A column a later migration adds: what it holds in
		 * rows that predate it. */
		if (c->since > version) {
			sql_text__lit(t, c->type == MW_COL_TEXT ||
						 c->type == MW_COL_FRAMES
					     ? "''"
					     : "0");
			continue;
		}
		if (alias) {
			sql_text__name(t, alias);
			sql_text__lit(t, ".");
		}
		sql_text__name(t, c->name);
	}
}

/* "k1 = ?1 AND k2 = ?2 ...": the key columns, bound from ?1 in order. */
void row_sql__key(struct sql_text *t, const struct mw_row_desc *d)
{
	unsigned n = 0;

	for (unsigned i = 0; i < d->ncols; i++) {
		const struct mw_col *c = &d->cols[i];

		if (!(c->flags & MW_COL_KEY))
			continue;
		sql_text__lit(t, n ? " AND " : " ");
		sql_text__name(t, c->name);
		sql_text__lit(t, " = ?");
		sql_text__num(t, ++n);
	}
}

void row_sql__write(struct sql_text *t, const struct mw_row_desc *d)
{
	unsigned n = 0;
	bool first = true;

	sql_text__lit(t, d->flags & MW_ROW_REPLACE ? "INSERT OR REPLACE INTO "
						   : "INSERT INTO ");
	sql_text__name(t, d->table);
	sql_text__lit(t, " (");
	row_sql__cols(t, d, NULL, INT64_MAX);
	sql_text__lit(t, ") VALUES (");
	for (int i = 0; i < stored_cols(d); i++) {
		sql_text__lit(t, i ? ", ?" : "?");
		sql_text__num(t, (unsigned)i + 1);
	}
	sql_text__lit(t, ")");
	if (d->flags & MW_ROW_REPLACE)
		return;
	sql_text__lit(t, " ON CONFLICT(");
	for (unsigned i = 0; i < d->ncols; i++) {
		if (!(d->cols[i].flags & MW_COL_KEY))
			continue;
		sql_text__lit(t, first ? "" : ", ");
		sql_text__name(t, d->cols[i].name);
		first = false;
	}
	sql_text__lit(t, ") DO UPDATE SET");
	first = true;
	for (unsigned i = 0; i < d->ncols; i++) {
		const struct mw_col *c = &d->cols[i];

		if (!stored(c))
			continue;
		n++;
		if (c->flags & (MW_COL_KEY | MW_COL_KEEP))
			continue;
		sql_text__lit(t, first ? " " : ", ");
		sql_text__name(t, c->name);
		sql_text__lit(t, " = ?");
		sql_text__num(t, n);
		first = false;
	}
}

/* frames as stored: lower-case hex, space-separated. */
static void frames_text(char *buf, size_t len, const uint64_t *frames,
			uint32_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%llx", i ? " " : "",
				      (unsigned long long)frames[i]);
}

/* Append the frames of stacks.frames (as frames_text wrote them) to
 * frames[*n], at most max in all. */
static void parse_frames(uint64_t *frames, uint32_t *n, uint32_t max,
			 const char *p)
{
	while (p && *p && *n < max) {
		char *end;
		unsigned long long v = strtoull(p, &end, 16);

		if (end == p)
			break;
		frames[(*n)++] = v;
		p = end;
	}
}

void row__bind(sqlite3_stmt *st, const struct mw_row_desc *d, const void *row)
{
	int n = 0;

	for (unsigned i = 0; i < d->ncols; i++) {
		const struct mw_col *c = &d->cols[i];
		const void *v = mw_col__field(c, row);

		if (!stored(c))
			continue;
		n++;
		switch (c->type) {
		case MW_COL_U64:
			sqlite3_bind_int64(st, n,
					   (int64_t) * (const uint64_t *)v);
			break;
		case MW_COL_U32:
			sqlite3_bind_int64(st, n, *(const uint32_t *)v);
			break;
		case MW_COL_I32:
			sqlite3_bind_int64(st, n, *(const int32_t *)v);
			break;
		case MW_COL_TEXT:
			sqlite3_bind_text(st, n, v, -1, SQLITE_TRANSIENT);
			break;
		case MW_COL_FRAMES: {
			char text[MW_EV_MAX_FRAMES * 17 + 1];
			uint32_t nf =
			    *(const uint32_t *)((const char *)row + c->count);
			uint32_t max = c->size / sizeof(uint64_t);

			frames_text(text, sizeof(text), v, nf < max ? nf : max);
			sqlite3_bind_text(st, n, text, -1, SQLITE_TRANSIENT);
			break;
		}
		}
	}
}

int row__read(sqlite3_stmt *st, int i, const struct mw_row_desc *d, void *row)
{
	for (unsigned k = 0; k < d->ncols; k++) {
		const struct mw_col *c = &d->cols[k];
		void *v = mw_col__field(c, row);

		if (!stored(c))
			continue;
		switch (c->type) {
		case MW_COL_U64:
			*(uint64_t *)v = col_u64(st, i);
			break;
		case MW_COL_U32:
			*(uint32_t *)v = (uint32_t)col_u64(st, i);
			break;
		case MW_COL_I32:
			*(int32_t *)v = (int32_t)sqlite3_column_int64(st, i);
			break;
		case MW_COL_TEXT:
			col_str(st, i, v, c->size);
			break;
		case MW_COL_FRAMES: {
			uint32_t *n = (uint32_t *)((char *)row + c->count);

			*n = 0;
			parse_frames(v, n, c->size / sizeof(uint64_t),
				     (const char *)sqlite3_column_text(st, i));
			break;
		}
		}
		i++;
	}
	return i;
}

void row_sql__site(struct sql_text *t)
{
	sql_text__lit(t, ", s.ip IS NOT NULL,");
	row_sql__cols(t, &mw_site_desc, "s", INT64_MAX);
}

const struct mw_site_row *site_cols(sqlite3_stmt *st, int i,
				    struct mw_site_row *site)
{
	if (!sqlite3_column_int(st, i))
		return NULL;
	memset(site, 0, sizeof(*site));
	row__read(st, i + 1, &mw_site_desc, site);
	return site;
}
