/*
 * json.h - a small streaming JSON writer for memwatchctl's --json output.
 *
 * Strings come from traced processes (thread names, paths, symbols), so
 * the writer always produces valid JSON: control characters are escaped
 * and bytes that are not valid UTF-8 become U+FFFD.
 */
#ifndef MEMWATCH_JSON_H
#define MEMWATCH_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *f;
	bool pretty;
	int depth;
	bool first[JSON_MAX_DEPTH];
	bool after_key;
};

void json__init(struct json *j, FILE *f, bool pretty);
void json__open(struct json *j, char bracket); /* '{' or '[' */
void json__close(struct json *j, char bracket);
void json__key(struct json *j, const char *key);
void json__str(struct json *j, const char *s);
void json__u64(struct json *j, uint64_t v);
void json__i64(struct json *j, int64_t v);
void json__hex(struct json *j, uint64_t v); /* "0x..." as a string */
void json__null(struct json *j);
void json__bool(struct json *j, bool v);
/* End the document with a newline. */
void json__end(struct json *j);

#endif
