#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/control.sh - the control socket and the daemon's contract with
# scripts: memwatchctl attach/detach on a running daemon, one daemon per
# database, and `memwatchd -- CMD` exiting with CMD's own status.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# --- attach and detach through memwatchctl ---------------------------------
# A daemon with no targets; a workload held at its gate is attached over
# the socket, leaks, and its findings appear; detach then drops the target.
start_daemon -v
wait_until 10 test -S "$SOCK" || true
start_gated tls_nodtor 4 2048
pid=$WL_PID
if ctl attach "$pid" >"$TMP/attach.out" 2>"$TMP/attach.err"; then
	pass attach/ok
else
	fail attach/ok "memwatchctl attach failed: $(cat "$TMP/attach.err")"
fi
if wait_for_target "$pid"; then
	pass attach/listed
else
	fail attach/listed "$WHY"
fi
# Attaching twice is harmless: still one target.
ctl attach "$pid" >/dev/null 2>&1 || true
query status1 "$TMP/status1.json" status &&
	expect attach/once "$TMP/status1.json" \
		'[.daemon.targets[] | select(. == $p)] | length' 1 --argjson p "$pid"
touch "$WL_GATE"
reap "$pid"
if [[ $REAP_RC == 0 ]]; then
	pass attach/workload_exit
else
	fail attach/workload_exit "tls_nodtor exited $REAP_RC"
fi
wait_until 10 findings_at_least 4 --pid "$pid" || true
query findings "$TMP/findings.json" findings --pid "$pid" &&
	check_tls_findings findings "$TMP/findings.json" 4 \
		tls-outlived-thread 2048 tls_nodtor_alloc

# Detach from a live process: it leaves the target list and keeps running.
sleep 30 &
victim=$!
BG_PIDS+=("$victim")
ctl attach "$victim" >/dev/null 2>"$TMP/attach2.err" ||
	fail detach/attach "$(cat "$TMP/attach2.err")"
if ctl detach "$victim" >"$TMP/detach.out" 2>"$TMP/detach.err"; then
	pass detach/ok
else
	fail detach/ok "memwatchctl detach failed: $(cat "$TMP/detach.err")"
fi
query status2 "$TMP/status2.json" status &&
	expect detach/unlisted "$TMP/status2.json" \
		'[.daemon.targets[] | select(. == $p)] | length' 0 --argjson p "$victim"
if ! exited "$victim"; then
	pass detach/victim_alive
else
	fail detach/victim_alive "the detached process died"
fi
expect detach/state "$TMP/status2.json" \
	'.processes[] | select(.pid == $p) | .state' detached --argjson p "$victim"

# Errors over the socket are one line and a non-zero exit.
rc=0
ctl detach "$victim" >/dev/null 2>"$TMP/detach_again.err" || rc=$?
if [[ $rc == 1 && $(wc -l <"$TMP/detach_again.err") == 1 ]] &&
	grep -q "not traced" "$TMP/detach_again.err"; then
	pass detach/not_traced
else
	fail detach/not_traced "exit $rc: $(cat "$TMP/detach_again.err")"
fi
rc=0
ctl attach 999999999 >/dev/null 2>"$TMP/attach_bad.err" || rc=$?
if [[ $rc != 0 ]] && grep -q "999999999" "$TMP/attach_bad.err"; then
	pass attach/no_such_pid
else
	fail attach/no_such_pid "exit $rc: $(cat "$TMP/attach_bad.err")"
fi

# --- one daemon per database ----------------------------------------------
rc=0
timeout 20 "$MEMWATCHD" --db "$DB" --socket "$TMP/second.sock" -- true \
	>/dev/null 2>"$TMP/second.err" || rc=$?
if [[ $rc == 1 ]] && grep -q "in use by another memwatchd" "$TMP/second.err"; then
	pass db_in_use
else
	fail db_in_use "second daemon exited $rc: $(cat "$TMP/second.err")"
fi
if stop_daemon; then
	pass sigterm
else
	fail sigterm "$WHY"
fi

# --- exit status of -- CMD ---------------------------------------------------
trace -- sh -c 'exit 3'
if [[ $TRACE_RC == 3 ]]; then
	pass exit_status/code
else
	fail exit_status/code "memwatchd exited $TRACE_RC, CMD exited 3"
fi
trace -- sh -c 'kill -TERM $$'
if [[ $TRACE_RC == 143 ]]; then
	pass exit_status/signal
else
	fail exit_status/signal "memwatchd exited $TRACE_RC, expected 128+15"
fi
query status3 "$TMP/status3.json" status &&
	expect exit_status/recorded "$TMP/status3.json" \
		'[.processes[] | select(.comm == "sh") | .state] | unique' '["exited"]'

finish
