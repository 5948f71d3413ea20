#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/e2e/debuginfod.sh - call sites named from a debug file served by
# debuginfod, off the epoll loop (daemon/symworker.c). The suite builds a
# small program with -g, keeps its debug information apart
# (objcopy --only-keep-debug) and strips it (--strip-all, build-id kept):
# its static function hidden_alloc is then in no symbol table the
# program has, and its source lines nowhere on this host.
#   - served: Debian's debuginfod on 127.0.0.1 (a free port) serves the
#     .debug file; memwatchd -- PROGRAM with DEBUGINFOD_URLS set and a
#     private DEBUGINFOD_CACHE_PATH names the site hidden_alloc, with its
#     file and line, which only the debug file has, and the cache holds
#     the file fetched; and, with the program still running, its site
#     row is written again with them at a later flush;
#   - hanging: DEBUGINFOD_URLS names a server that accepts and answers
#     nothing for 20 s, while the program allocates 20,000 blocks a
#     second for 20 s: the request reaches it, memwatchctl status is
#     answered by the running daemon within 1 s all along (16 calls: the
#     loop, and so the watchdog's pings, never wait for the lookup), the
#     program's sites are written meanwhile (module and address, no
#     name), and no event is lost;
#   - no server: without DEBUGINFOD_URLS the site stays unnamed (so the
#     name above came from the server).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# --- the program, its debug file apart --------------------------------------

PROG_SRC=$TMP/split_prog.c
cat >"$PROG_SRC" <<'EOF'
/* split_prog [SECONDS=0] - 16 blocks held to the end through a static
 * function, then SECONDS of 100 malloc/free pairs every 5 ms. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *volatile keep[16];

__attribute__((noinline)) static void *hidden_alloc(size_t n)
{
	return malloc(n); /* HIDDEN_LINE */
}

int main(int argc, char **argv)
{
	int secs = argc > 1 ? atoi(argv[1]) : 0;
	time_t end = time(NULL) + secs;

	for (int i = 0; i < 16; i++)
		keep[i] = hidden_alloc(64 + (size_t)i);
	while (time(NULL) < end) {
		for (int i = 0; i < 100; i++)
			free(hidden_alloc(32));
		usleep(5000);
	}
	return 0;
}
EOF
HIDDEN_LINE=$(grep -n HIDDEN_LINE "$PROG_SRC" | cut -d: -f1)
BUILD=$TMP/build
SERVE=$TMP/serve
mkdir -p "$BUILD" "$SERVE"
PROG=$BUILD/split_prog
if ! gcc -g -O1 -fno-omit-frame-pointer -Wl,--build-id -o "$PROG.full" "$PROG_SRC" ||
	! objcopy --only-keep-debug "$PROG.full" "$SERVE/split_prog.debug" ||
	! objcopy --strip-all "$PROG.full" "$PROG"; then
	fail setup "cannot build and split $PROG_SRC"
	exit 1
fi
rm -f "$PROG.full"
BUILD_ID=$(readelf -n "$PROG" | awk '/Build ID:/ { print $3 }')
if [[ -z $BUILD_ID ]] || readelf -S "$PROG" | grep -q "\.symtab\|\.debug_"; then
	fail setup "$PROG has no build-id, or still has a symbol table"
	exit 1
fi
pass setup/split

# free_port: a TCP port on 127.0.0.1 nobody listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# served_ok URL: the server hands the debug file of our build-id.
# shellcheck disable=SC2317  # called through wait_until
served_ok() {
	curl -sf -o /dev/null "$1/buildid/$BUILD_ID/debuginfo"
}

# reaped CASE: memwatchd (DAEMON_PID) is reaped, and exited 0.
reaped() {
	reap "$DAEMON_PID"
	DAEMON_PID=
	if [[ $REAP_RC == 0 ]]; then
		pass "$1/exit_status"
	else
		fail "$1/exit_status" "memwatchd exited $REAP_RC: $(tail -n 1 "$DAEMON_LOG.err")"
	fi
}

# sites_of FILE: the sites rows of the program's module, as JSON.
sites_of() {
	sqlite3 -json "$DB" "SELECT module, function, file, line, offset
		FROM sites WHERE module LIKE '%/split_prog'" >"$1" 2>"$1.err" || true
	[[ -s $1 ]] || echo '[]' >"$1"
}

# --- served: the name and line from the server --------------------------------

if ! command -v debuginfod >/dev/null; then
	fail setup "debuginfod is not installed (make deps installs it)"
	exit 1
fi
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
debuginfod -F "$SERVE" -p "$PORT" -d "$TMP/debuginfod.sqlite" -t 0 -g 0 \
	>"$TMP/debuginfod.out" 2>&1 &
BG_PIDS+=("$!")
if wait_until 30 served_ok "$URL"; then
	pass served/server_up
else
	fail served/server_up "debuginfod on $URL never served build-id $BUILD_ID"
	exit 1
fi

DB=$TMP/served.db
CACHE=$TMP/cache
DEBUGINFOD_URLS=$URL DEBUGINFOD_CACHE_PATH=$CACHE trace -- "$PROG" 2
if [[ $TRACE_RC == 0 ]]; then
	pass served/exit_status
else
	fail served/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi
sites_of "$TMP/served.json"
expect served/site_named "$TMP/served.json" \
	'[.[] | select(.function == "hidden_alloc") | [(.file | endswith("/split_prog.c")), .line]] | unique' \
	"[[true,$HIDDEN_LINE]]"
if [[ -s $CACHE/$BUILD_ID/debuginfo ]]; then
	pass served/cached
else
	fail served/cached "no $CACHE/$BUILD_ID/debuginfo: $(find "$CACHE" 2>&1 | head -c 200)"
fi

# --- served, while it runs: the site written again at a later flush --------

# named_live: the site has the server's name and line in the database.
# shellcheck disable=SC2317  # called through wait_until
named_live() {
	sites_of "$TMP/live.json"
	jq -e --argjson l "$HIDDEN_LINE" \
		'any(.[]; .function == "hidden_alloc" and .line == $l)' \
		"$TMP/live.json" >/dev/null
}

DB=$TMP/live.db
DEBUGINFOD_URLS=$URL DEBUGINFOD_CACHE_PATH=$TMP/livecache \
	start_daemon -- "$PROG" 8
if wait_until 6 named_live; then
	pass live/named_while_running
else
	fail live/named_while_running "no site hidden_alloc:$HIDDEN_LINE within 6 s: $(head -c 300 "$TMP/live.json")"
fi
if daemon_alive; then
	pass live/program_still_running
else
	fail live/program_still_running "memwatchd ended before the check: the name may come from its last flush"
fi
reaped live

# --- no server: the same run names nothing ----------------------------------

DB=$TMP/none.db
DEBUGINFOD_URLS='' trace -- "$PROG" 2
sites_of "$TMP/none.json"
expect none/site_unnamed "$TMP/none.json" \
	'[.[] | select(.function == "hidden_alloc" or .file != "")] | length' 0
expect none/site_written "$TMP/none.json" '[.[] | select(.offset == 0)] | length > 0' true

# --- hanging: the loop never waits ----------------------------------------------

HANG_PORT=$(free_port)
# Accepts, logs each connection, answers nothing for 20 s, closes.
python3 -c '
import socket, sys, threading, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
def hold(c):
    print("connection", flush=True)
    time.sleep(20)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=hold, args=(c,), daemon=True).start()
' "$HANG_PORT" >"$TMP/hang.out" 2>&1 &
BG_PIDS+=("$!")
sleep 0.5

DB=$TMP/hang.db
DEBUGINFOD_URLS=http://127.0.0.1:$HANG_PORT DEBUGINFOD_CACHE_PATH=$TMP/hangcache \
	start_daemon -- "$PROG" 20
if wait_until 20 daemon_answers; then
	pass hang/daemon_up
else
	fail hang/daemon_up "memwatchd never answered: $(tail -n 1 "$DAEMON_LOG.err")"
fi

# status_ms: how long `memwatchctl --json status` takes, in ms; its JSON
# in $TMP/hang_status.json, kept in $TMP/hang_last.json when the daemon
# answered.
status_ms() {
	local t0=${EPOCHREALTIME//[!0-9]/}
	ctl --json status >"$TMP/hang_status.json" 2>/dev/null || true
	echo $(((${EPOCHREALTIME//[!0-9]/} - t0) / 1000))
	if jq -e '.daemon != null' "$TMP/hang_status.json" >/dev/null 2>&1; then
		cp "$TMP/hang_status.json" "$TMP/hang_last.json"
	fi
}

# hang_seen: the server holds a request (the worker waits on it).
# shellcheck disable=SC2317  # called through wait_until
hang_seen() {
	grep -q connection "$TMP/hang.out"
}

if wait_until 10 hang_seen; then
	pass hang/request_held
else
	fail hang/request_held "no request reached the hanging server in 10 s"
fi
# 16 samples, 0.5 s apart, while the program runs (20 s) and the server
# holds the request (20 s); each must come from the running daemon.
worst=0
answered=0
for ((i = 0; i < 16; i++)); do
	rm -f "$TMP/hang_last.json"
	status_ms >"$TMP/ms"
	ms=$(<"$TMP/ms")
	((ms > worst)) && worst=$ms
	if [[ -s $TMP/hang_last.json ]]; then
		answered=$((answered + 1))
		cp "$TMP/hang_last.json" "$TMP/hang_good.json"
	fi
	sleep 0.5
done
echo "# hang: worst of 16 status calls while the lookup hangs: $worst ms, $answered answered by the daemon"
if ((worst < 1000 && answered == 16)); then
	pass hang/status_prompt
else
	fail hang/status_prompt "memwatchctl status took up to $worst ms, the daemon answered $answered of 16, while debuginfod hangs"
fi
sites_of "$TMP/hang.json"
expect hang/sites_written "$TMP/hang.json" \
	'[.[] | select(.function == "" and .file == "")] | length > 0' true
expect hang/no_loss "$TMP/hang_good.json" \
	'[.daemon.lost, (.daemon.events > 10000), ([.processes[] | .lost + .dropped] | add)]' \
	'[0,true,0]'

# It ends with its program, waiting for the lookup 5 s at most.
reaped hang

finish
