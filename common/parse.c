/*
 * parse.c - numbers, durations and sizes from text; see parse.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int parse__u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull takes a sign and leading blanks: neither is a number
	 * here. */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

struct unit {
	const char *name;
	uint64_t scale;
};

/*
 * The number s starts with, times the scale of the unit that follows it
 * (one of units, or plain if none), at most max. The digits and the unit
 * must make the whole of s.
 */
static int scaled(const char *s, const struct unit *units, size_t n,
		  uint64_t plain, uint64_t max, uint64_t *out)
{
	size_t digits = strspn(s, "0123456789");
	uint64_t scale = 0, v;
	char num[24];

	if (!digits || digits >= sizeof(num))
		return digits ? -ERANGE : -EINVAL;
	if (!s[digits])
		scale = plain;
	for (size_t i = 0; !scale && i < n; i++)
		if (!strcmp(s + digits, units[i].name))
			scale = units[i].scale;
	if (!scale)
		return -EINVAL;
	memcpy(num, s, digits);
	num[digits] = '\0';
	if (parse__u64(num, UINT64_MAX, &v))
		return -ERANGE;
	/* v * scale > max, without the product overflowing. */
	if (v > max / scale)
		return -ERANGE;
	*out = v * scale;
	return 0;
}

int parse__duration(const char *s, uint64_t plain_ns, uint64_t max_ns,
		    uint64_t *out_ns)
{
	static const struct unit units[] = {
	    {"ms", 1000000ull},
	    {"s", 1000000000ull},
	    {"m", 60 * 1000000000ull},
	    {"h", 3600 * 1000000000ull},
	    {"d", 86400 * 1000000000ull},
	};

	return scaled(s, units, sizeof(units) / sizeof(units[0]), plain_ns,
		      max_ns, out_ns);
}

int parse__size(const char *s, uint64_t plain, uint64_t max, uint64_t *out)
{
	static const struct unit units[] = {
	    {"K", 1ull << 10},	 {"M", 1ull << 20},   {"G", 1ull << 30},
	    {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
	};
	uint64_t v;
	int err = scaled(s, units, sizeof(units) / sizeof(units[0]), plain,
			 max, &v);

	if (err)
		return err;
	/* An option kept in KiB or MiB holds whole ones only. */
	if (v % plain)
		return -EINVAL;
	*out = v;
	return 0;
}
