#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/real_programs.sh - real programs from Debian, run normally
# under memwatchd with its default settings, must produce no finding at
# all, while really being traced (allocations counted, no event lost):
#   - python: Debian's python3 running tests/e2e/real/threads.py, 20
#     rounds of 8 threading.Thread workers (160 threads in all) hashing,
#     round-tripping json and building lists, results through a
#     queue.Queue (memwatchd -- CMD);
#   - sqlite: the sqlite3 shell running tests/e2e/real/sqlite.sql on a
#     temp database: 42,000 rows inserted in transactions, indexes built
#     by the sorter's worker threads, aggregates, a join, VACUUM
#     (memwatchd -- CMD);
#   - memcached: `memcached -t 4` on a free port of 127.0.0.1, attached
#     with memwatchd --pid once it serves, loaded by
#     tests/e2e/real/mc_client.py (8 connections from 8 threads:
#     set/get/delete of 1 B to 64 KiB values and stats commands, only to
#     127.0.0.1), then the daemon stopped: memcached must still answer,
#     and exit 0 on SIGTERM;
#   - nginx: Debian's nginx-light, a master and 2 worker processes on a
#     free port of 127.0.0.1, under memwatchd -- CMD: the workers it
#     forks, which serve the 400 requests curl makes, are followed from
#     their first instruction (not the master alone); SIGQUIT ends nginx
#     gracefully and memwatchd with its status, 0.
# Each case lasts a few seconds, so that the time-based rules (orphans
# after 2 s, growth over 6 samples of 500 ms) had their chance to fire.
# A finding here is a false alarm of memwatch: the FAIL line names its
# kind, site and count.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

REAL=$ROOT/tests/e2e/real
# Debian's interpreter, never whatever python3 comes first in PATH.
PY=/usr/bin/python3
SQLITE=/usr/bin/sqlite3
MEMCACHED=/usr/bin/memcached
NGINX=/usr/sbin/nginx

for bin in "$PY" "$SQLITE" "$MEMCACHED" "$NGINX"; do
	if [[ ! -x $bin ]]; then
		fail setup "$bin is missing: run make deps (python3 sqlite3 memcached nginx-light)"
		finish
	fi
done

# check_clean NAME SELECT MIN_ALLOCS MIN_THREADS STATE: the assertions of
# every case, on `status --json` and `findings --json` of this case's
# database: the process SELECT (a jq condition on a process row) is
# listed once, in STATE, traced (at least MIN_ALLOCS allocations and
# MIN_THREADS threads), without lost events or findings; and the
# database holds no finding at all. Prints the measured numbers as a
# comment line.
check_clean() {
	local name=$1 sel=$2 min_allocs=$3 min_threads=$4 state=$5
	local st=$TMP/$name.status.json fi=$TMP/$name.findings.json
	local row="[.processes[] | select($sel)]"

	if query "$name/status" "$st" status; then
		expect "$name/listed" "$st" "$row | length" 1
		expect "$name/state" "$st" "$row | .[0].state" "$state"
		expect "$name/allocs" "$st" \
			"$row | .[0].allocs >= \$n" true --argjson n "$min_allocs"
		expect "$name/threads" "$st" \
			"$row | .[0].threads >= \$n" true --argjson n "$min_threads"
		expect "$name/lost" "$st" "$row | .[0].lost" 0
		expect "$name/proc_findings" "$st" "$row | .[0].findings" 0
		echo "# $name: $(jqv "$st" "$row | .[0] |
			\"allocs \(.allocs), frees \(.frees), unknown_frees \(.unknown_frees), threads \(.threads), live_blocks \(.live_blocks), live_bytes \(.live_bytes), lost \(.lost)\"")"
	fi
	# Summarized, so that a false alarm's FAIL line says what it is; the
	# explain output of each lands in the log.
	if query "$name/findings" "$fi" findings; then
		expect "$name/no_findings" "$fi" \
			'map("\(.kind) id=\(.id) \(.site.function // "?")+\(.site.offset // "?") (\(.site.module // "?")) count=\(.count)")' \
			'[]'
		if [[ $EXPECT_OK == 0 ]]; then
			local id
			for id in $(jqv "$fi" '.[].id'); do
				ctl explain "$id" 2>&1 | sed 's/^/#   /' || true
			done
		fi
	fi
}

# seconds_since T0: elapsed time since T0 (from $EPOCHREALTIME), 0.1 s.
seconds_since() {
	local now=$EPOCHREALTIME
	awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

# --- python3: thread churn --------------------------------------------------

t0=$EPOCHREALTIME
run_case python "$PY" "$REAL/threads.py" 20 8 0.15 || true
echo "# python: $(seconds_since "$t0") s under memwatchd"
if grep -qx 'threads=160 results=160' "$TRACE_LOG.out"; then
	pass python/output
else
	fail python/output "threads.py did not report its 160 results: $(tail -n 3 "$TRACE_LOG.out" "$TRACE_LOG.err")"
fi
# python3 leaves small objects to its own allocator: some 12,000 mallocs.
check_clean python '.comm == "python3"' 5000 161 exited
expect python/exit_code "$TMP/python.status.json" \
	'[.processes[] | select(.comm == "python3")] | .[0].exit_code' 0

# --- sqlite3 shell ------------------------------------------------------------

t0=$EPOCHREALTIME
run_case sqlite "$SQLITE" -bail "$TMP/work.sqlite" ".read $REAL/sqlite.sql" || true
echo "# sqlite: $(seconds_since "$t0") s under memwatchd"
if grep -qx 'check ok' "$TRACE_LOG.out" && grep -qx 'ok' "$TRACE_LOG.out"; then
	pass sqlite/output
else
	fail sqlite/output "sqlite.sql did not end with 'ok' and 'check ok': $(tail -n 3 "$TRACE_LOG.out" "$TRACE_LOG.err")"
fi
# Some 165,000 mallocs; the sorter's worker threads make it multi-threaded.
check_clean sqlite '.comm == "sqlite3"' 50000 2 exited
expect sqlite/exit_code "$TMP/sqlite.status.json" \
	'[.processes[] | select(.comm == "sqlite3")] | .[0].exit_code' 0

# --- memcached, attached with --pid -----------------------------------------

MC=$REAL/mc_client.py
DB=$TMP/memcached.db
mc_pid=
mc_port=
# A free port can be taken between the look-up and memcached's bind: try
# another one then.
for attempt in 1 2 3; do
	mc_port=$("$PY" "$MC" freeport)
	"$MEMCACHED" -t 4 -p "$mc_port" -l 127.0.0.1 -U 0 -u root \
		>"$TMP/memcached.$attempt.out" 2>"$TMP/memcached.$attempt.err" &
	mc_pid=$!
	BG_PIDS+=("$mc_pid")
	if "$PY" "$MC" ping "$mc_port" 10 && ! exited "$mc_pid"; then
		break
	fi
	kill -KILL "$mc_pid" 2>/dev/null || true
	wait "$mc_pid" 2>/dev/null || true
	mc_pid=
done
if [[ -n $mc_pid ]]; then
	pass memcached/started
	# The failed tries were reaped: only this pid is left to clean up.
	BG_PIDS=("$mc_pid")
else
	fail memcached/started "memcached never answered on 127.0.0.1 (3 tries)"
	finish
fi

t0=$EPOCHREALTIME
start_daemon --pid "$mc_pid"
if wait_for_target "$mc_pid"; then
	pass memcached/attached
else
	fail memcached/attached "$WHY"
	finish
fi

# 8 x 3000 rounds of set/get(/delete/get), a stats command every 4th:
# some 3 s under the daemon, bounded by the client's 40 s deadline.
if "$PY" "$MC" load "$mc_port" 8 3000 >"$TMP/mc_load.out" 2>"$TMP/mc_load.err"; then
	pass memcached/load
else
	fail memcached/load "client failed: $(tail -n 3 "$TMP/mc_load.err")"
fi
echo "# memcached: load $(seconds_since "$t0") s under memwatchd: $(cat "$TMP/mc_load.out")"

# Let the daemon sample and flush what the load did, then stop it.
sleep 1
ok memcached/daemon_alive "memwatchd exited while attached" daemon_alive
ok memcached/daemon_sigterm "SIGTERM did not stop memwatchd with status 0" \
	stop_daemon
echo "# memcached: $(seconds_since "$t0") s from attach to detach"

# Detached: memcached is unharmed and still serving.
if ! exited "$mc_pid" && "$PY" "$MC" check "$mc_port" 2>"$TMP/mc_check.err"; then
	pass memcached/serving_after_detach
else
	fail memcached/serving_after_detach "no answer after memwatchd stopped: $(cat "$TMP/mc_check.err")"
fi

# Its 4 workers and the main thread at least; some 6,000 mallocs (most of
# memcached's memory comes from its own slab allocator).
check_clean memcached ".pid == $mc_pid" 1000 5 detached

kill -TERM "$mc_pid" 2>/dev/null || true
reap "$mc_pid"
[[ $REAP_RC == timeout ]] || BG_PIDS=()
if [[ $REAP_RC == 0 ]]; then
	pass memcached/exit_status
else
	fail memcached/exit_status "memcached exited $REAP_RC on SIGTERM: $(tail -n 3 "$TMP"/memcached.*.err)"
fi

# --- nginx: a master and its workers, under -- CMD --------------------------

DB=$TMP/nginx.db
NG=$TMP/nginx
mkdir -p "$NG"
ng_port=$("$PY" "$MC" freeport)
cat >"$NG/nginx.conf" <<EOF
worker_processes 2;
error_log $NG/error.log;
pid $NG/nginx.pid;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $NG/body;
	proxy_temp_path $NG/proxy;
	fastcgi_temp_path $NG/fastcgi;
	uwsgi_temp_path $NG/uwsgi;
	scgi_temp_path $NG/scgi;
	server {
		listen 127.0.0.1:$ng_port;
		location / { return 200 "ok\n"; }
	}
}
EOF
t0=$EPOCHREALTIME
"$MEMWATCHD" --db "$DB" --socket "$SOCK" --metrics-listen none "${SCALE_ARGS[@]}" \
	-- "$NGINX" -p "$NG" -c "$NG/nginx.conf" -g 'daemon off;' \
	>"$TMP/nginx.daemon.out" 2>"$TMP/nginx.daemon.err" &
ng_daemon=$!
BG_PIDS+=("$ng_daemon")
ng_master=
# Serving, with both workers up (they accept on the same socket).
ng_up() {
	[[ $(curl -s -m 2 "http://127.0.0.1:$ng_port/") == ok ]] &&
		[[ $(pgrep -c -P "$(cat "$NG/nginx.pid" 2>/dev/null || echo 1)") == 2 ]]
}
if wait_until 20 ng_up; then
	pass nginx/serving
	ng_master=$(cat "$NG/nginx.pid")
	# 400 requests: 4 clients of 100 each, on keep-alive connections.
	curls=()
	for c in 1 2 3 4; do
		urls=()
		for ((r = 0; r < 100; r++)); do urls+=("http://127.0.0.1:$ng_port/r$c-$r"); done
		curl -s -m 30 "${urls[@]}" >"$TMP/nginx.curl$c.out" &
		curls+=($!)
	done
	wait "${curls[@]}" || true
	served=$(cat "$TMP"/nginx.curl*.out | grep -cx ok || true)
	if [[ $served == 400 ]]; then
		pass nginx/load
	else
		fail nginx/load "$served of 400 requests answered ok"
	fi
	sleep 1
	kill -QUIT "$ng_master"
else
	fail nginx/serving "nginx never served on 127.0.0.1:$ng_port: $(tail -n 2 "$NG/error.log" "$TMP/nginx.daemon.err" 2>/dev/null)"
	pkill -QUIT -F "$NG/nginx.pid" 2>/dev/null || true
fi
reap "$ng_daemon"
[[ $REAP_RC == timeout ]] || BG_PIDS=()
if [[ $REAP_RC == 0 ]]; then
	pass nginx/exit_status
else
	fail nginx/exit_status "memwatchd -- nginx exited $REAP_RC: $(tail -n 2 "$TMP/nginx.daemon.err")"
fi
echo "# nginx: $(seconds_since "$t0") s under memwatchd"
if query nginx/status "$TMP/nginx.status.json" status; then
	f=$TMP/nginx.status.json
	# The master and both workers, each traced, nothing lost.
	expect nginx/processes "$f" '[.processes[] | select(.comm == "nginx")] | length' 3
	expect nginx/workers_traced "$f" \
		'[.processes[] | select(.comm == "nginx" and .pid != $m and .allocs > 0)] | length' 2 \
		--argjson m "${ng_master:-0}"
	expect nginx/lost "$f" '[.processes[].lost] | add' 0
	echo "# nginx: $(jqv "$f" '[.processes[] | "pid \(.pid): allocs \(.allocs), frees \(.frees), live_blocks \(.live_blocks)"] | join("; ")')"
fi
if query nginx/findings "$TMP/nginx.findings.json" findings; then
	expect nginx/no_findings "$TMP/nginx.findings.json" \
		'map("\(.kind) id=\(.id) pid=\(.pid) \(.site.function // "?")+\(.site.offset // "?") (\(.site.module // "?")) count=\(.count)")' \
		'[]'
fi

finish
