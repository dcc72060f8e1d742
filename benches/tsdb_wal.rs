//! WAL replay benchmark: `Db::open` of a data dir holding 10,000 series ×
//! 100 samples (1M samples) in snappy-compressed WAL records, as a scrape of
//! 10k series every 15 s writes them. `SERIES` and `SAMPLES` in the
//! environment change the shape (peerbench's restart case: 100000 and 59).

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
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
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
    let mut g = c.benchmark_group("wal");
    g.sample_size(10);
    g.throughput(Throughput::Elements(series_n as u64 * samples_n as u64));
    g.bench_function(
        format!("replay_{series_n}_series_x_{samples_n}_samples"),
        |b| {
            b.iter(|| {
                let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
                assert_eq!(db.head().num_series(), series_n as u64);
                db.close().unwrap();
            })
        },
    );
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
