#!/usr/bin/env bash
# Browser test of the web UI: starts a server (promlite, or upstream Prometheus while
# promlite's router does not serve the UI) scraping itself, loads every page in Debian's
# headless Chromium, checks the rendered DOM (table rows, chart lines, targets, rules,
# alerts, status sections) and saves screenshots under target/ui-artifacts/.
#
# Env: PROMLITE_BIN (default target/release/promlite), CHROMIUM (default: chromium on PATH),
# KEEP_TMP=1 keeps the scratch directory (server and Chromium logs) and prints its path.
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
  [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
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

# The same page under a route prefix: every asset and API URL must be relative. When the
# server embeds the UI, a second promlite runs with --web.route-prefix (scraping itself
# under the prefix); otherwise the proxy serves the assets under the prefix.
PPORT=$(free_port)
if [ "$UI" = "$BASE" ]; then
  cat >"$TMP/prefix.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: self
    metrics_path: /ui-prefix/metrics
    static_configs:
      - targets: ['127.0.0.1:$PPORT']
YAML
  "$BIN" --config.file="$TMP/prefix.yml" --storage.tsdb.path="$TMP/data-prefix" \
    --web.listen-address="127.0.0.1:$PPORT" --web.route-prefix=/ui-prefix >"$TMP/server-prefix.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    n=$(curl -sf "http://127.0.0.1:$PPORT/ui-prefix/api/v1/query" --data-urlencode 'query=count(up)' |
      python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(len(r))' 2>/dev/null || echo 0)
    [ "$n" -ge 1 ] && break
    sleep 0.2
  done
  loc=$(curl -s -o /dev/null -w '%{redirect_url}' "http://127.0.0.1:$PPORT/ui-prefix/")
  if [ "$loc" = "http://127.0.0.1:$PPORT/ui-prefix/graph" ]; then
    passed=$((passed + 1)); echo "ok   <prefix>/ redirects to <prefix>/graph"
  else
    failed=$((failed + 1)); echo "FAIL <prefix>/ redirects to '$loc', not <prefix>/graph"
  fi
else
  python3 "$ROOT/tests/interop/ui_proxy.py" "$PPORT" "$BASE" "$ROOT/src/web_ui" /ui-prefix &
  PIDS+=($!)
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PPORT/ui-prefix/static/promlite.css" >/dev/null 2>&1 && break; sleep 0.1; done
fi
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

# The chart widget itself, driven by a page that loads the server's own chart.js: two
# series of known values; checks the legend, that each line is drawn in its own colour
# (canvas pixels), the hover read-out (a synthetic mousemove), stacking and the redraw
# after the container is resized. Results are written into the DOM for --dump-dom.
cat >"$TMP/chart-check.html" <<HTML
<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="$UI/static/promlite.css"></head>
<body><div id="c" style="width:600px"></div><pre id="out">pending</pre>
<script src="$UI/static/common.js"></script>
<script src="$UI/static/chart.js"></script>
<script>
var out = [];
function log(k, v) { out.push(k + "=" + v); }
// How far (largest channel difference) the pixels around (x, y) come to colour css:
// anti-aliasing blends a line's edge pixels, so the closest one in a small window counts.
function near(ch, x, y, css) {
  var d = window.devicePixelRatio || 1, ctx = ch.canvas.getContext("2d");
  var e = document.createElement("i"); e.style.color = css; document.body.appendChild(e);
  var want = getComputedStyle(e).color.match(/\d+/g).map(Number); e.remove();
  var best = 255;
  for (var dy = -3; dy <= 3; dy++) {
    var p = ctx.getImageData(Math.round(x * d), Math.round((y + dy) * d), 1, 1).data;
    best = Math.min(best, Math.max(Math.abs(p[0] - want[0]), Math.abs(p[1] - want[1]), Math.abs(p[2] - want[2])));
  }
  return best;
}
try {
  var root = document.getElementById("c");
  var ch = new PL.Chart(root);
  var t0 = 1700000000;
  ch.setData([
    { metric: { __name__: "m", job: "a" }, values: [[t0, "1"], [t0 + 15, "2"], [t0 + 30, "3"]] },
    { metric: { __name__: "m", job: "b" }, values: [[t0, "10"], [t0 + 15, "20"], [t0 + 30, "30"]] }
  ], t0 * 1000, (t0 + 30) * 1000, 15000, false);
  log("drawn", root.getAttribute("data-series-drawn"));
  log("legend", ch.legend.textContent);
  var g = ch.geom;
  ch.series.forEach(function (s, i) {
    // Midway between two samples the line is exactly between their values.
    var v = (s.vals[0] + s.vals[1]) / 2, x = (g.X(0) + g.X(1)) / 2;
    var other = ch.series[1 - i].color, dOwn = near(ch, x, g.Y(v), s.color), dOther = near(ch, x, g.Y(v), other);
    log("line" + i + "colour", dOwn <= 48 && dOwn < dOther ? "own" : "off by " + dOwn + " (other " + dOther + ")");
  });
  log("colours", ch.series[0].color !== ch.series[1].color ? "distinct" : "same");
  var r = ch.overlay.getBoundingClientRect();
  ch.overlay.dispatchEvent(new MouseEvent("mousemove", { clientX: r.left + g.X(1), clientY: r.top + g.Y(20), bubbles: true }));
  log("tip", ch.tip.style.display + " " + ch.tip.textContent);
  ch.setStacked(true);
  log("stacked", ch.geom.lay[1].top.join(","));
  ch.setStacked(false);
  var w1 = ch.canvas.width;
  root.style.width = "900px";
  setTimeout(function () {
    log("resized", ch.canvas.width > w1 ? "wider" : "same " + w1 + " " + ch.canvas.width);
    document.getElementById("out").textContent = out.join("\n");
  }, 300);
} catch (e) { document.getElementById("out").textContent = "ERROR " + e; }
</script></body></html>
HTML
chrome "file://$TMP/chart-check.html" chart-check
check "chart: both series drawn" "$ART/chart-check.html" 'drawn=2'
check "chart: legend names the series" "$ART/chart-check.html" 'legend=m\{job="a"\}m\{job="b"\}'
check "chart: first line in its own colour" "$ART/chart-check.html" 'line0colour=own'
check "chart: second line in its own colour" "$ART/chart-check.html" 'line1colour=own'
check "chart: one colour per series" "$ART/chart-check.html" 'colours=distinct'
check "chart: hover shows labels and value" "$ART/chart-check.html" 'tip=block .*m\{job="b"\}value: 20'
check "chart: stacked sums the series" "$ART/chart-check.html" 'stacked=11,22,33'
check "chart: redraws when resized" "$ART/chart-check.html" 'resized=wider'

echo "ui_browser: screenshots and DOM dumps in $ART"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
