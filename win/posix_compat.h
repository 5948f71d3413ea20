/*
 * posix_compat.h - the little POSIX that store/ and ctl/ use and
 * mingw-w64 lacks, force-included (-include) when they are cross-compiled
 * for Windows, so that each stays one file for both systems.
 *
 * O_NOFOLLOW has no meaning to the C runtime's _open: on Windows a
 * symbolic link needs a privilege to create, and the database's ACL, not
 * its mode, says who may read it (docs/WINDOWS.md). O_CLOEXEC is the
 * runtime's "not inherited by child processes".
 */
#ifndef MEMWATCH_POSIX_COMPAT_H
#define MEMWATCH_POSIX_COMPAT_H

#ifdef _WIN32
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC _O_NOINHERIT
#endif
/* No symbolic links to the C runtime either: lstat is stat. */
#define lstat stat
#ifndef S_ISLNK
#define S_ISLNK(m) 0
#endif

/* The C runtime's localtime is thread-local already; localtime_s has its
 * arguments the other way round and returns an errno. */
static inline struct tm *compat_localtime_r(const time_t *t, struct tm *tm)
{
	return localtime_s(tm, t) ? NULL : tm;
}
#define localtime_r compat_localtime_r

static inline void *compat_reallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n * size);
}
#define reallocarray compat_reallocarray

/* An absolute path; unlike POSIX's, the file need not exist. */
static inline char *compat_realpath(const char *path, char *resolved)
{
	return _fullpath(resolved, path, 260);
}
#define realpath compat_realpath

#define fsync _commit

/* The store's "the database file was replaced"; no errno of Windows'. */
#ifndef ESTALE
#define ESTALE 116
#endif

/* memwatchctl's "the daemon is not there"; Winsock's number for it. */
#ifndef EHOSTDOWN
#define EHOSTDOWN 10064
#endif
#endif

#endif
