//! Unit tests of the UI's JavaScript helpers (duration parsing, value and series
//! formatting, chart tick choice), run with Node.js against the embedded scripts. Skips
//! with a message when `node` is not installed.

use promlite::web_ui::asset;
use std::io::Write;
use std::process::{Command, Stdio};

/// Loads common.js and chart.js into a Node context with just enough of a browser
/// (document, localStorage) for them to initialise, then runs the checks below.
const HARNESS: &str = r#"
const vm = require("vm");
const store = {};
global.localStorage = { getItem: k => (k in store ? store[k] : null), setItem: (k, v) => { store[k] = String(v); } };
global.document = { addEventListener() {}, getElementById() { return null; } };
global.window = global;
vm.runInThisContext(process.env.COMMON_JS, { filename: "common.js" });
vm.runInThisContext(process.env.CHART_JS, { filename: "chart.js" });
let failed = 0, passed = 0;
function eq(name, got, want) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g === w) { passed++; } else { failed++; console.log("FAIL " + name + ": got " + g + ", want " + w); }
}
"#;

const CHECKS: &str = r#"
eq("parseDuration 1h30m", PL.parseDuration("1h30m"), 5400000);
eq("parseDuration 90s", PL.parseDuration("90s"), 90000);
eq("parseDuration 250ms", PL.parseDuration("250ms"), 250);
eq("parseDuration bad unit", PL.parseDuration("5x"), null);
eq("parseDuration junk between", PL.parseDuration("1h x2m"), null);
eq("parseDuration empty", PL.parseDuration(""), null);
eq("formatDuration 1h30m", PL.formatDuration(5400000), "1h30m");
eq("formatDuration 1w", PL.formatDuration(604800000), "1w");
eq("formatDuration 1d2h", PL.formatDuration(93600000), "1d2h");

eq("formatValue k", PL.formatValue(1500), "1.50k");
eq("formatValue G", PL.formatValue(2e9), "2.00G");
eq("formatValue m", PL.formatValue(0.0025), "2.50m");
eq("formatValue µ", PL.formatValue(-3e-6), "-3.00µ");
eq("formatValue plain", PL.formatValue(42), "42.00");
eq("formatValue zero", PL.formatValue(0), "0.00");
eq("formatValue +Inf", PL.formatValue(Infinity), "+Inf");
eq("formatValue NaN", PL.formatValue(NaN), "NaN");

eq("formatSeries sorted labels", PL.formatSeries({ job: "a", __name__: "up", instance: "b" }), 'up{instance="b", job="a"}');
eq("formatSeries no name", PL.formatSeries({ job: "a" }), '{job="a"}');
eq("formatSeries empty", PL.formatSeries({}), "{}");
eq("formatSeries quotes", PL.formatSeries({ __name__: "x", l: 'a"b\\c' }), 'x{l="a\\"b\\\\c"}');

const C = PL.chartInternals;
const t = C.niceTicks(0, 0.95, 5);
eq("niceTicks step", t.step, 0.2);
eq("niceTicks range", [t.lo, t.hi], [0, 1]);
eq("niceTicks count", t.ticks.length, 6);
eq("niceTicks negative", C.niceTicks(-7, 12, 4).ticks, [-10, -5, 0, 5, 10, 15]);
eq("tickLabels milli", C.tickLabels([0, 0.2, 0.4], 0.2), ["0", "200m", "400m"]);
eq("tickLabels shared prefix", C.tickLabels([0, 500, 1000, 1500], 500), ["0", "0.5k", "1.0k", "1.5k"]);
eq("tickLabels mega", C.tickLabels([1e6, 2e6], 1e6), ["1M", "2M"]);
eq("tickLabels around one", C.tickLabels([0.9, 0.95, 1, 1.05], 0.05), ["0.90", "0.95", "1.00", "1.05"]);
eq("tickLabels negative", C.tickLabels([-10, -5, 0, 5], 5), ["-10", "-5", "0", "5"]);
eq("niceTicks overflowing span", C.niceTicks(-1e308, 1e308, 5).ticks, [-1e308, 1e308]);
eq("parseValue +Inf is Infinity", C.parseValue("+Inf") === Infinity, true);
eq("parseValue -Inf is -Infinity", C.parseValue("-Inf") === -Infinity, true);
eq("parseValue number", C.parseValue("1.5e3"), 1500);

// Samples land on their step; missing steps and NaN stay gaps for drawing.
const slots = C.slotValues([[10, "1"], [12, "NaN"], [13, "+Inf"], [99, "5"]], 10000, 1000, 5);
eq("slotValues gaps", slots.map(v => v === null ? "gap" : String(v)), ["1", "gap", "NaN", "Infinity", "gap"]);

// Stacking sums visible series step by step; a hidden series adds nothing and a missing
// step leaves a gap in that series only.
const lay = PL.Chart.prototype.layout.call({ n: 3, stacked: true, series: [
  { visible: true, vals: [1, 2, null] },
  { visible: false, vals: [100, 100, 100] },
  { visible: true, vals: [10, null, 30] },
] });
eq("stacked first", lay[0].top, [1, 2, null]);
eq("stacked hidden", lay[1], null);
eq("stacked second", lay[2].top, [11, null, 30]);
eq("stacked baseline", lay[2].bottom, [1, 2, 0]);
const flat = PL.Chart.prototype.layout.call({ n: 2, stacked: false, series: [{ visible: true, vals: [3, 4] }] });
eq("unstacked keeps values", flat[0].top, [3, 4]);

// UTC is the default; an hour over 1100px gets 10-minute ticks on round instants.
const start = Date.UTC(2024, 0, 1, 10, 3, 0), end = start + 3600e3;
const tt = C.timeTicks(start, end, 1100);
eq("timeTicks interval", tt.iv, 600e3);
eq("timeTicks first", new Date(tt.ticks[0]).toISOString(), "2024-01-01T10:10:00.000Z");
eq("timeTicks within range", tt.ticks.every(x => x >= start && x <= end), true);
eq("timeTicks week", C.timeTicks(start, start + 7 * 864e5, 1100).iv, 864e5);
eq("timeTicks narrow", C.timeTicks(start, start + 60e3, 300).iv, 30e3);

const ms = Date.UTC(2024, 1, 29, 23, 59, 58);
eq("toInputTime UTC", PL.toInputTime(ms), "2024-02-29T23:59:58");
eq("fromInputTime UTC", PL.fromInputTime("2024-02-29T23:59:58"), ms);
eq("fromInputTime invalid", PL.fromInputTime("yesterday"), null);
eq("formatTime UTC", PL.formatTime(ms), "2024-02-29 23:59:58 UTC");
eq("ago never", PL.ago("0001-01-01T00:00:00Z"), "never");

console.log(passed + " passed, " + failed + " failed");
process.exit(failed ? 1 : 0);
"#;

fn script(path: &str) -> String {
    let (_, body) = asset(path).unwrap_or_else(|| panic!("no asset {path}"));
    String::from_utf8(body.to_vec()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn javascript_helpers() {
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        eprintln!("javascript_helpers: skipped, node is not installed");
        return;
    }
    let mut child = Command::new("node")
        .arg("-")
        .env("COMMON_JS", script("/static/common.js"))
        .env("CHART_JS", script("/static/chart.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut stdin = child.stdin.take().expect("node stdin");
    stdin.write_all(HARNESS.as_bytes()).expect("write harness");
    stdin.write_all(CHECKS.as_bytes()).expect("write checks");
    drop(stdin);
    let out = child.wait_with_output().expect("node output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "JavaScript checks failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(" passed, 0 failed"),
        "unexpected output: {stdout}"
    );
}
