#!/usr/bin/env bash
# Browser test of the web UI: starts a server (promlite, or upstream Prometheus while
# promlite's router does not serve the UI) scraping itself, loads every page in Debian's
# headless Chromium, checks the rendered DOM (table rows, chart lines, targets, rules,
# alerts, status sections) and saves screenshots under target/ui-artifacts/.
#
# Env: PROMLITE_BIN (default target/release/promlite), CHROMIUM (default: chromium on PATH).
# Skips with a message when Chromium or the server binary is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${PROMLITE_BIN:-$ROOT/target/release/promlite}
CHROME=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
ART=$ROOT/target/ui-artifacts

if [ -z "$CHROME" ]; then
  echo "ui_browser: skipped: chromium is not installed (apt-get install -y chromium)"
  exit 0
fi
if [ ! -x "$BIN" ]; then
  echo "ui_browser: skipped: server binary $BIN not found (set PROMLITE_BIN)"
  exit 0
fi

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$ART"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT

cat >"$TMP/rules.yml" <<YAML
groups:
  - name: ui-test
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: UITestAlwaysFiring
        expr: vector(1)
        labels:
          severity: page
        annotations:
          summary: fires so the alerts page has something to show
YAML
cat >"$TMP/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $TMP/rules.yml
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ['127.0.0.1:$PORT']
  - job_name: self-again
    static_configs:
      - targets: ['127.0.0.1:$PORT']
        labels:
          copy: second
YAML

"$BIN" --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/data" \
  --web.listen-address="127.0.0.1:$PORT" >"$TMP/server.log" 2>&1 &
PIDS+=($!)

ready=0
for _ in $(seq 1 100); do
  if curl -sf "$BASE/-/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
if [ $ready -ne 1 ]; then
  echo "ui_browser: server did not become ready; log:"; cat "$TMP/server.log"; exit 1
fi

# Wait until both jobs have a few samples, so the graph has lines to draw.
for _ in $(seq 1 60); do
  n=$(curl -sf "$BASE/api/v1/query" --data-urlencode 'query=min(count_over_time(up[1m]))' |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)' 2>/dev/null || echo 0)
  [ "$n" -ge 6 ] && break
  sleep 0.5
done

# The server's own UI when it embeds promlite's; otherwise serve the assets from the
# source tree in front of it.
UI=$BASE
if ! curl -sf "$BASE/static/promlite.css" >/dev/null 2>&1; then
  UPORT=$(free_port)
  python3 "$ROOT/tests/interop/ui_proxy.py" "$UPORT" "$BASE" "$ROOT/src/web_ui" &
  PIDS+=($!)
  UI=http://127.0.0.1:$UPORT
  for _ in $(seq 1 50); do curl -sf "$UI/static/promlite.css" >/dev/null 2>&1 && break; sleep 0.1; done
fi

chrome() { # chrome URL OUT_PREFIX
  local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --hide-scrollbars --window-size=1280,1000 --virtual-time-budget=8000)
  timeout 60 "$CHROME" "${flags[@]}" --user-data-dir="$TMP/chrome-dom-$2" --dump-dom "$1" \
    >"$ART/$2.html" 2>"$TMP/chrome-$2.log" || true
  timeout 60 "$CHROME" "${flags[@]}" --user-data-dir="$TMP/chrome-png-$2" --screenshot="$ART/$2.png" "$1" \
    >/dev/null 2>>"$TMP/chrome-$2.log" || true
}

passed=0
failed=0
check() { # check NAME FILE REGEX
  if grep -Eq "$3" "$2"; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1 (pattern '$3' not in $2)"
  fi
}

# Panel 0: table of `up`; panel 1: graph of a metric with two series (one per job).
enc() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
Q_TABLE=$(enc 'up')
Q_GRAPH=$(enc 'scrape_duration_seconds')
chrome "$UI/graph?g0.expr=$Q_TABLE&g0.tab=1&g1.expr=$Q_GRAPH&g1.tab=graph&g1.range_input=20s" graph
check "graph: table has a row per up series" "$ART/graph.html" '<td class="series">up\{instance="127\.0\.0\.1:[0-9]+", job="self"\}</td>'
check "graph: second job in the table" "$ART/graph.html" 'job="self-again"'
check "graph: chart drew lines" "$ART/graph.html" 'data-series-drawn="[1-9][0-9]*"'
check "graph: legend lists the series" "$ART/graph.html" 'scrape_duration_seconds\{'

chrome "$UI/graph?g0.expr=$(enc 'sum(rate(foo[')&g0.tab=1" graph-error
check "graph: API errors are shown" "$ART/graph-error.html" 'class="error"[^>]*>[^<]*(parse error|bad_data)'

# The same page under a route prefix: every asset and API URL must be relative.
PPORT=$(free_port)
python3 "$ROOT/tests/interop/ui_proxy.py" "$PPORT" "$BASE" "$ROOT/src/web_ui" /ui-prefix &
PIDS+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PPORT/ui-prefix/static/promlite.css" >/dev/null 2>&1 && break; sleep 0.1; done
chrome "http://127.0.0.1:$PPORT/ui-prefix/query?g0.expr=$Q_TABLE&g0.tab=table" graph-prefix
check "graph: works under a route prefix" "$ART/graph-prefix.html" '<td class="series">up\{'
check "graph: nav links stay under the prefix" "$ART/graph-prefix.html" 'class="navlink active" href="graph"'

chrome "$UI/targets" targets
check "targets: pools are listed" "$ART/targets.html" '<h3>self-again</h3>'
check "targets: health badge" "$ART/targets.html" 'class="badge up">UP<'

chrome "$UI/service-discovery" sd
check "service discovery: discovered labels" "$ART/sd.html" '__address__="127\.0\.0\.1:[0-9]+"'

chrome "$UI/rules" rules
check "rules: recording rule" "$ART/rules.html" 'record: job:up:sum'

chrome "$UI/alerts" alerts
check "alerts: firing alert" "$ART/alerts.html" 'alert: UITestAlwaysFiring'
check "alerts: alert annotations" "$ART/alerts.html" 'summary: fires so the alerts page'

chrome "$UI/status" status
check "status: build info" "$ART/status.html" 'Build Information'
check "status: flags" "$ART/status.html" '<code>--config.file</code>'
check "status: config yaml" "$ART/status.html" 'scrape_configs:'
check "status: tsdb head stats" "$ART/status.html" 'Number of series'

echo "ui_browser: screenshots and DOM dumps in $ART"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
