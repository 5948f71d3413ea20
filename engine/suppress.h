/*
 * suppress.h - suppressions: the findings people chose not to see as
 * open, as valgrind's and LeakSanitizer's suppression files do; parsed
 * from text and matched against a finding's kind, site and key. Portable:
 * the daemon reads the file (daemon/options.c), this reads its text.
 *
 * The file holds one rule per line, each a list of FIELD=VALUE separated
 * by blanks; a finding matches a rule when it matches every field the
 * rule names:
 *
 *     # memwatch suppressions
 *     kind=tls-outlived-thread function=ssl_*_init module=libcrypto.so*
 *     kind=thread-orphan function=g_thread_pool_*
 *     key=3
 *
 *   kind=NAME        a finding kind (memwatchctl --kind's names)
 *   function=GLOB    the function of the finding's site, as memwatchctl
 *                    shows it
 *   module=GLOB      the site's module: its path, or its base name
 *   key=N            the pthread key of a TLS finding (tls-*)
 *
 * GLOB: '*' any run of characters, '?' any one, '\' takes the next
 * character as it is. Blank lines and lines starting with '#' are
 * skipped.
 */
#ifndef MEMWATCH_SUPPRESS_H
#define MEMWATCH_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct suppressions;

/* What a finding is matched by. NULL strings: unknown (only '*' matches
 * them). */
struct suppress_subject {
	uint32_t kind; /* enum mw_finding_kind */
	uint32_t key;  /* for the tls-* kinds */
	const char *function;
	const char *module;
};

/* Rules at most, and a line's length. */
#define SUPPRESS_MAX_RULES 4096
#define SUPPRESS_MAX_LINE 4096

/*
 * The rules in text[0 .. len), read from the file named name (for the
 * rules' names and the errors). Returns 0 and *out, or -EINVAL with
 * "NAME:LINE: problem" in msg (one line), or -ENOMEM.
 */
int suppressions__parse(const char *name, const char *text, size_t len,
			struct suppressions **out, char *msg, size_t msglen);
void suppressions__free(struct suppressions *s); /* accepts NULL */
size_t suppressions__count(const struct suppressions *s);
/* The first rule f matches, named "FILE:LINE", or NULL: none (s may be
 * NULL: none). */
const char *suppressions__match(const struct suppressions *s,
				const struct suppress_subject *f);
/* Does s match glob p ('*', '?', '\')? For the tests. */
bool suppress__glob(const char *p, const char *s);

#endif
