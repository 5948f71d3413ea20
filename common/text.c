/* text.c - strings from traced processes made safe; see text.h. */
#include <stdio.h>
#include <string.h>

#include "text.h"

unsigned text__utf8_len(const unsigned char *s)
{
	/* The well-formed sequences of Unicode's table 3-7: the second
	 * byte's range rules out overlong forms, surrogates and
	 * U+110000 and above. */
	unsigned n = s[0] < 0x80		    ? 1
		     : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
		     : s[0] >= 0xe0 && s[0] <= 0xef ? 3
		     : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
						    : 0;
	unsigned char lo = s[0] == 0xe0 ? 0xa0 : s[0] == 0xf0 ? 0x90 : 0x80;
	unsigned char hi = s[0] == 0xed ? 0x9f : s[0] == 0xf4 ? 0x8f : 0xbf;

	if (n < 2)
		return n;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (unsigned i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

bool text__is_control(const unsigned char *s, unsigned n)
{
	if (n == 1)
		return s[0] < 0x20 || s[0] == 0x7f;
	return n == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

size_t text__safe(char *dst, size_t len, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;

	while (*s) {
		unsigned n = text__utf8_len(s);

		if (!n || text__is_control(s, n)) {
			if (o + 1 >= len)
				break;
			dst[o++] = '?';
			s += n ? n : 1;
			continue;
		}
		if (o + n >= len)
			break;
		memcpy(dst + o, s, n);
		o += n;
		s += n;
	}
	dst[o] = '\0';
	return o;
}

const char *text__base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	if (!s)
		s = strrchr(path, '\\');
	return s ? s + 1 : path;
}

void text__cgroup_unit(const char *cgroup, char *buf, size_t len)
{
	static const char *const kinds[] = {".service", ".scope"};

	buf[0] = '\0';
	for (size_t k = 0; k < 2 && !buf[0]; k++) {
		const char *p = cgroup, *best = NULL;
		size_t best_len = 0, kl = strlen(kinds[k]);

		while (*p) {
			size_t n = strcspn(p, "/");

			if (n > kl && !memcmp(p + n - kl, kinds[k], kl)) {
				best = p;
				best_len = n;
			}
			p += n;
			p += *p == '/';
		}
		if (best)
			snprintf(buf, len, "%.*s", (int)best_len, best);
	}
}
