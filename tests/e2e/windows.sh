#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317  # the cases are functions called through ok
# tests/e2e/windows.sh - the Windows collector, cross-compiled with
# mingw-w64 (`make windows`) and run under wine.
#   - the build produces test_etw.exe and memwatchw.exe, PE32+ x86-64;
#   - test_etw.exe, the decoder and scenario tests that also run natively
#     (.output/tests/test_etw), passes under wine: each of its cases is one
#     PASS/FAIL line here (windows/wine_NAME), and the set of cases is the
#     native binary's, so neither build can lose one unnoticed;
#   - memwatchw.exe starts under wine: --help, --log keeps its messages,
#     one-line errors with a non-zero exit for bad input, and the SQLite
#     functions it checks for are those of its import library.
# Wine's ETW functions are stubs that report success, so nothing here
# relies on a live session (docs/WINDOWS.md says what is verified where).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

WOUT=$OUT/win
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
	for f in "$WOUT/test_etw.exe" "$WOUT/memwatchw.exe"; do
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
	src=$(grep -o '"sqlite3_[a-z0-9_]*"' "$ROOT/win/memwatchw.c" | tr -d '"' | sort)
	[[ -n $def && $def == "$src" ]] || {
		WHY=$(diff <(echo "$def") <(echo "$src") | grep '^[<>]' | tr '\n' ' ')
		return 1
	}
}
ok sqlite_names "win/winsqlite3.def and memwatchw's check differ" sqlite_names

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

finish
