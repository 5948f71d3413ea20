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
# node with worker_threads is not here yet: its V8 isolates make some
# 100,000 allocations a second, more than the daemon takes in at the
# default ring buffer on 2 CPUs, and a trace that lost events withholds
# findings (the planted leak's too). See docs/RULES.md.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

REAL=$ROOT/tests/e2e/real
JAVA=/usr/bin/java
JAVAC=/usr/bin/javac

for bin in "$JAVA" "$JAVAC" "$PLANT_SO"; do
	if [[ ! -e $bin ]]; then
		fail setup "$bin is missing: run make deps and make tests (openjdk-17-jdk-headless)"
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
	if grep -q '^pools=10 tasks=640 ' "$TRACE_LOG.out"; then
		pass "$name/output"
	else
		fail "$name/output" "Pools did not finish its 640 tasks: $(tail -n 3 "$TRACE_LOG.out" "$TRACE_LOG.err")"
	fi
}

jvm_case jvm
# Some 18,000 mallocs (the Java heap is the JVM's own), 80 pool threads.
check_clean jvm '.comm == "java"' 5000 90 exited
show_top jvm

jvm_case jvm_planted "$PLANT_SO"
# Every pool thread leaves its block when it ends: 80 at least.
check_planted jvm_planted '.pid > 0' 80

finish
