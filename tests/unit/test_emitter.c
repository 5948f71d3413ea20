/*
 * test_emitter.c - unit tests of findings as events (daemon/emitter.c)
 * on a real database and engine: which flush makes which event (opened,
 * updated on a severity change, resolved; none for a suppressed finding
 * or a flush that failed; opened and resolved for one made and resolved
 * within a flush), and what a JSON line says (the process, its unit, the
 * site and stack as text, the time twice).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "emitter.h"
#include "engine.h"
#include "store.h"
#include "unit.h"

static char dir[64];

struct fixture {
	char db[128], json[128];
	struct store *st;
	struct engine *e;
	struct emitter *em;
	uint64_t proc_id;
};

static int setup(struct fixture *x, const char *name)
{
	struct engine_config cfg = {0};
	struct mw_process_row p = {.pid = 100, .state = MW_PROC_TRACING,
				   .comm = "leaky",
				   .cgroup = "/system.slice/leaky.service"};
	struct mw_site_row s1 = {.ip = 0x1010, .function = "leak_it",
				 .offset = 0x10, .file = "src/leak.c",
				 .line = 7, .module = "/opt/leaky"};
	struct mw_site_row s2 = {.ip = 0x2004, .function = "caller",
				 .offset = 4, .module = "/usr/lib/libx.so.1"};
	struct mw_stack_row stk = {.id = 5, .pid = 100, .nframes = 2,
				   .frames = {0x1010, 0x2004}};

	snprintf(x->db, sizeof(x->db), "%s/%s.db", dir, name);
	snprintf(x->json, sizeof(x->json), "%s/%s.jsonl", dir, name);
	x->st = store__open(x->db, 0);
	x->e = engine__new(&cfg, 1);
	x->em = emitter__new(x->json, false);
	CHECK(x->st && x->e && x->em);
	if (!x->st || !x->e || !x->em)
		return -1;
	CHECK(!engine__attach(x->e, 100, "leaky", 1, &x->proc_id));
	p.id = x->proc_id;
	s1.proc_id = s2.proc_id = stk.proc_id = x->proc_id;
	CHECK(!store__put_process(x->st, &p));
	CHECK(!store__put_site(x->st, &s1));
	CHECK(!store__put_site(x->st, &s2));
	CHECK(!store__put_stack(x->st, &stk));
	return 0;
}

static void teardown(struct fixture *x)
{
	emitter__free(x->em);
	engine__free(x->e);
	store__close(x->st);
}

static struct mw_finding_row finding(const struct fixture *x, uint64_t id,
				     uint32_t sev)
{
	struct mw_finding_row f = {.id = id, .kind = MW_FIND_THREAD_ORPHAN,
				   .pid = 100, .proc_id = x->proc_id,
				   .site = 0x1010, .stack_id = 5,
				   .severity = sev, .count = 3, .bytes = 96,
				   .threads = 2, .found_ts = 1796680271169711995ull,
				   .first_ts = 1796680271169711995ull,
				   .last_ts = 1796680272000000001ull};
	return f;
}

/* One flush handing rows[0 .. n) over, committed unless err. */
static void flush(struct fixture *x, const struct mw_finding_row *rows,
		  size_t n, int err)
{
	emitter__flush_begin(x->em);
	for (size_t i = 0; i < n; i++) {
		if (!err)
			CHECK(!store__put_finding(x->st, &rows[i]));
		emitter__finding(x->em, &rows[i]);
	}
	emitter__flush_end(x->em, err, x->e, x->st);
}

/* The file's lines, each cut to its "event" and "id" (and, when there,
 * "previous_severity" and "severity"): "opened 10", "updated 10 medium
 * high". */
static void summary(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	size_t used = 0;

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char ev[16] = "", prev[16] = "", sev[16] = "";
		unsigned long long id = 0;
		const char *p;
		int n;

		if ((p = strstr(line, "\"event\":\"")))
			sscanf(p, "\"event\":\"%15[a-z]", ev);
		if ((p = strstr(line, ",\"id\":")))
			sscanf(p, ",\"id\":%llu", &id);
		if ((p = strstr(line, "\"previous_severity\":\"")))
			sscanf(p, "\"previous_severity\":\"%15[a-z]", prev);
		if (prev[0] && (p = strstr(line, ",\"severity\":\"")))
			sscanf(p, ",\"severity\":\"%15[a-z]", sev);
		n = snprintf(out + used, len - used, "%s%s %llu%s%s%s%s",
			     used ? "; " : "", ev, id, prev[0] ? " " : "", prev,
			     sev[0] ? " " : "", sev);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	fclose(f);
}

static void test_transitions(void)
{
	struct fixture x;
	struct mw_finding_row r[3];
	char got[1024];

	if (setup(&x, "transitions"))
		goto out;
	/* 10 opens; 11 is suppressed; 12 is made and resolved at once. */
	r[0] = finding(&x, 10, MW_SEV_MEDIUM);
	r[1] = finding(&x, 11, MW_SEV_HIGH);
	snprintf(r[1].suppressed, sizeof(r[1].suppressed), "s.supp:1");
	r[2] = finding(&x, 12, MW_SEV_LOW);
	r[2].resolved_ts = r[2].last_ts;
	flush(&x, r, 3, 0);
	/* Handed again unchanged: nothing. */
	flush(&x, r, 2, 0);
	/* 10 turns high: updated. */
	r[0].severity = MW_SEV_HIGH;
	flush(&x, r, 1, 0);
	/* A flush that failed says nothing: its rows come again. */
	r[0].resolved_ts = r[0].last_ts + 5;
	flush(&x, r, 1, -EIO);
	/* 11 resolves: it never opened as an event, nothing. */
	r[1].resolved_ts = r[1].last_ts;
	flush(&x, &r[1], 1, 0);
	flush(&x, r, 1, 0);
	summary(x.json, got, sizeof(got));
	CHECK_STR(got, "opened 10; opened 12; resolved 12; "
		       "updated 10 medium high; resolved 10");
out:
	teardown(&x);
}

static void test_line_fields(void)
{
	struct fixture x;
	struct mw_finding_row r;
	char line[8192] = "";
	FILE *f;

	if (setup(&x, "fields"))
		goto out;
	r = finding(&x, 20, MW_SEV_HIGH);
	snprintf(r.detail, sizeof(r.detail), "a \"quoted\"\nline");
	flush(&x, &r, 1, 0);
	f = fopen(x.json, "r");
	CHECK(f != NULL);
	if (f) {
		CHECK(fgets(line, sizeof(line), f) != NULL);
		fclose(f);
	}
	CHECK(strstr(line, "{\"event\":\"opened\",\"time\":"
			   "\"2026-12-07T21:51:11.169711995Z\","
			   "\"ts\":\"1796680271169711995\",\"id\":20,") ==
	      line);
	CHECK(strstr(line, "\"state\":\"open\",\"pid\":100,\"comm\":\"leaky\","
			   "\"unit\":\"leaky.service\"") != NULL);
	CHECK(strstr(line, "\"bytes\":96,\"count\":3,\"threads\":2,"
			   "\"site\":\"leak_it+0x10 (leak.c:7)\"") != NULL);
	CHECK(strstr(line, "\"stack\":[\"#0 leak_it+0x10 (leak.c:7)\","
			   "\"#1 caller+0x4 (libx.so.1)\"]}\n") != NULL);
	/* Quotes escaped, the newline made safe: still one line. */
	CHECK(strstr(line, "\"detail\":\"a \\\"quoted\\\"?line\"") != NULL);
	CHECK(strchr(line, '\n') == line + strlen(line) - 1);
out:
	teardown(&x);
}

/* A sink that keeps nothing: the engine's own flushes, to let a process
 * go. */
#define NONE(name, T)                                                          \
	static int none_##name(void *ctx, const T *row)                        \
	{                                                                      \
		(void)ctx;                                                     \
		(void)row;                                                     \
		return 0;                                                      \
	}
NONE(process, struct mw_process_row)
NONE(thread, struct mw_thread_row)
NONE(key, struct mw_key_row)
NONE(binding, struct mw_binding_row)
NONE(block, struct mw_block_row)
NONE(finding, struct mw_finding_row)

static int none_del(void *ctx, uint64_t serial)
{
	(void)ctx;
	(void)serial;
	return 0;
}

static int none_site(void *ctx, uint64_t proc_id, uint32_t pid, uint64_t ip)
{
	(void)ctx;
	(void)proc_id;
	(void)pid;
	(void)ip;
	return 0;
}

static const struct engine_sink none = {
    .process = none_process,
    .thread = none_thread,
    .key = none_key,
    .binding = none_binding,
    .block_add = none_block,
    .block_del = none_del,
    .finding = none_finding,
    .site = none_site,
};

/* A finding of a process the engine let go is forgotten: handed again
 * (it never is, by the engine), it would open anew. */
static void test_forgets_gone_process(void)
{
	struct fixture x;
	struct mw_finding_row r;
	char got[512];

	if (setup(&x, "gone"))
		goto out;
	r = finding(&x, 30, MW_SEV_LOW);
	flush(&x, &r, 1, 0);
	CHECK(!engine__detach(x.e, 100, 2));
	/* Ended processes are let go at the flush after. */
	CHECK(!engine__flush(x.e, 3, &none, NULL));
	CHECK(!engine__flush(x.e, 4, &none, NULL));
	flush(&x, NULL, 0, 0);
	flush(&x, &r, 1, 0);
	summary(x.json, got, sizeof(got));
	CHECK_STR(got, "opened 30; opened 30");
out:
	teardown(&x);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_transitions),
    UNIT_CASE(test_line_fields),
    UNIT_CASE(test_forgets_gone_process),
};

int main(int argc, char **argv)
{
	int rc = unit_args(argc, argv, cases, UNIT_NCASES(cases));
	char cmd[96];

	if (rc >= 0)
		return rc;
	snprintf(dir, sizeof(dir), "/tmp/mw-emitter-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("FAIL: setup: mkdtemp\n");
		return 1;
	}
	unit_run(cases, UNIT_NCASES(cases));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		printf("  note: could not remove %s\n", dir);
	UNIT_EXIT();
}
