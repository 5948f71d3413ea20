#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2317  # jq filters use $vars; helpers run through ok and wait_until
# tests/e2e/prometheus.sh - memwatchd's Prometheus export, the Grafana
# dashboard and the alert rules, on a real Prometheus (Debian's package):
#   - dashboards/alerts.yml passes `promtool check rules`, and
#     dashboards/alerts_test.yml `promtool test rules`; the example
#     Prometheus configuration passes `promtool check config`;
#   - every alert has a runbook_url naming a document of docs/ under
#     /usr/share/doc/memwatch, and a case of alerts_test.yml where it
#     fires; the default metrics address is the one the packaged
#     configuration, the example and the manual pages name, not 9464;
#   - a real memwatchd serves /metrics on a free port and watches five
#     programs by name; Prometheus scrapes it (and a second target where
#     nothing listens: a daemon down) every second while they run:
#     thread_churn leaking one TLS block per thread, queue_retain growing
#     for the whole suite, alloc_pairs flooding the ring buffer while the
#     daemon is stopped (SIGSTOP), so events are really lost, and then
#     detached with memwatchctl, custom_pool freeing 8 blocks twice
#     (a bad-free finding);
#   - the values are real: the findings counters of every kind equal what
#     `memwatchctl findings` lists (--all: made; open; --resolved), lost events equal the daemon's status,
#     threads started equal `memwatchctl status`, per-thread series are the
#     top N only and the largest is the thread memwatchctl names;
#     per-site series are the top N sites of each process only, labelled
#     with the unit (queue_retain runs in a cgroup named as a service)
#     and the function memwatchctl top names first;
#   - every query of every panel of dashboards/memwatch.json (its template
#     variables set to their "All" values) and every template variable
#     query returns data from Prometheus' HTTP API; so does every rule of
#     alerts.yml, which Prometheus itself loaded and evaluates, each alert
#     pending or firing;
#   - the page passes `promtool check metrics`, and so does the textfile
#     written at every flush (and by a run with no HTTP server at all);
#   - a bad or taken metrics address is a one-line error.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

DASH=$ROOT/dashboards/memwatch.json
ALERTS=$ROOT/dashboards/alerts.yml

for bin in prometheus promtool curl python3; do
	if ! command -v "$bin" >/dev/null; then
		fail setup "$bin is missing: run make deps (prometheus, curl, python3)"
		exit 1
	fi
done

# A TCP port nothing listens on now (the kernel's pick).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the rules and the dashboard, on their own --------------------------------

if promtool check rules "$ALERTS" >"$TMP/check_rules.out" 2>&1; then
	pass rules/check
else
	fail rules/check "$(cat "$TMP/check_rules.out")"
fi
# promtool test rules reads the rule files relative to the test file.
if promtool test rules "$ROOT/dashboards/alerts_test.yml" >"$TMP/test_rules.out" 2>&1; then
	pass rules/unit_tests
else
	fail rules/unit_tests "$(cat "$TMP/test_rules.out")"
fi
sed "s#/etc/prometheus/memwatch-alerts.yml#$ALERTS#" \
	"$ROOT/dashboards/provisioning/prometheus.yml" >"$TMP/example.yml"
if promtool check config "$TMP/example.yml" >"$TMP/check_config.out" 2>&1; then
	pass provisioning/prometheus_config
else
	fail provisioning/prometheus_config "$(cat "$TMP/check_config.out")"
fi
# The default address, as memwatchd --help prints it (config.h), is the
# one the packaged configuration, the example Prometheus configuration
# and the manual pages name, and not 9464: the OpenTelemetry Prometheus
# exporter's default, which a traced program may hold.
def=$("$MEMWATCHD" --help 2>&1 | tr -s ' \n' ' ' | sed -n 's/.*--metrics-listen ADDR:PORT [^(]*(default \([^;]*\);.*/\1/p')
conf=$(sed -n 's/^#metrics-listen //p' "$ROOT/packaging/memwatchd.conf")
scrape=$(sed -n 's/.*targets: \["\(.*\)"\].*/\1/p' "$ROOT/dashboards/provisioning/prometheus.yml")
man8=$(grep -c "default $def)" "$ROOT/docs/man/memwatchd.8" || true)
man5=$(grep -c "^Default: $def " "$ROOT/docs/man/memwatchd.conf.5" || true)
if [[ -n $def && $def != *:9464 && $conf == "$def" && $scrape == "$def" && $man8 == 1 && $man5 == 1 ]]; then
	pass port/default
else
	fail port/default "--help '$def', memwatchd.conf '$conf', prometheus.yml '$scrape', man pages $man8 $man5"
fi
# Provisioning needs a fixed uid and a data source it can resolve without
# an import form: the `datasource` variable, used by every panel.
expect dashboard/model "$DASH" \
	'[.uid, .title, ([.templating.list[] | select(.type == "datasource")] | length),
	  ([.. | objects | select(has("targets")) | .datasource.uid, .targets[].datasource.uid] | unique)]' \
	'["memwatch","memwatch",1,["${datasource}"]]'

# --- memwatchd and Prometheus ---------------------------------------------------

MPORT=$(free_port)
PPORT=$(free_port)
while [[ $PPORT == "$MPORT" ]]; do
	PPORT=$(free_port)
done
# A second target of the job where nothing listens: a memwatchd down, for
# MemwatchDown.
DEADPORT=$(free_port)
PROM=http://127.0.0.1:$PPORT
PAGE=http://127.0.0.1:$MPORT/metrics
TEXTFILE=$TMP/memwatch.prom
TOP=3
TOPS=2

# Private copies to watch: a watch is by inode, and other runs (benchmarks)
# start the programs in $WL, which this daemon must not trace.
BIN=$TMP/bin
mkdir "$BIN"
cp "$WL/thread_churn" "$WL/queue_retain" "$WL/alloc_pairs" "$WL/custom_pool" "$BIN/"
# A program whose name (so its comm) has a quote, a backslash and a byte
# that is not UTF-8: label values must still parse.
ODD=$'odd"na\\me\xff'
cp "$WL/tls_nodtor" "$BIN/$ODD"
# --growth-horizon 0: queue_retain's growth is found within its run.
watch daemon --metrics-listen "127.0.0.1:$MPORT" --metrics-textfile "$TEXTFILE" \
	--growth-horizon 0 --metrics-threads "$TOP" --metrics-sites "$TOPS" --exe "$BIN/thread_churn" --exe "$BIN/queue_retain" \
	--exe "$BIN/alloc_pairs" --exe "$BIN/custom_pool" --exe "$BIN/$ODD"

# The endpoint itself: the page, an index, nothing else, GET and HEAD only.
http_code() {
	curl -s -o /dev/null -w '%{http_code} %{content_type}' "$@" || true
}
got=$(http_code "$PAGE")
if [[ $got == "200 text/plain; version=0.0.4; charset=utf-8" ]]; then
	pass http/metrics
else
	fail http/metrics "GET /metrics: '$got'"
fi
got="$(http_code "http://127.0.0.1:$MPORT/"), $(http_code "http://127.0.0.1:$MPORT/nope"), $(http_code -X POST "$PAGE"), $(http_code -I "$PAGE")"
if [[ $got == "200 text/html; charset=utf-8, 404 "*", 405 "*", 200 text/plain; version=0.0.4; charset=utf-8" ]]; then
	pass http/others
else
	fail http/others "/, /nope, POST and HEAD /metrics: '$got'"
fi

cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $ALERTS
scrape_configs:
  - job_name: memwatch
    static_configs:
      - targets: ["127.0.0.1:$MPORT", "127.0.0.1:$DEADPORT"]
EOF
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn \
	>"$TMP/prometheus.out" 2>"$TMP/prometheus.err" &
BG_PIDS+=("$!")

# prom_query EXPR: Prometheus' JSON answer to an instant query.
prom_query() {
	curl -sfG --data-urlencode "query=$1" "$PROM/api/v1/query"
}

# prom_value EXPR: the value of the query's first result; empty if none.
prom_value() {
	prom_query "$1" 2>/dev/null | jq -r '.data.result[0].value[1] // empty' 2>/dev/null || true
}

# prom_nonempty EXPR: the query succeeds with data (a vector or matrix
# with results, or a scalar). Sets WHY.
prom_nonempty() {
	local out
	if ! out=$(prom_query "$1" 2>&1); then
		WHY="query failed: $(curl -sG --data-urlencode "query=$1" "$PROM/api/v1/query" | head -c 300)"
		return 1
	fi
	if ! jq -e '.status == "success" and
		(.data.resultType == "scalar" or (.data.result | length) > 0)' \
		<<<"$out" >/dev/null; then
		WHY="no data: $(head -c 200 <<<"$out")"
		return 1
	fi
}

# prom_is EXPR WANT: the query's first value is WANT, as Prometheus
# prints it; for wait_until.
prom_is() {
	[[ $(prom_value "$1") == "$2" ]]
}

prom_ready() {
	curl -sf "$PROM/-/ready" >/dev/null 2>&1
}

if wait_until 60 prom_ready; then
	pass prometheus/ready
else
	fail prometheus/ready "not ready after 60 s: $(tail -n 3 "$TMP/prometheus.err")"
fi
# Two scrapes before anything happens: every counter's rise is seen.
if wait_until 30 prom_is 'count_over_time(memwatch_build_info{job="memwatch"}[1m]) >= 2' 2; then
	pass prometheus/scrapes
else
	fail prometheus/scrapes "no two scrapes of memwatchd in 30 s: $(prom_query 'up' 2>&1 | head -c 300)"
fi

# --- the workloads ----------------------------------------------------------------

# Growing for longer than the suite runs; killed at the end. In a cgroup
# named as systemd names a service's, so that its series have a unit.
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
UNIT=mw-prom-$$.service
if [[ -n $CG2 ]] && mkdir "$CG2/$UNIT"; then
	pass unit/setup
else
	fail unit/setup "no cgroup2 file system to make $UNIT in"
fi
sh -c 'echo $$ > "$0/cgroup.procs"; exec "$@"' "$CG2/$UNIT" \
	"$BIN/queue_retain" 3 30000 150 1024 >"$TMP/queue.out" 2>&1 &
queue=$!
BG_PIDS+=("$queue")
ok queue/attached "queue_retain not traced" wait_for_target "$queue"

# 400 threads, each leaking its TLS value: 400 tls-outlived-thread.
run_bg churn "$BIN/thread_churn" 400 8 1
wait_until 20 findings_at_least 400 --kind tls-outlived-thread || true
n_tls=$(ctl --json findings --kind tls-outlived-thread 2>/dev/null | jq 'length' || echo 0)
if [[ $n_tls == 400 ]]; then
	pass findings/ctl_count
else
	fail findings/ctl_count "memwatchctl lists $n_tls tls-outlived-thread findings, want 400"
fi
if wait_until 15 prom_is 'sum(memwatch_findings_total{kind="tls-outlived-thread"})' "$n_tls"; then
	pass findings/counter_is_ctl_count
else
	fail findings/counter_is_ctl_count "Prometheus has $(prom_value 'sum(memwatch_findings_total{kind="tls-outlived-thread"})'), memwatchctl $n_tls"
fi
if wait_until 10 prom_is 'memwatch_process_ends_total{reason="exited"}' 1; then
	pass ends/exited
else
	fail ends/exited "ends by exit: $(prom_value 'memwatch_process_ends_total{reason="exited"}'), want 1 (thread_churn)"
fi

# queue_retain: main, a producer and 3 workers, as memwatchctl counts them.
ctl_threads=$(ctl --json status 2>/dev/null |
	jq --argjson p "$queue" '.processes[] | select(.pid == $p) | .threads' || true)
got=$(prom_value "memwatch_process_threads_started_total{pid=\"$queue\"}")
if [[ $ctl_threads == 5 && $got == 5 ]]; then
	pass threads/started
else
	fail threads/started "threads started: metric '$got', memwatchctl '$ctl_threads', want 5"
fi

# Per-thread series: the top $TOP only, the largest the producer (the thread
# memwatchctl says holds the most), the others counted as not exported.
curl -sf "$PAGE" >"$TMP/page.txt" || true
n_series=$(grep -c '^memwatch_thread_live_bytes{' "$TMP/page.txt" || true)
top_tid=$(grep '^memwatch_thread_live_bytes{' "$TMP/page.txt" |
	sort -t' ' -k2,2nr | head -n 1 | sed -n 's/.*tid="\([0-9]*\)".*/\1/p')
ctl_tid=$(ctl --json threads 2>/dev/null |
	jq --argjson p "$queue" '[.[] | select(.pid == $p)] | max_by(.live_bytes) | .tid' || true)
not_exported=$(sed -n 's/^memwatch_threads_not_exported \([0-9]*\)$/\1/p' "$TMP/page.txt")
if [[ $n_series == "$TOP" && -n $top_tid && $top_tid == "$ctl_tid" && $not_exported == 2 ]]; then
	pass threads/top_n
else
	fail threads/top_n "$n_series series (want $TOP), top tid '$top_tid' (memwatchctl '$ctl_tid'), not exported '$not_exported' (want 2)"
fi

# Two threads trimming a pool without its lock free the same 8 objects:
# a bad-free finding (a double free), for MemwatchBadFree.
run_bg pool "$BIN/custom_pool" 8 48
if wait_until 20 findings_at_least 1 --kind bad-free &&
	wait_until 15 prom_is 'sum(memwatch_findings_open{kind="bad-free"})' 1; then
	pass findings/bad_free
else
	fail findings/bad_free "open bad-free findings: Prometheus '$(prom_value 'sum(memwatch_findings_open{kind="bad-free"})')', want 1"
fi

# Per-site series: the top $TOPS of each process only, labelled with the
# process, its unit and the site; queue_retain's largest is the function
# memwatchctl top names first for it, the others counted as not exported.
series_of() { # METRIC PID: its series of that process
	grep "^$1{pid=\"$2\"," "$TMP/page.txt" || true
}
sites_ok() {
	curl -sf "$PAGE" >"$TMP/page.txt" || return 1
	n_sites=$(series_of memwatch_site_live_bytes "$queue" | grep -c . || true)
	top_fn=$(series_of memwatch_site_live_bytes "$queue" | sort -t' ' -k2,2nr |
		head -n 1 | sed -n 's/.*,function="\([^"]*\)",module="\([^"]*\)"}.*/\1 \2/p')
	ctl_fn=$(ctl --json top --limit all 2>/dev/null | jq -r --argjson p "$queue" \
		'[.[] | select(.pid == $p)] | max_by(.bytes) | "\(.site.function) \(.site.module | split("/") | last)"' || true)
	units=$(series_of memwatch_site_live_bytes "$queue" | sed -n 's/.*,unit="\([^"]*\)",.*/\1/p' | sort -u)
	most=$(grep '^memwatch_site_live_bytes{' "$TMP/page.txt" | sed 's/,.*//' | sort | uniq -c | sort -nr |
		awk 'NR == 1 { print $1 }')
	blocks=$(series_of memwatch_site_live_blocks "$queue" | grep -c . || true)
	not_exported=$(sed -n 's/^memwatch_sites_not_exported \([0-9]*\)$/\1/p' "$TMP/page.txt")
	WHY="$n_sites series of queue_retain (want $TOPS, $blocks of blocks), top '$top_fn' (memwatchctl '$ctl_fn'), units '$units' (want $UNIT), at most $most a process, not exported '$not_exported'"
	[[ $n_sites == "$TOPS" && $blocks == "$TOPS" && -n $top_fn && $top_fn == "$ctl_fn" &&
		$units == "$UNIT" && $most == "$TOPS" && ${not_exported:-0} -gt 0 ]]
}
ok sites/top_n "per-site series" wait_until 10 sites_ok
# The dashboard's unit variable and per-process series have the unit too.
if wait_until 10 prom_is "count(memwatch_process_live_bytes{pid=\"$queue\",unit=\"$UNIT\"})" 1; then
	pass unit/process_series
else
	fail unit/process_series "no memwatch_process_live_bytes{unit=\"$UNIT\"} of pid $queue"
fi

# Lose events for real: flood the ring buffer while the daemon is stopped.
"$BIN/alloc_pairs" 4000000000 2 64 >"$TMP/pairs.out" 2>&1 &
pairs=$!
BG_PIDS+=("$pairs")
ok pairs/attached "alloc_pairs not traced" wait_for_target "$pairs"
lost_seen() {
	lost=$(prom_value 'memwatch_events_lost_total')
	[[ -n $lost && $lost != 0 ]]
}
lost=
for secs in 2 4; do
	kill -STOP "$DAEMON_PID"
	sleep "$secs"
	kill -CONT "$DAEMON_PID"
	wait_until 10 lost_seen && break
done
if [[ -n $lost && $lost != 0 ]]; then
	pass loss/counted
else
	fail loss/counted "no event lost with the daemon stopped: '$lost'"
fi
detach_pairs() {
	ctl detach "$pairs" >"$TMP/detach.out" 2>&1
}
ok pairs/detach "memwatchctl detach failed" detach_pairs
# Reaped here, so the shell reports nothing about it.
{
	kill -KILL "$pairs"
	wait "$pairs"
} 2>/dev/null || true
if wait_until 15 prom_is 'memwatch_process_ends_total{reason="detached"}' 1; then
	pass ends/detached
else
	fail ends/detached "ends by detach: $(prom_value 'memwatch_process_ends_total{reason="detached"}'), want 1"
fi
# Nothing floods any more: the daemon's own count is final.
status_lost=$(ctl --json status 2>/dev/null | jq '.daemon.lost' || true)
if wait_until 10 prom_is 'memwatch_events_lost_total' "$status_lost" && [[ $status_lost != 0 ]]; then
	pass loss/is_status
else
	fail loss/is_status "metric $(prom_value 'memwatch_events_lost_total'), memwatchctl status $status_lost"
fi
# A lost event never becomes a finding: alloc_pairs frees all it
# allocates, whatever the trace missed of it. (Detached and flushed by
# now: what the daemon decided is in the database.)
query_pairs() {
	ctl --json findings --pid "$pairs" >"$TMP/pairs_findings.json" 2>&1
}
if query_pairs && [[ $(jq length "$TMP/pairs_findings.json") == 0 ]]; then
	pass loss/no_false_finding
else
	fail loss/no_false_finding "findings after the loss: $(head -c 300 "$TMP/pairs_findings.json")"
fi

# Every kind's counter is what memwatchctl lists (queue_retain's growth
# findings included), as of the same flush: made (open or resolved) for
# memwatch_findings_total, open for memwatch_findings_open, resolved for
# memwatch_findings_resolved_total.
# kinds_match METRIC [OPTION...]: memwatchctl findings with OPTIONs lists
# as many of each kind as METRIC counts.
kinds_match() {
	local ctlk promk metric=$1
	shift
	ctlk=$(ctl --json "$@" findings 2>/dev/null |
		jq -cS 'group_by(.kind) | map({(.[0].kind): length}) | add // {}') || return 1
	promk=$(prom_query "sum by (kind) ($metric)" |
		jq -cS '[.data.result[] | select(.value[1] != "0") | {(.metric.kind): (.value[1] | tonumber)}] | add // {}') || return 1
	WHY="memwatchctl $* $ctlk, Prometheus $metric $promk"
	[[ $ctlk == "$promk" ]]
}
ok findings/every_kind "counters differ from memwatchctl" \
	wait_until 15 kinds_match memwatch_findings_total --all
ok findings/open_every_kind "open findings differ from memwatchctl" \
	wait_until 15 kinds_match memwatch_findings_open
ok findings/resolved_every_kind "resolved findings differ from memwatchctl" \
	wait_until 15 kinds_match memwatch_findings_resolved_total --resolved

# The odd name, held at its start gate (30 s at most) to the end.
MW_WAIT_FILE=$TMP/odd.gate "$BIN/$ODD" 2 64 >"$TMP/odd.out" 2>&1 &
odd=$!
BG_PIDS+=("$odd")
ok odd/attached "the odd name not traced" wait_for_target "$odd"

# --- every dashboard query and every rule, through the HTTP API -----------------

# Let the rate windows and the alerts see a few evaluations.
sleep 3
jq -r '.templating.list[] | select(.type == "query") | "\(.name)\t\(.allValue)\t\(.query.query // .query)"' \
	"$DASH" >"$TMP/vars.tsv"
# $var and ${var} -> the variable's "All" value; $__rate_interval -> 4
# scrape intervals and more, as Grafana would make it.
substitute() {
	local e=$1 name all q
	while IFS=$'\t' read -r name all q; do
		e=${e//"\${$name}"/$all}
		e=${e//"\$$name"/$all}
	done <"$TMP/vars.tsv"
	e=${e//"\$__rate_interval"/1m}
	printf '%s' "$e"
}

# label_values(METRIC, LABEL): the values Grafana offers must exist.
while IFS=$'\t' read -r name all q; do
	sel=$(substitute "$q" | sed -n 's/^label_values(\(.*\), *\([a-z_]*\))$/\1/p')
	label=$(sed -n 's/^label_values(.*, *\([a-z_]*\))$/\1/p' <<<"$q")
	if [[ -z $sel || -z $label ]]; then
		fail "variable/$name" "not label_values(METRIC, LABEL): '$q'"
		continue
	fi
	if curl -sfG --data-urlencode "match[]=$sel" "$PROM/api/v1/label/$label/values" |
		jq -e '.status == "success" and (.data | length) > 0' >/dev/null; then
		pass "variable/$name"
	else
		fail "variable/$name" "no values for '$q'"
	fi
done <"$TMP/vars.tsv"

jq -r '.. | objects | select(has("targets")) | .id as $id | .title as $t |
	.targets[] | "\($id)\t\(.refId)\t\($t)\t\(.expr)"' "$DASH" >"$TMP/panels.tsv"
n_panels=0
while IFS=$'\t' read -r id ref title expr; do
	n_panels=$((n_panels + 1))
	q=$(substitute "$expr")
	if [[ $q == *'$'* ]]; then
		fail "panel/$id$ref" "'$title': a variable is left in '$q'"
		continue
	fi
	ok "panel/$id$ref" "'$title': $q" prom_nonempty "$q"
done <"$TMP/panels.tsv"
if ((n_panels >= 30)); then
	pass dashboard/queries_found
else
	fail dashboard/queries_found "only $n_panels panel queries in $DASH"
fi

# The rules as Prometheus loaded them from alerts.yml: all of them, healthy,
# each pending or firing, and each expression returns data on its own.
curl -sf "$PROM/api/v1/rules" >"$TMP/rules.json" || true
n_file=$(grep -c '^ *- alert:' "$ALERTS" || true)
expect rules/loaded "$TMP/rules.json" '[.data.groups[].rules[]] | length' "$n_file"
expect rules/healthy "$TMP/rules.json" '[.data.groups[].rules[] | select(.health != "ok")] | length' 0
jq -r '.data.groups[].rules[] | "\(.name)\t\(.query)"' "$TMP/rules.json" >"$TMP/rules.tsv"
while IFS=$'\t' read -r name query; do
	ok "rule/$name/data" "$query" prom_nonempty "$query"
done <"$TMP/rules.tsv"
# Each alert has a runbook: a document the package installs under
# /usr/share/doc/memwatch, from docs/ here.
jq -r '.data.groups[].rules[] | "\(.name)\t\(.annotations.runbook_url // "")"' \
	"$TMP/rules.json" >"$TMP/runbooks.tsv"
while IFS=$'\t' read -r name url; do
	doc=${url#file:///usr/share/doc/memwatch/}
	if [[ $url == file:///usr/share/doc/memwatch/* && -f $ROOT/docs/$doc ]]; then
		pass "rule/$name/runbook"
	else
		fail "rule/$name/runbook" "runbook_url '$url' is no file:///usr/share/doc/memwatch/ document of docs/"
	fi
done <"$TMP/runbooks.tsv"
# Each alert has a case in alerts_test.yml where it fires (promtool
# passes a test of an alert it never fires, and one of no alert at all).
while IFS=$'\t' read -r name query; do
	if awk -v n="$name" '$1 == "alertname:" { cur = $2 }
		$1 == "exp_alerts:" && $2 != "[]" && cur == n { found = 1 }
		END { exit !found }' "$ROOT/dashboards/alerts_test.yml"; then
		pass "rule/$name/unit_tested"
	else
		fail "rule/$name/unit_tested" "dashboards/alerts_test.yml never expects $name to fire"
	fi
done <"$TMP/rules.tsv"
alert_active() {
	curl -sf "$PROM/api/v1/alerts" |
		jq -e --arg n "$1" 'any(.data.alerts[]; .labels.alertname == $n)' >/dev/null
}
while IFS=$'\t' read -r name query; do
	ok "rule/$name/active" "Prometheus has no $name alert pending or firing" \
		wait_until 10 alert_active "$name"
done <"$TMP/rules.tsv"

# --- the exposition format --------------------------------------------------------

curl -sf "$PAGE" >"$TMP/page.txt" || true
if promtool check metrics <"$TMP/page.txt" >"$TMP/lint.out" 2>&1 && [[ -s $TMP/page.txt ]]; then
	pass format/page
else
	fail format/page "$(cat "$TMP/lint.out")"
fi
# Escaped as the format wants, the stray byte replaced: Prometheus has the
# series under the name it was given, less that byte.
if grep -qF "memwatch_process_info{pid=\"$odd\",comm=\"odd\\\"na\\\\me?\"" "$TMP/page.txt" &&
	grep -qF "target=\"$BIN/odd\\\"na\\\\me?\"" "$TMP/page.txt" &&
	prom_is "count(memwatch_process_info{comm=\"odd\\\"na\\\\me?\"})" 1; then
	pass format/label_escapes
else
	fail format/label_escapes "$(grep -F "pid=\"$odd\"" "$TMP/page.txt" | head -n 1)"
fi
if [[ -s $TEXTFILE ]] && promtool check metrics <"$TEXTFILE" >"$TMP/lint_tf.out" 2>&1; then
	pass format/textfile
else
	fail format/textfile "missing or rejected: $(cat "$TMP/lint_tf.out" 2>/dev/null)"
fi
tf_tls=$(sed -n 's/^memwatch_findings_total{kind="tls-outlived-thread",severity="high"} //p' "$TEXTFILE")
if [[ $tf_tls == "$n_tls" && ! -e $TEXTFILE.tmp ]]; then
	pass textfile/values
else
	fail textfile/values "textfile says '$tf_tls' tls-outlived-thread findings, memwatchctl $n_tls (or $TEXTFILE.tmp left)"
fi

# An address set by the user that is taken is fatal (the default only
# warns); a bad one is a usage error naming it.
rc=0
timeout -k 5 30 "$MEMWATCHD" --db "$TMP/taken.db" --socket "$TMP/taken.sock" \
	--metrics-listen "127.0.0.1:$PPORT" >"$TMP/taken.out" 2>&1 || rc=$?
if [[ $rc == 1 && $(cat "$TMP/taken.out") == *"cannot serve metrics on '127.0.0.1:$PPORT': Address already in use"* ]]; then
	pass config/address_taken
else
	fail config/address_taken "exit $rc: $(cat "$TMP/taken.out")"
fi
rc=0
printf 'metrics-listen 127.0.0.1\n' >"$TMP/bad.conf"
"$MEMWATCHD" --config "$TMP/bad.conf" --check-config >"$TMP/bad.out" 2>&1 || rc=$?
if [[ $rc == 2 && $(cat "$TMP/bad.out") == "$TMP/bad.conf:1: metrics-listen: invalid address '127.0.0.1'"* ]]; then
	pass config/bad_address
else
	fail config/bad_address "exit $rc: $(cat "$TMP/bad.out")"
fi

ok daemon/stop "memwatchd did not stop cleanly" stop_daemon
{
	kill -KILL "$queue"
	wait "$queue"
} 2>/dev/null || true
[[ -z $CG2 ]] || rmdir "$CG2/$UNIT" 2>/dev/null || true

# A textfile and no HTTP server: a traced command's TLS leak.
DB=$TMP/textfile.db
SOCK=$TMP/textfile.sock
trace --metrics-listen none --metrics-textfile "$TMP/only.prom" --metrics-sites 0 -- "$WL/tls_nodtor" 8 4096
n=$(ctl --json findings --kind tls-outlived-thread 2>/dev/null | jq 'length' || echo 0)
got=$(sed -n 's/^memwatch_findings_total{kind="tls-outlived-thread",severity="high"} //p' "$TMP/only.prom" 2>/dev/null || true)
if [[ $TRACE_RC == 0 && $n == 8 && $got == 8 ]] && ! grep -q 'serving metrics' "$TRACE_LOG.err"; then
	pass textfile_only/values
else
	fail textfile_only/values "exit $TRACE_RC, textfile '$got', memwatchctl $n, want 8: $(tail -n 2 "$TRACE_LOG.err")"
fi
if promtool check metrics <"$TMP/only.prom" >"$TMP/lint_only.out" 2>&1; then
	pass textfile_only/format
else
	fail textfile_only/format "$(cat "$TMP/lint_only.out")"
fi
# --metrics-sites 0: no per-site family at all (the page above had them).
if [[ -s $TMP/only.prom ]] && ! grep -q '^# TYPE memwatch_site' "$TMP/only.prom" &&
	grep -q '^# TYPE memwatch_site_live_bytes gauge' "$TMP/page.txt"; then
	pass sites/zero_disables
else
	fail sites/zero_disables "$(grep -m 2 'memwatch_site' "$TMP/only.prom")"
fi
rc=0
"$MEMWATCHD" --metrics-sites 1001 --check-config >"$TMP/sites_bad.out" 2>&1 || rc=$?
if [[ $rc == 2 && $(cat "$TMP/sites_bad.out") == "memwatchd: --metrics-sites: invalid value '1001' (0 to 1000)" ]]; then
	pass sites/bad_value
else
	fail sites/bad_value "exit $rc: $(cat "$TMP/sites_bad.out")"
fi

finish
