#!/usr/bin/env bash
# tests/bench/run.sh - `make bench`: what memwatch costs, as ratios and
# figures taken in one run on this machine, next to the floor (the same
# uprobes running empty programs) and to peers (bpftrace, heaptrack).
# Never pass/fail: machines are noisy. Prints one table; each figure says
# how it was measured in docs/PERFORMANCE.md.
#
#   tests/bench/run.sh            full size (a few minutes)
#   BENCH_SHORT=1 tests/bench/run.sh   small sizes, one repetition: what
#                                 CI runs, for crashes and sanity
#
# Timing: each configuration runs REPS times, configurations interleaved,
# and the median is kept. The time is the workload's own, measured inside
# it around its work (MW_ELAPSED_FILE, tests/workloads/workload.h): no
# tracer's start, attach, detach or stop is in it.
set -euo pipefail

cd "$(dirname "$0")/../.."
OUT=.output
WL=$OUT/workloads
MEMWATCHD=$OUT/memwatchd
MEMWATCHCTL=$OUT/memwatchctl
LIBC=/lib/x86_64-linux-gnu/libc.so.6
LIB=/usr/lib/x86_64-linux-gnu

if [[ ${BENCH_SHORT:-0} == 1 ]]; then
	PAIRS=20000 REPS=1 ROUNDS=4 CHURN_THREADS=1000 BIG_THREADS=5000
	LIVE=100000 REDIS_N=2000 NODE_ARGS=(1 2 4) JVM_ARGS=(1 4 16)
else
	PAIRS=200000 REPS=3 ROUNDS=20 CHURN_THREADS=10000 BIG_THREADS=100000
	LIVE=1000000 REDIS_N=100000 NODE_ARGS=(6 4 20) JVM_ARGS=(10 8 64)
fi

if [[ $EUID -ne 0 ]]; then
	echo "bench: must run as root (memwatchd loads eBPF)" >&2
	exit 1
fi
for tool in bpftrace heaptrack sqlite3 jq redis-server redis-benchmark \
	redis-cli node java javac; do
	command -v "$tool" >/dev/null || {
		echo "bench: $tool is missing (make deps installs it)" >&2
		exit 1
	}
done

TMP=$(mktemp -d)
DAEMON_PID=
cleanup() {
	[[ -n $DAEMON_PID ]] && kill -KILL "$DAEMON_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
N=0
BENCH=bench
# shellcheck source=lib.sh
source tests/bench/lib.sh

now() { date +%s%N; }

# mw ARGS...: memwatchd on a database of its own.
mw() {
	N=$((N + 1))
	"$MEMWATCHD" --db "$TMP/mw$N.db" --socket "$TMP/mw.sock" "$@"
}

BT_SCRIPT='
uprobe:'$LIBC':malloc /pid == cpid/ { @size[tid] = arg0; }
uretprobe:'$LIBC':malloc /pid == cpid/ {
	@blocks[retval] = @size[tid]; @stacks[retval] = ustack;
	delete(@size[tid]);
}
uprobe:'$LIBC':free /pid == cpid/ { delete(@blocks[arg0]); delete(@stacks[arg0]); }
END { clear(@blocks); clear(@stacks); clear(@size); }'

bt() { bpftrace -e "$BT_SCRIPT" -c "$*"; }

# --- A. one malloc+free pair, glibc, one thread ------------------------------
for ((i = 0; i < REPS; i++)); do
	sample plain "$WL/alloc_pairs" "$PAIRS"
	sample floor mw --bench-floor -- "$WL/alloc_pairs" "$PAIRS"
	sample floor_entry mw --bench-floor --bench-at-entry -- "$WL/alloc_pairs" "$PAIRS"
	sample full mw -- "$WL/alloc_pairs" "$PAIRS"
	sample full_site mw --stack-frames 0 -- "$WL/alloc_pairs" "$PAIRS"
	sample full_entry mw --bench-at-entry -- "$WL/alloc_pairs" "$PAIRS"
	sample bt bt "$WL/alloc_pairs $PAIRS"
	sample ht heaptrack -o "$TMP/ht.$i" "$WL/alloc_pairs" "$PAIRS"
done
plain=$(median plain)
# per_pair NAME: us per pair of configuration NAME, beyond untraced.
per_pair() {
	awk -v t="$(median "$1")" -v p="$plain" -v n="$PAIRS" \
		'BEGIN { printf "%.2f", (t - p) / n / 1000 }'
}
pair_floor=$(per_pair floor)
pair_floor_entry=$(per_pair floor_entry)
pair_full=$(per_pair full)
pair_full_site=$(per_pair full_site)
pair_full_entry=$(per_pair full_entry)
pair_bt=$(per_pair bt)
pair_ht=$(per_pair ht)
pair_plain=$(awk -v p="$plain" -v n="$PAIRS" 'BEGIN { printf "%.3f", p / n / 1000 }')

# --- A2. stacks without frame pointers: deep_stack, 30 calls deep -------------
# The same malloc+free pairs at the bottom of 30 frames: built with frame
# pointers (the walk, found whole, kept: fp_sites), without (each pair's
# stack copied and keyed, unwound once), and without, not unwound.
for ((i = 0; i < REPS; i++)); do
	sample deep_plain_fp "$WL/deep_stack_fp" 1 "$PAIRS"
	sample deep_plain "$WL/deep_stack" 1 "$PAIRS"
	sample deep_fp mw -- "$WL/deep_stack_fp" 1 "$PAIRS"
	sample deep_unwind mw -- "$WL/deep_stack" 1 "$PAIRS"
	sample deep_walk mw --unwind-bytes 0 -- "$WL/deep_stack" 1 "$PAIRS"
done
# deep_pair NAME PLAIN: us per pair of NAME beyond PLAIN.
deep_pair() {
	awk -v t="$(median "$1")" -v p="$(median "$2")" -v n="$PAIRS" \
		'BEGIN { printf "%.2f", (t - p) / n / 1000 }'
}
pair_deep_fp=$(deep_pair deep_fp deep_plain_fp)
pair_deep_unwind=$(deep_pair deep_unwind deep_plain)
pair_deep_walk=$(deep_pair deep_walk deep_plain)

# A2's floor: the same probes, empty, on the program without frame pointers.
for ((i = 0; i < REPS; i++)); do
	sample deep_floor mw --bench-floor -- "$WL/deep_stack" 1 "$PAIRS"
	sample deep_floor_fp mw --bench-floor -- "$WL/deep_stack_fp" 1 "$PAIRS"
done
pair_deep_floor=$(deep_pair deep_floor deep_plain)
pair_deep_floor_fp=$(deep_pair deep_floor_fp deep_plain_fp)

# --- B. probe placement per allocator ------------------------------------------
declare -A PRE=([glibc]="" [jemalloc]=$LIB/libjemalloc.so.2
	[tcmalloc]=$LIB/libtcmalloc_minimal.so.4 [mimalloc]=$LIB/libmimalloc.so.2)
for a in glibc jemalloc tcmalloc mimalloc; do
	cmd=(env "LD_PRELOAD=${PRE[$a]}" "$WL/alloc_pairs" "$PAIRS")
	for ((i = 0; i < REPS; i++)); do
		sample "plain_$a" "${cmd[@]}"
		sample "entry_$a" mw --bench-at-entry -- "${cmd[@]}"
		sample "placed_$a" mw -- "${cmd[@]}"
		sample "floor_$a" mw --bench-floor -- "${cmd[@]}"
	done
done
alloc_pair() {
	awk -v t="$(median "$1_$2")" -v p="$(median "plain_$2")" \
		-v n="$PAIRS" 'BEGIN { printf "%.2f", (t - p) / n / 1000 }'
}

# --- C. a realistic multi-threaded workload (churn), 1 and 2 threads ---------
for th in 1 2; do
	for ((i = 0; i < REPS; i++)); do
		sample "churn_plain_$th" "$WL/churn" "$ROUNDS" "$th"
		sample "churn_floor_$th" mw --bench-floor -- "$WL/churn" "$ROUNDS" "$th"
		sample "churn_full_$th" mw -- "$WL/churn" "$ROUNDS" "$th"
		sample "churn_tls_$th" mw --tls -- "$WL/churn" "$ROUNDS" "$th"
	done
done
# ratio A B: A's time over B's.
ratio() {
	awk -v a="$(median "$1")" -v b="$(median "$2")" \
		'BEGIN { printf "%.2f", a / b }'
}

# --- D. thread churn: create and exit threads, TLS value each ---------------
for ((i = 0; i < REPS; i++)); do
	sample tc_plain "$WL/thread_churn" "$CHURN_THREADS"
	sample tc_tls mw --tls -- "$WL/thread_churn" "$CHURN_THREADS"
	sample tc_full mw -- "$WL/thread_churn" "$CHURN_THREADS"
done

# --- R. real programs: throughput traced in full mode over untraced -----------
# Each program's own work timed from inside (node's and the JVM's rounds:
# MW_ELAPSED_FILE), or redis-benchmark's run against redis-server from
# outside; memwatchd at its defaults, the program started by it.
REAL=tests/e2e/real
javac -d "$TMP/classes" "$REAL/Pools.java"
REDIS_PORT=16379
# redis_ns [MW_ARGS...]: ns redis-benchmark takes against redis-server,
# under memwatchd when MW_ARGS are given ("plain": untraced).
redis_ns() {
	local srv=(redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save ''
		--appendonly no) pid t0 t1 i
	if [[ ${1:-} == plain ]]; then
		"${srv[@]}" >/dev/null 2>&1 &
	else
		mw "$@" -- "${srv[@]}" >/dev/null 2>"$TMP/last.err" &
	fi
	pid=$!
	for ((i = 0; i < 200; i++)); do
		[[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && break
		sleep 0.1
	done
	t0=$(now)
	redis-benchmark -p "$REDIS_PORT" -n "$REDIS_N" -c 8 -r 100000 \
		-t set,get,lpush,lpop,incr,sadd -q >/dev/null 2>&1 || {
		echo "$BENCH: redis-benchmark failed" >&2
		exit 1
	}
	t1=$(now)
	redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
	wait "$pid" || true
	echo $((t1 - t0))
}
# Each also under the floor (--bench-floor: the same probes, empty): what
# the traps alone leave of its throughput.
JVM=(java -Xmx256m -cp "$TMP/classes" Pools "${JVM_ARGS[@]}")
for ((i = 0; i < REPS; i++)); do
	T[redis_plain]+="$(redis_ns plain) "
	T[redis_floor]+="$(redis_ns --bench-floor) "
	T[redis_full]+="$(redis_ns) "
	sample node_plain node "$REAL/workers.js" "${NODE_ARGS[@]}"
	sample node_floor mw --bench-floor -- node "$REAL/workers.js" "${NODE_ARGS[@]}"
	sample node_full mw -- node "$REAL/workers.js" "${NODE_ARGS[@]}"
	sample jvm_plain "${JVM[@]}"
	sample jvm_floor mw --bench-floor -- "${JVM[@]}"
	sample jvm_full mw -- "${JVM[@]}"
done

# --- E. the daemon --------------------------------------------------------------
# What every process on the host pays per system call while memwatchd
# traces something in full mode (its anonymous-memory tracepoints on).
SYSCALLS=$((PAIRS * 10))
for ((i = 0; i < REPS; i++)); do
	sample sc_plain "$WL/syscalls" "$SYSCALLS"
	sample sc_traced mw -- "$WL/syscalls" "$SYSCALLS"
done
per_call() {
	awk -v t="$(median "$1")" -v n="$SYSCALLS" 'BEGIN { printf "%.0f", t / n }'
}

# usage FIELD: from memwatchd -v's last "usage:" line in $TMP/last.err.
usage() {
	sed -n 's/.*usage: \([0-9]*\) events, \([0-9]*\) lost, cpu \([0-9.]*\) s (\([0-9.]*\) us per event), peak rss \([0-9]*\) kB.*/\1 \2 \3 \4 \5/p' \
		"$TMP/last.err" | tail -n 1 | awk -v f="$1" '{ print $f }'
}
# The highest rate: two threads doing nothing but malloc and free.
rate_ns=$(run_ns mw -v -- "$WL/alloc_pairs" $((PAIRS * 2)) 2)
rate_events=$(usage 1)
rate_lost=$(usage 2)
rate_cpu=$(usage 3)
# Its start-up alone (loading the BPF object: the verifier), to take out.
mw -v -- true >/dev/null 2>"$TMP/last.err"
start_cpu=$(usage 3)
# (Short runs: start-up's own noise can exceed the events' CPU: 0 then.)
rate_us_event=$(awk -v c="$rate_cpu" -v s="$start_cpu" -v n="$rate_events" \
	'BEGIN { v = (c - s) * 1e6 / n; printf "%.3f", (v > 0 ? v : 0) }')
rate=$(awk -v e="$rate_events" -v t="$rate_ns" 'BEGIN { printf "%.0f", e / (t / 1e9) }')
# Memory per live block: the daemon's anonymous memory (RssAnon) while
# live_hold holds LIVE blocks, all of them stored, less the same holding
# none; and its peak RSS over the run, which adds what waits to be written
# (the persist FIFO, deletes) and glibc's caches.
quiet() { "$@" >/dev/null 2>"$TMP/last.err"; }
# held N: RssAnon in kB once the database holds N + 1 blocks (live_hold's
# own array is one), then stop the workload; peak RSS is in last.err.
held() {
	local n=$1 db pid i c=0 rss
	# Its own name: N counts in subshells too, so mw$N may be taken.
	db=$TMP/held$n.db
	"$MEMWATCHD" -v --db "$db" --socket "$TMP/mw.sock" -- \
		"$WL/live_hold" "$n" 32 600000 >/dev/null 2>"$TMP/last.err" &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		sleep 0.5
		c=$(sqlite3 "$db" \
			"SELECT count(*) FROM live_blocks" 2>/dev/null) || c=0
		[[ $c == $((n + 1)) ]] && break
	done
	sleep 1
	rss=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status")
	pkill -x live_hold
	wait "$pid"
	if [[ $c != $((n + 1)) ]]; then
		echo "run.sh: the database never held $n blocks (it held" \
			"$c): $(tail -n 3 "$TMP/last.err")" >&2
		exit 1
	fi
	echo "$rss"
}
anon0=$(held 0)
rss0=$(usage 5)
anon1=$(held "$LIVE")
rss1=$(usage 5)
hold_lost=$(usage 2)
per_block=$(awk -v a="$anon1" -v b="$anon0" -v n="$LIVE" \
	'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
peak_per_block=$(awk -v a="$rss1" -v b="$rss0" -v n="$LIVE" \
	'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
# Many threads: memwatchd watching thread_churn's executable; each of
# BIG_THREADS threads leaks its TLS value. How long after the program's
# exit memwatchctl shows every finding, and the daemon's peak RSS.
"$MEMWATCHD" -v --db "$TMP/big.db" --socket "$TMP/big.sock" \
	--exe "$WL/thread_churn" >/dev/null 2>"$TMP/big.err" &
DAEMON_PID=$!
# Until the daemon answers on its socket (status alone exits 0 once the
# database exists, daemon or not): it serves requests only once its
# watches are in place, so that thread_churn is held at exec, not found
# running with its first threads gone.
for ((i = 0; i < 100; i++)); do
	"$MEMWATCHCTL" --socket "$TMP/big.sock" --db "$TMP/big.db" -j status 2>/dev/null |
		jq -e '.daemon != null' >/dev/null 2>&1 && break
	sleep 0.1
done
"$WL/thread_churn" "$BIG_THREADS" 8 1
t_exit=$(now)
seen=0
for ((i = 0; i < 600; i++)); do
	# Read as memwatchctl reads it; a count, as 100,000 rows would take
	# longer to print than to find.
	seen=$(sqlite3 "$TMP/big.db" "select count(*) from findings" 2>/dev/null || echo 0)
	[[ $seen -ge $BIG_THREADS ]] && break
	sleep 0.05
done
t_seen=$(now)
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
DAEMON_PID=
cp "$TMP/big.err" "$TMP/last.err"
big_rss=$(usage 5)
big_latency=$(awk -v a="$t_seen" -v b="$t_exit" 'BEGIN { printf "%.2f", (a - b) / 1e9 }')

# --- the table ---------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
printf 'memwatch bench: %s, %s CPUs, Linux %s; median of %s (BENCH_SHORT=%s)\n' \
	"$cpu" "$(nproc)" "$(uname -r)" "$REPS" "${BENCH_SHORT:-0}"
row() { printf '  %-52s %12s%s\n' "$1" "$2" "${3:+  $3}"; }
verdict() { # verdict VALUE OP LIMIT
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		ok = op == "<=" ? v <= l : op == "<" ? v < l : v >= l
		printf "target %s %s: %s", op, l, ok ? "met" : "MISSED" }'
}
echo "A. one malloc(64)+free pair, glibc ($PAIRS pairs), us per pair"
row "untraced" "$pair_plain"
row "floor: empty programs at the same probes" "$pair_floor"
row "floor with free probed at its entry" "$pair_floor_entry"
row "memwatch full mode" "$pair_full"
row "memwatch full mode, call site only (--stack-frames 0)" "$pair_full_site"
row "memwatch, free probed at its entry" "$pair_full_entry"
row "bpftrace: malloc+uretprobe+free with ustack" "$pair_bt"
row "heaptrack (LD_PRELOAD)" "$pair_ht"
r=$(awk -v a="$pair_full" -v b="$pair_floor" 'BEGIN { printf "%.2f", a / b }')
row "ratio full / floor" "$r" "$(verdict "$r" "<=" 1.15)"
r=$(awk -v a="$pair_full_site" -v b="$pair_floor" 'BEGIN { printf "%.2f", a / b }')
row "ratio full, call site only / floor" "$r" "$(verdict "$r" "<=" 1.15)"
r=$(awk -v a="$pair_full" -v b="$pair_bt" 'BEGIN { printf "%.2f", a / b }')
row "ratio full / bpftrace" "$r" "$(verdict "$r" "<=" 0.5)"
r=$(awk -v a="$pair_full" -v b="$pair_ht" 'BEGIN { printf "%.2f", a / b }')
row "ratio full / heaptrack" "$r" "$(verdict "$r" "<=" 1)"
r=$(awk -v a="$pair_floor" -v b="$pair_ht" 'BEGIN { printf "%.2f", a / b }')
row "ratio floor / heaptrack (what the traps alone cost)" "$r"
echo "A2. a pair 30 calls deep (deep_stack, $PAIRS pairs), us per pair"
row "floor, with frame pointers" "$pair_deep_floor_fp"
row "with frame pointers: walked by learned rules" "$pair_deep_fp"
row "floor, without frame pointers" "$pair_deep_floor"
row "without: walked by rules learned from copies" "$pair_deep_unwind"
row "without, not unwound (--unwind-bytes 0)" "$pair_deep_walk"
r=$(awk -v a="$pair_deep_fp" -v b="$pair_deep_floor_fp" 'BEGIN { printf "%.2f", a / b }')
row "ratio full / floor, with frame pointers" "$r" "$(verdict "$r" "<=" 1.15)"
r=$(awk -v a="$pair_deep_unwind" -v b="$pair_deep_floor" 'BEGIN { printf "%.2f", a / b }')
row "ratio full / floor, without frame pointers" "$r" "$(verdict "$r" "<=" 1.15)"
row "ratio without / with frame pointers" \
	"$(awk -v a="$pair_deep_unwind" -v b="$pair_deep_fp" 'BEGIN { printf "%.2f", a / b }')"
echo "B. probe placement per allocator (LD_PRELOAD), us per pair"
for a in glibc jemalloc tcmalloc mimalloc; do
	row "$a: at entry / placed / floor" \
		"$(alloc_pair entry $a) / $(alloc_pair placed $a) / $(alloc_pair floor $a)"
done
echo "C. churn ($ROUNDS rounds: malloc/realloc/free, TLS, threads), whole run"
for th in 1 2; do
	r=$(ratio "churn_full_$th" "churn_floor_$th")
	row "$th thread(s): full / floor" "$r" "$(verdict "$r" "<=" 1.15)"
	row "$th thread(s): full / untraced" "$(ratio "churn_full_$th" "churn_plain_$th")"
	r=$(ratio "churn_tls_$th" "churn_plain_$th")
	row "$th thread(s): TLS mode / untraced" "$r" "$(verdict "$r" "<=" 1.02)"
done
echo "D. thread churn ($CHURN_THREADS threads created and exited)"
r=$(ratio tc_tls tc_plain)
row "TLS mode / untraced" "$r" "$(verdict "$r" "<=" 1.5)"
row "full mode / untraced" "$(ratio tc_full tc_plain)"
echo "R. real programs, throughput traced / untraced"
# rp NAME LABEL: NAME's throughput in full mode and under the floor, over
# untraced (time untraced over time traced).
rp() {
	local r
	r=$(ratio "${1}_plain" "${1}_full")
	row "$2: full mode" "$r" "$(verdict "$r" ">=" 0.7)"
	row "$2: floor (the traps alone)" "$(ratio "${1}_plain" "${1}_floor")"
}
rp redis "redis-benchmark ($REDIS_N x 6 tests)"
rp node "node workers.js ${NODE_ARGS[*]}"
rp jvm "JVM Pools ${JVM_ARGS[*]}"
echo "E. the daemon"
row "a system call (getppid), ns: untraced / full-mode target" \
	"$(per_call sc_plain) / $(per_call sc_traced)"
row "events per second at the highest rate (2 threads)" "$rate"
row "events lost at that rate" "$rate_lost" "$(verdict "$rate_lost" "<=" 0)"
row "daemon start-up CPU, s (loading the BPF object)" "$start_cpu"
row "daemon CPU per event, us (SQLite included, start-up less)" "$rate_us_event" "$(verdict "$rate_us_event" "<=" 1)"
row "daemon memory per live block, bytes ($LIVE blocks)" "$per_block" "$(verdict "$per_block" "<=" 64)"
row "daemon peak RSS per live block, bytes (with write queue)" "$peak_per_block"
row "events lost while storing those blocks" "$hold_lost" "$(verdict "$hold_lost" "<=" 0)"
row "$BIG_THREADS threads: daemon peak RSS, MB" "$((big_rss / 1024))"
row "$BIG_THREADS threads: findings shown after exit, s" "$big_latency" "$(verdict "$big_latency" "<=" 2)"
row "$BIG_THREADS threads: findings shown" "$seen"
echo "G. the engine alone, instructions per event (callgrind; tests/bench/engine_cost.sh)"
if [[ ${BENCH_SHORT:-0} == 1 ]]; then
	cost=$(tests/bench/engine_cost.sh 50000 | tail -n 1)
else
	cost=$(tests/bench/engine_cost.sh | tail -n 1)
fi
row "alloc/free stream, 100k live blocks" "${cost%% *}"
if [[ ${BENCH_SKIP_QUERIES:-0} != 1 ]]; then
	# One synthetic database (tests/bench/gen_db), churned as memwatchd
	# writes (blocks freed and new ones stored, WAL, its cache), then
	# queried by memwatchctl (tests/bench/query.sh).
	if [[ ${BENCH_SHORT:-0} == 1 ]]; then
		gen=(--blocks 20000 --threads 2000 --churn 2000)
	else
		gen=(--churn 50000)
	fi
	"$OUT/gen_db" "${gen[@]}" "$TMP/q.db" >"$TMP/gen.out"
	tests/bench/query.sh "$TMP/q.db" >"$TMP/query.out"
	blocks=$(sqlite3 "$TMP/q.db" "SELECT count(*) FROM live_blocks")
	echo "F. the store: $blocks live blocks (tests/bench/gen_db, query.sh)"
	# churn N rows S s R rows/s: us per row written or deleted.
	us=$(awk '$1 == "churn" && $6 > 0 { printf "%.1f", 1e6 / $6 }' "$TMP/gen.out")
	row "a block written or deleted, us (churn, in transactions)" "$us" "$(verdict "$us" "<=" 30)"
	ms() { sed -n "s/^$1 *\([0-9][0-9]*\) .*/\1/p" "$TMP/query.out"; }
	r=$(ms "top --per thread")
	row "memwatchctl top --per thread, ms" "$r" "$(verdict "$r" "<" 200)"
	r=$(awk '/^COMMAND/ { on = 1; next } on && $NF ~ /^[0-9]+$/ { v = $(NF - 3) + 0; if (v > m) m = v } END { print m + 0 }' "$TMP/query.out")
	row "slowest memwatchctl query, ms (median)" "$r" "$(verdict "$r" "<" 200)"
	sed -n '/^COMMAND/,$p' "$TMP/query.out" | sed 's/^/    /'
fi
