"""tests/e2e/real/threads.py - a threaded Python workload for
tests/e2e/real_programs.sh: ROUNDS rounds of WORKERS threading.Thread
workers, each doing real work (hashing, json round trips, building and
sorting lists), results collected through a queue.Queue, all threads
joined each round, a short pause between rounds (so that the run lasts a
few seconds, long enough for memwatchd's time-based rules). Prints
"threads=N results=N" and exits 0 only if every result arrived and
checks out.

usage: python3 threads.py [ROUNDS [WORKERS [PAUSE]]]
"""

import hashlib
import json
import queue
import sys
import threading
import time


def work(n, out):
    # Hashing: chain sha256 over growing inputs.
    h = hashlib.sha256()
    data = bytearray()
    for i in range(200):
        data += (b"%d:%d;" % (n, i)) * 8
        h.update(data[-64:])
    digest = hashlib.blake2b(bytes(data)).hexdigest()
    # JSON: build a nested document, encode, decode, compare.
    doc = {
        "worker": n,
        "items": [{"i": i, "s": str(i) * (i % 7 + 1), "f": i / 3} for i in range(300)],
        "tags": {f"k{i}": [i, str(i)] for i in range(50)},
    }
    text = json.dumps(doc, sort_keys=True)
    back = json.loads(text)
    assert back == doc
    # Lists: build, sort, filter, join.
    xs = sorted((i * 7919) % 10007 for i in range(5000))
    evens = [x for x in xs if x % 2 == 0]
    joined = ",".join(map(str, evens[:500]))
    out.put((n, h.hexdigest(), digest, len(text), len(evens), len(joined)))


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.15
    results = queue.Queue()
    total = 0
    for r in range(rounds):
        threads = [
            threading.Thread(target=work, args=(r * workers + w, results))
            for w in range(workers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total += workers
        time.sleep(pause)
    got = []
    while not results.empty():
        got.append(results.get_nowait())
    ids = sorted(g[0] for g in got)
    if ids != list(range(total)):
        print(f"missing results: got {len(got)} of {total}", file=sys.stderr)
        return 1
    if len({g[1] for g in got}) != total:
        print("hashes are not distinct", file=sys.stderr)
        return 1
    print(f"threads={total} results={len(got)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
