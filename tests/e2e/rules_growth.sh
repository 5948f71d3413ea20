#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/rules_growth.sh - memory that grows while its threads live,
# under the real daemon and its default growth settings:
#   - a pool of 4 threads whose per-thread caches are never trimmed: one
#     thread-growth per pool thread and one site-growth, all naming
#     pool_cache_grow, resolved when the caches are freed at the end;
#   - a worker queue that keeps finished tasks' payloads: site-growth for
#     queue_payload_alloc and thread-growth for the producer, resolved
#     when it is drained at the end.
#   - threads that come and go, more of them at once each round, under
#     glibc and under mimalloc: the allocator keeps their arenas or
#     segments, so anonymous memory grows while the live set does not:
#     allocator-retention, naming the allocator.
# Their clean twins (a bounded cache, payloads freed when done, one
# shared arena) do the same work: no finding.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# The workloads last seconds: growth judged by the window alone (the
# default horizon, a minute, is tests/unit/test_rules.c's and
# real_servers' to show).
SCALE_ARGS+=(--growth-horizon 0)

if run_case pool "$WL/pool_cache" 4 4000 4 1024; then
	f=$TMP/pool.json
	expect pool/count "$f" 'length' 5
	expect pool/thread_growth "$f" '[.[] | select(.kind == "thread-growth")] | length' 4
	expect pool/site_growth "$f" '[.[] | select(.kind == "site-growth")] | length' 1
	expect pool/site "$f" '[.[].site.function] | unique' '["pool_cache_grow"]'
	expect pool/size "$f" '[.[].size] | unique' '[1024]'
	expect pool/distinct_threads "$f" \
		'[.[] | select(.kind == "thread-growth") | .tid] | unique | length' 4
	expect pool/not_main "$f" \
		'[.[] | select(.kind == "thread-growth" and .tid == .pid)] | length' 0
	# The site held at least the 2.5 s of growth the rule needs: 1000 KiB/s
	# (its peak, said when resolved: each thread frees its cache at the end).
	expect pool/site_bytes "$f" \
		'[.[] | select(.kind == "site-growth") | .resolved_reason
		  | capture("peak (?<p>[0-9]+)").p | tonumber | select(. >= 2048000)] | length' 1
	expect pool/resolved "$f" \
		'[.[] | select(.state == "resolved" and .bytes == 0 and
		  (.resolved_reason | test("live bytes back to 0 ")))] | length' 5
fi
run_case pool_clean "$WL/pool_cache_clean" 4 4000 4 1024 &&
	expect pool_clean/no_findings "$TMP/pool_clean.json" 'length' 0

if run_case queue "$WL/queue_retain" 3 4000 4 1024; then
	f=$TMP/queue.json
	expect queue/count "$f" 'length' 2
	expect queue/kinds "$f" '[.[].kind] | sort' '["site-growth","thread-growth"]'
	expect queue/site "$f" '[.[].site.function] | unique' '["queue_payload_alloc"]'
	expect queue/one_thread "$f" '[.[].tid] | unique | length' 1
	expect queue/size "$f" '[.[].size] | unique' '[1024]'
	# The queue is drained at the end: both resolved.
	expect queue/resolved "$f" '[.[].state] | unique' '["resolved"]'
fi
run_case queue_clean "$WL/queue_retain_clean" 3 4000 4 1024 &&
	expect queue_clean/no_findings "$TMP/queue_clean.json" 'length' 0

if run_case arenas "$WL/arena_retention"; then
	f=$TMP/arenas.json
	expect arenas/count "$f" 'length' 1
	expect arenas/kind "$f" '.[0].kind' allocator-retention
	expect arenas/allocator "$f" '.[0].detail | startswith("glibc:")' true
	# Eight arenas of 64 MiB reserved at least, their threads gone.
	expect arenas/bytes "$f" '.[0].bytes >= 536870912' true
	expect arenas/exits "$f" '.[0].threads >= 10' true
fi
run_case arenas_clean "$WL/arena_retention" 7 2 1048576 1 &&
	expect arenas_clean/no_findings "$TMP/arenas_clean.json" 'length' 0

MIMALLOC=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2
if run_case mi_arenas env LD_PRELOAD=$MIMALLOC "$WL/arena_retention"; then
	f=$TMP/mi_arenas.json
	expect mi_arenas/count "$f" 'length' 1
	expect mi_arenas/kind "$f" '.[0].kind' allocator-retention
	expect mi_arenas/allocator "$f" '.[0].detail | startswith("mimalloc:")' true
fi

finish
