//! Agent mode's data path: appends into the WAL-only `AgentStorage`, a
//! remote-write queue tailing its WAL, and truncation that never removes
//! what the queue has not delivered.

use crate::remote_support;

use std::time::Duration;

use promlite::model::Labels;
use promlite::storage::remote::codec::decode_write_request;
use promlite::storage::remote::{
    AgentOptions, AgentRetention, AgentStorage, QueueOptions, RemoteConfig, RemoteStorage,
    RemoteWriteSettings,
};
use promlite::storage::Appendable;
use remote_support::{status, wait_until, Endpoint};

fn delivered(ep: &Endpoint) -> usize {
    ep.recorded()
        .iter()
        .filter(|r| r.status < 300)
        .map(|r| {
            decode_write_request(&r.body)
                .map(|w| w.timeseries.iter().map(|t| t.samples.len()).sum::<usize>())
                .unwrap_or(0)
        })
        .sum()
}

#[test]
fn scrape_to_wal_to_remote_write_with_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentStorage::open(
        dir.path(),
        AgentOptions {
            segment_size: 32 * 1024,
            compress: true,
        },
    )
    .unwrap();
    let ep = Endpoint::start("/api/v1/write", status(503));
    let remote = RemoteStorage::new(
        agent.wal_reader(),
        QueueOptions {
            poll_interval: Duration::from_millis(10),
            flush_deadline: Duration::from_millis(200),
            ..QueueOptions::default()
        },
    );
    let mut w = RemoteWriteSettings::new(&ep.url);
    w.queue.batch_send_deadline = Duration::from_millis(20);
    w.queue.min_backoff = Duration::from_millis(5);
    w.queue.max_backoff = Duration::from_millis(10);
    remote
        .apply_remote_config(&RemoteConfig {
            external_labels: Labels::empty(),
            remote_write: vec![w],
            remote_read: vec![],
        })
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || remote
        .queues()
        .iter()
        .all(|q| q.is_started())));

    let now = promlite::model::value::now_millis();
    let scrape = |round: i64| {
        let mut app = agent.appender();
        for i in 0..50 {
            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
            app.append(0, &l, now + round, round as f64).unwrap();
        }
        app.commit().unwrap();
        remote.notify();
    };
    // Receiver down: truncation must keep everything not delivered.
    for round in 0..100 {
        scrape(round);
    }
    agent
        .truncate(now + 1000, remote.lowest_delivered())
        .unwrap();
    ep.set_handler(status(204));
    for round in 100..200 {
        scrape(round);
    }
    assert!(
        wait_until(Duration::from_secs(15), || delivered(&ep) >= 10_000),
        "delivered {}",
        delivered(&ep)
    );
    // Everything delivered: now the closed segments can go.
    let stats = agent
        .truncate(now + 150, remote.lowest_delivered())
        .unwrap();
    assert!(stats.checkpoint.is_some());
    remote.close();
    agent.close().unwrap();
    assert_eq!(delivered(&ep), 10_000, "every sample once");
}

#[test]
fn series_are_collected_once_every_queue_has_sent_past_them() {
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentStorage::open(dir.path(), AgentOptions::default()).unwrap();
    let ep = Endpoint::start("/api/v1/write", status(503));
    let remote = RemoteStorage::new(
        agent.wal_reader(),
        QueueOptions {
            poll_interval: Duration::from_millis(10),
            flush_deadline: Duration::from_millis(200),
            ..QueueOptions::default()
        },
    );
    let mut w = RemoteWriteSettings::new(&ep.url);
    w.queue.batch_send_deadline = Duration::from_millis(20);
    w.queue.min_backoff = Duration::from_millis(5);
    w.queue.max_backoff = Duration::from_millis(10);
    remote
        .apply_remote_config(&RemoteConfig {
            external_labels: Labels::empty(),
            remote_write: vec![w],
            remote_read: vec![],
        })
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || remote
        .queues()
        .iter()
        .all(|q| q.is_started())));
    let now = promlite::model::value::now_millis();
    let mut app = agent.appender();
    // Idle for 20 minutes: inside max-time (4 h), past min-time (5 m).
    app.append(
        0,
        &Labels::from_pairs(&[("__name__", "idle")]),
        now - 1_200_000,
        1.0,
    )
    .unwrap();
    app.append(0, &Labels::from_pairs(&[("__name__", "live")]), now, 1.0)
        .unwrap();
    app.commit().unwrap();
    remote.notify();
    let retention = AgentRetention::default();

    // The receiver is down: nothing was sent, so only max-time applies and
    // both series stay.
    assert!(wait_until(Duration::from_secs(10), || ep.count() > 0));
    let stats = agent.truncate_for(&remote, retention).unwrap();
    assert_eq!(stats.series_removed, 0, "kept while no queue sent past it");
    assert_eq!(agent.num_series(), 2);

    // Sent: the idle series is collected, the live one stays.
    ep.set_handler(status(204));
    assert!(wait_until(Duration::from_secs(10), || delivered(&ep) == 2));
    let stats = agent.truncate_for(&remote, retention).unwrap();
    assert_eq!(stats.series_removed, 1);
    assert_eq!(agent.num_series(), 1);
    remote.close();
    agent.close().unwrap();
}

#[test]
fn agent_flags_default_to_data_agent_and_the_server_path_is_unused() {
    let Ok(promlite::cli::Command::Run(f)) = promlite::cli::parse(["--agent"]) else {
        panic!("--agent parses");
    };
    assert!(f.agent);
    assert_eq!(f.storage_path(), "data-agent/");
    let Ok(promlite::cli::Command::Run(f)) = promlite::cli::parse(Vec::<String>::new()) else {
        panic!("no flags parse");
    };
    assert_eq!(f.storage_path(), "data/");
}

#[test]
fn agent_refuses_rules_alerting_and_remote_read_in_its_config() {
    // No rule evaluation in agent mode: a config that asks for it is an
    // invalid config (exit 2), as upstream's agent says.
    for (section, yaml) in [
        ("rule_files", "rule_files: ['rules.yml']\n"),
        (
            "alerting",
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:9093']\n",
        ),
        (
            "remote_read",
            "remote_read:\n  - url: http://127.0.0.1:9/api/v1/read\n",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, yaml).unwrap();
        let (code, _, err) = crate::common::run_to_exit(&[
            "--agent",
            &format!("--config.file={}", cfg.display()),
            &format!(
                "--storage.agent.path={}",
                dir.path().join("data").display()
            ),
            &format!(
                "--web.listen-address=127.0.0.1:{}",
                crate::common::free_port()
            ),
        ]);
        assert_eq!(code, 2, "{section}: {err}");
        assert!(
            err.contains(&format!("field {section} is not allowed in agent mode")),
            "{section}: {err}"
        );
    }
}

#[test]
fn agent_with_the_receiver_relays_remote_write() {
    use promlite::storage::remote::codec::{encode_write_request, labels_to_proto};
    use promlite::storage::remote::prompb::{Sample, TimeSeries, WriteRequest};

    let ep = Endpoint::start("/receive", status(204));
    let config = format!(
        "remote_write:\n  - url: {}\n    queue_config:\n      batch_send_deadline: 100ms\n    metadata_config:\n      send: false\n",
        ep.url
    );
    let p =
        crate::common::Promlite::start(&config, &["--agent", "--web.enable-remote-write-receiver"]);
    let t = promlite::model::value::now_millis();
    let body = encode_write_request(
        &WriteRequest {
            timeseries: vec![TimeSeries {
                labels: labels_to_proto(&Labels::from_pairs(&[
                    ("__name__", "relayed"),
                    ("via", "agent"),
                ])),
                samples: vec![Sample {
                    value: 4.5,
                    timestamp: t,
                }],
                exemplars: Vec::new(),
            }],
            metadata: Vec::new(),
        },
        &mut Vec::new(),
    )
    .unwrap();
    // The queue starts at the WAL's end: write once it is positioned.
    assert!(wait_until(Duration::from_secs(10), || {
        crate::common::http_request(p.port, "GET", "/metrics", &[], b"")
            .map(|r| {
                // The shard count is set once the queue has positioned itself.
                String::from_utf8_lossy(&r.body).lines().any(|l| {
                    l.starts_with("prometheus_remote_storage_shards{") && l.ends_with(" 1")
                })
            })
            .unwrap_or(false)
    }));
    let r = p.request(
        "POST",
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
        ],
        &body,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let got = wait_until(Duration::from_secs(15), || {
        ep.recorded().iter().any(|r| {
            decode_write_request(&r.body).is_ok_and(|w| {
                w.timeseries.iter().any(|ts| {
                    ts.labels.iter().any(|l| l.value == "relayed")
                        && ts
                            .samples
                            .iter()
                            .any(|s| s.timestamp == t && s.value == 4.5)
                })
            })
        })
    });
    assert!(got, "the agent forwarded what it received");
}
