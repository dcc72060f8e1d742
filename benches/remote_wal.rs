//! WAL-tailing throughput of remote write: a WAL directory in upstream's
//! format (100,000 samples over 1,000 series, snappy-compressed records) is
//! read from its start by the queue's tail — segment reading, record
//! decoding, series lookup and external labels — without sending.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use promlite::model::Labels;
use promlite::storage::remote::progress::SavedProgress;
use promlite::storage::remote::settings::WriteRelabel;
use promlite::storage::remote::wal::WalPosition;
use promlite::storage::remote::watcher::{ReplayLimits, WalTail};
use promlite::storage::remote::WalDir;
use promlite::telemetry::Counter;
use promlite::tsdb::wal::record::{encode_samples, encode_series, RefSample};
use promlite::tsdb::wal::{Wal, WalOptions};

const SERIES: u64 = 1000;
const ROUNDS: i64 = 100;

fn write_wal(dir: &std::path::Path) {
    let wal = Wal::open(dir, WalOptions::default()).expect("open WAL");
    let labels: Vec<(u64, Labels)> = (0..SERIES)
        .map(|r| {
            (
                r,
                Labels::from_pairs(&[
                    ("__name__", "node_cpu_seconds_total"),
                    ("cpu", &(r % 8).to_string()),
                    ("instance", &format!("host-{}:9100", r / 8)),
                    ("job", "node"),
                ]),
            )
        })
        .collect();
    let mut buf = Vec::new();
    encode_series(labels.iter().map(|(r, l)| (*r, l)), &mut buf);
    wal.log(&[&buf]).expect("log series");
    for round in 0..ROUNDS {
        let samples: Vec<RefSample> = (0..SERIES)
            .map(|r| RefSample {
                series_ref: r,
                t: 1_700_000_000_000 + round * 15_000,
                v: (round * r as i64) as f64,
            })
            .collect();
        buf.clear();
        encode_samples(&samples, &mut buf);
        wal.log(&[&buf]).expect("log samples");
    }
    wal.close().expect("close WAL");
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_wal(dir.path());
    let mut g = c.benchmark_group("remote_wal");
    g.throughput(Throughput::Elements(SERIES * ROUNDS as u64));
    g.bench_function("tail_100k_samples", |b| {
        b.iter(|| {
            let mut tail = WalTail::open(
                Arc::new(WalDir::new(dir.path())),
                "bench",
                Some(SavedProgress {
                    position: WalPosition::new(0, 0),
                    saved_at_ms: 0,
                }),
                ReplayLimits {
                    max_age: Duration::ZERO,
                    max_bytes: u64::MAX,
                },
                Duration::ZERO,
                Labels::from_pairs(&[("cluster", "c1")]),
                WriteRelabel::default(),
                Counter::default(),
            )
            .expect("open tail");
            let mut n = 0usize;
            while let Ok(Some(records)) = tail.next(1 << 20) {
                n += records.iter().map(|r| r.samples.len()).sum::<usize>();
            }
            assert_eq!(n as u64, SERIES * ROUNDS as u64);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
