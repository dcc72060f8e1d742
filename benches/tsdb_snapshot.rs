//! Restart cost from a head chunk snapshot, shaped like peerbench's large
//! case: 100,000 series of 7 labels (50 targets × 2,000 series, job and
//! instance added by the scrape) × 60 samples at a 5 s interval, written by a
//! clean `Db::close`. `snapshot_open_*` times `Db::open` (the snapshot load
//! and the empty WAL tail after it), which is most of promlite's
//! exec-to-ready time. `SERIES` and `SAMPLES` in the environment change the
//! shape; `SNAPSHOT_DIR` keeps the data directory there (it must not exist
//! yet), e.g. to time a `promlite` start on it.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promlite::model::Labels;
use promlite::storage::Appendable;
use promlite::tsdb::{Db, DbOptions};

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const CODES: [&str; 5] = ["200", "201", "404", "500", "503"];

fn series_labels(i: usize) -> Labels {
    let target = i / 2000;
    let n = i % 2000;
    Labels::from_pairs(&[
        ("__name__", &format!("app_metric_{}_total", n % 10)),
        ("code", CODES[n % 5]),
        ("handler", &format!("/api/v1/resource{}", (n / 20) % 100)),
        ("instance", &format!("127.0.0.1:{}", 19100 + target)),
        ("job", "peerbench"),
        ("method", METHODS[(n / 5) % 4]),
        ("service", &format!("svc-{:02}", target)),
    ])
}

fn snapshot_open(c: &mut Criterion) {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let series_n = env("SERIES", 100_000);
    let samples_n = env("SAMPLES", 60) as i64;
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("SNAPSHOT_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => tmp.path().to_path_buf(),
    };
    {
        let db = Db::open(&dir, DbOptions::default()).unwrap();
        let lbls: Vec<Labels> = (0..series_n).map(series_labels).collect();
        let mut refs = vec![0u64; series_n];
        for t in 0..samples_n {
            let mut app = db.appender();
            for (i, r) in refs.iter_mut().enumerate() {
                // A counter with jitter in its increments, like the targets.
                let v = (t * (i as i64 % 7 + 1) + (t * t) % 5) as f64;
                *r = app.append(*r, &lbls[i], t * 5_000, v).unwrap();
            }
            app.commit().unwrap();
        }
        // Writes the snapshot.
        db.close().unwrap();
    }
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    g.throughput(Throughput::Elements(series_n as u64));
    g.bench_function(
        format!("snapshot_open_{series_n}_series_x_{samples_n}_samples"),
        |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let start = std::time::Instant::now();
                    let db = Db::open(&dir, DbOptions::default()).unwrap();
                    total += start.elapsed();
                    assert_eq!(db.head().num_series(), series_n as u64);
                    assert_eq!(db.replay_stats().snapshot_series, series_n as u64);
                    // Closing writes the next snapshot; not timed.
                    db.close().unwrap();
                }
                total
            })
        },
    );
    g.finish();
}

criterion_group!(benches, snapshot_open);
criterion_main!(benches);
