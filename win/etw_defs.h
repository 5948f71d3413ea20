/*
 * etw_defs.h - every ETW constant and GUID the Windows collector uses, in
 * one place: the providers' GUIDs, opcodes and event ids, the header flags
 * that say how wide a pointer is, keywords, and the undocumented extension
 * block of a heap tracing session.
 *
 * Portable: no Windows header is needed, so the decoder and its tests build
 * on Linux too. The names carry an MW_ prefix, so they never collide with
 * what a Windows SDK or mingw-w64 header may define (mingw-w64 has the
 * header flags and the session API, but none of the GUIDs below nor the
 * extension block). Sources, checked with public documentation:
 *  - Heap Trace Provider: Microsoft's ETW_HEAP_EVENT_* pages (field order)
 *    and the provider's manifest (opcodes 0x20..0x24);
 *  - StackWalk_Event: Microsoft's MOF class page;
 *  - Microsoft-Windows-Kernel-Process: its manifest (event ids, payload
 *    fields, keywords);
 *  - the extension block: PerfView's TraceEvent (ETWKernelControl), which
 *    is how PerfView and xperf start a heap session for given pids.
 */
#ifndef MEMWATCH_ETW_DEFS_H
#define MEMWATCH_ETW_DEFS_H

#include <stdint.h>

/* Laid out like the Windows GUID: a memcpy converts either way. */
struct etw_guid {
	uint32_t d1;
	uint16_t d2;
	uint16_t d3;
	uint8_t d4[8];
};

#define MW_ETW_GUID(a, b, c, d0, d1_, d2_, d3_, d4_, d5_, d6_, d7_)            \
	{                                                                      \
		(a), (b), (c),                                                 \
		{                                                              \
			d0, d1_, d2_, d3_, d4_, d5_, d6_, d7_                  \
		}                                                              \
	}

/* {222962AB-6180-4B88-A825-346B75F2A24A}: written by ntdll, a classic
 * (MOF) provider; also the GUID of the session that enables it. */
#define MW_ETW_HEAP_GUID                                                       \
	MW_ETW_GUID(0x222962ab, 0x6180, 0x4b88, 0xa8, 0x25, 0x34, 0x6b, 0x75,  \
		    0xf2, 0xa2, 0x4a)
/* {DEF2FE46-7BD6-4B80-BD94-F57FE20D0CE3}: the kernel's stack walks. */
#define MW_ETW_STACKWALK_GUID                                                  \
	MW_ETW_GUID(0xdef2fe46, 0x7bd6, 0x4b80, 0xbd, 0x94, 0xf5, 0x7f, 0xe2,  \
		    0x0d, 0x0c, 0xe3)
/* {22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E716}: Microsoft-Windows-Kernel-Process,
 * a manifest provider. */
#define MW_ETW_KPROC_GUID                                                      \
	MW_ETW_GUID(0x22fb2cd6, 0x0e7b, 0x422b, 0xa0, 0xc7, 0x2f, 0xad, 0x1f,  \
		    0xd0, 0xe7, 0x16)

/* EVENT_HEADER.Flags. Exactly one of 32_BIT/64_BIT is set: the width of
 * the pointer-sized payload fields of that event. */
#define MW_ETW_HDR_EXTENDED_INFO 0x0001u
#define MW_ETW_HDR_32_BIT 0x0020u
#define MW_ETW_HDR_64_BIT 0x0040u
#define MW_ETW_HDR_CLASSIC 0x0100u

/*
 * Heap Trace Provider opcodes (payload v2; P = pointer-sized):
 *  Create 0x20:  P HeapHandle, u32 HeapFlags (v3 adds sizes)
 *  Alloc 0x21:   P HeapHandle, P AllocSize, P AllocAddress, u32 SourceId
 *  ReAlloc 0x22: P HeapHandle, P NewAddress, P OldAddress, P NewSize,
 *                P OldSize, u32 SourceId
 *  Destroy 0x23: P HeapHandle
 *  Free 0x24:    P HeapHandle, P FreeAddress, u32 SourceId (no size)
 */
#define MW_ETW_HEAP_CREATE 0x20u
#define MW_ETW_HEAP_ALLOC 0x21u
#define MW_ETW_HEAP_REALLOC 0x22u
#define MW_ETW_HEAP_DESTROY 0x23u
#define MW_ETW_HEAP_FREE 0x24u

/* StackWalk opcode 32: u64 EventTimeStamp (the raw header time stamp of
 * the event walked), u32 StackProcess, u32 StackThread, then pointers,
 * innermost first, as many as the payload holds (at most 192). Kernel
 * frames come first. */
#define MW_ETW_STACKWALK_STACK 32u
#define MW_ETW_STACKWALK_MAX 192u

/*
 * Microsoft-Windows-Kernel-Process event ids (EventDescriptor.Id). The
 * process and thread ids are in the payload: the header names the thread
 * that logged the event (a creator, the kernel), not the one it is about.
 *  2 ProcessStop: u32 ProcessID, [v2+: u64 ProcessSequenceNumber],
 *                 FILETIME CreateTime, FILETIME ExitTime, u32 ExitCode, ...
 *  3 ThreadStart, 4 ThreadStop: u32 ProcessID, u32 ThreadID, then
 *                 pointers (stacks, start addresses, TEB), ...
 *  5 ImageLoad, 6 ImageUnload: P ImageBase, P ImageSize, u32 ProcessID,
 *                 u32 ImageCheckSum, u32 TimeDateStamp, P DefaultBase,
 *                 UTF-16 ImageName (NUL-terminated)
 */
#define MW_ETW_KPROC_PROCESS_STOP 2u
#define MW_ETW_KPROC_THREAD_START 3u
#define MW_ETW_KPROC_THREAD_STOP 4u
#define MW_ETW_KPROC_IMAGE_LOAD 5u
#define MW_ETW_KPROC_IMAGE_UNLOAD 6u
#define MW_ETW_KPROC_KW_PROCESS 0x10ull
#define MW_ETW_KPROC_KW_THREAD 0x20ull
#define MW_ETW_KPROC_KW_IMAGE 0x40ull
#define MW_ETW_LEVEL_INFORMATION 4u

/*
 * The extension block of a heap session (undocumented; as PerfView writes
 * it). It follows the logger name in the EVENT_TRACE_PROPERTIES buffer;
 * EnableFlags = MW_ETW_EXT_FLAG | its byte offset (< 0x10000). It is
 * DWORDs: a header (low word: total length in DWORDs, header included;
 * high word: item count), then items, each a header (low word: length in
 * DWORDs, header included; high word: type) and its data.
 */
#define MW_ETW_EXT_FLAG 0x80ff0000u
#define MW_ETW_EXT_PIDS 2u
#define MW_ETW_EXT_STACKWALK_FILTER 3u
/* Stack-walk hooks: group 0x10 (heap) << 8 | opcode. */
#define MW_ETW_HOOK_HEAP_ALLOC 0x1021u
#define MW_ETW_HOOK_HEAP_REALLOC 0x1022u

/* User addresses end here; above are kernel frames of a stack walk. */
#define MW_ETW_USER_MAX_64 0x0000800000000000ull
#define MW_ETW_USER_MAX_32 0x0000000100000000ull

#endif
