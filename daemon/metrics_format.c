/*
 * metrics_format.c - the text exposition format for memwatchd's
 * Prometheus export: label values escaped, the HELP and TYPE lines of a
 * family, and the labels that name a traced process, which the page's
 * per-process families (metrics.c) and per-site ones (metrics_site.c)
 * share.
 */
#include "metrics_int.h"
#include "text.h"

/*
 * A label value: backslash, double quote and newline escaped as the
 * exposition format wants; other control characters (C1 too) and bytes
 * that are not UTF-8 (common/text.c: a comm or a cgroup path is whatever
 * bytes the program chose, and the kernel cuts a comm at 15 bytes,
 * mid-character maybe) become '?', so the page always parses.
 */
void metrics__label(struct strbuf *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		unsigned n;

		if (*u == '\\' || *u == '"') {
			strbuf__printf(b, "\\%c", *u++);
		} else if (*u == '\n') {
			strbuf__printf(b, "\\n");
			u++;
		} else if ((n = text__utf8_len(u)) && text__is_control(u, n)) {
			strbuf__printf(b, "?");
			u += n;
		} else if (n) {
			strbuf__printf(b, "%.*s", (int)n, (const char *)u);
			u += n;
		} else {
			strbuf__printf(b, "?");
			u++;
		}
	}
}

/* "# HELP" and "# TYPE" of a family. */
void metrics__family(struct strbuf *b, const char *name, const char *type,
		     const char *help)
{
	strbuf__printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
		       type);
}

void metrics__proc_labels(struct strbuf *b, const struct mw_process_row *r)
{
	char unit[256];

	text__cgroup_unit(r->cgroup, unit, sizeof(unit));
	strbuf__printf(b, "pid=\"%u\",comm=\"", r->pid);
	metrics__label(b, r->comm);
	strbuf__printf(b, "\",unit=\"");
	metrics__label(b, unit);
	strbuf__printf(b, "\"");
}

