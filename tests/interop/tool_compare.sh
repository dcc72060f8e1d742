#!/usr/bin/env bash
# Compares promlite-tool with upstream promtool on the same inputs: stdout,
# stderr and exit code must be byte-identical for every case below.
#
# Starts an upstream `prometheus` on 127.0.0.1 (temp data dir, scraping
# itself every second, blocks cut every minute), queries it with both tools,
# then inspects a copy of its blocks with both tools' tsdb commands. Stops
# the server by PID on exit. Skips (exit 0) when promtool or prometheus is
# missing. Exits 1 on any difference.
#
# Env: PROMTOOL, PROMETHEUS (upstream binaries), PROMLITE_TOOL (ours;
# default target/debug/promlite-tool), TOOL_COMPARE_PORT (default 19291),
# TOOL_COMPARE_WAIT (seconds to wait for the first block, default 240).
set -u

here="$(cd "$(dirname "$0")/../.." && pwd)"
promtool="${PROMTOOL:-$(command -v promtool || true)}"
prometheus="${PROMETHEUS:-$(command -v prometheus || true)}"
ours="${PROMLITE_TOOL:-$here/target/debug/promlite-tool}"
port="${TOOL_COMPARE_PORT:-19291}"
wait_block="${TOOL_COMPARE_WAIT:-240}"

if [ -z "$promtool" ] || [ -z "$prometheus" ]; then
    echo "tool_compare: SKIP: upstream promtool/prometheus not installed"
    exit 0
fi
if [ ! -x "$ours" ]; then
    (cd "$here" && cargo build --bin promlite-tool) || exit 1
fi

work="$(mktemp -d)"
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
cases=0
# compare <stdin file or -> <args...>
compare() {
    local input="$1"
    shift
    cases=$((cases + 1))
    if [ "$input" = "-" ]; then input=/dev/null; fi
    (cd "$work" && "$promtool" "$@" <"$input" >"$work/a.out" 2>"$work/a.err")
    local ra=$?
    (cd "$work" && "$ours" "$@" <"$input" >"$work/b.out" 2>"$work/b.err")
    local rb=$?
    if [ $ra -ne $rb ] || ! cmp -s "$work/a.out" "$work/b.out" || ! cmp -s "$work/a.err" "$work/b.err"; then
        failures=$((failures + 1))
        echo "DIFF: $* (exit promtool=$ra promlite-tool=$rb)"
        diff "$work/a.out" "$work/b.out" | head -10
        diff "$work/a.err" "$work/b.err" | head -10
    else
        echo "same: $*"
    fi
}

# --- check metrics, check web-config (no server needed)
printf '# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code="200"} 3\n' >"$work/clean.prom"
cat >"$work/lint.prom" <<'EOF'
# TYPE requests counter
requests 1
# HELP fooBar_milliseconds x
# TYPE fooBar_milliseconds gauge
fooBar_milliseconds{someLabel="a"} 1
fooBar_milliseconds{someLabel="b",le="3"} 1
# HELP x_gauge_total g
# TYPE x_gauge_total gauge
x_gauge_total 1
untyped_thing_count{quantile="0.5"} 3
# HELP rpc_duration_kb a summary
# TYPE rpc_duration_kb summary
rpc_duration_kb{quantile="0.5",serviceName="a"} 1
rpc_duration_kb_sum{serviceName="a"} 1
rpc_duration_kb_count{serviceName="a"} 1
# HELP job:up:sum recorded
# TYPE job:up:sum gauge
job:up:sum 3
EOF
printf 'ok 1\nbad{x=1} 2\n' >"$work/bad1.prom"
printf 'x{a="b} 1\n' >"$work/bad2.prom"
printf 'x 1 2 3\n' >"$work/bad3.prom"
printf '# TYPE x foo\n' >"$work/bad4.prom"
for f in clean lint bad1 bad2 bad3 bad4; do
    compare "$work/$f.prom" check metrics
done
# check metrics --extended: ties in the table come in map order upstream,
# so lines are compared sorted. With lint problems promlite prints the table
# as upstream 3.x does and 2.42 did not, so there only stderr and exit code
# are compared.
printf '# HELP a_total A.\n# TYPE a_total counter\na_total 1\n# HELP b B.\n# TYPE b gauge\nb{x="1"} 1\nb{x="2"} 2\n# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n' >"$work/ext.prom"
for f in ext lint; do
    cases=$((cases + 1))
    (cd "$work" && "$promtool" check metrics --extended <"$f.prom" >a.out 2>a.err; echo $? >a.rc; "$ours" check metrics --extended <"$f.prom" >b.out 2>b.err; echo $? >b.rc)
    if [ "$f" = lint ]; then : >"$work/a.out"; : >"$work/b.out"; fi
    if [ "$(sort "$work/a.out")" = "$(sort "$work/b.out")" ] && cmp -s "$work/a.err" "$work/b.err" && cmp -s "$work/a.rc" "$work/b.rc"; then
        echo "same: check metrics --extended < $f.prom (sorted)"
    else
        failures=$((failures + 1))
        echo "DIFF: check metrics --extended < $f.prom"
        diff <(sort "$work/a.out") <(sort "$work/b.out") | head -5
    fi
done

# --- tsdb bench write: both tools ingest the same series file; the stage
# lines must match but for durations and rates, and promtool must dump the
# same samples from both tools' storage (promlite's WAL read by upstream).
awk 'BEGIN { for (i = 0; i < 2500; i++) printf "{\"__name__\":\"m%d\",\"instance\":\"host-%d\",\"job\":\"j\",\"i\":\"%d\"}\n", i % 7, i % 50, i }' >"$work/series.json"
cases=$((cases + 1))
(cd "$work" && "$promtool" tsdb bench write --out=bench-up --metrics=1500 --scrapes=200 series.json >a.out 2>/dev/null; echo $? >a.rc)
(cd "$work" && "$ours" tsdb bench write --out=bench-ours --metrics=1500 --scrapes=200 series.json >b.out 2>/dev/null; echo $? >b.rc)
shape() { sed -e 's/ duration=.*//' -e 's/samples\/sec: .*/samples\/sec:/' "$1"; }
(cd "$work" && "$promtool" tsdb dump bench-up/storage >bench-up.dump 2>&1; "$promtool" tsdb dump bench-ours/storage >bench-ours.dump 2>&1)
if [ "$(shape "$work/a.out")" = "$(shape "$work/b.out")" ] && cmp -s "$work/a.rc" "$work/b.rc" \
    && [ -s "$work/bench-up.dump" ] && cmp -s "$work/bench-up.dump" "$work/bench-ours.dump"; then
    echo "same: tsdb bench write (stage lines; promtool dump of both)"
else
    failures=$((failures + 1))
    echo "DIFF: tsdb bench write"
    diff <(shape "$work/a.out") <(shape "$work/b.out") | head -5
    diff "$work/bench-up.dump" "$work/bench-ours.dump" | head -5
fi
cases=$((cases + 1))
(cd "$work" && "$promtool" tsdb bench write --out=bench-none none.json >a.out 2>/dev/null; "$ours" tsdb bench write --out=bench-none none.json >b.out 2>/dev/null)
if cmp -s "$work/a.out" "$work/b.out"; then
    echo "same: tsdb bench write none.json (stdout)"
else
    failures=$((failures + 1))
    echo "DIFF: tsdb bench write none.json"
    diff "$work/a.out" "$work/b.out" | head -5
fi

printf 'basic_auth_users:\n  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n' >"$work/web1.yml"
printf 'tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n' >"$work/web2.yml"
printf 'foo: 1\n' >"$work/web3.yml"
printf 'tls_server_config:\n  key_file: x\n' >"$work/web4.yml"
for f in web1 web2 web3 web4; do
    compare - check web-config "$f.yml"
done

# --- check service-discovery (static and file SD; targets carry ports, as
# 2.42 adds a default port where upstream 3.x and promlite do not). File SD
# makes promtool log a debug line on stderr, so only stdout and exit code
# are compared for it.
cat >"$work/sd.yml" <<'EOF'
scrape_configs:
  - job_name: static
    static_configs:
      - targets: ['127.0.0.1:9090', 'b:80']
        labels:
          env: prod
    relabel_configs:
      - source_labels: [__address__]
        regex: 'b:80'
        action: drop
  - job_name: filesd
    file_sd_configs:
      - files: ['targets.json']
EOF
echo '[{"targets":["c:9100"],"labels":{"team":"x<y"}}]' >"$work/targets.json"
compare - check service-discovery sd.yml static
compare - check service-discovery sd.yml nope
cases=$((cases + 1))
(cd "$work" && "$promtool" check service-discovery sd.yml filesd >a.out 2>/dev/null; echo $? >a.rc; "$ours" check service-discovery sd.yml filesd >b.out 2>/dev/null; echo $? >b.rc)
if cmp -s "$work/a.out" "$work/b.out" && cmp -s "$work/a.rc" "$work/b.rc"; then
    echo "same: check service-discovery sd.yml filesd (stdout)"
else
    failures=$((failures + 1))
    echo "DIFF: check service-discovery sd.yml filesd"
    diff "$work/a.out" "$work/b.out" | head -10
fi

# --- an upstream server to query and to take blocks from
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$port" \
    --storage.tsdb.min-block-duration=1m --storage.tsdb.max-block-duration=1m \
    >"$work/prometheus.log" 2>&1 &
pid=$!
server="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
    curl -sf "$server/-/ready" >/dev/null 2>&1 && break
    sleep 0.2
done
sleep 3

now=$(date +%s)
compare - query instant --time="$now" "$server" up
compare - query instant --time="$now" -o json "$server" up
compare - query instant --time="$now" "$server" 'scalar(up)'
compare - query instant --time="$now" "$server" 'foo{'
compare - query instant --time="$now" "$server" 'up{job="none"}'
compare - query instant --time=bad "$server" up
compare - query instant "$server/nope" up
compare - query instant http://127.0.0.1:1 up
compare - query range --start=$((now - 2)) --end="$now" --step=1s "$server" up
compare - query range --start=$((now - 2)) --end="$now" "$server" '{__name__=~"up|scrape_samples_scraped"}'
compare - query range -o json --start=$((now - 2)) --end="$now" --step=1s "$server" up
compare - query range --start="$now" --end="$now" "$server" up
compare - query series --match=up "$server"
compare - query series -o json --match=up --match=prometheus_build_info "$server"
compare - query labels "$server" job
compare - query labels -o json "$server" job

# --- tsdb commands on a copy of the blocks, then on a copy of the whole dir
deadline=$(($(date +%s) + wait_block))
while [ "$(date +%s)" -lt "$deadline" ]; do
    ls -d "$work"/data/01* >/dev/null 2>&1 && break
    sleep 2
done
mkdir -p "$work/blocks/wal"
if ls -d "$work"/data/01* >/dev/null 2>&1; then
    for b in "$work"/data/01*; do
        [ -f "$b/meta.json" ] && cp -r "$b" "$work/blocks/"
    done
    compare - tsdb list blocks
    compare - tsdb list -r blocks
    compare - tsdb dump blocks
    compare - tsdb dump --match=up blocks
    compare - tsdb dump --min-time=0 --max-time=$((now * 1000)) '--match={job="prometheus",__name__=~"prometheus_http.*"}' blocks

    # tsdb dump of a whole data dir, head (WAL) included: a copy taken while
    # the server is paused, so both tools read the same bytes.
    kill -STOP "$pid"
    cp -r "$work/data" "$work/live"
    kill -CONT "$pid"
    rm -f "$work/live/lock"
    compare - tsdb dump live
    compare - tsdb dump --match=up live

    # tsdb analyze: upstream orders ties by map iteration (randomly), so
    # only the counts of each list are compared, with every other line.
    for args in "tsdb analyze blocks" "tsdb analyze --limit=5 blocks" "tsdb analyze blocks 00000000000000000000000000"; do
        cases=$((cases + 1))
        # shellcheck disable=SC2086
        (cd "$work" && "$promtool" $args >a.out 2>a.err; echo $? >a.rc; "$ours" $args >b.out 2>b.err; echo $? >b.rc)
        norm() { awk '/^[0-9]+ /{print $1; next} {print}' "$1"; }
        if [ "$(norm "$work/a.out")" = "$(norm "$work/b.out")" ] && cmp -s "$work/a.err" "$work/b.err" && cmp -s "$work/a.rc" "$work/b.rc"; then
            echo "same: $args (counts)"
        else
            failures=$((failures + 1))
            echo "DIFF: $args"
            diff <(norm "$work/a.out") <(norm "$work/b.out") | head -10
            diff "$work/a.err" "$work/b.err" | head -5
        fi
    done

    # tsdb analyze --extended: 2.42 ends with its chunk "Fullness" chart,
    # promlite with upstream 3.x's compaction analysis; the part before must
    # match (counts), and the chunks counted by the 3.x histogram must be the
    # block's NUM CHUNKS as promtool lists it.
    cases=$((cases + 1))
    (cd "$work" && "$promtool" tsdb analyze --extended blocks >a.out 2>a.err; echo $? >a.rc; "$ours" tsdb analyze --extended blocks >b.out 2>b.err; echo $? >b.rc)
    head_part() { awk '/^Compaction analysis:/{exit} /^[0-9]+ /{print $1; next} {print}' "$1"; }
    counted=$(awk '/^samples per float chunk/{on=1; next} on && /^$/{exit} on {split($0, p, "]: "); split(p[2], q, " "); n += q[1]} END {print n + 0}' "$work/b.out")
    listed=$("$promtool" tsdb list "$work/blocks" | tail -1 | awk '{print $6}')
    if [ "$(head_part "$work/a.out")" = "$(head_part "$work/b.out")" ] && cmp -s "$work/a.rc" "$work/b.rc" \
        && [ "$counted" = "$listed" ]; then
        echo "same: tsdb analyze --extended blocks (counts; $counted chunks)"
    else
        failures=$((failures + 1))
        echo "DIFF: tsdb analyze --extended blocks (chunks counted $counted, listed $listed)"
        diff <(head_part "$work/a.out") <(head_part "$work/b.out") | head -10
    fi

    # query analyze (not in 2.42): promlite-tool against the upstream server
    # must find its classic histograms.
    cases=$((cases + 1))
    (cd "$work" && "$ours" query analyze --server="$server" --type=histogram --duration=1m \
        --match=prometheus_http_request_duration_seconds_bucket >b.out 2>b.err; echo $? >b.rc)
    if [ "$(cat "$work/b.rc")" = 0 ] && grep -q '(classic): ' "$work/b.out" && grep -q '^Classic histogram series' "$work/b.out"; then
        echo "ok: query analyze against upstream prometheus"
    else
        failures=$((failures + 1))
        echo "DIFF: query analyze against upstream prometheus"
        head -5 "$work/b.out" "$work/b.err"
    fi

    # Backfill: both tools import the same OpenMetrics text (no blank after
    # commas: promtool 2.42's parser refuses it); the blocks must dump the
    # same, list the same but for ULID and SIZE (layout bytes may differ), and
    # a dump -> create-blocks -> dump round trip must give back the samples.
    "$ours" tsdb dump-openmetrics "$work/blocks" >"$work/om.txt" 2>/dev/null
    sed 's/", /",/g' "$work/om.txt" >"$work/om-compact.txt"
    (cd "$work" && "$promtool" tsdb create-blocks-from openmetrics om-compact.txt bf-up >bf-up.out 2>&1)
    (cd "$work" && "$ours" tsdb create-blocks-from openmetrics om-compact.txt bf-ours >bf-ours.out 2>&1)
    mkdir -p "$work/bf-up/wal" "$work/bf-ours/wal"
    cases=$((cases + 1))
    (cd "$work" && "$promtool" tsdb dump bf-up >bf-up.dump 2>&1 && "$promtool" tsdb dump bf-ours >bf-ours.dump 2>&1 && "$ours" tsdb dump blocks >blocks.dump 2>/dev/null)
    if cmp -s "$work/bf-up.dump" "$work/bf-ours.dump" && cmp -s "$work/blocks.dump" "$work/bf-ours.dump"; then
        echo "same: tsdb create-blocks-from openmetrics (promtool dump of both, round trip)"
    else
        failures=$((failures + 1))
        echo "DIFF: tsdb create-blocks-from openmetrics: dumps differ"
        diff "$work/bf-up.dump" "$work/bf-ours.dump" | head -5
    fi
    cases=$((cases + 1))
    strip() { awk '{ $1 = ""; $NF = ""; print }' "$1"; }
    if [ "$(strip "$work/bf-up.out")" = "$(strip "$work/bf-ours.out")" ]; then
        echo "same: tsdb create-blocks-from openmetrics listing (ULID and SIZE aside)"
    else
        failures=$((failures + 1))
        echo "DIFF: tsdb create-blocks-from openmetrics listing"
        diff "$work/bf-up.out" "$work/bf-ours.out" | head -5
    fi

    # Rule backfill: both tools evaluate the same rules against the server;
    # promtool's dumps of both outputs must match (evaluation times included).
    cat >"$work/rules.yml" <<'EOF'
groups:
  - name: g1
    interval: 10s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          team: a
  - name: g2
    rules:
      - record: scrape:dur
        expr: scrape_duration_seconds
EOF
    rnow=$(date +%s)
    cases=$((cases + 1))
    (cd "$work" && "$promtool" tsdb create-blocks-from rules --start=$((rnow - 300)) --end="$rnow" --url="$server" --output-dir=rules-up rules.yml >/dev/null 2>&1; echo $? >a.rc)
    (cd "$work" && "$ours" tsdb create-blocks-from rules --start=$((rnow - 300)) --end="$rnow" --url="$server" --output-dir=rules-ours rules.yml >/dev/null 2>&1; echo $? >b.rc)
    mkdir -p "$work/rules-up/wal" "$work/rules-ours/wal"
    (cd "$work" && "$promtool" tsdb dump rules-up >rules-up.dump 2>&1; "$promtool" tsdb dump rules-ours >rules-ours.dump 2>&1)
    if cmp -s "$work/a.rc" "$work/b.rc" && cmp -s "$work/rules-up.dump" "$work/rules-ours.dump" && [ -s "$work/rules-up.dump" ]; then
        echo "same: tsdb create-blocks-from rules (promtool dump of both)"
    else
        failures=$((failures + 1))
        echo "DIFF: tsdb create-blocks-from rules"
        diff "$work/rules-up.dump" "$work/rules-ours.dump" | head -5
    fi
else
    failures=$((failures + 1))
    echo "DIFF: no block cut by upstream prometheus within ${wait_block}s"
fi

echo "tool_compare: $cases cases, $failures differences"
[ "$failures" -eq 0 ]
