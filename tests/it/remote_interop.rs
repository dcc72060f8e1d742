//! Interoperability with a real upstream Prometheus on 127.0.0.1 (binary from
//! `PROMLITE_PROMETHEUS_BIN`, default `/usr/bin/prometheus`; the tests print
//! that they skip when it is absent): promlite's queue remote-writes into
//! Prometheus' receiver; Prometheus remote-writes into promlite's receiver;
//! Prometheus remote-reads from promlite's read handler.

use crate::remote_support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use promlite::model::Labels;
use promlite::storage::memory::MemStorage;
use promlite::storage::remote::wal::{MemWal, RefSample, RefSeries};
use promlite::storage::remote::{
    handle_read, handle_write, QueueManager, QueueOptions, ReadHandlerSettings, RemoteWriteSettings,
};
use promlite::storage::Queryable;
use remote_support::{wait_until, Endpoint};

fn prometheus_bin() -> Option<PathBuf> {
    let p = PathBuf::from(
        std::env::var("PROMLITE_PROMETHEUS_BIN").unwrap_or_else(|_| "/usr/bin/prometheus".into()),
    );
    if p.exists() {
        Some(p)
    } else {
        println!("skipping: no Prometheus binary at {}", p.display());
        None
    }
}

/// A running upstream Prometheus, killed on drop.
struct Upstream {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Upstream {
    fn start(bin: &PathBuf, config: &str) -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, config.replace("{SELF}", &format!("127.0.0.1:{port}"))).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let up = Upstream {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let ready = wait_until(Duration::from_secs(30), || {
            ureq::get(&format!("{}/-/ready", up.base))
                .call()
                .map(|r| r.status() == 200)
                .unwrap_or(false)
        });
        assert!(ready, "prometheus became ready");
        up
    }

    /// The first value of an instant query's vector result.
    fn query(&self, q: &str) -> Option<f64> {
        let mut resp = ureq::get(&format!("{}/api/v1/query", self.base))
            .query("query", q)
            .call()
            .ok()?;
        let body: serde_json::Value =
            serde_json::from_str(&resp.body_mut().read_to_string().ok()?).ok()?;
        body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn promlite_remote_writes_into_prometheus() {
    let Some(bin) = prometheus_bin() else { return };
    let up = Upstream::start(&bin, "global: {}\n");
    let wal = MemWal::new();
    wal.log_series(&[RefSeries {
        series_ref: 1,
        labels: Labels::from_pairs(&[("__name__", "interop_total"), ("job", "promlite")]),
    }]);
    let mut s = RemoteWriteSettings::new(format!("{}/api/v1/write", up.base));
    s.queue.batch_send_deadline = Duration::from_millis(50);
    let q = QueueManager::start(
        s,
        Labels::from_pairs(&[("replica", "a")]),
        Arc::new(wal.clone()),
        QueueOptions {
            poll_interval: Duration::from_millis(10),
            ..QueueOptions::default()
        },
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(10), || q.is_started()));
    let now = promlite::model::value::now_millis();
    let samples: Vec<RefSample> = (0..60)
        .map(|i| RefSample {
            series_ref: 1,
            t: now - 60_000 + i * 1000,
            v: i as f64,
        })
        .collect();
    wal.log_samples(&samples);
    q.notify();
    let got = wait_until(Duration::from_secs(20), || {
        up.query(r#"count_over_time(interop_total{replica="a",job="promlite"}[5m])"#) == Some(60.0)
    });
    q.stop();
    assert!(got, "Prometheus holds all 60 samples");
    assert_eq!(
        up.query(r#"max_over_time(interop_total[5m])"#),
        Some(59.0),
        "same values"
    );
}

#[test]
fn prometheus_remote_writes_into_promlite() {
    let Some(bin) = prometheus_bin() else { return };
    let store = MemStorage::new();
    let sink = store.clone();
    let ep = Endpoint::start("/api/v1/write", move |headers, body| {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = handle_write(body, &h, &sink);
        (r.status, Vec::new(), r.body)
    });
    let _up = Upstream::start(
        &bin,
        &format!(
            r#"
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ["{{SELF}}"]}}]
remote_write:
  - url: {}
    queue_config: {{batch_send_deadline: 500ms}}
"#,
            ep.url
        ),
    );
    let up_series = || {
        let q = store.querier(0, i64::MAX).unwrap();
        let m = promlite::model::Matcher::new(promlite::model::MatchType::Equal, "__name__", "up")
            .unwrap();
        q.select(true, None, &[m]).unwrap().count()
    };
    assert!(
        wait_until(Duration::from_secs(30), || up_series() == 1),
        "promlite received Prometheus' own `up` series"
    );
    let recs = ep.recorded();
    assert!(
        recs.iter().all(|r| r.status == 204),
        "every request accepted"
    );
    assert!(store.num_series() > 50, "{} series", store.num_series());
}

#[test]
fn prometheus_remote_reads_from_promlite() {
    let Some(bin) = prometheus_bin() else { return };
    let store = MemStorage::new();
    let now = promlite::model::value::now_millis();
    let l = Labels::from_pairs(&[("__name__", "promlite_only"), ("job", "x")]);
    for i in 0..10 {
        store.insert(&l, now - 60_000 + i * 5000, 42.0 + i as f64);
    }
    let source = store.clone();
    let settings = ReadHandlerSettings::default();
    let ep = Endpoint::start("/api/v1/read", move |_, body| {
        let r = handle_read(body, &source, &settings);
        let headers = r
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        (r.status, headers, r.body)
    });
    let up = Upstream::start(
        &bin,
        &format!("remote_read:\n  - url: {}\n    read_recent: true\n", ep.url),
    );
    assert_eq!(
        up.query("max_over_time(promlite_only[5m])"),
        Some(51.0),
        "Prometheus answers with promlite's data"
    );
    assert_eq!(up.query("count_over_time(promlite_only[5m])"), Some(10.0));
}

#[test]
fn agent_storage_feeds_a_real_prometheus() {
    use promlite::storage::remote::{AgentOptions, AgentStorage, RemoteConfig, RemoteStorage};
    use promlite::storage::Appendable;

    let Some(bin) = prometheus_bin() else { return };
    let up = Upstream::start(&bin, "global: {}\n");
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentStorage::open(dir.path(), AgentOptions::default()).unwrap();
    let remote = RemoteStorage::new(
        agent.wal_reader(),
        QueueOptions {
            poll_interval: Duration::from_millis(10),
            ..QueueOptions::default()
        },
    );
    let mut w = RemoteWriteSettings::new(format!("{}/api/v1/write", up.base));
    w.queue.batch_send_deadline = Duration::from_millis(50);
    remote
        .apply_remote_config(&RemoteConfig {
            external_labels: Labels::from_pairs(&[("agent", "promlite")]),
            remote_write: vec![w],
            remote_read: vec![],
        })
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || remote
        .queues()
        .iter()
        .all(|q| q.is_started())));
    let now = promlite::model::value::now_millis();
    for round in 0..20i64 {
        let mut app = agent.appender();
        for i in 0..5 {
            let l = Labels::from_pairs(&[("__name__", "agent_metric"), ("i", &i.to_string())]);
            app.append(0, &l, now - 30_000 + round * 1000, round as f64)
                .unwrap();
        }
        app.commit().unwrap();
        remote.notify();
    }
    let got = wait_until(Duration::from_secs(20), || {
        up.query(r#"sum(count_over_time(agent_metric{agent="promlite"}[5m]))"#) == Some(100.0)
    });
    remote.close();
    agent.close().unwrap();
    assert!(got, "Prometheus holds the agent's 100 samples");
}
