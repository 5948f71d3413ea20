/*
 * parse.c - numbers from text; see parse.h.
 */
#include <errno.h>
#include <stdlib.h>

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
