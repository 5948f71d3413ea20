# shellcheck shell=bash disable=SC2034  # globals the suites read
# tests/e2e/lib.sh - shared helpers for the end-to-end suites in this
# directory and the meta suites in tests/meta/. A suite sources this file
# first thing; it then has:
#   - a private temp dir $TMP with its own $DB and $SOCK (never the
#     defaults), removed at exit along with anything the suite started;
#   - pass NAME / fail NAME REASON, printing "PASS: suite/NAME" or
#     "FAIL: suite/NAME: reason", the lines tests/run.sh counts;
#   - trace (memwatchd -- CMD in the foreground), start_daemon /
#     stop_daemon (memwatchd --pid in the background), wait_for_target;
#   - ctl / query to run memwatchctl, and expect / check_tls_findings to
#     assert on its JSON with jq.
# A suite ends with `finish`, which exits 1 if any case failed. If a suite
# dies half-way (set -e), the exit trap prints a FAIL line saying where.
# Set MW_KEEP_TMP=1 to keep the temp dir for a post-mortem.
#
# MW_TIME_SCALE=N (a whole number, 1 by default) lets every wait of the
# helpers below last N times its seconds: wait_until, wait_exit, reap,
# wait_for_target poll their usual number of tries, and go on until that
# much wall time has passed; trace's timeout is N times longer. tests/vm/
# sets it in its QEMU guests, where without KVM a program runs 10 times
# slower (a poll that runs jq takes its time anyway: a try costs 0.5 s).
# The suites' own waits go through these helpers.
#
# MW_CASE_FILTER=PATTERN (tests/run.sh -k PATTERN) shows only the cases
# whose name as printed (suite/NAME) holds PATTERN, '*' and '?' matching
# as in the shell. Every case still runs (later ones need what earlier
# ones set up); the others are counted on a '#' line, and only the cases
# shown decide the exit status. A filter that shows nothing is a FAIL,
# or with MW_CASE_OPTIONAL=1 (the suite was picked by its group) a
# '# skipped:' line and status 0.

set -Eeuo pipefail

SUITE=$(basename "${BASH_SOURCE[1]:-e2e}" .sh)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The build tree: MW_OUT if make exported it (.output/san-* for make check
# SANITIZE=..., mk/sanitize.mk), relative to the top of the tree.
OUT=${MW_OUT:-.output}
[[ $OUT == /* ]] || OUT=$ROOT/$OUT
MEMWATCHD=$OUT/memwatchd
MEMWATCHCTL=$OUT/memwatchctl
WL=$OUT/workloads

NFAIL=0
NPASS=0
TIME_SCALE=${MW_TIME_SCALE:-1}
[[ $TIME_SCALE =~ ^[1-9][0-9]*$ ]] || TIME_SCALE=1
# The grace a program has to free a TLS block after its thread died is a
# time too: scaled, or a slowed program's own frees pass for leaks. A
# suite's own --grace comes after, and wins.
SCALE_ARGS=()
((TIME_SCALE == 1)) || SCALE_ARGS=(--grace $((500 * TIME_SCALE)))
CASE_FILTER=${MW_CASE_FILTER:-}
NSHOWN=0
NSHOWN_FAIL=0
DAEMON_PID=
DAEMON_LOG=
DAEMON_N=0
TRACE_RC=
TRACE_LOG=
TRACE_N=0
WL_PID=
WL_GATE=
WL_OUT=
GATE_N=0
BG_PIDS=()
ERR_AT=
# Why the last helper that returned non-zero failed, for the FAIL line.
WHY=

# --- results ----------------------------------------------------------------

# Squash a text to one line: a reason must never break the one-line format.
oneline() {
	local s=${1//$'\n'/ | }
	printf '%s' "${s:0:400}"
}

# shown NAME: case NAME passes MW_CASE_FILTER.
shown() {
	# shellcheck disable=SC2053 # the filter is a glob on purpose
	[[ -z $CASE_FILTER || $SUITE/$1 == *$CASE_FILTER* ]]
}

pass() {
	NPASS=$((NPASS + 1))
	shown "$1" || return 0
	NSHOWN=$((NSHOWN + 1))
	printf 'PASS: %s/%s\n' "$SUITE" "$1"
}

fail() {
	NFAIL=$((NFAIL + 1))
	shown "$1" || return 0
	NSHOWN=$((NSHOWN + 1))
	NSHOWN_FAIL=$((NSHOWN_FAIL + 1))
	printf 'FAIL: %s/%s: %s\n' "$SUITE" "$1" "$(oneline "${2:-failed}")"
}

# ok NAME REASON COMMAND...: one case that passes when COMMAND succeeds;
# the FAIL line gives REASON and, if the command set it, WHY.
ok() {
	local name=$1 reason=$2
	shift 2
	WHY=
	if "$@"; then
		pass "$name"
	else
		fail "$name" "$reason${WHY:+ ($WHY)}"
	fi
}

# integrity: $DB passes SQLite's PRAGMA integrity_check; WHY says what
# it found otherwise.
integrity() {
	local got
	got=$(sqlite3 "$DB" 'PRAGMA integrity_check' 2>&1)
	[[ $got == ok ]] && return 0
	WHY="integrity_check: $got"
	return 1
}

finish() {
	[[ -n $CASE_FILTER ]] || exit $((NFAIL > 0))
	echo "# -k $CASE_FILTER: $((NPASS + NFAIL - NSHOWN)) cases not shown," \
		"$((NFAIL - NSHOWN_FAIL)) of them failed"
	if ((NSHOWN == 0)); then
		if [[ ${MW_CASE_OPTIONAL:-0} == 1 ]]; then
			echo "# skipped: no case matches -k $CASE_FILTER"
			exit 0
		fi
		CASE_FILTER=
		fail "-k" "no case matches -k ${MW_CASE_FILTER}"
		exit 1
	fi
	exit $((NSHOWN_FAIL > 0))
}

# --- cleanup ----------------------------------------------------------------

# Print a file into the test log, each line prefixed so that nothing in it
# can pass for a PASS/FAIL line.
dump() {
	local f
	for f in "$@"; do
		[[ -s $f ]] || continue
		printf '# ==> %s <==\n' "${f#"$TMP"/}"
		tail -n 40 "$f" | sed 's/^/#   /'
	done
}

on_exit() {
	local rc=$? pid
	set +e
	if [[ $rc -ne 0 && $NSHOWN_FAIL -eq 0 ]]; then
		# Shown whatever the filter: the cases after it never ran.
		CASE_FILTER=
		fail script "aborted with status $rc${ERR_AT:+ at $ERR_AT}"
	fi
	# Only what this suite started, each by its own pid.
	if [[ -n $DAEMON_PID ]]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		wait_exit "$DAEMON_PID" 10 || kill -KILL "$DAEMON_PID" 2>/dev/null
	fi
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	if [[ -n ${TMP:-} && -d $TMP ]]; then
		if ((NFAIL > 0)); then
			dump "$TMP"/*.err "$TMP"/*.out
		fi
		if [[ ${MW_KEEP_TMP:-0} == 1 ]]; then
			echo "# kept $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
	exit "$rc"
}

trap 'ERR_AT="line $LINENO: $BASH_COMMAND"' ERR
trap on_exit EXIT

# --- preconditions ----------------------------------------------------------

# The suites must run, never skip: missing root or binaries is a failure.
if [[ $EUID -ne 0 ]]; then
	fail setup "must run as root: memwatchd loads eBPF uprobes (run make check as root)"
	exit 1
fi
for bin in "$MEMWATCHD" "$MEMWATCHCTL"; do
	if [[ ! -x $bin ]]; then
		fail setup "$bin is missing: build with make first"
		exit 1
	fi
done
if ! command -v jq >/dev/null; then
	fail setup "jq is not installed (apt-get install jq)"
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mw-$SUITE.XXXXXX")
DB=$TMP/memwatch.db
SOCK=$TMP/memwatchd.sock

# --- processes --------------------------------------------------------------

# True once pid is gone or a zombie: kill -0 alone says a zombie lives.
exited() {
	local stat
	if ! { read -r stat <"/proc/$1/stat"; } 2>/dev/null; then
		return 0
	fi
	stat=${stat##*) }
	[[ ${stat%% *} == Z ]]
}

# deadline SECONDS: DEADLINE is the time, in microseconds of
# $EPOCHREALTIME (read without a fork; its digits, whatever the locale's
# decimal point), SECONDS times MW_TIME_SCALE from now: how long a wait
# goes on at least.
DEADLINE=
deadline() {
	DEADLINE=$((${EPOCHREALTIME//[!0-9]/} + $1 * TIME_SCALE * 1000000))
}

# wait_exit PID SECONDS: poll until PID has exited (SECONDS, MW_TIME_SCALE
# times longer); 1 on timeout.
wait_exit() {
	local pid=$1 i end
	deadline "$2"
	end=$DEADLINE
	for ((i = 0; i < $2 * 20 || ${EPOCHREALTIME//[!0-9]/} < end; i++)); do
		exited "$pid" && return 0
		sleep 0.05
	done
	exited "$pid"
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s until it
# succeeds, SECONDS at most (MW_TIME_SCALE times longer).
wait_until() {
	local secs=$1 i end
	shift
	deadline "$secs"
	end=$DEADLINE
	for ((i = 0; i < secs * 10 || ${EPOCHREALTIME//[!0-9]/} < end; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# watch NAME DAEMON-ARGS...: start memwatchd watching these targets and
# wait until it answers on its socket: it serves requests only once its
# watches are in place, so a program started after that is caught.
watch() {
	local name=$1
	shift
	start_daemon "$@"
	if wait_until 20 daemon_answers; then
		pass "$name/watching"
	else
		fail "$name/watching" "memwatchd never answered: $(tail -n 1 "$DAEMON_LOG.err")"
	fi
}

# shellcheck disable=SC2317  # called through wait_until
daemon_answers() {
	ctl --json status 2>/dev/null | jq -e '.daemon != null' >/dev/null 2>&1
}

# run_bg NAME CMD...: run CMD in the background to its end, as a program
# nobody told memwatchd about; its exit status is the case NAME/exit.
# Sets RUN_PID.
run_bg() {
	local name=$1
	shift
	"$@" >"$TMP/$name.out" 2>&1 &
	RUN_PID=$!
	BG_PIDS+=("$RUN_PID")
	reap "$RUN_PID"
	if [[ $REAP_RC == 0 ]]; then
		pass "$name/exit"
	else
		fail "$name/exit" "exited $REAP_RC: $(head -c 300 "$TMP/$name.out")"
	fi
}

# at_gate PID PROGRAM: PID runs PROGRAM with glibc loaded, so it is past
# exec and the dynamic loader: sitting at its start gate, attachable.
at_gate() {
	local exe
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	[[ $exe == "$(readlink -f "$2")" ]] && grep -q '/libc\.so' "/proc/$1/maps" 2>/dev/null
}

# start_gated WORKLOAD ARGS...: start a workload held at its start gate
# (MW_WAIT_FILE, see tests/workloads/workload.h). Sets WL_PID, WL_GATE
# (touch it to let the workload go) and WL_OUT (its stdout; stderr is
# WL_OUT with .err instead of .out). Returns once the workload is at its
# gate (10 s at most): right after `&` the pid may still be a shell
# between fork and exec, or a program whose libc is not mapped yet, and
# attaching to that would test nothing (or fail).
start_gated() {
	local name=$1
	shift
	GATE_N=$((GATE_N + 1))
	WL_GATE=$TMP/gate.$GATE_N
	WL_OUT=$TMP/$name.$GATE_N.out
	MW_WAIT_FILE=$WL_GATE "$WL/$name" "$@" >"$WL_OUT" \
		2>"${WL_OUT%.out}.err" &
	WL_PID=$!
	BG_PIDS+=("$WL_PID")
	wait_until 10 at_gate "$WL_PID" "$WL/$name" || true
}

# reap PID: wait for a child of this shell (60 s at most, MW_TIME_SCALE
# times longer) and set REAP_RC
# to its exit status, or to "timeout". Not for $(...): a subshell cannot
# wait for its parent's children.
REAP_RC=
reap() {
	REAP_RC=0
	if ! wait_exit "$1" 60; then
		REAP_RC=timeout
		return 0
	fi
	wait "$1" || REAP_RC=$?
}

# ctl_error NAME RC MESSAGE ARGS... [--ctl FUNC]: `memwatchctl ARGS` (run
# by FUNC instead of ctl if given) exits with RC, with exactly
# "memwatchctl: MESSAGE" on stderr and nothing on stdout.
ctl_error() {
	local name=$1 want=$2 msg=$3 f=$TMP/${1//\//_} rc=0 got run=ctl
	shift 3
	if [[ $# -ge 2 && ${*: -2:1} == --ctl ]]; then
		run=${*: -1}
		set -- "${@:1:$#-2}"
	fi
	"$run" "$@" >"$f.out" 2>"$f.err" </dev/null || rc=$?
	got=$(cat "$f.err")
	if [[ $rc != "$want" ]]; then
		fail "$name" "exit status $rc, want $want; stderr: $got"
	elif [[ $got != "memwatchctl: $msg" ]]; then
		fail "$name" "stderr '$got', want 'memwatchctl: $msg'"
	elif [[ -s $f.out ]]; then
		fail "$name" "stdout not empty: $(head -c 200 "$f.out")"
	else
		pass "$name"
	fi
}

# --- memwatchd --------------------------------------------------------------

# trace [DAEMON-ARGS] -- CMD ARGS...: run memwatchd in the foreground on
# this suite's DB and socket, without /metrics (suites run side by side
# must not race for its port; DAEMON-ARGS may set one). Sets TRACE_RC and
# TRACE_LOG (.out/.err).
trace() {
	TRACE_N=$((TRACE_N + 1))
	TRACE_LOG=$TMP/trace$TRACE_N
	TRACE_RC=0
	timeout -k 5 $((120 * TIME_SCALE)) "$MEMWATCHD" --db "$DB" --socket "$SOCK" \
		--metrics-listen none "${SCALE_ARGS[@]}" "$@" \
		>"$TRACE_LOG.out" 2>"$TRACE_LOG.err" || TRACE_RC=$?
}

# start_daemon ARGS...: memwatchd in the background on this suite's DB and
# socket, without /metrics unless ARGS say. Sets DAEMON_PID and DAEMON_LOG
# (.out/.err).
start_daemon() {
	DAEMON_N=$((DAEMON_N + 1))
	DAEMON_LOG=$TMP/daemon$DAEMON_N
	"$MEMWATCHD" --db "$DB" --socket "$SOCK" --metrics-listen none \
		"${SCALE_ARGS[@]}" "$@" >"$DAEMON_LOG.out" 2>"$DAEMON_LOG.err" &
	DAEMON_PID=$!
}

# daemon_bpf [links]: the names of the eBPF programs the daemon holds
# loaded, one a line, sorted; with "links", of those its links attach
# (one line a link). Read from its file descriptors' fdinfo: Debian's
# bpftool is built without the skeletons that list a program's pids.
daemon_bpf() {
	local ids f
	ids=$(for f in /proc/"$DAEMON_PID"/fdinfo/*; do
		awk -v want="${1:-progs}" '
			/^link_id:/ { link = 1 } /^prog_id:/ { id = $2 }
			END { if (id != "" && (link == (want == "links"))) print id }' "$f" 2>/dev/null
	done)
	[[ -n $ids ]] || return 0
	bpftool prog show -j 2>/dev/null | jq -r --argjson ids "[$(echo "$ids" | paste -sd,)]" \
		'.[] | .id as $i | select($ids | index($i)) | .name as $n
		| $ids | map(select(. == $i)) | .[] | $n' | sort
}

# stop_daemon: SIGTERM the daemon and wait (20 s at most). Returns its exit
# status; 124 (after a SIGKILL) if it ignored SIGTERM.
stop_daemon() {
	local rc=0 pid=$DAEMON_PID
	DAEMON_PID=
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_exit "$pid" 20; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		WHY="memwatchd ignored SIGTERM for 20 s"
		return 124
	fi
	wait "$pid" || rc=$?
	WHY="memwatchd exited $rc: $(tail -n 1 "$DAEMON_LOG.err" 2>/dev/null)"
	return "$rc"
}

daemon_alive() {
	[[ -n $DAEMON_PID ]] && ! exited "$DAEMON_PID"
}

target_listed() {
	ctl --json status 2>/dev/null |
		jq -e --argjson p "$1" '(.daemon.targets // []) | index($p) != null' \
			>/dev/null
}

# wait_for_target PID: poll status until the daemon lists PID as a target
# (20 s at most, MW_TIME_SCALE times longer). Sets WHY when it gives up.
wait_for_target() {
	local i end
	deadline 20
	end=$DEADLINE
	for ((i = 0; i < 200 || ${EPOCHREALTIME//[!0-9]/} < end; i++)); do
		if ! daemon_alive; then
			WHY="memwatchd died: $(tail -n 1 "$DAEMON_LOG.err" 2>/dev/null)"
			return 1
		fi
		target_listed "$1" && return 0
		sleep 0.1
	done
	WHY="pid $1 not in .daemon.targets after $((20 * TIME_SCALE)) s: $(ctl --json status 2>&1 | head -c 300)"
	return 1
}

# --- memwatchctl and assertions --------------------------------------------

# ctl ARGS...: memwatchctl on this suite's DB and socket.
ctl() {
	"$MEMWATCHCTL" --db "$DB" --socket "$SOCK" "$@"
}

# query NAME FILE ARGS...: save `memwatchctl --json ARGS` in FILE. On
# failure prints a FAIL line for NAME and returns 1: use it as the
# condition of the assertions that read FILE (`query ... && expect ...`
# or an if), never alone, or set -e would end the suite there.
query() {
	local name=$1 file=$2
	shift 2
	if ! ctl --json "$@" >"$file" 2>"$file.err"; then
		fail "$name" "memwatchctl --json $* failed: $(cat "$file.err")"
		return 1
	fi
	if ! jq -e . "$file" >/dev/null 2>&1; then
		fail "$name" "memwatchctl --json $* printed no JSON: $(head -c 200 "$file")"
		return 1
	fi
}

# findings_at_least N ARGS...: `findings --json ARGS` lists N or more; for
# polling with wait_until while the daemon flushes.
findings_at_least() {
	local n=$1
	shift
	ctl --json findings "$@" 2>/dev/null |
		jq -e --argjson n "$n" 'length >= $n' >/dev/null
}

# proc_state_is PID STATE: status lists process PID in STATE; for polling
# with wait_until while the daemon flushes.
proc_state_is() {
	ctl --json status 2>/dev/null |
		jq -e --argjson p "$1" --arg s "$2" \
			'any(.processes[]; .pid == $p and .state == $s)' >/dev/null
}

# jqv FILE FILTER [JQ-ARGS...]: the filter's result, compact, strings raw;
# jq's error message instead if it fails. Never fails itself, so that
# `x=$(jqv ...)` cannot stop a suite under set -e.
jqv() {
	local file=$1 filter=$2
	shift 2
	jq -rc "$@" "$filter" "$file" 2>&1 || true
}

# expect NAME FILE FILTER WANT [JQ-ARGS...]: PASS if jq prints exactly WANT.
# Returns 0 either way (a failed assertion must not stop the suite under
# set -e); EXPECT_OK says whether it passed.
EXPECT_OK=0
expect() {
	local name=$1 file=$2 filter=$3 want=$4 got
	shift 4
	got=$(jqv "$file" "$filter" "$@")
	if [[ $got == "$want" ]]; then
		EXPECT_OK=1
		pass "$name"
	else
		EXPECT_OK=0
		fail "$name" "$filter gave '$got', want '$want'"
	fi
}

# check_tls_findings PREFIX FILE COUNT KIND SIZE FUNCTION: the assertions
# every TLS-leak suite makes on `findings --json`: COUNT findings, all of
# KIND, all of SIZE bytes, all allocated in FUNCTION, by COUNT distinct
# threads other than the main thread, each thread leaking what it
# allocated itself; well-formed addresses; decided no sooner than the
# default 0.5 s grace after their trigger.
check_tls_findings() {
	local p=$1 f=$2 n=$3 kind=$4 size=$5 func=$6
	expect "$p/count" "$f" 'length' "$n"
	# With nothing listed the checks below would hold vacuously or
	# repeat the count's failure.
	[[ $(jqv "$f" 'length') != 0 ]] || return 0
	expect "$p/kind" "$f" '[.[].kind] | unique' "[\"$kind\"]"
	expect "$p/size" "$f" '[.[].size] | unique' "[$size]"
	expect "$p/site_function" "$f" '[.[].site.function] | unique' "[\"$func\"]"
	expect "$p/distinct_tids" "$f" '[.[].tid] | unique | length' "$n"
	expect "$p/not_main_thread" "$f" '[.[] | select(.tid == .pid)] | length' 0
	expect "$p/alloc_tid" "$f" '[.[] | select(.alloc_tid != .tid)] | length' 0
	expect "$p/address" "$f" \
		'[.[].address | select(test("^0x[0-9a-f]+$"))] | unique | length' "$n"
	expect "$p/grace" "$f" \
		'[.[] | select((.found_ts_ns | tonumber) - (.trigger_ts_ns | tonumber) < 490000000)] | length' 0
}

# run_case NAME CMD...: trace CMD into a fresh database, check its exit
# status, and leave its findings in $TMP/NAME.json: all of them, open and
# resolved (a finding made and resolved is still a finding: a clean twin
# must make none, a leak's must be there). memwatchd gets the options in
# the array CASE_ARGS (none unless a suite sets it).
CASE_ARGS=()
run_case() {
	local name=$1
	shift
	DB=$TMP/$name.db
	trace "${CASE_ARGS[@]}" -- "$@"
	if [[ $TRACE_RC == 0 ]]; then
		pass "$name/exit_status"
	else
		fail "$name/exit_status" "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
	fi
	query "$name/query" "$TMP/$name.json" findings --all
}

# check_clean NAME SELECT MIN_ALLOCS MIN_THREADS STATE: the assertions of
# every case, on `status --json` and `findings --json` of this case's
# database: the process SELECT (a jq condition on a process row) is
# listed once, in STATE, traced (at least MIN_ALLOCS allocations and
# MIN_THREADS threads), without lost events or findings; and the
# database holds no finding at all. Prints the measured numbers as a
# comment line.
check_clean() {
	local name=$1 sel=$2 min_allocs=$3 min_threads=$4 state=$5
	local st=$TMP/$name.status.json fi=$TMP/$name.findings.json
	local row="[.processes[] | select($sel)]"

	if query "$name/status" "$st" status; then
		expect "$name/listed" "$st" "$row | length" 1
		expect "$name/state" "$st" "$row | .[0].state" "$state"
		expect "$name/allocs" "$st" \
			"$row | .[0].allocs >= \$n" true --argjson n "$min_allocs"
		expect "$name/threads" "$st" \
			"$row | .[0].threads >= \$n" true --argjson n "$min_threads"
		expect "$name/lost" "$st" "$row | .[0].lost" 0
		expect "$name/proc_findings" "$st" "$row | .[0].findings" 0
		echo "# $name: $(jqv "$st" "$row | .[0] |
			\"allocs \(.allocs), frees \(.frees), unknown_frees \(.unknown_frees), threads \(.threads), live_blocks \(.live_blocks), live_bytes \(.live_bytes), lost \(.lost)\"")"
	fi
	# Summarized, so that a false alarm's FAIL line says what it is; the
	# explain output of each lands in the log. Resolved ones too: a false
	# alarm that went away was still raised.
	if query "$name/findings" "$fi" findings --all; then
		expect "$name/no_findings" "$fi" \
			'map("\(.kind) id=\(.id) \(.site.function // "?")+\(.site.offset // "?") (\(.site.module // "?")) count=\(.count)")' \
			'[]'
		if [[ $EXPECT_OK == 0 ]]; then
			local id
			for id in $(jqv "$fi" '.[].id'); do
				ctl explain "$id" 2>&1 | sed 's/^/#   /' || true
			done
		fi
	fi
}

# seconds_since T0: elapsed time since T0 (from $EPOCHREALTIME), 0.1 s.
seconds_since() {
	local now=$EPOCHREALTIME
	awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

# check_planted NAME SELECT MIN: the case ran with the planted TLS leak
# (tests/workloads/plant.c, LD_PRELOAD'd): its database holds at least MIN
# findings in the processes SELECT (a jq condition on a finding), each a
# tls-outlived-thread or tls-outlived-key of one 3331-byte block naming
# the culprit, mw_plant_leak in libmwplant.so; no event lost; and no
# finding anywhere else (the rules over time may see the same leak grow: its site is the
# same culprit).
PLANT_SO=$WL/libmwplant.so
check_planted() {
	local name=$1 sel=$2 min=$3 fi=$TMP/$1.findings.json st=$TMP/$1.status.json
	# A lost event withholds the findings its evidence rests on (engine/
	# rules_finding.c): said as such, not as a leak missed.
	if query "$name/status" "$st" status; then
		expect "$name/lost" "$st" '[.processes[].lost] | add // 0' 0
		echo "# $name: $(jqv "$st" '"\(.processes | length) processes, lost \([.processes[].lost] | add // 0), threads \([.processes[].threads] | add // 0)"')"
	fi
	if query "$name/findings" "$fi" findings --all; then
		expect "$name/planted_found" "$fi" \
			"[.[] | select(($sel) and .site.function == \"mw_plant_leak\" and
				(.site.module | endswith(\"/libmwplant.so\")) and .size == 3331 and
				(.kind | test(\"^tls-outlived-(thread|key)\$\")))] | length >= \$n" \
			true --argjson n "$min"
		expect "$name/nothing_else" "$fi" \
			'map(select(.site.function != "mw_plant_leak")
			| "\(.kind) id=\(.id) pid=\(.pid) \(.site.function // "?")+\(.site.offset // "?") (\(.site.module // "?")) size=\(.size) count=\(.count)")' \
			'[]'
		echo "# $name: $(jqv "$fi" 'group_by(.kind) | map("\(.[0].kind) \(length)") | join(", ")') (culprit $(jqv "$fi" '[.[].site | "\(.function)+\(.offset) (\(.file):\(.line))"] | unique | join("; ")'))"
	fi
}


# run_timed_case NAME PRELOAD CMD...: run_case NAME CMD, with PRELOAD
# LD_PRELOAD'd into CMD (nothing if empty: the program as it is), and a
# comment line saying how long it ran under memwatchd.
run_timed_case() {
	local name=$1 preload=$2 t0 env=()
	shift 2
	[[ -z $preload ]] || env=(env "LD_PRELOAD=$preload")
	t0=$EPOCHREALTIME
	run_case "$name" "${env[@]}" "$@" || true
	echo "# $name: $(seconds_since "$t0") s under memwatchd"
}

# expect_output NAME REGEX WHAT: the traced program's output (the last
# run_case's) has a whole line matching REGEX (extended); the FAIL line
# says WHAT it did not do, with the output's end.
expect_output() {
	if grep -qxE "$2" "$TRACE_LOG.out"; then
		pass "$1/output"
	else
		fail "$1/output" "$3: $(tail -n 3 "$TRACE_LOG.out" "$TRACE_LOG.err")"
	fi
}

# show_top NAME: the case's five sites holding the most live bytes, on a
# comment line (the culprits the suites report for people); an unnamed
# function (a stripped binary's static one) by its address and file.
show_top() {
	if query "$1/top" "$TMP/$1.top.json" top --limit 5; then
		echo "# $1: top sites: $(jqv "$TMP/$1.top.json" '[.[] | if (.site.function // "") != "" then "\(.site.function)+\(.site.offset // 0)" else "\(.site.ip) (\(.site.module // "?" | split("/") | last))" end + " \(.bytes) B"] | join("; ")')"
	fi
}

# count_in_text NAME FILE WORD N: the plain (table) output names WORD on
# exactly N lines.
count_in_text() {
	local got
	got=$(grep -c -- "$3" "$2" || true)
	if [[ $got == "$4" ]]; then
		pass "$1"
	else
		fail "$1" "'$3' on $got lines of the table, want $4"
	fi
}
