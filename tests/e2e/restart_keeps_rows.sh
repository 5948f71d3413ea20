#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/restart_keeps_rows.sh - the database outlives daemon
# sessions: a second memwatchd run on the same --db adds its findings and
# leaves the first run's findings exactly as they were (same ids, same
# content), with no id reused.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

trace -- "$WL/tls_nodtor" 8 4096
if [[ $TRACE_RC == 0 ]]; then
	pass first/exit_status
else
	fail first/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi
query first "$TMP/first.json" findings &&
	expect first/count "$TMP/first.json" 'length' 8

trace -- "$WL/tls_keydelete" 4 1024
if [[ $TRACE_RC == 0 ]]; then
	pass second/exit_status
else
	fail second/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi
[[ -s $TMP/first.json ]] || echo '[]' >"$TMP/first.json"
if query second "$TMP/second.json" findings; then
	expect second/count "$TMP/second.json" 'length' 12
	expect second/ids_unique "$TMP/second.json" \
		'[.[].id] | unique | length' 12
	# Every first-session finding is still there, field for field.
	expect second/first_ids_kept "$TMP/second.json" \
		'($first[0] | map(.id)) - map(.id) | length' 0 \
		--slurpfile first "$TMP/first.json"
	expect second/first_rows_unchanged "$TMP/second.json" \
		'$first[0] - . | length' 0 --slurpfile first "$TMP/first.json"
	expect second/new_kind "$TMP/second.json" \
		'[.[] | select(.kind == "tls-outlived-key")] | length' 4
fi

query status "$TMP/status.json" status &&
	expect status/two_processes "$TMP/status.json" \
		'[.processes[].comm] | sort' '["tls_keydelete","tls_nodtor"]'

finish
