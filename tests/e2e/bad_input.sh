#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/bad_input.sh - what a user sees when things are wrong: every
# bad invocation of memwatchd or memwatchctl fails with a non-zero status
# and exactly one line on stderr naming the program, damages nothing, and
# a traced process that simply exits does not take the daemon down.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# expect_error NAME RC PROG COMMAND...: COMMAND must exit with status RC
# ("nonzero": any failure) within 20 s, printing exactly one line on
# stderr, which starts with "PROG: ". Its stdout stays in $TMP/NAME.out.
expect_error() {
	local name=$1 want=$2 prog=$3 rc=0 out=$TMP/$1.out err=$TMP/$1.err
	local lines first
	shift 3
	timeout -k 5 20 "$@" >"$out" 2>"$err" </dev/null || rc=$?
	lines=$(grep -c '' "$err" || true)
	first=$(head -n 1 "$err")
	if [[ $rc == 124 || $rc == 137 ]]; then
		fail "$name" "still running after 20 s"
	elif [[ $rc == 0 || ($want != nonzero && $rc != "$want") ]]; then
		fail "$name" "exit status $rc, want $want; stderr: $(cat "$err")"
	elif [[ $lines != 1 ]]; then
		fail "$name" "$lines lines on stderr, want 1: $(cat "$err")"
	elif [[ $first != "$prog: "* ]]; then
		fail "$name" "stderr does not start with '$prog: ': $first"
	else
		pass "$name"
	fi
}

# unchanged NAME FILE: FILE is byte-identical to the FILE.orig copy.
unchanged() {
	if cmp -s "$2" "$2.orig"; then
		pass "$1"
	else
		fail "$1" "$2 was modified"
	fi
}

# A file that is not an SQLite database, and a pristine copy of it.
garbage=$TMP/garbage.db
for ((i = 0; i < 256; i++)); do
	printf 'this is not a database, line %03d\n' "$i"
done >"$garbage"
cp "$garbage" "$garbage.orig"

d=("$MEMWATCHD" --db "$DB" --socket "$SOCK" --metrics-listen none)
c=("$MEMWATCHCTL" --db "$DB" --socket "$SOCK")

# --- memwatchd --------------------------------------------------------------

# A pid above pid_max cannot exist.
nopid=$(($(cat /proc/sys/kernel/pid_max) + 1))
expect_error memwatchd_unknown_pid nonzero memwatchd "${d[@]}" --pid "$nopid"
expect_error memwatchd_no_such_cmd 127 memwatchd "${d[@]}" -- /nonexistent/cmd
expect_error memwatchd_garbage_db 1 memwatchd \
	"$MEMWATCHD" --db "$garbage" --socket "$SOCK" -- true
unchanged memwatchd_garbage_db_untouched "$garbage"
expect_error memwatchd_socket_dir_missing 1 memwatchd \
	"$MEMWATCHD" --db "$DB" --socket "$TMP/missing-dir/x.sock" -- true
expect_error memwatchd_bogus_option nonzero memwatchd "${d[@]}" --bogus-option
# A flag given a value: named as written, not as a letter.
expect_error memwatchd_flag_value nonzero memwatchd "${d[@]}" --no-follow=1
if grep -q "'--no-follow=1'" "$TMP/memwatchd_flag_value.err"; then
	pass memwatchd_flag_value/named
else
	fail memwatchd_flag_value/named "$(cat "$TMP/memwatchd_flag_value.err")"
fi
# A --wrapper expression that does not compile: named, on the command
# line and in a file.
expect_error memwatchd_bad_wrapper 2 memwatchd "${d[@]}" --wrapper 'my_(x' -- true
if grep -q "wrapper: invalid regular expression 'my_(x'" "$TMP/memwatchd_bad_wrapper.err"; then
	pass memwatchd_bad_wrapper/named
else
	fail memwatchd_bad_wrapper/named "$(cat "$TMP/memwatchd_bad_wrapper.err")"
fi
printf 'wrapper [z-a]\n' >"$TMP/bad_wrapper.conf"
# In a file, the line is named as FILE:LINE.
expect_error memwatchd_bad_wrapper_conf 2 "$TMP/bad_wrapper.conf:1" "${d[@]}" \
	--config "$TMP/bad_wrapper.conf" -- true
if grep -q "wrapper: invalid regular expression '\[z-a\]'" "$TMP/memwatchd_bad_wrapper_conf.err"; then
	pass memwatchd_bad_wrapper_conf/named
else
	fail memwatchd_bad_wrapper_conf/named "$(cat "$TMP/memwatchd_bad_wrapper_conf.err")"
fi
expect_error memwatchd_bad_wrapper_callers 2 memwatchd "${d[@]}" \
	--wrapper-callers many -- true

# --- memwatchctl ------------------------------------------------------------

expect_error ctl_missing_db 1 memwatchctl \
	"$MEMWATCHCTL" --db "$TMP/nonexistent.db" --socket "$SOCK" findings
if [[ -e $TMP/nonexistent.db ]]; then
	fail ctl_missing_db_not_created "memwatchctl created $TMP/nonexistent.db"
else
	pass ctl_missing_db_not_created
fi
expect_error ctl_garbage_db 1 memwatchctl \
	"$MEMWATCHCTL" --db "$garbage" --socket "$SOCK" findings
unchanged ctl_garbage_db_untouched "$garbage"
expect_error ctl_no_daemon 1 memwatchctl \
	"$MEMWATCHCTL" --db "$DB" --socket "$TMP/nonexistent.sock" attach 1
expect_error ctl_unknown_command 2 memwatchctl "${c[@]}" frobnicate
expect_error ctl_unknown_command_json 2 memwatchctl "${c[@]}" --json frobnicate
expect ctl_unknown_command_json/error_object "$TMP/ctl_unknown_command_json.out" \
	'if type == "object" then (.error | type) else type end' string

# --- a traced process exits on its own --------------------------------------

# A workload held at its start gate (so the daemon surely attaches before
# it can exit), then let go: it runs and exits on its own.
start_gated tls_dtor 2 64
target=$WL_PID
start_daemon --pid "$target"
if wait_for_target "$target"; then
	pass target_exit/attached
else
	fail target_exit/attached "$WHY"
fi
touch "$WL_GATE"
reap "$target"
if [[ $REAP_RC == 0 ]]; then
	pass target_exit/target_unharmed
else
	fail target_exit/target_unharmed "tls_dtor exited $REAP_RC"
fi
wait_until 10 proc_state_is "$target" exited || true
ok target_exit/daemon_running "memwatchd exited with its target" daemon_alive
query target_exit/status "$TMP/status.json" status &&
	expect target_exit/status "$TMP/status.json" \
		'[(.daemon != null), (.processes[] | select(.pid == $p) | .state)]' \
		'[true,"exited"]' --argjson p "$target"
ok target_exit/sigterm "SIGTERM did not stop memwatchd with status 0" \
	stop_daemon

finish
