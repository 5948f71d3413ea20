#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/cmd_keydelete.sh - `memwatchd -- CMD` on tls_keydelete: 4
# live threads each hold a 1024-byte block in a key that main deletes
# under them, which orphans the blocks (no destructor runs after
# pthread_key_delete). A user must see exactly 4 tls-outlived-key
# findings from tls_keydelete_alloc, all on that one key, and nothing
# else when the threads later exit.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

trace -- "$WL/tls_keydelete" 4 1024
if [[ $TRACE_RC == 0 ]]; then
	pass exit_status
else
	fail exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi

pid=0
if query status "$TMP/status.json" status; then
	pid=$(jqv "$TMP/status.json" \
		'first(.processes[] | select(.comm == "tls_keydelete") | .pid) // 0')
	expect process_findings "$TMP/status.json" \
		'.processes[] | select(.pid == $p) | .findings' 4 --argjson p "$pid"
fi

key=-1
if query findings "$TMP/findings.json" findings; then
	check_tls_findings findings "$TMP/findings.json" 4 \
		tls-outlived-key 1024 tls_keydelete_alloc
	expect findings/pid "$TMP/findings.json" '[.[].pid] | unique' "[$pid]"
	expect findings/one_key "$TMP/findings.json" \
		'[.[].key] | unique | length' 1
	key=$(jqv "$TMP/findings.json" '.[0].key // -1')
fi

query by_kind "$TMP/by_kind.json" findings --kind tls-outlived-key &&
	expect by_kind "$TMP/by_kind.json" 'length' 4
query other_kind "$TMP/other_kind.json" findings --kind tls-outlived-thread &&
	expect other_kind "$TMP/other_kind.json" 'length' 0

# The key itself is shown as deleted.
query keys "$TMP/keys.json" keys &&
	expect keys/deleted "$TMP/keys.json" \
		'[.[] | select(.pid == $p and .key == $k) | .state] | last' deleted \
		--argjson p "$pid" --argjson k "$key"

finish
