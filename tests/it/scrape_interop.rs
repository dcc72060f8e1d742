//! Interop: scrape a real `prometheus-node-exporter` (started by this test on
//! a free 127.0.0.1 port) and check that its series are stored and `up` is 1.
//! Ignored by default because it runs an external binary; `make interop` runs
//! it with `cargo test --test scrape_interop -- --ignored`. The binary is
//! `$PROMLITE_NODE_EXPORTER` or `prometheus-node-exporter` on `PATH`; when
//! absent the test says so and returns.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use promlite::discovery::{TargetGroup, TargetSets};
use promlite::model::{Labels, MatchType, Matcher};
use promlite::scrape::{PoolConfig, ScrapeManager, ScrapeOptions};
use promlite::storage::memory::MemStorage;
use promlite::storage::Queryable;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn count(s: &MemStorage, m: Matcher) -> Vec<f64> {
    let q = s
        .querier(i64::MIN, i64::MAX)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    for series in q
        .select(false, None, &[m])
        .unwrap_or_else(|e| panic!("{e}"))
    {
        let series = series.unwrap_or_else(|e| panic!("{e}"));
        let mut it = series.iterator();
        while let Some((_, v)) = it.next() {
            out.push(v);
        }
    }
    out
}

#[test]
#[ignore = "runs prometheus-node-exporter; part of make interop"]
fn scrapes_node_exporter() {
    let bin = std::env::var("PROMLITE_NODE_EXPORTER")
        .unwrap_or_else(|_| "prometheus-node-exporter".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = format!("127.0.0.1:{port}");
    let child = match Command::new(&bin)
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => KillOnDrop(c),
        Err(e) => {
            eprintln!("skipping: cannot start {bin}: {e}");
            return;
        }
    };

    let storage = MemStorage::new();
    let mgr = Arc::new(ScrapeManager::new(
        Arc::new(storage.clone()),
        ScrapeOptions {
            workers: 2,
            offset_seed: 0,
        },
    ));
    let mut cfg = PoolConfig::new("node");
    cfg.scrape_interval = Duration::from_millis(500);
    cfg.scrape_timeout = Duration::from_millis(450);
    mgr.apply_config(vec![cfg])
        .unwrap_or_else(|e| panic!("{e}"));
    let (tx, rx) = bounded(1);
    let _ = tx.send(TargetSets::from([(
        "node".to_string(),
        vec![TargetGroup {
            source: "0".into(),
            targets: vec![Labels::from_pairs(&[("__address__", &addr)])],
            labels: Labels::empty(),
        }],
    )]));
    let runner = {
        let mgr = mgr.clone();
        std::thread::spawn(move || mgr.run(rx))
    };
    let up = || {
        count(
            &storage,
            Matcher::new(MatchType::Equal, "__name__", "up").unwrap_or_else(|e| panic!("{e}")),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && !up().contains(&1.0) {
        std::thread::sleep(Duration::from_millis(100));
    }
    mgr.stop();
    let _ = runner.join();
    drop(child);

    assert!(
        up().contains(&1.0),
        "node exporter never scraped successfully: up = {:?}",
        up()
    );
    let node = count(
        &storage,
        Matcher::new(MatchType::Regex, "__name__", "node_.+").unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(node.len() > 50, "only {} node_* samples stored", node.len());
    let go = count(
        &storage,
        Matcher::new(MatchType::Equal, "__name__", "go_goroutines")
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(!go.is_empty());
}
