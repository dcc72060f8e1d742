# Shared helpers for the interop scripts (sourced, not run): free ports,
# processes started in the background and stopped by PID on exit, bounded
# HTTP waits, the fixed scrape target, JSON query helpers, and the one
# reporting format run_all.sh reads:
#
#   PASS <script>:<check>
#   FAIL <script>:<check>: <what was expected, what came back>
#
# A script sources this, defines one function per check, calls `run_check`
# for each and ends with `finish`, which exits 1 when any check failed.
# shellcheck shell=bash

INTEROP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROMLITE_BIN=${PROMLITE_BIN:-$INTEROP_ROOT/target/release/promlite}
PROMLITE_TOOL=${PROMLITE_TOOL:-$INTEROP_ROOT/target/release/promlite-tool}
PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || true)}
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
SCRIPT_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/interop-$SCRIPT_NAME-XXXXXX")
PIDS=()
PASSED=0
FAILED=0

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        # Bounded: a server that ignores SIGTERM for 10s is killed.
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then echo "interop: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "  [$SCRIPT_NAME] $*" >&2; }

# skip <reason>: the whole script cannot run here (missing peer binary).
skip() {
    echo "SKIP $SCRIPT_NAME: $*"
    exit 0
}

need() {
    local b
    for b in "$@"; do
        [ -n "$b" ] && [ -x "$(command -v "$b" 2>/dev/null || echo "$b")" ] || skip "$b not installed"
    done
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# spawn <logfile> <command...>: start in the background, remember the PID in
# $SPAWNED and in the list stopped on exit.
spawn() {
    local logf=$1
    shift
    "$@" >"$logf" 2>&1 &
    SPAWNED=$!
    PIDS+=("$SPAWNED")
}

# stop_pid <pid>: stop one process now (SIGTERM, then SIGKILL after 10s).
stop_pid() {
    local p=$1
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

# wait_http <url> <seconds>: poll until the URL answers 2xx.
wait_http() {
    local url=$1 secs=$2 i
    for i in $(seq 1 $((secs * 5))); do
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

# wait_until <seconds> <command...>: poll a command every 0.5s until it succeeds.
wait_until() {
    local secs=$1 i
    shift
    for i in $(seq 1 $((secs * 2))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

# run_check <name> <function>: run one check; it prints why on stderr/stdout
# and returns non-zero when it fails; its last line of output is the reason.
run_check() {
    local name=$1 fn=$2 out rc
    out=$("$fn" 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then
        PASSED=$((PASSED + 1))
        echo "PASS $SCRIPT_NAME:$name"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $SCRIPT_NAME:$name: $(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 1)"
        printf '%s\n' "$out" | tail -n 15 | sed 's/^/      | /'
    fi
}

finish() {
    echo "  [$SCRIPT_NAME] $PASSED passed, $FAILED failed" >&2
    [ "$FAILED" -eq 0 ]
}

# ---------------------------------------------------------------- fixtures

# start_fixture_target: a python http.server serving one fixed exposition
# file as /metrics.txt (text/plain), so every scraper sees the same values.
# Sets TARGET (host:port).
start_fixture_target() {
    mkdir -p "$WORK/target"
    cat >"$WORK/target/metrics.txt" <<'EOF'
# HELP fixture_requests_total Requests served, by code.
# TYPE fixture_requests_total counter
fixture_requests_total{code="200",method="get"} 1027
fixture_requests_total{code="500",method="get"} 3
fixture_requests_total{code="200",method="post"} 42.5
# HELP fixture_temperature_celsius A gauge with a negative and a fractional value.
# TYPE fixture_temperature_celsius gauge
fixture_temperature_celsius{room="a"} -4.25
fixture_temperature_celsius{room="b"} 21.125
# HELP fixture_latency_seconds A classic histogram.
# TYPE fixture_latency_seconds histogram
fixture_latency_seconds_bucket{le="0.1"} 10
fixture_latency_seconds_bucket{le="0.5"} 25
fixture_latency_seconds_bucket{le="+Inf"} 30
fixture_latency_seconds_sum 7.5
fixture_latency_seconds_count 30
EOF
    local port
    port=$(free_port)
    spawn "$WORK/target.log" python3 -m http.server --bind 127.0.0.1 --directory "$WORK/target" "$port"
    TARGET=127.0.0.1:$port
    wait_http "http://$TARGET/metrics.txt" 20 || { log "fixture target did not start"; return 1; }
}

# start_promlite <name> <config> [flags...]: sets <NAME>_URL, <NAME>_PID, <NAME>_DATA.
# The data dir is $DATA_DIR when set, else a new one under $WORK.
start_promlite() {
    local name=$1 cfg=$2 port data
    shift 2
    port=$(free_port)
    data=${DATA_DIR:-$WORK/$name-data}
    mkdir -p "$data"
    spawn "$WORK/$name.log" "$PROMLITE_BIN" --config.file="$cfg" --storage.tsdb.path="$data" \
        --web.listen-address="127.0.0.1:$port" "$@"
    printf -v "${name^^}_PID" '%s' "$SPAWNED"
    printf -v "${name^^}_URL" '%s' "http://127.0.0.1:$port"
    printf -v "${name^^}_DATA" '%s' "$data"
    wait_http "http://127.0.0.1:$port/-/ready" 60 || { log "promlite $name not ready"; tail -n 20 "$WORK/$name.log" >&2; return 1; }
}

# start_prometheus <name> <config> [flags...]: upstream Prometheus, same variables.
start_prometheus() {
    local name=$1 cfg=$2 port data
    shift 2
    port=$(free_port)
    data=${DATA_DIR:-$WORK/$name-data}
    mkdir -p "$data"
    spawn "$WORK/$name.log" "$PROMETHEUS" --config.file="$cfg" --storage.tsdb.path="$data" \
        --web.listen-address="127.0.0.1:$port" "$@"
    printf -v "${name^^}_PID" '%s' "$SPAWNED"
    printf -v "${name^^}_URL" '%s' "http://127.0.0.1:$port"
    printf -v "${name^^}_DATA" '%s' "$data"
    wait_http "http://127.0.0.1:$port/-/ready" 60 || { log "prometheus $name not ready"; tail -n 20 "$WORK/$name.log" >&2; return 1; }
}

# ---------------------------------------------------------------- queries

# vector_set <url> <query> [time]: an instant query's result as sorted lines
# `{labels} value` (labels sorted by name), or an error line; exit 1 on error.
vector_set() {
    local url=$1 q=$2 t=${3:-}
    local args=(--data-urlencode "query=$q")
    [ -n "$t" ] && args+=(--data-urlencode "time=$t")
    curl -sS --max-time 20 -G "$url/api/v1/query" "${args[@]}" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError as e:
    print("bad JSON from server:", e); sys.exit(1)
if d.get("status") != "success":
    print("query error:", d.get("errorType"), d.get("error")); sys.exit(1)
r = d["data"]["result"]
if d["data"]["resultType"] == "scalar":
    print(r[1]); sys.exit(0)
lines = []
for s in r:
    lab = ",".join("%s=%s" % (k, json.dumps(v)) for k, v in sorted(s["metric"].items()))
    lines.append("{%s} %s" % (lab, s["value"][1]))
print("\n".join(sorted(lines)))
'
}

# same_vector <query> <urlA> <urlB> [time]: both servers return the same
# non-empty set; prints the difference when not.
same_vector() {
    local q=$1 a=$2 b=$3 t=${4:-} va vb
    va=$(vector_set "$a" "$q" "$t") || { echo "$a: $va"; return 1; }
    vb=$(vector_set "$b" "$q" "$t") || { echo "$b: $vb"; return 1; }
    if [ -z "$va" ]; then
        echo "query '$q' is empty on $a (expected fixture series)"
        return 1
    fi
    if [ "$va" != "$vb" ]; then
        diff <(echo "$va") <(echo "$vb") | head -n 12
        echo "query '$q' differs: $a vs $b (see diff above)"
        return 1
    fi
}

# count_series <url> <query>: number of series in an instant query result.
count_series() {
    local out
    out=$(vector_set "$1" "$2") || { echo 0; return 1; }
    if [ -z "$out" ]; then echo 0; else printf '%s\n' "$out" | wc -l; fi
}

has_series() { [ "$(count_series "$1" "$2")" -gt 0 ]; }
