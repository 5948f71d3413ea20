#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/pid_attach.sh - `memwatchd --pid PID` on an already running
# tls_nodtor: the workload waits at its start gate, the daemon attaches,
# then the workload runs and exits. The 8 findings must be visible while
# the daemon still runs (a live query), and again, identical, after the
# daemon was stopped with SIGTERM (post-mortem).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

start_gated tls_nodtor 8 4096
pid=$WL_PID
start_daemon --pid "$pid"
if wait_for_target "$pid"; then
	pass attached
else
	fail attached "$WHY"
	finish
fi

touch "$WL_GATE"
reap "$pid"
if [[ $REAP_RC == 0 ]]; then
	pass workload_exit
else
	fail workload_exit "tls_nodtor exited $REAP_RC: $(cat "${WL_OUT%.out}.err")"
fi

# The daemon outlives its target; give it a moment to flush, then ask.
sleep 1
ok daemon_running "memwatchd exited after its target" daemon_alive

wait_until 10 findings_at_least 8 --pid "$pid" || true
wait_until 10 proc_state_is "$pid" exited || true
query live "$TMP/live.json" findings --pid "$pid" &&
	check_tls_findings live "$TMP/live.json" 8 \
		tls-outlived-thread 4096 tls_nodtor_alloc

if query live_status "$TMP/live_status.json" status; then
	expect live_status/daemon "$TMP/live_status.json" '.daemon != null' true
	expect live_status/process "$TMP/live_status.json" \
		'.processes[] | select(.pid == $p) | "\(.state) \(.findings)"' \
		"exited 8" --argjson p "$pid"
fi

ok daemon_sigterm "SIGTERM did not stop memwatchd with status 0" stop_daemon

# Post-mortem, from the database alone: the same findings.
if query post "$TMP/post.json" findings --pid "$pid"; then
	check_tls_findings post "$TMP/post.json" 8 \
		tls-outlived-thread 4096 tls_nodtor_alloc
	[[ -s $TMP/live.json ]] || echo '[]' >"$TMP/live.json"
	expect post/same_as_live "$TMP/post.json" \
		'(map(.id) | sort) == ($live[0] | map(.id) | sort)' true \
		--slurpfile live "$TMP/live.json"
fi
query post_status "$TMP/post_status.json" status &&
	expect post_status/no_daemon "$TMP/post_status.json" '.daemon' null

finish
