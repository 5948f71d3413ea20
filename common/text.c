/* text.c - strings from traced processes made safe; see text.h. */
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

void text__json_str(FILE *f, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;

	fputc('"', f);
	while (*s) {
		unsigned n = text__utf8_len(s);

		if (n == 0) {
			fputs("\\ufffd", f);
			s++;
		} else if (*s == '"' || *s == '\\') {
			fputc('\\', f);
			fputc(*s++, f);
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s++);
		} else {
			fwrite(s, 1, n, f);
			s += n;
		}
	}
	fputc('"', f);
}

void text__csv_str(FILE *f, const char *src)
{
	const unsigned char *u = (const unsigned char *)src;
	bool quote = false;

	for (const unsigned char *p = u; *p; p++)
		quote |= *p == ',' || *p == '"' || *p < 0x20 || *p == 0x7f;
	if (quote)
		fputc('"', f);
	while (*u) {
		unsigned n = text__utf8_len(u);

		/* Line breaks and tabs stay (quoted); a control character a
		 * terminal acts on (ESC, C1's CSI) must not reach one from
		 * `cat findings.csv`: U+FFFD as well. */
		if (!n || (text__is_control(u, n) && *u != '\t' && *u != '\r' &&
			   *u != '\n')) {
			fputs("\xef\xbf\xbd", f);
			u += n ? n : 1;
			continue;
		}
		if (*u == '"')
			fputc('"', f);
		fwrite(u, 1, n, f);
		u += n;
	}
	if (quote)
		fputc('"', f);
}
