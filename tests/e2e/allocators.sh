#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/allocators.sh - memwatchd probes where each process's
# allocator really is, under memwatchd -- CMD, with exact counts:
#   - tls_nodtor (8 worker threads, one 4096-byte block each in a key
#     without destructor) under every allocator Debian packages, linked
#     into the program and by LD_PRELOAD, and as a static binary: the
#     allocator is named, the 8 leaks found, each worker's live set is
#     its one block;
#   - C++ operator new/delete, every variant, with each allocator (they
#     define their own operators, which never reach malloc);
#   - mimalloc's mi_* API, jemalloc's *allocx API, and a jemalloc linked
#     into the executable with the je_ prefix;
#   - an application's own allocator pair (--alloc/--free with argument
#     positions), one of them nested over malloc.
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

# check_api NAME ALLOCATOR SITE ALLOCS FREES [DAEMON-ARGS...] -- CMD...:
# the allocator's own API or C++ operators. Each of the 8 workers makes
# ALLOCS allocations (reallocs that move count as one) and FREES frees
# through the API under test, and leaks one 4096-byte block at SITE in
# a key without destructor: each is counted exactly once, whichever of
# the probed functions call each other inside the allocator.
check_api() {
	local name=$1 want=$2 site=$3 allocs=$4 frees=$5 args=()
	shift 5
	while [[ $1 != -- ]]; do
		args+=("$1")
		shift
	done
	shift
	DB=$TMP/$name.db
	trace "${args[@]}" -- "$@" 8 4096
	if [[ $TRACE_RC == 0 ]]; then
		pass "$name/exit_status"
	else
		fail "$name/exit_status" "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
		return 0
	fi
	if query "$name/findings" "$TMP/$name.json" findings; then
		expect "$name/leaks" "$TMP/$name.json" \
			'[.[] | select(.kind == "tls-outlived-thread" and .size == 4096) | .site.function] | [length, unique]' \
			"[8,[\"$site\"]]"
		expect "$name/no_other_findings" "$TMP/$name.json" \
			'[.[] | select(.kind != "tls-outlived-thread")] | length' 0
	fi
	if query "$name/status" "$TMP/$name.status.json" status; then
		expect "$name/allocator" "$TMP/$name.status.json" '[.processes[].allocator] | unique' \
			"[\"$want\"]"
	fi
	if query "$name/threads" "$TMP/$name.threads.json" threads; then
		expect "$name/worker_counts" "$TMP/$name.threads.json" \
			'[.[] | select(.tid != .pid) | [.live_blocks, .live_bytes, .allocs, .frees]] | unique' \
			"[[1,4096,$allocs,$frees]]"
		expect "$name/workers" "$TMP/$name.threads.json" \
			'[.[] | select(.tid != .pid)] | length' 8
	fi
}

# C++ operator new and delete, every variant (tests/workloads/cxx_new.cc):
# 36 pairs and the leak per worker. jemalloc, tcmalloc and mimalloc
# define the operators themselves (probed there); with glibc, libstdc++'s
# operators call malloc and free, and its operator new (which keeps no
# frame pointer) hands its caller's site to the malloc it makes: the
# site is the program's, not libstdc++'s.
check_api cxx_glibc glibc cxx_new_alloc 37 36 -- "$WL/cxx_new"
for a in jemalloc tcmalloc mimalloc; do
	check_api "cxx_${a}_linked" "$a" cxx_new_alloc 37 36 -- "$WL/cxx_new_$a"
done
check_api cxx_jemalloc_preload jemalloc cxx_new_alloc 37 36 -- \
	env LD_PRELOAD=$LIB/libjemalloc.so.2 "$WL/cxx_new"
check_api cxx_tcmalloc_preload tcmalloc cxx_new_alloc 37 36 -- \
	env LD_PRELOAD=$LIB/libtcmalloc_minimal.so.4 "$WL/cxx_new"
check_api cxx_mimalloc_preload mimalloc cxx_new_alloc 37 36 -- \
	env LD_PRELOAD=$LIB/libmimalloc.so.2 "$WL/cxx_new"

# glibc's strdup and strndup: wrappers that malloc for their caller.
check_api strdup glibc strdup_leak_alloc 5 4 -- "$WL/strdup_leak"

# mimalloc's own API (mi_malloc, mi_zalloc, mi_calloc, mi_mallocn,
# mi_*_aligned, mi_realloc, mi_reallocn, mi_free*): 36 allocations and 8
# moving reallocs (each also frees its old block) per worker.
check_api mi_api mimalloc mi_api_alloc 45 44 -- "$WL/mi_api"
# jemalloc's own API (mallocx, rallocx, dallocx, sdallocx) from Debian's
# library, and the same calls with the je_ prefix to a jemalloc linked
# into the executable (as Redis embeds it): probed in the executable.
check_api je_api_so jemalloc je_api_alloc 37 36 -- "$WL/je_api_so"
check_api je_api_prefixed jemalloc je_api_alloc 37 36 -- "$WL/je_api"

# An application's own allocators (tests/workloads/custom_alloc.c):
# app_xmalloc/app_xfree wrap malloc/free (each block counted once, as
# app_xmalloc's), arena_alloc/arena_free carve an mmap'ed arena with size
# and pointer as second arguments. The leak is an arena block.
check_api custom glibc custom_alloc_alloc 17 16 \
	--alloc app_xmalloc --free app_xfree --alloc arena_alloc:2 \
	--free arena_free:2 -- "$WL/custom_alloc"
# Without being told of the arena, memwatch sees only the malloc'ed
# blocks: no leak to report, 8 allocations per worker.
DB=$TMP/custom_untold.db
trace -- "$WL/custom_alloc" 8 4096
query custom_untold/threads "$TMP/custom_untold.json" threads &&
	expect custom_untold/worker_counts "$TMP/custom_untold.json" \
		'[.[] | select(.tid != .pid) | [.live_blocks, .allocs, .frees]] | unique' '[[0,8,8]]'
finish
