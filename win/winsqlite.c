/*
 * winsqlite.c - see winsqlite.h.
 *
 * The names are those of win/winsqlite3.def, the import library's list;
 * tests/meta/windows.sh checks that the two lists agree.
 */
#include <errno.h>
#include <stdio.h>
#include <windows.h>

#include "winsqlite.h"

static const char *const sqlite_names[] = {
    "sqlite3_bind_int",
    "sqlite3_bind_int64",
    "sqlite3_bind_parameter_count",
    "sqlite3_bind_parameter_index",
    "sqlite3_bind_text",
    "sqlite3_busy_timeout",
    "sqlite3_changes64",
    "sqlite3_clear_bindings",
    "sqlite3_close",
    "sqlite3_column_int",
    "sqlite3_column_int64",
    "sqlite3_column_text",
    "sqlite3_db_filename",
    "sqlite3_db_handle",
    "sqlite3_exec",
    "sqlite3_finalize",
    "sqlite3_libversion",
    "sqlite3_open_v2",
    "sqlite3_prepare_v2",
    "sqlite3_prepare_v3",
    "sqlite3_reset",
    "sqlite3_step",
};

int winsqlite__check(char *why, size_t len)
{
	/* System32 only: a winsqlite3.dll planted next to the program or in
	 * the working directory is never loaded. */
	HMODULE h = LoadLibraryExW(L"winsqlite3.dll", NULL,
				   LOAD_LIBRARY_SEARCH_SYSTEM32);

	if (!h) {
		snprintf(why, len,
			 "cannot load 'winsqlite3.dll' (Windows 10 or later "
			 "has it): error %lu",
			 GetLastError());
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(sqlite_names) / sizeof(sqlite_names[0]);
	     i++)
		if (!GetProcAddress(h, sqlite_names[i])) {
			snprintf(why, len,
				 "'winsqlite3.dll' has no '%s': too old a SQLite",
				 sqlite_names[i]);
			return -ENOSYS;
		}
	return 0;
}
