/*
 * fuzz_filter.c - libFuzzer harness of memwatchctl's query options
 * (ctl/filter.c): --pid, --kind, --severity, --since, --limit, --by and
 * --per, as memwatchctl's command line hands them to filter__set.
 *
 * The input is argv-like: strings separated by NUL bytes. A string's
 * first byte picks the option (one of the eight, or the rest of the
 * string taken as an option name), the rest is its value; all of them
 * apply, in order, to one filter. Never a crash (ASan, UBSan: an
 * overflow in a value's arithmetic is one), and:
 *  - a refused value leaves the filter as it was and says why in one
 *    non-empty line naming the option;
 *  - an accepted one leaves the filter in range: a pid in 1..INT32_MAX,
 *    a real kind and severity, a limit of 1 or more (or all), a --since
 *    no later than now or the largest time it takes, top flags known.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "rows.h"

#define NOW 1700000000ull /* seconds since the epoch */
#define NS 1000000000ull

static void __attribute__((noreturn))
violated(const char *what, const char *arg)
{
	fprintf(stderr, "fuzz_filter: %s ('%s')\n", what, arg);
	abort();
}

static void check(const struct store_filter *f, const struct store_top *t,
		  const char *arg)
{
	if (f->pid > INT32_MAX)
		violated("pid out of range", arg);
	if (f->kind >= MW_FIND_KIND_MAX)
		violated("kind out of range", arg);
	if (f->severity > MW_SEV_HIGH)
		violated("severity out of range", arg);
	if (f->since > (uint64_t)UINT32_MAX * NS)
		violated("since later than any time it takes", arg);
	if (f->limit > FILTER_LIMIT_ALL)
		violated("limit out of range", arg);
	if (f->state > STORE_FINDINGS_RESOLVED)
		violated("state out of range", arg);
	if (t->flags & ~(unsigned)(STORE_TOP_BLOCKS | STORE_TOP_PER_THREAD))
		violated("unknown top flags", arg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
	    "pid", "kind", "severity", "since", "limit", "by", "per", "sort"};
	struct store_filter f = {0}, was;
	struct store_top top = {0}, top_was;
	char *buf = malloc(size + 1), msg[512];

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (char *s = buf, *next; s < buf + size; s = next) {
		const char *name, *arg;
		char opt[64];
		size_t n;

		next = s + strlen(s) + 1;
		if (!*s)
			continue;
		if ((unsigned char)s[0] % 9 < 8) {
			name = names[(unsigned char)s[0] % 9];
			arg = s + 1;
		} else { /* "name=value" */
			n = strcspn(s + 1, "=");
			name = s + 1;
			arg = name[n] ? name + n + 1 : "";
			s[1 + n] = '\0';
		}
		was = f;
		top_was = top;
		msg[0] = '\0';
		if (filter__set(&f, &top, name, arg, NOW, msg, sizeof(msg))) {
			if (memcmp(&was, &f, sizeof(f)) ||
			    memcmp(&top_was, &top, sizeof(top)))
				violated("a refused value changed the filter",
					 arg);
			snprintf(opt, sizeof(opt), "--%s: ", name);
			if (!msg[0] || strchr(msg, '\n') ||
			    (strncmp(msg, opt, strlen(opt)) &&
			     strncmp(msg, "unknown filter", 14)))
				violated("error not one line naming the option",
					 msg);
		} else if (!strcmp(name, "since") && arg[0] &&
			   strchr("smhd", arg[strlen(arg) - 1]) &&
			   f.since > NOW * NS) {
			violated("a duration ago is in the future", arg);
		}
		check(&f, &top, arg);
	}
	free(buf);
	return 0;
}
