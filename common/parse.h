/*
 * parse.h - numbers from the command line, config files and /proc, the
 * same way everywhere: decimal, no sign, no trailing garbage. Durations
 * and sizes take a unit, the same in memwatchd and memwatchctl, and a
 * plain number keeps the meaning each option gave it before units.
 */
#ifndef MEMWATCH_PARSE_H
#define MEMWATCH_PARSE_H

#include <stdint.h>

/* s as a decimal number in [0, max]: 0 and *out set, or -EINVAL. */
int parse__u64(const char *s, uint64_t max, uint64_t *out);

/*
 * A duration: a decimal number followed by ms, s, m, h or d, or a plain
 * number of plain_ns nanoseconds (1000000 for an option given in
 * milliseconds). 0 and *out_ns set when it is at most max_ns, else
 * -EINVAL (-ERANGE when the number is well-formed but too large).
 */
int parse__duration(const char *s, uint64_t plain_ns, uint64_t max_ns,
		    uint64_t *out_ns);

/*
 * A size: a decimal number followed by K, M or G (binary: 1024, 1024^2,
 * 1024^3; KiB, MiB and GiB as well), or a plain number of plain bytes
 * (1 for bytes, 1024 for an option given in KiB). 0 and *out set (in
 * bytes) when it is at most max and a whole number of plain bytes, else
 * -EINVAL (-ERANGE when too large).
 */
int parse__size(const char *s, uint64_t plain, uint64_t max, uint64_t *out);

#endif
