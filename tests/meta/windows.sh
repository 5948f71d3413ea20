#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317  # the cases are functions called through ok
# tests/meta/windows.sh - the Windows collector, cross-compiled with
# mingw-w64 (`make windows`) and run under wine.
#   - the build produces test_etw.exe and memwatchw.exe, PE32+ x86-64;
#   - test_etw.exe, the decoder and scenario tests that also run natively
#     (.output/tests/test_etw), passes under wine: each of its cases is one
#     PASS/FAIL line here (windows/wine_NAME), and the set of cases is the
#     native binary's, so neither build can lose one unnoticed;
#   - memwatchw.exe starts under wine: --help, --log keeps its messages,
#     one-line errors with a non-zero exit for bad input, and the SQLite
#     functions it checks for are those of its import library;
#   - the Windows store writes a real SQLite file under wine: test_etw.exe
#     --db runs the two scenarios (thread_local blocks of 10,000 exited
#     threads, a DLL unloaded under live threads) into a database, which
#     holds the same findings as the native build's and which the Linux
#     memwatchctl reads;
#   - memwatchctl.exe import writes the database the Linux one writes from
#     a heap trace (tests/win/etl_heap.py), and refuses a file that is no
#     trace in one line;
#   - memwatchctl.exe prints what the Linux memwatchctl prints, byte for
#     byte (pprof: but the export's time), for every query and export, on
#     that database and on a
#     synthetic one (gen_db), and says in one line what it cannot do
#     (talk to a daemon; run without winsqlite3.dll).
# Wine has no winsqlite3.dll: the store runs over a test stand-in,
# tests/win/winsqlite3_shim.c, a Winelib DLL over Debian's SQLite.
# Wine's ETW functions are stubs that report success, so nothing here
# relies on a live session (docs/WINDOWS.md says what is verified where).
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

WOUT=$OUT/mingw
export WINEPREFIX=$TMP/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

# wine64 is /usr/lib/wine/wine64 on Debian, /usr/bin/wine64 elsewhere.
WINE=
for w in wine64 /usr/lib/wine/wine64 wine; do
	if command -v "$w" >/dev/null 2>&1; then
		WINE=$(command -v "$w")
		break
	fi
done

# wine_run OUT ERR EXE ARGS...: run a program under wine; its status.
# Wine's own chatter goes to ERR, never into the results.
wine_run() {
	local out=$1 err=$2
	shift 2
	timeout 120 "$WINE" "$@" >"$out" 2>"$err" </dev/null
}

build() {
	(cd "$ROOT" && make -s windows) >"$TMP/build.out" 2>&1 || {
		WHY=$(tail -5 "$TMP/build.out")
		return 1
	}
}

# u16/u32 FILE OFFSET: a little-endian number read from a file.
u16() { od -An -tu2 -j "$2" -N2 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }

# Both programs are PE32+ for x86-64: "PE\0\0" at e_lfanew, machine
# 0x8664, optional header magic 0x20b.
pe64() {
	local f pe
	for f in "$WOUT/test_etw.exe" "$WOUT/memwatchw.exe" "$WOUT/memwatchctl.exe"; do
		pe=$(u32 "$f" 60)
		if [[ $(u32 "$f" "$pe") != 17744 || $(u16 "$f" $((pe + 4))) != 34404 ||
			$(u16 "$f" $((pe + 24))) != 523 ]]; then
			WHY="$f is no x86-64 PE32+ image"
			return 1
		fi
	done
}

if [[ -z $WINE ]]; then
	fail setup "wine64 not found (make deps installs it)"
fi
ok build "make windows failed" build
ok pe32plus "not x86-64 PE32+ executables" pe64

# The wine prefix is made once, quietly, before anything is timed.
"$WINE" wineboot -i >"$TMP/wineboot.out" 2>&1 || true

rc=0
wine_run "$TMP/test_etw.out" "$TMP/test_etw.err" "$WOUT/test_etw.exe" || rc=$?
# Each case of the Windows build, renamed into this suite.
tr -d '\r' <"$TMP/test_etw.out" | grep -E '^(PASS|FAIL): ' |
	sed -E 's/^(PASS|FAIL): /\1: windows\/wine_/' || true
wine_cases=$(tr -d '\r' <"$TMP/test_etw.out" | grep -cE '^(PASS|FAIL): ' || true)
ok test_etw_exit "test_etw.exe exited $rc under wine" test "$rc" -eq 0

# The same cases as the native build.
same_cases() {
	local native wine
	native=$("$OUT/tests/test_etw" | grep -E '^(PASS|FAIL): ' |
		sed -E 's/^(PASS|FAIL): //' | sort)
	wine=$(tr -d '\r' <"$TMP/test_etw.out" | grep -E '^(PASS|FAIL): ' |
		sed -E 's/^(PASS|FAIL): //' | sort)
	[[ -n $native && $native == "$wine" ]] || {
		WHY="native: $(echo "$native" | wc -l) cases, wine: $wine_cases"
		return 1
	}
}
if [[ ! -x $OUT/tests/test_etw ]]; then
	(cd "$ROOT" && make -s .output/tests/test_etw) >>"$TMP/build.out" 2>&1 || true
fi
ok same_cases "the wine and native builds run different cases" same_cases

usage() {
	wine_run "$TMP/help.out" "$TMP/help.err" "$WOUT/memwatchw.exe" --help || {
		WHY="exit $?"
		return 1
	}
	tr -d '\r' <"$TMP/help.out" | grep -q -- '--pid PID' || {
		WHY=$(head -3 "$TMP/help.out")
		return 1
	}
}
ok help "memwatchw.exe --help" usage

# memwatchw checks, before opening the database, that winsqlite3.dll has
# each function of the import library: its list and the .def agree.
sqlite_names() {
	local def src
	def=$(sed -n '/^EXPORTS/,$p' "$ROOT/win/winsqlite3.def" | grep '^sqlite3_' | sort)
	src=$(grep -o '"sqlite3_[a-z0-9_]*"' "$ROOT/win/winsqlite.c" | tr -d '"' | sort)
	[[ -n $def && $def == "$src" ]] || {
		WHY=$(diff <(echo "$def") <(echo "$src") | grep '^[<>]' | tr '\n' ' ')
		return 1
	}
}
ok sqlite_names "win/winsqlite3.def and win/winsqlite.c's check differ" sqlite_names

# bad_input WANT ARGS...: a non-zero exit and one error line, naming WANT.
# Wine may add its own lines to stderr; memwatchw's start "memwatchw: ".
bad_input() {
	local want=$1 rc=0 lines
	shift
	wine_run "$TMP/bad.out" "$TMP/bad.err" "$WOUT/memwatchw.exe" "$@" || rc=$?
	tr -d '\r' <"$TMP/bad.err" | grep '^memwatchw: ' >"$TMP/bad.msg" || true
	lines=$(wc -l <"$TMP/bad.msg")
	if [[ $rc -eq 0 ]]; then
		WHY="exit 0"
		return 1
	fi
	if [[ $lines -ne 1 ]] || ! grep -q -- "$want" "$TMP/bad.msg"; then
		WHY="exit $rc: $(head -3 "$TMP/bad.err")"
		return 1
	fi
}
# --log: each message also goes to the file, with the time. Which
# message does not matter here (under wine, that winsqlite3.dll is
# missing); that both say the same does.
log_file() {
	local msg line
	wine_run "$TMP/log.out" "$TMP/log.err" "$WOUT/memwatchw.exe" \
		--db "$TMP/w.db" --pid 4 --duration 1 --log "$TMP/w.log" || true
	msg=$(tr -d '\r' <"$TMP/log.err" | sed -n 's/^memwatchw: //p' | head -1)
	line=$(tr -d '\r' <"$TMP/w.log" 2>/dev/null | head -1)
	if [[ -z $msg || ! $line =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\  ||
		${line#* } != "$msg" ]]; then
		WHY="stderr: '$msg', log: '$line'"
		return 1
	fi
}
ok log_file "--log does not keep memwatchw's messages" log_file
ok bad_option "an unknown option" bad_input "'--frobnicate'" --frobnicate
ok bad_pid "a pid that is no number" bad_input "'12x'" --db x.db --pid 12x
ok no_pid "no pid to trace" bad_input "no --pid" --db x.db
ok no_db "no database" bad_input "no --db" --pid 4
ok bad_service "an empty service name" bad_input "bad --service" --db x.db --pid 4 --service ""

# --- memwatchctl.exe and the store under wine -------------------------------

# ctl_exe ARGS...: memwatchctl.exe under wine, its output in ctl.out as
# written (binary: no "\r" is added), its errors in ctl.err without
# wine's carriage returns; its status.
ctl_exe() {
	local rc=0
	wine_run "$TMP/ctl.out" "$TMP/ctl.eraw" "$WOUT/memwatchctl.exe" "$@" || rc=$?
	tr -d '\r' <"$TMP/ctl.eraw" >"$TMP/ctl.err"
	return "$rc"
}

# pb_cmp A B: two pprof files hold the same profile. Each is written with
# the time of the export (field 9, time_nanos): the top-level fields are
# compared without it.
pb_cmp() {
	python3 - "$1" "$2" <<'PY'
import gzip, sys

def fields(path):
    b = gzip.open(path).read()
    i, out = 0, []
    def varint():
        nonlocal i
        v = s = 0
        while True:
            c = b[i]; i += 1
            v |= (c & 0x7f) << s; s += 7
            if c < 0x80:
                return v
    while i < len(b):
        start = i
        key = varint()
        if key & 7 == 0:
            varint()
        elif key & 7 == 2:
            n = varint()
            i += n
        else:
            sys.exit("wire type %d" % (key & 7))
        if key >> 3 != 9:
            out.append(b[start:i])
    return out

sys.exit(0 if fields(sys.argv[1]) == fields(sys.argv[2]) else 1)
PY
}

# ctl_fails RC WANT ARGS...: memwatchctl.exe exits RC with one line on
# stderr, "memwatchctl: ...", that contains WANT.
ctl_fails() {
	local want_rc=$1 want=$2 rc=0
	shift 2
	ctl_exe "$@" || rc=$?
	grep '^memwatchctl: ' "$TMP/ctl.err" >"$TMP/ctl.msg" || true
	if [[ $rc != "$want_rc" || $(wc -l <"$TMP/ctl.msg") != 1 ]] ||
		! grep -qF -- "$want" "$TMP/ctl.msg"; then
		WHY="exit $rc (want $want_rc): $(head -2 "$TMP/ctl.err" | tr '\n' ' ')"
		return 1
	fi
}

# Before any winsqlite3.dll is there (as on a Windows older than 10).
ok ctl_no_sqlite "memwatchctl.exe without winsqlite3.dll" \
	ctl_fails 1 "cannot load 'winsqlite3.dll'" --db "$TMP/none.db" findings

# From here on, the stand-in: its placeholder in the prefix's System32
# (memwatchctl loads winsqlite3.dll from there only) and the Winelib DLL.
shim() {
	(cd "$ROOT" && make -s windows-shim) >"$TMP/shim.out" 2>&1 || {
		WHY=$(tail -3 "$TMP/shim.out")
		return 1
	}
	cp "$WOUT/shim/fake/winsqlite3.dll" "$WINEPREFIX/drive_c/windows/system32/" || return 1
	WINEDLLPATH=$(cd "$WOUT/shim" && pwd)
	export WINEDLLPATH
}
ok shim "the winsqlite3.dll stand-in" shim

# --help says which commands are not for Windows.
help_linux_only() {
	ctl_exe --help && grep -q "Linux only" "$TMP/ctl.out"
}
ok ctl_help "memwatchctl.exe --help does not say the daemon commands are Linux only" \
	help_linux_only
ok ctl_needs_daemon "a daemon command" \
	ctl_fails 2 "needs memwatchd" --db "$TMP/none.db" attach 1234
ok ctl_reload "reload" ctl_fails 2 "needs memwatchd" reload
ok ctl_no_db "a database that is not there" \
	ctl_fails 1 "database '$TMP/none.db'" --db "$TMP/none.db" findings

# The two scenarios written by the Windows build under wine, and by the
# native build, each into its own database.
store_wine() {
	local rc=0
	wine_run "$TMP/sw.out" "$TMP/sw.err" "$WOUT/test_etw.exe" --db "$TMP/win.db" || rc=$?
	if [[ $rc != 0 || $(tr -d '\r' <"$TMP/sw.out" | grep -c '^PASS: ') != 2 ]]; then
		WHY="exit $rc: $(cat "$TMP/sw.out" "$TMP/sw.err" | tr -d '\r' | grep -v '^PASS' | head -3 | tr '\n' ' ')"
		return 1
	fi
	[[ $(sqlite3 "$TMP/win.db" 'PRAGMA integrity_check') == ok ]] || {
		WHY="integrity_check failed"
		return 1
	}
}
ok store_wine "test_etw.exe --db under wine" store_wine
"$OUT/tests/test_etw" --db "$TMP/native.db" >"$TMP/sn.out" 2>&1 || true

# What the Linux memwatchctl reads in the Windows-written database: the
# thread_local blocks of 10,000 exited threads as one high finding, and
# one block per live thread of the unloaded DLL.
store_findings() {
	local j
	j=$("$OUT/memwatchctl" --db "$TMP/win.db" -j findings) || {
		WHY="memwatchctl failed"
		return 1
	}
	jq -e '[.[] | select(.kind == "thread-orphan")] | length == 1 and
		(.[0].count == 10000 and .[0].bytes == 640000 and
		 .[0].threads == 10000 and .[0].severity == "high" and
		 (.[0].detail | test("thread_local")))' <<<"$j" >/dev/null &&
		jq -e '[.[] | select(.kind == "tls-outlived-module")] | length > 0 and
		all(.size == 256 and .severity == "high")' <<<"$j" >/dev/null && return 0
	WHY=$(jq -c '[.[] | {kind, count, bytes}]' <<<"$j" | head -c 300)
	return 1
}
ok store_findings "the Windows-written findings, read on Linux" store_findings

# Serials, times and ids are the engine's, fed the same records: both
# builds write the same rows.
same_db() {
	local t a b
	for t in processes threads findings sites stacks live_blocks; do
		a=$(sqlite3 "$TMP/win.db" "SELECT * FROM $t ORDER BY 1" | md5sum)
		b=$(sqlite3 "$TMP/native.db" "SELECT * FROM $t ORDER BY 1" | md5sum)
		if [[ $a != "$b" ]]; then
			WHY="table $t differs"
			return 1
		fi
	done
}
ok same_db "the Windows and native builds wrote different rows" same_db

# A synthetic database with every kind of row, small.
"$OUT/gen_db" --blocks 3000 --threads 300 --procs 3 --sites 40 \
	--findings 30 "$TMP/gen.db" >"$TMP/gen.out" 2>&1 || true

# same_out DB ARGS...: memwatchctl.exe prints what memwatchctl prints.
# mask_ages: the tables' ages (output__age: 850ms, 4.2s, 17m33s, 2h05m,
# 3d04h) as AGE. A running process's blocks age with the clock, and the
# wine run comes a second or more after the native one: the rest of each
# line must still be the same to the byte.
mask_ages() {
	sed -E 's/(^|[[:space:]])[0-9]+(ms|\.[0-9]s|m[0-9]{2}s|h[0-9]{2}m|d[0-9]{2}h)([[:space:]]|$)/\1AGE\3/g'
}

same_out() {
	local db=$1 rc=0 lrc=0
	shift
	"$OUT/memwatchctl" --db "$db" --socket "$TMP/none.sock" "$@" \
		>"$TMP/lin.out" 2>"$TMP/lin.err" || lrc=$?
	ctl_exe --db "$db" --socket "$TMP/none.sock" "$@" || rc=$?
	if [[ $rc != "$lrc" ]]; then
		WHY="exit $rc (linux $lrc): $(head -1 "$TMP/ctl.err")"
		return 1
	elif [[ $* == *pprof* ]]; then
		pb_cmp "$TMP/lin.out" "$TMP/ctl.out" || {
			WHY="the profiles differ"
			return 1
		}
	elif ! cmp -s "$TMP/lin.out" "$TMP/ctl.out" &&
		! cmp -s <(mask_ages <"$TMP/lin.out") <(mask_ages <"$TMP/ctl.out"); then
		WHY="exit $rc (linux $lrc): $(diff "$TMP/lin.out" "$TMP/ctl.out" | head -3 | tr '\n' ' ')"
		return 1
	fi
	[[ -s $TMP/lin.out ]] || {
		WHY="no output"
		return 1
	}
}

# The queries and exports, on both databases. Ids known to exist are
# read from the database, not assumed.
fid=$(sqlite3 "$TMP/win.db" "SELECT min(id) FROM findings" 2>/dev/null)
gtid=$(sqlite3 "$TMP/gen.db" "SELECT tid FROM threads LIMIT 1" 2>/dev/null)
gfid=$(sqlite3 "$TMP/gen.db" "SELECT id FROM findings LIMIT 1" 2>/dev/null)
for db in win gen; do
	ok "ctl_${db}_findings" "findings differ" same_out "$TMP/$db.db" findings
	ok "ctl_${db}_findings_json" "-j findings differ" same_out "$TMP/$db.db" -j findings
	ok "ctl_${db}_status" "status differs" same_out "$TMP/$db.db" status
	ok "ctl_${db}_threads" "threads differ" same_out "$TMP/$db.db" threads --limit all
	ok "ctl_${db}_live" "live differs" same_out "$TMP/$db.db" live --limit all
	ok "ctl_${db}_keys" "keys differ" same_out "$TMP/$db.db" -j keys
	ok "ctl_${db}_top" "top differs" same_out "$TMP/$db.db" top --per thread
	ok "ctl_${db}_csv" "export csv differs" same_out "$TMP/$db.db" export csv live
	ok "ctl_${db}_json" "export json differs" same_out "$TMP/$db.db" export json findings
	ok "ctl_${db}_folded" "export folded differs" same_out "$TMP/$db.db" export folded
	ok "ctl_${db}_pprof" "export pprof differs" same_out "$TMP/$db.db" export pprof
done
ok ctl_explain "explain differs" same_out "$TMP/win.db" explain "$fid"
ok ctl_gen_explain "explain differs" same_out "$TMP/gen.db" explain "$gfid"
ok ctl_gen_thread "thread differs" same_out "$TMP/gen.db" thread "$gtid"

# -o FILE: written complete, the same profile, replacing what was there.
export_file() {
	"$OUT/memwatchctl" --db "$TMP/win.db" -o "$TMP/lin.pb.gz" export pprof || return 1
	echo old >"$TMP/exe.pb.gz"
	ctl_exe --db "$TMP/win.db" -o "$TMP/exe.pb.gz" export pprof || {
		WHY="exit $?: $(head -1 "$TMP/ctl.err")"
		return 1
	}
	pb_cmp "$TMP/lin.pb.gz" "$TMP/exe.pb.gz" || {
		WHY="the files differ"
		return 1
	}
	if compgen -G "$TMP/.exe.pb.gz.*" >/dev/null; then
		WHY="a temporary file was left"
		return 1
	fi
}
ok ctl_export_file "export -o FILE" export_file

# memwatchctl.exe import: the heap trace tests/win/etl_heap.py writes,
# imported by the Windows build under wine and by the Linux one: the same
# rows (-j, as status and threads print them; the findings' and blocks'
# own), and a file that is no trace one line, exit 1, no database.
import_same() {
	python3 "$ROOT/tests/win/etl_heap.py" "$TMP/heap.etl" >/dev/null || return 1
	"$OUT/memwatchctl" import "$TMP/heap.etl" --db "$TMP/heap-lin.db" >/dev/null 2>"$TMP/imp.err" || {
		WHY="linux: $(cat "$TMP/imp.err")"
		return 1
	}
	ctl_exe import "$TMP/heap.etl" --db "$TMP/heap-win.db" || {
		WHY="wine: $(head -1 "$TMP/ctl.err")"
		return 1
	}
	for q in "-j status" "-j threads --limit all" "-j findings --all" "-j live --limit all"; do
		# shellcheck disable=SC2086  # the query's words
		cmp -s <("$OUT/memwatchctl" --db "$TMP/heap-lin.db" $q | grep -v '"daemon"') \
			<("$OUT/memwatchctl" --db "$TMP/heap-win.db" $q | grep -v '"daemon"') || {
			WHY="$q differs"
			return 1
		}
	done
}
ok ctl_import "memwatchctl.exe import" import_same
printf 'no trace at all %.0s' {1..40} >"$TMP/text.etl"
ok ctl_import_bad "import of a file that is no trace" \
	ctl_fails 1 "text.etl: not an ETW trace file" import "$TMP/text.etl" --db "$TMP/text.db"

finish
