#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/config.sh - memwatchd's configuration file:
#   - the sample file packaging/memwatchd.conf passes --check-config;
#   - a file naming the database, the socket, an --exe target, a rule
#     threshold and the program's own allocator functions drives a real
#     daemon: the program started after it is traced from its first
#     allocation, its arena blocks are counted, its planted leak found;
#   - options after --config override the file;
#   - every bad file is one line "FILE:LINE: problem" and exit 2; bad
#     targets are one line and a non-zero exit from --check-config.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# --check-config on the sample: all of it commented out, so valid.
rc=0
"$MEMWATCHD" --config "$ROOT/packaging/memwatchd.conf" --check-config \
	>"$TMP/sample.out" 2>&1 || rc=$?
if [[ $rc == 0 && $(cat "$TMP/sample.out") == "configuration OK" ]]; then
	pass sample/check
else
	fail sample/check "exit $rc: $(cat "$TMP/sample.out")"
fi

# The same file with its examples turned on, minus those naming things
# this machine lacks: still valid syntax, checked up to the targets.
sed -e 's/^#\(alloc\|free\|grace\|persist-age\|orphan-age\|orphan-threads\|sample\|growth-samples\|growth-min\|retention-min\|tls\|comm\) /\1 /' \
	-e 's/^#tls$/tls/' "$ROOT/packaging/memwatchd.conf" >"$TMP/sample_on.conf"
rc=0
"$MEMWATCHD" --config "$TMP/sample_on.conf" --check-config \
	>"$TMP/sample_on.out" 2>&1 || rc=$?
if [[ $rc == 0 ]] && [[ $(grep -c '^[a-z]' "$TMP/sample_on.conf") -ge 12 ]]; then
	pass sample/examples_valid
else
	fail sample/examples_valid "exit $rc: $(cat "$TMP/sample_on.out")"
fi

# A real daemon from a file alone.
DB=$TMP/conf.db
SOCK=$TMP/conf.sock
cat >"$TMP/memwatchd.conf" <<EOF
# a test configuration
db $DB
socket $SOCK

exe $WL/custom_alloc
grace 300
	alloc app_xmalloc
free app_xfree
alloc arena_alloc:2
free   arena_free:2   
EOF
watch conf --config "$TMP/memwatchd.conf"
run_bg conf_run "$WL/custom_alloc" 8 4096
prog=$RUN_PID
wait_until 10 findings_at_least 8 || true
ok conf/stop "memwatchd did not stop cleanly" stop_daemon
if query conf/findings "$TMP/conf.json" findings; then
	expect conf/leak "$TMP/conf.json" \
		'[.[] | select(.pid == $p and .kind == "tls-outlived-thread" and .size == 4096 and .site.function == "custom_alloc_alloc")] | length' \
		8 --argjson p "$prog"
fi
if query conf/threads "$TMP/conf.threads.json" threads; then
	expect conf/worker_live_sets "$TMP/conf.threads.json" \
		'[.[] | select(.pid == $p and .tid != .pid) | [.live_blocks, .live_bytes]] | unique' \
		'[[1,4096]]' --argjson p "$prog"
fi

# Options after --config win: the file names one database, the command
# line after it another; the rows land in the latter.
DB=$TMP/override.db
SOCK=$TMP/override.sock
sed -e "s|^db .*|db $TMP/file.db|" -e "s|^socket .*|socket $SOCK|" \
	"$TMP/memwatchd.conf" >"$TMP/override.conf"
trace --config "$TMP/override.conf" --db "$DB" -- "$WL/tls_nodtor" 4 64
if [[ $TRACE_RC == 0 ]]; then
	pass override/exit_status
else
	fail override/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi
query override/findings "$TMP/override.json" findings &&
	expect override/leaks "$TMP/override.json" \
		'[.[] | select(.kind == "tls-outlived-thread")] | length' 4
if [[ ! -e $TMP/file.db ]]; then
	pass override/file_db_unused
else
	fail override/file_db_unused "the file's database was created"
fi

# Bad files: one line, naming the file and line, exit 2.
bad_conf() {
	local name=$1 want=$2
	shift 2
	# The file's bytes, escapes included, are the format.
	# shellcheck disable=SC2059
	printf "$@" >"$TMP/$name.conf"
	local rc=0
	"$MEMWATCHD" --config "$TMP/$name.conf" --check-config \
		>"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
	if [[ $rc == 2 && $(wc -l <"$TMP/$name.err") == 1 ]] &&
		grep -q "^$TMP/$name.conf:$want" "$TMP/$name.err"; then
		pass "bad/$name"
	else
		fail "bad/$name" "exit $rc, want 2 and one line '$TMP/$name.conf:$want...': $(cat "$TMP/$name.err")"
	fi
}
bad_conf unknown "2: unknown setting 'bogus'" '# x\nbogus 1\n'
bad_conf bad_value "1: grace: invalid value 'soon'" 'grace soon\n'
bad_conf no_value "3: exe: needs a value" '\n\nexe\n'
bad_conf flag_value "1: tls: takes no value" 'tls yes\n'
bad_conf nested "1: unknown setting 'config'" 'config /etc/passwd\n'
bad_conf help "1: unknown setting 'help'" 'help\n'
bad_conf bad_arg "1: alloc: invalid argument number" 'alloc pool_get:7\n'
bad_conf bad_realloc "1: realloc: expected FUNC:PTR:SIZE" 'realloc r:1\n'
bad_conf twice "1: free: unexpected" 'free f:1:2\n'
bad_conf long_comm "2: comm: invalid name" 'grace 1\ncomm abcdefghijklmnopq\n'
bad_conf nul "1: NUL byte" 'grace 1\0000\n'

# A file that cannot be read, a target that does not exist: one line,
# non-zero.
for c in "--config $TMP/none.conf" "--exe /nonexistent/prog" "--cgroup mw-no-such-group-$$"; do
	rc=0
	# shellcheck disable=SC2086  # the option and its value, split
	"$MEMWATCHD" $c --check-config >/dev/null 2>"$TMP/badt.err" || rc=$?
	if [[ $rc != 0 && $(wc -l <"$TMP/badt.err") == 1 ]]; then
		pass "bad_target/${c%% *}"
	else
		fail "bad_target/${c%% *}" "exit $rc: $(cat "$TMP/badt.err")"
	fi
done

finish
