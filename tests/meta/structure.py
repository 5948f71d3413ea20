#!/usr/bin/env python3
# tests/meta/structure.py - the tree is the diagram (docs/ARCHITECTURE.md):
# checks, on the sources and on the objects the build made, what the
# folder listing promises. Prints one "PASS: structure/NAME" or
# "FAIL: structure/NAME: reason" line per check, like every suite.
#
#   tests/meta/structure.py OUT [ROOT]   (OUT: the build tree, .output;
#                                         ROOT: the tree, this one's)
#
# - layers: a file includes only headers of its own folder or of folders
#   below it in the flow common <- engine <- store <- {daemon, ctl, win}
#   (the Makefile's per-folder include paths enforce it at build time;
#   this says which file broke it), and no product file includes a test's
#   header;
# - include_cycles: no two headers include each other, directly or not;
# - call_cycles: no two source files call each other, directly or not.
#   Read from the objects: file A calls file B when A's object has an
#   undefined symbol B's object defines. Callbacks passed as pointers are
#   not calls here, which is the point: a lower layer calls up only
#   through a function it was handed;
# - sizes: no source file outside bpf/ over 1,000 lines, but those listed
#   in ONE_SUBJECT with the subject that makes them long;
# - sqlite: only store/ includes sqlite3.h (and win/winsqlite.c, which
#   loads winsqlite3.dll for the store on Windows);
# - listing: docs/ARCHITECTURE.md's folder listing names every source
#   file of the product folders, and no file that is gone ("name.[ch]"
#   names both of a pair).
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".output")
if len(sys.argv) > 2:
    ROOT = sys.argv[2]
os.chdir(ROOT)

RANK = {"common": 0, "engine": 1, "store": 2, "daemon": 3, "ctl": 3, "win": 3}
# What each folder may include, beyond its own headers (mirrors the
# Makefile's INC_* and the Windows build's include paths).
MAY = {
    "common": {"common"},
    "engine": {"common", "engine"},
    "store": {"common", "engine", "store"},
    "daemon": {"common", "engine", "store", "daemon", "bpf"},
    "ctl": {"common", "store", "ctl", "win"},
    "win": {"common", "engine", "store", "win"},
}
# Long files that are one subject, and why.
ONE_SUBJECT = {}

results = []


def check(name, problems):
    if problems:
        shown = "; ".join(problems[:6])
        more = len(problems) - 6
        if more > 0:
            shown += f"; and {more} more"
        results.append(f"FAIL: structure/{name}: {shown}")
    else:
        results.append(f"PASS: structure/{name}")


def sources():
    for folder in RANK:
        for f in sorted(os.listdir(folder)):
            if f.endswith((".c", ".h")):
                yield folder, os.path.join(folder, f)


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if m:
                yield m.group(1)


# Where each header name lives (names are unique across the tree).
where = {}
for folder, path in sources():
    if path.endswith(".h"):
        where.setdefault(os.path.basename(path), []).append(folder)
where.setdefault("memwatch.h", []).append("bpf")

layer_problems = []
graph = {}
for folder, path in sources():
    graph.setdefault(path, set())
    for inc in includes(path):
        base = os.path.basename(inc)
        if base.endswith(".skel.h"):
            if folder != "daemon":
                layer_problems.append(f"{path} includes the BPF skeleton {inc}")
            continue
        homes = where.get(base)
        if not homes:
            continue  # a generated or system-like header
        home = folder if folder in homes else homes[0]
        if home not in MAY[folder]:
            layer_problems.append(f"{path} includes {home}/{base}")
        if home != "bpf":
            graph[path].add(os.path.join(home, base))
check("layers", layer_problems)


def cycles(g):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(g):
        if v not in index:
            visit(v)
    return out


check("include_cycles", [" <-> ".join(c) for c in cycles(graph)])

# Call graph between source files, from the objects.
objs = {}
for folder in RANK:
    d = os.path.join(OUT, folder)
    if not os.path.isdir(d):
        continue
    for f in sorted(os.listdir(d)):
        src = os.path.join(folder, f[:-2] + ".c")
        if f.endswith(".o") and os.path.exists(src):
            objs[src] = os.path.join(d, f)
call_problems = []
if len(objs) < 20:
    call_problems.append(f"only {len(objs)} objects in {OUT}: build first (make all tests)")
defined = {}
# One nm for every object: "OBJECT:[ADDR] TYPE NAME" lines (-A).
of = {obj: src for src, obj in objs.items()}
undefined = {src: set() for src in objs}
if objs:
    nm = subprocess.run(["nm", "-A"] + list(of), capture_output=True,
                        text=True, check=True)
    for line in nm.stdout.splitlines():
        obj, _, rest = line.rpartition(".o:")
        src = of.get(obj + ".o")
        parts = rest.split()
        if src is None:
            continue
        if len(parts) == 3 and parts[1] in "TDBRC":
            defined.setdefault(parts[2], set()).add(src)
        elif len(parts) == 2 and parts[0] == "U":
            undefined[src].add(parts[1])
calls = {src: set() for src in objs}
for src, syms in undefined.items():
    for s in syms:
        for other in defined.get(s, ()):
            # Files of different programs can define one name (win/ and
            # daemon/ each have their own); a call stays within a layer
            # it may see.
            if other != src and other.split("/")[0] in MAY[src.split("/")[0]]:
                calls[src].add(other)
call_problems += [" <-> ".join(c) for c in cycles(calls)]
check("call_cycles", call_problems)

size_problems = []
for folder, path in sources():
    with open(path, encoding="utf-8", errors="replace") as fh:
        n = sum(1 for _ in fh)
    if n > 1000 and path not in ONE_SUBJECT:
        size_problems.append(f"{path} has {n} lines")
check("sizes", size_problems)

sqlite_problems = []
for folder, path in sources():
    if folder == "store" or path == "win/winsqlite.c":
        continue
    with open(path, encoding="utf-8", errors="replace") as fh:
        if re.search(r'#\s*include\s*[<"]sqlite3\.h[>"]', fh.read()):
            sqlite_problems.append(path)
check("sqlite", sqlite_problems)

# The listing: the fenced block that opens docs/ARCHITECTURE.md, one
# "folder/" line then its files, each "name  what it is for".
listing_problems = []
with open("docs/ARCHITECTURE.md", encoding="utf-8") as fh:
    doc = fh.read()
m = re.search(r"```\n(.*?)```", doc, re.S)
listed = set()
if not m:
    listing_problems.append("docs/ARCHITECTURE.md has no folder listing")
else:
    folder = None
    for line in m.group(1).splitlines():
        top = re.match(r"^(\S+)/\s", line + " ")
        if top:
            folder = top.group(1)
            continue
        f = re.match(r"^\s+(\S+)\.(c|h|\[ch\])(\s|$)", line)
        if f and folder:
            exts = ["c", "h"] if f.group(2) == "[ch]" else [f.group(2)]
            for e in exts:
                listed.add(os.path.join(folder, f"{f.group(1)}.{e}"))
    real = {p for _, p in sources()} | {
        os.path.join("bpf", f) for f in os.listdir("bpf") if f.endswith((".c", ".h"))}
    for p in sorted(real - listed):
        listing_problems.append(f"{p} is not in the listing")
    for p in sorted(listed - real):
        listing_problems.append(f"{p} is listed but does not exist")
check("listing", listing_problems)

print("\n".join(results))
sys.exit(1 if any(r.startswith("FAIL") for r in results) else 0)
