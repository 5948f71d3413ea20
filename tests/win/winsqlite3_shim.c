/*
 * winsqlite3_shim.c - a stand-in for winsqlite3.dll under wine, for tests
 * only. Wine has no winsqlite3.dll, and Debian no SQLite built for
 * Windows; this Winelib DLL (built with winegcc, exports in
 * winsqlite3.spec) passes each call the Windows store makes to Debian's
 * libsqlite3, so that memwatchctl.exe and the store run under wine on a
 * real SQLite file. Never shipped.
 *
 * What differs between the two sides and is handled here: the calling
 * convention (CDECL is the Windows x64 one; winegcc compiles the rest
 * for Linux), and file names, which are DOS paths on the Windows side
 * and Unix paths on this one. A destructor or callback pointer would be
 * Windows code that Linux SQLite cannot call: only the special values
 * SQLITE_STATIC and SQLITE_TRANSIENT, and no exec callback, are taken
 * (SQLITE_MISUSE otherwise; store/ passes nothing else).
 */
#include <stdlib.h>
#include <string.h>
#include <windef.h>
#include <winbase.h>
#include <winnls.h>
#include <sqlite3.h>

char *CDECL wine_get_unix_file_name(const WCHAR *dos);
WCHAR *CDECL wine_get_dos_file_name(const char *unix_name);

int CDECL shim_bind_int(sqlite3_stmt *st, int i, int v)
{
	return sqlite3_bind_int(st, i, v);
}

int CDECL shim_bind_int64(sqlite3_stmt *st, int i, sqlite3_int64 v)
{
	return sqlite3_bind_int64(st, i, v);
}

int CDECL shim_bind_parameter_count(sqlite3_stmt *st)
{
	return sqlite3_bind_parameter_count(st);
}

int CDECL shim_bind_parameter_index(sqlite3_stmt *st, const char *name)
{
	return sqlite3_bind_parameter_index(st, name);
}

int CDECL shim_bind_text(sqlite3_stmt *st, int i, const char *s, int n,
			 void (*destroy)(void *))
{
	if (destroy != SQLITE_STATIC && destroy != SQLITE_TRANSIENT)
		return SQLITE_MISUSE;
	return sqlite3_bind_text(st, i, s, n, destroy);
}

int CDECL shim_busy_timeout(sqlite3 *db, int ms)
{
	return sqlite3_busy_timeout(db, ms);
}

sqlite3_int64 CDECL shim_changes64(sqlite3 *db)
{
	return sqlite3_changes64(db);
}

int CDECL shim_clear_bindings(sqlite3_stmt *st)
{
	return sqlite3_clear_bindings(st);
}

int CDECL shim_close(sqlite3 *db)
{
	return sqlite3_close(db);
}

int CDECL shim_column_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_int(st, i);
}

sqlite3_int64 CDECL shim_column_int64(sqlite3_stmt *st, int i)
{
	return sqlite3_column_int64(st, i);
}

const unsigned char *CDECL shim_column_text(sqlite3_stmt *st, int i)
{
	return sqlite3_column_text(st, i);
}

/* The DOS name of the file, in UTF-8 as on Windows; kept until the next
 * call (the store reads it at once). */
const char *CDECL shim_db_filename(sqlite3 *db, const char *name)
{
	static char dos[4096];
	const char *u = sqlite3_db_filename(db, name);
	WCHAR *w;

	if (!u || !u[0])
		return u;
	w = wine_get_dos_file_name(u);
	if (!w)
		return NULL;
	if (!WideCharToMultiByte(CP_UTF8, 0, w, -1, dos, sizeof(dos), NULL,
				 NULL))
		dos[0] = '\0';
	HeapFree(GetProcessHeap(), 0, w);
	return dos;
}

sqlite3 *CDECL shim_db_handle(sqlite3_stmt *st)
{
	return sqlite3_db_handle(st);
}

int CDECL shim_exec(sqlite3 *db, const char *sql, void *cb, void *arg,
		    char **errmsg)
{
	if (cb || errmsg)
		return SQLITE_MISUSE;
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

int CDECL shim_finalize(sqlite3_stmt *st)
{
	return sqlite3_finalize(st);
}

const char *CDECL shim_libversion(void)
{
	return sqlite3_libversion();
}

int CDECL shim_open_v2(const char *file, sqlite3 **db, int flags,
		       const char *vfs)
{
	WCHAR w[4096];
	char *u;
	int rc;

	if (!MultiByteToWideChar(CP_UTF8, 0, file, -1, w, 4096) ||
	    !(u = wine_get_unix_file_name(w))) {
		*db = NULL;
		return SQLITE_CANTOPEN;
	}
	rc = sqlite3_open_v2(u, db, flags, vfs);
	HeapFree(GetProcessHeap(), 0, u);
	return rc;
}

int CDECL shim_prepare_v2(sqlite3 *db, const char *sql, int n,
			  sqlite3_stmt **st, const char **tail)
{
	return sqlite3_prepare_v2(db, sql, n, st, tail);
}

int CDECL shim_prepare_v3(sqlite3 *db, const char *sql, int n,
			  unsigned int flags, sqlite3_stmt **st,
			  const char **tail)
{
	return sqlite3_prepare_v3(db, sql, n, flags, st, tail);
}

int CDECL shim_reset(sqlite3_stmt *st)
{
	return sqlite3_reset(st);
}

int CDECL shim_step(sqlite3_stmt *st)
{
	return sqlite3_step(st);
}
