#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/real_servers.sh - servers from Debian, each started by the test
# on 127.0.0.1 and driven by its own load tool, under memwatchd with its
# default settings. Each runs twice:
#   - as it is: no finding at all, while really traced (allocations
#     counted, threads or processes followed, no event lost);
#   - with the planted TLS leak (tests/workloads/plant.c LD_PRELOAD'd: a
#     block per thread through a key of its own): found, naming its
#     culprit, mw_plant_leak, and nothing else found.
# The servers:
#   - redis: Debian's redis-server (jemalloc, its zmalloc wrappers, no
#     frame pointers), under memwatchd -- CMD, loaded by redis-benchmark
#     (8 commands, 3,000 requests each, 8 clients, random
#     keys so that its data grows), ended by `redis-cli shutdown nosave`;
#   - postgres: PostgreSQL 15 initialised in a temp directory and started
#     with pg_ctl (as the postgres user, fsync off), the running
#     postmaster attached with memwatchd --pid, which follows the backends
#     it forks: pgbench -i (scale 2: 200,000 rows loaded, indexes built)
#     then pgbench, 4 clients for 6 s; the postmaster must still serve
#     after memwatchd stops, and stop cleanly with pg_ctl.
# A finding in a clean run is a false alarm of memwatch: the FAIL line
# names its kind, site and count.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

REAL=$ROOT/tests/e2e/real
PY=/usr/bin/python3
REDIS=/usr/bin/redis-server
REDIS_BENCH=/usr/bin/redis-benchmark
REDIS_CLI=/usr/bin/redis-cli
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PGBENCH=$PGBIN/pgbench

for bin in "$REDIS" "$REDIS_BENCH" "$REDIS_CLI" "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBENCH" "$PLANT_SO"; do
	if [[ ! -x $bin && ! -f $bin ]]; then
		fail setup "$bin is missing: run make deps and make tests (redis-server redis-tools postgresql)"
		finish
	fi
done
if ! id postgres >/dev/null 2>&1; then
	fail setup "no postgres user: the postgresql package makes it (make deps)"
	finish
fi

# free_port: a TCP port of 127.0.0.1 nobody listens on now.
free_port() {
	"$PY" "$REAL/mc_client.py" freeport
}

# --- redis-server under redis-benchmark ---------------------------------------

# redis_case NAME [PRELOAD]: redis-server under memwatchd -- CMD (with
# PRELOAD LD_PRELOAD'd if given), loaded by redis-benchmark, then shut
# down by redis-cli; memwatchd ends with its status.
redis_case() {
	local name=$1 preload=${2:-} port t0 daemon env=()
	port=$(free_port)
	DB=$TMP/$name.db
	[[ -z $preload ]] || env=(env "LD_PRELOAD=$preload")
	mkdir -p "$TMP/$name.dir"
	t0=$EPOCHREALTIME
	"$MEMWATCHD" --db "$DB" --socket "$SOCK" --metrics-listen none "${SCALE_ARGS[@]}" \
		-- "${env[@]}" "$REDIS" --port "$port" --bind 127.0.0.1 --save '' \
		--appendonly no --daemonize no --dir "$TMP/$name.dir" \
		>"$TMP/$name.daemon.out" 2>"$TMP/$name.daemon.err" &
	daemon=$!
	BG_PIDS+=("$daemon")
	redis_up() { [[ $("$REDIS_CLI" -p "$port" ping 2>/dev/null) == PONG ]]; }
	if wait_until 20 redis_up; then
		pass "$name/serving"
		if "$REDIS_BENCH" -h 127.0.0.1 -p "$port" -n 3000 -c 8 -r 20000 \
			-t set,get,incr,lpush,lpop,sadd,hset,zadd --csv \
			>"$TMP/$name.bench.out" 2>"$TMP/$name.bench.err"; then
			pass "$name/load"
		else
			fail "$name/load" "redis-benchmark failed: $(tail -n 2 "$TMP/$name.bench.err")"
		fi
		echo "# $name: redis-benchmark: $(tail -n +2 "$TMP/$name.bench.out" | cut -d, -f1,2 | tr -d '"' | paste -sd' ')"
		# The growth rules sample every 0.5 s over 3 s: let them.
		sleep 2
		"$REDIS_CLI" -p "$port" shutdown nosave >/dev/null 2>&1 || true
	else
		fail "$name/serving" "redis never answered on 127.0.0.1:$port: $(tail -n 2 "$TMP/$name.daemon.err")"
		kill -TERM "$daemon" 2>/dev/null || true
	fi
	reap "$daemon"
	[[ $REAP_RC == timeout ]] || BG_PIDS=()
	if [[ $REAP_RC == 0 ]]; then
		pass "$name/exit_status"
	else
		fail "$name/exit_status" "memwatchd -- redis-server exited $REAP_RC: $(tail -n 2 "$TMP/$name.daemon.err")"
	fi
	echo "# $name: $(seconds_since "$t0") s under memwatchd"
}

redis_case redis
# 24,000 requests: over 20,000 allocations; its main thread and
# its three background threads (bio).
check_clean redis '.comm == "redis-server"' 20000 4 exited
show_top redis

redis_case redis_planted "$PLANT_SO"
# Every thread of redis-server (main and three bio threads) holds its
# block when it exits: a key deleted at exit under them.
check_planted redis_planted '.pid > 0' 4

# --- postgres under pgbench ---------------------------------------------------

# The data directory belongs to postgres, who must reach it.
chmod 755 "$TMP"
PGDATA=$TMP/pg
mkdir -p "$PGDATA"
chown postgres: "$PGDATA"

# pg NAME ARGS...: run ARGS as the postgres user, output in $TMP/NAME.log.
pg() {
	local name=$1
	shift
	runuser -u postgres -- "$@" >"$TMP/$name.log" 2>&1
}

# pg_case NAME [PRELOAD]: initdb, start with pg_ctl (PRELOAD in the
# server's environment if given), attach memwatchd to the postmaster,
# pgbench -i and pgbench, stop memwatchd, check the server still answers,
# stop it with pg_ctl.
pg_case() {
	local name=$1 preload=${2:-} port t0 pm
	port=$(free_port)
	DB=$TMP/$name.db
	rm -rf "$PGDATA/data"
	if ! pg "$name.initdb" "$PGBIN/initdb" -D "$PGDATA/data" -A trust -U postgres --no-sync; then
		fail "$name/initdb" "initdb failed: $(tail -n 2 "$TMP/$name.initdb.log")"
		return 0
	fi
	if ! pg "$name.start" env ${preload:+"LD_PRELOAD=$preload"} "$PGBIN/pg_ctl" \
		-D "$PGDATA/data" -l "$PGDATA/$name.server.log" -w -t 60 \
		-o "-p $port -k $PGDATA -c listen_addresses=127.0.0.1 -c fsync=off" start; then
		fail "$name/started" "pg_ctl start failed: $(tail -n 2 "$TMP/$name.start.log" "$PGDATA/$name.server.log")"
		return 0
	fi
	pm=$(head -n 1 "$PGDATA/data/postmaster.pid")
	pass "$name/started"
	BG_PIDS+=("$pm")
	t0=$EPOCHREALTIME
	start_daemon --pid "$pm"
	if ! wait_for_target "$pm"; then
		fail "$name/attached" "$WHY"
	else
		pass "$name/attached"
		if pg "$name.init" "$PGBENCH" -h 127.0.0.1 -p "$port" -U postgres -i -s 2 postgres &&
			pg "$name.bench" "$PGBENCH" -h 127.0.0.1 -p "$port" -U postgres -c 4 -j 2 -T 6 postgres; then
			pass "$name/load"
		else
			fail "$name/load" "pgbench failed: $(tail -n 2 "$TMP/$name.init.log" "$TMP/$name.bench.log")"
		fi
		echo "# $name: pgbench: $(grep -E '^(number of transactions actually processed|tps)' "$TMP/$name.bench.log" | paste -sd' ')"
		sleep 1
		ok "$name/daemon_sigterm" "SIGTERM did not stop memwatchd with status 0" stop_daemon
	fi
	echo "# $name: $(seconds_since "$t0") s from attach to detach"
	if pg "$name.after" "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc 'select count(*) from pgbench_accounts' postgres &&
		[[ $(cat "$TMP/$name.after.log") == 200000 ]]; then
		pass "$name/serving_after_detach"
	else
		fail "$name/serving_after_detach" "psql after detach: $(head -c 200 "$TMP/$name.after.log")"
	fi
	if pg "$name.stop" "$PGBIN/pg_ctl" -D "$PGDATA/data" -m fast -w -t 60 stop; then
		pass "$name/stopped"
		BG_PIDS=()
	else
		fail "$name/stopped" "pg_ctl stop failed: $(tail -n 2 "$TMP/$name.stop.log")"
	fi
}

# pg_check NAME: the postmaster (detached) and the processes it forked
# while attached (backends for pgbench's connections, autovacuum), each
# followed and traced, nothing lost. Prints the measured numbers.
pg_check() {
	local name=$1 f=$TMP/$1.status.json
	if query "$name/status" "$f" status; then
		expect "$name/followed" "$f" \
			'[.processes[] | select(.comm == "postgres" and .allocs > 0)] | length >= 5' true
		expect "$name/allocs" "$f" '[.processes[].allocs] | add >= 20000' true
		expect "$name/lost" "$f" '[.processes[].lost] | add' 0
		echo "# $name: $(jqv "$f" '"\(.processes | length) processes, allocs \([.processes[].allocs] | add), frees \([.processes[].frees] | add), live_blocks \([.processes[].live_blocks] | add)"')"
	fi
}

pg_case postgres
pg_check postgres
if query postgres/findings "$TMP/postgres.findings.json" findings; then
	expect postgres/no_findings "$TMP/postgres.findings.json" \
		'map("\(.kind) id=\(.id) pid=\(.pid) \(.site.function // "?")+\(.site.offset // "?") (\(.site.module // "?")) count=\(.count)")' \
		'[]'
fi
show_top postgres

pg_case postgres_planted "$PLANT_SO"
pg_check postgres_planted
# Each backend's main thread holds its block (set right after the fork)
# when it exits through exit(): the key is deleted under it.
check_planted postgres_planted '.pid > 0' 5

finish
