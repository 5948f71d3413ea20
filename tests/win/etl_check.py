#!/usr/bin/env python3
# tests/win/etl_check.py - what tests/meta/etl.sh checks etl_dump's output
# against, decoded here on its own: the uncompressed kernel trace walked
# by this script's own buffer reader, and PerfView's baseline text.
#
#   etl_check.py shutdown FILE.etl DUMP   (DUMP: etl_dump --hex output)
#   etl_check.py baseline BASELINE.txt DUMP
#   etl_check.py decoded BASELINE.txt DUMP  (DUMP: etl_dump --decode output)
#   etl_check.py rows STATUS.json DUMP      (memwatchctl status --json of
#                                           an import; DUMP: etl_dump --hex)
#
# Prints one "ok NAME" or "bad NAME: why" line per check.
import re
import struct
import sys


def parse_dump(path):
    events, counts, info = [], {}, {}
    for line in open(path, encoding='utf-8'):
        if line.startswith('E '):
            f = line.split()
            ev = {'t': float(f[1])}
            for w in f[2:]:
                if '=' in w:
                    k, v = w.split('=', 1)
                    ev.setdefault(k, v)
            ev['kind'] = f[5]
            events.append(ev)
        elif line.startswith('count '):
            key, n = line[6:].rsplit(' ', 1)
            counts[key] = int(n)
        elif line.startswith('info '):
            for w in line.split()[2:]:
                k, v = w.split('=', 1)
                info[k] = int(v, 0)
    return events, counts, info


def result(name, good, why=''):
    print(('ok %s' % name) if good else ('bad %s: %s' % (name, why)))


def shutdown(etl, dump):
    """Walk the file's 64 KiB buffers with nothing but the documented
    offsets, keep the SYSTEM-header (type 2) thread and image records."""
    d = open(etl, 'rb').read()
    mine = []
    off = 0
    while off + 0x48 <= len(d):
        size, used = struct.unpack_from('<II', d, off)
        pos = off + 0x48
        while pos + 8 <= off + used:
            if struct.unpack_from('<I', d, pos)[0] == 0xFFFFFFFF:
                break
            htype = d[pos + 2]
            rsize, hook = struct.unpack_from('<HH', d, pos + 4)
            if htype == 2 and hook in (0x0501, 0x0502, 0x030A, 0x1402):
                tid, pid = struct.unpack_from('<II', d, pos + 8)
                mine.append((hook, pid, tid, d[pos + 32:pos + rsize].hex()))
            elif htype == 0x11 and hook in (0x0501, 0x0502, 0x030A, 0x1402):
                mine.append((hook, -1, -1, d[pos + 16:pos + rsize].hex()))
            pos += (rsize + 7) & ~7
        off += size
    events, counts, info = parse_dump(dump)
    want = {0x0501: 350, 0x0502: 1032, 0x030A: 72, 0x1402: 4791}
    names = {0x0501: 'thread_start', 0x0502: 'thread_end',
             0x030A: 'image_load', 0x1402: 'image_unload'}
    for hook, n in want.items():
        got = counts.get('sys hook=0x%04x' % hook, 0)
        result('count_' + names[hook], got == n,
               'etl_dump counts %d, the README says %d' % (got, n))
        here = sum(1 for m in mine if m[0] == hook)
        result('walked_' + names[hook], here == n,
               'this script walks %d, the README says %d' % (here, n))
    theirs = sorted((int(e['hook'], 16), int(e['pid']), int(e['tid']), e['data'])
                    for e in events if e['kind'] == 'sys' and
                    int(e['hook'], 16) in want)
    result('same_records', theirs == sorted(mine),
           '%d records differ' % len(set(theirs) ^ set(mine)))
    # Thread start payload (v3): ProcessId, TThreadId; image load:
    # ImageBase, ImageSize, ProcessId, ..., FileName at 56 (64-bit).
    # A thread's start is logged by the thread that creates it: each new
    # thread id (payload: ProcessId, TThreadId) is new.
    tids = [struct.unpack_from('<I', bytes.fromhex(m[3]), 4)[0] for m in mine if m[0] == 0x0501]
    result('thread_start_tids', len(set(tids)) == len(tids) and 0 not in tids,
           'thread ids of thread starts repeat or are 0')
    loads = [m for m in mine if m[0] == 0x030A]
    named = 0
    for m in loads:
        p = bytes.fromhex(m[3])
        base, isize = struct.unpack_from('<QQ', p)
        name = p[56:].decode('utf-16-le', 'replace').split('\0')[0]
        if base and isize and name.lower().endswith(('.dll', '.exe', '.sys', '.mui', '.drv', '.cpl', '.ocx')):
            named += 1
    result('image_load_names', named == len(loads),
           '%d of %d image loads with a base, a size and a module name' % (named, len(loads)))
    times = [e['t'] for e in events]
    result('time_order', times == sorted(times), 'events out of time order')
    result('no_loss', info.get('events_lost') == 0 and info.get('buffers_lost') == 0 and
           info.get('flagged_events_lost') == 0, 'losses reported: %s' % info)


KERNEL = {  # PerfView's names of kernel events: group << 8 | type
    'Image/DCStart': 0x1403, 'Image/DCStop': 0x1404, 'Image/Load': 0x030A,
    'Image/Unload': 0x1402, 'Process/DCStart': 0x0303, 'Process/DCStop': 0x0304,
    'Process/Start': 0x0301, 'Process/Stop': 0x0302, 'Thread/Start': 0x0501,
    'Thread/Stop': 0x0502, 'DiskIO/Read': 0x010A, 'DiskIO/Write': 0x010B,
    'DiskIO/ReadInit': 0x010C, 'DiskIO/WriteInit': 0x010D,
    'Memory/HardFault': 0x0220, 'TcpIp/SendIPV6': 0x061A,
    'TcpIp/RecvIPV6': 0x061B, 'UdpIp/Recv': 0x080B, 'UdpIp/Send': 0x080A,
    'EventTrace/Extension': 0x0005, 'EventTrace/EndExtension': 0x0020,
    'EventTrace/RundownComplete': 0x0008, 'SystemConfig/Services': 0x0B0F,
    'SystemConfig/PnP': 0x0B16,
}


def num(v):
    v = v.replace(',', '')
    return int(v, 16) if v.startswith('0x') else int(v)


def stacks(events, info):
    """Every StackWalk record given with an event, every key resolved,
    and the frames where modules are: kernel frames in the kernel's
    modules (loaded by processes 0 and 4), user frames in their own
    process's (JIT-compiled .NET code is in none)."""
    result('stacks_attached', info['stack_records'] > 0 and
           info['stack_attached'] == info['stack_records'] and info['stack_orphans'] == 0,
           '%d of %d StackWalk records given with their event' %
           (info['stack_attached'], info['stack_records']))
    result('stacks_keys', info['key_definitions'] > 0 and info['keys_unresolved'] == 0,
           '%d key references unresolved' % info['keys_unresolved'])
    mods = {}
    for e in events:
        hook = int(e.get('hook', '0'), 16)
        if e['kind'] == 'sys' and (hook >> 8 == 0x14 or hook == 0x030A):
            p = bytes.fromhex(e['data'])
            if len(p) >= 20:
                base, size = struct.unpack_from('<QQ', p)
                mods.setdefault(struct.unpack_from('<I', p, 16)[0], []).append((base, base + size))
    n = {}
    kinds = set()
    for e in events:
        if 'frames' not in e:
            continue
        kinds.add(e['stack'])
        pid = int(e.get('spid', e['pid']))
        for fr in e['frames'].split(','):
            a = int(fr, 16)
            kernel = a >= 0xFFFF800000000000
            rng = mods.get(0, []) + mods.get(4, []) if kernel else mods.get(pid, [])
            key = ('kernel' if kernel else 'user', any(lo <= a < hi for lo, hi in rng))
            n[key] = n.get(key, 0) + 1
    kin = n.get(('kernel', True), 0) / max(1, n.get(('kernel', True), 0) + n.get(('kernel', False), 0))
    uin = n.get(('user', True), 0) / max(1, n.get(('user', True), 0) + n.get(('user', False), 0))
    print('figure stack_frames kernel=%d in_modules=%.4f user=%d in_modules=%.4f' %
          (n.get(('kernel', True), 0) + n.get(('kernel', False), 0), kin,
           n.get(('user', True), 0) + n.get(('user', False), 0), uin))
    result('stacks_kinds', kinds == {'inline', 'cached', 'ext'}, 'stacks seen: %s' % sorted(kinds))
    result('stacks_kernel_frames', kin >= 0.99, '%.4f of kernel frames in kernel modules' % kin)
    result('stacks_user_frames', uin >= 0.75, '%.4f of user frames in their process\'s modules' % uin)


def ids(e):
    """The (pid, tid) pairs PerfView may show for e: its header's, or for
    kernel events that name their process in the payload, those."""
    out = [(int(e['pid']), int(e['tid']))]
    p = bytes.fromhex(e.get('data', ''))
    hook = int(e.get('hook', '0'), 16)
    if (hook >> 8 == 0x14 or hook == 0x030A) and len(p) >= 20:
        out.append((struct.unpack_from('<I', p, 16)[0], -1))
    elif hook >> 8 == 0x05 and len(p) >= 8:
        out.append(struct.unpack_from('<II', p))
    elif hook >> 8 == 0x03 and len(p) >= 16:
        out.append((struct.unpack_from('<I', p, 8)[0], -1))
    elif hook >> 8 == 0x0B:
        out.append((-1, -1))
    return out


def baseline(base, dump):
    events, counts, info = parse_dump(dump)
    lines = [l for l in open(base, encoding='utf-8') if l.startswith('EVENT ')]
    by_t = {}
    for i, e in enumerate(events):
        by_t.setdefault(round(e['t'], 3), []).append(i)
    matched, fields_bad, hooks_bad, checked = 0, [], [], 0
    for l in lines:
        m = re.match(r'EVENT ([\d,.]+): (.*?) PID=(-?\d+); TID=(-?\d+); .*?ProceNum=(\d+); DataLen=(\d+); (.*)', l)
        t, name, pid, tid, cpu, dlen, rest = m.groups()
        t = float(t.replace(',', ''))
        fields = dict(kv.split('=', 1) for kv in rest.strip().rstrip(';').split('; ') if '=' in kv)
        hit = None
        for dt in (0, -0.001, 0.001):
            for i in by_t.get(round(t + dt, 3), []):
                e = events[i]
                if int(e['cpu']) != int(cpu) or int(e['len']) != int(dlen):
                    continue
                if not any((int(pid) == -1 or a in (-1, int(pid))) and
                           (int(tid) == -1 or b in (-1, int(tid))) for a, b in ids(e)):
                    continue
                hit = e
                break
            if hit:
                break
        if not hit:
            continue
        matched += 1
        short = name.split('/', 1)[1] if name.startswith('Windows Kernel/') else None
        if short in KERNEL and int(hit['hook'], 16) != KERNEL[short]:
            hooks_bad.append('%s at %.3f is hook %s' % (name, t, hit['hook']))
        p = bytes.fromhex(hit.get('data', ''))
        if short in ('Image/DCStart', 'Image/Load', 'Image/DCStop', 'Image/Unload'):
            checked += 1
            base_, size_ = struct.unpack_from('<QQ', p)
            csum = struct.unpack_from('<I', p, 20)[0]
            if (base_, size_, csum) != (num(fields['ImageBase']), num(fields['ImageSize']),
                                        num(fields['ImageChecksum'])):
                fields_bad.append('%s at %.3f' % (name, t))
        elif short in ('Thread/Start', 'Thread/Stop'):
            checked += 1
            spid, stid = struct.unpack_from('<II', p)
            sbase = struct.unpack_from('<Q', p, 8)[0]
            if (spid, stid) != (int(pid), int(tid)) or \
               ('StackBase' in fields and sbase != num(fields['StackBase'])):
                fields_bad.append('%s at %.3f' % (name, t))
        elif short in ('Process/DCStart', 'Process/Start', 'Process/DCStop', 'Process/Stop'):
            checked += 1
            key = struct.unpack_from('<Q', p)[0]
            ppid, parent = struct.unpack_from('<II', p, 8)
            if (key, ppid, parent) != (num(fields['UniqueProcessKey']), num(fields['ProcessID']),
                                       num(fields['ParentID'])):
                fields_bad.append('%s at %.3f' % (name, t))
    rate = matched / len(lines)
    print('figure baseline_events=%d matched=%d rate=%.4f fields_checked=%d' %
          (len(lines), matched, rate, checked))
    result('baseline_match', matched == len(lines), 'only %d of %d baseline events found (time, cpu, pid, tid, length)'
           % (matched, len(lines)))
    result('baseline_hooks', not hooks_bad, '; '.join(hooks_bad[:3]))
    result('baseline_fields', not fields_bad and checked >= 25,
           '%d of %d events with other fields: %s' % (len(fields_bad), checked, '; '.join(fields_bad[:3])))
    # The header event's fields, and the counts of kernel events.
    hdr = next(l for l in lines if ': Windows Kernel/EventTrace PID')
    f = dict(kv.split('=', 1) for kv in hdr.split('; ') if '=' in kv)
    pairs = [('buffer_size', 'BufferSize'), ('version', 'Version'),
             ('provider_version', 'ProviderVersion'), ('ncpu', 'NumberOfProcessors'),
             ('buffers_written', 'BuffersWritten'), ('pointer_size', 'PointerSize'),
             ('events_lost', 'EventsLost'), ('buffers_lost', 'BuffersLost'),
             ('perf_freq', 'PerfFreq')]
    wrong = ['%s=%s (PerfView %s)' % (a, info.get(a), f[b]) for a, b in pairs
             if info.get(a) != num(f[b])]
    result('baseline_header', not wrong, ', '.join(wrong))
    want = {}
    for l in open(base, encoding='utf-8'):
        m = re.match(r'COUNT Windows Kernel/(.*):(\d+)', l)
        if m and m.group(1) in KERNEL:
            want[m.group(1)] = int(m.group(2))
    wrong = ['%s %d (PerfView %d)' % (k, counts.get('sys hook=0x%04x' % KERNEL[k], 0), n)
             for k, n in want.items() if counts.get('sys hook=0x%04x' % KERNEL[k], 0) != n]
    result('baseline_counts', not wrong and len(want) >= 15, '; '.join(wrong) or 'too few names')
    stacks(events, info)
    # PerfInfo/Sample is left out: PerfView counts 6,320 of the 79,529
    # sample records, which neither the non-idle ones (payload ThreadId not
    # 0) nor those with a stack give exactly.


def decoded(base, dump):
    """The trace through the collector's decoder: of what it decodes
    (heap, StackWalk, Microsoft-Windows-Kernel-Process, and the kernel's
    Thread and Process events fed as Kernel-Process ones), this trace has
    Kernel-Process' ProcessStart and ProcessStop and the kernel's Process
    End of the same process; the decoder makes a process exit of each,
    with PerfView's pid, exit code and exit time (to the 10 ms PerfView
    prints)."""
    stops = [l for l in open(base, encoding='utf-8')
             if l.startswith('EVENT ') and 'Kernel-Process/ProcessStop/Stop' in l]
    got = [l.split() for l in open(dump, encoding='utf-8') if l.startswith('D ')]
    info = {}
    for l in open(dump, encoding='utf-8'):
        if l.startswith('info decoded'):
            info = dict(w.split('=') for w in l.split()[2:])
    want = []
    for l in stops:
        f = dict(kv.split('=', 1) for kv in l.split('; ') if '=' in kv)
        m = re.search(r'ProcessID=([\d,]+)', l)
        t = re.match(r'(\d\d)/(\d\d)/(\d\d) (\d\d:\d\d:\d\d\.\d\d)', f['ExitTime'])
        want.append(('proc_exit', 'pid=%d' % num(m.group(1)), 'code=%d' % num(f['ExitCode']),
                     '20%s-%s-%s %s' % (t.group(1), t.group(2), t.group(3), t.group(4))))
    have = sorted(set((g[1], g[2], g[6], (g[4][4:] + ' ' + g[5])[:22]) for g in got
                      if g[1] == 'proc_exit'))
    result('decoded_proc_exit', want and have == want,
           'decoded %s, PerfView says %s' % (have, want))
    result('decoded_no_bad', info.get('bad') == '0' and int(info.get('records', 0)) > 0,
           'the decoder found payloads too short: %s' % info)


def rows(status, dump):
    """What memwatchctl import made of a trace (status, its --json
    output) against this walk of the reader's events (DUMP: etl_dump
    --hex): the processes a Process Start or DCStart names (pid not 0),
    each counted from its first Process Start/DCStart or Thread event in
    the trace (again after its Process End: a reused pid), and its threads,
    one per Thread Start or DCStart, and one per Thread End of a thread
    not running then."""
    evs = []
    for e in parse_dump(dump)[0]:
        if e['kind'] != 'sys':
            continue
        hook = int(e['hook'], 16)
        if hook >> 8 not in (3, 5) or not 1 <= hook & 0xff <= 4:
            continue
        p = bytes.fromhex(e['data'])
        evs.append((hook, struct.unpack_from('<I', p, 8 if hook >> 8 == 3 else 0)[0], p))
    shown = {pid for hook, pid, _ in evs if hook in (0x0301, 0x0303) and pid}
    alive, running, procs = set(), set(), []
    for hook, pid, p in evs:
        if pid not in shown:
            continue
        if pid not in alive:
            if hook in (0x0302, 0x0304):
                continue
            alive.add(pid)
            procs.append([pid, 0])
        cur = [x for x in procs if x[0] == pid][-1]
        if hook >> 8 == 5:
            tid = struct.unpack_from('<I', p, 4)[0]
            if hook in (0x0501, 0x0503) or (hook == 0x0502 and (pid, tid) not in running):
                cur[1] += 1
            if hook in (0x0501, 0x0503):
                running.add((pid, tid))
            elif hook == 0x0502:
                running.discard((pid, tid))
        elif hook == 0x0302:
            alive.discard(pid)
            running = {t for t in running if t[0] != pid}
    want = sorted(tuple(x) for x in procs)
    import json
    got = sorted((r['pid'], r['threads']) for r in json.load(open(status))['processes'])
    print('figure rows processes=%d threads=%d imported=%d/%d' %
          (len(want), sum(n for _, n in want), len(got), sum(n for _, n in got)))
    result('rows_processes', [p for p, _ in got] == [p for p, _ in want],
           'imported %d processes, the trace shows %d' % (len(got), len(want)))
    result('rows_threads', got == want, 'threads per process differ: %s' %
           sorted(set(got) ^ set(want))[:6])


if __name__ == '__main__':
    modes = {'shutdown': shutdown, 'baseline': baseline, 'decoded': decoded, 'rows': rows}
    if len(sys.argv) != 4 or sys.argv[1] not in modes:
        sys.exit('usage: etl_check.py shutdown|baseline|decoded|rows FILE DUMP')
    modes[sys.argv[1]](sys.argv[2], sys.argv[3])
