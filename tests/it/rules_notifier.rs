//! The notifier against a tiny_http Alertmanager stand-in on 127.0.0.1:
//! batches of at most 64, upstream's JSON, auth headers, and resilience to
//! an Alertmanager that is down.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use promlite::model::Labels;
use promlite::notifier::{Alert, AlertmanagerSet, Auth, NotifierManager, NotifierOptions};
use promlite::telemetry::Registry;

struct Received {
    path: String,
    auth: Option<String>,
    body: serde_json::Value,
}

/// Starts a receiver answering 200 to `n` requests, returning what it saw.
fn receiver(n: usize) -> (String, thread::JoinHandle<Vec<Received>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind receiver");
    let addr = server.server_addr().to_ip().expect("ip addr");
    let h = thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..n {
            let Ok(Some(mut req)) = server.recv_timeout(Duration::from_secs(10)) else {
                break;
            };
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            got.push(Received {
                path: req.url().to_string(),
                auth: req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                    .map(|h| h.value.to_string()),
                body: serde_json::from_str(&body).unwrap_or_default(),
            });
            let _ = req.respond(tiny_http::Response::empty(200));
        }
        got
    });
    (format!("{addr}"), h)
}

fn alert(i: usize) -> Alert {
    Alert {
        labels: Labels::from_pairs(&[("alertname", "HighLoad"), ("i", &i.to_string())]),
        annotations: Labels::from_pairs(&[("summary", "load is high")]),
        starts_at: 1_700_000_000_000,
        ends_at: 1_700_000_180_000,
        generator_url: "http://prom:9090/graph?g0.expr=up&g0.tab=1".into(),
    }
}

#[test]
fn posts_batches_with_upstream_json() {
    let (addr, h) = receiver(2);
    let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
    let n = NotifierManager::new(NotifierOptions {
        queue_capacity: 1000,
        external_labels: Labels::from_pairs(&[("cluster", "c1")]),
        relabel: None,
        registry,
        drain_timeout: promlite::notifier::DEFAULT_DRAIN_TIMEOUT,
    });
    n.set_alertmanagers(vec![AlertmanagerSet {
        timeout: Duration::from_secs(5),
        auth: Auth::Basic {
            username: "u".into(),
            password: "p".into(),
        },
        ..AlertmanagerSet::new(vec![promlite::notifier::alertmanager_url(
            "http", &addr, "/am",
        )])
    }]);
    n.send((0..70).map(alert).collect());
    let runner = Arc::clone(&n);
    let t = thread::spawn(move || runner.run());
    let got = h.join().expect("receiver");
    n.stop();
    t.join().expect("sender");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].path, "/am/api/v2/alerts");
    assert_eq!(got[0].auth.as_deref(), Some("Basic dTpw"));
    let first = got[0].body.as_array().map(|a| a.len());
    let second = got[1].body.as_array().map(|a| a.len());
    assert_eq!((first, second), (Some(64), Some(6)));
    let a = &got[0].body[0];
    assert_eq!(a["labels"]["cluster"], "c1");
    assert_eq!(a["labels"]["alertname"], "HighLoad");
    assert_eq!(a["annotations"]["summary"], "load is high");
    assert_eq!(a["startsAt"], "2023-11-14T22:13:20.000Z");
    assert_eq!(a["endsAt"], "2023-11-14T22:16:20.000Z");
    assert_eq!(
        a["generatorURL"],
        "http://prom:9090/graph?g0.expr=up&g0.tab=1"
    );
    let text = registry.render();
    assert!(
        text.contains("prometheus_notifications_sent_total{alertmanager=\"http://"),
        "{text}"
    );
    assert!(
        text.contains("prometheus_notifications_queue_capacity 1000"),
        "{text}"
    );
}

#[test]
fn unreachable_alertmanager_counts_errors_and_drops() {
    // Bind then close a port so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
    let n = NotifierManager::new(NotifierOptions {
        queue_capacity: 10,
        external_labels: Labels::empty(),
        relabel: None,
        registry,
        drain_timeout: promlite::notifier::DEFAULT_DRAIN_TIMEOUT,
    });
    let mut set = AlertmanagerSet::new(vec![format!("http://127.0.0.1:{port}/api/v2/alerts")]);
    set.timeout = Duration::from_secs(2);
    n.set_alertmanagers(vec![set]);
    assert_eq!(
        n.alertmanagers_json()["activeAlertmanagers"][0]["url"],
        format!("http://127.0.0.1:{port}/api/v2/alerts")
    );
    n.send(vec![alert(1), alert(2)]);
    n.stop();
    n.run();
    assert_eq!(n.queue_len(), 0);
    let text = registry.render();
    assert!(
        text.contains("prometheus_notifications_dropped_total 2"),
        "{text}"
    );
    assert!(
        text.contains("prometheus_notifications_errors_total{alertmanager="),
        "{text}"
    );
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn every_set_must_get_the_batch_and_set_relabeling_applies() {
    let (addr, h) = receiver(1);
    let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
    let n = NotifierManager::new(NotifierOptions {
        queue_capacity: 100,
        external_labels: Labels::empty(),
        relabel: None,
        registry,
        drain_timeout: promlite::notifier::DEFAULT_DRAIN_TIMEOUT,
    });
    // The reachable set's own alert_relabel_configs drop alert 1.
    let cfg: Vec<promlite::model::relabel::RelabelConfig> =
        serde_yaml::from_str("- source_labels: [i]\n  regex: '1'\n  action: drop\n")
            .expect("relabel config");
    let good = AlertmanagerSet {
        alert_relabel: cfg,
        ..AlertmanagerSet::new(vec![format!("http://{addr}/api/v2/alerts")])
    };
    let mut down = AlertmanagerSet::new(vec![format!(
        "http://127.0.0.1:{}/api/v2/alerts",
        closed_port()
    )]);
    down.timeout = Duration::from_secs(2);
    n.set_alertmanagers(vec![good, down]);
    n.send(vec![alert(1), alert(2), alert(3)]);
    n.stop();
    n.run();
    let got = h.join().expect("receiver");
    assert_eq!(got.len(), 1);
    let names: Vec<&str> = got[0]
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["labels"]["i"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["2", "3"]);
    // One set got nothing: upstream counts the whole batch as dropped.
    let text = registry.render();
    assert!(
        text.contains("prometheus_notifications_dropped_total 3"),
        "{text}"
    );
    assert_eq!(
        n.alertmanagers_json()["droppedAlertmanagers"],
        serde_json::json!([])
    );
}
