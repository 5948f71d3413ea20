#!/usr/bin/env bash
# tests/demo.sh - what `make demo` runs once everything is built: trace a
# toy thread-per-request server that leaks its per-thread scratch buffers
# (tests/workloads/demo_leaky.c) under memwatchd, then show what
# memwatchctl reports and how to ask again. Exits non-zero if memwatchd
# fails or finds nothing.
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "demo.sh: must run as root (memwatchd loads eBPF programs); try: sudo make demo" >&2
	exit 1
fi

mwd=.output/memwatchd
mwctl=.output/memwatchctl
# Kept after the demo, so the commands printed at the end still work.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/memwatch-demo.XXXXXX")
db=$tmp/demo.db
sock=$tmp/s.sock

echo "==> Tracing a toy server: 20 requests, each on a fresh thread, each"
echo "    thread keeping a 16 KiB scratch buffer in a pthread key that has"
echo "    no destructor."
echo "    \$ $mwd --db $db --socket $sock -- .output/workloads/demo_leaky"
rc=0
"$mwd" --db "$db" --socket "$sock" -- .output/workloads/demo_leaky || rc=$?
if [[ $rc -ne 0 ]]; then
	echo "demo.sh: memwatchd exited with status $rc" >&2
	exit 1
fi

echo
echo "==> Findings: each row is a block that was still bound to a thread's"
echo "    TLS slot after that thread exited, with the function that"
echo "    allocated it (request_scratch_buffer). The per-thread statistics"
echo "    objects (request_stats_get) are not listed: their key frees them."
"$mwctl" --db "$db" findings
echo
echo "==> Threads: the 20 handler threads have exited, yet each still owns"
echo "    one live 16 KiB block (live_blocks, live_bytes): the leaked buffer."
"$mwctl" --db "$db" threads
echo
first=$("$mwctl" --db "$db" --json findings | jq -r '.[0].id // empty')
if [[ -n $first ]]; then
	echo "==> One finding explained: its evidence and the stack that"
	echo "    allocated the buffer, down to the request handler."
	echo "    \$ $mwctl --db $db explain $first"
	"$mwctl" --db "$db" explain "$first"
	echo
fi
echo "==> Sites holding the most live memory:"
"$mwctl" --db "$db" top --limit 3
echo
echo "==> Ask again with:"
echo "    $mwctl --db $db findings"
echo "    $mwctl --db $db explain ID"
echo "    $mwctl --db $db threads"
echo "    $mwctl --db $db --json findings      # the same, as JSON"
echo "    (rm -rf $tmp when done)"

n=$("$mwctl" --db "$db" --json findings | jq length)
if [[ $n -eq 0 ]]; then
	echo "demo.sh: memwatch reported no finding; the demo expected 20" >&2
	exit 1
fi
