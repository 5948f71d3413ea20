/*
 * table.c - memwatchctl's tables for people: rows of cells collected,
 * then printed through libsmartcols, as lsblk and findmnt print theirs:
 * columns as wide as their widest cell in the terminal's characters (a
 * CJK name takes two a character), the columns -o names in its order,
 * --noheadings, --raw (one space between cells, blanks and unsafe bytes
 * in a cell escaped as \x20, for scripts). See ctl.h.
 *
 * Windows has no libsmartcols: memwatchw's memwatchctl.exe prints the
 * same choice of columns aligned by bytes, its cells being ASCII but for
 * names, which it shows as they are.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#ifndef _WIN32
/* Its directory, as pkg-config --cflags smartcols says: no flag needed. */
#include <libsmartcols/libsmartcols.h>
#endif

void table__row(struct table *t, ...)
{
	va_list ap;

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = realloc(t->cells,
				   t->cap * (size_t)t->ncols * sizeof(char *));
		if (!t->cells)
			die(EXIT_RUNTIME, "out of memory");
	}
	va_start(ap, t);
	for (int i = 0; i < t->ncols; i++) {
		char *c = strdup(va_arg(ap, const char *));

		if (!c)
			die(EXIT_RUNTIME, "out of memory");
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = c;
	}
	va_end(ap);
	t->nrows++;
}

/*
 * The columns to print, as indexes into t's, in cols; returns how many.
 * Those -o named, in its order, by their heads, any case (as lsblk);
 * without -o, those t->shown names, or every one. A name t has not is a
 * usage error listing those it has.
 */
/* a and the first len bytes of b are the same name, any case (ASCII:
 * heads are). */
static bool same_name(const char *a, const char *b, size_t len)
{
	if (strlen(a) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char x = a[i], y = b[i];

		if (x >= 'a' && x <= 'z')
			x = (char)(x - 'a' + 'A');
		if (y >= 'a' && y <= 'z')
			y = (char)(y - 'a' + 'A');
		if (x != y)
			return false;
	}
	return true;
}

static int table_columns(const struct table *t, int *cols)
{
	char heads[TABLE_MAX_COLS * 24] = "";
	const char *names = opt.columns ? opt.columns : t->shown;
	int n = 0;

	if (!names) {
		for (int c = 0; c < t->ncols; c++)
			cols[n++] = c;
		return n;
	}
	for (int c = 0; c < t->ncols; c++)
		snprintf(heads + strlen(heads), sizeof(heads) - strlen(heads),
			 "%s%s", c ? ", " : "", t->head[c]);
	for (const char *name = names, *end; *name; name = end) {
		size_t len = strcspn(name, ",");
		int c = 0;

		end = name + len + (name[len] == ',');
		if (!len)
			continue; /* "ID,,KIND", a trailing comma */
		while (c < t->ncols && !same_name(t->head[c], name, len))
			c++;
		if (c == t->ncols)
			die(EXIT_USAGE, "-o: unknown column '%.*s' (%s)",
			    (int)len, name, heads);
		if (n == TABLE_MAX_COLS)
			die(EXIT_USAGE, "-o: more than %d columns",
			    TABLE_MAX_COLS);
		cols[n++] = c;
	}
	if (!n)
		die(EXIT_USAGE, "-o: no column named (%s)", heads);
	return n;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

#ifndef _WIN32
void table__print(struct table *t)
{
	struct libscols_table *tb = scols_new_table();
	int cols[TABLE_MAX_COLS], n = table_columns(t, cols);

	if (!tb)
		die(EXIT_RUNTIME, "out of memory");
	scols_table_enable_raw(tb, opt.raw);
	scols_table_enable_noheadings(tb, opt.noheadings);
	/* Two spaces, as before libsmartcols: a cell may hold one (a time,
	 * "2026-12-07 21:34:25"). --raw keeps its one space and escapes. */
	if (!opt.raw)
		scols_table_set_column_separator(tb, "  ");
	for (int i = 0; i < n; i++)
		if (!scols_table_new_column(tb, t->head[cols[i]], 0, 0))
			die(EXIT_RUNTIME, "out of memory");
	for (size_t r = 0; r < t->nrows; r++) {
		struct libscols_line *ln = scols_table_new_line(tb, NULL);

		if (!ln)
			die(EXIT_RUNTIME, "out of memory");
		for (int i = 0; i < n; i++)
			if (scols_line_set_data(
				ln, (size_t)i,
				t->cells[r * (size_t)t->ncols +
					 (size_t)cols[i]]))
				die(EXIT_RUNTIME, "out of memory");
	}
	scols_print_table(tb);
	scols_unref_table(tb);
	table_free(t);
}
#else
/* Aligned by bytes; the last column is not padded. */
void table__print(struct table *t)
{
	int cols[TABLE_MAX_COLS], n = table_columns(t, cols);
	size_t w[TABLE_MAX_COLS];

	for (int i = 0; i < n; i++) {
		w[i] = opt.noheadings ? 0 : strlen(t->head[cols[i]]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t l = strlen(
			    t->cells[r * (size_t)t->ncols + (size_t)cols[i]]);

			if (l > w[i])
				w[i] = l;
		}
	}
	for (size_t r = opt.noheadings ? 1 : 0; r <= t->nrows; r++)
		for (int i = 0; i < n; i++) {
			const char *s =
			    r ? t->cells[(r - 1) * (size_t)t->ncols +
					 (size_t)cols[i]]
			      : t->head[cols[i]];

			if (i == n - 1)
				printf("%s\n", s);
			else if (opt.raw)
				printf("%s ", s);
			else
				printf("%-*s  ", (int)w[i], s);
		}
	table_free(t);
}
#endif
