#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/ctl_cli.sh - memwatchctl's conventions, on a synthetic database
# (tests/bench/gen_db.c writes the rows memwatchd writes, with findings of
# every kind at random times, so that id order is not time order):
#   - findings: the last seen first, --limit N the N first of that order,
#     --sort bytes|count|time, --since on the time last seen (a finding
#     found before WHEN but seen after it is listed), `help` as --help.
# Each check reads memwatchctl's own output against a property of the
# rows (sorted, a prefix, a bound), never a list written here.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2034  # lib.sh's ctl uses DB
DB=$TMP/cli.db
if ! "$OUT/gen_db" --blocks 400 --threads 40 --procs 3 --sites 12 \
	--findings 300 --seed 7 "$DB" >"$TMP/gen_db.out" 2>&1; then
	fail setup "gen_db: $(tail -n 1 "$TMP/gen_db.out")"
	finish
fi

# The time a finding was last seen, and first seen, in ns: jq's numbers.
T_LAST='.last_ts'
T_FIRST='.first_ts'

# --- findings: order, --limit, --sort, --since --------------------------------

if query findings/all "$TMP/all.json" findings; then
	expect findings/count "$TMP/all.json" 'length' 300
	expect findings/newest_first "$TMP/all.json" \
		"[.[] | $T_LAST] as \$t | \$t == (\$t | sort | reverse)" true
	# Not the id order by chance: the database's times are random.
	expect findings/not_id_order "$TMP/all.json" \
		'[.[].id] as $i | $i != ($i | sort) and $i != ($i | sort | reverse)' true
fi
if query findings/limit "$TMP/limit.json" findings --limit 7; then
	expect findings/limit_newest "$TMP/limit.json" \
		'[.[].id] == ($a[0][0:7] | map(.id))' true --slurpfile a "$TMP/all.json"
fi
for s in bytes count; do
	if query "findings/sort_$s" "$TMP/sort_$s.json" findings --sort "$s"; then
		expect "findings/sort_$s" "$TMP/sort_$s.json" \
			"[.[].$s] as \$v | (\$v == (\$v | sort | reverse)) and length == 300 and
			 ([.[].id] != (\$a[0] | map(.id)))" true --slurpfile a "$TMP/all.json"
	fi
done
if query findings/sort_time "$TMP/sort_time.json" findings --sort time; then
	expect findings/sort_time "$TMP/sort_time.json" '. == $a[0]' true \
		--slurpfile a "$TMP/all.json"
fi
query findings/sort_limit "$TMP/sort_limit.json" findings --sort bytes --limit 3 &&
	expect findings/sort_limit "$TMP/sort_limit.json" \
		'[.[].id] == ($a[0][0:3] | map(.id))' true \
		--slurpfile a "$TMP/sort_bytes.json"

# --since: the median of the times last seen, in whole seconds. Listed:
# exactly those last seen at or after it, among them one found before it.
since=$(jqv "$TMP/all.json" "[.[] | $T_LAST] | sort | .[length / 2 | floor] / 1e9 | floor")
if query findings/since "$TMP/since.json" findings --since "$since"; then
	expect findings/since_last_seen "$TMP/since.json" \
		"(map(.id) | sort) == (\$a[0] | map(select($T_LAST >= \$s * 1e9) | .id) | sort)
		 and length > 0 and length < 300" true \
		--slurpfile a "$TMP/all.json" --argjson s "$since"
	expect findings/since_found_before "$TMP/since.json" \
		"any(.[]; $T_FIRST < \$s * 1e9)" true --argjson s "$since"
fi
ctl_error findings/sort_bad 2 "--sort: unknown value 'size' (time, bytes, count)" \
	findings --sort size

# --- help ---------------------------------------------------------------------

"$MEMWATCHCTL" --help >"$TMP/help.dash" 2>&1 || true
if "$MEMWATCHCTL" help >"$TMP/help.cmd" 2>"$TMP/help.err" &&
	cmp -s "$TMP/help.dash" "$TMP/help.cmd" && grep -q '^  --since' "$TMP/help.cmd"; then
	pass help/command
else
	fail help/command "memwatchctl help differs from --help: $(diff "$TMP/help.dash" "$TMP/help.cmd" | head -n 3)"
fi
count_in_text help/since_last_seen "$TMP/help.cmd" '--since WHEN     findings last seen' 1
ctl_error help/extra 2 "help: unexpected argument (try 'memwatchctl --help')" help me

finish
