#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/rules_race.sh - the allocator race (seed 004), under the real
# daemon told of the pair with --alloc pool_alloc --free pool_free:
#   - pool_race: 4 threads in an unlocked pool at once, each freeing the
#     blocks its neighbour allocated: allocator-race findings, high,
#     naming both functions and both threads, their stack the two call
#     sites (pool_race_fill, pool_race_drain);
#   - pool_race_clean: the same pool with a pthread mutex inside the
#     pair: no finding at all;
#   - pool_race in malloc mode: a pair that only calls malloc and free,
#     overlapping as much: no finding at all;
#   - pool_race without --alloc/--free: no allocator-race (it cannot be
#     seen);
#   - mi_api told that mimalloc's own mi_malloc/mi_free are the pair (8
#     threads): a known thread-safe allocator never gets it.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PAIR=(--alloc pool_alloc --free pool_free)

# race_case NAME DAEMON-ARGS... -- CMD...: trace CMD and save its findings
# in $TMP/NAME.json.
race_case() {
	local name=$1 args=()
	shift
	while [[ $1 != -- ]]; do
		args+=("$1")
		shift
	done
	shift
	DB=$TMP/$name.db
	trace "${args[@]}" -- "$@"
	if [[ $TRACE_RC == 0 ]]; then
		pass "$name/exit_status"
	else
		fail "$name/exit_status" "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
		return 1
	fi
	query "$name/query" "$TMP/$name.json" findings
}

RACE='[.[] | select(.kind == "allocator-race")]'

if race_case race "${PAIR[@]}" -- "$WL/pool_race" 4 400; then
	f=$TMP/race.json
	expect race/found "$f" "$RACE | length > 0" true
	expect race/severity "$f" "$RACE | map(.severity) | unique" '["high"]'
	expect race/sites "$f" \
		"$RACE | map(.site.function) - [\"pool_race_fill\", \"pool_race_drain\"] | length" 0
	expect race/both_threads "$f" \
		"$RACE | all(.threads >= 2 and .tid != .alloc_tid and .tid != .pid and .alloc_tid != .pid)" true
	expect race/detail "$f" \
		"$RACE | all(.detail | test(\"^pool_(alloc|free) \\\\(thread [0-9]+\\\\) ran while pool_(alloc|free) \\\\(thread [0-9]+\\\\) was inside, no lock: [0-9]+x here\"))" true
	expect race/count "$f" "$RACE | all(.count >= 1)" true
	expect race/cross_frees "$f" \
		"$RACE | all(.detail | test(\"; [1-9][0-9]*/[0-9]+ frees cross-thread\$\"))" true
	id=$(jqv "$f" "$RACE | .[0].id")
	if query race/explain "$TMP/race_explain.json" explain "$id"; then
		# The stack is the two call sites: this call's, the other's.
		expect race/explain_sites "$TMP/race_explain.json" \
			'[.stack.frames[].function] | length == 2 and all(. == "pool_race_fill" or . == "pool_race_drain")' true
	fi
fi

race_case race_clean "${PAIR[@]}" -- "$WL/pool_race_clean" 4 400 &&
	expect race_clean/no_findings "$TMP/race_clean.json" 'length' 0
race_case race_malloc "${PAIR[@]}" -- "$WL/pool_race" 4 400 malloc &&
	expect race_malloc/no_findings "$TMP/race_malloc.json" 'length' 0
race_case race_untold -- "$WL/pool_race" 4 100 &&
	expect race_untold/no_race "$TMP/race_untold.json" "$RACE | length" 0
race_case race_mimalloc --alloc mi_malloc --free mi_free -- "$WL/mi_api" 8 4096 &&
	expect race_mimalloc/no_race "$TMP/race_mimalloc.json" "$RACE | length" 0

finish
