#!/usr/bin/env bash
# tests/golden/run.sh - replay every tests/golden/NAME.events through
# .output/mwreplay and compare its output with NAME.expected, written by
# hand from the rules. Prints "PASS: golden/NAME" or
# "FAIL: golden/NAME: <first lines of the diff>" per scenario; exits 1 if
# any failed.
#
# A line "# args: ..." in an .events file gives mwreplay extra options
# (e.g. --grace 100). Set MWREPLAY to use another binary.
#
#   tests/golden/run.sh [--list] [-k PATTERN] [NAME...]
#
# NAME runs scenario NAME alone; -k PATTERN the scenarios whose name, as
# the PASS/FAIL line prints it (golden/NAME), holds PATTERN ('*' and '?'
# match as in the shell). --list prints the names picked. An unknown NAME
# exits 2 before anything runs; a selection of nothing is a FAIL.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
MWREPLAY=${MWREPLAY:-.output/mwreplay}
failed=0
ran=0

usage() {
	echo "usage: tests/golden/run.sh [--list] [-k PATTERN] [NAME...]"
}

list=0
pattern=
declare -A named=()
while (($#)); do
	case $1 in
	--list) list=1 ;;
	-k)
		[[ $# -ge 2 ]] || { usage >&2; exit 2; }
		pattern=$2
		shift
		;;
	-h | --help) usage; exit 0 ;;
	-*) echo "tests/golden/run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	*)
		if [[ ! -f tests/golden/$1.events ]]; then
			echo "tests/golden/run.sh: no scenario $1 (--list names them)" >&2
			exit 2
		fi
		named[$1]=1
		;;
	esac
	shift
done

# picked NAME: scenario NAME is in the selection.
picked() {
	[[ ${#named[@]} == 0 || -n ${named[$1]:-} ]] || return 1
	# shellcheck disable=SC2053 # PATTERN is a glob on purpose
	[[ -z $pattern || golden/$1 == *$pattern* ]]
}

shopt -s nullglob
if ((list)); then
	for ev in tests/golden/*.events; do
		name=$(basename "$ev" .events)
		picked "$name" && echo "$name"
	done
	exit 0
fi

if [[ ! -x $MWREPLAY ]]; then
	echo "FAIL: golden: $MWREPLAY not built (make $MWREPLAY)"
	exit 1
fi

for ev in tests/golden/*.events; do
	name=$(basename "$ev" .events)
	picked "$name" || continue
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

if [[ $ran == 0 && -n $pattern ]]; then
	echo "FAIL: golden: no scenario matches -k $pattern"
	exit 1
elif [[ $ran == 0 ]]; then
	echo "FAIL: golden: no scenarios in tests/golden"
	exit 1
fi
[[ $failed == 0 ]]
