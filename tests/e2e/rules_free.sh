#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/rules_free.sh - frees across threads, under the real daemon:
#   - a custom object pool trimmed by two threads without its lock: both
#     free the same 8 objects, so the second thread's 8 frees are double
#     frees: one bad-free finding for the free site in
#     custom_pool_release;
#   - the same pool with its lock: no finding;
#   - producers that exit after handing blocks to a long-lived consumer
#     that keeps some and frees the rest: hand-offs, no finding;
#   - a program traced from exec whose 200 threads each free a key's
#     value through glibc (the key's destructor is free) and exit at
#     once: glibc frees each value again from the thread's tcache at
#     exit, from a libc the daemon's maps, read at exec, do not show yet,
#     and the program is gone before they can be read again: no finding.
# glibc's own frees at thread exit (its tcache) never count.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

if run_case pool "$WL/custom_pool" 8 48; then
	f=$TMP/pool.json
	expect pool/count "$f" 'length' 1
	expect pool/kind "$f" '.[0].kind' bad-free
	expect pool/severity "$f" '.[0].severity' high
	expect pool/site "$f" '.[0].site.function' custom_pool_release
	expect pool/double_frees "$f" '.[0].count' 8
	expect pool/threads "$f" '.[0].threads' 1
	expect pool/detail "$f" '.[0].detail | startswith("8 double free(s), 0 free(s) of unknown addresses, 8 of ")' true
fi
run_case pool_clean "$WL/custom_pool_clean" 8 48 &&
	expect pool_clean/no_findings "$TMP/pool_clean.json" 'length' 0

if run_case handoff "$WL/producer_consumer"; then
	expect handoff/no_findings "$TMP/handoff.json" 'length' 0
	if query handoff/threads "$TMP/handoff_threads.json" threads; then
		# The consumer really freed blocks other threads allocated.
		expect handoff/cross_frees "$TMP/handoff_threads.json" \
			'[.[].cross_frees] | add > 0' true
	fi
fi

# run_case traces from exec (-- CMD), which is what matters here.
if run_case churn "$WL/thread_churn" 200 8 0; then
	expect churn/no_findings "$TMP/churn.json" 'length' 0
fi

finish
