#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/events.sh - findings as events (memwatchd --events-json), read
# back with jq as Loki, Vector or a SIEM would take them:
#   - tls_nodtor's 4 leaks: 4 "opened" lines, one JSON object each, with
#     the finding's id (as memwatchctl lists it), kind, severity, state,
#     pid, comm, bytes, count, site, the stack as text, and its time as
#     RFC 3339 and as a string of nanoseconds;
#   - handoff_late's thread-orphan finding, resolved once its blocks are
#     freed: "opened" then "resolved" for one id, with its reason, on
#     standard output (--events-json -);
#   - queue_retain's site-growth finding, low at first, medium once it
#     grew for twice the horizon: "opened", "updated" (with the previous
#     severity), "resolved", for one id;
#   - 30,000 findings at once: an event each, no record lost;
#   - a suppressed finding makes no event;
#   - a file in a directory that does not exist: one line, exit 2.
# The journal's side (MEMWATCH_* fields) is tests/e2e/systemd.sh's.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

EV=$TMP/events.jsonl
trace --events-json "$EV" -- "$WL/tls_nodtor" 4 4096
ok opened/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")" \
	test "$TRACE_RC" = 0
# Every line one JSON object.
lines=$(wc -l <"$EV")
objs=$(jq -c 'objects' "$EV" 2>/dev/null | wc -l)
if [[ $lines == 4 && $objs == 4 ]]; then
	pass opened/json_lines
else
	fail opened/json_lines "$lines lines, $objs objects: $(head -c 300 "$EV")"
fi
pid=0
if query opened/status "$TMP/status.json" status; then
	pid=$(jqv "$TMP/status.json" 'first(.processes[] | select(.comm == "tls_nodtor") | .pid) // 0')
fi
expect opened/fields "$EV" \
	'[.[] | [.event, .kind, .severity, .state, .pid == $p, .comm, .bytes, .count, .function, (.site | startswith("tls_nodtor_alloc+0x"))]] | unique' \
	"[[\"opened\",\"tls-outlived-thread\",\"high\",\"open\",true,\"tls_nodtor\",4096,1,\"tls_nodtor_alloc\",true]]" \
	--argjson p "$pid" -s
# The stack as text, innermost first: the site, then its caller.
expect opened/stack "$EV" \
	'[.[] | (.stack[0] | startswith("#0 tls_nodtor_alloc+0x")) and (.stack[1] | startswith("#1 worker+0x")) and (.stack | length >= 3)] | unique' \
	'[true]' -s
# The time twice: RFC 3339 (UTC, nanoseconds) and the integer as a string.
expect opened/time "$EV" \
	'[.[] | (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z$")) and
	  ((.time | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) == (.ts | .[0:-9] | tonumber)) and
	  ((.time | .[20:29]) == (.ts | .[-9:]))] | unique' \
	'[true]' -s
# The ids memwatchctl shows.
if query opened/findings "$TMP/findings.json" findings; then
	want=$(jqv "$TMP/findings.json" '[.[].id] | sort')
	expect opened/ids "$EV" '[.[].id] | sort' "$want" -s
fi

# Opened, then resolved, on standard output.
DB=$TMP/late.db
trace --events-json - -- "$WL/handoff_late"
ok resolved/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")" \
	test "$TRACE_RC" = 0
OUT=$TRACE_LOG.out
expect resolved/sequence "$OUT" \
	'[.[] | select(.kind == "thread-orphan") | [.event, .state]]' \
	'[["opened","open"],["resolved","resolved"]]' -s
expect resolved/one_id "$OUT" \
	'[.[] | select(.kind == "thread-orphan") | .id] | unique | length' 1 -s
expect resolved/reason "$OUT" \
	'[.[] | select(.event == "resolved") | .resolved_reason]' \
	'["all 48 block(s) freed (by 2 other thread(s))"]' -s
expect resolved/after_opened "$OUT" \
	'[.[] | select(.kind == "thread-orphan") | .ts | tonumber] | .[1] >= .[0]' true -s
expect resolved/comm "$OUT" '[.[].comm] | unique' '["handoff_late"]' -s

# Updated: a queue that keeps every finished task grows for its whole
# window, so its site-growth finding opens at low once the growth went on
# for the horizon (1.5 s here), turns medium once it went on for twice
# that and grew again (engine/rules.c, growth_judge), and is resolved
# when the queue is drained at the end: opened, updated, resolved, for
# one id. (A horizon shorter than the 3 s of samples that show growth
# found nothing before engine/rules.c took the half-way sample from
# among them.)
DB=$TMP/grow.db
trace --growth-horizon 1500ms --events-json "$TMP/grow.jsonl" \
	-- "$WL/queue_retain" 3 6000 6 1024
ok updated/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")" \
	test "$TRACE_RC" = 0
expect updated/sequence "$TMP/grow.jsonl" \
	'[.[] | select(.kind == "site-growth") | [.event, .previous_severity]]' \
	'[["opened",null],["updated","low"],["resolved",null]]' -s
expect updated/severities "$TMP/grow.jsonl" \
	'[.[] | select(.kind == "site-growth" and .event != "resolved") | .severity]' \
	'["low","medium"]' -s
expect updated/one_id "$TMP/grow.jsonl" \
	'[.[] | select(.kind == "site-growth") | .id] | unique | length' 1 -s
expect updated/site "$TMP/grow.jsonl" \
	'[.[] | select(.kind == "site-growth") | .function] | unique' '["queue_payload_alloc"]' -s
# The database agrees: one site-growth finding, resolved.
if query updated/findings "$TMP/grow.json" findings --all; then
	expect updated/stored "$TMP/grow.json" \
		'[.[] | select(.kind == "site-growth") | .state]' '["resolved"]'
fi

# Many at once: 30,000 threads each leak their TLS value, 30,000 events
# in a few flushes. Each event reads its finding back from the store:
# by the primary key, with statements kept prepared. When that read
# scanned the findings table (30,000 rows for each of 30,000 events),
# the epoll loop stalled and the ring buffer overflowed: events lost,
# findings withheld.
DB=$TMP/many.db
trace --events-json "$TMP/many.jsonl" -- "$WL/thread_churn" 30000 8 1
ok many/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")" \
	test "$TRACE_RC" = 0
if query many/status "$TMP/many.json" status; then
	expect many/lost "$TMP/many.json" '[.processes[].lost] | add // 0' 0
fi
expect many/opened "$TMP/many.jsonl" \
	'[.[] | select(.event == "opened" and .kind == "tls-outlived-thread")] | length' 30000 -s

# Suppressed: kept in the database, no event.
DB=$TMP/supp.db
printf 'kind=tls-outlived-thread function=tls_nodtor_alloc\n' >"$TMP/supp"
trace --suppressions "$TMP/supp" --events-json "$TMP/supp.jsonl" \
	-- "$WL/tls_nodtor" 4 4096
ok suppressed/exit_status "memwatchd exited $TRACE_RC" test "$TRACE_RC" = 0
query suppressed/findings "$TMP/supp.json" findings --state suppressed &&
	expect suppressed/kept "$TMP/supp.json" 'length' 4
if [[ -f $TMP/supp.jsonl && ! -s $TMP/supp.jsonl ]]; then
	pass suppressed/no_event
else
	fail suppressed/no_event "$(head -c 300 "$TMP/supp.jsonl" 2>&1)"
fi

# A file nowhere: one line, exit 2.
rc=0
"$MEMWATCHD" --events-json /nonexistent/dir/ev.jsonl --check-config \
	>/dev/null 2>"$TMP/bad.err" || rc=$?
if [[ $rc == 2 && $(wc -l <"$TMP/bad.err") == 1 ]] &&
	grep -q "events-json: no directory '/nonexistent/dir/'" "$TMP/bad.err"; then
	pass bad/no_directory
else
	fail bad/no_directory "exit $rc: $(cat "$TMP/bad.err")"
fi

finish
