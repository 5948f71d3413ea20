#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/ctl_cli.sh - memwatchctl's conventions, on a synthetic database
# (tests/bench/gen_db.c writes the rows memwatchd writes, with findings of
# every kind at random times, so that id order is not time order):
#   - findings: the last seen first, --limit N the N first of that order,
#     --sort bytes|count|time, --since on the time last seen (a finding
#     found before WHEN but seen after it is listed), `help` as --help;
#   - sizes: -H prints them as coreutils' numfmt --to=iec (ls -h) does;
#     durations and sizes with units in memwatchd's options and settings
#     (and --since): a plain number keeps its unit, a unit scales it (seen
#     through each option's bounds, and --grace 1s on a real trace), a bad
#     value is one line naming the option and the value, exit 2;
#   - JSON: each time an RFC 3339 string in UTC to the ns, as jq's own
#     todate reads its _ns twin, which is the database's number exactly
#     (past 2^53, where jq 1.6 rounds numbers); a finding about no key
#     has key null, key 0 being a real key; CSV the same;
#   - a failed write on standard output (/dev/full) is exit status 1 and
#     one line, whatever the command;
#   - tables (libsmartcols): -o COL,... in that order, any case;
#     --noheadings; --raw (cells escaped); cells of CJK and accented
#     names aligned by the terminal's width, not their bytes;
#   - --version: memwatch's, libbpf's (from its headers), and the kernel
#     features the running memwatchd found, as memwatchd --features says.
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

# The times of a finding in ns, as strings of 19 digits (jq 1.6 would
# round the numbers): strings of one length compare as the numbers do.
T_LAST='.last_ts_ns'
T_FIRST='.first_ts_ns'
# Differences of times, in jq's numbers (to 256 ns, plenty here).
T_FOUND='(.found_ts_ns | tonumber)'
T_TRIGGER='(.trigger_ts_ns | tonumber)'

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
since=$(jqv "$TMP/all.json" "[.[] | $T_LAST] | sort | .[length / 2 | floor][0:10]")
if query findings/since "$TMP/since.json" findings --since "$since"; then
	expect findings/since_last_seen "$TMP/since.json" \
		"(map(.id) | sort) == (\$a[0] | map(select($T_LAST >= \$s) | .id) | sort)
		 and length > 0 and length < 300" true \
		--slurpfile a "$TMP/all.json" --arg s "${since}000000000"
	expect findings/since_found_before "$TMP/since.json" \
		"any(.[]; $T_FIRST < \$s)" true --arg s "${since}000000000"
fi
ctl_error findings/sort_bad 2 "--sort: unknown value 'size' (time, bytes, count)" \
	findings --sort size

# --- sizes: -H ----------------------------------------------------------------

# hsizes FILE...: "ID SIZE BYTES" of each row of findings' table (SIZE and
# BYTES are its 8th and 10th words: only LAST holds a blank).
hsizes() {
	awk 'NR > 1 { print $1, $8, $10 }' "$@"
}
if ctl -H findings >"$TMP/h.txt" 2>"$TMP/h.err" && ctl findings >"$TMP/plain.txt"; then
	jq -r '.[] | "\(.id) \(.size) \(.bytes)"' "$TMP/all.json" >"$TMP/exact"
	numfmt -d " " --to=iec --field=2,3 <"$TMP/exact" >"$TMP/want.h"
	hsizes "$TMP/h.txt" >"$TMP/got.h"
	if [[ $(wc -l <"$TMP/got.h") == 300 ]] && cmp -s "$TMP/want.h" "$TMP/got.h" &&
		grep -q '[0-9]K$' "$TMP/got.h" && grep -q '[0-9]\.[0-9]K ' "$TMP/got.h"; then
		pass sizes/findings_human
	else
		fail sizes/findings_human "-H differs from numfmt --to=iec: $(diff "$TMP/want.h" "$TMP/got.h" | head -n 3)"
	fi
	hsizes "$TMP/plain.txt" >"$TMP/got.plain"
	if cmp -s "$TMP/exact" "$TMP/got.plain"; then
		pass sizes/findings_exact
	else
		fail sizes/findings_exact "without -H: $(diff "$TMP/exact" "$TMP/got.plain" | head -n 3)"
	fi
else
	fail sizes/findings_human "memwatchctl -H findings: $(cat "$TMP/h.err")"
fi
# top: BYTES (4th column) as numfmt prints the JSON's bytes.
if query sizes/top "$TMP/top.json" top && ctl --human-readable top >"$TMP/top.txt"; then
	jq -r '.[].bytes' "$TMP/top.json" | numfmt --to=iec >"$TMP/want.top"
	awk 'NR > 1 { print $(NF - 4) }' "$TMP/top.txt" >"$TMP/got.top"
	if [[ -s $TMP/got.top ]] && cmp -s "$TMP/want.top" "$TMP/got.top"; then
		pass sizes/top_human
	else
		fail sizes/top_human "$(diff "$TMP/want.top" "$TMP/got.top" | head -n 3)"
	fi
fi

# --- units in memwatchd's options and settings ----------------------------------

# daemon_ok NAME ARGS...: memwatchd ARGS --check-config accepts them.
daemon_ok() {
	local name=$1 rc=0
	shift
	"$MEMWATCHD" --db "$TMP/check.db" "$@" --check-config >"$TMP/d.out" 2>&1 || rc=$?
	if [[ $rc == 0 ]]; then
		pass "units/$name"
	else
		fail "units/$name" "memwatchd $* refused: $(cat "$TMP/d.out")"
	fi
}
# daemon_bad NAME MESSAGE ARGS...: it exits 2 with the one line
# "memwatchd: MESSAGE".
daemon_bad() {
	local name=$1 msg=$2 rc=0
	shift 2
	"$MEMWATCHD" --db "$TMP/check.db" "$@" --check-config >"$TMP/d.out" 2>"$TMP/d.err" || rc=$?
	if [[ $rc == 2 && $(cat "$TMP/d.err") == "memwatchd: $msg" ]]; then
		pass "units/$name"
	else
		fail "units/$name" "exit $rc, stderr '$(cat "$TMP/d.err")', want 2 and 'memwatchd: $msg'"
	fi
}
daemon_ok grace_units --grace 5s --persist-age 250ms --orphan-age 1m --sample 1s \
	--growth-horizon 2h --growth-min 256K --retention-min 1G --unwind-bytes 8K
daemon_ok plain_numbers --grace 500 --growth-min 256 --retention-min 32 --max-db-mb 1024
# Scaled, as each bound shows: 1h is 3600000 ms, 60m too, 61m is not.
daemon_ok grace_bound --grace 1h
daemon_ok grace_bound_m --grace 60m
daemon_bad grace_past "--grace: invalid value '61m' (0 to 3600000 ms; units ms, s, m, h)" \
	--grace 61m
daemon_bad grace_bad "--grace: invalid value '5x' (0 to 3600000 ms; units ms, s, m, h)" \
	--grace 5x
daemon_bad grace_fraction "--grace: invalid value '1.5s' (0 to 3600000 ms; units ms, s, m, h)" \
	--grace 1.5s
daemon_bad sample_min "--sample: invalid value '9ms' (10 to 3600000 ms; units ms, s, m, h)" \
	--sample 9ms
# --max-db-mb: MiB, 16 or more: 16M and 16384K are, 15M and 16383K not.
daemon_ok max_db_k --max-db-mb 16384K
daemon_ok max_db_g --max-db-mb 1G
daemon_bad max_db_small "--max-db-mb: invalid value '15M' (0, or 16 to 16777216 MiB; units K, M, G)" \
	--max-db-mb 15M
daemon_bad max_db_whole "--max-db-mb: invalid value '16383K' (0, or 16 to 16777216 MiB; units K, M, G)" \
	--max-db-mb 16383K
# --ringbuf-mb: a power of two of MiB, at most 1024: 1G is, 2G not.
daemon_ok ringbuf_g --ringbuf-mb 1G
daemon_bad ringbuf_past "--ringbuf-mb: invalid value '2G' (1 to 1024 MiB; units K, M, G)" \
	--ringbuf-mb 2G
daemon_bad growth_min_past "--growth-min: invalid value '2048G' (1 to 1073741824 KiB; units K, M, G)" \
	--growth-min 2048G
daemon_bad growth_min_k "--growth-min: invalid value '256k' (1 to 1073741824 KiB; units K, M, G)" \
	--growth-min 256k
# The same in a file, as its settings are the options.
printf 'grace 5s\ngrowth-min 256K\nmax-db-mb 1G\n' >"$TMP/units.conf"
daemon_ok file_units --config "$TMP/units.conf"
printf 'grace 5s\ngrowth-min 1.5M\n' >"$TMP/bad_units.conf"
rc=0
"$MEMWATCHD" --config "$TMP/bad_units.conf" --check-config >/dev/null 2>"$TMP/bf.err" || rc=$?
if [[ $rc == 2 && $(cat "$TMP/bf.err") == "$TMP/bad_units.conf:2: growth-min: invalid value '1.5M' (1 to 1073741824 KiB; units K, M, G)" ]]; then
	pass units/file_bad
else
	fail units/file_bad "exit $rc: $(cat "$TMP/bf.err")"
fi

# memwatchctl --since takes the same durations.
query units/since_ms "$TMP/since_ms.json" findings --since 86400000ms &&
	expect units/since_ms "$TMP/since_ms.json" '. == $a[0]' true \
		--slurpfile a "$(ctl --json findings --since 1d >"$TMP/since_d.json"; echo "$TMP/since_d.json")"
ctl_error units/since_bad 2 \
	"--since: invalid time '5x' (seconds since the epoch, or 500ms, 30s, 5m, 2h, 1d ago)" \
	findings --since 5x

# A real trace: --grace 1s is a second (1000 ms), not 1 ms: each of
# tls_nodtor's leaks is decided no sooner than 1 s after its thread died
# (its process lives 1.5 s past them).
DB=$TMP/trace.db
trace --grace 1s -- "$WL/tls_nodtor" 4 64
if [[ $TRACE_RC == 0 ]] && query units/trace "$TMP/trace.json" findings; then
	expect units/grace_1s "$TMP/trace.json" \
		"[.[] | select(.kind == \"tls-outlived-thread\")] as \$f |
		 (\$f | length) == 4 and all(\$f[]; $T_FOUND - $T_TRIGGER >= 1e9)" true
else
	fail units/trace "memwatchd --grace 1s exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi
DB=$TMP/cli.db

# --- JSON: times and keys -------------------------------------------------------

RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{9}Z$'
# Every *_ts of every finding with its *_ts_ns: both null, or the time
# its number says (the seconds as jq's own todate writes them, then the
# ns). Seven times a finding (ack_ts too).
expect json/times "$TMP/all.json" \
	'[.[] | . as $f | keys[] | select(endswith("_ts")) | . as $k |
	  [$f[$k], $f[$k + "_ns"]] | . as [$v, $n] |
	  ($v == null and $n == null) or
	  (($v | test($re)) and ($n | test("^[0-9]{19}$")) and
	   $v[0:19] + "Z" == ($n[0:10] | tonumber | todate) and $v[20:29] == $n[10:19])
	  ] | (length == 300 * 7) and all' true --arg re "$RFC3339"
# Exactly the database's numbers, which jq 1.6 could not hold as numbers.
sqlite3 "$DB" "SELECT id || ' ' || last_ts || ' ' || found_ts FROM findings ORDER BY id" \
	>"$TMP/db.ts"
jq -r 'sort_by(.id)[] | "\(.id) \(.last_ts_ns) \(.found_ts_ns)"' "$TMP/all.json" >"$TMP/json.ts"
if [[ $(wc -l <"$TMP/db.ts") == 300 ]] && cmp -s "$TMP/db.ts" "$TMP/json.ts"; then
	pass json/ns_exact
else
	fail json/ns_exact "$(diff "$TMP/db.ts" "$TMP/json.ts" | head -n 3)"
fi
expect json/open_resolved_null "$TMP/all.json" \
	'all(.[]; .resolved_ts == null and .resolved_ts_ns == null)' true
# Keys: null (and generation null) exactly when the finding is about no
# key, as the database's generation 0 says; key 0 is a key like another.
sqlite3 "$DB" "SELECT id FROM findings WHERE generation = 0 ORDER BY id" >"$TMP/db.nokey"
jq -r '[.[] | select(.key == null and .generation == null) | .id] | sort[]' \
	"$TMP/all.json" >"$TMP/json.nokey"
if [[ -s $TMP/db.nokey ]] && cmp -s "$TMP/db.nokey" "$TMP/json.nokey"; then
	pass json/no_key_null
else
	fail json/no_key_null "$(diff "$TMP/db.nokey" "$TMP/json.nokey" | head -n 3)"
fi
expect json/key_zero_real "$TMP/all.json" \
	'any(.[]; .key == 0 and .generation >= 1) and
	 all(.[] | select(.kind == "tls-outlived-thread"); .key != null)' true
# explain says the same.
id0=$(jqv "$TMP/all.json" 'first(.[] | select(.key == null)) | .id')
query json/explain "$TMP/explain.json" explain "$id0" &&
	expect json/explain_no_key "$TMP/explain.json" \
		'[.key, .generation, (.first_ts | test($re)), (.first_ts_ns | type)]' \
		'[null,null,true,"string"]' --arg re "$RFC3339"
# CSV: the same two fields a time, empty fields for no key.
if ctl export csv findings -o "$TMP/f.csv" 2>"$TMP/f.csv.err" &&
	python3 - "$TMP/f.csv" "$TMP/all.json" >"$TMP/csv.out" 2>&1 <<'PY'; then
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
objs = {o["id"]: o for o in json.load(open(sys.argv[2]))}
assert len(rows) == 300, len(rows)
for r in rows:
    o = objs[int(r["id"])]
    assert r["last_ts"] == o["last_ts"] and r["last_ts_ns"] == o["last_ts_ns"], r["id"]
    assert (r["key"] == "") == (o["key"] is None), r["id"]
PY
	pass json/csv_same
else
	fail json/csv_same "$(cat "$TMP/f.csv.err" "$TMP/csv.out" 2>/dev/null | head -n 3)"
fi

# --- write errors on standard output ---------------------------------------------

# Each command's output to /dev/full (every write fails with ENOSPC): exit
# status 1 and one line saying so; to /dev/null the same command exits 0.
for args in "-j live" "live" "-j findings" "findings" "-H top" "--help" "help" \
	"--version" "-j explain $id0" "export json findings" "-j status"; do
	name=full/${args// /_}
	rc=0
	# shellcheck disable=SC2086  # args is words
	ctl $args >/dev/full 2>"$TMP/full.err" || rc=$?
	rc0=0
	# shellcheck disable=SC2086
	ctl $args >/dev/null 2>"$TMP/null.err" || rc0=$?
	if [[ $rc == 1 && $rc0 == 0 && $(wc -l <"$TMP/full.err") == 1 ]] &&
		grep -q '^memwatchctl: \(write error on standard output\|cannot write .stdout.\)' "$TMP/full.err"; then
		pass "$name"
	else
		fail "$name" "to /dev/full: exit $rc, stderr '$(head -c 200 "$TMP/full.err")'; to /dev/null: exit $rc0"
	fi
done

# --- tables: -o, --noheadings, --raw, wide characters -----------------------------

if ctl findings -o ID,BYTES,SITE >"$TMP/o.txt" 2>"$TMP/o.err"; then
	jq -r '.[] | "\(.id) \(.bytes)"' "$TMP/all.json" >"$TMP/want.o"
	awk 'NR > 1 { print $1, $2 }' "$TMP/o.txt" >"$TMP/got.o"
	if [[ $(head -n 1 "$TMP/o.txt") =~ ^ID\ +BYTES\ +SITE$ ]] && cmp -s "$TMP/want.o" "$TMP/got.o"; then
		pass tables/columns
	else
		fail tables/columns "$(head -n 2 "$TMP/o.txt"); $(diff "$TMP/want.o" "$TMP/got.o" | head -n 2)"
	fi
else
	fail tables/columns "$(cat "$TMP/o.err")"
fi
ctl findings -o id,bytes,site >"$TMP/o_lower.txt" 2>&1 || true
if cmp -s "$TMP/o.txt" "$TMP/o_lower.txt"; then
	pass tables/columns_any_case
else
	fail tables/columns_any_case "$(head -n 2 "$TMP/o_lower.txt")"
fi
ctl findings --noheadings -o ID,KIND >"$TMP/nh.txt" 2>&1 || true
if [[ $(wc -l <"$TMP/nh.txt") == 300 ]] && ! grep -q '^ID ' "$TMP/nh.txt" &&
	[[ $(awk '{ print $1 }' "$TMP/nh.txt") == $(jq -r '.[].id' "$TMP/all.json") ]]; then
	pass tables/noheadings
else
	fail tables/noheadings "$(head -n 2 "$TMP/nh.txt")"
fi
# --raw: one space between cells, a cell's blanks escaped: three words a
# line, the time's blank back once unescaped.
ctl findings --raw -n -o ID,LAST,SITE >"$TMP/raw.txt" 2>&1 || true
ctl findings -n -o ID,LAST >"$TMP/aligned.txt" 2>&1 || true
if [[ $(awk 'NF != 3' "$TMP/raw.txt" | wc -l) == 0 && $(wc -l <"$TMP/raw.txt") == 300 ]] &&
	grep -q '\\x20' "$TMP/raw.txt" &&
	[[ $(while read -r i t _; do printf '%s %b\n' "$i" "$t"; done <"$TMP/raw.txt") == \
		$(sed 's/  */ /' "$TMP/aligned.txt") ]]; then
	pass tables/raw
else
	fail tables/raw "$(head -n 2 "$TMP/raw.txt")"
fi
# Those it has: the open list's, and STATE, RESOLVED, REASON it shows
# with --all.
ctl_error tables/unknown_column 2 \
	"-o: unknown column 'SIZES' (ID, KIND, SEV, PID, TID, KEY/GEN, ADDRESS, SIZE, COUNT, BYTES, LAST, STATE, RESOLVED, SITE, REASON)" \
	findings -o ID,SIZES
ctl_error tables/not_a_table 2 \
	"-o: for export's file, or the columns of status, threads, live, keys, findings, top" \
	explain "$id0" -o ID
rc=0
ctl findings -o ID --json >"$TMP/nj.out" 2>"$TMP/nj.err" || rc=$?
if [[ $rc == 2 && $(cat "$TMP/nj.err") == "memwatchctl: -o: columns of a table, not of --json (which prints every field)" ]]; then
	pass tables/not_json
else
	fail tables/not_json "exit $rc: $(cat "$TMP/nj.err")"
fi

# Wide characters: a thread named in CJK (two columns a character) and
# one with a Latin accent (one column, two bytes): in a UTF-8 locale the
# cells after COMM start at the same column of the terminal on every line.
DB=$TMP/wide.db
if "$OUT/gen_db" --blocks 50 --threads 6 --procs 1 --sites 4 --findings 5 --seed 3 \
	"$DB" >"$TMP/gen_wide.out" 2>&1 &&
	sqlite3 "$DB" "UPDATE threads SET comm = '日本語スレッド' WHERE tid = (SELECT min(tid) FROM threads);
		UPDATE threads SET comm = 'Grüße' WHERE tid = (SELECT max(tid) FROM threads);"; then
	LC_ALL=C.UTF-8 ctl threads -o COMM,STATE,TID >"$TMP/wide.txt" 2>&1 || true
	if python3 - "$TMP/wide.txt" >"$TMP/wide.out" 2>&1 <<'PY'; then
import sys, unicodedata
def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert any("日本語" in l for l in lines) and any("Grüße" in l for l in lines), lines
# Where STATE's cell starts on each line: after COMM's cell and its blanks.
starts = {width(l[:len(l) - len(l.split(None, 1)[1])]) for l in lines}
assert len(starts) == 1, (starts, lines)
PY
		pass tables/wide_characters
	else
		fail tables/wide_characters "$(cat "$TMP/wide.out" | head -c 300)"
	fi
else
	fail tables/wide_characters "gen_db: $(tail -n 1 "$TMP/gen_wide.out")"
fi
DB=$TMP/cli.db

# --- --version -------------------------------------------------------------------

# libbpf: what the build's headers say (memwatchctl loads none itself).
libbpf=$(awk '/define LIBBPF_MAJOR_VERSION/ { M = $3 } /define LIBBPF_MINOR_VERSION/ { m = $3 }
	END { if (M != "") print M "." m }' /usr/include/bpf/libbpf_version.h 2>/dev/null || true)
# Without a daemon: the version, the libbpf, and why the kernel's
# features are unknown; exit 0.
if query version/no_daemon "$TMP/v0.json" --version; then
	expect version/no_daemon "$TMP/v0.json" \
		'[.version == $v, .libbpf == $l, .kernel, (.kernel_unknown | test("not running"))]' \
		'[true,true,null,true]' \
		--arg v "$("$MEMWATCHD" --version | awk 'NR == 1 { print $2 }')" --arg l "$libbpf"
fi
# With one: the features it found, which memwatchd --features lists too;
# one of them made missing (MEMWATCH_KERNEL_MISSING, daemon/kernel.h), so
# that both states show.
# shellcheck disable=SC2034  # lib.sh's ctl and start_daemon use DB
DB=$TMP/version.db
export MEMWATCH_KERNEL_MISSING=uprobe_multi
start_daemon --comm no-such-comm
"$MEMWATCHD" --features >"$TMP/features.txt" 2>&1 || true
unset MEMWATCH_KERNEL_MISSING
if wait_until 20 daemon_answers; then
	awk 'NR > 1 && $2 ~ /^(found|missing|masked)$/ { print $1, ($2 == "found") }' "$TMP/features.txt" | sort >"$TMP/want.f"
	if query version/daemon "$TMP/v1.json" --version; then
		jq -r '.kernel.features | to_entries[] | "\(.key) \(if .value then 1 else 0 end)"' \
			"$TMP/v1.json" | sort >"$TMP/got.f"
		if [[ $(wc -l <"$TMP/want.f") -ge 10 ]] && cmp -s "$TMP/want.f" "$TMP/got.f" &&
			grep -qx 'uprobe_multi 0' "$TMP/got.f" && grep -qx 'btf 1' "$TMP/got.f"; then
			pass version/features
		else
			fail version/features "$(diff "$TMP/want.f" "$TMP/got.f" | head -n 3)"
		fi
		expect version/release "$TMP/v1.json" '.kernel.release' "$(uname -r)"
	fi
	ctl --version >"$TMP/v1.txt" 2>&1 || true
	if [[ $(head -n 2 "$TMP/v1.txt") == "memwatchctl $(jqv "$TMP/v0.json" .version)
libbpf $libbpf (memwatch built with it)" ]] &&
		grep -q '^  found: btf ringbuf ' "$TMP/v1.txt" &&
		grep -q "^kernel: Linux $(uname -r); missing: uprobe_multi$" "$TMP/v1.txt"; then
		pass version/text
	else
		fail version/text "$(head -c 400 "$TMP/v1.txt")"
	fi
else
	fail version/daemon "memwatchd did not answer: $(tail -n 2 "$DAEMON_LOG.err")"
fi
ok version/stop "memwatchd did not stop cleanly" stop_daemon
DB=$TMP/cli.db

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
