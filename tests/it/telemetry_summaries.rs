//! The real binary's `/metrics` carries upstream's summaries: after a scrape
//! of itself, an instant and a range query, a rule evaluation, an alert sent
//! to a receiver, a file SD scan and an HTTP SD refresh, every summary family
//! has `quantile` lines, `_sum` and `_count`, and `promtool check metrics`
//! (when installed) and `promlite-tool check metrics` find nothing wrong with
//! them.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{encode, free_port, Promlite, TestServer};

const TOOL: &str = env!("CARGO_BIN_EXE_promlite-tool");

/// Each family with the quantile line that must appear for it.
fn expected(am_port: u16) -> Vec<(&'static str, String)> {
    vec![
        (
            "prometheus_engine_query_duration_seconds",
            "prometheus_engine_query_duration_seconds{slice=\"inner_eval\",quantile=\"0.99\"} "
                .to_string(),
        ),
        (
            "prometheus_engine_query_duration_seconds",
            "prometheus_engine_query_duration_seconds{slice=\"result_sort\",quantile=\"0.5\"} "
                .to_string(),
        ),
        (
            "prometheus_engine_query_duration_seconds",
            "prometheus_engine_query_duration_seconds{slice=\"queue_time\",quantile=\"0.9\"} "
                .to_string(),
        ),
        (
            "prometheus_engine_query_duration_seconds",
            "prometheus_engine_query_duration_seconds{slice=\"prepare_time\",quantile=\"0.5\"} "
                .to_string(),
        ),
        (
            "prometheus_rule_evaluation_duration_seconds",
            "prometheus_rule_evaluation_duration_seconds{quantile=\"0.99\"} ".to_string(),
        ),
        (
            "prometheus_rule_group_duration_seconds",
            "prometheus_rule_group_duration_seconds{quantile=\"0.01\"} ".to_string(),
        ),
        (
            "prometheus_notifications_latency_seconds",
            format!(
                "prometheus_notifications_latency_seconds{{alertmanager=\"http://127.0.0.1:{am_port}/api/v2/alerts\",quantile=\"0.5\"}} "
            ),
        ),
        (
            "prometheus_target_interval_length_seconds",
            "prometheus_target_interval_length_seconds{interval=\"1s\",quantile=\"0.05\"} "
                .to_string(),
        ),
        (
            "prometheus_target_sync_length_seconds",
            "prometheus_target_sync_length_seconds{scrape_job=\"self\",quantile=\"0.99\"} "
                .to_string(),
        ),
        (
            "prometheus_sd_file_scan_duration_seconds",
            "prometheus_sd_file_scan_duration_seconds{quantile=\"0.5\"} ".to_string(),
        ),
        (
            "prometheus_sd_refresh_duration_seconds",
            "prometheus_sd_refresh_duration_seconds{config=\"http\",mechanism=\"http\",quantile=\"0.9\"} "
                .to_string(),
        ),
    ]
}

/// The value on the line starting with `prefix`, if it is a number.
fn value_of(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// The lines of one family: its HELP, TYPE and samples.
fn family_text(metrics: &str, family: &str) -> String {
    metrics
        .lines()
        .filter(|l| {
            let name = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
                .unwrap_or(l);
            let base = name.split(['{', ' ']).next().unwrap_or("");
            base == family || base == format!("{family}_sum") || base == format!("{family}_count")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Runs `check metrics` of `tool` on `text`; its exit code and output.
fn check_metrics(tool: &str, text: &str) -> Option<(i32, String)> {
    let mut child = Command::new(tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(text.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    Some((
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[test]
fn summaries_on_metrics_endpoint() {
    let files = tempfile::tempdir().expect("temp dir");
    let rules = files.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: Always\n        expr: vector(1)\n",
    )
    .expect("write rules");
    let targets = files.path().join("targets.json");
    std::fs::write(&targets, r#"[{"targets": ["127.0.0.1:1"]}]"#).expect("write targets");

    let receiver = TestServer::start(|_, _, _| (200, String::new()));
    let sd = TestServer::start(|_, _, _| (200, "[]".to_string()));
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files: ['{}']\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{}']\n\
         scrape_configs:\n\
         \x20 - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n\
         \x20 - job_name: files\n    file_sd_configs:\n      - files: ['{}']\n\
         \x20 - job_name: http\n    http_sd_configs:\n      - url: http://127.0.0.1:{}/sd\n",
        rules.display(),
        receiver.port,
        targets.display(),
        sd.port,
    );
    let p = Promlite::start_on_port(&config, port, &[]);

    let wanted = expected(receiver.port);
    let metrics = p.wait_for(Duration::from_secs(30), |p| {
        // Queries every round, so the engine's slices have fresh values.
        let _ = p.query("up");
        let _ = p.get(&format!(
            "/api/v1/query_range?query={}&start=0&end=60&step=15",
            encode("up")
        ));
        let m = p.get("/metrics").text();
        let ready = wanted.iter().all(|(_, line)| m.contains(line.as_str()))
            && value_of(
                &m,
                "prometheus_target_interval_length_seconds_count{interval=\"1s\"} ",
            )
            .is_some_and(|v| v >= 1.0);
        ready.then_some(m)
    });
    let Some(metrics) = metrics else {
        let m = p.get("/metrics").text();
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|(_, l)| !m.contains(l.as_str()))
            .map(|(_, l)| l.as_str())
            .collect();
        panic!("summaries missing after 30s: {missing:?}\n{m}");
    };

    let mut families: Vec<&str> = wanted.iter().map(|(f, _)| *f).collect();
    families.dedup();
    let mut text = String::new();
    for family in &families {
        let block = family_text(&metrics, family);
        assert!(
            block.contains(&format!("# TYPE {family} summary\n")),
            "{family} is not a summary:\n{block}"
        );
        let count: f64 = block
            .lines()
            .filter(|l| l.starts_with(&format!("{family}_count")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(count >= 1.0, "{family} has no observations:\n{block}");
        assert!(block.contains(&format!("{family}_sum")), "{block}");
        text.push_str(&block);
    }
    // A quantile over a window with observations is a number, not NaN.
    let q = value_of(
        &metrics,
        "prometheus_target_interval_length_seconds{interval=\"1s\",quantile=\"0.5\"} ",
    );
    assert!(
        q.is_some_and(|v| (0.5..5.0).contains(&v)),
        "median scrape interval {q:?}"
    );

    let (code, out) = check_metrics(TOOL, &text).expect("run promlite-tool");
    assert_eq!(code, 0, "promlite-tool check metrics: {out}\n{text}");
    match check_metrics("promtool", &text) {
        Some((code, out)) => assert_eq!(code, 0, "promtool check metrics: {out}\n{text}"),
        None => eprintln!("promtool not installed; skipping its check"),
    }
}
