//! WAL replay benchmark: `Db::open` of a data dir holding 10,000 series ×
//! 100 samples (1M samples) in snappy-compressed WAL records, as a scrape of
//! 10k series every 15 s writes them.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promlite::model::Labels;
use promlite::storage::Appendable;
use promlite::tsdb::{Db, DbOptions};

fn replay(c: &mut Criterion) {
    const SERIES: usize = 10_000;
    const SAMPLES: i64 = 100;
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
        let lbls: Vec<Labels> = (0..SERIES)
            .map(|i| {
                Labels::from_pairs(&[
                    ("__name__", &format!("metric_{}", i % 100)),
                    ("instance", &format!("host-{}:9100", i % 50)),
                    ("job", "node"),
                    ("series", &i.to_string()),
                ])
            })
            .collect();
        let mut refs = vec![0u64; SERIES];
        for t in 0..SAMPLES {
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
    let mut g = c.benchmark_group("wal");
    g.sample_size(10);
    g.throughput(Throughput::Elements(SERIES as u64 * SAMPLES as u64));
    g.bench_function("replay_1M_samples_10k_series", |b| {
        b.iter(|| {
            let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
            assert_eq!(db.head().num_series(), SERIES as u64);
            db.close().unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
