#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317  # helpers run through ok and wait_until
# tests/e2e/overload.sh - overload without false alarms, and the bounds
# (docs/RELIABILITY.md):
#   - overflow: a 1 MiB ring buffer, tls_swap and alloc_pairs flooding
#     it while the daemon is stopped (SIGSTOP), so records are really
#     lost; tls_swap replaces a TLS value every 20 ms meanwhile. Once
#     quiet, the losses the daemon recorded (memwatch_events_lost_total
#     and `memwatchctl status`) equal what the kernel counted
#     (memwatch_bpf_records_lost_total), exactly; both processes are
#     marked as having lost events; findings the loss would have caused
#     were withheld (memwatch_findings_withheld_total > 0); both free
#     everything, and no finding appears;
#   - spawn_lost: watched programs started while the ring buffer is full
#     are not stopped at exec (their report would be lost): one ends
#     while the daemon is stopped, as untraced; one is attached late;
#   - --max-pending 1: calls of threads that find the pending map full are
#     lost, counted as pending_full, the same equality, no finding;
#   - --max-blocks 1000: live_hold's 5000 blocks are held as 1000, the
#     4000 others dropped and counted, the process incomplete, no finding;
#   - --max-threads 4: tls_dtor's threads past 4 (all 16 alive at once)
#     are dropped and counted, no finding;
#   - --max-memory-mb 1: live_hold's 100000 blocks pass it, the process
#     is detached (memwatch_processes_shed_total 1), unharmed, no finding;
#   - --max-targets 1: a second attach is refused, naming the bound.
# --max-keys has its unit test (tests/unit/test_engine.c, test_max_keys).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PROM=$TMP/metrics.prom

# metric NAME: its value in the textfile, empty if absent. NAME may carry
# labels, as the page writes them.
metric() {
	awk -v n="$1" '$1 == n { print $2; exit }' "$PROM" 2>/dev/null || true
}

# pmetric NAME PID: the value of process PID's series of family NAME.
pmetric() {
	awk -v p="$1{pid=\"$2\"," 'index($0, p) == 1 { print $NF; exit }' \
		"$PROM" 2>/dev/null || true
}

# The kernel's count of lost records, all reasons.
kernel_lost() {
	awk '/^memwatch_bpf_records_lost_total\{/ { s += $2 } END { print s + 0 }' \
		"$PROM" 2>/dev/null || echo 0
}

# losses_agree: the daemon's count of losses equals the kernel's, both in
# one page and in memwatchctl status, and is not zero. Sets KLOST.
losses_agree() {
	local d s
	KLOST=$(kernel_lost)
	d=$(metric memwatch_events_lost_total)
	s=$(ctl --json status 2>/dev/null | jq '.daemon.lost' 2>/dev/null || true)
	WHY="kernel $KLOST, memwatch_events_lost_total '$d', memwatchctl status '$s'"
	[[ $KLOST != 0 && $d == "$KLOST" && $s == "$KLOST" ]]
}

# quiet_and_agree: losses agree in two pages a flush apart (nothing is
# still being lost or taken).
quiet_and_agree() {
	local before
	losses_agree || return 1
	before=$KLOST
	sleep 1.2
	losses_agree && [[ $KLOST == "$before" ]]
}

# no_findings NAME PID: memwatchctl lists no finding for PID.
no_findings() {
	local f=$TMP/findings.$2.json
	if query "$1" "$f" findings --pid "$2"; then
		expect "$1" "$f" 'length' 0
	fi
}

# proc_field PID FIELD: the field of PID's row in `memwatchctl status`.
proc_field() {
	ctl --json status 2>/dev/null |
		jq -r --argjson p "$1" --arg f "$2" \
			'[.processes[] | select(.pid == $p)][0][$f] // empty' || true
}

# daemon_with NAME ARGS...: start memwatchd writing its metrics to $PROM
# and wait for it to answer.
daemon_with() {
	local name=$1
	shift
	rm -f "$PROM"
	watch "$name" --metrics-textfile "$PROM" "$@"
}

# reap_ok NAME PID: wait for a workload; NAME/exit passes if it exited 0.
reap_ok() {
	reap "$2"
	if [[ $REAP_RC == 0 ]]; then
		pass "$1/exit"
	else
		fail "$1/exit" "workload exited $REAP_RC"
	fi
}

# --- the ring buffer overflows ------------------------------------------------

# tls_swap floods the ring buffer from two threads and replaces a TLS value
# every 20 ms (allocated and set before the old one is freed); stopped
# for 1.5 s, the daemon loses old values' frees while sets of new ones
# come through around the loss, each a candidate tls-overwritten on a
# block that only looks live. alloc_pairs floods alongside.
# Every 20 ms: a set that gets through with its old value's free lost is
# what makes a finding to withhold, and the loss must hit between the two
# (adjacent calls), so the more swaps under pressure the surer the case.
start_gated tls_swap 2 4000 20
swap=$WL_PID swap_gate=$WL_GATE
start_gated alloc_pairs 3000000 1 64
pairs=$WL_PID pairs_gate=$WL_GATE
daemon_with overflow --ringbuf-mb 1 --pid "$swap" --pid "$pairs"
ok overflow/attached "not traced" wait_for_target "$swap"
ok overflow/attached_pairs "not traced" wait_for_target "$pairs"
touch "$swap_gate" "$pairs_gate"
sleep 0.5
kill -STOP "$DAEMON_PID"
sleep 1.5
kill -CONT "$DAEMON_PID"
# Then short stops: each time the ring buffer fills, a set can get
# through and its old value's free, 4,096 records later, be lost.
for _ in 1 2 3 4 5 6 7 8 9 10; do
	sleep 0.05
	kill -STOP "$DAEMON_PID"
	sleep 0.05
	kill -CONT "$DAEMON_PID"
done
reap_ok overflow/tls_swap "$swap"
reap_ok overflow/alloc_pairs "$pairs"
ok overflow/exact_count "losses differ" wait_until 20 quiet_and_agree
withheld=$(metric memwatch_findings_withheld_total)
echo "# overflow: $KLOST records lost, counted by the kernel and the daemon alike; $withheld findings withheld"
for p in "$swap" "$pairs"; do
	wait_until 10 proc_state_is "$p" exited || true
done
ls=$(proc_field "$swap" lost)
lp=$(proc_field "$pairs" lost)
if [[ -n $ls && $ls != 0 && -n $lp && $lp != 0 ]]; then
	pass overflow/both_incomplete
else
	fail overflow/both_incomplete "lost by tls_swap '$ls', by alloc_pairs '$lp'"
fi
# What makes the case: findings were due on what the loss left behind,
# and held back.
if [[ -n $withheld && $withheld != 0 ]]; then
	pass overflow/withheld
else
	fail overflow/withheld "memwatch_findings_withheld_total '$withheld': the loss left no finding to withhold"
fi
no_findings overflow/no_false_finding_swap "$swap"
no_findings overflow/no_false_finding_pairs "$pairs"
ok overflow/stop "memwatchd did not stop cleanly" stop_daemon

# --- a watched program starts while the ring buffer is full ----------------------

# The kernel stops a watched program at exec until the daemon has attached
# and resumes it. With the ring buffer full, the report that would resume
# it is lost: it must not be stopped at all. churn (watched with --exe)
# starts twice while the daemon is stopped and alloc_pairs keeps the
# buffer full: the first run must end meanwhile, as an untraced run does;
# the second, still running when the daemon resumes, is attached late.
want_rc=0
want=$("$WL/churn" 3 2 200) || want_rc=$?
start_gated alloc_pairs 3000000 1 64
pairs=$WL_PID pairs_gate=$WL_GATE
daemon_with spawn_lost --ringbuf-mb 1 --pid "$pairs" --exe "$WL/churn"
ok spawn_lost/attached "not traced" wait_for_target "$pairs"
touch "$pairs_gate"
sleep 0.3
kill -STOP "$DAEMON_PID"
sleep 0.5
lost_before=$(metric memwatch_events_lost_total)
"$WL/churn" 3 2 200 >"$TMP/spawn_a.out" 2>&1 &
spawn_a=$!
BG_PIDS+=("$spawn_a")
"$WL/churn" 80 2 200 >"$TMP/spawn_b.out" 2>&1 &
spawn_b=$!
BG_PIDS+=("$spawn_b")
# The daemon stays stopped until the first run has ended (15 s at most).
wait_exit "$spawn_a" 15 || true
if exited "$spawn_a"; then
	reap "$spawn_a"
	if [[ $REAP_RC == "$want_rc" && $(cat "$TMP/spawn_a.out") == "$want" ]]; then
		pass spawn_lost/not_stopped
	else
		fail spawn_lost/not_stopped "churn exited $REAP_RC: '$(head -c 200 "$TMP/spawn_a.out")', untraced: $want_rc '$want'"
	fi
else
	fail spawn_lost/not_stopped "churn still runs after 15 s: state $(awk '{ print $3 }' "/proc/$spawn_a/stat" 2>/dev/null)"
fi
kill -CONT "$DAEMON_PID"
ok spawn_lost/attached_late "not attached late" wait_for_target "$spawn_b"
if grep -q "pid $spawn_b started while events were lost: attaching it late" "$DAEMON_LOG.err"; then
	pass spawn_lost/logged
else
	fail spawn_lost/logged "no line for pid $spawn_b in the log: $(tail -n 3 "$DAEMON_LOG.err")"
fi
kill "$pairs" 2>/dev/null || true
reap "$pairs"
ok spawn_lost/exact_count "losses differ" wait_until 20 quiet_and_agree
if [[ $KLOST -gt ${lost_before:-0} ]]; then
	pass spawn_lost/counted
else
	fail spawn_lost/counted "no loss counted while stopped: before '$lost_before', after $KLOST"
fi
reap "$spawn_b"
if [[ $REAP_RC == 0 ]] && grep -q '^churn: rounds=80 threads=2 ops=200 checksum=' "$TMP/spawn_b.out"; then
	pass spawn_lost/late_unharmed
else
	fail spawn_lost/late_unharmed "churn exited $REAP_RC: '$(head -c 200 "$TMP/spawn_b.out")'"
fi
no_findings spawn_lost/no_false_finding "$spawn_b"
ok spawn_lost/stop "memwatchd did not stop cleanly" stop_daemon

# --- the pending map is full ----------------------------------------------------

start_gated thread_churn 400 8 0
churn=$WL_PID churn_gate=$WL_GATE
daemon_with pending --max-pending 1 --pid "$churn"
ok pending/attached "not traced" wait_for_target "$churn"
touch "$churn_gate"
reap_ok pending/thread_churn "$churn"
ok pending/exact_count "losses differ" wait_until 20 quiet_and_agree
pf=$(metric 'memwatch_bpf_records_lost_total{reason="pending_full"}')
if [[ -n $pf && $pf != 0 && $pf == "$KLOST" ]]; then
	pass pending/counted_as_pending_full
else
	fail pending/counted_as_pending_full "pending_full '$pf' of $KLOST lost"
fi
no_findings pending/no_false_finding "$churn"
ok pending/stop "memwatchd did not stop cleanly" stop_daemon

# --- --max-blocks ------------------------------------------------------------------

start_gated live_hold 5000 32 4000
hold=$WL_PID hold_gate=$WL_GATE
daemon_with max_blocks --max-blocks 1000 --pid "$hold"
ok max_blocks/attached "not traced" wait_for_target "$hold"
touch "$hold_gate"
held_at_bound() {
	local live dropped inc
	live=$(pmetric memwatch_process_live_blocks "$hold")
	dropped=$(pmetric memwatch_process_events_dropped_total "$hold")
	inc=$(pmetric memwatch_process_incomplete "$hold")
	WHY="live blocks '$live' (want 1000), dropped '$dropped' (want >= 4000), incomplete '$inc'"
	[[ $live == 1000 && -n $dropped && $dropped -ge 4000 && $inc == 1 ]]
}
ok max_blocks/held_at_bound "not at the bound" wait_until 10 held_at_bound
reap_ok max_blocks/live_hold "$hold"
wait_until 10 proc_state_is "$hold" exited || true
no_findings max_blocks/no_false_finding "$hold"
ok max_blocks/stop "memwatchd did not stop cleanly" stop_daemon

# --- --max-threads -------------------------------------------------------------------

# tls_dtor's 16 threads are all alive at once (a barrier): 12 and more
# are past the bound, each with its start, allocation, TLS set, free and
# exit.
start_gated tls_dtor 16 4096
dtor=$WL_PID dtor_gate=$WL_GATE
daemon_with max_threads --max-threads 4 --pid "$dtor"
ok max_threads/attached "not traced" wait_for_target "$dtor"
touch "$dtor_gate"
threads_dropped() {
	local d
	d=$(pmetric memwatch_process_events_dropped_total "$dtor")
	WHY="memwatch_process_events_dropped_total '$d' (want 12 or more)"
	[[ -n $d && $d -ge 12 ]]
}
ok max_threads/dropped "too few dropped" wait_until 10 threads_dropped
reap_ok max_threads/tls_dtor "$dtor"
wait_until 10 proc_state_is "$dtor" exited || true
no_findings max_threads/no_false_finding "$dtor"
ok max_threads/stop "memwatchd did not stop cleanly" stop_daemon

# --- --max-memory-mb -----------------------------------------------------------------

start_gated live_hold 100000 32 3000
hold=$WL_PID hold_gate=$WL_GATE
daemon_with max_memory --max-memory-mb 1 --pid "$hold"
ok max_memory/attached "not traced" wait_for_target "$hold"
touch "$hold_gate"
shed() {
	WHY="memwatch_processes_shed_total '$(metric memwatch_processes_shed_total)'"
	[[ $(metric memwatch_processes_shed_total) == 1 ]] &&
		proc_state_is "$hold" detached
}
ok max_memory/detached "not detached" wait_until 15 shed
if grep -q "passed --max-memory-mb 1: detaching pid $hold" "$DAEMON_LOG.err"; then
	pass max_memory/logged
else
	fail max_memory/logged "no warning: $(tail -n 2 "$DAEMON_LOG.err")"
fi
reap_ok max_memory/live_hold "$hold"
no_findings max_memory/no_false_finding "$hold"
ok max_memory/stop "memwatchd did not stop cleanly" stop_daemon

# --- --max-targets --------------------------------------------------------------------

start_gated live_hold 10 32 30000
one=$WL_PID
start_gated live_hold 10 32 30000
two=$WL_PID
daemon_with max_targets --max-targets 1 --pid "$one"
ok max_targets/attached "not traced" wait_for_target "$one"
rc=0
ctl attach "$two" >"$TMP/attach2.out" 2>&1 || rc=$?
if [[ $rc != 0 ]] && grep -q -- "--max-targets" "$TMP/attach2.out"; then
	pass max_targets/refused
else
	fail max_targets/refused "exit $rc: $(cat "$TMP/attach2.out")"
fi
ok max_targets/stop "memwatchd did not stop cleanly" stop_daemon

finish
