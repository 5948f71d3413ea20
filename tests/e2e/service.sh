#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/service.sh - memwatchd as a systemd service, without systemd
# running: packaging/memwatchd.service passes `systemd-analyze verify`;
# the sd_notify protocol (READY once attached, RELOADING/READY around a
# reload, STOPPING, WATCHDOG) as a datagram socket standing in for
# systemd sees it; SIGHUP rereads the configuration (a new target is
# traced, a dropped one is not, new thresholds apply, findings stay; a
# bad file changes nothing and logs one line); SIGTERM writes what is
# left and exits 0; the control socket serves root and group memwatch
# only (a test group and user are made, and removed at exit, if absent);
# log lines carry journald priorities when stderr is the journal.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

UNIT=$ROOT/packaging/memwatchd.service
BIN=$TMP/bin
mkdir -p "$BIN"
# Programs with names of their own for the comm watches, and memwatchctl
# where the test user can run it.
cp "$WL/tls_nodtor" "$BIN/svc_first"
cp "$WL/tls_nodtor" "$BIN/svc_second"
cp "$MEMWATCHCTL" "$BIN/memwatchctl"

# new_lines FILE FROM: the lines of FILE after its first FROM lines.
new_lines() {
	tail -n +"$(($2 + 1))" "$1"
}

# --- (a) the unit file --------------------------------------------------------
# verify checks that ExecStart and ExecReload name executables and that
# the pages in Documentation= exist: here the binaries are the ones just
# built (the unit names /usr/sbin/memwatchd and /usr/bin/memwatchctl,
# where the package puts them) and the pages are
# docs/man's, found through MANPATH as an installed package would have
# them. Nothing else in the unit is changed.
mkdir -p "$TMP/man/man1" "$TMP/man/man5" "$TMP/man/man8"
for page in "$ROOT"/docs/man/*.[158]; do
	ln -s "$page" "$TMP/man/man${page##*.}/"
done
sed -e "s|^ExecStart=/usr/sbin/memwatchd |ExecStart=$MEMWATCHD |" \
	-e "s|^ExecReload=/usr/bin/memwatchctl |ExecReload=$MEMWATCHCTL |" \
	"$UNIT" >"$TMP/memwatchd.service"
if ! grep -q "^ExecStart=$MEMWATCHD --config /etc/memwatch/memwatchd.conf$" \
	"$TMP/memwatchd.service"; then
	fail unit/exec_start "ExecStart is not '/usr/sbin/memwatchd --config /etc/memwatch/memwatchd.conf'"
fi
if MANPATH=$TMP/man systemd-analyze verify "$TMP/memwatchd.service" \
	>"$TMP/verify.out" 2>&1 && [[ ! -s $TMP/verify.out ]]; then
	pass unit/verify
else
	fail unit/verify "$(cat "$TMP/verify.out")"
fi
systemd-analyze security --offline=true "$TMP/memwatchd.service" \
	>"$TMP/security.out" 2>&1 || true
level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' \
	"$TMP/security.out")
# 2.7 when written: the rest is what tracing needs (root, ptrace, BPF,
# perf events, /proc, the network for /metrics).
if [[ -n $level ]] && awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }'; then
	pass unit/security
else
	fail unit/security "exposure '$level', want 3.0 at most: $(tail -n 1 "$TMP/security.out")"
fi
for key in Type=notify 'ExecReload=/usr/bin/memwatchctl reload' WatchdogSec= \
	ProtectSystem=strict StateDirectory=memwatch RuntimeDirectory=memwatch \
	'CapabilityBoundingSet=CAP_BPF CAP_PERFMON'; do
	grep -qF -- "$key" "$UNIT" || fail unit/settings "no '$key' in the unit"
done

# --- (b) sd_notify --------------------------------------------------------------
# A stand-in for systemd: a datagram socket whose listener writes each
# message on a line ("|" for newlines) and, when READY=1 comes, asks the
# daemon for its status right away: READY must mean "attached, serving".
# listen_notify NAME: start it on $TMP/NAME.sock, logging to $TMP/NAME.log.
listen_notify() {
	local sock=$TMP/$1.sock log=$TMP/$1.log
	python3 - "$sock" "$log" "$BIN/memwatchctl" "$DB" "$SOCK" <<'EOF' &
import os, socket, subprocess, sys
path, log, ctl, db, sock = sys.argv[1:6]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as f:
    f.write("LISTENING\n")
    while True:
        msg = s.recv(4096).decode(errors="replace")
        f.write(msg.replace("\n", "|") + "\n")
        if "READY=1" in msg:
            with open(log + ".status", "a") as st:
                subprocess.run([ctl, "--db", db, "--socket", sock,
                                "--json", "status"], stdout=st)
EOF
	BG_PIDS+=("$!")
	wait_until 10 grep -qs LISTENING "$log"
}

# notified NAME WHAT: the listener NAME got a message with WHAT in it.
notified() {
	grep -qs -- "$2" "$TMP/$1.log"
}

listen_notify notify
start_gated tls_nodtor 4 1024
held=$WL_PID
DAEMON_N=$((DAEMON_N + 1))
DAEMON_LOG=$TMP/daemon$DAEMON_N
# WATCHDOG_PID must be the daemon's own pid: exec keeps the shell's.
NOTIFY_SOCKET=$TMP/notify.sock WATCHDOG_USEC=100000 bash -c \
	'export WATCHDOG_PID=$$; exec "$@"' _ "$MEMWATCHD" --db "$DB" \
	--socket "$SOCK" --pid "$held" \
	>"$DAEMON_LOG.out" 2>"$DAEMON_LOG.err" &
DAEMON_PID=$!
if wait_until 20 notified notify READY=1; then
	pass notify/ready
else
	fail notify/ready "no READY=1: $(tail -n 2 "$DAEMON_LOG.err")"
fi
# The status taken when READY=1 came lists the process --pid named.
if jq -e --argjson p "$held" '.daemon.targets | index($p) != null' \
	"$TMP/notify.log.status" >/dev/null 2>&1; then
	pass notify/ready_after_attach
else
	fail notify/ready_after_attach "status at READY=1: $(head -c 300 "$TMP/notify.log.status" 2>&1)"
fi
if grep -q '^READY=1|STATUS=1 processes traced$' "$TMP/notify.log"; then
	pass notify/status
else
	fail notify/status "$(grep READY "$TMP/notify.log")"
fi
touch "$WL_GATE"
# Asked for every 100 ms, sent every 50 ms at most: the 100 ms tick.
before=$(grep -c '^WATCHDOG=1$' "$TMP/notify.log" || true)
sleep 1
n=$(($(grep -c '^WATCHDOG=1$' "$TMP/notify.log" || true) - before))
if ((n >= 5)); then
	pass notify/watchdog
else
	fail notify/watchdog "$n WATCHDOG=1 in 1 s with WATCHDOG_USEC=100000"
fi
# The status line follows what happens: the findings of the leak.
if wait_until 10 grep -q '^STATUS=.*, 4 findings' "$TMP/notify.log"; then
	pass notify/status_update
else
	fail notify/status_update "$(grep STATUS "$TMP/notify.log" | tail -n 3)"
fi
kill -HUP "$DAEMON_PID"
if wait_until 10 grep -q '^READY=1|STATUS=configuration reloaded$' "$TMP/notify.log" &&
	grep -A1000 '^RELOADING=1' "$TMP/notify.log" | grep -q '^READY=1|STATUS=configuration reloaded'; then
	pass notify/reload
else
	fail notify/reload "$(grep -E 'RELOAD|READY' "$TMP/notify.log")"
fi
grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9]*|' "$TMP/notify.log" ||
	fail notify/reload_monotonic "no MONOTONIC_USEC with RELOADING=1"
ok notify/sigterm_exit "SIGTERM did not end it with status 0" stop_daemon
if wait_until 5 notified notify STOPPING=1; then
	pass notify/stopping
else
	fail notify/stopping "no STOPPING=1: $(tail -n 3 "$TMP/notify.log")"
fi

# A WATCHDOG_USEC meant for another process (WATCHDOG_PID not ours) is
# not ours to answer; `-- CMD` sends READY and STOPPING all the same.
listen_notify notify2
NOTIFY_SOCKET=$TMP/notify2.sock WATCHDOG_USEC=100000 WATCHDOG_PID=1 \
	trace -- sleep 1.5
if [[ $TRACE_RC == 0 ]] && notified notify2 READY=1 && notified notify2 STOPPING=1 &&
	! notified notify2 WATCHDOG=1; then
	pass notify/watchdog_not_ours
else
	fail notify/watchdog_not_ours "exit $TRACE_RC: $(tr '\n' ' ' <"$TMP/notify2.log")"
fi

# --- (c) SIGHUP ---------------------------------------------------------------
# Watch svc_first; reload to watch svc_second instead with a longer grace.
CONF=$TMP/memwatchd.conf
DB=$TMP/reload.db
printf 'comm svc_first\n' >"$CONF"
watch reload --config "$CONF" --log-level info

run_bg reload_first "$BIN/svc_first" 4 1024
first=$RUN_PID
wait_until 10 findings_at_least 4 --pid "$first" || true
query reload/first_findings "$TMP/first.json" findings --pid "$first" &&
	expect reload/first_findings "$TMP/first.json" length 4

lines=$(wc -l <"$DAEMON_LOG.err")
printf '# svc_second instead, and a longer grace\ncomm svc_second\ngrace 1000\n' >"$CONF"
kill -HUP "$DAEMON_PID"
if wait_until 10 grep -q 'configuration reloaded' "$DAEMON_LOG.err"; then
	pass reload/logged
else
	fail reload/logged "$(tail -n 3 "$DAEMON_LOG.err")"
fi
new_lines "$DAEMON_LOG.err" "$lines" | grep -q "stopped watching comm 'svc_first'" ||
	fail reload/unwatched "$(new_lines "$DAEMON_LOG.err" "$lines")"

run_bg reload_second "$BIN/svc_second" 4 1024
second=$RUN_PID
wait_until 10 findings_at_least 4 --pid "$second" || true
if query reload/second_findings "$TMP/second.json" findings --pid "$second"; then
	expect reload/second_traced "$TMP/second.json" length 4
	# Decided after the new grace, 1000 ms, not the old 500 ms (with
	# nothing found this would hold vacuously).
	if ((EXPECT_OK)); then
		expect reload/new_grace "$TMP/second.json" \
			'[.[] | select((.found_ts_ns | tonumber) - (.trigger_ts_ns | tonumber) < 990000000)] | length' 0
	fi
fi
# Dropped from the file: started again, it is not traced.
run_bg reload_first_again "$BIN/svc_first" 4 1024
again=$RUN_PID
sleep 1
query reload/status "$TMP/reload_status.json" status &&
	expect reload/dropped_target "$TMP/reload_status.json" \
		'[.processes[] | select(.pid == $p)] | length' 0 --argjson p "$again"
# Nothing held was lost: the first findings are still there, and the
# engine's own count (not the database's) went on from them.
query reload/first_kept "$TMP/first_kept.json" findings --pid "$first" &&
	expect reload/first_kept "$TMP/first_kept.json" length 4
expect reload/engine_kept "$TMP/reload_status.json" '.daemon.findings' 8

# A bad file: one log line naming it, and the settings in force stay.
lines=$(wc -l <"$DAEMON_LOG.err")
printf 'comm svc_second\ngrace 1000\ngrace banana\ncomm svc_first\n' >"$CONF"
kill -HUP "$DAEMON_PID"
wait_until 10 grep -q 'cannot reload' "$DAEMON_LOG.err" || true
sleep 0.3
got=$(new_lines "$DAEMON_LOG.err" "$lines")
want="memwatchd: cannot reload: $CONF:3: grace: invalid value 'banana' (0 to 3600000 ms; units ms, s, m, h)"
if [[ $got == "$want" ]]; then
	pass reload/bad_one_line
else
	fail reload/bad_one_line "logged '$got', want '$want'"
fi
if daemon_alive; then
	pass reload/bad_alive
else
	fail reload/bad_alive "memwatchd died: $(tail -n 1 "$DAEMON_LOG.err")"
fi
run_bg reload_second_again "$BIN/svc_second" 4 1024
second2=$RUN_PID
run_bg reload_first_still_not "$BIN/svc_first" 4 1024
first3=$RUN_PID
wait_until 10 findings_at_least 4 --pid "$second2" || true
if query reload/old_kept "$TMP/old_kept.json" findings --pid "$second2"; then
	expect reload/old_target_kept "$TMP/old_kept.json" length 4
	if ((EXPECT_OK)); then
		expect reload/old_grace_kept "$TMP/old_kept.json" \
			'[.[] | select((.found_ts_ns | tonumber) - (.trigger_ts_ns | tonumber) < 990000000)] | length' 0
	fi
fi
query reload/status2 "$TMP/reload_status2.json" status &&
	expect reload/bad_adds_nothing "$TMP/reload_status2.json" \
		'[.processes[] | select(.pid == $p)] | length' 0 --argjson p "$first3"

# memwatchctl reload: the same, with the error on its own stderr.
rc=0
ctl reload >"$TMP/ctl_reload.out" 2>"$TMP/ctl_reload.err" || rc=$?
if [[ $rc == 1 && $(wc -l <"$TMP/ctl_reload.err") == 1 ]] &&
	grep -qF "memwatchctl: $CONF:3: grace: invalid value 'banana'" "$TMP/ctl_reload.err"; then
	pass reload/ctl_bad
else
	fail reload/ctl_bad "exit $rc: $(cat "$TMP/ctl_reload.err")"
fi
printf 'comm svc_second\n' >"$CONF"
if ctl reload >"$TMP/ctl_reload.out" 2>&1 && grep -q '^configuration reloaded$' "$TMP/ctl_reload.out"; then
	pass reload/ctl_ok
else
	fail reload/ctl_ok "$(cat "$TMP/ctl_reload.out")"
fi
ok reload/sigterm_exit "SIGTERM did not end it with status 0" stop_daemon

# --- (d) SIGTERM writes what is left ---------------------------------------------
# The leak is decided (the daemon's count says so), then SIGTERM at once,
# with the process still alive: the final flush writes its findings and
# its detached state, which only the exit path sets.
DB=$TMP/term.db
# Alive long after its leak is decided, however slow the machine.
export MW_HOLD_MS=60000
start_gated tls_nodtor 4 2048
unset MW_HOLD_MS
held=$WL_PID
start_daemon --pid "$held" --grace 0
wait_until 20 daemon_answers || true
touch "$WL_GATE"
# shellcheck disable=SC2317  # called through wait_until
engine_findings() {
	ctl --json status 2>/dev/null | jq -e '.daemon.findings >= 4' >/dev/null
}
wait_until 10 engine_findings || true
ok term/exit_0 "SIGTERM did not end it with status 0" stop_daemon
if exited "$held"; then
	fail term/target_alive "the workload ended before SIGTERM: the test proves nothing"
else
	pass term/target_alive
fi
query term/findings "$TMP/term.json" findings --pid "$held" &&
	expect term/findings "$TMP/term.json" length 4
query term/status "$TMP/term_status.json" status &&
	expect term/detached "$TMP/term_status.json" \
		'.processes[] | select(.pid == $p) | .state' detached --argjson p "$held"
kill "$held" 2>/dev/null || true

# --- (e) who may use the control socket -------------------------------------------
TEST_USER=mwsvc-test
MADE_GROUP=0
MADE_USER=0
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup_ids() {
	if ((MADE_USER)); then userdel "$TEST_USER" 2>/dev/null; fi
	if ((MADE_GROUP)); then groupdel memwatch 2>/dev/null; fi
}
# on_exit takes the suite's status from $?: give it back after ours.
trap 'rc=$?; set +e; cleanup_ids; (exit $rc); on_exit' EXIT
# The test user must reach the database and socket in $TMP.
chmod 0711 "$TMP"

# modes FILE: "MODE OWNER GROUP".
modes() {
	stat -c '%a %U %G' "$1"
}

DB=$TMP/perm.db
if getent group memwatch >/dev/null; then
	echo "# group memwatch exists on this host: the no-group case is not run"
else
	start_daemon
	wait_until 20 daemon_answers || true
	got="$(modes "$SOCK"), $(modes "$DB")"
	if [[ $got == "600 root root, 600 root root" ]]; then
		pass perm/no_group_root_only
	else
		fail perm/no_group_root_only "socket, database: $got"
	fi
	stop_daemon || true
	groupadd -r memwatch
	MADE_GROUP=1
fi
if ! id "$TEST_USER" >/dev/null 2>&1; then
	useradd -r -M -N -g nogroup -s /usr/sbin/nologin "$TEST_USER"
	MADE_USER=1
fi
start_daemon
wait_until 20 daemon_answers || true
got="$(modes "$SOCK"), $(modes "$DB")"
if [[ $got == "660 root memwatch, 640 root memwatch" ]]; then
	pass perm/group_modes
else
	fail perm/group_modes "socket, database: $got"
fi

# as_user HOW ARGS...: memwatchctl as the test user; HOW is "member" (memwatch
# as a supplementary group), "primary" (as its group) or "other".
as_user() {
	local how=$1 ids
	shift
	case $how in
	member) ids=(--regid=nogroup --groups=memwatch) ;;
	primary) ids=(--regid=memwatch --clear-groups) ;;
	*) ids=(--regid=nogroup --clear-groups) ;;
	esac
	setpriv --reuid="$TEST_USER" "${ids[@]}" -- \
		"$BIN/memwatchctl" --db "$DB" --socket "$SOCK" "$@"
}

for how in member primary; do
	if as_user "$how" --json status >"$TMP/$how.json" 2>"$TMP/$how.err" &&
		jq -e --argjson p "$DAEMON_PID" '.daemon.pid == $p' "$TMP/$how.json" >/dev/null; then
		pass "perm/${how}_status"
	else
		fail "perm/${how}_status" "$(cat "$TMP/$how.err")"
	fi
done
# refused NAME WANT HOW ARGS...: memwatchctl ARGS as HOW exits 1 with
# exactly one line, WANT.
refused() {
	local name=$1 want=$2 rc=0
	shift 2
	as_user "$@" >"$TMP/refused.out" 2>"$TMP/refused.err" || rc=$?
	if [[ $rc == 1 && $(cat "$TMP/refused.err") == "$want" ]]; then
		pass "$name"
	else
		fail "$name" "exit $rc: $(cat "$TMP/refused.err")"
	fi
}
sleep 30 &
victim=$!
BG_PIDS+=("$victim")
refused perm/member_attach "memwatchctl: permission denied: attach needs root" \
	member attach "$victim"
refused perm/member_watch "memwatchctl: permission denied: attach needs root" \
	member attach comm svc_first
refused perm/member_detach "memwatchctl: permission denied: detach needs root" \
	member detach "$victim"
refused perm/member_reload "memwatchctl: permission denied: reload needs root" \
	member reload
refused perm/member_ack "memwatchctl: permission denied: ack needs root" \
	member ack 1 --note "not theirs to say"
query perm/still_untraced "$TMP/perm_status.json" status &&
	expect perm/still_untraced "$TMP/perm_status.json" '.daemon.targets | length' 0
# Not in the group: the socket's mode refuses the connection...
refused perm/other_socket_mode \
	"memwatchctl: cannot connect to memwatchd at '$SOCK': Permission denied" \
	other status
# ...and were the mode wider, the daemon itself refuses.
chmod 0666 "$SOCK"
uid=$(id -u "$TEST_USER")
refused perm/other_peercred \
	"memwatchctl: memwatchd: permission denied: uid $uid is neither root nor in group 'memwatch'" \
	other status
refused perm/other_attach "memwatchctl: permission denied: attach needs root" \
	other attach "$victim"
# Root may.
if ctl attach "$victim" >/dev/null 2>"$TMP/root_attach.err"; then
	pass perm/root_attach
else
	fail perm/root_attach "$(cat "$TMP/root_attach.err")"
fi
ok perm/sigterm_exit "SIGTERM did not end it with status 0" stop_daemon

# --- (f) journald priorities ---------------------------------------------------------
# stderr is "the journal" when JOURNAL_STREAM names its device and inode.
DB=$TMP/journal.db
touch "$TMP/journal.err"
stream=$(stat -c '%d:%i' "$TMP/journal.err")
JOURNAL_STREAM=$stream "$MEMWATCHD" --db "$DB" --socket "$SOCK" \
	--log-level info --exe /nonexistent -- /bin/true 2>"$TMP/journal.err" || true
if [[ $(cat "$TMP/journal.err") == "<3>--exe '/nonexistent': No such file or directory" ]]; then
	pass journal/error
else
	fail journal/error "$(cat "$TMP/journal.err")"
fi
JOURNAL_STREAM=$stream "$MEMWATCHD" --db "$DB" --socket "$SOCK" \
	--log-level info -- /bin/true 2>"$TMP/journal.err" || true
if grep -q '^<6>attached to pid [0-9]* ' "$TMP/journal.err" &&
	! grep -qv '^<[0-7]>' "$TMP/journal.err" &&
	! grep -q '^<[0-7]>memwatchd: ' "$TMP/journal.err"; then
	pass journal/info
else
	fail journal/info "$(cat "$TMP/journal.err")"
fi
# A usage error, from the option parser, too.
JOURNAL_STREAM=$stream "$MEMWATCHD" --log-level loud 2>"$TMP/journal.err" || true
if [[ $(cat "$TMP/journal.err") == "<3>memwatchd: --log-level: invalid level 'loud' (error, warning, info, debug)" ]]; then
	pass journal/usage
else
	fail journal/usage "$(cat "$TMP/journal.err")"
fi
# The same variable with stderr elsewhere (a redirect): plain lines.
JOURNAL_STREAM=$stream "$MEMWATCHD" --db "$DB" --socket "$SOCK" \
	--log-level info -- /bin/true 2>"$TMP/plain.err" || true
if grep -q '^memwatchd: attached to pid' "$TMP/plain.err" && ! grep -q '^<' "$TMP/plain.err"; then
	pass journal/other_stream_plain
else
	fail journal/other_stream_plain "$(cat "$TMP/plain.err")"
fi
# --log-level error keeps only errors: a run without any says nothing.
"$MEMWATCHD" --db "$DB" --socket "$SOCK" --log-level error -- /bin/true \
	2>"$TMP/quiet.err" || true
if [[ ! -s $TMP/quiet.err ]]; then
	pass journal/level_error_quiet
else
	fail journal/level_error_quiet "$(cat "$TMP/quiet.err")"
fi

finish
