/*
 * filter.c - memwatchctl's query options; see filter.h.
 *
 * Every value is checked whole: a number is decimal with nothing after
 * it (common/parse.c), a name is one of the listed ones, and what a value
 * is turned into stays in range (a --since far in the past is every
 * finding, not a time that wrapped into the future).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "filter.h"
#include "parse.h"
#include "rows.h"

#define NS 1000000000ull

static int __attribute__((format(printf, 3, 4)))
refuse(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	/* One line, whatever the value quoted in it holds. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return -EINVAL;
}

/* Seconds since the epoch, or a duration ago (500ms, 30s, 5m, 2h, 1d:
 * common/parse.h, as memwatchd's durations): in ns. */
static int parse_since(const char *s, uint64_t now, uint64_t *out)
{
	uint64_t v;

	if (!s[strspn(s, "0123456789")]) {
		if (parse__u64(s, UINT32_MAX, &v))
			return -EINVAL;
		*out = v * NS;
		return 0;
	}
	/* Not a plain number: plain_ns is never used. */
	if (parse__duration(s, NS, UINT64_MAX, &v))
		return -EINVAL;
	/* Before the epoch is every finding: 0, no bound. */
	*out = v < now * NS ? now * NS - v : 0;
	return 0;
}

int filter__set(struct store_filter *f, struct store_top *top, const char *name,
		const char *arg, uint64_t now, char *msg, size_t len)
{
	uint64_t v;
	int k;

	if (!strcmp(name, "pid")) {
		if (parse__u64(arg, INT32_MAX, &v) || !v)
			return refuse(msg, len, "--pid: invalid pid '%s'", arg);
		f->pid = (uint32_t)v;
	} else if (!strcmp(name, "kind")) {
		k = mw_finding_kind_parse(arg);
		if (k < 0)
			return refuse(msg, len,
				      "--kind: unknown kind '%s' "
				      "(tls-outlived-thread, tls-outlived-key, "
				      "tls-overwritten, thread-orphan, "
				      "tls-outlived-module, thread-growth, "
				      "site-growth, allocator-retention, "
				      "bad-free, allocator-race)",
				      arg);
		f->kind = (uint32_t)k;
	} else if (!strcmp(name, "severity")) {
		k = mw_severity_parse(arg);
		if (k < 0)
			return refuse(msg, len,
				      "--severity: unknown severity '%s' "
				      "(low, medium, high)",
				      arg);
		f->severity = (uint32_t)k;
	} else if (!strcmp(name, "since")) {
		if (parse_since(arg, now, &v))
			return refuse(msg, len,
				      "--since: invalid time '%s' (seconds "
				      "since the epoch, or 500ms, 30s, 5m, 2h, "
				      "1d ago)",
				      arg);
		f->since = v;
	} else if (!strcmp(name, "state")) {
		if (!strcmp(arg, "open"))
			f->state = STORE_FINDINGS_OPEN;
		else if (!strcmp(arg, "resolved"))
			f->state = STORE_FINDINGS_RESOLVED;
		else if (!strcmp(arg, "suppressed"))
			f->state = STORE_FINDINGS_SUPPRESSED;
		else if (!strcmp(arg, "acknowledged"))
			f->state = STORE_FINDINGS_ACKNOWLEDGED;
		else if (!strcmp(arg, "all"))
			f->state = STORE_FINDINGS_ALL;
		else
			return refuse(msg, len,
				      "--state: unknown state '%s' (open, "
				      "suppressed, acknowledged, resolved, "
				      "all)",
				      arg);
	} else if (!strcmp(name, "limit")) {
		if (!strcmp(arg, "all"))
			v = FILTER_LIMIT_ALL;
		else if (parse__u64(arg, UINT32_MAX - 1, &v) || !v)
			return refuse(msg, len,
				      "--limit: invalid count '%s' (1 or "
				      "more, or all)",
				      arg);
		f->limit = v;
	} else if (!strcmp(name, "sort")) {
		if (!strcmp(arg, "time"))
			f->sort = STORE_SORT_TIME;
		else if (!strcmp(arg, "bytes"))
			f->sort = STORE_SORT_BYTES;
		else if (!strcmp(arg, "count"))
			f->sort = STORE_SORT_COUNT;
		else
			return refuse(msg, len,
				      "--sort: unknown value '%s' (time, "
				      "bytes, count)",
				      arg);
	} else if (!strcmp(name, "by")) {
		if (!strcmp(arg, "blocks"))
			top->flags |= STORE_TOP_BLOCKS;
		else if (!strcmp(arg, "bytes"))
			top->flags &= ~STORE_TOP_BLOCKS;
		else
			return refuse(msg, len,
				      "--by: unknown value '%s' (bytes, "
				      "blocks)",
				      arg);
	} else if (!strcmp(name, "per")) {
		if (!strcmp(arg, "thread"))
			top->flags |= STORE_TOP_PER_THREAD;
		else if (!strcmp(arg, "process"))
			top->flags &= ~STORE_TOP_PER_THREAD;
		else
			return refuse(msg, len,
				      "--per: unknown value '%s' (thread, "
				      "process)",
				      arg);
	} else {
		return refuse(msg, len, "unknown filter '%s'", name);
	}
	return 0;
}
