/*
 * cmd_import.c - memwatchctl import FILE.etl --db OUT.db: an ETW trace
 * recorded on a Windows machine into a new memwatch database, through
 * the Windows collector's decoder, the engine and the store
 * (win/etl_import.h), for the other commands to read.
 *
 * The database is new, whole or not at all: it is written under a
 * temporary name next to OUT.db (OUT.db.import-PID) and renamed to OUT.db
 * once the import succeeded; on any error, or a signal that ends the
 * program, the temporary files go. An OUT.db that exists is replaced only
 * if it is empty: importing into a collector's database would mix two
 * clocks and two sets of ids.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <io.h>
#include <process.h>
#include <windows.h>

#include "winsqlite.h"
#define getpid _getpid
#define unlink _unlink
#else
#include <unistd.h>
#endif

#include "ctl.h"
#include "etl_import.h"
#include "outfile.h"
#include "paths.h"

/* The temporary database and the files SQLite keeps beside it, named
 * before any is made, so that a signal handler only unlinks. */
#define NTMP 4
static char tmp_db[NTMP][4096];

static void remove_tmp(void)
{
	for (int i = 0; i < NTMP; i++)
		if (tmp_db[i][0])
			unlink(tmp_db[i]);
}

static int name_tmp(const char *db)
{
	static const char *const ext[NTMP] = {"", "-journal", "-wal", "-shm"};

	for (int i = 0; i < NTMP; i++)
		if ((size_t)snprintf(tmp_db[i], sizeof(tmp_db[i]),
				     "%s.import-%d%s", db, (int)getpid(),
				     ext[i]) >= sizeof(tmp_db[i])) {
			memset(tmp_db, 0, sizeof(tmp_db));
			return -ENAMETOOLONG;
		}
	return 0;
}

static void on_signal(int sig)
{
	remove_tmp();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void summary(const char *file, const struct etl_import_stats *s)
{
	double span = (double)(s->last_ns - s->first_ns) / 1e9;

	if (opt.json) {
		json__open(&J, '{');
		json__key(&J, "file");
		json__str(&J, file);
		json__key(&J, "database");
		json__str(&J, opt.db);
		json__key(&J, "events");
		json__u64(&J, s->events);
		json__key(&J, "decoded");
		json__u64(&J, s->decoded);
		json__key(&J, "processes");
		json__u64(&J, s->processes);
		json__key(&J, "live_blocks");
		json__u64(&J, s->live_blocks);
		json__key(&J, "findings");
		json__u64(&J, s->findings);
		json__key(&J, "withheld");
		json__u64(&J, s->withheld);
		json__key(&J, "lost");
		json__u64(&J, s->lost);
		json__key(&J, "first_ns");
		json__u64(&J, s->first_ns);
		json__key(&J, "last_ns");
		json__u64(&J, s->last_ns);
		json__close(&J, '}');
		json__end(&J);
		return;
	}
	printf("imported %s into %s: %" PRIu64 " events over %.3f s, %" PRIu64
	       " normalized; %" PRIu64 " processes, %" PRIu64
	       " live blocks at the end, %" PRIu64 " findings (%" PRIu64
	       " withheld), %" PRIu64 " events lost\n",
	       file, opt.db, s->events, span, s->decoded, s->processes,
	       s->live_blocks, s->findings, s->withheld, s->lost);
}

int cmd_import(int argc, char **argv)
{
	struct etl_import_stats stats;
	struct store *s;
	struct stat sb;
	char why[512];
	int err;

	if (argc != 1)
		die(EXIT_USAGE, "usage: memwatchctl import FILE.etl --db OUT.db");
	if (!strcmp(opt.db, MW_DEFAULT_DB))
		die(EXIT_USAGE, "import: name the new database with --db "
				"(it writes one of its own, never %s)",
		    MW_DEFAULT_DB);
	if (!stat(opt.db, &sb) && (!S_ISREG(sb.st_mode) || sb.st_size))
		die(EXIT_RUNTIME,
		    "import: database '%s' exists: import writes a new one "
		    "(remove it, or name another)",
		    opt.db);
	if (stat(argv[0], &sb))
		die(EXIT_RUNTIME, "import: %s: %s", argv[0], strerror(errno));
#ifdef _WIN32
	if (winsqlite__check(why, sizeof(why)))
		die(EXIT_RUNTIME, "%s", why);
#endif
	if (name_tmp(opt.db))
		die(EXIT_USAGE, "import: --db '%s': too long", opt.db);
	atexit(remove_tmp);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	remove_tmp(); /* a crashed import's, of this pid */
	s = store__open(tmp_db[0], 0);
	if (!s)
		die(EXIT_RUNTIME, "import: database '%s': %s", opt.db,
		    store__strerror(-errno));
	err = etl_import__run(argv[0], s, &stats, why, sizeof(why));
	store__close(s);
	if (err)
		die(EXIT_RUNTIME, "import: %s: %s", argv[0], why);
	if (outfile__rename(tmp_db[0], opt.db))
		die(EXIT_RUNTIME, "import: database '%s': %s", opt.db,
		    strerror(errno));
	tmp_db[0][0] = '\0';
	summary(argv[0], &stats);
	return 0;
}
