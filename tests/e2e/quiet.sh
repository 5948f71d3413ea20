#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/quiet.sh - living with findings (docs/RULES.md): suppressions
# and acknowledgements, with the real daemon and tls_nodtor's leaks.
#   - a bad suppressions file: one line "FILE:LINE: problem", exit 2 from
#     --check-config; a good one: "configuration OK";
#   - a finding a rule matches is kept and counted (the textfile's
#     memwatch_findings_suppressed), never listed as open; --state
#     suppressed and --all list it, naming its rule;
#   - a SIGHUP with a bad file logs its line once and keeps the rules in
#     force; memwatchctl reload with a good one puts the new rules in force,
#     for the findings stored too (suppressed, or open again);
#   - memwatchctl ack ID [--note TEXT]: kept, counted
#     (memwatch_findings_acknowledged), never listed as open; --state
#     acknowledged lists it with its time and note; an unknown id is one
#     line and exit 1.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# --- the file, checked --------------------------------------------------------

bad_supp() {
	local name=$1 want=$2
	shift 2
	# The file's bytes, escapes included, are the format.
	# shellcheck disable=SC2059
	printf "$@" >"$TMP/$name.supp"
	local rc=0
	"$MEMWATCHD" --suppressions "$TMP/$name.supp" --check-config \
		>"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
	if [[ $rc == 2 && $(wc -l <"$TMP/$name.err") == 1 &&
		$(sed 's/^<[0-9]>//' "$TMP/$name.err") == "$TMP/$name.supp:$want" ]]; then
		pass "bad/$name"
	else
		fail "bad/$name" "exit $rc, want 2 and '$TMP/$name.supp:$want': $(cat "$TMP/$name.err")"
	fi
}
bad_supp field "2: unknown field 'colour' (kind, function, module, key)" \
	'# x\ncolour=red\n'
bad_supp kind "1: unknown kind 'leak'" 'kind=leak function=f\n'
bad_supp no_equals "3: expected FIELD=VALUE, got 'tls_nodtor_alloc'" \
	'\nkind=bad-free\ntls_nodtor_alloc\n'
bad_supp twice "1: field 'module' given twice" 'module=a module=b\n'
bad_supp key "1: 'key' with kind 'bad-free': only TLS findings have a key" \
	'kind=bad-free key=1\n'

# Named in a configuration file, as the package's would.
printf 'kind=tls-outlived-thread function=tls_nodtor_*\n' >"$TMP/nodtor.supp"
printf 'suppressions %s\n' "$TMP/nodtor.supp" >"$TMP/conf"
rc=0
"$MEMWATCHD" --config "$TMP/conf" --check-config >"$TMP/good.out" 2>&1 || rc=$?
if [[ $rc == 0 && $(cat "$TMP/good.out") == "configuration OK" ]]; then
	pass good/check
else
	fail good/check "exit $rc: $(cat "$TMP/good.out")"
fi
rc=0
"$MEMWATCHD" --suppressions "$TMP/none.supp" --check-config \
	>/dev/null 2>"$TMP/none.err" || rc=$?
if [[ $rc == 2 && $(wc -l <"$TMP/none.err") == 1 ]] &&
	grep -q "suppressions: cannot read '$TMP/none.supp'" "$TMP/none.err"; then
	pass bad/missing_file
else
	fail bad/missing_file "exit $rc: $(cat "$TMP/none.err")"
fi

# --- suppressed findings ------------------------------------------------------

trace --config "$TMP/conf" --metrics-textfile "$TMP/trace.prom" \
	-- "$WL/tls_nodtor" 8 4096
if [[ $TRACE_RC == 0 ]]; then
	pass suppressed/exit_status
else
	fail suppressed/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi
query suppressed/open "$TMP/open.json" findings &&
	expect suppressed/none_open "$TMP/open.json" 'length' 0
if query suppressed/list "$TMP/supp.json" findings --state suppressed; then
	expect suppressed/kept "$TMP/supp.json" \
		'[.[] | select(.kind == "tls-outlived-thread" and .site.function == "tls_nodtor_alloc")] | length' 8
	expect suppressed/rule "$TMP/supp.json" '[.[] | .suppressed] | unique' \
		"[\"$TMP/nodtor.supp:1\"]"
	expect suppressed/state "$TMP/supp.json" '[.[] | .state] | unique' \
		'["suppressed"]'
fi
query suppressed/all "$TMP/all.json" findings --all &&
	expect suppressed/all "$TMP/all.json" \
		'[.[] | select(.state == "suppressed")] | length' 8
prom_value() {
	awk -v k="$2" '$1 == k { print $2 }' "$1"
}
got=$(prom_value "$TMP/trace.prom" 'memwatch_findings_suppressed{kind="tls-outlived-thread",severity="high"}')
open=$(prom_value "$TMP/trace.prom" 'memwatch_findings_open{kind="tls-outlived-thread",severity="high"}')
if [[ $got == 8 && $open == 0 ]]; then
	pass suppressed/metrics
else
	fail suppressed/metrics "suppressed '$got' (want 8), open '$open' (want 0)"
fi
# The table people read says so too.
if ctl findings --all >"$TMP/all.txt" 2>&1 &&
	[[ $(grep -c ' suppressed ' "$TMP/all.txt") == 8 ]]; then
	pass suppressed/table
else
	fail suppressed/table "$(cat "$TMP/all.txt")"
fi

# --- reloaded -----------------------------------------------------------------

DB=$TMP/reload.db
SOCK=$TMP/reload.sock
watch reload --suppressions "$TMP/nodtor.supp" --exe "$WL/tls_nodtor" \
	--metrics-textfile "$TMP/reload.prom"
# A bad file at SIGHUP: its line logged once, the rules in force kept.
cp "$TMP/nodtor.supp" "$TMP/good.supp"
printf 'kind=tls-outlived-thread function=tls_nodtor_*\nkind=nope\n' \
	>"$TMP/nodtor.supp"
kill -HUP "$DAEMON_PID"
logged_bad() {
	grep -q "cannot reload: $TMP/nodtor.supp:2: unknown kind 'nope'" "$DAEMON_LOG.err"
}
if wait_until 10 logged_bad && daemon_alive; then
	pass reload/bad_logged
else
	fail reload/bad_logged "$(tail -n 3 "$DAEMON_LOG.err")"
fi
run_bg reload_kept "$WL/tls_nodtor" 4 4096
if wait_until 20 findings_at_least 4 --state suppressed; then
	pass reload/old_rules_kept
else
	fail reload/old_rules_kept "$(ctl findings --all 2>&1 | head -20)"
fi
query reload/open_before "$TMP/r_open.json" findings &&
	expect reload/none_open "$TMP/r_open.json" 'length' 0
n=$(grep -c "cannot reload:" "$DAEMON_LOG.err" || true)
if [[ $n == 1 ]]; then
	pass reload/logged_once
else
	fail reload/logged_once "logged $n times: $(cat "$DAEMON_LOG.err")"
fi
# A good file through memwatchctl reload: the new rules in force, for the
# findings stored too: the 4 suppressed by the old rule are open again.
printf '# bad frees only\nkind=bad-free\n' >"$TMP/nodtor.supp"
if ctl reload >"$TMP/reload.out" 2>&1; then
	pass reload/good
else
	fail reload/good "$(cat "$TMP/reload.out")"
fi
query reload/unsuppressed "$TMP/r_supp.json" findings --state suppressed &&
	expect reload/unsuppressed "$TMP/r_supp.json" 'length' 0
query reload/reopened "$TMP/r_open.json" findings &&
	expect reload/reopened "$TMP/r_open.json" 'length' 4
# A process that leaks and lives on while it is acknowledged.
MW_HOLD_MS=60000 "$WL/tls_nodtor" 4 4096 >"$TMP/held.out" 2>&1 &
HELD=$!
BG_PIDS+=("$HELD")
if wait_until 20 findings_at_least 4 --pid "$HELD"; then
	pass reload/new_rules
else
	fail reload/new_rules "$(ctl findings --all 2>&1 | head -20)"
fi

# --- acknowledged -------------------------------------------------------------

id=$(ctl --json findings --pid "$HELD" 2>/dev/null | jq -r 'first(.[].id) // empty')
if [[ -n $id ]] && ctl ack "$id" --note "known: per-thread cache" >"$TMP/ack.out" 2>&1 &&
	[[ $(cat "$TMP/ack.out") == "finding $id acknowledged" ]]; then
	pass ack/done
else
	fail ack/done "id '$id': $(cat "$TMP/ack.out" 2>/dev/null)"
fi
query ack/open "$TMP/a_open.json" findings &&
	expect ack/not_open "$TMP/a_open.json" \
		"[length, ([.[].id] | index($id))]" '[7,null]'
if query ack/list "$TMP/a_ack.json" findings --state acknowledged; then
	expect ack/kept "$TMP/a_ack.json" \
		'[.[] | [.id, .state, .ack_note,
		  (.ack_ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z$")),
		  ((.ack_ts_ns | tonumber) > (.found_ts_ns | tonumber))]]' \
		"[[$id,\"acknowledged\",\"known: per-thread cache\",true,true]]"
fi
# The time of an ack is a time as the others: null until acknowledged.
query ack/all "$TMP/a_all.json" findings --all &&
	expect ack/all "$TMP/a_all.json" \
		'[.[] | [.state, .ack_ts, .ack_ts_ns]] | group_by(.[0]) |
		 map([.[0][0], length, (map(.[1] == null and .[2] == null) | unique)])' \
		'[["acknowledged",1,[false]],["open",7,[true]]]'
# The state is a column -o picks, in the open list too (not shown there
# unless asked).
if ctl findings -o ID,STATE -n -r >"$TMP/o_open.txt" 2>&1 &&
	ctl findings --all -o state,id -n -r >"$TMP/o_all.txt" 2>&1; then
	want_open=$(jq -r '.[] | "\(.id) open"' "$TMP/a_open.json" | sort)
	want_all=$(jq -r '.[] | "\(.state) \(.id)"' "$TMP/a_all.json" | sort)
	if [[ $(sort "$TMP/o_open.txt") == "$want_open" && $(wc -l <"$TMP/o_open.txt") == 7 &&
		$(sort "$TMP/o_all.txt") == "$want_all" &&
		$(grep -c "^acknowledged $id\$" "$TMP/o_all.txt") == 1 ]]; then
		pass ack/state_column
	else
		fail ack/state_column "$(cat "$TMP/o_open.txt" "$TMP/o_all.txt")"
	fi
else
	fail ack/state_column "$(cat "$TMP/o_open.txt" "$TMP/o_all.txt")"
fi
# prom_is OPEN SUPPRESSED ACKNOWLEDGED: the textfile's gauges for
# tls-outlived-thread, high, the 4 findings of the process that exited
# (no longer held by the metrics) moved as the others.
prom_is() {
	local o s a
	o=$(prom_value "$TMP/reload.prom" 'memwatch_findings_open{kind="tls-outlived-thread",severity="high"}')
	s=$(prom_value "$TMP/reload.prom" 'memwatch_findings_suppressed{kind="tls-outlived-thread",severity="high"}')
	a=$(prom_value "$TMP/reload.prom" 'memwatch_findings_acknowledged{kind="tls-outlived-thread",severity="high"}')
	[[ $1 == "$o" && $2 == "$s" && $3 == "$a" ]]
}
prom_text() {
	grep -E '^memwatch_findings_(open|suppressed|acknowledged)\{kind="tls-outlived-thread",severity="high"' "$TMP/reload.prom" | paste -sd ' '
}
if wait_until 10 prom_is 7 0 1; then
	pass ack/metrics
else
	fail ack/metrics "$(prom_text)"
fi
if ctl explain "$id" >"$TMP/explain.txt" 2>&1 &&
	grep -q '^  state     acknowledged$' "$TMP/explain.txt" &&
	grep -q '^  acknowledged .*: known: per-thread cache$' "$TMP/explain.txt"; then
	pass ack/explain
else
	fail ack/explain "$(cat "$TMP/explain.txt")"
fi
# Bad input: one line, non-zero.
ctl_error ack/unknown_id 1 "no finding with id '999999'" ack 999999
ctl_error ack/bad_id 2 "ack: invalid finding id 'x1'" ack x1
ctl_error ack/no_id 2 "usage: memwatchctl ack ID [--note TEXT]" ack
ctl_error ack/long_note 2 "--note: longer than 255 bytes" ack "$id" \
	--note "$(printf '%0300d' 0)"
# The old rule again: every open finding stored is suppressed, the
# acknowledged one stays so.
printf 'kind=tls-outlived-thread function=tls_nodtor_*\n' >"$TMP/nodtor.supp"
if ctl reload >"$TMP/reload2.out" 2>&1 &&
	query resuppress/all "$TMP/s_all.json" findings --all; then
	expect resuppress/states "$TMP/s_all.json" \
		'[.[] | .state] | group_by(.) | map([.[0], length])' \
		'[["acknowledged",1],["suppressed",7]]'
else
	fail resuppress/reload "$(cat "$TMP/reload2.out")"
fi
if wait_until 10 prom_is 0 7 1; then
	pass resuppress/metrics
else
	fail resuppress/metrics "$(prom_text)"
fi
# --state and --all with --sort and --limit: the state chosen first,
# then the order, then the first N (ties by the newest id), as the
# whole list says.
# top FILE JQ_KEY N: the ids of the first N of FILE's findings by key.
top() {
	jq -c --argjson n "$3" "sort_by([$2, .id]) | reverse | .[0:\$n] | map(.id)" "$1"
}
jq '[.[] | select(.state == "suppressed")]' "$TMP/s_all.json" >"$TMP/s_supp.json"
query sort/all_time "$TMP/st_all.json" findings --all --limit 3 &&
	expect sort/all_time "$TMP/st_all.json" '[.[].id]' "$(top "$TMP/s_all.json" .last_ts_ns 3)"
query sort/all_bytes "$TMP/sb_all.json" findings --all --sort bytes --limit 5 &&
	expect sort/all_bytes "$TMP/sb_all.json" '[.[].id]' "$(top "$TMP/s_all.json" .bytes 5)"
query sort/suppressed_count "$TMP/sc_supp.json" findings --state suppressed --sort count --limit 2 &&
	expect sort/suppressed_count "$TMP/sc_supp.json" '[[.[].id], ([.[].state] | unique)]' \
		"[$(top "$TMP/s_supp.json" .count 2),[\"suppressed\"]]"
query sort/acknowledged "$TMP/sa.json" findings --state acknowledged --sort bytes --limit 5 &&
	expect sort/acknowledged "$TMP/sa.json" '[.[].id]' "[$id]"
if ctl findings --all --sort bytes --limit 5 -o id,state -n -r >"$TMP/sb_all.txt" 2>&1 &&
	[[ $(cat "$TMP/sb_all.txt") == "$(jq -r '.[] | "\(.id) \(.state)"' "$TMP/sb_all.json")" ]]; then
	pass sort/table
else
	fail sort/table "$(cat "$TMP/sb_all.txt")"
fi
kill "$HELD" 2>/dev/null || true
ok ack/stop "memwatchd did not stop cleanly" stop_daemon
# Kept after the daemon stopped: the database says so.
query ack/after_stop "$TMP/a_after.json" findings --state acknowledged &&
	expect ack/after_stop "$TMP/a_after.json" '[.[].id]' "[$id]"
ctl_error ack/no_daemon 1 "cannot connect to memwatchd at '$SOCK': No such file or directory" ack "$id"

finish
