/*
 * winsqlite.h - the host's SQLite on Windows: winsqlite3.dll, which
 * Windows 10 and later ship in System32. memwatchw and memwatchctl link it
 * delay-loaded (win/winsqlite3.def), so a missing DLL or function would
 * fault at its first call; they check here first and say what is missing.
 */
#ifndef MEMWATCH_WINSQLITE_H
#define MEMWATCH_WINSQLITE_H

#include <stddef.h>

/* 0 if winsqlite3.dll loads and exports every function the store calls;
 * else -ENOENT (it does not load) or -ENOSYS (it lacks a function: an
 * old Windows 10's SQLite), with why, in why, naming what is missing. */
int winsqlite__check(char *why, size_t len);

#endif
