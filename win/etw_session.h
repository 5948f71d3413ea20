/*
 * etw_session.h - the live ETW sessions of the Windows collector
 * (Windows only): a heap session per traced process, one session for
 * Microsoft-Windows-Kernel-Process, each with a consumer thread that hands
 * every record to a callback.
 *
 * The callback runs on the session's consumer thread, behind
 * ProcessTrace, with a record valid only during the call: it must copy
 * what it keeps and return at once (memwatchw queues a copy).
 */
#ifndef MEMWATCH_ETW_SESSION_H
#define MEMWATCH_ETW_SESSION_H

#include <stdint.h>
#include <wchar.h>

#include "etw_decode.h"

typedef void (*etw_record_fn)(void *ctx, const struct etw_record *r);

struct etw_session;

/*
 * Start a real-time session named name, stopping a leftover session of
 * that name first, and its consumer thread. A heap session traces the
 * heap of pid, with a stack for each HeapAlloc and HeapReAlloc; the
 * kernel-process session (pid ignored) sees the threads, images and exits
 * of every process. NULL and errno set (EACCES: not an administrator or a
 * member of Performance Log Users); *winerr is the Win32 error.
 */
struct etw_session *etw_session__heap(const wchar_t *name, uint32_t pid,
				      etw_record_fn fn, void *ctx,
				      unsigned long *winerr);
struct etw_session *etw_session__kproc(const wchar_t *name, etw_record_fn fn,
				       void *ctx, unsigned long *winerr);
/* The session's lost-event counters now. 0 or -EIO. */
int etw_session__counters(struct etw_session *s, uint32_t *events,
			  uint32_t *log_buffers, uint32_t *rt_buffers);
/* Stop the session and join its thread. Accepts NULL. */
void etw_session__stop(struct etw_session *s);

#endif
