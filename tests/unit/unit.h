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

/*
 * Cases: each test file lists its cases in a table and hands it to
 * unit_main, which takes the command line
 *
 *   test_NAME [--list] [-k PATTERN] [CASE...]
 *
 * CASE names a case to run (as its PASS/FAIL line prints it); -k PATTERN
 * runs the cases whose name holds PATTERN, where '*' and '?' match as in
 * the shell; both together run the named cases that match. --list prints
 * the names the same selection would run, one a line. An unknown CASE is
 * a usage error (exit 2) before anything runs; a selection of no case is
 * a FAIL (exit 1), never a silent pass.
 */
struct unit_case {
	const char *name;
	void (*fn)(void);
};

#define UNIT_CASE(f)                                                           \
	{                                                                      \
		.name = #f, .fn = f                                            \
	}
#define UNIT_NCASES(table) (sizeof(table) / sizeof((table)[0]))

/* Which cases of the table unit_args picked: at most UNIT_MAX_CASES. */
#define UNIT_MAX_CASES 256
static unsigned char unit_picked[UNIT_MAX_CASES];

/* s matches glob p: '*' any run of characters, '?' any one. */
static inline int unit_glob(const char *p, const char *s)
{
	for (; *p; p++, s++) {
		if (*p == '*') {
			for (;; s++) {
				if (unit_glob(p + 1, s))
					return 1;
				if (!*s)
					return 0;
			}
		}
		if (!*s || (*p != '?' && *p != *s))
			return 0;
	}
	return !*s;
}

/* name holds pattern, wildcards allowed. */
static inline int unit_holds(const char *pattern, const char *name)
{
	char glob[256];

	snprintf(glob, sizeof(glob), "*%s*", pattern);
	return unit_glob(glob, name);
}

static inline const char *unit_prog(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');

	return slash ? slash + 1 : argv0;
}

/*
 * Parse the command line and pick the cases to run. Returns -1 when the
 * picked cases are to run (unit_run), else the status to exit with: 0
 * after --list or --help, 2 for a usage error or an unknown case, 1 when
 * nothing was picked (with its FAIL line).
 */
static inline int unit_args(int argc, char **argv,
			    const struct unit_case *cases, size_t n)
{
	const char *prog = unit_prog(argv[0]), *pattern = NULL;
	int list = 0, named = 0, npicked = 0;

	if (n > UNIT_MAX_CASES) {
		fprintf(stderr, "%s: more than %d cases\n", prog,
			UNIT_MAX_CASES);
		return 2;
	}
	memset(unit_picked, 0, sizeof(unit_picked));
	for (int i = 1; i < argc; i++) {
		size_t c;

		if (!strcmp(argv[i], "--list")) {
			list = 1;
		} else if (!strcmp(argv[i], "-k") && i + 1 < argc) {
			pattern = argv[++i];
		} else if (!strcmp(argv[i], "--help") ||
			   !strcmp(argv[i], "-h")) {
			printf("usage: %s [--list] [-k PATTERN] [CASE...]\n",
			       prog);
			return 0;
		} else if (argv[i][0] == '-') {
			fprintf(stderr,
				"%s: unknown option %s (--list, -k PATTERN)\n",
				prog, argv[i]);
			return 2;
		} else {
			for (c = 0; c < n; c++)
				if (!strcmp(cases[c].name, argv[i]))
					break;
			if (c == n) {
				fprintf(
				    stderr,
				    "%s: no case %s (%s --list names them)\n",
				    prog, argv[i], prog);
				return 2;
			}
			unit_picked[c] = 1;
			named = 1;
		}
	}
	for (size_t c = 0; c < n; c++) {
		unit_picked[c] =
		    (!named || unit_picked[c]) &&
		    (!pattern || unit_holds(pattern, cases[c].name));
		npicked += unit_picked[c];
		if (list && unit_picked[c])
			printf("%s\n", cases[c].name);
	}
	if (list)
		return 0;
	if (!npicked) {
		printf("FAIL: %s: no case matches -k %s\n", prog,
		       pattern ? pattern : "");
		return 1;
	}
	return -1;
}

/* Run one case now, picked or not (a fixed sequence of cases). */
#define RUN(fn)                                                              \
	do {                                                                 \
		unit_failed_now = 0;                                         \
		fn();                                                        \
		printf("%s: %s\n", unit_failed_now ? "FAIL" : "PASS", #fn);  \
		unit_total_failed += unit_failed_now;                        \
	} while (0)

/* Run the cases unit_args picked, in the table's order. */
static inline void unit_run(const struct unit_case *cases, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		if (!unit_picked[c])
			continue;
		unit_failed_now = 0;
		cases[c].fn();
		printf("%s: %s\n", unit_failed_now ? "FAIL" : "PASS",
		       cases[c].name);
		unit_total_failed += unit_failed_now;
	}
}

#define UNIT_EXIT() return unit_total_failed ? 1 : 0

/* main of a test file whose cases need no setup around them. */
static inline int unit_main(int argc, char **argv,
			    const struct unit_case *cases, size_t n)
{
	int rc = unit_args(argc, argv, cases, n);

	if (rc >= 0)
		return rc;
	unit_run(cases, n);
	UNIT_EXIT();
}

#endif
