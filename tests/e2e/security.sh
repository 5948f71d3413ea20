#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2317  # jq filters use $vars; helpers run through ok
# tests/e2e/security.sh - a locked-down daemon (docs/RELIABILITY.md,
# Security). Who may use the control socket is tests/e2e/service.sh's
# (perm/*); this suite checks the rest:
#   privs/   after start-up memwatchd holds exactly the capabilities
#            daemon/privs.h names (CapEff, CapPrm, CapBnd in
#            /proc/PID/status; none inheritable or ambient;
#            no_new_privs), and with them still attaches at run time what
#            needs each: a process of another user whose program is in a
#            private directory (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH), a
#            watched program of another user started in a session of its
#            own, held at exec and resumed (CAP_KILL), the mmap/brk
#            tracepoints of a first full-mode target (CAP_PERFMON);
#   paths/   the database, its -wal and -shm, the socket and the
#            directories memwatchd makes are root's and the group's only;
#            a symbolic link planted as the database, its -wal or -shm,
#            or the socket is refused with one line, and a link or hard
#            link planted as the metrics textfile's temporary file is
#            replaced, never written through: each target stays as it was;
#   sql/     every SQL statement in the store's files (store/*.c that
#            include store/store_int.h, which alone includes sqlite3.h)
#            takes its values as bound parameters (tests/e2e/sql_bound.awk,
#            which must also catch six planted violations), and hostile
#            text survives a round trip through the database;
#   strings/ a program with hostile thread names, run from a path with
#            hostile characters (tests/workloads/hostile_names.c): the
#            daemon's log, memwatchctl's tables, JSON, CSV and the
#            Prometheus page carry no raw control character, no invalid
#            UTF-8, no forged line, and JSON gives the names back exactly.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

export LC_ALL=C

# The capabilities daemon/privs.h keeps: CAP_DAC_READ_SEARCH (2), CAP_KILL
# (5), CAP_SYS_PTRACE (19), CAP_PERFMON (38), CAP_CHECKPOINT_RESTORE (40),
# as /proc/PID/status writes them.
WANT_CAPS=$(printf '%016x' $(((1 << 2) | (1 << 5) | (1 << 19) | (1 << 38) | (1 << 40))))

TEST_USER=mwsec-test
MADE_USER=0
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup_user() {
	if ((MADE_USER)); then userdel "$TEST_USER" 2>/dev/null; fi
}
trap 'rc=$?; set +e; cleanup_user; (exit $rc); on_exit' EXIT
if ! id "$TEST_USER" >/dev/null 2>&1; then
	useradd -r -M -N -g nogroup -s /usr/sbin/nologin "$TEST_USER"
	MADE_USER=1
fi
# The test user reaches its gate files in $TMP.
chmod 0711 "$TMP"

# What the database and socket modes must be: the group's if it exists.
if getent group memwatch >/dev/null; then
	FILE_MODE="640 root memwatch"
	SOCK_MODE="660 root memwatch"
	DIR_MODE="750 root memwatch"
else
	FILE_MODE="600 root root"
	SOCK_MODE="600 root root"
	DIR_MODE="700 root root"
fi

modes() {
	stat -c '%a %U %G' "$1"
}

# no_raw_controls FILE: no control byte but LF (and TAB, CR if $2 says
# "csv"), no C1 control, valid UTF-8. Sets WHY.
no_raw_controls() {
	local bad='[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]'
	[[ ${2:-} == csv ]] && bad='[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]'
	if grep -qaP "$bad" "$1"; then
		WHY="raw control character: $(grep -naP "$bad" "$1" | head -n 1 | od -c | head -n 3)"
		return 1
	fi
	if ! iconv -f UTF-8 -t UTF-8 "$1" >/dev/null 2>&1; then
		WHY="not valid UTF-8"
		return 1
	fi
}

# --- privs: the capabilities kept, and what they still allow ----------------------

PRIV=$TMP/private
mkdir "$PRIV"
cp "$WL/tls_nodtor" "$PRIV/attached"
cp "$WL/tls_nodtor" "$PRIV/watched"
chown -R "$TEST_USER" "$PRIV"
chmod 0700 "$PRIV"

start_daemon --log-level info
wait_until 20 daemon_answers || true

# caps_are FIELD WANT: /proc/DAEMON/status says FIELD: WANT.
caps_are() {
	local got
	got=$(awk -v f="$1:" '$1 == f { print $2 }' "/proc/$DAEMON_PID/status")
	WHY="$1 is $got"
	[[ $got == "$2" ]]
}
ok privs/effective "not the documented set $WANT_CAPS" caps_are CapEff "$WANT_CAPS"
ok privs/permitted "not the documented set $WANT_CAPS" caps_are CapPrm "$WANT_CAPS"
ok privs/bounding "not the documented set $WANT_CAPS" caps_are CapBnd "$WANT_CAPS"
ok privs/inheritable "not empty" caps_are CapInh 0000000000000000
ok privs/ambient "not empty" caps_are CapAmb 0000000000000000
ok privs/no_new_privs "not set" caps_are NoNewPrivs 1

# "${AS_USER[@]}" CMD: CMD as the test user, in a session of its own (a
# SIGCONT from the daemon's session would need no CAP_KILL). A command,
# not a function: `... &` then execs it, and $! is the program's pid.
AS_USER=(setsid setpriv --reuid="$TEST_USER" --regid=nogroup --clear-groups --)

# A process of another user, its program in a directory only it may
# read, attached at run time: /proc/PID of another user's process needs
# CAP_SYS_PTRACE, its ELF file CAP_DAC_READ_SEARCH.
MW_WAIT_FILE=$TMP/gate.attached MW_HOLD_MS=2000 "${AS_USER[@]}" "$PRIV/attached" 2 4096 \
	>"$TMP/attached.out" 2>&1 &
attached=$!
BG_PIDS+=("$attached")
if ! wait_until 10 at_gate "$attached" "$PRIV/attached"; then
	fail privs/attach_other_user "pid $attached never ran $PRIV/attached"
elif ctl attach "$attached" >"$TMP/attach.out" 2>"$TMP/attach.err"; then
	pass privs/attach_other_user
else
	fail privs/attach_other_user "$(cat "$TMP/attach.err")"
fi
touch "$TMP/gate.attached"

# A watched program of another user: held at exec, attached, and resumed.
if ctl attach exe "$PRIV/watched" >"$TMP/watch.out" 2>"$TMP/watch.err"; then
	pass privs/watch_private_exe
else
	fail privs/watch_private_exe "$(cat "$TMP/watch.err")"
fi
MW_HOLD_MS=1000 "${AS_USER[@]}" "$PRIV/watched" 2 4096 >"$TMP/watched.out" 2>&1 &
watched=$!
BG_PIDS+=("$watched")
if wait_exit "$watched" 30; then
	pass privs/watched_resumed
else
	fail privs/watched_resumed "still there after 30 s, state $(awk '{print $3}' "/proc/$watched/stat" 2>/dev/null)"
fi
wait_exit "$attached" 30 || true

# A root process in full mode: the first full-mode target since start
# attaches the mmap/munmap/brk tracepoints (CAP_PERFMON).
sleep 30 &
sleeper=$!
BG_PIDS+=("$sleeper")
if ctl attach "$sleeper" >"$TMP/attach_root.out" 2>"$TMP/attach_root.err"; then
	pass privs/attach_root
else
	fail privs/attach_root "$(cat "$TMP/attach_root.err")"
fi
if grep -q 'tracepoints' "$DAEMON_LOG.err"; then
	fail privs/tracepoints "$(grep 'tracepoints' "$DAEMON_LOG.err")"
else
	pass privs/tracepoints
fi

# Both other user's processes leaked 2 blocks each in tls_nodtor_alloc,
# named from their ELF files.
wait_until 10 findings_at_least 4 || true
for name in attached watched; do
	pid=${!name}
	if query "privs/${name}_findings" "$TMP/$name.json" findings --pid "$pid"; then
		expect "privs/${name}_findings" "$TMP/$name.json" \
			'[length, (map(.site.function) | unique)]' '[2,["tls_nodtor_alloc"]]'
	fi
done
ok privs/still_root_caps "capabilities changed after attaching" caps_are CapEff "$WANT_CAPS"

# --- paths: modes ----------------------------------------------------------------

got="$(modes "$DB"), $(modes "$DB-wal"), $(modes "$DB-shm"), $(modes "$SOCK")"
want="$FILE_MODE, $FILE_MODE, $FILE_MODE, $SOCK_MODE"
if [[ $got == "$want" ]]; then
	pass paths/modes
else
	fail paths/modes "database, -wal, -shm, socket: $got; want $want"
fi
ok paths/sigterm "SIGTERM did not end it with status 0" stop_daemon

# Under packaging/memwatchd.service's CapabilityBoundingSet= (no
# CAP_SETPCAP: the bounding set stays the unit's), memwatchd starts, keeps
# the same effective and permitted sets, and attaches.
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$ROOT/packaging/memwatchd.service")
bset=-all
for cap in $unit_caps; do
	cap=${cap#CAP_}
	bset+=",+${cap,,}"
done
DB=$TMP/unit.db
DAEMON_N=$((DAEMON_N + 1))
DAEMON_LOG=$TMP/daemon$DAEMON_N
# The unit's SupplementaryGroups= too, where the group exists: without
# CAP_CHOWN, root gives its files to a group only as a member of it.
unit_groups=()
getent group memwatch >/dev/null && unit_groups=(--groups memwatch)
setpriv "${unit_groups[@]}" --bounding-set "$bset" -- "$MEMWATCHD" --db "$DB" --socket "$SOCK" \
	--metrics-listen none >"$DAEMON_LOG.out" 2>"$DAEMON_LOG.err" &
DAEMON_PID=$!
wait_until 20 daemon_answers || true
ok privs/unit_effective "not the documented set $WANT_CAPS" caps_are CapEff "$WANT_CAPS"
ok privs/unit_permitted "not the documented set $WANT_CAPS" caps_are CapPrm "$WANT_CAPS"
if ctl attach "$sleeper" >"$TMP/attach_unit.out" 2>"$TMP/attach_unit.err"; then
	pass privs/unit_attach
else
	fail privs/unit_attach "$(cat "$TMP/attach_unit.err")"
fi
ok privs/unit_sigterm "SIGTERM did not end it with status 0" stop_daemon

# The directories of the default paths, made by memwatchd in a mount
# namespace of its own where /var/lib and /run are empty.
if unshare -m bash -c '
	mount -t tmpfs none /var/lib && mount -t tmpfs none /run &&
	"$1" --metrics-listen none -- /bin/true >/dev/null 2>"$2/defaults.err" &&
	stat -c "%a %U %G" /var/lib/memwatch /run/memwatch' _ "$MEMWATCHD" "$TMP" \
	>"$TMP/defaults.out" 2>>"$TMP/defaults.err"; then
	got=$(paste -sd, "$TMP/defaults.out")
	if [[ $got == "$DIR_MODE,$DIR_MODE" ]]; then
		pass paths/default_dirs
	else
		fail paths/default_dirs "/var/lib/memwatch, /run/memwatch: $got; want $DIR_MODE"
	fi
else
	fail paths/default_dirs "$(cat "$TMP/defaults.err")"
fi

# --- paths: planted links ----------------------------------------------------------

PLANT=$TMP/plant
mkdir "$PLANT"
# The file an attacker would like root to write or give away: a copy of
# a system file, 0600.
cp /etc/passwd "$PLANT/victim"
chmod 0600 "$PLANT/victim"
cp -p "$PLANT/victim" "$PLANT/victim.orig"
: >"$PLANT/empty"
chmod 0600 "$PLANT/empty"

# untouched FILE ORIG: same bytes and same mode, owner and group.
untouched() {
	if ! cmp -s "$1" "$2"; then
		WHY="'$1' was written"
		return 1
	fi
	if [[ $(modes "$1") != "$(modes "$2")" ]]; then
		WHY="'$1' is now $(modes "$1")"
		return 1
	fi
}

# refused NAME MESSAGE DAEMON-ARGS...: memwatchd exits 1 with exactly
# "memwatchd: MESSAGE".
refused() {
	local name=$1 want=$2
	shift 2
	trace "$@" -- /bin/true
	if [[ $TRACE_RC == 1 && $(cat "$TRACE_LOG.err") == "memwatchd: $want" ]]; then
		pass "$name"
	else
		fail "$name" "exit $TRACE_RC: $(cat "$TRACE_LOG.err")"
	fi
}

LINK_MSG="it, its -wal or its -shm is a symbolic link: refused"
ln -s "$PLANT/victim" "$PLANT/db1"
DB=$PLANT/db1
refused paths/db_link "database '$PLANT/db1': $LINK_MSG"
ok paths/db_link_target "the link's target changed" untouched "$PLANT/victim" "$PLANT/victim.orig"

# An empty file is an empty database to SQLite: it would be written.
ln -s "$PLANT/empty" "$PLANT/db2"
DB=$PLANT/db2
refused paths/db_link_empty "database '$PLANT/db2': $LINK_MSG"
got="$(stat -c '%s %a' "$PLANT/empty")"
if [[ $got == "0 600" ]]; then
	pass paths/db_link_empty_target
else
	fail paths/db_link_empty_target "size and mode now $got"
fi

# A database of its own, and a link planted as its -wal, then its -shm.
for f in wal shm; do
	DB=$PLANT/db_$f
	trace -- /bin/true
	rm -f "$DB-wal" "$DB-shm"
	ln -s "$PLANT/victim" "$DB-$f"
	refused "paths/${f}_link" "database '$DB': $LINK_MSG"
	ok "paths/${f}_link_target" "the link's target changed" \
		untouched "$PLANT/victim" "$PLANT/victim.orig"
done

ln -s "$PLANT/victim" "$PLANT/sock"
DB=$TMP/sock_link.db
refused paths/socket_link \
	"control socket '$PLANT/sock': File exists" --socket "$PLANT/sock"
ok paths/socket_link_target "the link's target changed" \
	untouched "$PLANT/victim" "$PLANT/victim.orig"

# The metrics textfile is written to FILE.tmp and renamed: a link or a hard
# link planted under that name is replaced, its target never written.
TEXT=$PLANT/memwatch.prom
cp -p "$PLANT/victim" "$PLANT/hard"
cp -p "$PLANT/victim" "$PLANT/hard.orig"
for how in symlink hardlink; do
	rm -f "$TEXT" "$TEXT.tmp"
	if [[ $how == symlink ]]; then
		ln -s "$PLANT/victim" "$TEXT.tmp"
	else
		ln "$PLANT/hard" "$TEXT.tmp"
	fi
	DB=$TMP/textfile_$how.db
	trace --metrics-textfile "$TEXT" -- /bin/true
	if [[ $TRACE_RC == 0 && -f $TEXT && ! -L $TEXT && $(stat -c %a "$TEXT") == 644 ]] &&
		grep -q '^memwatch_' "$TEXT"; then
		pass "paths/textfile_$how"
	else
		fail "paths/textfile_$how" "exit $TRACE_RC, textfile: $(ls -l "$TEXT" 2>&1)"
	fi
done
ok paths/textfile_symlink_target "the link's target changed" \
	untouched "$PLANT/victim" "$PLANT/victim.orig"
ok paths/textfile_hardlink_target "the hard link's file changed" \
	untouched "$PLANT/hard" "$PLANT/hard.orig"

# --- sql: bound parameters -----------------------------------------------------------

# sql_check FILE OUT: sql_bound.awk on FILE with its comments stripped,
# after the store's private header, whose macros (SQL text) it may use.
sql_check() {
	cat "$ROOT/store/store_int.h" "$1" |
		gcc -fpreprocessed -dD -E -P - >"$TMP/sql.i" 2>/dev/null &&
		awk -f "$ROOT/tests/e2e/sql_bound.awk" "$TMP/sql.i" >"$2" 2>&1
}
# Every file of the store that can reach SQLite: those that include its
# private header (sql/only_store below: no other file includes sqlite3.h).
bad=
n=0
for f in "$ROOT"/store/*.c; do
	grep -q '#include "store_int.h"' "$f" || continue
	n=$((n + 1))
	sql_check "$f" "$TMP/sql_store.out" ||
		bad+="${f#"$ROOT/"}: $(cat "$TMP/sql_store.out") "
done
if [[ $n -ge 2 && -z $bad ]]; then
	pass sql/bound
else
	fail sql/bound "$n files checked: $bad"
fi
# The check must catch what it is for: store.c with six violations.
cp "$ROOT/store/store.c" "$TMP/bad_store.c"
cat >>"$TMP/bad_store.c" <<'EOF'
static int bad_printf(struct store *s, const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DELETE FROM processes WHERE comm = '%s'",
		 name);
	return exec_sql(s->db, sql);
}

static int bad_strcat(struct store *s, const char *name)
{
	char q[128];
	sqlite3_stmt *st;

	snprintf(q, sizeof(q), "SELECT %d", 1);
	strcat(q, name);
	return sqlite3_prepare_v2(s->db, q, -1, &st, NULL);
}

static int bad_cond(struct store *s, const char *name, int64_t *v)
{
	return query_int(s->db, name[0] ? name : "SELECT 1", v);
}

static int bad_param(struct store *s, char *sql)
{
	return exec_sql(s->db, sql);
}

static int bad_text(struct store *s, const char *name)
{
	struct sql_text t = {0};

	sql_text__lit(&t, "SELECT * FROM processes WHERE comm = '");
	sql_text__lit(&t, name);
	sql_text__lit(&t, "'");
	return exec_sql(s->db, t.text);
}

static int bad_textcopy(struct store *s, const char *name)
{
	struct sql_text t = {0};

	sql_text__lit(&t, "SELECT 1");
	strcat(t.text, name);
	return exec_sql(s->db, t.text);
}
EOF
if sql_check "$TMP/bad_store.c" "$TMP/sql_bad.out"; then
	fail sql/check_catches "found nothing wrong"
else
	got=$(grep -oE ': bad_[a-z]+:' "$TMP/sql_bad.out" | sort | paste -sd ' ')
	if [[ $got == ": bad_cond: : bad_param: : bad_printf: : bad_strcat: : bad_text: : bad_textcopy:" ]]; then
		pass sql/check_catches
	else
		fail sql/check_catches "$(cat "$TMP/sql_bad.out")"
	fi
fi
# sqlite3.h is the store's alone, through its private header.
got=$(grep -lE '#include *[<"]sqlite3\.h' "$ROOT"/common/*.[ch] "$ROOT"/engine/*.[ch] \
	"$ROOT"/store/*.[ch] "$ROOT"/daemon/*.[ch] "$ROOT"/ctl/*.[ch] "$ROOT"/win/*.[ch] |
	sed "s|^$ROOT/||" | paste -sd ' ')
if [[ $got == "store/store_int.h" ]]; then
	pass sql/only_store
else
	fail sql/only_store "sqlite3.h included by: ${got:-no file}"
fi

# --- strings: hostile names ------------------------------------------------------------

# A directory name that tries SQL, a newline, colours and a backslash, and
# a program name with an escape sequence, quotes and DEL: a copy of the
# workload, so that the kernel names the process (its comm) after it.
HDIR="$TMP/"$'q\'");DROP TABLE findings;--\n\e[31m\\dir'
HEXE="$HDIR/"$'hn\e[7m"\'\x7f'
mkdir "$HDIR"
cp "$WL/hostile_names" "$HEXE"

port=
for ((i = 0; i < 20; i++)); do
	p=$((20000 + RANDOM % 40000))
	if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		port=$p
		break
	fi
done
DB=$TMP/hostile.db
MW_HOLD_MS=4000 start_daemon --log-level info --metrics-listen "127.0.0.1:$port" -- "$HEXE"
hostile_pid() {
	ctl --json status 2>/dev/null | jq -e '.processes[0].pid' 2>/dev/null
}
# The findings are decided 0.5 s after the threads exit, while the
# program holds on for 4 s: read the page then.
wait_until 20 findings_at_least 4 || true
if curl -sf "http://127.0.0.1:$port/metrics" >"$TMP/metrics.out" 2>"$TMP/metrics.err" &&
	promtool check metrics <"$TMP/metrics.out" >"$TMP/promtool.out" 2>&1; then
	pass strings/metrics_promtool
else
	fail strings/metrics_promtool "$(cat "$TMP/metrics.err" "$TMP/promtool.out")"
fi
ok strings/metrics_raw "the page" no_raw_controls "$TMP/metrics.out"
# The label as the exposition format escapes it, controls as '?'.
if grep -qF "comm=\"hn?[7m\\\"'?\"" "$TMP/metrics.out"; then
	pass strings/metrics_label
else
	fail strings/metrics_label "$(grep -m 1 'memwatch_process_info' "$TMP/metrics.out")"
fi
pid=$(hostile_pid) || pid=0
if wait_exit "$DAEMON_PID" 30; then
	rc=0
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	if [[ $rc == 0 ]]; then
		pass strings/exit
	else
		fail strings/exit "memwatchd exited $rc"
	fi
else
	fail strings/exit "memwatchd still running"
fi

# The log: one line per message, each its own, nothing raw.
ok strings/log_raw "the daemon's log" no_raw_controls "$DAEMON_LOG.err"
if grep -qv '^memwatchd: ' "$DAEMON_LOG.err"; then
	fail strings/log_lines "$(grep -v '^memwatchd: ' "$DAEMON_LOG.err" | head -n 2)"
else
	pass strings/log_lines
fi
safe=${HEXE//$'\n'/?}
safe=${safe//$'\e'/?}
safe=${safe//$'\x7f'/?}
if grep -qxF "memwatchd: started '$safe' as pid $pid" "$DAEMON_LOG.err"; then
	pass strings/log_started
else
	fail strings/log_started "$(grep 'started' "$DAEMON_LOG.err")"
fi

# JSON gives the names back: control characters escaped and restored,
# bytes that are not UTF-8 as U+FFFD, one each.
n0=$'\e[31mRED\xc2\x9b0m\a'
n1=$'q"u\'o\\te,;|'
n2=$'nl\nta\tcr\rdel\x7f'
fffd=$'\xef\xbf\xbd'
n3="x$fffd$fffd$fffd$fffd$fffd${fffd}y"
if query strings/json_threads "$TMP/threads.json" threads --pid "$pid"; then
	expect strings/json_thread_names "$TMP/threads.json" \
		'[.[] | select(.tid != .pid) | .comm] | sort == ([$a, $b, $c, $d] | sort)' \
		true --arg a "$n0" --arg b "$n1" --arg c "$n2" --arg d "$n3"
	expect strings/json_comm "$TMP/threads.json" \
		'.[] | select(.tid == .pid) | .comm == $c' true --arg c "${HEXE##*/}"
fi
# The module path as /proc/PID/maps wrote it: the kernel escapes a
# newline there as \012. Through SQL and JSON, byte for byte.
if query strings/json_findings "$TMP/findings.json" findings --pid "$pid"; then
	expect strings/findings "$TMP/findings.json" \
		'[length, (map(.kind) | unique)]' '[4,["tls-outlived-thread"]]'
	expect strings/sql_round_trip "$TMP/findings.json" \
		'map(.site.module == $m) | unique' '[true]' \
		--arg m "${HEXE//$'\n'/\\012}"
fi

# Tables: nothing raw, and one line per row (the JSON's count).
# table NAME ARGS...: `memwatchctl ARGS` as text in $TMP/NAME.txt.
table() {
	local name=$1
	shift
	ctl "$@" >"$TMP/$name.txt" 2>"$TMP/$name.err"
}
for cmd in threads findings status top live keys; do
	if table "$cmd" "$cmd" --pid "$pid"; then
		ok "strings/table_$cmd" "memwatchctl $cmd" no_raw_controls "$TMP/$cmd.txt"
	else
		fail "strings/table_$cmd" "$(cat "$TMP/$cmd.err")"
	fi
done
for cmd in threads findings; do
	rows=$(jqv "$TMP/$cmd.json" length)
	lines=$(wc -l <"$TMP/$cmd.txt")
	if [[ $lines == $((rows + 1)) ]]; then
		pass "strings/table_${cmd}_rows"
	else
		fail "strings/table_${cmd}_rows" "$lines lines for $rows rows and a header"
	fi
done
# Each named thread on its own, and each finding explained.
for tid in $(jqv "$TMP/threads.json" '.[] | select(.tid != .pid) | .tid'); do
	table "thread_$tid" thread "$tid" --pid "$pid" || echo "failed" >>"$TMP/thread_$tid.txt"
done
for id in $(jqv "$TMP/findings.json" '.[].id'); do
	table "explain_$id" explain "$id" || echo "failed" >>"$TMP/explain_$id.txt"
done
cat "$TMP"/thread_*.txt >"$TMP/thread.txt"
cat "$TMP"/explain_*.txt >"$TMP/explain.txt"
if grep -q '^failed$' "$TMP/thread.txt" "$TMP/explain.txt"; then
	fail strings/table_thread_explain "$(cat "$TMP"/thread_*.err "$TMP"/explain_*.err)"
else
	ok strings/table_thread "memwatchctl thread" no_raw_controls "$TMP/thread.txt"
	ok strings/table_explain "memwatchctl explain" no_raw_controls "$TMP/explain.txt"
fi

# CSV: RFC 4180 (quoted fields may hold CR and LF; quotes doubled; CRLF
# after each record; as many fields in each record as in the header), and
# nothing a terminal would act on.
csv_valid() {
	awk 'BEGIN { RS = "\001" }
	{ s = s $0 }
	END {
		n = length(s); i = 1; nf = 0; rec = 0
		while (i <= n) {
			c = substr(s, i, 1)
			if (c == "\"") {
				for (i++; i <= n; i++) {
					c = substr(s, i, 1)
					if (c == "\"") {
						if (substr(s, i + 1, 1) != "\"")
							break
						i++
					}
				}
				if (i > n) { print "unterminated quote"; exit 1 }
				i++
			} else {
				while (i <= n && (c = substr(s, i, 1)) != "," && c != "\r") {
					if (c == "\"" || c == "\n") {
						print "bare quote or LF in record " rec + 1
						exit 1
					}
					i++
				}
			}
			nf++
			c = substr(s, i, 1)
			if (c == ",") {
				i++
			} else if (substr(s, i, 2) == "\r\n") {
				i += 2
				rec++
				if (rec == 1)
					want = nf
				else if (nf != want) {
					print "record " rec ": " nf " fields, header " want
					exit 1
				}
				nf = 0
			} else {
				print "record " rec + 1 ": no CRLF after a field"
				exit 1
			}
		}
		if (rec < 5) { print rec " records"; exit 1 }
	}' "$1" >"$TMP/csv_check.out" || {
		WHY=$(cat "$TMP/csv_check.out")
		return 1
	}
}
if ctl export csv findings --pid "$pid" >"$TMP/findings.csv" 2>"$TMP/csv.err"; then
	ok strings/csv_valid "not RFC 4180 with 4 findings" csv_valid "$TMP/findings.csv"
	ok strings/csv_raw "the CSV" no_raw_controls "$TMP/findings.csv" csv
else
	fail strings/csv_valid "$(cat "$TMP/csv.err")"
fi

finish
