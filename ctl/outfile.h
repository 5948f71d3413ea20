/*
 * outfile.h - the file memwatchctl export writes, whole or not at all.
 *
 * The output is written atomically: into a temporary file next to the
 * target, renamed over it once complete. Whatever ends the program
 * before that (an error, exit(), SIGINT, SIGTERM, SIGHUP) removes the
 * temporary file, so a failed export leaves nothing half-written.
 *
 * Errors are negative errnos.
 */
#ifndef MEMWATCH_OUTFILE_H
#define MEMWATCH_OUTFILE_H

#include <stdio.h>

/* Open the output: path NULL or "-" is stdout; an existing device or
 * fifo is written directly; else a temporary file that outfile__commit
 * renames to path. -EISDIR, -ENOENT, -ENOTDIR, ... as the OS said. One
 * output at a time. */
int outfile__open(const char *path, FILE **out);
/* Flush and close it, and rename it into place (stdout: flush only).
 * On error the temporary file is removed. */
int outfile__commit(void);

/* rename(2) from over to, as on POSIX also on Windows (MoveFileEx,
 * replacing to): 0, or -1 and errno. */
int outfile__rename(const char *from, const char *to);
/* Remove the temporary file, if any. Also runs at exit. */
void outfile__abort(void);
/* The error writing the output met so far, or 0: tells a failed write
 * from a failed query when an export stops half-way. */
int outfile__write_error(void);

#endif
