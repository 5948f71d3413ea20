#!/usr/bin/env python3
# tests/fuzz/gen_corpus.py - writes the seed corpus of the fuzz harnesses
# (tests/fuzz/corpus/NAME/) from the descriptions below: real records,
# event programs, configuration files, control messages and filter
# options, each named after what it is. Run it from anywhere after
# changing the formats (bpf/memwatch.h, common/proto.h, a harness's input
# format) and commit what it wrote; the fuzzers never write here (make
# fuzz works on a copy). Regression inputs of bugs the fuzzers found are
# kept as regress-*.bin next to the seeds, and this script leaves them.
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- decode: struct mw_record (bpf/memwatch.h), 88 bytes, then frames or
# a 256-byte path.
REC = {"alloc": 1, "free": 2, "realloc": 3, "thread_start": 4,
       "thread_exit": 5, "proc_exit": 6, "exec": 7, "key_create": 8,
       "key_delete": 9, "tls_set": 10, "module_load": 11,
       "module_unload": 12, "module_unloaded": 13, "mmap": 14,
       "munmap": 15, "brk": 16, "mremap": 17, "spawn": 18,
       "pool_overlap": 19}
GROUP_EXIT, UNMAPPED, SIZED, FORKED, WRAPPED = 0x1, 0x2, 0x4, 0x8, 0x10
LOCKED, DELEGATED, POOL, WATCHED = 0x20, 0x80, 0x100, 0x200


def record(kind, flags=0, addr=0x5555a000, size=64, old=0, site=0x401136,
           key=0, code=0, comm=b"worker", nframes=0, lost_seq=0):
    r = struct.pack("<IIIIQQQQQIi16sII", REC.get(kind, kind), 4242, 4243,
                    flags, 123456789, addr, size, old, site, key, code,
                    comm, nframes, lost_seq)
    assert len(r) == 88
    return r


def frames(*ips):
    return b"".join(struct.pack("<Q", ip) for ip in ips)


def decode():
    stack = frames(0x401136, 0x401200, 0x401300)
    put("decode", "alloc-3-frames", record("alloc", nframes=3) + stack)
    put("decode", "alloc-wrapped", record("alloc", WRAPPED, nframes=3) +
        frames(0x7f0000001000, 0x401136, 0x401300))
    put("decode", "alloc-claims-more-frames",
        record("alloc", nframes=32) + stack)
    put("decode", "realloc", record("realloc", old=0x5555b000, nframes=1) +
        frames(0x401136))
    put("decode", "free", record("free"))
    put("decode", "tls-set-sized", record("tls_set", SIZED, key=3,
                                          nframes=1) + frames(0x401136))
    put("decode", "thread-exit-group", record("thread_exit", GROUP_EXIT))
    put("decode", "proc-exit", record("proc_exit", code=-9))
    put("decode", "key-create", record("key_create", key=1,
                                       addr=0x401500))
    path = b"/usr/lib/x86_64-linux-gnu/libmwtlsmod.so".ljust(256, b"\0")
    put("decode", "module-load", record("module_load", old=0x5555c000,
                                        addr=0x7f1200000000) + path)
    put("decode", "module-unload-no-nul",
        record("module_unload", old=0x5555c000) + b"/x" * 128)
    put("decode", "module-unloaded", record("module_unloaded", UNMAPPED))
    put("decode", "mremap", record("mremap", old=0x7f0000000000,
                                   site=0x2000, size=0x4000))
    put("decode", "spawn-tls", record("spawn", FORKED, code=2))
    put("decode", "pool-overlap", record("pool_overlap", WATCHED, addr=0,
                                         old=0x401200, key=4244,
                                         code=1 | 2 << 8 | 3 << 16))
    put("decode", "pool-overlap-locked",
        record("pool_overlap", LOCKED | DELEGATED, code=255 | 255 << 8))
    put("decode", "pool-free", record("free", POOL, key=1))
    put("decode", "short", record("alloc")[:40])
    put("decode", "unknown-type", record(99))


# --- engine: the harness's programs (fuzz_engine.c). An even opcode 2k is
# operation k % 18 and advances time k * 10 ms; events take 4 bytes:
# a (pid 1 + a % 3, tid, 0x80 internal), b (address), c (size), d (site,
# key, frames in bits 5-6, 0x10 realloc in place).
OPS = ["attach", "detach", "alloc", "free", "realloc", "thread_start",
       "thread_exit", "proc_exit", "exec", "key_create", "key_delete",
       "tls_set", "module", "mm", "lost", "tick", "flush", "config"]


def op(name, later=0, *args):
    k = OPS.index(name) + 18 * later
    assert k < 128
    return bytes([2 * k]) + bytes(args)


def engine():
    attach = op("attach", 0, 0)
    flush = op("flush", 0, 0)
    put("engine", "alloc-free", attach + op("alloc", 0, 0, 1, 10, 0x20) +
        op("free", 1, 0, 1, 0, 0) + flush)
    # A thread leaves a block bound to its TLS slot and exits.
    put("engine", "tls-outlived-thread", attach +
        op("key_create", 0, 4, 0, 0, 1) + op("alloc", 0, 4, 2, 32, 0x21) +
        op("tls_set", 0, 4, 0x22, 0, 1) + op("thread_exit", 1, 4, 0, 0, 0) +
        op("tick", 6) + flush)
    put("engine", "key-delete", attach + op("key_create", 0, 0, 0, 0, 2) +
        op("alloc", 0, 0, 3, 40, 0x22) + op("tls_set", 0, 0, 0x23, 0, 2) +
        op("key_delete", 0, 0, 0, 0, 2) + op("tick", 6) + flush)
    put("engine", "realloc-in-place", attach +
        op("alloc", 0, 0, 5, 100, 0x20) +
        op("realloc", 0, 0, 5, 0x0a, 0x30) + op("free", 0, 0, 5, 0, 0) +
        flush)
    put("engine", "orphans", attach + b"".join(
        op("thread_start", 0, 4 * t, 0, 0, 0) +
        op("alloc", 0, 4 * t, t, 8, 0x24) +
        op("thread_exit", 0, 4 * t, 0, 0, 0) for t in range(1, 4)) +
        op("tick", 6) + flush + op("tick", 6) + flush)
    put("engine", "exec-proc-exit", attach + op("alloc", 0, 0, 7, 10, 0) +
        op("exec", 0, 0, 0, 0, 0) + op("alloc", 0, 0, 7, 20, 0) +
        op("proc_exit", 0, 0, 0, 0, 0) + flush)
    put("engine", "tls-mode-module", op("attach", 0, 8) +
        op("module", 0, 0, 0, 0, 0x40) + op("tls_set", 0, 0, 0x21, 1, 1) +
        op("module", 0, 0, 1, 0, 0x40) + op("module", 0, 0, 2, 0, 0x40) +
        op("tick", 6) + flush)
    put("engine", "anon-lost-config", attach + op("mm", 0, 0, 0, 1, 4) +
        op("mm", 0, 0, 3, 1, 2) + op("lost", 0, 0, 1, 5, 0) +
        op("config", 0, 30, 30) + op("flush", 0, 0x81) + flush)


# --- config: the harness's first byte 0 is a file, 1 NUL-separated
# arguments.
def config():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "packaging",
                           "memwatchd.conf"), "rb") as f:
        put("config", "packaged-conf", b"\0" + f.read())
    put("config", "targets", b"\0exe /usr/sbin/nginx\nunit redis.service\n"
        b"comm worker\ncgroup /my.slice\ntls\n")
    put("config", "functions", b"\0alloc pool_get:2*3\n"
        b"realloc pool_resize:1:2\nfree pool_put:1\n")
    put("config", "rules", b"\0grace 500\npersist-age 1000\n"
        b"orphan-age 2000\norphan-threads 3\nsample 500\n"
        b"growth-samples 6\ngrowth-min 256\nretention-min 32\n"
        b"flush-rows 5000\nstack-frames 16\n")
    put("config", "bad-lines", b"\0  # comment\r\n\nbogus 1\n")
    put("config", "argv", b"\x01--db\0/tmp/x.db\0--pid\0123\0"
        b"--tls-pid\0456\0--log-level\0debug\0-v\0--\0/bin/true\0")
    put("config", "argv-metrics", b"\x01--metrics-listen\0127.0.0.1:19464"
        b"\0--keep-days\07\0--max-db-mb\0100\0--grace=10\0")


# --- control: struct mw_msg_hdr (common/proto.h) and its payload.
def msg(mtype, payload=b"", length=None, magic=0x4d574354, version=1):
    n = len(payload) if length is None else length
    return struct.pack("<IHHIi", magic, version, mtype, n, 0) + payload


def control():
    put("control", "status", msg(1))
    put("control", "attach", msg(2, struct.pack("<II", 4242, 0)))
    put("control", "detach-tls", msg(3, struct.pack("<II", 4242, 2)))
    put("control", "watch-exe", msg(4, struct.pack("<II", 1, 0) +
                                    b"/usr/sbin/nginx".ljust(1016, b"\0")))
    put("control", "unwatch-no-nul", msg(5, struct.pack("<II", 2, 0) +
                                         b"w" * 1016))
    put("control", "reload", msg(6))
    put("control", "bad-magic", msg(1, magic=0x12345678))
    put("control", "short-payload", msg(2, b"\1\0", length=8))
    put("control", "wrong-length", msg(2, b"\0" * 12))


# --- filter: NUL-separated strings, the first byte choosing the option
# (byte % 8: pid, kind, severity, since, limit, by, per; 7: "name=value").
def filter_():
    put("filter", "all-options", b"\x00123\0\x01thread-orphan\0\x02high\0"
        b"\x035m\0\x04all\0\x05blocks\0\x06thread\0")
    put("filter", "since-epoch", b"\x031700000000\0\x0399999d\0")
    put("filter", "bad-values", b"\x000\0\x01nope\0\x04 1\0\x05rows\0")
    put("filter", "named", b"\x07limit=10\0\x07kind=bad-free\0\x07x=1\0")


# --- etl: whole ETW trace files (win/etl_file.c's layouts), small: a
# logfile-header buffer, then per-processor buffers of kernel, manifest and
# classic events with inline, cached and extended-data stacks, plain or
# compressed with MS-XCA plain LZ77 (xca_compress, literals and matches).
def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def sys_rec(htype, hook, ts, payload, pid=0, tid=0, version=2):
    n = {1: 32, 2: 32, 3: 24, 4: 24, 16: 16, 17: 16}[htype]
    head = struct.pack("<HBBHH", version, htype, 0xC0, n + len(payload), hook)
    if n == 16:
        head += struct.pack("<Q", ts)
    else:
        head += struct.pack("<IIQ", tid, pid, ts) + b"\0" * (n - 24)
    return pad8(head + payload)


GUID = bytes(range(16))


def event_rec(ts, payload, pid=10, tid=11, ext=b"", flags=0x40):
    head = struct.pack("<HBBHHIIQ", 80 + len(ext) + len(payload), 19, 0xC0,
                       flags | (1 if ext else 0), 0, tid, pid, ts) + GUID
    head += struct.pack("<HBBBBHQQ", 7, 1, 0, 4, 1, 2, 0x10, 0) + b"\0" * 16
    return pad8(head + ext + payload)


def classic_rec(ts, payload, pid=10, tid=11):
    return pad8(struct.pack("<HBBBBHIIQ", 48 + len(payload), 20, 0xC0, 3, 4,
                            2, tid, pid, ts) + GUID + b"\0" * 8 + payload)


def logfile_header(ptr=8, lost=0):
    p = struct.pack("<IIIIQIIIIIIII", 0x400, 0x20206, 9200, 2, 0, 156250, 1,
                    0x10001, 3, 1, ptr, lost, 3000)
    p += b"\0" * (2 * ptr) + b"\0" * 176
    p += struct.pack("<QQQII", 0, 10000000, 132404548206236167, 1, 0)
    p += "Relogger\0".encode("utf-16-le")
    return sys_rec(2 if ptr == 8 else 1, 0x0000, 1000, p, 4, 8)


def xca_compress(data):
    out, flags, nflags, flag_at, half = bytearray(), 0, 0, 0, None
    i = 0
    while i < len(data):
        if nflags == 32:
            struct.pack_into("<I", out, flag_at, flags)
            nflags, flags = 0, 0
        if nflags == 0:
            flag_at = len(out)
            out += b"\0\0\0\0"
        best, off = 0, 0
        for j in range(max(0, i - 8192), i):
            n = 0
            while i + n < len(data) and data[j + n] == data[i + n]:
                n += 1
            if n > best:
                best, off = n, i - j
        if best < 3:
            out.append(data[i])
            i += 1
        else:
            flags |= 1 << (31 - nflags)
            n = best - 3
            out += struct.pack("<H", (off - 1) << 3 | min(n, 7))
            if n >= 7:
                n -= 7
                if half is None:
                    half = len(out)
                    out.append(min(n, 15))
                else:
                    out[half] |= min(n, 15) << 4
                    half = None
                if n >= 15:
                    if best - 25 < 255:
                        out.append(best - 25)
                    else:
                        out += b"\xff" + struct.pack("<H", best - 3)
            i += best
        nflags += 1
    struct.pack_into("<I", out, flag_at, flags)
    return bytes(out)


def etl_buffer(records, cpu, seq, compress=False, flags=0x20, size=0x400):
    used = 0x48 + len(records)
    body = xca_compress(records) if compress else records
    flags |= 0x40 if compress else 0
    bsize = 0x48 + len(body) if compress else max(size, used)
    head = struct.pack("<IIIiqqQHHIIHH", bsize, used, used, 0, 0, seq, 0,
                       cpu, 1, 3, used, flags, 0) + b"\0" * 16
    data = head + body
    return data + b"\xff" * (bsize - len(data))


def etl_trace(compress=False, ptr=8, lost=0):
    w = "<Q" if ptr == 8 else "<I"
    sysh, perf = (2, 17) if ptr == 8 else (1, 16)
    mask = (1 << (8 * ptr)) - 1
    addr = lambda *a: b"".join(struct.pack(w, x & mask) for x in a)
    key = 0xFFFFFA80033EDB10 if ptr == 8 else 0x833EDB10
    thread = struct.pack("<II", 10, 12) + addr(0x1000, 0x2000, 0, 0, 0, 0x401000, 0)
    image = addr(0x7FF600000000 if ptr == 8 else 0x400000, 0x10000) + \
        struct.pack("<IIIBBH", 10, 0, 0, 0, 0, 0) + addr(0) + b"\0" * 16 + \
        "C:\\x.exe\0".encode("utf-16-le")
    cpu0 = sys_rec(sysh, 0x0501, 1100, thread, 10, 11, 3) + \
        sys_rec(perf, 0x1820, 1100, struct.pack("<QII", 1100, 10, 11) +
                addr(0x401100, 0x401200, 0x401300)) + \
        sys_rec(perf, 0x030A, 1150, image) + \
        sys_rec(perf, 0x1825, 1150, struct.pack("<QII", 1150, 10, 11) + addr(key))
    ext = struct.pack("<HHHH", 8 + 8 + 2 * ptr, 6 if ptr == 8 else 5, 0, 8 + 2 * ptr) + \
        struct.pack("<Q", 0) + addr(0x401500, 0x401600)
    cpu1 = event_rec(1120, b"hello\0", ext=ext, flags=0x40 if ptr == 8 else 0x20) + \
        classic_rec(1130, struct.pack("<I", 42)) + \
        sys_rec(perf, 0x1826, 1200, struct.pack("<QII", 1150, 10, 11) + addr(key + 0x100)) + \
        sys_rec(perf, 0x1823, 1300, addr(key, 0xFFFFF80021489100, 0xFFFFF80021489200)) + \
        sys_rec(perf, 0x1824, 1300, addr(key + 0x100, 0x401700))
    head = etl_buffer(logfile_header(ptr, lost) + sys_rec(perf, 0x0005, 1000, b"\0" * 36),
                      0, 0, flags=0x21, size=0x200)
    return head + etl_buffer(cpu0, 0, 1, compress, 0x20 | (2 if lost else 0)) + \
        etl_buffer(cpu1, 1, 2, compress)


def etl():
    put("etl", "kernel-64", etl_trace())
    put("etl", "compressed-64", etl_trace(compress=True))
    put("etl", "pointer-32", etl_trace(ptr=4))
    put("etl", "lost-events", etl_trace(lost=3))
    put("etl", "compressed-cut", etl_trace(compress=True)[:0x280])
    put("etl", "lz77-long-match", etl_buffer(logfile_header(), 0, 0, flags=0x21) +
        etl_buffer(sys_rec(17, 0x0F2E, 2000, b"\x5a" * 600), 0, 1, True))


if __name__ == "__main__":
    for gen in (decode, engine, config, control, filter_, etl):
        gen()
    sys.exit(0)
