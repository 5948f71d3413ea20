#!/usr/bin/env bash
# tests/bench/kernel.sh - what memwatch costs on the kernel it runs on, in
# one run: the figures docs/KERNELS.md compares across kernels (the host's,
# and Debian's 6.1 and 6.12 in QEMU guests, `make bench-kernels`). Only
# ratios and figures taken in one run on one kernel mean anything: a
# guest under TCG runs everything many times slower than the host.
#
#   tests/bench/kernel.sh [PAIRS=200000] [REPS=3]
#
# Prints one "bench-kernel: NAME VALUE" line per figure:
#   floor_us, full_us    per malloc+free pair beyond untraced (the empty
#                        probes; full mode), alloc_pairs, one thread
#   full_ratio           full mode's time over untraced
#   tls_ratio, full_churn_ratio
#                        churn (threads, TLS values, malloc) in TLS mode
#                        and in full mode, over untraced
#   attach_ms, detach_ms memwatchctl attach and detach of a glibc process
#                        waiting at its start gate, full mode (median)
set -euo pipefail

cd "$(dirname "$0")/../.."
OUT=${MW_OUT:-.output}
WL=$OUT/workloads
MEMWATCHD=$OUT/memwatchd
MEMWATCHCTL=$OUT/memwatchctl
PAIRS=${1:-200000}
REPS=${2:-3}
# churn: 10 rounds of 2000 steps, a 100 ms sleep after each (churn.c).
ROUNDS=10

if [[ $EUID -ne 0 ]]; then
	echo "bench-kernel: must run as root (memwatchd loads eBPF)" >&2
	exit 1
fi
TMP=$(mktemp -d)
DAEMON_PID=
GATED=
cleanup() {
	[[ -n $DAEMON_PID ]] && kill -KILL "$DAEMON_PID" 2>/dev/null
	[[ -n $GATED ]] && kill -KILL "$GATED" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
N=0
BENCH=bench-kernel
# shellcheck source=lib.sh
source tests/bench/lib.sh

mw() {
	N=$((N + 1))
	"$MEMWATCHD" --db "$TMP/mw$N.db" --socket "$TMP/mw.sock" \
		--metrics-listen none "$@"
}

# Configurations interleaved, the median of REPS kept.
for ((i = 0; i < REPS; i++)); do
	sample plain "$WL/alloc_pairs" "$PAIRS"
	sample floor mw --bench-floor -- "$WL/alloc_pairs" "$PAIRS"
	sample full mw -- "$WL/alloc_pairs" "$PAIRS"
	sample churn_plain "$WL/churn" "$ROUNDS" 1
	sample churn_tls mw --tls -- "$WL/churn" "$ROUNDS" 1
	sample churn_full mw -- "$WL/churn" "$ROUNDS" 1
done
per_pair() {
	awk -v t="$(median "$1")" -v p="$(median plain)" -v n="$PAIRS" \
		'BEGIN { printf "%.2f", (t - p) / n / 1000 }'
}
ratio() {
	awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN { printf "%.2f", a / b }'
}

# Attach and detach: a daemon with no target, a glibc process at its
# start gate, memwatchctl attach (it answers once the probes are in
# place) and detach, timed from outside. This shell is a placeholder
# target: --no-follow, or every command it runs would be traced.
"$MEMWATCHD" --db "$TMP/ad.db" --socket "$TMP/ad.sock" --metrics-listen none \
	--no-follow --pid $$ >"$TMP/ad.out" 2>"$TMP/ad.err" &
DAEMON_PID=$!
for ((i = 0; i < 300; i++)); do
	"$MEMWATCHCTL" --db "$TMP/ad.db" --socket "$TMP/ad.sock" -j status 2>/dev/null |
		jq -e '.daemon != null' >/dev/null 2>&1 && break
	sleep 0.1
done
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
for ((i = 0; i < REPS; i++)); do
	MW_WAIT_FILE=$TMP/never "$WL/alloc_pairs" 10 >/dev/null 2>&1 &
	GATED=$!
	for ((j = 0; j < 100; j++)); do
		grep -q '/libc\.so' "/proc/$GATED/maps" 2>/dev/null && break
		sleep 0.05
	done
	t0=$(date +%s%N)
	"$MEMWATCHCTL" --db "$TMP/ad.db" --socket "$TMP/ad.sock" attach "$GATED" >/dev/null
	t1=$(date +%s%N)
	"$MEMWATCHCTL" --db "$TMP/ad.db" --socket "$TMP/ad.sock" detach "$GATED" >/dev/null
	t2=$(date +%s%N)
	T[attach]+="$(ms "$t0" "$t1") "
	T[detach]+="$(ms "$t1" "$t2") "
	kill -KILL "$GATED" 2>/dev/null
	wait "$GATED" 2>/dev/null || true
	GATED=
done
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
DAEMON_PID=

echo "bench-kernel: release $(uname -r)"
echo "bench-kernel: pairs $PAIRS reps $REPS"
echo "bench-kernel: plain_us $(awk -v p="$(median plain)" -v n="$PAIRS" 'BEGIN { printf "%.3f", p / n / 1000 }')"
echo "bench-kernel: floor_us $(per_pair floor)"
echo "bench-kernel: full_us $(per_pair full)"
echo "bench-kernel: full_ratio $(ratio full plain)"
echo "bench-kernel: tls_ratio $(ratio churn_tls churn_plain)"
echo "bench-kernel: full_churn_ratio $(ratio churn_full churn_plain)"
echo "bench-kernel: attach_ms $(median attach)"
echo "bench-kernel: detach_ms $(median detach)"
