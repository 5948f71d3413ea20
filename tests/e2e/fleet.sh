#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/e2e/fleet.sh - docs/FLEET.md's commands, as the page writes them,
# on the parts this machine can install: the blocks marked
# "<!-- fleet: NAME -->" are read from the page and run with this suite's
# paths put in place of the page's (and nothing else changed):
#   - prometheus: the Prometheus configuration, with the tree's alert
#     rules, passes `promtool check config` (real promtool) and loads
#     every rule of dashboards/alerts.yml;
#   - events: the jq filter of the JSON lines, on the events memwatchd
#     wrote for a leaking workload (--events-json), keeps one line for
#     each high finding memwatchctl lists, with the fields it names;
#   - export, serve, fetch: the profile written where the page says,
#     served by Python's HTTP server as for Parca's scraper, fetched over
#     HTTP by `go tool pprof -top`, which names the leaking function.
# Pyroscope, Parca, Loki and Vector are not installable here (FLEET.md
# says so); tests/e2e/prometheus.sh, systemd.sh, events.sh and export.sh
# test the rest of what the page points to.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PAGE=$ROOT/docs/FLEET.md

# block NAME: the fenced block after "<!-- fleet: NAME -->", without the
# fences.
block() {
	awk -v n="<!-- fleet: $1 -->" '$0 == n { want = 1; next }
		want && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "$PAGE"
}

for b in prometheus events export serve fetch; do
	if [[ -z $(block "$b") ]]; then
		fail "page/$b" "docs/FLEET.md has no block marked '<!-- fleet: $b -->'"
		finish
	fi
done
pass page/blocks

# --- prometheus ----------------------------------------------------------------
if ! command -v promtool >/dev/null; then
	fail prometheus/setup "promtool is not installed (make deps: prometheus)"
else
	block prometheus | sed -e "s#/usr/share/memwatch/#$ROOT/#" \
		-e "s#/etc/prometheus/memwatch-targets.json#$TMP/targets.json#" \
		>"$TMP/prometheus.yml"
	echo '[{"targets": ["127.0.0.1:9"], "labels": {"host": "test"}}]' >"$TMP/targets.json"
	want=$(grep -c '^ *- alert:' "$ROOT/dashboards/alerts.yml" || true)
	if promtool check config "$TMP/prometheus.yml" >"$TMP/promtool.out" 2>&1 &&
		grep -q "SUCCESS: $want rules found" "$TMP/promtool.out" && ((want > 0)); then
		pass prometheus/check_config
	else
		fail prometheus/check_config "want $want rules: $(head -c 400 "$TMP/promtool.out")"
	fi
fi

# --- events ---------------------------------------------------------------------
trace --events-json "$TMP/events.jsonl" -- "$WL/tls_nodtor" 8 4096
ok events/exit_status "memwatchd exited $TRACE_RC: $(tail -n 1 "$TRACE_LOG.err")" \
	test "$TRACE_RC" = 0
block events | sed "s#/var/log/memwatch/events.jsonl#$TMP/events.jsonl#" >"$TMP/events.sh"
if HOSTNAME=test-host bash "$TMP/events.sh" >"$TMP/paged.jsonl" 2>"$TMP/paged.err" &&
	query events/findings "$TMP/findings.json" findings; then
	want=$(jqv "$TMP/findings.json" '[.[] | select(.severity == "high")] | length')
	expect events/paged_count "$TMP/paged.jsonl" 'length' "$want" -s
	expect events/paged_some "$TMP/paged.jsonl" 'length > 0' true -s
	expect events/paged_fields "$TMP/paged.jsonl" \
		'[.[] | (.host == "test-host") and (.kind == "tls-outlived-thread") and
		  (.comm == "tls_nodtor") and (.bytes == 4096) and (.time | type == "string")] | unique' \
		'[true]' -s
else
	fail events/filter "the page's jq filter failed: $(head -c 300 "$TMP/paged.err")"
fi

# --- export, serve, fetch --------------------------------------------------------
if ! command -v go >/dev/null; then
	fail pprof/setup "go is not installed (make deps: golang-go)"
	finish
fi
export HOME=$TMP/home GOCACHE=$TMP/gocache GOPATH=$TMP/gopath
mkdir -p "$HOME"
unset GOFLAGS
block export | sed -e "s#/var/lib/memwatch/pprof#$TMP/pprof#g" \
	-e "s#^memwatchctl #\"$MEMWATCHCTL\" --db \"$DB\" #" >"$TMP/export.sh"
if bash -e "$TMP/export.sh" >"$TMP/export.out" 2>&1 && [[ -s $TMP/pprof/heap.pb.gz ]]; then
	pass pprof/export
else
	fail pprof/export "$(head -c 300 "$TMP/export.out")"
fi
# A port nobody listens on, found by Python itself.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
block serve | sed -e "s#/var/lib/memwatch/pprof#$TMP/pprof#" \
	-e "s#0\.0\.0\.0#127.0.0.1#" -e "s# 7071\$# $PORT#" >"$TMP/serve.sh"
bash "$TMP/serve.sh" >"$TMP/serve.out" 2>&1 &
SERVE_PID=$!
BG_PIDS+=("$SERVE_PID")
# shellcheck disable=SC2317  # called through wait_until
serving() {
	curl -sf -o /dev/null "http://127.0.0.1:$PORT/heap.pb.gz"
}
if wait_until 10 serving; then
	pass pprof/served
else
	fail pprof/served "no answer on 127.0.0.1:$PORT: $(head -c 300 "$TMP/serve.out")"
fi
block fetch | sed "s#db1\.example\.net:7071#127.0.0.1:$PORT#" >"$TMP/fetch.sh"
if bash "$TMP/fetch.sh" >"$TMP/fetch.out" 2>"$TMP/fetch.err" &&
	awk '$NF == "tls_nodtor_alloc" { found = 1 } END { exit !found }' "$TMP/fetch.out"; then
	pass pprof/fetched
else
	fail pprof/fetched "go tool pprof over HTTP: $(head -c 300 "$TMP/fetch.err") $(head -n 8 "$TMP/fetch.out")"
fi
kill "$SERVE_PID" 2>/dev/null || true
wait "$SERVE_PID" 2>/dev/null || true

finish
