#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/rules_growth.sh - memory that grows while its threads live,
# under the real daemon and its default growth settings:
#   - a pool of 4 threads whose per-thread caches are never trimmed: one
#     thread-growth per pool thread and one site-growth, all naming
#     pool_cache_grow;
#   - a worker queue that keeps finished tasks' payloads: site-growth for
#     queue_payload_alloc and thread-growth for the producer.
# Their clean twins (a bounded cache, payloads freed when done) do the
# same work: no finding.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

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
	# The site held at least the 2.5 s of growth the rule needs: 1000 KiB/s.
	expect pool/site_bytes "$f" \
		'[.[] | select(.kind == "site-growth" and .bytes >= 2048000)] | length' 1
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
fi
run_case queue_clean "$WL/queue_retain_clean" 3 4000 4 1024 &&
	expect queue_clean/no_findings "$TMP/queue_clean.json" 'length' 0

finish
