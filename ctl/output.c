/*
 * output.c - memwatchctl's output for people, and what its commands
 * share of it for machines: listings (a table or a JSON array; the
 * tables themselves are table.c's), times, ages and sizes, call sites
 * (demangled, file names short, made safe for a terminal); see ctl.h.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "text.h"

void output__time(char *buf, size_t len, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!ns) {
		snprintf(buf, len, "-");
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* The C++ runtime's demangler (libstdc++, Itanium ABI). */
char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* A function name for people: C++ names demangled into buf, others as
 * they are. JSON keeps the symbol as the binary has it. */
const char *output__function(const char *name, char *buf, size_t len)
{
	int status = -1;
	char *d;

	if (strncmp(name, "_Z", 2))
		return name;
	d = __cxa_demangle(name, NULL, NULL, &status);
	if (!d || status)
		return name;
	snprintf(buf, len, "%s", d);
	free(d);
	return buf;
}

void output__site(char *buf, size_t len, uint64_t ip,
		  const struct mw_site_row *site)
{
	char raw[4 * MW_SITE_STR], fn[2 * MW_SITE_STR];
	const char *f =
	    site ? output__function(site->function, fn, sizeof(fn)) : "";

	if (site && site->function[0] && site->file[0])
		snprintf(raw, sizeof(raw), "%s+0x%" PRIx64 " (%s:%u)", f,
			 site->offset, text__base_name(site->file), site->line);
	else if (site && site->function[0] && site->module[0])
		snprintf(raw, sizeof(raw), "%s+0x%" PRIx64 " (%s)", f,
			 site->offset, text__base_name(site->module));
	else if (site && site->function[0])
		snprintf(raw, sizeof(raw), "%s+0x%" PRIx64, f, site->offset);
	else if (site && site->module[0])
		snprintf(raw, sizeof(raw), "0x%" PRIx64 " (%s)", ip,
			 text__base_name(site->module));
	else
		snprintf(raw, sizeof(raw), "0x%" PRIx64, ip);
	text__safe(buf, len, raw);
}

void output__list_begin(void)
{
	if (opt.json)
		json__open(&J, '[');
}

void output__list_end(struct table *t, int err)
{
	if (err)
		ctl__query_failed(err);
	if (opt.json) {
		json__close(&J, ']');
		json__end(&J);
	} else {
		table__print(t);
	}
}

void output__size(char *buf, size_t len, uint64_t v)
{
	static const char units[] = "KMGTPE";
	uint64_t scale = 1024, whole, rem, tenths;
	int u = 0;

	if (!opt.human || v < 1024) {
		snprintf(buf, len, "%" PRIu64, v);
		return;
	}
	while (u < 5 && v / scale >= 1024) {
		scale *= 1024;
		u++;
	}
	whole = v / scale;
	rem = v % scale;
	/* Rounded up, as ls -h: never less than it is. rem * 10 < 2^64 as
	 * scale <= 2^60. */
	tenths = whole * 10 + (rem * 10 + scale - 1) / scale;
	if (tenths < 100) {
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "%c", tenths / 10,
			 tenths % 10, units[u]);
		return;
	}
	whole += rem != 0;
	if (whole >= 1024 && u < 5)
		snprintf(buf, len, "1.0%c", units[u + 1]);
	else
		snprintf(buf, len, "%" PRIu64 "%c", whole, units[u]);
}

/* How long before ref ts was: 850ms, 12.3s, 5m03s, 2h01m, 3d04h. */
void output__age(char *buf, size_t len, uint64_t ref, uint64_t ts)
{
	const uint64_t ms = 1000000, ds = 100000000, sec = 1000000000;
	uint64_t ns = ref > ts ? ref - ts : 0, s = ns / sec;

	if (!ts)
		snprintf(buf, len, "-");
	else if (s < 1)
		snprintf(buf, len, "%" PRIu64 "ms", ns / ms);
	else if (s < 60)
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "s", s, ns / ds % 10);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60,
			 s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600,
			 s / 60 % 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400,
			 s / 3600 % 24);
}
