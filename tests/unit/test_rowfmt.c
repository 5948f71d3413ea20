/*
 * test_rowfmt.c - rows written as JSON and CSV from their descriptions
 * (ctl/rowfmt.c) against what memwatchctl wrote before it, byte for byte:
 * the hand-written JSON of each row (memwatchctl's, through ctl/json.c)
 * and CSV (ctl/export.c's) are copied below as the oracle. JSON compact
 * and pretty, at depth, and with keys after a row's fields (explain).
 * Hostile text (quotes, controls, bytes that are not UTF-8, C1's CSI) in
 * every text column.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "json.h"
#include "outfile.h"
#include "rowfmt.h"
#include "text.h"
#include "unit.h"

/* --- the oracle: ctl/export.c's CSV of findings and live blocks, as it
 * was before rowfmt.c, copied verbatim. --- */

/* A row being written: fields so far, for the separators. */
struct csv {
	FILE *f;
	int n;
};

static void csv_sep(struct csv *c)
{
	if (c->n++)
		fputc(',', c->f);
}

/*
 * A text field, RFC 4180: quoted when it holds a comma, a quote, CR, LF
 * (or any control byte), quotes doubled. Bytes that are not valid UTF-8
 * become U+FFFD, one each, as in the JSON output, and so do control
 * characters other than tab, CR and LF.
 */
static void csv_str(struct csv *c, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	bool quote = false;

	csv_sep(c);
	for (const unsigned char *p = u; *p; p++)
		quote |= *p == ',' || *p == '"' || *p < 0x20 || *p == 0x7f;
	if (quote)
		fputc('"', c->f);
	while (*u) {
		unsigned n = text__utf8_len(u);

		/* Line breaks and tabs stay (quoted); a control character a
		 * terminal acts on (ESC, C1's CSI) must not reach one from
		 * `cat findings.csv`: U+FFFD as well. */
		if (!n || (text__is_control(u, n) && *u != '\t' && *u != '\r' &&
			   *u != '\n')) {
			fputs("\xef\xbf\xbd", c->f);
			u += n ? n : 1;
			continue;
		}
		if (*u == '"')
			fputc('"', c->f);
		fwrite(u, 1, (size_t)n, c->f);
		u += n;
	}
	if (quote)
		fputc('"', c->f);
}

static void csv_u64(struct csv *c, uint64_t v)
{
	csv_sep(c);
	fprintf(c->f, "%" PRIu64, v);
}

/* Addresses as the JSON output writes them: "0x..." */
static void csv_hex(struct csv *c, uint64_t v)
{
	csv_sep(c);
	fprintf(c->f, "0x%" PRIx64, v);
}

/* A time as RFC 3339 in UTC to the ns, by the C library's calendar
 * (gmtime_r), not rowfmt.c's own. */
static void ref_rfc3339(char *buf, size_t len, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char day[32];

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.20s.%09" PRIu64 "Z", day,
		 (uint64_t)(ns % 1000000000ull));
}

/* A time's two fields, the time and its number; both empty when 0. */
static void csv_time(struct csv *c, uint64_t ns)
{
	char t[40];

	if (!ns) {
		csv_str(c, "");
		csv_str(c, "");
		return;
	}
	ref_rfc3339(t, sizeof(t), ns);
	csv_str(c, t);
	csv_u64(c, ns);
}

/* RFC 4180 ends records with CRLF. */
static int csv_end(struct csv *c)
{
	fputs("\r\n", c->f);
	c->n = 0;
	return outfile__write_error();
}

/* The header row: names need no quoting. */
static int csv_header(struct csv *c, const char *names)
{
	fputs(names, c->f);
	return csv_end(c);
}

/* The site object of the JSON output, flattened. */
#define CSV_SITE_HEAD                                                          \
	"site_ip,site_function,site_offset,site_module,site_file,site_line"

static void csv_site(struct csv *c, uint64_t ip, const struct mw_site_row *site)
{
	csv_hex(c, ip);
	csv_str(c, site ? site->function : "");
	csv_u64(c, site ? site->offset : 0);
	csv_str(c, site ? site->module : "");
	csv_str(c, site ? site->file : "");
	csv_u64(c, site ? site->line : 0);
}

/* The names of json_finding_fields in cmd_findings.c, in its order. */
static const char finding_head[] =
    "id,kind,severity,state,pid,tid,key,generation,address,size," CSV_SITE_HEAD
    ",stack_id,alloc_tid,alloc_ts,alloc_ts_ns,trigger_ts,trigger_ts_ns,"
    "found_ts,found_ts_ns,count,bytes,threads,first_ts,first_ts_ns,last_ts,"
    "last_ts_ns,detail,resolved_ts,resolved_ts_ns,resolved_reason,"
    "suppressed,ack_ts,ack_ts_ns,ack_note";

static int finding_row(void *ctx, const struct mw_finding_row *r,
		       const struct mw_site_row *site)
{
	struct csv *c = ctx;

	csv_u64(c, r->id);
	csv_str(c, mw_finding_kind_name(r->kind));
	csv_str(c, mw_severity_name(r->severity));
	csv_str(c, r->resolved_ts	? "resolved"
		   : r->ack_ts	      ? "acknowledged"
		   : r->suppressed[0] ? "suppressed"
				      : "open");
	csv_u64(c, r->pid);
	csv_u64(c, r->tid);
	if (r->generation) {
		csv_u64(c, r->key);
		csv_u64(c, r->generation);
	} else {
		csv_str(c, "");
		csv_str(c, "");
	}
	csv_hex(c, r->addr);
	csv_u64(c, r->size);
	csv_site(c, r->site, site);
	csv_u64(c, r->stack_id);
	csv_u64(c, r->alloc_tid);
	csv_time(c, r->alloc_ts);
	csv_time(c, r->trigger_ts);
	csv_time(c, r->found_ts);
	csv_u64(c, r->count);
	csv_u64(c, r->bytes);
	csv_u64(c, r->threads);
	csv_time(c, r->first_ts);
	csv_time(c, r->last_ts);
	csv_str(c, r->detail);
	/* null while open: empty fields */
	csv_time(c, r->resolved_ts);
	csv_str(c, r->resolved_reason);
	csv_str(c, r->suppressed);
	csv_time(c, r->ack_ts);
	csv_str(c, r->ack_note);
	return csv_end(c);
}

/* The names of output__json_block in output.c, in its order. */
static const char block_head[] =
    "serial,pid,tid,address,size,ts,ts_ns," CSV_SITE_HEAD;

static int block_row(void *ctx, const struct mw_block_row *r,
		     const struct mw_site_row *site)
{
	struct csv *c = ctx;

	csv_u64(c, r->serial);
	csv_u64(c, r->pid);
	csv_u64(c, r->tid);
	csv_hex(c, r->addr);
	csv_u64(c, r->size);
	csv_time(c, r->ts);
	csv_site(c, r->site, site);
	return csv_end(c);
}

/* ctl/cmd_status.c's container_id, verbatim. */
static const char *ref_container_id(const char *cgroup, char *buf, size_t len)
{
	for (const char *p = cgroup; *p; p++) {
		size_t n = strspn(p, "0123456789abcdef");

		if (n == 64 &&
		    (p == cgroup || !isxdigit((unsigned char)p[-1]))) {
			snprintf(buf, len, "%.64s", p);
			return buf;
		}
		if (n)
			p += n - 1;
	}
	return "";
}

/* --- the oracle: memwatchctl's JSON of each row (cmd_*.c, output.c) as
 * it was before rowfmt.c, copied verbatim (J a pointer here), so that
 * rowfmt.c is held to it byte for byte. --- */

/* A time: "KEY": RFC 3339, "KEY_ns": its number as a string; null both
 * when 0. */
static void ref_time(struct json *J, const char *key, uint64_t ns)
{
	char k[64], t[40], n[24];

	snprintf(k, sizeof(k), "%s_ns", key);
	ref_rfc3339(t, sizeof(t), ns);
	snprintf(n, sizeof(n), "%" PRIu64, ns);
	json__key(J, key);
	if (ns)
		json__str(J, t);
	else
		json__null(J);
	json__key(J, k);
	if (ns)
		json__str(J, n);
	else
		json__null(J);
}

static void ref_process(struct json *J, const struct mw_process_row *r)
{
	char cid[72];

	json__open(J, '{');
	json__key(J, "id");
	json__u64(J, r->id);
	json__key(J, "pid");
	json__u64(J, r->pid);
	json__key(J, "comm");
	json__str(J, r->comm);
	json__key(J, "state");
	json__str(J, mw_proc_state_name(r->state));
	json__key(J, "mode");
	json__str(J, mw_mode_name(r->mode));
	json__key(J, "allocator");
	json__str(J, r->allocator);
	json__key(J, "nspid");
	json__u64(J, r->nspid);
	json__key(J, "cgroup");
	json__str(J, r->cgroup);
	json__key(J, "container");
	json__str(J, ref_container_id(r->cgroup, cid, sizeof(cid)));
	json__key(J, "threads");
	json__u64(J, r->threads);
	json__key(J, "allocs");
	json__u64(J, r->allocs);
	json__key(J, "frees");
	json__u64(J, r->frees);
	json__key(J, "unknown_frees");
	json__u64(J, r->unknown_frees);
	json__key(J, "live_blocks");
	json__u64(J, r->live_blocks);
	json__key(J, "live_bytes");
	json__u64(J, r->live_bytes);
	json__key(J, "findings");
	json__u64(J, r->findings);
	json__key(J, "lost");
	json__u64(J, r->lost);
	json__key(J, "dropped");
	json__u64(J, r->dropped);
	ref_time(J, "incomplete_from_ts", r->incomplete_from);
	ref_time(J, "incomplete_to_ts", r->incomplete_to);
	json__key(J, "withheld");
	json__u64(J, r->withheld);
	json__key(J, "exit_code");
	json__i64(J, r->exit_code);
	ref_time(J, "start_ts", r->start_ts);
	ref_time(J, "end_ts", r->end_ts);
	json__close(J, '}');
}

static void ref_thread(struct json *J, const struct mw_thread_row *r)
{
	json__open(J, '{');
	json__key(J, "pid");
	json__u64(J, r->pid);
	json__key(J, "tid");
	json__u64(J, r->tid);
	json__key(J, "comm");
	json__str(J, r->comm);
	json__key(J, "state");
	json__str(J, mw_thread_state_name(r->state));
	json__key(J, "allocs");
	json__u64(J, r->allocs);
	json__key(J, "frees");
	json__u64(J, r->frees);
	json__key(J, "alloc_bytes");
	json__u64(J, r->alloc_bytes);
	json__key(J, "free_bytes");
	json__u64(J, r->free_bytes);
	json__key(J, "cross_frees");
	json__u64(J, r->cross_frees);
	json__key(J, "unknown_frees");
	json__u64(J, r->unknown_frees);
	json__key(J, "live_blocks");
	json__u64(J, r->live_blocks);
	json__key(J, "live_bytes");
	json__u64(J, r->live_bytes);
	ref_time(J, "start_ts", r->start_ts);
	ref_time(J, "exit_ts", r->exit_ts);
	json__close(J, '}');
}

static void json_site(struct json *J, uint64_t ip,
		      const struct mw_site_row *site)
{
	json__open(J, '{');
	json__key(J, "ip");
	json__hex(J, ip);
	json__key(J, "function");
	json__str(J, site ? site->function : "");
	json__key(J, "offset");
	json__u64(J, site ? site->offset : 0);
	json__key(J, "module");
	json__str(J, site ? site->module : "");
	json__key(J, "file");
	json__str(J, site ? site->file : "");
	json__key(J, "line");
	json__u64(J, site ? site->line : 0);
	json__close(J, '}');
}

static void ref_block(struct json *J, const struct mw_block_row *r,
		      const struct mw_site_row *site)
{
	json__open(J, '{');
	json__key(J, "serial");
	json__u64(J, r->serial);
	json__key(J, "pid");
	json__u64(J, r->pid);
	json__key(J, "tid");
	json__u64(J, r->tid);
	json__key(J, "address");
	json__hex(J, r->addr);
	json__key(J, "size");
	json__u64(J, r->size);
	ref_time(J, "ts", r->ts);
	json__key(J, "site");
	json_site(J, r->site, site);
	json__close(J, '}');
}

static void ref_key(struct json *J, const struct mw_key_row *r)
{
	json__open(J, '{');
	json__key(J, "pid");
	json__u64(J, r->pid);
	json__key(J, "key");
	json__u64(J, r->key);
	json__key(J, "generation");
	json__u64(J, r->generation);
	json__key(J, "state");
	json__str(J, mw_key_state_name(r->state));
	json__key(J, "destructor");
	if (r->destructor)
		json__hex(J, r->destructor);
	else
		json__null(J);
	json__key(J, "create_tid");
	json__u64(J, r->create_tid);
	json__key(J, "bindings");
	json__u64(J, r->bindings);
	ref_time(J, "create_ts", r->create_ts);
	ref_time(J, "delete_ts", r->delete_ts);
	json__close(J, '}');
}

static void ref_finding_fields(struct json *J, const struct mw_finding_row *r,
			       const struct mw_site_row *site)
{
	json__key(J, "id");
	json__u64(J, r->id);
	json__key(J, "kind");
	json__str(J, mw_finding_kind_name(r->kind));
	json__key(J, "severity");
	json__str(J, mw_severity_name(r->severity));
	json__key(J, "state");
	json__str(J, r->resolved_ts	   ? "resolved"
		     : r->ack_ts	? "acknowledged"
		     : r->suppressed[0] ? "suppressed"
					: "open");
	json__key(J, "pid");
	json__u64(J, r->pid);
	json__key(J, "tid");
	json__u64(J, r->tid);
	/* No key: null, as key 0 is a real one. */
	json__key(J, "key");
	if (r->generation)
		json__u64(J, r->key);
	else
		json__null(J);
	json__key(J, "generation");
	if (r->generation)
		json__u64(J, r->generation);
	else
		json__null(J);
	json__key(J, "address");
	json__hex(J, r->addr);
	json__key(J, "size");
	json__u64(J, r->size);
	json__key(J, "site");
	json_site(J, r->site, site);
	json__key(J, "stack_id");
	json__u64(J, r->stack_id);
	json__key(J, "alloc_tid");
	json__u64(J, r->alloc_tid);
	ref_time(J, "alloc_ts", r->alloc_ts);
	ref_time(J, "trigger_ts", r->trigger_ts);
	ref_time(J, "found_ts", r->found_ts);
	json__key(J, "count");
	json__u64(J, r->count);
	json__key(J, "bytes");
	json__u64(J, r->bytes);
	json__key(J, "threads");
	json__u64(J, r->threads);
	ref_time(J, "first_ts", r->first_ts);
	ref_time(J, "last_ts", r->last_ts);
	json__key(J, "detail");
	json__str(J, r->detail);
	ref_time(J, "resolved_ts", r->resolved_ts);
	json__key(J, "resolved_reason");
	json__str(J, r->resolved_reason);
	json__key(J, "suppressed");
	json__str(J, r->suppressed);
	ref_time(J, "ack_ts", r->ack_ts);
	json__key(J, "ack_note");
	json__str(J, r->ack_note);
}

static void ref_finding(struct json *J, const struct mw_finding_row *r,
			const struct mw_site_row *site)
{
	json__open(J, '{');
	ref_finding_fields(J, r, site);
	json__close(J, '}');
}

static void ref_binding(struct json *J, const struct mw_binding_row *r)
{
	json__open(J, '{');
	json__key(J, "key");
	json__u64(J, r->key);
	json__key(J, "generation");
	json__u64(J, r->generation);
	json__key(J, "value");
	json__hex(J, r->value);
	json__key(J, "block");
	json__u64(J, r->block);
	json__key(J, "size");
	json__u64(J, r->size);
	ref_time(J, "set_ts", r->set_ts);
	json__close(J, '}');
}

/* --- the test ------------------------------------------------------------ */

static const char hostile[] = "a,b\"c'\\d\te\nf\r\x1b[31mg\x7f\xc2\x9bh\xff"
			      "\xe2\x82\xac\xed\xa0\x80i";

static char *buf;
static size_t len;

static FILE *mem(void)
{
	free(buf);
	buf = NULL;
	len = 0;
	return open_memstream(&buf, &len);
}

/* What f wrote, NUL-terminated; f closed. The caller frees it. */
static char *done(FILE *f)
{
	char *s;

	fclose(f);
	s = buf;
	buf = NULL;
	return s;
}

static void check_same(const char *what, char *want, char *got)
{
	if (strcmp(want, got)) {
		printf("  %s differs:\n  want: %s\n  got:  %s\n", what, want,
		       got);
		unit_failed_now = 1;
	}
	free(want);
	free(got);
}

/*
 * Two rows in an array, as memwatchctl writes a listing, the array at
 * depth 0 and nested at depth 3 ([{"rows": [...]}]): the oracle's calls,
 * then rowfmt's, each through a json.c writer of its own.
 */
#define CHECK_JSON(desc, ref_call_a, ref_call_b, rowfmt_a, rowfmt_b)           \
	for (int pretty = 0; pretty < 2; pretty++)                             \
		for (int nest = 0; nest < 2; nest++) {                         \
			struct json j;                                         \
			struct json *J = &j;                                   \
			char *want, *got;                                      \
			FILE *f = mem();                                       \
                                                                               \
			json__init(J, f, pretty);                              \
			nest_open(J, nest);                                    \
			ref_call_a;                                            \
			ref_call_b;                                            \
			nest_close(J, nest);                                   \
			want = done(f);                                        \
			f = mem();                                             \
			json__init(J, f, pretty);                              \
			nest_open(J, nest);                                    \
			rowfmt_a;                                              \
			rowfmt_b;                                              \
			nest_close(J, nest);                                   \
			got = done(f);                                         \
			check_same((desc).table, want, got);                   \
		}

/* Open the listing's array, inside [{"rows": ...}] if nest. */
static void nest_open(struct json *J, int nest)
{
	if (nest) {
		json__open(J, '[');
		json__open(J, '{');
		json__key(J, "rows");
	}
	json__open(J, '[');
}

static void nest_close(struct json *J, int nest)
{
	json__close(J, ']');
	if (nest) {
		json__close(J, '}');
		json__close(J, ']');
	}
	json__end(J);
}

static void fill_site(struct mw_site_row *s)
{
	memset(s, 0, sizeof(*s));
	s->proc_id = 7;
	s->ip = 0x401234;
	s->offset = 0x34;
	s->line = 42;
	snprintf(s->module, sizeof(s->module), "/usr/lib/%s.so", hostile);
	snprintf(s->function, sizeof(s->function), "f%s", hostile);
	snprintf(s->file, sizeof(s->file), "%s.c", hostile);
}

static void test_json_process(void)
{
	struct mw_process_row a = {.id = 1,
				   .pid = 100,
				   .state = MW_PROC_EXITED,
				   .start_ts = 5,
				   .end_ts = 9,
				   .exit_code = -3,
				   .threads = 4,
				   .allocs = 10,
				   .frees = 8,
				   .live_blocks = 2,
				   .live_bytes = 64,
				   .unknown_frees = 1,
				   .lost = 6,
				   .findings = 3,
				   .mode = MW_MODE_TLS,
				   .nspid = 12,
				   .dropped = 11,
				   .incomplete_from = 13,
				   .incomplete_to = 14,
				   .withheld = 15};
	struct mw_process_row b = {.id = UINT64_MAX, .state = 99};

	snprintf(a.comm, sizeof(a.comm), "%.12s", hostile);
	snprintf(a.allocator, sizeof(a.allocator), "jemalloc");
	snprintf(a.cgroup, sizeof(a.cgroup), "/system.slice/docker-%s.scope",
		 "0123456789abcdef0123456789abcdef"
		 "0123456789abcdef0123456789abcdef");
	snprintf(b.cgroup, sizeof(b.cgroup), "%s", hostile);
	CHECK_JSON(mw_process_desc, ref_process(J, &a), ref_process(J, &b),
		   rowfmt__json(J, &mw_process_desc, &a, NULL),
		   rowfmt__json(J, &mw_process_desc, &b, NULL));
}

static void test_json_thread(void)
{
	struct mw_thread_row a = {.proc_id = 1,
				  .pid = 100,
				  .tid = 101,
				  .state = MW_THREAD_GONE,
				  .start_ts = 2,
				  .exit_ts = 3,
				  .allocs = 4,
				  .frees = 5,
				  .alloc_bytes = 6,
				  .free_bytes = 7,
				  .cross_frees = 8,
				  .unknown_frees = 9,
				  .live_blocks = 10,
				  .live_bytes = 11};
	struct mw_thread_row b = {.tid = UINT32_MAX};

	snprintf(a.comm, sizeof(a.comm), "%.15s", hostile + 3);
	CHECK_JSON(mw_thread_desc, ref_thread(J, &a), ref_thread(J, &b),
		   rowfmt__json(J, &mw_thread_desc, &a, NULL),
		   rowfmt__json(J, &mw_thread_desc, &b, NULL));
}

static void test_json_key(void)
{
	struct mw_key_row a = {.proc_id = 1,
			       .pid = 100,
			       .key = 3,
			       .generation = 2,
			       .state = MW_KEY_DELETED,
			       .create_tid = 101,
			       .destructor = 0x7f0012,
			       .create_ts = 4,
			       .delete_ts = 5,
			       .bindings = 6};
	struct mw_key_row b = {.key = 1, .state = MW_KEY_LIVE};

	CHECK_JSON(mw_key_desc, ref_key(J, &a), ref_key(J, &b),
		   rowfmt__json(J, &mw_key_desc, &a, NULL),
		   rowfmt__json(J, &mw_key_desc, &b, NULL));
}

static void test_json_binding(void)
{
	struct mw_binding_row a = {.proc_id = 1,
				   .pid = 100,
				   .tid = 101,
				   .key = 3,
				   .generation = 2,
				   .value = 0x55550010,
				   .block = 77,
				   .size = 48,
				   .set_ts = 9};
	struct mw_binding_row b = {.value = 1};

	CHECK_JSON(mw_binding_desc, ref_binding(J, &a), ref_binding(J, &b),
		   rowfmt__json(J, &mw_binding_desc, &a, NULL),
		   rowfmt__json(J, &mw_binding_desc, &b, NULL));
}

static void test_json_block(void)
{
	struct mw_block_row a = {.serial = 9,
				 .proc_id = 7,
				 .pid = 100,
				 .tid = 101,
				 .addr = 0x55550010,
				 .size = 48,
				 .ts = 3,
				 .site = 0x401234,
				 .stack_id = 5};
	struct mw_block_row b = {.serial = 10, .site = 0xdead};
	struct mw_site_row site;

	fill_site(&site);
	CHECK_JSON(mw_block_desc, ref_block(J, &a, &site),
		   ref_block(J, &b, NULL),
		   rowfmt__json(J, &mw_block_desc, &a, &site),
		   rowfmt__json(J, &mw_block_desc, &b, NULL));
}

static void explain_ref(struct json *J, const struct mw_finding_row *r,
			const struct mw_site_row *site);
static void explain_rowfmt(struct json *J, const struct mw_finding_row *r,
			   const struct mw_site_row *site);

static void test_json_finding(void)
{
	struct mw_finding_row a = {.id = 4,
				   .kind = MW_FIND_TLS_OUTLIVED_THREAD,
				   .pid = 100,
				   .proc_id = 7,
				   .tid = 101,
				   .key = 3,
				   .generation = 2,
				   .alloc_tid = 102,
				   .block = 9,
				   .addr = 0x55550010,
				   .size = 48,
				   .site = 0x401234,
				   .alloc_ts = 1,
				   .trigger_ts = 2,
				   .found_ts = 3,
				   .stack_id = 5,
				   .severity = MW_SEV_HIGH,
				   .threads = 1,
				   .count = 1,
				   .bytes = 48,
				   .first_ts = 3,
				   .last_ts = 3};
	struct mw_finding_row b = {.id = 5, .kind = 0, .severity = 77,
				   .suppressed = "s:1"};
	struct mw_site_row site;

	snprintf(a.detail, sizeof(a.detail), "left by %s", hostile);
	a.ack_ts = 12;
	snprintf(a.ack_note, sizeof(a.ack_note), "known: %s", hostile);
	fill_site(&site);
	CHECK_JSON(mw_finding_desc, ref_finding(J, &a, &site),
		   ref_finding(J, &b, NULL),
		   rowfmt__json(J, &mw_finding_desc, &a, &site),
		   rowfmt__json(J, &mw_finding_desc, &b, NULL));
	/* explain: the fields, then keys of its own in the same object. */
	CHECK_JSON(mw_finding_desc, explain_ref(J, &a, &site),
		   explain_ref(J, &b, NULL), explain_rowfmt(J, &a, &site),
		   explain_rowfmt(J, &b, NULL));
}

/* An explain-like object: a finding's fields, then a key of its own. */
static void explain_ref(struct json *J, const struct mw_finding_row *r,
			const struct mw_site_row *site)
{
	json__open(J, '{');
	ref_finding_fields(J, r, site);
	json__key(J, "stack");
	json__open(J, '[');
	json_site(J, r->site, site);
	json__close(J, ']');
	json__close(J, '}');
}

static void explain_rowfmt(struct json *J, const struct mw_finding_row *r,
			   const struct mw_site_row *site)
{
	json__open(J, '{');
	rowfmt__json_fields(J, &mw_finding_desc, r, site);
	json__key(J, "stack");
	json__open(J, '[');
	rowfmt__json_site(J, r->site, site);
	json__close(J, ']');
	json__close(J, '}');
}

/* A site alone (top, explain's frames): known, and a bare ip. */
static void test_json_site(void)
{
	struct mw_site_row site;

	fill_site(&site);
	CHECK_JSON(mw_site_desc, json_site(J, site.ip, &site),
		   json_site(J, 0xfeed, NULL),
		   rowfmt__json_site(J, site.ip, &site),
		   rowfmt__json_site(J, 0xfeed, NULL));
}

/* A stack has no JSON in memwatchctl yet: its frames as hex strings. */
static void test_json_stack(void)
{
	struct mw_stack_row a = {.id = 5,
				 .proc_id = 7,
				 .pid = 100,
				 .flags = MW_STACK_TLS_INIT,
				 .nframes = 2,
				 .frames = {0x401234, 0xabc}};
	struct json j;
	FILE *f = mem();
	char *got;

	json__init(&j, f, false);
	rowfmt__json(&j, &mw_stack_desc, &a, NULL);
	got = done(f);
	CHECK_STR(got, "{\"id\":5,\"pid\":100,\"flags\":1,\"nframes\":2,"
		       "\"frames\":[\"0x401234\",\"0xabc\"]}");
	free(got);
	f = mem();
	json__init(&j, f, true);
	rowfmt__json(&j, &mw_stack_desc, &a, NULL);
	got = done(f);
	CHECK_STR(got, "{\n  \"id\": 5,\n  \"pid\": 100,\n  \"flags\": 1,\n"
		       "  \"nframes\": 2,\n  \"frames\": [\n    \"0x401234\",\n"
		       "    \"0xabc\"\n  ]\n}");
	free(got);
}

/* The header and two records: export.c's, then rowfmt's. */
#define CHECK_CSV(desc, head, ref_row, a, b, sa, sb)                           \
	do {                                                                   \
		struct csv c;                                                  \
		char *want, *got;                                              \
		FILE *f = mem();                                               \
                                                                               \
		c.f = f;                                                       \
		c.n = 0;                                                       \
		csv_header(&c, head);                                          \
		ref_row(&c, a, sa);                                            \
		ref_row(&c, b, sb);                                            \
		want = done(f);                                                \
		f = mem();                                                     \
		rowfmt__csv_header(f, &(desc));                                \
		rowfmt__csv(f, &(desc), a, sa);                                \
		rowfmt__csv(f, &(desc), b, sb);                                \
		got = done(f);                                                 \
		check_same((desc).table, want, got);                           \
	} while (0)

static void test_csv_finding(void)
{
	struct mw_finding_row a = {.id = 4,
				   .kind = MW_FIND_SITE_GROWTH,
				   .pid = 100,
				   .proc_id = 7,
				   .tid = 101,
				   .key = 3,
				   .generation = 2,
				   .alloc_tid = 102,
				   .block = 9,
				   .addr = 0x55550010,
				   .size = 48,
				   .site = 0x401234,
				   .alloc_ts = 1,
				   .trigger_ts = 2,
				   .found_ts = 3,
				   .stack_id = 5,
				   .severity = MW_SEV_MEDIUM,
				   .threads = 6,
				   .count = 7,
				   .bytes = 480,
				   .first_ts = 3,
				   .last_ts = 8,
				   .resolved_ts = 9};
	struct mw_finding_row b = {.id = 5, .site = 0xbeef,
				   .suppressed = "/etc/memwatch/s.supp:3",
				   .ack_ts = 11, .ack_note = "known, \"a,b\""};
	struct mw_site_row site;

	snprintf(a.detail, sizeof(a.detail), "%s", hostile);
	snprintf(a.resolved_reason, sizeof(a.resolved_reason), "freed by %s",
		 hostile);
	fill_site(&site);
	CHECK_CSV(mw_finding_desc, finding_head, finding_row, &a, &b, &site,
		  NULL);
}

static void test_csv_block(void)
{
	struct mw_block_row a = {.serial = 9,
				 .proc_id = 7,
				 .pid = 100,
				 .tid = 101,
				 .addr = 0x55550010,
				 .size = 48,
				 .ts = 3,
				 .site = 0x401234,
				 .stack_id = 5};
	struct mw_block_row b = {.serial = 10, .site = 0xdead};
	struct mw_site_row site;

	fill_site(&site);
	CHECK_CSV(mw_block_desc, block_head, block_row, &a, &b, &site, NULL);
}

/* Tables export has no CSV of yet: the header, a null, a word. */
static void test_csv_others(void)
{
	struct mw_key_row k = {.pid = 100,
			       .key = 3,
			       .generation = 1,
			       .state = MW_KEY_LIVE,
			       .bindings = 2};
	FILE *f = mem();
	char *got;

	rowfmt__csv_header(f, &mw_key_desc);
	rowfmt__csv(f, &mw_key_desc, &k, NULL);
	got = done(f);
	CHECK_STR(got, "pid,key,generation,state,destructor,create_tid,"
		       "bindings,create_ts,create_ts_ns,delete_ts,delete_ts_ns\r\n"
		       "100,3,1,live,,0,2,,,,\r\n");
	free(got);
}

/*
 * Times as RFC 3339 against the C library's calendar (gmtime_r): the
 * epoch, leap days (2000, 2024, not 2100), the ends of years and months,
 * 2038 and later, the last ns a uint64_t holds (2554), and random ones.
 */
static void test_rfc3339(void)
{
	static const uint64_t fixed[] = {
	    1,
	    999999999,
	    951782400ull * 1000000000ull,	      /* 2000-02-29 */
	    1709164799ull * 1000000000ull + 123,      /* 2024-02-28 23:59:59 */
	    1709251199ull * 1000000000ull + 999999999, /* 2024-02-29 end */
	    1735689599ull * 1000000000ull,	      /* 2024-12-31 23:59:59 */
	    2147483648ull * 1000000000ull,	      /* 2038-01-19 */
	    4107542400ull * 1000000000ull,	      /* 2100-03-01 */
	    UINT64_MAX,
	};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int bad = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 100000; i++) {
		char got[ROWFMT_TIME_LEN], want[40];
		uint64_t ns;

		if (i < sizeof(fixed) / sizeof(fixed[0])) {
			ns = fixed[i];
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			ns = x;
		}
		rowfmt__rfc3339(got, sizeof(got), ns);
		ref_rfc3339(want, sizeof(want), ns);
		if (strcmp(got, want) && bad++ < 5)
			printf("  %" PRIu64 ": got %s, want %s\n", ns, got, want);
		if (strlen(got) != 30 && bad++ < 5)
			printf("  %" PRIu64 ": %s is not 30 bytes\n", ns, got);
	}
	CHECK(bad == 0);
	{
		char t[ROWFMT_TIME_LEN];

		rowfmt__rfc3339(t, sizeof(t), 1796679368502727351ull);
		CHECK_STR(t, "2026-12-07T21:36:08.502727351Z");
	}
}

/*
 * The CSV escaping, now rowfmt.c's, is export.c's: every one- and
 * two-byte string, and each byte before a few sequences, as a site's
 * function. (The JSON escaping is json.c's alone, the oracle's as well.)
 */
static void test_escaping(void)
{
	struct mw_site_row site = {.ip = 0x401234};

	for (int a = 1; a < 256; a++)
		for (int b = 0; b < 256; b++) {
			char *want, *got;
			FILE *f;
			struct csv c;

			site.function[0] = (char)a;
			site.function[1] = (char)b;
			site.function[2] = b ? (char)0x80 : 0;
			site.function[3] = 0;
			f = mem();
			c.f = f;
			c.n = 0;
			csv_site(&c, site.ip, &site);
			csv_end(&c);
			want = done(f);
			f = mem();
			rowfmt__csv(f, &mw_site_desc, &site, NULL);
			got = done(f);
			if (strcmp(want, got)) {
				CHECK_STR(got, want);
				free(want);
				free(got);
				return;
			}
			free(want);
			free(got);
		}
}

int main(void)
{
	RUN(test_json_process);
	RUN(test_json_thread);
	RUN(test_json_key);
	RUN(test_json_binding);
	RUN(test_json_block);
	RUN(test_json_finding);
	RUN(test_json_site);
	RUN(test_json_stack);
	RUN(test_csv_finding);
	RUN(test_csv_block);
	RUN(test_csv_others);
	RUN(test_escaping);
	RUN(test_rfc3339);
	free(buf);
	UNIT_EXIT();
}
