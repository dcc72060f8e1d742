#!/usr/bin/env bash
# Interop of the on-disk TSDB format with upstream, both ways:
#   - upstream `promtool tsdb list|analyze|dump` read blocks written by
#     promlite: a snapshot (/api/v1/admin/tsdb/snapshot) of a promlite that
#     scraped a fixed target, and blocks from `promlite-tool tsdb
#     create-blocks-from openmetrics`, whose dump must equal the dump of
#     upstream promtool's blocks from the same input;
#   - promlite opens data dirs written by upstream (blocks from upstream
#     promtool's backfill, and a real Prometheus's WAL after it stopped) and
#     answers the same queries with the same values as upstream on a copy.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need "$PROMTOOL" "$PROMETHEUS" "$PROMLITE_BIN"

# An OpenMetrics file with known samples: 3 series, one per minute, over the
# 3 hours ending an hour ago (so more than one 2h block, inside retention).
write_openmetrics() {
    python3 - "$WORK/input.om" <<'EOF'
import sys, time
end = (int(time.time()) // 3600 - 1) * 3600
start = end - 3 * 3600
with open(sys.argv[1], "w") as f:
    f.write("# HELP interop_backfill_total A counter.\n# TYPE interop_backfill_total counter\n")
    for host, step in (("a", 1.5), ("b", 2)):
        for i, t in enumerate(range(start, end, 60)):
            f.write('interop_backfill_total{host="%s"} %s %d\n' % (host, repr(i * step), t))
    f.write("# HELP interop_backfill_gauge A gauge.\n# TYPE interop_backfill_gauge gauge\n")
    for i, t in enumerate(range(start, end, 60)):
        f.write('interop_backfill_gauge{host="a"} %s %d\n' % (repr((i % 17) - 8.25), t))
    f.write("# EOF\n")
print(start, end)
EOF
}

# dump_sorted <data dir>: upstream promtool's dump, sorted (dump order is by block).
# promtool 2.x opens the dir as a DB and wants a wal/ folder, which a
# snapshot or a backfill output does not have.
dump_sorted() {
    mkdir -p "$1/wal"
    timeout 60 "$PROMTOOL" tsdb dump "$1" 2>&1 | sort
}

check_snapshot_read_by_promtool() {
    local name snap out
    wait_until 30 has_series "$OURS_URL" 'fixture_temperature_celsius' ||
        { echo "promlite never scraped the fixture target"; return 1; }
    sleep 2
    out=$(curl -sS --max-time 30 -XPOST "$OURS_URL/api/v1/admin/tsdb/snapshot")
    name=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["name"])' "$out" 2>/dev/null) ||
        { echo "POST /api/v1/admin/tsdb/snapshot: expected {\"status\":\"success\",\"data\":{\"name\":...}}, got: $out"; return 1; }
    snap=$OURS_DATA/snapshots/$name
    [ -d "$snap" ] || { echo "snapshot $name not found under $OURS_DATA/snapshots"; return 1; }
    out=$(timeout 60 "$PROMTOOL" tsdb list "$snap" 2>&1) || { echo "$out"; echo "promtool tsdb list failed on promlite's snapshot"; return 1; }
    [ "$(grep -c '^01' <<<"$out")" -ge 1 ] || { echo "$out"; echo "promtool tsdb list shows no block in promlite's snapshot"; return 1; }
    out=$(timeout 60 "$PROMTOOL" tsdb analyze "$snap" 2>&1) || { echo "$out" | tail -n 5; echo "promtool tsdb analyze failed on promlite's snapshot"; return 1; }
    grep -q 'fixture_requests_total' <<<"$out" || { echo "$out" | head; echo "promtool tsdb analyze does not mention fixture_requests_total"; return 1; }
    out=$(dump_sorted "$snap")
    grep -q '"fixture_temperature_celsius".*room="a"} -4.25 [0-9]\+$' <<<"$out" ||
        { echo "$out" | grep fixture_temperature | head -n 3; echo "promtool tsdb dump of promlite's snapshot lacks fixture_temperature_celsius{room=\"a\"} -4.25"; return 1; }
}

check_backfill_blocks_same_as_upstream() {
    local a b
    rm -rf "$WORK/bf-up" "$WORK/bf-ours"
    timeout 120 "$PROMTOOL" tsdb create-blocks-from openmetrics "$WORK/input.om" "$WORK/bf-up" >/dev/null 2>&1 ||
        { echo "upstream promtool create-blocks-from failed"; return 1; }
    timeout 120 "$PROMLITE_TOOL" tsdb create-blocks-from openmetrics "$WORK/input.om" "$WORK/bf-ours" >"$WORK/bf-ours.log" 2>&1 ||
        { tail -n 3 "$WORK/bf-ours.log"; echo "promlite-tool tsdb create-blocks-from openmetrics failed"; return 1; }
    a=$(timeout 60 "$PROMTOOL" tsdb list "$WORK/bf-up" | awk 'NR>1 {print $2, $3, $4, $5, $6}' | sort)
    b=$(timeout 60 "$PROMTOOL" tsdb list "$WORK/bf-ours" 2>&1 | awk 'NR>1 {print $2, $3, $4, $5, $6}' | sort)
    [ -n "$a" ] && [ "$a" = "$b" ] ||
        { diff <(echo "$a") <(echo "$b"); echo "promtool tsdb list: blocks (min, max, duration, series, samples) differ, upstream's vs promlite-tool's"; return 1; }
    a=$(dump_sorted "$WORK/bf-up")
    b=$(dump_sorted "$WORK/bf-ours")
    [ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b") | head; echo "promtool tsdb dump differs: upstream's blocks vs promlite-tool's"; return 1; }
    timeout 60 "$PROMTOOL" tsdb analyze "$WORK/bf-ours" >/dev/null 2>&1 || { echo "promtool tsdb analyze failed on promlite-tool's block"; return 1; }
}

# serve_both <dir>: upstream Prometheus and promlite, each on its own copy of
# an upstream-written data dir (queries then compare the two).
serve_both() {
    local dir=$1
    UP_PID= OURS2_PID=
    cp -a "$dir" "$WORK/copy-up"
    cp -a "$dir" "$WORK/copy-ours"
    rm -f "$WORK/copy-up/lock" "$WORK/copy-ours/lock"
    printf 'global:\n  scrape_interval: 1h\n' >"$WORK/empty.yml"
    DATA_DIR=$WORK/copy-up start_prometheus up "$WORK/empty.yml" || return 1
    DATA_DIR=$WORK/copy-ours start_promlite ours2 "$WORK/empty.yml" || return 1
}

stop_both() {
    stop_pid "${UP_PID:-}"
    stop_pid "${OURS2_PID:-}"
    rm -rf "$WORK/copy-up" "$WORK/copy-ours"
}

same_range() {  # same_range <query> <start> <end> <step>
    local q=$1 out
    out=$(python3 - "$UP_URL" "$OURS2_URL" "$@" <<'EOF'
import json, sys, urllib.parse, urllib.request
a, b, q, start, end, step = sys.argv[1:]
def get(url):
    qs = urllib.parse.urlencode({"query": q, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(url + "/api/v1/query_range?" + qs, timeout=30) as r:
        d = json.load(r)
    if d.get("status") != "success":
        return "error %s" % d
    return sorted((json.dumps(s["metric"], sort_keys=True), s["values"]) for s in d["data"]["result"])
try:
    ra = get(a)
    rb = get(b)
except Exception as e:
    print("query_range %s failed: %s" % (q, e)); sys.exit(1)
if not ra or ra != rb:
    print("query_range %s [%s..%s step %s]: upstream %s\n promlite %s" % (q, start, end, step, str(ra)[:300], str(rb)[:300])); sys.exit(1)
EOF
) || { echo "$out"; return 1; }
}

check_promlite_reads_upstream_blocks() {
    rm -rf "$WORK/blocks"
    timeout 120 "$PROMTOOL" tsdb create-blocks-from openmetrics "$WORK/input.om" "$WORK/blocks" >/dev/null 2>&1 ||
        { echo "upstream promtool create-blocks-from failed"; return 1; }
    serve_both "$WORK/blocks" || { stop_both; echo "could not start both servers on upstream's blocks"; return 1; }
    local rc=0 t
    for t in $((BF_START + 30)) $((BF_START + 7200)) $((BF_END - 60)); do
        same_vector 'interop_backfill_total' "$UP_URL" "$OURS2_URL" "$t" || { rc=1; break; }
        same_vector 'interop_backfill_gauge' "$UP_URL" "$OURS2_URL" "$t" || { rc=1; break; }
    done
    [ $rc -eq 0 ] && { same_range 'rate(interop_backfill_total[5m])' "$BF_START" "$BF_END" 600 || rc=1; }
    [ $rc -eq 0 ] && { same_range 'max_over_time(interop_backfill_gauge[30m])' "$BF_START" "$BF_END" 900 || rc=1; }
    stop_both
    return $rc
}

check_promlite_reads_upstream_wal() {
    # A real Prometheus scrapes the fixture for a few seconds and stops: its
    # samples are only in the WAL (no block is cut that fast).
    cat >"$WORK/walgen.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fixture
    metrics_path: /metrics.txt
    static_configs:
      - targets: ['$TARGET']
EOF
    start_prometheus walgen "$WORK/walgen.yml" || return 1
    wait_until 30 has_series "$WALGEN_URL" 'fixture_requests_total' || { stop_pid "$WALGEN_PID"; echo "upstream never scraped the fixture"; return 1; }
    sleep 3
    local t
    t=$(($(date +%s) - 1))
    stop_pid "$WALGEN_PID"
    serve_both "$WALGEN_DATA" || { stop_both; echo "could not start both servers on upstream's WAL"; return 1; }
    local rc=0 q
    for q in 'fixture_requests_total' 'fixture_temperature_celsius' 'fixture_latency_seconds_bucket' 'up'; do
        same_vector "$q" "$UP_URL" "$OURS2_URL" "$t" || { rc=1; break; }
    done
    stop_both
    return $rc
}

read -r BF_START BF_END < <(write_openmetrics)
start_fixture_target || exit 1
cat >"$WORK/ours.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fixture
    metrics_path: /metrics.txt
    static_configs:
      - targets: ['$TARGET']
EOF
start_promlite ours "$WORK/ours.yml" --web.enable-admin-api || exit 1
run_check "promtool reads promlite snapshot" check_snapshot_read_by_promtool
stop_pid "$OURS_PID"
run_check "promlite-tool blocks same as promtool's" check_backfill_blocks_same_as_upstream
run_check "promlite reads upstream blocks" check_promlite_reads_upstream_blocks
run_check "promlite reads upstream WAL" check_promlite_reads_upstream_wal
finish
