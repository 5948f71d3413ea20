/*
 * unit.h - a minimal test harness for memwatch's unit tests.
 *
 * Each test binary prints "PASS: name" or "FAIL: name: why" per test and
 * exits non-zero if any failed; tests/run.sh counts those lines across
 * every suite and prints the closing "N passed, N failed".
 */
#ifndef MEMWATCH_UNIT_H
#define MEMWATCH_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int unit_failed_now;
static int unit_total_failed;

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			printf("  %s:%d: check failed: %s\n", __FILE__,      \
			       __LINE__, #cond);                             \
			unit_failed_now = 1;                                 \
		}                                                            \
	} while (0)

#define CHECK_U64(a, b)                                                      \
	do {                                                                 \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);             \
		if (a_ != b_) {                                              \
			printf("  %s:%d: %s == %" PRIu64 ", expected %s == %" \
			       PRIu64 "\n",                                  \
			       __FILE__, __LINE__, #a, a_, #b, b_);          \
			unit_failed_now = 1;                                 \
		}                                                            \
	} while (0)

#define CHECK_STR(a, b)                                                      \
	do {                                                                 \
		const char *a_ = (a), *b_ = (b);                             \
		if (!a_ || !b_ || strcmp(a_, b_)) {                          \
			printf("  %s:%d: %s == \"%s\", expected \"%s\"\n",   \
			       __FILE__, __LINE__, #a, a_ ? a_ : "(null)",   \
			       b_ ? b_ : "(null)");                          \
			unit_failed_now = 1;                                 \
		}                                                            \
	} while (0)

#define RUN(fn)                                                              \
	do {                                                                 \
		unit_failed_now = 0;                                         \
		fn();                                                        \
		printf("%s: %s\n", unit_failed_now ? "FAIL" : "PASS", #fn);  \
		unit_total_failed += unit_failed_now;                        \
	} while (0)

#define UNIT_EXIT() return unit_total_failed ? 1 : 0

#endif
