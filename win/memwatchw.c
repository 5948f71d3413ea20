/*
 * memwatchw.c - memwatch's collector for Windows: ETW heap, thread and
 * image events of the processes given, through the same engine and into
 * the same SQLite database as memwatchd on Linux (memwatchctl reads it).
 *
 *   memwatchw --db C:\memwatch\mw.db --pid 1234 [--pid 5678 ...]
 *
 * One main thread owns the merge, the decoder, the engine, dbghelp and
 * the store; the sessions' consumer threads only queue copies of their
 * records (queue_record) under one lock. Every 100 ms the main thread
 * takes the queue, merges, decodes and feeds the engine; every 500 ms it
 * ticks and flushes the engine to the store; every second it reads the
 * sessions' lost-event counters. It stops on Ctrl-C, or when every traced
 * process has exited. docs/WINDOWS.md says how to run it and what was
 * verified where.
 */
#include <windows.h>
#include <psapi.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "etw_decode.h"
#include "etw_session.h"
#include "flush.h"
#include "store.h"
#include "winsqlite.h"
#include "winsym.h"
#include "wintls.h"

#define MAX_PIDS 32
#define LOOP_MS 100
#define FLUSH_MS 500
#define LOSS_MS 1000
/* Records of the two sessions are merged 300 ms late, so a buffer one
 * session delivers late still goes in its place. */
#define REORDER_MS 300

/* --- messages ------------------------------------------------------- */

static bool debug;
static FILE *log_file; /* --log: a service has no console */

/* One line on stderr, "memwatchw: " first (tests read only those), and in
 * the --log file with the time. */
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("memwatchw: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	if (log_file) {
		SYSTEMTIME t;

		GetSystemTime(&t);
		fprintf(log_file, "%04u-%02u-%02uT%02u:%02u:%02uZ ", t.wYear,
			t.wMonth, t.wDay, t.wHour, t.wMinute, t.wSecond);
		va_start(ap, fmt);
		vfprintf(log_file, fmt, ap);
		va_end(ap);
		fputc('\n', log_file);
		fflush(log_file);
	}
}

static void usage(FILE *f)
{
	fputs("usage: memwatchw --db PATH --pid PID [--pid PID ...] [options]\n"
	      "Trace the heap, threads and modules of running processes with\n"
	      "ETW and record their leaks in a memwatch database.\n"
	      "  --db PATH        the SQLite database (created if missing)\n"
	      "  --pid PID        a process to trace (repeatable, at most 32)\n"
	      "  --grace MS       a TLS rule's grace period (default 500)\n"
	      "  --duration S     stop after S seconds (default: Ctrl-C, or\n"
	      "                   when every traced process has exited)\n"
	      "  --service NAME   run as the Windows service NAME (sc.exe)\n"
	      "  --log FILE       also append messages to FILE\n"
	      "  --debug          say what the sessions and decoder count\n"
	      "  -h, --help       this text\n"
	      "Needs an administrator, or a member of Performance Log Users;\n"
	      "stacks need SeSystemProfilePrivilege (docs/WINDOWS.md).\n",
	      f);
}

/* --- the consumer threads' queue --------------------------------------- */

struct qrec {
	struct etw_record r; /* r.data points into bytes */
	uint8_t *bytes;
};

struct queue {
	CRITICAL_SECTION lock;
	struct qrec *v;
	size_t n, cap;
	uint64_t dropped; /* no memory to queue: counted as lost */
};

static struct queue Q;

/* The sessions' callback: copy and return (etw_session.h). */
static void queue_record(void *ctx, const struct etw_record *r)
{
	struct qrec x = {.r = *r};

	if (r->len) {
		x.bytes = malloc(r->len);
		if (!x.bytes) {
			EnterCriticalSection(&Q.lock);
			Q.dropped++;
			LeaveCriticalSection(&Q.lock);
			return;
		}
		memcpy(x.bytes, r->data, r->len);
	}
	x.r.data = x.bytes;
	EnterCriticalSection(&Q.lock);
	if (Q.n == Q.cap) {
		size_t ncap = Q.cap ? Q.cap * 2 : 4096;
		void *n = realloc(Q.v, ncap * sizeof(*Q.v));

		if (!n) {
			Q.dropped++;
			LeaveCriticalSection(&Q.lock);
			free(x.bytes);
			return;
		}
		Q.v = n;
		Q.cap = ncap;
	}
	Q.v[Q.n++] = x;
	LeaveCriticalSection(&Q.lock);
}

/* --- the collector -------------------------------------------------------- */

struct traced {
	uint32_t pid;
	bool exited;
	struct etw_session *heap;
	struct etw_loss loss;
};

struct collector {
	struct etw_clock clock;
	struct etw_merge *merge;
	uint64_t reorder; /* the merge's delay, ticks */
	struct etw_decoder *dec;
	struct engine *engine;
	struct store *store;
	struct winsym *sym;
	struct wintls cls;
	struct etw_session *kproc;
	struct etw_loss kproc_loss;
	struct traced t[MAX_PIDS];
	int nt;
	struct flusher flusher; /* the engine's rows into the store */
};

static volatile LONG stop_requested;

static BOOL WINAPI on_ctrl(DWORD type)
{
	InterlockedExchange(&stop_requested, 1);
	return TRUE;
}

/* Wall time (ns since the Unix epoch) of a raw QPC value: one offset
 * taken at start, as memwatchd does with CLOCK_MONOTONIC. */
static struct etw_clock clock_now(void)
{
	struct etw_clock c;
	LARGE_INTEGER f, q;
	FILETIME ft;
	uint64_t t;

	QueryPerformanceFrequency(&f);
	QueryPerformanceCounter(&q);
	GetSystemTimePreciseAsFileTime(&ft);
	t = (uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime;
	c.freq = (uint64_t)f.QuadPart;
	c.ref_ticks = (uint64_t)q.QuadPart;
	/* FILETIME: 100 ns since 1601. */
	c.ref_ns = (t - 116444736000000000ull) * 100;
	return c;
}

static uint64_t ticks_now(void)
{
	LARGE_INTEGER q;

	QueryPerformanceCounter(&q);
	return (uint64_t)q.QuadPart;
}

/* --- the store sink ----------------------------------------------------- */

static void resolve_site(void *ctx, uint32_t pid, uint64_t ip,
			 struct mw_site_row *row)
{
	(void)ip; /* row->ip has it */
	winsym__resolve(((struct collector *)ctx)->sym, pid, row);
}

static void flush_changed(void *ctx, int err)
{
	if (err)
		say("cannot write to the database: %s", store__strerror(err));
	else
		say("writing to the database again");
}

/* One flush, within the engine's row budget: what is left goes at the
 * loop's next turn (engine__flush_more). */
static void flush(struct collector *c, uint64_t now)
{
	engine__tick(c->engine, now);
	flusher__flush(&c->flusher, now);
}

/* --- processes ------------------------------------------------------------ */

static void basename_utf8(const WCHAR *path, char *out, size_t len)
{
	const WCHAR *b = path;

	for (const WCHAR *s = path; *s; s++)
		if (*s == L'\\' || *s == L'/')
			b = s + 1;
	if (!WideCharToMultiByte(CP_UTF8, 0, b, -1, out, (int)len, NULL, NULL))
		out[0] = '\0';
}

/* The modules pid had loaded before tracing began: into the decoder (to
 * trim stacks and name sites) and the engine (module rules). */
static int list_modules(struct collector *c, uint32_t pid, char *comm,
			size_t len, uint64_t now)
{
	HANDLE h = OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ,
			       FALSE, pid);
	HMODULE mods[1024];
	DWORD need = 0;

	if (!h)
		return -ESRCH;
	if (!EnumProcessModulesEx(h, mods, sizeof(mods), &need,
				  LIST_MODULES_ALL)) {
		CloseHandle(h);
		return -EIO;
	}
	for (DWORD i = 0; i < need / sizeof(HMODULE) && i < 1024; i++) {
		WCHAR wpath[MAX_PATH];
		char path[3 * MAX_PATH];
		MODULEINFO mi;
		struct mw_event ev;

		if (!GetModuleInformation(h, mods[i], &mi, sizeof(mi)) ||
		    !GetModuleFileNameExW(h, mods[i], wpath, MAX_PATH) ||
		    !WideCharToMultiByte(CP_UTF8, 0, wpath, -1, path,
					 sizeof(path), NULL, NULL))
			continue;
		if (i == 0)
			basename_utf8(wpath, comm, len);
		etw_decoder__add_module(c->dec, pid,
					(uint64_t)(uintptr_t)mi.lpBaseOfDll,
					mi.SizeOfImage, path);
		memset(&ev, 0, sizeof(ev));
		ev.type = MW_EV_MODULE_LOAD;
		ev.pid = pid;
		ev.tid = pid; /* no thread loaded it while we watched */
		ev.ts = now;
		ev.addr = ev.old_addr = ev.base =
		    (uint64_t)(uintptr_t)mi.lpBaseOfDll;
		ev.size = mi.SizeOfImage;
		ev.path = path;
		engine__feed(c->engine, &ev);
	}
	CloseHandle(h);
	return 0;
}

/* SeSystemProfilePrivilege: the kernel walks stacks only for a session
 * started with it. */
static bool enable_profile_privilege(void)
{
	TOKEN_PRIVILEGES tp;
	HANDLE tok;
	BOOL ok;

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES,
			      &tok))
		return false;
	tp.PrivilegeCount = 1;
	tp.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
	ok = LookupPrivilegeValueW(NULL, SE_SYSTEM_PROFILE_NAME,
				   &tp.Privileges[0].Luid) &&
	     AdjustTokenPrivileges(tok, FALSE, &tp, 0, NULL, NULL) &&
	     GetLastError() == ERROR_SUCCESS;
	CloseHandle(tok);
	return ok;
}

/* --- the loop
 * ----------------------------------------------------------------- */

static void feed(struct collector *c, const struct mw_event *ev)
{
	int err = engine__feed(c->engine, ev);

	if (err && debug)
		say("event %s of %u: %s", mw_event_type_name(ev->type), ev->pid,
		    strerror(-err));
	if (ev->type != MW_EV_PROC_EXIT)
		return;
	for (int i = 0; i < c->nt; i++)
		if (c->t[i].pid == ev->pid && !c->t[i].exited) {
			c->t[i].exited = true;
			say("process %u exited (code %d)", ev->pid, ev->code);
		}
}

/* Take the queue, merge, decode, feed; now_ticks UINT64_MAX drains. */
static void pump(struct collector *c, uint64_t now_ticks)
{
	struct qrec *v;
	struct etw_record r;
	struct mw_event ev;
	size_t n;
	uint64_t dropped, dec_now;

	EnterCriticalSection(&Q.lock);
	v = Q.v;
	n = Q.n;
	dropped = Q.dropped;
	Q.v = NULL;
	Q.n = Q.cap = 0;
	Q.dropped = 0;
	LeaveCriticalSection(&Q.lock);
	/* The merge takes each payload the consumer threads copied. */
	for (size_t i = 0; i < n; i++)
		if (etw_merge__take(c->merge, &v[i].r, v[i].bytes))
			dropped++;
	free(v);
	if (dropped) {
		memset(&ev, 0, sizeof(ev));
		ev.type = MW_EV_LOST;
		ev.count = dropped;
		feed(c, &ev);
	}
	while (etw_merge__pop(c->merge, now_ticks, &r) == 1) {
		int err = etw_decoder__push(c->dec, &r);

		if (err && err != -EBADMSG)
			say("decoding: %s", strerror(-err));
	}
	/* The decoder's clock is the merge's: what it waits for (a stack,
	 * a ProcessStop) comes out of the merge reorder later. */
	if (now_ticks == UINT64_MAX)
		dec_now = UINT64_MAX;
	else
		dec_now = etw_clock__ns(&c->clock, now_ticks > c->reorder
						       ? now_ticks - c->reorder
						       : 0);
	while (etw_decoder__pop(c->dec, dec_now, &ev) == 1)
		feed(c, &ev);
}

/* Lost events of one session since the last look, into the engine. */
static void count_loss(struct collector *c, struct etw_session *s,
		       struct etw_loss *seen, uint32_t pid, uint64_t now)
{
	uint32_t events, logb, rtb;
	struct mw_event ev;

	if (!s || etw_session__counters(s, &events, &logb, &rtb))
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = MW_EV_LOST;
	ev.pid = pid; /* 0: the kernel-process session, any process */
	ev.ts = now;
	ev.count = etw_loss__update(seen, events, logb, rtb);
	if (ev.count) {
		say("%" PRIu64 " event(s) lost%s", ev.count,
		    pid ? "" : " (threads, images)");
		feed(c, &ev);
	}
}

static bool all_exited(const struct collector *c)
{
	for (int i = 0; i < c->nt; i++)
		if (!c->t[i].exited)
			return false;
	return true;
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s || *end || x > UINT32_MAX || s[0] == '-')
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

/* What the command line asks. */
struct options {
	const char *db;
	uint32_t pids[MAX_PIDS];
	int npids;
	uint32_t grace_ms;
	uint32_t duration;
	const wchar_t *service; /* run as this Windows service */
	const char *log;
};

static struct options O;
static wchar_t service_name[64];

/* 0, or the exit status: 0 for --help, 2 for bad input. */
static int parse_args(int argc, char **argv, bool *done)
{
	static const struct option opts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"pid", required_argument, NULL, 'p'},
	    {"grace", required_argument, NULL, 'g'},
	    {"duration", required_argument, NULL, 't'},
	    {"service", required_argument, NULL, 's'},
	    {"log", required_argument, NULL, 'l'},
	    {"debug", no_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint32_t v;
	int o;

	*done = true;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			O.db = optarg;
			break;
		case 'p':
			if (parse_u32(optarg, &v) || !v) {
				say("bad --pid '%s': a process id", optarg);
				return 2;
			}
			if (O.npids == MAX_PIDS) {
				say("too many --pid: at most %d", MAX_PIDS);
				return 2;
			}
			O.pids[O.npids++] = v;
			break;
		case 'g':
			if (parse_u32(optarg, &O.grace_ms)) {
				say("bad --grace '%s': milliseconds", optarg);
				return 2;
			}
			break;
		case 't':
			if (parse_u32(optarg, &O.duration)) {
				say("bad --duration '%s': seconds", optarg);
				return 2;
			}
			break;
		case 's':
			if (!*optarg ||
			    !MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS,
						 optarg, -1, service_name,
						 sizeof(service_name) /
						     sizeof(service_name[0]))) {
				say("bad --service '%s': a service name",
				    optarg);
				return 2;
			}
			O.service = service_name;
			break;
		case 'l':
			O.log = optarg;
			break;
		case 'D':
			debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			say("unknown option '%s' (see --help)",
			    argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		say("unexpected argument '%s' (see --help)", argv[optind]);
		return 2;
	}
	if (!O.db) {
		say("no --db: where to record (see --help)");
		return 2;
	}
	if (!O.npids) {
		say("no --pid: which process to trace (see --help)");
		return 2;
	}
	*done = false;
	return 0;
}

/* Trace until stopped; the exit status. */
static int run(void)
{
	struct etw_decoder_config dcfg;
	struct engine_config ecfg;
	struct collector c;
	const char *db = O.db;
	uint64_t serial, start, last_flush, last_loss, deadline;
	unsigned long winerr = 0;
	char why[160];
	int err, rc = 0;

	memset(&c, 0, sizeof(c));
	for (int i = 0; i < O.npids; i++)
		c.t[c.nt++].pid = O.pids[i];
	if (winsqlite__check(why, sizeof(why))) {
		say("%s", why);
		return 1;
	}
	InitializeCriticalSection(&Q.lock);
	c.clock = clock_now();
	start = etw_clock__ns(&c.clock, c.clock.ref_ticks);
	c.store = store__open(db, 0);
	if (!c.store) {
		say("database '%s': %s", db, store__strerror(-errno));
		return 1;
	}
	if ((err = store__next_serial(c.store, &serial)) ||
	    (err = store__close_stale(c.store, start))) {
		say("database '%s': %s", db, store__strerror(err));
		store__close(c.store);
		return 1;
	}
	memset(&dcfg, 0, sizeof(dcfg));
	dcfg.clock = c.clock;
	memset(&ecfg, 0, sizeof(ecfg));
	ecfg.grace_ns = (uint64_t)O.grace_ms * 1000000ull;
	ecfg.classify = wintls__classify;
	ecfg.classify_ctx = &c.cls;
	c.reorder = REORDER_MS * c.clock.freq / 1000;
	c.merge = etw_merge__new(c.reorder);
	c.dec = etw_decoder__new(&dcfg);
	c.engine = engine__new(&ecfg, serial);
	c.sym = c.dec ? winsym__new(c.dec) : NULL;
	if (!c.merge || !c.dec || !c.engine || !c.sym) {
		say("out of memory");
		return 1;
	}
	c.cls.name = winsym__name;
	c.cls.ctx = c.sym;
	c.flusher = (struct flusher){
	    .engine = c.engine,
	    .sink = {c.store, resolve_site, NULL, &c},
	    .changed = flush_changed,
	};
	if (!enable_profile_privilege())
		say("no SeSystemProfilePrivilege: allocations have no stacks");
	for (int i = 0; i < c.nt; i++) {
		char comm[MW_COMM_MAX] = "";
		uint64_t id;

		etw_decoder__watch(c.dec, c.t[i].pid, true);
		if (list_modules(&c, c.t[i].pid, comm, sizeof(comm), start))
			say("process %u: cannot list its modules (error %lu)",
			    c.t[i].pid, GetLastError());
		engine__attach(c.engine, c.t[i].pid, comm, start, &id);
		engine__set_allocator(c.engine, c.t[i].pid, "ntdll");
	}
	c.kproc =
	    etw_session__kproc(L"memwatch-kproc", queue_record, &c, &winerr);
	if (!c.kproc) {
		say("cannot start the kernel-process session: %s (error %lu)",
		    strerror(errno), winerr);
		rc = 1;
		goto out;
	}
	for (int i = 0; i < c.nt; i++) {
		WCHAR name[64];

		swprintf(name, 64, L"memwatch-heap-%u", c.t[i].pid);
		c.t[i].heap = etw_session__heap(name, c.t[i].pid, queue_record,
						&c, &winerr);
		if (!c.t[i].heap) {
			say("process %u: cannot start its heap session: %s "
			    "(error %lu)",
			    c.t[i].pid, strerror(errno), winerr);
			rc = 1;
			goto out;
		}
	}
	say("tracing %d process(es) into '%s'", c.nt, db);
	last_flush = last_loss = ticks_now();
	deadline = O.duration ? last_flush + (uint64_t)O.duration * c.clock.freq
			      : UINT64_MAX;
	while (!stop_requested && !all_exited(&c)) {
		uint64_t now;

		Sleep(LOOP_MS);
		now = ticks_now();
		pump(&c, now);
		if (now - last_loss >= LOSS_MS * c.clock.freq / 1000) {
			count_loss(&c, c.kproc, &c.kproc_loss, 0,
				   etw_clock__ns(&c.clock, now));
			for (int i = 0; i < c.nt; i++)
				count_loss(&c, c.t[i].heap, &c.t[i].loss,
					   c.t[i].pid,
					   etw_clock__ns(&c.clock, now));
			last_loss = now;
		}
		if (now - last_flush >= FLUSH_MS * c.clock.freq / 1000 ||
		    engine__flush_more(c.engine)) {
			flush(&c, etw_clock__ns(&c.clock, now));
			last_flush = now;
		}
		if (now >= deadline)
			break;
	}
out:
	for (int i = 0; i < c.nt; i++)
		etw_session__stop(c.t[i].heap);
	etw_session__stop(c.kproc);
	pump(&c, UINT64_MAX);
	{
		uint64_t now = etw_clock__ns(&c.clock, ticks_now());
		struct etw_decoder_stats st;

		for (int i = 0; i < c.nt; i++)
			if (!c.t[i].exited)
				engine__detach(c.engine, c.t[i].pid, now);
		engine__tick(c.engine, now);
		flusher__flush_all(&c.flusher, now);
		etw_decoder__stats(c.dec, &st);
		if (debug)
			say("records %" PRIu64 ", ignored %" PRIu64
			    ", bad %" PRIu64 ", stacks %" PRIu64
			    ", stackless %" PRIu64,
			    st.records, st.ignored, st.bad, st.stacks,
			    st.stackless);
	}
	winsym__free(c.sym);
	engine__free(c.engine);
	etw_decoder__free(c.dec);
	etw_merge__free(c.merge);
	store__close(c.store);
	DeleteCriticalSection(&Q.lock);
	return rc;
}

/* --- as a Windows service ----------------------------------------------- */

static SERVICE_STATUS_HANDLE svc_handle;
static SERVICE_STATUS svc_status;

static void svc_report(DWORD state, DWORD code)
{
	svc_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	svc_status.dwCurrentState = state;
	svc_status.dwControlsAccepted =
	    state == SERVICE_RUNNING
		? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN
		: 0;
	svc_status.dwWin32ExitCode = code ? ERROR_SERVICE_SPECIFIC_ERROR : 0;
	svc_status.dwServiceSpecificExitCode = code;
	svc_status.dwWaitHint = state == SERVICE_RUNNING ? 0 : 10000;
	SetServiceStatus(svc_handle, &svc_status);
}

static DWORD WINAPI svc_control(DWORD control, DWORD type, LPVOID data,
				LPVOID ctx)
{
	if (control == SERVICE_CONTROL_STOP ||
	    control == SERVICE_CONTROL_SHUTDOWN) {
		InterlockedExchange(&stop_requested, 1);
		svc_report(SERVICE_STOP_PENDING, 0);
		return NO_ERROR;
	}
	return control == SERVICE_CONTROL_INTERROGATE
		   ? NO_ERROR
		   : ERROR_CALL_NOT_IMPLEMENTED;
}

/* The service's arguments are the command line's (sc.exe's binPath). */
static VOID WINAPI svc_main(DWORD argc, LPWSTR *argv)
{
	int rc;

	svc_handle =
	    RegisterServiceCtrlHandlerExW(O.service, svc_control, NULL);
	if (!svc_handle) {
		say("service '%ls': cannot register its handler: error %lu",
		    O.service, GetLastError());
		return;
	}
	svc_report(SERVICE_RUNNING, 0);
	rc = run();
	svc_report(SERVICE_STOPPED, (DWORD)rc);
}

int main(int argc, char **argv)
{
	bool done;
	int rc = parse_args(argc, argv, &done);

	if (done)
		return rc;
	if (O.log && !(log_file = fopen(O.log, "a"))) {
		say("cannot open --log '%s': %s", O.log, strerror(errno));
		return 1;
	}
	if (O.service) {
		SERVICE_TABLE_ENTRYW table[] = {
		    {(LPWSTR)O.service, svc_main},
		    {NULL, NULL},
		};

		if (!StartServiceCtrlDispatcherW(table)) {
			say("--service: not started by the service manager "
			    "(error %lu)",
			    GetLastError());
			return 1;
		}
		return svc_status.dwServiceSpecificExitCode;
	}
	SetConsoleCtrlHandler(on_ctrl, TRUE);
	return run();
}
