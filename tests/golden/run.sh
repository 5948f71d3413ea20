#!/usr/bin/env bash
# tests/golden/run.sh - replay every tests/golden/NAME.events through
# .output/mwreplay and compare its output with NAME.expected, written by
# hand from the rules. Prints "PASS: golden/NAME" or
# "FAIL: golden/NAME: <first lines of the diff>" per scenario; exits 1 if
# any failed.
#
# A line "# args: ..." in an .events file gives mwreplay extra options
# (e.g. --grace 100). Set MWREPLAY to use another binary.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
MWREPLAY=${MWREPLAY:-.output/mwreplay}
failed=0
ran=0

if [[ ! -x $MWREPLAY ]]; then
	echo "FAIL: golden: $MWREPLAY not built (make $MWREPLAY)"
	exit 1
fi

shopt -s nullglob
for ev in tests/golden/*.events; do
	name=$(basename "$ev" .events)
	exp=tests/golden/$name.expected
	ran=$((ran + 1))
	if [[ ! -f $exp ]]; then
		echo "FAIL: golden/$name: no $exp"
		failed=$((failed + 1))
		continue
	fi
	args=$(sed -n 's/^#[[:space:]]*args:[[:space:]]*//p' "$ev" | head -n 1)
	out=$(mktemp) || exit 1
	# shellcheck disable=SC2086 # args are words on purpose
	if ! "$MWREPLAY" $args "$ev" >"$out" 2>&1; then
		echo "FAIL: golden/$name: mwreplay failed: $(head -n 3 "$out" | tr '\n' ' ')"
		failed=$((failed + 1))
	elif d=$(diff -u "$exp" "$out"); then
		echo "PASS: golden/$name"
	else
		echo "FAIL: golden/$name: $(echo "$d" | sed -n '3,$p' | grep '^[-+]' | head -n 4 | tr '\n' ' ')"
		failed=$((failed + 1))
	fi
	rm -f "$out"
done

if [[ $ran == 0 ]]; then
	echo "FAIL: golden: no scenarios in tests/golden"
	exit 1
fi
[[ $failed == 0 ]]
