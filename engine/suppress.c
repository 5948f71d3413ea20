/*
 * suppress.c - suppression rules parsed from a file's text and matched
 * against findings; see suppress.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "rows.h"
#include "suppress.h"

enum {
	F_KIND = 1u << 0,
	F_FUNCTION = 1u << 1,
	F_MODULE = 1u << 2,
	F_KEY = 1u << 3,
};

struct rule {
	unsigned fields; /* F_* given */
	uint32_t kind, key;
	char *function, *module; /* globs, owned */
	char name[MW_RULE_MAX];	 /* "FILE:LINE", shortened from the left */
};

struct suppressions {
	struct rule *rules;
	size_t n;
};

bool suppress__glob(const char *p, const char *s)
{
	/* One star remembered: a later mismatch retries from it, one
	 * character further; no backtracking past it is ever needed. */
	const char *star = NULL, *resume = NULL;

	while (*s) {
		if (*p == '*') {
			star = ++p;
			resume = s;
			continue;
		}
		if (*p == '\\' && p[1] && p[1] == *s) {
			p += 2;
			s++;
			continue;
		}
		if (*p && *p != '\\' && (*p == '?' || *p == *s)) {
			p++;
			s++;
			continue;
		}
		if (!star)
			return false;
		p = star;
		s = ++resume;
	}
	while (*p == '*')
		p++;
	return !*p;
}

static bool is_tls_kind(uint32_t kind)
{
	return kind == MW_FIND_TLS_OUTLIVED_THREAD ||
	       kind == MW_FIND_TLS_OUTLIVED_KEY ||
	       kind == MW_FIND_TLS_OVERWRITTEN ||
	       kind == MW_FIND_TLS_OUTLIVED_MODULE;
}

/* The module matches by its path or its base name. */
static bool module_matches(const char *glob, const char *path)
{
	const char *base;

	if (!path)
		path = "";
	base = strrchr(path, '/');
	return suppress__glob(glob, path) ||
	       (base && suppress__glob(glob, base + 1));
}

const char *suppressions__match(const struct suppressions *s,
				const struct suppress_subject *f)
{
	for (size_t i = 0; s && i < s->n; i++) {
		const struct rule *r = &s->rules[i];

		if ((r->fields & F_KIND) && r->kind != f->kind)
			continue;
		if ((r->fields & F_KEY) &&
		    (!is_tls_kind(f->kind) || r->key != f->key))
			continue;
		if ((r->fields & F_FUNCTION) &&
		    !suppress__glob(r->function,
				    f->function ? f->function : ""))
			continue;
		if ((r->fields & F_MODULE) &&
		    !module_matches(r->module, f->module))
			continue;
		return r->name;
	}
	return NULL;
}

static void rule_fini(struct rule *r)
{
	free(r->function);
	free(r->module);
}

void suppressions__free(struct suppressions *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		rule_fini(&s->rules[i]);
	free(s->rules);
	free(s);
}

size_t suppressions__count(const struct suppressions *s)
{
	return s ? s->n : 0;
}

static int __attribute__((format(printf, 5, 6)))
bad(char *msg, size_t len, const char *name, unsigned line, const char *fmt,
    ...)
{
	va_list ap;
	int n = snprintf(msg, len, "%s:%u: ", name, line);

	if (n < 0 || (size_t)n >= len)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	/* One line, whatever the file quoted in it holds. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return -EINVAL;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* One FIELD=VALUE of a line into r; 0, -EINVAL (msg) or -ENOMEM. */
static int parse_field(struct rule *r, const char *tok, size_t n,
		       const char *name, unsigned line, char *msg, size_t len)
{
	static const struct {
		const char *name;
		unsigned bit;
	} fields[] = {{"kind", F_KIND},
		      {"function", F_FUNCTION},
		      {"module", F_MODULE},
		      {"key", F_KEY}};
	const char *eq = memchr(tok, '=', n), *val;
	size_t flen, vlen;
	unsigned bit = 0;
	char num[24];
	uint64_t v;
	int k;

	if (!eq)
		return bad(msg, len, name, line,
			   "expected FIELD=VALUE, got '%.*s'", (int)n, tok);
	flen = (size_t)(eq - tok);
	val = eq + 1;
	vlen = n - flen - 1;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strlen(fields[i].name) == flen &&
		    !memcmp(fields[i].name, tok, flen))
			bit = fields[i].bit;
	if (!bit)
		return bad(msg, len, name, line,
			   "unknown field '%.*s' (kind, function, module, "
			   "key)",
			   (int)flen, tok);
	if (r->fields & bit)
		return bad(msg, len, name, line, "field '%.*s' given twice",
			   (int)flen, tok);
	if (!vlen)
		return bad(msg, len, name, line, "empty value for '%.*s'",
			   (int)flen, tok);
	r->fields |= bit;
	switch (bit) {
	case F_KIND:
		k = -EINVAL;
		if (vlen < sizeof(num)) {
			memcpy(num, val, vlen);
			num[vlen] = '\0';
			k = mw_finding_kind_parse(num);
		}
		if (k < 0)
			return bad(msg, len, name, line,
				   "unknown kind '%.*s'", (int)(n - flen - 1),
				   val);
		r->kind = (uint32_t)k;
		break;
	case F_KEY:
		if (vlen >= sizeof(num))
			return bad(msg, len, name, line,
				   "invalid key '%.*s'", (int)vlen, val);
		memcpy(num, val, vlen);
		num[vlen] = '\0';
		if (parse__u64(num, UINT32_MAX, &v))
			return bad(msg, len, name, line,
				   "invalid key '%s' (a number)", num);
		r->key = (uint32_t)v;
		break;
	default: {
		char **dst = bit == F_FUNCTION ? &r->function : &r->module;

		if (!(*dst = dup_n(val, vlen)))
			return -ENOMEM;
	}
	}
	return 0;
}

/* The rule on one line (without its newline), blanks trimmed by the
 * tokenizer; 0 for a rule, 1 for nothing (blank, comment). */
static int parse_line(struct rule *r, const char *p, size_t n,
		      const char *name, unsigned line, char *msg, size_t len)
{
	size_t i = 0;
	int err;

	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	if (i == n || p[i] == '#')
		return 1;
	if (memchr(p, '\0', n))
		return bad(msg, len, name, line, "NUL byte in the line");
	while (i < n) {
		size_t start = i;

		while (i < n && p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			i++;
		if ((err = parse_field(r, p + start, i - start, name, line, msg,
				       len)))
			return err;
		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
			i++;
	}
	if ((r->fields & F_KEY) && (r->fields & F_KIND) && !is_tls_kind(r->kind))
		return bad(msg, len, name, line,
			   "'key' with kind '%s': only TLS findings have a key",
			   mw_finding_kind_name(r->kind));
	return 0;
}

/* "FILE:LINE", the file's name shortened from the left to fit. */
static void name_rule(struct rule *r, const char *name, unsigned line)
{
	char tail[16];
	size_t room, nlen = strlen(name);

	snprintf(tail, sizeof(tail), ":%u", line);
	room = sizeof(r->name) - strlen(tail) - 1;
	if (nlen > room)
		name += nlen - room;
	snprintf(r->name, sizeof(r->name), "%s%s", name, tail);
}

int suppressions__parse(const char *name, const char *text, size_t len,
			struct suppressions **out, char *msg, size_t msglen)
{
	struct suppressions *s = calloc(1, sizeof(*s));
	size_t pos = 0, cap = 0;
	unsigned line = 0;
	int err = 0;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		struct rule r = {0};

		line++;
		if (n > SUPPRESS_MAX_LINE) {
			err = bad(msg, msglen, name, line,
				  "line longer than %d bytes",
				  SUPPRESS_MAX_LINE);
			goto cleanup;
		}
		err = parse_line(&r, text + pos, n, name, line, msg, msglen);
		pos += n + 1;
		if (err == 1)
			continue;
		if (!err && s->n == SUPPRESS_MAX_RULES)
			err = bad(msg, msglen, name, line,
				  "more than %d rules", SUPPRESS_MAX_RULES);
		if (!err && s->n == cap) {
			struct rule *p;

			cap = cap ? 2 * cap : 16;
			p = realloc(s->rules, cap * sizeof(*p));
			if (p)
				s->rules = p;
			else
				err = -ENOMEM;
		}
		if (err) {
			rule_fini(&r);
			goto cleanup;
		}
		name_rule(&r, name, line);
		s->rules[s->n++] = r;
	}
	*out = s;
	return 0;
cleanup:
	suppressions__free(s);
	return err;
}
