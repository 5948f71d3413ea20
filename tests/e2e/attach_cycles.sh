#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/attach_cycles.sh - tracing never harms the traced program,
# however often memwatchd attaches, detaches or dies.
#
#   cycles: `memwatchctl attach PID` then `memwatchctl detach PID`, over
#   and over, as fast as the daemon answers (full mode and --tls in
#   turn), on churn (4 threads in malloc/realloc/free and TLS calls all
#   the time). A churn that ends is replaced by a fresh one until
#   MW_ATTACH_CYCLES cycles (200 by default) are done, or, on a loaded
#   machine, MW_ATTACH_SECONDS (30) have passed with 10 cycles or more.
#   kill9: memwatchd attached with --pid to churn is killed with SIGKILL
#   a random time into its run, restarted, attached, and killed again,
#   MW_ATTACH_KILLS churn runs over (2 by default).
#
# Every churn must print exactly the line an untraced churn prints (a
# checksum over all the data its threads wrote and read back) and exit
# with the same status, within 60 s (no hang). Detach is slow (the kernel
# waits out grace periods to remove uprobes and tracepoints: about 0.27 s
# in full mode, 0.08 s with --tls), which bounds the cycles per second.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

CYCLES=${MW_ATTACH_CYCLES:-200}
KILLS=${MW_ATTACH_KILLS:-2}
SECONDS_MAX=${MW_ATTACH_SECONDS:-30}
# About 10 s of work and sleeps per churn run.
args=(100 4 4000)

want_rc=0
want=$("$WL/churn" "${args[@]}") || want_rc=$?

# unharmed NAME PID OUT: churn PID ends (60 s at most) as an untraced
# run does: same status, same output line.
unharmed() {
	local name=$1 pid=$2 out=$3
	reap "$pid"
	if [[ $REAP_RC != "$want_rc" ]]; then
		fail "$name" "churn exited $REAP_RC, untraced $want_rc: $(head -c 300 "$out")"
	elif [[ $(cat "$out") != "$want" ]]; then
		fail "$name" "traced '$(head -c 300 "$out")', untraced '$want'"
	else
		return 0
	fi
	return 1
}

# --- attach/detach cycles ---------------------------------------------------

start_daemon
ok cycles/watching "memwatchd never answered" wait_until 20 daemon_answers

done_cycles=0
runs=0
bad=0
t0=$(date +%s%N)
s0=$SECONDS
# more: cycles remain to do, and time (or too few done to prove much).
more() {
	((done_cycles < CYCLES)) &&
		((SECONDS - s0 < SECONDS_MAX || done_cycles < 10))
}
while more && ((bad == 0)); do
	runs=$((runs + 1))
	out=$TMP/churn.$runs.out
	"$WL/churn" "${args[@]}" >"$out" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	wait_until 10 at_gate "$pid" "$WL/churn" || true
	while more && ! exited "$pid"; do
		mode=()
		((done_cycles % 2)) && mode=(--tls)
		# The program may end between the check and the request:
		# only a failure while it still runs counts.
		if ! ctl "${mode[@]}" attach "$pid" >"$TMP/attach.out" 2>&1; then
			exited "$pid" && break
			fail cycles/attach "cycle $done_cycles: $(cat "$TMP/attach.out")"
			bad=1
			break
		fi
		# churn works in bursts 100 ms apart: a detach right after
		# the attach may fall between two, and see no allocation.
		# Every tenth cycle stays attached over a burst, so that the
		# probes demonstrably traced it (cycles/traced below).
		((done_cycles % 10 == 0)) && sleep 0.25
		if ! ctl detach "$pid" >"$TMP/detach.out" 2>&1; then
			exited "$pid" && break
			fail cycles/detach "cycle $done_cycles: $(cat "$TMP/detach.out")"
			bad=1
			break
		fi
		done_cycles=$((done_cycles + 1))
	done
	unharmed "cycles/unharmed" "$pid" "$out" || bad=1
	if ! daemon_alive; then
		fail cycles/daemon_alive "memwatchd died: $(tail -n 1 "$DAEMON_LOG.err")"
		bad=1
	fi
done
ms=$((($(date +%s%N) - t0) / 1000000))
if ((bad == 0)); then
	pass cycles/unharmed
fi
echo "# attach_cycles: $done_cycles attach/detach cycles on $runs churn runs" \
	"in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s" \
	"($((done_cycles * 1000 / (ms > 0 ? ms : 1))).$(printf '%02d' \
		$((done_cycles * 100000 / (ms > 0 ? ms : 1) % 100))) cycles/s)"
ok cycles/stop "memwatchd did not stop cleanly" stop_daemon

# The daemon did trace them: each run has process rows with allocations.
if query cycles/status "$TMP/status.json" status; then
	expect cycles/traced "$TMP/status.json" \
		'[.processes[] | select(.comm == "churn" and .allocs > 0)] | length > 0' true
fi

# --- SIGKILL while attached -------------------------------------------------

bad=0
for ((k = 1; k <= KILLS; k++)); do
	start_gated churn "${args[@]}"
	pid=$WL_PID
	out=$WL_OUT
	for _ in 1 2; do
		start_daemon --pid "$pid"
		if ! wait_for_target "$pid"; then
			fail kill9/attached "run $k: $WHY"
			bad=1
			break
		fi
		touch "$WL_GATE"
		# Somewhere in the middle of the run.
		sleep "$((RANDOM % 3)).$((RANDOM % 10))"
		if exited "$pid"; then
			fail kill9/mid_run "run $k: churn finished before the kill"
			bad=1
		fi
		kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
		DAEMON_PID=
	done
	unharmed kill9/unharmed "$pid" "$out" || bad=1
done
if ((bad == 0)); then
	pass kill9/unharmed
fi

finish
