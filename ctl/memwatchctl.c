/*
 * memwatchctl.c - query memwatch's database and control memwatchd.
 *
 *   memwatchctl [OPTIONS] COMMAND [ARGS]
 *
 * Queries (status, threads, live, keys, findings, explain, top, thread)
 * and export read the database read-only, so they work while the daemon
 * runs and after it stopped.
 * attach, detach, reload, ack and the daemon part of status go through the
 * control socket. import writes a new database from an ETW trace file
 * (cmd_import.c). Tables for people; -j/--json for machines, errors
 * included: with --json an error is also printed as {"error": "..."} on
 * stdout.
 * Exit status: 0 ok, 1 runtime error, 2 usage error.
 *
 * Here: main, the options and the command table. Each command is in a
 * cmd_*.c of its subject; ctl.h says what the pieces share.
 */
#include <getopt.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "filter.h"
#include "paths.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memwatchctl [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Commands (read the database; work while memwatchd runs and "
		"after):\n"
		"  help             this help\n"
		"  status           the daemon (if running) and traced "
		"processes\n"
		"  threads          per-thread counters\n"
		"  live             live blocks older than the persist age,"
		"\n                   largest first (100 unless --limit)\n"
		"  keys             pthread keys and their bindings\n"
		"  findings         leaks found and still open, neither "
		"suppressed nor\n                   acknowledged (--resolved:"
		" those whose evidence\n                   went away; --state"
		" STATE; --all: every one),\n                   the last seen"
		" first (--sort changes it)\n"
		"  explain ID       one finding: its evidence and symbolized "
		"stack\n"
		"  top              allocation sites by the live bytes or "
		"blocks they hold\n                   (20 unless --limit); "
		"OLDEST: age of the oldest block;\n                   "
		"NEW_10S, PREV_10S: bytes allocated in the last 10 s\n"
		"                   of tracing and in the 10 s before, "
		"counting only\n                   blocks still live\n"
		"  thread TID       one thread: counters, TLS bindings, its "
		"largest live\n                   blocks (20 unless --limit); "
		"every thread with that\n                   tid, newest "
		"first, unless --pid narrows it\n"
		"  export pprof     live bytes and blocks by stack, as gzipped "
		"pprof\n                   (go tool pprof -top FILE); to "
		"stdout unless a terminal\n"
		"  export folded    the same as folded stacks, for "
		"flamegraph.pl, speedscope\n"
		"  export csv|json findings|live\n"
		"                   findings or every live block (unless "
		"--limit), as CSV\n                   or as --json prints "
		"them\n"
		"\n"
		"Commands (write a new database):\n"
		"  import FILE.etl  an ETW trace recorded on Windows into the "
		"database --db\n                   names (new, or an empty "
		"file): its heap, thread\n                   and process "
		"events through memwatchw's decoder\n"
		"\n"
#ifdef _WIN32
		"Commands (talk to memwatchd; Linux only, as memwatchw has\n"
		"no control socket):\n"
#else
		"Commands (talk to memwatchd):\n"
#endif
		"  attach PID       start tracing a running process (with "
		"--tls:\n                   its TLS only, malloc untouched)\n"
		"  attach exe PATH | comm NAME | cgroup PATH | unit NAME\n"
		"                   the same for every process running PATH,"
		"\n                   named NAME, or in a group, now and "
		"started later\n"
		"  detach PID       stop tracing it\n"
		"  detach exe PATH | comm NAME | cgroup PATH | unit NAME\n"
		"                   stop watching that target and tracing "
		"its processes\n"
		"  reload           memwatchd reads its configuration again "
		"(as on SIGHUP)\n"
		"  ack ID           acknowledge finding ID: kept, never "
		"listed as open\n                   again (--note TEXT: "
		"why)\n"
		"\n"
		"Options:\n"
		"  --db PATH        database (default %s)\n"
		"  --socket PATH    control socket (default %s)\n"
		"  -j, --json       JSON output, errors included\n"
		"  -p, --pretty     indented JSON (implies --json)\n"
		"  -H, --human-readable\n"
		"                   sizes in tables as ls -h prints them: "
		"1.5K, 12M,\n                   binary units (K = 1024), "
		"rounded up\n"
		"  --pid PID        only this process\n"
		"  -o FILE          export: write FILE (complete or not at "
		"all), not stdout\n"
		"  -o COL,...       the other commands: the table's columns to "
		"print, in\n                   that order, named as its "
		"heading names them\n"
		"  -n, --noheadings tables without their heading line\n"
		"  -r, --raw        tables unaligned, one space between cells, "
		"and blanks\n                   and unsafe bytes in a cell "
		"escaped (\\x20), for scripts\n"
		"  --kind KIND      findings of this kind: tls-outlived-thread,"
		"\n                   tls-outlived-key, tls-overwritten, "
		"thread-orphan,\n                   tls-outlived-module, "
		"thread-growth, site-growth,\n                   "
		"allocator-retention, bad-free, allocator-race\n"
		"  --severity SEV   findings at least this severe (low, "
		"medium, high)\n"
		"  --since WHEN     findings last seen at or after WHEN (so a "
		"finding\n                   found earlier that still grows "
		"is kept): a Unix\n                   time in seconds, or a "
		"duration ago: 500ms, 30s, 5m, 2h,\n                   1d\n"
		"  --resolved       findings, export: the resolved findings "
		"only\n"
		"  --all            findings, export: every finding, whatever "
		"its state\n"
		"  --state STATE    findings, export: those in STATE: open, "
		"suppressed,\n                   acknowledged, resolved or "
		"all\n"
		"  --note TEXT      ack: the note kept with it\n"
		"  --limit N|all    at most N rows, the first N in the order "
		"shown (live:\n                   100 unless --limit)\n"
		"  --sort WHAT      findings, export: time (last seen, the "
		"default),\n                   bytes or count, the largest "
		"first\n"
		"  --by WHAT        top: rank sites by live bytes or blocks "
		"(bytes,\n                   blocks; default bytes)\n"
		"  --per WHAT       top: one row per site of each process or "
		"of each\n                   thread (process, thread; "
		"default process)\n"
		"  -V, --version    print the version, the libbpf memwatch "
		"was built with,\n                   and the kernel features "
		"the running memwatchd found\n"
		"  -h, --help       this help (also: memwatchctl help)\n",
		MW_DEFAULT_DB, MW_DEFAULT_SOCKET);
}

/* A query option (filter.h), or exit with its error. */
static void set_filter(const char *name, const char *arg)
{
	char msg[512];

	if (filter__set(&opt.filter, &opt.top, name, arg,
			(uint64_t)time(NULL), msg, sizeof(msg)))
		die(EXIT_USAGE, "%s", msg);
}

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};

static const struct cmd cmds[] = {
	{"status", cmd_status}, {"threads", cmd_threads},
	{"live", cmd_live},	{"keys", cmd_keys},
	{"findings", cmd_findings}, {"explain", cmd_explain},
	{"top", cmd_top},	{"thread", cmd_thread},
	{"export", cmd_export},
	{"attach", cmd_attach},
	{"detach", cmd_detach},
	{"reload", cmd_reload},
	{"ack", cmd_ack},
	{"import", cmd_import},
};

int main(int argc, char **argv)
{
	enum { OPT_DB = 256, OPT_SOCKET, OPT_PID, OPT_KIND, OPT_SINCE,
	       OPT_LIMIT, OPT_SEVERITY, OPT_SORT, OPT_BY, OPT_PER, OPT_TLS,
	       OPT_RESOLVED, OPT_ALL, OPT_STATE, OPT_NOTE };
	static const struct option longopts[] = {
		{"db", required_argument, NULL, OPT_DB},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"json", no_argument, NULL, 'j'},
		{"pretty", no_argument, NULL, 'p'},
		{"pid", required_argument, NULL, OPT_PID},
		{"kind", required_argument, NULL, OPT_KIND},
		{"since", required_argument, NULL, OPT_SINCE},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"severity", required_argument, NULL, OPT_SEVERITY},
		{"resolved", no_argument, NULL, OPT_RESOLVED},
		{"all", no_argument, NULL, OPT_ALL},
		{"state", required_argument, NULL, OPT_STATE},
		{"note", required_argument, NULL, OPT_NOTE},
		{"tls", no_argument, NULL, OPT_TLS},
		{"sort", required_argument, NULL, OPT_SORT},
		{"by", required_argument, NULL, OPT_BY},
		{"per", required_argument, NULL, OPT_PER},
		{"output", required_argument, NULL, 'o'},
		{"noheadings", no_argument, NULL, 'n'},
		{"raw", no_argument, NULL, 'r'},
		{"human-readable", no_argument, NULL, 'H'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *kind = NULL, *since = NULL;
	bool version = false;
	int c;

#ifdef _WIN32
	/* The same bytes as on Linux, "\n" not "\r\n" (and pprof is binary):
	 * what a script reads does not depend on where memwatchctl ran. */
	_setmode(_fileno(stdout), _O_BINARY);
#endif
	/* Output that did not all reach its file is an error, whatever the
	 * command: memwatchctl -j live > /dev/full must not exit 0. */
	atexit(ctl__close_stdout);
	/* The terminal's characters: libsmartcols measures a cell by their
	 * width (a CJK character takes two columns), in the user's locale.
	 * LC_CTYPE alone: numbers and times keep one format everywhere. */
	setlocale(LC_CTYPE, "");
	opt.db = MW_DEFAULT_DB;
	opt.socket = MW_DEFAULT_SOCKET;
	/* findings and export list the open ones unless told otherwise,
	 * the last seen first: with --limit N, the N newest. */
	opt.filter.state = STORE_FINDINGS_OPEN;
	opt.filter.sort = STORE_SORT_TIME;
	/* --json is honoured for errors even in the option parsing below. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j") ||
		    !strcmp(argv[i], "--pretty") || !strcmp(argv[i], "-p"))
			opt.json = opt.json_errors = true;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jpHnrVho:", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case OPT_DB:
			opt.db = optarg;
			break;
		case OPT_SOCKET:
			opt.socket = optarg;
			break;
		case 'j':
			opt.json = opt.json_errors = true;
			break;
		case 'p':
			opt.json = opt.json_errors = opt.pretty = true;
			break;
		case 'o':
			opt.output = optarg;
			break;
		case OPT_PID:
			set_filter("pid", optarg);
			break;
		case OPT_KIND:
			kind = optarg;
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_TLS:
			opt.tls = true;
			break;
		case OPT_SEVERITY:
			set_filter("severity", optarg);
			break;
		case OPT_RESOLVED:
			set_filter("state", "resolved");
			break;
		case OPT_ALL:
			set_filter("state", "all");
			break;
		case OPT_STATE:
			set_filter("state", optarg);
			break;
		case OPT_NOTE:
			opt.note = optarg;
			break;
		case OPT_LIMIT:
			set_filter("limit", optarg);
			break;
		case OPT_SORT:
			set_filter("sort", optarg);
			break;
		case OPT_BY:
			set_filter("by", optarg);
			break;
		case OPT_PER:
			set_filter("per", optarg);
			break;
		case 'H':
			opt.human = true;
			break;
		case 'n':
			opt.noheadings = true;
			break;
		case 'r':
			opt.raw = true;
			break;
		case 'V':
			/* After every option: --socket and --json count. */
			version = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (optopt)
				die(EXIT_USAGE,
				    "unknown or incomplete option '-%c' (try "
				    "'memwatchctl --help')",
				    optopt);
			die(EXIT_USAGE,
			    "unknown or incomplete option '%s' (try "
			    "'memwatchctl --help')",
			    argv[optind - 1]);
		}
	}
	if (kind)
		set_filter("kind", kind);
	if (since)
		set_filter("since", since);
	json__init(&J, stdout, opt.pretty);
	if (version)
		return cmd_version();
	if (optind >= argc)
		die(EXIT_USAGE, "no command given (try 'memwatchctl --help')");
	/* As git help and ip help: the help as a command too. */
	if (!strcmp(argv[optind], "help")) {
		ctl__no_args("help", argc - optind - 1);
		usage(stdout);
		return 0;
	}
	/* -o is export's file, and the other commands' columns, as
	 * lsblk's -o. */
	if (opt.output && strcmp(argv[optind], "export")) {
		static const char *const tables[] = {"status", "threads",
						     "live",   "keys",
						     "findings", "top"};
		bool table = false;

		for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
			table |= !strcmp(argv[optind], tables[i]);
		if (!table)
			die(EXIT_USAGE,
			    "-o: for export's file, or the columns of "
			    "status, threads, live, keys, findings, top");
		if (opt.json)
			die(EXIT_USAGE, "-o: columns of a table, not of "
					"--json (which prints every field)");
		opt.columns = opt.output;
		opt.output = NULL;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[optind], cmds[i].name))
			return cmds[i].func(argc - optind - 1,
					    argv + optind + 1);
	die(EXIT_USAGE, "unknown command '%s' (try 'memwatchctl --help')",
	    argv[optind]);
}
