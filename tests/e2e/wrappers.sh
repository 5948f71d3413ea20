#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/wrappers.sh - the culprit past allocation wrappers, on
# wrapper_chain (8 threads each leaking 96 bytes through wrapper_leak ->
# my_xmalloc -> my_zmalloc -> malloc; wrapper_hold keeping 5 blocks of
# 4096 bytes through the same wrappers; ten more callers):
#   - automatic (the default): every finding's site is wrapper_leak, top
#     ranks wrapper_hold and wrapper_leak and never a wrapper, the pprof
#     export's leaves are the same (go tool pprof), and explain shows the
#     whole stack with frames #0 and #1 marked as automatic wrappers;
#   - --wrapper REGEX with the automatic rule off (--wrapper-callers 0),
#     and the same from a configuration file: the same culprit, marked as
#     the user's;
#   - with neither: the wrapper is the site, as before (so the two runs
#     above are what moved it).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

LEAK_THREADS=8
LEAK_SIZE=96
HOLD=5
HOLD_SIZE=4096

# run_chain NAME [DAEMON-ARGS...]: trace wrapper_chain into its own
# database, then save findings in $TMP/NAME.json.
run_chain() {
	local name=$1
	shift
	DB=$TMP/$name.db
	trace "$@" -- "$WL/wrapper_chain" "$LEAK_THREADS" "$LEAK_SIZE" "$HOLD"
	if [[ $TRACE_RC == 0 ]]; then
		pass "$name/exit_status"
	else
		fail "$name/exit_status" "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
		return 1
	fi
	query "$name/findings" "$TMP/$name.json" findings
}

# check_culprit NAME WHY: the findings of run NAME name wrapper_leak,
# and explain marks frames #0 and #1 (my_zmalloc, my_xmalloc) as
# wrappers for WHY ("automatic", "--wrapper"), in JSON and in text.
check_culprit() {
	local name=$1 why=$2 f=$TMP/$1.json id
	expect "$name/leaks" "$f" \
		'[.[] | select(.kind == "tls-outlived-thread")] | length' \
		"$LEAK_THREADS"
	expect "$name/site_is_culprit" "$f" \
		'[.[].site.function] | unique' '["wrapper_leak"]'
	id=$(jqv "$f" '[.[] | select(.kind == "tls-outlived-thread")][0].id // 0')
	if query "$name/explain" "$TMP/$name.explain.json" explain "$id"; then
		expect "$name/explain_frames" "$TMP/$name.explain.json" \
			'[.stack.frames[0:3][].function]' \
			'["my_zmalloc","my_xmalloc","wrapper_leak"]'
		expect "$name/explain_culprit" "$TMP/$name.explain.json" \
			'[.stack.culprit_frame, .stack.wrappers, .site.function]' \
			"[2,[\"$why\",\"$why\"],\"wrapper_leak\"]"
	fi
	if ctl explain "$id" >"$TMP/$name.explain.txt" 2>&1; then
		count_in_text "$name/explain_text_marks" "$TMP/$name.explain.txt" \
			"\\[wrapper: $why\\]" 2
		count_in_text "$name/explain_text_says" "$TMP/$name.explain.txt" \
			'frames #0-#1 allocate for their caller: the site is frame #2' 1
		count_in_text "$name/explain_text_site" "$TMP/$name.explain.txt" \
			'^  site .*wrapper_leak' 1
	else
		fail "$name/explain_text" "explain $id failed: $(cat "$TMP/$name.explain.txt")"
	fi
}

# --- automatic --------------------------------------------------------------

if run_chain auto; then
	check_culprit auto automatic
	if query auto/top "$TMP/auto.top.json" top --limit all; then
		expect auto/top_first "$TMP/auto.top.json" \
			'[.[0].site.function, .[0].bytes, .[0].blocks]' \
			"[\"wrapper_hold\",$((HOLD * HOLD_SIZE)),$HOLD]"
		expect auto/top_leak "$TMP/auto.top.json" \
			'[.[] | select(.site.function == "wrapper_leak") | .bytes] | add' \
			$((LEAK_THREADS * LEAK_SIZE))
		expect auto/top_no_wrapper "$TMP/auto.top.json" \
			'[.[] | select(.site.function | test("^my_"))] | length' 0
	fi
	if ! command -v go >/dev/null; then
		fail auto/pprof "go is not installed (apt-get install golang-go)"
	else
		export HOME=$TMP/home GOCACHE=$TMP/gocache GOPATH=$TMP/gopath
		mkdir -p "$HOME"
		unset GOFLAGS
		if ctl export pprof -o "$TMP/auto.pb.gz" 2>"$TMP/auto.pprof.err" &&
			go tool pprof -top -nodefraction=0 -nodecount=100000 -unit=B \
				"$TMP/auto.pb.gz" >"$TMP/auto.pprof.top" 2>"$TMP/auto.pprof.top.err"; then
			pass auto/pprof
			# The leaves (flat) are the culprits; the wrappers are no
			# node at all.
			got=$(awk '$NF == "wrapper_hold" || $NF == "wrapper_leak" {
				f = $1; sub(/B$/, "", f); print $NF, f }' "$TMP/auto.pprof.top" |
				sort | tr '\n' ' ')
			want="wrapper_hold $((HOLD * HOLD_SIZE)) wrapper_leak $((LEAK_THREADS * LEAK_SIZE)) "
			if [[ $got == "$want" ]]; then
				pass auto/pprof_leaves
			else
				fail auto/pprof_leaves "flat '$got', want '$want': $(head -c 600 "$TMP/auto.pprof.top")"
			fi
			count_in_text auto/pprof_no_wrapper "$TMP/auto.pprof.top" ' my_[xz]malloc$' 0
		else
			fail auto/pprof "export or go tool pprof failed: $(cat "$TMP/auto.pprof.err" "$TMP/auto.pprof.top.err" 2>/dev/null | head -c 300)"
		fi
	fi
fi

# --- the user's expression, on the command line and in a file -----------------

if run_chain user --wrapper-callers 0 --wrapper '^my_(x|z)malloc$'; then
	check_culprit user --wrapper
fi
printf '# wrappers of the program\nwrapper-callers 0\nwrapper ^my_xmalloc$\nwrapper ^my_zmalloc$\n' \
	>"$TMP/wrappers.conf"
if run_chain conf --config "$TMP/wrappers.conf"; then
	check_culprit conf --wrapper
fi

# --- neither: the wrapper is the site ----------------------------------------

if run_chain none --wrapper-callers 0; then
	expect none/site_is_wrapper "$TMP/none.json" \
		'[.[].site.function] | unique' '["my_zmalloc"]'
	id=$(jqv "$TMP/none.json" '.[0].id // 0')
	query none/explain "$TMP/none.explain.json" explain "$id" &&
		expect none/no_wrappers "$TMP/none.explain.json" \
			'[.stack.culprit_frame, .stack.wrappers]' '[0,[]]'
fi

finish
