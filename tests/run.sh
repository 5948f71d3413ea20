#!/usr/bin/env bash
# tests/run.sh - the test runner `make check` calls once everything is
# built. Runs, in order, every unit test binary (.output/tests/test_*),
# the golden suite (tests/golden/run.sh) if there is one, every
# end-to-end suite (tests/e2e/*.sh but lib.sh), one suite per kernel booted
# in a QEMU guest (vm/k6.1, vm/k6.12: tests/vm/run.sh runs the e2e suites
# of tests/vm/suites there, their cases named k6.1/SUITE/CASE), then every
# meta suite (tests/meta/*.sh). Each suite runs under a timeout with its
# output echoed and kept in .output/test-logs/SUITE.log.
#
# Every suite prints "PASS: name" or "FAIL: name: reason" per case; this
# script adds one "FAIL: SUITE: ..." line for a suite that times out, or
# exits non-zero without having printed a FAIL line (it crashed), or
# prints no result at all (it tested nothing). The very last line is
# "N passed, N failed"; the exit status is 1 if anything failed.
#
# The e2e and meta suites need root and eBPF; they report a FAIL, never a
# skip, when run without them. Each makes its own temp dir, --db and --socket.
#
#   tests/run.sh [SUITE...] [-k PATTERN] [--list] [--help]
#
# SUITE is a suite's name as the "=== " line prints it (unit/test_engine,
# golden, e2e/targets, vm/k6.1, meta/lint) or a group of them (unit,
# golden, e2e, vm, meta); without one, every suite runs (but the vm ones
# in a sanitized build: see below). They run in the order above
# whatever the order named. The meta suites (tests/meta/) check the tree
# rather than memwatch's behaviour: lint, docs, packaging, the Windows
# build, the fuzzers, a short benchmark, valgrind.
#
# -k PATTERN runs only the cases whose name, as the PASS/FAIL line prints
# it, holds PATTERN ('*' and '?' match as in the shell): a unit test
# binary and the golden runner take it and run the matching cases alone;
# an end-to-end or meta suite runs whole (a case needs what the ones
# before it set up) and shows only the matching cases (tests/e2e/lib.sh,
# MW_CASE_FILTER). A suite picked through its group, or through no name at
# all, is skipped when none of its cases matches; one named alone fails.
# With no SUITE, -k runs the unit tests and the golden suite: the others
# have to run to know their cases, so name them (or their group). A -k
# that matches no case at all is a FAIL. --list prints the suites that
# would run. An unknown SUITE is an error, exit status 2.
#
# MW_OUT (exported by make) is the build tree: .output, or .output/san-*
# for make check SANITIZE=... (mk/sanitize.mk). There MW_SAN_LOGS is where
# the sanitizers write their reports: each report a suite leaves is a FAIL
# of that suite, with the report in its log.
#
# MW_TIME_SCALE=N makes each e2e and meta suite's timeout N times longer
# (and, tests/e2e/lib.sh, their waits): tests/vm/ sets it in its guests.
# MW_VM_TIMEOUT is the seconds a vm suite's guest may run (VM_SECS).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
OUT=${MW_OUT:-.output}
LOGS=$OUT/test-logs
SAN_LOGS=${MW_SAN_LOGS:-}
TIME_SCALE=${MW_TIME_SCALE:-1}
[[ $TIME_SCALE =~ ^[1-9][0-9]*$ ]] || TIME_SCALE=1
# Seconds a vm suite's guest may run, boot included (tests/vm/run.sh).
VM_SECS=${MW_VM_TIMEOUT:-900}

usage() {
	echo "usage: tests/run.sh [SUITE...] [-k PATTERN] [--list] [--help]"
	echo "SUITE: unit golden e2e meta (groups) or one suite (tests/run.sh --list)"
}

# Every suite, in the order they run: unit tests, golden, e2e, meta.
shopt -s nullglob
SUITES=()
for t in "$OUT"/tests/test_*; do
	[[ -f $t && -x $t ]] && SUITES+=("unit/${t##*/}")
done
[[ -f tests/golden/run.sh ]] && SUITES+=(golden)
for s in tests/e2e/*.sh; do
	[[ ${s##*/} == lib.sh ]] || SUITES+=("e2e/$(basename "$s" .sh)")
done
# One per kernel booted in a QEMU guest (tests/vm/run.sh): Debian's 6.1
# and 6.12, and the host's own kernel if its image is in /boot. Without
# one (a container, this project's CI: no /boot), the host's kernel is the
# one the e2e suites above run on natively.
VM_KERNELS=(6.1 6.12)
[[ -f /boot/vmlinuz-$(uname -r) ]] && VM_KERNELS+=(host)
for k in "${VM_KERNELS[@]}"; do
	SUITES+=("vm/k$k")
done
for s in tests/meta/*.sh; do
	SUITES+=("meta/$(basename "$s" .sh)")
done

pattern=
list=0
declare -A want=()  # suite -> "named" (alone) or "group"
named_any=0
while (($#)); do
	case $1 in
	-k)
		if [[ $# -lt 2 || -z $2 ]]; then
			echo "tests/run.sh: -k needs a PATTERN" >&2
			exit 2
		fi
		pattern=$2
		shift
		;;
	--list) list=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	-*)
		echo "tests/run.sh: unknown option $1 (tests/run.sh --help)" >&2
		exit 2
		;;
	*)
		found=0
		for s in "${SUITES[@]}"; do
			if [[ $s == "$1" ]]; then
				want[$s]=named
				found=1
			elif [[ ${s%%/*} == "$1" ]]; then
				[[ ${want[$s]:-} == named ]] || want[$s]=group
				found=1
			fi
		done
		if ((!found)); then
			echo "tests/run.sh: no suite $1 (tests/run.sh --list names them)" >&2
			exit 2
		fi
		named_any=1
		;;
	esac
	shift
done

# With no SUITE every suite is picked as by its group; -k alone keeps to
# the suites that can list their cases. A sanitized build (make check
# SANITIZE=..., mk/sanitize.mk) leaves out the vm suites: the plain pass
# of .ci/run runs them, and the kernels are the same in both passes.
if ((!named_any)); then
	for s in "${SUITES[@]}"; do
		[[ $s == vm/* && -n ${SANITIZE:-} ]] && continue
		[[ -n $pattern && $s != unit/* && $s != golden ]] || want[$s]=group
	done
fi

# has_case SUITE: a unit or golden suite picked by its group lists a case
# matching -k (other suites answer yes: they run to find out).
has_case() {
	local out
	[[ -n $pattern && ${want[$1]} == group ]] || return 0
	case $1 in
	unit/*) out=$("$OUT/tests/${1#unit/}" --list -k "$pattern" 2>/dev/null) ;;
	golden) out=$(bash tests/golden/run.sh --list -k "$pattern" 2>/dev/null) ;;
	*) return 0 ;;
	esac
	[[ -n $out ]]
}

RUN=()
for s in "${SUITES[@]}"; do
	[[ -n ${want[$s]:-} ]] && has_case "$s" && RUN+=("$s")
done

if ((list)); then
	((${#RUN[@]} == 0)) || printf '%s\n' "${RUN[@]}"
	exit 0
fi

if ((!named_any)) && [[ -n $pattern ]]; then
	echo "note: -k without a SUITE runs the unit and golden cases;" \
		"name e2e or meta suites (or the groups) to filter them too"
fi

# Emptied rather than removed: in a guest of tests/vm/ it is a mount point.
rm -rf "${LOGS:?}"/*
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
	local name=$1 secs=$2 log rc npass nfail extra= t0=$SECONDS
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
	elif [[ $npass == 0 && $nfail == 0 && -n $pattern ]] &&
		grep -q '^# skipped: no case matches' "$CAPTURE"; then
		: # picked by its group, and none of its cases matches -k
	elif [[ $npass == 0 && $nfail == 0 ]]; then
		extra="FAIL: $name: printed no PASS or FAIL line"
	fi
	if [[ -n $extra ]]; then
		echo "$extra" | tee -a "$log" 2>/dev/null
		nfail=$((nfail + 1))
	fi
	san_reports "$name" "$log" || nfail=$((nfail + 1))
	# The time goes on its own line: the "---" line's form is parsed.
	echo "# $name took $((SECONDS - t0)) s"
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

# run NAME: run suite NAME, passing -k down.
run() {
	local name=$1 k=() env=()
	[[ -n $pattern ]] && k=(-k "$pattern")
	if [[ -n $pattern ]]; then
		env=(MW_CASE_FILTER="$pattern")
		[[ ${want[$name]} == group ]] && env+=(MW_CASE_OPTIONAL=1)
	fi
	case $name in
	unit/*) run_suite "$name" 120 "$OUT/tests/${name#unit/}" "${k[@]}" ;;
	golden)
		if [[ -x tests/golden/run.sh ]]; then
			MWREPLAY=$OUT/mwreplay run_suite golden 600 tests/golden/run.sh "${k[@]}"
		else
			MWREPLAY=$OUT/mwreplay run_suite golden 600 bash tests/golden/run.sh "${k[@]}"
		fi
		;;
	# MW_TIME_SCALE (tests/e2e/lib.sh): a QEMU guest of tests/vm/
	# gives each suite that many times longer.
	e2e/* | meta/*)
		run_suite "$name" $((300 * TIME_SCALE)) env "${env[@]}" bash "tests/$name.sh"
		;;
	# A guest runs several e2e suites, 10-20 times slower than natively:
	# it has its own time, VM_SECS, enforced by tests/vm/run.sh on QEMU
	# (a hung guest is a FAIL with the time); this timeout only adds
	# the time to fetch the kernel.
	# With more than one picked, the others' guests start with the first
	# one, side by side, one CPU each (MW_VM_PARALLEL=0: one after the
	# other, two CPUs each); each is then joined in its turn.
	vm/*)
		local vm=() v join='' venv
		for v in "${RUN[@]}"; do
			[[ $v == vm/* ]] && vm+=("$v")
		done
		if [[ ${MW_VM_PARALLEL:-1} != 0 && ${#vm[@]} -gt 1 ]]; then
			env+=(MW_VM_SMP=1)
			if [[ $name == "${vm[0]}" ]]; then
				for v in "${vm[@]:1}"; do
					# The environment run gives a suite, for v.
					local venv=(MW_VM_SMP=1)
					if [[ -n $pattern ]]; then
						venv+=(MW_CASE_FILTER="$pattern")
						[[ ${want[$v]} == group ]] && venv+=(MW_CASE_OPTIONAL=1)
					fi
					env "${venv[@]}" MW_VM_TIMEOUT="$VM_SECS" \
						bash tests/vm/run.sh --start "${v#vm/k}"
				done
			else
				join=--join
			fi
		fi
		run_suite "$name" $((VM_SECS + 300)) env "${env[@]}" MW_VM_TIMEOUT="$VM_SECS" \
			bash tests/vm/run.sh $join "${name#vm/k}"
		;;
	esac
}

if [[ $EUID -ne 0 ]] && printf '%s\n' "${RUN[@]}" | grep -qE '^(e2e|vm|meta)/'; then
	echo "note: not root; the end-to-end suites will fail (they need eBPF)"
fi

for s in "${RUN[@]}"; do
	run "$s"
done

if [[ -n $pattern && $((passed + failed)) == 0 ]]; then
	echo "FAIL: -k $pattern: no case matches"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
