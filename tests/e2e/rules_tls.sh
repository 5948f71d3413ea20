#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/rules_tls.sh - the TLS leak patterns beyond a key without
# destructor, each under the real daemon with its clean twin:
#   - C++ thread_local objects that own a heap block and lack a destructor,
#     under thread churn: one thread-orphan finding for the site, high,
#     counting every thread, with the stack through the TLS initializer;
#   - pthread_setspecific replacing live values: tls-overwritten, one row
#     per key and site; a list whose head lives in TLS (each new head
#     linking the old) is no overwrite;
#   - a plugin dlclose'd under live threads: tls-outlived-module, with the
#     plugin's (unmapped) code symbolized.
# The twins do the same work correctly: no finding at all.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# C++ thread_local churn: 60 rounds of 5 threads, 512-byte buffers.
if run_case cxx_leak "$WL/tls_cxx_leak" 60 5 512; then
	f=$TMP/cxx_leak.json
	expect cxx_leak/one_finding "$f" 'length' 1
	expect cxx_leak/kind "$f" '.[0].kind' thread-orphan
	expect cxx_leak/severity "$f" '.[0].severity' high
	expect cxx_leak/site "$f" '.[0].site.function' cxx_tls_buffer_alloc
	expect cxx_leak/count "$f" '.[0].count' 300
	expect cxx_leak/threads "$f" '.[0].threads' 300
	expect cxx_leak/bytes "$f" '.[0].bytes' 153600
	expect cxx_leak/size "$f" '.[0].size' 512
	id=$(jqv "$f" '.[0].id // 0')
	if query cxx_leak/explain "$TMP/cxx_explain.json" explain "$id"; then
		expect cxx_leak/tls_init "$TMP/cxx_explain.json" '.stack.tls_init' true
		expect cxx_leak/stack_through_init "$TMP/cxx_explain.json" \
			'[.stack.frames[].function | select(startswith("_ZTH"))] | length' 1
	fi
fi
run_case cxx_clean "$WL/tls_cxx_clean" 60 5 512 &&
	expect cxx_clean/no_findings "$TMP/cxx_clean.json" 'length' 0

# The same under mimalloc (Debian's libmimalloc, preloaded): memwatchd
# probes the allocator the program will load, and names it.
MIMALLOC=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2
if [[ ! -r $MIMALLOC ]]; then
	fail mimalloc/setup "$MIMALLOC is missing: run make deps (libmimalloc-dev)"
else
	if run_case mi_leak env LD_PRELOAD=$MIMALLOC "$WL/tls_cxx_leak" 20 5 512; then
		f=$TMP/mi_leak.json
		expect mi_leak/one_finding "$f" 'length' 1
		expect mi_leak/kind "$f" '.[0].kind' thread-orphan
		expect mi_leak/severity "$f" '.[0].severity' high
		expect mi_leak/site "$f" '.[0].site.function' cxx_tls_buffer_alloc
		expect mi_leak/count "$f" '.[0].count' 100
		query mi_leak/status "$TMP/mi_status.json" status &&
			expect mi_leak/allocator "$TMP/mi_status.json" \
				'[.processes[] | select(.comm == "tls_cxx_leak") | .allocator] | unique' \
				'["mimalloc"]'
	fi
	run_case mi_clean env LD_PRELOAD=$MIMALLOC "$WL/tls_cxx_clean" 20 5 512 &&
		expect mi_clean/no_findings "$TMP/mi_clean.json" 'length' 0
fi

# setspecific overwrites: 4 threads, 5 values each, 4 overwritten; one
# row for the key and site, counting all 16.
if run_case overwrite "$WL/tls_overwrite" 4 5 256; then
	f=$TMP/overwrite.json
	expect overwrite/one_row "$f" 'length' 1
	expect overwrite/kind "$f" '.[0].kind' tls-overwritten
	expect overwrite/severity "$f" '.[0].severity' medium
	expect overwrite/count "$f" '.[0].count' 16
	expect overwrite/threads "$f" '.[0].threads' 4
	expect overwrite/bytes "$f" '.[0].bytes' 4096
	expect overwrite/size "$f" '.[0].size' 256
	expect overwrite/site "$f" '.[0].site.function' tls_overwrite_alloc
	expect overwrite/own_block "$f" '.[0].alloc_tid == .[0].tid' true
fi
run_case overwrite_clean "$WL/tls_overwrite_clean" 4 5 256 &&
	expect overwrite_clean/no_findings "$TMP/overwrite_clean.json" 'length' 0

# A list whose head lives in TLS, 4 threads pushing 2000 nodes each: the
# clean twin links every new head to the old one (no finding for its 7996
# replaced heads); the leaking one drops the old head at each push: one
# row for the key and site, counting every dropped node.
if run_case list_leak "$WL/tls_list" 4 2000; then
	f=$TMP/list_leak.json
	expect list_leak/one_row "$f" 'length' 1
	expect list_leak/kind "$f" '.[0].kind' tls-overwritten
	expect list_leak/severity "$f" '.[0].severity' medium
	expect list_leak/site "$f" '.[0].site.function' tls_list_push
	expect list_leak/count "$f" '.[0].count' 7996
	expect list_leak/threads "$f" '.[0].threads' 4
	expect list_leak/bytes "$f" '.[0].bytes' $((7996 * 48))
	expect list_leak/size "$f" '.[0].size' 48
fi
run_case list_clean "$WL/tls_list_clean" 4 2000 &&
	expect list_clean/no_findings "$TMP/list_clean.json" 'length' 0

# A plugin unloaded under 4 live workers, 3 rounds, 2 KiB per worker.
if run_case dlclose "$WL/dlclose_tls" 4 3 2048; then
	f=$TMP/dlclose.json
	expect dlclose/count "$f" 'length' 12
	expect dlclose/kind "$f" '[.[].kind] | unique' '["tls-outlived-module"]'
	expect dlclose/size "$f" '[.[].size] | unique' '[2048]'
	expect dlclose/site "$f" '[.[].site.function] | unique' '["tlsmod_buffer_alloc"]'
	expect dlclose/module "$f" '[.[].site.module | endswith("libmwtlsmod.so")] | unique' '[true]'
	expect dlclose/workers "$f" '[.[].tid] | unique | length' 4
	expect dlclose/keys "$f" '[.[].generation] | unique' '[1,2,3]'
fi
run_case dlclose_clean "$WL/dlclose_tls_clean" 4 3 2048 &&
	expect dlclose_clean/no_findings "$TMP/dlclose_clean.json" 'length' 0

finish
