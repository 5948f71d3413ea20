#!/usr/bin/env bash
# tests/run.sh - the test runner `make check` calls once everything is
# built. Runs, in order, every unit test binary (.output/tests/test_*),
# the golden suite (tests/golden/run.sh) if there is one, and every
# end-to-end suite (tests/e2e/*.sh but lib.sh). Each suite runs under a
# timeout with its output echoed and kept in .output/test-logs/SUITE.log.
#
# Every suite prints "PASS: name" or "FAIL: name: reason" per case; this
# script adds one "FAIL: SUITE: ..." line for a suite that times out, or
# exits non-zero without having printed a FAIL line (it crashed), or
# prints no result at all (it tested nothing). The very last line is
# "N passed, N failed"; the exit status is 1 if anything failed.
#
# The e2e suites need root and eBPF; they report a FAIL, never a skip,
# when run without them. Each makes its own temp dir, --db and --socket.
#
# MW_OUT (exported by make) is the build tree: .output, or .output/san-*
# for make check SANITIZE=... (mk/sanitize.mk). There MW_SAN_LOGS is where
# the sanitizers write their reports: each report a suite leaves is a FAIL
# of that suite, with the report in its log.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
OUT=${MW_OUT:-.output}
LOGS=$OUT/test-logs
SAN_LOGS=${MW_SAN_LOGS:-}
rm -rf "$LOGS"
mkdir -p "$LOGS" || exit 1

passed=0
failed=0
# Results are counted from a private copy of each suite's output, not from
# the log: another checkout's run could be rewriting .output/test-logs.
CAPTURE=$(mktemp) || exit 1
trap 'rm -f "$CAPTURE"' EXIT

# run_suite NAME SECONDS COMMAND...: run one suite, echo and log its
# output, add its PASS/FAIL lines to the totals.
run_suite() {
	local name=$1 secs=$2 log rc npass nfail extra=
	shift 2
	log=$LOGS/$(echo "$name" | tr '/' '_').log
	echo "=== $name"
	# timeout signals its whole process group, so whatever the suite
	# started goes too; stdin is closed so nothing waits on a tty.
	timeout -k 10 "$secs" "$@" </dev/null 2>&1 | tee "$log" "$CAPTURE"
	rc=${PIPESTATUS[0]}
	npass=$(grep -c '^PASS: ' "$CAPTURE")
	nfail=$(grep -c '^FAIL: ' "$CAPTURE")
	if [[ $rc == 124 || $rc == 137 ]]; then
		extra="FAIL: $name: timed out after ${secs}s"
	elif [[ $rc != 0 && $nfail == 0 ]]; then
		extra="FAIL: $name: exited $rc"
	elif [[ $npass == 0 && $nfail == 0 ]]; then
		extra="FAIL: $name: printed no PASS or FAIL line"
	fi
	if [[ -n $extra ]]; then
		echo "$extra" | tee -a "$log" 2>/dev/null
		nfail=$((nfail + 1))
	fi
	san_reports "$name" "$log" || nfail=$((nfail + 1))
	echo "--- $name: $npass passed, $nfail failed"
	passed=$((passed + npass))
	failed=$((failed + nfail))
}

# san_reports NAME LOG: one FAIL line if sanitizer reports appeared while
# suite NAME ran; they are copied, prefixed with '#', into LOG and moved
# out of the way so that the next suite starts with none.
san_reports() {
	local f files
	[[ -n $SAN_LOGS && -d $SAN_LOGS ]] || return 0
	files=$(find "$SAN_LOGS" -maxdepth 1 -type f | sort)
	[[ -n $files ]] || return 0
	echo "FAIL: $1: sanitizer report in $(echo "$files" | xargs -n1 basename | tr '\n' ' ')" |
		tee -a "$2"
	mkdir -p "$SAN_LOGS/seen"
	for f in $files; do
		sed 's/^/# /' "$f" | head -n 60 | tee -a "$2"
		mv "$f" "$SAN_LOGS/seen/$(echo "$1" | tr '/' '_').${f##*/}"
	done
	return 1
}

if [[ $EUID -ne 0 ]]; then
	echo "note: not root; the end-to-end suites will fail (they need eBPF)"
fi

shopt -s nullglob
for t in "$OUT"/tests/test_*; do
	[[ -f $t && -x $t ]] || continue
	run_suite "unit/${t##*/}" 120 "$t"
done

if [[ -x tests/golden/run.sh ]]; then
	MWREPLAY=$OUT/mwreplay run_suite golden 600 tests/golden/run.sh
elif [[ -f tests/golden/run.sh ]]; then
	MWREPLAY=$OUT/mwreplay run_suite golden 600 bash tests/golden/run.sh
fi

for s in tests/e2e/*.sh; do
	[[ ${s##*/} == lib.sh ]] && continue
	run_suite "e2e/$(basename "$s" .sh)" 300 bash "$s"
done

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
