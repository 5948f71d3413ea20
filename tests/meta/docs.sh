#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/meta/docs.sh - the manual pages (docs/man/) and the bash completion
# (packaging/memwatchctl.bash-completion) say what the programs do. No
# list is written here: each is read at test time from the programs (their
# --help, their errors, their output) or from their getopt_long tables.
#   - every page renders with groff -ww without a warning, lexgrog reads
#     its NAME line, and its version is the programs';
#   - every long option of memwatchd (its --help and its table) is an item
#     of memwatchd.8's OPTIONS; every setting memwatchd takes in a file
#     (each option tried as a line of a file) one of memwatchd.conf.5's
#     SETTINGS; every command of `memwatchctl --help` and each of its
#     long options one of memwatchctl.1's COMMANDS and OPTIONS; and the
#     other way round, every item there is real;
#   - every finding kind memwatchctl accepts is described, every JSON
#     field its queries print on a real trace, and every metric family
#     memwatchd exports for it;
#   - the pages' examples parse: no usage error from the programs;
#   - the completion, sourced in a plain bash and driven through
#     COMP_WORDS/COMP_CWORD, completes `memwatchctl fi` to findings,
#     offers exactly the commands of `memwatchctl --help`, every long
#     option and no unknown one, the finding kinds, severities, --sort/--by/--per
#     values, attach targets and export formats memwatchctl accepts (read
#     from its errors), file names for --db, --socket and -o, and the
#     finding ids of a real trace for explain.
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

MAN=$ROOT/docs/man
COMPLETION=$ROOT/packaging/memwatchctl.bash-completion
PAGES=(memwatchd.8 memwatchd.conf.5 memwatchctl.1)
# Never the host's daemon: attach and detach examples go nowhere.
NODB=$TMP/absent.db
NOSOCK=$TMP/absent.sock

# --- helpers -------------------------------------------------------------------

# render PAGE: the page as plain text, wide and unhyphenated, so that
# every item is one line starting with its tag.
render() {
	groff -man -Tascii -P-cbou -rLL=250n -rHY=0 "$MAN/$1" 2>/dev/null
}

# section FILE TITLE: the lines of a rendered page's section TITLE.
section() {
	awk -v t="$2" '$0 == t { on = 1; next } /^[A-Z]/ { on = 0 } on' "$1"
}

# has_item FILE WORD: an item tag of the rendered text FILE is WORD, or
# "-X, WORD" (a short option before it), followed by its argument or text.
# shellcheck disable=SC2317  # called through listed_in
has_item() {
	grep -qE -- "^ {7}(-[A-Za-z], )?$2( |,|\$)" "$1"
}

# unroff: roff escapes of the pages as plain text.
unroff() {
	sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' \
		-e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's/\\e/\\/g' -e 's/"//g'
}

# roff_tags PAGE TITLE: the tag line of each .TP item of section TITLE
# (.SH TITLE up to the next .SH) in the page's source, unescaped.
roff_tags() {
	awk -v t="$2" '
		/^\.SH / { on = ($0 == ".SH " t); next }
		on && tp { sub(/^\.[A-Z]+ */, ""); print; tp = 0; next }
		on && /^\.TP/ { tp = 1 }' "$MAN/$1" | unroff
}

# roff_examples PAGE [N]: the lines of the Nth .EX block (all of them
# without N) of the EXAMPLES or EXAMPLE section, unescaped, with continued
# lines joined.
roff_examples() {
	awk -v n="${2:-0}" '
		/^\.SH / { on = ($0 == ".SH EXAMPLES" || $0 == ".SH EXAMPLE"); next }
		on && /^\.EX/ { k++; ex = (n == 0 || k == n); next }
		on && /^\.EE/ { ex = 0; next }
		on && ex' "$MAN/$1" | unroff |
		awk '/\\$/ { sub(/\\$/, ""); line = line $0; next }
			{ print line $0; line = "" }'
}

# same_set NAME WHAT WANT GOT: two lists, one item a line, are the same set.
same_set() {
	local missing extra
	missing=$(comm -23 <(sort -u "$3") <(sort -u "$4") | tr '\n' ' ')
	extra=$(comm -13 <(sort -u "$3") <(sort -u "$4") | tr '\n' ' ')
	if [[ ! -s $3 ]]; then
		fail "$1" "no $2 found to compare with"
	elif [[ -z $missing && -z $extra ]]; then
		pass "$1"
	else
		fail "$1" "$2:${missing:+ missing ${missing% }}${extra:+ extra ${extra% }}"
	fi
}

# listed_in NAME WHAT LIST FILE HOW: every item of LIST (a file) passes
# `HOW FILE ITEM`; the FAIL line names those that do not.
listed_in() {
	local name=$1 what=$2 list=$3 file=$4 how=$5 item missing=()
	if [[ ! -s $list ]]; then
		fail "$name" "no $what found"
		return
	fi
	while IFS= read -r item; do
		"$how" "$file" "$item" || missing+=("$item")
	done <"$list"
	if ((${#missing[@]} == 0)); then
		pass "$name"
	else
		fail "$name" "$what not there: ${missing[*]}"
	fi
}

# real_option PROG OPTION: PROG takes OPTION by that very name: it is in
# PROG's list of options ($TMP/PROG.opts, as getopt would also take an
# abbreviation), and getopt in PROG does not call it unknown.
# shellcheck disable=SC2317  # called through listed_in
real_option() {
	local out
	grep -qxF -- "$2" "$TMP/${1##*/}.opts" || return 1
	out=$("$1" "$2" 1 --help 2>&1 </dev/null || true)
	[[ $out != *"unknown or incomplete option"* ]]
}

# src_opts FILE: the long options of the getopt_long table in a C source,
# one a line, with their dashes: lines such as {"db", required_argument,
src_opts() {
	grep -oE '\{"[a-z][a-z0-9-]*", *(required|no|optional)_argument' "$1" |
		sed -E 's/^\{"([^"]+)".*/--\1/' | sort -u
}

# in_list FILE ITEM: ITEM is a line of FILE.
# shellcheck disable=SC2317  # called through listed_in
in_list() {
	grep -qxF -- "$2" "$1"
}

# error_list ARGS...: the list in parentheses that ends memwatchctl's
# error for ARGS, one item a line: "--kind: unknown kind 'x' (a, b)".
error_list() {
	"$MEMWATCHCTL" --db "$NODB" --socket "$NOSOCK" "$@" 2>&1 >/dev/null |
		sed -n 's/.*(\([^()]*\))$/\1/p' | tr -d ' ' | tr ',' '\n' || true
}

# complete_words WORD...: what the completion offers for a command line
# of these words, the last one being completed; one a line. A plain bash
# with nounset, as a user's shell may be.
complete_words() {
	bash --norc --noprofile -c '
		set -u
		source "$1"
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_memwatchctl
		if ((${#COMPREPLY[@]})); then
			printf "%s\n" "${COMPREPLY[@]}"
		fi' complete "$COMPLETION" "$@"
}

# completes NAME WANT-FILE WORD...: the completion of WORDS is WANT's set.
completes() {
	local name=$1 want=$2
	shift 2
	complete_words "$@" >"$TMP/got.$BASHPID" 2>"$TMP/got.$BASHPID.err" || true
	if [[ -s $TMP/got.$BASHPID.err ]]; then
		fail "$name" "the completion printed errors: $(head -c 300 "$TMP/got.$BASHPID.err")"
	else
		same_set "$name" "completions of '$*'" "$want" "$TMP/got.$BASHPID"
	fi
}

# --- what the programs say ------------------------------------------------------

"$MEMWATCHD" --help >"$TMP/memwatchd.help"
"$MEMWATCHCTL" --help >"$TMP/memwatchctl.help"
# The options: those the help names, and those of the getopt_long table
# in the source (one the help forgets is still one to describe).
for p in memwatchd:daemon/options.c memwatchctl:ctl/memwatchctl.c; do
	src_opts "$ROOT/${p#*:}" >"$TMP/${p%%:*}.src.opts"
	if [[ -s $TMP/${p%%:*}.src.opts ]]; then
		pass "source/${p%%:*}_options"
	else
		fail "source/${p%%:*}_options" "no getopt_long table found in ${p#*:}"
	fi
	grep -oE -- '--[a-z][a-z0-9-]*' "$TMP/${p%%:*}.help" |
		sort -u - "$TMP/${p%%:*}.src.opts" >"$TMP/${p%%:*}.opts"
done
cp "$TMP/memwatchd.opts" "$TMP/d.opts"
cp "$TMP/memwatchctl.opts" "$TMP/c.opts"
# The commands: the first word of each entry of the "Commands" lists.
awk '/^Commands/ { on = 1; next } /^[A-Z]/ { on = 0 }
	on && /^  [a-z]/ { print $1 }' "$TMP/memwatchctl.help" |
	sort -u >"$TMP/c.cmds"

# The settings memwatchd takes in a file: each long option alone on a
# line; anything but "unknown setting" (a missing value, OK) says it is one.
: >"$TMP/d.keys"
while IFS= read -r opt; do
	key=${opt#--}
	printf '%s\n' "$key" >"$TMP/key.conf"
	"$MEMWATCHD" --config "$TMP/key.conf" --check-config >"$TMP/key.out" 2>&1 || true
	grep -q "unknown setting" "$TMP/key.out" || echo "$key" >>"$TMP/d.keys"
done <"$TMP/d.opts"

# Each command the help lists is one memwatchctl knows.
bad=()
while IFS= read -r c; do
	"$MEMWATCHCTL" --db "$NODB" --socket "$NOSOCK" "$c" >"$TMP/cmd.out" 2>&1 \
		</dev/null || true
	! grep -q "unknown command" "$TMP/cmd.out" || bad+=("$c")
done <"$TMP/c.cmds"
if [[ ! -s $TMP/c.cmds ]]; then
	fail help/commands "no commands found in memwatchctl --help"
elif ((${#bad[@]})); then
	fail help/commands "memwatchctl --help lists unknown commands: ${bad[*]}"
else
	pass help/commands
fi

# --- the pages render cleanly -------------------------------------------------

for page in "${PAGES[@]}"; do
	if [[ ! -f $MAN/$page ]]; then
		fail "render/$page" "$MAN/$page is missing"
		continue
	fi
	rc=0
	groff -man -ww -z -Tutf8 "$MAN/$page" >"$TMP/$page.warn" 2>&1 || rc=$?
	if [[ $rc == 0 && ! -s $TMP/$page.warn ]]; then
		pass "render/$page"
	else
		fail "render/$page" "groff -ww exited $rc: $(head -c 300 "$TMP/$page.warn")"
	fi
	# whatis/apropos read the NAME line as "name \- description".
	name=${page%.*}
	whatis=$(lexgrog "$MAN/$page" 2>&1 || true)
	if [[ $whatis == *"\"$name - "* ]]; then
		pass "whatis/$page"
	else
		fail "whatis/$page" "lexgrog: $whatis"
	fi
	version=$(grep -m1 '^\.TH' "$MAN/$page" | grep -oE 'memwatch [0-9][0-9.]*' || true)
	want="memwatch $("$MEMWATCHD" --version | awk '{ print $2 }')"
	if [[ $version == "$want" && "memwatch $("$MEMWATCHCTL" --version | awk 'NR == 1 { print $2 }')" == "$want" ]]; then
		pass "version/$page"
	else
		fail "version/$page" ".TH says '$version', the programs '$want'"
	fi
	render "$page" >"$TMP/$page.txt"
done

# --- every option, setting and command is described ------------------------

section "$TMP/memwatchd.8.txt" OPTIONS >"$TMP/d.options.txt"
listed_in memwatchd.8/options "memwatchd options" "$TMP/d.opts" \
	"$TMP/d.options.txt" has_item
section "$TMP/memwatchd.conf.5.txt" SETTINGS >"$TMP/settings.txt"
listed_in memwatchd.conf.5/settings "settings memwatchd takes in a file" \
	"$TMP/d.keys" "$TMP/settings.txt" has_item
section "$TMP/memwatchctl.1.txt" COMMANDS >"$TMP/c.commands.txt"
listed_in memwatchctl.1/commands "memwatchctl --help commands" "$TMP/c.cmds" \
	"$TMP/c.commands.txt" has_item
section "$TMP/memwatchctl.1.txt" OPTIONS >"$TMP/c.options.txt"
listed_in memwatchctl.1/options "memwatchctl options" "$TMP/c.opts" \
	"$TMP/c.options.txt" has_item

# ... and nothing described is made up.
roff_tags memwatchd.8 OPTIONS | grep -oE -- '--[a-z][a-z0-9-]*' |
	sort -u >"$TMP/d.man.opts"
listed_in memwatchd.8/options_real "memwatchd.8 options" "$TMP/d.man.opts" \
	"$MEMWATCHD" real_option
roff_tags memwatchd.conf.5 SETTINGS | awk '{ print $1 }' |
	sort -u >"$TMP/man.keys"
listed_in memwatchd.conf.5/settings_real "memwatchd.conf.5 settings" \
	"$TMP/man.keys" "$TMP/d.keys" in_list
roff_tags memwatchctl.1 COMMANDS | awk '{ print $1 }' |
	sort -u >"$TMP/c.man.cmds"
listed_in memwatchctl.1/commands_real "memwatchctl.1 commands" \
	"$TMP/c.man.cmds" "$TMP/c.cmds" in_list
roff_tags memwatchctl.1 OPTIONS | grep -oE -- '--[a-z][a-z0-9-]*' |
	sort -u >"$TMP/c.man.opts"
listed_in memwatchctl.1/options_real "memwatchctl.1 options" \
	"$TMP/c.man.opts" "$MEMWATCHCTL" real_option

# Every finding kind memwatchctl accepts is described in memwatchctl.1.
error_list --kind nonsense findings >"$TMP/kinds"
section "$TMP/memwatchctl.1.txt" FINDINGS >"$TMP/findings.txt"
listed_in memwatchctl.1/kinds "finding kinds" "$TMP/kinds" \
	"$TMP/findings.txt" has_item

# --- the examples parse -------------------------------------------------------

# check_examples NAME PROG PAGE: the page's examples of PROG (memwatchd
# checking only, memwatchctl on an absent database and socket) give no
# usage error (exit 2).
check_examples() {
	local name=$1 prog=$2 page=$3 n=0 line rc bad=()
	local -a words
	while IFS= read -r line; do
		[[ $line == "$prog "* ]] || continue
		n=$((n + 1))
		# What a shell would take: not its redirections or pipes.
		line=${line%%[>|]*}
		# The sample configuration is what /etc/memwatch holds.
		line=${line//\/etc\/memwatch\/memwatchd.conf/$ROOT\/packaging\/memwatchd.conf}
		read -ra words <<<"${line#"$prog "}"
		rc=0
		# In $TMP: an export's -o FILE must land nowhere else.
		if [[ $prog == memwatchd ]]; then
			(cd "$TMP" && "$MEMWATCHD" --check-config "${words[@]}") \
				>"$TMP/ex.out" 2>&1 || rc=$?
		else
			(cd "$TMP" && "$MEMWATCHCTL" "${words[@]}" --db "$NODB" \
				--socket "$NOSOCK") >"$TMP/ex.out" 2>&1 </dev/null || rc=$?
		fi
		[[ $rc != 2 ]] || bad+=("'$line': $(head -n 1 "$TMP/ex.out")")
	done < <(roff_examples "$page")
	if ((n == 0)); then
		fail "$name" "no example of $prog found in $page"
	elif ((${#bad[@]})); then
		fail "$name" "usage errors: ${bad[*]}"
	else
		pass "$name"
	fi
}
check_examples memwatchd.8/examples memwatchd memwatchd.8
check_examples memwatchctl.1/examples memwatchctl memwatchctl.1
check_examples memwatchd.conf.5/examples memwatchd memwatchd.conf.5

# The example file of memwatchd.conf.5: valid settings; its targets need
# not exist here (exit 1 names one), but no line may be wrong (exit 2).
roff_examples memwatchd.conf.5 1 >"$TMP/example.conf"
rc=0
"$MEMWATCHD" --config "$TMP/example.conf" --check-config >"$TMP/example.out" 2>&1 || rc=$?
if [[ $(grep -c '^[a-z]' "$TMP/example.conf") -lt 3 ]]; then
	fail memwatchd.conf.5/example_file "no example file found: $(head -c 200 "$TMP/example.conf")"
elif [[ $rc == 2 ]] || grep -q "^$TMP/example.conf:" "$TMP/example.out"; then
	fail memwatchd.conf.5/example_file "exit $rc: $(head -n 1 "$TMP/example.out")"
else
	pass memwatchd.conf.5/example_file
fi

# --- bash completion -----------------------------------------------------------

registered=$(bash --norc --noprofile -c 'source "$1" && complete -p memwatchctl' \
	_ "$COMPLETION" 2>&1 || true)
if [[ $registered == *"-F _memwatchctl"* ]]; then
	pass completion/registered
else
	fail completion/registered "sourcing $COMPLETION does not register _memwatchctl"
fi

echo findings >"$TMP/want.fi"
completes completion/fi "$TMP/want.fi" memwatchctl 'fi'
completes completion/commands "$TMP/c.cmds" memwatchctl ""
# Every long option of the help, and nothing memwatchctl does not take.
complete_words memwatchctl -- >"$TMP/got.opts" 2>&1 || true
listed_in completion/options "memwatchctl options" "$TMP/c.opts" \
	"$TMP/got.opts" in_list
listed_in completion/options_real "completed options" "$TMP/got.opts" \
	"$MEMWATCHCTL" real_option
completes completion/kinds "$TMP/kinds" memwatchctl --kind ""
grep '^tls-outlived-' "$TMP/kinds" >"$TMP/kinds.tls" || true
completes completion/kind_equals "$TMP/kinds.tls" \
	memwatchctl findings --kind = tls-outlived-
grep -- '^--sev' "$TMP/c.opts" >"$TMP/want.sev" || true
completes completion/option_after_command "$TMP/want.sev" \
	memwatchctl findings --sev
error_list --severity nonsense findings >"$TMP/severities"
completes completion/severities "$TMP/severities" memwatchctl --severity ""
error_list --state nonsense findings >"$TMP/states"
completes completion/states "$TMP/states" memwatchctl --state ""
error_list --by nonsense top >"$TMP/by"
completes completion/by "$TMP/by" memwatchctl top --by ""
error_list --per nonsense top >"$TMP/per"
completes completion/per "$TMP/per" memwatchctl top --per ""
error_list --sort nonsense findings >"$TMP/sort"
completes completion/sort "$TMP/sort" memwatchctl findings --sort ""
error_list attach nonsense 1 >"$TMP/targets"
completes completion/attach "$TMP/targets" memwatchctl attach ""
completes completion/detach "$TMP/targets" memwatchctl --json detach ""
error_list export nonsense >"$TMP/formats"
completes completion/export "$TMP/formats" memwatchctl export ""
error_list export csv nonsense >"$TMP/tables"
completes completion/export_csv "$TMP/tables" memwatchctl export csv ""

mkdir -p "$TMP/files"
touch "$TMP/files/a.db" "$TMP/files/a.sock" "$TMP/files/b.db"
printf '%s\n' "$TMP/files/a.db" "$TMP/files/a.sock" >"$TMP/want.files"
completes completion/db_files "$TMP/want.files" memwatchctl --db "$TMP/files/a"
completes completion/socket_files "$TMP/want.files" \
	memwatchctl status --socket "$TMP/files/a"
completes completion/output_files "$TMP/want.files" \
	memwatchctl export pprof -o "$TMP/files/a"

# explain: the ids of the findings of a real trace (which also writes
# its metrics to a file, checked below).
DB=$TMP/trace.db
trace --metrics-listen none --metrics-textfile "$TMP/metrics.prom" \
	-- "$WL/tls_nodtor" 4 64
if [[ $TRACE_RC == 0 ]]; then
	pass trace/exit_status
else
	fail trace/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")"
fi
if query trace/findings "$TMP/findings.json" findings; then
	jq -r '.[].id' "$TMP/findings.json" >"$TMP/ids"
	completes completion/explain_ids "$TMP/ids" \
		"$MEMWATCHCTL" --db "$DB" explain ""
fi

# --- every JSON field of the trace's queries is described ---------------------

# json_fields NAME ARGS...: every object key in `memwatchctl --json ARGS`
# on the trace's database is a word of memwatchctl.1's JSON OUTPUT.
section "$TMP/memwatchctl.1.txt" "JSON OUTPUT" >"$TMP/json.txt"
# shellcheck disable=SC2317  # called through listed_in
has_word() {
	grep -qw -- "$2" "$1"
}
json_fields() {
	local name=$1 f=$TMP/json.${1//\//_}
	shift
	ctl --json "$@" >"$f.json" 2>"$f.err" || true
	if ! jq -e 'type == "object" or (type == "array" and length > 0)' \
		"$f.json" >/dev/null 2>&1; then
		fail "$name" "memwatchctl --json $* gave nothing to check: $(head -c 200 "$f.json") $(head -c 200 "$f.err")"
		return
	fi
	jq -r '[paths | .[-1] | strings] | unique[]' "$f.json" >"$f.keys"
	listed_in "$name" "JSON fields of '$*'" "$f.keys" "$TMP/json.txt" has_word
}
json_fields json/status status
json_fields json/threads threads
json_fields json/live live
json_fields json/keys keys
json_fields json/findings findings
json_fields json/top top
json_fields json/top_per_thread top --per thread
id=$(jqv "$TMP/findings.json" '.[0].id // 0')
json_fields json/explain explain "$id"
tid=$(jqv "$TMP/findings.json" '.[0].tid // 0')
json_fields json/thread thread "$tid"
json_fields json/error explain 999999999

# --- every metric family is described -----------------------------------------

grep -oE '^# TYPE [a-z_]+' "$TMP/metrics.prom" 2>/dev/null | awk '{ print $3 }' |
	sort -u >"$TMP/families" || true
section "$TMP/memwatchd.8.txt" METRICS >"$TMP/metrics.txt"
listed_in memwatchd.8/metrics "metric families of --metrics-textfile" \
	"$TMP/families" "$TMP/metrics.txt" has_word

finish
