//! WAL replay benchmark: `Db::open` of a data dir holding 10,000 series ×
//! 100 samples (1M samples) in snappy-compressed WAL records, as a scrape of
//! 10k series every 15 s writes them. `SERIES` and `SAMPLES` in the
//! environment change the shape (peerbench's restart case: 100000 and 59).
//! `replay_*` replays the whole WAL (snapshots off); `snapshot_*` opens the
//! same data from the head chunk snapshot written by the previous close.
//! Only `Db::open` is timed; `close_with_snapshot_*` times only the
//! `Db::close` that writes the snapshot.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promlite::model::Labels;
use promlite::storage::Appendable;
use promlite::tsdb::{Db, DbOptions};

fn replay(c: &mut Criterion) {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let series_n = env("SERIES", 10_000);
    let samples_n = env("SAMPLES", 100) as i64;
    let wal_only = DbOptions {
        memory_snapshot_on_shutdown: false,
        ..DbOptions::default()
    };
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Db::open(tmp.path(), wal_only.clone()).unwrap();
        let lbls: Vec<Labels> = (0..series_n)
            .map(|i| {
                Labels::from_pairs(&[
                    ("__name__", &format!("metric_{}", i % 100)),
                    ("instance", &format!("host-{}:9100", i % 50)),
                    ("job", "node"),
                    ("series", &i.to_string()),
                ])
            })
            .collect();
        let mut refs = vec![0u64; series_n];
        for t in 0..samples_n {
            let mut app = db.appender();
            for (i, r) in refs.iter_mut().enumerate() {
                *r = app
                    .append(*r, &lbls[i], t * 15_000, (t * i as i64) as f64)
                    .unwrap();
            }
            app.commit().unwrap();
        }
        db.close().unwrap();
    }
    let snap = tempfile::tempdir().unwrap();
    copy_dir(tmp.path(), snap.path());
    {
        // Writes the first snapshot.
        let db = Db::open(snap.path(), DbOptions::default()).unwrap();
        db.close().unwrap();
    }
    let mut g = c.benchmark_group("wal");
    g.sample_size(10);
    g.throughput(Throughput::Elements(series_n as u64 * samples_n as u64));
    let mut open_timed = |name: String, dir: &std::path::Path, opts: &DbOptions, snapshot: bool| {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let start = std::time::Instant::now();
                    let db = Db::open(dir, opts.clone()).unwrap();
                    total += start.elapsed();
                    assert_eq!(db.head().num_series(), series_n as u64);
                    assert_eq!(db.replay_stats().snapshot_series > 0, snapshot);
                    db.close().unwrap();
                }
                total
            })
        });
    };
    open_timed(
        format!("replay_{series_n}_series_x_{samples_n}_samples"),
        tmp.path(),
        &wal_only,
        false,
    );
    open_timed(
        format!("snapshot_{series_n}_series_x_{samples_n}_samples"),
        snap.path(),
        &DbOptions::default(),
        true,
    );
    // Shutdown cost of the snapshot: `Db::close` (WAL fsync + snapshot write).
    g.bench_function(
        format!("close_with_snapshot_{series_n}_series_x_{samples_n}_samples"),
        |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let db = Db::open(snap.path(), DbOptions::default()).unwrap();
                    let start = std::time::Instant::now();
                    db.close().unwrap();
                    total += start.elapsed();
                }
                total
            })
        },
    );
    g.finish();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else if e.file_name() != "lock" {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

criterion_group!(benches, replay);
criterion_main!(benches);
