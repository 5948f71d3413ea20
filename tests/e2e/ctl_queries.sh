#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/ctl_queries.sh - memwatchctl's top and thread commands on real
# traces. tls_nodtor 8 4096: 8 workers each leak one 4096-byte block from
# tls_nodtor_alloc, so top must rank that site first with 8 blocks, 32768
# bytes and 8 threads, and `thread TID` of a worker must show it exited
# with its one 4096-byte block. tls_overwrite 4 5 256: while its workers
# live each holds a TLS binding, which `thread TID` must show; after the
# run each worker has 4 live 256-byte blocks, which --limit cuts. Bad
# inputs exit 1 (runtime) or 2 (usage) with one line on stderr, and with
# --json print {"error": ...} on stdout.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# err_case NAME RC MESSAGE ARGS...: `memwatchctl ARGS` exits with RC and
# prints exactly "memwatchctl: MESSAGE" on stderr; with --json as well,
# plus {"error": MESSAGE} on stdout.
err_case() {
	local name=$1 want=$2 msg=$3 f=$TMP/${1//\//_} rc=0 got
	shift 3
	ctl_error "$name" "$want" "$msg" "$@"
	ctl --json "$@" >"$f.json" 2>"$f.json.err" </dev/null || rc=$?
	got=$(cat "$f.json.err")
	if [[ $rc != "$want" ]]; then
		fail "$name/json" "exit status $rc, want $want; stderr: $got"
	elif [[ $got != "memwatchctl: $msg" ]]; then
		fail "$name/json" "stderr '$got', want 'memwatchctl: $msg'"
	else
		expect "$name/json" "$f.json" '.' \
			"$(jq -nc --arg m "$msg" '{error: $m}')"
	fi
}

# --- tls_nodtor: top ----------------------------------------------------------

trace -- "$WL/tls_nodtor" 8 4096
if [[ $TRACE_RC == 0 ]]; then
	pass nodtor/exit_status
else
	fail nodtor/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi
pid=0
if query nodtor/status "$TMP/status.json" status; then
	pid=$(jqv "$TMP/status.json" \
		'first(.processes[] | select(.comm == "tls_nodtor") | .pid) // 0')
fi
if [[ $pid == 0 ]]; then
	fail nodtor/pid "tls_nodtor not in status: $(head -c 300 "$TMP/status.json")"
else
	pass nodtor/pid
fi

if query top "$TMP/top.json" top; then
	expect top/first_site "$TMP/top.json" '.[0].site.function' tls_nodtor_alloc
	expect top/first_row "$TMP/top.json" \
		'.[0] | [.pid, .blocks, .bytes, .threads, has("tid")]' \
		"[$pid,8,32768,8,false]"
	# The process lived 1.5 s past its allocations: all of them fall in
	# its last 10 s of tracing.
	expect top/growth "$TMP/top.json" '.[0] | [.new_10s, .prev_10s]' \
		'[32768,0]'
	expect top/site_file "$TMP/top.json" \
		'.[0].site | [(.file | endswith("tls_nodtor.c")), .line > 0]' \
		'[true,true]'
	expect top/by_bytes_sorted "$TMP/top.json" \
		'[.[].bytes] as $b | ($b | length > 1) and $b == ($b | sort | reverse)' \
		true
fi

# OLDEST is the oldest of the site's live blocks, as `live` lists them.
if query live "$TMP/live.json" live; then
	expect top/oldest_ts "$TMP/top.json" \
		'.[0].oldest_ts == ($l[0] | map(select(.site.function == "tls_nodtor_alloc") | .ts) | min)' \
		true --slurpfile l "$TMP/live.json"
fi

query top_blocks "$TMP/top_blocks.json" top --by blocks &&
	expect top_blocks/sorted "$TMP/top_blocks.json" \
		'[.[].blocks] as $b | [($b | length > 1), $b == ($b | sort | reverse),
		  (.[] | select(.site.function == "tls_nodtor_alloc") | .blocks)]' \
		'[true,true,8]'

# Per thread: the site is one row of 1 block for each of the 8 workers.
if query top_thread "$TMP/top_thread.json" top --per thread --limit 100; then
	expect top_thread/rows "$TMP/top_thread.json" \
		'[.[] | select(.site.function == "tls_nodtor_alloc") |
		  [.blocks, .bytes, .threads]] | unique' '[[1,4096,1]]'
	expect top_thread/tids "$TMP/top_thread.json" \
		'[.[] | select(.site.function == "tls_nodtor_alloc" and
		  .tid != $p) | .tid] | unique | length' 8 --argjson p "$pid"
fi

query top_limit "$TMP/top_limit.json" top --limit 1 &&
	expect top_limit "$TMP/top_limit.json" '[length, .[0].bytes]' '[1,32768]'
query top_pid "$TMP/top_pid.json" top --pid "$pid" &&
	expect top_pid "$TMP/top_pid.json" '[.[].pid] | unique' "[$pid]"
nopid=$(($(cat /proc/sys/kernel/pid_max) + 1))
query top_other_pid "$TMP/top_other_pid.json" top --pid "$nopid" &&
	expect top_other_pid "$TMP/top_other_pid.json" 'length' 0

# The table for people: one row for the site, with its numbers.
if ctl top >"$TMP/top.txt" 2>"$TMP/top.txt.err"; then
	got=$(head -n 1 "$TMP/top.txt" | tr -s ' ')
	if [[ $got == "PID SITE BLOCKS BYTES OLDEST THREADS NEW_10S PREV_10S" ]]; then
		pass top_text/header
	else
		fail top_text/header "header '$got'"
	fi
	count_in_text top_text/site_rows "$TMP/top.txt" tls_nodtor_alloc 1
	# PID SITE(2 words) BLOCKS BYTES OLDEST THREADS NEW_10S PREV_10S
	got=$(awk '/tls_nodtor_alloc/ { print $1, $4, $5, $7, $8, $9 }' "$TMP/top.txt")
	if [[ $got == "$pid 8 32768 8 32768 0" ]]; then
		pass top_text/site_row
	else
		fail top_text/site_row "row '$got', want '$pid 8 32768 8 32768 0'"
	fi
else
	fail top_text "memwatchctl top failed: $(cat "$TMP/top.txt.err")"
fi

# --- tls_nodtor: thread -------------------------------------------------------

# A leaking worker, and the address of its block, from its finding.
tid=0
if query nodtor/findings "$TMP/findings.json" findings; then
	expect nodtor/findings "$TMP/findings.json" 'length' 8
	tid=$(jqv "$TMP/findings.json" '.[0].tid // 0')
	addr=$(jqv "$TMP/findings.json" '.[0].address')
fi
if [[ $tid == 0 || $tid == "$pid" ]]; then
	fail thread/tid "no worker tid in the findings"
elif query thread "$TMP/thread.json" thread "$tid"; then
	expect thread/count "$TMP/thread.json" 'length' 1
	expect thread/row "$TMP/thread.json" \
		'.[0].thread | [.pid, .tid, .state, .comm, .live_blocks, .live_bytes, .allocs, .alloc_bytes]' \
		"[$pid,$tid,\"exited\",\"tls_nodtor\",1,4096,1,4096]"
	expect thread/times "$TMP/thread.json" \
		'.[0].thread | (.start_ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[.][0-9]{9}Z$")) and .exit_ts >= .start_ts' true
	# glibc cleared the slot as the thread exited: no binding is left.
	expect thread/bindings "$TMP/thread.json" '.[0].bindings' '[]'
	expect thread/blocks "$TMP/thread.json" \
		'[.[0].blocks[] | [.tid, .address, .size, .site.function]]' \
		"[[$tid,\"$addr\",4096,\"tls_nodtor_alloc\"]]"
	query thread_pid "$TMP/thread_pid.json" thread "$tid" --pid "$pid" &&
		expect thread_pid "$TMP/thread_pid.json" \
			'[length, .[0].thread.tid, (.[0].blocks | length)]' "[1,$tid,1]"
	if ctl thread "$tid" >"$TMP/thread.txt" 2>"$TMP/thread.txt.err"; then
		got=$(head -n 1 "$TMP/thread.txt")
		if [[ $got == "thread $tid of pid $pid (tls_nodtor): exited" ]]; then
			pass thread_text/head
		else
			fail thread_text/head "first line '$got'"
		fi
		got=$(awk -v a="$addr" '$1 == a { print $2, $4 }' "$TMP/thread.txt")
		if [[ $got == "4096 tls_nodtor_alloc+0x"* ]]; then
			pass thread_text/block
		else
			fail thread_text/block "block row '$got' for $addr"
		fi
		count_in_text thread_text/no_bindings "$TMP/thread.txt" \
			'^TLS bindings: none$' 1
	else
		fail thread_text "memwatchctl thread failed: $(cat "$TMP/thread.txt.err")"
	fi
fi

# --- bad input ------------------------------------------------------------------

err_case err/unknown_tid 1 "no thread '$nopid' in the database" thread "$nopid"
err_case err/tid_other_pid 1 \
	"no thread '$tid' of pid $nopid in the database" thread "$tid" --pid "$nopid"
err_case err/tid_not_number 2 "thread: invalid tid 'abc'" thread abc
err_case err/tid_zero 2 "thread: invalid tid '0'" thread 0
err_case err/tid_missing 2 "usage: memwatchctl thread TID" thread
err_case err/tid_two 2 "usage: memwatchctl thread TID" thread "$tid" "$tid"
err_case err/by 2 "--by: unknown value 'foo' (bytes, blocks)" top --by foo
err_case err/per 2 "--per: unknown value 'site' (thread, process)" \
	top --per site
err_case err/top_arg 2 \
	"top: unexpected argument (try 'memwatchctl --help')" top extra

# --- tls_overwrite: bindings while the workers live -----------------------------

# bound_worker FILE: some live worker of tls_overwrite has a TLS binding in
# `thread TID --json`, which is left in FILE. Called through wait_until.
# shellcheck disable=SC2317
bound_worker() {
	local t
	for t in $(ctl --json threads 2>/dev/null | jq -r \
		'.[] | select(.comm == "tls_overwrite" and .tid != .pid and .state == "alive") | .tid' \
		2>/dev/null); do
		ctl --json thread "$t" >"$1" 2>/dev/null || continue
		jq -e '.[0].bindings | length == 1' "$1" >/dev/null 2>&1 && return 0
	done
	return 1
}

# shellcheck disable=SC2034  # lib.sh's ctl and start_daemon use DB
DB=$TMP/overwrite.db
# Each worker holds its last value for 1 s; the daemon flushes every
# 0.5 s, so a binding shows while the workers are still alive.
start_daemon -- "$WL/tls_overwrite" 4 5 256
if wait_until 10 bound_worker "$TMP/bound.json"; then
	pass overwrite/binding_seen
	wtid=$(jqv "$TMP/bound.json" '.[0].thread.tid')
	expect overwrite/binding "$TMP/bound.json" \
		'.[0] | [.thread.state, (.bindings[0] | .generation, .size, .block > 0,
		  (.value | test("^0x[0-9a-f]+$")))]' '["alive",1,256,true,true]'
else
	wtid=0
	fail overwrite/binding_seen "no live worker showed a binding in 10 s"
fi
wait_exit "$DAEMON_PID" 30 || true
ok overwrite/exit_status "memwatchd -- tls_overwrite failed" stop_daemon

if [[ $wtid != 0 ]] && query overwrite/keys "$TMP/keys.json" keys; then
	expect overwrite/binding_key "$TMP/bound.json" '.[0].bindings[0].key' \
		"$(jqv "$TMP/keys.json" '.[0].key')"
fi
# After the run: the worker exited leaving its 4 overwritten blocks.
if [[ $wtid != 0 ]] && query overwrite/thread "$TMP/after.json" thread "$wtid"; then
	expect overwrite/after "$TMP/after.json" \
		'.[0] | [.thread.state, .thread.live_blocks, .bindings,
		  [.blocks[] | [.size, .site.function]] == [range(4) | [256, "tls_overwrite_alloc"]]]' \
		'["exited",4,[],true]'
	query overwrite/limit "$TMP/limit.json" thread "$wtid" --limit 2 &&
		expect overwrite/limit "$TMP/limit.json" '.[0].blocks | length' 2
fi

# live: the 100 largest blocks unless --limit N or --limit all, on a
# synthetic database of 1000 live blocks (gen_db writes what memwatchd
# writes).
big=$TMP/big.db
if "$OUT/gen_db" --blocks 1000 --threads 50 --procs 2 --sites 20 \
	--findings 2 "$big" >"$TMP/gen_db.out" 2>&1; then
	for l in default:100:"" five:5:"--limit 5" all:1000:"--limit all"; do
		IFS=: read -r name want lim <<<"$l"
		# shellcheck disable=SC2086  # lim is zero or two words
		if "$MEMWATCHCTL" --db "$big" --json live $lim >"$TMP/l.json" \
			2>"$TMP/l.err"; then
			expect "live_limit/$name" "$TMP/l.json" 'length' "$want"
		else
			fail "live_limit/$name" "$(cat "$TMP/l.err")"
		fi
	done
	# Largest first, and the table says more rows exist.
	"$MEMWATCHCTL" --db "$big" --json live --limit all |
		jq '[.[].size] | . == (sort | reverse)' >"$TMP/l.sorted"
	if [[ $(cat "$TMP/l.sorted") == true ]]; then
		pass live_limit/largest_first
	else
		fail live_limit/largest_first "live is not ordered by size"
	fi
	count_in_text live_limit/footer <("$MEMWATCHCTL" --db "$big" live) \
		'--limit all for more' 1
else
	fail live_limit "gen_db: $(tail -n 1 "$TMP/gen_db.out")"
fi

finish
