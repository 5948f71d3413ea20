/*
 * cmd_export.c - memwatchctl export: live blocks by stack as pprof or
 * folded stacks, findings and live blocks as CSV or JSON, to stdout or
 * to a file written whole or not at all (export.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "export.h"
#include "outfile.h"
#include "pprof.h"

static const char *output_name(void)
{
	return opt.output && strcmp(opt.output, "-") ? opt.output : "stdout";
}

static void __attribute__((noreturn)) write_failed(int err)
{
	die(EXIT_RUNTIME, "cannot write '%s': %s", output_name(),
	    strerror(-err));
}

/* The output, -o FILE or stdout, or die. */
static FILE *export_open(void)
{
	FILE *f;
	int err = outfile__open(opt.output, &f);

	if (err)
		write_failed(err);
	return f;
}

/* Complete the output: FILE takes its place only now. */
static void export_close(void)
{
	int err = outfile__commit();

	if (err)
		write_failed(err);
}

/* pprof and folded: live blocks by stack, all read before the output is
 * opened, so that a failed query leaves no file. */
static int export_stacks(const char *fmt)
{
	struct pprof *p = pprof__new(ctl__now_ns());
	struct store *s;
	FILE *f;
	int err;

	if (!p)
		die(EXIT_RUNTIME, "out of memory");
	s = ctl__open_db();
	err = export__profile(s, &opt.filter, p);
	store__close(s);
	if (err == -ENOMEM)
		die(EXIT_RUNTIME, "out of memory");
	if (err)
		ctl__query_failed(err);
	f = export_open();
	if (!strcmp(fmt, "pprof"))
		err = pprof__write(p, f);
	else
		err = pprof__write_folded(p, f, output__function);
	pprof__free(p);
	if (err == -ENOMEM)
		die(EXIT_RUNTIME, "out of memory");
	if (err)
		write_failed(err);
	export_close();
	return 0;
}

/* csv and json of findings or live blocks: every row unless --limit. The
 * JSON is what --json findings and --json live print, by their code. */
static int export_table(const char *fmt, const char *what)
{
	bool findings = !strcmp(what, "findings");
	struct store_filter f;
	struct store *s;
	FILE *out;
	int err;

	if (!findings && strcmp(what, "live"))
		die(EXIT_USAGE,
		    "export %s: unknown table '%s' (findings, live)", fmt,
		    what);
	if (!opt.filter.limit)
		opt.filter.limit = LIMIT_ALL;
	/* The database first: if it cannot be read, no file is made. */
	s = ctl__open_db();
	out = export_open();
	if (!strcmp(fmt, "json")) {
		store__close(s);
		/* Their callbacks write JSON; errors stay as the user
		 * asked (on stdout as JSON only with --json). */
		opt.json = true;
		json__init(&J, out, opt.pretty);
		if (findings)
			cmd_findings(0, NULL);
		else
			cmd_live(0, NULL);
		export_close();
		return 0;
	}
	f = opt.filter;
	if (f.limit == LIMIT_ALL)
		f.limit = 0;
	err = findings ? export__csv_findings(s, &f, out)
		       : export__csv_live(s, &f, out);
	store__close(s);
	if (err && outfile__write_error())
		write_failed(outfile__write_error());
	if (err)
		ctl__query_failed(err);
	export_close();
	return 0;
}

int cmd_export(int argc, char **argv)
{
	const char *fmt = argc ? argv[0] : "";

	if (!strcmp(fmt, "pprof") || !strcmp(fmt, "folded")) {
		if (argc > 1)
			die(EXIT_USAGE, "export %s: unexpected argument '%s'",
			    fmt, argv[1]);
		if (opt.filter.kind || opt.filter.since ||
		    opt.filter.severity || opt.filter.limit)
			die(EXIT_USAGE,
			    "export %s: only --pid selects what it exports",
			    fmt);
		/* A terminal would get binary garbage. */
		if (!strcmp(fmt, "pprof") && !strcmp(output_name(), "stdout") &&
		    isatty(STDOUT_FILENO))
			die(EXIT_USAGE, "export pprof: stdout is a terminal; "
					"write the profile to a file with -o "
					"FILE");
		return export_stacks(fmt);
	}
	if (!strcmp(fmt, "csv") || !strcmp(fmt, "json")) {
		if (argc != 2)
			die(EXIT_USAGE,
			    "usage: memwatchctl export %s findings|live "
			    "[-o FILE]",
			    fmt);
		return export_table(fmt, argv[1]);
	}
	if (!argc)
		die(EXIT_USAGE, "usage: memwatchctl export pprof|folded|"
				"csv|json [findings|live] [-o FILE]");
	die(EXIT_USAGE,
	    "export: unknown format '%s' (pprof, folded, csv, json)", fmt);
}
