#!/usr/bin/env bash
# Interop with a real prometheus-alertmanager and amtool: promlite evaluates
# an always-firing alert every second and notifies an Alertmanager on
# 127.0.0.1; `amtool alert query` must list it with its labels and
# annotations. Then the rule file is rewritten so the expression is empty,
# promlite reloads (POST /-/reload), and the alert must resolve in
# Alertmanager (no longer listed as active) within a bounded wait.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
ALERTMANAGER=${ALERTMANAGER:-$(command -v prometheus-alertmanager || command -v alertmanager || true)}
AMTOOL=${AMTOOL:-$(command -v amtool || true)}
need "$ALERTMANAGER" "$AMTOOL" "$PROMLITE_BIN"

write_rules() {  # write_rules <expr>
    cat >"$WORK/rules.yml" <<EOF
groups:
  - name: interop
    interval: 1s
    rules:
      - alert: InteropAlwaysFiring
        expr: $1
        for: 0s
        labels:
          severity: page
          team: interop
        annotations:
          summary: always firing, value {{ \$value }}
          runbook: https://example.invalid/runbook
EOF
}

start_alertmanager() {
    local port
    port=$(free_port)
    cat >"$WORK/alertmanager.yml" <<'EOF'
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
EOF
    mkdir -p "$WORK/am"
    spawn "$WORK/alertmanager.log" "$ALERTMANAGER" --config.file="$WORK/alertmanager.yml" \
        --storage.path="$WORK/am" --web.listen-address="127.0.0.1:$port" --cluster.listen-address=
    AM=127.0.0.1:$port
    AM_URL=http://$AM
    wait_http "$AM_URL/-/ready" 30 || { log "alertmanager not ready"; tail "$WORK/alertmanager.log" >&2; return 1; }
}

amq() { timeout 20 "$AMTOOL" --alertmanager.url="$AM_URL" "$@"; }

alert_listed() { amq alert query alertname=InteropAlwaysFiring | grep -q InteropAlwaysFiring; }

check_alert_firing() {
    local json
    # Alertmanager discovery and the resend delay bound how soon it arrives.
    wait_until 60 alert_listed || { amq alert query; echo "amtool alert query: InteropAlwaysFiring not listed after 60s"; return 1; }
    touch "$WORK/alert-was-active"
    json=$(amq -o json alert query alertname=InteropAlwaysFiring) || { echo "amtool -o json failed"; return 1; }
    python3 - "$json" <<'EOF'
import json, sys
alerts = json.loads(sys.argv[1])
if len(alerts) != 1:
    print("expected exactly 1 InteropAlwaysFiring alert, got", len(alerts)); sys.exit(1)
a = alerts[0]
want = {"alertname": "InteropAlwaysFiring", "severity": "page", "team": "interop"}
if a["labels"] != want:
    print("labels: expected", want, "got", a["labels"]); sys.exit(1)
ann = a["annotations"]
if ann.get("summary") != "always firing, value 1" or ann.get("runbook") != "https://example.invalid/runbook":
    print("annotations: expected summary='always firing, value 1' (template expanded) and the runbook, got", ann); sys.exit(1)
if a["status"]["state"] != "active":
    print("expected state active, got", a["status"]); sys.exit(1)
gen = a.get("generatorURL", "")
if "/graph?g0.expr=" not in gen:
    print("generatorURL should link to /graph?g0.expr=..., got", repr(gen)); sys.exit(1)
EOF
}

check_alert_resolves() {
    # Resolving means something only for an alert that was active.
    [ -e "$WORK/alert-was-active" ] || { echo "the alert never reached Alertmanager, so it cannot resolve"; return 1; }
    write_rules 'vector(1) == 0'
    curl -fsS -XPOST --max-time 20 "$OURS_URL/-/reload" || { echo "POST /-/reload failed"; return 1; }
    local i
    local out
    for i in $(seq 1 60); do
        # Only a successful query without the alert counts as resolved.
        out=$(amq alert query) && ! grep -q InteropAlwaysFiring <<<"$out" && return 0
        sleep 0.5
    done
    amq alert query
    echo "InteropAlwaysFiring still active in Alertmanager 30s after its expression became empty"
    return 1
}

check_alerts_api() {
    # promlite's own view agrees before the reload: one firing alert.
    vector_set "$OURS_URL" 'ALERTS{alertname="InteropAlwaysFiring",alertstate="firing"}' | grep -q 'severity="page"' ||
        { echo "ALERTS{alertstate=\"firing\"} has no InteropAlwaysFiring series"; return 1; }
}

start_alertmanager || exit 1
write_rules 'vector(1)'
cat >"$WORK/prometheus.yml" <<EOF
global:
  evaluation_interval: 1s
rule_files:
  - $WORK/rules.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['$AM']
EOF
start_promlite ours "$WORK/prometheus.yml" --web.enable-lifecycle --rules.alert.resend-delay=2s || exit 1
run_check "amtool alert query lists firing alert" check_alert_firing
run_check "ALERTS series" check_alerts_api
run_check "alert resolves after reload" check_alert_resolves
finish
