#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/kill9.sh - memwatchd killed with SIGKILL at random moments
# under load loses nothing it committed and picks up where it was.
#
# Load: churn (threads in malloc/realloc/free all the time) and a
# tls_nodtor holding 8 leaked blocks, both attached with --pid, and a
# --comm watch on a copy of tls_keydelete, of which a fresh copy starts
# every cycle (caught at exec, 4 findings each) while one long-lived copy,
# started before the daemon, runs throughout. Each cycle then kills the
# daemon with SIGKILL a random time later (sometimes while it is still
# starting up), and checks:
#   - `PRAGMA integrity_check` says ok;
#   - every finding `memwatchctl -j findings` listed before the kill is
#     still there: same id, kind, pid, site and first time, its counters
#     (count, bytes, threads, last time) never lower;
#   - the restarted daemon (same --db, same targets) attaches again to
#     every target still running, the comm-watched one included;
#   - no traced program crashed, and no program caught by the exec watch
#     stays stopped (a kill between the daemon's SIGSTOP and SIGCONT
#     would leave it so): each exits 0 on its own.
# That last window is hit on purpose (exec_stop*, fork_stop): the daemon
# is frozen (SIGSTOP) while a watched program starts, so the program
# stays stopped at exec, then killed: its guard process must resume it at
# once; with the guard killed too, the restarted daemon must. Likewise a
# followed target's child held at fork.
# MW_KILL9_CYCLES sets the number of cycles (12 by default; make soak
# runs hundreds); on a loaded machine the suite stops after
# MW_KILL9_SECONDS (60) once 5 cycles or more are done.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

CYCLES=${MW_KILL9_CYCLES:-12}
SECONDS_MAX=${MW_KILL9_SECONDS:-60}
command -v sqlite3 >/dev/null || {
	fail setup "sqlite3 is not installed (apt-get install sqlite3)"
	exit 1
}

# The comm-watched program: tls_keydelete under a name of this run's, so
# that no other memwatchd watching tls_keydelete (a suite run alongside)
# stops or attaches it, and this one no other's.
KD=$TMP/kd$$
cp "$WL/tls_keydelete" "$KD"
KD_COMM=${KD##*/}

# The long-lived targets: churn runs far longer than any run of this
# suite and is killed at the end; so are the holders.
"$WL/churn" 1000000 4 4000 >"$TMP/churn.out" 2>&1 &
churn=$!
BG_PIDS+=("$churn")
MW_HOLD_MS=3600000 start_gated tls_nodtor 8 4096
leaker=$WL_PID
leaker_gate=$WL_GATE
MW_HOLD_MS=3600000 "$KD" 2 512 >"$TMP/keep.out" 2>&1 &
keeper=$!
BG_PIDS+=("$keeper")
wait_until 10 at_gate "$keeper" "$KD" || true

daemon_args=(--pid "$churn" --pid "$leaker" --comm "$KD_COMM")

# all_attached: every long-lived target is listed by the daemon.
all_attached() {
	local p
	for p in "$churn" "$leaker" "$keeper"; do
		wait_for_target "$p" || return 1
	done
}

# snapshot FILE: the findings as memwatchctl shows them now, by id.
snapshot() {
	ctl --json findings 2>"$1.err" | jq -c 'sort_by(.id)' >"$1"
}

# kept OLD NEW: every finding of OLD is in NEW. A finding may be updated
# between the snapshot and the kill (the old daemon still commits: an
# aggregated finding's count, bytes, threads and last_ts grow), so it is
# the same finding when its id, kind, pid, site and first_ts are, and
# none of those counters went back. WHY names those lost or changed.
kept() {
	local bad
	bad=$(jq -c --slurpfile old "$1" '
		def ident: {kind, pid, first_ts, site: .site.function};
		(map({key: (.id | tostring), value: .}) | from_entries) as $new
		| [$old[0][] | . as $o | $new[.id | tostring] as $n
		   | if $n == null then {lost: .id}
		     elif ($o | ident) != ($n | ident)
			or $n.count < $o.count or $n.bytes < $o.bytes
			or $n.threads < $o.threads or $n.last_ts < $o.last_ts
		     then {changed: .id, was: $o, now: $n}
		     else empty end]' "$2" 2>&1)
	[[ $bad == '[]' ]] && return 0
	WHY=$bad
	return 1
}

# rand_sleep MAX: sleep a random 0..MAX ms.
rand_sleep() {
	local ms=$((RANDOM % ($1 + 1)))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

start_daemon "${daemon_args[@]}"
ok start "memwatchd did not attach to its targets" all_attached
touch "$leaker_gate"
ok first_findings "tls_nodtor's 8 findings never showed" \
	wait_until 20 findings_at_least 8

survived=0
bad=0
t0=$SECONDS
echo '[]' >"$TMP/before.json"
for ((c = 1; c <= CYCLES; c++)); do
	# Fresh ingest for this cycle: a program the comm watch catches.
	"$KD" 4 1024 >"$TMP/spawn.$c.out" 2>&1 &
	spawn=$!
	BG_PIDS+=("$spawn")
	rand_sleep 1500
	if ! snapshot "$TMP/before.json"; then
		fail "cycle$c/snapshot" "memwatchctl findings failed: $(cat "$TMP/before.json.err")"
		bad=$((bad + 1))
	fi
	rand_sleep 1500
	if ! daemon_alive; then
		fail "cycle$c/alive" "memwatchd died on its own: $(tail -n 1 "$DAEMON_LOG.err")"
		bad=$((bad + 1))
		break
	fi
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	# Every third cycle also kills a daemon in the middle of starting
	# up (opening the database, loading BPF, attaching).
	if ((c % 3 == 0)); then
		start_daemon "${daemon_args[@]}"
		rand_sleep 400
		kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
		DAEMON_PID=
	fi

	fails=$NFAIL
	WHY=
	integrity || fail "cycle$c/integrity" "$WHY"
	start_daemon "${daemon_args[@]}"
	WHY=
	all_attached || fail "cycle$c/reattach" "$WHY"
	WHY=
	if ! snapshot "$TMP/after.json"; then
		fail "cycle$c/findings" "memwatchctl findings failed: $(cat "$TMP/after.json.err")"
	elif ! kept "$TMP/before.json" "$TMP/after.json"; then
		fail "cycle$c/findings_kept" "$WHY"
	fi
	# The cycle's program ends, exit 0, whenever the kill came: never
	# left stopped at exec. Reaped now: bash forgets old children.
	reap "$spawn"
	[[ $REAP_RC == 0 ]] ||
		fail "cycle$c/spawn_exit" "$KD_COMM exited $REAP_RC: $(head -c 200 "$TMP/spawn.$c.out")"
	for p in "$churn" "$leaker" "$keeper"; do
		if exited "$p"; then
			fail "cycle$c/targets_alive" "pid $p died: $(cat "$TMP"/*.err "$TMP/churn.out" | head -c 300)"
			break
		fi
	done
	if ((NFAIL > fails)); then
		bad=$((bad + 1))
		break
	fi
	survived=$c
	((SECONDS - t0 < SECONDS_MAX || c < 5)) || break
done
elapsed=$((SECONDS - t0))
if ((bad == 0)); then
	pass cycles
fi
echo "# kill9: $survived kill -9 cycles (of $CYCLES asked) survived in ${elapsed}s"

# The findings grew: the comm watch caught the spawned programs across
# restarts (4 per program, plus tls_nodtor's 8).
ok findings_grew "fewer findings than tls_nodtor's and the first spawn's" \
	wait_until 10 findings_at_least 14

# The kill between the exec stop and SIGCONT, on purpose.
# shellcheck disable=SC2317  # called through wait_until
is_stopped() {
	local stat
	read -r stat <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	[[ ${stat%% *} == T ]]
}
# shellcheck disable=SC2317
runs_on() {
	exited "$1" || ! is_stopped "$1"
}
# guard_of: the daemon's guard process (daemon/guard.c).
guard_of() {
	pgrep -P "$DAEMON_PID" -x memwatchd-guard | head -n 1
}
# hold NAME ARGS...: freeze the daemon, start a watched tls_keydelete,
# which the kernel stops at exec. Sets HELD.
hold() {
	local name=$1
	kill -STOP "$DAEMON_PID"
	"$KD" 4 1024 >"$TMP/$name.out" 2>&1 &
	HELD=$!
	BG_PIDS+=("$HELD")
	ok "$name/stopped" "the exec watch did not stop the new program" \
		wait_until 10 is_stopped "$HELD"
}
# resumed NAME: the held program ran to its end, exit 0.
resumed() {
	reap "$HELD"
	if [[ $REAP_RC == 0 ]]; then
		pass "$1/resumed"
	else
		fail "$1/resumed" "tls_keydelete exited $REAP_RC: $(cat "$TMP/$1.out")"
	fi
}

# The daemon alone killed: its guard resumes the program at once, with no
# daemon to wait for.
guard=$(guard_of)
if [[ -n $guard ]]; then
	pass exec_stop/guard
else
	fail exec_stop/guard "no memwatchd-guard child of pid $DAEMON_PID"
fi
hold exec_stop
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
ok exec_stop/resumed_by_guard "still stopped 5 s after the kill" \
	wait_until 5 runs_on "$HELD"
resumed exec_stop
[[ -n $guard ]] && ok exec_stop/guard_gone "the guard outlived the daemon" \
	wait_until 5 exited "$guard"

# The guard killed too (a unit's whole cgroup killed, say): the program
# stays stopped until the restarted daemon finds it so, and resumes it.
start_daemon "${daemon_args[@]}"
ok exec_stop_noguard/watching "not restarted" wait_until 20 daemon_answers
guard=$(guard_of)
hold exec_stop_noguard
[[ -n $guard ]] && kill -KILL "$guard"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
sleep 0.5
ok exec_stop_noguard/still_stopped "resumed with no daemon or guard" \
	is_stopped "$HELD"
start_daemon "${daemon_args[@]}"
ok exec_stop_noguard/reattached "the stopped program was not attached" \
	wait_for_target "$HELD"
resumed exec_stop_noguard

# A followed target's child held at fork, the daemon killed meanwhile: the
# guard resumes the child, and the parent (waiting for it) ends too. A
# copy of fork_nodtor of this run's, watched by path.
FN=$TMP/fn$$
cp "$WL/fork_nodtor" "$FN"
stop_daemon || true
start_daemon "${daemon_args[@]}" --exe "$FN"
ok fork_stop/watching "not restarted" wait_until 20 daemon_answers
MW_WAIT_FILE=$TMP/fn.gate "$FN" 2 2 4096 >"$TMP/fn.out" 2>&1 &
fn=$!
BG_PIDS+=("$fn")
ok fork_stop/attached "fork_nodtor not attached at exec" \
	wait_until 10 at_gate "$fn" "$FN"
kill -STOP "$DAEMON_PID"
touch "$TMP/fn.gate"
child=
# shellcheck disable=SC2317
held_child() {
	child=$(pgrep -P "$fn" | head -n 1)
	[[ -n $child ]] && is_stopped "$child"
}
ok fork_stop/stopped "no child of fork_nodtor stopped at fork" \
	wait_until 10 held_child
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
if [[ -n $child ]]; then
	ok fork_stop/resumed_by_guard "the child still stopped 5 s after the kill" \
		wait_until 5 runs_on "$child"
fi
reap "$fn"
if [[ $REAP_RC == 0 ]]; then
	pass fork_stop/parent_ended
else
	fail fork_stop/parent_ended "fork_nodtor exited $REAP_RC: $(cat "$TMP/fn.out")"
fi
start_daemon "${daemon_args[@]}"
ok final_watching "not restarted" wait_until 20 daemon_answers

ok stop "memwatchd did not stop cleanly after the cycles" stop_daemon
ok final_integrity "database damaged after the last stop" integrity
for p in "$churn" "$leaker" "$keeper"; do
	exited "$p" && fail final_targets "pid $p died during the run"
done
finish
