#!/usr/bin/env bash
# Interop: upstream's promtool (Debian package `prometheus`) against promlite.
# Checks the repo's prometheus.yml with `promtool check config`, starts a
# debug promlite on a free 127.0.0.1 port, and runs promtool's HTTP commands
# against it. Skips (exit 0) with a message when promtool is not installed.
set -euo pipefail

cd "$(dirname "$0")/../.."
if ! command -v promtool >/dev/null 2>&1; then
    echo "interop: SKIP: promtool not found (apt-get install prometheus)"
    exit 0
fi
BIN=${PROMLITE_BIN:-target/debug/promlite}
[ -x "$BIN" ] || { echo "interop: $BIN missing; run cargo build first" >&2; exit 1; }

echo "interop: promtool check config prometheus.yml"
promtool check config prometheus.yml

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$BIN" --config.file=prometheus.yml --web.listen-address="127.0.0.1:$PORT" \
    --storage.tsdb.path="$DIR/data" --web.enable-lifecycle 2>"$DIR/log" &
PID=$!
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/-/ready" >/dev/null || { cat "$DIR/log"; exit 1; }

URL="http://127.0.0.1:$PORT"
fail=0
run() {
    echo "interop: promtool $*"
    if ! timeout 20 promtool "$@"; then
        echo "interop: FAILED: promtool $*"
        fail=1
    fi
}
run query labels "$URL" __name__
run query series "$URL" --match=up
run query instant "$URL" up
run query range "$URL" --start="$(date -d '-5 min' +%s)" --end="$(date +%s)" --step=15s up
run check metrics < <(curl -fsS "$URL/metrics")
exit $fail
