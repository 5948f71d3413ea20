#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/detach_unharmed.sh - stopping memwatchd must leave the traced
# program unharmed: attach with --pid to churn (4 s or more of threads in
# malloc/realloc/free and TLS calls), SIGTERM the daemon while churn is in
# the middle of its work, and check churn goes on to print the same
# checksum and exit status as an untraced run.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

args=(40 4 2000)

# The reference: the same run without memwatch.
want_rc=0
want=$("$WL/churn" "${args[@]}") || want_rc=$?

start_gated churn "${args[@]}"
pid=$WL_PID
start_daemon --pid "$pid"
if wait_for_target "$pid"; then
	pass attached
else
	fail attached "$WHY"
	finish
fi
touch "$WL_GATE"

# Let it run traced for a while, then pull the plug mid-run. A churn that
# already finished would prove nothing, so that is a failure too.
sleep 1.5
if exited "$pid"; then
	fail mid_run "churn finished before the daemon was stopped"
else
	pass mid_run
fi
ok daemon_sigterm "SIGTERM did not stop memwatchd with status 0" stop_daemon

# Unharmed: it finishes as if memwatch had never been there.
reap "$pid"
if [[ $REAP_RC == "$want_rc" ]]; then
	pass exit_status
else
	fail exit_status "churn exited $REAP_RC, untraced $want_rc: $(cat "${WL_OUT%.out}.err")"
fi
got=$(cat "$WL_OUT")
if [[ $got == "$want" ]]; then
	pass same_output
else
	fail same_output "traced '$got', untraced '$want'"
fi

# The daemon did trace it before letting go.
if query status "$TMP/status.json" status; then
	expect process_detached "$TMP/status.json" \
		'.processes[] | select(.pid == $p) | .state' detached \
		--argjson p "$pid"
	expect process_traced "$TMP/status.json" \
		'.processes[] | select(.pid == $p) | .allocs > 0' true \
		--argjson p "$pid"
fi

finish
