#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS NAME... - run each fuzz harness
# (.output/fuzz/fuzz_NAME, built by make) for SECONDS, one after the other,
# each a single process, on a fresh copy of its seed corpus
# (tests/fuzz/corpus/NAME, never written to) and with its dictionary
# (tests/fuzz/NAME.dict) when there is one. `make fuzz` calls it.
#
# Per harness it prints one line: "fuzz NAME: ok, N execs in S s, cov C,
# corpus K" or "fuzz NAME: FAILED (reproducer: PATH)", and keeps the whole
# log in WORK/logs/NAME.log (WORK: $FUZZ_WORK, default .output/fuzz). It
# exits 1 if any harness crashed, leaked or timed out; the reproducer
# (crash-*, leak-*, timeout-* under WORK/artifacts/) replays with
# `.output/fuzz/fuzz_NAME PATH`.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
if [[ $# -lt 2 || ! $1 =~ ^[0-9]+$ ]]; then
	echo "usage: $0 SECONDS NAME..." >&2
	exit 2
fi
secs=$1
shift
FUZZ_OUT=.output/fuzz
# Where the copies, logs and reproducers go: FUZZ_WORK, so that a short
# pass (tests/meta/fuzz.sh) and a long run do not share them.
WORK=${FUZZ_WORK:-$FUZZ_OUT}
failed=0
mkdir -p "$WORK/logs" "$WORK/artifacts" "$WORK/run" || exit 1

for name in "$@"; do
	bin=$FUZZ_OUT/fuzz_$name
	seeds=tests/fuzz/corpus/$name
	work=$WORK/run/$name
	log=$WORK/logs/$name.log
	if [[ ! -x $bin || ! -d $seeds ]]; then
		echo "fuzz $name: FAILED (no $bin or no $seeds; run make first)"
		failed=1
		continue
	fi
	rm -rf "$work"
	mkdir -p "$work"
	cp "$seeds"/* "$work"/
	args=(-max_total_time="$secs" -timeout=10 -print_final_stats=1
		-artifact_prefix="$WORK/artifacts/$name-")
	[[ -f tests/fuzz/$name.dict ]] && args+=(-dict="tests/fuzz/$name.dict")
	"$bin" "${args[@]}" "$work" >"$log" 2>&1
	rc=$?
	repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
	if [[ $rc != 0 || -n $repro ]]; then
		echo "fuzz $name: FAILED, exit $rc (reproducer: ${repro:-none}; log: $log)"
		grep -m 3 -E '^(fuzz_|==[0-9]+==ERROR|SUMMARY)' "$log" | sed 's/^/    /'
		failed=1
		continue
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -E '^#[0-9]+' "$log" | grep -o 'cov: [0-9]*' | tail -n 1)
	corp=$(find "$work" -type f | wc -l)
	echo "fuzz $name: ok, ${execs:-?} execs in ${secs} s, ${cov:-cov: ?}, corpus $corp"
done
exit "$failed"
