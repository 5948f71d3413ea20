#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/targets.sh - targets nobody knows the pid of in advance:
#   - memwatchd --exe PATH: a process started after the daemon is stopped
#     by the kernel at exec and attached before its first instruction, so
#     its counters are exactly those of `memwatchd -- CMD` (no allocation
#     lost), and its planted TLS leak is found; the same program preloading
#     mimalloc is probed in mimalloc, which is named;
#   - a process already running that program when the daemon starts;
#   - memwatchd --comm NAME;
#   - memwatchd --cgroup PATH and --unit NAME.service, on cgroup v2 groups
#     the test makes (a unit's group is system.slice/NAME, as systemd
#     makes it): a process that enters the group and execs is traced;
#   - a watched program's forked children (no exec) are followed: each is
#     stopped as it returns from fork, attached, resumed;
#   - so are those of -- CMD (forked, and what they exec) and of --pid,
#     by default, every early allocation counted; --no-follow traces the
#     command alone;
#   - a static binary (glibc linked in): probed in the executable itself,
#     under -- CMD and under --exe, with the same exact counts;
#   - a process in its own pid and mount namespaces (unshare): traced,
#     reported with its host pid and its namespace pid (1), exact counts;
#   - a process whose file paths name other files in the daemon's mount
#     namespace (a container's root): its sites named from the files it
#     maps, not from a decoy at the same path in the daemon's view;
#   - memwatchctl attach/detach exe|comm at run time: running and later
#     processes attached, in the mode asked, and dropped by detach;
#   - bad --exe, --comm, --cgroup values are one-line usage errors.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

MIMALLOC=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2

# The reference: the same run under memwatchd -- CMD.
DB=$TMP/ref.db
trace -- "$WL/tls_nodtor" 8 4096
query ref/status "$TMP/ref.json" status || true
ref=$(jqv "$TMP/ref.json" '.processes[0] | [.allocs, .frees, .unknown_frees, .live_blocks, .live_bytes, .threads]')

# A process already at its gate when the daemon starts, and two started
# after it.
DB=$TMP/exe.db
start_gated tls_nodtor 8 4096
early=$WL_PID
early_gate=$WL_GATE
start_daemon --exe "$WL/tls_nodtor"
if wait_for_target "$early"; then
	pass exe/running_attached
else
	fail exe/running_attached "$WHY"
fi
touch "$early_gate"
reap "$early"
run_bg exe_late "$WL/tls_nodtor" 8 4096
late=$RUN_PID
run_bg exe_mi env LD_PRELOAD=$MIMALLOC "$WL/tls_nodtor" 8 4096
mi=$RUN_PID
wait_until 10 findings_at_least 24 || true
ok exe/stop "memwatchd did not stop cleanly" stop_daemon
if query exe/status "$TMP/exe_status.json" status; then
	f=$TMP/exe_status.json
	expect exe/three_processes "$f" '[.processes[] | select(.comm == "tls_nodtor")] | length' 3
	expect exe/late_exact "$f" \
		'.processes[] | select(.pid == $p) | [.allocs, .frees, .unknown_frees, .live_blocks, .live_bytes, .threads]' \
		"$ref" --argjson p "$late"
	expect exe/mi_allocator "$f" '.processes[] | select(.pid == $p) | .allocator' mimalloc --argjson p "$mi"
	expect exe/mi_allocs "$f" '.processes[] | select(.pid == $p) | .allocs' \
		"$(jqv "$TMP/ref.json" '.processes[0].allocs')" --argjson p "$mi"
fi
if query exe/findings "$TMP/exe.json" findings; then
	f=$TMP/exe.json
	for p in "$early" "$late" "$mi"; do
		expect "exe/leak_$p" "$f" \
			'[.[] | select(.pid == $p and .kind == "tls-outlived-thread" and .size == 4096 and .site.function == "tls_nodtor_alloc")] | length' \
			8 --argjson p "$p"
	done
fi

# By command name.
DB=$TMP/comm.db
watch comm --comm tls_keydelete
run_bg comm "$WL/tls_keydelete"
kd=$RUN_PID
wait_until 10 findings_at_least 4 || true
ok comm/stop "memwatchd did not stop cleanly" stop_daemon
query comm/findings "$TMP/comm.json" findings &&
	expect comm/leak "$TMP/comm.json" \
		'[.[] | select(.pid == $p and .kind == "tls-outlived-key")] | length' 4 --argjson p "$kd"

# memwatchctl attach/detach by name, at run time: a daemon with no
# targets is told to watch an executable; a process already running it
# is attached at once, one started later is caught at exec; detach stops
# both, and a process started after that is not traced.
DB=$TMP/ctl.db
# ctl, its output kept for a failure's report.
# shellcheck disable=SC2317  # called through ok
ctlq() {
	ctl "$@" >>"$TMP/ctlq.out"
}
watch ctl
start_gated tls_nodtor 8 4096
running=$WL_PID
running_gate=$WL_GATE
if ctl attach exe "$WL/tls_nodtor" >"$TMP/ctl_attach.out" 2>&1 &&
	grep -q "^watching exe '$WL/tls_nodtor'" "$TMP/ctl_attach.out"; then
	pass ctl/attach_exe
else
	fail ctl/attach_exe "$(cat "$TMP/ctl_attach.out")"
fi
if wait_until 10 target_listed "$running"; then
	pass ctl/running_attached
else
	fail ctl/running_attached "pid $running not traced"
fi
touch "$running_gate"
reap "$running"
run_bg ctl_late "$WL/tls_nodtor" 8 4096
late=$RUN_PID
# TLS mode by name: a comm target whose processes keep malloc unprobed.
ok ctl/attach_comm_tls "attach --tls comm failed" ctlq --tls attach comm tls_keydelete
run_bg ctl_comm "$WL/tls_keydelete"
kd=$RUN_PID
wait_until 10 findings_at_least 20 || true
ok ctl/detach_exe "detach exe failed" ctlq detach exe "$WL/tls_nodtor"
ok ctl/detach_comm "detach comm failed" ctlq detach comm tls_keydelete
run_bg ctl_after "$WL/tls_nodtor" 1 64
after=$RUN_PID
# Detaching what is not watched: one line, non-zero.
rc=0
ctl detach exe "$WL/tls_nodtor" >/dev/null 2>"$TMP/ctl_bad.err" || rc=$?
if [[ $rc != 0 && $(cat "$TMP/ctl_bad.err") == *"not watched"* ]]; then
	pass ctl/detach_unwatched
else
	fail ctl/detach_unwatched "exit $rc: $(cat "$TMP/ctl_bad.err")"
fi
ok ctl/stop "memwatchd did not stop cleanly" stop_daemon
if query ctl/status "$TMP/ctl_status.json" status; then
	f=$TMP/ctl_status.json
	expect ctl/late_exact "$f" \
		'.processes[] | select(.pid == $p) | [.allocs, .frees, .unknown_frees, .live_blocks, .live_bytes, .threads]' \
		"$ref" --argjson p "$late"
	expect ctl/comm_mode "$f" '.processes[] | select(.pid == $p) | .mode' tls --argjson p "$kd"
	expect ctl/after_untraced "$f" '[.processes[] | select(.pid == $p)] | length' 0 --argjson p "$after"
fi
if query ctl/findings "$TMP/ctl.json" findings; then
	for p in "$running" "$late"; do
		expect "ctl/leak_$p" "$TMP/ctl.json" \
			'[.[] | select(.pid == $p and .kind == "tls-outlived-thread" and .size == 4096)] | length' \
			8 --argjson p "$p"
	done
	expect ctl/comm_leak "$TMP/ctl.json" \
		'[.[] | select(.pid == $p and .kind == "tls-outlived-key")] | length' 4 --argjson p "$kd"
fi

# Bad input: one line, exit 2.
for bad in "--exe /nonexistent/prog" "--exe /tmp" "--comm abcdefghijklmnopq"; do
	rc=0
	# shellcheck disable=SC2086  # the option and its value, split
	"$MEMWATCHD" --db "$TMP/bad.db" --socket "$TMP/bad.sock" $bad \
		>/dev/null 2>"$TMP/bad.err" || rc=$?
	name=bad/${bad%% *}_${bad##*/}
	if [[ $rc -ne 0 && $(wc -l <"$TMP/bad.err") == 1 ]]; then
		pass "$name"
	else
		fail "$name" "exit $rc, want non-zero and one line: $(cat "$TMP/bad.err")"
	fi
done

# cgroup v2: a group of our own, and one named like a systemd unit.
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [[ -z $CG2 ]]; then
	fail cgroup/setup "no cgroup2 file system mounted"
else
	grp=$CG2/mw-e2e-$$
	unit=mw-e2e-$$.service
	# A group named as docker names a container's.
	cid=$(printf '%064x' $$)
	ctr=$CG2/system.slice/docker-$cid.scope
	mkdir -p "$grp" "$CG2/system.slice/$unit" "$ctr"
	# run_in GROUP CMD...: start CMD inside GROUP (it moves itself, then
	# execs), in the background; sets RUN_PID.
	run_in() {
		local g=$1
		shift
		sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$g" "$@" \
			>/dev/null 2>&1 &
		RUN_PID=$!
		BG_PIDS+=("$RUN_PID")
	}
	for kind in cgroup unit container; do
		DB=$TMP/$kind.db
		if [[ $kind == cgroup ]]; then
			watch "$kind" --cgroup "$grp"
			g=$grp
		elif [[ $kind == unit ]]; then
			watch "$kind" --unit "$unit"
			g=$CG2/system.slice/$unit
		else
			watch "$kind" --cgroup "$ctr"
			g=$ctr
		fi
		run_in "$g" "$WL/tls_nodtor" 4 2048
		p=$RUN_PID
		reap "$p"
		wait_until 10 findings_at_least 4 || true
		ok "$kind/stop" "memwatchd did not stop cleanly" stop_daemon
		query "$kind/findings" "$TMP/$kind.json" findings &&
			expect "$kind/leak" "$TMP/$kind.json" \
				'[.[] | select(.pid == $p and .size == 2048 and .site.function == "tls_nodtor_alloc")] | length' \
				4 --argjson p "$p"
		# Attributed to its group, as the kernel names it.
		query "$kind/status" "$TMP/$kind.status.json" status &&
			expect "$kind/cgroup_path" "$TMP/$kind.status.json" \
				'.processes[] | select(.pid == $p) | .cgroup' \
				"${g#"$CG2"}" --argjson p "$p"
		if [[ $kind == container ]]; then
			expect container/id "$TMP/$kind.status.json" \
				'.processes[] | select(.pid == $p) | .container' \
				"$cid" --argjson p "$p"
		fi
	done
	rmdir "$grp" "$CG2/system.slice/$unit" "$ctr" 2>/dev/null || true

	# A unit not running when memwatchd starts is watched for; a unit
	# restarted gets a new group (a new id), as systemd makes it anew:
	# each run is traced.
	DB=$TMP/unit_later.db
	unit=mw-e2e-later-$$.service
	g=$CG2/system.slice/$unit
	watch unit_later -v --unit "$unit"
	count_in_text unit_later/warned "$DAEMON_LOG.err" \
		"unit '$unit' is not running: watching for it to start" 1
	pids=()
	for run in 1 2; do
		# As systemd starts a unit: its group made, its first
		# process exec'ed in it at once. It is held at exec by the
		# group's name, before memwatchd learns the new group's id.
		mkdir "$g"
		run_in "$g" "$WL/tls_nodtor" 4 2048
		pids+=("$RUN_PID")
		reap "$RUN_PID"
		wait_until 10 findings_at_least $((4 * run)) || true
		rmdir "$g" 2>/dev/null || true
	done
	ok unit_later/stop "memwatchd did not stop cleanly" stop_daemon
	query unit_later/findings "$TMP/unit_later.json" findings &&
		for run in 1 2; do
			expect "unit_later/run$run" "$TMP/unit_later.json" \
				'[.[] | select(.pid == $p and .size == 2048)] | length' \
				4 --argjson p "${pids[run - 1]}"
		done
	# Held at exec, so not one allocation was missed: the same counts as
	# the same run under memwatchd -- CMD.
	DB=$TMP/ref4.db
	trace -- "$WL/tls_nodtor" 4 2048
	query unit_later/ref "$TMP/ref4.json" status || true
	ref4=$(jqv "$TMP/ref4.json" '.processes[0] | [.allocs, .frees, .live_blocks, .threads]')
	DB=$TMP/unit_later.db
	query unit_later/status "$TMP/unit_later.status.json" status &&
		for run in 1 2; do
			expect "unit_later/gated$run" "$TMP/unit_later.status.json" \
				'.processes[] | select(.pid == $p) | [.allocs, .frees, .live_blocks, .threads]' \
				"$ref4" --argjson p "${pids[run - 1]}"
		done
fi
# A group that does not exist is a one-line error (a unit is watched for).
rc=0
"$MEMWATCHD" --db "$TMP/bad.db" --socket "$TMP/bad.sock" \
	--cgroup /nonexistent-group >/dev/null 2>"$TMP/bad.err" || rc=$?
if [[ $rc -ne 0 && $(wc -l <"$TMP/bad.err") == 1 ]] &&
	grep -q "no such cgroup" "$TMP/bad.err"; then
	pass bad/--cgroup
else
	fail bad/--cgroup "exit $rc, want non-zero and one line: $(cat "$TMP/bad.err")"
fi

# A static binary, under -- CMD and under --exe: the same counts.
DB=$TMP/static_cmd.db
trace -- "$WL/tls_nodtor_static" 8 4096
if [[ $TRACE_RC == 0 ]]; then pass static/cmd_exit; else fail static/cmd_exit "exited $TRACE_RC"; fi
query static/cmd_status "$TMP/static_cmd.json" status || true
sref=$(jqv "$TMP/static_cmd.json" '.processes[0] | [.allocs, .frees, .live_blocks, .live_bytes, .threads]')
query static/cmd_findings "$TMP/static_cmd_f.json" findings &&
	check_tls_findings static/cmd "$TMP/static_cmd_f.json" 8 \
		tls-outlived-thread 4096 tls_nodtor_alloc
DB=$TMP/static_exe.db
watch static --exe "$WL/tls_nodtor_static"
run_bg static_exe "$WL/tls_nodtor_static" 8 4096
sp=$RUN_PID
wait_until 10 findings_at_least 8 || true
ok static/stop "memwatchd did not stop cleanly" stop_daemon
if query static/exe_status "$TMP/static_exe.json" status; then
	expect static/exe_exact "$TMP/static_exe.json" \
		'.processes[] | select(.pid == $p) | [.allocs, .frees, .live_blocks, .live_bytes, .threads]' \
		"$sref" --argjson p "$sp"
fi
query static/exe_findings "$TMP/static_exe_f.json" findings &&
	check_tls_findings static/exe "$TMP/static_exe_f.json" 8 \
		tls-outlived-thread 4096 tls_nodtor_alloc

# Forks without exec: 3 children of a watched program, 4 leaks each.
DB=$TMP/fork.db
watch fork --exe "$WL/fork_nodtor"
run_bg fork "$WL/fork_nodtor" 3 4 4096
fp=$RUN_PID
wait_until 10 findings_at_least 12 || true
ok fork/stop "memwatchd did not stop cleanly" stop_daemon
if query fork/findings "$TMP/fork.json" findings; then
	f=$TMP/fork.json
	expect fork/count "$f" 'length' 12
	expect fork/children "$f" '[.[].pid] | unique | length' 3
	expect fork/not_parent "$f" '[.[] | select(.pid == $p)] | length' 0 --argjson p "$fp"
	expect fork/per_child "$f" '[group_by(.pid)[] | length] | unique' '[4]'
	expect fork/site "$f" '[.[].site.function] | unique' '["fork_nodtor_alloc"]'
fi

# -- CMD follows its children by default: a shell running the leaking
# program twice (fork, exec) leaves both runs' findings, none its own.
DB=$TMP/cmd_follow.db
trace -- sh -c "'$WL/tls_nodtor' 8 4096; '$WL/tls_nodtor' 8 4096"
ok cmd_follow/exit "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")" test "$TRACE_RC" == 0
if query cmd_follow/status "$TMP/cmd_follow_status.json" status &&
	query cmd_follow/findings "$TMP/cmd_follow.json" findings; then
	f=$TMP/cmd_follow_status.json
	expect cmd_follow/processes "$f" '[.processes[].comm] | sort' '["sh","tls_nodtor","tls_nodtor"]'
	# As the reference's, but for what the shell's child allocated
	# between fork and exec (dash: one block, dropped with its image).
	expect cmd_follow/exact "$f" \
		'[.processes[] | select(.comm == "tls_nodtor") | [.frees, .unknown_frees, .live_blocks, .live_bytes, .threads]] | unique' \
		"[$(jq -c '.[1:]' <<<"$ref")]"
	expect cmd_follow/allocs "$f" \
		'[.processes[] | select(.comm == "tls_nodtor") | .allocs >= $a] | unique' '[true]' \
		--argjson a "$(jq '.[0]' <<<"$ref")"
	f=$TMP/cmd_follow.json
	expect cmd_follow/count "$f" 'length' 16
	expect cmd_follow/per_child "$f" '[group_by(.pid)[] | length]' '[8,8]'
	expect cmd_follow/site "$f" '[.[].site.function] | unique' '["tls_nodtor_alloc"]'
fi

# --no-follow: the shell alone.
DB=$TMP/cmd_nofollow.db
trace --no-follow -- sh -c "'$WL/tls_nodtor' 4 4096"
ok cmd_nofollow/exit "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")" test "$TRACE_RC" == 0
if query cmd_nofollow/status "$TMP/cmd_nofollow.json" status; then
	expect cmd_nofollow/processes "$TMP/cmd_nofollow.json" '[.processes[].comm]' '["sh"]'
fi

# --pid follows too: fork_early's children allocate as fork returns, so
# each counted whole was held before it ran.
DB=$TMP/pid_follow.db
start_gated fork_early 3 5 777
pf=$WL_PID
start_daemon --pid "$pf"
if wait_until 20 daemon_answers; then
	touch "$WL_GATE"
	reap "$pf"
	ok pid_follow/exit "fork_early exited $REAP_RC" test "$REAP_RC" == 0
	wait_until 10 sh -c "\"$MEMWATCHCTL\" --db \"$DB\" --json status |
		jq -e '[.processes[] | select(.state != \"running\")] | length == 4' >/dev/null" || true
	if query pid_follow/status "$TMP/pid_follow.json" status; then
		expect pid_follow/children "$TMP/pid_follow.json" \
			'[.processes[] | select(.pid != $p and .allocs == 5 and .live_blocks == 5 and .live_bytes == 3885)] | length' 3 \
			--argjson p "$pf"
	fi
else
	fail pid_follow/watching "memwatchd never answered: $(tail -n 1 "$DAEMON_LOG.err")"
fi
ok pid_follow/stop "memwatchd did not stop cleanly" stop_daemon

# A container's view: new pid and mount namespaces.
DB=$TMP/ns.db
watch ns --exe "$WL/tls_nodtor"
run_bg ns unshare --pid --mount --fork --mount-proc "$WL/tls_nodtor" 8 4096
wait_until 10 findings_at_least 8 || true
ok ns/stop "memwatchd did not stop cleanly" stop_daemon
if query ns/status "$TMP/ns_status.json" status; then
	f=$TMP/ns_status.json
	expect ns/one_process "$f" '[.processes[] | select(.comm == "tls_nodtor")] | length' 1
	expect ns/nspid "$f" '.processes[] | select(.comm == "tls_nodtor") | .nspid' 1
	expect ns/host_pid "$f" '.processes[] | select(.comm == "tls_nodtor") | .pid > 1' true
	expect ns/exact "$f" \
		'.processes[] | select(.comm == "tls_nodtor") | [.allocs, .frees, .unknown_frees, .live_blocks, .live_bytes, .threads]' \
		"$ref"
fi
query ns/findings "$TMP/ns.json" findings &&
	check_tls_findings ns "$TMP/ns.json" 8 tls-outlived-thread 4096 \
		tls_nodtor_alloc

# A container's files: in its mount namespace the workloads are bound at
# $TMP/ctr, where the daemon's namespace has another program of the same
# name. The maps say $TMP/ctr/tls_nodtor; the symbols must come from the
# file mapped (/proc/PID/map_files), never from the decoy.
mkdir -p "$TMP/ctr"
cp "$WL/free_all" "$TMP/ctr/tls_nodtor"
DB=$TMP/ctr.db
watch ctr --exe "$WL/tls_nodtor"
run_bg ctr unshare --mount sh -c \
	"mount --bind '$WL' '$TMP/ctr' && exec '$TMP/ctr/tls_nodtor' 8 4096"
wait_until 10 findings_at_least 8 || true
ok ctr/stop "memwatchd did not stop cleanly" stop_daemon
if query ctr/findings "$TMP/ctr.json" findings; then
	check_tls_findings ctr "$TMP/ctr.json" 8 tls-outlived-thread 4096 \
		tls_nodtor_alloc
	# The path as the kernel writes it for the daemon: from the root of
	# the process's mount namespace (under a chrooted daemon, as in the
	# guests, that root's own path comes first).
	expect ctr/module "$TMP/ctr.json" \
		'[.[].site.module | endswith($p)] | unique' '[true]' \
		--arg p "$TMP/ctr/tls_nodtor"
fi

finish
