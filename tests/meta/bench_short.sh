#!/usr/bin/env bash
# tests/meta/bench_short.sh - `make bench` in small sizes, as CI runs it:
# for crashes and sanity, never for speed. Checks that it runs to its
# end, that every figure of its table was measured (a number, not an
# empty or NaN field), and the counts that do not depend on the machine's
# speed: every leaking thread of the many-threads run is a finding (at
# least as many findings as threads: a site's thread-orphan finding may
# come on top).
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

rc=0
BENCH_SHORT=1 "$ROOT/tests/bench/run.sh" >"$TMP/bench.out" 2>"$TMP/bench.err" || rc=$?
if [[ $rc == 0 ]]; then
	pass run
else
	fail run "exit $rc: $(tail -n 3 "$TMP/bench.err")"
fi
cat "$TMP/bench.out"

# Every row: a label, then a number (or "a / b / c" numbers).
rows=$(grep -c '^  [^ ]' "$TMP/bench.out" || true)
bad=$(grep '^  [^ ]' "$TMP/bench.out" |
	grep -Ev '  +[0-9]+(\.[0-9]+)?( / [0-9]+(\.[0-9]+)?)*( +target .*)?$' |
	grep -v '^  (P=' | grep -v 'COMMAND' || true)
if [[ $rows -ge 25 && -z $bad ]]; then
	pass figures
else
	fail figures "$rows rows; not a number: $bad"
fi

want=$(sed -n 's/^  \([0-9][0-9]*\) threads: findings shown  *\([0-9][0-9]*\)$/\1 \2/p' "$TMP/bench.out")
if [[ -n $want && ${want#* } -ge ${want% *} ]]; then
	pass every_thread_found
else
	fail every_thread_found "threads and findings: '$want'"
fi

finish
