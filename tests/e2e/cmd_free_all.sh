#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/cmd_free_all.sh - `memwatchd -- CMD` on free_all, a busy
# correct program (every allocator entry point, cross-thread frees, a TLS
# key with a destructor): a user must see no finding, and the counters
# must show every allocation freed.
#
# glibc keeps the stacks of joined threads in a cache, and with each the
# DTV that ld.so calloc'ed for that thread: those few blocks stay live
# until exit and would make allocs exceed frees for reasons that are not
# the program's. glibc.pthread.stack_cache_size=0 makes glibc free them at
# join, so the program's balance can be checked exactly.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

GLIBC_TUNABLES=glibc.pthread.stack_cache_size=0 \
	trace -- "$WL/free_all" 8 10000
if [[ $TRACE_RC == 0 ]]; then
	pass exit_status
else
	fail exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi

query findings "$TMP/findings.json" findings &&
	expect no_findings "$TMP/findings.json" 'length' 0

pid=0
proc='first(.processes[] | select(.comm == "free_all"))'
if query status "$TMP/status.json" status; then
	expect process_listed "$TMP/status.json" \
		'[.processes[] | select(.comm == "free_all")] | length' 1
	expect no_events_lost "$TMP/status.json" "$proc | .lost" 0
	expect allocs_eq_frees "$TMP/status.json" \
		"$proc | if .allocs == .frees then \"equal\" else \"allocs \(.allocs) frees \(.frees)\" end" \
		equal
	expect no_live_blocks "$TMP/status.json" "$proc | .live_blocks" 0
	pid=$(jqv "$TMP/status.json" "$proc | .pid // 0")
fi

# The blocks moved between threads: some frees were cross-thread.
if query threads "$TMP/threads.json" threads; then
	expect cross_frees "$TMP/threads.json" \
		'[.[] | select(.pid == $p) | .cross_frees] | add > 0' true \
		--argjson p "$pid"
	expect workers_live_blocks "$TMP/threads.json" \
		'[.[] | select(.pid == $p and .tid != $p) | .live_blocks] | add' 0 \
		--argjson p "$pid"
fi

finish
