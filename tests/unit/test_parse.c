/*
 * test_parse.c - common/parse.c: numbers, durations (ms, s, m, h, d) and
 * sizes (K, M, G, binary) as memwatchd's and memwatchctl's options take
 * them: the plain number keeps the option's own unit, a unit scales it,
 * anything else (a sign, a blank, a fraction, an unknown or lower-case
 * unit, a value past the option's bound or past 64 bits) is refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "parse.h"
#include "unit.h"

#define MS 1000000ull
#define SEC 1000000000ull

/* parse__duration's result for s with plain ms and a bound of max_ns;
 * *err its status. */
static uint64_t dur(const char *s, uint64_t max_ns, int *err)
{
	uint64_t v = 12345;

	*err = parse__duration(s, MS, max_ns, &v);
	return *err ? 12345 : v;
}

static void test_duration_units(void)
{
	int err;

	CHECK_U64(dur("500", UINT64_MAX, &err), 500 * MS);
	CHECK_U64(dur("0", UINT64_MAX, &err), 0);
	CHECK_U64(dur("250ms", UINT64_MAX, &err), 250 * MS);
	CHECK_U64(dur("5s", UINT64_MAX, &err), 5 * SEC);
	CHECK_U64(dur("2m", UINT64_MAX, &err), 120 * SEC);
	CHECK_U64(dur("3h", UINT64_MAX, &err), 3 * 3600 * SEC);
	CHECK_U64(dur("1d", UINT64_MAX, &err), 86400 * SEC);
	CHECK_U64(err, 0);
	/* The plain number in the option's own unit: seconds here. */
	{
		uint64_t v = 0;

		CHECK_U64(parse__duration("30", SEC, UINT64_MAX, &v), 0);
		CHECK_U64(v, 30 * SEC);
	}
}

static void test_duration_refused(void)
{
	static const char *const bad[] = {
	    "",	   "s",	   "5x",  "5 s", " 5s", "+5s", "-5s", "5.5s",
	    "5S",  "5sec", "5ms ", "0x10", "5mss", "ms5", "5us",
	};
	int err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dur(bad[i], UINT64_MAX, &err);
		if (err != -EINVAL)
			printf("  '%s' gave %d\n", bad[i], err);
		CHECK(err == -EINVAL);
	}
	/* The bound is inclusive, in ns whatever the unit. */
	CHECK_U64(dur("1h", 3600 * SEC, &err), 3600 * SEC);
	dur("3600001", 3600 * SEC, &err);
	CHECK(err == -ERANGE);
	dur("61m", 3600 * SEC, &err);
	CHECK(err == -ERANGE);
	/* Past 64 bits, by the number or by the unit. */
	dur("99999999999999999999999", UINT64_MAX, &err);
	CHECK(err == -ERANGE);
	dur("18446744073709551615d", UINT64_MAX, &err);
	CHECK(err == -ERANGE);
	dur("213503d", UINT64_MAX, &err); /* 2^64 ns is 213503.98 days */
	CHECK_U64(err, 0);
	dur("213504d", UINT64_MAX, &err);
	CHECK(err == -ERANGE);
}

static void test_size_units(void)
{
	uint64_t v = 0;

	CHECK_U64(parse__size("256K", 1, UINT64_MAX, &v), 0);
	CHECK_U64(v, 256 * 1024);
	CHECK_U64(parse__size("3M", 1, UINT64_MAX, &v), 0);
	CHECK_U64(v, 3ull << 20);
	CHECK_U64(parse__size("2G", 1, UINT64_MAX, &v), 0);
	CHECK_U64(v, 2ull << 30);
	CHECK_U64(parse__size("5MiB", 1, UINT64_MAX, &v), 0);
	CHECK_U64(v, 5ull << 20);
	CHECK_U64(parse__size("7KiB", 1, UINT64_MAX, &v), 0);
	CHECK_U64(v, 7ull << 10);
	CHECK_U64(parse__size("1GiB", 1, UINT64_MAX, &v), 0);
	CHECK_U64(v, 1ull << 30);
	/* Plain: the option's own unit (KiB for --growth-min). */
	CHECK_U64(parse__size("64", 1024, UINT64_MAX, &v), 0);
	CHECK_U64(v, 64 * 1024);
	CHECK_U64(parse__size("1M", 1024, UINT64_MAX, &v), 0);
	CHECK_U64(v, 1ull << 20);
	CHECK_U64(parse__size("4096", 1, UINT64_MAX, &v), 0);
	CHECK_U64(v, 4096);
}

static void test_size_refused(void)
{
	static const char *const bad[] = {
	    "",	  "K",	  "1k",	 "1m",	"1.5M", "1 M", "-1K", "+1K",
	    "1T", "1KB", "1Mi", "1kib", "M1",  "1KK", "0x1K",
	};
	uint64_t v = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = parse__size(bad[i], 1, UINT64_MAX, &v);

		if (err != -EINVAL)
			printf("  '%s' gave %d\n", bad[i], err);
		CHECK(err == -EINVAL);
	}
	CHECK_U64(v, 7); /* untouched */
	/* Not a whole number of the option's unit (MiB here). */
	CHECK(parse__size("1536K", 1 << 20, UINT64_MAX, &v) == -EINVAL);
	CHECK_U64(parse__size("2048K", 1 << 20, UINT64_MAX, &v), 0);
	CHECK_U64(v, 2ull << 20);
	/* The bound is inclusive, in bytes. */
	CHECK_U64(parse__size("1G", 1, 1ull << 30, &v), 0);
	CHECK(parse__size("1025M", 1, 1ull << 30, &v) == -ERANGE);
	CHECK(parse__size("17179869184G", 1, UINT64_MAX, &v) == -ERANGE);
}

static void test_u64(void)
{
	uint64_t v = 0;

	CHECK_U64(parse__u64("42", 100, &v), 0);
	CHECK_U64(v, 42);
	CHECK(parse__u64("101", 100, &v) == -EINVAL);
	CHECK(parse__u64("-1", 100, &v) == -EINVAL);
	CHECK(parse__u64(" 1", 100, &v) == -EINVAL);
	CHECK(parse__u64("1s", 100, &v) == -EINVAL);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_duration_units), UNIT_CASE(test_duration_refused),
    UNIT_CASE(test_size_units),	    UNIT_CASE(test_size_refused),
    UNIT_CASE(test_u64),
};

int main(int argc, char **argv)
{
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
