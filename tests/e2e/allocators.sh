#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/allocators.sh - the planted TLS leak of tls_nodtor (8 worker
# threads, one 4096-byte block each, key without destructor) under every
# allocator Debian packages, linked into the program and by LD_PRELOAD,
# under memwatchd -- CMD: memwatchd probes where malloc really is, names
# the allocator, finds the 8 leaks, and each worker thread's live set is
# exactly its one 4096-byte block.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

LIB=/usr/lib/x86_64-linux-gnu

# check_alloc NAME ALLOCATOR CMD...: trace CMD and check the leak, the
# allocator's name and the workers' live sets.
check_alloc() {
	local name=$1 want=$2
	shift 2
	DB=$TMP/$name.db
	trace -- "$@" 8 4096
	if [[ $TRACE_RC == 0 ]]; then
		pass "$name/exit_status"
	else
		fail "$name/exit_status" "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
		return 0
	fi
	query "$name/findings" "$TMP/$name.json" findings &&
		check_tls_findings "$name" "$TMP/$name.json" 8 \
			tls-outlived-thread 4096 tls_nodtor_alloc
	if query "$name/status" "$TMP/$name.status.json" status; then
		expect "$name/allocator" "$TMP/$name.status.json" \
			'[.processes[] | select(.comm == "tls_nodtor" or (.comm | startswith("tls_nodtor_"))) | .allocator] | unique' \
			"[\"$want\"]"
	fi
	if query "$name/threads" "$TMP/$name.threads.json" threads; then
		# The 8 workers: not the main thread, each one block of 4096.
		expect "$name/worker_live_sets" "$TMP/$name.threads.json" \
			'[.[] | select(.tid != .pid and .state == "exited") | [.live_blocks, .live_bytes]] | unique' \
			'[[1,4096]]'
		expect "$name/workers" "$TMP/$name.threads.json" \
			'[.[] | select(.tid != .pid and .state == "exited")] | length' 8
	fi
}

check_alloc glibc glibc "$WL/tls_nodtor"
for a in jemalloc tcmalloc mimalloc; do
	check_alloc "${a}_linked" "$a" "$WL/tls_nodtor_$a"
done
check_alloc jemalloc_preload jemalloc env LD_PRELOAD=$LIB/libjemalloc.so.2 "$WL/tls_nodtor"
check_alloc tcmalloc_preload tcmalloc env LD_PRELOAD=$LIB/libtcmalloc_minimal.so.4 "$WL/tls_nodtor"
check_alloc mimalloc_preload mimalloc env LD_PRELOAD=$LIB/libmimalloc.so.2 "$WL/tls_nodtor"
check_alloc static glibc "$WL/tls_nodtor_static"

finish
