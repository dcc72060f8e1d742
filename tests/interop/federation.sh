#!/usr/bin/env bash
# Interop with a real Prometheus federating from promlite: promlite scrapes a
# fixed target; a real Prometheus scrapes promlite's
# /federate?match[]={job="fixture"} with honor_labels and must store the
# federated series with promlite's values and original labels.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need "$PROMETHEUS" "$PROMLITE_BIN"

check_federate_endpoint() {
    # The exposition itself: text format that upstream's parser accepts.
    local body
    body=$(curl -fsS --max-time 10 -G "$OURS_URL/federate" --data-urlencode 'match[]={job="fixture"}') ||
        { echo "GET /federate?match[]={job=\"fixture\"} failed"; return 1; }
    grep -q '^fixture_temperature_celsius{.*room="a".*} -4.25 [0-9]\+$' <<<"$body" ||
        { echo "$body" | head -n 5; echo "/federate: no 'fixture_temperature_celsius{...room=\"a\"...} -4.25 <ms timestamp>' line"; return 1; }
    grep -q 'origin="promlite"' <<<"$body" ||
        { echo "/federate: external label origin=\"promlite\" missing from the series"; return 1; }
    if [ -n "$PROMTOOL" ]; then
        # Lint findings exit 3; only a parse error (exit 1) is an interop failure.
        "$PROMTOOL" check metrics <<<"$body" >/dev/null 2>&1
        [ $? -ne 1 ] || { echo "promtool check metrics cannot parse promlite's /federate output"; return 1; }
    fi
}

compare_federated() {
    local t q
    t=$(date +%s)
    for q in 'fixture_requests_total{job="fixture"}' 'fixture_temperature_celsius{job="fixture"}' \
        'fixture_latency_seconds_bucket{job="fixture"}' 'fixture_latency_seconds_sum{job="fixture"}'; do
        same_vector "$q" "$OURS_URL" "$FED_URL" "$t" || return 1
    done
}

check_prometheus_stores_federated() {
    wait_until 30 has_series "$FED_URL" 'fixture_requests_total{job="fixture"}' ||
        { tail -n 5 "$WORK/fed.log"; echo "the federating Prometheus has no fixture_requests_total{job=\"fixture\"} after 30s"; return 1; }
    # Two scrape pipelines in a row: allow a few seconds to converge.
    wait_until 10 compare_federated || compare_federated || return 1
    # up of the federation scrape itself is 1 (it parsed the whole page).
    [ "$(vector_set "$FED_URL" 'up{job="federate"}' | sed 's/.* //')" = 1 ] ||
        { echo "up{job=\"federate\"} on the federating Prometheus is not 1: $(vector_set "$FED_URL" 'up{job="federate"}')"; return 1; }
}

start_fixture_target || exit 1
cat >"$WORK/ours.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    origin: promlite
scrape_configs:
  - job_name: fixture
    metrics_path: /metrics.txt
    static_configs:
      - targets: ['$TARGET']
EOF
start_promlite ours "$WORK/ours.yml" || exit 1
cat >"$WORK/fed.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params:
      'match[]': ['{job="fixture"}']
    static_configs:
      - targets: ['${OURS_URL#http://}']
    # external_labels are added by /federate; drop it so the values compare 1:1.
    metric_relabel_configs:
      - action: labeldrop
        regex: origin
EOF
start_prometheus fed "$WORK/fed.yml" || exit 1
wait_until 30 has_series "$OURS_URL" 'fixture_requests_total' || log "promlite never scraped the fixture"
run_check "/federate exposition" check_federate_endpoint
run_check "prometheus stores federated series" check_prometheus_stores_federated
finish
