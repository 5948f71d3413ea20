#!/usr/bin/env bash
# tests/bench/overhead.sh - what tracing costs a program, as ratios taken
# in one run (never as pass/fail: machines are noisy). `make bench` runs
# it.
#
# The program: tests/workloads/churn, threads doing malloc/realloc/free
# and a TLS value each, ROUNDS rounds. Each way of running it is timed
# REPS times, alternating, and the median kept:
#   - plain: untraced;
#   - full: memwatchd -- churn (every malloc and free trapped);
#   - tls:  memwatchd --tls -- churn (malloc and free untouched).
# The daemon's own start and stop are timed apart (memwatchd -- true) and
# taken out, so the ratios are about the traced program. Prints one line
# per way and the ratios to plain.
set -euo pipefail

cd "$(dirname "$0")/../.."
OUT=.output
ROUNDS=${ROUNDS:-20}
REPS=${REPS:-3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [[ $EUID -ne 0 ]]; then
	echo "bench: must run as root (memwatchd loads eBPF)" >&2
	exit 1
fi

now() { date +%s%N; }

# time_ns CMD...: wall time of CMD in ns.
time_ns() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null 2>&1
	t1=$(now)
	echo $((t1 - t0))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A runs
for ((i = 0; i < REPS; i++)); do
	runs[plain]+="$(time_ns "$OUT/workloads/churn" "$ROUNDS") "
	runs[full]+="$(time_ns "$OUT/memwatchd" --db "$TMP/f$i.db" --socket "$TMP/s" -- "$OUT/workloads/churn" "$ROUNDS") "
	runs[tls]+="$(time_ns "$OUT/memwatchd" --tls --db "$TMP/t$i.db" --socket "$TMP/s" -- "$OUT/workloads/churn" "$ROUNDS") "
	runs[fixed]+="$(time_ns "$OUT/memwatchd" --db "$TMP/x$i.db" --socket "$TMP/s" -- true) "
	runs[fixed_tls]+="$(time_ns "$OUT/memwatchd" --tls --db "$TMP/y$i.db" --socket "$TMP/s" -- true) "
done

med() { tr ' ' '\n' <<<"${runs[$1]}" | grep . | median; }
plain=$(med plain)
fixed=$(med fixed)
fixed_tls=$(med fixed_tls)
full=$(($(med full) - fixed))
tls=$(($(med tls) - fixed_tls))
allocs=$(sqlite3 "$TMP/f0.db" "select allocs from processes where comm = 'churn'")
events=$(sqlite3 "$TMP/t0.db" "select allocs from processes where comm = 'churn'")

awk -v r="$ROUNDS" -v n="$REPS" -v p="$plain" -v f="$full" -v t="$tls" \
	-v fx="$fixed" -v ft="$fixed_tls" -v a="$allocs" -v e="$events" 'BEGIN {
	printf "bench: churn %s rounds, median of %s\n", r, n
	printf "  plain  %8.3f s\n", p / 1e9
	printf "  full   %8.3f s  (%d allocations traced; daemon start+stop %.3f s taken out)\n", f / 1e9, a, fx / 1e9
	printf "  tls    %8.3f s  (%d allocations traced; daemon start+stop %.3f s taken out)\n", t / 1e9, e, ft / 1e9
	printf "  ratio full/plain %.2f, tls/plain %.2f\n", f / p, t / p
	if (a > 0)
		printf "  full mode cost per allocation: %.1f us\n", (f - p) / a / 1000
}'
