#!/usr/bin/env python3
# tests/win/etl_heap.py - writes a small ETW trace file (.etl) with heap
# events, which no public trace has, for tests/meta/etl_import.sh: the
# layouts are tests/fuzz/gen_corpus.py's (buffers, headers) and the Heap
# Trace Provider's as win/etw_defs.h gives them (kernel group 0x10:
# HeapAlloc 0x21, HeapRealloc 0x22, HeapFree 0x24), each allocation with
# its StackWalk record (hook 0x1820) after it, as the kernel logs them.
#
#   etl_heap.py OUT.etl [--lost N]
#
# The story, in process 4100 "leaky.exe" (a rundown DCStart names it):
# its main thread 4104 allocates a 100-byte block and reallocates it to
# 200 bytes at another address; then 6 worker threads start, each
# allocates 64 bytes (kept) and 32 bytes (freed), and exits; 4 s later
# the main thread allocates 48 bytes, kept. The trace ends there, the
# process still running. --lost N: the header says N events were lost.
# Prints what it left live, one "block ADDR SIZE TID SITE" line each, and
# "thread TID" per thread it started, for the test to compare with.
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz"))
from gen_corpus import etl_buffer, logfile_header, sys_rec  # noqa: E402

PID, MAIN = 4100, 4104
HEAP = 0x1F0000
SEC = 10000000  # the header's clock: 10 MHz
T0 = 1000       # the header event's time stamp


def p64(*v):
    return b"".join(struct.pack("<Q", x) for x in v)


def process_dcstart(ts):
    # MOF Process_V4: key, pid, parent, session, exit status, directory
    # table base, flags, no SID (4 zero bytes), image name, command line.
    payload = p64(0xFFFFA0000000) + struct.pack("<IIIi", PID, 600, 1, 259) + \
        p64(0x1AA000) + struct.pack("<I", 0) + b"\0\0\0\0" + b"leaky.exe\0" + \
        "leaky.exe\0".encode("utf-16-le")
    return sys_rec(2, 0x0303, ts, payload, PID, MAIN, 4)


def thread(hook, ts, tid):
    payload = struct.pack("<II", PID, tid) + p64(0x1000, 0x2000, 0, 0, 0, 0x401000, 0)
    return sys_rec(2, hook, ts, payload, PID, tid, 3)


def alloc(ts, tid, addr, size, site):
    return sys_rec(2, 0x1021, ts, p64(HEAP, size, addr) + struct.pack("<I", 0), PID, tid) + \
        sys_rec(17, 0x1820, ts, struct.pack("<QII", ts, PID, tid) +
                p64(0xFFFFF80000001000, site, 0x7FF6000A0000))


def realloc(ts, tid, new, old, size, old_size, site):
    return sys_rec(2, 0x1022, ts, p64(HEAP, new, old, size, old_size) + struct.pack("<I", 0),
                   PID, tid) + \
        sys_rec(17, 0x1820, ts, struct.pack("<QII", ts, PID, tid) + p64(site, 0x7FF6000A0000))


def free(ts, tid, addr):
    return sys_rec(2, 0x1024, ts, p64(HEAP, addr) + struct.pack("<I", 0), PID, tid)


def main():
    out = sys.argv[1]
    lost = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--lost" else 0
    recs, live, threads = [], [], [MAIN]
    t = T0 + SEC // 100
    recs.append(process_dcstart(t))
    recs.append(thread(0x0503, t + 1, MAIN))
    t += SEC // 10
    recs.append(alloc(t, MAIN, 0x5000100, 100, 0x7FF600001100))
    t += SEC // 10
    recs.append(realloc(t, MAIN, 0x5000400, 0x5000100, 200, 100, 0x7FF600001200))
    live.append((0x5000400, 200, MAIN, 0x7FF600001200))
    for i in range(6):
        tid = 5000 + 4 * i
        threads.append(tid)
        t += SEC // 10
        recs.append(thread(0x0501, t, tid))
        recs.append(alloc(t + 10, tid, 0x6000000 + 0x1000 * i, 64, 0x7FF600002000))
        live.append((0x6000000 + 0x1000 * i, 64, tid, 0x7FF600002000))
        recs.append(alloc(t + 20, tid, 0x6800000 + 0x1000 * i, 32, 0x7FF600003000))
        recs.append(free(t + 30, tid, 0x6800000 + 0x1000 * i))
        recs.append(thread(0x0502, t + 40, tid))
    t += 4 * SEC
    recs.append(alloc(t, MAIN, 0x5000800, 48, 0x7FF600004000))
    live.append((0x5000800, 48, MAIN, 0x7FF600004000))
    # Buffers of at most ~0x380 bytes of records, on one processor.
    bufs, cur = [], b""
    for r in recs:
        if len(cur) + len(r) > 0x380:
            bufs.append(cur)
            cur = b""
        cur += r
    bufs.append(cur)
    data = etl_buffer(logfile_header(8, lost) + sys_rec(17, 0x0005, T0, b"\0" * 36),
                      0, 0, flags=0x21, size=0x200)
    for i, b in enumerate(bufs):
        data += etl_buffer(b, 0, i + 1)
    with open(out, "wb") as f:
        f.write(data)
    for addr, size, tid, site in live:
        print("block 0x%x %d %d 0x%x" % (addr, size, tid, site))
    for tid in threads:
        print("thread %d" % tid)


if __name__ == "__main__":
    main()
