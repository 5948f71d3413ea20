#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/rules_free.sh - frees across threads, under the real daemon:
#   - a custom object pool trimmed by two threads without its lock: both
#     free the same 8 objects, so the second thread's 8 frees are double
#     frees: one bad-free finding for the free site in
#     custom_pool_release;
#   - the same pool with its lock: no finding;
#   - producers that exit after handing blocks to a long-lived consumer
#     that keeps some and frees the rest: hand-offs, no finding;
#   - producers that exit after handing blocks to main, which holds them
#     past the orphan age, then has two threads free them: a thread-orphan
#     finding, resolved once they are freed (listed by --resolved, not by
#     default, not counted open in the metrics); never freed, it stays
#     open;
#   - a program traced from exec whose 200 threads each free a key's
#     value through glibc (the key's destructor is free) and exit at
#     once: glibc frees each value again from the thread's tcache at
#     exit, from a libc the daemon's maps, read at exec, do not show yet,
#     and the program is gone before they can be read again: no finding.
# glibc's own frees at thread exit (its tcache) never count.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

if run_case pool "$WL/custom_pool" 8 48; then
	f=$TMP/pool.json
	expect pool/count "$f" 'length' 1
	expect pool/kind "$f" '.[0].kind' bad-free
	expect pool/severity "$f" '.[0].severity' high
	expect pool/site "$f" '.[0].site.function' custom_pool_release
	expect pool/double_frees "$f" '.[0].count' 8
	expect pool/threads "$f" '.[0].threads' 1
	expect pool/detail "$f" '.[0].detail | startswith("8 double free(s), 0 free(s) of unknown addresses, 8 of ")' true
fi
run_case pool_clean "$WL/custom_pool_clean" 8 48 &&
	expect pool_clean/no_findings "$TMP/pool_clean.json" 'length' 0

if run_case handoff "$WL/producer_consumer"; then
	expect handoff/no_findings "$TMP/handoff.json" 'length' 0
	if query handoff/threads "$TMP/handoff_threads.json" threads; then
		# The consumer really freed blocks other threads allocated.
		expect handoff/cross_frees "$TMP/handoff_threads.json" \
			'[.[].cross_frees] | add > 0' true
	fi
fi

# metric_sum FILE NAME: the sum of the textfile's samples of NAME whose
# labels say kind="thread-orphan".
metric_sum() {
	awk -v n="$2" 'index($0, n "{kind=\"thread-orphan\"") == 1 { s += $NF }
		END { print s + 0 }' "$1"
}

# Hand-off late: one finding, resolved, with its reason and numbers now.
DB=$TMP/late.db
PROM=$TMP/late.prom
trace --metrics-textfile "$PROM" -- "$WL/handoff_late"
ok late/exit_status "memwatchd exited $TRACE_RC" test "$TRACE_RC" = 0
if query late/open "$TMP/late_open.json" findings &&
	query late/resolved "$TMP/late_resolved.json" findings --resolved &&
	query late/all "$TMP/late_all.json" findings --all; then
	f=$TMP/late_resolved.json
	expect late/none_open "$TMP/late_open.json" 'length' 0
	expect late/one_resolved "$f" 'length' 1
	expect late/kind "$f" '.[0].kind' thread-orphan
	expect late/state "$f" '.[0].state' resolved
	expect late/site "$f" '.[0].site.function' handoff_item_alloc
	expect late/reason "$f" '.[0].resolved_reason' 'all 48 block(s) freed (by 2 other thread(s))'
	expect late/resolved_after_found "$f" '.[0].resolved_ts > .[0].found_ts' true
	expect late/count_now "$f" '[.[0].count, .[0].bytes, .[0].threads]' '[0,0,0]'
	expect late/all "$TMP/late_all.json" '[.[].id]' "$(jqv "$f" '[.[].id]')"
	id=$(jqv "$f" '.[0].id // 0')
	if ctl explain "$id" >"$TMP/late_explain.txt" 2>&1; then
		count_in_text late/explain "$TMP/late_explain.txt" \
			'state     resolved .*: all 48 block(s) freed' 1
	else
		fail late/explain "memwatchctl explain $id failed: $(head -c 200 "$TMP/late_explain.txt")"
	fi
fi
if [[ -s $PROM ]]; then
	ok late/metric_made "not counted made once" \
		test "$(metric_sum "$PROM" memwatch_findings_total)" = 1
	ok late/metric_open "counted open" \
		test "$(metric_sum "$PROM" memwatch_findings_open)" = 0
	ok late/metric_resolved "not counted resolved" \
		test "$(metric_sum "$PROM" memwatch_findings_resolved_total)" = 1
else
	fail late/metrics "memwatchd wrote no $PROM"
fi

# The same never freed: a real leak, open, its numbers those of the blocks.
if run_case late_leak "$WL/handoff_late" 6 8 200 3000 0; then
	f=$TMP/late_leak.json
	expect late_leak/one_open "$f" 'length' 1
	expect late_leak/kind "$f" '.[0].kind' thread-orphan
	expect late_leak/state "$f" '.[0].state' open
	expect late_leak/severity "$f" '.[0].severity' medium
	expect late_leak/numbers "$f" '[.[0].count, .[0].bytes, .[0].threads]' '[48,9600,6]'
	expect late_leak/no_reason "$f" '[.[0].resolved_ts, .[0].resolved_reason]' '[null,""]'
fi

# run_case traces from exec (-- CMD), which is what matters here.
if run_case churn "$WL/thread_churn" 200 8 0; then
	expect churn/no_findings "$TMP/churn.json" 'length' 0
fi

finish
