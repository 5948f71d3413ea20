#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/cmd_nodtor.sh - `memwatchd -- CMD` on tls_nodtor, the plain
# key-without-destructor leak: 8 threads each leak one 4096-byte TLS
# block, so a user must see exactly 8 tls-outlived-thread findings, all
# from tls_nodtor_alloc, and the 8 worker threads as exited.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

trace -- "$WL/tls_nodtor" 8 4096
if [[ $TRACE_RC == 0 ]]; then
	pass exit_status
else
	fail exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi

# The workload's pid, as memwatch recorded it: status lists the process.
pid=0
if query status "$TMP/status.json" status; then
	expect process_listed "$TMP/status.json" \
		'[.processes[] | select(.comm == "tls_nodtor")] | length' 1
	pid=$(jqv "$TMP/status.json" \
		'first(.processes[] | select(.comm == "tls_nodtor") | .pid) // 0')
	expect process_state "$TMP/status.json" \
		'.processes[] | select(.pid == $p) | .state' exited --argjson p "$pid"
	expect process_findings "$TMP/status.json" \
		'.processes[] | select(.pid == $p) | .findings' 8 --argjson p "$pid"
fi

if query findings "$TMP/findings.json" findings; then
	check_tls_findings findings "$TMP/findings.json" 8 \
		tls-outlived-thread 4096 tls_nodtor_alloc
	expect findings/pid "$TMP/findings.json" '[.[].pid] | unique' "[$pid]"
fi

# The filters a user would reach for narrow to the same 8 findings.
query by_pid "$TMP/by_pid.json" findings --pid "$pid" &&
	expect by_pid "$TMP/by_pid.json" 'length' 8
query by_kind "$TMP/by_kind.json" findings --kind tls-outlived-thread &&
	expect by_kind "$TMP/by_kind.json" 'length' 8
query other_kind "$TMP/other_kind.json" findings --kind tls-outlived-key &&
	expect other_kind "$TMP/other_kind.json" 'length' 0

# The threads that leaked are the 8 workers, all of them exited.
if query threads "$TMP/threads.json" threads; then
	expect threads/leakers_exited "$TMP/threads.json" \
		'[.[] | select(.pid == $p and (.tid as $t | $f[0] | map(.tid) | index($t) != null)) | .state]' \
		'["exited","exited","exited","exited","exited","exited","exited","exited"]' \
		--argjson p "$pid" --slurpfile f "$TMP/findings.json"
	expect threads/workers "$TMP/threads.json" \
		'[.[] | select(.pid == $p and .tid != $p)] | length' 8 --argjson p "$pid"
fi

# The plain table shows one row per finding, naming the site.
if ctl findings >"$TMP/table.txt" 2>"$TMP/table.err"; then
	count_in_text table "$TMP/table.txt" tls_nodtor_alloc 8
else
	fail table "memwatchctl findings failed: $(cat "$TMP/table.err")"
fi

finish
