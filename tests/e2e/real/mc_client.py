"""tests/e2e/real/mc_client.py - a small memcached text-protocol client for
tests/e2e/real_programs.sh. It only ever connects to 127.0.0.1.

usage:
  python3 mc_client.py freeport             print a free TCP port on 127.0.0.1
  python3 mc_client.py ping PORT [SECONDS]  wait until memcached answers
                                            "version" (exit 1 if it never does)
  python3 mc_client.py load PORT CONNS OPS  CONNS threads, each with its own
                                            connection, doing OPS rounds of
                                            set/get/delete (values of 1 byte
                                            to 64 KiB) and, every 4th round,
                                            a stats command; exit 0 if every
                                            reply was right
  python3 mc_client.py check PORT           one set and one get; exit 0 if the
                                            value came back
Every run is bounded: a socket timeout per reply and a deadline for load.
"""

import socket
import sys
import threading
import time

HOST = "127.0.0.1"  # never anything else
TIMEOUT = 5.0
DEADLINE = 40.0


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("memcached closed the connection")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def cmd(self, data):
        self.sock.sendall(data)
        return self.line()

    def set(self, key, value, flags=0):
        head = b"set %s %d 0 %d\r\n" % (key, flags, len(value))
        return self.cmd(head + value + b"\r\n")

    def get(self, key):
        self.sock.sendall(b"get %s\r\n" % key)
        line = self.line()
        if line == b"END":
            return None
        parts = line.split()
        if len(parts) != 4 or parts[0] != b"VALUE" or parts[1] != key:
            raise ValueError(f"bad reply to get: {line!r}")
        value = self.exact(int(parts[3]) + 2)[:-2]
        if self.line() != b"END":
            raise ValueError("get: no END")
        return value

    def delete(self, key):
        return self.cmd(b"delete %s\r\n" % key)

    def stats(self, sub):
        """A stats command; memcached builds its reply in a malloc'd buffer
        that it grows with realloc and frees once sent."""
        self.sock.sendall(b"stats %s\r\n" % sub if sub else b"stats\r\n")
        n = 0
        while True:
            line = self.line()
            if line == b"END":
                return n
            if not line.startswith(b"STAT "):
                raise ValueError(f"bad reply to stats {sub!r}: {line!r}")
            n += 1


SIZES = (1, 10, 100, 700, 1500, 4000, 9000, 20000, 65536)
STATS = (b"", b"settings", b"slabs", b"items", b"conns")


def value_for(c, i):
    size = SIZES[(c * 7 + i) % len(SIZES)]
    seed = b"%d.%d|" % (c, i)
    return (seed * (size // len(seed) + 1))[:size]


def worker(port, c, ops, deadline, errors):
    try:
        conn = Conn(port)
        try:
            for i in range(ops):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"conn {c}: deadline at op {i}")
                key = b"k%d_%d" % (c, i % 50)
                val = value_for(c, i)
                if conn.set(key, val, i) != b"STORED":
                    raise ValueError(f"conn {c}: set {key!r} not stored")
                if conn.get(key) != val:
                    raise ValueError(f"conn {c}: get {key!r} wrong value")
                if i % 3 == 2:
                    if conn.delete(key) != b"DELETED":
                        raise ValueError(f"conn {c}: delete {key!r}")
                    if conn.get(key) is not None:
                        raise ValueError(f"conn {c}: {key!r} still there")
                if i % 4 == 3 and conn.stats(STATS[i % len(STATS)]) == 0:
                    raise ValueError(f"conn {c}: empty stats")
        finally:
            conn.close()
    except Exception as e:  # report every failure, one line each
        errors.append(f"{type(e).__name__}: {e}")


def load(port, conns, ops):
    deadline = time.monotonic() + DEADLINE
    errors = []
    threads = [
        threading.Thread(target=worker, args=(port, c, ops, deadline, errors))
        for c in range(conns)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        print(e, file=sys.stderr)
    print(f"conns={conns} ops={conns * ops} errors={len(errors)}")
    return 1 if errors else 0


def ping(port, secs):
    end = time.monotonic() + secs
    while True:
        try:
            conn = Conn(port)
            try:
                if conn.cmd(b"version\r\n").startswith(b"VERSION "):
                    return 0
            finally:
                conn.close()
        except OSError:
            pass
        if time.monotonic() > end:
            return 1
        time.sleep(0.1)


def check(port):
    conn = Conn(port)
    try:
        val = b"still serving %f" % time.time()
        if conn.set(b"after_detach", val) != b"STORED":
            return 1
        return 0 if conn.get(b"after_detach") == val else 1
    finally:
        conn.close()


def freeport():
    with socket.socket() as s:
        s.bind((HOST, 0))
        print(s.getsockname()[1])
    return 0


def main(argv):
    if len(argv) >= 1 and argv[0] == "freeport":
        return freeport()
    if len(argv) >= 2 and argv[0] == "ping":
        return ping(int(argv[1]), float(argv[2]) if len(argv) > 2 else 10)
    if len(argv) == 4 and argv[0] == "load":
        return load(int(argv[1]), int(argv[2]), int(argv[3]))
    if len(argv) == 2 and argv[0] == "check":
        return check(int(argv[1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
