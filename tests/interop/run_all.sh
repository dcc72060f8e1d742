#!/usr/bin/env bash
# Runs every interop script against the real upstream peers (Debian's
# prometheus/promtool, prometheus-alertmanager/amtool, prometheus-node-exporter,
# chromium), prints one line per check and a final `N passed, M failed` line;
# exits non-zero on any failure that is not listed in KNOWN_FAILURES below.
#
# Env: PROMLITE_BIN / PROMLITE_TOOL (default target/release/...), ONLY (a
# space-separated subset of script names, e.g. ONLY="alertmanager tsdb").
set -uo pipefail

# The one list of known failures: "<script>:<check>|<why>". A check listed
# here still runs and still prints FAIL, but is counted as a known failure
# and does not fail the run. Remove a line as soon as promlite is fixed (the
# run prints FIXED for a listed check that passes).
KNOWN_FAILURES=(
    "promtool_query:query instant series order|promlite returns a plain selector's series in creation (exposition) order, as upstream 3.x's engine (it selects with sortSeries=false); Debian's 2.42 sorts them by labels because its fanout always merges a (empty) remote-read querier; PromQL promises no instant-vector order; values are checked by 'query instant' (README: How promlite differs)"
)

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PROMLITE_BIN=${PROMLITE_BIN:-$ROOT/target/release/promlite}
export PROMLITE_TOOL=${PROMLITE_TOOL:-$ROOT/target/release/promlite-tool}
DIR=$ROOT/tests/interop
OUT=$(mktemp -d "${TMPDIR:-/tmp}/interop-run_all-XXXXXX")
trap 'rm -rf "$OUT"' EXIT

# Scripts that report PASS/FAIL lines themselves (lib.sh format).
CHECK_SCRIPTS=(promtool_query node_exporter alertmanager prometheus_remote federation tsdb)
# Older scripts reporting only through their exit code: one check each.
WHOLE_SCRIPTS=(tool_compare ui_browser)

known_reason() {
    local id=$1 entry
    for entry in "${KNOWN_FAILURES[@]}"; do
        if [ "${entry%%|*}" = "$id" ]; then
            echo "${entry#*|}"
            return 0
        fi
    done
    return 1
}

selected() {
    [ -z "${ONLY:-}" ] && return 0
    [[ " $ONLY " == *" $1 "* ]]
}

passed=0
failed=0
known=0
skipped=0
unexpected=()

# record <PASS|FAIL> <id> [reason]
record() {
    local status=$1 id=$2 why
    if [ "$status" = PASS ]; then
        passed=$((passed + 1))
        if why=$(known_reason "$id"); then
            echo "FIXED $id (listed as a known failure: remove it from KNOWN_FAILURES)"
        fi
    elif why=$(known_reason "$id"); then
        known=$((known + 1))
        echo "KNOWN-FAIL $id ($why)"
    else
        failed=$((failed + 1))
        unexpected+=("$id")
    fi
}

for s in "${CHECK_SCRIPTS[@]}"; do
    selected "$s" || continue
    echo "== $s"
    out=$OUT/$s.out
    # Bounded: no script may take more than 10 minutes.
    timeout 600 bash "$DIR/$s.sh" >"$out" 2>&1
    rc=$?
    # Show the script's output (PASS/FAIL lines with their details); a known
    # failure's line says so, so that the word FAIL marks only real failures.
    while IFS= read -r line; do
        if [[ "$line" == "FAIL "* ]]; then
            id=${line#FAIL }
            if known_reason "${id%%: *}" >/dev/null; then
                line="KNOWN-FAIL-DETAIL $id"
            fi
        fi
        printf '%s\n' "$line"
    done <"$out"
    seen=0
    while IFS= read -r line; do
        case "$line" in
        "PASS "*)
            seen=1
            record PASS "${line#PASS }"
            ;;
        "FAIL "*)
            seen=1
            id=${line#FAIL }
            record FAIL "${id%%: *}"
            ;;
        "SKIP "*)
            seen=1
            skipped=$((skipped + 1))
            ;;
        esac
    done <"$out"
    if [ $rc -ne 0 ] && [ $seen -eq 0 ]; then
        echo "FAIL $s:script: exited $rc before reporting any check"
        record FAIL "$s:script"
    fi
done

for s in "${WHOLE_SCRIPTS[@]}"; do
    selected "$s" || continue
    echo "== $s"
    out=$OUT/$s.out
    timeout 900 bash "$DIR/$s.sh" >"$out" 2>&1
    rc=$?
    tail -n 25 "$out" | sed 's/^/      | /'
    if grep -qiE '^[a-z_]*: ?skip' "$out"; then
        echo "SKIP $s: $(grep -iE '^[a-z_]*: ?skip' "$out" | head -n 1)"
        skipped=$((skipped + 1))
    elif [ $rc -eq 0 ]; then
        echo "PASS $s:all"
        record PASS "$s:all"
    else
        echo "FAIL $s:all: exit code $rc"
        record FAIL "$s:all"
    fi
done

echo
if [ ${#unexpected[@]} -gt 0 ]; then
    echo "failed checks: ${unexpected[*]}"
fi
echo "$passed passed, $failed failed ($known known failures, $skipped scripts skipped)"
[ "$failed" -eq 0 ]
