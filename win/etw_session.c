/*
 * etw_session.c - starting, reading and stopping the collector's ETW
 * sessions (see etw_session.h). Windows only; never run by the tests:
 * wine's ETW functions are stubs that report success.
 *
 * The heap session is started the way PerfView and xperf start one: the
 * session's GUID is the Heap Trace Provider's, and an extension block
 * after the logger name lists the pid and the stack-walk hooks
 * (win/etw_defs.h). EnableTraceEx2 on the heap provider enables nothing.
 * Timestamps stay raw (PROCESS_TRACE_MODE_RAW_TIMESTAMP) and the session
 * clock is QueryPerformanceCounter (ClientContext 1): a StackWalk event
 * names its event by that raw stamp, and memwatchw maps it to wall time.
 */
#include <windows.h>
#include <evntcons.h>
#include <evntrace.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etw_session.h"

#ifndef PROCESS_TRACE_MODE_RAW_TIMESTAMP
#define PROCESS_TRACE_MODE_RAW_TIMESTAMP 0x00001000
#endif

_Static_assert(sizeof(GUID) == sizeof(struct etw_guid),
	       "a GUID and struct etw_guid convert by memcpy");

/* Heap sessions see every allocation: large buffers (KB), many of them. */
#define HEAP_BUFFER_KB 1024
#define HEAP_BUFFERS_MIN 64
#define HEAP_BUFFERS_MAX 256
#define KPROC_BUFFER_KB 64
#define KPROC_BUFFERS_MIN 8
#define KPROC_BUFFERS_MAX 64

struct etw_session {
	wchar_t *name;
	EVENT_TRACE_PROPERTIES *props; /* the buffer StartTrace was given */
	ULONG props_size;
	TRACEHANDLE handle;   /* the session */
	TRACEHANDLE consumer; /* OpenTrace's */
	HANDLE thread;	      /* running ProcessTrace */
	etw_record_fn fn;
	void *ctx;
};

static int errno_of(ULONG err)
{
	switch (err) {
	case ERROR_ACCESS_DENIED:
		return EACCES;
	case ERROR_ALREADY_EXISTS:
		return EEXIST;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
		return ENOMEM;
	case ERROR_BAD_LENGTH:
	case ERROR_INVALID_PARAMETER:
		return EINVAL;
	default:
		return EIO;
	}
}

/* EVENT_TRACE_PROPERTIES, the logger name after it, and ext_dwords DWORDs
 * of extension block right after the name's NUL, where PerfView puts it
 * (so it may be 2-aligned only: it is written with memcpy). */
static EVENT_TRACE_PROPERTIES *props_new(const wchar_t *name, size_t ext_dwords,
					 ULONG *size, ULONG *ext_off)
{
	size_t name_bytes = (wcslen(name) + 1) * sizeof(wchar_t);
	size_t off = sizeof(EVENT_TRACE_PROPERTIES);
	size_t ext = off + name_bytes;
	size_t total = ext + ext_dwords * 4;
	EVENT_TRACE_PROPERTIES *p = calloc(1, total);

	if (!p)
		return NULL;
	p->Wnode.BufferSize = (ULONG)total;
	p->Wnode.Flags = WNODE_FLAG_TRACED_GUID;
	p->Wnode.ClientContext = 1; /* QueryPerformanceCounter */
	p->LogFileMode = EVENT_TRACE_REAL_TIME_MODE;
	p->FlushTimer = 1;
	p->LoggerNameOffset = (ULONG)off;
	memcpy((char *)p + off, name, name_bytes);
	*size = (ULONG)total;
	if (ext_off)
		*ext_off = (ULONG)ext;
	return p;
}

/* A session of that name left by a collector that died: stop it. */
static void stop_leftover(const wchar_t *name)
{
	ULONG size;
	EVENT_TRACE_PROPERTIES *p = props_new(name, 0, &size, NULL);

	if (!p)
		return;
	ControlTraceW(0, name, p, EVENT_TRACE_CONTROL_STOP);
	free(p);
}

/* The consumer's callback: copy the header fields, hand the record on. */
static VOID WINAPI on_event(PEVENT_RECORD e)
{
	struct etw_session *s = e->UserContext;
	struct etw_record r;

	memcpy(&r.provider, &e->EventHeader.ProviderId, sizeof(r.provider));
	r.flags = e->EventHeader.Flags;
	r.id = e->EventHeader.EventDescriptor.Id;
	r.opcode = e->EventHeader.EventDescriptor.Opcode;
	r.version = e->EventHeader.EventDescriptor.Version;
	r.pad = 0;
	r.pid = e->EventHeader.ProcessId;
	r.tid = e->EventHeader.ThreadId;
	r.ts = (uint64_t)e->EventHeader.TimeStamp.QuadPart;
	r.data = e->UserData;
	r.len = e->UserDataLength;
	s->fn(s->ctx, &r);
}

static DWORD WINAPI consume(LPVOID arg)
{
	struct etw_session *s = arg;

	/* Returns when the session stops or CloseTrace is called. */
	ProcessTrace(&s->consumer, 1, NULL, NULL);
	return 0;
}

void etw_session__stop(struct etw_session *s)
{
	if (!s)
		return;
	if (s->handle)
		ControlTraceW(s->handle, NULL, s->props,
			      EVENT_TRACE_CONTROL_STOP);
	if (s->consumer && s->consumer != INVALID_PROCESSTRACE_HANDLE)
		CloseTrace(s->consumer);
	if (s->thread) {
		WaitForSingleObject(s->thread, 5000);
		CloseHandle(s->thread);
	}
	free(s->props);
	free(s->name);
	free(s);
}

/* Open the consumer side and start its thread. */
static ULONG consume_start(struct etw_session *s)
{
	EVENT_TRACE_LOGFILEW lf;

	memset(&lf, 0, sizeof(lf));
	lf.LoggerName = s->name;
	lf.ProcessTraceMode = PROCESS_TRACE_MODE_REAL_TIME |
			      PROCESS_TRACE_MODE_EVENT_RECORD |
			      PROCESS_TRACE_MODE_RAW_TIMESTAMP;
	lf.EventRecordCallback = on_event;
	lf.Context = s;
	s->consumer = OpenTraceW(&lf);
	if (s->consumer == INVALID_PROCESSTRACE_HANDLE) {
		s->consumer = 0;
		return GetLastError();
	}
	s->thread = CreateThread(NULL, 0, consume, s, 0, NULL);
	return s->thread ? ERROR_SUCCESS : GetLastError();
}

static struct etw_session *session_new(const wchar_t *name, etw_record_fn fn,
				       void *ctx)
{
	struct etw_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->name = _wcsdup(name);
	if (!s->name) {
		free(s);
		return NULL;
	}
	s->fn = fn;
	s->ctx = ctx;
	return s;
}

static struct etw_session *fail(struct etw_session *s, ULONG err,
				unsigned long *winerr)
{
	etw_session__stop(s);
	if (winerr)
		*winerr = err;
	errno = errno_of(err);
	return NULL;
}

struct etw_session *etw_session__heap(const wchar_t *name, uint32_t pid,
				      etw_record_fn fn, void *ctx,
				      unsigned long *winerr)
{
	static const struct etw_guid heap = MW_ETW_HEAP_GUID;
	struct etw_session *s = session_new(name, fn, ctx);
	uint32_t ext[8];
	size_t n = etw_heap_ext(ext, 8, &pid, 1);
	ULONG off;
	ULONG err;

	if (!s)
		return fail(NULL, ERROR_NOT_ENOUGH_MEMORY, winerr);
	stop_leftover(name);
	s->props = props_new(name, n, &s->props_size, &off);
	if (!s->props)
		return fail(s, ERROR_NOT_ENOUGH_MEMORY, winerr);
	if (off > 0xffff)
		return fail(s, ERROR_BAD_LENGTH, winerr);
	memcpy(&s->props->Wnode.Guid, &heap, sizeof(heap));
	s->props->BufferSize = HEAP_BUFFER_KB;
	s->props->MinimumBuffers = HEAP_BUFFERS_MIN;
	s->props->MaximumBuffers = HEAP_BUFFERS_MAX;
	/* The extension block: its offset goes in EnableFlags. */
	s->props->EnableFlags = MW_ETW_EXT_FLAG | off;
	memcpy((char *)s->props + off, ext, n * sizeof(*ext));
	err = StartTraceW(&s->handle, name, s->props);
	if (err != ERROR_SUCCESS) {
		s->handle = 0;
		return fail(s, err, winerr);
	}
	if ((err = consume_start(s)) != ERROR_SUCCESS)
		return fail(s, err, winerr);
	return s;
}

struct etw_session *etw_session__kproc(const wchar_t *name, etw_record_fn fn,
				       void *ctx, unsigned long *winerr)
{
	static const struct etw_guid kproc = MW_ETW_KPROC_GUID;
	struct etw_session *s = session_new(name, fn, ctx);
	GUID provider;
	ULONG err;

	if (!s)
		return fail(NULL, ERROR_NOT_ENOUGH_MEMORY, winerr);
	stop_leftover(name);
	s->props = props_new(name, 0, &s->props_size, NULL);
	if (!s->props)
		return fail(s, ERROR_NOT_ENOUGH_MEMORY, winerr);
	s->props->BufferSize = KPROC_BUFFER_KB;
	s->props->MinimumBuffers = KPROC_BUFFERS_MIN;
	s->props->MaximumBuffers = KPROC_BUFFERS_MAX;
	err = StartTraceW(&s->handle, name, s->props);
	if (err != ERROR_SUCCESS) {
		s->handle = 0;
		return fail(s, err, winerr);
	}
	memcpy(&provider, &kproc, sizeof(provider));
	err = EnableTraceEx2(s->handle, &provider,
			     EVENT_CONTROL_CODE_ENABLE_PROVIDER,
			     MW_ETW_LEVEL_INFORMATION,
			     MW_ETW_KPROC_KW_PROCESS | MW_ETW_KPROC_KW_THREAD |
				 MW_ETW_KPROC_KW_IMAGE,
			     0, 0, NULL);
	if (err != ERROR_SUCCESS)
		return fail(s, err, winerr);
	if ((err = consume_start(s)) != ERROR_SUCCESS)
		return fail(s, err, winerr);
	return s;
}

int etw_session__counters(struct etw_session *s, uint32_t *events,
			  uint32_t *log_buffers, uint32_t *rt_buffers)
{
	ULONG size;
	EVENT_TRACE_PROPERTIES *p = props_new(s->name, 0, &size, NULL);
	ULONG err;

	if (!p)
		return -ENOMEM;
	err = ControlTraceW(s->handle, NULL, p, EVENT_TRACE_CONTROL_QUERY);
	if (err == ERROR_SUCCESS) {
		*events = p->EventsLost;
		*log_buffers = p->LogBuffersLost;
		*rt_buffers = p->RealTimeBuffersLost;
	}
	free(p);
	return err == ERROR_SUCCESS ? 0 : -EIO;
}
