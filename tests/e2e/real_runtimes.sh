#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/real_runtimes.sh - language runtimes from Debian running
# threads, under memwatchd -- CMD with its default settings. Each runs
# twice: as it is (no finding at all, while really traced: allocations
# counted, every thread seen, no event lost), and with the planted TLS
# leak (tests/workloads/plant.c LD_PRELOAD'd: a block per thread through
# a key of its own), which must be found naming its culprit,
# mw_plant_leak, with nothing else found.
#   - jvm: OpenJDK 17 running tests/e2e/real/Pools.java (compiled here
#     with javac, outside the trace): 10 rounds of a fixed pool of 8
#     threads, shut down after 64 tasks, and a cached pool alongside:
#     some 90 threads start and end. HotSpot keeps some of an exited
#     thread's blocks on its own free lists: not a leak.
#   - node: the nodejs package (Debian's 18, or the 20 a machine may have
#     from NodeSource) running tests/e2e/real/workers.js: 6 rounds
#     of a pool of 4 worker_threads Workers (each a V8 isolate and a
#     thread), 20 jobs a round (crypto, JSON, zlib), the pool terminated
#     after each round: 24 workers start and end. V8's native stacks
#     are many and deep, and its builtins have no CFI: before the kernel
#     walked stacks by learned rules (bpf/memwatch.h, cfa_rules) their
#     copies lost 100,000-300,000 of its 1.7 million records on 2 CPUs
#     (the case ran without unwinding, with a 128 MiB ring buffer), and
#     a trace that lost events withholds its findings (the planted
#     leak's too). Now unwinding is on, as by default, with a 64 MiB ring
#     buffer: at the default 16 MiB, quiet runs here lost none, one CI
#     run 1,011 (a burst of workers' first stacks, each a copy until its
#     rules are learned). The case checks that none is lost and that
#     most stacks are walked in the kernel.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

REAL=$ROOT/tests/e2e/real
JAVA=/usr/bin/java
JAVAC=/usr/bin/javac
NODE=/usr/bin/node

for bin in "$JAVA" "$JAVAC" "$NODE" "$PLANT_SO"; do
	if [[ ! -e $bin ]]; then
		fail setup "$bin is missing: run make deps and make tests (openjdk-17-jdk-headless nodejs)"
		finish
	fi
done

# --- the JVM's thread pools ---------------------------------------------------

mkdir -p "$TMP/classes"
if ! "$JAVAC" -d "$TMP/classes" "$REAL/Pools.java" 2>"$TMP/javac.err"; then
	fail jvm/javac "javac failed: $(tail -n 3 "$TMP/javac.err")"
	finish
fi

# jvm_case NAME [PRELOAD]: Pools under memwatchd -- CMD.
jvm_case() {
	local name=$1
	run_timed_case "$name" "${2:-}" "$JAVA" -Xmx256m -cp "$TMP/classes" Pools 10 8 64
	expect_output "$name" 'pools=10 tasks=640 .*' "Pools did not finish its 640 tasks"
}

jvm_case jvm
# Some 18,000 mallocs (the Java heap is the JVM's own), 80 pool threads.
check_clean jvm '.comm == "java"' 5000 90 exited
show_top jvm

jvm_case jvm_planted "$PLANT_SO"
# Every pool thread leaves its block when it ends: 80 at least.
check_planted jvm_planted '.pid > 0' 80

# --- node's worker_threads ----------------------------------------------------

# node_case NAME [PRELOAD]: workers.js under memwatchd -- CMD.
node_case() {
	local name=$1
	CASE_ARGS=(--ringbuf-mb 64 --metrics-textfile "$TMP/$name.prom")
	run_timed_case "$name" "${2:-}" "$NODE" "$REAL/workers.js" 6 4 20
	CASE_ARGS=()
	expect_output "$name" 'workers=24 jobs=120' "workers.js did not finish its 120 jobs"
}

node_case node
# Nothing lost, and most stacks walked in the kernel, not copied: a copy
# per allocation is what lost records before. How many more depends on
# the machine's load (rules are learned from copies the loop has time
# to unwind): 4 to 5 times on a quiet machine, 1.8 times with other
# tests running alongside.
walked=$(awk '$1 == "memwatch_unwind_stacks_total{result=\"walked\"}" { print $2 }' "$TMP/node.prom")
copies=$(awk '$1 ~ /^memwatch_unwind_stacks_total/ && $1 !~ /walked/ { n += $2 } END { print n + 0 }' "$TMP/node.prom")
lost=$(awk '$1 == "memwatch_events_lost_total" { print $2 }' "$TMP/node.prom")
echo "# node: $walked stacks walked in the kernel, $copies keyed or copied, ${lost:-?} events lost"
if [[ ${lost:-x} == 0 ]] && ((${walked:-0} > copies)); then
	pass node/walked
else
	fail node/walked "lost '${lost:-}' (want 0), walked '${walked:-}' (want more than the $copies keyed or copied)"
fi
# Each worker is a V8 isolate: some 300,000 mallocs; 24 workers and the
# threads of node's platform and libuv pools.
check_clean node '.comm == "node"' 100000 30 exited
show_top node

node_case node_planted "$PLANT_SO"
# Every thread that ends leaves its block (the 24 workers at least), and
# the key is deleted at exit under the others.
check_planted node_planted '.pid > 0' 24

finish
