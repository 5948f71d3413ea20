#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/export.sh - memwatchctl export on real traces, read by the
# tools the formats are for. Two runs of tls_nodtor go into one database:
# 8 workers leaking 4096 bytes each, then 150 workers leaking 64 bytes
# each (more live blocks than `live` shows by default), all allocated in
# tls_nodtor_alloc. Then:
#   - pprof: `go tool pprof -top` (Debian golang-go) must show
#     tls_nodtor_alloc with the bytes and blocks `top --json` gives its
#     site, the same totals as every live block, the callers above it,
#     and with --pid only that process; each sample labelled with its
#     pid and comm; the mappings carry the modules' build ids and the
#     ranges and file offsets the processes had, so that an address
#     turned into a file offset is, by addr2line on the workload's file,
#     in the function the profile names, and `go tool pprof
#     -symbolize=local:force` symbolizes the profile again from the
#     files; the profile exported between the two runs, as
#     -diff_base, leaves what the second run added ("what grew");
#   - folded: well-formed lines, outermost frame first, summing to the
#     same bytes;
#   - json: byte for byte what `--json findings` and `--json live --limit
#     all` print; csv: the same rows and fields, RFC 4180 quoted;
#   - bad input: one line on stderr, a non-zero status, and no file, not
#     even a temporary one, nor a previous file damaged.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

if ! command -v go >/dev/null; then
	fail setup "go is not installed (apt-get install golang-go)"
	exit 1
fi
# go wants a home and a build cache, even for go tool pprof.
export HOME=$TMP/home GOCACHE=$TMP/gocache GOPATH=$TMP/gopath
mkdir -p "$HOME"
unset GOFLAGS

# --- two traced runs -------------------------------------------------------

trace -- "$WL/tls_nodtor" 8 4096
rc1=$TRACE_RC
# The profile as it was before the second run: the diff's base.
ctl export pprof -o "$TMP/base.pb.gz" 2>"$TMP/base.err" || true
trace -- "$WL/tls_nodtor" 150 64
if [[ $rc1 == 0 && $TRACE_RC == 0 ]]; then
	pass trace/exit_status
else
	fail trace/exit_status "memwatchd exited $rc1 and $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi
pid1=0
pid2=0
if query trace/status "$TMP/status.json" status; then
	pid1=$(jqv "$TMP/status.json" \
		'[.processes[] | select(.comm == "tls_nodtor") | .pid][0] // 0')
	pid2=$(jqv "$TMP/status.json" \
		'[.processes[] | select(.comm == "tls_nodtor") | .pid][1] // 0')
fi
if [[ $pid1 == 0 || $pid2 == 0 ]]; then
	fail trace/pids "two tls_nodtor runs not in status: $(head -c 300 "$TMP/status.json")"
else
	pass trace/pids
fi

# The reference: what top says tls_nodtor_alloc holds, and every live block.
want_bytes=0
want_blocks=0
if query top "$TMP/top.json" top --limit all; then
	want_bytes=$(jqv "$TMP/top.json" \
		'[.[] | select(.site.function == "tls_nodtor_alloc") | .bytes] | add')
	want_blocks=$(jqv "$TMP/top.json" \
		'[.[] | select(.site.function == "tls_nodtor_alloc") | .blocks] | add')
	total_bytes=$(jqv "$TMP/top.json" '[.[].bytes] | add')
	total_blocks=$(jqv "$TMP/top.json" '[.[].blocks] | add')
	# The workloads' own numbers: the reference is right before it is used.
	if [[ $want_bytes == $((8 * 4096 + 150 * 64)) && $want_blocks == 158 ]]; then
		pass top/reference
	else
		fail top/reference "tls_nodtor_alloc holds $want_bytes bytes in $want_blocks blocks, want $((8 * 4096 + 150 * 64)) in 158"
	fi
fi
if query live "$TMP/live.json" live --limit all; then
	expect live/same_total "$TMP/live.json" '[length, ([.[].size] | add)]' \
		"[$total_blocks,$total_bytes]"
fi

# --- pprof -----------------------------------------------------------------

# pprof_top FILE [PPROF-ARGS...]: `go tool pprof -top` of FILE, every
# node, into FILE.top.
pprof_top() {
	local f=$1
	shift
	go tool pprof -top -nodefraction=0 -nodecount=100000 "$@" "$f" \
		>"$f.top" 2>"$f.top.err"
}

# top_row FILE.top FUNCTION: "FLAT CUM" of FUNCTION's row, without the
# unit (-unit=B writes 32768B).
top_row() {
	awk -v fn="$2" '$NF == fn { f = $1; c = $4; sub(/B$/, "", f);
		sub(/B$/, "", c); print f, c }' "$1"
}

# top_total FILE.top: the profile's total, from "... of N total".
top_total() {
	sed -n 's/.* of \([0-9]*\)B\{0,1\} total.*/\1/p' "$1"
}

# check_pprof NAME FILE BYTES BLOCKS TOTAL_BYTES TOTAL_BLOCKS: pprof reads
# FILE, tls_nodtor_alloc holds BYTES in BLOCKS of it (flat and cum: it is
# the leaf), its callers worker and start_thread the same (cum), and
# the whole profile TOTAL_BYTES in TOTAL_BLOCKS.
check_pprof() {
	local name=$1 f=$2 got
	if ! pprof_top "$f" -unit=B; then
		fail "$name/read" "go tool pprof failed: $(head -c 300 "$f.top.err")"
		return 0
	fi
	pass "$name/read"
	got=$(top_row "$f.top" tls_nodtor_alloc)
	if [[ $got == "$3 $3" ]]; then
		pass "$name/inuse_space"
	else
		fail "$name/inuse_space" "tls_nodtor_alloc flat, cum '$got', want '$3 $3': $(head -c 600 "$f.top")"
	fi
	got="$(top_row "$f.top" worker) $(top_row "$f.top" start_thread)"
	if [[ $got == "0 $3 0 $3" ]]; then
		pass "$name/callers"
	else
		fail "$name/callers" "worker, start_thread flat, cum '$got', want '0 $3 0 $3'"
	fi
	got=$(top_total "$f.top")
	if [[ $got == "$5" ]]; then
		pass "$name/total_space"
	else
		fail "$name/total_space" "total '$got', want $5"
	fi
	if ! pprof_top "$f" -sample_index=inuse_objects; then
		fail "$name/inuse_objects" "go tool pprof failed: $(head -c 300 "$f.top.err")"
		return 0
	fi
	got="$(top_row "$f.top" tls_nodtor_alloc) $(top_total "$f.top")"
	if [[ $got == "$4 $4 $6" ]]; then
		pass "$name/inuse_objects"
	else
		fail "$name/inuse_objects" "tls_nodtor_alloc flat, cum, total '$got', want '$4 $4 $6'"
	fi
}

if ctl export pprof -o "$TMP/all.pb.gz" >"$TMP/all.out" 2>"$TMP/all.err" &&
	[[ ! -s $TMP/all.out && ! -s $TMP/all.err ]]; then
	pass pprof/export
else
	fail pprof/export "export pprof -o failed or printed: $(cat "$TMP/all.err" "$TMP/all.out")"
fi
if gzip -t "$TMP/all.pb.gz" 2>/dev/null; then
	pass pprof/gzip
else
	fail pprof/gzip "not a gzip file"
fi
# A file is made as a shell redirection would make it: 0666 less umask.
got=$(umask 022 && ctl export pprof -o "$TMP/mode.pb.gz" &&
	stat -c %a "$TMP/mode.pb.gz")
if [[ $got == 644 ]]; then
	pass pprof/mode
else
	fail pprof/mode "mode '$got' with umask 022, want 644"
fi
check_pprof pprof "$TMP/all.pb.gz" "$want_bytes" "$want_blocks" \
	"$total_bytes" "$total_blocks"

# The profile's labels: each sample carries its pid.
if go tool pprof -raw "$TMP/all.pb.gz" >"$TMP/all.raw" 2>&1; then
	got=$(grep -o 'pid:\[[0-9]*\]' "$TMP/all.raw" | sort -u | tr '\n' ' ')
	want=$(printf 'pid:[%s]\n' "$pid1" "$pid2" | sort -u | tr '\n' ' ')
	if [[ $got == "$want" ]]; then
		pass pprof/pid_labels
	else
		fail pprof/pid_labels "labels '$got', want '$want'"
	fi
else
	fail pprof/pid_labels "go tool pprof -raw failed: $(head -c 300 "$TMP/all.raw")"
fi

# Each sample's comm as a string label beside its pid.
got=$(grep -o 'comm:\[[^]]*\]' "$TMP/all.raw" | sort -u | tr '\n' ' ' || true)
if [[ $got == "comm:[tls_nodtor] " ]]; then
	pass pprof/comm_labels
else
	fail pprof/comm_labels "labels '$got', want 'comm:[tls_nodtor] '"
fi

# The mappings (-raw: "N: 0xSTART/0xLIMIT/0xOFFSET PATH BUILDID"): the
# workload's and libc's with their files' build ids.
# raw_mapping PATH: "START LIMIT OFFSET BUILDID" of PATH's first mapping.
raw_mapping() {
	awk -v p="$1" '/^Mappings/ { m = 1; next } m && $3 == p {
		split($2, a, "/"); print a[1], a[2], a[3], $4; exit }' "$TMP/all.raw"
}
build_id() {
	readelf -n "$1" 2>/dev/null | awk '/Build ID:/ { print $3; exit }'
}
wl_path=$(readlink -f "$WL/tls_nodtor")
libc=$(awk '$3 ~ /\/libc\.so\.6$/ { print $3; exit }' \
	<(sed -n '/^Mappings/,$p' "$TMP/all.raw"))
read -r m_start m_limit m_off m_id <<<"$(raw_mapping "$wl_path")" || true
read -r _ _ _ l_id <<<"$(raw_mapping "$libc")" || true
want_id=$(build_id "$wl_path")
want_libc=$(build_id "$libc")
if [[ -n $want_id && $m_id == "$want_id" && -n $want_libc && $l_id == "$want_libc" ]]; then
	pass pprof/build_ids
else
	fail pprof/build_ids "tls_nodtor's mapping has build id '$m_id' (file: '$want_id'), libc's ('$libc') '$l_id' (file: '$want_libc')"
fi
# tls_nodtor_alloc's location: its address, through the mapping, is a
# file offset; the loadable segment holding that offset gives the
# link-time address, which addr2line finds in tls_nodtor_alloc.
addr=$(awk '/^Locations/ { l = 1; next } /^Mappings/ { l = 0 }
	l && $4 == "tls_nodtor_alloc" { print $2; exit }' "$TMP/all.raw")
fn=
if [[ -n $addr && -n $m_start ]]; then
	fileoff=$((addr - m_start + m_off))
	vaddr=
	while read -r _ off va _ sz _; do
		if ((fileoff >= off && fileoff < off + sz)); then
			vaddr=$(printf '0x%x' $((fileoff - off + va)))
			break
		fi
	done < <(readelf -lW "$wl_path" | awk '$1 == "LOAD"')
	[[ -z $vaddr ]] || fn=$(addr2line -f -e "$wl_path" "$vaddr" | head -n 1)
fi
if [[ $fn == tls_nodtor_alloc ]] && ((addr >= m_start && addr < m_limit)); then
	pass pprof/file_offsets
else
	fail pprof/file_offsets "location '$addr' in mapping '$m_start/$m_limit/$m_off' is file address '${vaddr:-?}', in '$fn', want tls_nodtor_alloc"
fi
# pprof symbolizing every location again from the files the mappings
# name (force: even those with functions), checking their build ids:
# the same functions and bytes, with no failure reported.
if pprof_top "$TMP/all.pb.gz" -unit=B -symbolize=local:force &&
	! grep -qiE 'fail|mismatch|error' "$TMP/all.pb.gz.top.err" &&
	[[ $(top_row "$TMP/all.pb.gz.top" tls_nodtor_alloc) == "$want_bytes $want_bytes" ]] &&
	top_row "$TMP/all.pb.gz.top" worker | grep -q .; then
	pass pprof/resymbolized
else
	fail pprof/resymbolized "go tool pprof -symbolize=local:force: $(head -c 300 "$TMP/all.pb.gz.top.err") $(grep -E 'tls_nodtor_alloc|worker' "$TMP/all.pb.gz.top" | head -n 3)"
fi

# What grew between two exports: pprof's -diff_base subtracts the
# profile taken after the first run; what is left is the second run's
# 150 blocks of 64 bytes, all at tls_nodtor_alloc.
if [[ -s $TMP/base.pb.gz ]] &&
	pprof_top "$TMP/all.pb.gz" -unit=B -diff_base="$TMP/base.pb.gz"; then
	got=$(top_row "$TMP/all.pb.gz.top" tls_nodtor_alloc)
	if [[ $got == "$((150 * 64)) $((150 * 64))" ]]; then
		pass pprof/diff_base
	else
		fail pprof/diff_base "tls_nodtor_alloc grew by '$got', want $((150 * 64)) flat and cum: $(head -n 12 "$TMP/all.pb.gz.top")"
	fi
else
	fail pprof/diff_base "no base profile or go tool pprof -diff_base failed: $(cat "$TMP/base.err" "$TMP/all.pb.gz.top.err" 2>/dev/null | head -c 300)"
fi

# --pid: that process only.
if query top_pid "$TMP/top_pid.json" top --pid "$pid1" --limit all &&
	ctl export pprof --pid "$pid1" -o "$TMP/pid.pb.gz" 2>"$TMP/pid.err"; then
	check_pprof pprof_pid "$TMP/pid.pb.gz" \
		"$(jqv "$TMP/top_pid.json" '[.[] | select(.site.function == "tls_nodtor_alloc") | .bytes] | add')" \
		"$(jqv "$TMP/top_pid.json" '[.[] | select(.site.function == "tls_nodtor_alloc") | .blocks] | add')" \
		"$(jqv "$TMP/top_pid.json" '[.[].bytes] | add')" \
		"$(jqv "$TMP/top_pid.json" '[.[].blocks] | add')"
else
	fail pprof_pid "export pprof --pid failed: $(cat "$TMP/pid.err")"
fi

# stdout when it is not a terminal; a terminal gets one line instead.
if ctl export pprof >"$TMP/stdout.pb.gz" 2>"$TMP/stdout.err"; then
	check_pprof pprof_stdout "$TMP/stdout.pb.gz" "$want_bytes" \
		"$want_blocks" "$total_bytes" "$total_blocks"
else
	fail pprof_stdout "export pprof to a pipe failed: $(cat "$TMP/stdout.err")"
fi
rc=0
script -qec "$(printf '%q ' "$MEMWATCHCTL" --db "$DB" export pprof)" \
	/dev/null >"$TMP/tty.out" 2>&1 </dev/null || rc=$?
got=$(tr -d '\r' <"$TMP/tty.out")
want="memwatchctl: export pprof: stdout is a terminal; write the profile to a file with -o FILE"
if [[ $rc == 2 && $got == "$want" ]]; then
	pass pprof/tty_refused
else
	fail pprof/tty_refused "status $rc, output '$(head -c 300 <<<"$got")'"
fi

# --- folded ----------------------------------------------------------------

if ctl export folded -o "$TMP/folded.txt" 2>"$TMP/folded.err"; then
	pass folded/export
	# frame;frame;... bytes: no empty frame, a count at the end.
	got=$(grep -cvE '^[^;]+(;[^;]+)* [0-9]+$' "$TMP/folded.txt" || true)
	if [[ $got == 0 && -s $TMP/folded.txt ]]; then
		pass folded/format
	else
		fail folded/format "$got malformed lines: $(head -c 300 "$TMP/folded.txt")"
	fi
	got=$(awk '{ s += $NF } END { print s + 0 }' "$TMP/folded.txt")
	if [[ $got == "$total_bytes" ]]; then
		pass folded/total
	else
		fail folded/total "lines sum to $got bytes, want $total_bytes"
	fi
	# Outermost first: the leak's stack ends worker;tls_nodtor_alloc.
	got=$(awk '$0 ~ /;tls_nodtor_alloc [0-9]+$/ { s += $NF } END { print s + 0 }' \
		"$TMP/folded.txt")
	if [[ $got == "$want_bytes" ]] &&
		grep -qE '(^|;)start_thread;worker;tls_nodtor_alloc [0-9]+$' "$TMP/folded.txt"; then
		pass folded/leaf
	else
		fail folded/leaf "stacks ending in tls_nodtor_alloc hold $got bytes, want $want_bytes: $(head -c 300 "$TMP/folded.txt")"
	fi
	# One line per distinct stack: the two runs' leaks are one line.
	got=$(awk '{ $NF = "" } 1' "$TMP/folded.txt" | sort | uniq -d | wc -l)
	if [[ $got == 0 ]]; then
		pass folded/merged
	else
		fail folded/merged "$got stacks on more than one line"
	fi
else
	fail folded/export "export folded failed: $(cat "$TMP/folded.err")"
fi
if ctl export folded >"$TMP/folded.stdout" 2>"$TMP/folded.stdout.err" &&
	cmp -s "$TMP/folded.stdout" "$TMP/folded.txt"; then
	pass folded/stdout
else
	fail folded/stdout "stdout differs from -o FILE: $(cat "$TMP/folded.stdout.err")"
fi

# --- json and csv ------------------------------------------------------------

# same_as NAME FILE ARGS...: FILE is byte for byte `memwatchctl ARGS`.
same_as() {
	local name=$1 f=$2
	shift 2
	if ctl "$@" >"$f.want" 2>"$f.want.err" && cmp -s "$f" "$f.want"; then
		pass "$name"
	else
		fail "$name" "differs from memwatchctl $*: $(cmp "$f" "$f.want" 2>&1 | head -c 200)"
	fi
}

# csv_agrees NAME CSV JSON: CSV has a header row naming the JSON objects'
# fields (nested ones as parent_child) in their order, then one row per
# object with the same values, CRLF line ends.
csv_agrees() {
	local out
	if out=$(python3 - "$2" "$3" 2>&1 <<'EOF'
import csv, json, sys

def flat(obj, prefix=""):
    for k, v in obj.items():
        if isinstance(v, dict):
            yield from flat(v, prefix + k + "_")
        else:
            yield prefix + k, "" if v is None else str(v)

with open(sys.argv[1], newline="") as f:
    raw = f.read()
rows = list(csv.reader(raw.splitlines(keepends=True)))
objs = json.load(open(sys.argv[2]))
lines = raw.split("\r\n")
if lines[-1] != "" or any("\n" in l for l in lines[:1]):
    sys.exit("records do not end with CRLF")
want_head = [k for k, _ in flat(objs[0])] if objs else None
if want_head is not None and rows[0] != want_head:
    sys.exit("header %s, want %s" % (rows[0], want_head))
if len(rows) - 1 != len(objs):
    sys.exit("%d rows, want %d" % (len(rows) - 1, len(objs)))
for i, (row, obj) in enumerate(zip(rows[1:], objs)):
    want = [v for _, v in flat(obj)]
    if row != want:
        sys.exit("row %d: %s, want %s" % (i + 1, row, want))
EOF
	); then
		pass "$1"
	else
		fail "$1" "$out"
	fi
}

for what in findings live; do
	args=("$what")
	[[ $what == live ]] && args+=(--limit all)
	if ctl export json "$what" -o "$TMP/$what.json" 2>"$TMP/$what.json.err"; then
		same_as "json/$what" "$TMP/$what.json" --json "${args[@]}"
	else
		fail "json/$what" "export json $what failed: $(cat "$TMP/$what.json.err")"
	fi
	if ctl export csv "$what" -o "$TMP/$what.csv" 2>"$TMP/$what.csv.err"; then
		csv_agrees "csv/$what" "$TMP/$what.csv" "$TMP/$what.json"
	else
		fail "csv/$what" "export csv $what failed: $(cat "$TMP/$what.csv.err")"
	fi
	if ctl export csv "$what" >"$TMP/$what.csv.stdout" 2>/dev/null &&
		cmp -s "$TMP/$what.csv.stdout" "$TMP/$what.csv"; then
		pass "csv/$what/stdout"
	else
		fail "csv/$what/stdout" "stdout differs from -o FILE"
	fi
done
# Every row: 158 leaked blocks and more, not the 100 `live` shows.
expect json/live_rows "$TMP/live.json" 'length' "$total_blocks"
expect json/findings_rows "$TMP/findings.json" \
	'[.[] | select(.kind == "tls-outlived-thread")] | length' 158
ctl export json findings --pid "$pid1" -o "$TMP/findings_pid.json" &&
	expect json/findings_pid "$TMP/findings_pid.json" \
		'[length, ([.[].pid] | unique)]' "[8,[$pid1]]"
ctl export csv live --limit 3 -o "$TMP/live3.csv" &&
	expect csv/limit "$TMP/live3.csv" 'split("\r\n")[:-1] | length' 4 -R -s

# --- bad input ------------------------------------------------------------------

# no_files NAME DIR: DIR holds nothing (no output, no temporary file).
no_files() {
	local left
	left=$(find "$2" -mindepth 1 -printf '%P ' 2>/dev/null)
	if [[ -z $left ]]; then
		pass "$1"
	else
		fail "$1" "left behind: $left"
	fi
}

out=$TMP/out
mkdir "$out"
ctl_error err/unknown_format 2 \
	"export: unknown format 'xml' (pprof, folded, csv, json)" \
	export xml -o "$out/f"
ctl_error err/no_format 2 \
	"usage: memwatchctl export pprof|folded|csv|json [findings|live] [-o FILE]" \
	export
ctl_error err/unknown_table 2 "export csv: unknown table 'keys' (findings, live)" \
	export csv keys -o "$out/f"
ctl_error err/no_table 2 "usage: memwatchctl export json findings|live [-o FILE]" \
	export json -o "$out/f"
ctl_error err/pprof_arg 2 "export pprof: unexpected argument 'live'" \
	export pprof live -o "$out/f"
ctl_error err/pprof_limit 2 "export folded: only --pid selects what it exports" \
	export folded --limit 5 -o "$out/f"
# Elsewhere -o names a table's columns (as lsblk's): a path is no
# column, and no file is written.
ctl_error err/o_elsewhere 2 \
	"-o: unknown column '$out/f' (PID, SITE, BLOCKS, BYTES, OLDEST, THREADS, NEW_10S, PREV_10S)" \
	top -o "$out/f"
no_files err/usage_no_file "$out"

for fmt in pprof folded "csv live" "json findings"; do
	n=${fmt// /_}
	# shellcheck disable=SC2086  # fmt is one or two words
	ctl_error "err/no_dir/$n" 1 \
		"cannot write '$out/nodir/f': No such file or directory" \
		export $fmt -o "$out/nodir/f"
	: >"$TMP/plain"
	# shellcheck disable=SC2086
	ctl_error "err/not_dir/$n" 1 \
		"cannot write '$TMP/plain/f': Not a directory" \
		export $fmt -o "$TMP/plain/f"
	# shellcheck disable=SC2086
	ctl_error "err/is_dir/$n" 1 "cannot write '$out': Is a directory" \
		export $fmt -o "$out"
	# shellcheck disable=SC2086
	ctl_error "err/no_db/$n" 1 \
		"database '$TMP/none.db': no such database" \
		--db "$TMP/none.db" export $fmt -o "$out/f"
	no_files "err/no_file/$n" "$out"
done

# A write that fails half-way (the file size limit: EFBIG, with SIGXFSZ
# ignored) leaves no file, no temporary file, and a file that was there
# as it was.
# The limit holds for every file memwatchctl writes: its stderr goes
# through a pipe to cat, which has no limit, and it reads a copy of the
# database in rollback-journal mode, as a reader of a WAL database may
# have to create its -shm file.
# shellcheck disable=SC2317  # called through err_case
efbig_ctl() {
	(trap '' XFSZ && ulimit -f 0 && "$MEMWATCHCTL" --db "$TMP/rollback.db" "$@") 2>&1 |
		cat >&2
}
sqlite3 "$DB" ".backup '$TMP/rollback.db'"
sqlite3 "$TMP/rollback.db" 'PRAGMA journal_mode = DELETE' >/dev/null
for fmt in pprof folded "csv live" "json live"; do
	n=${fmt// /_}
	# shellcheck disable=SC2086  # fmt is one or two words
	ctl_error "err/efbig/$n" 1 "cannot write '$out/f': File too large" \
		export $fmt -o "$out/f" --ctl efbig_ctl
	no_files "err/efbig_no_file/$n" "$out"
done
echo previous >"$out/keep"
ctl_error err/efbig_keep 1 "cannot write '$out/keep': File too large" \
	export csv live -o "$out/keep" --ctl efbig_ctl
if [[ $(cat "$out/keep") == previous && $(ls -A "$out") == keep ]]; then
	pass err/efbig_keeps_previous
else
	fail err/efbig_keeps_previous "'$out/keep' now '$(head -c 100 "$out/keep")', dir: $(ls -A "$out")"
fi

# Devices are written, not replaced.
if ctl export pprof -o /dev/null && [[ -c /dev/null ]]; then
	pass device_output
else
	fail device_output "export to /dev/null failed or replaced it"
fi

finish
