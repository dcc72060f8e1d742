#!/usr/bin/env bash
# Interop with upstream promtool as an HTTP API client: promlite and a real
# Prometheus both scrape one fixed target every second; `promtool query
# instant|range|series|labels` must print the same thing against both. Only
# what must differ is normalised: both are asked at the same whole-second
# --time/--start/--end, series and label lists are compared sorted. Also runs
# `promtool check config` on the repo's prometheus.yml.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need "$PROMTOOL" "$PROMETHEUS" "$PROMLITE_BIN"

write_config() {
    cat >"$WORK/scrape.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fixture
    metrics_path: /metrics.txt
    static_configs:
      - targets: ['$TARGET']
EOF
}

# compare_promtool <sort?> <sub> <args...> -- <trailing args>: same output on both.
compare_promtool() {
    local sorted=$1 sub=$2 a b
    shift 2
    local pre=() post=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do pre+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    post=("$@")
    a=$(timeout 30 "$PROMTOOL" query "$sub" "${pre[@]}" "$UP_URL" "${post[@]}" 2>&1; echo "exit=$?")
    b=$(timeout 30 "$PROMTOOL" query "$sub" "${pre[@]}" "$OURS_URL" "${post[@]}" 2>&1; echo "exit=$?")
    if [ "$sorted" = sort ]; then
        a=$(sort <<<"$a")
        b=$(sort <<<"$b")
    fi
    if ! grep -q 'exit=0' <<<"$a"; then
        echo "$a" | head -n 5
        echo "promtool query $sub ${pre[*]} ${post[*]} failed against upstream itself"
        return 1
    fi
    if [ "$a" != "$b" ]; then
        diff <(echo "$a") <(echo "$b") | head -n 12
        echo "promtool query $sub ${pre[*]} ${post[*]}: output differs (< upstream, > promlite)"
        return 1
    fi
    [ "$(wc -l <<<"$a")" -gt 1 ] || { echo "promtool query $sub printed nothing on either"; return 1; }
}

check_config_repo() {
    "$PROMTOOL" check config "$INTEROP_ROOT/prometheus.yml"
}

# Values and labels: compared as sorted line sets.
check_query_instant() {
    compare_promtool sort instant --time="$T" -- 'fixture_requests_total' || return 1
    compare_promtool sort instant --time="$T" -- 'sum by (code) (fixture_requests_total)' || return 1
    compare_promtool sort instant --time="$T" -- 'histogram_quantile(0.9, sum by (le) (fixture_latency_seconds_bucket))' || return 1
    compare_promtool sort instant --time="$T" -- 'fixture_temperature_celsius * 2 > 0' || return 1
    compare_promtool no instant -o json --time="$T" -- 'fixture_temperature_celsius{room="a"}'
}

# The order promtool prints the series in, as it comes from the server.
check_query_instant_order() {
    compare_promtool no instant --time="$T" -- 'fixture_requests_total' || return 1
    compare_promtool no instant --time="$T" -- 'fixture_latency_seconds_bucket'
}

check_query_range() {
    compare_promtool no range --start="$((T - 4))" --end="$T" --step=1s -- 'fixture_temperature_celsius' || return 1
    compare_promtool no range --start="$((T - 4))" --end="$T" --step=2s -- 'sum(rate(fixture_requests_total[3s]))'
}

check_query_series() {
    compare_promtool sort series --match='{job="fixture",__name__=~"fixture_.*"}' --start="$((T - 4))" --end="$T" --
}

check_query_labels() {
    compare_promtool sort labels --match='{job="fixture"}' --start="$((T - 4))" --end="$T" -- __name__ || return 1
    compare_promtool sort labels --match='fixture_requests_total' --start="$((T - 4))" --end="$T" -- code
}

check_promtool_sh() {
    PROMLITE_BIN="$PROMLITE_BIN" timeout 120 "$INTEROP_ROOT/tests/interop/promtool.sh"
}

run_check "check config prometheus.yml" check_config_repo
start_fixture_target || exit 1
write_config
start_prometheus up "$WORK/scrape.yml" || exit 1
start_promlite ours "$WORK/scrape.yml" || exit 1
# Both must have scraped for a few seconds before T-4 for range queries to
# line up; poll (bounded) until both see the target, then give 9 scrapes.
wait_until 30 has_series "$UP_URL" 'fixture_requests_total' || log "upstream never scraped the fixture"
wait_until 30 has_series "$OURS_URL" 'fixture_requests_total' || log "promlite never scraped the fixture"
# rate(...[3s]) at T-4 needs two samples before T-4 on both.
sleep 9
T=$(($(date +%s) - 1))
run_check "query instant" check_query_instant
run_check "query instant series order" check_query_instant_order
run_check "query range" check_query_range
run_check "query series" check_query_series
run_check "query labels" check_query_labels
run_check "promtool.sh" check_promtool_sh
finish
