//! Agent mode's data path: appends into the WAL-only `AgentStorage`, a
//! remote-write queue tailing its WAL, and truncation that never removes
//! what the queue has not delivered.

use crate::remote_support;

use std::time::Duration;

use promlite::model::Labels;
use promlite::storage::remote::codec::decode_write_request;
use promlite::storage::remote::{
    AgentOptions, AgentStorage, QueueOptions, RemoteConfig, RemoteStorage, RemoteWriteSettings,
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
