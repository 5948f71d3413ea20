/*
 * test_suppress.c - unit tests of suppressions (engine/suppress.c): the
 * glob, the file's rules, each field's match, and each bad line named
 * with its file and line.
 */
#include <errno.h>
#include <stdlib.h>

#include "rows.h"
#include "suppress.h"
#include "unit.h"

static struct suppressions *parse_ok(const char *text)
{
	struct suppressions *s = NULL;
	char msg[256] = "";
	int err = suppressions__parse("supp", text, strlen(text), &s, msg,
				      sizeof(msg));

	if (err)
		printf("  unexpected error %d: %s\n", err, msg);
	CHECK_U64(err, 0);
	return s;
}

static void test_glob(void)
{
	CHECK(suppress__glob("*", ""));
	CHECK(suppress__glob("*", "abc"));
	CHECK(suppress__glob("abc", "abc"));
	CHECK(!suppress__glob("abc", "abcd"));
	CHECK(!suppress__glob("abcd", "abc"));
	CHECK(suppress__glob("a?c", "abc"));
	CHECK(!suppress__glob("a?c", "ac"));
	CHECK(suppress__glob("ssl_*_init", "ssl_ctx_new_init"));
	CHECK(!suppress__glob("ssl_*_init", "ssl_ctx_new_init2"));
	CHECK(suppress__glob("*leak*", "leak_per_thread"));
	CHECK(suppress__glob("*a*b*c", "xxaxxbxxbxc"));
	CHECK(!suppress__glob("*a*b*c", "xxaxxbxxbx"));
	CHECK(suppress__glob("\\*x", "*x"));
	CHECK(!suppress__glob("\\*x", "ax"));
	CHECK(suppress__glob("a\\?", "a?"));
	CHECK(!suppress__glob("a\\?", "ab"));
	CHECK(!suppress__glob("", "a"));
	CHECK(suppress__glob("", ""));
	/* Many stars against a long string: linear, not exponential. */
	{
		char s[4096];

		memset(s, 'a', sizeof(s) - 1);
		s[sizeof(s) - 1] = '\0';
		CHECK(!suppress__glob("*a*a*a*a*a*a*a*a*a*a*b", s));
	}
}

static void test_match_fields(void)
{
	struct suppressions *s = parse_ok(
	    "# comment\n"
	    "\n"
	    "kind=thread-orphan function=g_thread_pool_*\n"
	    "   module=libcrypto.so*\t\n"
	    "kind=tls-outlived-key key=3\n"
	    "key=7\n"
	    "function=leak_* module=/opt/app/*\n");
	struct suppress_subject f = {0};

	CHECK_U64(suppressions__count(s), 5);
	f.kind = MW_FIND_THREAD_ORPHAN;
	f.function = "g_thread_pool_push";
	CHECK_STR(suppressions__match(s, &f), "supp:3");
	/* The kind must match too. */
	f.kind = MW_FIND_SITE_GROWTH;
	CHECK(suppressions__match(s, &f) == NULL);
	/* A module by its base name or its path. */
	f.function = "other";
	f.module = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3";
	CHECK_STR(suppressions__match(s, &f), "supp:4");
	f.module = "/usr/lib/libssl.so.3";
	CHECK(suppressions__match(s, &f) == NULL);
	/* A key: TLS kinds only. */
	f.kind = MW_FIND_TLS_OUTLIVED_KEY;
	f.key = 3;
	CHECK_STR(suppressions__match(s, &f), "supp:5");
	f.kind = MW_FIND_TLS_OUTLIVED_THREAD;
	CHECK(suppressions__match(s, &f) == NULL);
	f.key = 7;
	CHECK_STR(suppressions__match(s, &f), "supp:6");
	f.kind = MW_FIND_SITE_GROWTH;
	CHECK(suppressions__match(s, &f) == NULL);
	/* Every field of a rule: function and module both. */
	f.function = "leak_per_thread";
	f.module = "/opt/app/bin/server";
	CHECK_STR(suppressions__match(s, &f), "supp:7");
	f.module = "/usr/bin/server";
	CHECK(suppressions__match(s, &f) == NULL);
	/* An unknown function matches no pattern but '*'. */
	f.function = NULL;
	f.module = "/opt/app/bin/server";
	CHECK(suppressions__match(s, &f) == NULL);
	suppressions__free(s);
}

static void test_empty_and_null(void)
{
	struct suppressions *s = parse_ok("# nothing\n\n   \n");
	struct suppress_subject f = {.kind = MW_FIND_BAD_FREE};

	CHECK_U64(suppressions__count(s), 0);
	CHECK(suppressions__match(s, &f) == NULL);
	CHECK(suppressions__match(NULL, &f) == NULL);
	suppressions__free(s);
	suppressions__free(NULL);
	/* The last line needs no newline. */
	s = parse_ok("kind=bad-free");
	CHECK_STR(suppressions__match(s, &f), "supp:1");
	suppressions__free(s);
}

/* Each bad line: -EINVAL, and "supp:LINE: problem" naming it. */
static void test_bad_lines(void)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
	    {"kind=bad-free\nfunction\n",
	     "supp:2: expected FIELD=VALUE, got 'function'"},
	    {"kind=nope\n", "supp:1: unknown kind 'nope'"},
	    {"\n\ncolour=red\n",
	     "supp:3: unknown field 'colour' (kind, function, module, key)"},
	    {"function=a function=b\n",
	     "supp:1: field 'function' given twice"},
	    {"module=\n", "supp:1: empty value for 'module'"},
	    {"key=x1\n", "supp:1: invalid key 'x1' (a number)"},
	    {"key=99999999999\n", "supp:1: invalid key '99999999999' (a number)"},
	    {"kind=site-growth key=1\n",
	     "supp:1: 'key' with kind 'site-growth': only TLS findings have "
	     "a key"},
	    {"kind=allocator-retention-and-then-some\n",
	     "supp:1: unknown kind 'allocator-retention-and-then-some'"},
	    {"colour\x1b[2J=red\n",
	     "supp:1: unknown field 'colour?[2J' (kind, function, module, "
	     "key)"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct suppressions *s = (void *)1;
		char msg[256] = "";
		int err = suppressions__parse("supp", bad[i].text,
					      strlen(bad[i].text), &s, msg,
					      sizeof(msg));

		CHECK_U64(err, (uint64_t)-EINVAL);
		CHECK(s == NULL);
		CHECK_STR(msg, bad[i].msg);
	}
}

static void test_nul_and_long_line(void)
{
	static const char nul[] = "kind=bad-free\nfunction=a\0b\n";
	char *big = malloc(SUPPRESS_MAX_LINE + 16);
	struct suppressions *s;
	char msg[256];

	CHECK(suppressions__parse("f", nul, sizeof(nul) - 1, &s, msg,
				  sizeof(msg)) == -EINVAL);
	CHECK_STR(msg, "f:2: NUL byte in the line");
	memset(big, 'a', SUPPRESS_MAX_LINE + 8);
	memcpy(big, "function=", 9);
	CHECK(suppressions__parse("f", big, SUPPRESS_MAX_LINE + 8, &s, msg,
				  sizeof(msg)) == -EINVAL);
	CHECK_STR(msg, "f:1: line longer than 4096 bytes");
	free(big);
}

/* A long file name is shortened from the left in the rule's name. */
static void test_rule_name(void)
{
	const char *name = "/etc/memwatch/a/very/long/directory/name/that/"
			   "goes/on/suppressions.conf";
	const char *text = "\n\nkind=bad-free\n";
	struct suppressions *s;
	struct suppress_subject f = {.kind = MW_FIND_BAD_FREE};
	char msg[64];
	const char *got;

	CHECK(!suppressions__parse(name, text, strlen(text), &s, msg,
				   sizeof(msg)));
	got = suppressions__match(s, &f);
	CHECK(got != NULL);
	if (got) {
		CHECK(strlen(got) < 48);
		CHECK(strstr(got, "suppressions.conf:3") != NULL);
	}
	suppressions__free(s);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_glob),
    UNIT_CASE(test_match_fields),
    UNIT_CASE(test_empty_and_null),
    UNIT_CASE(test_bad_lines),
    UNIT_CASE(test_nul_and_long_line),
    UNIT_CASE(test_rule_name),
};

int main(int argc, char **argv)
{
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
