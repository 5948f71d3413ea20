#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/meta/valgrind.sh - memwatchd runs clean under valgrind's memcheck
# over a whole scenario: it loads its programs, attaches to a leaking
# tls_nodtor given with --pid and, through memwatchctl attach, to a second
# program, reports the leaks, detaches, and stops on SIGTERM. memcheck
# must find no invalid access, no use of uninitialised memory and no
# definite leak (ERROR SUMMARY: 0 errors, valgrind's exit status the
# daemon's own 0). memwatchctl's queries run under memcheck too.
#
# Always the plain build in .output, even under make check SANITIZE=...:
# valgrind cannot run a program built with AddressSanitizer (mk/sanitize.mk
# builds .output as well for this). tests/valgrind.supp lists the false
# positives of valgrind's own system-call wrappers (bpf, capget), each
# explained. valgrind slows the daemon some 20 to 50 times: every wait here
# is generous, and the workloads are held at their start gate until the
# daemon has attached.
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

PLAIN=$ROOT/.output
VG_ERR=97
SUPP=$ROOT/tests/valgrind.supp
for bin in "$PLAIN/memwatchd" "$PLAIN/memwatchctl"; do
	if [[ ! -x $bin ]]; then
		fail setup "$bin is missing: build with make first"
		exit 1
	fi
	if nm "$bin" 2>/dev/null | grep -q ' __asan_init$'; then
		fail setup "$bin is built with AddressSanitizer: valgrind cannot run it"
		exit 1
	fi
done
if ! command -v valgrind >/dev/null; then
	fail setup "valgrind is not installed (make deps installs it)"
	exit 1
fi

# memcheck NAME: the valgrind command line, its log in $TMP/vg-NAME.log.
memcheck() {
	printf '%s\n' valgrind --tool=memcheck --error-exitcode="$VG_ERR" \
		--leak-check=full --errors-for-leak-kinds=definite \
		--show-leak-kinds=definite --num-callers=30 \
		--suppressions="$SUPP" --log-file="$TMP/vg-$1.log"
}

# The daemon through a wrapper that execs valgrind: start_daemon then
# runs it like the plain daemon and DAEMON_PID is valgrind's (that is,
# the daemon's) pid.
mapfile -t VG_DAEMON < <(memcheck daemon)
printf '#!/bin/sh\nexec' >"$TMP/memwatchd-vg"
printf ' %q' "${VG_DAEMON[@]}" "$PLAIN/memwatchd" >>"$TMP/memwatchd-vg"
printf ' "$@"\n' >>"$TMP/memwatchd-vg"
chmod +x "$TMP/memwatchd-vg"
MEMWATCHD=$TMP/memwatchd-vg
MEMWATCHCTL=$PLAIN/memwatchctl

# shellcheck disable=SC2317  # called through ok
# vg_ctl NAME ARGS...: memwatchctl ARGS under memcheck, output in
# $TMP/ctl-NAME.out; fails (with WHY) unless both memwatchctl and
# memcheck were content.
vg_ctl() {
	local name=$1 rc=0 cmd
	shift
	mapfile -t cmd < <(memcheck "ctl-$name")
	"${cmd[@]}" "$MEMWATCHCTL" --db "$DB" --socket "$SOCK" "$@" \
		>"$TMP/ctl-$name.out" 2>"$TMP/ctl-$name.err" || rc=$?
	if [[ $rc != 0 ]]; then
		WHY="exit $rc: $(head -c 200 "$TMP/ctl-$name.err")"
		return 1
	fi
	clean_log "$TMP/vg-ctl-$name.log"
}

# shellcheck disable=SC2317  # called through ok
# clean_log LOG: memcheck ran and reported nothing, in every process it
# followed (the daemon's log has its guard's too: a child forked without
# exec stays under memcheck).
clean_log() {
	if ! grep -q '^==[0-9]*== Memcheck, a memory error detector' "$1"; then
		WHY="no memcheck log in $1"
		return 1
	fi
	if ! grep -q '^==[0-9]*== ERROR SUMMARY:' "$1"; then
		WHY="no ERROR SUMMARY in $1"
		return 1
	fi
	if grep '^==[0-9]*== ERROR SUMMARY:' "$1" | grep -qv 'ERROR SUMMARY: 0 errors'; then
		WHY=$(grep 'ERROR SUMMARY' "$1" | grep -v ': 0 errors' | head -n 1)
		return 1
	fi
}

# --- the daemon under memcheck, a leaking program given with --pid --------
start_gated tls_nodtor 8 4096
pid=$WL_PID
gate=$WL_GATE
wl_err=${WL_OUT%.out}.err
start_daemon --pid "$pid"
if wait_until 120 daemon_answers; then
	pass daemon_answers
else
	fail daemon_answers "no answer in 120 s: $(tail -n 3 "$TMP/vg-daemon.log")"
	finish
fi
if wait_until 60 target_listed "$pid"; then
	pass attached
else
	fail attached "pid $pid never listed: $(tail -n 3 "$DAEMON_LOG.err")"
	finish
fi
touch "$gate"
reap "$pid"
if [[ $REAP_RC == 0 ]]; then
	pass workload_exit
else
	fail workload_exit "tls_nodtor exited $REAP_RC: $(cat "$wl_err")"
fi
wait_until 90 findings_at_least 8 --pid "$pid" || true
query findings "$TMP/findings.json" findings --pid "$pid" &&
	check_tls_findings findings "$TMP/findings.json" 8 \
		tls-outlived-thread 4096 tls_nodtor_alloc

# --- a second program through the control socket: attach, then detach ------
start_gated tls_nodtor 2 4096
pid2=$WL_PID
gate2=$WL_GATE
ok ctl_attach "memwatchctl attach under memcheck" vg_ctl attach attach "$pid2"
if wait_until 60 target_listed "$pid2"; then
	pass ctl_attached
else
	fail ctl_attached "pid $pid2 never listed after attach"
fi
ok ctl_detach "memwatchctl detach under memcheck" vg_ctl detach detach "$pid2"
touch "$gate2"
reap "$pid2"
if [[ $REAP_RC == 0 ]]; then
	pass detached_workload_exit
else
	fail detached_workload_exit "tls_nodtor exited $REAP_RC"
fi

# --- memwatchctl's queries under memcheck, live ------------------------------
ok ctl_status "status" vg_ctl status status
ok ctl_status_json "status --json" vg_ctl status_json --json status
ok ctl_findings "findings" vg_ctl findings findings
ok ctl_findings_json "findings --json" vg_ctl findings_json --json findings
expect ctl_findings_json/same "$TMP/ctl-findings_json.out" \
	'[.[] | select(.pid == $p)] | length' 8 --argjson p "$pid"
ok ctl_top "top" vg_ctl top top
ok ctl_keys "keys" vg_ctl keys keys
ok ctl_threads "threads" vg_ctl threads threads
id=$(jqv "$TMP/findings.json" '.[0].id')
ok ctl_explain "explain $id" vg_ctl explain explain "$id"

# --- SIGTERM: the daemon's exit under memcheck -------------------------------
# Longer than stop_daemon's 20 s: memcheck's leak check runs at exit.
vg_pid=$DAEMON_PID
DAEMON_PID=
kill -TERM "$vg_pid"
rc=0
if wait_exit "$vg_pid" 90; then
	wait "$vg_pid" || rc=$?
else
	kill -KILL "$vg_pid" 2>/dev/null || true
	rc=timeout
fi
if [[ $rc == 0 ]]; then
	pass daemon_exit
elif [[ $rc == "$VG_ERR" ]]; then
	fail daemon_exit "memcheck found errors (exit $VG_ERR)"
else
	fail daemon_exit "memwatchd under valgrind exited $rc: $(tail -n 2 "$DAEMON_LOG.err")"
fi
ok daemon_error_summary "memcheck's log of the daemon" \
	clean_log "$TMP/vg-daemon.log"
# errors-for-leak-kinds=definite made a definite leak an error above; say
# so plainly too, and that the leak check did run.
# Every process memcheck followed (the guard too) says so.
if grep -Eq '^==[0-9]*== (   definitely lost: 0 bytes|All heap blocks were freed)' \
	"$TMP/vg-daemon.log" &&
	! grep -Eq '^==[0-9]*==    definitely lost: [1-9]' "$TMP/vg-daemon.log"; then
	pass daemon_no_definite_leak
else
	fail daemon_no_definite_leak "$(grep 'definitely lost' "$TMP/vg-daemon.log" | grep -v ' 0 bytes' | head -n 1 || echo 'no leak summary')"
fi
# What memcheck said, for the exit trap to show if anything failed.
sed -n '/Command:/,/HEAP SUMMARY/p' "$TMP/vg-daemon.log" |
	grep -v 'unhandled eBPF command' | head -n 60 >"$TMP/vg-daemon.err" || true

finish
