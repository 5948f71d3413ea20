#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317  # the cases are functions called through ok
# tests/meta/etl.sh - the offline reader of ETW trace files
# (win/etl_file.c, win/xca.c) on traces recorded on real Windows
# machines (the folder $MW_ETL_DATA, ../shared/data/etl beside the project by default;
# its README.md says where each file comes from):
#   - ShutdownPerfDiagLogger.etl, a Windows 10 kernel logger trace: the
#     counts its README gives (350 thread starts, 1,032 thread ends, 72
#     image loads, 4,791 image unloads), and every thread and image record
#     the same as tests/win/etl_check.py finds walking the file itself;
#     time order; no loss;
#   - net.4.5.2.x64.etl (unzipped here with python3's zipfile), a PerfView
#     trace relogged with compressed buffers: each of the 480 events of
#     PerfView's own decoding (net.4.5.2.x64.baseline.txt) found at its
#     time, processor, pid, tid and length, kernel ones with the hook id
#     of their name and their fields (images, threads, processes), the
#     header's fields, PerfView's counts of kernel events; every StackWalk
#     record (inline, cached keys, extended data) given with its event,
#     every key resolved, and the frames where the trace's modules are;
#     fed to the collector's decoder (etl_dump --decode, win/etl_feed.c),
#     its Kernel-Process ProcessStop is a process exit with PerfView's
#     pid, exit code and exit time;
#   - damaged files (truncated, a corrupted record, a damaged LZ77 stream,
#     no ETW at all, empty, missing) give a one-line error and exit 1.
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"
# Each case checks its own steps' status: no exit at the first failure.
set +e
DATA=${MW_ETL_DATA:-$ROOT/../shared/data/etl}
DUMP=$OUT/tests/etl_dump
CHECK=$ROOT/tests/win/etl_check.py

for need in "$DUMP:built by make tests" "$DATA/ShutdownPerfDiagLogger.etl:the test data" \
	"$DATA/net.4.5.2.x64.etl.zip:the test data" "$DATA/net.4.5.2.x64.baseline.txt:the test data"; do
	if [[ ! -e ${need%%:*} ]]; then
		fail setup "${need%%:*} is missing (${need#*:})"
		exit 1
	fi
done
if ! command -v python3 >/dev/null; then
	fail setup "python3 is not installed (make deps)"
	exit 1
fi

# checks KIND FILE DUMP: etl_check.py's lines as cases.
checks() {
	local line
	if ! python3 "$CHECK" "$1" "$2" "$3" >"$TMP/check.out" 2>"$TMP/check.err"; then
		fail "$1" "etl_check.py failed: $(tail -1 "$TMP/check.err")"
		return
	fi
	while read -r line; do
		case $line in
		ok\ *) pass "${line#ok }" ;;
		bad\ *) line=${line#bad }; fail "${line%%:*}" "${line#*: }" ;;
		figure\ *) echo "# ${line#figure }" ;;
		esac
	done <"$TMP/check.out"
}

# --- the kernel logger trace ---------------------------------------------
SD=$DATA/ShutdownPerfDiagLogger.etl
if "$DUMP" --hex "$SD" >"$TMP/sd.out" 2>"$TMP/sd.err"; then
	pass shutdown_read
	grep '^info' "$TMP/sd.out" | sed 's/^/# /'
	checks shutdown "$SD" "$TMP/sd.out"
else
	fail shutdown_read "$(cat "$TMP/sd.err")"
fi

# --- the PerfView trace ----------------------------------------------------
unzip_net() {
	python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("net.4.5.2.x64.etl", sys.argv[2])' \
		"$DATA/net.4.5.2.x64.etl.zip" "$TMP" 2>"$TMP/unzip.err" || {
		WHY=$(tail -1 "$TMP/unzip.err")
		return 1
	}
}
ok unzip "python3 zipfile could not extract net.4.5.2.x64.etl" unzip_net
NET=$TMP/net.4.5.2.x64.etl
if "$DUMP" --hex --stacks "$NET" >"$TMP/net.out" 2>"$TMP/net.err"; then
	pass net_read
	grep '^info' "$TMP/net.out" | sed 's/^/# /'
	checks baseline "$DATA/net.4.5.2.x64.baseline.txt" "$TMP/net.out"
else
	fail net_read "$(cat "$TMP/net.err")"
fi
# The same trace through the Windows collector's decoder (win/etl_feed.c).
if "$DUMP" --decode "$NET" >"$TMP/dec.out" 2>"$TMP/dec.err"; then
	pass net_decode
	grep '^info' "$TMP/dec.out" | sed 's/^/# /'
	checks decoded "$DATA/net.4.5.2.x64.baseline.txt" "$TMP/dec.out"
else
	fail net_decode "$(cat "$TMP/dec.err")"
fi

# --- damaged input -----------------------------------------------------------
# bad NAME FILE PATTERN: etl_dump exits 1 with one line on stderr that
# holds PATTERN, and nothing crashes.
bad() {
	local rc=0
	"$DUMP" "$2" >/dev/null 2>"$TMP/bad.err" || rc=$?
	if [[ $rc -ne 1 ]]; then
		WHY="exit status $rc"
		return 1
	fi
	if [[ $(wc -l <"$TMP/bad.err") -ne 1 ]] || ! grep -q -- "$3" "$TMP/bad.err"; then
		WHY=$(cat "$TMP/bad.err")
		return 1
	fi
}
# patch FILE OFFSET HEX: bytes replaced in place.
patch() {
	local hex=$3 bytes='' i
	for ((i = 0; i < ${#hex}; i += 2)); do
		bytes+="\\x${hex:i:2}"
	done
	printf '%b' "$bytes" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
head -c 1000000 "$NET" >"$TMP/cut.etl"
ok truncated "a cut file is not reported" bad truncated "$TMP/cut.etl" 'truncated'
head -c 100 "$SD" >"$TMP/short.etl"
ok truncated_header "a file of 100 bytes is not reported" bad truncated_header "$TMP/short.etl" 'truncated'
# The second buffer's first record (0x10048): its marker byte cleared.
cp "$SD" "$TMP/marker.etl"
patch "$TMP/marker.etl" $((0x1004b)) 00
ok corrupt_marker "a record without its marker is not reported" \
	bad corrupt_marker "$TMP/marker.etl" 'buffer 1 .*no trace header marker'
# The same record's size made larger than its buffer.
cp "$SD" "$TMP/size.etl"
patch "$TMP/size.etl" $((0x1004c)) ffff
ok corrupt_size "a record past its buffer is not reported" \
	bad corrupt_size "$TMP/size.etl" 'buffer 1 .*past the buffer'
# The second buffer (at 0x200, compressed): its LZ77 stream made to
# start with a match 8 KiB back, before anything was written.
cp "$NET" "$TMP/lz.etl"
patch "$TMP/lz.etl" $((0x248)) fffffffff8ff
ok corrupt_lz77 "a damaged compressed buffer is not reported" \
	bad corrupt_lz77 "$TMP/lz.etl" 'buffer 1 at file offset 0x200: its LZ77 data is damaged'
printf 'this is no trace file at all, just text. %.0s' {1..10} >"$TMP/text.etl"
ok not_etl "a text file is not reported" bad not_etl "$TMP/text.etl" 'not an ETW trace file'
: >"$TMP/empty.etl"
ok empty "an empty file is not reported" bad empty "$TMP/empty.etl" 'no buffer'
ok missing "a missing file is not reported" bad missing "$TMP/none.etl" 'No such file'

finish
