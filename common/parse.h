/*
 * parse.h - numbers from the command line, config files and /proc, the
 * same way everywhere: decimal, no sign, no trailing garbage.
 */
#ifndef MEMWATCH_PARSE_H
#define MEMWATCH_PARSE_H

#include <stdint.h>

/* s as a decimal number in [0, max]: 0 and *out set, or -EINVAL. */
int parse__u64(const char *s, uint64_t max, uint64_t *out);

#endif
