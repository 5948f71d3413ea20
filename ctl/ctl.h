/*
 * ctl.h - what memwatchctl's own pieces share, as bpftool's main.h: the
 * options, the JSON writer, errors and the database (ctl.c), the control
 * socket's client (client.c), tables and the formats of times and sites
 * (output.c), and each command's entry point (cmd_*.c).
 *
 * Calls go one way only: memwatchctl.c (main, options, the command
 * table) calls the commands; a command calls client.c, output.c, ctl.c
 * and the exports (export.h, pprof.h, outfile.h), import calls
 * win/etl_import.h (the trace through engine and store), and export json calls
 * findings' and live's own code; output.c calls table.c; table.c,
 * output.c and client.c call ctl.c.
 * Nothing calls back up.
 */
#ifndef MEMWATCH_CTL_H
#define MEMWATCH_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filter.h"
#include "json.h"
#include "rows.h"
#include "store.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* --limit all: no limit, for the commands that have a default one. */
#define LIMIT_ALL FILTER_LIMIT_ALL

/* --- ctl.c ---------------------------------------------------------- */

/* The command line: main sets it, the commands read it. */
struct ctl_opt {
	const char *db;
	const char *socket;
	bool json;
	bool json_errors; /* --json: errors as JSON on stdout too */
	bool pretty;
	bool tls;	    /* attach: TLS only */
	bool human;	    /* -H: sizes in tables as 1.5M */
	const char *output; /* export: -o FILE, NULL for stdout */
	const char *note;   /* ack: --note TEXT, NULL: none */
	/* Tables (table.c): -o COL,... (the columns, in that order; NULL:
	 * all), --noheadings, --raw. */
	const char *columns;
	bool noheadings;
	bool raw;
	struct store_filter filter;
	struct store_top top; /* top: --by, --per */
};

extern struct ctl_opt opt;
/* The --json output: stdout, or export json's file. */
extern struct json J;

/* Print "memwatchctl: MSG" on stderr (and {"error": MSG} on stdout with
 * --json) and exit with code. */
void __attribute__((noreturn, format(printf, 2, 3)))
die(int code, const char *fmt, ...);
/* At exit (atexit), after whatever the command printed: standard output
 * flushed and closed, and if any write to it failed, one line on stderr
 * and exit status 1 (as coreutils' close_stdout). */
void ctl__close_stdout(void);
/* The database, read-only, or die. */
struct store *ctl__open_db(void);
/* Die of a failed query's error. */
void ctl__query_failed(int err);
/* Die unless a command that takes no arguments got none. */
void ctl__no_args(const char *cmd, int argc);
/* The time, ns since the epoch. */
uint64_t ctl__now_ns(void);

/* --- client.c ------------------------------------------------------- */

/*
 * One request, one reply. Returns the reply status (0 or -errno from the
 * daemon), with an error message in msg; or dies on transport errors
 * unless quiet_connect and the daemon is simply not there (-ENOENT,
 * -ECONNREFUSED returned as -EHOSTDOWN).
 */
int client__request(uint16_t type, const void *payload, uint32_t len,
		    void *reply, uint32_t reply_len, char *msg, size_t msglen,
		    bool quiet_connect);

/* --- table.c -------------------------------------------------------- */

#define TABLE_MAX_COLS 15

/* Rows of ncols cells, head their names; zero-initialised but ncols,
 * head and perhaps shown. */
struct table {
	int ncols;
	const char *head[TABLE_MAX_COLS];
	/* The columns printed unless -o names others, as -o would name
	 * them; NULL: every one. The others are there for -o to ask. */
	const char *shown;
	char **cells;
	size_t nrows, cap;
};

/* Add a row: ncols strings, copied. */
void table__row(struct table *t, ...);
/* Print (libsmartcols: aligned by the terminal's width of each cell;
 * the columns of -o, --noheadings, --raw) and free the rows. Dies of a
 * column -o names and t has not. */
void table__print(struct table *t);

/* --- output.c ------------------------------------------------------- */

/*
 * A listing's output: output__list_begin before the query (a JSON array
 * opens), output__list_end after it with the query's result, the store
 * closed: dies of an error, else closes the array or prints the table.
 */
void output__list_begin(void);
void output__list_end(struct table *t, int err);

/* A time for people (local, to the second); "-" for 0. */
void output__time(char *buf, size_t len, uint64_t ns);
/* A size in bytes for a table: the number, or with -H as ls -h and du -h
 * print it (binary units, K = 1024, rounded up: 1023, 1.0K, 1.5M, 12G). */
void output__size(char *buf, size_t len, uint64_t bytes);
/* How long before ref ts was: 850ms, 12.3s, 5m03s, 2h01m, 3d04h. */
void output__age(char *buf, size_t len, uint64_t ref, uint64_t ts);
/* A function name for people: C++ names demangled into buf. */
const char *output__function(const char *name, char *buf, size_t len);
/* A call site for a terminal: function+offset (file:line), as far as
 * site (may be NULL) knows it. */
void output__site(char *buf, size_t len, uint64_t ip,
		  const struct mw_site_row *site);

/* --- the commands: cmd_*.c ------------------------------------------ */

/* argc and argv are the command's arguments, its name left out. Return
 * the exit status, or exit with die(). */
int cmd_status(int argc, char **argv);
int cmd_threads(int argc, char **argv);
int cmd_thread(int argc, char **argv);
int cmd_live(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_findings(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_ack(int argc, char **argv);
int cmd_import(int argc, char **argv);
/* -V, --version: memwatch's version, the libbpf it was built with, and
 * the kernel features the running memwatchd found. */
int cmd_version(void);

#endif
