#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/tls_mode.sh - the low-overhead TLS mode: malloc and free are
# not probed at all (the process row counts no allocation), yet the TLS
# rules find the same leaks, with each value's size read from glibc's
# chunk header (its usable size: 4104 for a 4096-byte malloc, 1032 for
# 1024, 2056 for 2048) and its site where it was stored:
#   - memwatchd --tls -- CMD: keys without destructor (tls_nodtor), a key
#     deleted under live threads (tls_keydelete), a plugin unloaded under
#     live threads (dlclose_tls); their correct twins report nothing;
#   - memwatchd --tls-pid PID next to --pid: one daemon, one process in
#     each mode;
#   - memwatchctl attach --tls PID through the control socket.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# tls_case NAME WORKLOAD ARGS...: run_case in TLS mode, and check that no
# allocation was traced.
tls_case() {
	local name=$1
	shift
	run_case "$name" --tls "$@" || return 1
	if query "$name/status" "$TMP/$name.status.json" status; then
		expect "$name/mode" "$TMP/$name.status.json" '[.processes[].mode] | unique' '["tls"]'
		expect "$name/no_allocs" "$TMP/$name.status.json" '[.processes[].allocs] | add' 0
	fi
}

# run_case passes its arguments to memwatchd after --: put --tls first.
run_case() {
	local name=$1
	shift
	DB=$TMP/$name.db
	local opts=()
	while [[ $1 == --* ]]; do
		opts+=("$1")
		shift
	done
	trace "${opts[@]}" -- "$@"
	if [[ $TRACE_RC == 0 ]]; then
		pass "$name/exit_status"
	else
		fail "$name/exit_status" "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
	fi
	query "$name/query" "$TMP/$name.json" findings
}

if tls_case nodtor "$WL/tls_nodtor" 8 4096; then
	check_tls_findings nodtor "$TMP/nodtor.json" 8 tls-outlived-thread \
		4104 tls_nodtor_alloc
fi
tls_case dtor "$WL/tls_dtor" &&
	expect dtor/no_findings "$TMP/dtor.json" 'length' 0

if tls_case keydelete "$WL/tls_keydelete"; then
	f=$TMP/keydelete.json
	expect keydelete/count "$f" 'length' 4
	expect keydelete/kind "$f" '[.[].kind] | unique' '["tls-outlived-key"]'
	expect keydelete/site "$f" '[.[].site.function] | unique' '["tls_keydelete_alloc"]'
	expect keydelete/size "$f" '[.[].size] | unique' '[1032]'
fi

if tls_case dlclose "$WL/dlclose_tls" 4 3 2048; then
	f=$TMP/dlclose.json
	expect dlclose/count "$f" 'length' 12
	expect dlclose/kind "$f" '[.[].kind] | unique' '["tls-outlived-module"]'
	expect dlclose/size "$f" '[.[].size] | unique' '[2056]'
	# Where the value was stored: the plugin's code, unmapped by now.
	expect dlclose/site "$f" '[.[].site.function] | unique' '["tlsmod_use"]'
fi
for clean in dlclose_tls_clean tls_overwrite_clean free_all; do
	# Kinds and sizes, not a count: a failure then says what was found.
	tls_case "$clean" "$WL/$clean" &&
		expect "$clean/no_findings" "$TMP/$clean.json" \
			'[.[] | "\(.kind) \(.size)"]' '[]'
done

# One daemon, two processes: tls_nodtor in full mode, another in TLS
# mode; both leak, each is counted as its mode allows.
DB=$TMP/mixed.db
start_gated tls_nodtor 4 4096
full=$WL_PID
full_gate=$WL_GATE
start_gated tls_nodtor 4 4096
tls=$WL_PID
tls_gate=$WL_GATE
start_daemon --pid "$full" --tls-pid "$tls"
if wait_for_target "$full" && wait_for_target "$tls"; then
	pass mixed/attached
	touch "$full_gate" "$tls_gate"
	reap "$full"
	reap "$tls"
	wait_until 10 findings_at_least 8 || true
	ok mixed/stop "memwatchd did not stop cleanly" stop_daemon
	if query mixed/status "$TMP/mixed_status.json" status; then
		f=$TMP/mixed_status.json
		expect mixed/full_mode "$f" '.processes[] | select(.pid == $p) | .mode' full --argjson p "$full"
		expect mixed/tls_mode "$f" '.processes[] | select(.pid == $p) | .mode' tls --argjson p "$tls"
		expect mixed/full_allocs "$f" '.processes[] | select(.pid == $p) | .allocs > 0' true --argjson p "$full"
		expect mixed/tls_allocs "$f" '.processes[] | select(.pid == $p) | .allocs' 0 --argjson p "$tls"
	fi
	if query mixed/findings "$TMP/mixed.json" findings; then
		f=$TMP/mixed.json
		expect mixed/full_sizes "$f" '[.[] | select(.pid == $p) | .size] | unique' '[4096]' --argjson p "$full"
		expect mixed/tls_sizes "$f" '[.[] | select(.pid == $p) | .size] | unique' '[4104]' --argjson p "$tls"
		expect mixed/count "$f" 'length' 8
	fi
else
	fail mixed/attached "$WHY"
fi

# Attach in TLS mode through the control socket.
DB=$TMP/ctl.db
start_daemon
start_gated tls_nodtor 2 4096
pid=$WL_PID
if wait_until 10 test -S "$SOCK" && ctl attach --tls "$pid" >"$TMP/attach.out" 2>&1; then
	pass ctl/attach
	touch "$WL_GATE"
	reap "$pid"
	wait_until 10 findings_at_least 2 --pid "$pid" || true
	if query ctl/status "$TMP/ctl_status.json" status; then
		expect ctl/mode "$TMP/ctl_status.json" '.processes[] | select(.pid == $p) | .mode' tls --argjson p "$pid"
	fi
	query ctl/findings "$TMP/ctl.json" findings --pid "$pid" &&
		expect ctl/count "$TMP/ctl.json" '[.[] | select(.size == 4104)] | length' 2
else
	fail ctl/attach "attach --tls failed: $(cat "$TMP/attach.out" 2>/dev/null)"
fi
rc=0
ctl detach --tls "$pid" >/dev/null 2>"$TMP/detach_tls.err" || rc=$?
if [[ $rc == 2 && $(wc -l <"$TMP/detach_tls.err") == 1 ]]; then
	pass ctl/detach_tls_usage
else
	fail ctl/detach_tls_usage "exit $rc, want 2 and one line: $(cat "$TMP/detach_tls.err")"
fi
ok ctl/stop "memwatchd did not stop cleanly" stop_daemon

finish
