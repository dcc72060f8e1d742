#!/usr/bin/env bash
# Interop with a real prometheus-node-exporter: promlite scrapes it every
# second and its series (node_cpu_seconds_total, node_exporter_build_info)
# are queryable through promlite's HTTP API with the exporter's labels.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
NODE_EXPORTER=${NODE_EXPORTER:-$(command -v prometheus-node-exporter || command -v node_exporter || true)}
need "$NODE_EXPORTER" "$PROMLITE_BIN"

start_node_exporter() {
    local port
    port=$(free_port)
    # Collectors that read privileged or slow sources are off: they only add
    # noise (errors in the exporter's log), not series this test looks at.
    spawn "$WORK/node_exporter.log" "$NODE_EXPORTER" --web.listen-address="127.0.0.1:$port" \
        --no-collector.systemd --no-collector.rapl --no-collector.thermal_zone \
        --no-collector.hwmon --no-collector.btrfs --no-collector.zfs
    NODE=127.0.0.1:$port
    wait_http "http://$NODE/metrics" 30 || { log "node exporter did not start"; tail "$WORK/node_exporter.log" >&2; return 1; }
}

check_cpu_seconds() {
    local n
    wait_until 30 has_series "$OURS_URL" 'node_cpu_seconds_total{job="node"}' || true
    n=$(count_series "$OURS_URL" 'node_cpu_seconds_total{job="node",mode="idle"}')
    [ "$n" -ge 1 ] || { echo "node_cpu_seconds_total{mode=\"idle\"}: expected >= 1 series (one per CPU), got $n"; return 1; }
    # Every series carries the exporter's own cpu label and the target's labels.
    vector_set "$OURS_URL" 'count by (instance) (node_cpu_seconds_total{cpu="0",instance="'"$NODE"'"})' | grep -q "instance=\"$NODE\"" ||
        { echo "node_cpu_seconds_total has no series with cpu=\"0\" and instance=\"$NODE\""; return 1; }
    # A counter that only grows: rate over the scraped window is defined and >= 0.
    wait_until 10 has_series "$OURS_URL" 'rate(node_cpu_seconds_total{mode="idle"}[5s]) >= 0' ||
        { echo "rate(node_cpu_seconds_total[5s]) is empty after 10s of 1s scrapes"; return 1; }
}

check_build_info() {
    local got
    got=$(vector_set "$OURS_URL" 'node_exporter_build_info') || { echo "$got"; return 1; }
    [ "$(printf '%s\n' "$got" | grep -c .)" -eq 1 ] || { echo "node_exporter_build_info: expected 1 series, got: $got"; return 1; }
    grep -q 'version="' <<<"$got" && grep -q ' 1$' <<<"$got" ||
        { echo "node_exporter_build_info: expected a version label and value 1, got: $got"; return 1; }
}

check_up() {
    local got
    got=$(vector_set "$OURS_URL" 'up{job="node"}') || { echo "$got"; return 1; }
    [ "$got" = "{__name__=\"up\",instance=\"$NODE\",job=\"node\"} 1" ] || { echo "up{job=\"node\"}: expected 1 for $NODE, got: '$got'"; return 1; }
}

start_node_exporter || exit 1
cat >"$WORK/node.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['$NODE']
EOF
start_promlite ours "$WORK/node.yml" || exit 1
wait_until 30 has_series "$OURS_URL" 'node_exporter_build_info' || log "no node_exporter_build_info after 30s"
run_check "up" check_up
run_check "node_cpu_seconds_total" check_cpu_seconds
run_check "node_exporter_build_info" check_build_info
finish
