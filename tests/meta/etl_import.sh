#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317  # the cases are functions called through ok
# tests/meta/etl_import.sh - memwatchctl import FILE.etl --db OUT.db
# (ctl/cmd_import.c, win/etl_import.c): ETW trace files through the
# Windows decoder, the engine and the store, read back with the usual
# queries.
#   - the two real traces of $MW_ETL_DATA (../shared/data/etl beside the project, see
#     tests/meta/etl.sh): the processes and threads of the database
#     against tests/win/etl_check.py's own walk of the reader's events
#     (etl_dump --hex), per process;
#   - heap events, which no public trace has: tests/win/etl_heap.py
#     writes a trace where six threads each leave a 64-byte block live
#     and exit, and the main thread reallocates one; memwatchctl live
#     gives every block the script says it left, with its size, thread
#     and site, threads every thread, findings one thread-orphan of the
#     six; its twin whose header says 3 events were lost: the losses in
#     status, the process incomplete from the trace's start, no finding;
#   - bad input (missing, not ETW, empty, truncated): one line naming the
#     file, exit 1, no database left; an existing database refused and
#     left as it was; no --db refused.
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"
# Each case checks its own steps' status: no exit at the first failure.
set +e
DATA=${MW_ETL_DATA:-$ROOT/../shared/data/etl}
CTL=$OUT/memwatchctl
DUMP=$OUT/tests/etl_dump
CHECK=$ROOT/tests/win/etl_check.py
HEAP=$ROOT/tests/win/etl_heap.py

for need in "$CTL:built by make" "$DUMP:built by make tests" \
	"$DATA/ShutdownPerfDiagLogger.etl:the test data" "$DATA/net.4.5.2.x64.etl.zip:the test data"; do
	if [[ ! -e ${need%%:*} ]]; then
		fail setup "${need%%:*} is missing (${need#*:})"
		exit 1
	fi
done
if ! command -v python3 >/dev/null; then
	fail setup "python3 is not installed (make deps)"
	exit 1
fi

# import NAME FILE: memwatchctl import FILE into $TMP/NAME.db, exit 0.
import() {
	if ! "$CTL" import "$2" --db "$TMP/$1.db" >"$TMP/$1.out" 2>"$TMP/$1.err"; then
		WHY=$(cat "$TMP/$1.err")
		return 1
	fi
	echo "# $(cat "$TMP/$1.out")"
}

# checks KIND FILE DUMP: etl_check.py's lines as cases, named PREFIX_...
checks() {
	local prefix=$1 line
	shift
	if ! python3 "$CHECK" "$@" >"$TMP/check.out" 2>"$TMP/check.err"; then
		fail "$prefix" "etl_check.py failed: $(tail -1 "$TMP/check.err")"
		return
	fi
	while read -r line; do
		case $line in
		ok\ *) pass "${prefix}_${line#ok }" ;;
		bad\ *) line=${line#bad }; fail "${prefix}_${line%%:*}" "${line#*: }" ;;
		figure\ *) echo "# ${line#figure }" ;;
		esac
	done <"$TMP/check.out"
}

# queries DB: the usual queries all read it.
queries() {
	local q
	for q in status threads findings live top "findings --all" "export csv live"; do
		# shellcheck disable=SC2086  # the query's words
		if ! "$CTL" --db "$1" $q >/dev/null 2>"$TMP/q.err"; then
			WHY="$q: $(cat "$TMP/q.err")"
			return 1
		fi
	done
}

# --- the real traces ----------------------------------------------------
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("net.4.5.2.x64.etl", sys.argv[2])' \
	"$DATA/net.4.5.2.x64.etl.zip" "$TMP" 2>"$TMP/unzip.err" ||
	fail unzip "$(tail -1 "$TMP/unzip.err")"
for t in shutdown:"$DATA/ShutdownPerfDiagLogger.etl" net:"$TMP/net.4.5.2.x64.etl"; do
	name=${t%%:*} file=${t#*:}
	ok "${name}_import" "the trace was not imported" import "$name" "$file" || continue
	ok "${name}_queries" "a query cannot read the database" queries "$TMP/$name.db"
	if "$DUMP" --hex "$file" >"$TMP/$name.hex" 2>"$TMP/dump.err" &&
		"$CTL" --db "$TMP/$name.db" status --json >"$TMP/$name.json" 2>"$TMP/q.err"; then
		checks "$name" rows "$TMP/$name.json" "$TMP/$name.hex"
	else
		fail "${name}_rows" "$(cat "$TMP/dump.err" "$TMP/q.err")"
	fi
done

# --- heap events ----------------------------------------------------------
python3 "$HEAP" "$TMP/heap.etl" >"$TMP/heap.want" 2>"$TMP/gen.err" ||
	fail heap_write "etl_heap.py: $(tail -1 "$TMP/gen.err")"
python3 "$HEAP" "$TMP/lossy.etl" --lost 3 >/dev/null 2>"$TMP/gen.err" ||
	fail heap_write "etl_heap.py --lost: $(tail -1 "$TMP/gen.err")"
ok heap_import "the heap trace was not imported" import heap "$TMP/heap.etl"
ok heap_queries "a query cannot read the database" queries "$TMP/heap.db"
# Every block the script left live, and no other: address, size, thread,
# site, and its process's name.
heap_live() {
	local got want
	got=$("$CTL" --db "$TMP/heap.db" live --limit all --json | python3 -c '
import json, sys
for b in json.load(sys.stdin):
    print("block %s %d %d %s" % (b["address"], b["size"], b["tid"], b["site"]["ip"]))' | sort)
	want=$(grep '^block' "$TMP/heap.want" | sort)
	[[ -n $want && $got == "$want" ]] || { WHY="live gave [$got], the trace has [$want]"; return 1; }
}
ok heap_live "memwatchctl live is not the blocks the trace left" heap_live
heap_threads() {
	local got want
	got=$("$CTL" --db "$TMP/heap.db" threads --limit all --json |
		python3 -c 'import json, sys; print("\n".join("thread %d" % t["tid"] for t in json.load(sys.stdin)))' | sort)
	want=$(grep '^thread' "$TMP/heap.want" | sort)
	[[ $got == "$want" ]] || { WHY="threads gave [$got], the trace has [$want]"; return 1; }
}
ok heap_threads "memwatchctl threads is not the trace's threads" heap_threads
# Six exited threads each left a 64-byte block at one site: one
# thread-orphan finding there (engine rules: 3 threads at least, in 50 %
# of those that allocated there), counting the six.
heap_finding() {
	local got
	got=$("$CTL" --db "$TMP/heap.db" findings --all --json | python3 -c '
import json, sys
print(" ".join("%s:%s:%d:%d:%d" % (f["kind"], f["site"]["ip"], f["count"], f["bytes"], f["threads"])
               for f in json.load(sys.stdin)))' 2>&1)
	[[ $got == "thread-orphan:0x7ff600002000:6:384:6" ]] || { WHY="findings: $got"; return 1; }
}
ok heap_finding "not the one thread-orphan finding the trace holds" heap_finding
heap_process() {
	local got
	got=$("$CTL" --db "$TMP/heap.db" status --json | python3 -c '
import json, sys
print(" ".join("%d:%s:%s:%d:%d" % (p["pid"], p["comm"], p["state"], p["live_blocks"], p["live_bytes"])
               for p in json.load(sys.stdin)["processes"]))')
	local want
	want=$(awk '/^block/ {n++; s += $3} END {printf "4100:leaky.exe:detached:%d:%d", n, s}' "$TMP/heap.want")
	[[ $got == "$want" ]] || { WHY="status: $got, want $want"; return 1; }
}
ok heap_process "the process row is not the trace's" heap_process
ok lossy_import "the lossy twin was not imported" import lossy "$TMP/lossy.etl"
lossy() {
	local got
	got=$("$CTL" --db "$TMP/lossy.db" status --json | python3 -c '
import json, sys
p = json.load(sys.stdin)["processes"][0]
print("%d:%s:%s" % (p["lost"], p["incomplete_from_ts_ns"] is not None, p["incomplete_to_ts_ns"] is not None))')
	[[ $got == "3:True:True" ]] || { WHY="lost:incomplete_from:to = $got"; return 1; }
	got=$("$CTL" --db "$TMP/lossy.db" findings --all --json)
	[[ $got == "[]" ]] || { WHY="findings on lost evidence: $got"; return 1; }
}
ok lossy_withheld "the trace's losses are not the process's, or a finding rests on them" lossy

# --- bad input --------------------------------------------------------------
# bad NAME FILE PATTERN: exit 1, one line on stderr naming FILE and
# holding PATTERN, and no database (nor a temporary one) left.
bad() {
	local rc=0
	"$CTL" import "$2" --db "$TMP/bad-$1.db" >/dev/null 2>"$TMP/bad.err" || rc=$?
	if [[ $rc -ne 1 ]]; then
		WHY="exit status $rc: $(cat "$TMP/bad.err")"
		return 1
	fi
	if [[ $(wc -l <"$TMP/bad.err") -ne 1 ]] || ! grep -qF -- "$2" "$TMP/bad.err" ||
		! grep -q -- "$3" "$TMP/bad.err"; then
		WHY=$(cat "$TMP/bad.err")
		return 1
	fi
	if compgen -G "$TMP/bad-$1.db*" >/dev/null; then
		WHY="left $(echo "$TMP"/bad-"$1".db*)"
		return 1
	fi
}
ok missing "a missing file is not reported" bad missing "$TMP/none.etl" 'No such file'
printf 'this is no trace file at all, just text. %.0s' {1..10} >"$TMP/text.etl"
ok not_etl "a text file is not reported" bad not_etl "$TMP/text.etl" 'not an ETW trace file'
: >"$TMP/empty.etl"
ok empty "an empty file is not reported" bad empty "$TMP/empty.etl" 'no buffer'
head -c 1000000 "$TMP/net.4.5.2.x64.etl" >"$TMP/cut.etl"
ok truncated "a cut trace is not reported" bad truncated "$TMP/cut.etl" 'truncated'
head -c 100 "$TMP/heap.etl" >"$TMP/short.etl"
ok truncated_header "a trace cut in its header is not reported" bad truncated_header "$TMP/short.etl" 'truncated'
# An existing database is refused and left as it was; an empty file is
# replaced.
existing() {
	local before rc=0
	before=$(cksum <"$TMP/heap.db")
	"$CTL" import "$TMP/lossy.etl" --db "$TMP/heap.db" >/dev/null 2>"$TMP/ex.err" || rc=$?
	if ! [[ $rc -eq 1 && $(wc -l <"$TMP/ex.err") -eq 1 ]] || ! grep -q 'exists' "$TMP/ex.err"; then
		WHY="exit $rc: $(cat "$TMP/ex.err")"
		return 1
	fi
	[[ $(cksum <"$TMP/heap.db") == "$before" ]] || { WHY="the database changed"; return 1; }
	: >"$TMP/empty.db"
	"$CTL" import "$TMP/heap.etl" --db "$TMP/empty.db" >/dev/null 2>"$TMP/ex.err" ||
		{ WHY="an empty file: $(cat "$TMP/ex.err")"; return 1; }
	"$CTL" --db "$TMP/empty.db" live >/dev/null 2>"$TMP/ex.err" || { WHY=$(cat "$TMP/ex.err"); return 1; }
}
ok existing_db "an existing database is not refused, or an empty file not used" existing
no_db() {
	local rc=0
	"$CTL" import "$TMP/heap.etl" >/dev/null 2>"$TMP/nodb.err" || rc=$?
	if ! [[ $rc -eq 2 && $(wc -l <"$TMP/nodb.err") -eq 1 ]] || ! grep -q -- '--db' "$TMP/nodb.err"; then
		WHY="exit $rc: $(cat "$TMP/nodb.err")"
		return 1
	fi
}
ok no_db "import without --db is not refused" no_db

finish
