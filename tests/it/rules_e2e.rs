//! Rules to Alertmanager end to end, in one process: samples in storage, the
//! rule manager's group thread evaluating a recording rule and an alert with
//! `for`, the notifier posting to a tiny_http receiver on 127.0.0.1 with
//! upstream's JSON, then the alert resolving. And with the real binary: an
//! Alertmanager found through file discovery (with `path_prefix` and a
//! relabel-dropped target), and a firing alert with a `for` shorter than the
//! default grace period still firing right after a restart.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{Promlite, TestServer};
use promlite::model::value::now_millis;
use promlite::model::Labels;
use promlite::notifier::{AlertmanagerSet, NotifierManager, NotifierOptions};
use promlite::promql::{Engine, EngineOpts};
use promlite::rules::api::{rules_json, RulesFilter};
use promlite::rules::manager::notify_func;
use promlite::rules::{EngineQueryFunc, ManagerOptions, RuleManager};
use promlite::storage::memory::MemStorage;
use promlite::telemetry::Registry;

const RULES: &str = r#"
groups:
  - name: e2e
    interval: 100ms
    rules:
      - record: job:load:max
        expr: max by (job) (load)
      - alert: HighLoad
        expr: job:load:max > 1
        for: 300ms
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} load is {{ $value }}"
"#;

#[test]
fn alert_reaches_receiver_and_resolves() {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind receiver");
    let addr = server.server_addr().to_ip().expect("ip addr");
    let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let stop_rx = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_flag = stop_rx.clone();
    let receiver = thread::spawn(move || {
        while !stop_flag.load(std::sync::atomic::Ordering::SeqCst) {
            let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(100)) else {
                continue;
            };
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            if let (Ok(v), Ok(mut g)) = (serde_json::from_str(&body), seen.lock()) {
                g.push(v);
            }
            let _ = req.respond(tiny_http::Response::empty(200));
        }
    });

    let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
    let notifier = NotifierManager::new(NotifierOptions {
        queue_capacity: 100,
        external_labels: Labels::from_pairs(&[("cluster", "test")]),
        relabel: None,
        registry,
        drain_timeout: promlite::notifier::DEFAULT_DRAIN_TIMEOUT,
    });
    notifier.set_alertmanagers(vec![AlertmanagerSet::new(vec![format!(
        "http://{addr}/api/v2/alerts"
    )])]);
    let n = notifier.clone();
    let sender = thread::spawn(move || n.run());

    // A sample every 50ms keeps the series fresh; high load first.
    let storage = Arc::new(MemStorage::new());
    let load = Labels::from_pairs(&[("__name__", "load"), ("job", "node")]);
    let writer_storage = storage.clone();
    let level = Arc::new(Mutex::new(5.0));
    let writer_level = level.clone();
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer_on = writing.clone();
    let writer = thread::spawn(move || {
        while writer_on.load(std::sync::atomic::Ordering::SeqCst) {
            let v = writer_level.lock().map(|g| *g).unwrap_or(0.0);
            writer_storage.insert(&load, now_millis(), v);
            thread::sleep(Duration::from_millis(50));
        }
    });

    let mut file = tempfile::NamedTempFile::new().expect("rule file");
    file.write_all(RULES.as_bytes()).expect("write rules");
    let qf = Arc::new(EngineQueryFunc {
        engine: Engine::new(EngineOpts::default()),
        queryable: storage.clone(),
    });
    let mut opts = ManagerOptions::new(storage.clone(), storage.clone(), qf);
    opts.registry = registry;
    opts.resend_delay = Duration::from_millis(200);
    opts.notify = Some(notify_func(
        notifier.clone(),
        "http://prom.example:9090".into(),
    ));
    let manager = RuleManager::new(opts);
    manager
        .update(
            60_000,
            &[file.path().to_string_lossy().to_string()],
            &Labels::empty(),
        )
        .expect("load rules");
    let m = manager.clone();
    let rules_thread = thread::spawn(move || m.run());

    let wait_for = |what: &str, pred: &dyn Fn(&[serde_json::Value]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = bodies.lock().map(|g| g.clone()).unwrap_or_default();
            if pred(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {got:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    };
    let firing = wait_for("firing alert", &|b| !b.is_empty());
    let a = &firing[0][0];
    assert_eq!(a["labels"]["alertname"], "HighLoad");
    assert_eq!(a["labels"]["job"], "node");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["labels"]["cluster"], "test");
    assert_eq!(a["annotations"]["summary"], "node load is 5");
    assert!(a["startsAt"].as_str().is_some_and(|s| s.ends_with('Z')));
    assert_eq!(
        a["generatorURL"],
        "http://prom.example:9090/graph?g0.expr=job%3Aload%3Amax+%3E+1&g0.tab=1"
    );
    let j = rules_json(&manager, &RulesFilter::default());
    assert_eq!(j["groups"][0]["rules"][1]["state"], "firing");

    // Load drops: the alert resolves and Alertmanager is told (endsAt in the past).
    if let Ok(mut l) = level.lock() {
        *l = 0.0;
    }
    wait_for("resolved alert", &|b| {
        b.iter().any(|body| {
            body[0]["endsAt"]
                .as_str()
                .is_some_and(|e| e.as_bytes() <= firing_now().as_bytes())
                && body[0]["labels"]["alertname"] == "HighLoad"
                && rules_state(&manager) == "inactive"
        })
    });

    manager.stop();
    rules_thread.join().expect("rules thread");
    notifier.stop();
    sender.join().expect("sender thread");
    writing.store(false, std::sync::atomic::Ordering::SeqCst);
    writer.join().expect("writer thread");
    stop_rx.store(true, std::sync::atomic::Ordering::SeqCst);
    receiver.join().expect("receiver thread");
}

fn firing_now() -> String {
    promlite::notifier::format_am_time(now_millis())
}

fn rules_state(m: &RuleManager) -> String {
    rules_json(m, &RulesFilter::default())["groups"][0]["rules"][1]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

const BIN_RULES: &str = "groups:\n  - name: restart\n    rules:\n      - alert: StaysFiring\n        expr: e2e_rules_metric > 1\n        for: 4s\n        labels:\n          severity: page\n        annotations:\n          summary: 'value {{ $value }}'\n";

fn alert_state(p: &Promlite, name: &str) -> Option<String> {
    let v = p.get("/api/v1/alerts").json();
    v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .and_then(|a| a["state"].as_str())
        .map(str::to_string)
}

#[test]
fn file_discovered_alertmanager_and_firing_survives_restart() {
    let target = TestServer::start(|_, path, _| {
        if path.starts_with("/metrics") {
            (200, "e2e_rules_metric 7\n".to_string())
        } else {
            (404, String::new())
        }
    });
    let received: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::new(Mutex::new(Vec::new()));
    let rec = received.clone();
    let am = TestServer::start(move |method, path, body| {
        if method == "POST" {
            if let (Ok(v), Ok(mut g)) = (serde_json::from_slice(&body), rec.lock()) {
                g.push((path.to_string(), v));
            }
        }
        (200, String::new())
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, BIN_RULES).expect("write rules");
    let sd = dir.path().join("am.json");
    std::fs::write(
        &sd,
        format!(
            "[{{\"targets\": [\"127.0.0.1:{}\", \"127.0.0.1:1\"], \"labels\": {{\"dc\": \"x\"}}}}]",
            am.port
        ),
    )
    .expect("write file sd");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\nalerting:\n  alertmanagers:\n    - path_prefix: /prefix\n      file_sd_configs:\n        - files: ['{}']\n          refresh_interval: 1s\n      relabel_configs:\n        - source_labels: [__address__]\n          regex: '127.0.0.1:1'\n          action: drop\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        rules.display(),
        sd.display(),
        target.port
    );
    // Default flags: `for: 4s` is below the 10m grace period, where upstream
    // would not restore the alert and it would be pending again.
    let p = Promlite::start_in(dir, &config, &[]);
    let wait = Duration::from_secs(30);
    p.wait_for(wait, |p| {
        alert_state(p, "StaysFiring").filter(|s| s == "firing")
    })
    .expect("StaysFiring never fired");
    let (path, body) = p
        .wait_for(wait, |_| {
            received.lock().ok().and_then(|g| {
                g.iter()
                    .find(|(_, b)| b[0]["labels"]["alertname"] == "StaysFiring")
                    .cloned()
            })
        })
        .expect("the file-discovered Alertmanager never got StaysFiring");
    assert_eq!(path, "/prefix/api/v2/alerts");
    assert_eq!(body[0]["labels"]["severity"], "page");
    assert_eq!(body[0]["annotations"]["summary"], "value 7");
    let ams = p.get("/api/v1/alertmanagers").json();
    assert_eq!(
        ams["data"]["activeAlertmanagers"],
        serde_json::json!([{"url": format!("http://127.0.0.1:{}/prefix/api/v2/alerts", am.port)}])
    );
    assert_eq!(
        ams["data"]["droppedAlertmanagers"],
        serde_json::json!([{"url": "http://127.0.0.1:1/prefix/api/v2/alerts"}])
    );
    // Let ALERTS_FOR_STATE record it, then restart: the first state seen
    // after the restart must already be firing.
    thread::sleep(Duration::from_millis(1500));
    let dir = p.stop_and_keep_dir();
    let p = Promlite::start_in(dir, &config, &[]);
    let first = p
        .wait_for(wait, |p| alert_state(p, "StaysFiring"))
        .expect("StaysFiring missing after restart");
    assert_eq!(first, "firing", "a firing alert came back as {first}");
}

#[test]
fn alertmanager_tls_ca_is_refused_not_ignored() {
    // A custom CA would silently be ignored by the notifier: start-up fails instead.
    let config = "alerting:\n  alertmanagers:\n    - scheme: https\n      tls_config:\n        ca_file: /nonexistent/ca.pem\n      static_configs:\n        - targets: ['127.0.0.1:9093']\n";
    let mut p = Promlite::spawn(config, &[]);
    let status = p.wait_exit(Duration::from_secs(20));
    assert!(
        !status.success(),
        "promlite started with an unsupported tls_config"
    );
    let err = p.stderr();
    assert!(
        err.contains("tls_config with ca, cert or key is not supported by promlite"),
        "{err}"
    );
}
