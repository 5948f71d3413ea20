#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/meta/fuzz.sh - the short pass of the fuzz harnesses (mk/fuzz.mk,
# tests/fuzz/) that make check runs; `make fuzz` is the long one. Per
# harness (decode, engine, config, control, filter, etl):
#   - replay: every seed of tests/fuzz/corpus/NAME, the regression inputs
#     of the bugs the fuzzers found among them (regress-*.bin), runs
#     through the harness without a crash, and the harness says it ran
#     each one (so a harness that silently skips its input fails);
#   - fuzz: FUZZ_SHORT seconds (8) of fuzzing from a copy of the seeds
#     (tests/fuzz/run.sh, in this suite's temp dir) find no crash, leak
#     or invariant violation.
# That the engine harness's invariant checker fires on broken states is
# the unit test .output/tests/test_engine_check.
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

FUZZ_SHORT=${FUZZ_SHORT:-8}
NAMES=(decode engine config control filter etl)

# replay NAME: every seed through the harness, each one reported run.
# shellcheck disable=SC2317  # called through ok
replay() {
	local name=$1 bin=$OUT/fuzz/fuzz_$1 seeds=$ROOT/tests/fuzz/corpus/$1
	local files ran log=$TMP/replay-$1.log
	files=("$seeds"/*)
	if [[ ! -x $bin ]]; then
		WHY="no $bin (make all builds it)"
		return 1
	fi
	if ! TMPDIR=$TMP "$bin" "${files[@]}" >"$log" 2>&1; then
		WHY=$(grep -m 2 -E '^(fuzz_|==[0-9]+==ERROR|Running:)' "$log" |
			tail -n 2)
		return 1
	fi
	ran=$(grep -c '^Executed .* in [0-9]* ms' "$log")
	if [[ $ran -ne ${#files[@]} || $ran -eq 0 ]]; then
		WHY="ran $ran of ${#files[@]} seeds"
		return 1
	fi
}

# short NAME: FUZZ_SHORT seconds of fuzzing, no crash.
# shellcheck disable=SC2317  # called through ok
short() {
	local out rc=0
	out=$(FUZZ_WORK=$TMP/fuzz TMPDIR=$TMP "$ROOT/tests/fuzz/run.sh" \
		"$FUZZ_SHORT" "$1") || rc=$?
	# Indented: nothing in it can pass for a PASS/FAIL line.
	printf '    %s\n' "$out"
	WHY=$(oneline "$out")
	return "$rc"
}

for name in "${NAMES[@]}"; do
	ok "$name/replay" "seed corpus replay failed" replay "$name"
done
for name in "${NAMES[@]}"; do
	ok "$name/short" "${FUZZ_SHORT} s of fuzzing failed" short "$name"
done
finish
