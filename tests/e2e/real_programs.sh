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
#     forks, which serve the 2,000 requests ab (Apache's load tool)
#     makes, are followed from their first instruction (not the master
#     alone); SIGQUIT ends nginx gracefully and memwatchd with its
#     status, 0.
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

# --- python3: thread churn --------------------------------------------------

# python_case NAME [PRELOAD]: threads.py under memwatchd -- CMD, with
# PRELOAD LD_PRELOAD'd if given.
python_case() {
	local name=$1
	run_timed_case "$name" "${2:-}" "$PY" "$REAL/threads.py" 20 8 0.15
	expect_output "$name" 'threads=160 results=160' "threads.py did not report its 160 results"
}

python_case python
# python3 leaves small objects to its own allocator: some 12,000 mallocs.
check_clean python '.comm == "python3"' 5000 161 exited
show_top python
expect python/exit_code "$TMP/python.status.json" \
	'[.processes[] | select(.comm == "python3")] | .[0].exit_code' 0
python_case python_planted "$PLANT_SO"
# Each of the 160 threads leaves its block when it ends.
check_planted python_planted '.pid > 0' 160

# --- sqlite3 shell ------------------------------------------------------------

# sqlite_case NAME [PRELOAD]: sqlite.sql in the sqlite3 shell under
# memwatchd -- CMD.
sqlite_case() {
	local name=$1
	rm -f "$TMP/work.sqlite"
	run_timed_case "$name" "${2:-}" "$SQLITE" -bail "$TMP/work.sqlite" ".read $REAL/sqlite.sql"
	if grep -qx 'check ok' "$TRACE_LOG.out" && grep -qx 'ok' "$TRACE_LOG.out"; then
		pass "$name/output"
	else
		fail "$name/output" "sqlite.sql did not end with 'ok' and 'check ok': $(tail -n 3 "$TRACE_LOG.out" "$TRACE_LOG.err")"
	fi
}

sqlite_case sqlite
# Some 165,000 mallocs; the sorter's worker threads make it multi-threaded.
check_clean sqlite '.comm == "sqlite3"' 50000 2 exited
show_top sqlite
expect sqlite/exit_code "$TMP/sqlite.status.json" \
	'[.processes[] | select(.comm == "sqlite3")] | .[0].exit_code' 0
sqlite_case sqlite_planted "$PLANT_SO"
# The sorter's threads leave theirs as they end; the shell's main thread
# holds its own when exit() deletes the key.
check_planted sqlite_planted '.pid > 0' 2

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
show_top memcached

kill -TERM "$mc_pid" 2>/dev/null || true
reap "$mc_pid"
[[ $REAP_RC == timeout ]] || BG_PIDS=()
if [[ $REAP_RC == 0 ]]; then
	pass memcached/exit_status
else
	fail memcached/exit_status "memcached exited $REAP_RC on SIGTERM: $(tail -n 3 "$TMP"/memcached.*.err)"
fi

# --- nginx: a master and its workers, under -- CMD --------------------------

# nginx_case NAME [PRELOAD]: nginx (a master, 2 workers) under memwatchd
# -- CMD, with PRELOAD LD_PRELOAD'd if given, loaded by ab, ended by
# SIGQUIT; checks it was served and followed. Sets ng_master.
nginx_case() {
	local name=$1 preload=${2:-} env=() t0 ng_daemon served NG ng_port
	DB=$TMP/$name.db
	NG=$TMP/$name
	mkdir -p "$NG"
	ng_port=$("$PY" "$MC" freeport)
	[[ -z $preload ]] || env=(env "LD_PRELOAD=$preload")
	cat >"$NG/nginx.conf" <<-EOF
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
		-- "${env[@]}" "$NGINX" -p "$NG" -c "$NG/nginx.conf" -g 'daemon off;' \
		>"$TMP/$name.daemon.out" 2>"$TMP/$name.daemon.err" &
	ng_daemon=$!
	BG_PIDS+=("$ng_daemon")
	ng_master=
	# Serving, with both workers up (they accept on the same socket).
	ng_up() {
		[[ $(curl -s -m 2 "http://127.0.0.1:$ng_port/") == ok ]] &&
			[[ $(pgrep -c -P "$(cat "$NG/nginx.pid" 2>/dev/null || echo 1)") == 2 ]]
	}
	if wait_until 20 ng_up; then
		pass "$name/serving"
		ng_master=$(cat "$NG/nginx.pid")
		# ab, Apache's load tool: 2,000 requests, 8 at a time, on
		# keep-alive connections.
		if ab -q -k -n 2000 -c 8 "http://127.0.0.1:$ng_port/" >"$TMP/$name.ab.out" 2>&1 &&
			grep -Eq '^Complete requests: +2000$' "$TMP/$name.ab.out" &&
			grep -Eq '^Failed requests: +0$' "$TMP/$name.ab.out"; then
			pass "$name/load"
		else
			fail "$name/load" "ab: $(grep -E '^(Complete|Failed) requests' "$TMP/$name.ab.out" | paste -sd' ') $(tail -n 1 "$TMP/$name.ab.out")"
		fi
		echo "# $name: ab: $(grep -E '^Requests per second' "$TMP/$name.ab.out")"
		sleep 1
		kill -QUIT "$ng_master"
	else
		fail "$name/serving" "nginx never served on 127.0.0.1:$ng_port: $(tail -n 2 "$NG/error.log" "$TMP/$name.daemon.err" 2>/dev/null)"
		pkill -QUIT -F "$NG/nginx.pid" 2>/dev/null || true
	fi
	reap "$ng_daemon"
	[[ $REAP_RC == timeout ]] || BG_PIDS=()
	if [[ $REAP_RC == 0 ]]; then
		pass "$name/exit_status"
	else
		fail "$name/exit_status" "memwatchd -- nginx exited $REAP_RC: $(tail -n 2 "$TMP/$name.daemon.err")"
	fi
	echo "# $name: $(seconds_since "$t0") s under memwatchd"
	if query "$name/status" "$TMP/$name.status.json" status; then
		f=$TMP/$name.status.json
		# The master and both workers, each traced, nothing lost.
		expect "$name/processes" "$f" '[.processes[] | select(.comm == "nginx")] | length' 3
		expect "$name/workers_traced" "$f" \
			'[.processes[] | select(.comm == "nginx" and .pid != $m and .allocs > 0)] | length' 2 \
			--argjson m "${ng_master:-0}"
		expect "$name/lost" "$f" '[.processes[].lost] | add' 0
		echo "# $name: $(jqv "$f" '[.processes[] | "pid \(.pid): allocs \(.allocs), frees \(.frees), live_blocks \(.live_blocks)"] | join("; ")')"
	fi
}

nginx_case nginx
# Resolved ones too: a false alarm that went away was still raised.
if query nginx/findings "$TMP/nginx.findings.json" findings --all; then
	expect nginx/no_findings "$TMP/nginx.findings.json" \
		'map("\(.kind) id=\(.id) pid=\(.pid) \(.site.function // "?")+\(.site.offset // "?") (\(.site.module // "?")) count=\(.count)")' \
		'[]'
fi
show_top nginx
nginx_case nginx_planted "$PLANT_SO"
# The master and both workers hold their blocks (the workers' set right
# after their fork) when they end through exit(), which deletes the key.
check_planted nginx_planted '.pid > 0' 3

# --- memcached with the planted leak, under -- CMD ---------------------------

# Its threads start with it and never end: they hold their blocks when
# SIGTERM ends it through exit(), whose destructors delete the key.
DB=$TMP/memcached_planted.db
mc_port=$("$PY" "$MC" freeport)
"$MEMWATCHD" --db "$DB" --socket "$SOCK" --metrics-listen none "${SCALE_ARGS[@]}" \
	-- env "LD_PRELOAD=$PLANT_SO" "$MEMCACHED" -t 4 -p "$mc_port" -l 127.0.0.1 -U 0 -u root \
	>"$TMP/memcached_planted.out" 2>"$TMP/memcached_planted.err" &
mc_daemon=$!
BG_PIDS+=("$mc_daemon")
mc_up() { "$PY" "$MC" ping "$mc_port" 1; }
if wait_until 20 mc_up; then
	pass memcached_planted/serving
	if "$PY" "$MC" load "$mc_port" 4 500 >"$TMP/mc_planted_load.out" 2>"$TMP/mc_planted_load.err"; then
		pass memcached_planted/load
	else
		fail memcached_planted/load "client failed: $(tail -n 3 "$TMP/mc_planted_load.err")"
	fi
	pkill -TERM -P "$mc_daemon" -x memcached || true
else
	fail memcached_planted/serving "memcached never answered on 127.0.0.1:$mc_port: $(tail -n 2 "$TMP/memcached_planted.err")"
	kill -TERM "$mc_daemon" 2>/dev/null || true
fi
reap "$mc_daemon"
[[ $REAP_RC == timeout ]] || BG_PIDS=()
if [[ $REAP_RC == 0 ]]; then
	pass memcached_planted/exit_status
else
	fail memcached_planted/exit_status "memwatchd -- memcached exited $REAP_RC: $(tail -n 2 "$TMP/memcached_planted.err")"
fi
# The main thread, 4 workers and memcached's own helper threads.
check_planted memcached_planted '.pid > 0' 5

finish
