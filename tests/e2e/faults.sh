#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2317  # jq $vars; helpers run via trap, ok, wait_until
# tests/e2e/faults.sh - the database failing under a running memwatchd:
#
#   full:      the file system fills up (a 4 MiB tmpfs, filled with dd);
#   readonly:  the database file and its log become immutable (chattr
#              +i, on a small ext4 image: root cannot write them either,
#              and tmpfs ignores the flag for files already open; a
#              remount read-only is refused while they are open for
#              writing). Not the -shm index: SQLite maps it, and a write
#              fault on an immutable page would be SIGBUS, not an error;
#              SQLite reports the failed write as "disk I/O error";
#   removed:   the database file is removed (with its -wal and -shm);
#   dir:       its whole directory is removed, and made again later.
#
# In each case, while the fault lasts: the daemon logs one clear line
# naming the database and the cause (once, not at every flush), keeps
# running, keeps tracing (findings counted in memory, status answering
# over the socket), and every finding committed before the fault is
# still in the database. Once the fault is gone: writing resumes by
# itself, the findings made meanwhile reach the database, and
# `PRAGMA integrity_check` says ok. A removed database is written again
# at its path, from the daemon's open (unlinked) file, at the next flush.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || {
	fail setup "sqlite3 is not installed (apt-get install sqlite3)"
	exit 1
}
FS=$TMP/fs
mkdir -p "$FS"
if ! mount -t tmpfs -o size=4m,mode=0700 memwatch-faults "$FS"; then
	fail setup "cannot mount a tmpfs on $FS"
	exit 1
fi
EXT=$TMP/ext4
mkdir -p "$EXT"
# At exit: the daemon stopped first, so that the mounts can go, then
# lib.sh's clean-up, with the suite's exit status.
cleanup() {
	local rc=$?
	set +e
	stop_daemon >/dev/null 2>&1
	chattr -i "$EXT"/* 2>/dev/null
	umount "$FS" "$EXT" 2>/dev/null
	(exit "$rc")
	on_exit
}
trap cleanup EXIT
truncate -s 8M "$TMP/ext4.img"
if ! mkfs.ext4 -q -F "$TMP/ext4.img" >"$TMP/mkfs.err" 2>&1 ||
	! mount -o loop "$TMP/ext4.img" "$EXT" 2>>"$TMP/mkfs.err"; then
	fail setup "cannot make and mount an ext4 image: $(cat "$TMP/mkfs.err")"
	exit 1
fi

# leak NAME WORKLOAD ARGS...: run a gated workload, have the daemon attach
# to it (memwatchctl attach), then let it go; it runs to its end.
leak() {
	local name=$1
	shift
	start_gated "$@"
	if ! ctl attach "$WL_PID" >"$TMP/${name//\//_}.attach" 2>&1; then
		fail "$name/attach" "$(cat "$TMP/${name//\//_}.attach")"
		return 1
	fi
	touch "$WL_GATE"
}

# in_memory N: the daemon counts N findings or more (socket, not db).
in_memory() {
	ctl --json status 2>/dev/null |
		jq -e --argjson n "$1" '.daemon.findings >= $n' >/dev/null
}

# in_db N: the database holds exactly N findings (read by sqlite3, so
# that memwatchctl's own troubles cannot hide a loss; read-only, so that
# it never creates a file where the database was removed).
in_db() {
	local got
	got=$(sqlite3 -readonly "$DB" 'SELECT count(*) FROM findings' 2>&1)
	[[ $got == "$1" ]] && return 0
	WHY="$got findings in the database, want $1"
	return 1
}

# kept SNAPSHOT: every finding of SNAPSHOT is listed now, unchanged.
kept() {
	local lost
	# A site's source file and line come later than the rest, from the
	# symbolizer's worker, its row written again at a following flush
	# (daemon/symworker.c): filled in, not changed.
	lost=$(ctl --json findings 2>&1 |
		jq -c --slurpfile old "$1" 'def bare: map(del(.site.file, .site.line));
			($old[0] | bare) - bare | map(.id)' 2>&1)
	[[ $lost == '[]' ]] && return 0
	WHY="lost or changed: $lost"
	return 1
}

# logged_once NAME REGEX: the daemon's log has exactly one line matching.
logged_once() {
	local n
	n=$(grep -cE -- "$2" "$DAEMON_LOG.err" || true)
	if [[ $n == 1 ]]; then
		pass "$1"
	else
		fail "$1" "$n lines match '$2', want 1: $(tail -n 5 "$DAEMON_LOG.err")"
	fi
}

# serving NAME: the daemon still runs and answers over its socket.
serving() {
	if daemon_alive && daemon_answers; then
		pass "$1"
	else
		fail "$1" "memwatchd does not answer: $(tail -n 1 "$DAEMON_LOG.err")"
	fi
}

# setup CASE DB: a daemon on DB with 8 committed findings, saved in
# $TMP/CASE.before.json.
setup() {
	DB=$2
	start_daemon
	ok "$1/watching" "memwatchd never answered" wait_until 20 daemon_answers
	leak "$1/first" tls_nodtor 8 4096 || return 0
	ok "$1/committed" "tls_nodtor's 8 findings never reached the db" \
		wait_until 20 findings_at_least 8
	ctl --json findings >"$TMP/$1.before.json"
}

# logged REGEX: the daemon's log has a line matching REGEX.
logged() {
	grep -qE -- "$1" "$DAEMON_LOG.err"
}

# during CASE N REGEX [gone]: while the fault lasts, a new leaker is
# traced: its findings are counted in memory (N in all), the daemon logs
# the fault (REGEX) once however many flushes fail, and the database
# (unless gone with its directory) keeps exactly its 8 committed ones.
during() {
	local c=$1
	leak "$c/second" tls_keydelete 4 1024 || return 0
	ok "$c/error_logged" "no log line for the fault" \
		wait_until 20 logged "$3"
	# Several flushes fail meanwhile (one every 0.5 s): one line only.
	sleep 2
	logged_once "$c/error_once" "$3"
	if [[ ${4:-} == gone ]]; then
		# memwatchctl status needs the database file: with none, the
		# daemon still answers attach (above), and what it traced
		# meanwhile must reach the database once it is back.
		ok "$c/alive" "memwatchd died" daemon_alive
		return 0
	fi
	ok "$c/traced_in_memory" "the daemon did not count the new findings" \
		wait_until 20 in_memory "$2"
	serving "$c/serving"
	ok "$c/committed_kept" "committed findings missing during the fault" \
		in_db 8
	ok "$c/listed" "memwatchctl no longer lists them" \
		kept "$TMP/$c.before.json"
}

# after CASE N: the fault is gone: N findings reach the database, the
# first 8 unchanged, and the file is sound.
after() {
	local c=$1
	ok "$c/resumed" "the new findings never reached the database" \
		wait_until 20 in_db "$2"
	ok "$c/first_kept" "committed findings changed" kept "$TMP/$c.before.json"
	ok "$c/integrity" "database damaged" integrity
	ok "$c/stop" "memwatchd did not stop cleanly" stop_daemon
}

# --- full disk --------------------------------------------------------------

setup full "$FS/full.db"
dd if=/dev/zero of="$FS/fill" bs=4k >/dev/null 2>&1 || true
during full 12 \
	"cannot write to database '$FS/full.db': No space left on device"
rm -f "$FS/fill"
after full 12
logged_once full/resume_logged "writing to the database again"
rm -f "$FS"/full.db*

# --- read-only database -----------------------------------------------------

setup readonly "$EXT/ro.db"
chattr +i "$EXT/ro.db" "$EXT/ro.db-wal"
during readonly 12 \
	"cannot write to database '$EXT/ro.db': Input/output error"
chattr -i "$EXT/ro.db" "$EXT/ro.db-wal"
after readonly 12
logged_once readonly/resume_logged "writing to the database again"

# --- database removed -------------------------------------------------------

setup removed "$TMP/removed.db"
ino=$(stat -c %i "$DB")
rm -f "$DB" "$DB-wal" "$DB-shm"
leak removed/second tls_keydelete 4 1024 || true
ok removed/recreated "the database was not written again at its path" \
	wait_until 20 in_db 12
if [[ $(stat -c %i "$DB" 2>/dev/null) != "$ino" ]]; then
	pass removed/new_file
else
	fail removed/new_file "still inode $ino"
fi
serving removed/serving
logged_once removed/logged_once "database '$DB' was removed: written again"
after removed 12

# --- its directory removed, made again later --------------------------------

mkdir -p "$TMP/dir"
setup dir "$TMP/dir/memwatch.db"
rm -rf "$TMP/dir"
during dir 12 \
	"database '$DB' was removed and cannot be written again: No such file" gone
mkdir -m 0700 "$TMP/dir"
after dir 12
logged_once dir/recreated "database '$DB' was removed: written again"

finish
