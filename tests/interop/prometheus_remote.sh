#!/usr/bin/env bash
# Interop with a real Prometheus over the remote storage protocols:
#   - promlite remote-writes into a real Prometheus (remote-write receiver on)
#     and the same queries answer the same series and values on both;
#   - a real Prometheus remote-writes into promlite's /api/v1/write;
#   - a real Prometheus with remote_read pointing at promlite's /api/v1/read
#     answers a query with data only promlite holds;
#   - a promlite in agent mode feeds a real Prometheus;
#   - the fault test: a receiving Prometheus goes down, promlite restarts
#     during the outage, the receiver comes back: every sample arrives.
# All scrape one fixed target, under a different job name per path, so each
# check can tell which path the data came through.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need "$PROMETHEUS" "$PROMLITE_BIN"
# Upstream 2.x spells agent mode --enable-feature=agent (to run this script
# with PROMLITE_BIN=prometheus as a self-check of the script).
read -r -a AGENT_FLAGS <<<"${PROMLITE_AGENT_FLAGS:---agent}"

start_all() {
    start_fixture_target || return 1
    # R: receives promlite's and the agent's remote write, and remote-reads
    # promlite (only for job="pushed", which R never receives by write).
    cat >"$WORK/recv.yml" <<EOF
global:
  scrape_interval: 1s
EOF
    start_prometheus recv "$WORK/recv.yml" --web.enable-remote-write-receiver || return 1
    # L: promlite scraping the target as job="fixture", writing to R, and
    # receiving S's writes.
    cat >"$WORK/ours.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fixture
    metrics_path: /metrics.txt
    static_configs:
      - targets: ['$TARGET']
remote_write:
  - url: $RECV_URL/api/v1/write
    queue_config:
      batch_send_deadline: 1s
EOF
    start_promlite ours "$WORK/ours.yml" --web.enable-remote-write-receiver || return 1
    # R now also reads from promlite.
    cat >>"$WORK/recv.yml" <<EOF
remote_read:
  - url: $OURS_URL/api/v1/read
    read_recent: true
EOF
    curl -fsS -XPOST "$RECV_URL/-/reload" >/dev/null 2>&1 || {
        # Without --web.enable-lifecycle, SIGHUP reloads.
        kill -HUP "$RECV_PID"
    }
    # S: a real Prometheus scraping the target as job="pushed", writing to L.
    cat >"$WORK/sender.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pushed
    metrics_path: /metrics.txt
    static_configs:
      - targets: ['$TARGET']
remote_write:
  - url: $OURS_URL/api/v1/write
    queue_config:
      batch_send_deadline: 1s
EOF
    start_prometheus sender "$WORK/sender.yml" || return 1
    # A: promlite in agent mode scraping the target as job="agent", writing to R.
    cat >"$WORK/agent.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: agent
    metrics_path: /metrics.txt
    static_configs:
      - targets: ['$TARGET']
remote_write:
  - url: $RECV_URL/api/v1/write
    queue_config:
      batch_send_deadline: 1s
EOF
    local port
    port=$(free_port)
    mkdir -p "$WORK/agent-data"
    spawn "$WORK/agent.log" "$PROMLITE_BIN" "${AGENT_FLAGS[@]}" --config.file="$WORK/agent.yml" \
        --storage.agent.path="$WORK/agent-data" --web.listen-address="127.0.0.1:$port"
    AGENT_URL=http://127.0.0.1:$port
    wait_http "$AGENT_URL/-/ready" 60 || { log "agent not ready:"; tail -n 3 "$WORK/agent.log" >&2; }
}

QUERIES=(
    'fixture_requests_total{job="JOB"}'
    'fixture_temperature_celsius{job="JOB"}'
    'fixture_latency_seconds_bucket{job="JOB"}'
    'sum by (code) (fixture_requests_total{job="JOB"})'
)

# same_on <job> <urlA> <urlB>: every query above, for that job, agrees.
same_on() {
    local job=$1 a=$2 b=$3 q t
    wait_until 30 has_series "$a" "fixture_requests_total{job=\"$job\"}" ||
        { echo "no fixture_requests_total{job=\"$job\"} on $a after 30s"; return 1; }
    wait_until 30 has_series "$b" "fixture_requests_total{job=\"$job\"}" ||
        { echo "no fixture_requests_total{job=\"$job\"} on $b after 30s"; return 1; }
    # Data passes through a queue or a second scrape: allow a few seconds to converge.
    wait_until 10 compare_job "$job" "$a" "$b" || compare_job "$job" "$a" "$b"
}

compare_job() {
    local job=$1 a=$2 b=$3 q t
    t=$(date +%s)
    for q in "${QUERIES[@]}"; do
        same_vector "${q//JOB/$job}" "$a" "$b" "$t" || return 1
    done
}

check_promlite_writes_to_prometheus() { same_on fixture "$OURS_URL" "$RECV_URL"; }

check_prometheus_writes_to_promlite() { same_on pushed "$SENDER_URL" "$OURS_URL"; }

check_prometheus_reads_promlite() {
    # R never received job="pushed": it can only come from promlite by remote read.
    same_on pushed "$OURS_URL" "$RECV_URL"
}

check_agent_feeds_prometheus() {
    wait_until 30 has_series "$RECV_URL" 'fixture_requests_total{job="agent"}' ||
        { echo "no fixture_requests_total{job=\"agent\"} on the receiving Prometheus after 30s"; return 1; }
    local got
    got=$(vector_set "$RECV_URL" 'sort(fixture_temperature_celsius{job="agent"})') || { echo "$got"; return 1; }
    [ "$(printf '%s\n' "$got" | sed 's/.* //' | tr '\n' ' ')" = "-4.25 21.125 " ] ||
        { echo "fixture_temperature_celsius{job=\"agent\"}: expected values -4.25 21.125, got: $got"; return 1; }
}

check_agent_refuses_queries() {
    # Upstream's agent has no query engine: the query API is not served.
    local code
    curl -fsS -o /dev/null --max-time 5 "$AGENT_URL/-/ready" || { echo "the agent is not running (see its log)"; return 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$AGENT_URL/api/v1/query?query=up")
    [ "$code" != 200 ] || { echo "agent answered /api/v1/query with 200; upstream's agent does not serve queries"; return 1; }
}

# The fault test against the real thing: a receiving Prometheus goes down,
# promlite keeps scraping and is restarted during the outage, the receiver
# comes back on the same port and data dir; every sample promlite stored must
# have arrived (per-series sample counts agree). Duplicates cannot be seen
# here (Prometheus drops an identical resend); tests/it/remote_fault.rs
# counts them.
start_fault_receiver() {
    spawn "$WORK/fault-recv.log" "$PROMETHEUS" --config.file="$WORK/fault-recv.yml" \
        --storage.tsdb.path="$WORK/fault-recv-data" --web.listen-address="127.0.0.1:$FAULT_RECV_PORT" \
        --web.enable-remote-write-receiver
    FAULT_RECV_PID=$SPAWNED
    wait_http "http://127.0.0.1:$FAULT_RECV_PORT/-/ready" 60 || { echo "fault receiver not ready"; return 1; }
}

start_fault_promlite() {
    spawn "$WORK/fault-ours.log" "$PROMLITE_BIN" --config.file="$WORK/fault-ours.yml" \
        --storage.tsdb.path="$WORK/fault-ours-data" --web.listen-address="127.0.0.1:$FAULT_OURS_PORT" \
        --storage.remote.flush-deadline=2s
    FAULT_OURS_PID=$SPAWNED
    wait_http "http://127.0.0.1:$FAULT_OURS_PORT/-/ready" 60 || { echo "promlite (fault) not ready"; return 1; }
}

check_outage_across_restart() {
    local recv ours t q n
    FAULT_RECV_PORT=$(free_port)
    FAULT_OURS_PORT=$(free_port)
    recv=http://127.0.0.1:$FAULT_RECV_PORT
    ours=http://127.0.0.1:$FAULT_OURS_PORT
    mkdir -p "$WORK/fault-recv-data" "$WORK/fault-ours-data"
    printf 'global:\n  scrape_interval: 1m\n' >"$WORK/fault-recv.yml"
    cat >"$WORK/fault-ours.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fault
    metrics_path: /metrics.txt
    static_configs:
      - targets: ['$TARGET']
remote_write:
  - url: $recv/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      max_backoff: 1s
EOF
    start_fault_receiver || return 1
    start_fault_promlite || return 1
    wait_until 30 has_series "$recv" 'fixture_temperature_celsius{job="fault"}' ||
        { echo "no fixture_temperature_celsius{job=\"fault\"} on the receiver after 30s"; return 1; }
    # The receiver goes down; promlite scrapes on, then restarts.
    stop_pid "$FAULT_RECV_PID"
    sleep 5
    stop_pid "$FAULT_OURS_PID"
    start_fault_promlite || return 1
    # promlite's scrape manager applies targets a few seconds after start.
    sleep 8
    start_fault_receiver || return 1
    # Compare what promlite holds up to a moment after the receiver came back.
    sleep 2
    t=$(date +%s)
    # Scraping went on through the outage (5 s before the restart alone).
    q='count_over_time(fixture_temperature_celsius{job="fault"}[10m])'
    n=$(vector_set "$ours" "min($q)" "$t") || { echo "$n"; return 1; }
    n=${n##* }
    [ "${n%%.*}" -ge 8 ] 2>/dev/null ||
        { echo "expected at least 8 samples per series across the outage on promlite, got '$n'"; return 1; }
    wait_until 60 same_fault_counts "$ours" "$recv" "$t" || same_fault_counts "$ours" "$recv" "$t"
}

# same_fault_counts <urlA> <urlB> <time>: every fixture series has as many
# samples on both (one query per metric: count_over_time drops the name).
same_fault_counts() {
    local a=$1 b=$2 t=$3 m
    for m in fixture_requests_total fixture_temperature_celsius fixture_latency_seconds_bucket \
        fixture_latency_seconds_sum fixture_latency_seconds_count; do
        same_vector "count_over_time($m{job=\"fault\"}[10m])" "$a" "$b" "$t" || return 1
    done
}

start_all || exit 1
run_check "promlite remote-writes into prometheus" check_promlite_writes_to_prometheus
run_check "prometheus remote-writes into promlite" check_prometheus_writes_to_promlite
run_check "prometheus remote-reads promlite" check_prometheus_reads_promlite
run_check "agent promlite feeds prometheus" check_agent_feeds_prometheus
run_check "agent serves no queries" check_agent_refuses_queries
run_check "receiver outage across a promlite restart loses nothing" check_outage_across_restart
finish
