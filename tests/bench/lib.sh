# shellcheck shell=bash
# tests/bench/lib.sh - what tests/bench/run.sh and tests/bench/kernel.sh
# share: timing a workload from inside it, and keeping the samples of each
# configuration for their median. The caller sets TMP (a temp dir) and
# BENCH (its name, for errors) first.
#
# The time is the workload's own, measured inside it around its work
# (MW_ELAPSED_FILE, tests/workloads/workload.h): no tracer's start,
# attach, detach or stop is in it.

# run_ns CMD...: the ns the workload in CMD reports it worked; CMD's
# stderr is kept in $TMP/last.err.
run_ns() {
	rm -f "$TMP/elapsed"
	MW_ELAPSED_FILE=$TMP/elapsed "$@" >/dev/null 2>"$TMP/last.err" || {
		echo "$BENCH: failed: $* ($(tail -n 1 "$TMP/last.err"))" >&2
		exit 1
	}
	if [[ ! -s $TMP/elapsed ]]; then
		echo "$BENCH: $* reported no elapsed time" >&2
		exit 1
	fi
	cat "$TMP/elapsed"
}

# Samples by configuration: "ns ns ...".
declare -A T

# sample NAME CMD...: time CMD once more under NAME.
sample() {
	local name=$1
	shift
	T[$name]+="$(run_ns "$@") "
}

# median NAME: the median of NAME's samples.
median() {
	tr ' ' '\n' <<<"${T[$1]}" | grep . | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
