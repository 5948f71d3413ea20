/*
 * test_rowfmt.c - rows written as JSON and CSV from their descriptions
 * (common/rowfmt.c) against what memwatchctl writes today, byte for byte:
 * ctl/json.c and ctl/export.c are compiled in here as they are, and
 * memwatchctl.c's JSON of each row is copied below. Hostile text (quotes,
 * controls, bytes that are not UTF-8, C1's CSI) in every text column.
 */
#include <ctype.h>
#include <stdlib.h>

#include "rowfmt.h"
#include "text.h"
#include "unit.h"

/* Today's writers, as they are. export.c's pprof calls are not used. */
#include "export.c"
#include "json.c"

uint64_t pprof__find_location(const struct pprof *p, uint64_t space,
			      uint64_t addr)
{
	return 0;
}

int pprof__add_location(struct pprof *p, uint64_t space,
			const struct pprof_frame *fr, uint64_t *id)
{
	return -ENOSYS;
}

int pprof__add_sample(struct pprof *p, const uint64_t *locs, uint32_t n,
		      uint64_t objects, uint64_t bytes, uint32_t pid)
{
	return -ENOSYS;
}

/* ctl/memwatchctl.c's container_id, verbatim. */
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

/* --- today's code: memwatchctl.c's JSON of each row, copied verbatim
 * (J a pointer here), so that rowfmt.c is held to it byte for byte. --- */

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
	json__key(J, "incomplete_from_ts");
	json__u64(J, r->incomplete_from);
	json__key(J, "incomplete_to_ts");
	json__u64(J, r->incomplete_to);
	json__key(J, "withheld");
	json__u64(J, r->withheld);
	json__key(J, "exit_code");
	json__i64(J, r->exit_code);
	json__key(J, "start_ts");
	json__u64(J, r->start_ts);
	json__key(J, "end_ts");
	json__u64(J, r->end_ts);
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
	json__key(J, "start_ts");
	json__u64(J, r->start_ts);
	json__key(J, "exit_ts");
	json__u64(J, r->exit_ts);
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
	json__key(J, "ts");
	json__u64(J, r->ts);
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
	json__key(J, "create_ts");
	json__u64(J, r->create_ts);
	json__key(J, "delete_ts");
	json__u64(J, r->delete_ts);
	json__close(J, '}');
}

static void ref_finding(struct json *J, const struct mw_finding_row *r,
			const struct mw_site_row *site)
{
	json__open(J, '{');
	json__key(J, "id");
	json__u64(J, r->id);
	json__key(J, "kind");
	json__str(J, mw_finding_kind_name(r->kind));
	json__key(J, "severity");
	json__str(J, mw_severity_name(r->severity));
	json__key(J, "pid");
	json__u64(J, r->pid);
	json__key(J, "tid");
	json__u64(J, r->tid);
	json__key(J, "key");
	json__u64(J, r->key);
	json__key(J, "generation");
	json__u64(J, r->generation);
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
	json__key(J, "alloc_ts");
	json__u64(J, r->alloc_ts);
	json__key(J, "trigger_ts");
	json__u64(J, r->trigger_ts);
	json__key(J, "found_ts");
	json__u64(J, r->found_ts);
	json__key(J, "count");
	json__u64(J, r->count);
	json__key(J, "bytes");
	json__u64(J, r->bytes);
	json__key(J, "threads");
	json__u64(J, r->threads);
	json__key(J, "first_ts");
	json__u64(J, r->first_ts);
	json__key(J, "last_ts");
	json__u64(J, r->last_ts);
	json__key(J, "detail");
	json__str(J, r->detail);
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
	json__key(J, "set_ts");
	json__u64(J, r->set_ts);
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
 * Two rows in an array, as memwatchctl writes a listing: ref through
 * ctl/json.c, then rowfmt__json with the separators json.c puts between
 * an array's items.
 */
#define CHECK_JSON(desc, ref_call_a, ref_call_b, a, b, sa, sb)                 \
	for (int pretty = 0; pretty < 2; pretty++) {                           \
		struct json j;                                                 \
		struct json *J = &j;                                           \
		char *want, *got;                                              \
		FILE *f = mem();                                               \
                                                                               \
		json__init(J, f, pretty);                                      \
		json__open(J, '[');                                            \
		ref_call_a;                                                    \
		ref_call_b;                                                    \
		json__close(J, ']');                                           \
		json__end(J);                                                  \
		want = done(f);                                                \
		f = mem();                                                     \
		fputc('[', f);                                                 \
		if (pretty)                                                    \
			fputs("\n  ", f);                                      \
		rowfmt__json(f, &(desc), a, sa, pretty, 1);                    \
		fputs(pretty ? ",\n  " : ",", f);                              \
		rowfmt__json(f, &(desc), b, sb, pretty, 1);                    \
		fputs(pretty ? "\n]\n" : "]\n", f);                            \
		got = done(f);                                                 \
		check_same((desc).table, want, got);                           \
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
	CHECK_JSON(mw_process_desc, ref_process(J, &a), ref_process(J, &b), &a,
		   &b, NULL, NULL);
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
	CHECK_JSON(mw_thread_desc, ref_thread(J, &a), ref_thread(J, &b), &a, &b,
		   NULL, NULL);
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

	CHECK_JSON(mw_key_desc, ref_key(J, &a), ref_key(J, &b), &a, &b, NULL,
		   NULL);
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

	CHECK_JSON(mw_binding_desc, ref_binding(J, &a), ref_binding(J, &b), &a,
		   &b, NULL, NULL);
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
		   ref_block(J, &b, NULL), &a, &b, &site, NULL);
}

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
	struct mw_finding_row b = {.id = 5, .kind = 0, .severity = 77};
	struct mw_site_row site;

	snprintf(a.detail, sizeof(a.detail), "left by %s", hostile);
	fill_site(&site);
	CHECK_JSON(mw_finding_desc, ref_finding(J, &a, &site),
		   ref_finding(J, &b, NULL), &a, &b, &site, NULL);
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
	FILE *f = mem();
	char *got;

	rowfmt__json(f, &mw_stack_desc, &a, NULL, false, 0);
	got = done(f);
	CHECK_STR(got, "{\"id\":5,\"pid\":100,\"flags\":1,\"nframes\":2,"
		       "\"frames\":[\"0x401234\",\"0xabc\"]}");
	free(got);
	f = mem();
	rowfmt__json(f, &mw_stack_desc, &a, NULL, true, 0);
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
				   .last_ts = 8};
	struct mw_finding_row b = {.id = 5, .site = 0xbeef};
	struct mw_site_row site;

	snprintf(a.detail, sizeof(a.detail), "%s", hostile);
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
		       "bindings,create_ts,delete_ts\r\n"
		       "100,3,1,live,,0,2,0,0\r\n");
	free(got);
}

/* The escaping moved to common/text.c is json.c's and export.c's. */
static void test_escaping(void)
{
	char s[4];

	/* Every one- and two-byte string, and each byte before a few
	 * sequences. */
	for (int a = 1; a < 256; a++)
		for (int b = 0; b < 256; b++) {
			char *want, *got;
			FILE *f;
			struct csv c;

			s[0] = (char)a;
			s[1] = (char)b;
			s[2] = b ? (char)0x80 : 0;
			s[3] = 0;
			f = mem();
			put_string(f, s);
			want = done(f);
			f = mem();
			text__json_str(f, s);
			got = done(f);
			if (strcmp(want, got)) {
				CHECK_STR(got, want);
				free(want);
				free(got);
				return;
			}
			free(want);
			free(got);
			f = mem();
			c.f = f;
			c.n = 0;
			csv_str(&c, s);
			want = done(f);
			f = mem();
			text__csv_str(f, s);
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
	RUN(test_json_stack);
	RUN(test_csv_finding);
	RUN(test_csv_block);
	RUN(test_csv_others);
	RUN(test_escaping);
	free(buf);
	UNIT_EXIT();
}
