#!/usr/bin/env bash
# tests/bench/engine_cost.sh - the engine's cost per event, in instructions
# counted by callgrind: the same figure on every run of the same binary,
# however busy the machine is.
#
#   [MWREPLAY=BIN] tests/bench/engine_cost.sh [EVENTS=500000]
#
# Replays a synthetic stream through .output/mwreplay: four threads
# allocating from 50 sites (3-frame stacks) with 100,000 blocks live, each
# allocation past that followed by the free of a random live block, a
# flush every 50,000 allocations. Only the engine's own calls are counted
# (engine__feed, engine__tick, engine__flush, with what they call), not
# mwreplay's parsing. Prints "N instructions per event" on its last line.
set -euo pipefail

cd "$(dirname "$0")/../.." || exit 1
EVENTS=${1:-500000}
REPLAY=${MWREPLAY:-.output/mwreplay}
if [[ ! -x $REPLAY ]]; then
	echo "engine_cost.sh: $REPLAY missing: run make first" >&2
	exit 1
fi
if ! command -v valgrind >/dev/null; then
	echo "engine_cost.sh: valgrind is not installed (make deps)" >&2
	exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# EVENTS events: allocations, and a free after each past the first 100k.
awk -v events="$EVENTS" 'BEGIN {
	srand(7)
	allocs = events <= 100000 ? events : 100000 + (events - 100000) / 2
	print "attach 0 pid=100 comm=cost"
	for (th = 101; th <= 104; th++)
		printf "0 thread_start pid=100 tid=%d\n", th
	n = 0; t = 0
	for (i = 0; i < allocs; i++) {
		t += 0.001
		th = 101 + i % 4
		a = sprintf("0x%x", 268435456 + i * 48)
		printf "%.3f alloc pid=100 tid=%d addr=%s size=%d " \
		       "stack=0x%x,0x500000,0x600000\n", t, th, a, 32 + i % 64,
		       4194304 + (i % 50) * 64
		live[n++] = a
		if (n > 100000) {
			j = int(rand() * n)
			printf "%.3f free pid=100 tid=%d addr=%s site=0x700000\n",
			       t, th, live[j]
			live[j] = live[--n]
		}
		if (i % 50000 == 0)
			printf "flush %.3f\n", t
	}
	printf "end %.3f\n", t + 10
}' >"$TMP/events"
n=$(grep -c -E '^[0-9.]+ (alloc|free) ' "$TMP/events")
valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
	--toggle-collect=engine__feed --toggle-collect=engine__tick \
	--toggle-collect=engine__flush "$REPLAY" "$TMP/events" \
	>/dev/null 2>"$TMP/cg.err" || {
	echo "engine_cost.sh: callgrind failed: $(tail -n 1 "$TMP/cg.err")" >&2
	exit 1
}
ir=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\).*/\1/p' "$TMP/cg.err")
if [[ -z $ir ]]; then
	echo "engine_cost.sh: no instruction count from callgrind" >&2
	exit 1
fi
echo "$n events, $ir instructions"
awk -v i="$ir" -v n="$n" 'BEGIN { printf "%.0f instructions per event\n", i / n }'
