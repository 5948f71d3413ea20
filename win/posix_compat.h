/*
 * posix_compat.h - the little POSIX that lib/store.c uses and mingw-w64
 * lacks, force-included (-include) when the store is cross-compiled for
 * Windows, so that store.c itself stays one file for both systems.
 *
 * O_NOFOLLOW has no meaning to the C runtime's _open: on Windows a
 * symbolic link needs a privilege to create, and the database's ACL, not
 * its mode, says who may read it (docs/WINDOWS.md). O_CLOEXEC is the
 * runtime's "not inherited by child processes".
 */
#ifndef MEMWATCH_POSIX_COMPAT_H
#define MEMWATCH_POSIX_COMPAT_H

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>

#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC _O_NOINHERIT
#endif
#endif

#endif
