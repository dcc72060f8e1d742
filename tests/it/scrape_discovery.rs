//! Discovery through the `DiscoveryManager`: HTTP SD against a server on
//! 127.0.0.1 (format, `__meta_url`, auth header, a failing refresh keeping
//! the last targets) and file SD picking up a changed file, keeping a broken
//! file's last good targets and dropping a deleted file's; and a broken
//! file_sd file through the server binary (targets API, the read-error
//! counter on `/metrics`, the error log line).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use promlite::discovery::{
    DiscoveryManager, DiscoveryOptions, FileSdConfig, HttpSdConfig, SdConfig, TargetSets,
};

fn opts() -> DiscoveryOptions {
    DiscoveryOptions {
        name: "test".into(),
        update_interval: Duration::from_millis(30),
        file_poll_interval: Duration::from_millis(20),
    }
}

fn addresses(sets: &TargetSets, job: &str) -> Vec<String> {
    let mut v: Vec<String> = sets
        .get(job)
        .into_iter()
        .flatten()
        .flat_map(|g| {
            g.targets
                .iter()
                .map(|t| t.get_or_empty("__address__").to_string())
        })
        .collect();
    v.sort();
    v
}

/// Receives sets until `pred` holds for one (or fails after 5 s).
fn wait_for(
    rx: &Receiver<TargetSets>,
    what: &str,
    pred: impl Fn(&TargetSets) -> bool,
) -> TargetSets {
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Ok(sets) = rx.recv_timeout(left) {
            if pred(&sets) {
                return sets;
            }
        }
    }
    panic!("timed out waiting for {what}");
}

fn start(
    configs: HashMap<String, Vec<SdConfig>>,
) -> (
    Arc<DiscoveryManager>,
    Receiver<TargetSets>,
    std::thread::JoinHandle<()>,
) {
    let (m, rx) = DiscoveryManager::new(opts());
    let m = Arc::new(m);
    m.apply_config(configs);
    let h = {
        let m = m.clone();
        std::thread::spawn(move || m.run())
    };
    (m, rx, h)
}

#[test]
fn http_sd_targets_and_failures() {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}")));
    let addr = server
        .server_addr()
        .to_ip()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let hits = Arc::new(AtomicUsize::new(0));
    let serving = {
        let (server, hits) = (server.clone(), hits.clone());
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                let auth_ok = req
                    .headers()
                    .iter()
                    .any(|h| h.field.equiv("Authorization") && h.value.as_str() == "Bearer t0k");
                // The first answer is good, later ones fail: targets must stay.
                let resp = if n == 0 && auth_ok {
                    tiny_http::Response::from_string(
                        r#"[{"targets": ["x:1", "y:2"], "labels": {"dc": "a"}}]"#,
                    )
                    .with_header(
                        tiny_http::Header::from_bytes("Content-Type", "application/json")
                            .unwrap_or_else(|_| panic!("header")),
                    )
                } else {
                    tiny_http::Response::from_string("boom").with_status_code(500)
                };
                let _ = req.respond(resp);
            }
        })
    };
    let url = format!("http://{addr}/sd");
    let cfg = HttpSdConfig {
        url: url.clone(),
        refresh_interval: Duration::from_millis(50),
        headers: vec![("Authorization".into(), "Bearer t0k".into())],
    };
    let (m, rx, h) = start(HashMap::from([(
        "web".to_string(),
        vec![SdConfig::Http(cfg)],
    )]));
    let sets = wait_for(&rx, "HTTP SD targets", |s| addresses(s, "web").len() == 2);
    assert_eq!(addresses(&sets, "web"), vec!["x:1", "y:2"]);
    let g = &sets["web"][0];
    assert_eq!(g.labels.get("__meta_url"), Some(url.as_str()));
    assert_eq!(g.labels.get("dc"), Some("a"));
    assert_eq!(g.source, format!("{url}:0"));

    // Let a few refreshes fail; a reload must still carry the old targets.
    let deadline = Instant::now() + Duration::from_secs(5);
    while hits.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(hits.load(Ordering::SeqCst) >= 3, "HTTP SD did not refresh");
    m.apply_config(HashMap::from([(
        "web".to_string(),
        vec![SdConfig::Http(HttpSdConfig {
            url: url.clone(),
            refresh_interval: Duration::from_millis(50),
            headers: vec![("Authorization".into(), "Bearer t0k".into())],
        })],
    )]));
    let sets = wait_for(&rx, "a full set after reload", |_| true);
    assert_eq!(addresses(&sets, "web"), vec!["x:1", "y:2"]);

    m.stop();
    let _ = h.join();
    server.unblock();
    let _ = serving.join();
}

#[test]
fn file_sd_follows_changes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let json = dir.path().join("a.json");
    let yaml = dir.path().join("b.yaml");
    let write =
        |p: &std::path::Path, s: &str| std::fs::write(p, s).unwrap_or_else(|e| panic!("{e}"));
    write(&json, r#"[{"targets": ["a:1"]}]"#);
    write(&yaml, "- targets: ['b:1']\n  labels: {team: x}\n");
    let pattern = dir.path().join("*.*").display().to_string();
    let cfg = SdConfig::File(FileSdConfig {
        files: vec![pattern],
        refresh_interval: Duration::from_secs(60),
    });
    let (m, rx, h) = start(HashMap::from([("f".to_string(), vec![cfg])]));
    let sets = wait_for(&rx, "both files", |s| addresses(s, "f") == ["a:1", "b:1"]);
    let b = sets["f"]
        .iter()
        .find(|g| g.source.ends_with("b.yaml:0"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(b.labels.get("team"), Some("x"));
    assert_eq!(
        b.labels.get("__meta_filepath"),
        Some(yaml.display().to_string().as_str())
    );

    write(&json, r#"[{"targets": ["a:1", "a:2"]}]"#);
    wait_for(&rx, "the changed file", |s| {
        addresses(s, "f") == ["a:1", "a:2", "b:1"]
    });

    // Counted under upstream's name in the process registry.
    let read_errors = promlite::telemetry::global().counter(
        promlite::discovery::FILE_READ_ERRORS_METRIC,
        "The number of File-SD read errors.",
    );
    assert_eq!(
        promlite::discovery::FILE_READ_ERRORS_METRIC,
        "prometheus_sd_file_read_errors_total"
    );
    let errors_before = read_errors.get();
    write(&yaml, "- targets: [");
    write(&json, r#"[{"targets": ["a:3"]}]"#);
    wait_for(&rx, "the broken file keeping its targets", |s| {
        addresses(s, "f") == ["a:3", "b:1"]
    });
    assert!(
        read_errors.get() > errors_before,
        "the broken file was not counted"
    );

    std::fs::remove_file(&yaml).unwrap_or_else(|e| panic!("{e}"));
    wait_for(&rx, "the deleted file's targets to go", |s| {
        addresses(s, "f") == ["a:3"]
    });

    m.stop();
    let _ = h.join();
}

/// Through the binary: a file_sd file that breaks keeps its targets in the
/// targets API, is counted in `prometheus_sd_file_read_errors_total` and is
/// logged with its path.
#[test]
fn broken_sd_file_in_the_server_keeps_targets_counts_and_logs() {
    use crate::common::Promlite;

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("targets.json");
    let path = file.display().to_string();
    std::fs::write(
        &file,
        r#"[{"targets": ["127.0.0.1:1"], "labels": {"env": "x"}}]"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fsd\n    file_sd_configs:\n      - files: ['{path}']\n"
    );
    let mut p = Promlite::start(&config, &[]);
    let active = |p: &Promlite| -> Option<serde_json::Value> {
        let v = p.get("/api/v1/targets?state=active").json();
        let t = v["data"]["activeTargets"].as_array()?.first()?.clone();
        (t["labels"]["env"] == "x").then_some(t)
    };
    // Discovery sends its first set within its 5 s update interval.
    let t = p
        .wait_for(Duration::from_secs(20), active)
        .unwrap_or_else(|| panic!("the file's target never appeared"));
    assert_eq!(t["discoveredLabels"]["__meta_filepath"], path.as_str());

    std::fs::write(&file, "[{").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        p.wait_metric("prometheus_sd_file_read_errors_total", "1"),
        "the broken file was not counted"
    );
    assert!(active(&p).is_some(), "the broken file dropped its target");

    p.signal(libc::SIGTERM);
    let status = p.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "promlite exited with {status}");
    let log = p.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("level=ERROR") && l.contains("targets.json")),
        "no error logged for the broken file:\n{log}"
    );
}
