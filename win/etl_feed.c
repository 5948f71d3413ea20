/*
 * etl_feed.c - a trace file's events as the decoder's records
 * (etl_feed.h).
 */
#include <string.h>

#include "etl_feed.h"

#define FILETIME_UNIX_EPOCH 116444736000000000ull /* 1970 in 100 ns since 1601 */
#define GROUP_HEAP 0x10
#define GROUP_STACKWALK 0x18
#define GROUP_PROCESS 0x03
#define GROUP_THREAD 0x05
/* Types of the kernel's Process and Thread groups. */
#define KERNEL_START 0x01
#define KERNEL_END 0x02
#define KERNEL_DCSTART 0x03

struct etw_clock etl_feed__clock(const struct etl_info *info)
{
	struct etw_clock c = { info->clock_freq, info->start_ticks, 0 };

	if (info->start_time > FILETIME_UNIX_EPOCH)
		c.ref_ns = (info->start_time - FILETIME_UNIX_EPOCH) * 100;
	return c;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static struct etw_guid to_etw(const struct etl_guid *g)
{
	struct etw_guid e;

	/* Both are laid out as the Windows GUID. */
	memcpy(&e, g, sizeof(e));
	return e;
}

void etl_feed__record(const struct etl_event *ev, struct etw_record *r)
{
	static const struct etw_guid heap = MW_ETW_HEAP_GUID;
	static const struct etw_guid stack = MW_ETW_STACKWALK_GUID;

	memset(r, 0, sizeof(*r));
	r->flags = ev->ptr_size == 4 ? MW_ETW_HDR_32_BIT : MW_ETW_HDR_64_BIT;
	switch (ev->kind) {
	case ETL_KIND_SYSTEM:
		r->flags |= MW_ETW_HDR_CLASSIC;
		if (ev->hook_id >> 8 == GROUP_HEAP)
			r->provider = heap;
		else if (ev->hook_id >> 8 == GROUP_STACKWALK)
			r->provider = stack;
		r->opcode = (uint8_t)ev->hook_id;
		r->version = (uint8_t)ev->version;
		break;
	case ETL_KIND_EVENT:
		r->provider = to_etw(&ev->provider);
		r->id = ev->id;
		r->opcode = ev->opcode;
		r->version = (uint8_t)ev->version;
		break;
	case ETL_KIND_CLASSIC:
	case ETL_KIND_INSTANCE:
		r->flags |= MW_ETW_HDR_CLASSIC;
		r->provider = to_etw(&ev->provider);
		r->opcode = ev->opcode;
		r->version = (uint8_t)ev->version;
		break;
	}
	r->pid = ev->pid;
	r->tid = ev->tid;
	r->ts = ev->timestamp;
	r->data = ev->data;
	r->len = ev->len;
}

int etl_feed__kernel(const struct etl_event *ev, uint8_t *buf, size_t cap,
		     struct etw_record *r)
{
	static const struct etw_guid kproc = MW_ETW_KPROC_GUID;
	unsigned ptr = ev->ptr_size == 4 ? 4 : 8;
	uint8_t group = (uint8_t)(ev->hook_id >> 8), type = (uint8_t)ev->hook_id;
	uint16_t id;

	if (ev->kind != ETL_KIND_SYSTEM)
		return 0;
	if (group == GROUP_THREAD && (type == KERNEL_START || type == KERNEL_DCSTART))
		id = MW_ETW_KPROC_THREAD_START;
	else if (group == GROUP_THREAD && type == KERNEL_END)
		id = MW_ETW_KPROC_THREAD_STOP;
	else if (group == GROUP_PROCESS && type == KERNEL_END)
		id = MW_ETW_KPROC_PROCESS_STOP;
	else
		return 0;
	etl_feed__record(ev, r);
	r->provider = kproc;
	r->flags &= (uint16_t)~MW_ETW_HDR_CLASSIC;
	r->id = id;
	r->opcode = 0;
	r->version = 0;
	if (id != MW_ETW_KPROC_PROCESS_STOP)
		return 1;
	/* ProcessStop v0: ProcessID, CreateTime, ExitTime, ExitCode; the
	 * MOF event has its key, then ProcessId, ParentId, SessionId and
	 * ExitStatus. A payload too short stays one, for the decoder to
	 * count as bad. */
	if (ev->len < ptr + 16 || cap < 24) {
		r->len = ev->len < 4 ? ev->len : 3;
		return 1;
	}
	memset(buf, 0, 24);
	memcpy(buf, ev->data + ptr, 4);
	memcpy(buf + 20, ev->data + ptr + 12, 4);
	r->data = buf;
	r->len = 24;
	return 1;
}

int etl_feed__stack(const struct etl_event *ev, uint8_t *buf, size_t cap,
		    struct etw_record *r)
{
	static const struct etw_guid stack = MW_ETW_STACKWALK_GUID;
	unsigned ptr = ev->ptr_size == 4 ? 4 : 8;
	uint32_t pid = ev->stack_pid != ETL_NO_ID ? ev->stack_pid : ev->pid;
	uint32_t tid = ev->stack_tid != ETL_NO_ID ? ev->stack_tid : ev->tid;
	size_t len = 16;

	if (!ev->depth || cap < 16)
		return 0;
	/* StackWalk_Event: EventTimeStamp, StackProcess, StackThread, then
	 * the frames, pointer-sized, as the kernel logs it. */
	put_le(buf, ev->timestamp, 8);
	put_le(buf + 8, pid, 4);
	put_le(buf + 12, tid, 4);
	for (uint32_t i = 0; i < ev->depth && len + ptr <= cap; i++, len += ptr)
		put_le(buf + len, ev->stack[i], ptr);
	memset(r, 0, sizeof(*r));
	r->provider = stack;
	r->flags = MW_ETW_HDR_CLASSIC | (ptr == 4 ? MW_ETW_HDR_32_BIT : MW_ETW_HDR_64_BIT);
	r->opcode = MW_ETW_STACKWALK_STACK;
	r->version = 2;
	r->pid = pid;
	r->tid = tid;
	r->ts = ev->timestamp;
	r->data = buf;
	r->len = (uint32_t)len;
	return 1;
}
