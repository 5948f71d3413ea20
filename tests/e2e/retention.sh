#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/retention.sh - memwatchd's retention (daemon/retention.c) on
# real databases:
#   - age: three real traced runs, their end moved back 40, 10 and 1
#     days with sqlite3; with retention off nothing goes; once a reload
#     sets keep-days 7 and keep-findings-days 30 the first goes entirely, the second keeps its findings (findings and
#     explain print exactly what they did before) but loses its raw rows,
#     the third is untouched, a process traced meanwhile keeps its rows,
#     nothing is left pointing at a removed row, and status, the metrics
#     and the log say what was removed;
#   - size: a synthetic database (tests/bench/gen_db) several times
#     --max-db-mb: raw rows of the processes that ended first go first,
#     the file and its log shrink under the limit (stat), while a workload
#     traced during the pruning gets all its findings with no event lost;
#     the longest step and the rate are printed;
#   - a limit only a traced process's rows are over: every ended process
#     goes, the traced one's rows all stay, a warning says so;
#   - a database from before retention is given incremental vacuum;
#   - bad values are one-line errors, in files with FILE:LINE.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

GEN_DB=$OUT/gen_db
DAY=86400000000000
TABLES=(processes threads keys tls_bindings live_blocks stacks sites
	findings site_usage site_thread_usage)

if ! command -v sqlite3 >/dev/null || [[ ! -x $GEN_DB ]]; then
	fail setup "sqlite3 (apt-get install sqlite3) and $GEN_DB (make) are needed"
	exit 1
fi

sql() {
	sqlite3 "$DB" "$@"
}

# rows_of ID: the rows of process ID in each table, "table=N ...".
rows_of() {
	local t out=
	for t in "${TABLES[@]}"; do
		local col=proc_id
		[[ $t == processes ]] && col=id
		out+="$t=$(sql "SELECT count(*) FROM $t WHERE $col = $1") "
	done
	printf '%s' "${out% }"
}

# counted ID: the rows of process ID retention counts as removed (all
# but site_usage's, which follow the blocks).
counted() {
	sql "SELECT (SELECT count(*) FROM processes WHERE id = $1) +
		(SELECT count(*) FROM threads WHERE proc_id = $1) +
		(SELECT count(*) FROM keys WHERE proc_id = $1) +
		(SELECT count(*) FROM tls_bindings WHERE proc_id = $1) +
		(SELECT count(*) FROM live_blocks WHERE proc_id = $1) +
		(SELECT count(*) FROM stacks WHERE proc_id = $1) +
		(SELECT count(*) FROM sites WHERE proc_id = $1) +
		(SELECT count(*) FROM findings WHERE proc_id = $1)"
}

# orphans: rows pointing at a process, stack or site that is not there.
orphans() {
	local t n=0
	for t in "${TABLES[@]}"; do
		[[ $t == processes ]] && continue
		n=$((n + $(sql "SELECT count(*) FROM $t WHERE proc_id NOT IN
			(SELECT id FROM processes)")))
	done
	n=$((n + $(sql "SELECT count(*) FROM findings WHERE stack_id != 0 AND
		stack_id NOT IN (SELECT id FROM stacks)")))
	echo "$n"
}

# log_has FILE TEXT: for wait_until.
# shellcheck disable=SC2317  # called through wait_until
log_has() {
	grep -qF -- "$2" "$1"
}

# shellcheck disable=SC2317  # called through wait_until
pruning_started() {
	ctl --json status 2>/dev/null | jq -e '.daemon.pruned_rows > 0' >/dev/null
}

db_bytes() {
	local wal=0
	[[ -f $DB-wal ]] && wal=$(stat -c %s "$DB-wal")
	echo $(($(stat -c %s "$DB") + wal))
}

# --- age ------------------------------------------------------------------
DB=$TMP/age.db
for run in "tls_nodtor 4 4096" "tls_nodtor 3 2048" "tls_keydelete 2 1024"; do
	# shellcheck disable=SC2086  # the words are the command
	trace -- "$WL/"$run
	[[ $TRACE_RC == 0 ]] || fail "age/trace" "memwatchd -- $run exited $TRACE_RC"
done
mapfile -t ids < <(sql "SELECT id FROM processes ORDER BY id")
if [[ ${#ids[@]} == 3 ]]; then
	pass age/three_runs
else
	fail age/three_runs "${#ids[@]} processes in the database"
fi
gone=${ids[0]:-0} kept=${ids[1]:-0} young=${ids[2]:-0}
kept_pid=$(sql "SELECT pid FROM processes WHERE id = $kept")
young_rows=$(rows_of "$young")
query age/before "$TMP/kept_before.json" findings --pid "$kept_pid" || true
for id in $(jq -r '.[].id' "$TMP/kept_before.json" 2>/dev/null); do
	ctl --json explain "$id" >"$TMP/explain_before.$id.json" 2>&1 || true
	ctl explain "$id" >"$TMP/explain_before.$id.txt" 2>&1 || true
done
kept_stacks=$(sql "SELECT count(*) FROM stacks WHERE proc_id = $kept")
counted_before=$(($(counted "$gone") + $(counted "$kept")))
# Ended 40, 10 and 1 days ago.
sql "UPDATE processes SET start_ts = start_ts - 40 * $DAY,
	end_ts = end_ts - 40 * $DAY WHERE id = $gone;
     UPDATE processes SET start_ts = start_ts - 10 * $DAY,
	end_ts = end_ts - 10 * $DAY WHERE id = $kept;
     UPDATE processes SET start_ts = start_ts - $DAY,
	end_ts = end_ts - $DAY WHERE id = $young;"

# A process traced while retention runs, holding 2000 blocks. Retention
# is off in the file the daemon starts with, then turned on by a reload.
printf 'keep-days 0\nkeep-findings-days 0\n' >"$TMP/age.conf"
start_gated live_hold 2000 64 60000
live=$WL_PID
start_daemon -v --pid "$live" --config "$TMP/age.conf" \
	--metrics-textfile "$TMP/age.prom"
wait_for_target "$live" || fail age/attach "$WHY"
touch "$WL_GATE"
sleep 1.5
if [[ $(sql "SELECT count(*) FROM processes") == 4 ]] &&
	! grep -q 'retention' "$DAEMON_LOG.err"; then
	pass age/off
else
	fail age/off "retention ran with keep-days 0: $(grep retention "$DAEMON_LOG.err")"
fi
printf 'keep-days 7\nkeep-findings-days 30\n' >"$TMP/age.conf"
kill -HUP "$DAEMON_PID"
if wait_until 20 log_has "$DAEMON_LOG.err" "retention (age): removed"; then
	pass age/cycle_logged
else
	fail age/cycle_logged "no retention line in the log: $(tail -n 3 "$DAEMON_LOG.err")"
fi
# The traced process's blocks are written once a second old.
wait_until 20 test "$(sql "SELECT count(*) FROM live_blocks WHERE pid = $live")" \
	-ge 2000 || true

got=$(rows_of "$gone")
want="processes=0 threads=0 keys=0 tls_bindings=0 live_blocks=0 stacks=0 sites=0 findings=0 site_usage=0 site_thread_usage=0"
if [[ $got == "$want" ]]; then
	pass age/old_process_gone
else
	fail age/old_process_gone "rows left of the run 40 days old: $got"
fi
got=$(rows_of "$kept")
if [[ $got =~ ^processes=1\ threads=0\ keys=0\ tls_bindings=0\ live_blocks=0\ stacks=([0-9]+)\ sites=([1-9][0-9]*)\ findings=3\ site_usage=0\ site_thread_usage=0$ ]] &&
	((BASH_REMATCH[1] <= kept_stacks)); then
	pass age/raw_rows_gone_findings_kept
else
	fail age/raw_rows_gone_findings_kept "rows of the run 10 days old: $got (had $kept_stacks stacks)"
fi
if [[ $(sql "SELECT pruned_ts > 0 FROM processes WHERE id = $kept") == 1 ]]; then
	pass age/marked_pruned
else
	fail age/marked_pruned "pruned_ts not set"
fi
got=$(rows_of "$young")
if [[ $got == "$young_rows" ]]; then
	pass age/young_untouched
else
	fail age/young_untouched "$young_rows before, $got after"
fi
n=$(sql "SELECT count(*) FROM live_blocks WHERE pid = $live")
if [[ $n -ge 2000 ]]; then
	pass age/traced_rows_kept
else
	fail age/traced_rows_kept "$n blocks of the traced process stored"
fi
if [[ $(orphans) == 0 ]]; then
	pass age/no_orphans
else
	fail age/no_orphans "$(orphans) rows point at removed rows"
fi
# The kept findings read exactly as before, stacks and sites included.
if query age/after "$TMP/kept_after.json" findings --pid "$kept_pid"; then
	if [[ -s $TMP/kept_before.json ]] &&
		cmp -s "$TMP/kept_before.json" "$TMP/kept_after.json"; then
		pass age/findings_same
	else
		fail age/findings_same "findings --pid $kept_pid changed"
	fi
fi
same=0 diff=0
for f in "$TMP"/explain_before.*; do
	[[ -e $f ]] || continue
	id=${f#"$TMP"/explain_before.}
	id=${id%.*}
	if [[ $f == *.json ]]; then
		ctl --json explain "$id" >"$TMP/explain_after.$id.json" 2>&1 || true
		after=$TMP/explain_after.$id.json
	else
		ctl explain "$id" >"$TMP/explain_after.$id.txt" 2>&1 || true
		after=$TMP/explain_after.$id.txt
	fi
	if cmp -s "$f" "$after" && grep -q 'tls_nodtor_alloc' "$after"; then
		same=$((same + 1))
	else
		diff=$((diff + 1))
	fi
done
if [[ $same == 6 && $diff == 0 ]]; then
	pass age/explain_same
else
	fail age/explain_same "$same explain outputs the same, $diff not (want 6, 0)"
fi
if query age/status "$TMP/age_status.json" status; then
	expect age/status_raw "$TMP/age_status.json" '.daemon.pruned_raw_processes' 1
	expect age/status_all "$TMP/age_status.json" '.daemon.pruned_processes' 1
	expect age/status_rows "$TMP/age_status.json" '.daemon.pruned_rows' \
		$((counted_before - $(counted "$gone") - $(counted "$kept")))
fi
ctl status >"$TMP/age_status.txt" 2>&1 || true
if grep -q '^retention: [0-9]* rows removed: raw rows of 1 processes, everything of 1' \
	"$TMP/age_status.txt"; then
	pass age/status_text
else
	fail age/status_text "$(grep retention "$TMP/age_status.txt" || echo 'no retention line')"
fi
# The textfile is written at every flush.
wait_until 5 log_has "$TMP/age.prom" 'memwatch_database_pruned_processes_total{rows="all"} 1' ||
	true
if grep -qx 'memwatch_database_pruned_processes_total{rows="raw"} 1' "$TMP/age.prom" &&
	grep -qx 'memwatch_database_pruned_processes_total{rows="all"} 1' "$TMP/age.prom" &&
	grep -qE '^memwatch_database_pruned_rows_total\{table="live_blocks"\} [1-9]' "$TMP/age.prom" &&
	grep -qx 'memwatch_database_pruned_rows_total{table="findings"} 4' "$TMP/age.prom"; then
	pass age/metrics
else
	fail age/metrics "$(grep pruned "$TMP/age.prom" | tr '\n' ' ')"
fi
kill "$live" 2>/dev/null || true
ok age/stop "memwatchd did not stop cleanly" stop_daemon

# --- size -------------------------------------------------------------------
# A fleet host's database, several times the limit; its processes ended
# when this daemon starts (a previous one left them traced).
DB=$TMP/size.db
LIMIT=16
"$GEN_DB" --blocks 200000 --threads 10000 --procs 40 --sites 400 \
	--findings 400 "$DB" >"$TMP/gen_db.out" 2>&1 ||
	fail size/gen_db "$(tail -n 3 "$TMP/gen_db.out")"
before=$(db_bytes)
if ((before > 3 * LIMIT * 1048576 / 2)); then
	pass size/big_enough
else
	fail size/big_enough "gen_db made only $before bytes"
fi
nprocs=$(sql "SELECT count(*) FROM processes")
start_gated tls_nodtor 6 2048
wl=$WL_PID
start_daemon -v --pid "$wl" --max-db-mb "$LIMIT" --keep-days 0 \
	--keep-findings-days 0
wait_for_target "$wl" || fail size/attach "$WHY"
# The workload runs while the first cycle prunes.
wait_until 20 pruning_started || true
touch "$WL_GATE"
reap "$wl"
[[ $REAP_RC == 0 ]] || fail size/workload_exit "tls_nodtor exited $REAP_RC"
during=$(grep -c 'retention (size)' "$DAEMON_LOG.err" || true)
if wait_until 120 log_has "$DAEMON_LOG.err" "retention (size): removed"; then
	pass size/cycle_logged
else
	fail size/cycle_logged "no cycle ended in 120 s: $(tail -n 2 "$DAEMON_LOG.err")"
fi
if [[ $during == 0 ]]; then
	pass size/workload_during_pruning
else
	fail size/workload_during_pruning "the cycle had ended before the workload ran"
fi
after=$(db_bytes)
if ((after <= LIMIT * 1048576)); then
	pass size/under_limit
else
	fail size/under_limit "$after bytes (db and wal) after the cycle, limit $LIMIT MiB"
fi
wait_until 10 findings_at_least 6 --pid "$wl" || true
if query size/findings "$TMP/wl.json" findings --pid "$wl"; then
	check_tls_findings size/wl "$TMP/wl.json" 6 tls-outlived-thread 2048 \
		tls_nodtor_alloc
fi
if query size/status "$TMP/size_status.json" status; then
	expect size/no_lost "$TMP/size_status.json" '.daemon.lost' 0
	expect size/wl_no_lost "$TMP/size_status.json" \
		'[.processes[] | select(.pid == $p) | .lost]' '[0]' --argjson p "$wl"
	step_ns=$(jqv "$TMP/size_status.json" '.daemon.prune_step_max_ns')
fi
# Raw rows of the processes that ended first went first: a process lost
# everything only once no raw rows were left anywhere, and every process
# still holding raw rows ended no sooner than those that lost theirs.
rawleft=$(sql "SELECT count(*) FROM processes WHERE pruned_ts = 0
	AND state != 1 AND pid != $wl")
nall=$(sql "SELECT $nprocs - count(*) FROM processes WHERE pid != $wl")
order=$(sql "SELECT count(*) FROM processes a, processes b WHERE
	a.pruned_ts > 0 AND b.pruned_ts = 0 AND b.pid != $wl AND
	(b.end_ts < a.end_ts OR (b.end_ts = a.end_ts AND b.id < a.id))")
if [[ $order == 0 ]] && { [[ $nall == 0 ]] || [[ $rawleft == 0 ]]; }; then
	pass size/oldest_raw_first
else
	fail size/oldest_raw_first "$order out of order; $nall removed entirely with $rawleft still holding raw rows"
fi
if [[ $(orphans) == 0 ]]; then
	pass size/no_orphans
else
	fail size/no_orphans "$(orphans) rows point at removed rows"
fi
# What is left reads: a kept finding of the synthetic processes explains.
fid=$(sql "SELECT id FROM findings WHERE pid != $wl ORDER BY id LIMIT 1")
if [[ -z $fid ]] || ctl explain "$fid" >"$TMP/size_explain.txt" 2>&1; then
	pass size/explain
else
	fail size/explain "$(head -c 300 "$TMP/size_explain.txt")"
fi
line=$(grep 'retention (size): removed' "$DAEMON_LOG.err" | head -n 1)
rows=$(sed -n 's/.*removed \([0-9]*\) rows.*/\1/p' <<<"$line")
secs=$(sed -n 's/.*steps in \([0-9.]*\) s,.*/\1/p' <<<"$line")
nsteps=$(sed -n 's/.* \([0-9]*\) steps in .*/\1/p' <<<"$line")
avg=$(sed -n 's/.* \([0-9.]*\) ms on average.*/\1/p' <<<"$line")
# Small steps, never one big DELETE (all of it at once takes seconds):
# about RETENTION_STEP_NS (10 ms) on average; the longest takes what a
# checkpoint's fsync takes on this disk, well under a second.
if [[ $step_ns =~ ^[0-9]+$ && $nsteps =~ ^[0-9]+$ && $avg =~ ^[0-9.]+$ ]] &&
	((nsteps >= 50 && step_ns < 500000000)) &&
	awk -v a="$avg" 'BEGIN { exit !(a <= 20) }'; then
	pass size/steps_small
else
	fail size/steps_small "${nsteps:-?} steps, ${avg:-?} ms on average, longest ${step_ns:-?} ns"
fi
echo "# size: $(awk -v b="$before" 'BEGIN { printf "%.1f", b / 1048576 }') MiB -> $(awk -v b="$after" 'BEGIN { printf "%.1f", b / 1048576 }') MiB (limit $LIMIT);" \
	"$rows rows in $secs s ($(awk -v r="$rows" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }') rows/s);" \
	"longest step $(awk -v n="${step_ns:-0}" 'BEGIN { printf "%.2f", n / 1e6 }') ms"
echo "# $line"
ok size/stop "memwatchd did not stop cleanly" stop_daemon

# --- over the limit with only traced rows ----------------------------------
DB=$TMP/traced.db
trace -- "$WL/tls_nodtor" 2 1024
ended=$(sql "SELECT id FROM processes")
start_gated live_hold 150000 16 60000
hold=$WL_PID
start_daemon -v --pid "$hold" --max-db-mb 16 --flush-rows 0
wait_for_target "$hold" || fail traced/attach "$WHY"
touch "$WL_GATE"
if wait_until 60 log_has "$DAEMON_LOG.err" "with only the rows of processes still traced left"; then
	pass traced/warned
else
	fail traced/warned "no warning: $(tail -n 2 "$DAEMON_LOG.err")"
fi
got=$(rows_of "$ended")
if [[ $got == "$want" ]]; then
	pass traced/ended_gone
else
	fail traced/ended_gone "rows of the ended process: $got"
fi
# Its blocks and the array holding them: all stored, none removed. The
# warning may come between two flushes of them (the size is checked
# between flushes), so the last ones may still be on their way.
blocks_stored() {
	n=$(sql "SELECT count(*) FROM live_blocks WHERE pid = $hold")
	[[ $n -ge 150000 ]]
}
if wait_until 30 blocks_stored; then
	pass traced/rows_kept
else
	fail traced/rows_kept "$n of 150000 blocks of the traced process stored"
fi
kill "$hold" 2>/dev/null || true
ok traced/stop "memwatchd did not stop cleanly" stop_daemon

# --- a database from before retention -----------------------------------------
DB=$TMP/old.db
sqlite3 "$DB" <"$ROOT/schema/001_init.sql"
sql "PRAGMA user_version = 1; INSERT INTO processes (id, pid, state,
	start_ts, end_ts) VALUES (1, 100, 2, 1, 2);"
trace -v --max-db-mb 16 -- true
if [[ $TRACE_RC == 0 ]] &&
	grep -q "incremental vacuum turned on" "$TRACE_LOG.err" &&
	[[ $(sql "PRAGMA auto_vacuum") == 2 ]]; then
	pass old/converted
else
	fail old/converted "exit $TRACE_RC, auto_vacuum $(sql 'PRAGMA auto_vacuum'): $(tail -n 2 "$TRACE_LOG.err")"
fi

# --- settings ---------------------------------------------------------------
rc=0
out=$("$MEMWATCHD" --max-db-mb 8 --check-config 2>&1) || rc=$?
if [[ $rc == 2 && $out == *"--max-db-mb: invalid value '8' (0, or 16 to 16777216 MiB; units K, M, G)" ]]; then
	pass settings/max_db_mb_small
else
	fail settings/max_db_mb_small "exit $rc: $out"
fi
printf 'keep-days 3\nkeep-findings-days x\n' >"$TMP/bad.conf"
rc=0
out=$("$MEMWATCHD" --config "$TMP/bad.conf" --check-config 2>&1) || rc=$?
if [[ $rc == 2 && $out == *"$TMP/bad.conf:2: keep-findings-days: invalid value 'x' (0 to 36500)" ]]; then
	pass settings/file_line
else
	fail settings/file_line "exit $rc: $out"
fi
printf 'keep-days 3\nkeep-findings-days 60\nmax-db-mb 512\n' >"$TMP/good.conf"
rc=0
out=$("$MEMWATCHD" --config "$TMP/good.conf" --check-config 2>&1) || rc=$?
if [[ $rc == 0 && $out == "configuration OK" ]]; then
	pass settings/good
else
	fail settings/good "exit $rc: $out"
fi

finish
