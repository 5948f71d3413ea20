#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/cmd_dtor.sh - `memwatchd -- CMD` on tls_dtor, the same
# per-thread blocks as tls_nodtor but with a key destructor that frees
# them: a user must see no finding, and every worker thread must end with
# nothing left live.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

trace -- "$WL/tls_dtor" 8 4096
if [[ $TRACE_RC == 0 ]]; then
	pass exit_status
else
	fail exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi

query findings "$TMP/findings.json" findings &&
	expect no_findings "$TMP/findings.json" 'length' 0

pid=0
if query status "$TMP/status.json" status; then
	expect process_listed "$TMP/status.json" \
		'[.processes[] | select(.comm == "tls_dtor")] | length' 1
	pid=$(jqv "$TMP/status.json" \
		'first(.processes[] | select(.comm == "tls_dtor") | .pid) // 0')
	expect process_findings "$TMP/status.json" \
		'.processes[] | select(.pid == $p) | .findings' 0 --argjson p "$pid"
fi

# Each worker allocated its block and its destructor freed it before the
# thread was gone: 8 exited workers, each with an allocation, none live.
workers='[.[] | select(.pid == $p and .tid != $p)]'
if query threads "$TMP/threads.json" threads; then
	expect workers "$TMP/threads.json" "$workers | length" 8 \
		--argjson p "$pid"
	expect workers_exited "$TMP/threads.json" \
		"$workers | map(.state) | unique" '["exited"]' --argjson p "$pid"
	expect workers_allocated "$TMP/threads.json" \
		"$workers | map(select(.allocs < 1)) | length" 0 --argjson p "$pid"
	expect workers_live_blocks "$TMP/threads.json" \
		"$workers | map(.live_blocks) | unique" '[0]' --argjson p "$pid"
	expect workers_live_bytes "$TMP/threads.json" \
		"$workers | map(.live_bytes) | unique" '[0]' --argjson p "$pid"
fi

finish
