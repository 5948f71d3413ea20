/*
 * events.h - the event builders of the tests: a struct mw_event as the
 * collector would hand it to engine__feed, one builder per event type
 * the tests make by hand. Times are nanoseconds; a caller sets what else
 * it needs (comm, flags, frames) on the event it gets.
 */
#ifndef MEMWATCH_EVENTS_H
#define MEMWATCH_EVENTS_H

#include <stdint.h>

#include "event.h"

/* An event of type from pid's thread tid at ts, every other field 0. */
static inline struct mw_event ev_make(uint32_t type, uint32_t pid, uint32_t tid,
				      uint64_t ts)
{
	struct mw_event ev = {.type = type, .pid = pid, .tid = tid, .ts = ts};

	return ev;
}

static inline struct mw_event ev_alloc(uint32_t pid, uint32_t tid, uint64_t ts,
				       uint64_t addr, uint64_t size,
				       uint64_t site)
{
	struct mw_event ev = ev_make(MW_EV_ALLOC, pid, tid, ts);

	ev.addr = addr;
	ev.size = size;
	ev.site = site;
	return ev;
}

static inline struct mw_event ev_free(uint32_t pid, uint32_t tid, uint64_t ts,
				      uint64_t addr, uint64_t site)
{
	struct mw_event ev = ev_make(MW_EV_FREE, pid, tid, ts);

	ev.addr = addr;
	ev.site = site;
	return ev;
}

/* old 0: realloc(NULL, size); addr 0: failed, or realloc(old, 0). */
static inline struct mw_event ev_realloc(uint32_t pid, uint32_t tid,
					 uint64_t ts, uint64_t old,
					 uint64_t addr, uint64_t size,
					 uint64_t site)
{
	struct mw_event ev = ev_make(MW_EV_REALLOC, pid, tid, ts);

	ev.old_addr = old;
	ev.addr = addr;
	ev.size = size;
	ev.site = site;
	return ev;
}

/* flags: MW_EVF_GROUP_EXIT for the thread ending its process. */
static inline struct mw_event ev_thread_exit(uint32_t pid, uint32_t tid,
					     uint64_t ts, uint32_t flags)
{
	struct mw_event ev = ev_make(MW_EV_THREAD_EXIT, pid, tid, ts);

	ev.flags = flags;
	return ev;
}

/* dtor: the key's destructor, 0 for none. */
static inline struct mw_event ev_key_create(uint32_t pid, uint32_t tid,
					    uint64_t ts, uint32_t key,
					    uint64_t dtor)
{
	struct mw_event ev = ev_make(MW_EV_KEY_CREATE, pid, tid, ts);

	ev.key = key;
	ev.addr = dtor;
	return ev;
}

static inline struct mw_event ev_key_delete(uint32_t pid, uint32_t tid,
					    uint64_t ts, uint32_t key)
{
	struct mw_event ev = ev_make(MW_EV_KEY_DELETE, pid, tid, ts);

	ev.key = key;
	return ev;
}

/* pthread_setspecific(key, value); value 0 clears the slot. */
static inline struct mw_event ev_tls_set(uint32_t pid, uint32_t tid,
					 uint64_t ts, uint32_t key,
					 uint64_t value)
{
	struct mw_event ev = ev_make(MW_EV_TLS_SET, pid, tid, ts);

	ev.key = key;
	ev.addr = value;
	return ev;
}

static inline struct mw_event ev_proc_exit(uint32_t pid, uint64_t ts,
					   int32_t code)
{
	struct mw_event ev = ev_make(MW_EV_PROC_EXIT, pid, pid, ts);

	ev.code = code;
	return ev;
}

#endif
