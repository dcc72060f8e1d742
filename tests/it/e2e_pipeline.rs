//! End-to-end tests of the wired pipeline with the real binary: a target
//! served by the test is scraped into the TSDB, survives a SIGKILL, feeds a
//! recording rule and an alert whose notification reaches a test
//! Alertmanager, and the alert's state survives a reload and a restart.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Promlite, TestServer};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(25);

/// A target exposing one gauge with value 42.
fn metrics_target() -> TestServer {
    TestServer::start(|_, path, _| {
        if path.starts_with("/metrics") {
            (
                200,
                "# HELP e2e_test_metric A test gauge.\n# TYPE e2e_test_metric gauge\ne2e_test_metric{kind=\"a\"} 42\n"
                    .to_string(),
            )
        } else {
            (404, "not found".to_string())
        }
    })
}

fn scrape_config(target_port: u16, extra: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{extra}scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
    )
}

fn first_value(result: &[Value]) -> Option<(f64, String)> {
    let v = result.first()?;
    Some((v["value"][0].as_f64()?, v["value"][1].as_str()?.to_string()))
}

#[test]
fn scrape_query_targets_and_kill9_restart() {
    let target = metrics_target();
    let config = scrape_config(target.port, "");
    let p = Promlite::start(&config, &[]);

    let up = p
        .wait_for(WAIT, |p| first_value(&p.query("up{job=\"app\"}")))
        .expect("up{job=\"app\"} never appeared");
    assert_eq!(up.1, "1");
    let (ts, value) = p
        .wait_for(WAIT, |p| first_value(&p.query("e2e_test_metric")))
        .expect("the target's series never appeared");
    assert_eq!(value, "42");
    let series = p.query("e2e_test_metric");
    assert_eq!(series[0]["metric"]["kind"], "a");
    assert_eq!(
        series[0]["metric"]["instance"],
        format!("127.0.0.1:{}", target.port)
    );

    let t = p.get("/api/v1/targets").json();
    let active = &t["data"]["activeTargets"][0];
    assert_eq!(active["scrapePool"], "app");
    assert_eq!(active["health"], "up");
    assert_eq!(
        active["scrapeUrl"],
        format!("http://127.0.0.1:{}/metrics", target.port)
    );
    // A localhost target is reported under the external URL's host (the
    // default external URL names this machine), as upstream's globalUrl.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string());
    assert_eq!(
        active["globalUrl"],
        format!("http://{hostname}:{}/metrics", target.port)
    );
    let md = p.get("/api/v1/metadata?metric=e2e_test_metric").json();
    assert_eq!(md["data"]["e2e_test_metric"][0]["type"], "gauge");

    // The sample was committed (it was queryable); a kill -9 must not lose it.
    let dir = p.kill_and_keep_dir();
    drop(target);
    let p = Promlite::start_in(dir, &config, &[]);
    let r = p.query(&format!("e2e_test_metric @ {ts}"));
    assert_eq!(
        first_value(&r).map(|v| v.1),
        Some("42".to_string()),
        "sample lost across SIGKILL: {r:?}"
    );
    let tsdb = p.get("/api/v1/status/tsdb").json();
    assert!(tsdb["data"]["headStats"]["numSeries"].as_u64().unwrap_or(0) >= 1);
}

const RULES: &str = "groups:\n- name: e2e\n  rules:\n  - record: job:e2e_test_metric:sum\n    expr: sum by (job) (e2e_test_metric)\n  - alert: E2EHigh\n    expr: e2e_test_metric > 10\n    for: 3s\n    labels:\n      severity: page\n    annotations:\n      summary: 'value is {{ $value }}'\n  - alert: E2EOther\n    expr: e2e_test_metric > 0\n";

fn alert<'a>(alerts: &'a Value, name: &str) -> Option<&'a Value> {
    alerts["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
}

fn alert_state(p: &Promlite, name: &str) -> Option<(String, String)> {
    let v = p.get("/api/v1/alerts").json();
    let a = alert(&v, name)?;
    Some((
        a["state"].as_str()?.to_string(),
        a["activeAt"].as_str()?.to_string(),
    ))
}

#[test]
fn rules_alerts_notifications_reload_and_restart() {
    let target = metrics_target();
    let received: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let rec = received.clone();
    let am = TestServer::start(move |method, path, body| {
        if method == "POST" && path == "/api/v2/alerts" {
            if let Ok(Value::Array(alerts)) = serde_json::from_slice::<Value>(&body) {
                rec.lock().unwrap().extend(alerts);
            }
            (200, String::new())
        } else {
            (404, "not found".to_string())
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let rules_path = dir.path().join("rules.yml");
    std::fs::write(&rules_path, RULES).unwrap();
    let extra = format!(
        "rule_files: ['{}']\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{}']\n",
        rules_path.display(),
        am.port
    );
    let config = scrape_config(target.port, &extra);
    // A grace period below `for` lets a restart restore the firing state.
    let flags = [
        "--web.enable-lifecycle",
        "--rules.alert.for-grace-period=1s",
    ];
    let p = Promlite::start_in(dir, &config, &flags);

    let rec_value = p
        .wait_for(WAIT, |p| first_value(&p.query("job:e2e_test_metric:sum")))
        .expect("the recorded series never appeared");
    assert_eq!(rec_value.1, "42");
    let rec_series = p.query("job:e2e_test_metric:sum");
    assert_eq!(rec_series[0]["metric"]["job"], "app");

    p.wait_for(WAIT, |p| {
        alert_state(p, "E2EHigh").filter(|(s, _)| s == "pending")
    })
    .expect("E2EHigh never went pending");
    let (_, active_at) = p
        .wait_for(WAIT, |p| {
            alert_state(p, "E2EHigh").filter(|(s, _)| s == "firing")
        })
        .expect("E2EHigh never fired");

    let sent = p
        .wait_for(WAIT, |_| {
            received
                .lock()
                .unwrap()
                .iter()
                .find(|a| a["labels"]["alertname"] == "E2EHigh")
                .cloned()
        })
        .expect("the Alertmanager never got E2EHigh");
    assert_eq!(sent["labels"]["severity"], "page");
    assert_eq!(sent["labels"]["job"], "app");
    assert_eq!(sent["annotations"]["summary"], "value is 42");
    assert!(sent["generatorURL"]
        .as_str()
        .unwrap_or("")
        .contains("graph?g0.expr="));

    // Change only E2EOther: E2EHigh keeps its state through the reload.
    std::fs::write(
        p.dir.path().join("rules.yml"),
        RULES.replace("expr: e2e_test_metric > 0", "expr: e2e_test_metric > 1"),
    )
    .unwrap();
    let r = p.post("/-/reload");
    assert_eq!(r.status, 200, "{}", r.text());
    let rules = p.get("/api/v1/rules").json();
    assert!(rules.to_string().contains("e2e_test_metric > 1"), "{rules}");
    assert_eq!(
        alert_state(&p, "E2EHigh"),
        Some(("firing".to_string(), active_at.clone()))
    );

    // A restart restores the firing alert from ALERTS_FOR_STATE.
    let dir = p.stop_and_keep_dir();
    let p = Promlite::start_in(dir, &config, &flags);
    let restored = p
        .wait_for(WAIT, |p| alert_state(p, "E2EHigh"))
        .expect("E2EHigh missing after restart");
    // ALERTS_FOR_STATE keeps whole seconds (upstream's `ActiveAt.Unix()`).
    assert_eq!(restored.0, "firing");
    assert_eq!(
        restored.1.get(..19),
        active_at.get(..19),
        "activeAt not restored"
    );
}
