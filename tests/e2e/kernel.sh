#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/kernel.sh - the kernel features memwatch uses
# (common/kfeature.h, daemon/kernel.c), on whatever kernel this runs on:
# the host's, and Debian's 6.1 and 6.12 in the QEMU guests (tests/vm/).
#   - memwatchd --features tells the truth: each feature that came with a
#     known release is found exactly on the releases that have it (the
#     release read from uname, not from the probe), every required one
#     found, and status, --json and /metrics say the same;
#   - a kernel without BTF (hidden in a private mount namespace) is
#     refused in one line naming the release and the feature, exit 2,
#     with no database made and no program left loaded;
#   - --check-config fails, naming the kernel and the feature, when the
#     targets need what the kernel lacks, and notes the degradations;
#   - a followed child allocating at its first instruction after fork is
#     held before it runs: every allocation counted, with the kernel's own
#     way of holding it and with the one older kernels use (from the
#     child's own context, MEMWATCH_KERNEL_MISSING=send_signal_task), whose
#     syscall tracepoints go once no target is followed.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

release=$(uname -r)
# The release as a number, 6.12 -> 612, for the features that came with
# one (Debian backports none of them).
IFS=.- read -r major minor _ <<<"$release"
rel=$((major * 100 + minor))

# --- the report ---------------------------------------------------------------

if "$MEMWATCHD" --features >"$TMP/features.out" 2>"$TMP/features.err"; then
	pass features/exit
else
	fail features/exit "exited $?: $(cat "$TMP/features.err")"
fi
feature_state() {
	awk -v f="$1" '$1 == f { print $2; exit }' "$TMP/features.out"
}
if [[ $(head -n 1 "$TMP/features.out") == "kernel: Linux $release" ]]; then
	pass features/release
else
	fail features/release "first line '$(head -n 1 "$TMP/features.out")'"
fi
for f in btf ringbuf helpers tp_btf uprobes; do
	if [[ $(feature_state $f) == found ]]; then
		pass "features/required/$f"
	else
		fail "features/required/$f" "'$(feature_state $f)', want found"
	fi
done
# feature since: the release it came in.
for fs in send_signal_task:613 uprobe_multi:606 uretprobe_syscall:611 exit_tp_early:616; do
	f=${fs%%:*} since=${fs##*:}
	want=missing
	((rel >= since)) && want=found
	got=$(feature_state "$f")
	if [[ $got == "$want" ]]; then
		pass "features/$f"
	else
		fail "features/$f" "'$got' on Linux $release, want $want"
	fi
done
# Perf events for CAP_PERFMON: not at Debian's perf_event_paranoid 3.
want=missing
(($(cat /proc/sys/kernel/perf_event_paranoid) <= 2)) && want=found
got=$(feature_state perf_perfmon)
if [[ $got == "$want" ]]; then
	pass features/perf_perfmon
else
	fail features/perf_perfmon "'$got' at perf_event_paranoid $(cat /proc/sys/kernel/perf_event_paranoid), want $want"
fi
n_features=$(awk 'NR > 1 && $2 ~ /^(found|missing|masked)$/' "$TMP/features.out" | wc -l)
if [[ $n_features == 13 ]]; then
	pass features/all_listed
else
	fail features/all_listed "$n_features features listed, want 13"
fi

# An unknown or required feature to mask is an error, in one line.
if MEMWATCH_KERNEL_MISSING=btf "$MEMWATCHD" --features >/dev/null 2>"$TMP/mask.err"; then
	fail features/mask_required "masking btf was accepted"
else
	rc=$?
	if [[ $rc == 2 && $(wc -l <"$TMP/mask.err") == 1 ]] &&
		grep -q "'btf' is not an optional feature" "$TMP/mask.err"; then
		pass features/mask_required
	else
		fail features/mask_required "exit $rc: $(cat "$TMP/mask.err")"
	fi
fi
MEMWATCH_KERNEL_MISSING=uprobe_multi "$MEMWATCHD" --features >"$TMP/masked.out" 2>&1 || true
if grep -Eq '^uprobe_multi +(masked|missing) ' "$TMP/masked.out"; then
	pass features/masked
else
	fail features/masked "$(grep uprobe_multi "$TMP/masked.out")"
fi

# --- a kernel without BTF -------------------------------------------------------

# unshare NAME ARGS...: memwatchd ARGS with /sys/kernel/btf/vmlinux made
# empty in a mount namespace of its own; sets RC, output in $TMP/NAME.err.
nobtf() {
	local name=$1
	shift
	RC=0
	unshare --mount --propagation private sh -c \
		'mount --bind /dev/null /sys/kernel/btf/vmlinux && exec "$@"' sh \
		"$MEMWATCHD" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || RC=$?
}
progs_before=$(bpftool prog show 2>/dev/null | grep -c 'name on_exec' || true)
nobtf nobtf --db "$TMP/nobtf.db" --socket "$TMP/nobtf.sock" --metrics-listen none -- /bin/true
if [[ $RC == 2 && $(wc -l <"$TMP/nobtf.err") == 1 ]] &&
	grep -q "^memwatchd: Linux $release: btf missing" "$TMP/nobtf.err"; then
	pass nobtf/refused
else
	fail nobtf/refused "exit $RC: $(cat "$TMP/nobtf.err")"
fi
if [[ ! -e $TMP/nobtf.db && ! -e $TMP/nobtf.sock ]]; then
	pass nobtf/nothing_made
else
	fail nobtf/nothing_made "$(ls "$TMP"/nobtf.*)"
fi
progs_after=$(bpftool prog show 2>/dev/null | grep -c 'name on_exec' || true)
if [[ $progs_after == "$progs_before" ]]; then
	pass nobtf/nothing_loaded
else
	fail nobtf/nothing_loaded "on_exec programs $progs_before before, $progs_after after"
fi
nobtf nobtf_check --check-config --pid 1
if [[ $RC == 2 ]] && grep -q "Linux $release: btf missing" "$TMP/nobtf_check.err"; then
	pass nobtf/check_config
else
	fail nobtf/check_config "exit $RC: $(cat "$TMP/nobtf_check.err" "$TMP/nobtf_check.out")"
fi

# --- --check-config -----------------------------------------------------------

RC=0
MEMWATCH_KERNEL_MISSING=send_signal_task,syscall_tracepoints "$MEMWATCHD" \
	--check-config --exe "$WL/fork_early" >"$TMP/cc.out" 2>"$TMP/cc.err" || RC=$?
if [[ $RC == 2 ]] &&
	grep -q "Linux $release: send_signal_task and syscall_tracepoints missing" "$TMP/cc.err"; then
	pass check_config/fork_hold_needed
else
	fail check_config/fork_hold_needed "exit $RC: $(cat "$TMP/cc.err")"
fi
RC=0
MEMWATCH_KERNEL_MISSING=uprobe_multi "$MEMWATCHD" --check-config \
	--exe "$WL/fork_early" >"$TMP/cc2.out" 2>"$TMP/cc2.err" || RC=$?
if [[ $RC == 0 ]] && grep -q "^note: Linux $release: uprobe_multi missing: " "$TMP/cc2.out" &&
	[[ $(tail -n 1 "$TMP/cc2.out") == "configuration OK" ]]; then
	pass check_config/notes
else
	fail check_config/notes "exit $RC: $(cat "$TMP/cc2.out" "$TMP/cc2.err")"
fi

# --- the fork hold --------------------------------------------------------------

# hold_links: the daemon's attachments of its child-context hold programs
# (perf events: bpftool perf lists them with the process holding them).
hold_links() {
	bpftool perf show -j 2>/dev/null | jq --argjson d "$DAEMON_PID" \
		'[.[] | select(.pid == $d and (.tracepoint // "" |
			test("^sys_exit_(clone|clone3|fork|vfork)$")))] | length'
}

# fork_hold NAME [ENV...]: watch fork_early, run it (3 children, 5 blocks
# of 777 bytes each, the first thing each child does), check every
# child's counts.
fork_hold() {
	local name=$1 f
	shift
	DB=$TMP/$name.db
	SOCK=$TMP/$name.sock
	env "$@" "$MEMWATCHD" --db "$DB" --socket "$SOCK" --metrics-listen none \
		--exe "$WL/fork_early" >"$TMP/$name.daemon.out" 2>"$TMP/$name.daemon.err" &
	DAEMON_PID=$!
	DAEMON_LOG=$TMP/$name.daemon
	if wait_until 20 daemon_answers; then
		pass "$name/watching"
	else
		fail "$name/watching" "memwatchd never answered: $(tail -n 1 "$DAEMON_LOG.err")"
		stop_daemon || true
		return 0
	fi
	# While the program runs (run_bg waits for its end), note how many
	# hold tracepoints the daemon has attached. The sampler ends itself
	# when told, after the sample it is taking: killed instead, its
	# bpftool | jq went on and wrote a late "4" after the check had read
	# the file (a TCG guest, where one sample takes most of a second).
	local sampler=
	if [[ $* == *send_signal_task* ]]; then
		rm -f "$TMP/$name.stop"
		while [[ ! -e $TMP/$name.stop ]]; do
			hold_links
			sleep 0.1
		done >"$TMP/$name.holds" 2>/dev/null &
		sampler=$!
	fi
	run_bg "$name" env MW_HOLD_MS=300 "$WL/fork_early" 3 5 777
	if [[ -n $sampler ]]; then
		touch "$TMP/$name.stop"
		wait "$sampler" 2>/dev/null || true
		if grep -qx 4 "$TMP/$name.holds"; then
			pass "$name/tracepoints_attached"
		else
			fail "$name/tracepoints_attached" "hold links seen while a target was followed: $(sort -u "$TMP/$name.holds" | paste -sd,), want 4"
		fi
	fi
	wait_until 10 sh -c "\"$MEMWATCHCTL\" --db \"$DB\" --json status |
		jq -e '[.processes[] | select(.state != \"running\")] | length == 4' >/dev/null" || true
	f=$TMP/$name.json
	if query "$name/status" "$f" status; then
		expect "$name/children" "$f" \
			'[.processes[] | select(.allocs == 5 and .live_blocks == 5 and .live_bytes == 3885)] | length' 3
		expect "$name/lost" "$f" '[.processes[].lost] | add' 0
		expect "$name/kernel" "$f" '.daemon.kernel.release' "$release"
	fi
}

fork_hold fork_hold
stop_daemon || true

# The hold older kernels use, from the child's own context; its syscall
# tracepoints are attached while a target is followed, and go after.
fork_hold fork_hold_in_child MEMWATCH_KERNEL_MISSING=send_signal_task
if query fork_hold_in_child/degraded "$TMP/degraded.json" status; then
	expect fork_hold_in_child/degraded "$TMP/degraded.json" \
		'[.daemon.kernel.degraded[].feature] | index("send_signal_task") != null' true
fi
if wait_until 5 test "$(hold_links)" == 0; then
	pass fork_hold_in_child/tracepoints_gone
else
	fail fork_hold_in_child/tracepoints_gone "$(hold_links) links still attached with no target followed"
fi
stop_daemon || true

# --- the thread exit hook ------------------------------------------------------

# Before Linux 6.16 sched_process_exit fires after a joining thread wakes;
# there the end of a thread is taken from fentry on exit_mm_release. Where
# the kernel refuses that program, the tracepoint is loaded in its place
# and the log, status and /metrics say so. Either way the daemon runs
# with exactly one of the two programs. (tls_mode's free_all checks the
# order itself, on every kernel.)
exit_progs() {
	daemon_bpf links | grep -E '^on_exit(_mm)?$' | paste -sd,
}
DB=$TMP/exit_hook.db
SOCK=$TMP/exit_hook.sock
# This shell is a placeholder target: --no-follow, or every command it
# runs would be traced (slow where each attach is per probe, 6.1).
MEMWATCH_KERNEL_MISSING=exit_tp_early start_daemon --no-follow --pid $$
if wait_until 20 daemon_answers && query exit_hook/status "$TMP/exit_hook.json" status; then
	degraded=$(jq -r '[.daemon.kernel.degraded[].feature] | join(",")' "$TMP/exit_hook.json")
	progs=$(exit_progs)
	if grep -q "exit_fentry: the kernel refused its program" "$DAEMON_LOG.err"; then
		[[ $progs == on_exit && ,$degraded, == *,exit_fentry,* ]] &&
			pass exit_hook/program ||
			fail exit_hook/program "refused: loaded '$progs', degraded '$degraded'"
	else
		[[ $progs == on_exit_mm && ,$degraded, != *,exit_fentry,* ]] &&
			pass exit_hook/program ||
			fail exit_hook/program "loaded '$progs', degraded '$degraded'"
	fi
	[[ ,$degraded, == *,exit_tp_early,* ]] && pass exit_hook/degraded ||
		fail exit_hook/degraded "degraded '$degraded'"
else
	fail exit_hook/status "memwatchd never answered: $(tail -n 1 "$DAEMON_LOG.err")"
fi
stop_daemon || true

# --- /metrics -------------------------------------------------------------------

port=$((20000 + RANDOM % 20000))
DB=$TMP/metrics.db
SOCK=$TMP/metrics.sock
start_daemon --metrics-listen "127.0.0.1:$port" --no-follow --pid $$
if wait_until 20 daemon_answers &&
	wait_until 10 sh -c "curl -sf http://127.0.0.1:$port/metrics >'$TMP/metrics.txt'"; then
	pass metrics/served
	got=$(grep -c '^memwatch_kernel_feature{' "$TMP/metrics.txt" || true)
	[[ $got == 13 ]] && pass metrics/features || fail metrics/features "$got series, want 13"
	bad=0
	while read -r f state _; do
		want=0
		[[ $state == found ]] && want=1
		grep -q "^memwatch_kernel_feature{feature=\"$f\",.*} $want\$" "$TMP/metrics.txt" || bad=$((bad + 1))
	done < <(awk 'NR > 1 && $2 ~ /^(found|missing)$/' "$TMP/features.out")
	[[ $bad == 0 ]] && pass metrics/same_as_features ||
		fail metrics/same_as_features "$bad features differ from memwatchd --features"
	if grep -q "^memwatch_kernel_info{release=\"$release\"} 1" "$TMP/metrics.txt"; then
		pass metrics/release
	else
		fail metrics/release "$(grep memwatch_kernel_info "$TMP/metrics.txt")"
	fi
else
	fail metrics/served "no /metrics on port $port: $(tail -n 2 "$DAEMON_LOG.err")"
fi
ok metrics/stop "memwatchd did not stop cleanly" stop_daemon

finish
