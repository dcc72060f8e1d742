//! Remote write from a real WAL directory in upstream's format (written by
//! the TSDB's WAL writer with tiny segments, so rotation is frequent):
//! every sample arrives across segment cuts, checkpoints and truncation
//! under the tail, and a receiver outage that outlasts a restart is replayed.

use crate::remote_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use promlite::model::Labels;
use promlite::storage::remote::codec::decode_write_request;
use promlite::storage::remote::{QueueManager, QueueOptions, RemoteWriteSettings, WalDir};
use promlite::tsdb::wal::record::{encode_samples, encode_series, RefSample};
use promlite::tsdb::wal::{checkpoint, Wal, WalOptions};
use remote_support::{status, wait_until, Endpoint, Recorded};

// Generous: a loaded 2-core CI machine delivered 29,600 of 30,000 samples in 15 s once.
const WAIT: Duration = Duration::from_secs(60);

fn open_wal(dir: &Path) -> Wal {
    Wal::open(
        dir,
        WalOptions {
            segment_size: 64 * 1024,
            compress: false,
        },
    )
    .unwrap()
}

fn log_series(wal: &Wal, refs: std::ops::Range<u64>) {
    let labels: Vec<(u64, Labels)> = refs
        .map(|r| {
            (
                r,
                Labels::from_pairs(&[("__name__", "m"), ("id", &r.to_string())]),
            )
        })
        .collect();
    let mut buf = Vec::new();
    encode_series(labels.iter().map(|(r, l)| (*r, l)), &mut buf);
    wal.log(&[&buf]).unwrap();
}

/// Logs one samples record per call: every ref in `refs` at time `t`.
fn log_samples(wal: &Wal, refs: std::ops::Range<u64>, t: i64) {
    let samples: Vec<RefSample> = refs
        .map(|r| RefSample {
            series_ref: r,
            t,
            v: r as f64,
        })
        .collect();
    let mut buf = Vec::new();
    encode_samples(&samples, &mut buf);
    wal.log(&[&buf]).unwrap();
}

fn settings(url: &str) -> RemoteWriteSettings {
    let mut s = RemoteWriteSettings::new(url);
    s.queue.batch_send_deadline = Duration::from_millis(20);
    s.queue.min_backoff = Duration::from_millis(5);
    s.queue.max_backoff = Duration::from_millis(20);
    s.queue.max_samples_per_send = 500;
    s.http.timeout = Duration::from_secs(5);
    s
}

/// Distinct (id, t) delivered with 2xx, and the total count with duplicates.
fn delivered(reqs: &[Recorded]) -> (BTreeSet<(String, i64)>, usize) {
    let mut set = BTreeSet::new();
    let mut n = 0;
    for r in reqs.iter().filter(|r| r.status < 300) {
        for ts in decode_write_request(&r.body).unwrap().timeseries {
            let id = ts
                .labels
                .iter()
                .find(|l| l.name == "id")
                .map(|l| l.value.clone())
                .unwrap_or_default();
            for s in ts.samples {
                set.insert((id.clone(), s.timestamp));
                n += 1;
            }
        }
    }
    (set, n)
}

#[test]
fn follows_rotation_and_checkpoints_of_a_real_wal() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open_wal(dir.path());
    log_series(&wal, 0..100);
    let ep = Endpoint::start("/w", status(204));
    let opts = QueueOptions {
        poll_interval: Duration::from_millis(10),
        ..QueueOptions::default()
    };
    let q = QueueManager::start(
        settings(&ep.url),
        Labels::empty(),
        Arc::new(WalDir::new(dir.path())),
        opts,
    )
    .unwrap();
    assert!(wait_until(WAIT, || q.is_started()));
    let base = promlite::model::value::now_millis();
    for i in 0..300 {
        log_samples(&wal, 0..100, base + i);
        if i == 100 {
            // The head truncates: checkpoint the closed segments (keeping
            // every series) and delete them, under the running tail. As
            // upstream's, promlite's head deletes segments without asking
            // the queues (their data is an hour old by then), so the tail
            // must have read them first: under load it may still be behind.
            q.notify();
            assert!(wait_until(WAIT, || delivered(&ep.recorded()).0.len() >= 10_100));
            let cut = wal.next_segment().unwrap();
            checkpoint::checkpoint(dir.path(), 0, cut - 1, &|_| true, 0, true).unwrap();
            wal.truncate(cut).unwrap();
        }
    }
    assert!(wal.current_segment() > 3, "rotated several times");
    q.notify();
    let all = wait_until(WAIT, || delivered(&ep.recorded()).0.len() == 30_000);
    // Upstream's watcher gauge follows the segment being read.
    let line = format!(
        "prometheus_wal_watcher_current_segment{{consumer=\"{}\"}} {}\n",
        q.settings().remote_name(),
        wal.current_segment()
    );
    let followed = wait_until(WAIT, || {
        promlite::telemetry::global().render().contains(&line)
    });
    q.stop();
    let (set, n) = delivered(&ep.recorded());
    assert!(all, "delivered {} of 30000", set.len());
    assert_eq!(n, 30_000, "no duplicates without failures");
    assert!(followed, "{line:?} not exported");
}

#[test]
fn outage_across_restart_replays_from_a_real_wal() {
    let dir = tempfile::tempdir().unwrap();
    let progress = tempfile::tempdir().unwrap();
    let wal = open_wal(dir.path());
    log_series(&wal, 0..10);
    let ep = Endpoint::start("/w", status(204));
    let opts = QueueOptions {
        poll_interval: Duration::from_millis(10),
        flush_deadline: Duration::from_millis(200),
        progress_dir: Some(progress.path().to_path_buf()),
        ..QueueOptions::default()
    };
    let start = || {
        let q = QueueManager::start(
            settings(&ep.url),
            Labels::empty(),
            Arc::new(WalDir::new(dir.path())),
            opts.clone(),
        )
        .unwrap();
        assert!(wait_until(WAIT, || q.is_started()));
        q
    };
    let base = promlite::model::value::now_millis() - 60_000;
    let q = start();
    for i in 0..50 {
        log_samples(&wal, 0..10, base + i);
    }
    q.notify();
    assert!(wait_until(WAIT, || delivered(&ep.recorded()).0.len() == 500));

    ep.set_handler(status(503));
    for i in 50..300 {
        log_samples(&wal, 0..10, base + i);
    }
    q.notify();
    assert!(wait_until(WAIT, || ep
        .recorded()
        .iter()
        .any(|r| r.status == 503)));
    q.stop();

    // promlite restarts (the WAL writer too) while the receiver is down.
    drop(wal);
    let wal = open_wal(dir.path());
    let q = start();
    for i in 300..400 {
        log_samples(&wal, 0..10, base + i);
    }
    std::thread::sleep(Duration::from_millis(100));
    ep.set_handler(status(204));
    q.notify();
    let all = wait_until(WAIT, || delivered(&ep.recorded()).0.len() == 4000);
    q.stop();
    let (set, n) = delivered(&ep.recorded());
    assert!(all, "delivered {} of 4000 distinct samples", set.len());
    assert!(n - 4000 <= 500, "{} duplicates", n - 4000);
}

#[test]
fn a_damaged_closed_segment_is_skipped_not_fatal() {
    use promlite::storage::remote::progress::SavedProgress;
    use promlite::storage::remote::settings::WriteRelabel;
    use promlite::storage::remote::wal::WalPosition;
    use promlite::storage::remote::watcher::{ReplayLimits, WalTail};

    let dir = tempfile::tempdir().unwrap();
    let wal = open_wal(dir.path());
    log_series(&wal, 0..3);
    let now = promlite::model::value::now_millis();
    log_samples(&wal, 0..3, now);
    log_samples(&wal, 0..3, now + 1);
    wal.next_segment().unwrap();
    log_samples(&wal, 0..3, now + 2);
    wal.close().unwrap();
    // Flip a byte inside the last record of segment 0: its CRC fails.
    let seg0 = dir.path().join("00000000");
    let mut bytes = std::fs::read(&seg0).unwrap();
    let last_nonzero = bytes.iter().rposition(|b| *b != 0).unwrap();
    bytes[last_nonzero] ^= 0xff;
    std::fs::write(&seg0, bytes).unwrap();

    let mut tail = WalTail::open(
        Arc::new(WalDir::new(dir.path())),
        "damaged",
        Some(SavedProgress {
            position: WalPosition::new(0, 0),
            saved_at_ms: 0,
        }),
        ReplayLimits::default(),
        Duration::ZERO,
        Labels::empty(),
        WriteRelabel::default(),
        promlite::telemetry::Counter::default(),
    )
    .unwrap();
    let mut ts = Vec::new();
    for _ in 0..20 {
        match tail.next(1 << 20) {
            Ok(Some(records)) => {
                ts.extend(records.iter().flat_map(|r| r.samples.iter().map(|s| s.t)))
            }
            Ok(None) => break,
            Err(e) => panic!("tail stopped: {e}"),
        }
    }
    assert_eq!(
        ts.iter().filter(|t| **t == now).count(),
        3,
        "before the damage"
    );
    assert_eq!(
        ts.iter().filter(|t| **t == now + 1).count(),
        0,
        "the damaged record"
    );
    assert_eq!(
        ts.iter().filter(|t| **t == now + 2).count(),
        3,
        "the next segment"
    );
}
