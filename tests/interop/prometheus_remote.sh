#!/usr/bin/env bash
# Interop with a real Prometheus over the remote storage protocols:
#   - promlite remote-writes into a real Prometheus (remote-write receiver on)
#     and the same queries answer the same series and values on both;
#   - a real Prometheus remote-writes into promlite's /api/v1/write;
#   - a real Prometheus with remote_read pointing at promlite's /api/v1/read
#     answers a query with data only promlite holds;
#   - a promlite in agent mode feeds a real Prometheus.
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

start_all || exit 1
run_check "promlite remote-writes into prometheus" check_promlite_writes_to_prometheus
run_check "prometheus remote-writes into promlite" check_prometheus_writes_to_promlite
run_check "prometheus remote-reads promlite" check_prometheus_reads_promlite
run_check "agent promlite feeds prometheus" check_agent_feeds_prometheus
run_check "agent serves no queries" check_agent_refuses_queries
finish
