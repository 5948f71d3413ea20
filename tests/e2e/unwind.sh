#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq and gdb use $vars
# tests/e2e/unwind.sh - stacks of code built without frame pointers, as
# gdb shows them (bt). Each program is attached at its start gate (--pid),
# with its libraries mapped, and its live blocks read back by stack
# (export folded, outermost frame first).
#   - deep_stack (C, -O2 -fomit-frame-pointer): 4 threads each leak, 30
#     calls deep, a block by malloc, strdup (a glibc wrapper), fopen
#     (malloc inside glibc) and a qsort callback (called by glibc's sort):
#     each leaf's stack is one stack holding the 4 threads' blocks, the
#     same frames as gdb's bt at that malloc (first 32), and the same as
#     the program built with frame pointers (deep_stack_fp); with
#     --unwind-bytes 0 the walk stops after a frame or two, so the cases
#     above test the unwinding; memwatch_unwind_stacks_total counts the
#     stacks unwound (none with --unwind-bytes 0);
#   - the kernel's walk by rules learned from copies: 100,000 pairs 30
#     calls deep, nearly all walked (memwatch_unwind_stacks_total
#     {result="walked"}), the leaks' stacks the same as unwound ones;
#   - deep_stack_cxx (C++, libstdc++'s string and vector growth): the
#     same stacks as deep_stack_cxx_fp, 30 deep_recurse_cxx frames deep;
#   - Debian's /usr/bin/python3 (no frame pointers): a bytearray's block
#     has as many frames as gdb's bt at its malloc;
#   - Debian's /usr/bin/sqlite3 started by memwatchd: its first
#     allocations (getpwuid's, from main) have whole stacks, as gdb's bt,
#     although made before the daemon read the new image's maps.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
THREADS=4
for tool in gdb "$PY"; do
	if ! command -v "$tool" >/dev/null; then
		fail setup "$tool is missing (make deps installs gdb and python3)"
		exit 1
	fi
done

# folded NAME WORKLOAD ARGS...: run WORKLOAD at its gate under memwatchd
# --pid (with $MWARGS), into $TMP/NAME.folded. Returns 1 with a FAIL line
# when it could not.
folded() {
	local name=$1
	shift
	rm -f "$DB"
	start_gated "$@"
	# shellcheck disable=SC2086  # MWARGS: words
	start_daemon --pid "$WL_PID" ${MWARGS:-}
	if ! wait_for_target "$WL_PID"; then
		fail "$name/attach" "$WHY"
		return 1
	fi
	touch "$WL_GATE"
	reap "$WL_PID"
	if [[ $REAP_RC != 0 ]]; then
		fail "$name/exit" "the workload exited $REAP_RC: $(head -c 300 "${WL_OUT%.out}.err")"
		return 1
	fi
	if ! stop_daemon; then
		fail "$name/daemon" "$WHY"
		return 1
	fi
	if ! ctl export folded >"$TMP/$name.folded" 2>"$TMP/$name.err"; then
		fail "$name/export" "$(cat "$TMP/$name.err")"
		return 1
	fi
	pass "$name/traced"
}

# frames FILE LEAF: the frames, innermost first, one a line, of the one
# stack in FILE whose innermost frame is LEAF (C++ arguments dropped);
# nothing if there is not exactly one.
frames() {
	awk -v leaf="$2" '
		{ bytes = $NF; sub(/ [0-9]+$/, "");
		  n = split($0, f, ";"); last = f[n]; sub(/\(.*/, "", last) }
		last == leaf { hits++; line = $0 }
		END { if (hits == 1) { n = split(line, f, ";");
			for (i = n; i >= 1; i--) { sub(/\(.*/, "", f[i]); print f[i] } } }' "$1"
}

# bytes FILE LEAF: the bytes of the stack with innermost frame LEAF.
bytes() {
	awk -v leaf="$2" '{ n = split($0, f, ";"); last = f[n];
		sub(/ [0-9]+$/, "", last); sub(/\(.*/, "", last) }
		last == leaf { print $NF }' "$1"
}

# gdb_frames SKIP COND PROGRAM ARGS...: the functions of gdb's bt at the
# first malloc whose size makes COND true, innermost first, the first
# SKIP frames (malloc itself, a wrapper) left out.
gdb_frames() {
	local skip=$1 cond=$2
	shift 2
	# Without glibc's separate debug info: with it gdb adds frames for
	# tail calls (qsort jumps to qsort_r) that are on no stack.
	timeout -k 5 $((120 * TIME_SCALE)) gdb -batch -nx \
		-ex 'set pagination off' -ex 'set debuginfod enabled off' \
		-ex 'set debug-file-directory /nonexistent' \
		-ex "break malloc if $cond" -ex run -ex bt --args "$@" 2>/dev/null |
		awk -v skip="$skip" '/^#[0-9]+ / {
			# Frames of the machine code only: an inlined call
			# (no address) is part of the frame it is in.
			if ($2 !~ /^0x/ && $1 != "#0") next
			name = ($2 ~ /^0x/) ? $4 : $2; sub(/\(.*/, "", name)
			if (n++ >= skip) print name }'
}

# same_frames NAME GOT WANT: the first lines of both, as many as GOT has
# (32 at most: a wrapper's frame is left out of GOT), are the same: the
# workloads' functions by name, the libraries' (named by whatever symbols
# each tool finds) as "lib".
same_frames() {
	local got want n
	n=$(head -n 32 "$2" | wc -l)
	got=$(head -n "$n" "$2" | sed -E '/^(deep_|worker$)/!s/.*/lib/')
	want=$(head -n "$n" "$3" | sed -E '/^(deep_|worker$)/!s/.*/lib/')
	if [[ -n $got && $got == "$want" ]]; then
		pass "$1"
	else
		fail "$1" "frames differ: got [$(echo "$got" | paste -sd' ')] want [$(echo "$want" | paste -sd' ')]"
	fi
}

# --- C: deep_stack ----------------------------------------------------------

# metric FILE NAME: the value of sample NAME (with its labels) in the
# metrics textfile FILE, or nothing.
metric() {
	awk -v n="$2" '$1 == n { print $2 }' "$1" 2>/dev/null
}

declare -A SIZE=([deep_leak_malloc]=1000 [deep_leak_strdup]=1001 [deep_cmp]=1003)
if MWARGS="--metrics-textfile $TMP/deep.prom" folded deep "deep_stack" "$THREADS"; then
	# Each distinct stack was unwound from its copy, and the loop's time
	# spent on it is counted: the metrics an SRE sizes --unwind-bytes by.
	ok=$(metric "$TMP/deep.prom" 'memwatch_unwind_stacks_total{result="ok"}')
	secs=$(metric "$TMP/deep.prom" memwatch_unwind_seconds_total)
	if [[ -n $ok && -n $secs ]] && ((ok >= 4)) && awk -v s="$secs" 'BEGIN { exit !(s > 0) }'; then
		pass deep/metrics
	else
		fail deep/metrics "unwound ok '$ok' (want >= 4, a stack a leaf), seconds '$secs' (want > 0)"
	fi
	echo "# deep: unwound $ok stacks in $secs s; failed $(metric "$TMP/deep.prom" 'memwatch_unwind_stacks_total{result="failed"}'), missed $(metric "$TMP/deep.prom" 'memwatch_unwind_stacks_total{result="missed"}'), skipped $(metric "$TMP/deep.prom" 'memwatch_unwind_stacks_total{result="skipped"}')"
	for leaf in deep_leak_malloc deep_leak_strdup deep_cmp __fopen_internal; do
		frames "$TMP/deep.folded" "$leaf" >"$TMP/deep.$leaf"
		n=$(grep -c '^deep_recurse$' "$TMP/deep.$leaf" || true)
		# 30 calls deep; the qsort leaf's glibc frames (7) reach
		# the 32-frame cap before the 30th.
		if ((n >= 23)); then
			pass "deep/$leaf/depth"
		else
			fail "deep/$leaf/depth" "$n deep_recurse frames: $(paste -sd' ' "$TMP/deep.$leaf")"
		fi
		want=${SIZE[$leaf]:-}
		got=$(bytes "$TMP/deep.folded" "$leaf")
		if [[ -z $want ]] || [[ $got == $((THREADS * want)) ]]; then
			pass "deep/$leaf/one_stack"
		else
			fail "deep/$leaf/one_stack" "bytes under it: '$got', want $((THREADS * want)) in one stack"
		fi
	done
	# gdb at the same mallocs, the program run alone with one thread.
	gdb_frames 1 '$rdi == 1000' "$WL/deep_stack" 1 >"$TMP/gdb.malloc"
	same_frames deep/gdb/malloc "$TMP/deep.deep_leak_malloc" "$TMP/gdb.malloc"
	gdb_frames 1 '$rdi == 1003' "$WL/deep_stack" 1 >"$TMP/gdb.qsort"
	same_frames deep/gdb/qsort "$TMP/deep.deep_cmp" "$TMP/gdb.qsort"
	# strdup is a wrapper: the stack starts at its caller.
	gdb_frames 2 '$rdi == 1001' "$WL/deep_stack" 1 >"$TMP/gdb.strdup"
	same_frames deep/gdb/strdup "$TMP/deep.deep_leak_strdup" "$TMP/gdb.strdup"
fi

if folded deep_fp "deep_stack_fp" "$THREADS"; then
	for leaf in deep_leak_malloc deep_leak_strdup deep_cmp __fopen_internal; do
		frames "$TMP/deep_fp.folded" "$leaf" >"$TMP/deep_fp.$leaf"
		same_frames "deep_fp/$leaf" "$TMP/deep.$leaf" "$TMP/deep_fp.$leaf"
	done
fi

if MWARGS="--unwind-bytes 0 --metrics-textfile $TMP/deep_off.prom" folded deep_off "deep_stack" "$THREADS"; then
	expect_eq() { if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi; }
	expect_eq deep_off/metrics "$(metric "$TMP/deep_off.prom" 'memwatch_unwind_stacks_total{result="ok"}')" 0
	n=$(frames "$TMP/deep_off.folded" deep_leak_malloc | wc -l)
	if ((n < 5)); then
		pass deep_off/short
	else
		fail deep_off/short "$n frames without unwinding: the cases above would not test it"
	fi
fi

# --- the kernel's walk by rules learned from copies ---------------------------
# One thread makes 100,000 malloc+free pairs 30 calls deep before its four
# leaks: the first pair's copy is unwound and teaches the kernel the rules
# of its frames, and the pairs after it are walked in the kernel (no copy,
# no key). The leaks' stacks, walked as well past their leaf, must be the
# stacks unwound from copies above.
if MWARGS="--metrics-textfile $TMP/walk.prom" folded walk "deep_stack" 1 100000; then
	walked=$(metric "$TMP/walk.prom" 'memwatch_unwind_stacks_total{result="walked"}')
	rules=$(metric "$TMP/walk.prom" memwatch_unwind_rules_total)
	echo "# walk: $walked allocations walked by $rules rules, $(metric "$TMP/walk.prom" 'memwatch_unwind_stacks_total{result="ok"}') copies unwound"
	if ((${walked:-0} >= 80000 && ${rules:-0} >= 4)); then
		pass walk/metrics
	else
		fail walk/metrics "walked '$walked' (want >= 80000 of 100000 pairs: those made before the rules came are not), rules '$rules' (want >= 4: a rule a code address; deep_recurse's 30 frames return to one)"
	fi
	for leaf in deep_leak_malloc deep_leak_strdup deep_cmp; do
		frames "$TMP/walk.folded" "$leaf" >"$TMP/walk.$leaf"
		same_frames "walk/$leaf" "$TMP/walk.$leaf" "$TMP/deep.$leaf"
	done
fi

# --- C++: deep_stack_cxx, through libstdc++ ----------------------------------

if folded cxx "deep_stack_cxx" "$THREADS" && folded cxx_fp "deep_stack_cxx_fp" "$THREADS"; then
	for what in vector string; do
		# The growth's blocks: the stack through libstdc++ that
		# holds the most bytes with the leaf in it.
		for run in cxx cxx_fp; do
			grep "deep_leak_$what" "$TMP/$run.folded" | sort -t' ' -k2 |
				awk '{ b = $NF; if (b + 0 > max) { max = b + 0; line = $0 } }
				END { sub(/ [0-9]+$/, "", line); n = split(line, f, ";");
					for (i = n; i >= 1; i--) { sub(/\(.*/, "", f[i]); print f[i] } }' \
				>"$TMP/$run.$what"
		done
		n=$(grep -c '^deep_recurse_cxx$' "$TMP/cxx.$what" || true)
		if ((n >= 24)); then
			pass "cxx/$what/depth"
		else
			fail "cxx/$what/depth" "$n deep_recurse_cxx frames: $(paste -sd' ' "$TMP/cxx.$what")"
		fi
		same_frames "cxx/$what/fp_twin" "$TMP/cxx.$what" "$TMP/cxx_fp.$what"
	done
fi

# --- Debian's python3 ---------------------------------------------------------

# A bytearray of 123457 bytes is a malloc of 123458, allocated after the
# gate, alive until the end.
PY_SCRIPT='
import os, sys, time
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
b = bytearray(123457)
time.sleep(1.5)
os._exit(0)
'
rm -f "$DB"
GATE_N=$((GATE_N + 1))
gate=$TMP/gate.$GATE_N
"$PY" -c "$PY_SCRIPT" "$gate" >"$TMP/py.out" 2>&1 &
py=$!
BG_PIDS+=("$py")
wait_until 10 grep -q '/libc\.so' "/proc/$py/maps" || true
start_daemon --pid "$py"
if wait_for_target "$py"; then
	touch "$gate"
	reap "$py"
	stop_daemon || true
	ctl export folded >"$TMP/py.folded" 2>&1 || true
	got=$(awk '$NF >= 123458 && /PyByteArray_Resize/ { sub(/ [0-9]+$/, ""); print split($0, f, ";") }' \
		"$TMP/py.folded" | head -n 1)
	touch "$TMP/gate.py"
	want=$(gdb_frames 1 '$rdi == 123458' "$PY" -c "$PY_SCRIPT" "$TMP/gate.py" | wc -l)
	if [[ -n $got ]] && ((want > 5)) && ((got == (want > 32 ? 32 : want))); then
		pass python3/depth
	else
		fail python3/depth "memwatch's stack has '$got' frames, gdb's bt $want"
	fi
else
	fail python3/attach "$WHY"
fi

# --- Debian's sqlite3, from its first allocations ------------------------------

# Started by memwatchd (-- CMD): the shell's start looks up the user's home
# (getpwuid, from main, one allocation of 1024 bytes kept). Its stack must
# be whole, as gdb's bt (up to _start: backtrace past-main), although it is
# made before the daemon has read the new image's maps.
SQL=/usr/bin/sqlite3
if [[ -x $SQL ]]; then
	rm -f "$DB" "$TMP/sq.db"
	printf 'CREATE TABLE t(x);\nWITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200000) INSERT INTO t SELECT i FROM c;\nSELECT count(*) FROM t;\n' >"$TMP/sq.sql"
	trace -- "$SQL" "$TMP/sq.db" ".read $TMP/sq.sql"
	ctl export folded >"$TMP/sq.folded" 2>&1 || true
	got=$(awk '/;getpwuid [0-9]+$/ { sub(/ [0-9]+$/, ""); print split($0, f, ";") }' "$TMP/sq.folded" | head -n 1)
	want=$(timeout -k 5 $((60 * TIME_SCALE)) gdb -batch -nx -ex 'set pagination off' \
		-ex 'set debuginfod enabled off' -ex 'set backtrace past-main on' \
		-ex 'break getpwuid' -ex run -ex bt --args "$SQL" "$TMP/sq2.db" .quit 2>/dev/null |
		grep -c '^#[0-9]')
	if [[ -n $got ]] && ((want >= 5)) && ((got == want)); then
		pass sqlite3/start_depth
	else
		fail sqlite3/start_depth "memwatch's stack at getpwuid has '$got' frames, gdb's bt $want"
	fi
	echo "# sqlite3: getpwuid at start: $got frames, gdb $want"
else
	fail sqlite3/setup "$SQL is missing (make deps installs sqlite3)"
fi

finish
